/* Wire format encoder/decoder (docs/wire.md). msgpack-c does the byte work;
 * this file only checks shapes and ranges. */
#include "net/envelope.h"

#include <string.h>

#include "net/msgpack_check.h"
#include "troupe/errors.h"

enum { ENVELOPE_FIELDS = 6, ENVELOPE_HEAD = 0x96 /* fixarray of 6 */ };

/* ---- encoding ----
 *
 * An envelope's head (all of it but the payload's bytes) is written into a
 * small buffer by hand, with the encodings msgpack-c's packer picks (the
 * shortest for each integer), then handed to the packer's writer in one
 * call: msgpack_pack_* called the writer once per field, which cost a
 * sender as much as the rest of a small remote send. tests/unit checks the
 * bytes against msgpack-c's packer. */

static size_t put_be(unsigned char *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
    return n;
}

/* A tag byte and v in n big-endian bytes. */
static size_t put_tagged(unsigned char *p, unsigned char tag, uint64_t v, unsigned n)
{
    p[0] = tag;
    return 1 + put_be(p + 1, v, n);
}

static size_t put_uint(unsigned char *p, uint64_t v)
{
    if (v < 128)
        return put_tagged(p, (unsigned char)v, 0, 0); /* positive fixint */
    if (v < 256)
        return put_tagged(p, 0xcc, v, 1);
    if (v < 65536)
        return put_tagged(p, 0xcd, v, 2);
    if (v <= UINT32_MAX)
        return put_tagged(p, 0xce, v, 4);
    return put_tagged(p, 0xcf, v, 8);
}

static size_t put_int(unsigned char *p, int64_t v)
{
    if (v >= 0)
        return put_uint(p, (uint64_t)v);
    if (v >= -32)
        return put_tagged(p, (unsigned char)(int8_t)v, 0, 0); /* negative fixint */
    if (v >= -128)
        return put_tagged(p, 0xd0, (uint64_t)v, 1);
    if (v >= -32768)
        return put_tagged(p, 0xd1, (uint64_t)v, 2);
    if (v >= INT32_MIN)
        return put_tagged(p, 0xd2, (uint64_t)v, 4);
    return put_tagged(p, 0xd3, (uint64_t)v, 8);
}

size_t tr_wire_envelope_head(const tr_envelope *e, unsigned char *out)
{
    if (e->dst_name.len > TR_WIRE_NAME_MAX)
        return 0;
    unsigned char *p = out;
    *p++ = ENVELOPE_HEAD;
    p += put_uint(p, e->kind);
    if (e->dst_name.len > 0) {
        p += e->dst_name.len < 32 ? put_tagged(p, (unsigned char)(0xa0 | e->dst_name.len), 0, 0)
                                  : put_tagged(p, 0xd9, e->dst_name.len, 1);
        memcpy(p, e->dst_name.ptr, e->dst_name.len);
        p += e->dst_name.len;
    } else {
        p += put_uint(p, e->dst);
    }
    p += put_uint(p, e->src);
    p += put_int(p, e->value);
    p += put_uint(p, e->corr);
    if (e->size == 0)
        *p++ = 0xc0; /* nil */
    else if (e->size < 256)
        p += put_tagged(p, 0xc4, e->size, 1);
    else if (e->size < 65536)
        p += put_tagged(p, 0xc5, e->size, 2);
    else
        p += put_tagged(p, 0xc6, e->size, 4);
    return (size_t)(p - out);
}

static int pack_envelope(msgpack_packer *pk, const tr_envelope *e, bool body)
{
    unsigned char head[TR_WIRE_ENVELOPE_HEAD_MAX];
    size_t n = tr_wire_envelope_head(e, head);
    if (n == 0)
        return TR_EINVAL;
    if (pk->callback(pk->data, (const char *)head, n) != 0 ||
        (body && e->size > 0 && pk->callback(pk->data, e->payload, e->size) != 0))
        return TR_ENOMEM;
    return TR_OK;
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
    uint64_t x = tr_msgpack_read_be(p + *off + 1, n);
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
        n = tr_msgpack_read_be(p + *off + 1, w);
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
    *count = (uint32_t)tr_msgpack_read_be(p + *off + 1, n);
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
