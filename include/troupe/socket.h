/* Socket actors: an actor that owns a byte-stream connection (TCP, IPC,
 * TLS over TCP, WebSocket, WebSocket over TLS) through NNG's stream API,
 * as Erlang's gen_tcp in active mode or CAF's brokers.
 *
 * A listener actor (tr_listen, or tr_listener_behaviour in a supervisor's
 * child spec) accepts connections and spawns one actor per connection as
 * its child; tr_connect dials one. A connection actor runs
 * your behaviour: init receives the connection (tr_sock *) as its arg,
 * received bytes arrive as TR_MSG_SOCK_DATA messages (one per frame, see
 * tr_framing), and the end of the connection (the peer hung up, an error,
 * a frame too large) as one TR_MSG_SOCK_CLOSED, after which the actor
 * stops normally. tr_sock_send writes.
 *
 * Backpressure runs end to end. Reading: one read is in flight at a time;
 * the next is issued when the actor starts handling the last one's frames
 * (into a second buffer: one read ahead), and not while its mailbox is more
 * than half full or it is muted: a busy or full connection actor stops
 * reading, the kernel's buffers fill, and TCP holds the peer back. Writing: bytes queue in the connection; once
 * write_high bytes wait for a slow peer, the actor is muted (not scheduled,
 * like a sender to a full mailbox; so it stops reading too, and actors
 * sending to it are muted in turn when its mailbox fills) until the queue
 * drains to write_low. A message's writes go out together once the actor
 * has handled it. Memory per connection is thereby bounded by the two read
 * buffers, max_frame and write_high (plus a turn's worth of writes).
 *
 * Everything received is untrusted: a frame above max_frame closes the
 * connection with TR_ETOOBIG before it is buffered. */
#ifndef TROUPE_SOCKET_H
#define TROUPE_SOCKET_H

#include "troupe/actor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How received bytes are cut into TR_MSG_SOCK_DATA messages, and what
 * tr_sock_send adds. */
typedef enum tr_framing {
    TR_FRAMING_RAW = 0,    /* each read's bytes as they come; sends as given */
    TR_FRAMING_LINE = 1,   /* one message per '\n'-ended line, without the '\n' (a '\r'
                            * before it is kept); tr_sock_send appends '\n' */
    TR_FRAMING_LENGTH = 2  /* a 4-byte big-endian length, then that many bytes;
                            * tr_sock_send prepends the length */
} tr_framing;

/* Messages to a connection actor. */
#define TR_MSG_SOCK_DATA (TR_MSG_SERVICE + 0x300u)   /* data: one frame's bytes */
#define TR_MSG_SOCK_CLOSED (TR_MSG_SERVICE + 0x301u) /* data: tr_sock_closed */

typedef struct tr_sock_closed {
    /* TR_OK: the peer hung up (end of stream); TR_ETOOBIG: a frame exceeded
     * max_frame; TR_ESHUTDOWN: tr_sock_close; TR_EREFUSED / TR_EADDR: a dial
     * failed; TR_ETLS: the TLS handshake failed (one side did not trust the
     * other's certificate); TR_EPROTO: any other transport error (see
     * nng_error). */
    int reason;
    int nng_error; /* NNG's error code, 0 when none */
} tr_sock_closed;

/* TLS settings for tls+tcp:// and wss:// URLs: PEM files, read when the
 * listener binds or tr_connect is called (NNG's TLS engine: mbedTLS). */
typedef struct tr_tls_opts {
    const char *cert_file;   /* own certificate (with its key unless key_file): a
                              * listener needs one; a dialer only to show one */
    const char *key_file;    /* its private key; NULL: in cert_file */
    const char *ca_file;     /* the CA the peer's certificate must chain to. A dialer
                              * needs it (the server is always verified); given to a
                              * listener, clients must show a certificate (mutual TLS) */
    const char *server_name; /* dialer: the name the server's certificate must carry;
                              * NULL: the URL's host */
} tr_tls_opts;

/* Per-connection options. Zero-initialise and set what you need. */
typedef struct tr_sock_opts {
    tr_framing framing;
    uint32_t max_frame;   /* longest frame or line accepted; 0 = 64 KiB */
    uint32_t read_buffer; /* bytes asked per read (two such buffers); 0 = 16 KiB */
    uint32_t write_high;  /* queued write bytes that mute the actor; 0 = 256 KiB */
    uint32_t write_low;   /* ... until drained to this; 0 = write_high / 4 */
    const tr_tls_opts *tls; /* tr_connect to a tls+tcp:// or wss:// URL (required there,
                             * refused elsewhere); a listener's is tr_listener_config.tls */
} tr_sock_opts;

/* A connection, owned by its actor; valid until that actor's terminate
 * returns. Only its actor may call the functions below. */
typedef struct tr_sock tr_sock;

typedef struct tr_listener_config {
    const char *url;             /* "tcp://127.0.0.1:7000" (port 0: any), "ipc:///tmp/x", "ws://...",
                                  * "tls+tcp://...", "wss://..." */
    const tr_behaviour *conn;    /* each connection's actor runs this */
    void *conn_arg;              /* tr_sock_arg() of every connection */
    tr_sock_opts sock;
    tr_spawn_opts conn_opts;     /* spawn options of connection actors (parent is ignored) */
    uint32_t max_connections;    /* beyond it, new connections are closed at once; 0 = 1024 */
    const tr_tls_opts *tls;      /* for tls+tcp:// and wss:// (required there, refused
                                  * elsewhere); read at each bind, not kept */
} tr_listener_config;

/* Starts listening on cfg->url (cfg is copied; the url too) and spawns the
 * listener actor (with `opts`, may be NULL). Each accepted connection gets
 * an actor running cfg->conn, a child of the listener: a connection that
 * fails or ends is not restarted (a TCP connection cannot be), and stopping
 * the listener closes every connection. Writes the listener's reference to
 * *out and, for tcp, the bound port to *port (may be NULL). Returns TR_OK,
 * TR_EINVAL (also: a TLS URL without cfg->tls, TLS settings on another URL,
 * or cfg->sock.tls set), TR_EADDR (bad URL or address in use), TR_ETLS (a
 * certificate, key or CA file missing or invalid), TR_ENOMEM, or a spawn
 * error. */
TR_API int tr_listen(tr_system *sys, const tr_listener_config *cfg, const tr_spawn_opts *opts,
                     tr_ref *out, int *port);

/* The listener as a behaviour, to put it in a supervision tree: its spawn
 * arg (a child spec's arg) is a tr_listener_config that must outlive the
 * actor; its init binds cfg->url, so a restart binds again (a bind failure
 * fails the actor with tr_listen's error, e.g. TR_EADDR). Connections are its children, as with
 * tr_listen. */
TR_API extern const tr_behaviour tr_listener_behaviour;

/* From an outside thread: the TCP port a listener is bound to (0 when not
 * tcp), e.g. after a supervisor restarted one on port 0. Returns as
 * tr_ask_wait. */
TR_API int tr_listener_port(tr_system *sys, tr_ref listener, int timeout_ms, int *port);

/* Spawns an actor running `beh` (init's arg is its tr_sock; `arg` is its
 * tr_sock_arg) on a connection dialled to `url`. The actor starts at once;
 * what it sends before the dial completes is queued; a failed dial arrives
 * as TR_MSG_SOCK_CLOSED, as does a failed TLS handshake (TR_ETLS). Returns
 * as tr_spawn, or TR_EADDR for a bad URL, TR_EINVAL for a TLS URL without
 * sock->tls or its ca_file (or TLS settings on another URL), TR_ETLS for a
 * certificate, key or CA file missing or invalid. */
TR_API int tr_connect(tr_system *sys, const char *url, const tr_behaviour *beh, void *arg,
                      const tr_sock_opts *sock, const tr_spawn_opts *opts, tr_ref *out);

/* Queues data[0..size) for writing, with the framing's header or '\n'.
 * Never blocks: past write_high queued bytes the actor is muted after this
 * callback (see above). Returns TR_OK, TR_EINVAL, TR_ENOMEM, TR_ETOOBIG
 * (size above max_frame with a framing), TR_EFULL (queued bytes would pass
 * 4 * write_high: the actor could not be muted, e.g. its own mailbox is
 * full), or TR_ENOTCONN once the connection is closed or failed. */
TR_API int tr_sock_send(tr_sock *s, const void *data, size_t size);

/* Closes the connection: queued writes are dropped, the actor receives
 * TR_MSG_SOCK_CLOSED (TR_ESHUTDOWN) and stops. */
TR_API void tr_sock_close(tr_sock *s);

/* The arg given to tr_listen (conn_arg) or tr_connect. */
TR_API void *tr_sock_arg(const tr_sock *s);

/* Bytes queued for writing and not yet written. */
TR_API size_t tr_sock_queued(const tr_sock *s);

#ifdef __cplusplus
}
#endif
#endif
