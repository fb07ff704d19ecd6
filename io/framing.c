/* Framing: raw chunks, newline-ended lines, 4-byte big-endian lengths. */
#include "io/framing.h"

#include <stdlib.h>
#include <string.h>

void tr_framer_init(tr_framer *f, tr_framing kind, uint32_t max_frame)
{
    memset(f, 0, sizeof(*f));
    f->kind = kind;
    f->max = max_frame;
}

void tr_framer_free(tr_framer *f)
{
    free(f->buf);
    f->buf = NULL;
    f->len = f->cap = 0;
}

/* Appends to the partial frame, which stays within max + 4 bytes. */
static int keep(tr_framer *f, const unsigned char *data, size_t n)
{
    if (f->len + n > f->cap) {
        size_t cap = f->cap ? f->cap : 256;
        while (cap < f->len + n)
            cap *= 2;
        if (cap > (size_t)f->max + 4)
            cap = (size_t)f->max + 4;
        unsigned char *grown = realloc(f->buf, cap);
        if (grown == NULL)
            return TR_ENOMEM;
        f->buf = grown;
        f->cap = cap;
    }
    memcpy(f->buf + f->len, data, n);
    f->len += n;
    return TR_OK;
}

static int feed_lines(tr_framer *f, const unsigned char *data, size_t n, tr_frame_fn emit, void *ctx)
{
    while (n > 0) {
        const unsigned char *nl = memchr(data, '\n', n);
        size_t part = nl != NULL ? (size_t)(nl - data) : n;
        if (f->len + part > f->max)
            return TR_ETOOBIG;
        if (nl == NULL)
            return keep(f, data, n);
        int rc;
        if (f->len == 0) {
            rc = emit(ctx, data, part); /* whole in this read: in place */
        } else {
            if ((rc = keep(f, data, part)) != TR_OK)
                return rc;
            size_t whole = f->len;
            f->len = 0;
            rc = emit(ctx, f->buf, whole);
        }
        if (rc != TR_OK)
            return rc;
        data += part + 1;
        n -= part + 1;
    }
    return TR_OK;
}

static uint32_t read_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static int feed_lengths(tr_framer *f, const unsigned char *data, size_t n, tr_frame_fn emit,
                        void *ctx)
{
    while (n > 0) {
        int rc;
        if (!f->have_header) {
            size_t take = 4 - f->len < n ? 4 - f->len : n;
            if ((rc = keep(f, data, take)) != TR_OK)
                return rc;
            data += take;
            n -= take;
            if (f->len < 4)
                return TR_OK;
            f->need = read_be32(f->buf);
            f->len = 0;
            if (f->need > f->max)
                return TR_ETOOBIG;
            f->have_header = 1;
            if (f->need == 0) {
                f->have_header = 0;
                if ((rc = emit(ctx, NULL, 0)) != TR_OK)
                    return rc;
            }
            continue;
        }
        size_t missing = f->need - f->len;
        if (f->len == 0 && n >= missing) {
            rc = emit(ctx, data, missing); /* whole in this read: in place */
        } else {
            size_t take = missing < n ? missing : n;
            if ((rc = keep(f, data, take)) != TR_OK)
                return rc;
            data += take;
            n -= take;
            if (f->len < f->need)
                return TR_OK;
            missing = 0;
            f->len = 0;
            rc = emit(ctx, f->buf, f->need);
        }
        data += missing;
        n -= missing;
        f->have_header = 0;
        if (rc != TR_OK)
            return rc;
    }
    return TR_OK;
}

int tr_framer_feed(tr_framer *f, const unsigned char *data, size_t n, tr_frame_fn emit, void *ctx)
{
    switch (f->kind) {
    case TR_FRAMING_LINE:
        return feed_lines(f, data, n, emit, ctx);
    case TR_FRAMING_LENGTH:
        return feed_lengths(f, data, n, emit, ctx);
    default:
        return n > 0 ? emit(ctx, data, n) : TR_OK;
    }
}

size_t tr_framer_extra(tr_framing kind)
{
    return kind == TR_FRAMING_LINE ? 1 : kind == TR_FRAMING_LENGTH ? 4 : 0;
}

void tr_framer_wrap_into(tr_framing kind, const void *data, size_t size, unsigned char *p)
{
    if (kind == TR_FRAMING_LENGTH) {
        p[0] = (unsigned char)(size >> 24);
        p[1] = (unsigned char)(size >> 16);
        p[2] = (unsigned char)(size >> 8);
        p[3] = (unsigned char)size;
        p += 4;
    }
    if (size > 0)
        memcpy(p, data, size);
    if (kind == TR_FRAMING_LINE)
        p[size] = '\n';
}

unsigned char *tr_framer_wrap(tr_framing kind, const void *data, size_t size, size_t *out_size)
{
    size_t n = size + tr_framer_extra(kind);
    unsigned char *buf = malloc(n > 0 ? n : 1);
    if (buf == NULL)
        return NULL;
    tr_framer_wrap_into(kind, data, size, buf);
    *out_size = n;
    return buf;
}
