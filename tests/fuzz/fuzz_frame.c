/* libFuzzer target for the data frame decoder (net/envelope.c): any bytes
 * must give TR_OK or TR_EPROTO, never a crash, a hang or a huge
 * allocation; and every envelope must decode exactly as msgpack-c reads it
 * (the reference below is the decoder of wire version 2's first release,
 * msgpack_unpack and a shape check: net/envelope.c reads the fixed shape by
 * hand for speed). Build and run: bash scripts/fuzz.sh [seconds]; the
 * corpus is replayed by the fuzz_replay ctest. */
#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "net/envelope.h"
#include "troupe/errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool ref_u64(const msgpack_object *o, uint64_t *out)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return false;
    *out = o->via.u64;
    return true;
}

static bool ref_i64(const msgpack_object *o, int64_t *out)
{
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = o->via.i64;
        return true;
    }
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) {
        *out = (int64_t)o->via.u64;
        return true;
    }
    return false;
}

/* The reference: the envelope at data[off], as msgpack-c reads it. */
static int ref_next(const char *data, size_t size, size_t off, msgpack_zone *z, tr_envelope *e)
{
    memset(e, 0, sizeof(*e));
    if (off >= size || (unsigned char)data[off] != 0x96)
        return TR_EPROTO;
    msgpack_object obj;
    msgpack_unpack_return ur = msgpack_unpack(data, size, &off, z, &obj);
    if (ur != MSGPACK_UNPACK_SUCCESS && ur != MSGPACK_UNPACK_EXTRA_BYTES)
        return TR_EPROTO;
    if (obj.type != MSGPACK_OBJECT_ARRAY || obj.via.array.size != 6)
        return TR_EPROTO;
    const msgpack_object *f = obj.via.array.ptr;
    uint64_t kind;
    if (!ref_u64(&f[0], &kind) || kind > TR_ENV_KIND_MAX)
        return TR_EPROTO;
    e->kind = (uint32_t)kind;
    if (f[1].type == MSGPACK_OBJECT_STR) {
        if (f[1].via.str.size > TR_WIRE_NAME_MAX || f[1].via.str.size == 0)
            return TR_EPROTO;
        e->dst_name.ptr = f[1].via.str.ptr;
        e->dst_name.len = f[1].via.str.size;
    } else if (!ref_u64(&f[1], &e->dst)) {
        return TR_EPROTO;
    }
    if (!ref_u64(&f[2], &e->src) || !ref_i64(&f[3], &e->value) || !ref_u64(&f[4], &e->corr))
        return TR_EPROTO;
    if (f[5].type == MSGPACK_OBJECT_BIN) {
        e->payload = f[5].via.bin.ptr;
        e->size = f[5].via.bin.size;
    } else if (f[5].type != MSGPACK_OBJECT_NIL) {
        return TR_EPROTO;
    }
    return TR_OK;
}

/* The same envelope: the same fields, strings and payloads at the same
 * place in the frame (where an empty one points does not matter: msgpack-c
 * and the hand reader differ there). */
static void same(const tr_envelope *a, const tr_envelope *b)
{
    if (a->kind != b->kind || a->dst != b->dst || a->dst_name.len != b->dst_name.len ||
        (a->dst_name.len > 0 && a->dst_name.ptr != b->dst_name.ptr) || a->src != b->src ||
        a->value != b->value || a->corr != b->corr || a->size != b->size ||
        (a->size > 0 && a->payload != b->payload))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tr_frame_reader r;
    tr_frame_reader_init(&r);
    msgpack_zone z;
    if (!msgpack_zone_init(&z, 2048))
        return 0;
    if (tr_frame_open(&r, data, size) == TR_OK) {
        tr_envelope e, want;
        uint64_t sum = 0;
        for (;;) {
            size_t at = r.off;
            bool last = r.next >= r.count;
            int rc = tr_frame_next(&r, &e);
            if (last) {
                if (rc != TR_ENOTFOUND)
                    __builtin_trap();
                break;
            }
            msgpack_zone_clear(&z);
            if (ref_next((const char *)data, size, at, &z, &want) != rc)
                __builtin_trap(); /* the two decoders disagree */
            if (rc != TR_OK)
                break;
            same(&e, &want);
            const uint8_t *p = e.payload; /* touch every payload byte */
            for (uint32_t i = 0; i < e.size; i++)
                sum += p[i];
            for (uint32_t i = 0; i < e.dst_name.len; i++)
                sum += (uint8_t)e.dst_name.ptr[i];
        }
        (void)sum;
    }
    msgpack_zone_destroy(&z);
    tr_frame_reader_destroy(&r);
    return 0;
}
