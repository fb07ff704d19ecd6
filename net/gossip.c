/* Member lists between server nodes: how the full mesh forms and heals
 * (troupe/node.h, "Membership"; docs/wire.md, "Membership").
 *
 * A GOSSIP envelope names the sender itself and server nodes up here,
 * each with its incarnation and URLs. Each entry has a version (the
 * node's gossip_version when that member last came up) and each peer
 * records the version of the last list it was sent, so a list carries the
 * sender and only what changed since: when a session with a server node
 * comes up, the new peer gets the full list and every other server peer
 * the change (the new peer's entry), not the whole list again (a join
 * costs O(n) small messages, not O(n^2) entries); every gossip_ms one
 * random server peer gets what changed since its last list, and every
 * GOSSIP_FULL_EVERY rounds the full list (anti-entropy: a list lost in a
 * broken link is made up for). A node receiving one
 * dials every node named that is not up here (CONNECTING or DOWN
 * members), so a node that joins through one member connects to all of
 * them, and a restarted node is found by everyone that hears of it. Down
 * members with URLs are redialled with backoff until forgotten (member.c,
 * listen.c), so a healed partition re-merges by itself. Simultaneous dials
 * are settled by the handshake (session.c: the smaller name's connection
 * wins).
 *
 * Hidden nodes (clients) send none, take none and are never named in one.
 * GOSSIP comes only from authenticated peers (it is an envelope) and is
 * decoded through the bounds pre-check (net/msgpack_check.h): at most
 * GOSSIP_MAX_MEMBERS entries of [name, incarnation, [url, ...]], names
 * and URLs validated. A listener bound to a wildcard address (0.0.0.0,
 * [::]) is announced with the address the peer reached this node at. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "net/msgpack_check.h"
#include "net/node_impl.h"

#define GOSSIP_MAX_MEMBERS (TR_NODE_MAX_PEERS + 1) /* itself and every member it can have */
/* Objects inside containers per entry: the entry, its 3 fields, its URLs. */
#define GOSSIP_OBJECTS_PER_ENTRY (1 + 3 + TR_MEMBER_URLS)
/* Every this many periodic rounds the list sent is the full one. */
#define GOSSIP_FULL_EVERY 10

bool tr_gossip_peer(const tr_peer *p) { return (p->caps & TR_HS_CAP_CLUSTER) != 0 && !p->hidden; }

/* ---- sending ---- */

/* url with a wildcard host replaced by `local` (the address the peer
 * reached us at), into out. */
static void announced_url(const char *url, const nng_sockaddr *local, char *out, size_t len)
{
    snprintf(out, len, "%s", url);
    const char *scheme_end = strstr(url, "://");
    const char *colon = strrchr(url, ':');
    if (scheme_end == NULL || colon == NULL || colon <= scheme_end || strstr(url, "tcp://") == NULL)
        return;
    const char *host = scheme_end + 3;
    size_t host_len = (size_t)(colon - host);
    bool wildcard = host_len == 0 || (host_len == 7 && memcmp(host, "0.0.0.0", 7) == 0) ||
                    (host_len == 4 && memcmp(host, "[::]", 4) == 0) || (host_len == 1 && host[0] == '*');
    if (!wildcard)
        return;
    char addr[INET6_ADDRSTRLEN] = "";
    if (local->s_family == NNG_AF_INET)
        inet_ntop(AF_INET, &local->s_in.sa_addr, addr, sizeof(addr));
    else if (local->s_family == NNG_AF_INET6)
        inet_ntop(AF_INET6, local->s_in6.sa_addr, addr, sizeof(addr));
    if (addr[0] == '\0')
        return;
    bool v6 = local->s_family == NNG_AF_INET6;
    snprintf(out, len, "%.*s%s%s%s%s", (int)(host - url), url, v6 ? "[" : "", addr, v6 ? "]" : "", colon);
}

static int pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    return msgpack_pack_str(pk, n) || msgpack_pack_str_body(pk, s, n);
}

/* True for a peer named in a list holding the changes after version
 * `since` (0: the full list) (node lock held). */
static bool gossiped(tr_peer *q, uint64_t since)
{
    if (q == NULL || atomic_load(&q->retired) || !tr_gossip_peer(q) || q->nurls == 0 || q->gossip_ver <= since)
        return false;
    pthread_mutex_lock(&q->lock);
    bool up = q->up;
    pthread_mutex_unlock(&q->lock);
    return up;
}

/* Packs this node and the server members up here whose entry changed
 * after version `since` (0: all); *n gets the number of entries (node
 * lock held). */
static int pack_list(struct tr_node *node, const nng_sockaddr *local, uint64_t since, msgpack_packer *pk,
                     uint32_t *entries)
{
    uint32_t n = 1;
    for (uint32_t i = 1; i <= node->npeers && n < GOSSIP_MAX_MEMBERS; i++)
        n += gossiped(node->peers[i], since);
    *entries = n;
    uint32_t own = node->nlisten < TR_MEMBER_URLS ? node->nlisten : TR_MEMBER_URLS;
    int bad = msgpack_pack_array(pk, n) || msgpack_pack_array(pk, 3) || pack_str(pk, node->name) ||
              msgpack_pack_uint64(pk, node->incarnation) || msgpack_pack_array(pk, own);
    for (uint32_t u = 0; u < own && !bad; u++) {
        char url[TR_MEMBER_URL_MAX];
        announced_url(node->listeners[u].url, local, url, sizeof(url));
        bad = pack_str(pk, url);
    }
    uint32_t packed = 1;
    for (uint32_t i = 1; i <= node->npeers && packed < n && !bad; i++) {
        tr_peer *q = node->peers[i];
        if (!gossiped(q, since))
            continue;
        packed++;
        bad = msgpack_pack_array(pk, 3) || pack_str(pk, q->name) || msgpack_pack_uint64(pk, q->incarnation) ||
              msgpack_pack_array(pk, q->nurls);
        for (uint32_t u = 0; u < q->nurls && !bad; u++)
            bad = pack_str(pk, q->urls[u]);
    }
    /* a peer that went down between the count and here: fill with ourselves again */
    for (; packed < n && !bad; packed++)
        bad = msgpack_pack_array(pk, 3) || pack_str(pk, node->name) ||
              msgpack_pack_uint64(pk, node->incarnation) || msgpack_pack_array(pk, 0);
    return bad ? TR_ENOMEM : TR_OK;
}

void tr_gossip_send(struct tr_node *node, tr_peer *p, bool full)
{
    if (node->opts.hidden || atomic_load(&node->leaving) || atomic_load(&node->stopping))
        return;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    nng_sockaddr local;
    memset(&local, 0, sizeof(local));
    pthread_mutex_lock(&node->lock);
    bool ok = !atomic_load(&p->retired) && tr_gossip_peer(p);
    if (ok) {
        pthread_mutex_lock(&p->lock); /* p->conn is not freed while we hold it (session.c) */
        ok = p->up && p->conn != NULL;
        if (ok && nng_stream_get_addr(p->conn->stream, NNG_OPT_LOCADDR, &local) != 0)
            local.s_family = NNG_AF_UNSPEC;
        pthread_mutex_unlock(&p->lock);
    }
    uint64_t version = node->gossip_version;
    uint32_t entries = 0;
    if (ok)
        ok = pack_list(node, &local, full ? 0 : p->gossip_sent, &pk, &entries) == TR_OK;
    pthread_mutex_unlock(&node->lock);
    bool sent = false;
    if (ok && (full || entries > 1)) { /* a change list of ourselves alone says nothing */
        pthread_mutex_lock(&p->lock);
        if (p->up && p->conn != NULL && !p->reset_owed) {
            tr_envelope e = {.kind = TR_ENV_GOSSIP, .payload = sb.data, .size = (uint32_t)sb.size};
            tr_peer_control_locked(p, &e);
            sent = true;
        }
        pthread_mutex_unlock(&p->lock);
    }
    msgpack_sbuffer_destroy(&sb);
    if (sent) {
        pthread_mutex_lock(&node->lock);
        if (p->gossip_sent < version)
            p->gossip_sent = version;
        pthread_mutex_unlock(&node->lock);
    }
}

/* The server peers up (node lock NOT held); *n of them, malloc'd, each
 * pinned (unpin_all). */
static tr_peer **up_servers(struct tr_node *node, uint32_t *n)
{
    *n = 0;
    pthread_mutex_lock(&node->lock);
    tr_peer **list = node->npeers > 0 ? malloc(node->npeers * sizeof(*list)) : NULL;
    for (uint32_t i = 1; list != NULL && i <= node->npeers; i++) {
        tr_peer *q = node->peers[i];
        if (q == NULL || atomic_load(&q->retired) || !tr_gossip_peer(q))
            continue;
        pthread_mutex_lock(&q->lock);
        if (q->up && q->conn != NULL) {
            tr_peer_pin_locked(q);
            list[(*n)++] = q;
        }
        pthread_mutex_unlock(&q->lock);
    }
    pthread_mutex_unlock(&node->lock);
    return list;
}

static void unpin_all(tr_peer **list, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        tr_peer_unpin(list[i]);
    free(list);
}

void tr_gossip_peer_up(struct tr_node *node, tr_peer *p)
{
    if (node->opts.hidden)
        return;
    pthread_mutex_lock(&node->lock);
    bool server = !atomic_load(&p->retired) && tr_gossip_peer(p);
    if (server) {
        p->gossip_ver = ++node->gossip_version; /* its entry is news to the others */
        p->gossip_sent = 0;                     /* a new session: it gets everything */
    }
    pthread_mutex_unlock(&node->lock);
    if (!server)
        return;
    uint32_t n;
    tr_peer **list = up_servers(node, &n);
    for (uint32_t i = 0; i < n; i++)
        tr_gossip_send(node, list[i], list[i] == p);
    unpin_all(list, n);
}

void tr_gossip_tick(struct tr_node *node, uint64_t now)
{
    if (node->opts.hidden || now < node->next_gossip_ms)
        return;
    node->next_gossip_ms = now + node->opts.gossip_ms;
    bool full = ++node->gossip_rounds % GOSSIP_FULL_EVERY == 0;
    uint32_t n;
    tr_peer **list = up_servers(node, &n);
    if (n > 0)
        tr_gossip_send(node, list[(uint32_t)random() % n], full);
    unpin_all(list, n);
}

/* ---- receiving ---- */

void tr_gossip_dial_locked(struct tr_node *node, tr_peer *p, bool fresh)
{
    if (p->nurls == 0 || p->hidden || atomic_load(&node->leaving) || atomic_load(&node->stopping))
        return;
    tr_dial *d = tr_dial_find_locked(node, p->urls[0]);
    if (d != NULL && !fresh)
        return; /* the service thread redials it (listen.c) */
    if (d == NULL && !fresh && !tr_dial_room_locked(node))
        return; /* no news of it: not worth evicting a record tr_node_connect may need */
    int rc;
    if (d == NULL && (d = tr_dial_get_locked(node, p->urls[0], &rc)) == NULL)
        return;
    if (d->peer[0] == '\0' || strcmp(d->peer, p->name) != 0)
        snprintf(d->peer, sizeof(d->peer), "%s", p->name);
    if (d->result == TR_ESHUTDOWN)
        d->result = -1; /* it left or was forgotten before: news of it again */
    d->wanted_ms = tr_now_ms();
    if (fresh) {
        tr_backoff_reset(&d->backoff);
        d->next_ms = 0;
        tr_dial_start_locked(node, d);
    }
}

/* True for a URL another node could dial us back at. */
static bool dialable(const msgpack_object *o)
{
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size == 0 || o->via.str.size >= TR_MEMBER_URL_MAX)
        return false;
    const char *s = o->via.str.ptr;
    uint32_t n = o->via.str.size;
    if (memchr(s, '\0', n) != NULL)
        return false;
    static const char *const schemes[] = {"tcp://", "tls+tcp://", "ipc://"};
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        size_t k = strlen(schemes[i]);
        if (n > k && memcmp(s, schemes[i], k) == 0)
            return true;
    }
    return false; /* inproc:// is private to its process */
}

/* One entry [name, incarnation, [url...]] from p (node lock held). False
 * when malformed; *news set when the entry changed what we know (its
 * member's gossip_ver moved on: the other servers should hear it). */
static bool learn_locked(struct tr_node *node, const msgpack_object *o, bool *news)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 3)
        return false;
    const msgpack_object *f = o->via.array.ptr;
    if (f[0].type != MSGPACK_OBJECT_STR || !tr_node_name_valid(f[0].via.str.ptr, f[0].via.str.size) ||
        f[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER || f[2].type != MSGPACK_OBJECT_ARRAY ||
        f[2].via.array.size > TR_MEMBER_URLS)
        return false;
    char name[TR_WIRE_NAME_MAX + 1];
    memcpy(name, f[0].via.str.ptr, f[0].via.str.size);
    name[f[0].via.str.size] = '\0';
    uint64_t inc = f[1].via.u64;
    char urls[TR_MEMBER_URLS][TR_MEMBER_URL_MAX] = {{0}};
    uint32_t nurls = 0;
    for (uint32_t u = 0; u < f[2].via.array.size; u++) {
        const msgpack_object *s = &f[2].via.array.ptr[u];
        if (s->type != MSGPACK_OBJECT_STR)
            return false;
        if (!dialable(s))
            continue;
        memcpy(urls[nurls], s->via.str.ptr, s->via.str.size);
        urls[nurls][s->via.str.size] = '\0';
        nurls++;
    }
    if (strcmp(name, node->name) == 0)
        return true; /* ourselves (another incarnation would be refused when it connects) */
    tr_peer *q = tr_node_peer_by_name_locked(node, name, strlen(name));
    if (q != NULL) {
        pthread_mutex_lock(&q->lock);
        bool busy = q->up || q->conn != NULL; /* up, or a reset exchange in progress */
        pthread_mutex_unlock(&q->lock);
        if (q->left && q->incarnation == inc)
            return true;
        if (busy && q->incarnation != inc)
            return true; /* another incarnation: a duplicate name somewhere; not ours to settle */
    } else {
        if (nurls == 0)
            return true;
        q = tr_member_new_peer_locked(node, name, 0); /* its incarnation is known once connected */
        if (q == NULL)
            return true;
    }
    if (nurls > 0 && (nurls != q->nurls || memcmp(q->urls, urls, sizeof(urls)) != 0)) {
        q->nurls = nurls; /* the latest word (a node's own entry comes from itself) */
        memcpy(q->urls, urls, sizeof(urls));
        q->gossip_ver = ++node->gossip_version;
        *news = true;
    }
    pthread_mutex_lock(&q->lock);
    bool up = q->up || q->conn != NULL;
    pthread_mutex_unlock(&q->lock);
    if (!up)
        tr_gossip_dial_locked(node, q, true);
    return true;
}

void tr_gossip_on(struct tr_node *node, tr_peer *p, const tr_envelope *e)
{
    if (node->opts.hidden || atomic_load(&node->leaving) || !tr_gossip_peer(p))
        return; /* hidden nodes take no part; a hidden peer has no say */
    size_t objects = 0, off = 0;
    bool ok = e->size > 0 &&
              tr_msgpack_check_count(e->payload, e->size, 3, GOSSIP_MAX_MEMBERS * GOSSIP_OBJECTS_PER_ENTRY,
                                     &objects) &&
              objects == 1;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    if (ok)
        ok = msgpack_unpack_next(&u, e->payload, e->size, &off) == MSGPACK_UNPACK_SUCCESS && off == e->size &&
             u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size <= GOSSIP_MAX_MEMBERS;
    bool news = false;
    if (ok) {
        pthread_mutex_lock(&node->lock);
        for (uint32_t i = 0; i < u.data.via.array.size && ok; i++)
            ok = learn_locked(node, &u.data.via.array.ptr[i], &news);
        pthread_mutex_unlock(&node->lock);
    }
    msgpack_unpacked_destroy(&u);
    if (news) {
        /* Passed on at once, not at the next round: a server that dialled
         * us has no URLs in our record until its own list arrives, so the
         * change list sent when it came up could not name it. */
        uint32_t n;
        tr_peer **list = up_servers(node, &n);
        for (uint32_t i = 0; i < n; i++)
            if (list[i] != p)
                tr_gossip_send(node, list[i], false);
        unpin_all(list, n);
    }
    if (!ok) {
        atomic_fetch_add_explicit(&node->bad_frames, 1, memory_order_relaxed);
        tr_net_log(node, "%s sent a malformed member list (%u bytes): dropped", p->name, e->size);
    }
}
