/* troupe-chat's browser client (server --web http://HOST:PORT): NNG's HTTP
 * server serves the single page (web/index.html, compiled in) at / and a
 * WebSocket endpoint at /ws on the same port. Each WebSocket connection is
 * a client like a terminal one: a member actor in the server's process,
 * logged in at the server's own gateway, with the same commands.
 *
 * Protocol on the socket (binary frames of UTF-8 text, lines ending in \n):
 *   browser -> server: "LOGIN nick room\n" first, then each typed line;
 *   server -> browser: "KIND\ttext\n" per line to show, KIND one of
 *   line, history, notice, info, priv, error, fatal, joined.
 *
 * Strangers can connect, so everything is bounded: at most WEB_MAX_CONNS
 * connections, WEB_MAX_INPUT bytes of unfinished input per connection, and
 * WEB_MAX_QUEUE lines waiting to be sent to a slow browser (past that the
 * connection is closed and its member leaves). */
#ifndef TROUPE_CHAT_WEB_H
#define TROUPE_CHAT_WEB_H

#include "chat.h"

#define WEB_MAX_CONNS 256
#define WEB_MAX_INPUT 2048
#define WEB_MAX_QUEUE 1024

typedef struct chat_web chat_web;

/* Starts serving at url (http://HOST:PORT; port 0 picks one) for clients of
 * `gateway` in sys. Writes the page's address to bound (cap bytes).
 * Returns NULL with a reason in err on failure. */
chat_web *chat_web_start(tr_system *sys, tr_ref gateway, const char *url, char *bound,
                         size_t bound_cap, char *err, size_t err_cap);
/* Stops accepting and closes every connection (their members leave). */
void chat_web_close(chat_web *w);
/* Frees everything; call after the actor system has ended. NULL is ignored. */
void chat_web_free(chat_web *w);

#endif
