/* Test support: a hand-driven connection to a node, speaking the wire
 * protocol of docs/wire.md byte by byte (an attacker's or a foreign
 * implementation's view): dial, frames, handshake messages. */
#ifndef TROUPE_TESTS_NET_RAW_PEER_H
#define TROUPE_TESTS_NET_RAW_PEER_H

#include <criterion/criterion.h>
#include <msgpack.h>
#include <nng/nng.h>
#include <string.h>

#include "net/envelope.h"
#include "net/handshake_msg.h"
#include "troupe/errors.h"

#define RAW_WAIT_MS 10000 /* only turns a hang into a failure */

typedef struct raw_peer {
    nng_stream *s;
    const char *name;
    uint64_t inc;
    uint8_t chal[TR_HS_CHALLENGE_BYTES], their_chal[TR_HS_CHALLENGE_BYTES];
    char their_name[64];
    uint64_t their_inc;
    uint64_t caps; /* capability bits its HELLO offers (TR_HS_CAP_*) */
} raw_peer;

/* A stream to `url` (tcp:// or ipc://). */
static inline nng_stream *raw_dial(const char *url)
{
    nng_stream_dialer *d;
    nng_aio *aio;
    cr_assert_eq(nng_stream_dialer_alloc(&d, url), 0);
    cr_assert_eq(nng_aio_alloc(&aio, NULL, NULL), 0);
    nng_aio_set_timeout(aio, RAW_WAIT_MS);
    nng_stream_dialer_dial(d, aio);
    nng_aio_wait(aio);
    cr_assert_eq(nng_aio_result(aio), 0, "dial %s: %s", url, nng_strerror(nng_aio_result(aio)));
    nng_stream *s = nng_aio_get_output(aio, 0);
    nng_aio_free(aio);
    nng_stream_dialer_free(d);
    return s;
}

/* Writes all of buf; false when the stream is closed. */
static inline bool raw_write(nng_stream *s, const void *buf, size_t len)
{
    nng_aio *aio;
    nng_aio_alloc(&aio, NULL, NULL);
    nng_aio_set_timeout(aio, RAW_WAIT_MS);
    size_t off = 0;
    bool ok = true;
    while (ok && off < len) {
        nng_iov iov = {.iov_buf = (char *)buf + off, .iov_len = len - off};
        nng_aio_set_iov(aio, 1, &iov);
        nng_stream_send(s, aio);
        nng_aio_wait(aio);
        ok = nng_aio_result(aio) == 0;
        off += nng_aio_count(aio);
    }
    nng_aio_free(aio);
    return ok;
}

/* Reads exactly len bytes; false on close or after RAW_WAIT_MS. */
static inline bool raw_read(nng_stream *s, void *buf, size_t len)
{
    nng_aio *aio;
    nng_aio_alloc(&aio, NULL, NULL);
    nng_aio_set_timeout(aio, RAW_WAIT_MS);
    size_t off = 0;
    bool ok = true;
    while (ok && off < len) {
        nng_iov iov = {.iov_buf = (char *)buf + off, .iov_len = len - off};
        nng_aio_set_iov(aio, 1, &iov);
        nng_stream_recv(s, aio);
        nng_aio_wait(aio);
        ok = nng_aio_result(aio) == 0 && nng_aio_count(aio) > 0;
        off += nng_aio_count(aio);
    }
    nng_aio_free(aio);
    return ok;
}

/* True when the node closed the stream (a read ends without data). */
static inline bool raw_closed(nng_stream *s)
{
    char c;
    return !raw_read(s, &c, 1);
}

static inline bool raw_send_frame(nng_stream *s, const void *body, size_t len)
{
    uint8_t pre[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len};
    return raw_write(s, pre, 4) && raw_write(s, body, len);
}

/* Sends one data frame holding the one envelope e. */
static inline void raw_send_envelope(nng_stream *s, const tr_envelope *e)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 1);
    cr_assert_eq(tr_wire_pack_envelope(&pk, e), TR_OK);
    cr_assert(raw_send_frame(s, sb.data, sb.size));
    msgpack_sbuffer_destroy(&sb);
}

/* Reads one frame into buf (cap bytes); its length, or -1. */
static inline long raw_recv_frame(nng_stream *s, void *buf, size_t cap)
{
    uint8_t pre[4];
    if (!raw_read(s, pre, 4))
        return -1;
    size_t len = ((size_t)pre[0] << 24) | ((size_t)pre[1] << 16) | ((size_t)pre[2] << 8) | pre[3];
    if (len > cap || !raw_read(s, buf, len))
        return -1;
    return (long)len;
}

static inline bool raw_send_hs(nng_stream *s, const tr_hs_msg *m)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    cr_assert_eq(tr_hs_pack(&pk, m), TR_OK);
    bool ok = raw_send_frame(s, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return ok;
}

/* Receives one handshake message into *m (name copied to buf); false on close. */
static inline bool raw_recv_hs(nng_stream *s, tr_hs_msg *m, char *namebuf)
{
    static uint8_t buf[TR_HS_FRAME_MAX];
    long n = raw_recv_frame(s, buf, sizeof(buf));
    if (n < 0)
        return false;
    cr_assert_eq(tr_hs_parse(buf, (size_t)n, m), TR_OK, "a well-formed handshake message");
    if (namebuf != NULL && m->name.len > 0) {
        memcpy(namebuf, m->name.ptr, m->name.len);
        namebuf[m->name.len] = '\0';
    }
    return true;
}

/* Sends HELLO as node `name` and reads the answer into *reply. */
static inline bool raw_hello(raw_peer *r, tr_hs_msg *reply)
{
    tr_hs_random(r->chal, sizeof(r->chal));
    tr_hs_msg m = {.kind = TR_HS_HELLO, .version = TR_WIRE_VERSION,
                   .name = {r->name, (uint32_t)strlen(r->name)}, .incarnation = r->inc, .caps = r->caps};
    memcpy(m.challenge, r->chal, sizeof(m.challenge));
    if (!raw_send_hs(r->s, &m) || !raw_recv_hs(r->s, reply, r->their_name))
        return false;
    if (reply->kind == TR_HS_CHALLENGE) {
        memcpy(r->their_chal, reply->challenge, sizeof(r->their_chal));
        r->their_inc = reply->incarnation;
    }
    return true;
}

static inline tr_hs_transcript raw_transcript(const raw_peer *r)
{
    return (tr_hs_transcript){r->chal, r->their_chal, {r->name, (uint32_t)strlen(r->name)},
                              {r->their_name, (uint32_t)strlen(r->their_name)}, r->inc, r->their_inc};
}

/* The PROOF a node knowing `cookie` would send after raw_hello. */
static inline tr_hs_msg raw_proof(const raw_peer *r, const char *cookie, uint64_t agent)
{
    tr_hs_msg m = {.kind = TR_HS_PROOF, .agent = agent};
    tr_hs_transcript t = raw_transcript(r);
    cr_assert_eq(tr_hs_mac(cookie, strlen(cookie), true, &t, agent, m.mac), TR_OK);
    return m;
}

/* Full handshake with `cookie`: HELLO, CHALLENGE, PROOF, ACCEPT (checked). */
static inline void raw_handshake(raw_peer *r, const char *cookie)
{
    tr_hs_msg reply;
    cr_assert(raw_hello(r, &reply), "an answer to HELLO");
    cr_assert_eq(reply.kind, TR_HS_CHALLENGE);
    tr_hs_msg proof = raw_proof(r, cookie, 7);
    cr_assert(raw_send_hs(r->s, &proof));
    cr_assert(raw_recv_hs(r->s, &reply, NULL), "an answer to PROOF");
    cr_assert_eq(reply.kind, TR_HS_ACCEPT, "kind %u reason %lld", reply.kind, (long long)reply.reason);
    uint8_t want[TR_HS_MAC_BYTES];
    tr_hs_transcript t = raw_transcript(r);
    cr_assert_eq(tr_hs_mac(cookie, strlen(cookie), false, &t, reply.agent, want), TR_OK);
    cr_assert(tr_hs_mac_equal(want, reply.mac), "the node proves it knows the cookie");
}

#endif
