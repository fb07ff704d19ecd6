/* A Troupe node in its own process, driven by the cross-process net tests
 * (tests/net/test_procs.c, test_netns.c) over Troupe itself.
 *
 *   troupe_node_proc NAME URL [cookie=S] [down=MS] [hb=MS] [cert=F] [key=F] [ca=F]
 *                    [hidden=1] [forget=MS] [events=1] [life=S]
 *
 * Listens on URL (port 0 allowed), registers the actors below, then prints
 * "READY <bound url>" on stdout. Stops gracefully when stdin reaches EOF
 * (its test ended or died), printing "BYE" and exiting 0. Startup failures
 * print "ERROR <code> <message>" and exit 2. An alarm bounds its life
 * (life=S seconds, default 120). events=1 prints every node event as
 * "NODEUP <name> <incarnation>" / "NODEDOWN <name> <incarnation> <reason>".
 *
 * Commands, one per stdin line (each answers one line; the tests that run
 * no node of their own, like test_netns.c, drive it with these):
 *   connect URL   tr_node_connect             -> "CONNECTED <rc>"
 *   ask PATH      tr_lookup + an echo ask     -> "ASKED <rc>"
 *   ping PATH     "pinger" sends MSG_PING     -> "PONG" when it comes back
 *   watch PATH    "watch" monitors PATH       -> "WATCHING", later "DOWN <reason>"
 *   stats         node counters               -> "STATS <node_downs> <peers_up>"
 *   members       tr_node_members             -> "MEMBERS name:S ..." (S: C U D L)
 *   await S N,N.. until every named member is in state S (U, D or L; L =
 *                 left) and "nodeev" saw the matching event last (or X:
 *                 no longer listed)       -> "AWAITED 0", or after 30 s
 *                                            "AWAITED 5 <what each is>"
 *   events NAME   what "nodeev" saw of NAME -> "EVENTS <ups> <downs> <last reason>"
 *   leave         tr_node_leave               -> "LEFT <rc>"
 *   pg..., seed, peers, up: process groups and seeds (node_proc_pg.h)
 *
 * Actors (registered names):
 *   echo   MSG_ECHO (ask): replies with the same bytes;
 *          MSG_PING: sends MSG_PONG with the same bytes back to the sender.
 *   victim MSG_CRASH: fails with TR_EUSER + 7.
 *   watch  MSG_WATCH: monitors the message's sender (MSG_GO: the ref in
 *          the payload), prints "WATCHING" and later "DOWN <reason>" for
 *          every DOWN it gets.
 *   nodeev (unregistered) subscribed to node events (hidden ones too):
 *          counts them per node (ev_subject); MSG_EVQ (ask, payload a
 *          name): replies with that node's ev_subject.
 *   pinger (unregistered) MSG_GO(ref): sends MSG_PING there; prints "PONG"
 *          for every MSG_PONG.
 *   sink   MSG_FLOOD: counts per source (payload: flood_msg), checks that
 *          sequence numbers of one source only grow; MSG_COUNT (ask):
 *          replies with a sink_report. Mailbox of 64: a backpressure flood
 *          stalls this node's receive loop and so the TCP stream. */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "tests/net/proto.h"
#include "troupe/troupe.h"

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&out_lock);
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
    pthread_mutex_unlock(&out_lock);
    va_end(ap);
}

#include "tests/net/node_proc_pg.h" /* pg* and seed commands */

static int victim_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self;
    (void)state;
    return msg->type == MSG_CRASH ? TR_EUSER + 7 : TR_OK;
}

static int watch_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    if (msg->type == MSG_WATCH || (msg->type == MSG_GO && msg->size == sizeof(tr_ref))) {
        tr_ref target = msg->sender;
        if (msg->type == MSG_GO)
            memcpy(&target, msg->data, sizeof(target));
        int rc = tr_monitor(tr_ctx_system(self), tr_self(self), target, NULL);
        say(rc == TR_OK ? "WATCHING" : "ERROR %d monitor", rc);
    } else if (msg->type == TR_MSG_DOWN && msg->size == sizeof(tr_down)) {
        const tr_down *d = msg->data;
        say("DOWN %d", d->reason);
    }
    return TR_OK;
}

static int sink_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    sink_report *r = state;
    if (msg->type == MSG_FLOOD && msg->size == sizeof(flood_msg)) {
        const flood_msg *f = msg->data;
        uint32_t src = f->source < SINK_SOURCES ? f->source : 0;
        if (r->count[src] > 0 && f->seq <= r->last_seq[src])
            r->disorder++;
        r->count[src]++;
        r->last_seq[src] = f->seq;
    } else if (msg->type == MSG_COUNT) {
        tr_metrics m;
        tr_metrics_get(tr_ctx_system(self), &m);
        r->dead_letters = m.dead_letters;
        tr_reply(self, msg, r, sizeof(*r));
    }
    return TR_OK;
}

static int pinger_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    if (msg->type == MSG_GO && msg->size == sizeof(tr_ref)) {
        tr_ref to;
        memcpy(&to, msg->data, sizeof(to));
        int rc = tr_send(self, to, MSG_PING, "ping", 4);
        if (rc != TR_OK)
            say("ERROR %d ping", rc);
    } else if (msg->type == MSG_PONG) {
        say("PONG");
    }
    return TR_OK;
}

/* nodeev's state: the nodes it has heard of. */
#define EV_SUBJECTS 32
typedef struct ev_log {
    ev_subject s[EV_SUBJECTS];
    uint32_t n;
    bool print;
} ev_log;

static ev_subject *ev_find(ev_log *log, const char *name, bool make)
{
    for (uint32_t i = 0; i < log->n; i++)
        if (strcmp(log->s[i].name, name) == 0)
            return &log->s[i];
    if (!make || log->n == EV_SUBJECTS)
        return NULL;
    ev_subject *s = &log->s[log->n++];
    snprintf(s->name, sizeof(s->name), "%s", name);
    return s;
}

static int nodeev_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    ev_log *log = state;
    if ((msg->type == TR_MSG_NODE_UP || msg->type == TR_MSG_NODE_DOWN) && msg->size == sizeof(tr_node_event)) {
        const tr_node_event *e = msg->data;
        bool up = msg->type == TR_MSG_NODE_UP;
        ev_subject *s = ev_find(log, e->name, true);
        if (s != NULL) {
            if (s->last == (up ? 'U' : 'D'))
                say("ERROR %d two %s events in a row for %s", TR_EPROTO, up ? "UP" : "DOWN", e->name);
            s->ups += up;
            s->downs += !up;
            s->last = up ? 'U' : 'D';
            s->last_reason = e->reason;
            s->last_inc = e->incarnation;
        }
        if (log->print && up)
            say("NODEUP %s %016llx", e->name, (unsigned long long)e->incarnation);
        else if (log->print)
            say("NODEDOWN %s %016llx %d", e->name, (unsigned long long)e->incarnation, e->reason);
    } else if (msg->type == MSG_EVQ) {
        char name[64];
        snprintf(name, sizeof(name), "%.*s", (int)(msg->size < 63 ? msg->size : 63), (const char *)msg->data);
        ev_subject none = {0};
        ev_subject *s = ev_find(log, name, false);
        tr_reply(self, msg, s != NULL ? s : &none, sizeof(none));
    }
    return TR_OK;
}

static int nodeev_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    ((ev_log *)state)->print = *(const bool *)arg;
    return TR_OK;
}

static const tr_behaviour nodeev_b = {.init = nodeev_init, .handle = nodeev_handle, .state_size = sizeof(ev_log)};
static const tr_behaviour pinger_b = {.handle = pinger_handle};
static const tr_behaviour echo_b = {.handle = proto_echo_handle};
static const tr_behaviour victim_b = {.handle = victim_handle};
static const tr_behaviour watch_b = {.handle = watch_handle};
static const tr_behaviour sink_b = {.handle = sink_handle, .state_size = sizeof(sink_report)};

static int spawn_named(tr_system *sys, const tr_behaviour *b, const char *name, uint32_t capacity)
{
    tr_spawn_opts o = {.name = name, .mailbox_capacity = capacity};
    tr_ref r;
    int rc = tr_spawn(sys, b, NULL, &o, &r);
    return rc != TR_OK ? rc : tr_register(sys, name, r);
}

static const char state_letter[] = {'C', 'U', 'D', 'L'};

/* nodeev's record of `name` (zeroed when it has none). */
static ev_subject ev_query(tr_system *sys, tr_ref nodeev, const char *name)
{
    ev_subject s = {0};
    void *reply = NULL;
    size_t size = 0;
    if (tr_ask_wait(sys, nodeev, MSG_EVQ, name, strlen(name), 30000, &reply, &size) == TR_OK &&
        size == sizeof(s))
        memcpy(&s, reply, sizeof(s));
    free(reply);
    return s;
}

/* The member called `name`: its state letter, or 'X' when not listed. */
static char member_state(const tr_member *list, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].name, name) == 0)
            return state_letter[list[i].state & 3];
    return 'X';
}

/* "await S a,b,c": see the top of the file. */
static void await_members(tr_system *sys, tr_node *node, tr_ref nodeev, char *arg)
{
    char want = arg[0];
    const char *names = strchr(arg, ' ');
    names = names != NULL ? names + 1 : "";
    char detail[400] = "";
    for (int round = 0; round < 3000; round++) { /* 30 s */
        tr_member *list = NULL;
        size_t n = 0;
        tr_node_members(node, &list, &n);
        char copy[400];
        snprintf(copy, sizeof(copy), "%s", names);
        bool all = true;
        size_t used = 0;
        detail[0] = '\0';
        for (char *save = NULL, *name = strtok_r(copy, ",", &save); name != NULL;
             name = strtok_r(NULL, ",", &save)) {
            char st = member_state(list, n, name);
            ev_subject ev = ev_query(sys, nodeev, name);
            bool ok = want == 'X' ? st == 'X'
                      : want == 'U' ? st == 'U' && ev.last == 'U'
                      : want == 'L' ? st == 'L' && ev.last == 'D' && ev.last_reason == TR_ESHUTDOWN
                                    : (st == 'D' || st == 'L') && ev.last == 'D';
            all = all && ok;
            int w = snprintf(detail + used, sizeof(detail) - used, "%s:%c/%c%u/%u ", name, st,
                             ev.last ? ev.last : '-', ev.ups, ev.downs);
            if (w > 0 && (size_t)w < sizeof(detail) - used)
                used += (size_t)w;
        }
        tr_node_members_free(list);
        if (all) {
            say("AWAITED 0");
            return;
        }
        usleep(10000);
    }
    say("AWAITED %d %s", TR_ETIMEDOUT, detail);
}

/* Runs one stdin command (see the top of the file). */
static void command(tr_system *sys, tr_node *node, tr_ref pinger, tr_ref nodeev, char *line)
{
    char *arg = strchr(line, ' ');
    if (arg != NULL)
        *arg++ = '\0';
    tr_ref ref = TR_REF_NONE;
    int rc = TR_OK;
    if (strcmp(line, "connect") == 0 && arg != NULL) {
        say("CONNECTED %d", tr_node_connect(node, arg, 30000, NULL, 0));
    } else if (strcmp(line, "members") == 0) {
        tr_member *list = NULL;
        size_t n = 0;
        tr_node_members(node, &list, &n);
        char out[2048] = "MEMBERS";
        size_t used = strlen(out);
        for (size_t i = 0; i < n; i++) {
            int w = snprintf(out + used, sizeof(out) - used, " %s:%c", list[i].name, state_letter[list[i].state & 3]);
            if (w > 0 && (size_t)w < sizeof(out) - used)
                used += (size_t)w;
        }
        tr_node_members_free(list);
        say("%s", out);
    } else if (strcmp(line, "leave") == 0) {
        say("LEFT %d", tr_node_leave(node, 10000));
    } else if (strcmp(line, "await") == 0 && arg != NULL) {
        await_members(sys, node, nodeev, arg);
    } else if (strcmp(line, "events") == 0 && arg != NULL) {
        ev_subject s = ev_query(sys, nodeev, arg);
        say("EVENTS %u %u %d", s.ups, s.downs, s.last_reason);
    } else if (strcmp(line, "stats") == 0) {
        tr_node_stats st;
        tr_node_stats_get(node, &st);
        say("STATS %lu %u", (unsigned long)st.node_downs, st.peers_up);
    } else if (arg == NULL) {
        say("ERROR %d bad command %s", TR_EINVAL, line);
    } else if (pg_command(sys, node, line, arg)) {
        /* answered */
    } else if ((rc = tr_lookup(sys, arg, 30000, &ref)) != TR_OK) {
        say(strcmp(line, "ask") == 0 ? "ASKED %d" : "ERROR %d lookup", rc);
    } else if (strcmp(line, "ask") == 0) {
        void *reply = NULL;
        rc = tr_ask_wait(sys, ref, MSG_ECHO, "ask", 3, 30000, &reply, NULL);
        free(reply);
        say("ASKED %d", rc);
    } else if (strcmp(line, "ping") == 0) {
        tr_post(sys, pinger, MSG_GO, &ref, sizeof(ref), -1);
    } else if (strcmp(line, "watch") == 0) {
        tr_ref watch;
        tr_whereis(sys, "watch", &watch);
        tr_post(sys, watch, MSG_GO, &ref, sizeof(ref), -1);
    } else {
        say("ERROR %d bad command %s", TR_EINVAL, line);
    }
}

static const char *opt(int argc, char **argv, const char *key)
{
    size_t n = strlen(key);
    for (int i = 3; i < argc; i++)
        if (strncmp(argv[i], key, n) == 0 && argv[i][n] == '=')
            return argv[i] + n + 1;
    return NULL;
}

static uint32_t opt_u32(int argc, char **argv, const char *key, uint32_t dflt)
{
    const char *v = opt(argc, argv, key);
    return v != NULL ? (uint32_t)strtoul(v, NULL, 10) : dflt;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s NAME URL [cookie=S] [down=MS] [hb=MS] [cert=F] [key=F] [ca=F]\n", argv[0]);
        return 2;
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test (stdin EOF covers exec chains) */
    alarm(opt_u32(argc, argv, "life", 120));
    tr_system *sys = NULL;
    tr_config cfg = {.workers = 2};
    int rc = tr_system_create(&cfg, &sys);
    tr_node *node = NULL;
    tr_node_opts o = {.name = argv[1],
                      .cookie = opt(argc, argv, "cookie") ? opt(argc, argv, "cookie") : "secret",
                      .heartbeat_ms = opt_u32(argc, argv, "hb", 100),
                      .down_after_ms = opt_u32(argc, argv, "down", 20000),
                      .tls_cert_file = opt(argc, argv, "cert"),
                      .tls_key_file = opt(argc, argv, "key"),
                      .tls_ca_file = opt(argc, argv, "ca"),
                      .hidden = opt_u32(argc, argv, "hidden", 0) != 0,
                      .forget_after_ms = opt_u32(argc, argv, "forget", 0)};
    if (rc == TR_OK)
        rc = tr_node_start(sys, &o, &node);
    char bound[256] = "";
    if (rc == TR_OK)
        rc = tr_node_listen(node, argv[2], bound, sizeof(bound));
    if (rc == TR_OK)
        rc = spawn_named(sys, &echo_b, "echo", 0);
    if (rc == TR_OK)
        rc = spawn_named(sys, &victim_b, "victim", 0);
    if (rc == TR_OK)
        rc = spawn_named(sys, &watch_b, "watch", 0);
    if (rc == TR_OK)
        rc = spawn_named(sys, &sink_b, "sink", 64);
    if (rc != TR_OK) {
        say("ERROR %d %s", rc, tr_strerror(rc));
        tr_node_stop(node);
        tr_system_destroy(sys);
        return 2;
    }
    tr_ref pinger, nodeev;
    if (tr_spawn(sys, &pinger_b, NULL, NULL, &pinger) != TR_OK)
        pinger = TR_REF_NONE;
    static bool print_events;
    print_events = opt_u32(argc, argv, "events", 0) != 0;
    if (tr_spawn(sys, &nodeev_b, &print_events, NULL, &nodeev) != TR_OK ||
        tr_node_subscribe(node, nodeev, TR_NODE_EVENTS_HIDDEN) != TR_OK)
        nodeev = TR_REF_NONE;
    say("READY %s", bound);
    char line[512];
    while (fgets(line, sizeof(line), stdin) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        command(sys, node, pinger, nodeev, line);
    }
    tr_node_stop(node);
    tr_system_destroy(sys);
    say("BYE");
    return 0;
}
