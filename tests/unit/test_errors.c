/* Error paths the other suites do not reach: TR_ECLOSED while the system
 * shuts down, TR_ETOOBIG from a full actor table, tr_send_move/tr_post_move
 * freeing the moved buffer on every error, tr_pack_ref/tr_unpack_ref
 * refusing what they cannot encode or decode, tr_wire_destroy. */
#include <criterion/criterion.h>
#include <msgpack.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "actors/system_impl.h" /* the actor table, to fill it without 32M spawns */
#include "tests/support/latch.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"
#include "troupe/wire.h"

#define WAIT_MS 10000

enum { MSG_DATA = TR_MSG_USER, MSG_HOLD, MSG_GO };

static int idle_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self, (void)state, (void)msg;
    return TR_OK;
}
static const tr_behaviour idle_beh = {.handle = idle_handle};

/* ---- TR_ECLOSED: what the system refuses once it shuts down ---- */

static atomic_int closing_spawn_rc = -1;

static void closing_terminate(tr_ctx *self, void *state, int reason)
{
    (void)state, (void)reason;
    tr_ref r = TR_REF_NONE;
    atomic_store(&closing_spawn_rc, tr_spawn(tr_ctx_system(self), &idle_beh, NULL, NULL, &r));
}
static const tr_behaviour closing_beh = {.handle = idle_handle, .terminate = closing_terminate};

Test(errors, spawn_during_shutdown_is_eclosed)
{
    tr_system *sys = make_system(2);
    tr_ref r;
    cr_assert_eq(tr_spawn(sys, &closing_beh, NULL, NULL, &r), TR_OK);
    tr_system_destroy(sys); /* ends the actor: its terminate runs while the system closes */
    cr_assert_eq(atomic_load(&closing_spawn_rc), TR_ECLOSED, "spawn during shutdown: %s",
                 tr_strerror(atomic_load(&closing_spawn_rc)));
}

/* An outside thread blocked in tr_post on a full mailbox is released with
 * TR_ECLOSED when the system shuts down (then it lets the busy actor go). */
static latch hold_entered, hold_release;
static int holder_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self, (void)state;
    if (msg->type == MSG_HOLD) {
        latch_add(&hold_entered, 1);
        latch_wait(&hold_release, 1, 30000);
    }
    return TR_OK;
}
static const tr_behaviour holder_beh = {.handle = holder_handle};

typedef struct blocked_post {
    tr_system *sys;
    tr_ref to;
    atomic_int rc;
} blocked_post;

static void *post_until_closed(void *arg)
{
    blocked_post *b = arg;
    atomic_store(&b->rc, tr_post(b->sys, b->to, MSG_DATA, NULL, 0, -1));
    latch_add(&hold_release, 1);
    return NULL;
}

Test(errors, blocked_post_is_released_with_eclosed_at_shutdown)
{
    latch_init(&hold_entered);
    latch_init(&hold_release);
    tr_system *sys = make_system(1);
    tr_ref full;
    tr_spawn_opts o = {.mailbox_capacity = 1};
    cr_assert_eq(tr_spawn(sys, &holder_beh, NULL, &o, &full), TR_OK);
    cr_assert_eq(tr_post(sys, full, MSG_HOLD, NULL, 0, -1), TR_OK);
    cr_assert(latch_wait(&hold_entered, 1, WAIT_MS));
    cr_assert_eq(tr_post(sys, full, MSG_DATA, NULL, 0, 0), TR_OK, "fills the 1-slot mailbox");
    blocked_post b = {.sys = sys, .to = full, .rc = -1};
    pthread_t t;
    pthread_create(&t, NULL, post_until_closed, &b);
    while (atomic_load(&sys->post_waiters) == 0 && atomic_load(&b.rc) == -1)
        sched_yield(); /* until the poster waits for room */
    tr_system_destroy(sys);
    pthread_join(t, NULL);
    cr_assert_eq(atomic_load(&b.rc), TR_ECLOSED, "a post blocked at shutdown: %s", tr_strerror(atomic_load(&b.rc)));
}

/* ---- TR_ETOOBIG: every index of the actor table handed out ---- */

Test(errors, full_actor_table_is_etoobig)
{
    tr_system *sys = make_system(1);
    tr_metrics m0;
    tr_metrics_get(sys, &m0);
    /* as if 32M actors had been spawned: no never-used index is left */
    atomic_store(&sys->table.next_unused, (uint32_t)TR_TABLE_MAX_PAGES << TR_TABLE_PAGE_BITS);
    tr_ref refs[TR_TABLE_CACHE + 1];
    int ok = 0, rc = TR_OK;
    /* indices this thread or the free stack already hold are used first */
    while (ok <= TR_TABLE_CACHE && (rc = tr_spawn(sys, &idle_beh, NULL, NULL, &refs[ok])) == TR_OK)
        ok++;
    cr_assert_eq(rc, TR_ETOOBIG, "spawn into a full table: %s after %d spawns", tr_strerror(rc), ok);
    cr_assert_str_neq(tr_strerror(TR_ETOOBIG), "");
    tr_metrics m1;
    tr_metrics_get(sys, &m1);
    cr_assert_eq(m1.actors_alive, m0.actors_alive + (uint64_t)ok, "a refused spawn left an actor");
    /* an index freed by a dead actor is taken again */
    if (ok > 0) {
        cr_assert_eq(tr_stop(sys, refs[0]), TR_OK);
        cr_assert_eq(tr_await_exit(sys, refs[0], WAIT_MS, NULL), TR_OK);
    } else {
        tr_ref spare = TR_REF_NONE;
        cr_assert_eq(tr_spawn(sys, &idle_beh, NULL, NULL, &spare), TR_ETOOBIG);
    }
    tr_system_destroy(sys);
}

/* ---- moved buffers are freed on every error ---- */

static atomic_int freed;
static void count_free(void *p)
{
    atomic_fetch_add(&freed, 1);
    free(p);
}

static void *buffer(void)
{
    void *p = malloc(64);
    cr_assert_not_null(p);
    memset(p, 7, 64);
    return p;
}

Test(errors, post_move_frees_the_buffer_on_every_error)
{
    atomic_store(&freed, 0);
    latch_init(&hold_entered);
    latch_init(&hold_release);
    tr_system *sys = make_system(1);
    tr_ref dead, full;
    cr_assert_eq(tr_spawn(sys, &idle_beh, NULL, NULL, &dead), TR_OK);
    cr_assert_eq(tr_kill(sys, dead), TR_OK);
    cr_assert_eq(tr_await_exit(sys, dead, WAIT_MS, NULL), TR_OK);
    tr_spawn_opts o = {.mailbox_capacity = 1, .overflow = TR_OVERFLOW_FAIL};
    cr_assert_eq(tr_spawn(sys, &holder_beh, NULL, &o, &full), TR_OK);
    cr_assert_eq(tr_post(sys, full, MSG_HOLD, NULL, 0, -1), TR_OK);
    cr_assert(latch_wait(&hold_entered, 1, WAIT_MS));
    cr_assert_eq(tr_post(sys, full, MSG_DATA, NULL, 0, 0), TR_OK, "fills the 1-slot mailbox");

    int n = 0;
    cr_assert_eq(tr_post_move(sys, dead, MSG_DATA, buffer(), 64, count_free, 0), TR_EDEAD);
    cr_assert_eq(atomic_load(&freed), ++n, "dead receiver: buffer not freed");
    cr_assert_eq(tr_post_move(sys, full, MSG_DATA, buffer(), 64, count_free, 0), TR_EFULL);
    cr_assert_eq(atomic_load(&freed), ++n, "full mailbox: buffer not freed");
    cr_assert_eq(tr_post_move(sys, full, TR_MSG_USER - 1, buffer(), 64, count_free, 0), TR_EINVAL);
    cr_assert_eq(atomic_load(&freed), ++n, "reserved type: buffer not freed");
    cr_assert_eq(tr_post_move(NULL, full, MSG_DATA, buffer(), 64, count_free, 0), TR_EINVAL);
    cr_assert_eq(atomic_load(&freed), ++n, "NULL system: buffer not freed");
    cr_assert_eq(tr_post_move(sys, TR_REF_NONE, MSG_DATA, buffer(), 64, count_free, 0), TR_EDEAD);
    cr_assert_eq(atomic_load(&freed), ++n, "no receiver: buffer not freed");

    latch_add(&hold_release, 1);
    tr_system_destroy(sys);
    cr_assert_eq(atomic_load(&freed), n, "a buffer freed twice");
}

/* tr_send_move from an actor, to a dead actor, a full mailbox, a bad type */
typedef struct mover {
    tr_ref dead, full;
    int rc[3];
    int freed_after[3];
    latch done;
} mover;

static int mover_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    *(mover **)state = arg;
    return TR_OK;
}

static int mover_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    mover *m = *(mover **)state;
    if (msg->type != MSG_GO)
        return TR_OK;
    m->rc[0] = tr_send_move(self, m->dead, MSG_DATA, buffer(), 64, count_free);
    m->freed_after[0] = atomic_load(&freed);
    m->rc[1] = tr_send_move(self, m->full, TR_MSG_USER - 1, buffer(), 64, count_free);
    m->freed_after[1] = atomic_load(&freed);
    void *unowned = buffer();
    m->rc[2] = tr_send_move(self, m->dead, MSG_DATA, unowned, 64, NULL);
    m->freed_after[2] = atomic_load(&freed);
    if (m->rc[2] != TR_OK)
        free(unowned); /* refused without a free function: still the caller's */
    latch_add(&m->done, 1);
    return TR_OK;
}
static const tr_behaviour mover_beh = {.init = mover_init, .handle = mover_handle,
                                       .state_size = sizeof(mover *)};

Test(errors, send_move_frees_the_buffer_on_every_error)
{
    atomic_store(&freed, 0);
    tr_system *sys = make_system(2);
    mover m = {0};
    latch_init(&m.done);
    cr_assert_eq(tr_spawn(sys, &idle_beh, NULL, NULL, &m.dead), TR_OK);
    cr_assert_eq(tr_kill(sys, m.dead), TR_OK);
    cr_assert_eq(tr_await_exit(sys, m.dead, WAIT_MS, NULL), TR_OK);
    cr_assert_eq(tr_spawn(sys, &idle_beh, NULL, NULL, &m.full), TR_OK);
    tr_ref r;
    cr_assert_eq(tr_spawn(sys, &mover_beh, &m, NULL, &r), TR_OK);
    cr_assert_eq(tr_post(sys, r, MSG_GO, NULL, 0, -1), TR_OK);
    cr_assert(latch_wait(&m.done, 1, WAIT_MS));
    cr_assert_eq(m.rc[0], TR_EDEAD);
    cr_assert_eq(m.freed_after[0], 1, "dead receiver: buffer not freed");
    cr_assert_eq(m.rc[1], TR_EINVAL);
    cr_assert_eq(m.freed_after[1], 2, "reserved type: buffer not freed");
    /* a buffer without a free function cannot be owned: refused, and left
     * to the caller (freed here, not by Troupe) */
    cr_assert_eq(m.rc[2], TR_EINVAL);
    cr_assert_eq(m.freed_after[2], 2);
    tr_system_destroy(sys);
    cr_assert_eq(atomic_load(&freed), 2);
}

/* ---- wire helpers ---- */

Test(errors, pack_and_unpack_ref_refuse_what_they_cannot_encode)
{
    tr_system *sys = make_system(1);
    tr_ref a;
    cr_assert_eq(tr_spawn(sys, &idle_beh, NULL, NULL, &a), TR_OK);
    tr_wire w;
    tr_wire_init(&w);
    cr_assert_eq(tr_pack_ref(NULL, &w.pk, a), TR_EINVAL);
    cr_assert_eq(tr_pack_ref(sys, NULL, a), TR_EINVAL);
    tr_ref remote = {.id = a.id | (1ull << TR_REF_NODE_SHIFT)};
    cr_assert(tr_ref_is_remote(remote));
    cr_assert_eq(tr_pack_ref(sys, &w.pk, remote), TR_EINVAL, "a remote ref of no known node");
    cr_assert_eq(w.buf.size, 0, "a refused ref packed bytes");

    /* a local ref without a node round-trips */
    cr_assert_eq(tr_pack_ref(sys, &w.pk, a), TR_OK);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    cr_assert_eq(msgpack_unpack_next(&u, w.buf.data, w.buf.size, NULL), MSGPACK_UNPACK_SUCCESS);
    tr_ref back = TR_REF_NONE;
    cr_assert_eq(tr_unpack_ref(sys, &u.data, &back), TR_OK);
    cr_assert(tr_ref_equal(back, a));
    cr_assert_eq(tr_unpack_ref(NULL, &u.data, &back), TR_EINVAL);
    cr_assert_eq(tr_unpack_ref(sys, NULL, &back), TR_EINVAL);
    cr_assert_eq(tr_unpack_ref(sys, &u.data, NULL), TR_EINVAL);
    msgpack_unpacked_destroy(&u);
    tr_wire_destroy(&w);

    /* things that are not a packed ref */
    const char *cases[] = {"int", "array of 3", "name not a string", "id not an integer", "id too large",
                           "unknown node"};
    for (int i = 0; i < 6; i++) {
        tr_wire x;
        tr_wire_init(&x);
        switch (i) {
        case 0: msgpack_pack_int(&x.pk, 5); break;
        case 1:
            msgpack_pack_array(&x.pk, 3);
            msgpack_pack_str_with_body(&x.pk, "", 0);
            msgpack_pack_uint64(&x.pk, 1);
            msgpack_pack_nil(&x.pk);
            break;
        case 2:
            msgpack_pack_array(&x.pk, 2);
            msgpack_pack_int(&x.pk, 1);
            msgpack_pack_uint64(&x.pk, 1);
            break;
        case 3:
            msgpack_pack_array(&x.pk, 2);
            msgpack_pack_str_with_body(&x.pk, "", 0);
            msgpack_pack_str_with_body(&x.pk, "1", 1);
            break;
        case 4:
            msgpack_pack_array(&x.pk, 2);
            msgpack_pack_str_with_body(&x.pk, "", 0);
            msgpack_pack_uint64(&x.pk, UINT64_MAX);
            break;
        case 5:
            msgpack_pack_array(&x.pk, 2);
            msgpack_pack_str_with_body(&x.pk, "elsewhere", 9);
            msgpack_pack_uint64(&x.pk, 1);
            break;
        }
        msgpack_unpacked v;
        msgpack_unpacked_init(&v);
        cr_assert_eq(msgpack_unpack_next(&v, x.buf.data, x.buf.size, NULL), MSGPACK_UNPACK_SUCCESS);
        tr_ref out = TR_REF_NONE;
        int rc = tr_unpack_ref(sys, &v.data, &out);
        cr_assert_eq(rc, i == 5 ? TR_ENOTCONN : TR_EPROTO, "%s: %s", cases[i], tr_strerror(rc));
        cr_assert(tr_ref_is_none(out), "%s: wrote a reference", cases[i]);
        msgpack_unpacked_destroy(&v);
        tr_wire_destroy(&x); /* frees the bytes it was not asked to give up */
    }

    /* tr_wire_take hands the bytes over and leaves an empty, reusable wire */
    tr_wire t;
    tr_wire_init(&t);
    msgpack_pack_int(&t.pk, 42);
    size_t size = 0;
    void *bytes = tr_wire_take(&t, &size);
    cr_assert_not_null(bytes);
    cr_assert_eq(size, 1);
    cr_assert_eq(t.buf.size, 0);
    msgpack_pack_int(&t.pk, 43);
    cr_assert_eq(t.buf.size, 1);
    free(bytes);
    tr_wire_destroy(&t);
    tr_system_destroy(sys);
}

/* ---- references to another node while no node runs ---- */

static latch down_seen;
static _Atomic int down_reason = -1;
static int down_watch_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self, (void)state;
    if (msg->type == TR_MSG_DOWN && msg->size == sizeof(tr_down)) {
        atomic_store(&down_reason, ((const tr_down *)msg->data)->reason);
        latch_add(&down_seen, 1);
    }
    return TR_OK;
}
static const tr_behaviour down_watch_beh = {.handle = down_watch_handle};

Test(errors, remote_refs_without_a_node_are_reported_never_lost)
{
    latch_init(&down_seen);
    tr_system *sys = make_system(1);
    tr_ref remote = {.id = (3ull << TR_REF_NODE_SHIFT) | 42};
    tr_metrics m0, m1;
    tr_metrics_get(sys, &m0);
    cr_assert_eq(tr_post(sys, remote, MSG_DATA, "x", 1, 0), TR_ENOTCONN);
    tr_metrics_get(sys, &m1);
    cr_assert_eq(m1.dead_letters, m0.dead_letters + 1, "a send to an unreachable node is a counted dead letter");

    /* a monitor of it fires at once: the node is as good as down */
    tr_ref w;
    cr_assert_eq(tr_spawn(sys, &down_watch_beh, NULL, NULL, &w), TR_OK);
    uint64_t id = 0;
    cr_assert_eq(tr_monitor(sys, w, remote, &id), TR_OK);
    cr_assert(latch_wait(&down_seen, 1, WAIT_MS), "no DOWN for a monitor of an unreachable node");
    cr_assert_eq(atomic_load(&down_reason), TR_ENODEDOWN, "DOWN reason %s", tr_strerror(atomic_load(&down_reason)));
    cr_assert_eq(tr_demonitor(sys, remote, id), TR_ENOTFOUND, "the fired monitor is gone");
    tr_system_destroy(sys);
    latch_fini(&down_seen);
}

Test(errors, every_error_code_has_its_own_message)
{
    for (int a = TR_OK; a <= TR_EADDR; a++) {
        const char *s = tr_strerror(a);
        cr_assert_not_null(s);
        cr_assert_neq(s[0], '\0', "code %d has an empty message", a);
        for (int b = TR_OK; b < a; b++)
            cr_assert_str_neq(tr_strerror(b), s, "codes %d and %d share the message '%s'", a, b, s);
    }
    cr_assert_not_null(tr_strerror(-5), "a code Troupe never returns still gets a message");
    cr_assert_not_null(tr_strerror(TR_EUSER + 77));
}
