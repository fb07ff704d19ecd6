/* The failure detector as the member listing shows it (tr_member.phi,
 * heard_ago_ms): about 0 for a live peer; rising while a peer is silent
 * (a hand-driven peer, tests/net/raw_peer.h, that completes the handshake
 * and then sends nothing), back to about 0 once it speaks again; 0 for a
 * member that is not up. No timing is asserted: the detector's parameters
 * leave seconds between "suspicious" and "beyond doubt", and every wait
 * only turns a hang into a failure. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <time.h>

#include "tests/net/raw_peer.h"
#include "tests/support/members.h"
#include "tests/support/system.h"
#include "troupe/inbox.h"
#include "troupe/troupe.h"

#define WAIT_MS 30000

Test(suspicion, a_live_peer_is_not_suspected_and_a_peer_not_up_has_phi_0)
{
    tr_system *sa = make_system(1), *sb = make_system(1);
    tr_node *a = NULL, *b = NULL;
    tr_node_opts oa = {.name = "a", .cookie = "c", .heartbeat_ms = 20, .down_after_ms = 10000};
    tr_node_opts ob = {.name = "b", .cookie = "c", .heartbeat_ms = 20, .down_after_ms = 10000};
    cr_assert_eq(tr_node_start(sa, &oa, &a), TR_OK);
    cr_assert_eq(tr_node_start(sb, &ob, &b), TR_OK);
    tr_inbox *in = NULL;
    cr_assert_eq(tr_inbox_create(sa, 0, &in), TR_OK);
    cr_assert_eq(tr_node_subscribe(a, tr_inbox_ref(in), 0), TR_OK);
    char url[128];
    cr_assert_eq(tr_node_listen(a, "tcp://127.0.0.1:0", url, sizeof(url)), TR_OK);
    cr_assert_eq(tr_node_connect(b, url, WAIT_MS, NULL, 0), TR_OK);
    tr_inbox_msg *m = NULL;
    cr_assert_eq(tr_inbox_receive(in, 0, 0, WAIT_MS, &m), TR_OK);
    cr_assert_eq(m->msg.type, TR_MSG_NODE_UP);
    tr_inbox_msg_free(m);

    /* heartbeats every 20 ms against an acceptable pause of 10 s */
    tr_member up = member_of(a, "b");
    cr_assert_eq(up.state, TR_MEMBER_UP);
    cr_assert(up.phi >= 0 && up.phi < 1, "phi of a live peer: %f", up.phi);
    cr_assert_neq(up.heard_ago_ms, UINT64_MAX, "b was heard from");

    tr_node_stop(b); /* the connection closes: down at once */
    cr_assert_eq(tr_inbox_receive(in, 0, 0, WAIT_MS, &m), TR_OK);
    cr_assert_eq(m->msg.type, TR_MSG_NODE_DOWN);
    tr_inbox_msg_free(m);
    tr_member down = member_of(a, "b");
    cr_assert_eq(down.state, TR_MEMBER_DOWN);
    cr_assert_eq(down.phi, 0);
    cr_assert_neq(down.heard_ago_ms, UINT64_MAX);

    tr_inbox_destroy(in);
    tr_node_stop(a);
    tr_system_destroy(sb);
    tr_system_destroy(sa);
}

/* Sends one data frame (a message to "echo", an inbox) and waits until it
 * arrived: everything sent before was read. */
static void speak(raw_peer *r, tr_inbox *echo)
{
    tr_envelope e = {.kind = TR_ENV_SEND, .dst_name = {"echo", 4}, .value = TR_MSG_USER};
    raw_send_envelope(r->s, &e);
    tr_inbox_msg *m = NULL;
    cr_assert_eq(tr_inbox_receive(echo, TR_MSG_USER, 0, RAW_WAIT_MS, &m), TR_OK, "the node read the frame");
    tr_inbox_msg_free(m);
}

Test(suspicion, phi_rises_while_a_peer_is_silent_and_falls_when_it_speaks)
{
    tr_system *sys = make_system(1);
    tr_node *node = NULL;
    /* Heartbeats every second (a deviation floor of 250 ms), 100 ms of
     * acceptable pause, and a threshold only infinity reaches: phi passes
     * 2 after ~1.6 s of silence and becomes infinite (down) only after
     * ~6 s, so the test sees it rise however slow the machine. */
    tr_node_opts o = {.name = "n", .cookie = "secret", .heartbeat_ms = 1000, .down_after_ms = 100,
                      .phi_threshold = 1e300};
    cr_assert_eq(tr_node_start(sys, &o, &node), TR_OK);
    char url[128];
    cr_assert_eq(tr_node_listen(node, "tcp://127.0.0.1:0", url, sizeof(url)), TR_OK);
    tr_inbox *echo = NULL;
    cr_assert_eq(tr_inbox_create(sys, 0, &echo), TR_OK);
    cr_assert_eq(tr_register(sys, "echo", tr_inbox_ref(echo)), TR_OK);

    raw_peer r = {.s = raw_dial(url), .name = "quiet", .inc = 5, .caps = TR_HS_CAP_CLUSTER};
    raw_handshake(&r, "secret");
    speak(&r, echo);
    tr_member m = member_of(node, "quiet");
    cr_assert_eq(m.state, TR_MEMBER_UP);
    cr_assert_neq(m.heard_ago_ms, UINT64_MAX);

    /* silence: phi and the age only grow, until phi passes 2 */
    double last_phi = m.phi;
    uint64_t last_heard = m.heard_ago_ms;
    struct timespec pause = {.tv_nsec = 10 * 1000 * 1000};
    for (int i = 0; i < WAIT_MS / 10 && last_phi < 2; i++) {
        nanosleep(&pause, NULL);
        m = member_of(node, "quiet");
        cr_assert_eq(m.state, TR_MEMBER_UP, "not down before phi is infinite");
        cr_assert_geq(m.phi, last_phi, "phi rises while the peer is silent");
        cr_assert_geq(m.heard_ago_ms, last_heard);
        last_phi = m.phi;
        last_heard = m.heard_ago_ms;
    }
    cr_assert_geq(last_phi, 2, "phi after %llu ms of silence: %f", (unsigned long long)last_heard, last_phi);

    /* it speaks: the silence is over */
    speak(&r, echo);
    m = member_of(node, "quiet");
    cr_assert_eq(m.state, TR_MEMBER_UP);
    cr_assert(m.phi < 1, "phi once the peer spoke again: %f", m.phi);
    cr_assert_lt(m.heard_ago_ms, last_heard);

    nng_stream_close(r.s);
    nng_stream_free(r.s);
    tr_inbox_destroy(echo);
    tr_node_stop(node);
    tr_system_destroy(sys);
}
