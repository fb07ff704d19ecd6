/* Internal structure of a node, its connections and its peers (net/).
 *
 * Files, one concern each:
 *   node.c       public API: start, stop, listen, connect, stats
 *   hooks.c      the remote hooks the runtime calls (actors/remote.h)
 *   conn.c       one connection: nng_stream I/O, length-prefixed frames
 *   listen.c     listeners, dial records and redials
 *   handshake.c  the handshake state machine on a connection
 *   handshake_msg.c  handshake messages and proofs (HMAC-SHA256)
 *   session.c    peers: admission, up, down, the reset exchange
 *   inbound.c    frames from an authenticated peer: decode and delivery
 *   peer.c       the send side of a peer: batches, one write in flight
 *   heartbeat.c  the node's service thread: heartbeats, silence, deadlines
 *   phi.c        the failure detector: is a peer's silence usual? (phi accrual)
 *   member.c     the membership view: member states, node events, forgetting
 *   gossip.c     member lists exchanged between server nodes: the full mesh
 *   backoff.c    redial delays: exponential backoff with jitter
 *   tls.c        TLS configuration
 *   log.c        rate-limited log lines
 *   pg.c, pg_wire.c  process groups (net/pg.h)
 *   seeds.c      seed URLs and DNS names, re-resolved on a thread of their own
 *   envelope.c, msgpack_check.c, monitors.c, lookup.c, wire.c */
#ifndef TROUPE_NET_NODE_IMPL_H
#define TROUPE_NET_NODE_IMPL_H

#include <msgpack.h>
#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>
#include <nng/supplemental/util/platform.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "actors/remote.h"
#include "ds/deque.h"
#include "ds/vec.h"
#include "net/backoff.h"
#include "net/envelope.h"
#include "net/handshake_msg.h"
#include "net/phi.h"
#include "troupe/log.h"
#include "troupe/node.h"

#define TR_NODE_MAX_PEERS 4095 /* node part of a tr_ref is 12 bits; 0 is local */
#define TR_NODE_MAX_LISTEN TR_WIRE_URLS_MAX
/* Dial records at most (one a URL, allocated as needed, released once not
 * wanted for forget_after_ms): past it, the one wanted least recently is
 * reused. One a peer and a few seeds each: the peer table's size. */
#define TR_NODE_MAX_DIALS 4096
#define TR_NODE_MAX_HANDSHAKES 64 /* connections still in handshake; more are closed at once */
/* The actor part of a tr_ref (what travels on the wire: ids are local to
 * the node they live on). */
#define REF_LOCAL_MASK ((1ull << TR_REF_NODE_SHIFT) - 1)
#define TR_BATCH_BYTES (64u * 1024u) /* a frame is closed once it grows past this (below glibc's mmap threshold: no page-fault churn per frame) */
#define TR_FRAME_PREFIX 4             /* big-endian body length before every frame */
/* Receive buffer of an authenticated connection: a receive block
 * (net/rx_block.c) with room for several full batches (a batch closes once
 * it passes TR_BATCH_BYTES, so one frame is a little over 64 KiB), so that
 * one read takes whatever the socket holds and each read costs one NNG
 * completion (a thread hand-off) for several frames. Reads go on behind
 * the bytes already read while at least TR_RX_MIN_READ is left there. */
#define TR_RX_BLOCK (256u * 1024u) /* size and alignment */
#define TR_RX_BLOCK_HEAD 64u       /* its reference count, on a line of its own */
#define TR_RX_CHUNK (TR_RX_BLOCK - TR_RX_BLOCK_HEAD)
#define TR_RX_MIN_READ (64u * 1024u)
/* Received payloads from this size stay in the receive block (smaller ones
 * are copied: a small malloc is cheap, and it pins no block). */
#define TR_RX_SHARE_MIN 1024u

/* The one place that assembles a reference from its node and local parts. */
static inline tr_ref tr_ref_make(uint32_t node, uint64_t local)
{
    return (tr_ref){local == 0 ? 0 : ((uint64_t)node << TR_REF_NODE_SHIFT) | (local & REF_LOCAL_MASK)};
}

struct tr_node;
struct tr_peer;
struct tr_dial;

/* Where a connection is in its life (docs/wire.md, "Handshake"). */
typedef enum tr_conn_state {
    TR_CONN_HELLO_SENT,     /* initiator: waits for CHALLENGE */
    TR_CONN_PROOF_SENT,     /* initiator: waits for ACCEPT (committed) */
    TR_CONN_WAIT_HELLO,     /* acceptor: waits for HELLO */
    TR_CONN_CHALLENGE_SENT, /* acceptor: waits for PROOF */
    TR_CONN_ACCEPTING,      /* acceptor: ACCEPT being written; up once it is */
    TR_CONN_UP,             /* authenticated: data frames */
    TR_CONN_CLOSING,        /* a last message (REFUSE) being written, then closed */
    TR_CONN_CLOSED,         /* waits for the service thread to free it */
} tr_conn_state;

/* A large payload written from the sender's buffer instead of being
 * copied into the batch (scatter/gather): its bytes go on the wire right
 * after byte `at` of the frame's buffer (its bin header); freed with
 * free_fn once written or dropped. */
typedef struct tr_frame_part {
    size_t at;
    void *data;
    size_t size;
    void (*free_fn)(void *);
} tr_frame_part;

/* A frame to write: `len` bytes at buf (length prefix included) carrying
 * `count` envelopes, with `nparts` payloads (parts_len bytes) spliced in
 * at their offsets; owned: buf is malloc'd and freed once written. */
typedef struct tr_frame_out {
    char *buf;
    size_t len;
    uint32_t count;
    bool owned;
    tr_frame_part *parts; /* in order of `at`; malloc'd, freed with the frame */
    uint32_t nparts;
    size_t parts_len;
    size_t bytes;         /* its envelopes' bytes, counted in the peer's pending_bytes */
} tr_frame_out;

typedef TR_VEC(tr_frame_part) tr_frame_parts;

#define TR_SG_MIN (16u * 1024u) /* payloads from this size are not copied into the batch */
/* Envelope bytes queued for a peer past which a backpressure queue mutes
 * its senders, as queue_capacity envelopes do: 64 Ki envelopes of 4 KiB
 * would be 256 MiB, which no cache holds (Erlang's dist_buf_busy_limit
 * is 1 MiB). */
#define TR_QUEUE_BYTES (4u << 20)
#define TR_FRAME_IOV 8          /* iovs per write (an nng_aio holds 8) */

/* The wire bytes of f from byte `off` on, as up to TR_FRAME_IOV iovs
 * (net/conn.c). Returns how many. */
unsigned tr_frame_iov(const tr_frame_out *f, size_t off, nng_iov *iov);
/* Frees f's parts (their payloads and the list). */
void tr_frame_drop_parts(tr_frame_out *f);

/* A receive block (net/rx_block.c): TR_RX_BLOCK bytes aligned to their
 * size, TR_RX_CHUNK of them read into; messages delivered from it keep
 * their payloads there, each holding a reference. */
typedef struct tr_rx_block {
    _Atomic uint64_t refs;
} tr_rx_block;

/* A connection's receive block (its receive thread only). */
typedef struct tr_rx_blocks {
    tr_rx_block *cur; /* read into now, or NULL */
    uint64_t given;   /* references of cur handed to messages */
} tr_rx_blocks;

/* The payload free function of a message delivered from a block. */
void tr_rx_block_release(void *payload);
/* The first byte of b's data. */
uint8_t *tr_rx_block_data(tr_rx_block *b);
/* Whether no message holds the current block: it may then be read into
 * from its start again. */
bool tr_rx_block_unshared(tr_rx_blocks *rb);
/* Makes another block current, its data starting with the `len` bytes at
 * keep (which may lie in the old one, let go of then). Returns its data,
 * or NULL (ENOMEM, nothing changed). */
uint8_t *tr_rx_block_switch(tr_rx_blocks *rb, const uint8_t *keep, size_t len);
/* Lets go of the current block (a frame longer than a block is read into
 * a buffer of its own). */
void tr_rx_block_switch_out(tr_rx_blocks *rb);
/* Frees the cached free blocks that stayed unused since the last call,
 * keeping a few (the service thread, once a heartbeat interval). */
void tr_rx_block_trim(void);
/* Lets go of the connection's references (the messages keep theirs). */
void tr_rx_blocks_free(tr_rx_blocks *rb);
/* One more reference of the current block, for a message's payload. */
static inline void tr_rx_block_give(tr_rx_blocks *rb) { rb->given++; }

/* One connection (an nng_stream) to another node. Callbacks run on NNG's
 * threads and never block; the service thread frees closed connections. */
typedef struct tr_conn {
    struct tr_node *node;
    struct tr_conn *next; /* node->conns (node lock) */
    nng_stream *stream;
    nng_aio *rx_aio, *tx_aio, *retry_aio;
    nng_aio *now_aio;     /* tr_conn_write_now: no callback; NULL on TLS streams */
    tr_conn_state state;  /* node lock */
    bool initiator;
    bool in_handshake;    /* counted in node->handshakes (node lock) */
    struct tr_dial *dial; /* initiator: the dial record it serves (node lock) */
    struct tr_peer *peer; /* once up; set once, never cleared */
    uint64_t deadline_ms; /* handshake deadline */
    int close_reason;     /* why it closed (for the log and the dial) */
    /* handshake */
    uint8_t my_chal[TR_HS_CHALLENGE_BYTES], their_chal[TR_HS_CHALLENGE_BYTES];
    char peer_name[TR_WIRE_NAME_MAX + 1];
    uint64_t peer_inc, peer_agent, peer_caps;
    uint8_t hs_out[2][TR_FRAME_PREFIX + TR_HS_FRAME_MAX]; /* one in flight, one queued */
    size_t hs_queued;     /* length of a message waiting in hs_out[hs_slot ^ 1], or 0 */
    int hs_slot;          /* the slot written last */
    /* receive: bytes [rpos, rlen) of rbuf are unread; rbuf is the data of
     * blocks.cur once authenticated (except while a frame longer than a
     * block is read), else malloc'd */
    uint8_t *rbuf;
    size_t rcap, rlen, rpos;
    tr_rx_blocks blocks;
    uint64_t skip;            /* bytes of an oversized frame still to discard */
    _Atomic bool rx_arming;   /* the receiving thread is inside nng_stream_recv */
    /* A watched connection (conn.c, "Watching"): a worker waiting for this
     * peer's answer reads it itself through poll_aio (no callback) instead
     * of rx_aio. rx_state: TR_RX_IDLE (a thread holds the read: processing
     * or stalled), TR_RX_CB (rx_aio armed), TR_RX_POLL (poll_aio armed) or
     * TR_RX_HELD (processed by the watcher, which re-arms it after the turn
     * it delivered to), in the low two bits; the rest counts POLL armings
     * (no ABA for the compare-and-swap that takes a POLL read). */
    nng_aio *poll_aio;            /* no callback; NULL on TLS streams */
    pthread_mutex_t rx_lock;      /* watcher and the choice of aio when arming */
    _Atomic(const void *) watcher; /* the worker that polls (rx_lock to write), or NULL */
    _Atomic uint32_t rx_state;
    uint32_t rx_gen;              /* POLL armings (rx_lock) */
    _Atomic uint32_t watch_refs;  /* workers holding it (tr_conn_watch): not freed meanwhile */
    _Atomic uint32_t watch_polls; /* the watcher's polls so far (it is alive) */
    uint32_t watch_seen;          /* watch_polls at the service thread's last look (node lock) */
    _Atomic bool closed;          /* state == TR_CONN_CLOSED, readable without the node lock */
    bool stalled;             /* a full mailbox: waiting on retry_aio */
    bool in_frame;            /* reader holds a frame half delivered */
    tr_frame_reader reader;
    bool stalled_env;         /* `stall` is still to be delivered */
    tr_envelope stall;
    /* transmit: one write in flight (the stream must not interleave two) */
    tr_frame_out tx;
    size_t tx_off;
    bool tx_busy;       /* handshake phase (node lock); after UP the peer's `sending` */
    bool tx_then_close; /* close once the write is done (REFUSE) */
} tr_conn;

/* A URL this node dials (tr_node_connect, the mesh, seeds), redialled
 * while its peer is not up (node lock). Allocated on its own (its aio's
 * callback points at it); freed when released (listen.c) or with the node. */
typedef struct tr_dial {
    struct tr_node *node;
    char url[TR_WIRE_URL_MAX + 1];
    nng_stream_dialer *dialer;
    nng_aio *aio;          /* the dial in progress */
    bool dialling;         /* aio busy */
    tr_conn *conn;         /* the handshake in progress */
    char peer[TR_WIRE_NAME_MAX + 1]; /* learned from the first CHALLENGE */
    uint64_t peer_inc;
    int result;            /* -1 pending, TR_OK, or a refusal */
    uint64_t next_ms;      /* next redial */
    uint64_t wanted_ms;    /* last time its peer was up or a connect waited on it */
    tr_backoff backoff;
    int waiters;           /* tr_node_connect calls waiting on it */
} tr_dial;

typedef struct tr_listener {
    struct tr_node *node;
    char url[TR_WIRE_URL_MAX + 1]; /* as bound (the port filled in) */
    nng_stream_listener *l;
    nng_aio *aio;
} tr_listener;

/* A peer: one incarnation of a node (one slot of node->peers: the node
 * part of its actors' references). A forgotten member's record leaves the
 * table and is freed once no thread holds it (member.c, "Forgetting"):
 * outside the node lock and the service thread, hold a record only pinned
 * (tr_peer_pin) or through a connection of its (c->peer). */
typedef struct tr_peer {
    struct tr_node *node;
    uint32_t index;
    pthread_mutex_t lock;
    pthread_cond_t room_cv;    /* outside senders waiting for queue room */
    atomic_bool retired; /* an older incarnation or a forgotten member: never used
                          * again. Set under the node lock, read under the peer
                          * lock: atomic */
    /* traffic of this incarnation (tr_member), counted outside the locks */
    _Atomic uint64_t frames_in, frames_out, bytes_in, bytes_out, envelopes_in, envelopes_out;

    char name[TR_WIRE_NAME_MAX + 1];
    uint64_t incarnation;      /* 0: known by name only (gossip), never up */
    uint64_t agent;      /* its agent's actor id (on its node) */
    /* membership (member.c): the state under `lock`; the rest under the node lock */
    tr_member_state mstate;
    int mreason;
    uint64_t since_ms;         /* tr_now_ms of the last state change */
    uint32_t rtt_us;
    uint64_t last_ping_ms;
    bool hidden;               /* its handshake said hidden (a client) */
    uint64_t caps;             /* capability bits of its handshake (TR_HS_CAP_*) */
    bool left;                 /* it told us it leaves */
    const tr_conn *told_leave; /* we leave: the connection our LEAVE went on (tr_node_leave) */
    struct tr_peer *limbo_next; /* forgotten, out of the table, not freed yet (node->limbo) */
    uint32_t nurls;
    char urls[TR_MEMBER_URLS][TR_MEMBER_URL_MAX];
    uint64_t gossip_ver;       /* node->gossip_version when its entry last changed (node lock) */
    uint64_t gossip_sent;      /* node->gossip_version of the last list it was sent (node lock) */

    tr_conn *conn;             /* the session's connection, NULL when none */
    bool up;                   /* heard from recently */
    uint64_t last_rx_ms, last_tx_ms;
    tr_phi phi;                /* the spacing of its frames: is its silence usual? (heartbeat.c) */
    /* The batch: the frame being filled, packed into a buffer we own: a
     * 4-byte length, then the envelope array. */
    char *buf;
    size_t len, cap;           /* len 0: no batch */
    msgpack_packer pk;         /* packs into buf */
    uint32_t batch_count;
    size_t batch_marker;       /* offset of the envelope array's count */
    tr_frame_parts parts;      /* the batch's payloads not copied (TR_SG_MIN) */
    size_t parts_len;
    /* Frames closed (full, or a control frame) while another was in flight. */
    TR_DEQUE(tr_frame_out) ready;
    char *spare;               /* a batch buffer kept for reuse */
    size_t spare_cap;
    uint32_t pending;          /* envelopes in batch + ready + the frame being sent */
    size_t pending_bytes;      /* their bytes (TR_QUEUE_BYTES) */
    size_t batch_bytes;        /* the batch's share of them */
    bool sending;              /* a write on `conn` is in flight */
    uint32_t room_waiters;     /* outside threads in wait_room_locked */
    /* Node-down is seen by both sides (docs/wire.md): after we declare the
     * peer down we owe it a reset; until it acknowledges, its frames are
     * refused (messages counted as dead letters) and we send only RESETs. */
    bool reset_owed;
    uint64_t reset_id;         /* our last RESET's id (corr) */
    uint64_t reset_seen;       /* the last RESET id it sent us */
    tr_muteset muted;          /* actors muted on this peer's queue (actors/mute.h) */
} tr_peer;

/* A monitor of a remote actor held by a local watcher. */
typedef struct tr_rmon {
    struct tr_rmon *next;
    uint64_t id;
    tr_ref watcher, target;
    uint32_t peer;
} tr_rmon;

/* A local actor monitored on behalf of a remote watcher (via the agent). */
typedef struct tr_proxy_mon {
    struct tr_proxy_mon *next;
    uint64_t local_id;  /* our monitor id (agent watches target) */
    uint64_t remote_id; /* the watcher node's monitor id */
    uint64_t watcher;   /* watcher id on its node */
    uint64_t target;    /* local target id */
    uint32_t peer;
} tr_proxy_mon;

/* A subscriber to node events. */
typedef struct tr_node_sub {
    tr_ref actor;
    unsigned flags;
} tr_node_sub;

/* A member transition waiting to be dispatched (member.c). */
typedef struct tr_member_ev {
    struct tr_member_ev *next;
    tr_node_event ev;
    bool up;
} tr_member_ev;

/* An internal hook told of every member transition (member.c). */
typedef void (*tr_member_hook)(void *arg, struct tr_node *node, const tr_node_event *ev, bool up);

#define TR_MEMBER_HOOKS_MAX 8

typedef struct tr_member_hook_entry {
    tr_member_hook fn;
    void *arg;
} tr_member_hook_entry;

struct tr_node {
    tr_system *sys;
    char name[TR_WIRE_NAME_MAX + 1];
    char *cookie;
    size_t cookie_len;
    uint64_t incarnation;
    tr_node_opts opts;
    char *tls_cert, *tls_key, *tls_ca;
    nng_tls_config *tls; /* listeners' tls+tcp:// setup, NULL without certificates */

    pthread_mutex_t lock; /* peers table growth, conns, dials, listeners, monitors */
    pthread_cond_t cv;    /* connect waits; the service thread's sleep */
    uint32_t nlisten;
    tr_listener listeners[TR_NODE_MAX_LISTEN];
    tr_conn *conns;       /* every connection not yet freed */
    uint32_t handshakes;  /* connections in handshake */
    TR_VEC(tr_dial *) dials; /* every dial record (listen.c) */
    tr_peer *_Atomic peers[TR_NODE_MAX_PEERS + 1]; /* NULL: a free index (member.c) */
    _Atomic uint32_t peer_pins[TR_NODE_MAX_PEERS + 1]; /* threads holding peers[i] (tr_peer_pin) */
    _Atomic uint32_t npeers; /* the highest index handed out so far (node lock) */
    TR_DEQUE(uint32_t) free_slots; /* free indexes (their records freed), oldest first */
    tr_peer *limbo;         /* forgotten records still pinned or held by a connection */
    _Atomic bool leaving;   /* tr_node_leave: no new connection, no dial */

    /* node events (member.c): a FIFO dispatched by one thread at a time */
    pthread_mutex_t ev_lock; /* innermost: nothing else is taken under it */
    tr_member_ev *ev_head, *ev_tail;
    bool ev_draining;
    pthread_t ev_drainer;    /* the thread draining, while ev_draining */
    tr_node_sub *subs;
    uint32_t nsubs, subs_cap;
    tr_member_hook_entry hooks[TR_MEMBER_HOOKS_MAX];
    uint32_t nhooks;
    uint64_t next_gossip_ms; /* service thread */
    uint32_t gossip_rounds;  /* periodic exchanges so far (service thread) */
    uint64_t gossip_version; /* bumped whenever a gossiped entry changes (gossip.c; node lock) */
    uint32_t forgotten_since_trim; /* member.c (node lock) */
    tr_rmon *rmons;
    tr_proxy_mon *proxies;

    tr_ref agent;
    struct tr_pg *pg;           /* process groups (net/pg.c) */
    struct tr_seeds *seeds;     /* seeds thread, once a seed is added (net/seeds.c; node lock) */
    pthread_t service;          /* heartbeat.c */
    bool service_wake;
    _Atomic bool stopping;
    _Atomic bool detached; /* tr_node_stop detached it: no worker can reach a connection */

    _Atomic uint64_t frames_out, frames_in, envelopes_out, envelopes_in, bytes_out, bytes_in;
    _Atomic uint64_t bad_frames, refused, node_downs, queue_full, not_connected;
    _Atomic uint64_t handshake_failures, dials_made;
    _Atomic uint64_t watched_reads; /* reads a watching worker took (conn.c, tr_conn_poll) */
    tr_log_limiter log_hostile, log_peers; /* log.c */
};

/* ---- conn.c ---- */
/* A connection over `stream` (taken), initiator (for dial record `dial`,
 * whose conn it becomes) or acceptor; starts its handshake. Returns false
 * (stream closed) when out of memory or over the handshake cap. The
 * connection may be gone by the time it returns. Node lock NOT held. */
bool tr_conn_start(struct tr_node *node, nng_stream *stream, bool initiator, tr_dial *dial);
/* Writes frame f (TR_FRAME_PREFIX length bytes included, filled here) on
 * a connection with no write in flight; completion calls tr_peer_written
 * (once up) or the handshake. f->buf stays untouched until then. */
void tr_conn_write(tr_conn *c, tr_frame_out f);
/* As tr_conn_write, but written from the calling thread as far as the
 * socket takes it at once (tcp and ipc streams write before they return):
 * true when all of f is written, with no completion callback (no hop to
 * an NNG thread; c->tx is free again). false: the rest is under way as
 * with tr_conn_write (a full socket buffer, an error, a TLS stream). */
bool tr_conn_write_now(tr_conn *c, tr_frame_out f);
/* Closes the connection (any thread; idempotent): I/O stops, the session
 * on it ends, the service thread frees it. reason: for the log and dial. */
void tr_conn_close(tr_conn *c, int reason);
/* Node lock held: as tr_conn_close. */
/* Ends c's handshake phase (it no longer counts against the node's cap on
 * connections in handshake) and hands its dial record, if any, back with
 * `result` (TR_OK: the session is up). Idempotent. Under the node lock. */
void tr_conn_handshake_over_locked(tr_conn *c, int result);
void tr_conn_close_locked(tr_conn *c, int reason);
/* Service thread: frees closed connections; closes handshakes past their deadline. */
void tr_conn_reap(struct tr_node *node, uint64_t now);
/* Arms the next read (after a stall or the handshake). */
void tr_conn_read(tr_conn *c);
/* Watching (conn.c): worker `token` reads peer `peer`'s connection itself
 * while it waits for an answer (the tr_remote_ops watch, poll, unwatch).
 * tr_conn_watch returns the connection, held (not freed) until
 * tr_conn_unwatch or a tr_conn_poll that returns -1, or NULL when it
 * cannot be watched (no tcp/ipc connection up, or watched by another).
 * tr_conn_poll: 1 when it read and delivered, 0 nothing yet, -1 the watch
 * is over (closed, or taken back): c is no longer held. */
tr_conn *tr_conn_watch(struct tr_node *node, uint32_t peer, const void *token);
int tr_conn_poll(tr_conn *c, const void *token);
void tr_conn_unwatch(tr_conn *c, const void *token);
/* Service thread, every tick: takes the read back from a watcher that has
 * not polled since the last tick (it runs a long turn), so that the
 * connection is read meanwhile. */
void tr_conn_watch_tick(struct tr_node *node);
/* Puts a big-endian 32-bit length at p. */
void tr_put_len(uint8_t *p, uint32_t len);

/* ---- handshake.c ---- */
/* Starts the handshake: the initiator sends HELLO, the acceptor waits. */
void tr_hs_begin(tr_conn *c);
/* One handshake frame arrived. Returns false when the connection closed. */
bool tr_hs_on_frame(tr_conn *c, const uint8_t *data, size_t len);
/* A handshake write completed (rv: NNG result). */
void tr_hs_on_written(tr_conn *c, int rv);
/* Sends REFUSE(reason) and closes once it is written (node lock held). */
void tr_hs_refuse_locked(tr_conn *c, int reason);

/* ---- listen.c ---- */
int tr_listen_start(struct tr_node *node, const char *url, char *bound, size_t len);
void tr_listen_stop_all(struct tr_node *node);
/* Finds or makes the dial record of url (node lock held). NULL: full or bad URL (*rc). */
tr_dial *tr_dial_get_locked(struct tr_node *node, const char *url, int *rc);
/* The dial record of url, or NULL (node lock held). */
tr_dial *tr_dial_find_locked(struct tr_node *node, const char *url);
/* True while a record for a member nobody asked for (a down mesh member)
 * can be made without reusing one someone may need (node lock held). */
bool tr_dial_room_locked(struct tr_node *node);
/* Records of peer `name` nobody waits on are not redialled any more: it
 * left or was forgotten (node lock held). */
void tr_dial_forget_peer_locked(struct tr_node *node, const char *name);
/* Starts a dial attempt now unless one is in progress (node lock held). */
void tr_dial_start_locked(struct tr_node *node, tr_dial *d);
/* The handshake of d's connection ended: result TR_OK, a refusal, or
 * -1 (retry later) (node lock held). */
void tr_dial_done_locked(struct tr_node *node, tr_dial *d, tr_conn *c, int result);
/* Service thread: redials records whose peer is not up (node lock held). */
void tr_dial_tick_locked(struct tr_node *node, uint64_t now);
/* Closes every dial record; their dialers are freed a little later. */
void tr_dial_stop_all(struct tr_node *node);
/* Frees the records (tr_node_stop, once no connection can use one). */
void tr_dial_free_all(struct tr_node *node);
/* Frees the dialers closed long enough ago (any thread, no lock held). */
void tr_dial_sweep_graveyard(void);
/* Sets up a dialer or listener for `url` with the node's TLS configuration. */
int tr_tls_apply_dialer(struct tr_node *node, nng_stream_dialer *d, const char *url);
int tr_tls_apply_listener(struct tr_node *node, nng_stream_listener *l, const char *url);

/* ---- session.c ---- */
/* The record at index, pinned: not freed before tr_peer_unpin (any
 * thread, no lock needed). NULL: no member there (never was, forgotten).
 * An index is handed out again only after every other one has been
 * (member.c), so a reference to a forgotten node gets NULL here. */
tr_peer *tr_peer_pin(struct tr_node *node, uint32_t index);
/* Pins p, which the caller holds under the node lock, to use it after. */
void tr_peer_pin_locked(tr_peer *p);
/* Releases a pin of p. */
void tr_peer_unpin(tr_peer *p);
/* The member of that name, current incarnation, pinned (tr_peer_unpin),
 * or NULL. */
tr_peer *tr_node_peer_by_name(struct tr_node *node, const char *name, size_t len);
/* The member of that name, current incarnation (node lock held), or NULL. */
tr_peer *tr_node_peer_by_name_locked(struct tr_node *node, const char *name, size_t len);
/* May the authenticated-to-be connection c (peer name and incarnation set)
 * carry a session? TR_OK, TR_EEXIST (another connection to that node wins
 * or is up), TR_ENAMETAKEN (the name is up under another incarnation, or
 * ours). May close another connection that loses (node lock held). */
int tr_session_admit_locked(struct tr_node *node, tr_conn *c);
/* c authenticated: its peer is up on it; `first` (the acceptor's ACCEPT,
 * or NULL) is the first frame written (node lock held). false: c was not
 * taken (nothing written) because the peer's session is up on another
 * connection again; the caller refuses or closes c with TR_EEXIST. */
bool tr_session_up_locked(struct tr_node *node, tr_conn *c, const tr_frame_out *first);
/* c closed while carrying the session of its peer: the peer is down. */
void tr_session_conn_lost(struct tr_node *node, tr_conn *c);
/* Marks a peer down for `reason` (tr_node_event.reason); owe_reset: tell
 * the peer (docs/wire.md). Dispatches the node event. No lock held. */
void tr_peer_down(struct tr_node *node, tr_peer *p, bool owe_reset, int reason);
/* A RESET or RESET_ACK envelope arrived from p. */
void tr_session_on_control(struct tr_node *node, tr_peer *p, const tr_envelope *e);
/* True when the peer refuses p's data frames (a reset owed). */
bool tr_session_refusing(tr_peer *p);

/* ---- member.c: membership view, node events, forgetting ---- */
/* Sets p's member state (p->lock held). A change between up and not up
 * queues one node event; call tr_member_dispatch once no lock is held. */
void tr_member_set_locked(tr_peer *p, tr_member_state state, int reason);
/* Delivers queued node events, in order, to subscribers and hooks. Any
 * thread, no lock held; returns at once if another thread is doing it. */
void tr_member_dispatch(struct tr_node *node);
/* Registers an internal hook told of every member transition (hidden
 * nodes included), in order, exactly once each, with no lock held, on the
 * thread that dispatches (an NNG callback, the service thread or a caller
 * of the public API); it must not block. For other net/ code (process
 * groups): register right after tr_node_start, before connecting.
 * Returns TR_OK, TR_EINVAL or TR_ETOOBIG (TR_MEMBER_HOOKS_MAX). */
int tr_member_hook_add(struct tr_node *node, tr_member_hook fn, void *arg);
/* Removes a hook (no call of it is running or will start once it returns). */
void tr_member_hook_remove(struct tr_node *node, tr_member_hook fn, void *arg);
/* A LEAVE envelope from p: it is LEFT, not redialled. */
void tr_member_on_leave(struct tr_node *node, tr_peer *p);
/* A record for a new peer (name, incarnation 0 if not known yet) at an
 * index never handed out, or once all 4095 have been, the one free longest;
 * NULL when out of memory or when every index holds a member that is up or
 * still held (node lock held). */
tr_peer *tr_member_new_peer_locked(struct tr_node *node, const char *name, uint64_t incarnation);
/* Service thread: forgets members left or down longer than forget_after_ms,
 * makes sure down server members with URLs are redialled (node lock held). */
void tr_member_tick_locked(struct tr_node *node, uint64_t now);
/* Sends a PING (p->lock held): its PONG gives rtt_us. */
void tr_member_ping_locked(tr_peer *p);
/* A PING (answered) or PONG (a round trip) from p. */
void tr_member_on_ping(struct tr_node *node, tr_peer *p, const tr_envelope *e);
/* Frees the event queue, subscriber list and forgotten records not freed
 * yet (tr_node_stop, once no other thread runs). */
void tr_member_free(struct tr_node *node);

/* ---- gossip.c: member lists between server nodes ---- */
/* Sends this node's member list to p: the full one, or (full false) the
 * entries that changed since p's last list (nothing when none did). No
 * lock held. */
void tr_gossip_send(struct tr_node *node, tr_peer *p, bool full);
/* Makes sure member p (a server node with URLs, not up) is dialled: its
 * first URL's dial record exists; fresh (news from gossip): dial now,
 * from the first backoff step (node lock held). */
void tr_gossip_dial_locked(struct tr_node *node, tr_peer *p, bool fresh);
/* Service thread: the periodic exchange with one random server peer. */
void tr_gossip_tick(struct tr_node *node, uint64_t now);
/* Server peer p came up: every server peer up (p included) gets our
 * list. Nothing for a hidden peer. No lock held. */
void tr_gossip_peer_up(struct tr_node *node, tr_peer *p);
/* A GOSSIP envelope from p: dials the server members it names that are
 * not up here. No lock held. */
void tr_gossip_on(struct tr_node *node, tr_peer *p, const tr_envelope *e);
/* True when p takes part in the mesh (a server node speaking gossip). */
bool tr_gossip_peer(const tr_peer *p);

/* ---- inbound.c ---- */
/* One data frame from c's peer. Returns false when delivery stalled on a
 * full mailbox (call again with the same frame later). */
bool tr_inbound_frame(tr_conn *c, const uint8_t *data, size_t len);

/* ---- peer.c: the per-peer send side ---- */
int tr_peer_create(struct tr_node *node, const char *name, uint64_t incarnation, tr_peer **out);
void tr_peer_destroy(tr_peer *p);
/* Queues one envelope (lock not held). Applies the node's overflow policy
 * unless forced. sender: the running actor or NULL. n: the message node
 * e's payload comes from, or NULL: a payload of TR_SG_MIN bytes or more
 * that n owns is taken from it (tr_msg_take) and written from there. */
int tr_peer_enqueue(tr_peer *p, struct tr_actor *sender, const tr_envelope *e, bool forced,
                    int timeout_ms, tr_mnode *n);
/* Queues a frame holding only `e` (RESET, RESET_ACK) or, e NULL, a
 * heartbeat when nothing else is queued (lock held). */
void tr_peer_control_locked(tr_peer *p, const tr_envelope *e);
/* Puts frame f first in the queue of frames to write (lock held). */
void tr_peer_push_front_locked(tr_peer *p, tr_frame_out f);
/* Writes the queued frames while nothing is in flight: those the socket
 * takes at once here, the next one under way (lock held). */
void tr_peer_flush_locked(tr_peer *p);
/* tr_peer_flush_locked with the lock taken, then releases the senders
 * muted on the queue if it drained (lock not held). */
void tr_peer_flush(tr_peer *p);
/* True when nothing is queued or in flight (lock held). */
bool tr_peer_idle_locked(const tr_peer *p);
/* Drops queued envelopes as dead letters (lock held). */
void tr_peer_drop_queue_locked(tr_peer *p, int reason);
/* Unmutes every actor muted on the queue and wakes waiting posters (lock
 * NOT held; takes it). */
void tr_peer_release_muted(tr_peer *p);
/* The write of c's current frame completed with NNG result rv. */
void tr_peer_written(tr_peer *p, tr_conn *c, int rv);

/* ---- monitors.c: monitors across nodes and the node agent ---- */
void tr_node_monitor(void *node, tr_ref watcher, tr_ref target, uint64_t id);
int tr_node_demonitor(void *node, tr_ref target, uint64_t id);
void tr_node_on_monitor(struct tr_node *node, tr_peer *p, const tr_envelope *e);
void tr_node_on_demonitor(struct tr_node *node, tr_peer *p, const tr_envelope *e);
void tr_node_on_down(struct tr_node *node, tr_peer *p, const tr_envelope *e);
/* Peer went down: its monitors fire TR_ENODEDOWN, its proxies are dropped. */
void tr_node_peer_down_monitors(struct tr_node *node, uint32_t peer);
int tr_node_agent_start(struct tr_node *node);

/* ---- hooks.c ---- */
extern const tr_remote_ops tr_node_ops;

/* ---- heartbeat.c ---- */
int tr_service_start(struct tr_node *node);
void tr_service_stop(struct tr_node *node);
/* p's phi at now (p->lock held): how unusual its silence is, judged with
 * the node's heartbeat and acceptable pause (phi.h); 0 when p is not up. */
double tr_peer_phi_locked(const tr_peer *p, uint64_t now);
/* Wakes the service thread (node lock held). */
void tr_service_wake_locked(struct tr_node *node);

/* ---- seeds.c ---- */
/* Stops the seeds thread and frees it; never waits for DNS (a thread in
 * getaddrinfo is detached and frees what it holds when that returns). */
void tr_seeds_stop(struct tr_node *node);

/* ---- tls.c ---- */
int tr_tls_setup(struct tr_node *node);
void tr_tls_free(struct tr_node *node);

/* ---- log.c ---- */
/* A warning caused by what a connection sent (refusal, failed handshake,
 * bad frame), rate-limited per node (burst 5, then 1 a second). */
void tr_net_log(struct tr_node *node, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A line about a peer (up, down, our connect refused), rate-limited per
 * node apart from the above (burst 20, then 5 a second). */
void tr_net_log_peer(struct tr_node *node, tr_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
