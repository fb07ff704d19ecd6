/* The line-echo server of examples/echo: a listener whose connection
 * actors send every received line back. Shared with tests/io. */
#ifndef TROUPE_EXAMPLE_ECHO_SERVER_H
#define TROUPE_EXAMPLE_ECHO_SERVER_H

#include <troupe/troupe.h>

/* A connection actor that echoes each line (TR_FRAMING_LINE). */
extern const tr_behaviour echo_line_behaviour;

/* Listens on `url` ("tcp://127.0.0.1:0" for any port) with line framing
 * and the echo behaviour; `sock` may be NULL for the default buffer sizes.
 * Writes the listener to *listener and the port to *port. Returns as
 * tr_listen. */
int echo_listen(tr_system *sys, const char *url, const tr_sock_opts *sock, tr_ref *listener,
                int *port);

#endif
