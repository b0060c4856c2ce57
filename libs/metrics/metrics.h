/*
 * metrics: counters, gauges and histograms exposed in the Prometheus text
 * format 0.0.4.
 *
 * A service creates one registry, asks it for the metrics it updates (get-
 * or-create by name + label set, so two call sites asking for the same series
 * share it) and serves metrics_render() at /metrics (libs/httpd does that).
 * Creation takes the registry's mutex; updates are C11 atomics on the
 * object itself, so hot paths never lock.  Objects live until the registry
 * is destroyed, which is why the functions hand out plain pointers that need
 * no release.  Updates accept NULL so a failed creation (bad name, type or
 * help mismatch, out of memory) degrades to "not counted" rather than a
 * crash; metrics_registry_last_error says what went wrong.
 */
#ifndef EP_METRICS_H
#define EP_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define METRICS_STATUS_MAP(X)                                                          \
    X(METRICS_OK,        0, "ok")                                                      \
    X(METRICS_ENAME,     1, "invalid metric name")                                     \
    X(METRICS_ELABELS,   2, "invalid label set (syntax, name, escaping, or le on a histogram)") \
    X(METRICS_EMISMATCH, 3, "name already registered with another type, help or buckets") \
    X(METRICS_EBUCKETS,  4, "histogram buckets not finite and strictly increasing")    \
    X(METRICS_ENOMEM,    5, "out of memory")

typedef enum {
#define METRICS__ENUM(name, value, text) name = value,
    METRICS_STATUS_MAP(METRICS__ENUM)
#undef METRICS__ENUM
} metrics_status;

/* Static string for a status value ("unknown status" if out of range). */
const char *metrics_strstatus(int status);

typedef struct metrics_registry  metrics_registry;
typedef struct metrics_counter   metrics_counter;
typedef struct metrics_gauge     metrics_gauge;
typedef struct metrics_histogram metrics_histogram;

/* New empty registry (NULL on out of memory); destroy frees it and every
 * object it handed out.  destroy accepts NULL; no other thread may use the
 * registry or its objects during or after destroy. */
metrics_registry *metrics_registry_create(void);
void metrics_registry_destroy(metrics_registry *r);

/* Get-or-create the series name{labels}.  name must match
 * [a-zA-Z_:][a-zA-Z0-9_:]*; help is copied (one line; escaped on output).
 * labels is NULL/"" or a preformatted label set such as
 *   reason="not_json",bucket="environments"
 * whose names match [a-zA-Z_][a-zA-Z0-9_]* (not starting with "__") and
 * whose values are escaped as metrics_label_escape does.  The same name must
 * keep the same type and help (and buckets, for histograms).  Returns a
 * borrowed pointer owned by the registry, or NULL on error (see
 * metrics_registry_last_error).  Thread-safe.  Histogram buckets are upper
 * bounds, finite and strictly increasing (copied); +Inf is implicit. */
metrics_counter   *metrics_counter_get(metrics_registry *r, const char *name, const char *help, const char *labels);
metrics_gauge     *metrics_gauge_get(metrics_registry *r, const char *name, const char *help, const char *labels);
metrics_histogram *metrics_histogram_get(metrics_registry *r, const char *name, const char *help,
                                         const char *labels, const double *buckets, size_t nbuckets);
/* C does not let a typedef and a function share a name, so the short
 * spellings are function-like macros: "metrics_counter *c" is the type and
 * "metrics_counter(r, ...)" the call. */
#define metrics_counter(r, name, help, labels)   metrics_counter_get(r, name, help, labels)
#define metrics_gauge(r, name, help, labels)     metrics_gauge_get(r, name, help, labels)
#define metrics_histogram(r, name, help, labels, buckets, nbuckets) \
    metrics_histogram_get(r, name, help, labels, buckets, nbuckets)

/* Lock-free updates; all accept NULL (then do nothing). */
void metrics_counter_add(metrics_counter *c, uint64_t n);
void metrics_gauge_set(metrics_gauge *g, double v);
void metrics_gauge_add(metrics_gauge *g, double d);
void metrics_histogram_observe(metrics_histogram *h, double v);

/* Current values, for tests and for services that read their own metrics. */
uint64_t metrics_counter_value(const metrics_counter *c);
double   metrics_gauge_value(const metrics_gauge *g);
uint64_t metrics_histogram_count(const metrics_histogram *h);

/* The whole registry as Prometheus text 0.0.4: "# HELP" and "# TYPE" once
 * per family, families sorted by name, series sorted by label set,
 * histograms as _bucket{le="..."} (cumulative, ending at +Inf) / _sum /
 * _count.  Returns a new NUL-terminated string (free with free()) and its
 * length in *len (len may be NULL), or NULL on out of memory.  Thread-safe;
 * concurrent updates may or may not be included, but a histogram's +Inf
 * bucket always equals its _count. */
char *metrics_render(metrics_registry *r, size_t *len);

/* Escape a label value for the text format (\ -> \\, " -> \", newline -> \n)
 * into out (always NUL-terminated when outlen > 0).  Returns the length the
 * full escaped string needs, excluding the NUL (like snprintf): the output
 * was truncated if the result >= outlen. */
size_t metrics_label_escape(const char *in, char *out, size_t outlen);

/* Copy the message of the most recent failed creation into buf (always
 * NUL-terminated; "" if none) and return its status.  Thread-safe. */
int metrics_registry_last_error(metrics_registry *r, char *buf, size_t len);

#endif
