/* The payload of a PG envelope (docs/wire.md, "Process groups"):
 * JOIN and LEAVE carry [group (str), reason (int), [id (uint), ...]],
 * SYNC and DISCOVER carry nothing. Decoding trusts nothing: the bounds pre-check runs
 * before msgpack-c sees the bytes, then every type, length and range is
 * checked. */
#include <stddef.h>
#include <string.h>

#include "net/msgpack_check.h"
#include "net/pg.h"
#include "troupe/errors.h"

/* The actor part of a reference (what a node sends of its own actors). */
#define ID_MASK ((1ull << TR_REF_NODE_SHIFT) - 1)

bool tr_pg_name_valid(const char *name, size_t len)
{
    return name != NULL && len >= 1 && len <= TR_PG_NAME_MAX && memchr(name, '\0', len) == NULL;
}

int tr_pg_pack(msgpack_packer *pk, const char *group, int reason, const uint64_t *ids, uint32_t count)
{
    size_t len = strlen(group);
    int bad = msgpack_pack_array(pk, 3) || msgpack_pack_str(pk, len) || msgpack_pack_str_body(pk, group, len) ||
              msgpack_pack_int(pk, reason) || msgpack_pack_array(pk, count);
    for (uint32_t i = 0; !bad && i < count; i++)
        bad = msgpack_pack_uint64(pk, ids[i]);
    return bad ? TR_ENOMEM : TR_OK;
}

/* The fields of [group, reason, ids] into out (shape already unpacked). */
static int decode_fields(const msgpack_object *o, tr_pg_delta *out)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 3)
        return TR_EPROTO;
    const msgpack_object *f = o->via.array.ptr;
    if (f[0].type != MSGPACK_OBJECT_STR || !tr_pg_name_valid(f[0].via.str.ptr, f[0].via.str.size))
        return TR_EPROTO;
    memcpy(out->group, f[0].via.str.ptr, f[0].via.str.size);
    out->group[f[0].via.str.size] = '\0';
    if (f[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER && f[1].via.u64 <= INT32_MAX)
        out->reason = (int)f[1].via.u64;
    else if (f[1].type == MSGPACK_OBJECT_NEGATIVE_INTEGER && f[1].via.i64 >= INT32_MIN)
        out->reason = (int)f[1].via.i64;
    else
        return TR_EPROTO;
    if (out->op == TR_PG_JOIN && out->reason != 0)
        return TR_EPROTO;
    if (f[2].type != MSGPACK_OBJECT_ARRAY || f[2].via.array.size == 0 || f[2].via.array.size > TR_PG_IDS_MAX)
        return TR_EPROTO;
    out->count = f[2].via.array.size;
    for (uint32_t i = 0; i < out->count; i++) {
        const msgpack_object *id = &f[2].via.array.ptr[i];
        /* an actor id of the sender's node: not 0, no node bits */
        if (id->type != MSGPACK_OBJECT_POSITIVE_INTEGER || id->via.u64 == 0 || id->via.u64 > ID_MASK)
            return TR_EPROTO;
        out->ids[i] = id->via.u64;
    }
    return TR_OK;
}

int tr_pg_decode(int64_t op, const void *payload, size_t size, tr_pg_delta *out)
{
    memset(out, 0, offsetof(tr_pg_delta, ids));
    if (op == TR_PG_SYNC || op == TR_PG_DISCOVER) {
        out->op = (int)op;
        return size == 0 ? TR_OK : TR_EPROTO;
    }
    if (op != TR_PG_JOIN && op != TR_PG_LEAVE)
        return TR_EPROTO;
    out->op = (int)op;
    /* two levels (the triple, its id list), at most 3 + TR_PG_IDS_MAX
     * elements inside them: a decoded delta costs at most ~12 KB of zone */
    if (payload == NULL || size == 0 || !tr_msgpack_check(payload, size, 2, 3 + TR_PG_IDS_MAX))
        return TR_EPROTO;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    int rc = TR_EPROTO;
    if (msgpack_unpack_next(&u, payload, size, &off) == MSGPACK_UNPACK_SUCCESS && off == size)
        rc = decode_fields(&u.data, out);
    msgpack_unpacked_destroy(&u);
    return rc;
}
