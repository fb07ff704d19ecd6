/* A growable text buffer for building HTTP response bodies (Prometheus
 * text, JSON). Appends never fail loudly: the first allocation failure
 * sets `failed`, later appends do nothing, and the caller checks it once
 * at the end. Written by hand because it is twenty lines and libc has no
 * such thing (open_memstream would tie us to a FILE per request). */
#ifndef TROUPE_OBSERVE_TEXTBUF_H
#define TROUPE_OBSERVE_TEXTBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct tr_textbuf {
    char *data; /* NUL-terminated while len > 0; owned by the buffer */
    size_t len;
    size_t cap;
    bool failed; /* an allocation failed: the text is incomplete */
} tr_textbuf;

/* Appends printf-style text. */
void tr_textbuf_printf(tr_textbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends `s` with JSON string escaping (no surrounding quotes). */
void tr_textbuf_json_escaped(tr_textbuf *b, const char *s);

/* Frees the text; the buffer is empty again. */
void tr_textbuf_free(tr_textbuf *b);

#endif
