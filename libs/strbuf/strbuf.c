/*
 * strbuf: growable buffer, UTF-8 sequence check, JSON string quoting.
 * Growth doubles from 256 bytes so a rendered /metrics page or JSON body
 * costs O(log n) reallocations.
 */
#include "strbuf/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ep_strbuf_init(ep_strbuf *b)
{
    memset(b, 0, sizeof *b);
}

void ep_strbuf_dispose(ep_strbuf *b)
{
    free(b->p);
    ep_strbuf_init(b);
}

int ep_strbuf_failed(const ep_strbuf *b)
{
    return b->oom;
}

static int reserve(ep_strbuf *b, size_t extra)
{
    size_t ncap;
    char  *np;

    if (b->oom)
        return -1;
    if (b->len + extra + 1 <= b->cap)
        return 0;
    ncap = b->cap ? b->cap * 2 : 256;
    while (ncap < b->len + extra + 1)
        ncap *= 2;
    if ((np = realloc(b->p, ncap)) == NULL) {
        b->oom = 1;
        return -1;
    }
    b->p = np;
    b->cap = ncap;
    return 0;
}

void ep_strbuf_put(ep_strbuf *b, const char *s, size_t n)
{
    if (reserve(b, n) != 0)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void ep_strbuf_puts(ep_strbuf *b, const char *s)
{
    ep_strbuf_put(b, s, strlen(s));
}

void ep_strbuf_printf(ep_strbuf *b, const char *fmt, ...)
{
    va_list ap;
    int     n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(b, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

size_t ep_utf8_seq_len(const unsigned char *s, size_t n)
{
    size_t   len;
    unsigned cp;

    if (n == 0)
        return 0;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        len = 2, cp = s[0] & 0x1F;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        len = 3, cp = s[0] & 0x0F;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        len = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

void ep_strbuf_json_string(ep_strbuf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t               n = strlen((const char *)p);
    char                 esc[8];

    ep_strbuf_put(b, "\"", 1);
    while (n > 0) {
        size_t k;
        if (*p == '"' || *p == '\\') {
            ep_strbuf_put(b, "\\", 1);
            ep_strbuf_put(b, (const char *)p, 1);
            k = 1;
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            ep_strbuf_puts(b, esc);
            k = 1;
        } else if ((k = ep_utf8_seq_len(p, n)) == 0) {
            ep_strbuf_puts(b, "\\ufffd");
            k = 1;
        } else {
            ep_strbuf_put(b, (const char *)p, k);
        }
        p += k;
        n -= k;
    }
    ep_strbuf_put(b, "\"", 1);
}

char *ep_strbuf_take(ep_strbuf *b, size_t *len)
{
    char *out;

    if (b->oom) {
        ep_strbuf_dispose(b);
        return NULL;
    }
    out = b->p ? b->p : strdup("");
    if (len)
        *len = b->len;
    ep_strbuf_init(b);
    return out;
}
