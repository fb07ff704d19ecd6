/* Seeds (tr_node_add_seed): URLs the node keeps dialling, whose host may be
 * a DNS name standing for several nodes (a Kubernetes headless service, a
 * round-robin record). The node's seeds thread resolves each name now and
 * every refresh_ms, and makes sure every address it resolves to has a dial
 * record (listen.c), which dials it at once when new and redials it while
 * its peer is down. getaddrinfo blocks (for seconds when DNS is slow), so it
 * runs on this thread of its own: never on a worker, never under a lock
 * anyone else waits on.
 *
 * What DNS answers is not trusted further than a URL a user typed: at most
 * TR_SEED_ADDRS_MAX addresses are taken per name, each only becomes a dial,
 * and a dialled node still has to pass the handshake (cookie). */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "net/node_impl.h"

#define TR_SEEDS_MAX 16       /* seeds per node */
#define TR_SEED_ADDRS_MAX 32  /* addresses taken from one resolution */
#define SEED_REFRESH_MS 5000  /* default re-resolution period */

typedef struct tr_seed {
    char url[TR_WIRE_URL_MAX + 1];
    char scheme[16];          /* "tcp", "tcp4", "tcp6" when `resolve` */
    char host[TR_WIRE_URL_MAX + 1];
    char port[8];
    bool resolve;             /* host is a DNS name to resolve */
    uint32_t refresh_ms;
    uint64_t next_ms;         /* next resolution */
    uint32_t last_count;      /* addresses found last time (for the log) */
    int last_gai;             /* getaddrinfo's error last time (for the log) */
} tr_seed;

struct tr_seeds {
    struct tr_node *node;
    pthread_mutex_t lock; /* the list, the flags; held while dialling */
    pthread_cond_t cv;
    pthread_t thread;
    bool stopping;
    bool resolving; /* getaddrinfo in progress (unlocked) */
    bool detached;  /* the node stopped during it: the thread frees the seeds */
    tr_seed list[TR_SEEDS_MAX];
    uint32_t n;
};

/* Splits url into a seed; TR_EINVAL when it is not a URL a node can dial. */
static int seed_parse(const char *url, uint32_t refresh_ms, tr_seed *s)
{
    memset(s, 0, sizeof(*s));
    const char *sep = strstr(url, "://");
    if (sep == NULL || sep == url || strlen(url) > TR_WIRE_URL_MAX || (size_t)(sep - url) >= sizeof(s->scheme))
        return TR_EINVAL;
    snprintf(s->url, sizeof(s->url), "%s", url);
    snprintf(s->scheme, sizeof(s->scheme), "%.*s", (int)(sep - url), url);
    s->refresh_ms = refresh_ms != 0 ? refresh_ms : SEED_REFRESH_MS;
    const char *rest = sep + 3;
    bool tcp = strcmp(s->scheme, "tcp") == 0 || strcmp(s->scheme, "tcp4") == 0 || strcmp(s->scheme, "tcp6") == 0;
    if (!tcp || rest[0] == '[')
        return TR_OK; /* ipc://, tls+tcp:// (certificates name hosts), an IPv6 literal: dialled as given */
    const char *colon = strrchr(rest, ':');
    if (colon == NULL || colon == rest || strlen(colon + 1) == 0 || strlen(colon + 1) >= sizeof(s->port) ||
        strspn(colon + 1, "0123456789") != strlen(colon + 1) || atoi(colon + 1) < 1 || atoi(colon + 1) > 65535)
        return TR_EINVAL;
    snprintf(s->host, sizeof(s->host), "%.*s", (int)(colon - rest), rest);
    snprintf(s->port, sizeof(s->port), "%s", colon + 1);
    struct in_addr a4;
    s->resolve = inet_pton(AF_INET, s->host, &a4) != 1 && strchr(s->host, '/') == NULL;
    return TR_OK;
}

/* Makes sure `url` has a dial record: a new one dials at once, a known one
 * is marked wanted (so it is redialled while its peer is down); one that
 * reached ourselves is left alone, one refused earlier gets a new try. */
static void seed_dial(struct tr_node *node, const char *url)
{
    pthread_mutex_lock(&node->lock);
    int rc = TR_OK;
    tr_dial *d = tr_dial_get_locked(node, url, &rc);
    if (d == NULL) {
        pthread_mutex_unlock(&node->lock);
        tr_net_log_peer(node, TR_LOG_WARN, "seed address %s not dialled: %s", url, tr_strerror(rc));
        return;
    }
    d->wanted_ms = tr_now_ms();
    bool ourselves = strcmp(d->peer, node->name) == 0;
    if (!ourselves && d->result != -1 && d->result != TR_OK) {
        d->result = -1; /* refused (cookie, name, protocol) last time: the node there may have changed */
        d->next_ms = 0;
    }
    if (!ourselves && d->result == -1 && d->next_ms == 0)
        tr_dial_start_locked(node, d); /* new, or retried now; otherwise the service thread redials */
    pthread_mutex_unlock(&node->lock);
}

/* Formats the address of one getaddrinfo result as a URL of s's scheme. */
static bool address_url(const tr_seed *s, const struct addrinfo *ai, char *out, size_t len)
{
    char host[INET6_ADDRSTRLEN];
    const void *addr = ai->ai_family == AF_INET ? (const void *)&((const struct sockaddr_in *)ai->ai_addr)->sin_addr
                                                : (const void *)&((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
    if (inet_ntop(ai->ai_family, addr, host, sizeof(host)) == NULL)
        return false;
    int n = ai->ai_family == AF_INET6 ? snprintf(out, len, "%s://[%s]:%s", s->scheme, host, s->port)
                                      : snprintf(out, len, "%s://%s:%s", s->scheme, host, s->port);
    return n > 0 && (size_t)n < len;
}

typedef struct seed_addrs {
    char url[TR_SEED_ADDRS_MAX][TR_WIRE_URL_MAX + 1];
    uint32_t n;
    int gai; /* getaddrinfo's error, 0 when resolved */
} seed_addrs;

/* The addresses s stands for, distinct, at most TR_SEED_ADDRS_MAX. Touches
 * nothing of the node: it runs unlocked and may outlive a node stop. */
static void seed_resolve(const tr_seed *s, seed_addrs *out)
{
    out->n = 0;
    out->gai = 0;
    if (!s->resolve) {
        snprintf(out->url[out->n++], sizeof(out->url[0]), "%s", s->url);
        return;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_protocol = IPPROTO_TCP};
    hints.ai_family = strcmp(s->scheme, "tcp4") == 0 ? AF_INET : strcmp(s->scheme, "tcp6") == 0 ? AF_INET6 : AF_UNSPEC;
    struct addrinfo *res = NULL;
    if ((out->gai = getaddrinfo(s->host, s->port, &hints, &res)) != 0)
        return;
    for (const struct addrinfo *ai = res; ai != NULL && out->n < TR_SEED_ADDRS_MAX; ai = ai->ai_next) {
        char *url = out->url[out->n];
        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) || !address_url(s, ai, url, sizeof(out->url[0])))
            continue;
        bool seen = false;
        for (uint32_t i = 0; i < out->n && !seen; i++)
            seen = strcmp(out->url[i], url) == 0;
        out->n += !seen;
    }
    freeaddrinfo(res);
}

/* Logs what a resolution found (when it changed) and dials every address. */
static void seed_apply(struct tr_node *node, tr_seed *s, const seed_addrs *a)
{
    if (a->gai != 0) {
        if (a->gai != s->last_gai) /* logged when it starts failing, not at every refresh */
            tr_net_log_peer(node, TR_LOG_WARN, "seed %s: cannot resolve %s (%s)", s->url, s->host,
                            gai_strerror(a->gai));
        s->last_gai = a->gai;
        s->last_count = 0;
        return;
    }
    s->last_gai = 0;
    if (s->resolve && a->n != s->last_count)
        tr_net_log_peer(node, TR_LOG_INFO, "seed %s: %s resolves to %u address%s", s->url, s->host, a->n,
                        a->n == 1 ? "" : "es");
    s->last_count = a->n;
    for (uint32_t i = 0; i < a->n; i++)
        seed_dial(node, a->url[i]);
}

static void seeds_free(struct tr_seeds *ss)
{
    pthread_cond_destroy(&ss->cv);
    pthread_mutex_destroy(&ss->lock);
    free(ss);
}

/* The seeds thread. A node that stops while it resolves does not wait for
 * DNS: it detaches the thread, which frees the seeds when it sees
 * `stopping` and never touches the node again. Dials happen under the
 * seeds lock, so tr_seeds_stop cannot pass while one is under way. */
static void *seeds_main(void *arg)
{
    struct tr_seeds *ss = arg;
    struct tr_node *node = ss->node;
    seed_addrs *addrs = malloc(sizeof(*addrs));
    pthread_mutex_lock(&ss->lock);
    while (!ss->stopping && addrs != NULL) {
        uint64_t now = tr_now_ms(), wake = now + 60000;
        for (uint32_t i = 0; i < ss->n && !ss->stopping; i++) {
            tr_seed *s = &ss->list[i];
            if (s->next_ms <= now) {
                tr_seed copy = *s; /* the list may grow while we resolve unlocked */
                ss->resolving = true;
                pthread_mutex_unlock(&ss->lock);
                seed_resolve(&copy, addrs);
                pthread_mutex_lock(&ss->lock);
                ss->resolving = false;
                if (ss->stopping)
                    break;
                seed_apply(node, &ss->list[i], addrs);
                now = tr_now_ms();
                ss->list[i].next_ms = now + ss->list[i].refresh_ms;
            }
            if (ss->list[i].next_ms < wake)
                wake = ss->list[i].next_ms;
        }
        if (!ss->stopping && wake > now) {
            struct timespec deadline = tr_deadline_after((int)(wake - now));
            tr_cond_wait_until(&ss->cv, &ss->lock, (int)(wake - now), &deadline);
        }
    }
    bool detached = ss->detached;
    pthread_mutex_unlock(&ss->lock);
    free(addrs);
    if (detached)
        seeds_free(ss);
    return NULL;
}

int tr_node_add_seed(tr_node *node, const char *url, uint32_t refresh_ms)
{
    tr_seed s;
    if (node == NULL || url == NULL || seed_parse(url, refresh_ms, &s) != TR_OK)
        return TR_EINVAL;
    pthread_mutex_lock(&node->lock);
    struct tr_seeds *ss = node->seeds;
    int rc = TR_OK;
    if (ss == NULL && !atomic_load(&node->stopping)) {
        ss = calloc(1, sizeof(*ss));
        if (ss == NULL) {
            rc = TR_ENOMEM;
        } else {
            ss->node = node;
            pthread_mutex_init(&ss->lock, NULL);
            pthread_cond_init(&ss->cv, NULL);
            node->seeds = ss;
            if (pthread_create(&ss->thread, NULL, seeds_main, ss) != 0) {
                node->seeds = NULL;
                seeds_free(ss);
                ss = NULL;
                rc = TR_ENOMEM;
            }
        }
    }
    pthread_mutex_unlock(&node->lock);
    if (ss == NULL)
        return rc != TR_OK ? rc : TR_EINVAL;
    pthread_mutex_lock(&ss->lock);
    if (ss->n >= TR_SEEDS_MAX) {
        rc = TR_ETOOBIG;
    } else {
        ss->list[ss->n++] = s; /* next_ms 0: resolved now */
        pthread_cond_broadcast(&ss->cv);
    }
    pthread_mutex_unlock(&ss->lock);
    return rc;
}

void tr_seeds_stop(struct tr_node *node)
{
    pthread_mutex_lock(&node->lock);
    struct tr_seeds *ss = node->seeds;
    node->seeds = NULL;
    pthread_mutex_unlock(&node->lock);
    if (ss == NULL)
        return;
    pthread_mutex_lock(&ss->lock);
    ss->stopping = true;
    ss->detached = ss->resolving; /* DNS may take seconds: do not wait for it */
    bool detached = ss->detached;
    pthread_t thread = ss->thread; /* once unlocked, a detached thread may free ss */
    pthread_cond_broadcast(&ss->cv);
    pthread_mutex_unlock(&ss->lock);
    if (detached) {
        pthread_detach(thread); /* it frees the seeds when getaddrinfo returns */
        return;
    }
    pthread_join(thread, NULL);
    seeds_free(ss);
}
