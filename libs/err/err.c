/*
 * err: fill and wrap ep_err values.  Everything works in the embedded buffer;
 * nothing here allocates, so it is safe to call on allocation failure paths.
 */
#include "err/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void ep_err_clear(ep_err *e)
{
    if (e == NULL)
        return;
    e->code = 0;
    e->msg[0] = '\0';
}

int ep_err_set(ep_err *e, int code, const char *fmt, ...)
{
    va_list ap;

    if (e == NULL)
        return code;
    e->code = code;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return code;
}

int ep_err_wrap(ep_err *e, const char *fmt, ...)
{
    char    prefix[EP_ERR_MSG_MAX];
    char    old[EP_ERR_MSG_MAX];
    va_list ap;
    int     n;

    if (e == NULL)
        return 0;
    va_start(ap, fmt);
    n = vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    if (n < 0)
        return e->code;
    memcpy(old, e->msg, sizeof old);
    if (old[0] == '\0') {
        memcpy(e->msg, prefix, sizeof e->msg);
    } else {
        /* Truncation is acceptable here: the innermost cause is at the end
         * and the buffer is large; we still never overflow. */
        size_t plen = strnlen(prefix, sizeof prefix);
        size_t olen = strnlen(old, sizeof old);
        size_t cap  = sizeof e->msg - 1, o = 0;
        size_t take = plen < cap ? plen : cap;
        memcpy(e->msg, prefix, take);
        o = take;
        if (o + 2 <= cap) {
            e->msg[o++] = ':';
            e->msg[o++] = ' ';
        }
        take = olen < cap - o ? olen : cap - o;
        memcpy(e->msg + o, old, take);
        o += take;
        e->msg[o] = '\0';
    }
    return e->code;
}
