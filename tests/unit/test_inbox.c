/* Inboxes: an outside thread receives messages, DOWNs, exit signals and
 * group results, asks and answers asks, filters by type and correlation id,
 * and an inbox bounds what it holds. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <string.h>

#include "tests/support/latch.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

#define WAIT_MS 20000

enum { MSG_A = TR_MSG_USER, MSG_B, MSG_ECHO, MSG_FAIL, MSG_ASK_INBOX, MSG_TRY_RECEIVE };
enum { E_BOOM = TR_EUSER + 9 };

static tr_inbox *the_inbox;
static _Atomic int worker_receive_rc = -1;
static _Atomic int reply_from_inbox = -1;
static latch done;

static int echo_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    switch (msg->type) {
    case MSG_ECHO: return tr_reply(self, msg, msg->data, msg->size);
    case MSG_FAIL: return E_BOOM;
    case MSG_A: /* send two messages back to whoever sent this */
        tr_send(self, msg->sender, MSG_B, "b", 1);
        tr_send(self, msg->sender, MSG_A, "a", 1);
        return TR_OK;
    case MSG_ASK_INBOX: return tr_ask(self, msg->sender, MSG_ECHO, "q", 1, WAIT_MS, NULL);
    case TR_MSG_REPLY:
        atomic_store(&reply_from_inbox, msg->size == 1 ? ((const char *)msg->data)[0] : 0);
        latch_add(&done, 1);
        return TR_OK;
    case MSG_TRY_RECEIVE: {
        tr_inbox_msg *m;
        atomic_store(&worker_receive_rc, tr_inbox_receive(the_inbox, 0, 0, 0, &m));
        latch_add(&done, 1);
        return TR_OK;
    }
    }
    return TR_OK;
}

static const tr_behaviour echo = {.handle = echo_handle, .name = "echo"};

Test(inbox, receives_in_order_and_filters_by_type)
{
    tr_system *sys = make_system(2);
    tr_inbox *in;
    cr_assert_eq(tr_inbox_create(sys, 0, &in), TR_OK);
    tr_ref e;
    cr_assert_eq(tr_spawn(sys, &echo, NULL, NULL, &e), TR_OK);
    tr_inbox_msg *m;
    cr_assert_eq(tr_inbox_receive(in, 0, 0, 0, &m), TR_ETIMEDOUT, "empty");
    cr_assert_eq(tr_inbox_send(in, e, MSG_A, NULL, 0, -1), TR_OK);
    /* B comes first; asking for A skips it and leaves it queued */
    cr_assert_eq(tr_inbox_receive(in, MSG_A, 0, WAIT_MS, &m), TR_OK);
    cr_assert_eq(m->msg.type, MSG_A);
    cr_assert_eq(m->msg.size, 1);
    cr_assert_eq(((const char *)m->msg.data)[0], 'a');
    cr_assert(tr_ref_equal(m->msg.sender, e));
    tr_inbox_msg_free(m);
    cr_assert_eq(tr_inbox_receive(in, 0, 0, 0, &m), TR_OK);
    cr_assert_eq(m->msg.type, MSG_B);
    tr_inbox_msg_free(m);
    cr_assert_eq(tr_inbox_receive(in, 0, 0, 10, &m), TR_ETIMEDOUT);
    tr_inbox_destroy(in);
    tr_system_destroy(sys);
}

Test(inbox, asks_and_gets_the_reply_or_the_failure)
{
    tr_system *sys = make_system(2);
    tr_inbox *in;
    cr_assert_eq(tr_inbox_create(sys, 0, &in), TR_OK);
    tr_ref e;
    cr_assert_eq(tr_spawn(sys, &echo, NULL, NULL, &e), TR_OK);
    uint64_t c1, c2;
    cr_assert_eq(tr_inbox_ask(in, e, MSG_ECHO, "1", 1, WAIT_MS, &c1), TR_OK);
    cr_assert_eq(tr_inbox_ask(in, e, MSG_FAIL, NULL, 0, WAIT_MS, &c2), TR_OK);
    cr_assert_neq(c1, c2);
    tr_inbox_msg *m;
    cr_assert_eq(tr_inbox_receive(in, 0, c2, WAIT_MS, &m), TR_OK);
    cr_assert_eq(m->msg.type, TR_MSG_ASK_FAILED);
    cr_assert_eq(tr_ask_failure(&m->msg), E_BOOM);
    tr_inbox_msg_free(m);
    cr_assert_eq(tr_inbox_receive(in, 0, c1, WAIT_MS, &m), TR_OK);
    cr_assert_eq(m->msg.type, TR_MSG_REPLY);
    cr_assert_eq(((const char *)m->msg.data)[0], '1');
    tr_inbox_msg_free(m);
    /* the callee is dead now: asking it fails at once */
    cr_assert_eq(tr_inbox_ask(in, e, MSG_ECHO, "1", 1, WAIT_MS, &c1), TR_EDEAD);
    tr_inbox_destroy(in);
    tr_system_destroy(sys);
}

Test(inbox, monitors_links_and_groups_report_to_it)
{
    tr_system *sys = make_system(2);
    tr_inbox *in;
    cr_assert_eq(tr_inbox_create(sys, 0, &in), TR_OK);
    tr_ref me = tr_inbox_ref(in), a, b;
    cr_assert_eq(tr_spawn(sys, &echo, NULL, NULL, &a), TR_OK);
    cr_assert_eq(tr_spawn(sys, &echo, NULL, NULL, &b), TR_OK);
    uint64_t mon;
    cr_assert_eq(tr_monitor(sys, me, a, &mon), TR_OK);
    cr_assert_eq(tr_link(sys, me, b), TR_OK);
    cr_assert_eq(tr_kill(sys, a), TR_OK);
    cr_assert_eq(tr_post(sys, b, MSG_FAIL, NULL, 0, -1), TR_OK);

    tr_inbox_msg *m;
    cr_assert_eq(tr_inbox_receive(in, TR_MSG_DOWN, 0, WAIT_MS, &m), TR_OK);
    tr_down d;
    memcpy(&d, m->msg.data, sizeof(d));
    cr_assert(tr_ref_equal(d.actor, a));
    cr_assert_eq(d.monitor, mon);
    cr_assert_eq(d.reason, TR_EKILLED);
    tr_inbox_msg_free(m);
    cr_assert_eq(tr_inbox_receive(in, TR_MSG_EXIT, 0, WAIT_MS, &m), TR_OK, "a link's exit is a message");
    tr_exit_signal x;
    memcpy(&x, m->msg.data, sizeof(x));
    cr_assert_eq(x.reason, E_BOOM);
    tr_inbox_msg_free(m);

    tr_group *g;
    cr_assert_eq(tr_group_create(sys, 2, me, &g), TR_OK);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(tr_group_spawn(g, &echo, NULL, NULL), TR_OK);
    tr_group_destroy(g); /* kills the members: two results */
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(tr_inbox_receive(in, TR_MSG_GROUP_DONE, 0, WAIT_MS, &m), TR_OK, "result %d", i);
        tr_group_result r;
        memcpy(&r, m->msg.data, sizeof(r));
        cr_assert_eq(r.status, TR_EKILLED);
        tr_inbox_msg_free(m);
    }
    tr_inbox_destroy(in);
    tr_system_destroy(sys);
}

Test(inbox, answers_an_actors_ask)
{
    latch_init(&done);
    tr_system *sys = make_system(2);
    tr_inbox *in;
    cr_assert_eq(tr_inbox_create(sys, 0, &in), TR_OK);
    tr_ref e;
    cr_assert_eq(tr_spawn(sys, &echo, NULL, NULL, &e), TR_OK);
    cr_assert_eq(tr_inbox_send(in, e, MSG_ASK_INBOX, NULL, 0, -1), TR_OK);
    tr_inbox_msg *m;
    cr_assert_eq(tr_inbox_receive(in, MSG_ECHO, 0, WAIT_MS, &m), TR_OK);
    cr_assert_neq(m->msg.corr, 0);
    cr_assert_eq(tr_inbox_reply(in, &m->msg, "z", 1), TR_OK);
    tr_inbox_msg_free(m);
    cr_assert(latch_wait(&done, 1, WAIT_MS));
    cr_assert_eq(atomic_load(&reply_from_inbox), 'z');
    tr_inbox_destroy(in);
    tr_system_destroy(sys);
}

Test(inbox, holds_at_most_its_capacity)
{
    tr_system *sys = make_system(2);
    tr_inbox *in;
    cr_assert_eq(tr_inbox_create(sys, 2, &in), TR_OK);
    tr_ref e;
    cr_assert_eq(tr_spawn(sys, &echo, NULL, NULL, &e), TR_OK);
    tr_metrics before;
    tr_metrics_get(sys, &before);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(tr_post(sys, tr_inbox_ref(in), MSG_B, NULL, 0, -1), TR_OK);
    /* the reply is queued after the five: once it is in, they were handled */
    uint64_t c;
    cr_assert_eq(tr_inbox_ask(in, e, MSG_ECHO, NULL, 0, WAIT_MS, &c), TR_OK);
    tr_inbox_msg *m;
    cr_assert_eq(tr_inbox_receive(in, TR_MSG_REPLY, c, WAIT_MS, &m), TR_OK, "a reply is kept when full");
    tr_inbox_msg_free(m);
    int got = 0;
    while (tr_inbox_receive(in, MSG_B, 0, 0, &m) == TR_OK) {
        got++;
        tr_inbox_msg_free(m);
    }
    cr_assert_eq(got, 2);
    tr_metrics after;
    tr_metrics_get(sys, &after);
    cr_assert_eq(after.dead_letters - before.dead_letters, 3, "the rest are counted");
    tr_inbox_destroy(in);
    tr_system_destroy(sys);
}

Test(inbox, a_worker_may_not_receive_and_shutdown_ends_a_wait)
{
    latch_init(&done);
    tr_system *sys = make_system(2);
    cr_assert_eq(tr_inbox_create(sys, 0, &the_inbox), TR_OK);
    tr_ref e;
    cr_assert_eq(tr_spawn(sys, &echo, NULL, NULL, &e), TR_OK);
    cr_assert_eq(tr_post(sys, e, MSG_TRY_RECEIVE, NULL, 0, -1), TR_OK);
    cr_assert(latch_wait(&done, 1, WAIT_MS));
    cr_assert_eq(atomic_load(&worker_receive_rc), TR_ECONTEXT);
    /* the inbox's actor stopped from elsewhere: a receive ends with TR_EDEAD */
    cr_assert_eq(tr_stop(sys, tr_inbox_ref(the_inbox)), TR_OK);
    tr_inbox_msg *m;
    cr_assert_eq(tr_inbox_receive(the_inbox, 0, 0, -1, &m), TR_EDEAD);
    tr_inbox_destroy(the_inbox);
    tr_system_destroy(sys);
}

/* tr_inbox_receive_value: a fixed-size message straight into a variable;
 * a message of another size is TR_EPROTO and is consumed; nothing there
 * is TR_ETIMEDOUT. */
Test(inbox, receives_a_fixed_size_value_into_a_variable)
{
    tr_system *sys = make_system(2);
    tr_inbox *in;
    cr_assert_eq(tr_inbox_create(sys, 0, &in), TR_OK);
    tr_ref a;
    cr_assert_eq(tr_spawn(sys, &echo, NULL, NULL, &a), TR_OK);
    uint64_t mon;
    cr_assert_eq(tr_monitor(sys, tr_inbox_ref(in), a, &mon), TR_OK);
    cr_assert_eq(tr_kill(sys, a), TR_OK);
    tr_down d = {0};
    cr_assert_eq(tr_inbox_receive_value(in, TR_MSG_DOWN, WAIT_MS, &d), TR_OK);
    cr_assert(tr_ref_equal(d.actor, a));
    cr_assert_eq(d.monitor, mon);
    cr_assert_eq(d.reason, TR_EKILLED);

    int64_t v = 7, got = 0;
    cr_assert_eq(tr_post(sys, tr_inbox_ref(in), MSG_A, &v, sizeof(v), -1), TR_OK);
    cr_assert_eq(tr_post(sys, tr_inbox_ref(in), MSG_A, "short", 5, -1), TR_OK);
    cr_assert_eq(tr_post(sys, tr_inbox_ref(in), MSG_B, NULL, 0, -1), TR_OK);
    cr_assert_eq(tr_inbox_receive_value(in, MSG_A, WAIT_MS, &got), TR_OK);
    cr_assert_eq(got, 7);
    got = 0;
    cr_assert_eq(tr_inbox_receive_value(in, MSG_A, WAIT_MS, &got), TR_EPROTO, "5 bytes are not an int64_t");
    cr_assert_eq(got, 0, "nothing copied");
    cr_assert_eq(tr_inbox_receive_value(in, MSG_A, 0, &got), TR_ETIMEDOUT, "the wrong-sized one was consumed");
    cr_assert_eq(tr_inbox_receive_read(in, MSG_B, 0, WAIT_MS, NULL, 0), TR_OK, "an empty message, no buffer");
    tr_inbox_destroy(in);
    tr_system_destroy(sys);
}

/* An inbox left open is destroyed by tr_system_destroy (its actor stopped,
 * its queued messages freed), and one destroyed by hand is not destroyed
 * twice: what fails here is a leak or a double free, which the ASan flavour
 * of this test reports. */
Test(inbox, the_system_destroys_the_inboxes_left_open)
{
    tr_system *sys = make_system(2);
    tr_inbox *open[3], *closed;
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(tr_inbox_create(sys, 0, &open[i]), TR_OK);
        cr_assert_eq(tr_post(sys, tr_inbox_ref(open[i]), MSG_A, "queued", 6, -1), TR_OK);
    }
    cr_assert_eq(tr_inbox_create(sys, 0, &closed), TR_OK);
    tr_inbox_destroy(closed);
    /* the queued messages are in the inboxes before the system goes */
    for (int i = 0; i < 3; i++) {
        tr_inbox_msg *m;
        cr_assert_eq(tr_inbox_receive(open[i], MSG_A, 0, WAIT_MS, &m), TR_OK);
        tr_inbox_msg_free(m);
        cr_assert_eq(tr_post(sys, tr_inbox_ref(open[i]), MSG_B, "left", 4, -1), TR_OK);
    }
    tr_system_destroy(sys);
}
