/*
 * log: JSON-lines logging.  Each call formats its whole line into a buffer
 * (on the stack when it fits, else on the heap) and writes it with one
 * write() while holding a process-wide mutex, so concurrent lines never
 * interleave even when the line is longer than PIPE_BUF.  Strings are
 * escaped for JSON and validated as UTF-8 here, because keys and values
 * come from outside input (object names, claim fields) and a log line must
 * stay parseable whatever they contain.
 */
#include "log/log.h"
#include "strbuf/strbuf.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define SERVICE_MAX 64

static const char *const status_text[] = {
#define LOG__TEXT(name, value, text) [value] = text,
    LOG_STATUS_MAP(LOG__TEXT)
#undef LOG__TEXT
};

static const char *const level_names[] = { "debug", "info", "warn", "error" };

/* Global state.  The service name is written only by log_init (documented
 * to run before threads log); level and fd are atomics so log_set_level may
 * run at any time. */
static char            g_service[SERVICE_MAX] = "-";
static atomic_int      g_level = LOG_LEVEL_INFO;
static atomic_int      g_fd = STDERR_FILENO;
static pthread_mutex_t g_write_lock = PTHREAD_MUTEX_INITIALIZER;

const char *log_strstatus(int status)
{
    if (status < 0 || (size_t)status >= sizeof status_text / sizeof status_text[0] ||
        status_text[status] == NULL)
        return "unknown status";
    return status_text[status];
}

void log_init(const char *service, log_level min, FILE *out)
{
    snprintf(g_service, sizeof g_service, "%s", service ? service : "-");
    log_set_level(min);
    atomic_store(&g_fd, out ? fileno(out) : STDERR_FILENO);
}

void log_set_level(log_level min)
{
    if (min < LOG_LEVEL_DEBUG)
        min = LOG_LEVEL_DEBUG;
    if (min > LOG_LEVEL_ERROR)
        min = LOG_LEVEL_ERROR;
    atomic_store_explicit(&g_level, (int)min, memory_order_relaxed);
}

int log_level_parse(const char *s, log_level *out)
{
    if (s == NULL)
        return LOG_EINVAL;
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (log_level)i;
            return LOG_OK;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = LOG_LEVEL_WARN;
        return LOG_OK;
    }
    return LOG_EINVAL;
}

const char *log_level_name(log_level l)
{
    if (l < LOG_LEVEL_DEBUG || l > LOG_LEVEL_ERROR)
        return "unknown";
    return level_names[l];
}

int log_enabled(log_level l)
{
    return (int)l >= atomic_load_explicit(&g_level, memory_order_relaxed);
}

/* A growable line buffer that starts on the caller's stack.  On allocation
 * failure it stops growing and remembers it; the line is then replaced. */
typedef struct linebuf {
    char  *p;
    size_t len, cap;
    int    heap, oom;
} linebuf;

static void lb_reserve(linebuf *b, size_t extra)
{
    size_t want, ncap;
    char  *np;

    if (b->oom)
        return;
    want = b->len + extra;
    if (want <= b->cap)
        return;
    ncap = b->cap * 2;
    while (ncap < want)
        ncap *= 2;
    np = b->heap ? realloc(b->p, ncap) : malloc(ncap);
    if (np == NULL) {
        b->oom = 1;
        return;
    }
    if (!b->heap)
        memcpy(np, b->p, b->len);
    b->p = np;
    b->cap = ncap;
    b->heap = 1;
}

static void lb_put(linebuf *b, const char *s, size_t n)
{
    lb_reserve(b, n);
    if (b->oom)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void lb_puts(linebuf *b, const char *s)
{
    lb_put(b, s, strlen(s));
}

/* Append s as a quoted JSON string. */
static void lb_json_str(linebuf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t               n = strlen(s);
    char                 esc[8];

    lb_put(b, "\"", 1);
    while (n > 0) {
        size_t run = 0;

        /* Copy runs of bytes that need no escaping in one go. */
        while (run < n && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
            run++;
        if (run > 0) {
            lb_put(b, (const char *)p, run);
            p += run;
            n -= run;
            continue;
        }
        if (*p >= 0x80) {
            size_t len = ep_utf8_seq_len(p, n);
            if (len == 0) {
                lb_puts(b, "\\ufffd");
                len = 1;
            } else {
                lb_put(b, (const char *)p, len);
            }
            p += len;
            n -= len;
            continue;
        }
        switch (*p) {
        case '"':  lb_puts(b, "\\\""); break;
        case '\\': lb_puts(b, "\\\\"); break;
        case '\n': lb_puts(b, "\\n"); break;
        case '\r': lb_puts(b, "\\r"); break;
        case '\t': lb_puts(b, "\\t"); break;
        case '\b': lb_puts(b, "\\b"); break;
        case '\f': lb_puts(b, "\\f"); break;
        default:
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            lb_puts(b, esc);
            break;
        }
        p++;
        n--;
    }
    lb_put(b, "\"", 1);
}

static void lb_head(linebuf *b, log_level l, const char *msg)
{
    struct timespec ts;
    struct tm       tm;
    char            tbuf[96];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(tbuf, sizeof tbuf, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    lb_puts(b, "{\"ts\":\"");
    lb_puts(b, tbuf);
    lb_puts(b, "\",\"level\":\"");
    lb_puts(b, log_level_name(l));
    lb_puts(b, "\",\"service\":");
    lb_json_str(b, g_service);
    lb_puts(b, ",\"msg\":");
    lb_json_str(b, msg ? msg : "");
}

/* Write the finished line in one write() (looping only on partial writes
 * and EINTR), then release the buffer. */
static void lb_emit(linebuf *b)
{
    static const char oom_line[] =
        "{\"level\":\"error\",\"msg\":\"log line dropped: out of memory\"}\n";
    const char *p;
    size_t      n;
    int         fd = atomic_load(&g_fd);

    if (b->oom) {
        p = oom_line;
        n = sizeof oom_line - 1;
    } else {
        p = b->p;
        n = b->len;
    }
    pthread_mutex_lock(&g_write_lock);
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            break;   /* Nowhere left to report a failed log write. */
        }
        p += w;
        n -= (size_t)w;
    }
    pthread_mutex_unlock(&g_write_lock);
    if (b->heap)
        free(b->p);
}

void log_kv(log_level l, const char *msg, ...)
{
    char        stack[1024];
    linebuf     b = { stack, 0, sizeof stack, 0, 0 };
    va_list     ap;
    const char *k, *v;

    if (!log_enabled(l))
        return;
    lb_head(&b, l, msg);
    va_start(ap, msg);
    while ((k = va_arg(ap, const char *)) != NULL) {
        v = va_arg(ap, const char *);
        if (v == NULL)
            continue;
        lb_put(&b, ",", 1);
        lb_json_str(&b, k);
        lb_put(&b, ":", 1);
        lb_json_str(&b, v);
    }
    va_end(ap);
    lb_put(&b, "}\n", 2);
    lb_emit(&b);
}

void log_msg(log_level l, const char *fmt, ...)
{
    char    stack[1024], mstack[512];
    char   *m = mstack;
    linebuf b = { stack, 0, sizeof stack, 0, 0 };
    va_list ap;
    int     n;

    if (!log_enabled(l))
        return;
    va_start(ap, fmt);
    n = vsnprintf(mstack, sizeof mstack, fmt, ap);
    va_end(ap);
    if (n < 0) {
        mstack[0] = '\0';
    } else if ((size_t)n >= sizeof mstack) {
        m = malloc((size_t)n + 1);
        if (m == NULL) {
            m = mstack;   /* Log the truncated message rather than nothing. */
        } else {
            va_start(ap, fmt);
            vsnprintf(m, (size_t)n + 1, fmt, ap);
            va_end(ap);
        }
    }
    lb_head(&b, l, m);
    lb_put(&b, "}\n", 2);
    lb_emit(&b);
    if (m != mstack)
        free(m);
}
