/* A Troupe node in its own process, driven by the cross-process net tests
 * (tests/net/test_procs.c, test_netns.c) over Troupe itself.
 *
 *   troupe_node_proc NAME URL [cookie=S] [down=MS] [hb=MS] [cert=F] [key=F] [ca=F]
 *
 * Listens on URL (port 0 allowed), registers the actors below, then prints
 * "READY <bound url>" on stdout. Stops gracefully when stdin reaches EOF
 * (its test ended or died), printing "BYE" and exiting 0. Startup failures
 * print "ERROR <code> <message>" and exit 2. A 120 s alarm bounds its life.
 *
 * Commands, one per stdin line (each answers one line; the tests that run
 * no node of their own, like test_netns.c, drive it with these):
 *   connect URL   tr_node_connect             -> "CONNECTED <rc>"
 *   ask PATH      tr_lookup + an echo ask     -> "ASKED <rc>"
 *   ping PATH     "pinger" sends MSG_PING     -> "PONG" when it comes back
 *   watch PATH    "watch" monitors PATH       -> "WATCHING", later "DOWN <reason>"
 *   stats         node counters               -> "STATS <node_downs> <peers_up>"
 *
 * Actors (registered names):
 *   echo   MSG_ECHO (ask): replies with the same bytes;
 *          MSG_PING: sends MSG_PONG with the same bytes back to the sender.
 *   victim MSG_CRASH: fails with TR_EUSER + 7.
 *   watch  MSG_WATCH: monitors the message's sender (MSG_GO: the ref in
 *          the payload), prints "WATCHING" and later "DOWN <reason>" for
 *          every DOWN it gets.
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

/* Runs one stdin command (see the top of the file). */
static void command(tr_system *sys, tr_node *node, tr_ref pinger, char *line)
{
    char *arg = strchr(line, ' ');
    if (arg != NULL)
        *arg++ = '\0';
    tr_ref ref = TR_REF_NONE;
    int rc = TR_OK;
    if (strcmp(line, "connect") == 0 && arg != NULL) {
        say("CONNECTED %d", tr_node_connect(node, arg, 30000, NULL, 0));
    } else if (strcmp(line, "stats") == 0) {
        tr_node_stats st;
        tr_node_stats_get(node, &st);
        say("STATS %lu %u", (unsigned long)st.node_downs, st.peers_up);
    } else if (arg == NULL) {
        say("ERROR %d bad command %s", TR_EINVAL, line);
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
    alarm(120);
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
                      .tls_ca_file = opt(argc, argv, "ca")};
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
    tr_ref pinger;
    if (tr_spawn(sys, &pinger_b, NULL, NULL, &pinger) != TR_OK)
        pinger = TR_REF_NONE;
    say("READY %s", bound);
    char line[512];
    while (fgets(line, sizeof(line), stdin) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        command(sys, node, pinger, line);
    }
    tr_node_stop(node);
    tr_system_destroy(sys);
    say("BYE");
    return 0;
}
