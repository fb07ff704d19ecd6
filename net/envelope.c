/* Wire format encoder/decoder (docs/wire.md). msgpack-c does the byte work;
 * this file only checks shapes and ranges. */
#include "net/envelope.h"

#include <string.h>

#include "net/msgpack_check.h"
#include "troupe/errors.h"

enum { ENVELOPE_FIELDS = 6, ENVELOPE_HEAD = 0x96 /* fixarray of 6 */ };

static int pk_str(msgpack_packer *pk, const tr_wire_str *s)
{
    return msgpack_pack_str(pk, s->len) || msgpack_pack_str_body(pk, s->ptr, s->len);
}

static int pack_envelope(msgpack_packer *pk, const tr_envelope *e, bool body)
{
    int bad = msgpack_pack_array(pk, ENVELOPE_FIELDS) || msgpack_pack_uint32(pk, e->kind);
    if (!bad)
        bad = e->dst_name.len > 0 ? pk_str(pk, &e->dst_name) : msgpack_pack_uint64(pk, e->dst);
    bad = bad || msgpack_pack_uint64(pk, e->src) || msgpack_pack_int64(pk, e->value) ||
          msgpack_pack_uint64(pk, e->corr);
    if (!bad && e->size > 0)
        bad = msgpack_pack_bin(pk, e->size) || (body && msgpack_pack_bin_body(pk, e->payload, e->size));
    else if (!bad)
        bad = msgpack_pack_nil(pk);
    return bad ? TR_ENOMEM : TR_OK;
}

int tr_wire_pack_envelope(msgpack_packer *pk, const tr_envelope *e)
{
    return pack_envelope(pk, e, true);
}

int tr_wire_pack_envelope_head(msgpack_packer *pk, const tr_envelope *e)
{
    return pack_envelope(pk, e, false);
}

int tr_wire_begin_envelopes(msgpack_packer *pk)
{
    static const unsigned char marker[5] = {0xdd, 0, 0, 0, 0}; /* array32, count patched later */
    return pk->callback(pk->data, (const char *)marker, sizeof(marker)) ? TR_ENOMEM : TR_OK;
}

void tr_wire_patch_count(void *marker, uint32_t count)
{
    unsigned char *m = marker;
    m[1] = (unsigned char)(count >> 24);
    m[2] = (unsigned char)(count >> 16);
    m[3] = (unsigned char)(count >> 8);
    m[4] = (unsigned char)count;
}

/* ---- decoding ---- */

static bool get_u64(const msgpack_object *o, uint64_t *out)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return false;
    *out = o->via.u64;
    return true;
}

static bool get_i64(const msgpack_object *o, int64_t *out)
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

static bool get_str(const msgpack_object *o, uint32_t max, tr_wire_str *out)
{
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size > max)
        return false;
    out->ptr = o->via.str.ptr;
    out->len = o->via.str.size;
    return true;
}

void tr_frame_reader_init(tr_frame_reader *r)
{
    r->zone_ok = msgpack_zone_init(&r->zone, 2048);
    r->data = NULL;
    r->size = r->off = 0;
    r->next = r->count = 0;
}

void tr_frame_reader_destroy(tr_frame_reader *r)
{
    if (r->zone_ok)
        msgpack_zone_destroy(&r->zone);
}

/* Reads an array head at data[*off]: its element count. */
static bool array_head(const unsigned char *p, size_t size, size_t *off, uint32_t *count)
{
    if (*off >= size)
        return false;
    unsigned char b = p[*off];
    unsigned n = b == 0xdc ? 2 : b == 0xdd ? 4 : 0;
    if (n == 0) {
        if ((b & 0xf0) != 0x90)
            return false;
        *count = b & 0x0f;
        *off += 1;
        return true;
    }
    if (size - *off < 1 + n)
        return false;
    uint32_t c = 0;
    for (unsigned i = 1; i <= n; i++)
        c = (c << 8) | p[*off + i];
    *count = c;
    *off += 1 + n;
    return true;
}

int tr_frame_open(tr_frame_reader *r, const void *data, size_t size)
{
    r->next = r->count = 0;
    size_t off = 0, objects = 0;
    /* depth 2: the array, its envelopes, their scalar fields. The count of
     * nested objects cannot pass the byte count, and with nothing deeper than
     * an envelope's fields each envelope decodes to 7 msgpack_objects. */
    if (data == NULL || size == 0 || !tr_msgpack_check_count(data, size, 2, size, &objects) ||
        objects != 1 || !array_head(data, size, &off, &r->count))
        return TR_EPROTO;
    r->data = data;
    r->size = size;
    r->off = off;
    return TR_OK;
}

int tr_frame_next(tr_frame_reader *r, tr_envelope *e)
{
    if (r->next >= r->count)
        return TR_ENOTFOUND;
    r->next++;
    if (!r->zone_ok)
        return TR_ENOMEM;
    if (r->off >= r->size || (unsigned char)r->data[r->off] != ENVELOPE_HEAD) {
        r->next = r->count; /* not an envelope: cannot resynchronise */
        return TR_EPROTO;
    }
    msgpack_zone_clear(&r->zone);
    msgpack_object obj;
    msgpack_unpack_return ur = msgpack_unpack(r->data, r->size, &r->off, &r->zone, &obj);
    if (ur != MSGPACK_UNPACK_SUCCESS && ur != MSGPACK_UNPACK_EXTRA_BYTES) {
        r->next = r->count; /* cannot resynchronise */
        return TR_EPROTO;
    }
    const msgpack_object *o = &obj;
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != ENVELOPE_FIELDS)
        return TR_EPROTO;
    const msgpack_object *f = o->via.array.ptr;
    uint64_t kind;
    memset(e, 0, sizeof(*e));
    if (!get_u64(&f[0], &kind) || kind > TR_ENV_KIND_MAX)
        return TR_EPROTO;
    e->kind = (uint32_t)kind;
    if (f[1].type == MSGPACK_OBJECT_STR) {
        if (!get_str(&f[1], TR_WIRE_NAME_MAX, &e->dst_name) || e->dst_name.len == 0)
            return TR_EPROTO;
    } else if (!get_u64(&f[1], &e->dst)) {
        return TR_EPROTO;
    }
    if (!get_u64(&f[2], &e->src) || !get_i64(&f[3], &e->value) || !get_u64(&f[4], &e->corr))
        return TR_EPROTO;
    if (f[5].type == MSGPACK_OBJECT_BIN) {
        e->payload = f[5].via.bin.ptr;
        e->size = f[5].via.bin.size;
    } else if (f[5].type != MSGPACK_OBJECT_NIL) {
        return TR_EPROTO;
    }
    return TR_OK;
}
