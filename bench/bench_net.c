/* bench_net: remote message throughput and round-trip latency between two
 * Troupe nodes over tcp loopback, next to raw NNG (one NNG message per
 * payload: push/pull for throughput, pair1 for round trips) for the same
 * sizes, in the same run. Prints, never asserts.
 *
 *   bench_net [count [size...]]   messages per throughput case (default
 *                                 2,000,000; count/8 for sizes > 1 KB);
 *                                 sizes default to 64 4096
 *   BENCH_NET_PARTS=t|l|r...      only throughput / latency / raw NNG parts
 *
 * Both nodes run in this process (two systems, one worker each, so the
 * 2-core machine is not oversubscribed); the bytes still cross the kernel's
 * TCP loopback. Troupe's sender is an actor that keeps sending and is
 * muted by the peer queue's backpressure; the receiver counts. */
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <troupe/troupe.h>

enum { MSG_GO = TR_MSG_USER, MSG_DATA, MSG_PING, MSG_PONG };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- Troupe: sender actor, sink actor ---- */

typedef struct flood {
    tr_ref to;
    uint64_t left;
    size_t size;
} flood;

static char payload[1 << 16];
static _Atomic uint64_t received;
static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;
static uint64_t target;

static int sender_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    flood *f = state;
    if (msg->type == MSG_GO && msg->size == sizeof(flood))
        memcpy(f, msg->data, sizeof(*f));
    for (int i = 0; i < 256 && f->left > 0; i++, f->left--)
        if (tr_send(self, f->to, MSG_DATA, payload, f->size) != TR_OK)
            break;
    if (f->left > 0)
        tr_send(self, tr_self(self), MSG_GO + 100, NULL, 0); /* continue next turn */
    return TR_OK;
}
static const tr_behaviour sender = {.handle = sender_handle, .state_size = sizeof(flood)};

static int sink_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    if (msg->type == MSG_PING) {
        tr_send(self, msg->sender, MSG_PONG, msg->data, msg->size);
        return TR_OK;
    }
    if (atomic_fetch_add(&received, 1) + 1 == target) {
        pthread_mutex_lock(&done_lock);
        pthread_cond_signal(&done_cv);
        pthread_mutex_unlock(&done_lock);
    }
    return TR_OK;
}
static const tr_behaviour sink = {.handle = sink_handle};

/* Ping-pong across the nodes: the pinger sends, waits for the pong, again. */
typedef struct pinger {
    tr_ref peer;
    uint64_t left;
    size_t size;
} pinger;

static int pinger_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    pinger *p = state;
    if (msg->type == MSG_GO)
        memcpy(p, msg->data, sizeof(*p));
    if (p->left == 0) {
        pthread_mutex_lock(&done_lock);
        atomic_store(&received, 1);
        pthread_cond_signal(&done_cv);
        pthread_mutex_unlock(&done_lock);
        return TR_OK;
    }
    p->left--;
    tr_send(self, p->peer, MSG_PING, payload, p->size);
    return TR_OK;
}
static const tr_behaviour pinger_beh = {.handle = pinger_handle, .state_size = sizeof(pinger)};

/* Waits until `received` reaches want; false after 60 s without progress. */
static bool wait_done(uint64_t want)
{
    pthread_mutex_lock(&done_lock);
    uint64_t seen = atomic_load(&received);
    while (seen < want) {
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += 60;
        if (pthread_cond_timedwait(&done_cv, &done_lock, &dl) != 0 && atomic_load(&received) == seen)
            break;
        seen = atomic_load(&received);
    }
    pthread_mutex_unlock(&done_lock);
    return seen >= want;
}

/* Prints what both nodes saw when a run stalled, then exits. */
static void stalled(tr_system *sys[2], tr_node *node[2], uint64_t want)
{
    printf("bench_net: STALLED at %llu of %llu messages\n", (unsigned long long)atomic_load(&received),
           (unsigned long long)want);
    for (int i = 0; i < 2; i++) {
        tr_node_stats st;
        tr_metrics m;
        tr_node_stats_get(node[i], &st);
        tr_metrics_get(sys[i], &m);
        printf("  node %d: frames out %llu in %llu, envelopes out %llu in %llu, bad %llu, downs %llu, "
               "queue full %llu, dead letters %llu\n",
               i, (unsigned long long)st.frames_out, (unsigned long long)st.frames_in,
               (unsigned long long)st.envelopes_out, (unsigned long long)st.envelopes_in,
               (unsigned long long)st.bad_frames, (unsigned long long)st.node_downs,
               (unsigned long long)st.queue_full, (unsigned long long)m.dead_letters);
    }
    exit(2);
}

typedef struct two_nodes {
    tr_system *sys[2];
    tr_node *node[2];
    tr_ref sink_remote; /* node 1's sink, as seen from node 0 */
} two_nodes;

static int two_nodes_start(two_nodes *t)
{
    char url[128];
    for (int i = 0; i < 2; i++) {
        tr_config cfg = {.workers = 1};
        if (tr_system_create(&cfg, &t->sys[i]) != TR_OK)
            return 1;
        tr_node_opts o = {.name = i == 0 ? "bench-a" : "bench-b", .cookie = "bench"};
        if (tr_node_start(t->sys[i], &o, &t->node[i]) != TR_OK ||
            tr_node_listen(t->node[i], "tcp://127.0.0.1:0", url, sizeof(url)) != TR_OK)
            return 1;
    }
    if (tr_node_connect(t->node[0], url, 5000, NULL, 0) != TR_OK)
        return 1;
    tr_ref s;
    tr_spawn_opts so = {.mailbox_capacity = 1u << 16};
    if (tr_spawn(t->sys[1], &sink, NULL, &so, &s) != TR_OK || tr_register(t->sys[1], "sink", s) != TR_OK)
        return 1;
    return tr_lookup(t->sys[0], "bench-b/sink", 5000, &t->sink_remote) != TR_OK;
}

static void two_nodes_stop(two_nodes *t)
{
    for (int i = 0; i < 2; i++) {
        tr_node_stop(t->node[i]);
        tr_system_destroy(t->sys[i]);
    }
}

static double troupe_throughput(uint64_t n, size_t size, tr_node_stats *st)
{
    two_nodes t;
    if (two_nodes_start(&t) != 0) {
        fprintf(stderr, "bench_net: node setup failed\n");
        exit(1);
    }
    atomic_store(&received, 0);
    target = n;
    tr_ref s;
    tr_spawn(t.sys[0], &sender, NULL, NULL, &s);
    flood f = {.to = t.sink_remote, .left = n, .size = size};
    double t0 = now_s();
    tr_post(t.sys[0], s, MSG_GO, &f, sizeof(f), -1);
    if (!wait_done(n))
        stalled(t.sys, t.node, n);
    double dt = now_s() - t0;
    tr_node_stats_get(t.node[0], st);
    two_nodes_stop(&t);
    return (double)n / dt;
}

static double troupe_rtt_us(uint64_t rounds, size_t size)
{
    two_nodes t;
    if (two_nodes_start(&t) != 0)
        exit(1);
    atomic_store(&received, 0);
    tr_ref p;
    tr_spawn(t.sys[0], &pinger_beh, NULL, NULL, &p);
    pinger init = {.peer = t.sink_remote, .left = rounds, .size = size};
    double t0 = now_s();
    tr_post(t.sys[0], p, MSG_GO, &init, sizeof(init), -1);
    if (!wait_done(1))
        stalled(t.sys, t.node, 1);
    double dt = now_s() - t0;
    two_nodes_stop(&t);
    return dt / (double)rounds * 1e6;
}

/* ---- raw NNG over tcp: one NNG message per payload ----
 *
 * Throughput uses push0/pull0 with blocking sends: push only hands a message
 * to a pipe that is ready (TCP flow control reaches the sender), so nothing
 * is dropped and the figure is what arrived. Both sockets get 1024-message
 * buffers so the sender does not wait for each write to complete. */

typedef struct raw_rx {
    nng_socket s;
    uint64_t n, got;
    double last;
} raw_rx;

static void *raw_receiver(void *arg)
{
    raw_rx *r = arg;
    nng_socket_set_ms(r->s, NNG_OPT_RECVTIMEO, 10000);
    for (r->got = 0; r->got < r->n; r->got++) {
        nng_msg *m;
        if (nng_recvmsg(r->s, &m, 0) != 0)
            break; /* reported below: the rate of what arrived */
        nng_msg_free(m);
        r->last = now_s();
    }
    return NULL;
}

/* Connects a (dialling) to b (listening on tcp loopback). */
static void raw_connect(nng_socket a, nng_socket b)
{
    nng_listener l;
    nng_listener_create(&l, b, "tcp://127.0.0.1:0");
    nng_listener_start(l, 0);
    int port = 0;
    nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port);
    char url[64];
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
    nng_dial(a, url, NULL, 0);
}

/* Two pair1 sockets connected over tcp loopback: a dials, b listens. */
static void raw_pair_open(nng_socket *a, nng_socket *b)
{
    nng_pair1_open(a);
    nng_pair1_open(b);
    raw_connect(*a, *b);
}

static double raw_nng_throughput(uint64_t n, size_t size)
{
    nng_socket a, b;
    nng_push0_open(&a);
    nng_pull0_open(&b);
    nng_socket_set_int(a, NNG_OPT_SENDBUF, 1024);
    nng_socket_set_int(b, NNG_OPT_RECVBUF, 1024);
    raw_connect(a, b);
    nng_socket_set_ms(a, NNG_OPT_SENDTIMEO, 10000);
    raw_rx r = {.s = b, .n = n};
    pthread_t th;
    double t0 = now_s();
    pthread_create(&th, NULL, raw_receiver, &r);
    for (uint64_t i = 0; i < n; i++) {
        nng_msg *m;
        nng_msg_alloc(&m, size);
        memcpy(nng_msg_body(m), payload, size);
        if (nng_sendmsg(a, m, 0) != 0) {
            nng_msg_free(m);
            break;
        }
    }
    pthread_join(th, NULL);
    double dt = r.last - t0;
    nng_close(a);
    nng_close(b);
    if (r.got < n)
        printf("  (raw nng: only %llu of %llu messages arrived)\n", (unsigned long long)r.got,
               (unsigned long long)n);
    return (double)r.got / dt;
}

static double raw_nng_rtt_us(uint64_t rounds, size_t size)
{
    nng_socket a, b;
    raw_pair_open(&a, &b);
    double t0 = now_s();
    for (uint64_t i = 0; i < rounds; i++) {
        nng_msg *m;
        nng_msg_alloc(&m, size);
        nng_sendmsg(a, m, 0);
        nng_recvmsg(b, &m, 0);
        nng_sendmsg(b, m, 0);
        nng_recvmsg(a, &m, 0);
        nng_msg_free(m);
    }
    double dt = now_s() - t0;
    nng_close(a);
    nng_close(b);
    return dt / (double)rounds * 1e6;
}

/* BENCH_NET_PARTS selects parts (for profiling): t throughput, l latency,
 * r the raw NNG figures next to them; default "tlr". */
static int want(char part)
{
    const char *parts = getenv("BENCH_NET_PARTS");
    return parts == NULL || strchr(parts, part) != NULL;
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 2000000;
    size_t sizes[8] = {64, 4096};
    int nsizes = 2;
    if (argc > 2) {
        nsizes = 0;
        for (int i = 2; i < argc && nsizes < 8; i++)
            sizes[nsizes++] = strtoull(argv[i], NULL, 10) % sizeof(payload);
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("bench_net: %llu messages per throughput case, tcp loopback, 1 worker per node\n",
           (unsigned long long)n);
    for (int k = 0; k < nsizes; k++) {
        size_t size = sizes[k];
        uint64_t count = size > 1024 ? n / 8 : n;
        tr_node_stats st;
        if (want('t')) {
            double troupe = troupe_throughput(count, size, &st);
            double raw = want('r') ? raw_nng_throughput(count, size) : 0;
            printf("throughput %5zu B: troupe %10.0f msg/s (%6.1f MB/s, %.0f msgs/frame)  raw nng push/pull %10.0f msg/s  ratio %.2fx\n",
                   size, troupe, troupe * (double)size / 1e6,
                   st.frames_out ? (double)st.envelopes_out / (double)st.frames_out : 0.0, raw,
                   raw > 0 ? troupe / raw : 0.0);
        }
        if (want('l')) {
            uint64_t rounds = 20000;
            double rtt = troupe_rtt_us(rounds, size), raw_rtt = want('r') ? raw_nng_rtt_us(rounds, size) : 0;
            printf("round trip %5zu B: troupe %8.1f us   raw nng pair1 %8.1f us\n", size, rtt, raw_rtt);
        }
    }
    return 0;
}
