/* Asks across nodes fail fast: a remote callee that fails while handling
 * an ask answers with its exit reason, and an ask whose callee's node goes
 * down ends with TR_ENODEDOWN (the asker monitors the callee for the ask's
 * duration) instead of waiting out its timeout. Two in-process nodes over
 * inproc. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/system.h"
#include "troupe/troupe.h"

#define ASK_MS 600000 /* never reached by a passing test: a timeout would show as TR_ETIMEDOUT */

enum { MSG_ECHO = TR_MSG_USER, MSG_FAIL, MSG_HOLD };
enum { E_REMOTE = TR_EUSER + 21 };

static int callee_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    switch (msg->type) {
    case MSG_ECHO: return tr_reply(self, msg, msg->data, msg->size);
    case MSG_FAIL: return E_REMOTE;
    default: return TR_OK; /* MSG_HOLD: never answered */
    }
}
static const tr_behaviour callee = {.handle = callee_handle};

typedef struct two {
    tr_system *sys[2];
    tr_node *node[2];
} two;

static tr_ref start(two *t, int seq)
{
    char url[2][128];
    for (int i = 0; i < 2; i++) {
        t->sys[i] = make_system(2);
        char name[8], want[64];
        snprintf(name, sizeof(name), "r%d", i);
        tr_node_opts o = {.name = name, .cookie = "c", .heartbeat_ms = 20, .down_after_ms = 1000};
        cr_assert_eq(tr_node_start(t->sys[i], &o, &t->node[i]), TR_OK);
        snprintf(want, sizeof(want), "inproc://remote-ask-%d-%d", seq, i);
        cr_assert_eq(tr_node_listen(t->node[i], want, url[i], sizeof(url[i])), TR_OK);
    }
    cr_assert_eq(tr_node_connect(t->node[0], url[1], 5000, NULL, 0), TR_OK);
    tr_ref c, r;
    cr_assert_eq(tr_spawn(t->sys[1], &callee, NULL, NULL, &c), TR_OK);
    cr_assert_eq(tr_register(t->sys[1], "callee", c), TR_OK);
    cr_assert_eq(tr_lookup(t->sys[0], "r1/callee", 5000, &r), TR_OK);
    return r;
}

static void stop(two *t)
{
    for (int i = 0; i < 2; i++) {
        tr_node_stop(t->node[i]);
        tr_system_destroy(t->sys[i]);
    }
}

Test(remote_ask, a_remote_callee_failing_returns_its_reason)
{
    two t;
    tr_ref r = start(&t, 1);
    void *reply = NULL;
    cr_assert_eq(tr_ask_wait(t.sys[0], r, MSG_ECHO, "x", 1, ASK_MS, &reply, NULL), TR_OK);
    free(reply);
    int rc = tr_ask_wait(t.sys[0], r, MSG_FAIL, NULL, 0, ASK_MS, NULL, NULL);
    cr_assert_eq(rc, E_REMOTE, "got %d %s", rc, tr_strerror(rc));
    stop(&t);
}

Test(remote_ask, an_ask_whose_node_goes_down_ends_with_enodedown)
{
    two t;
    tr_ref r = start(&t, 2);
    tr_inbox *in;
    cr_assert_eq(tr_inbox_create(t.sys[0], 0, &in), TR_OK);
    uint64_t corr;
    cr_assert_eq(tr_inbox_ask(in, r, MSG_HOLD, NULL, 0, ASK_MS, &corr), TR_OK);
    /* the hold is in flight or held: either way the node going down ends it */
    tr_node_stop(t.node[1]);
    t.node[1] = NULL;
    tr_inbox_msg *m;
    cr_assert_eq(tr_inbox_receive(in, 0, corr, 60000, &m), TR_OK);
    cr_assert_eq(m->msg.type, TR_MSG_ASK_FAILED);
    int why = tr_ask_failure(&m->msg);
    cr_assert_eq(why, TR_ENODEDOWN, "got %d %s", why, tr_strerror(why));
    tr_inbox_msg_free(m);
    tr_inbox_destroy(in);
    stop(&t);
}
