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

/* ---- decoding ----
 *
 * An envelope has one fixed shape (fixarray of 6 scalars), read here field
 * by field straight from the frame, which the pre-check (tr_frame_open) has
 * already walked: every length lies within the frame. Hand-written rather
 * than msgpack_unpack: msgpack-c builds a generic object tree in a zone for
 * each envelope, which cost the receiving thread more than the rest of
 * its work on a small message. The same encodings as msgpack-c are
 * accepted (any integer width, as msgpack-c reads them; str 5/8/16/32 bits
 * of length; bin 8/16/32); tests/fuzz/fuzz_frame.c checks both agree. */

static uint64_t be(const unsigned char *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* An integer at p[*off]: *neg tells a negative one (then *v holds it as
 * an int64). msgpack-c reads a signed encoding of a value >= 0 as positive. */
static bool read_int(const unsigned char *p, size_t size, size_t *off, bool *neg, uint64_t *v)
{
    if (*off >= size)
        return false;
    unsigned char b = p[*off];
    if (b <= 0x7f || b >= 0xe0) { /* positive or negative fixint */
        *neg = b >= 0xe0;
        *v = *neg ? (uint64_t)(int64_t)(int8_t)b : b;
        *off += 1;
        return true;
    }
    if (b < 0xcc || b > 0xd3)
        return false;
    bool is_signed = b >= 0xd0;
    unsigned n = 1u << ((b - (is_signed ? 0xd0 : 0xcc)) & 3); /* 1, 2, 4, 8 bytes */
    if (size - *off - 1 < n)
        return false;
    uint64_t x = be(p + *off + 1, n);
    *off += 1 + n;
    if (!is_signed) {
        *neg = false;
        *v = x;
        return true;
    }
    int64_t s = n == 1 ? (int8_t)x : n == 2 ? (int16_t)x : n == 4 ? (int32_t)x : (int64_t)x;
    *neg = s < 0;
    *v = (uint64_t)s;
    return true;
}

static bool read_uint(const unsigned char *p, size_t size, size_t *off, uint64_t *v)
{
    bool neg;
    return read_int(p, size, off, &neg, v) && !neg;
}

static bool is_str(unsigned char b) { return (b & 0xe0) == 0xa0 || (b >= 0xd9 && b <= 0xdb); }

/* A str (bin false) or bin at p[*off]: where its bytes are, how many. */
static bool read_raw(const unsigned char *p, size_t size, size_t *off, bool bin, const void **ptr,
                     uint32_t *len)
{
    if (*off >= size)
        return false;
    unsigned char b = p[*off];
    size_t hdr = 1;
    uint64_t n;
    if (!bin && (b & 0xe0) == 0xa0) {
        n = b & 0x1f;
    } else {
        unsigned char first = bin ? 0xc4 : 0xd9;
        if (b < first || b > first + 2)
            return false;
        unsigned w = 1u << (b - first); /* 1, 2, 4 bytes of length */
        if (size - *off - 1 < w)
            return false;
        n = be(p + *off + 1, w);
        hdr += w;
    }
    if (n > size - *off - hdr)
        return false;
    *ptr = p + *off + hdr;
    *len = (uint32_t)n;
    *off += hdr + (size_t)n;
    return true;
}

void tr_frame_reader_init(tr_frame_reader *r)
{
    r->data = NULL;
    r->size = r->off = 0;
    r->next = r->count = 0;
}

void tr_frame_reader_destroy(tr_frame_reader *r)
{
    (void)r; /* nothing allocated: kept for callers that pair init and destroy */
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
    const unsigned char *p = (const unsigned char *)r->data;
    size_t size = r->size, off = r->off;
    memset(e, 0, sizeof(*e));
    bool neg;
    uint64_t v;
    if (off >= size || p[off] != ENVELOPE_HEAD)
        goto bad;
    off++;
    if (!read_uint(p, size, &off, &v) || v > TR_ENV_KIND_MAX)
        goto bad;
    e->kind = (uint32_t)v;
    if (off < size && is_str(p[off])) {
        const void *name;
        if (!read_raw(p, size, &off, false, &name, &e->dst_name.len) || e->dst_name.len == 0 ||
            e->dst_name.len > TR_WIRE_NAME_MAX)
            goto bad;
        e->dst_name.ptr = name;
    } else if (!read_uint(p, size, &off, &e->dst)) {
        goto bad;
    }
    if (!read_uint(p, size, &off, &e->src) || !read_int(p, size, &off, &neg, &v) ||
        (!neg && v > INT64_MAX))
        goto bad;
    e->value = (int64_t)v;
    if (!read_uint(p, size, &off, &e->corr))
        goto bad;
    if (off < size && p[off] == 0xc0) { /* nil: no payload */
        off++;
    } else if (!read_raw(p, size, &off, true, &e->payload, &e->size)) {
        goto bad;
    }
    r->off = off;
    return TR_OK;
bad:
    r->next = r->count; /* cannot resynchronise */
    return TR_EPROTO;
}
