/* Groups bound to a token: cancelling it stops running members with
 * TR_ECANCELLED, drops queued spawns as TR_ECANCELLED results, and refuses
 * later spawns. */
#include <criterion/criterion.h>
#include <string.h>

#include "tests/support/system.h"
#include "troupe/troupe.h"

#define WAIT_MS 20000

static int idle_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self, (void)state, (void)msg;
    return TR_OK;
}
static const tr_behaviour idle = {.handle = idle_handle};

Test(group_token, cancelling_stops_members_and_drops_queued_spawns)
{
    tr_system *sys = make_system(2);
    tr_inbox *in;
    cr_assert_eq(tr_inbox_create(sys, 0, &in), TR_OK);
    tr_token *tok;
    cr_assert_eq(tr_token_create(sys, NULL, &tok), TR_OK);
    tr_group *g;
    cr_assert_eq(tr_group_create(sys, 2, tr_inbox_ref(in), &g), TR_OK);
    cr_assert_eq(tr_group_spawn(g, &idle, NULL, NULL), TR_OK, "running before the bind");
    cr_assert_eq(tr_group_bind(g, tok), TR_OK);
    cr_assert_eq(tr_group_bind(g, tok), TR_EEXIST);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(tr_group_spawn(g, &idle, NULL, NULL), TR_OK); /* 1 runs, 3 queue */
    tr_token_cancel(tok);
    cr_assert_eq(tr_group_wait(g, WAIT_MS), TR_OK);
    size_t added, ended, failed;
    tr_group_counts(g, &added, &ended, &failed);
    cr_assert_eq(added, 5);
    cr_assert_eq(ended, 5);
    cr_assert_eq(failed, 5);
    tr_group_result r[5];
    cr_assert_eq(tr_group_results(g, 0, r, 5), 5);
    int unstarted = 0;
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(r[i].status, TR_ECANCELLED, "result %d: %s", i, tr_strerror(r[i].status));
        unstarted += tr_ref_is_none(r[i].member);
    }
    cr_assert_eq(unstarted, 3);
    for (int i = 0; i < 5; i++) { /* each result was notified too */
        tr_inbox_msg *m;
        cr_assert_eq(tr_inbox_receive(in, TR_MSG_GROUP_DONE, 0, WAIT_MS, &m), TR_OK);
        tr_inbox_msg_free(m);
    }
    cr_assert_eq(tr_group_spawn(g, &idle, NULL, NULL), TR_ECANCELLED);
    tr_group_destroy(g);
    tr_token_destroy(tok);
    tr_inbox_destroy(in);
    tr_system_destroy(sys);
}

Test(group_token, binding_a_cancelled_token_refuses_spawns)
{
    tr_system *sys = make_system(2);
    tr_token *tok;
    cr_assert_eq(tr_token_create(sys, NULL, &tok), TR_OK);
    tr_token_cancel(tok);
    tr_group *g;
    cr_assert_eq(tr_group_create(sys, 2, TR_REF_NONE, &g), TR_OK);
    cr_assert_eq(tr_group_bind(g, tok), TR_OK);
    cr_assert_eq(tr_group_spawn(g, &idle, NULL, NULL), TR_ECANCELLED);
    tr_group_destroy(g);
    tr_token_destroy(tok);
    tr_system_destroy(sys);
}
