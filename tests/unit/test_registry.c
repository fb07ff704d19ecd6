/* The local registry: name validation, one live actor per name, release on
 * death and by tr_unregister; tr_lookup of a plain name; the calls an actor
 * must not make (tr_lookup, tr_await_exit: TR_ECONTEXT on a worker); what
 * tr_ctx_behaviour and tr_ctx_system return. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <string.h>

#include "tests/support/latch.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

#define WAIT_MS 10000

enum { MSG_PING = TR_MSG_USER, MSG_FROM_WORKER };

static int idle_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self, (void)state, (void)msg;
    return TR_OK;
}
static const tr_behaviour idle_beh = {.handle = idle_handle};

static tr_ref spawn_idle(tr_system *sys)
{
    tr_ref r;
    cr_assert_eq(tr_spawn(sys, &idle_beh, NULL, NULL, &r), TR_OK);
    return r;
}

static void end(tr_system *sys, tr_ref r)
{
    cr_assert_eq(tr_stop(sys, r), TR_OK);
    cr_assert_eq(tr_await_exit(sys, r, WAIT_MS, NULL), TR_OK);
}

Test(registry, names_are_validated)
{
    tr_system *sys = make_system(1);
    tr_ref a = spawn_idle(sys);
    char longest[TR_NAME_MAX], too_long[TR_NAME_MAX + 1];
    memset(longest, 'n', sizeof(longest) - 1);
    longest[sizeof(longest) - 1] = '\0';
    memset(too_long, 'n', sizeof(too_long) - 1);
    too_long[sizeof(too_long) - 1] = '\0';

    cr_assert_eq(tr_register(sys, "", a), TR_EINVAL, "empty name");
    cr_assert_eq(tr_register(sys, NULL, a), TR_EINVAL, "NULL name");
    cr_assert_eq(tr_register(sys, "node/name", a), TR_EINVAL, "a '/' is for remote paths");
    cr_assert_eq(tr_register(sys, too_long, a), TR_EINVAL, "%zu bytes", strlen(too_long));
    cr_assert_eq(tr_register(NULL, "x", a), TR_EINVAL, "NULL system");
    cr_assert_eq(tr_register(sys, longest, a), TR_OK, "%zu bytes is the longest name", strlen(longest));
    tr_ref got;
    cr_assert_eq(tr_whereis(sys, longest, &got), TR_OK);
    cr_assert(tr_ref_equal(got, a));
    cr_assert_eq(tr_whereis(sys, too_long, &got), TR_EINVAL);
    cr_assert_eq(tr_whereis(sys, "", &got), TR_EINVAL);
    cr_assert_eq(tr_unregister(sys, ""), TR_EINVAL);
    cr_assert_eq(tr_unregister(NULL, "x"), TR_EINVAL);
    tr_system_destroy(sys);
}

Test(registry, one_live_actor_per_name_released_on_death)
{
    tr_system *sys = make_system(2);
    tr_ref a = spawn_idle(sys), b = spawn_idle(sys);
    tr_ref got;

    cr_assert_eq(tr_whereis(sys, "svc", &got), TR_ENOTFOUND);
    cr_assert_eq(tr_register(sys, "svc", a), TR_OK);
    cr_assert_eq(tr_register(sys, "svc", b), TR_EEXIST, "a live actor holds the name");
    cr_assert_eq(tr_register(sys, "svc", a), TR_EEXIST, "registering twice is not silently accepted");
    cr_assert_eq(tr_register(sys, "other", a), TR_OK, "one actor may have several names");
    cr_assert_eq(tr_whereis(sys, "svc", &got), TR_OK);
    cr_assert(tr_ref_equal(got, a));

    /* the name goes with its actor */
    end(sys, a);
    cr_assert_eq(tr_whereis(sys, "svc", &got), TR_ENOTFOUND, "a dead actor's name still resolves");
    cr_assert_eq(tr_whereis(sys, "other", &got), TR_ENOTFOUND);
    cr_assert_eq(tr_lookup(sys, "svc", WAIT_MS, &got), TR_ENOTFOUND);
    cr_assert_eq(tr_register(sys, "svc", b), TR_OK, "a dead actor's name is free again");
    cr_assert_eq(tr_whereis(sys, "svc", &got), TR_OK);
    cr_assert(tr_ref_equal(got, b));

    /* a dead actor cannot take a name */
    cr_assert_eq(tr_register(sys, "late", a), TR_EDEAD);
    cr_assert_eq(tr_whereis(sys, "late", &got), TR_ENOTFOUND);
    tr_system_destroy(sys);
}

Test(registry, unregister_releases_the_name_and_only_once)
{
    tr_system *sys = make_system(1);
    tr_ref a = spawn_idle(sys), b = spawn_idle(sys);
    tr_ref got;
    cr_assert_eq(tr_register(sys, "svc", a), TR_OK);
    cr_assert_eq(tr_unregister(sys, "svc"), TR_OK);
    cr_assert_eq(tr_whereis(sys, "svc", &got), TR_ENOTFOUND);
    cr_assert_eq(tr_lookup(sys, "svc", WAIT_MS, &got), TR_ENOTFOUND);
    cr_assert_eq(tr_unregister(sys, "svc"), TR_ENOTFOUND, "unregistering twice");
    cr_assert_eq(tr_unregister(sys, "never"), TR_ENOTFOUND);
    cr_assert_eq(tr_register(sys, "svc", b), TR_OK, "the name is free for another actor");
    cr_assert_eq(tr_lookup(sys, "svc", WAIT_MS, &got), TR_OK, "tr_lookup of a plain name is local");
    cr_assert(tr_ref_equal(got, b));
    /* the unregistered actor lives on, and its later death frees nothing else */
    cr_assert_eq(tr_actor_state_of(sys, a) == TR_STATE_DEAD, false);
    end(sys, a);
    cr_assert_eq(tr_whereis(sys, "svc", &got), TR_OK);
    cr_assert(tr_ref_equal(got, b));
    tr_system_destroy(sys);
}

Test(registry, lookup_rejects_bad_paths)
{
    tr_system *sys = make_system(1);
    tr_ref got;
    cr_assert_eq(tr_lookup(sys, "", WAIT_MS, &got), TR_EINVAL);
    cr_assert_eq(tr_lookup(sys, "/name", WAIT_MS, &got), TR_EINVAL, "empty node part");
    cr_assert_eq(tr_lookup(sys, "node/", WAIT_MS, &got), TR_EINVAL, "empty name part");
    cr_assert_eq(tr_lookup(sys, NULL, WAIT_MS, &got), TR_EINVAL);
    cr_assert_eq(tr_lookup(sys, "x", WAIT_MS, NULL), TR_EINVAL);
    cr_assert_neq(tr_lookup(sys, "nowhere/name", WAIT_MS, &got), TR_OK, "no node: a remote path fails");
    tr_system_destroy(sys);
}

/* ---- from a worker ---- */

typedef struct probe {
    tr_ref other;
    atomic_int lookup_rc, await_rc;
    const tr_behaviour *beh;
    tr_system *sys;
    latch done;
} probe;

static int probe_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    *(probe **)state = arg;
    return TR_OK;
}

static int probe_handle(tr_ctx *self, void *state, const tr_msg *msg);
static const tr_behaviour probe_beh = {.init = probe_init, .handle = probe_handle,
                                       .state_size = sizeof(probe *)};

static int probe_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    probe *p = *(probe **)state;
    if (msg->type != MSG_FROM_WORKER)
        return TR_OK;
    tr_ref got;
    atomic_store(&p->lookup_rc, tr_lookup(tr_ctx_system(self), "svc", 0, &got));
    atomic_store(&p->await_rc, tr_await_exit(tr_ctx_system(self), p->other, 0, NULL));
    p->beh = tr_ctx_behaviour(self);
    p->sys = tr_ctx_system(self);
    latch_add(&p->done, 1);
    return TR_OK;
}

Test(registry, blocking_calls_refuse_worker_threads)
{
    tr_system *sys = make_system(2);
    probe p = {.lookup_rc = -1, .await_rc = -1};
    latch_init(&p.done);
    p.other = spawn_idle(sys);
    cr_assert_eq(tr_register(sys, "svc", p.other), TR_OK);
    tr_ref r;
    cr_assert_eq(tr_spawn(sys, &probe_beh, &p, NULL, &r), TR_OK);
    cr_assert_eq(tr_post(sys, r, MSG_FROM_WORKER, NULL, 0, -1), TR_OK);
    cr_assert(latch_wait(&p.done, 1, WAIT_MS));
    cr_assert_eq(atomic_load(&p.lookup_rc), TR_ECONTEXT, "tr_lookup on a worker: %s",
                 tr_strerror(atomic_load(&p.lookup_rc)));
    cr_assert_eq(atomic_load(&p.await_rc), TR_ECONTEXT, "tr_await_exit on a worker: %s",
                 tr_strerror(atomic_load(&p.await_rc)));
    cr_assert_eq(p.beh, &probe_beh, "tr_ctx_behaviour is the behaviour the actor was spawned with");
    cr_assert_eq(p.sys, sys);
    tr_system_destroy(sys);
    latch_fini(&p.done);
}
