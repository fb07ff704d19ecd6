/* Payload helpers: pack and unpack your own message types with msgpack-c.
 *
 * Troupe carries payloads as opaque bytes; over the network a payload is the
 * bytes you gave, unchanged. Use msgpack-c's packer to build them (so the
 * other node, maybe another architecture, can read them) and these helpers
 * for the one thing msgpack cannot know: actor references, which are only
 * meaningful with their node. A packed reference is a msgpack array
 * [node name (str, "" for the local node), actor id (uint)]. */
#ifndef TROUPE_WIRE_H
#define TROUPE_WIRE_H

#include <msgpack.h>

#include "troupe/actor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Packs `ref` so that any node can turn it back into a reference to the
 * same actor. Returns TR_OK, or TR_EINVAL for a remote ref unknown here. */
TR_API int tr_pack_ref(tr_system *sys, msgpack_packer *pk, tr_ref ref);

/* Turns a packed reference back into a reference usable on this node
 * (local, or remote through the node's connections). Returns TR_OK,
 * TR_EPROTO (not a packed reference) or TR_ENOTCONN (a node this node has
 * never heard of; its reference is then unusable). */
TR_API int tr_unpack_ref(tr_system *sys, const msgpack_object *obj, tr_ref *out);

/* The bounds pre-check for msgpack bytes from the network, to run before
 * msgpack-c sees them: true when data[0..size) is a sequence of complete
 * objects whose lengths and element counts fit in the bytes, nested at
 * most max_depth deep, with at most max_objects elements inside containers
 * in all (msgpack-c allocates 24 bytes per element before reading it: 16
 * bytes claiming a 4-billion-element array would ask for 96 GB, and 16 MB
 * of one-byte integers would become 384 MB). Pass what the message's shape
 * can legitimately hold. */
TR_API bool tr_wire_check(const void *data, size_t size, unsigned max_depth, size_t max_objects);

/* Convenience: a msgpack buffer + packer pair whose bytes become a message
 * payload with tr_send_move(..., tr_wire_take(&w, &size), size, free). */
typedef struct tr_wire {
    msgpack_sbuffer buf;
    msgpack_packer pk;
} tr_wire;

/* Initialises an empty buffer and its packer (w->pk packs into w->buf). */
TR_API void tr_wire_init(tr_wire *w);

/* Gives up the packed bytes (malloc'd: free with free) and resets w. */
TR_API void *tr_wire_take(tr_wire *w, size_t *size);

/* Frees the buffer without taking it. */
TR_API void tr_wire_destroy(tr_wire *w);

#ifdef __cplusplus
}
#endif
#endif
