/* Connection actors (socket.h): the part io/listener.c shares. */
#ifndef TROUPE_IO_CONN_H
#define TROUPE_IO_CONN_H

#include <nng/nng.h>
#include <stdatomic.h>

#include "troupe/socket.h"

/* Internal messages, service tags. */
enum {
    TR_SOCK_READ_DONE = TR_MSG_SERVICE + 0x310u, /* data: tr_io_result */
    TR_SOCK_RESUME = TR_MSG_SERVICE + 0x311u,    /* to itself: look at reading again */
    TR_SOCK_DIALED = TR_MSG_SERVICE + 0x312u,    /* data: tr_io_result */
    TR_SOCK_WRITE_FAILED = TR_MSG_SERVICE + 0x313u, /* data: tr_io_result */
    TR_SOCK_CLOSE = TR_MSG_SERVICE + 0x314u,        /* to itself: tr_sock_close */
    TR_LISTENER_ACCEPTED = TR_MSG_SERVICE + 0x320u, /* data: tr_io_result */
    TR_LISTENER_PORT = TR_MSG_SERVICE + 0x321u,     /* ask; reply: int */
};

/* How an NNG operation ended, posted from its callback to the actor. */
typedef struct tr_io_result {
    int nng_rc;
    size_t count;
} tr_io_result;

/* The behaviour every connection actor runs: a wrapper that calls the
 * user's behaviour (the tr_sock's). Its spawn arg is a tr_sock made by
 * tr_sock_new, which its init takes over. */
extern const tr_behaviour tr_sock_behaviour;

/* A connection for `beh` over `stream` (may be NULL when a dialer fills it
 * in later); `live` (may be NULL) is decremented when it ends. NULL on
 * ENOMEM. */
tr_sock *tr_sock_new(tr_system *sys, const tr_behaviour *beh, void *arg, const tr_sock_opts *opts,
                     nng_stream *stream, _Atomic uint32_t *live);

/* Frees a connection whose actor never started (its stream too). */
void tr_sock_discard(tr_sock *s);

/* io/tls.c: applies `tls` (may be NULL) to a listener or dialer of `url`
 * before it listens or dials. Returns TR_OK (also: no TLS for a URL that
 * needs none), TR_EINVAL (a TLS URL without settings, or without what it
 * needs: a listener's cert_file, a dialer's ca_file; settings for another
 * URL), TR_EADDR (a URL NNG cannot parse), TR_ETLS or TR_ENOMEM. */
int tr_io_tls_listener(nng_stream_listener *l, const char *url, const tr_tls_opts *tls);
int tr_io_tls_dialer(nng_stream_dialer *d, const char *url, const tr_tls_opts *tls);

/* Posts an internal message past the bound to `to` from an NNG callback
 * (one outstanding per operation, so the bound is not needed). */
void tr_io_post(tr_system *sys, tr_ref to, uint32_t type, int nng_rc, size_t count);

#endif
