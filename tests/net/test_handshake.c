/* The version 2 handshake and the hostile-input bounds, driven from
 * outside by a hand-written client (tests/net/raw_peer.h): right and wrong
 * cookie, a replayed proof, invalid and duplicate names, the handshake
 * deadline and cap, frames too large for an unauthenticated connection,
 * no dial caused by a stranger, oversized and malformed frames of an
 * authenticated peer counted, one connection per pair under simultaneous
 * connects, a node that only dials. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/node_impl.h"
#include "tests/net/raw_peer.h"
#include "tests/support/latch.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

enum { MSG_PING = TR_MSG_USER, MSG_ECHO };

typedef struct host {
    tr_system *sys;
    tr_node *node;
    char url[128];
} host;

static void host_start(host *h, const char *name, const char *cookie, bool listen, tr_node_opts *extra)
{
    memset(h, 0, sizeof(*h));
    h->sys = make_system(2);
    tr_node_opts o = extra != NULL ? *extra : (tr_node_opts){0};
    o.name = name;
    o.cookie = cookie;
    if (o.heartbeat_ms == 0)
        o.heartbeat_ms = 50;
    if (o.down_after_ms == 0)
        o.down_after_ms = 20000; /* no spurious node-downs on a loaded machine */
    int rc = tr_node_start(h->sys, &o, &h->node);
    cr_assert_eq(rc, TR_OK, "start %s: %s", name, tr_strerror(rc));
    if (listen)
        cr_assert_eq(tr_node_listen(h->node, "tcp://127.0.0.1:0", h->url, sizeof(h->url)), TR_OK);
}

static void host_stop(host *h)
{
    tr_node_stop(h->node);
    tr_system_destroy(h->sys);
}

static tr_node_stats stats(host *h)
{
    tr_node_stats st;
    tr_node_stats_get(h->node, &st);
    return st;
}

static latch got;

static int echo_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    if (msg->type == MSG_PING)
        latch_add(&got, 1);
    else if (msg->type == MSG_ECHO)
        tr_reply(self, msg, msg->data, msg->size);
    return TR_OK;
}
static const tr_behaviour echo = {.handle = echo_handle};

/* A data frame holding one SEND of `payload` to the actor named `to`. */
static size_t send_frame(char *buf, size_t cap, const char *to, const char *payload)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 1);
    tr_envelope e = {.kind = TR_ENV_SEND, .dst_name = {to, (uint32_t)strlen(to)}, .value = MSG_PING,
                     .payload = payload, .size = (uint32_t)strlen(payload)};
    cr_assert_eq(tr_wire_pack_envelope(&pk, &e), TR_OK);
    cr_assert_leq(sb.size, cap);
    memcpy(buf, sb.data, sb.size);
    size_t n = sb.size;
    msgpack_sbuffer_destroy(&sb);
    return n;
}

Test(handshake, right_cookie_is_accepted_and_frames_flow)
{
    latch_init(&got);
    host b;
    host_start(&b, "b", "secret", true, NULL);
    tr_ref e;
    cr_assert_eq(tr_spawn(b.sys, &echo, NULL, NULL, &e), TR_OK);
    cr_assert_eq(tr_register(b.sys, "echo", e), TR_OK);
    raw_peer r = {.s = raw_dial(b.url), .name = "raw", .inc = 42};
    raw_handshake(&r, "secret");
    cr_assert_str_eq(r.their_name, "b");
    char frame[256];
    size_t n = send_frame(frame, sizeof(frame), "echo", "hi");
    cr_assert(raw_send_frame(r.s, frame, n));
    cr_assert(latch_wait(&got, 1, RAW_WAIT_MS), "the message is delivered");
    cr_assert(tr_node_peer_up(b.node, "raw"));
    cr_assert_eq(stats(&b).refused, 0);
    nng_stream_free(r.s);
    host_stop(&b);
}

Test(handshake, wrong_cookie_gets_one_refusal_then_a_close)
{
    host b;
    host_start(&b, "b", "secret", true, NULL);
    raw_peer r = {.s = raw_dial(b.url), .name = "raw", .inc = 1};
    tr_hs_msg reply;
    cr_assert(raw_hello(&r, &reply));
    cr_assert_eq(reply.kind, TR_HS_CHALLENGE);
    tr_hs_msg proof = raw_proof(&r, "guess", 7);
    cr_assert(raw_send_hs(r.s, &proof));
    cr_assert(raw_recv_hs(r.s, &reply, NULL));
    cr_assert_eq(reply.kind, TR_HS_REFUSE);
    cr_assert_eq(reply.reason, TR_EREFUSED);
    cr_assert(raw_closed(r.s), "closed after the refusal");
    tr_node_stats st = stats(&b);
    cr_assert_eq(st.refused, 1);
    cr_assert_eq(st.peers_up, 0);
    cr_assert(!tr_node_peer_up(b.node, "raw"));
    nng_stream_free(r.s);
    host_stop(&b);
}

/* A proof recorded from a good handshake does not open a second one: the
 * node's challenge is new every time. */
Test(handshake, a_replayed_proof_is_refused)
{
    host b;
    host_start(&b, "b", "secret", true, NULL);
    raw_peer r = {.s = raw_dial(b.url), .name = "raw", .inc = 5};
    raw_handshake(&r, "secret");
    tr_hs_msg recorded = raw_proof(&r, "secret", 7);
    uint8_t chal[TR_HS_CHALLENGE_BYTES];
    memcpy(chal, r.chal, sizeof(chal));
    nng_stream_free(r.s); /* the session ends */
    raw_peer again = {.s = raw_dial(b.url), .name = "raw", .inc = 5};
    tr_hs_msg hello = {.kind = TR_HS_HELLO, .version = TR_WIRE_VERSION, .name = {"raw", 3}, .incarnation = 5};
    memcpy(hello.challenge, chal, sizeof(chal)); /* the recorded HELLO, byte for byte */
    cr_assert(raw_send_hs(again.s, &hello));
    tr_hs_msg reply;
    cr_assert(raw_recv_hs(again.s, &reply, NULL));
    cr_assert_eq(reply.kind, TR_HS_CHALLENGE);
    cr_assert(memcmp(reply.challenge, r.their_chal, sizeof(chal)) != 0, "a fresh challenge");
    cr_assert(raw_send_hs(again.s, &recorded));
    cr_assert(raw_recv_hs(again.s, &reply, NULL));
    cr_assert_eq(reply.kind, TR_HS_REFUSE);
    cr_assert_eq(reply.reason, TR_EREFUSED);
    cr_assert(raw_closed(again.s));
    nng_stream_free(again.s);
    host_stop(&b);
}

/* Names outside [A-Za-z0-9_.@-]{1,63} are refused on receipt. */
Test(handshake, invalid_names_are_refused)
{
    host b;
    host_start(&b, "b", "secret", true, NULL);
    static const char *bad[] = {"a\0b", "a/b", "a b", "\xff\xfe", ""};
    static const uint32_t lens[] = {3, 3, 3, 2, 0};
    for (int i = 0; i < 5; i++) {
        nng_stream *s = raw_dial(b.url);
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        tr_hs_msg m = {.kind = TR_HS_HELLO, .version = TR_WIRE_VERSION, .name = {bad[i], lens[i]}};
        cr_assert_eq(tr_hs_pack(&pk, &m), TR_OK);
        tr_hs_msg parsed;
        cr_assert_eq(tr_hs_parse(sb.data, sb.size, &parsed), TR_EPROTO, "name %d is rejected", i);
        cr_assert(raw_send_frame(s, sb.data, sb.size));
        cr_assert(raw_closed(s), "name %d: the connection is closed", i);
        msgpack_sbuffer_destroy(&sb);
        nng_stream_free(s);
    }
    tr_node_stats st = stats(&b);
    cr_assert_eq(st.peers_up, 0);
    cr_assert_geq(st.handshake_failures, 5);
    host_stop(&b);
}

/* A node claiming the name of a node that is up (another incarnation) is
 * refused with TR_ENAMETAKEN; the node that is up stays up. */
Test(handshake, a_duplicate_name_is_refused_while_the_first_is_up)
{
    host a, b, impostor;
    host_start(&a, "a", "secret", true, NULL);
    host_start(&b, "b", "secret", true, NULL);
    host_start(&impostor, "a", "secret", false, NULL);
    cr_assert_eq(tr_node_connect(a.node, b.url, RAW_WAIT_MS, NULL, 0), TR_OK);
    int rc = tr_node_connect(impostor.node, b.url, RAW_WAIT_MS, NULL, 0);
    cr_assert_eq(rc, TR_ENAMETAKEN, "%s", tr_strerror(rc));
    cr_assert(tr_node_peer_up(b.node, "a"));
    cr_assert(tr_node_peer_up(a.node, "b"));
    cr_assert_eq(stats(&b).node_downs, 0);
    cr_assert_eq(stats(&b).refused, 1);
    /* our own name is taken too */
    host self;
    host_start(&self, "b", "secret", false, NULL);
    cr_assert_eq(tr_node_connect(self.node, b.url, RAW_WAIT_MS, NULL, 0), TR_ENAMETAKEN);
    host_stop(&self);
    host_stop(&impostor);
    host_stop(&a);
    host_stop(&b);
}

Test(handshake, a_silent_connection_is_closed_at_the_deadline)
{
    host b;
    tr_node_opts o = {.handshake_timeout_ms = 200};
    host_start(&b, "b", "secret", true, &o);
    nng_stream *s = raw_dial(b.url);
    cr_assert(raw_closed(s), "closed without a word from us");
    cr_assert_geq(stats(&b).handshake_failures, 1);
    nng_stream_free(s);
    host_stop(&b);
}

/* Before authentication a connection can make the node hold only its
 * fixed buffers: a frame announced larger than a handshake message closes
 * it at once (nothing of the 16 MB is read or allocated), and connections
 * past the handshake cap are closed on arrival. */
Test(handshake, unauthenticated_connections_hold_bounded_memory)
{
    host b;
    tr_node_opts o = {.handshake_timeout_ms = 60000};
    host_start(&b, "b", "secret", true, &o);
    nng_stream *big = raw_dial(b.url);
    uint8_t pre[4] = {0x01, 0x00, 0x00, 0x00}; /* 16 MiB follows */
    cr_assert(raw_write(big, pre, 4));
    uint8_t some[1024] = {0};
    raw_write(big, some, sizeof(some)); /* may fail: the node hangs up */
    cr_assert(raw_closed(big));
    nng_stream_free(big);
    cr_assert_geq(stats(&b).bad_frames, 1);

    enum { EXTRA = 8 };
    nng_stream *s[TR_NODE_MAX_HANDSHAKES + EXTRA];
    for (int i = 0; i < TR_NODE_MAX_HANDSHAKES + EXTRA; i++) {
        s[i] = raw_dial(b.url);
        uint8_t partial[6] = {0, 0, 0, 100, 0x96, 0x01}; /* a HELLO that never ends */
        raw_write(s[i], partial, sizeof(partial));
    }
    int closed = 0;
    for (int i = TR_NODE_MAX_HANDSHAKES; i < TR_NODE_MAX_HANDSHAKES + EXTRA; i++)
        closed += raw_closed(s[i]); /* the connections past the cap */
    cr_assert_eq(closed, EXTRA);
    pthread_mutex_lock(&b.node->lock);
    cr_assert_leq(b.node->handshakes, TR_NODE_MAX_HANDSHAKES);
    size_t held = 0;
    for (tr_conn *c = b.node->conns; c != NULL; c = c->next)
        held += sizeof(*c) + c->rcap;
    pthread_mutex_unlock(&b.node->lock);
    cr_assert_leq(held, (size_t)TR_NODE_MAX_HANDSHAKES * 2048, "%zu bytes held", held);
    for (int i = 0; i < TR_NODE_MAX_HANDSHAKES + EXTRA; i++)
        nng_stream_free(s[i]);
    host_stop(&b);
}

/* Version 1 made a node dial the URL a refused frame advertised; version 2
 * never dials because of anything a stranger sends. A trap listener
 * advertised in every way a stranger could (a version 1 header, a HELLO
 * name) sees no connection. */
Test(handshake, a_stranger_cannot_make_the_node_dial)
{
    host b;
    host_start(&b, "b", "secret", true, NULL);
    nng_stream_listener *trap;
    cr_assert_eq(nng_stream_listener_alloc(&trap, "tcp://127.0.0.1:0"), 0);
    cr_assert_eq(nng_stream_listener_listen(trap), 0);
    int port;
    cr_assert_eq(nng_stream_listener_get_int(trap, NNG_OPT_TCP_BOUND_PORT, &port), 0);
    char trap_url[64];
    snprintf(trap_url, sizeof(trap_url), "tcp://127.0.0.1:%d", port);
    /* a version 1 frame advertising the trap */
    nng_stream *s = raw_dial(b.url);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 8);
    msgpack_pack_uint32(&pk, 1);
    msgpack_pack_str_with_body(&pk, "x", 1);
    for (int i = 0; i < 5; i++)
        msgpack_pack_uint64(&pk, 1);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_str_with_body(&pk, trap_url, strlen(trap_url));
    raw_send_frame(s, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    cr_assert(raw_closed(s));
    nng_stream_free(s);
    /* wrong-cookie handshakes */
    for (int i = 0; i < 5; i++) {
        raw_peer r = {.s = raw_dial(b.url), .name = "x", .inc = 1};
        tr_hs_msg reply;
        cr_assert(raw_hello(&r, &reply));
        tr_hs_msg proof = raw_proof(&r, "wrong", 1);
        raw_send_hs(r.s, &proof);
        cr_assert(raw_recv_hs(r.s, &reply, NULL));
        cr_assert_eq(reply.kind, TR_HS_REFUSE);
        cr_assert(raw_closed(r.s));
        nng_stream_free(r.s);
    }
    nng_aio *aio;
    nng_aio_alloc(&aio, NULL, NULL);
    nng_aio_set_timeout(aio, 300);
    nng_stream_listener_accept(trap, aio);
    nng_aio_wait(aio);
    cr_assert_eq(nng_aio_result(aio), NNG_ETIMEDOUT, "nobody dialled the trap");
    nng_aio_free(aio);
    nng_stream_listener_free(trap);
    cr_assert_eq(stats(&b).refused, 5);
    host_stop(&b);
}

/* After the handshake: a frame over max_frame_bytes is counted and skipped
 * unread, a malformed one counted and dropped; the link stays in sync. */
Test(handshake, oversized_and_malformed_frames_are_counted_and_survived)
{
    latch_init(&got);
    host b;
    tr_node_opts o = {.max_frame_bytes = 4096};
    host_start(&b, "b", "secret", true, &o);
    tr_ref e;
    cr_assert_eq(tr_spawn(b.sys, &echo, NULL, NULL, &e), TR_OK);
    cr_assert_eq(tr_register(b.sys, "echo", e), TR_OK);
    raw_peer r = {.s = raw_dial(b.url), .name = "raw", .inc = 9};
    raw_handshake(&r, "secret");
    static char big[8192];
    memset(big, 0x90, sizeof(big));
    cr_assert(raw_send_frame(r.s, big, sizeof(big)));                 /* oversized */
    static const unsigned char junk[][6] = {{0xc1}, {0x91, 0x07}, {0xdd, 0xff, 0xff, 0xff, 0xff},
                                            {0x91, 0x96, 0xdc, 0xff, 0xff}, {0x92, 0x01}};
    static const size_t lens[] = {1, 2, 5, 5, 2};
    for (int i = 0; i < 5; i++)
        cr_assert(raw_send_frame(r.s, junk[i], lens[i]));
    char frame[256];
    size_t n = send_frame(frame, sizeof(frame), "echo", "after");
    cr_assert(raw_send_frame(r.s, frame, n));
    cr_assert(latch_wait(&got, 1, RAW_WAIT_MS), "the good frame after the bad ones arrives");
    cr_assert_eq(stats(&b).bad_frames, 6);
    cr_assert(tr_node_peer_up(b.node, "raw"));
    nng_stream_free(r.s);
    host_stop(&b);
}

/* ---- connection per pair ---- */

typedef struct connect_job {
    host *from;
    const char *url;
    int rc;
} connect_job;

static void *connect_main(void *arg)
{
    connect_job *j = arg;
    j->rc = tr_node_connect(j->from->node, j->url, RAW_WAIT_MS, NULL, 0);
    return NULL;
}

static int up_conns(host *h)
{
    int n = 0;
    pthread_mutex_lock(&h->node->lock);
    for (tr_conn *c = h->node->conns; c != NULL; c = c->next)
        n += c->state == TR_CONN_UP;
    pthread_mutex_unlock(&h->node->lock);
    return n;
}

static void ask_ok(host *from, const char *path)
{
    tr_ref r;
    cr_assert_eq(tr_lookup(from->sys, path, RAW_WAIT_MS, &r), TR_OK, "lookup %s", path);
    void *reply = NULL;
    cr_assert_eq(tr_ask_wait(from->sys, r, MSG_ECHO, "x", 1, RAW_WAIT_MS, &reply, NULL), TR_OK);
    free(reply);
}

/* Both nodes dial each other at the same moment, 10 times: both connects
 * succeed and one connection carries the pair, with no node-down. */
Test(handshake, simultaneous_connects_leave_one_connection, .timeout = 120)
{
    for (int round = 0; round < 10; round++) {
        host a, b;
        host_start(&a, "a", "secret", true, NULL);
        host_start(&b, "b", "secret", true, NULL);
        tr_ref e;
        cr_assert_eq(tr_spawn(a.sys, &echo, NULL, NULL, &e), TR_OK);
        cr_assert_eq(tr_register(a.sys, "echo", e), TR_OK);
        cr_assert_eq(tr_spawn(b.sys, &echo, NULL, NULL, &e), TR_OK);
        cr_assert_eq(tr_register(b.sys, "echo", e), TR_OK);
        connect_job ja = {&a, b.url, -1}, jb = {&b, a.url, -1};
        pthread_t ta, tb;
        pthread_create(&ta, NULL, connect_main, &ja);
        pthread_create(&tb, NULL, connect_main, &jb);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        cr_assert_eq(ja.rc, TR_OK, "round %d: a: %s", round, tr_strerror(ja.rc));
        cr_assert_eq(jb.rc, TR_OK, "round %d: b: %s", round, tr_strerror(jb.rc));
        ask_ok(&a, "b/echo");
        ask_ok(&b, "a/echo");
        cr_assert_eq(up_conns(&a), 1, "round %d", round);
        cr_assert_eq(up_conns(&b), 1, "round %d", round);
        cr_assert_eq(stats(&a).node_downs, 0);
        cr_assert_eq(stats(&b).node_downs, 0);
        host_stop(&a);
        host_stop(&b);
    }
}

/* A node that does not listen (a client behind NAT) connects, and the
 * server reaches it over the same connection. */
Test(handshake, a_dial_only_node_works_both_ways)
{
    host client, server;
    host_start(&server, "server", "secret", true, NULL);
    host_start(&client, "client", "secret", false, NULL);
    tr_ref e;
    cr_assert_eq(tr_spawn(client.sys, &echo, NULL, NULL, &e), TR_OK);
    cr_assert_eq(tr_register(client.sys, "echo", e), TR_OK);
    cr_assert_eq(tr_spawn(server.sys, &echo, NULL, NULL, &e), TR_OK);
    cr_assert_eq(tr_register(server.sys, "echo", e), TR_OK);
    char peer[64];
    cr_assert_eq(tr_node_connect(client.node, server.url, RAW_WAIT_MS, peer, sizeof(peer)), TR_OK);
    cr_assert_str_eq(peer, "server");
    ask_ok(&client, "server/echo");
    ask_ok(&server, "client/echo");
    cr_assert_eq(up_conns(&server), 1);
    host_stop(&client);
    host_stop(&server);
}

/* ---- a new connection admitted while the old session comes back ---- */

/* A raw node accepting at `l` one connection dialled by a node: reads its
 * HELLO, answers CHALLENGE as `r` and reads its PROOF (ACCEPT is sent by
 * raw_accept_finish, when the test wants it). */
static nng_stream *raw_accept_to_proof(nng_stream_listener *l, raw_peer *r)
{
    nng_aio *aio;
    cr_assert_eq(nng_aio_alloc(&aio, NULL, NULL), 0);
    nng_aio_set_timeout(aio, RAW_WAIT_MS);
    nng_stream_listener_accept(l, aio);
    nng_aio_wait(aio);
    cr_assert_eq(nng_aio_result(aio), 0, "the node dials");
    nng_stream *s = nng_aio_get_output(aio, 0);
    nng_aio_free(aio);
    tr_hs_msg m;
    cr_assert(raw_recv_hs(s, &m, r->their_name));
    cr_assert_eq(m.kind, TR_HS_HELLO);
    memcpy(r->their_chal, m.challenge, sizeof(r->their_chal));
    r->their_inc = m.incarnation;
    tr_hs_random(r->chal, sizeof(r->chal));
    tr_hs_msg out = {.kind = TR_HS_CHALLENGE, .version = TR_WIRE_VERSION,
                     .name = {r->name, (uint32_t)strlen(r->name)}, .incarnation = r->inc,
                     .caps = TR_HS_CAP_CLUSTER | TR_HS_CAP_HIDDEN};
    memcpy(out.challenge, r->chal, sizeof(out.challenge));
    cr_assert(raw_send_hs(s, &out));
    cr_assert(raw_recv_hs(s, &m, NULL));
    cr_assert_eq(m.kind, TR_HS_PROOF);
    return s;
}

static void raw_accept_finish(nng_stream *s, const raw_peer *r, const char *cookie)
{
    tr_hs_transcript t = {r->their_chal, r->chal, {r->their_name, (uint32_t)strlen(r->their_name)},
                          {r->name, (uint32_t)strlen(r->name)}, r->their_inc, r->inc};
    tr_hs_msg m = {.kind = TR_HS_ACCEPT, .agent = 7};
    cr_assert_eq(tr_hs_mac(cookie, strlen(cookie), false, &t, m.agent, m.mac), TR_OK);
    cr_assert(raw_send_hs(s, &m));
}

/* A data frame holding one control envelope. */
static void raw_send_control(nng_stream *s, int kind, uint64_t corr)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 1);
    tr_envelope e = {.kind = kind, .corr = corr};
    cr_assert_eq(tr_wire_pack_envelope(&pk, &e), TR_OK);
    cr_assert(raw_send_frame(s, sb.data, sb.size));
    msgpack_sbuffer_destroy(&sb);
}

/* Reads frames until one holding a single envelope of `kind`. */
static void raw_await_control(nng_stream *s, int kind)
{
    static uint8_t buf[TR_RX_CHUNK];
    for (;;) {
        long n = raw_recv_frame(s, buf, sizeof(buf));
        cr_assert_geq(n, 0, "the connection stays open");
        /* the node writes the envelope array as array32 (its count patched) */
        if (n >= 7 && buf[0] == 0xdd && buf[1] == 0 && buf[2] == 0 && buf[3] == 0 && buf[4] == 1 &&
            buf[5] == 0x96 && buf[6] == kind)
            return;
    }
}

static bool wait_peer(host *h, const char *name, bool up)
{
    for (int i = 0; i < RAW_WAIT_MS; i++) {
        if (tr_node_peer_up(h->node, name) == up)
            return true;
        nng_msleep(1);
    }
    return false;
}

/* The node dials r again after a reset (its old connection c1 stays open:
 * tr_node_connect dials while the peer is not up, as the chaos node does);
 * while that handshake waits for ACCEPT, the old session comes back on c1
 * (r's heartbeat after the reset exchange) and the node may queue and
 * write messages there. The ACCEPT must not silently replace c1: what c1
 * carries would be lost with no node-down (no monitor would hear of it).
 * The new connection loses: it is closed, the session stays on c1. */
Test(handshake, an_old_session_back_up_is_not_replaced_by_a_late_accept, .timeout = 60)
{
    host a;
    host_start(&a, "a", "k", false, NULL);
    nng_stream_listener *l;
    cr_assert_eq(nng_stream_listener_alloc(&l, "tcp://127.0.0.1:0"), 0);
    cr_assert_eq(nng_stream_listener_listen(l), 0);
    int port = 0;
    cr_assert_eq(nng_stream_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port), 0);
    char url[64];
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
    raw_peer r = {.name = "r", .inc = 42};
    /* 0 ms: returns at once, the dial goes on */
    cr_assert_eq(tr_node_connect(a.node, url, 0, NULL, 0), TR_ETIMEDOUT);
    nng_stream *c1 = raw_accept_to_proof(l, &r);
    raw_accept_finish(c1, &r, "k");
    cr_assert(wait_peer(&a, "r", true));
    /* r declares a down: a acknowledges and is down, c1 stays open */
    raw_send_control(c1, TR_ENV_RESET, 1);
    raw_await_control(c1, TR_ENV_RESET_ACK);
    cr_assert(wait_peer(&a, "r", false));
    /* a dials r again (as an application's tr_node_connect does while the
     * peer is down): c2 is admitted, waiting for ACCEPT */
    cr_assert_eq(tr_node_connect(a.node, url, 0, NULL, 0), TR_ETIMEDOUT);
    nng_stream *c2 = raw_accept_to_proof(l, &r);
    /* the old session comes back on c1 */
    static const uint8_t empty[] = {0x90};
    cr_assert(raw_send_frame(c1, empty, sizeof(empty)));
    cr_assert(wait_peer(&a, "r", true));
    uint64_t downs = stats(&a).node_downs;
    raw_accept_finish(c2, &r, "k");
    cr_assert(raw_closed(c2), "the late connection is closed");
    cr_assert(tr_node_peer_up(a.node, "r"));
    raw_send_control(c1, TR_ENV_PING, 5);
    raw_await_control(c1, TR_ENV_PONG); /* c1 still carries the session */
    cr_assert(tr_node_peer_up(a.node, "r"));
    cr_assert_eq(stats(&a).node_downs, downs);
    nng_stream_close(c1);
    nng_stream_free(c1);
    nng_stream_free(c2);
    host_stop(&a);
    nng_stream_listener_close(l);
    nng_stream_listener_free(l);
}
