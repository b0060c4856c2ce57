/*
 * strbuf: a growable, NUL-terminated byte buffer, and the two text helpers
 * every envplane library that writes JSON or Prometheus text needs — a
 * strict UTF-8 sequence check and JSON string quoting that never emits
 * invalid JSON whatever bytes come in.
 *
 * Out of memory is sticky rather than reported per call: appends after a
 * failed allocation do nothing and ep_strbuf_failed() says so once, at the
 * end, so builders stay a straight line of appends (as in redis' sds users).
 */
#ifndef EP_STRBUF_H
#define EP_STRBUF_H

#include <stddef.h>

typedef struct ep_strbuf {
    char  *p;      /* NUL-terminated when len > 0; NULL before the first append */
    size_t len, cap;
    int    oom;    /* an allocation failed; the content is incomplete */
} ep_strbuf;

/* Embedded object: zero it (or ep_strbuf_init) before use, dispose after. */
void   ep_strbuf_init(ep_strbuf *b);
void   ep_strbuf_dispose(ep_strbuf *b);
int    ep_strbuf_failed(const ep_strbuf *b);

void   ep_strbuf_put(ep_strbuf *b, const char *s, size_t n);
void   ep_strbuf_puts(ep_strbuf *b, const char *s);
void   ep_strbuf_printf(ep_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s (NUL-terminated; NULL = "") as a quoted JSON string: '"' and '\'
 * escaped, control characters as \u00XX, invalid UTF-8 as \ufffd. */
void   ep_strbuf_json_string(ep_strbuf *b, const char *s);

/* Take the content (caller frees; "" if empty) and reset the buffer.
 * Returns NULL after an allocation failure (the buffer is then freed). */
char  *ep_strbuf_take(ep_strbuf *b, size_t *len);

/* Length of the valid UTF-8 sequence at s (n bytes available), or 0 when the
 * bytes there are not one: overlong forms, surrogates and code points above
 * U+10FFFF are invalid, as RFC 3629 says. */
size_t ep_utf8_seq_len(const unsigned char *s, size_t n);

#endif
