/* One node of the chaos run (tests/chaos/chaos.sh), written against the
 * public API only (troupe/troupe.h: node.h, registry.h, monitor.h).
 *
 *   troupe_chaos_node NAME LISTEN_URL LOG PEER=URL...
 *
 * Registers "rx", which logs every numbered message it handles and answers
 * the asks among them. The main thread sends numbered messages to a random
 * peer's "rx" every 2 ms, every fourth one as an ask, and logs each send
 * with its result; a watcher gets the DOWNs of the monitors the main thread
 * holds on every peer's "rx" and logs each.
 *
 * A monitor fires once: after its DOWN (the peer went down) it is gone,
 * even if the link heals a moment later and sends to the same reference
 * work again (as in Erlang). So every send goes out under a live monitor:
 * once the watcher has seen the DOWN of a peer's monitor, the main thread
 * looks the peer up and monitors it again before its next send there. The
 * watcher marks the DOWN before logging it, and the main thread reads the
 * clock before it checks the mark, so a send made under a monitor whose
 * DOWN it had not seen yet has that DOWN logged at or after its start.
 * Log lines (one write each, appended; a restarted node adds a new session):
 *   B <ms> <session>                    process start
 *   W <ms> <peer> <monitor>             a monitor of that peer's rx
 *   S <ms> <to> <seq> <kind> <rc> <start ms> <monitor>
 *                                       sent (kind 0 = tr_post, 1 = tr_ask_wait)
 *                                       under that monitor, the call started at <start ms>
 *   H <ms> <from> <session> <seq> <kind> handled by rx
 *   D <ms> <peer> <reason> <monitor>    DOWN of that monitor of the peer's rx
 *   M <ms> <what> <rss_kb>              memory: "base" after warm-up, "end" before stopping
 *   E <ms>                              stopped cleanly (SIGTERM)
 * Sequence numbers count from 1 per session; ms is CLOCK_REALTIME. */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "troupe/troupe.h"

enum { MSG_NUM = TR_MSG_USER + 7 };
enum { MAX_PEERS = 8, WARMUP_MS = 8000 };

typedef struct num {
    char from[32];
    uint64_t session;
    uint64_t seq;
    uint32_t kind;
} num;

typedef struct peer {
    char name[32];
    char url[128];
    tr_ref rx;
    bool have;        /* rx looked up and monitored */
    uint64_t monitor; /* the monitor of rx held now */
} peer;

static FILE *logf_;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile sig_atomic_t stopping;
static tr_node *g_node;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_line(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&log_lock);
    fprintf(logf_, "%c %llu ", fmt[0], (unsigned long long)now_ms());
    vfprintf(logf_, fmt + 2, ap);
    fputc('\n', logf_);
    fflush(logf_); /* a kill -9 loses no line already written */
    pthread_mutex_unlock(&log_lock);
    va_end(ap);
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static int rx_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    if (msg->type != MSG_NUM || msg->size != sizeof(num))
        return TR_OK;
    num n;
    memcpy(&n, msg->data, sizeof(n));
    n.from[sizeof(n.from) - 1] = '\0';
    log_line("H %s %llu %llu %u", n.from, (unsigned long long)n.session, (unsigned long long)n.seq, n.kind);
    if (msg->corr != 0)
        tr_reply(self, msg, &n.seq, sizeof(n.seq));
    return TR_OK;
}
static const tr_behaviour rx_beh = {.handle = rx_handle};

/* Which peer each monitor watches (a DOWN names the monitor id). */
static struct {
    uint64_t id;
    char name[32];
    int peer;
} monitors[4096];
static int nmonitors;
static pthread_mutex_t monitors_lock = PTHREAD_MUTEX_INITIALIZER;
/* Per peer, the last monitor whose DOWN the watcher has seen. */
static _Atomic uint64_t downed[MAX_PEERS];

static int watcher_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state, (void)self;
    if (msg->type != TR_MSG_DOWN || msg->size != sizeof(tr_down))
        return TR_OK;
    const tr_down *d = msg->data;
    char name[32] = "?";
    pthread_mutex_lock(&monitors_lock);
    for (int i = 0; i < nmonitors; i++) {
        if (monitors[i].id == d->monitor) {
            memcpy(name, monitors[i].name, sizeof(name));
            atomic_store(&downed[monitors[i].peer], d->monitor); /* before the line: see the top */
        }
    }
    pthread_mutex_unlock(&monitors_lock);
    log_line("D %s %d %llu", name, d->reason, (unsigned long long)d->monitor);
    return TR_OK;
}
static const tr_behaviour watcher_beh = {.handle = watcher_handle};

static void on_term(int sig)
{
    (void)sig;
    stopping = 1;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: troupe_chaos_node NAME LISTEN_URL LOG PEER=URL...\n");
        return 2;
    }
    const char *name = argv[1];
    logf_ = fopen(argv[3], "a");
    if (logf_ == NULL)
        return 2;
    peer peers[MAX_PEERS];
    int npeers = 0;
    for (int i = 4; i < argc && npeers < MAX_PEERS; i++) {
        const char *eq = strchr(argv[i], '=');
        if (eq == NULL)
            return 2;
        memset(&peers[npeers], 0, sizeof(peers[npeers]));
        snprintf(peers[npeers].name, sizeof(peers[npeers].name), "%.*s", (int)(eq - argv[i]), argv[i]);
        snprintf(peers[npeers].url, sizeof(peers[npeers].url), "%s", eq + 1);
        npeers++;
    }
    struct sigaction sa = {.sa_handler = on_term};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    srandom((unsigned)(now_ms() ^ (uint64_t)getpid() << 16));
    uint64_t session = ((uint64_t)random() << 32) ^ (uint64_t)random() ^ now_ms();
    log_line("B %llu", (unsigned long long)session);

    tr_system *sys = NULL;
    tr_config cfg = {.workers = 2};
    if (tr_system_create(&cfg, &sys) != TR_OK)
        return 3;
    tr_node_opts o = {.name = name, .cookie = "chaos", .heartbeat_ms = 100, .down_after_ms = 1000};
    if (tr_node_start(sys, &o, &g_node) != TR_OK || tr_node_listen(g_node, argv[2], NULL, 0) != TR_OK)
        return 3;
    tr_ref rx, watcher;
    if (tr_spawn(sys, &rx_beh, NULL, NULL, &rx) != TR_OK || tr_register(sys, "rx", rx) != TR_OK ||
        tr_spawn(sys, &watcher_beh, NULL, NULL, &watcher) != TR_OK)
        return 3;

    uint64_t start = now_ms(), seq = 0;
    bool based = false;
    while (!stopping) {
        if (!based && now_ms() - start > WARMUP_MS) {
            log_line("M base %ld", rss_kb());
            based = true;
        }
        int pi = (int)(random() % npeers);
        peer *p = &peers[pi];
        uint64_t start_ms = now_ms(); /* before the check below: see the top */
        if (p->have && atomic_load(&downed[pi]) == p->monitor)
            p->have = false; /* its monitor fired: monitor it again before sending */
        if (!p->have) {
            if (!tr_node_peer_up(g_node, p->name))
                tr_node_connect(g_node, p->url, 300, NULL, 0);
            char path[64];
            snprintf(path, sizeof(path), "%s/rx", p->name);
            uint64_t id;
            /* the monitor's id is recorded before its DOWN can be handled */
            if (tr_lookup(sys, path, 300, &p->rx) != TR_OK)
                continue;
            pthread_mutex_lock(&monitors_lock);
            if (nmonitors < 4096 && tr_monitor(sys, watcher, p->rx, &id) == TR_OK) {
                monitors[nmonitors].id = id;
                monitors[nmonitors].peer = pi;
                snprintf(monitors[nmonitors].name, sizeof(monitors[nmonitors].name), "%s", p->name);
                nmonitors++;
                p->have = true;
                p->monitor = id;
                log_line("W %s %llu", p->name, (unsigned long long)id);
            }
            pthread_mutex_unlock(&monitors_lock);
            continue;
        }
        num n = {.session = session, .seq = ++seq, .kind = seq % 4 == 0};
        snprintf(n.from, sizeof(n.from), "%s", name);
        int rc;
        if (n.kind == 0) {
            rc = tr_post(sys, p->rx, MSG_NUM, &n, sizeof(n), 0);
        } else {
            void *reply = NULL;
            size_t size = 0;
            rc = tr_ask_wait(sys, p->rx, MSG_NUM, &n, sizeof(n), 500, &reply, &size);
            if (rc == TR_OK && (size != sizeof(uint64_t) || memcmp(reply, &n.seq, sizeof(n.seq)) != 0))
                rc = -1; /* a wrong answer: the accounting fails it */
            free(reply);
        }
        log_line("S %s %llu %u %d %llu %llu", p->name, (unsigned long long)n.seq, n.kind, rc,
                 (unsigned long long)start_ms, (unsigned long long)p->monitor);
        if (rc == TR_ENOTCONN || rc == TR_EDEAD)
            p->have = false; /* look it up again (a restart is a new incarnation) */
        struct timespec ts = {.tv_nsec = 2 * 1000 * 1000};
        nanosleep(&ts, NULL); /* pacing of the load, not a synchronisation */
    }
    log_line("M end %ld", rss_kb());
    tr_node_stop(g_node);
    g_node = NULL;
    tr_system_destroy(sys);
    log_line("E -");
    fclose(logf_);
    return 0;
}
