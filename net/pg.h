/* Process groups (troupe/pg.h), the node's side: its table of groups, the
 * hooks the sessions call, and the PG envelope's payload (docs/wire.md,
 * "Process groups").
 *
 * Each node owns its local members and tells its peers: when a session
 * with a peer starts, one SYNC (forget what you know of my members) then
 * JOINs for every local member (the snapshot); afterwards every change as
 * one JOIN or LEAVE envelope. Envelopes from a peer are applied on the
 * connection's receive callback, in stream order, only while that peer is
 * up here. The session hooks may run late (after the next session has
 * begun): a node-down hook that finds the peer up again clears what it
 * knows of it, sends its snapshot again and asks for the peer's
 * (DISCOVER), so views converge whatever the order. */
#ifndef TROUPE_NET_PG_H
#define TROUPE_NET_PG_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#include "troupe/pg.h"

struct tr_node;
struct tr_peer;
struct tr_envelope;

/* Operations (the envelope's `value`). */
enum tr_pg_op {
    TR_PG_JOIN = 1,  /* [group, 0, ids]: each id joined once more */
    TR_PG_LEAVE = 2, /* [group, reason, ids]: each id left once */
    TR_PG_SYNC = 3,  /* nil payload: forget every member of the sender; its snapshot follows */
    TR_PG_DISCOVER = 4, /* nil payload: send me your snapshot (SYNC, JOINs) */
};

#define TR_PG_IDS_MAX 512 /* ids in one envelope; a longer list is split */

/* A decoded PG envelope. group is NUL-terminated; ids are actor ids on
 * the sending node (node bits 0, never 0). */
typedef struct tr_pg_delta {
    int op;
    int reason;
    char group[TR_PG_NAME_MAX + 1];
    uint32_t count;
    uint64_t ids[TR_PG_IDS_MAX];
} tr_pg_delta;

/* Packs the payload of a JOIN or LEAVE: [group, reason, [ids...]]
 * (count <= TR_PG_IDS_MAX). Returns TR_OK or TR_ENOMEM. */
int tr_pg_pack(msgpack_packer *pk, const char *group, int reason, const uint64_t *ids, uint32_t count);

/* Decodes the payload of a PG envelope of operation `op` from the network:
 * bounds pre-check first (net/msgpack_check.h), then every type, length and
 * range. Returns TR_OK or TR_EPROTO. */
int tr_pg_decode(int64_t op, const void *payload, size_t size, tr_pg_delta *out);

/* True for a valid group name: 1..TR_PG_NAME_MAX bytes, no NUL. */
bool tr_pg_name_valid(const char *name, size_t len);

/* Node start: the table and its actor ("$pg", which monitors members and
 * subscribers). Returns TR_OK or TR_ENOMEM. */
int tr_pg_start(struct tr_node *node);
/* Node stop, once every peer is down: stops the actor, frees the table. */
void tr_pg_stop(struct tr_node *node);

/* The session with p started (p is up): sends it our snapshot once per
 * session. Idempotent; any thread; no lock held. Called by the member
 * hook (net/member.c) that tr_pg_start registers. */
void tr_pg_peer_up(struct tr_node *node, struct tr_peer *p);
/* p went down: its members leave every view here (subscribers see LEFT
 * with TR_ENODEDOWN). No lock held. */
void tr_pg_peer_down(struct tr_node *node, struct tr_peer *p);
/* A PG envelope from p (receive callback). Malformed: counted in bad_frames. */
void tr_pg_on_envelope(struct tr_node *node, struct tr_peer *p, const struct tr_envelope *e);

#endif
