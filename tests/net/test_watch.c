/* Watched connections (net/conn.c, "Watching"): a worker waiting for a
 * peer's answer reads the peer's connection itself through a callback-less
 * read. What must hold: every message still arrives once and in order;
 * the read is never lost between the watcher, NNG's callback and the
 * service thread; a connection closed while watched goes down once (its
 * node-down monitor fires exactly once) and is freed only once no one
 * holds it; stopping a node while a watch is held does not hang. */
#include <criterion/criterion.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "net/node_impl.h"
#include "tests/support/latch.h"
#include "tests/support/node_pair.h"
#include "troupe/troupe.h"

enum { MSG_PING = TR_MSG_USER, MSG_PONG, MSG_START, MSG_DATA, MSG_MONITOR, MSG_FLUSH };
enum { ROUNDS = 2000, POSTS = 200 };

static latch done;
static _Atomic int wrong;

/* B: answers each ping with its sequence number, to whoever sent it. */
static int ponger_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    uint32_t seq;
    if (msg->type != MSG_PING || msg->size != sizeof(seq)) {
        atomic_fetch_add(&wrong, 1);
        return TR_OK;
    }
    memcpy(&seq, msg->data, sizeof(seq));
    if (tr_send(self, msg->sender, MSG_PONG, &seq, sizeof(seq)) != TR_OK)
        atomic_fetch_add(&wrong, 1);
    return TR_OK;
}
static const tr_behaviour ponger = {.handle = ponger_handle};

/* A: a ping-pong of ROUNDS, each answer checked against the next number. */
typedef struct pinger_state {
    tr_ref peer;
    uint32_t next;
} pinger_state;

static pinger_state st;

static int pinger_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    pinger_state *ps = &st;
    if (msg->type == MSG_PONG) {
        uint32_t seq;
        if (msg->size != sizeof(seq) || (memcpy(&seq, msg->data, sizeof(seq)), seq != ps->next))
            atomic_fetch_add(&wrong, 1);
        if (++ps->next == ROUNDS) {
            latch_add(&done, 1);
            return TR_OK;
        }
    } else if (msg->type != MSG_START) {
        atomic_fetch_add(&wrong, 1);
        return TR_OK;
    }
    if (tr_send(self, ps->peer, MSG_PING, &ps->next, sizeof(ps->next)) != TR_OK)
        atomic_fetch_add(&wrong, 1);
    return TR_OK;
}
static const tr_behaviour pinger = {.handle = pinger_handle};

/* Through the scheduler: the workers that write watch and poll by
 * themselves. Every answer arrives once, in order; the nodes stop right
 * after the last one, while the answering worker likely still watches. */
Test(watch, pingpong_keeps_every_sequence_number, .timeout = 120)
{
    latch_init(&done);
    atomic_store(&wrong, 0);
    node_pair np;
    node_pair_start(&np, "pp0", "pp1", 30000);
    st = (pinger_state){.peer = node_pair_serve(&np, &ponger, "ponger")};
    tr_ref a;
    cr_assert_eq(tr_spawn(np.sys[0], &pinger, NULL, NULL, &a), TR_OK);
    cr_assert_eq(tr_post(np.sys[0], a, MSG_START, NULL, 0, -1), TR_OK);
    cr_assert(latch_wait(&done, 1, 100000), "%u of %d round trips", st.next, ROUNDS);
    cr_assert_eq(atomic_load(&wrong), 0);
    cr_assert_eq(st.next, ROUNDS);
    cr_log_info("reads taken by watching workers: %lu on pp0, %lu on pp1",
                (unsigned long)atomic_load(&np.node[0]->watched_reads),
                (unsigned long)atomic_load(&np.node[1]->watched_reads));
    node_pair_stop(&np);
    latch_fini(&done);
}

/* A's side of the direct tests: a sink that checks sequence numbers, and
 * a monitor of an actor on B that counts its DOWNs. */
static _Atomic uint32_t sunk;
static _Atomic int downs;
static latch got, down_seen, flushed;

static int sink_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self, (void)state;
    uint32_t seq;
    if (msg->type != MSG_DATA || msg->size != sizeof(seq) || (memcpy(&seq, msg->data, sizeof(seq)), seq != sunk))
        atomic_fetch_add(&wrong, 1);
    atomic_fetch_add(&sunk, 1);
    latch_add(&got, 1);
    return TR_OK;
}
static const tr_behaviour sink = {.handle = sink_handle};

static tr_ref target;

static int monitor_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    if (msg->type == MSG_MONITOR) {
        if (tr_monitor(tr_ctx_system(self), tr_self(self), target, NULL) != TR_OK)
            atomic_fetch_add(&wrong, 1);
        latch_add(&flushed, 1);
    } else if (msg->type == TR_MSG_DOWN) {
        atomic_fetch_add(&downs, 1);
        latch_add(&down_seen, 1);
    } else if (msg->type == MSG_FLUSH) {
        latch_add(&flushed, 1);
    }
    return TR_OK;
}
static const tr_behaviour monitor = {.handle = monitor_handle};

typedef struct direct {
    node_pair np;
    tr_ref sink_from_b; /* B's reference to A's sink */
    uint32_t peer_b;    /* B's index on A */
} direct;

static void direct_start(direct *d, const char *name0, const char *name1)
{
    latch_init(&got);
    latch_init(&down_seen);
    latch_init(&flushed);
    atomic_store(&wrong, 0);
    atomic_store(&sunk, 0);
    atomic_store(&downs, 0);
    node_pair_start(&d->np, name0, name1, 30000);
    tr_ref s;
    cr_assert_eq(tr_spawn(d->np.sys[0], &sink, NULL, NULL, &s), TR_OK);
    cr_assert_eq(tr_register(d->np.sys[0], "sink", s), TR_OK);
    char path[64];
    snprintf(path, sizeof(path), "%s/sink", name0);
    cr_assert_eq(tr_lookup(d->np.sys[1], path, 5000, &d->sink_from_b), TR_OK);
    tr_peer *p = tr_node_peer_by_name(d->np.node[0], name1, strlen(name1));
    cr_assert_not_null(p);
    d->peer_b = p->index;
    tr_peer_unpin(p);
}

static void direct_fini(void)
{
    latch_fini(&flushed);
    latch_fini(&down_seen);
    latch_fini(&got);
}

/* Takes the watch of B's connection on A for the test thread. A worker of
 * A's system that just wrote to B may hold it: it lets go when it parks. */
static tr_conn *watch_b(direct *d, const void *token)
{
    tr_conn *c;
    for (int i = 0; (c = tr_conn_watch(d->np.node[0], d->peer_b, token)) == NULL; i++) {
        cr_assert_lt(i, 10000000, "a worker keeps the watch");
        sched_yield();
    }
    return c;
}

static void post_seq(direct *d, uint32_t seq)
{
    cr_assert_eq(tr_post(d->np.sys[1], d->sink_from_b, MSG_DATA, &seq, sizeof(seq), -1), TR_OK);
}

/* The test thread as the watcher: it polls until `want` messages are in.
 * Returns the reads its polls took. A watch the service thread took back
 * (this thread did not poll for a whole tick: a badly overloaded machine)
 * is taken again and counted in `rewatched`. */
static unsigned rewatched;

static unsigned poll_until(direct *d, tr_conn **c, const void *token, long want)
{
    unsigned took = 0;
    while (latch_get(&got) < want) {
        int rc = tr_conn_poll(*c, token);
        if (rc < 0) {
            *c = watch_b(d, token);
            rewatched++;
        }
        took += rc > 0;
        sched_yield();
    }
    return took;
}

/* The watcher reads everything once the callback read it found armed has
 * re-armed as a watched read; a second watcher is refused. Then B stops
 * while the watch is held and nobody polls: the service thread takes the
 * read back, the connection closes, the monitor of B's actor fires once,
 * and the held connection is not freed under the watcher. */
Test(watch, a_held_watch_outlives_its_connection, .timeout = 120)
{
    direct d;
    direct_start(&d, "w0", "w1");
    target = node_pair_serve(&d.np, &ponger, "target");
    tr_ref m;
    cr_assert_eq(tr_spawn(d.np.sys[0], &monitor, NULL, NULL, &m), TR_OK);
    cr_assert_eq(tr_post(d.np.sys[0], m, MSG_MONITOR, NULL, 0, -1), TR_OK);
    cr_assert(latch_wait(&flushed, 1, 60000));

    int token, other;
    tr_conn *c = watch_b(&d, &token);
    cr_assert_null(tr_conn_watch(d.np.node[0], d.peer_b, &other), "one watcher at a time");
    post_seq(&d, 0);
    poll_until(&d, &c, &token, 1);
    for (uint32_t i = 1; i < POSTS; i++)
        post_seq(&d, i);
    rewatched = 0;
    unsigned took = poll_until(&d, &c, &token, POSTS);
    cr_assert_eq(atomic_load(&sunk), POSTS);
    cr_assert_eq(atomic_load(&wrong), 0);
    /* once the callback read found armed re-armed, every read is the
     * watcher's, unless the service thread took the read back meanwhile */
    cr_assert(took > 0 || rewatched > 0, "the watcher's polls took no read");

    /* B goes; A's watcher does not poll: the service thread must notice */
    tr_node_stop(d.np.node[1]);
    cr_assert(latch_wait(&down_seen, 1, 60000), "the monitor fires although the watcher sleeps");
    cr_assert_eq(tr_conn_poll(c, &token), -1, "the watch is over; the connection is let go");
    tr_node_stop(d.np.node[0]);
    cr_assert_eq(tr_post(d.np.sys[0], m, MSG_FLUSH, NULL, 0, -1), TR_OK);
    cr_assert(latch_wait(&flushed, 2, 60000));
    cr_assert_eq(atomic_load(&downs), 1, "exactly one DOWN");
    tr_system_destroy(d.np.sys[0]);
    tr_system_destroy(d.np.sys[1]);
    direct_fini();
}

/* A watch held (its read armed, nobody polling) when the node stops: the
 * stop neither hangs nor leaks the connection (ASan, valgrind). The watch
 * is not touched afterwards: the node is gone. */
Test(watch, stopping_the_node_under_a_held_watch_does_not_hang, .timeout = 120)
{
    direct d;
    direct_start(&d, "s0", "s1");
    int token;
    tr_conn *c = watch_b(&d, &token);
    post_seq(&d, 0);
    poll_until(&d, &c, &token, 1);
    post_seq(&d, 1); /* possibly unread when the node stops: dropped with it */
    node_pair_stop(&d.np);
    cr_assert_eq(atomic_load(&wrong), 0);
    direct_fini();
}

/* A full mailbox while watched: the read stalls (no read armed, TCP pushes
 * back on B), the retry timer re-arms it for the watcher, and every
 * message still arrives once and in order. The sink's mailbox holds 4. */
Test(watch, a_stalled_watched_read_resumes, .timeout = 120)
{
    enum { BURST = 2000 };
    direct d;
    latch_init(&got);
    latch_init(&down_seen);
    latch_init(&flushed);
    atomic_store(&wrong, 0);
    atomic_store(&sunk, 0);
    node_pair_start(&d.np, "b0", "b1", 30000);
    tr_spawn_opts so = {.mailbox_capacity = 4, .overflow = TR_OVERFLOW_BACKPRESSURE};
    tr_ref s;
    cr_assert_eq(tr_spawn(d.np.sys[0], &sink, NULL, &so, &s), TR_OK);
    cr_assert_eq(tr_register(d.np.sys[0], "sink", s), TR_OK);
    cr_assert_eq(tr_lookup(d.np.sys[1], "b0/sink", 5000, &d.sink_from_b), TR_OK);
    tr_peer *p = tr_node_peer_by_name(d.np.node[0], "b1", 2);
    cr_assert_not_null(p);
    d.peer_b = p->index;
    tr_peer_unpin(p);
    int token;
    tr_conn *c = watch_b(&d, &token);
    for (uint32_t i = 0; i < BURST; i++)
        post_seq(&d, i);
    poll_until(&d, &c, &token, BURST);
    cr_assert_eq(atomic_load(&sunk), BURST);
    cr_assert_eq(atomic_load(&wrong), 0);
    tr_conn_unwatch(c, &token);
    node_pair_stop(&d.np);
    direct_fini();
}
