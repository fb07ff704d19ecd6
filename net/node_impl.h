/* Internal structure of a node and its peers (net/). */
#ifndef TROUPE_NET_NODE_IMPL_H
#define TROUPE_NET_NODE_IMPL_H

#include <msgpack.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/supplemental/util/platform.h>
#include <nng/supplemental/tls/tls.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "actors/system_impl.h"
#include "net/envelope.h"
#include "troupe/node.h"

#define TR_NODE_MAX_PEERS 4095 /* node part of a tr_ref is 12 bits; 0 is local */
#define TR_NODE_MAX_LISTEN TR_WIRE_URLS_MAX
#define TR_NODE_MAX_DIALS 64
/* The actor part of a tr_ref (what travels on the wire: ids are local to
 * the node they live on). */
#define REF_LOCAL_MASK ((1ull << TR_REF_NODE_SHIFT) - 1)
#define TR_BATCH_BYTES (64u * 1024u) /* a frame is closed once it grows past this (below glibc's mmap threshold: no page-fault churn per frame) */

/* One outgoing push stream (NNG socket + dialer). */
typedef struct tr_stream {
    nng_socket sock;
    nng_dialer dialer;
    bool open;
    uint64_t nonce; /* our dial_nonce on it */
    char url[TR_WIRE_URL_MAX + 1];
} tr_stream;

/* A connect in progress: a stream to a URL whose peer we do not know yet. */
typedef struct tr_dial {
    tr_stream stream;
    uint32_t peer;  /* peer index once the peer echoed our nonce, else 0 */
    int result;     /* TR_OK when adopted, TR_EREFUSED, or -1 while pending */
    bool in_use;
    uint64_t next_hello_ms;
} tr_dial;

typedef struct tr_peer {
    struct tr_node *node;
    uint32_t index;
    char name[TR_WIRE_NAME_MAX + 1];
    uint64_t incarnation;
    uint64_t agent;      /* its agent's actor id (on its node) */
    uint64_t their_nonce; /* last dial_nonce we received from it: echoed back */
    atomic_bool retired; /* an older incarnation: never used again. Set once under
                          * the node lock, read under the peer lock: atomic */

    pthread_mutex_t lock;
    pthread_cond_t room_cv;    /* outside senders waiting for queue room */
    tr_stream out;             /* our stream to it (out.open once we have one) */
    bool up;                   /* heard from recently */
    uint64_t last_rx_ms, last_tx_ms;
    /* The batch: the frame being filled, packed into a buffer we own and
     * keep (it only grows); copied into an nng_msg when it is sent. */
    char *buf;
    size_t len, cap;           /* len 0: no batch */
    msgpack_packer pk;         /* packs into buf */
    uint32_t batch_count;
    size_t batch_marker;       /* offset of the envelope array's count */
    /* Frames closed (full) while another was in flight, sent in order. */
    struct tr_frame_out { nng_msg *m; uint32_t count; } *ready;
    uint32_t ready_head, nready, ready_cap;
    uint32_t pending;          /* envelopes in batch + ready + the frame being sent */
    uint32_t inflight;         /* envelopes in the frame being sent */
    bool sending;
    nng_aio *send_aio;
    uint32_t room_waiters;     /* outside threads in wait_room_locked */
    /* Node-down is seen by both sides (docs/wire.md): after we declare the
     * peer down we owe it a reset; until it acknowledges, its frames are
     * refused (messages counted as dead letters) and we send only RESETs. */
    bool reset_owed;
    uint64_t reset_id;         /* our last RESET's id (corr) */
    uint64_t reset_seen;       /* the last RESET id it sent us */
    tr_ref *muted;             /* actors muted on this peer's queue */
    uint32_t nmuted, muted_cap;
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

struct tr_node {
    tr_system *sys;
    char name[TR_WIRE_NAME_MAX + 1];
    uint64_t cookie_digest;
    uint64_t incarnation;
    tr_node_opts opts;
    char *cookie, *tls_cert, *tls_key, *tls_ca;

    nng_socket in; /* pull: every peer's stream ends here */
    nng_tls_config *tls;        /* listeners' tls+tcp:// setup, NULL without certificates */
    nng_tls_config *tls_client; /* dialers' */
    uint32_t nlisten;
    char listen_urls[TR_NODE_MAX_LISTEN][TR_WIRE_URL_MAX + 1];

    pthread_mutex_t lock; /* peers table growth, dials, monitors */
    pthread_cond_t cv;    /* connect waits */
    tr_peer *_Atomic peers[TR_NODE_MAX_PEERS + 1];
    uint32_t npeers;
    tr_dial dials[TR_NODE_MAX_DIALS];
    tr_rmon *rmons;
    tr_proxy_mon *proxies;

    tr_ref agent;
    pthread_t rx_thread;
    nng_aio *rx_aio;            /* rx_thread's receive */
    nng_aio *tick_aio;
    _Atomic bool stopping;
    _Atomic bool rx_stalled;

    _Atomic uint64_t frames_out, frames_in, envelopes_out, envelopes_in, bytes_out, bytes_in;
    _Atomic uint64_t bad_frames, refused, node_downs, queue_full, not_connected;
};

/* peer.c: the per-peer send side. */
int tr_peer_create(struct tr_node *node, const tr_wire_str *name, uint64_t incarnation,
                   tr_peer **out);
void tr_peer_destroy(tr_peer *p);
/* Queues one envelope (lock not held). Applies the node's overflow policy
 * unless forced. sender: the running actor or NULL. */
int tr_peer_enqueue(tr_peer *p, struct tr_actor *sender, const tr_envelope *e, bool forced,
                    int timeout_ms);
/* Starts sending the next frame if nothing is in flight (lock held). */
void tr_peer_flush_locked(tr_peer *p);
/* True when nothing is queued or in flight (lock held). */
bool tr_peer_idle_locked(const tr_peer *p);
/* Marks the peer down: drops queued envelopes as dead letters (lock held). */
void tr_peer_drop_queue_locked(tr_peer *p, int reason);
/* Unmutes every actor muted on the queue and wakes waiting posters (lock
 * NOT held; takes it). */
void tr_peer_release_muted(tr_peer *p);
/* Opens `s` as a push stream dialling s->url (with the node's TLS setup). */
int tr_stream_open(struct tr_node *node, tr_stream *s);
void tr_stream_close(tr_stream *s);
/* True when a tls+tcp:// stream's dialer has failed a TLS handshake
 * (certificate not trusted, or ours refused): redialling cannot help.
 * (stream_auth.c) */
bool tr_stream_auth_failed(const tr_stream *s);
/* Sends one frame on `s` with only a header (a hello / heartbeat) without
 * waiting (dropped if the stream is busy). */
void tr_stream_hello(struct tr_node *node, tr_stream *s, uint64_t echo);
/* Like tr_stream_hello, with one control envelope (RESET, RESET_ACK). */
void tr_stream_control(struct tr_node *node, tr_stream *s, uint64_t echo, const tr_envelope *e);
/* Fills the header every frame from this node carries. */
void tr_node_header(struct tr_node *node, uint64_t dial_nonce, uint64_t echo, tr_frame_header *h);

/* monitors.c: monitors across nodes and the node agent. */
void tr_node_monitor(void *node, tr_ref watcher, tr_ref target, uint64_t id);
int tr_node_demonitor(void *node, tr_ref target, uint64_t id);
void tr_node_on_monitor(struct tr_node *node, tr_peer *p, const tr_envelope *e);
void tr_node_on_demonitor(struct tr_node *node, tr_peer *p, const tr_envelope *e);
void tr_node_on_down(struct tr_node *node, tr_peer *p, const tr_envelope *e);
/* Peer went down: its monitors fire TR_ENODEDOWN, its proxies are dropped. */
void tr_node_peer_down_monitors(struct tr_node *node, uint32_t peer);
int tr_node_agent_start(struct tr_node *node);

/* node.c helpers */
tr_peer *tr_node_peer(struct tr_node *node, uint32_t index);
tr_peer *tr_node_peer_by_name(struct tr_node *node, const char *name, size_t len);

#endif
