/* bench_net: remote message throughput and round-trip latency between two
 * Troupe nodes over tcp loopback, in the same run as the floors it is
 * measured against: raw NNG sockets (one NNG message per payload:
 * push/pull for throughput, pair1 for round trips), a bare nng_stream
 * ping-pong (NNG's own floor for a byte stream), raw TCP sockets (blocking,
 * TCP_NODELAY: the machine's limit) and, when erlang-nox is installed,
 * Erlang distribution between two nodes on loopback. Then 1,000 hostile
 * connections against a node while a legitimate peer keeps asking. Prints,
 * never asserts; every figure checks a count that a lost or duplicated
 * message would change.
 *
 *   bench_net [count [size...]]   messages per throughput case (default
 *                                 2,000,000; count/8 for sizes > 1 KB);
 *                                 sizes default to 64 4096
 *   BENCH_NET_PARTS=t|l|r|s|e|h   only throughput / latency / raw NNG /
 *                                 nng_stream and TCP / Erlang / hostile parts
 *
 * Both nodes run in this process (two systems, one worker each, so the
 * 2-core machine is not oversubscribed); the bytes still cross the kernel's
 * TCP loopback. Troupe's sender is an actor that keeps sending and is
 * muted by the peer queue's backpressure; the receiver counts. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <troupe/troupe.h>

enum { MSG_GO = TR_MSG_USER, MSG_DATA, MSG_PING, MSG_PONG };

/* CPU time (all threads, user + system, s) and context switches of this
 * process so far: per message, they show the work and the thread hand-offs
 * a figure took, which a loaded machine disturbs much less than the wall
 * time. */
typedef struct usage {
    double cpu_s;
    double switches;
} usage;

static usage usage_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (usage){(double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                       (double)ru.ru_stime.tv_usec / 1e6,
                   (double)(ru.ru_nvcsw + ru.ru_nivcsw)};
}

static usage usage_since(usage u0, double per)
{
    usage u1 = usage_now();
    return (usage){(u1.cpu_s - u0.cpu_s) / per, (u1.switches - u0.switches) / per};
}

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

static double troupe_throughput(uint64_t n, size_t size, tr_node_stats *st, usage *per_msg)
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
    usage u0 = usage_now();
    tr_post(t.sys[0], s, MSG_GO, &f, sizeof(f), -1);
    if (!wait_done(n))
        stalled(t.sys, t.node, n);
    double dt = now_s() - t0;
    *per_msg = usage_since(u0, (double)n);
    tr_node_stats_get(t.node[0], st);
    two_nodes_stop(&t);
    return (double)n / dt;
}

static double troupe_rtt_us(uint64_t rounds, size_t size, usage *per_rtt)
{
    two_nodes t;
    if (two_nodes_start(&t) != 0)
        exit(1);
    atomic_store(&received, 0);
    tr_ref p;
    tr_spawn(t.sys[0], &pinger_beh, NULL, NULL, &p);
    pinger init = {.peer = t.sink_remote, .left = rounds, .size = size};
    double t0 = now_s();
    usage u0 = usage_now();
    tr_post(t.sys[0], p, MSG_GO, &init, sizeof(init), -1);
    if (!wait_done(1))
        stalled(t.sys, t.node, 1);
    double dt = now_s() - t0;
    *per_rtt = usage_since(u0, (double)rounds);
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

/* ---- bare nng_stream ping-pong: NNG's floor for a byte stream ---- */

typedef struct stream_echo {
    nng_stream_listener *l;
    size_t size;
    uint64_t rounds;
} stream_echo;

/* Blocking helpers over an aio: all `len` bytes, or false. */
static bool stream_io(nng_stream *s, nng_aio *aio, void *buf, size_t len, bool send)
{
    size_t off = 0;
    while (off < len) {
        nng_iov iov = {.iov_buf = (char *)buf + off, .iov_len = len - off};
        nng_aio_set_iov(aio, 1, &iov);
        send ? nng_stream_send(s, aio) : nng_stream_recv(s, aio);
        nng_aio_wait(aio);
        if (nng_aio_result(aio) != 0 || nng_aio_count(aio) == 0)
            return false;
        off += nng_aio_count(aio);
    }
    return true;
}

static void *stream_echo_main(void *arg)
{
    stream_echo *e = arg;
    nng_aio *aio;
    nng_aio_alloc(&aio, NULL, NULL);
    nng_stream_listener_accept(e->l, aio);
    nng_aio_wait(aio);
    nng_stream *s = nng_aio_result(aio) == 0 ? nng_aio_get_output(aio, 0) : NULL;
    static char buf[1 << 16];
    for (uint64_t i = 0; s != NULL && i < e->rounds; i++)
        if (!stream_io(s, aio, buf, e->size, false) || !stream_io(s, aio, buf, e->size, true))
            break;
    if (s != NULL)
        nng_stream_free(s);
    nng_aio_free(aio);
    return NULL;
}

static double stream_rtt_us(uint64_t rounds, size_t size)
{
    stream_echo e = {.size = size, .rounds = rounds};
    nng_stream_listener_alloc(&e.l, "tcp://127.0.0.1:0");
    nng_stream_listener_listen(e.l);
    int port = 0;
    nng_stream_listener_get_int(e.l, NNG_OPT_TCP_BOUND_PORT, &port);
    char url[64];
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
    pthread_t th;
    pthread_create(&th, NULL, stream_echo_main, &e);
    nng_stream_dialer *d;
    nng_aio *aio;
    nng_aio_alloc(&aio, NULL, NULL);
    nng_stream_dialer_alloc(&d, url);
    nng_stream_dialer_dial(d, aio);
    nng_aio_wait(aio);
    nng_stream *s = nng_aio_get_output(aio, 0);
    nng_stream_set_bool(s, NNG_OPT_TCP_NODELAY, true);
    static char buf[1 << 16];
    uint64_t done = 0;
    double t0 = now_s();
    for (; done < rounds; done++)
        if (!stream_io(s, aio, payload, size, true) || !stream_io(s, aio, buf, size, false))
            break;
    double dt = now_s() - t0;
    nng_stream_free(s);
    pthread_join(th, NULL);
    nng_aio_free(aio);
    nng_stream_dialer_free(d);
    nng_stream_listener_free(e.l);
    return done == rounds ? dt / (double)rounds * 1e6 : -1;
}

/* ---- raw TCP: blocking sockets, TCP_NODELAY ---- */

static void tcp_pair(int *client, int *server)
{
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    bind(l, (struct sockaddr *)&a, sizeof(a));
    listen(l, 1);
    getsockname(l, (struct sockaddr *)&a, &alen);
    *client = socket(AF_INET, SOCK_STREAM, 0);
    connect(*client, (struct sockaddr *)&a, sizeof(a));
    *server = accept(l, NULL, NULL);
    close(l);
    setsockopt(*client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(*server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static bool fd_io(int fd, void *buf, size_t len, bool send)
{
    for (size_t off = 0; off < len;) {
        ssize_t n = send ? write(fd, (char *)buf + off, len - off) : read(fd, (char *)buf + off, len - off);
        if (n <= 0)
            return false;
        off += (size_t)n;
    }
    return true;
}

typedef struct tcp_job {
    int fd;
    size_t size;
    uint64_t n, got;
} tcp_job;

static void *tcp_echo_main(void *arg)
{
    tcp_job *j = arg;
    static char buf[1 << 16];
    for (uint64_t i = 0; i < j->n; i++)
        if (!fd_io(j->fd, buf, j->size, false) || !fd_io(j->fd, buf, j->size, true))
            break;
    return NULL;
}

static double tcp_rtt_us(uint64_t rounds, size_t size)
{
    int c, s;
    tcp_pair(&c, &s);
    tcp_job j = {.fd = s, .size = size, .n = rounds};
    pthread_t th;
    pthread_create(&th, NULL, tcp_echo_main, &j);
    static char buf[1 << 16];
    uint64_t done = 0;
    double t0 = now_s();
    for (; done < rounds; done++)
        if (!fd_io(c, payload, size, true) || !fd_io(c, buf, size, false))
            break;
    double dt = now_s() - t0;
    pthread_join(th, NULL);
    close(c);
    close(s);
    return done == rounds ? dt / (double)rounds * 1e6 : -1;
}

/* The reader parses records (4-byte sequence number + payload) and checks
 * every sequence number: a lost or duplicated record stops the count. */
static void *tcp_sink_main(void *arg)
{
    tcp_job *j = arg;
    size_t rec = 4 + j->size;
    static char buf[1 << 20];
    size_t have = 0;
    while (j->got < j->n) {
        ssize_t r = read(j->fd, buf + have, sizeof(buf) - have);
        if (r <= 0)
            break;
        have += (size_t)r;
        size_t off = 0;
        for (; have - off >= rec; off += rec) {
            uint32_t seq;
            memcpy(&seq, buf + off, 4);
            if (seq != (uint32_t)j->got)
                return NULL;
            j->got++;
        }
        memmove(buf, buf + off, have - off);
        have -= off;
    }
    return NULL;
}

static double tcp_throughput(uint64_t n, size_t size)
{
    int c, s;
    tcp_pair(&c, &s);
    tcp_job j = {.fd = s, .size = size, .n = n};
    pthread_t th;
    pthread_create(&th, NULL, tcp_sink_main, &j);
    size_t rec = 4 + size, per = size <= 64 ? 512 : 16; /* records per write */
    char *batch = malloc(rec * per);
    double t0 = now_s();
    for (uint64_t i = 0; i < n;) {
        size_t k = 0;
        for (; k < per && i < n; k++, i++) {
            uint32_t seq = (uint32_t)i;
            memcpy(batch + k * rec, &seq, 4);
            memcpy(batch + k * rec + 4, payload, size);
        }
        if (!fd_io(c, batch, k * rec, true))
            break;
    }
    pthread_join(th, NULL);
    double dt = now_s() - t0;
    free(batch);
    close(c);
    close(s);
    if (j.got < n)
        printf("  (raw tcp: only %llu of %llu records arrived in order)\n", (unsigned long long)j.got,
               (unsigned long long)n);
    return (double)j.got / dt;
}

/* ---- Erlang distribution: two nodes on loopback (erlang-nox) ----
 *
 * Node b runs an echo process and a counting sink; node a measures a
 * ping-pong of binaries and a one-way flood that the sink acknowledges
 * once it has counted every message (a lost or duplicated one changes the
 * count). Written as an Erlang expert would: plain `!` to a registered
 * name on the other node, binaries (off-heap above 64 B, as Troupe's). */
static const char *erl_src =
    "-module(tbn).\n"
    "-export([serve/0, run/3]).\n"
    "serve() -> register(echo, spawn(fun echo/0)), register(sink, spawn(fun() -> sink(0) end)),\n"
    "    receive stop -> ok end.\n"
    "echo() -> receive {From, B} -> From ! {pong, B}, echo() end.\n"
    "sink(N) -> receive {count, From, Want} when N >= Want -> From ! {counted, N}, sink(0);\n"
    "    {data, _} -> sink(N + 1) end.\n"
    "run(B, Rounds, Flood) -> [Size] = [list_to_integer(S) || S <- [os:getenv(\"TBN_SIZE\")]],\n"
    "    Bin = binary:copy(<<\"x\">>, Size), pong = net_adm:ping(B),\n"
    "    {Us, _} = timer:tc(fun() -> pp({echo, B}, Bin, Rounds) end),\n"
    "    {Us2, N} = timer:tc(fun() -> [{sink, B} ! {data, Bin} || _ <- lists:seq(1, Flood)],\n"
    "        {sink, B} ! {count, self(), Flood}, receive {counted, C} -> C end end),\n"
    "    io:format(\"ERL ~p ~.1f ~.1f ~p~n\", [Size, Us / Rounds, Flood / (Us2 / 1.0e6), N]),\n"
    "    rpc:call(B, erlang, halt, []), halt().\n"
    "pp(_, _, 0) -> ok;\n"
    "pp(E, Bin, K) -> E ! {self(), Bin}, receive {pong, _} -> pp(E, Bin, K - 1) end.\n";

static void erlang_figures(size_t size, uint64_t rounds, uint64_t flood)
{
    if (system("command -v erl >/dev/null 2>&1 && command -v erlc >/dev/null 2>&1") != 0) {
        printf("erlang %5zu B: erl not installed (apt-get install erlang-nox; bench/run.sh does)\n", size);
        return;
    }
    char dir[] = "/tmp/bench_net_erl_XXXXXX";
    if (mkdtemp(dir) == NULL)
        return;
    char path[128], cmd[1024];
    snprintf(path, sizeof(path), "%s/tbn.erl", dir);
    FILE *f = fopen(path, "w");
    fputs(erl_src, f);
    fclose(f);
    int pid = (int)getpid();
    snprintf(cmd, sizeof(cmd),
             "cd %s && erlc tbn.erl && (erl -sname tbnb%d -setcookie tbn -noshell -s tbn serve &) && "
             "sleep 1 && TBN_SIZE=%zu erl -sname tbna%d -setcookie tbn -noshell "
             "-eval \"tbn:run(list_to_atom(\\\"tbnb%d@\\\" ++ lists:nth(2, string:split(atom_to_list(node()), \\\"@\\\"))), %llu, %llu)\" 2>&1",
             dir, pid, size, pid, pid, (unsigned long long)rounds, (unsigned long long)flood);
    FILE *p = popen(cmd, "r");
    char line[256];
    bool shown = false;
    while (p != NULL && fgets(line, sizeof(line), p) != NULL) {
        size_t sz;
        double rtt, rate;
        unsigned long long counted;
        if (sscanf(line, "ERL %zu %lf %lf %llu", &sz, &rtt, &rate, &counted) == 4) {
            printf("erlang %5zu B: round trip %8.1f us   one way %10.0f msg/s (%6.1f MB/s)%s\n", sz, rtt,
                   rate, rate * (double)sz / 1e6, counted == flood ? "" : "  COUNT MISMATCH");
            shown = true;
        }
    }
    if (p != NULL)
        pclose(p);
    if (!shown)
        printf("erlang %5zu B: no figures (erl failed)\n", size);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        return;
}

/* ---- 1,000 hostile connections ---- */

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmRSS: %ld", &kb) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return kb;
}

static int echo_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    tr_reply(self, msg, msg->data, msg->size);
    return TR_OK;
}
static const tr_behaviour echo_beh = {.handle = echo_handle};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The flood comes from a child process (this program again, with
 * BENCH_NET_FLOOD="port count" in its environment): an attacker is another
 * process, so its own work (its connects, the client side of TCP) is
 * neither on this process's CPU clock nor on the NNG threads that node b
 * shares with node a here; it still competes for the same two cores. On
 * each 'o' read from its stdin the child opens `count` TCP connections to
 * 127.0.0.1:port at once (a third send a HELLO-sized frame of garbage: a
 * wrong handshake; a third half a frame; a third nothing) and answers
 * "opened N", N established within 2 s; on 'c' it closes them and answers
 * "closed"; at the end of its stdin it closes them and exits. */
static int flood_child(const char *spec)
{
    int port = 0, n = 0;
    if (sscanf(spec, "%d %d", &port, &n) != 2 || n <= 0)
        return 1;
    struct pollfd *fds = calloc((size_t)n, sizeof(*fds));
    int made = 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    static const uint8_t junk[4 + 200] = {0, 0, 0, 200, 0x96, 0x01};
    char cmd;
    while (read(0, &cmd, 1) == 1) {
        if (cmd == 'o') {
            /* all at once, without blocking: a node that does not accept
             * (its listen backlog full) does not hold the others up */
            for (made = 0; made < n; made++) {
                int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
                if (fd < 0)
                    break;
                if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 && errno != EINPROGRESS) {
                    close(fd);
                    break;
                }
                fds[made] = (struct pollfd){.fd = fd, .events = POLLOUT};
            }
            /* established ones send their part; 2 s for the SYN retries of
             * the ones the kernel dropped while the node's backlog was full */
            int opened = 0, pending = made;
            for (double t0 = now_s(); pending > 0 && now_s() - t0 < 2.0;) {
                if (poll(fds, (nfds_t)made, 50) <= 0)
                    continue;
                for (int i = 0; i < made; i++) {
                    if (fds[i].fd < 0 || fds[i].revents == 0)
                        continue;
                    int fd = fds[i].fd;
                    fds[i].fd = -1 - fd; /* done: poll skips it */
                    pending--;
                    int err = 0;
                    socklen_t el = sizeof(err);
                    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
                    size_t len = i % 3 == 0 ? sizeof(junk) : i % 3 == 1 ? 6 : 0;
                    if (err == 0 && (len == 0 || write(fd, junk, len) == (ssize_t)len))
                        opened++;
                }
            }
            printf("opened %d\n", opened);
        } else if (cmd == 'c') {
            for (; made > 0; made--)
                close(fds[made - 1].fd < 0 ? -1 - fds[made - 1].fd : fds[made - 1].fd);
            printf("closed\n");
        }
        fflush(stdout);
    }
    for (; made > 0; made--)
        close(fds[made - 1].fd < 0 ? -1 - fds[made - 1].fd : fds[made - 1].fd);
    free(fds);
    return 0;
}

typedef struct flooder {
    pid_t pid;
    int to_child, from_child; /* its stdin, its stdout */
    int opened;
    _Atomic bool busy; /* a command is being carried out */
    pthread_t waiter;
} flooder;

static bool flood_spawn(flooder *f, const char *url, int n)
{
    const char *colon = strrchr(url, ':');
    char spec[64];
    snprintf(spec, sizeof(spec), "%d %d", colon != NULL ? atoi(colon + 1) : 0, n);
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0)
        return false;
    f->pid = fork();
    if (f->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        setenv("BENCH_NET_FLOOD", spec, 1);
        execl("/proc/self/exe", "bench_net", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    f->to_child = in[1];
    f->from_child = out[0];
    return f->pid > 0;
}

/* Reads the child's answer to the command in flight, then clears busy. */
static void *flood_answer(void *arg)
{
    flooder *f = arg;
    char line[64];
    ssize_t k = read(f->from_child, line, sizeof(line) - 1);
    line[k > 0 ? k : 0] = '\0';
    int opened;
    if (sscanf(line, "opened %d", &opened) == 1)
        f->opened = opened;
    atomic_store(&f->busy, false);
    return NULL;
}

/* Sends command cmd ('o' open, 'c' close); f->busy until it is done. */
static void flood_command(flooder *f, char cmd)
{
    atomic_store(&f->busy, true);
    if (write(f->to_child, &cmd, 1) != 1 || pthread_create(&f->waiter, NULL, flood_answer, f) != 0) {
        atomic_store(&f->busy, false);
        return;
    }
}

static void flood_wait(flooder *f) { pthread_join(f->waiter, NULL); }

/* Ends the child; its CPU time (user + system, s). */
static double flood_end(flooder *f)
{
    close(f->to_child);
    close(f->from_child);
    int status;
    struct rusage ru;
    if (wait4(f->pid, &status, 0, &ru) != f->pid)
        return -1;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

/* Ask round trips of one condition, pooled over the cycles. */
typedef struct ask_pool {
    double *v;
    size_t n, cap;
    bool failed;
    usage cpu; /* this process's, summed */
} ask_pool;

/* Room for `cap` round trips, written now: the RSS figure then holds
 * none of the bench's own arrays. */
static void pool_init(ask_pool *p, size_t cap)
{
    *p = (ask_pool){.v = malloc(sizeof(double) * cap), .cap = cap};
    if (p->v == NULL)
        p->cap = 0;
    else
        memset(p->v, 0, sizeof(double) * cap);
}

/* Past its room a round trip is not kept (the median is of the first). */
static void pool_add(ask_pool *p, double us)
{
    if (p->n < p->cap)
        p->v[p->n++] = us;
}

/* Asks node 1's echo from node 0 `asks` times, or while *busy. */
static void ask_into(ask_pool *p, two_nodes *t, tr_ref echo, int asks, const _Atomic bool *busy)
{
    usage u0 = usage_now();
    for (int i = 0; busy != NULL ? atomic_load(busy) : i < asks; i++) {
        void *reply = NULL;
        double t0 = now_s();
        int rc = tr_ask_wait(t->sys[0], echo, MSG_PING, payload, 64, 5000, &reply, NULL);
        double us = (now_s() - t0) * 1e6;
        free(reply);
        if (rc != TR_OK)
            p->failed = true;
        else
            pool_add(p, us);
    }
    usage u = usage_since(u0, 1);
    p->cpu.cpu_s += u.cpu_s;
}

static void pool_print(const char *what, ask_pool *p)
{
    qsort(p->v, p->n, sizeof(double), cmp_double);
    double med = p->n ? p->v[p->n / 2] : -1, p90 = p->n ? p->v[p->n * 9 / 10] : -1;
    printf("hostile:   %-44s ask median %7.1f us  p90 %7.1f us  (%5zu asks%s; this process's cpu %.0f us an ask)\n",
           what, med, p90, p->n, p->failed ? ", SOME FAILED" : "", p->n ? p->cpu.cpu_s * 1e6 / (double)p->n : 0);
}

static double pool_median(const ask_pool *p) { return p->n ? p->v[p->n / 2] : -1; }

static void hostile(void)
{
    const char *nenv = getenv("BENCH_NET_HOSTILE"), *cenv = getenv("BENCH_NET_HOSTILE_CYCLES");
    int hostile_n = nenv != NULL ? atoi(nenv) : 1000, cycles = cenv != NULL ? atoi(cenv) : 4;
    enum { ASKS = 300 };
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096) {
        rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    two_nodes t;
    if (two_nodes_start(&t) != 0)
        exit(1);
    char url[128];
    tr_node_listen(t.node[1], "tcp://127.0.0.1:0", url, sizeof(url));
    tr_ref e, re;
    tr_spawn(t.sys[1], &echo_beh, NULL, NULL, &e);
    tr_register(t.sys[1], "echo", e);
    tr_lookup(t.sys[0], "bench-b/echo", 5000, &re);
    flooder f = {0};
    if (!flood_spawn(&f, url, hostile_n))
        exit(1);
    printf("hostile: %d connections (wrong handshake / partial frame / silent) from another process against node b, "
           "opened and closed %d times; node a asks node b's echo (64 B) %d times before each flood, while it is "
           "opened, and while it is held\n", hostile_n, cycles, ASKS);
    ask_pool warm, quiet, opening, held, settled;
    pool_init(&warm, ASKS);
    pool_init(&quiet, (size_t)ASKS * (size_t)cycles);
    pool_init(&opening, 1u << 17);
    pool_init(&held, (size_t)ASKS * (size_t)cycles);
    pool_init(&settled, ASKS);
    ask_into(&warm, &t, re, ASKS, NULL);
    usage i0 = usage_now(); /* what the nodes use in 6 s without a flood or asks */
    nanosleep(&(struct timespec){6, 0}, NULL);
    double idle_cpu = usage_since(i0, 1).cpu_s;
    long rss0 = rss_kb(), rss1 = rss0;
    double open_s = 0;
    for (int c = 0; c < cycles; c++) {
        ask_into(&quiet, &t, re, ASKS, NULL);
        double t0 = now_s();
        flood_command(&f, 'o');
        ask_into(&opening, &t, re, 0, &f.busy);
        flood_wait(&f);
        open_s += now_s() - t0;
        ask_into(&held, &t, re, ASKS, NULL);
        long rss = rss_kb();
        rss1 = rss > rss1 ? rss : rss1;
        flood_command(&f, 'c');
        flood_wait(&f);
        struct timespec ts = {0, 200 * 1000 * 1000}; /* the node sees the closes */
        nanosleep(&ts, NULL);
    }
    /* once more, held past the first handshake deadline (5 s) */
    tr_node_stats st;
    flood_command(&f, 'o');
    flood_wait(&f);
    struct timespec hold = {5, 500 * 1000 * 1000};
    nanosleep(&hold, NULL);
    ask_into(&settled, &t, re, ASKS, NULL);
    flood_command(&f, 'c');
    flood_wait(&f);
    pool_print("before each flood", &quiet);
    pool_print("while it is opened", &opening);
    pool_print("while it is held", &held);
    pool_print("held 5.5 s (past the handshake deadline)", &settled);
    /* The node's own cost of a flood: this process's CPU time over 6 s with
     * nobody asking (the workers do not spin: no remote sends), with a
     * flood opened at its start, less 6 s without one (measured first) */
    usage u0 = usage_now();
    flood_command(&f, 'o');
    flood_wait(&f);
    int opened = f.opened;
    nanosleep(&(struct timespec){6, 0}, NULL);
    double node_cpu = usage_since(u0, 1).cpu_s - idle_cpu;
    double flood_cpu = flood_end(&f);
    printf("hostile:   nobody asking: node cpu %.0f us a connection (%.3f s over 6 s, less %.3f s idle); the "
           "flooder's cpu %.0f us a connection over all its floods; %.2f s to open one; %d of %d opened the last "
           "time\n",
           node_cpu * 1e6 / hostile_n, node_cpu, idle_cpu, flood_cpu * 1e6 / ((cycles + 2) * hostile_n),
           open_s / (cycles > 0 ? cycles : 1), opened, hostile_n);
    tr_node_stats_get(t.node[1], &st);
    printf("hostile: %d of %d connections against node b: ask median %.1f us before, %.1f us while opened, %.1f us "
           "held, %.1f us held past the deadline; node-downs %llu; peers up %u; handshake failures %llu; RSS %+ld KB "
           "(both nodes, this process)\n",
           opened, hostile_n, pool_median(&quiet), pool_median(&opening), pool_median(&held),
           pool_median(&settled), (unsigned long long)st.node_downs, st.peers_up,
           (unsigned long long)st.handshake_failures, rss1 - rss0);
    free(warm.v);
    free(quiet.v);
    free(opening.v);
    free(held.v);
    free(settled.v);
    two_nodes_stop(&t);
}

/* BENCH_NET_PARTS selects parts (for profiling): t throughput, l latency,
 * r the raw NNG figures next to them, s bare nng_stream and raw TCP, e
 * Erlang, h hostile connections; default all. */
static int want(char part)
{
    const char *parts = getenv("BENCH_NET_PARTS");
    return parts == NULL || strchr(parts, part) != NULL;
}

int main(int argc, char **argv)
{
    if (getenv("BENCH_NET_FLOOD") != NULL)
        return flood_child(getenv("BENCH_NET_FLOOD"));
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
            usage u;
            double troupe = troupe_throughput(count, size, &st, &u);
            double raw = want('r') ? raw_nng_throughput(count, size) : 0;
            printf("throughput %5zu B: troupe %10.0f msg/s (%6.1f MB/s, %.0f msgs/frame; cpu %.0f ns and %.3f "
                   "context switches a message)  raw nng push/pull %10.0f msg/s  ratio %.2fx\n",
                   size, troupe, troupe * (double)size / 1e6,
                   st.frames_out ? (double)st.envelopes_out / (double)st.frames_out : 0.0, u.cpu_s * 1e9,
                   u.switches, raw, raw > 0 ? troupe / raw : 0.0);
        }
        if (want('l')) {
            uint64_t rounds = 20000;
            usage u;
            double rtt = troupe_rtt_us(rounds, size, &u), raw_rtt = want('r') ? raw_nng_rtt_us(rounds, size) : 0;
            printf("round trip %5zu B: troupe %8.1f us (cpu %.1f us and %.1f context switches a round trip)   "
                   "raw nng pair1 %8.1f us\n",
                   size, rtt, u.cpu_s * 1e6, u.switches, raw_rtt);
        }
        if (want('s')) {
            usage u0 = usage_now();
            double srtt = stream_rtt_us(20000, size);
            usage us = usage_since(u0, 20000);
            double trtt = tcp_rtt_us(20000, size);
            double tput = tcp_throughput(count, size);
            printf("floors     %5zu B: bare nng_stream round trip %8.1f us (cpu %.1f us and %.1f context "
                   "switches a round trip)   raw tcp round trip %8.1f us   raw tcp one way %10.0f msg/s (%6.1f MB/s)\n",
                   size, srtt, us.cpu_s * 1e6, us.switches, trtt, tput, tput * (double)size / 1e6);
        }
        if (want('e'))
            erlang_figures(size, 20000, count / 4);
    }
    if (want('h'))
        hostile();
    return 0;
}
