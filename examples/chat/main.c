/* troupe-chat: the distributed chat, one binary.
 *
 *   troupe-chat server --name A --listen tcp://0.0.0.0:7000 [--peer tcp://hostB:7000 ...]
 *                      --cookie SECRET [--budget 256] [--http http://127.0.0.1:9464] [--data DIR]
 *                      [--web http://0.0.0.0:8080]   (the browser client; web.c)
 *   troupe-chat client --server tcp://hostA:7000 [--server tcp://hostB:7000 ...] --nick alice
 *                      [--room lobby] --cookie SECRET [--reconnect 60] [--listen tcp://HOST:0]
 *                      [--name NODE]
 *   troupe-chat bots   --server tcp://hostA:7000 [--server tcp://hostB:7000] --cookie SECRET
 *                      [--room demo] [--delay-ms 400] [--listen tcp://HOST:0]
 *   troupe-chat load   --server URL [--server URL ...] --cookie SECRET [--clients 1000]
 *                      [--rooms 10] [--rate 0.5] [--seconds 60]   (figures; load.c)
 *   troupe-chat place  --servers A,B,C ROOM      (which server hosts ROOM)
 *
 * The actors are the chat core (chat.h); this file only adds the node, the
 * command line, stdin/stdout and exit codes. See README.md beside it.
 *
 * Exit codes: 0 fine; 1 internal error; 2 usage, bad URL or address in use;
 * 3 login or first join refused (nickname taken or invalid, bad room, room
 * full); 4 no server reachable at the start, or none again within --reconnect
 * seconds after ours was lost (stopped, killed, unreachable, or this client
 * was suspended long enough to be dropped); with --reconnect 0, at once;
 * 5 cut off for reading too slowly. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <troupe/node.h>
#include <troupe/observe.h>
#include <troupe/registry.h>
#include <troupe/wire.h>

#include "chat.h"
#include "load.h"
#include "tty.h"
#include "web.h"

enum { EXIT_USAGE = 2, EXIT_REFUSED = 3, EXIT_UNREACHABLE = 4, EXIT_SLOW = 5 };
#define CONNECT_TIMEOUT_MS 5000
#define MAX_PEERS 32

static void die(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("troupe-chat: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(code);
}

static void usage(void)
{
    fputs("usage: troupe-chat server --name NAME --listen URL [--peer URL ...] --cookie SECRET "
          "[--budget N] [--http http://HOST:PORT] [--data DIR] [--web http://HOST:PORT]\n"
          "       troupe-chat client --server URL [--server URL ...] --nick NICK [--room ROOM] "
          "--cookie SECRET [--reconnect SECONDS] [--listen URL] [--name NODE]\n"
          "       troupe-chat bots --server URL [--server URL] --cookie SECRET [--room ROOM] "
          "[--delay-ms MS] [--listen URL]\n"
          "       troupe-chat load --server URL [--server URL ...] --cookie SECRET [--clients 1000] "
          "[--rooms 10] [--rate 0.5] [--seconds 60] [--listen URL]\n"
          "       troupe-chat place --servers A,B,... ROOM\n",
          stderr);
    exit(EXIT_USAGE);
}

static bool url_ok(const char *url)
{
    static const char *schemes[] = {"tcp://", "tcp4://", "tcp6://", "ipc://", "inproc://",
                                    "tls+tcp://"};
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
        if (strncmp(url, schemes[i], strlen(schemes[i])) == 0 && url[strlen(schemes[i])] != '\0')
            return true;
    return false;
}

static void check_url(const char *what, const char *url)
{
    if (url == NULL)
        die(EXIT_USAGE, "missing %s URL", what);
    if (!url_ok(url))
        die(EXIT_USAGE, "bad %s URL '%s' (expected tcp://host:port, ipc:///path, ...)", what, url);
}

/* Options shared by the subcommands. */
typedef struct opts {
    const char *name, *listen, *cookie, *nick, *room, *data;
    const char *http; /* server: serve /metrics and the dashboard here */
    const char *web;  /* server: serve the browser client here */
    const char *servers[MAX_PEERS];
    int nservers;
    const char *peers[MAX_PEERS];
    int npeers;
    int reconnect_s; /* client: how long to look for a server after losing one (0 = exit) */
    uint32_t budget;
    int delay_ms;
    uint32_t clients, rooms; /* load */
    double rate, seconds;    /* load */
    const char *positional;
} opts;

/* How the value of an option is read. */
typedef enum { OPT_TEXT, OPT_INT, OPT_COUNT, OPT_REAL } opt_kind;

/* An option that takes one value, and the field of opts that receives it:
 * a const char *, int, uint32_t or double, by kind. */
typedef struct opt_field {
    const char *flag;
    opt_kind kind;
    void *to;
} opt_field;

static const opt_field *find_field(const opt_field *fields, size_t n, const char *flag)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(fields[i].flag, flag) == 0)
            return &fields[i];
    return NULL;
}

static void set_field(const opt_field *f, const char *v)
{
    switch (f->kind) {
    case OPT_TEXT: *(const char **)f->to = v; break;
    case OPT_INT: *(int *)f->to = atoi(v); break;
    case OPT_COUNT: *(uint32_t *)f->to = (uint32_t)strtoul(v, NULL, 10); break;
    case OPT_REAL: *(double *)f->to = strtod(v, NULL); break;
    }
}

static void parse(int argc, char **argv, opts *o)
{
    memset(o, 0, sizeof(*o));
    o->delay_ms = 400;
    o->reconnect_s = 60;
    const opt_field fields[] = {
        {"--name", OPT_TEXT, &o->name},          {"--listen", OPT_TEXT, &o->listen},
        {"--cookie", OPT_TEXT, &o->cookie},      {"--http", OPT_TEXT, &o->http},
        {"--nick", OPT_TEXT, &o->nick},          {"--room", OPT_TEXT, &o->room},
        {"--data", OPT_TEXT, &o->data},          {"--web", OPT_TEXT, &o->web},
        {"--budget", OPT_COUNT, &o->budget},     {"--reconnect", OPT_INT, &o->reconnect_s},
        {"--delay-ms", OPT_INT, &o->delay_ms},   {"--clients", OPT_COUNT, &o->clients},
        {"--rooms", OPT_COUNT, &o->rooms},       {"--rate", OPT_REAL, &o->rate},
        {"--seconds", OPT_REAL, &o->seconds},
    };
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        const opt_field *f = find_field(fields, sizeof(fields) / sizeof(fields[0]), a);
        bool server = strcmp(a, "--server") == 0 || strcmp(a, "--servers") == 0;
        bool peer = strcmp(a, "--peer") == 0;
        if (f == NULL && !server && !peer) {
            if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
                usage();
            if (a[0] == '-')
                die(EXIT_USAGE, "unknown option '%s' (try --help)", a);
            o->positional = a;
            continue;
        }
        if (v == NULL)
            die(EXIT_USAGE, "option %s needs a value", a);
        if (f != NULL)
            set_field(f, v);
        else if (server && o->nservers < MAX_PEERS)
            o->servers[o->nservers++] = v;
        else if (peer && o->npeers < MAX_PEERS)
            o->peers[o->npeers++] = v;
        i++;
    }
}

/* ---- the node ---- */

static tr_system *g_sys;
static tr_node *g_node;

static void check_cookie(const char *cookie)
{
    if (cookie == NULL)
        die(EXIT_USAGE, "missing --cookie (the secret shared by every server and client)");
    if (cookie[0] == '\0')
        die(EXIT_USAGE, "empty --cookie: give the secret shared by every server and client");
}

/* Splits a tcp:// (tcp4://, tcp6://) URL at its last ':': copies what
 * stands between "://" and that colon to host (cap bytes), and points
 * *port at what follows it (inside host). False for another scheme or no
 * ':'. */
static bool split_tcp_url(const char *url, char *host, size_t cap, const char **port)
{
    const char *p = strstr(url, "://");
    if (p == NULL || strncmp(url, "tcp", 3) != 0)
        return false;
    snprintf(host, cap, "%s", p + 3);
    char *colon = strrchr(host, ':');
    if (colon == NULL)
        return false;
    *colon = '\0';
    *port = colon + 1;
    return true;
}

/* After the node refused a tcp:// listen URL: is the address in use? Binds
 * a plain socket to it to find out, since TR_EADDR covers both a bad URL and
 * an address taken. Returns errno of the bind, or 0 if it is free/unknown. */
static int tcp_bind_errno(const char *url)
{
    char host[256];
    const char *port;
    if (!split_tcp_url(url, host, sizeof(host), &port))
        return 0;
    char *h = host;
    if (h[0] == '[') { /* [v6] */
        h++;
        h[strcspn(h, "]")] = '\0';
    }
    if (strcmp(h, "*") == 0 || h[0] == '\0')
        h = NULL;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai = NULL;
    if (getaddrinfo(h, port, &hints, &ai) != 0 || ai == NULL)
        return 0;
    int err = 0;
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)); /* as NNG does */
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0)
            err = errno;
        close(fd);
    }
    freeaddrinfo(ai);
    return err;
}

/* Starts this process's node. Servers are full cluster members (they mesh
 * with every server they learn of); clients, bots and the load tool are
 * hidden nodes (issue 14): they connect only to the servers they name and
 * are never gossiped, so the servers forget them once they are gone. */
static void start_node(const char *name, const char *cookie, const char *listen, char *bound,
                       size_t cap, bool server)
{
    check_cookie(cookie);
    if (tr_system_create(NULL, &g_sys) != TR_OK)
        die(1, "cannot create the actor system");
    tr_node_opts no = {.name = name, .cookie = cookie, .hidden = !server};
    int rc = tr_node_start(g_sys, &no, &g_node);
    if (rc == TR_EINVAL)
        die(EXIT_USAGE, "bad node name '%s' (use 1-63 of A-Z a-z 0-9 _ . @ -)", name);
    if (rc != TR_OK)
        die(1, "cannot start the node: %s", tr_strerror(rc));
    bound[0] = '\0';
    rc = listen != NULL ? tr_node_listen(g_node, listen, bound, cap) : TR_OK; /* clients may only dial */
    if (rc != TR_OK) {
        int err = rc == TR_EADDR ? tcp_bind_errno(listen) : 0;
        if (err == EADDRINUSE)
            die(EXIT_USAGE, "cannot listen on '%s': address already in use (another server there?)",
                listen);
        if (err == EADDRNOTAVAIL)
            die(EXIT_USAGE, "cannot listen on '%s': no such local address", listen);
        die(EXIT_USAGE, "cannot listen on '%s': %s", listen, tr_strerror(rc));
    }
    chat_set_ref_codec(tr_pack_ref, tr_unpack_ref);
}

static void stop_node(void)
{
    tr_node_stop(g_node);
    tr_system_destroy(g_sys);
    g_node = NULL;
    g_sys = NULL;
}

/* Connects to a server and finds its gateway ("<node>/chat"), waiting up to
 * timeout_ms for each step. Returns TR_OK, or an error with a one-line
 * reason in why (TR_EADDR: a bad URL). */
static int find_gateway(const char *url, int timeout_ms, tr_ref *gw, char *server, size_t cap,
                        char *why, size_t whycap)
{
    int rc = tr_node_connect(g_node, url, timeout_ms, server, cap);
    if (rc == TR_ETIMEDOUT)
        snprintf(why, whycap, "server %s unreachable (no answer within %d s)", url,
                 (timeout_ms + 999) / 1000);
    else if (rc == TR_EREFUSED)
        snprintf(why, whycap,
                 "server %s refused the connection: its --cookie differs from ours (or it runs "
                 "another protocol version)", url);
    else if (rc == TR_EADDR)
        snprintf(why, whycap, "bad server URL '%s'", url);
    else if (rc != TR_OK)
        snprintf(why, whycap, "cannot connect to %s: %s", url, tr_strerror(rc));
    if (rc != TR_OK)
        return rc;
    char path[CHAT_MAX_SERVER + 8];
    snprintf(path, sizeof(path), "%s/chat", server);
    rc = tr_lookup(g_sys, path, timeout_ms, gw);
    if (rc != TR_OK)
        snprintf(why, whycap, "%s (%s) runs no chat server: %s", url, server, tr_strerror(rc));
    return rc;
}

/* A tcp:// URL whose host is a DNS name that resolves to several addresses
 * (a DNS seed, e.g. a Kubernetes headless service) stands for every one of
 * them: writes "tcp://ADDRESS:PORT" for each (at most max) to out and
 * returns how many; 0 when the URL is not such a name (or does not
 * resolve: then it is dialled as it is, and fails with NNG's reason).
 * Resolved again at every call, so the set may change. */
#define MAX_SEED_ADDRS 16
static int resolve_seed(const char *url, char out[][300], int max)
{
    char host[256];
    const char *port;
    if (!split_tcp_url(url, host, sizeof(host), &port) || host[0] == '[')
        return 0;
    struct in6_addr a6;
    struct in_addr a4;
    if (inet_pton(AF_INET, host, &a4) == 1 || inet_pton(AF_INET6, host, &a6) == 1 || host[0] == '\0')
        return 0; /* a numeric address: nothing to resolve */
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    hints.ai_family = strncmp(url, "tcp4", 4) == 0 ? AF_INET
                      : strncmp(url, "tcp6", 4) == 0 ? AF_INET6 : AF_UNSPEC;
    if (getaddrinfo(host, port, &hints, &ai) != 0)
        return 0;
    int n = 0;
    for (int pass = 0; pass < 2; pass++) /* IPv4 first: "localhost" often lists ::1 first */
    for (struct addrinfo *a = ai; a != NULL && n < max; a = a->ai_next) {
        if ((a->ai_family == AF_INET) != (pass == 0))
            continue;
        char addr[INET6_ADDRSTRLEN];
        const void *src = a->ai_family == AF_INET ? (const void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr
                                                  : (const void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr;
        if (inet_ntop(a->ai_family, src, addr, sizeof(addr)) == NULL)
            continue;
        if (a->ai_family == AF_INET6)
            snprintf(out[n], 300, "tcp://[%s]:%s", addr, port);
        else
            snprintf(out[n], 300, "tcp://%s:%s", addr, port);
        bool dup = false;
        for (int k = 0; k < n && !dup; k++)
            dup = strcmp(out[k], out[n]) == 0;
        n += !dup;
    }
    freeaddrinfo(ai);
    return n;
}

/* find_gateway for a URL, or for each address of a DNS seed in turn until
 * one answers (starting at *next, which moves on, so a retry tries the
 * next address first). */
static int find_gateway_any(const char *url, int timeout_ms, tr_ref *gw, char *server, size_t cap,
                            char *why, size_t whycap, unsigned *next)
{
    char addrs[MAX_SEED_ADDRS][300];
    int n = resolve_seed(url, addrs, MAX_SEED_ADDRS);
    if (n == 0)
        return find_gateway(url, timeout_ms, gw, server, cap, why, whycap);
    int rc = TR_ETIMEDOUT;
    for (int k = 0; k < n; k++) {
        const char *addr = addrs[(*next)++ % (unsigned)n];
        rc = find_gateway(addr, timeout_ms, gw, server, cap, why, whycap);
        if (rc == TR_OK)
            return rc;
    }
    return rc;
}

/* find_gateway_any, or exit with its reason. */
static tr_ref reach_gateway(const char *url, char *server, size_t cap)
{
    check_url("server", url);
    tr_ref gw;
    char why[512];
    unsigned next = 0;
    int rc = find_gateway_any(url, CONNECT_TIMEOUT_MS, &gw, server, cap, why, sizeof(why), &next);
    if (rc != TR_OK)
        die(rc == TR_EADDR ? EXIT_USAGE : EXIT_UNREACHABLE, "%s", why);
    return gw;
}

static int exit_code_of(int reason)
{
    if (reason == TR_OK || reason == TR_ESHUTDOWN)
        return 0;
    switch (reason - TR_EUSER) {
    case CHAT_E_NICK_TAKEN:
    case CHAT_E_BAD_NICK:
    case CHAT_E_BAD_ROOM:
    case CHAT_E_FULL:
        return EXIT_REFUSED;
    case CHAT_E_GONE:
    case CHAT_E_UNAVAILABLE:
        return EXIT_UNREACHABLE;
    case CHAT_E_SLOW:
        return EXIT_SLOW;
    default:
        return 1;
    }
}

/* ---- server ---- */

/* A --peer to introduce to our gateway: connect, find its gateway, tell ours. */
typedef struct peer_job {
    const char *url, *self;
    tr_ref gateway;
    bool done;
    int last_rc; /* what the previous attempt said, to report changes only */
    int64_t next_try_ms;
    bool given_up; /* our name is taken there: never tried again */
} peer_job;

static struct {
    pthread_mutex_t m;
    pthread_cond_t c;
    bool stop;
    peer_job *jobs;
    int n;
} g_peers = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, NULL, 0};

#define PEER_RETRY_S 5
#define PEER_WATCH_MS 500

/* One attempt; prints what happened (a failure only when it differs from
 * the previous one, so a retry loop does not repeat itself). */
static bool try_peer(peer_job *j, bool first)
{
    char peer[CHAT_MAX_SERVER + 1];
    int rc = tr_node_connect(g_node, j->url, CONNECT_TIMEOUT_MS, peer, sizeof(peer));
    const char *why = NULL;
    char detail[256];
    if (rc == TR_ENAMETAKEN) { /* no retry can help: another server has our name */
        snprintf(detail, sizeof(detail),
                 "server name '%s' is taken: the server at %s has a server of that name up (or is "
                 "named so itself); give every server its own --name", j->self, j->url);
        if (first)
            die(EXIT_USAGE, "%s", detail);
        fprintf(stderr, "troupe-chat: %s; not trying %s again\n", detail, j->url);
        j->given_up = true;
        return false;
    }
    if (rc == TR_EREFUSED)
        why = "refused us: its --cookie differs from ours (or it runs another protocol version)";
    else if (rc == TR_ETIMEDOUT)
        why = "does not answer (not started yet, or unreachable)";
    else if (rc != TR_OK) {
        snprintf(detail, sizeof(detail), "cannot be reached: %s", tr_strerror(rc));
        why = detail;
    }
    if (rc == TR_OK) {
        char path[CHAT_MAX_SERVER + 8];
        snprintf(path, sizeof(path), "%s/chat", peer);
        tr_ref pgw;
        rc = tr_lookup(g_sys, path, CONNECT_TIMEOUT_MS, &pgw);
        if (rc == TR_OK)
            rc = chat_gateway_add_peer(g_sys, j->gateway, pgw, CONNECT_TIMEOUT_MS);
        if (rc != TR_OK) {
            snprintf(detail, sizeof(detail), "(%s) runs no chat server: %s", peer, tr_strerror(rc));
            why = detail;
        }
    }
    if (rc == TR_OK) {
        printf("server %s: peer %s at %s\n", j->self, peer, j->url);
        j->done = true;
        return true;
    }
    if (first || rc != j->last_rc)
        fprintf(stderr, "troupe-chat: peer %s %s; trying again every %d s\n", j->url, why,
                PEER_RETRY_S);
    j->last_rc = rc;
    return false;
}

/* The peers' watch: a --peer not reached yet is tried again every
 * PEER_RETRY_S. (Once reached, the node redials it whenever it is down, and
 * the gateways find each other again through their process group, after a
 * restart, a pause or a partition: gateway.c.) */
static void *peer_watch_loop(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g_peers.m);
    for (;;) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += PEER_WATCH_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        while (!g_peers.stop && pthread_cond_timedwait(&g_peers.c, &g_peers.m, &until) == 0) {
        }
        if (g_peers.stop)
            break;
        pthread_mutex_unlock(&g_peers.m);
        for (int i = 0; i < g_peers.n; i++) {
            peer_job *j = &g_peers.jobs[i];
            if (j->given_up) {
                continue;
            } else if (!j->done) {
                if ((int64_t)tr_now_ms() >= j->next_try_ms) {
                    try_peer(j, false);
                    j->next_try_ms = (int64_t)tr_now_ms() + PEER_RETRY_S * 1000;
                }
            }
        }
        pthread_mutex_lock(&g_peers.m);
    }
    pthread_mutex_unlock(&g_peers.m);
    return NULL;
}

/* The gateway's word on a peer (on a worker): one line in the server's log. */
static const char *g_server_name = "";
static void log_peer(const char *server, bool up, const char *why)
{
    if (up)
        printf("server %s: peer %s is up\n", g_server_name, server);
    else
        printf("server %s: peer %s is down (%s)\n", g_server_name, server, why);
}

static int cmd_server(opts *o)
{
    if (o->name == NULL)
        die(EXIT_USAGE, "server needs --name");
    check_url("listen", o->listen);
    for (int i = 0; i < o->npeers; i++)
        check_url("peer", o->peers[i]);
    check_cookie(o->cookie);
    if (strlen(o->name) > CHAT_MAX_SERVER)
        die(EXIT_USAGE, "server name too long");

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* before any thread starts */

    chat_store *store = NULL;
    if (o->data != NULL) {
        char path[4096], err[512];
        if (mkdir(o->data, 0700) != 0 && errno != EEXIST)
            die(EXIT_USAGE, "--data %s: cannot create it: %s", o->data, strerror(errno));
        snprintf(path, sizeof(path), "%s/%s.sqlite3", o->data, o->name);
        if ((store = chat_store_open(path, err, sizeof(err))) == NULL)
            die(EXIT_USAGE, "--data: %s", err);
    }

    char bound[256];
    start_node(o->name, o->cookie, o->listen, bound, sizeof(bound), true);

    /* one-for-one: the gateway (which owns the directory, which owns one
     * supervisor per room) is restarted if it fails */
    static chat_gateway_cfg gc;
    snprintf(gc.server, sizeof(gc.server), "%s", o->name);
    gc.budget = o->budget;
    gc.store = store;
    gc.register_fn = tr_register;
    gc.on_peer = log_peer;
    g_server_name = o->name;
    tr_child_spec spec = {.id = "chat", .beh = &chat_gateway_behaviour, .arg = &gc,
                          .restart = TR_PERMANENT};
    tr_sup_flags flags = {.strategy = TR_ONE_FOR_ONE, .intensity = 5, .period_ms = 10000};
    tr_ref sup, gw;
    if (tr_supervisor_start(g_sys, &flags, &spec, 1, NULL, &sup) != TR_OK ||
        tr_supervisor_child(g_sys, sup, "chat", CONNECT_TIMEOUT_MS, &gw) != TR_OK)
        die(1, "cannot start the chat gateway");
    printf("server %s listening on %s\n", o->name, bound);

    /* peers: each one that cannot be reached now is tried again every few
     * seconds in the background until it answers */
    static peer_job jobs[MAX_PEERS];
    for (int i = 0; i < o->npeers; i++) {
        jobs[i] = (peer_job){.url = o->peers[i], .self = o->name, .gateway = gw};
        char addrs[MAX_SEED_ADDRS][300];
        int naddrs = resolve_seed(o->peers[i], addrs, MAX_SEED_ADDRS);
        if (naddrs > 0) {
            /* a DNS name (every server under one name): a seed the node keeps
             * resolving and dialling (itself excluded); the gateways then
             * meet through their process group */
            int rc = tr_node_add_seed(g_node, o->peers[i], 0);
            if (rc != TR_OK)
                die(EXIT_USAGE, "--peer %s: %s", o->peers[i], tr_strerror(rc));
            printf("server %s: seed %s (%d address%s now, resolved again every 5 s)\n", o->name,
                   o->peers[i], naddrs, naddrs == 1 ? "" : "es");
            jobs[i].given_up = true; /* nothing for the watch to do */
            continue;
        }
        if (!try_peer(&jobs[i], true))
            jobs[i].next_try_ms = (int64_t)tr_now_ms() + PEER_RETRY_S * 1000;
    }
    pthread_t retry_thread;
    bool retrying = o->npeers > 0;
    if (retrying) {
        g_peers.jobs = jobs;
        g_peers.n = o->npeers;
        pthread_create(&retry_thread, NULL, peer_watch_loop, &g_peers);
    }
    /* --http: Prometheus metrics at /metrics, the live dashboard at / */
    tr_observer *obs = NULL;
    if (o->http != NULL) {
        int rc = tr_observe_start(g_sys, g_node, o->http, &obs);
        if (rc != TR_OK)
            die(EXIT_USAGE, "cannot serve http on '%s': %s", o->http, tr_strerror(rc));
        char url[128];
        tr_observe_url(obs, url, sizeof(url));
        printf("server %s dashboard on %s/ (metrics: %s/metrics)\n", o->name, url, url);
    }
    chat_web *web = NULL;
    if (o->web != NULL) {
        char page[320], err[400];
        if ((web = chat_web_start(g_sys, gw, o->web, page, sizeof(page), err, sizeof(err))) == NULL)
            die(EXIT_USAGE, "%s", err);
        printf("server %s web client on %s\n", o->name, page);
    }
    printf("server %s ready\n", o->name);

    int sig = 0;
    sigwait(&sigs, &sig);
    printf("server %s stopping (%s)\n", o->name, sig == SIGINT ? "SIGINT" : "SIGTERM");
    if (retrying) {
        pthread_mutex_lock(&g_peers.m);
        g_peers.stop = true;
        pthread_cond_broadcast(&g_peers.c);
        pthread_mutex_unlock(&g_peers.m);
        pthread_join(retry_thread, NULL);
    }
    /* tell the clients before their connections go (they exit 4 with that
     * message instead of a bare "lost the connection") */
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 1);
    chat_pack_str(&b.pk, sig == SIGINT ? "stopped by its operator: SIGINT" : "stopped by its operator: SIGTERM");
    void *reply = NULL;
    size_t n = 0;
    if (tr_ask_wait(g_sys, gw, CHAT_SHUTDOWN, b.sb.data, b.sb.size, CONNECT_TIMEOUT_MS, &reply, &n) == TR_OK)
        free(reply);
    chat_buf_destroy(&b);
    tr_observe_stop(obs);
    chat_web_close(web); /* browsers' members leave with the rest */
    stop_node(); /* every room has ended: nothing appends any more */
    chat_web_free(web);
    chat_store_close(store); /* writes what is queued */
    return 0;
}

/* ---- client ---- */

typedef struct client_ui {
    pthread_mutex_t m;
    pthread_cond_t c;
    bool ready, ended, closing;
    bool want_room; /* --room given: ready once joined, else once logged in */
    tr_ref member;
} client_ui;

static client_ui g_ui = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false, false,
                         false, {0}};

/* Suspension watch: a thread notes the time every 200 ms; a long gap means
 * this process was stopped (Ctrl-Z, SIGSTOP) or starved. When the server is
 * lost right after one, the likely cause is us, not the server: its node
 * stopped hearing from ours and dropped the connection. */
static _Atomic int64_t g_tick_ms, g_gap_ms, g_gap_at_ms;
static atomic_bool g_watch_stop;

static void *suspension_watch(void *arg)
{
    (void)arg;
    atomic_store(&g_tick_ms, (int64_t)tr_now_ms());
    while (!atomic_load(&g_watch_stop)) {
        nanosleep(&(struct timespec){0, 200 * 1000000L}, NULL);
        int64_t now = (int64_t)tr_now_ms(), gap = now - atomic_load(&g_tick_ms);
        if (gap > 1000) {
            atomic_store(&g_gap_ms, gap);
            atomic_store(&g_gap_at_ms, now);
        }
        atomic_store(&g_tick_ms, now);
    }
    return NULL;
}

/* How long this process was suspended just now (ms), 0 if it was not. */
static int64_t recently_suspended_ms(void)
{
    int64_t now = (int64_t)tr_now_ms(), since_tick = now - atomic_load(&g_tick_ms);
    if (since_tick > 1500) /* the watch has not run since we woke up */
        return since_tick;
    if (now - atomic_load(&g_gap_at_ms) < 15000 && atomic_load(&g_gap_ms) > 1500)
        return atomic_load(&g_gap_ms);
    return 0;
}

/* One line out: above the input line on a terminal, else to stdout (or to
 * stderr with the program's name, for errors). */
static void ui_print(tty_style style, const char *line)
{
    if (tty_active()) {
        if (style == TTY_ERROR) {
            char prefixed[CHAT_MAX_TEXT + 300];
            snprintf(prefixed, sizeof(prefixed), "troupe-chat: %s", line);
            tty_print(prefixed, style);
        } else {
            tty_print(line, style);
        }
    } else if (style == TTY_ERROR) {
        fprintf(stderr, "troupe-chat: %s\n", line);
    } else {
        printf("%s\n", line);
    }
}

/* Failover (client): when the member says CHAT_EV_LOST, this thread looks
 * for a server, the next --server URL first and round the list (the same one
 * last: a frozen client's server is usually fine), and hands the member the
 * gateway found (chat_member_reconnect); after --reconnect seconds without
 * one it gives up (chat_member_give_up: exit 4). tr_node_connect blocks, so
 * it runs here and never on a worker. */
#define RECONNECT_TRY_MS 2000
#define RECONNECT_PAUSE_MS 500

static struct {
    pthread_mutex_t m;
    pthread_cond_t c;
    bool lost, stop;
    int64_t outage_ms; /* when the server was lost (0: connected) */
    const char **urls;
    int n, cur;
    int reconnect_s;
    tr_ref member;
} g_rc = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false, 0, NULL, 0, 0, 0, {0}};

/* Waits up to ms for stop; true when stopping. */
static bool rc_pause_locked(int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    until.tv_sec += ms / 1000 + until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    while (!g_rc.stop && pthread_cond_timedwait(&g_rc.c, &g_rc.m, &until) == 0) {
    }
    return g_rc.stop;
}

static void *reconnect_loop(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g_rc.m);
    for (;;) {
        while (!g_rc.lost && !g_rc.stop)
            pthread_cond_wait(&g_rc.c, &g_rc.m);
        if (g_rc.stop)
            break;
        g_rc.lost = false;
        char why[512] = "";
        bool found = false;
        for (int k = 0; !found;) {
            int64_t waited = (int64_t)tr_now_ms() - g_rc.outage_ms;
            if (waited > (int64_t)g_rc.reconnect_s * 1000) {
                char text[1024];
                snprintf(text, sizeof(text), "no server reachable within %d s (--reconnect); last: %s",
                         g_rc.reconnect_s, why[0] ? why : "?");
                pthread_mutex_unlock(&g_rc.m);
                chat_member_give_up(g_sys, g_rc.member, text, CONNECT_TIMEOUT_MS);
                pthread_mutex_lock(&g_rc.m);
                break;
            }
            if (rc_pause_locked(k == 0 ? 100 : RECONNECT_PAUSE_MS)) /* a breath; interruptible */
                break;
            int idx = (g_rc.cur + 1 + k) % g_rc.n;
            const char *url = g_rc.urls[idx];
            k++;
            pthread_mutex_unlock(&g_rc.m);
            tr_ref gw;
            char server[CHAT_MAX_SERVER + 1];
            static unsigned next_addr; /* this thread's only */
            int rc = find_gateway_any(url, RECONNECT_TRY_MS, &gw, server, sizeof(server), why,
                                      sizeof(why), &next_addr);
            if (rc == TR_OK)
                rc = chat_member_reconnect(g_sys, g_rc.member, gw, CONNECT_TIMEOUT_MS);
            pthread_mutex_lock(&g_rc.m);
            if (rc == TR_OK) {
                g_rc.cur = idx;
                found = true;
            }
        }
    }
    pthread_mutex_unlock(&g_rc.m);
    return NULL;
}

static void client_event(void *ctx, const chat_event *ev)
{
    client_ui *ui = ctx;
    if (ev->kind == CHAT_EV_CONFIRMED)
        return; /* the normal case: only a line never confirmed is shown ("not delivered") */
    if (ev->kind == CHAT_EV_LOST || ev->kind == CHAT_EV_BACK) {
        pthread_mutex_lock(&g_rc.m);
        if (ev->kind == CHAT_EV_LOST) {
            if (g_rc.outage_ms == 0)
                g_rc.outage_ms = (int64_t)tr_now_ms();
            g_rc.lost = true;
        } else {
            g_rc.outage_ms = 0;
        }
        pthread_cond_broadcast(&g_rc.c);
        pthread_mutex_unlock(&g_rc.m);
    }
    char line[CHAT_MAX_TEXT + 256];
    if (ev->kind == CHAT_EV_SENT && !tty_active())
        return; /* a pipe or file: what was typed is the input itself */
    chat_format_event(ev, line, sizeof(line));
    ui_print(ev->kind == CHAT_EV_ERROR     ? TTY_ERROR
             : ev->kind == CHAT_EV_HISTORY ? TTY_DIM
                                           : TTY_PLAIN,
             line);
    int64_t suspended = 0;
    if (((ev->kind == CHAT_EV_ERROR && ev->fatal && ev->code == CHAT_E_GONE) ||
         ev->kind == CHAT_EV_LOST) &&
        (suspended = recently_suspended_ms()) > 0) {
        snprintf(line, sizeof(line),
                 "this client was suspended for %lld s (Ctrl-Z, SIGSTOP or a stalled machine): the "
                 "server stopped hearing from it and dropped it",
                 (long long)((suspended + 500) / 1000));
        ui_print(TTY_ERROR, line);
        atomic_store(&g_gap_ms, 0); /* said once: a later loss is another story */
    }
    pthread_mutex_lock(&ui->m);
    if (ev->kind == CHAT_EV_JOINED || (ev->kind == CHAT_EV_WELCOME && !ui->want_room))
        ui->ready = true;
    if (ev->kind == CHAT_EV_ERROR && ev->fatal && ev->room[0] == '\0')
        ui->ended = true;
    pthread_cond_broadcast(&ui->c);
    pthread_mutex_unlock(&ui->m);
}

/* Posts to the member unless the program is closing (then the system may be gone). */
static void ui_post(client_ui *ui, const char *line, size_t n, bool leave)
{
    pthread_mutex_lock(&ui->m);
    if (!ui->closing && !ui->ended) {
        if (leave)
            chat_member_leave(g_sys, ui->member, CONNECT_TIMEOUT_MS);
        else
            chat_member_input(g_sys, ui->member, line, n, CONNECT_TIMEOUT_MS);
    }
    pthread_mutex_unlock(&ui->m);
}

/* Reads lines from stdin and hands each, as typed, to the member, which
 * cleans it and runs it (commands.c). End of input leaves like /quit. */
static void *stdin_reader(void *arg)
{
    client_ui *ui = arg;
    pthread_mutex_lock(&ui->m);
    while (!ui->ready && !ui->ended)
        pthread_cond_wait(&ui->c, &ui->m);
    pthread_mutex_unlock(&ui->m);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        ui_post(ui, line, (size_t)n, false);
    }
    free(line);
    ui_post(ui, NULL, 0, true); /* end of input: leave, the member then ends */
    return NULL;
}

/* A line typed at the terminal (readline's thread). A plain line is erased
 * from the screen: it comes back echoed with time and nick once sent. */
static void tty_line(const char *line, size_t n, void *ctx)
{
    client_ui *ui = ctx;
    if (line == NULL) {
        ui_post(ui, NULL, 0, true); /* Ctrl-D: leave, the member then ends */
        return;
    }
    const char *p = line;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p != '\0' && (p[0] != '/' || p[1] == '/'))
        tty_erase_typed();
    ui_post(ui, line, n, false);
}

static int cmd_client(opts *o)
{
    /* --server URL, several times or as a comma-separated list */
    static char *split[MAX_PEERS];
    static const char *urls[MAX_PEERS];
    int nurls = 0;
    for (int i = 0; i < o->nservers; i++) {
        split[i] = strdup(o->servers[i]);
        for (char *save = NULL, *t = strtok_r(split[i], ",", &save); t && nurls < MAX_PEERS;
             t = strtok_r(NULL, ",", &save))
            urls[nurls++] = t;
    }
    if (nurls == 0)
        die(EXIT_USAGE, "client needs at least one --server URL");
    for (int i = 0; i < nurls; i++)
        check_url("server", urls[i]);
    if (o->reconnect_s < 0)
        die(EXIT_USAGE, "--reconnect takes seconds (0 = exit when the server is lost)");
    if (o->nick == NULL || !chat_valid_nick(o->nick))
        die(EXIT_REFUSED, "bad or missing --nick (use 1-%d of A-Z a-z 0-9 _ -)", CHAT_MAX_NICK);
    if (o->room != NULL && !chat_valid_room(chat_room_name(o->room)))
        die(EXIT_REFUSED, "bad --room '%s' (use 1-%d of A-Z a-z 0-9 _ . -, a leading # is optional)",
            o->room, CHAT_MAX_ROOM);
    const char *listen = o->listen; /* optional: the server answers over our connection */
    if (listen != NULL)
        check_url("listen", listen);
    char name[CHAT_MAX_SERVER + 1];
    if (o->name)
        snprintf(name, sizeof(name), "%s", o->name);
    else
        snprintf(name, sizeof(name), "client-%s-%ld", o->nick, (long)getpid());
    setvbuf(stdout, NULL, _IOLBF, 0);

    char bound[256], server[CHAT_MAX_SERVER + 1];
    start_node(name, o->cookie, listen, bound, sizeof(bound), false);
    tr_ref gw = TR_REF_NONE;
    int first = 0;
    if (nurls == 1) {
        gw = reach_gateway(urls[0], server, sizeof(server));
    } else { /* the first that answers */
        int rc = TR_EINVAL;
        char why[512];
        for (first = 0; first < nurls; first++) {
            unsigned next = 0;
            rc = find_gateway_any(urls[first], CONNECT_TIMEOUT_MS, &gw, server, sizeof(server), why,
                                  sizeof(why), &next);
            if (rc == TR_OK)
                break;
            fprintf(stderr, "troupe-chat: %s%s\n", why, first + 1 < nurls ? "; trying the next --server" : "");
        }
        if (rc != TR_OK)
            die(rc == TR_EADDR ? EXIT_USAGE : EXIT_UNREACHABLE, "no --server reachable");
    }

    static chat_member_cfg mc;
    mc.gateway = gw;
    mc.failover = o->reconnect_s > 0;
    snprintf(mc.nick, sizeof(mc.nick), "%s", o->nick);
    snprintf(mc.room, sizeof(mc.room), "%s", o->room ? chat_room_name(o->room) : "");
    mc.on_event = client_event;
    mc.ctx = &g_ui;
    g_ui.want_room = o->room != NULL;
    if (tr_spawn(g_sys, &chat_member_behaviour, &mc, NULL, &g_ui.member) != TR_OK)
        die(1, "cannot start the client");

    pthread_t reader, watch, reconnect = 0;
    g_rc.urls = urls;
    g_rc.n = nurls;
    g_rc.cur = first;
    g_rc.reconnect_s = o->reconnect_s;
    g_rc.member = g_ui.member;
    if (mc.failover)
        pthread_create(&reconnect, NULL, reconnect_loop, NULL);
    if (!tty_start("> ", tty_line, &g_ui)) {
        pthread_create(&reader, NULL, stdin_reader, &g_ui);
        pthread_detach(reader); /* may sit in getline when the session ends */
    }
    pthread_create(&watch, NULL, suspension_watch, NULL);

    int reason = 0;
    tr_await_exit(g_sys, g_ui.member, -1, &reason);
    atomic_store(&g_watch_stop, true);
    pthread_join(watch, NULL);
    if (mc.failover) {
        pthread_mutex_lock(&g_rc.m);
        g_rc.stop = true;
        pthread_cond_broadcast(&g_rc.c);
        pthread_mutex_unlock(&g_rc.m);
        pthread_join(reconnect, NULL);
    }
    for (int i = 0; i < o->nservers; i++)
        free(split[i]);
    tty_stop(); /* prints what is left, gives the terminal back */
    pthread_mutex_lock(&g_ui.m);
    g_ui.closing = true;
    g_ui.ended = true;
    pthread_cond_broadcast(&g_ui.c);
    pthread_mutex_unlock(&g_ui.m);
    fflush(stdout);
    stop_node();
    return exit_code_of(reason);
}

/* ---- bots: a scripted conversation between two bots joined through
 * different servers, printed live from the first bot's seat ---- */

static const struct {
    int who;
    const char *text;
} script[] = {
    {0, "hello! is anyone on the other server?"},
    {1, "yes, I joined through the second node"},
    {0, "our lines go through our sessions to the room's node"},
    {1, "rendezvous hashing picked that node for this room"},
    {0, "if my process dies, you see me leave"},
    {1, "and if I read too slowly the room cuts me off"},
    {0, "twenty lines of history wait for whoever joins next"},
    {1, "nice. bye for now!"},
};
#define NSCRIPT (sizeof(script) / sizeof(script[0]))
#define NBOTS 2

typedef struct bots_ui {
    pthread_mutex_t m;
    pthread_cond_t c;
    int joined;
    int seen[NBOTS]; /* script lines each bot has seen (said or received) */
    bool failed;
} bots_ui;
static bots_ui g_bots = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, {0}, false};

typedef struct bot_ctx {
    int idx;
} bot_ctx;
static bot_ctx g_bot_ctx[NBOTS] = {{0}, {1}};

static void bot_event(void *ctx, const chat_event *ev)
{
    int idx = ((bot_ctx *)ctx)->idx;
    if ((idx == 0 && ev->kind != CHAT_EV_CONFIRMED) || ev->kind == CHAT_EV_ERROR) {
        char line[CHAT_MAX_TEXT + 256];
        chat_format_event(ev, line, sizeof(line));
        printf("%s\n", line);
    }
    pthread_mutex_lock(&g_bots.m);
    if (ev->kind == CHAT_EV_JOINED)
        g_bots.joined++;
    if (ev->kind == CHAT_EV_LINE || ev->kind == CHAT_EV_SENT)
        g_bots.seen[idx]++;
    if (ev->kind == CHAT_EV_ERROR && ev->fatal)
        g_bots.failed = true;
    pthread_cond_broadcast(&g_bots.c);
    pthread_mutex_unlock(&g_bots.m);
}

/* Waits for cond under the lock, up to 10 s; false on timeout or failure. */
static bool bots_wait(bool (*cond)(int), int arg)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    bool ok = true;
    pthread_mutex_lock(&g_bots.m);
    while (!g_bots.failed && !cond(arg))
        if (pthread_cond_timedwait(&g_bots.c, &g_bots.m, &ts) != 0) {
            ok = cond(arg);
            break;
        }
    ok = ok && !g_bots.failed;
    pthread_mutex_unlock(&g_bots.m);
    return ok;
}

static bool all_joined(int n) { return g_bots.joined >= n; }
static bool all_seen(int n)
{
    for (int i = 0; i < NBOTS; i++)
        if (g_bots.seen[i] < n)
            return false;
    return true;
}

/* Starts this process's node as "<prefix>-<pid>" (listening on listen
 * unless it is NULL) and reaches the gateway of each of the o->nservers
 * --server URLs: gws[i] and its server's name servers[i]. Exits the
 * program when one cannot be reached. */
static void start_and_reach_servers(const opts *o, const char *prefix, const char *listen,
                                    tr_ref gws[], char servers[][CHAT_MAX_SERVER + 1])
{
    char name[64], bound[256];
    snprintf(name, sizeof(name), "%s-%ld", prefix, (long)getpid());
    start_node(name, o->cookie, listen, bound, sizeof(bound), false);
    for (int i = 0; i < o->nservers; i++)
        gws[i] = reach_gateway(o->servers[i], servers[i], sizeof(servers[i]));
}

static int cmd_bots(opts *o)
{
    if (o->nservers < 1)
        die(EXIT_USAGE, "bots need at least one --server URL");
    const char *room = o->room ? chat_room_name(o->room) : "demo";
    if (!chat_valid_room(room))
        die(EXIT_REFUSED, "bad --room '%s'", room);
    const char *listen = o->listen;
    if (listen != NULL)
        check_url("listen", listen);
    setvbuf(stdout, NULL, _IOLBF, 0);
    tr_ref gws[MAX_PEERS];
    char servers[MAX_PEERS][CHAT_MAX_SERVER + 1];
    start_and_reach_servers(o, "bots", listen, gws, servers);

    static const char *nicks[NBOTS] = {"ada", "bob"};
    static chat_member_cfg mc[NBOTS];
    tr_ref bots[NBOTS];
    for (int b = 0; b < NBOTS; b++) {
        mc[b].gateway = gws[b % o->nservers];
        snprintf(mc[b].nick, sizeof(mc[b].nick), "%s", nicks[b]);
        snprintf(mc[b].room, sizeof(mc[b].room), "%s", room);
        mc[b].on_event = bot_event;
        mc[b].ctx = &g_bot_ctx[b];
        printf("* bot %s joins #%s through server %s\n", nicks[b], room,
               servers[b % o->nservers]);
        if (tr_spawn(g_sys, &chat_member_behaviour, &mc[b], NULL, &bots[b]) != TR_OK)
            die(1, "cannot start bot %s", nicks[b]);
        if (!bots_wait(all_joined, b + 1)) /* one at a time: deterministic join notices */
            die(EXIT_UNREACHABLE, "bot %s could not join #%s", nicks[b], room);
    }
    int code = 0;
    for (size_t j = 0; j < NSCRIPT; j++) {
        if (!bots_wait(all_seen, (int)j)) {
            fprintf(stderr, "troupe-chat: the conversation stalled at line %zu\n", j);
            code = EXIT_UNREACHABLE;
            break;
        }
        if (o->delay_ms > 0) /* pacing for people watching, not synchronisation */
            nanosleep(&(struct timespec){o->delay_ms / 1000, (o->delay_ms % 1000) * 1000000L},
                      NULL);
        chat_member_say(g_sys, bots[script[j].who], script[j].text, CONNECT_TIMEOUT_MS);
    }
    if (code == 0 && !bots_wait(all_seen, (int)NSCRIPT))
        code = EXIT_UNREACHABLE;
    for (int b = NBOTS - 1; b >= 0; b--) {
        chat_member_leave(g_sys, bots[b], CONNECT_TIMEOUT_MS);
        tr_await_exit(g_sys, bots[b], CONNECT_TIMEOUT_MS, NULL);
    }
    printf("* conversation %s\n", code == 0 ? "done" : "failed");
    stop_node();
    return code;
}

/* ---- load: many clients, figures (load.c) ---- */

static long self_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return kib;
}

static int cmd_load(opts *o)
{
    if (o->nservers < 1)
        die(EXIT_USAGE, "load needs at least one --server URL");
    chat_load_cfg cfg = {.clients = o->clients ? o->clients : 1000,
                         .rooms = o->rooms ? o->rooms : 10,
                         .rate = o->rate > 0 ? o->rate : 0.5,
                         .seconds = o->seconds > 0 ? o->seconds : 60};
    if (cfg.rooms > 1024 || cfg.clients / cfg.rooms > CHAT_MAX_MEMBERS)
        die(EXIT_USAGE, "load: at most 1024 rooms and %d clients per room", CHAT_MAX_MEMBERS);
    const char *listen = o->listen ? o->listen : "tcp://127.0.0.1:0";
    check_url("listen", listen);
    tr_ref gws[MAX_PEERS];
    char servers[MAX_PEERS][CHAT_MAX_SERVER + 1];
    start_and_reach_servers(o, "load", listen, gws, servers);
    cfg.gateways = gws;
    cfg.ngateways = (uint32_t)o->nservers;
    printf("load: %u clients over %d server(s), %u rooms, %.2f lines/s each for %.0f s\n",
           cfg.clients, o->nservers, cfg.rooms, cfg.rate, cfg.seconds);
    chat_load_result r;
    int code = chat_load_run(g_sys, &cfg, &r);
    printf("load: joined in %.2f s; %" PRIu64 " lines said, %" PRIu64 " deliveries due, %" PRIu64
           " delivered once and in order, %" PRIu64 " duplicated, %" PRIu64 " out of order or "
           "missing, %" PRIu64 " errors\n",
           r.join_s, r.sent, r.expected, r.delivered, r.duplicated, r.reordered, r.errors);
    printf("load: %.0f lines/s said, %.0f deliveries/s; latency (say -> printed) p50 %.1f ms, "
           "p99 %.1f ms, max %.1f ms; this process's RSS %ld KiB\n",
           r.talk_s > 0 ? (double)r.sent / r.talk_s : 0.0,
           r.talk_s > 0 ? (double)r.delivered / r.talk_s : 0.0, r.p50_ms, r.p99_ms, r.max_ms,
           self_rss_kib());
    printf("load: %" PRIu64 " of %" PRIu64 " lines confirmed to their sender (held by the room and its "
           "replica); say -> confirmed p50 %.1f ms, p99 %.1f ms\n",
           r.confirmed, r.sent, r.confirm_p50_ms, r.confirm_p99_ms);
    printf("load: %s\n", code == 0 ? "every line reached every other member of its room once, in "
                                      "order, and was confirmed"
                                    : "FAILED: see the counts above");
    stop_node();
    return code;
}

/* ---- place ---- */

static int cmd_place(opts *o)
{
    if (o->nservers != 1 || o->positional == NULL)
        die(EXIT_USAGE, "usage: troupe-chat place --servers A,B,... ROOM");
    char *list = strdup(o->servers[0]);
    const char *names[CHAT_MAX_SERVERS];
    size_t n = 0;
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t && n < CHAT_MAX_SERVERS;
         t = strtok_r(NULL, ",", &save))
        names[n++] = t;
    int best = chat_place(o->positional, names, n);
    if (best < 0)
        die(EXIT_USAGE, "no servers given");
    printf("%s\n", names[best]);
    free(list);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* one line at a time, also into files and pipes */
    if (argc < 2)
        usage();
    opts o;
    parse(argc - 2, argv + 2, &o);
    const char *cmd = argv[1];
    if (strcmp(cmd, "server") == 0)
        return cmd_server(&o);
    if (strcmp(cmd, "client") == 0)
        return cmd_client(&o);
    if (strcmp(cmd, "bots") == 0)
        return cmd_bots(&o);
    if (strcmp(cmd, "place") == 0)
        return cmd_place(&o);
    if (strcmp(cmd, "load") == 0)
        return cmd_load(&o);
    usage();
}
