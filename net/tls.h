/* TLS configurations from PEM files: one loader for the node's tls+tcp://
 * links (net/tls.c) and for socket actors' tls+tcp:// and wss:// streams
 * (io/). */
#ifndef TROUPE_NET_TLS_H
#define TROUPE_NET_TLS_H

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>
#include <stdbool.h>

/* A new NNG TLS configuration in `mode` with the certificate in cert_file
 * and its private key in key_file (NULL: in cert_file too; both NULL: no
 * certificate, for a client that shows none). With ca_file, the peer must
 * present a certificate chaining to that CA (on a server: mutual TLS);
 * without, the peer is not verified. Files are read now (at most 1 MiB
 * each). On TR_OK the caller owns *out (nng_tls_config_free). Returns
 * TR_OK, TR_ENOMEM, or TR_ETLS when a file is missing, unreadable or not a
 * valid PEM certificate, key or CA. */
int tr_tls_config_load(nng_tls_mode mode, const char *cert_file, const char *key_file,
                       const char *ca_file, nng_tls_config **out);

/* True for URLs whose stream runs over TLS: tls+tcp:// (and tls+...),
 * wss://. */
bool tr_tls_url(const char *url);

#endif
