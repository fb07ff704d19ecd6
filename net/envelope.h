/* The wire format: one NNG message ("frame") = a msgpack header followed by
 * a msgpack array of envelopes. Byte layout and rules: docs/wire.md.
 *
 * Encoding packs into any msgpack_packer. Decoding never trusts its input:
 * every length, type and count is checked, decoded strings and payloads
 * point into the frame (no copies), and any violation gives TR_EPROTO. */
#ifndef TROUPE_NET_ENVELOPE_H
#define TROUPE_NET_ENVELOPE_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TR_WIRE_VERSION 1
#define TR_WIRE_NAME_MAX 63   /* node and actor names, bytes */
#define TR_WIRE_URLS_MAX 8    /* advertised listen URLs per header */
#define TR_WIRE_URL_MAX 255

/* Envelope kinds. */
enum tr_env_kind {
    TR_ENV_SEND = 0,      /* a message to an actor (the receiver's bound applies) */
    TR_ENV_FORCED = 1,    /* a message past the bound: replies, ask timeouts */
    TR_ENV_MONITOR = 2,   /* src (a watcher) monitors dst; corr = monitor id */
    TR_ENV_DEMONITOR = 3, /* remove monitor corr of dst */
    TR_ENV_DOWN = 4,      /* monitor corr fired: src ended with reason `value` */
    TR_ENV_REFUSE = 5,    /* your frames were refused: value = TR_EREFUSED/TR_EPROTO */
    TR_ENV_RESET = 6,     /* I declared you down: end the session; corr = reset id */
    TR_ENV_RESET_ACK = 7, /* your reset corr is done on my side: a new session starts */
    TR_ENV_KIND_MAX = 7
};

typedef struct tr_wire_str {
    const char *ptr; /* points into the frame; NOT NUL-terminated */
    uint32_t len;
} tr_wire_str;

/* Frame header: who sends, with what cookie, reachable where. */
typedef struct tr_frame_header {
    uint32_t version;
    tr_wire_str node;       /* sender's node name */
    uint64_t incarnation;   /* random per node start: a restart is a new node */
    uint64_t cookie_digest; /* FNV-1a 64 of the shared cookie */
    uint64_t agent;         /* actor id of the sender's node agent */
    uint64_t dial_nonce;    /* id of the sender's outgoing stream carrying this frame */
    uint64_t echo_nonce;    /* the last dial_nonce the sender received from us (0 none) */
    uint32_t nurls;
    tr_wire_str urls[TR_WIRE_URLS_MAX]; /* where the sender listens */
} tr_frame_header;

/* One envelope. dst is an actor id (dst_name.len == 0) or a name. */
typedef struct tr_envelope {
    uint32_t kind;
    uint64_t dst;
    tr_wire_str dst_name;
    uint64_t src;       /* sending actor's id on the sender's node, 0 = none */
    int64_t value;      /* message type tag, or DOWN/REFUSE reason */
    uint64_t corr;      /* ask correlation / monitor id */
    const void *payload;
    uint32_t size;
} tr_envelope;

/* Packs a header. Returns TR_OK or TR_ENOMEM. */
int tr_wire_pack_header(msgpack_packer *pk, const tr_frame_header *h);

/* Packs an envelope. Returns TR_OK or TR_ENOMEM. */
int tr_wire_pack_envelope(msgpack_packer *pk, const tr_envelope *e);

/* Starts the envelope array of a frame: writes an array32 marker whose
 * count tr_wire_patch_count fills in once the batch is complete. */
int tr_wire_begin_envelopes(msgpack_packer *pk);
/* Writes `count` into the array32 marker at `marker` (5 bytes). */
void tr_wire_patch_count(void *marker, uint32_t count);

/* Frame decoding state: the header's msgpack-c objects, and a zone reused
 * for one envelope at a time (envelopes are decoded one by one, so a frame
 * of thousands costs no allocation per envelope). */
typedef struct tr_frame_reader {
    msgpack_unpacked header;
    msgpack_zone zone;
    bool zone_ok;
    const char *data;
    size_t size, off; /* the next envelope starts at data + off */
    uint32_t next, count;
} tr_frame_reader;

void tr_frame_reader_init(tr_frame_reader *r);
void tr_frame_reader_destroy(tr_frame_reader *r);

/* Reads the header and the envelope array of data[0..size). Returns TR_OK
 * or TR_EPROTO (malformed, truncated, trailing bytes); h->version is set as
 * soon as it is known, so callers can tell a wrong version from garbage. */
int tr_frame_open(tr_frame_reader *r, const void *data, size_t size, tr_frame_header *h);

/* Reads the next envelope. Returns TR_OK, TR_ENOTFOUND when there are no
 * more, or TR_EPROTO. */
int tr_frame_next(tr_frame_reader *r, tr_envelope *e);

/* FNV-1a 64-bit digest (cookies). */
uint64_t tr_wire_digest(const char *s);

#endif
