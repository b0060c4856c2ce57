/*
 * metrics: the registry behind libs/metrics/metrics.h.
 *
 * A registry is a list of families (one per metric name: type, help,
 * buckets) each holding a list of series (one per label set).  Series are
 * never removed before the registry is destroyed, so the pointers handed out
 * stay valid without reference counting and the hot-path updates touch only
 * the series' own atomics.  Doubles (gauges, histogram sums) are stored as
 * their bit patterns in 64-bit atomics and added with a compare-and-swap
 * loop, since C11 has no atomic floating-point add.  Histogram buckets are
 * counted per bucket (not cumulatively) so an observation is a single
 * increment; render accumulates them and derives _count from the same
 * snapshot, which keeps +Inf equal to _count under concurrent updates.
 */
#include "metrics/metrics.h"
#include "strbuf/strbuf.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM } kind;

struct metrics_counter   { _Atomic uint64_t v; };
struct metrics_gauge     { _Atomic uint64_t bits; };
struct metrics_histogram {
    size_t            nb;          /* finite buckets; counts has nb + 1 (the last is +Inf) */
    const double     *bounds;      /* the family's copy */
    _Atomic uint64_t  sum_bits;
    _Atomic uint64_t *counts;
};

typedef struct series {
    char          *labels;         /* validated label set, "" for none */
    struct series *next;
    union {
        metrics_counter   c;
        metrics_gauge     g;
        metrics_histogram h;
    } u;
} series;

typedef struct family {
    char          *name, *help;
    kind           kind;
    double        *bounds;
    size_t         nb;
    series        *series;
    size_t         nseries;
    struct family *next;
} family;

struct metrics_registry {
    pthread_mutex_t lock;
    family         *families;
    size_t          nfamilies;
    int             last_code;
    char            last_msg[256];
};

static const char *const status_text[] = {
#define METRICS__TEXT(name, value, text) [value] = text,
    METRICS_STATUS_MAP(METRICS__TEXT)
#undef METRICS__TEXT
};

const char *metrics_strstatus(int status)
{
    if (status < 0 || (size_t)status >= sizeof status_text / sizeof status_text[0] ||
        status_text[status] == NULL)
        return "unknown status";
    return status_text[status];
}

static uint64_t dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double bitsd(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

metrics_registry *metrics_registry_create(void)
{
    metrics_registry *r = calloc(1, sizeof *r);

    if (r == NULL)
        return NULL;
    if (pthread_mutex_init(&r->lock, NULL) != 0) {
        free(r);
        return NULL;
    }
    return r;
}

static void series_free(series *s, kind k)
{
    if (s == NULL)
        return;
    if (k == KIND_HISTOGRAM)
        free(s->u.h.counts);
    free(s->labels);
    free(s);
}

static void family_free(family *f)
{
    series *s, *next;

    if (f == NULL)
        return;
    for (s = f->series; s != NULL; s = next) {
        next = s->next;
        series_free(s, f->kind);
    }
    free(f->name);
    free(f->help);
    free(f->bounds);
    free(f);
}

void metrics_registry_destroy(metrics_registry *r)
{
    family *f, *next;

    if (r == NULL)
        return;
    for (f = r->families; f != NULL; f = next) {
        next = f->next;
        family_free(f);
    }
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* Record a creation failure (called with the lock held). */
static void *fail(metrics_registry *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void *fail(metrics_registry *r, int code, const char *fmt, ...)
{
    va_list ap;

    r->last_code = code;
    va_start(ap, fmt);
    vsnprintf(r->last_msg, sizeof r->last_msg, fmt, ap);
    va_end(ap);
    return NULL;
}

int metrics_registry_last_error(metrics_registry *r, char *buf, size_t len)
{
    int code;

    if (r == NULL)
        return METRICS_OK;
    pthread_mutex_lock(&r->lock);
    code = r->last_code;
    if (len > 0)
        snprintf(buf, len, "%s", r->last_msg);
    pthread_mutex_unlock(&r->lock);
    return code;
}

static int name_ok(const char *s)
{
    if (s == NULL || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_' || *s == ':'))
        return 0;
    for (s++; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == ':'))
            return 0;
    return 1;
}

/* Validate a preformatted label set: name="value"(,name="value")*.  Values
 * may contain only the escapes \\, \" and \n, and no raw newline.  With
 * forbid_le, a label named le (reserved for histogram buckets) is refused. */
static int labels_ok(const char *s, int forbid_le)
{
    while (*s) {
        const char *n = s;
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
            return 0;
        for (s++; (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                  *s == '_';
             s++)
            ;
        if (s - n >= 2 && n[0] == '_' && n[1] == '_')
            return 0;
        if (forbid_le && s - n == 2 && n[0] == 'l' && n[1] == 'e')
            return 0;
        if (s[0] != '=' || s[1] != '"')
            return 0;
        for (s += 2; *s != '"'; s++) {
            if (*s == '\0' || *s == '\n')
                return 0;
            if (*s == '\\') {
                s++;
                if (*s != '\\' && *s != '"' && *s != 'n')
                    return 0;
            }
        }
        s++;
        if (*s == ',') {
            s++;
            if (*s == '\0')
                return 0;
        } else if (*s != '\0') {
            return 0;
        }
    }
    return 1;
}

static const char *kind_name(kind k)
{
    return k == KIND_COUNTER ? "counter" : k == KIND_GAUGE ? "gauge" : "histogram";
}

/* The shared get-or-create path. */
static series *get_series(metrics_registry *r, kind k, const char *name, const char *help,
                          const char *labels, const double *buckets, size_t nb)
{
    family *f;
    series *s = NULL;

    if (r == NULL)
        return NULL;
    if (labels == NULL)
        labels = "";
    if (help == NULL)
        help = "";
    pthread_mutex_lock(&r->lock);
    if (!name_ok(name)) {
        fail(r, METRICS_ENAME, "metric name \"%s\" is not [a-zA-Z_:][a-zA-Z0-9_:]*", name ? name : "(null)");
        goto out;
    }
    if (!labels_ok(labels, k == KIND_HISTOGRAM)) {
        fail(r, METRICS_ELABELS, "%s: invalid label set {%s}", name, labels);
        goto out;
    }
    for (f = r->families; f != NULL; f = f->next)
        if (strcmp(f->name, name) == 0)
            break;
    if (f != NULL) {
        if (f->kind != k) {
            fail(r, METRICS_EMISMATCH, "%s is a %s, not a %s", name, kind_name(f->kind), kind_name(k));
            goto out;
        }
        if (strcmp(f->help, help) != 0) {
            fail(r, METRICS_EMISMATCH, "%s registered with another help text", name);
            goto out;
        }
        if (k == KIND_HISTOGRAM &&
            (f->nb != nb || (nb > 0 && memcmp(f->bounds, buckets, nb * sizeof *buckets) != 0))) {
            fail(r, METRICS_EMISMATCH, "%s registered with other buckets", name);
            goto out;
        }
        for (s = f->series; s != NULL; s = s->next)
            if (strcmp(s->labels, labels) == 0)
                goto out;
    } else {
        if (k == KIND_HISTOGRAM) {
            if (nb > 0 && buckets == NULL) {
                fail(r, METRICS_EBUCKETS, "%s: no buckets", name);
                goto out;
            }
            for (size_t i = 0; i < nb; i++) {
                if (!isfinite(buckets[i]) || (i > 0 && !(buckets[i] > buckets[i - 1]))) {
                    fail(r, METRICS_EBUCKETS, "%s: buckets must be finite and strictly increasing", name);
                    goto out;
                }
            }
        }
        f = calloc(1, sizeof *f);
        if (f == NULL || (f->name = strdup(name)) == NULL || (f->help = strdup(help)) == NULL ||
            (nb > 0 && (f->bounds = malloc(nb * sizeof *buckets)) == NULL)) {
            family_free(f);
            fail(r, METRICS_ENOMEM, "%s: out of memory", name);
            goto out;
        }
        f->kind = k;
        f->nb = k == KIND_HISTOGRAM ? nb : 0;
        if (f->nb > 0)
            memcpy(f->bounds, buckets, nb * sizeof *buckets);
        f->next = r->families;
        r->families = f;
        r->nfamilies++;
    }
    s = calloc(1, sizeof *s);
    if (s == NULL || (s->labels = strdup(labels)) == NULL ||
        (k == KIND_HISTOGRAM && (s->u.h.counts = calloc(f->nb + 1, sizeof *s->u.h.counts)) == NULL)) {
        series_free(s, k);
        s = fail(r, METRICS_ENOMEM, "%s: out of memory", name);
        goto out;
    }
    if (k == KIND_HISTOGRAM) {
        s->u.h.nb = f->nb;
        s->u.h.bounds = f->bounds;
        atomic_init(&s->u.h.sum_bits, dbits(0.0));
    } else if (k == KIND_GAUGE) {
        atomic_init(&s->u.g.bits, dbits(0.0));
    }
    s->next = f->series;
    f->series = s;
    f->nseries++;
out:
    pthread_mutex_unlock(&r->lock);
    return s;
}

metrics_counter *metrics_counter_get(metrics_registry *r, const char *name, const char *help, const char *labels)
{
    series *s = get_series(r, KIND_COUNTER, name, help, labels, NULL, 0);
    return s ? &s->u.c : NULL;
}

metrics_gauge *metrics_gauge_get(metrics_registry *r, const char *name, const char *help, const char *labels)
{
    series *s = get_series(r, KIND_GAUGE, name, help, labels, NULL, 0);
    return s ? &s->u.g : NULL;
}

metrics_histogram *metrics_histogram_get(metrics_registry *r, const char *name, const char *help,
                                         const char *labels, const double *buckets, size_t nbuckets)
{
    series *s = get_series(r, KIND_HISTOGRAM, name, help, labels, buckets, nbuckets);
    return s ? &s->u.h : NULL;
}

void metrics_counter_add(metrics_counter *c, uint64_t n)
{
    if (c != NULL)
        atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed);
}

void metrics_gauge_set(metrics_gauge *g, double v)
{
    if (g != NULL)
        atomic_store_explicit(&g->bits, dbits(v), memory_order_relaxed);
}

static void atomic_add_double(_Atomic uint64_t *bits, double d)
{
    uint64_t old = atomic_load_explicit(bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(bits, &old, dbits(bitsd(old) + d),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

void metrics_gauge_add(metrics_gauge *g, double d)
{
    if (g != NULL)
        atomic_add_double(&g->bits, d);
}

void metrics_histogram_observe(metrics_histogram *h, double v)
{
    size_t lo = 0, hi;

    if (h == NULL)
        return;
    /* Binary search for the first bound >= v; NaN lands in +Inf. */
    hi = h->nb;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v <= h->bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    atomic_fetch_add_explicit(&h->counts[lo], 1, memory_order_relaxed);
    atomic_add_double(&h->sum_bits, v);
}

uint64_t metrics_counter_value(const metrics_counter *c)
{
    return c ? atomic_load_explicit(&((metrics_counter *)c)->v, memory_order_relaxed) : 0;
}

double metrics_gauge_value(const metrics_gauge *g)
{
    return g ? bitsd(atomic_load_explicit(&((metrics_gauge *)g)->bits, memory_order_relaxed)) : 0.0;
}

uint64_t metrics_histogram_count(const metrics_histogram *h)
{
    uint64_t n = 0;

    if (h == NULL)
        return 0;
    for (size_t i = 0; i <= h->nb; i++)
        n += atomic_load_explicit(&((metrics_histogram *)h)->counts[i], memory_order_relaxed);
    return n;
}

size_t metrics_label_escape(const char *in, char *out, size_t outlen)
{
    size_t need = 0;

    for (; in != NULL && *in; in++) {
        const char *rep = NULL;
        char        one[2] = { *in, '\0' };
        if (*in == '\\')
            rep = "\\\\";
        else if (*in == '"')
            rep = "\\\"";
        else if (*in == '\n')
            rep = "\\n";
        else
            rep = one;
        for (; *rep; rep++, need++)
            if (need + 1 < outlen)
                out[need] = *rep;
    }
    if (outlen > 0)
        out[need < outlen ? need : outlen - 1] = '\0';
    return need;
}

/* ---- rendering ---------------------------------------------------------------- */

/* Shortest text that reads back as the same double; Prometheus spellings for
 * the special values. */
static void fmt_double(double d, char *buf, size_t len)
{
    if (isnan(d)) {
        snprintf(buf, len, "NaN");
        return;
    }
    if (isinf(d)) {
        snprintf(buf, len, d > 0 ? "+Inf" : "-Inf");
        return;
    }
    /* Whole numbers (counts, sizes, byte totals) read better without an
     * exponent: 400000, not 4e+05. */
    if (d == floor(d) && fabs(d) < 1e15) {
        snprintf(buf, len, "%.0f", d);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            return;
    }
}

static void sb_series_name(ep_strbuf *b, const char *name, const char *suffix, const char *labels,
                           const char *le)
{
    ep_strbuf_puts(b, name);
    ep_strbuf_puts(b, suffix);
    if (*labels == '\0' && le == NULL)
        return;
    ep_strbuf_put(b, "{", 1);
    ep_strbuf_puts(b, labels);
    if (le != NULL) {
        if (*labels)
            ep_strbuf_put(b, ",", 1);
        ep_strbuf_puts(b, "le=\"");
        ep_strbuf_puts(b, le);
        ep_strbuf_put(b, "\"", 1);
    }
    ep_strbuf_put(b, "}", 1);
}

static void sb_help(ep_strbuf *b, const char *help)
{
    for (; *help; help++) {
        if (*help == '\\')
            ep_strbuf_puts(b, "\\\\");
        else if (*help == '\n')
            ep_strbuf_puts(b, "\\n");
        else
            ep_strbuf_put(b, help, 1);
    }
}

static int cmp_family(const void *a, const void *b)
{
    return strcmp((*(family *const *)a)->name, (*(family *const *)b)->name);
}

static int cmp_series(const void *a, const void *b)
{
    return strcmp((*(series *const *)a)->labels, (*(series *const *)b)->labels);
}

static void render_family(ep_strbuf *b, family *f, series **tmp)
{
    char   num[64];
    size_t i = 0;

    ep_strbuf_puts(b, "# HELP ");
    ep_strbuf_puts(b, f->name);
    ep_strbuf_put(b, " ", 1);
    sb_help(b, f->help);
    ep_strbuf_printf(b, "\n# TYPE %s %s\n", f->name, kind_name(f->kind));
    for (series *s = f->series; s != NULL; s = s->next)
        tmp[i++] = s;
    qsort(tmp, f->nseries, sizeof *tmp, cmp_series);
    for (i = 0; i < f->nseries; i++) {
        series *s = tmp[i];
        switch (f->kind) {
        case KIND_COUNTER:
            sb_series_name(b, f->name, "", s->labels, NULL);
            ep_strbuf_printf(b, " %llu\n", (unsigned long long)metrics_counter_value(&s->u.c));
            break;
        case KIND_GAUGE:
            sb_series_name(b, f->name, "", s->labels, NULL);
            fmt_double(metrics_gauge_value(&s->u.g), num, sizeof num);
            ep_strbuf_printf(b, " %s\n", num);
            break;
        case KIND_HISTOGRAM: {
            uint64_t cum = 0;
            for (size_t j = 0; j <= f->nb; j++) {
                if (j < f->nb)
                    fmt_double(f->bounds[j], num, sizeof num);
                else
                    snprintf(num, sizeof num, "+Inf");
                cum += atomic_load_explicit(&s->u.h.counts[j], memory_order_relaxed);
                sb_series_name(b, f->name, "_bucket", s->labels, num);
                ep_strbuf_printf(b, " %llu\n", (unsigned long long)cum);
            }
            sb_series_name(b, f->name, "_sum", s->labels, NULL);
            fmt_double(bitsd(atomic_load_explicit(&s->u.h.sum_bits, memory_order_relaxed)), num, sizeof num);
            ep_strbuf_printf(b, " %s\n", num);
            sb_series_name(b, f->name, "_count", s->labels, NULL);
            ep_strbuf_printf(b, " %llu\n", (unsigned long long)cum);
            break;
        }
        }
    }
}

char *metrics_render(metrics_registry *r, size_t *len)
{
    ep_strbuf   b = { NULL, 0, 0, 0 };
    family **fams = NULL;
    series **tmp = NULL;
    size_t   i, maxs = 1;

    if (len != NULL)
        *len = 0;
    if (r == NULL)
        return NULL;
    pthread_mutex_lock(&r->lock);
    fams = malloc((r->nfamilies ? r->nfamilies : 1) * sizeof *fams);
    i = 0;
    for (family *f = r->families; fams != NULL && f != NULL; f = f->next) {
        fams[i++] = f;
        if (f->nseries > maxs)
            maxs = f->nseries;
    }
    tmp = malloc(maxs * sizeof *tmp);
    if (fams == NULL || tmp == NULL) {
        b.oom = 1;
        goto out;
    }
    qsort(fams, r->nfamilies, sizeof *fams, cmp_family);
    ep_strbuf_put(&b, "", 0);   /* An empty registry still renders as "". */
    for (i = 0; i < r->nfamilies; i++)
        render_family(&b, fams[i], tmp);
out:
    pthread_mutex_unlock(&r->lock);
    free(fams);
    free(tmp);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    if (len != NULL)
        *len = b.len;
    return b.p;
}
