/* Group results that carry a pointer (tr_set_result_ptr / tr_group_take),
 * and a group destroyed by the actor that owns it. Leaks and use after
 * free show under ASan (LeakSanitizer) and valgrind. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/latch.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

#define WAIT_MS 20000

enum { MSG_DESTROY = TR_MSG_USER };

static int page_init(tr_ctx *self, void *state, void *arg)
{
    (void)state;
    char *text = malloc(32);
    snprintf(text, 32, "page %d", (int)(uintptr_t)arg);
    tr_set_result_ptr(self, text, free);
    tr_stop_self(self);
    return TR_OK;
}
static int idle_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self, (void)state, (void)msg;
    return TR_OK;
}
static const tr_behaviour page = {.init = page_init, .handle = idle_handle};
static const tr_behaviour idle = {.handle = idle_handle};

Test(group_results, pointers_are_kept_taken_or_freed_by_the_group)
{
    tr_system *sys = make_system(2);
    tr_group *g;
    cr_assert_eq(tr_group_create(sys, 2, TR_REF_NONE, &g), TR_OK);
    for (uintptr_t i = 1; i <= 4; i++)
        cr_assert_eq(tr_group_spawn(g, &page, (void *)i, NULL), TR_OK);
    cr_assert_eq(tr_group_wait(g, WAIT_MS), TR_OK);
    tr_group_result r[4];
    cr_assert_eq(tr_group_results(g, 0, r, 4), 4);
    int seen = 0;
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(r[i].status, TR_OK);
        cr_assert_not_null(r[i].ptr);
        cr_assert_eq(strncmp(r[i].ptr, "page ", 5), 0);
        seen |= 1 << (((const char *)r[i].ptr)[5] - '0');
    }
    cr_assert_eq(seen, 0x1e, "pages 1..4");
    char *mine = tr_group_take(g, 2);
    cr_assert_eq(mine, r[2].ptr);
    cr_assert_null(tr_group_take(g, 2), "taken once");
    cr_assert_null(tr_group_take(g, 99));
    free(mine);
    tr_group_destroy(g); /* frees the three not taken */
    tr_system_destroy(sys);
}

/* ---- the owner destroys its group from its handler ---- */

static tr_ref notify_to;

static int owner_init(tr_ctx *self, void *state, void *arg)
{
    (void)arg;
    tr_group **g = state;
    int rc = tr_group_create(tr_ctx_system(self), 2, notify_to, g);
    for (int i = 0; i < 3 && rc == TR_OK; i++) /* two run, one queues */
        rc = tr_group_spawn(*g, &idle, NULL, NULL);
    return rc;
}

static int owner_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self;
    if (msg->type == MSG_DESTROY) {
        tr_group_destroy(*(tr_group **)state); /* returns at once on a worker */
        *(tr_group **)state = NULL;
    }
    return TR_OK;
}

static const tr_behaviour owner = {.init = owner_init, .handle = owner_handle,
                                   .state_size = sizeof(tr_group *)};

Test(group_results, the_owner_actor_may_destroy_its_group)
{
    tr_system *sys = make_system(2);
    tr_inbox *in;
    cr_assert_eq(tr_inbox_create(sys, 0, &in), TR_OK);
    notify_to = tr_inbox_ref(in);
    tr_ref o;
    cr_assert_eq(tr_spawn(sys, &owner, NULL, NULL, &o), TR_OK);
    cr_assert_eq(tr_post(sys, o, MSG_DESTROY, NULL, 0, -1), TR_OK);
    for (int i = 0; i < 2; i++) { /* the two running members were killed */
        tr_inbox_msg *m;
        cr_assert_eq(tr_inbox_receive(in, TR_MSG_GROUP_DONE, 0, WAIT_MS, &m), TR_OK, "member %d", i);
        tr_group_result r;
        memcpy(&r, m->msg.data, sizeof(r));
        cr_assert_eq(r.status, TR_EKILLED);
        tr_inbox_msg_free(m);
    }
    tr_inbox_msg *m;
    cr_assert_eq(tr_inbox_receive(in, TR_MSG_GROUP_DONE, 0, 50, &m), TR_ETIMEDOUT,
                 "the queued spawn never started");
    tr_inbox_destroy(in);
    tr_system_destroy(sys);
}
