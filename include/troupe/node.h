/* Nodes: one Troupe system talking to others over NNG (tcp://, ipc://,
 * inproc://, tls+tcp://) with msgpack envelopes (layout: docs/wire.md).
 *
 * A system runs at most one node. Once it runs, references to actors on
 * other nodes (from tr_lookup, from msg->sender of a message that came over
 * the network, or unpacked with tr_unpack_ref) work with the ordinary calls:
 * tr_send, tr_post, tr_ask, tr_reply, tr_monitor, tr_demonitor.
 *
 * Connections: one bidirectional NNG stream per node pair, whoever dialled
 * (a node that never listens works: a client behind NAT). Each connection
 * starts with a handshake in which both nodes prove they know the shared
 * cookie (HMAC-SHA256 over both sides' random challenges; the cookie never
 * travels); a peer with another cookie is refused (TR_EREFUSED), counted and
 * logged. Node names are unique among the connected nodes. A node redials
 * the URLs it connected to whenever their peer is down (with backoff, until
 * forget_after_ms; see "Membership" below). Layout and security stance:
 * docs/wire.md.
 *
 * Failure: a peer whose connection closes (kill -9, a crash, a reset link)
 * is down at once. Otherwise peers exchange heartbeats, and silence is
 * judged by a phi accrual detector (as in Akka and Cassandra): each node
 * keeps the spacing of a peer's last 64 heartbeats and declares it down
 * once phi, -log10 of the chance that a live peer stays silent that long,
 * reaches phi_threshold (8: one in 10^8), the spacing taken as normally
 * distributed around its mean plus down_after_ms, its deviation at least a
 * quarter of a heartbeat. On a quiet link with the defaults that is about
 * 2.6 s of silence (down_after_ms + a heartbeat + 5 deviations); a peer
 * whose heartbeats arrive late and irregularly (a loaded machine, a slow
 * link) gets longer before it is declared down. A peer that restarted (new
 * incarnation) is down as well. A down peer is "down": every monitor of an actor
 * on it gets one TR_MSG_DOWN with reason TR_ENODEDOWN, and sends to it
 * become dead letters (TR_ENOTCONN) until it is back. Node-down is seen by
 * both sides: the node that declares it tells the peer, which declares it
 * too before the link is used again (docs/wire.md).
 *
 * Backpressure: each peer has a bounded queue of envelopes not yet handed to
 * NNG. A sender facing a full one gets the node's overflow policy, as for a
 * full mailbox: a sending actor is muted until the queue drains, an outside
 * thread waits up to its timeout, or TR_EFULL, or a counted dead letter.
 * Delivery on the receiving node applies the receiver's own mailbox policy;
 * a full backpressure mailbox stalls the node's receive loop, which stalls
 * the TCP stream, which fills the sender's queue: end-to-end backpressure. */
#ifndef TROUPE_NODE_H
#define TROUPE_NODE_H

#include "troupe/actor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tr_node tr_node;

/* Node settings. Zero-initialise and set what you need; name is required. */
typedef struct tr_node_opts {
    const char *name;          /* unique among the peers, [A-Za-z0-9_.@-]{1,63}; copied */
    const char *cookie;        /* shared secret; NULL = "" (copied) */
    uint32_t heartbeat_ms;     /* an idle link carries a frame at least this often; 0 = 250 */
    uint32_t down_after_ms;    /* silence accepted on top of a peer's usual heartbeat spacing
                                * (Akka's acceptable-heartbeat-pause; see "Failure" above);
                                * 0 = 8 heartbeats */
    uint32_t queue_capacity;   /* envelopes per peer not yet sent; 0 = 65536 */
    tr_overflow overflow;      /* what a sender facing a full peer queue gets */
    uint32_t max_frame_bytes;  /* larger incoming frames are refused; 0 = 16 MiB */
    const char *tls_cert_file; /* PEM certificate+key for tls+tcp:// (own identity) */
    const char *tls_key_file;  /* PEM private key (NULL: in tls_cert_file) */
    const char *tls_ca_file;   /* PEM CA that peers' certificates must chain to */
    uint32_t handshake_timeout_ms; /* a connection not authenticated by then is closed; 0 = 5000 */
    /* Cluster (see "Membership" below). */
    bool hidden;               /* a hidden node (Erlang's term; clients): it connects only to
                                * the nodes it names, is never gossiped and never meshed */
    uint32_t forget_after_ms;  /* a member down this long is forgotten (no more dials, its
                                * record freed); 0 = 60000 */
    uint32_t redial_max_ms;    /* cap of the redial backoff of a down member; 0 = 2000 */
    uint32_t gossip_ms;        /* member lists sent to one random peer this often; 0 = 1000 */
    double phi_threshold;      /* a silent peer is down once phi reaches this (see "Failure"
                                * above); 0 = 8 (Akka's and Cassandra's default) */
} tr_node_opts;

/* Starts the node of `sys`. On success *out is owned by the caller until
 * tr_node_stop. Returns TR_OK, TR_EINVAL (bad name, a node already runs),
 * TR_ENOMEM, TR_ETLS (a TLS certificate, key or CA file missing or
 * invalid), or TR_EADDR when NNG cannot open its sockets. */
TR_API int tr_node_start(tr_system *sys, const tr_node_opts *opts, tr_node **out);

/* Stops the node: closes every connection (peers see it go down), fires
 * node-down for every remote monitor, frees the node. Never from an actor.
 * tr_system_destroy stops a node still running, so calling this is needed
 * only to stop the node earlier. NULL is ignored. */
TR_API void tr_node_stop(tr_node *node);

/* Starts the node of `sys` as the command line and the environment say,
 * as `erl -sname NAME -setcookie SECRET` does. Options (each may also be
 * written --option=VALUE; the environment variable beside it is read when
 * the option is absent):
 *     --node NAME          TROUPE_NODE           the node's name (required)
 *     --cookie SECRET      TROUPE_COOKIE         the shared secret (default "")
 *     --listen URL         TROUPE_LISTEN         tr_node_listen (repeatable)
 *     --connect URL        TROUPE_CONNECT        tr_node_connect without waiting:
 *                                                dialled in the background until up
 *                                                (tr_lookup_wait waits for it; repeatable)
 *     --heartbeat-ms N     TROUPE_HEARTBEAT_MS   tr_node_opts.heartbeat_ms
 *     --down-after-ms N    TROUPE_DOWN_AFTER_MS  tr_node_opts.down_after_ms
 * The options it uses are removed from argv and *argc is lowered
 * (argv[*argc] stays NULL), so what is left are the program's own
 * arguments; other arguments stay in order. "--" ends the options (it is
 * removed; what follows is left alone). argc and argv may be NULL: the
 * environment alone. Writes the node to *out (may be NULL: the system
 * stops it at tr_system_destroy). Outside threads only.
 * Returns TR_OK; TR_EINVAL for no name, a bad or missing value, or more
 * than 8 URLs of a kind (argv is then unchanged; the reason is logged); or
 * as tr_node_start, tr_node_listen and tr_node_connect (the node is
 * stopped again; the URL and reason are logged). */
TR_API int tr_node_start_args(tr_system *sys, int *argc, char **argv, tr_node **out);

/* The node's name (owned by the node). */
TR_API const char *tr_node_name(const tr_node *node);

/* Listens on `url` (tcp://host:port, tcp://0.0.0.0:0 for any port, ipc:///path,
 * inproc://name (this process only), tls+tcp://...). Writes the URL peers
 * should dial, with a port chosen by the system filled in, to bound_url (may
 * be NULL). Optional: a node that only dials needs no listener.
 * Returns TR_OK, TR_EADDR (bad URL, address in use), TR_ETOOBIG (8 already)
 * or TR_EINVAL. */
TR_API int tr_node_listen(tr_node *node, const char *url, char *bound_url, size_t len);

/* Connects to the peer listening on `url` and waits up to timeout_ms
 * (negative = forever) until the handshake is done and the peer is up (after
 * a node-down: until both sides have ended the old session). The node keeps
 * redialling `url` after failures and whenever the link breaks later; the
 * peer's name is written to peer_name (may be NULL). Returns TR_OK, TR_EADDR,
 * TR_EREFUSED (wrong cookie; over tls+tcp:// also a certificate rejected by
 * either side), TR_EPROTO (another protocol version), TR_ENAMETAKEN (a node
 * of our name is up there, or the peer has our name), TR_ETIMEDOUT
 * (unreachable so far: dialling continues), TR_ETOOBIG (4,096 URLs dialled
 * already, none of them idle), TR_ECLOSED (this node left: tr_node_leave), TR_EINVAL or
 * TR_ECONTEXT on a worker. */
TR_API int tr_node_connect(tr_node *node, const char *url, int timeout_ms, char *peer_name,
                           size_t len);

/* Adds a seed: a URL the node keeps dialling without waiting, as
 * tr_node_connect does, whose host may be a DNS name that resolves to
 * several nodes (a Kubernetes headless service, a round-robin record).
 * For tcp://, tcp4:// and tcp6:// URLs with a host name, the node's seeds
 * thread resolves the name now and every refresh_ms (0 = 5000) and dials
 * every address it resolves to (up to 32): a node that appears under the
 * name later is found at the next resolution; an address that resolves to
 * this node itself is left alone. Other URLs (IP addresses, ipc://,
 * tls+tcp://, whose certificates name hosts) are dialled as given. Never
 * blocks: resolution runs on the seeds thread, never on a worker; failures
 * are logged. Returns TR_OK, TR_EINVAL (not a URL, a bad port),
 * TR_ETOOBIG (16 seeds already) or TR_ENOMEM. */
TR_API int tr_node_add_seed(tr_node *node, const char *url, uint32_t refresh_ms);

/* True when a peer of that name is connected and answering. */
TR_API bool tr_node_peer_up(tr_node *node, const char *peer_name);

/* Declares the named peer down now, as if it had been silent too long
 * (like Erlang's disconnect_node): its monitors fire
 * TR_ENODEDOWN, its queued messages become dead letters, and the peer is
 * told, so it does the same on its side (docs/wire.md, "Node-down is seen
 * by both sides"). The link comes back by itself: once the peer has
 * acknowledged, both sides are up again. Returns TR_OK, TR_EINVAL or
 * TR_ENOTFOUND (no such peer). */
TR_API int tr_node_disconnect(tr_node *node, const char *peer_name);

/* The node `ref` lives on: copies its name ("" for local) to buf. Returns
 * TR_OK, TR_EINVAL or TR_ENOTFOUND. */
TR_API int tr_node_of(tr_node *node, tr_ref ref, char *buf, size_t len);

/* Counters, each exact but not mutually atomic. */
typedef struct tr_node_stats {
    uint64_t frames_out, frames_in;       /* frames (each a batch of envelopes) */
    uint64_t envelopes_out, envelopes_in; /* messages carried */
    uint64_t bytes_out, bytes_in;
    uint64_t bad_frames;                  /* malformed, truncated, oversized, wrong version */
    uint64_t refused;                     /* handshakes refused: wrong cookie, name taken */
    uint64_t node_downs;                  /* peers declared down */
    uint64_t queue_full;                  /* sends that met a full peer queue */
    uint64_t not_connected;               /* sends to a peer that is down or unknown */
    uint32_t peers_up;
    uint64_t handshake_failures;          /* malformed, timed out, over the handshake cap */
    uint64_t dials;                       /* connection attempts made (initial and redials) */
    uint32_t members;                     /* members known (tr_node_members' count) */
} tr_node_stats;

/* Fills *out. */
TR_API void tr_node_stats_get(tr_node *node, tr_node_stats *out);

/* ---- Membership ----
 *
 * Every node keeps a view of the nodes it knows (its members), as Erlang's
 * net_kernel and Akka's cluster do. Server nodes (the default) form a full
 * mesh by themselves: after a session is authenticated the two nodes send
 * each other the list of server nodes they are connected to (gossip, with
 * their URLs), and each dials the ones it is not connected to. So a node
 * that joins through any one member connects to all of them, a restarted
 * node (new incarnation) is re-admitted whichever node it dials first, and
 * after a partition heals the redials re-merge the mesh. Hidden nodes
 * (opts.hidden: clients) connect only to the nodes they name, are not
 * gossiped and not meshed.
 *
 * A member goes CONNECTING (learned, never up) -> UP -> DOWN -> UP ... and
 * ends LEFT (it called tr_node_leave) or forgotten (down longer than
 * forget_after_ms, or left). A DOWN member with URLs is redialled with
 * exponential backoff and jitter, capped at redial_max_ms, until then.
 * A closed connection makes a member down at once; a silent one once the
 * failure detector judges the silence too long ("Failure" above). A name stays taken while its node is up: a second node
 * of that name is refused (TR_ENAMETAKEN) by every node that has the first
 * one up. */

typedef enum tr_member_state {
    TR_MEMBER_CONNECTING = 0, /* known (gossiped or dialled), no session yet */
    TR_MEMBER_UP = 1,         /* a session is up: messages flow */
    TR_MEMBER_DOWN = 2,       /* the session ended; redialled until forgotten */
    TR_MEMBER_LEFT = 3,       /* it left (tr_node_leave): never redialled */
} tr_member_state;

#define TR_MEMBER_URLS 4        /* URLs kept per member */
#define TR_MEMBER_URL_MAX 256   /* bytes of each, NUL included */

/* One member as this node sees it (tr_node_members). */
typedef struct tr_member {
    char name[64];
    uint64_t incarnation;       /* random per start of that node; 0 until first up */
    tr_member_state state;
    bool hidden;                /* a hidden node (a client) */
    int reason;                 /* DOWN/LEFT: why (as tr_node_event.reason); else 0 */
    uint64_t since_ms;          /* wall clock (ms since the Unix epoch) of the last state change */
    uint32_t nurls;             /* URLs it can be dialled at (its listeners), as learned */
    char urls[TR_MEMBER_URLS][TR_MEMBER_URL_MAX];
    /* traffic of the current incarnation (all sessions), exact but not mutually atomic */
    uint64_t frames_in, frames_out, bytes_in, bytes_out;
    uint64_t envelopes_in, envelopes_out; /* envelopes (actor messages and control) carried */
    uint32_t rtt_us;            /* last heartbeat round trip; 0 = not measured yet */
    /* Failure detection ("Failure" above), as of the listing: */
    double phi;                 /* UP: the detector's suspicion of its silence, 0 while its frames
                                 * come as usual, rising with the silence (INFINITY once beyond
                                 * doubt); it is declared down at phi_threshold. Not UP: 0 */
    uint64_t heard_ago_ms;      /* ms since its last frame arrived (this incarnation);
                                 * UINT64_MAX: never heard from */
} tr_member;

/* Lists the members this node knows (itself not included, forgotten ones
 * not either), ordered by name. On success *out is an array of *count
 * members owned by the caller (free it with tr_node_members_free; NULL
 * when there are none). Returns TR_OK, TR_EINVAL or TR_ENOMEM. */
TR_API int tr_node_members(tr_node *node, tr_member **out, size_t *count);

/* Frees a list from tr_node_members (NULL is ignored). */
TR_API void tr_node_members_free(tr_member *members);

/* Node events: TR_MSG_NODE_UP when a member's session comes up,
 * TR_MSG_NODE_DOWN when it ends; data is a tr_node_event. For each member
 * (name and incarnation) a subscriber gets exactly one event per
 * transition, alternating UP, DOWN, UP, ..., in the order they happened,
 * like Erlang's net_kernel:monitor_nodes. Nothing is sent for the nodes up
 * at subscription time: subscribe first, then list (tr_node_members). */
#define TR_MSG_NODE_UP (TR_MSG_SERVICE + 0x400u)
#define TR_MSG_NODE_DOWN (TR_MSG_SERVICE + 0x401u)

typedef struct tr_node_event {
    char name[64];
    uint64_t incarnation;
    bool hidden;    /* a hidden node (only with TR_NODE_EVENTS_HIDDEN) */
    /* NODE_DOWN: TR_ENODEDOWN the connection closed (the node died or the
     * link broke), TR_ETIMEDOUT silent too long ("Failure"), TR_ECANCELLED
     * disconnected (tr_node_disconnect here, or the peer declared us down),
     * TR_ESHUTDOWN it left (tr_node_leave) or this node stops or leaves;
     * NODE_UP: 0 */
    int reason;
} tr_node_event;

#define TR_NODE_EVENTS_HIDDEN 1u /* also events of hidden nodes (Erlang's node_type all) */

/* Makes `subscriber` (a local actor) receive node events (flags: 0 or
 * TR_NODE_EVENTS_HIDDEN). Events are delivered past the mailbox bound, so
 * none is lost while the subscriber lives; a subscriber that ended is
 * dropped. Subscribing again replaces the flags. Returns TR_OK, TR_EINVAL
 * or TR_ENOMEM. Any thread. */
TR_API int tr_node_subscribe(tr_node *node, tr_ref subscriber, unsigned flags);

/* Stops node events to `subscriber`: TR_OK or TR_ENOTFOUND. Events already
 * in its mailbox stay there. */
TR_API int tr_node_unsubscribe(tr_node *node, tr_ref subscriber);

/* Leaves the cluster gracefully: every peer is told (it marks this node
 * LEFT, fires NODE_DOWN with TR_ESHUTDOWN and never redials it), dialling
 * stops, the notices are flushed and each peer told closes its connection
 * once it has read it (waited for up to timeout_ms, negative = forever),
 * then every connection left is closed and no new one is accepted or made. The
 * node keeps running locally; call tr_node_stop afterwards. Returns TR_OK,
 * TR_ETIMEDOUT (a peer may not have heard; it sees the node down instead),
 * TR_EINVAL, or TR_ECONTEXT on a worker. */
TR_API int tr_node_leave(tr_node *node, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
