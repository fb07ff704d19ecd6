/* The wire format after the handshake: one frame (a length-prefixed record
 * on the connection, net/conn.c) = one msgpack array of envelopes. Byte
 * layout and rules: docs/wire.md.
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

#define TR_WIRE_VERSION 2
#define TR_WIRE_NAME_MAX 63   /* node and actor names, bytes */
#define TR_WIRE_URLS_MAX 8    /* listen URLs per node */
#define TR_WIRE_URL_MAX 255

/* Envelope kinds. */
enum tr_env_kind {
    TR_ENV_SEND = 0,      /* a message to an actor (the receiver's bound applies) */
    TR_ENV_FORCED = 1,    /* a message past the bound: replies, ask timeouts */
    TR_ENV_MONITOR = 2,   /* src (a watcher) monitors dst; corr = monitor id */
    TR_ENV_DEMONITOR = 3, /* remove monitor corr of dst */
    TR_ENV_DOWN = 4,      /* monitor corr fired: src ended with reason `value` */
    TR_ENV_REFUSE = 5,    /* unused since version 2 (refusals are handshake messages) */
    TR_ENV_RESET = 6,     /* I declared you down: end the session; corr = reset id */
    TR_ENV_RESET_ACK = 7, /* your reset corr is done on my side: a new session starts */
    TR_ENV_PG = 8,        /* process groups: value = operation, payload (net/pg.h) */
    TR_ENV_GOSSIP = 9,    /* payload: the sender's member list (net/gossip.c) */
    TR_ENV_LEAVE = 10,    /* the sender leaves the cluster: mark it LEFT, never redial it */
    TR_ENV_PING = 11,     /* corr echoed by PONG: the round trip (tr_member.rtt_us) */
    TR_ENV_PONG = 12,
    TR_ENV_KIND_MAX = 12
};

typedef struct tr_wire_str {
    const char *ptr; /* points into the frame; NOT NUL-terminated */
    uint32_t len;
} tr_wire_str;

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

/* The most bytes an envelope's head takes: fixarray, kind, dst (a name of
 * up to TR_WIRE_NAME_MAX), src, value, corr, the payload's bin header. */
#define TR_WIRE_ENVELOPE_HEAD_MAX (1 + 9 + 2 + TR_WIRE_NAME_MAX + 9 + 9 + 9 + 5)

/* Writes e's head (all of the envelope but the payload's bytes) at out
 * (TR_WIRE_ENVELOPE_HEAD_MAX bytes of room), with the encodings msgpack-c's
 * packer picks. Returns its length, or 0 for a name past TR_WIRE_NAME_MAX. */
size_t tr_wire_envelope_head(const tr_envelope *e, unsigned char *out);

/* Packs an envelope. Returns TR_OK, TR_ENOMEM (the writer failed) or
 * TR_EINVAL (a name past TR_WIRE_NAME_MAX). */
int tr_wire_pack_envelope(msgpack_packer *pk, const tr_envelope *e);
/* As tr_wire_pack_envelope, but stops after the payload's bin header: the
 * e->size payload bytes must follow on the wire (scatter/gather: written
 * from the sender's buffer, not copied). e->size > 0. */
int tr_wire_pack_envelope_head(msgpack_packer *pk, const tr_envelope *e);

/* Starts the envelope array of a frame: writes an array32 marker whose
 * count tr_wire_patch_count fills in once the batch is complete. */
int tr_wire_begin_envelopes(msgpack_packer *pk);
/* Writes `count` into the array32 marker at `marker` (5 bytes). */
void tr_wire_patch_count(void *marker, uint32_t count);

/* Frame decoding state: where the next envelope starts. Plain data, no
 * allocation: a reader stopped half way (a full mailbox) resumes where it
 * was. */
typedef struct tr_frame_reader {
    const char *data;
    size_t size, off; /* the next envelope starts at data + off */
    uint32_t next, count;
} tr_frame_reader;

void tr_frame_reader_init(tr_frame_reader *r);
void tr_frame_reader_destroy(tr_frame_reader *r);

/* Checks data[0..size) (the bounds pre-check: exactly one array of
 * envelopes, nothing nested deeper than an envelope's fields, no trailing
 * bytes) and opens it for tr_frame_next. Returns TR_OK or TR_EPROTO. */
int tr_frame_open(tr_frame_reader *r, const void *data, size_t size);

/* Reads the next envelope. Returns TR_OK, TR_ENOTFOUND when there are no
 * more, or TR_EPROTO. */
int tr_frame_next(tr_frame_reader *r, tr_envelope *e);

#endif
