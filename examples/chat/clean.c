/* Line cleaning: what one user types is shown on other users' terminals, so
 * nothing in it may move their cursor, change colours, reorder text (bidi
 * overrides) or confuse their UTF-8 decoder. Written by hand: it is one
 * UTF-8 decoder loop (RFC 3629 validity: no overlongs, no surrogates, nothing
 * above U+10FFFF) with a short list of code points to replace; libunistring
 * or ICU would bring a large dependency for these 60 lines. */
#include <stdio.h>
#include <string.h>

#include "chat.h"

static const char REPLACEMENT[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* Length of the valid UTF-8 sequence at p (1-4) and its code point, or 0
 * when the bytes there are not valid UTF-8. */
static size_t decode(const unsigned char *p, size_t left, uint32_t *cp)
{
    unsigned char b = p[0];
    size_t len;
    uint32_t c, min;
    if (b < 0x80) {
        *cp = b;
        return 1;
    } else if (b >= 0xC2 && b <= 0xDF) {
        len = 2, c = b & 0x1F, min = 0x80;
    } else if (b >= 0xE0 && b <= 0xEF) {
        len = 3, c = b & 0x0F, min = 0x800;
    } else if (b >= 0xF0 && b <= 0xF4) {
        len = 4, c = b & 0x07, min = 0x10000;
    } else {
        return 0; /* continuation byte, C0/C1 (overlong ASCII), F5-FF */
    }
    if (left < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (p[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

static bool is_bidi(uint32_t c)
{
    return c == 0x061C || c == 0x200E || c == 0x200F || (c >= 0x202A && c <= 0x202E) ||
           (c >= 0x2066 && c <= 0x2069) || c == 0x2028 || c == 0x2029;
}

size_t chat_clean(const char *in, size_t n, char *out, size_t cap, chat_clean_report *report)
{
    chat_clean_report r = {0};
    const unsigned char *p = (const unsigned char *)in;
    size_t i = 0, o = 0;
    if (cap == 0)
        return 0;
    while (i < n) {
        uint32_t c = 0;
        size_t len = decode(p + i, n - i, &c);
        bool bad = true;
        if (len == 0) {
            r.invalid++;
            len = 1;
        } else if (c == 0) {
            r.nul++;
        } else if ((c < 0x20 && c != '\t') || c == 0x7F || (c >= 0x80 && c <= 0x9F)) {
            r.controls++;
        } else if (is_bidi(c)) {
            r.bidi++;
        } else {
            bad = false;
        }
        const char *src = bad ? REPLACEMENT : (const char *)p + i;
        size_t w = bad ? 3 : len;
        if (o + w >= cap)
            break; /* out of room: stop at a character boundary */
        memcpy(out + o, src, w);
        o += w;
        i += len;
    }
    out[o] = '\0';
    if (report != NULL)
        *report = r;
    return o;
}

bool chat_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t')
            return false;
    return true;
}

void chat_clean_describe(const chat_clean_report *r, char *buf, size_t cap)
{
    static const char *const what[][2] = {{"NUL byte", "NUL bytes"},
                                          {"control character", "control characters"},
                                          {"bidi control", "bidi controls"},
                                          {"invalid UTF-8 byte", "invalid UTF-8 bytes"}};
    uint32_t counts[] = {r->nul, r->controls, r->bidi, r->invalid};
    size_t used = 0;
    buf[0] = '\0';
    int parts = 0;
    for (int k = 0; k < 4; k++) {
        if (counts[k] == 0 || used >= cap)
            continue;
        used += (size_t)snprintf(buf + used, cap - used, "%s%u %s", parts ? ", " : "", counts[k],
                                 what[k][counts[k] != 1]);
        parts++;
    }
    if (parts > 0 && used < cap)
        snprintf(buf + used, cap - used, " replaced by U+FFFD");
}
