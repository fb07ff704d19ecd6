/* The growable text buffer; see textbuf.h. */
#include "observe/textbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static bool reserve(tr_textbuf *b, size_t extra)
{
    if (b->failed)
        return false;
    if (b->len + extra + 1 <= b->cap)
        return true;
    size_t cap = b->cap != 0 ? b->cap : 4096;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (p == NULL) {
        b->failed = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void tr_textbuf_printf(tr_textbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void tr_textbuf_json_escaped(tr_textbuf *b, const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            tr_textbuf_printf(b, "\\%c", c);
        else if (c < 0x20)
            tr_textbuf_printf(b, "\\u%04x", c);
        else
            tr_textbuf_printf(b, "%c", c);
    }
}

void tr_textbuf_free(tr_textbuf *b)
{
    free(b->data);
    *b = (tr_textbuf){0};
}
