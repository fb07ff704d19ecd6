/* tr_pack / tr_unpack (include/troupe/pack.h): a format string over
 * msgpack-c's packer and unpacker, every read after the bounds pre-check
 * (net/msgpack_check.h). Hand-written because it is a thin loop over the
 * format; msgpack-c does the encoding. */
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "net/msgpack_check.h"
#include "troupe/pack.h"
#include "troupe/wire.h"

#define MAX_DEPTH 16

/* The number of items of the array opening at fmt (just after '['), or -1
 * when its ']' is missing. */
static int array_items(const char *fmt)
{
    int depth = 0, n = 0;
    for (; *fmt != '\0'; fmt++) {
        if (*fmt == ' ')
            continue;
        if (*fmt == ']') {
            if (depth-- == 0)
                return n;
            continue;
        }
        if (depth == 0)
            n++;
        if (*fmt == '[')
            depth++;
    }
    return -1;
}

static bool pack_items(tr_system *sys, msgpack_packer *pk, const char **fmt, va_list *ap,
                       bool in_array)
{
    for (; **fmt != '\0'; (*fmt)++) {
        char c = **fmt;
        switch (c) {
        case ' ': break;
        case 'i': msgpack_pack_int(pk, va_arg(*ap, int)); break;
        case 'I': msgpack_pack_int64(pk, va_arg(*ap, int64_t)); break;
        case 'u': msgpack_pack_unsigned_int(pk, va_arg(*ap, unsigned)); break;
        case 'U': msgpack_pack_uint64(pk, va_arg(*ap, uint64_t)); break;
        case 'd': msgpack_pack_double(pk, va_arg(*ap, double)); break;
        case 'b':
            if (va_arg(*ap, int))
                msgpack_pack_true(pk);
            else
                msgpack_pack_false(pk);
            break;
        case 'n': msgpack_pack_nil(pk); break;
        case 's': {
            const char *s = va_arg(*ap, const char *);
            if (s == NULL)
                return false;
            size_t len = strlen(s);
            msgpack_pack_str(pk, len);
            msgpack_pack_str_body(pk, s, len);
            break;
        }
        case 'y': {
            const void *p = va_arg(*ap, const void *);
            size_t len = va_arg(*ap, size_t);
            if (p == NULL && len > 0)
                return false;
            msgpack_pack_bin(pk, len);
            msgpack_pack_bin_body(pk, p, len);
            break;
        }
        case 'r':
            if (tr_pack_ref(sys, pk, va_arg(*ap, tr_ref)) != TR_OK)
                return false;
            break;
        case '[': {
            int n = array_items(*fmt + 1);
            if (n < 0)
                return false;
            msgpack_pack_array(pk, (size_t)n);
            (*fmt)++;
            if (!pack_items(sys, pk, fmt, ap, true))
                return false;
            break;
        }
        case ']':
            return in_array;
        default: return false;
        }
    }
    return !in_array;
}

void *tr_pack(tr_system *sys, size_t *size, const char *fmt, ...)
{
    if (size == NULL || fmt == NULL)
        return NULL;
    tr_wire w;
    tr_wire_init(&w);
    va_list ap;
    va_start(ap, fmt);
    bool ok = pack_items(sys, &w.pk, &fmt, &ap, false);
    va_end(ap);
    if (!ok || w.buf.size == 0) {
        tr_wire_destroy(&w);
        return NULL;
    }
    return tr_wire_take(&w, size);
}

/* Reads one integer object as int64 range [lo, hi] or uint64. */
static bool read_int(const msgpack_object *o, int64_t lo, int64_t hi, int64_t *out)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > (uint64_t)hi)
            return false;
        *out = (int64_t)o->via.u64;
        return true;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        if (o->via.i64 < lo)
            return false;
        *out = o->via.i64;
        return true;
    }
    return false;
}

static int unpack_items(tr_system *sys, const msgpack_object *items, uint32_t n,
                        const char **fmt, va_list *ap, bool in_array)
{
    uint32_t i = 0;
    for (; **fmt != '\0'; (*fmt)++) {
        char c = **fmt;
        if (c == ' ')
            continue;
        if (c == ']')
            return in_array && i == n ? TR_OK : (in_array ? TR_EPROTO : TR_EINVAL);
        if (i == n)
            return strchr("iIuUdbnsyr[", c) != NULL ? TR_EPROTO : TR_EINVAL;
        const msgpack_object *o = &items[i++];
        int64_t v;
        switch (c) {
        case 'i':
            if (!read_int(o, INT_MIN, INT_MAX, &v))
                return TR_EPROTO;
            *va_arg(*ap, int *) = (int)v;
            break;
        case 'I':
            if (!read_int(o, INT64_MIN, INT64_MAX, &v))
                return TR_EPROTO;
            *va_arg(*ap, int64_t *) = v;
            break;
        case 'u':
            if (!read_int(o, 0, UINT_MAX, &v))
                return TR_EPROTO;
            *va_arg(*ap, unsigned *) = (unsigned)v;
            break;
        case 'U':
            if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
                return TR_EPROTO;
            *va_arg(*ap, uint64_t *) = o->via.u64;
            break;
        case 'd':
            if (o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64)
                *va_arg(*ap, double *) = o->via.f64;
            else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                *va_arg(*ap, double *) = (double)o->via.u64;
            else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
                *va_arg(*ap, double *) = (double)o->via.i64;
            else
                return TR_EPROTO;
            break;
        case 'b':
            if (o->type != MSGPACK_OBJECT_BOOLEAN)
                return TR_EPROTO;
            *va_arg(*ap, bool *) = o->via.boolean;
            break;
        case 'n':
            if (o->type != MSGPACK_OBJECT_NIL)
                return TR_EPROTO;
            break;
        case 's':
            if (o->type != MSGPACK_OBJECT_STR)
                return TR_EPROTO;
            *va_arg(*ap, const char **) = o->via.str.ptr;
            *va_arg(*ap, size_t *) = o->via.str.size;
            break;
        case 'y':
            if (o->type != MSGPACK_OBJECT_BIN)
                return TR_EPROTO;
            *va_arg(*ap, const void **) = o->via.bin.ptr;
            *va_arg(*ap, size_t *) = o->via.bin.size;
            break;
        case 'r': {
            int rc = tr_unpack_ref(sys, o, va_arg(*ap, tr_ref *));
            if (rc != TR_OK)
                return rc;
            break;
        }
        case '[': {
            if (o->type != MSGPACK_OBJECT_ARRAY)
                return TR_EPROTO;
            (*fmt)++;
            int rc = unpack_items(sys, o->via.array.ptr, o->via.array.size, fmt, ap, true);
            if (rc != TR_OK)
                return rc;
            break;
        }
        default: return TR_EINVAL;
        }
    }
    if (in_array)
        return TR_EINVAL; /* no ']' */
    return i == n ? TR_OK : TR_EPROTO;
}

int tr_unpack(tr_system *sys, const void *data, size_t size, const char *fmt, ...)
{
    if (fmt == NULL || (data == NULL && size > 0))
        return TR_EINVAL;
    /* the format bounds what a matching payload holds: at most one element
     * per format character, two more for each reference's [node, id] */
    size_t objects = 0, max_objects = 3 * strlen(fmt) + 2;
    if (size == 0 || !tr_msgpack_check_count(data, size, MAX_DEPTH, max_objects, &objects) ||
        objects != 1)
        return TR_EPROTO;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    int rc = TR_EPROTO;
    if (msgpack_unpack_next(&u, data, size, &off) == MSGPACK_UNPACK_SUCCESS && off == size) {
        va_list ap;
        va_start(ap, fmt);
        rc = unpack_items(sys, &u.data, 1, &fmt, &ap, false);
        va_end(ap);
    }
    msgpack_unpacked_destroy(&u);
    return rc;
}
