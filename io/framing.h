/* Cutting a received byte stream into frames (tr_framing, socket.h).
 *
 * Bytes already in a frame are handed over in place when the frame lies
 * whole in one read; only a frame split across reads is copied, into a
 * buffer that never grows past max_frame (+ the 4-byte header): a hostile
 * peer cannot make it allocate more. */
#ifndef TROUPE_IO_FRAMING_H
#define TROUPE_IO_FRAMING_H

#include <stddef.h>
#include <stdint.h>

#include "troupe/socket.h"

typedef struct tr_framer {
    tr_framing kind;
    uint32_t max;       /* longest frame */
    unsigned char *buf; /* a frame split across reads (or its header) */
    size_t len, cap;
    uint32_t need;      /* LENGTH: the body size once the header is in, else 0 */
    int have_header;
} tr_framer;

/* Called once per complete frame; a nonzero return stops the feed and is
 * returned by tr_framer_feed. */
typedef int (*tr_frame_fn)(void *ctx, const void *frame, size_t size);

void tr_framer_init(tr_framer *f, tr_framing kind, uint32_t max_frame);
void tr_framer_free(tr_framer *f);

/* Feeds data[0..n). Returns TR_OK, TR_ETOOBIG (a frame above max: the
 * stream is unusable after it), TR_ENOMEM, or what `emit` returned. */
int tr_framer_feed(tr_framer *f, const unsigned char *data, size_t n, tr_frame_fn emit, void *ctx);

/* Bytes the framing adds to a payload (a 4-byte header, or the '\n'). */
size_t tr_framer_extra(tr_framing kind);

/* Writes the framed payload (header or '\n' included) to dst, which has
 * room for size + tr_framer_extra(kind) bytes. */
void tr_framer_wrap_into(tr_framing kind, const void *data, size_t size, unsigned char *dst);

/* The same into a new buffer (malloc'd; its size in *out_size), or NULL on
 * ENOMEM. */
unsigned char *tr_framer_wrap(tr_framing kind, const void *data, size_t size, size_t *out_size);

#endif
