/* Handshake messages (docs/wire.md, "Handshake"): their msgpack encoding,
 * a decoder that trusts nothing, and the HMAC-SHA256 proofs.
 *
 * Both sides prove they know the cookie without sending it: each sends a
 * random challenge and answers the other's with HMAC-SHA256(cookie,
 * transcript), where the transcript holds both challenges, both names and
 * incarnations, the prover's role and its agent id. A captured handshake
 * cannot be replayed: the next one has fresh challenges. Crypto is
 * OpenSSL's libcrypto (HMAC, RAND_bytes, CRYPTO_memcmp). No dependency on
 * the node: the fuzz target links this file alone. */
#ifndef TROUPE_NET_HANDSHAKE_MSG_H
#define TROUPE_NET_HANDSHAKE_MSG_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/envelope.h"

#define TR_HS_CHALLENGE_BYTES 32
#define TR_HS_MAC_BYTES 32
#define TR_HS_FRAME_MAX 256 /* largest handshake message body */
/* Capability bits (HELLO, CHALLENGE): */
#define TR_HS_CAP_CLUSTER 1u /* speaks GOSSIP, LEAVE, PING and PONG (membership) */
#define TR_HS_CAP_HIDDEN 2u  /* a hidden node: never gossiped, never meshed */

enum tr_hs_kind {
    TR_HS_HELLO = 1,     /* initiator: version, name, incarnation, caps, challenge */
    TR_HS_CHALLENGE = 2, /* acceptor: the same about itself */
    TR_HS_PROOF = 3,     /* initiator: agent, mac over the transcript */
    TR_HS_ACCEPT = 4,    /* acceptor: agent, mac; the session starts */
    TR_HS_REFUSE = 5,    /* either: reason (a tr_error code); the connection closes */
};

typedef struct tr_hs_msg {
    uint32_t kind;
    uint32_t version;     /* HELLO, CHALLENGE */
    tr_wire_str name;     /* HELLO, CHALLENGE: a valid node name */
    uint64_t incarnation; /* HELLO, CHALLENGE */
    uint64_t caps;        /* HELLO, CHALLENGE */
    uint8_t challenge[TR_HS_CHALLENGE_BYTES]; /* HELLO, CHALLENGE */
    uint64_t agent;       /* PROOF, ACCEPT */
    uint8_t mac[TR_HS_MAC_BYTES]; /* PROOF, ACCEPT */
    int64_t reason;       /* REFUSE */
} tr_hs_msg;

/* What both proofs are computed over. Names point at NUL-free bytes. */
typedef struct tr_hs_transcript {
    const uint8_t *chal_initiator, *chal_acceptor; /* TR_HS_CHALLENGE_BYTES each */
    tr_wire_str name_initiator, name_acceptor;
    uint64_t inc_initiator, inc_acceptor;
} tr_hs_transcript;

/* True for a node name of 1..63 bytes of [A-Za-z0-9_.@-]. */
bool tr_node_name_valid(const char *name, size_t len);

/* Packs m. Returns TR_OK or TR_ENOMEM. */
int tr_hs_pack(msgpack_packer *pk, const tr_hs_msg *m);

/* Decodes one handshake message of at most TR_HS_FRAME_MAX bytes; the
 * name in m points into data. Returns TR_OK or TR_EPROTO (anything but a
 * well-formed message of a known kind, a name that is not valid, a
 * version of 0). A version other than ours is not an error here. */
int tr_hs_parse(const void *data, size_t size, tr_hs_msg *m);

/* The proof of the initiator (initiator = true) or of the acceptor with
 * agent id `agent`: HMAC-SHA256(cookie, transcript). Returns TR_OK or
 * TR_ENOMEM (libcrypto failed). */
int tr_hs_mac(const char *cookie, size_t cookie_len, bool initiator, const tr_hs_transcript *t,
              uint64_t agent, uint8_t out[TR_HS_MAC_BYTES]);

/* Constant-time comparison of two proofs. */
bool tr_hs_mac_equal(const uint8_t a[TR_HS_MAC_BYTES], const uint8_t b[TR_HS_MAC_BYTES]);

/* Fills buf with cryptographically random bytes: TR_OK or TR_ENOMEM. */
int tr_hs_random(void *buf, size_t len);

#endif
