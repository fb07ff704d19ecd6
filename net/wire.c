/* Payload helpers: references in msgpack, and a packer/buffer pair. */
#include <stdlib.h>
#include <string.h>

#include "actors/remote.h"
#include "net/msgpack_check.h"
#include "net/node_impl.h"
#include "troupe/wire.h"

int tr_pack_ref(tr_system *sys, msgpack_packer *pk, tr_ref ref)
{
    if (sys == NULL || pk == NULL)
        return TR_EINVAL;
    struct tr_node *node = tr_remote_node(sys);
    const char *name = "";
    tr_peer *p = NULL;
    if (tr_ref_is_remote(ref)) {
        p = node != NULL ? tr_peer_pin(node, tr_ref_node(ref)) : NULL;
        if (p == NULL)
            return TR_EINVAL;
        name = p->name;
    } else if (node != NULL) {
        name = node->name;
    }
    size_t len = strlen(name);
    msgpack_pack_array(pk, 2);
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, name, len);
    msgpack_pack_uint64(pk, ref.id & REF_LOCAL_MASK);
    tr_peer_unpin(p);
    return TR_OK;
}

int tr_unpack_ref(tr_system *sys, const msgpack_object *obj, tr_ref *out)
{
    if (sys == NULL || obj == NULL || out == NULL)
        return TR_EINVAL;
    if (obj->type != MSGPACK_OBJECT_ARRAY || obj->via.array.size != 2 ||
        obj->via.array.ptr[0].type != MSGPACK_OBJECT_STR ||
        obj->via.array.ptr[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        obj->via.array.ptr[1].via.u64 > REF_LOCAL_MASK)
        return TR_EPROTO;
    const msgpack_object_str *name = &obj->via.array.ptr[0].via.str;
    uint64_t id = obj->via.array.ptr[1].via.u64;
    struct tr_node *node = tr_remote_node(sys);
    if (name->size == 0 || (node != NULL && name->size == strlen(node->name) &&
                            memcmp(name->ptr, node->name, name->size) == 0)) {
        out->id = id;
        return TR_OK;
    }
    tr_peer *p = node != NULL ? tr_node_peer_by_name(node, name->ptr, name->size) : NULL;
    if (p == NULL)
        return TR_ENOTCONN;
    *out = tr_ref_make(p->index, id);
    tr_peer_unpin(p);
    return TR_OK;
}

void tr_wire_init(tr_wire *w)
{
    msgpack_sbuffer_init(&w->buf);
    msgpack_packer_init(&w->pk, &w->buf, msgpack_sbuffer_write);
}

void *tr_wire_take(tr_wire *w, size_t *size)
{
    if (size != NULL)
        *size = w->buf.size;
    return msgpack_sbuffer_release(&w->buf);
}

void tr_wire_destroy(tr_wire *w)
{
    msgpack_sbuffer_destroy(&w->buf);
}

bool tr_wire_check(const void *data, size_t size, unsigned max_depth, size_t max_objects)
{
    return data != NULL && tr_msgpack_check(data, size, max_depth, max_objects);
}
