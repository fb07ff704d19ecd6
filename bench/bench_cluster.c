/* Cluster targets (issue 14), printed, never asserted:
 *
 *   bench_cluster [servers] [clients] [batch]      (defaults 8 10000 200)
 *
 * 1. `servers` server nodes, each its own process on tcp loopback, each
 *    naming only the first: time from the last process start until every
 *    node's view has every other node up (full mesh, from the node events
 *    each process reports); kill -9 of the last one: time until every
 *    other node has its NODE_DOWN; its restart (same command): time until
 *    every node has it up again (and it has every node).
 * 2. `clients` short-lived hidden client nodes (a child process runs them,
 *    `batch` at a time, each its own system and node) connect to the first
 *    server and leave. Before and after: the server's dials per second
 *    (tr_node_stats.dials over a 2 s window), its RSS and its CPU while
 *    idle (utime + stime over the same window), and its member count.
 *
 * Times come from CLOCK_MONOTONIC, shared by every process on the machine:
 * each server writes "EV <server> <ms> U|D <name>" lines on a pipe the
 * parent reads. The load (uptime) is printed beside the figures: the
 * machine may be shared. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "troupe/troupe.h"

#define MAX_SERVERS 32
#define BASE_PORT 27400

static long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int out_fd = -1; /* a child's end of the report pipe */

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0 || n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    if (write(out_fd, line, (size_t)n) != n) /* < PIPE_BUF: atomic */
        _exit(3);
}

/* ---- a server process ---- */

static int server_index;

static int events_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self;
    (void)state;
    if ((msg->type == TR_MSG_NODE_UP || msg->type == TR_MSG_NODE_DOWN) && msg->size == sizeof(tr_node_event)) {
        const tr_node_event *e = msg->data;
        if (!e->hidden)
            report("EV %d %ld %c %s", server_index, mono_ms(), msg->type == TR_MSG_NODE_UP ? 'U' : 'D', e->name);
    }
    return TR_OK;
}

static const tr_behaviour events_b = {.handle = events_handle};

static void url_of(int i, char *out, size_t len) { snprintf(out, len, "tcp://127.0.0.1:%d", BASE_PORT + i); }

/* Runs server i until its stdin ends; "stats" lines are answered with
 * "ST <i> <dials> <members> <peers_up>". */
static int server_main(int i)
{
    server_index = i;
    tr_system *sys = NULL;
    tr_config cfg = {.workers = 1};
    tr_node *node = NULL;
    char name[16], url[64];
    snprintf(name, sizeof(name), "s%d", i);
    url_of(i, url, sizeof(url));
    tr_node_opts o = {.name = name, .cookie = "bench", .heartbeat_ms = 100, .down_after_ms = 1000};
    tr_ref ev;
    if (tr_system_create(&cfg, &sys) != TR_OK || tr_node_start(sys, &o, &node) != TR_OK ||
        tr_spawn(sys, &events_b, NULL, NULL, &ev) != TR_OK || tr_node_subscribe(node, ev, 0) != TR_OK ||
        tr_node_listen(node, url, NULL, 0) != TR_OK) {
        report("ERR %d cannot start", i);
        return 2;
    }
    report("LS %d", i);
    if (i > 0) {
        char seed[64];
        url_of(0, seed, sizeof(seed));
        int rc = tr_node_connect(node, seed, 30000, NULL, 0);
        if (rc != TR_OK)
            report("ERR %d connect: %s", i, tr_strerror(rc));
    }
    char line[64];
    while (fgets(line, sizeof(line), stdin) != NULL) {
        if (strncmp(line, "stats", 5) == 0) {
            tr_node_stats st;
            tr_node_stats_get(node, &st);
            report("ST %d %llu %u %u", i, (unsigned long long)st.dials, st.members, st.peers_up);
        }
    }
    tr_node_stop(node);
    tr_system_destroy(sys);
    return 0;
}

/* ---- the client process: `clients` hidden nodes, `batch` at a time ---- */

static int clients_main(int clients, int batch)
{
    char seed[64];
    url_of(0, seed, sizeof(seed));
    tr_system **sys = calloc((size_t)batch, sizeof(*sys));
    tr_node **node = calloc((size_t)batch, sizeof(*node));
    int failed = 0, done = 0;
    long t0 = mono_ms();
    while (done < clients) {
        int n = clients - done < batch ? clients - done : batch;
        for (int k = 0; k < n; k++) {
            char name[32];
            snprintf(name, sizeof(name), "c%d", done + k);
            tr_config cfg = {.workers = 1};
            tr_node_opts o = {.name = name, .cookie = "bench", .hidden = true, .heartbeat_ms = 100,
                              .down_after_ms = 1000};
            sys[k] = NULL;
            node[k] = NULL;
            if (tr_system_create(&cfg, &sys[k]) != TR_OK || tr_node_start(sys[k], &o, &node[k]) != TR_OK ||
                tr_node_connect(node[k], seed, 30000, NULL, 0) != TR_OK)
                failed++;
        }
        for (int k = 0; k < n; k++) {
            if (node[k] != NULL) {
                tr_node_leave(node[k], 5000);
                tr_node_stop(node[k]);
            }
            if (sys[k] != NULL)
                tr_system_destroy(sys[k]);
        }
        done += n;
    }
    report("CL %d %d %ld", done, failed, mono_ms() - t0);
    free(sys);
    free(node);
    return 0;
}

/* ---- the parent ---- */

typedef struct proc {
    pid_t pid;
    int in; /* its stdin */
} proc;

static int report_rd = -1, report_wr = -1;
/* The parent's ends of the children's stdin pipes: a child closes the
 * ones it inherited, or a server would never see its stdin end. */
static int parent_fds[2 * MAX_SERVERS + 2];
static int nparent_fds;

static proc spawn(int (*fn)(int, int), int a, int b)
{
    int in[2];
    if (pipe(in) != 0)
        exit(2);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(in[0], 0);
        close(in[0]);
        close(in[1]);
        close(report_rd);
        for (int i = 0; i < nparent_fds; i++)
            if (parent_fds[i] >= 0)
                close(parent_fds[i]);
        out_fd = report_wr;
        _exit(fn(a, b));
    }
    close(in[0]);
    for (int i = 0; i < nparent_fds; i++)
        if (parent_fds[i] >= 0 && fcntl(parent_fds[i], F_GETFD) < 0)
            parent_fds[i] = -1; /* closed since: the number may be reused */
    if (nparent_fds < (int)(sizeof(parent_fds) / sizeof(parent_fds[0])))
        parent_fds[nparent_fds++] = in[1];
    return (proc){pid, in[1]};
}

static int server_entry(int i, int unused)
{
    (void)unused;
    return server_main(i);
}

static int clients_entry(int clients, int batch) { return clients_main(clients, batch); }

/* Reads one report line (timeout: false). */
static bool read_line(char *line, size_t len, int timeout_ms)
{
    static char buf[1 << 16];
    static size_t have;
    long deadline = mono_ms() + timeout_ms;
    for (;;) {
        char *nl = memchr(buf, '\n', have);
        if (nl != NULL) {
            size_t n = (size_t)(nl - buf);
            snprintf(line, len, "%.*s", (int)n, buf);
            memmove(buf, nl + 1, have - n - 1);
            have -= n + 1;
            return true;
        }
        long left = deadline - mono_ms();
        if (left <= 0)
            return false;
        struct pollfd pfd = {.fd = report_rd, .events = POLLIN};
        if (poll(&pfd, 1, (int)left) <= 0)
            continue;
        ssize_t got = read(report_rd, buf + have, sizeof(buf) - have);
        if (got <= 0)
            return false;
        have += (size_t)got;
    }
}

static int nservers;
static bool up_view[MAX_SERVERS][MAX_SERVERS]; /* [observer][subject] */
static long last_change[MAX_SERVERS][MAX_SERVERS];

/* Applies one EV line; other lines are printed. */
static void absorb(const char *line)
{
    int obs = 0, subj = 0;
    long ms = 0;
    char kind = 0;
    if (sscanf(line, "EV %d %ld %c s%d", &obs, &ms, &kind, &subj) == 4 && obs < nservers && subj < nservers) {
        up_view[obs][subj] = kind == 'U';
        last_change[obs][subj] = ms;
    } else if (strncmp(line, "ERR", 3) == 0) {
        printf("  (%s)\n", line);
    }
}

/* Waits until cond() holds over up_view; returns the latest event time
 * that made it hold, or -1 after timeout_ms. */
static long wait_view(bool (*cond)(int), int arg, int timeout_ms)
{
    long deadline = mono_ms() + timeout_ms;
    char line[256];
    while (!cond(arg)) {
        long left = deadline - mono_ms();
        if (left <= 0 || !read_line(line, sizeof(line), (int)left))
            return -1;
        absorb(line);
    }
    long latest = 0;
    for (int i = 0; i < nservers; i++)
        for (int j = 0; j < nservers; j++)
            if (i != j && last_change[i][j] > latest)
                latest = last_change[i][j];
    return latest;
}

static bool full_mesh(int unused)
{
    (void)unused;
    for (int i = 0; i < nservers; i++)
        for (int j = 0; j < nservers; j++)
            if (i != j && !up_view[i][j])
                return false;
    return true;
}

static bool all_see_down(int victim)
{
    for (int i = 0; i < nservers; i++)
        if (i != victim && up_view[i][victim])
            return false;
    return true;
}

static long latest_about(int victim)
{
    long latest = 0;
    for (int i = 0; i < nservers; i++)
        if (i != victim && last_change[i][victim] > latest)
            latest = last_change[i][victim];
    return latest;
}

static void load(const char *when)
{
    double l[3] = {0};
    FILE *f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        if (fscanf(f, "%lf %lf %lf", &l[0], &l[1], &l[2]) != 3)
            l[0] = -1;
        fclose(f);
    }
    printf("load %s: %.2f %.2f %.2f (2 cores shared with other jobs: figures are noisy)\n", when, l[0], l[1], l[2]);
}

/* RSS (KiB: all, and its anonymous part: the heap, what the process
 * holds, apart from the pages of code and libraries it has run) and CPU
 * time (clock ticks) of pid. */
static void usage_of(pid_t pid, long *rss_kb, long *anon_kb, long *cpu_ticks)
{
    char path[64], buf[1024];
    *rss_kb = *anon_kb = *cpu_ticks = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        while (fgets(buf, sizeof(buf), f) != NULL)
            if (sscanf(buf, "VmRSS: %ld", rss_kb) != 1)
                sscanf(buf, "RssAnon: %ld", anon_kb);
        fclose(f);
    }
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f != NULL && fgets(buf, sizeof(buf), f) != NULL) {
        char *p = strrchr(buf, ')');
        unsigned long ut = 0, st = 0;
        /* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
        if (p != NULL && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
            *cpu_ticks = (long)(ut + st);
    }
    if (f != NULL)
        fclose(f);
}

/* The server's dials counter (asks it over stdin). */
static long server_dials(proc *s, long *members)
{
    if (write(s->in, "stats\n", 6) != 6)
        return -1;
    char line[256];
    for (;;) {
        if (!read_line(line, sizeof(line), 10000))
            return -1;
        unsigned long long dials = 0;
        unsigned m = 0, up = 0;
        int who = -1;
        if (sscanf(line, "ST %d %llu %u %u", &who, &dials, &m, &up) == 4 && who == 0) {
            *members = m;
            return (long)dials;
        }
        absorb(line);
    }
}

/* Dials/s, RSS and idle CPU of server 0 over a 2 s window. */
static void idle_figures(proc *s, const char *when)
{
    long members = 0, rss0, anon0, cpu0, rss1, anon1, cpu1;
    long d0 = server_dials(s, &members);
    usage_of(s->pid, &rss0, &anon0, &cpu0);
    long t0 = mono_ms();
    usleep(2000 * 1000);
    long d1 = server_dials(s, &members);
    usage_of(s->pid, &rss1, &anon1, &cpu1);
    double secs = (double)(mono_ms() - t0) / 1000.0;
    double cpu_pct = 100.0 * (double)(cpu1 - cpu0) / (double)sysconf(_SC_CLK_TCK) / secs;
    printf("server s0 %s: %.1f dials/s, RSS %ld KiB (anonymous %ld KiB), idle CPU %.1f%%, %ld members\n", when,
           (double)(d1 - d0) / secs, rss1, anon1, cpu_pct, members);
}

int main(int argc, char **argv)
{
    nservers = argc > 1 ? atoi(argv[1]) : 8;
    int clients = argc > 2 ? atoi(argv[2]) : 10000;
    int batch = argc > 3 ? atoi(argv[3]) : 200;
    if (nservers < 2 || nservers > MAX_SERVERS || clients < 0 || batch < 1) {
        fprintf(stderr, "usage: %s [servers 2..%d] [clients] [batch]\n", argv[0], MAX_SERVERS);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    int fds[2];
    if (pipe(fds) != 0)
        return 2;
    report_rd = fds[0];
    report_wr = fds[1];
    load("at start");

    proc srv[MAX_SERVERS];
    srv[0] = spawn(server_entry, 0, 0); /* the seed listens before the others start */
    char line0[256];
    while (read_line(line0, sizeof(line0), 30000) && strncmp(line0, "LS 0", 4) != 0)
        absorb(line0);
    for (int i = 1; i < nservers; i++)
        srv[i] = spawn(server_entry, i, 0);
    long last_start = mono_ms();
    long t = wait_view(full_mesh, 0, 60000);
    if (t < 0)
        printf("full mesh of %d servers: NOT reached in 60 s\n", nservers);
    else
        printf("full mesh of %d servers: %ld ms after the last start (target 1000)\n", nservers, t - last_start);

    int victim = nservers - 1;
    long t_kill = mono_ms();
    kill(srv[victim].pid, SIGKILL);
    waitpid(srv[victim].pid, NULL, 0);
    close(srv[victim].in);
    t = wait_view(all_see_down, victim, 30000);
    if (t < 0)
        printf("kill -9 of s%d: NOT seen down by every node in 30 s\n", victim);
    else
        printf("kill -9 of s%d: every other node's view says down %ld ms after (target 500)\n", victim,
               latest_about(victim) - t_kill);

    long t_restart = mono_ms();
    srv[victim] = spawn(server_entry, victim, 0);
    t = wait_view(full_mesh, 0, 30000);
    if (t < 0)
        printf("restart of s%d: NOT up again everywhere in 30 s\n", victim);
    else
        printf("restart of s%d: every view says up %ld ms after the start (target 1000)\n", victim, t - t_restart);

    if (clients > 0) {
        idle_figures(&srv[0], "before clients");
        proc cl = spawn(clients_entry, clients, batch);
        char line[256];
        for (;;) {
            if (!read_line(line, sizeof(line), 3600 * 1000)) {
                printf("clients: no report\n");
                break;
            }
            int done = 0, failed = 0;
            long ms = 0;
            if (sscanf(line, "CL %d %d %ld", &done, &failed, &ms) == 3) {
                printf("%d hidden clients connected and left, %d at a time: %ld ms (%d failed)\n", done, batch, ms,
                       failed);
                break;
            }
            absorb(line);
        }
        close(cl.in);
        waitpid(cl.pid, NULL, 0);
        idle_figures(&srv[0], "right after");
        usleep(6000 * 1000); /* left members are forgotten within 5 s */
        idle_figures(&srv[0], "6 s later");
    }
    for (int i = 0; i < nservers; i++) {
        close(srv[i].in);
        waitpid(srv[i].pid, NULL, 0);
    }
    load("at end");
    return 0;
}
