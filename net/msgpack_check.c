/* See msgpack_check.h. Format reference: the msgpack spec (format table). */
#include "net/msgpack_check.h"

#include <stdint.h>

#define CHECK_MAX_DEPTH 64

/* Reads one object head at p: header bytes, payload bytes and children. */
static bool head(const unsigned char *p, size_t avail, size_t *hdr, uint64_t *body, uint64_t *kids)
{
    unsigned char b = p[0];
    *hdr = 1, *body = 0, *kids = 0;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return true;                                         /* fixint, nil, bool */
    if ((b & 0xf0) == 0x80) { *kids = 2u * (b & 0x0f); return true; } /* fixmap */
    if ((b & 0xf0) == 0x90) { *kids = b & 0x0f; return true; }        /* fixarray */
    if ((b & 0xe0) == 0xa0) { *body = b & 0x1f; return true; }        /* fixstr */
    unsigned n;
    switch (b) {
    case 0xcc: case 0xd0: *body = 1; return true;
    case 0xcd: case 0xd1: *body = 2; return true;
    case 0xca: case 0xce: case 0xd2: *body = 4; return true;
    case 0xcb: case 0xcf: case 0xd3: *body = 8; return true;
    case 0xd4: *body = 2; return true;  /* fixext 1: type + data */
    case 0xd5: *body = 3; return true;
    case 0xd6: *body = 5; return true;
    case 0xd7: *body = 9; return true;
    case 0xd8: *body = 17; return true;
    case 0xc4: case 0xd9: n = 1; break; /* bin8, str8 */
    case 0xc5: case 0xda: n = 2; break;
    case 0xc6: case 0xdb: n = 4; break;
    case 0xc7: case 0xc8: case 0xc9: {  /* ext 8/16/32: length, then type byte */
        n = b == 0xc7 ? 1 : b == 0xc8 ? 2 : 4;
        if (avail < 1 + n)
            return false;
        *hdr = 1 + n;
        *body = tr_msgpack_read_be(p + 1, n) + 1;
        return true;
    }
    case 0xdc: case 0xdd: case 0xde: case 0xdf: { /* array16/32, map16/32 */
        n = (b == 0xdc || b == 0xde) ? 2 : 4;
        if (avail < 1 + n)
            return false;
        *hdr = 1 + n;
        *kids = tr_msgpack_read_be(p + 1, n) * (b >= 0xde ? 2u : 1u);
        return true;
    }
    default: return false; /* 0xc1 is never used */
    }
    if (avail < 1 + n)
        return false;
    *hdr = 1 + n;
    *body = tr_msgpack_read_be(p + 1, n);
    return true;
}

bool tr_msgpack_check(const void *data, size_t size, unsigned max_depth, size_t max_objects)
{
    size_t objects;
    return tr_msgpack_check_count(data, size, max_depth, max_objects, &objects);
}

bool tr_msgpack_check_count(const void *data, size_t size, unsigned max_depth, size_t max_objects,
                            size_t *objects)
{
    const unsigned char *p = data;
    size_t off = 0;
    uint64_t pending[CHECK_MAX_DEPTH + 1]; /* children still expected per level */
    unsigned depth = 0;
    if (max_depth > CHECK_MAX_DEPTH)
        max_depth = CHECK_MAX_DEPTH;
    pending[0] = UINT64_MAX; /* the top level: any number of objects */
    *objects = 0;
    uint64_t nested = 0; /* objects inside containers: each one a msgpack_object when decoded */
    while (off < size) {
        size_t hdr;
        uint64_t body, kids;
        if (!head(p + off, size - off, &hdr, &body, &kids))
            return false;
        if (hdr > size - off || body > size - off - hdr)
            return false;
        off += hdr + (size_t)body;
        pending[depth]--;
        if (depth == 0)
            ++*objects;
        if (kids > 0) {
            if (kids > size - off || depth + 1 > max_depth)
                return false; /* every child needs at least one byte */
            nested += kids;
            if (nested > max_objects)
                return false; /* msgpack-c would expand them to nested x 24 bytes */
            pending[++depth] = kids;
        }
        while (depth > 0 && pending[depth] == 0)
            depth--;
    }
    return depth == 0;
}
