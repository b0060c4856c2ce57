/*
 * test_metrics: the Prometheus registry.  A small registry is rendered and
 * compared with the exact expected exposition text; invalid names, label
 * sets, buckets and conflicting registrations are refused with a reason;
 * and several threads create, update and render at once, after which the
 * totals must be exact and every rendered histogram must have its +Inf
 * bucket equal to its _count.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <pthread.h>

#include <cmocka.h>

#include "metrics/metrics.h"

#include "chaos.h"

static void test_render_golden(void **state)
{
    static const double b[] = { 0.1, 0.5, 1 };
    metrics_registry   *r = metrics_registry_create();
    metrics_counter    *c1, *c2;
    metrics_gauge      *g;
    metrics_histogram  *h;
    char               *text;
    size_t              len;

    (void)state;
    assert_non_null(r);
    c1 = metrics_counter(r, "ep_claims_rejected_total", "Claims rejected.", "reason=\"not_json\"");
    c2 = metrics_counter(r, "ep_claims_rejected_total", "Claims rejected.", "reason=\"bad_field\"");
    assert_ptr_equal(metrics_counter(r, "ep_claims_rejected_total", "Claims rejected.", "reason=\"not_json\""), c1);
    assert_ptr_not_equal(c1, c2);
    metrics_counter_add(c1, 3);
    metrics_counter_add(c2, 1);
    metrics_counter_add(c1, 2);
    g = metrics_gauge(r, "ep_inflight", "In-flight work\\with \"quotes\"\nand a newline.", NULL);
    metrics_gauge_set(g, 2.5);
    metrics_gauge_add(g, -1);
    h = metrics_histogram(r, "ep_latency_seconds", "Latency.", "op=\"get\"", b, 3);
    metrics_histogram_observe(h, 0.1);    /* on the bound: counts in le="0.1" */
    metrics_histogram_observe(h, 0.3);
    metrics_histogram_observe(h, 0.7);
    metrics_histogram_observe(h, 7);
    metrics_counter_add(metrics_counter(r, "a_first_total", "Sorted first.", ""), 1);
    text = metrics_render(r, &len);
    assert_non_null(text);
    assert_int_equal(len, strlen(text));
    assert_string_equal(text,
        "# HELP a_first_total Sorted first.\n"
        "# TYPE a_first_total counter\n"
        "a_first_total 1\n"
        "# HELP ep_claims_rejected_total Claims rejected.\n"
        "# TYPE ep_claims_rejected_total counter\n"
        "ep_claims_rejected_total{reason=\"bad_field\"} 1\n"
        "ep_claims_rejected_total{reason=\"not_json\"} 5\n"
        "# HELP ep_inflight In-flight work\\\\with \"quotes\"\\nand a newline.\n"
        "# TYPE ep_inflight gauge\n"
        "ep_inflight 1.5\n"
        "# HELP ep_latency_seconds Latency.\n"
        "# TYPE ep_latency_seconds histogram\n"
        "ep_latency_seconds_bucket{op=\"get\",le=\"0.1\"} 1\n"
        "ep_latency_seconds_bucket{op=\"get\",le=\"0.5\"} 2\n"
        "ep_latency_seconds_bucket{op=\"get\",le=\"1\"} 3\n"
        "ep_latency_seconds_bucket{op=\"get\",le=\"+Inf\"} 4\n"
        "ep_latency_seconds_sum{op=\"get\"} 8.1\n"
        "ep_latency_seconds_count{op=\"get\"} 4\n");
    free(text);
    assert_int_equal(metrics_counter_value(c1), 5);
    assert_true(metrics_gauge_value(g) == 1.5);
    assert_int_equal(metrics_histogram_count(h), 4);
    metrics_registry_destroy(r);
}

static void test_special_values(void **state)
{
    metrics_registry *r = metrics_registry_create();
    char             *text;

    (void)state;
    metrics_gauge_set(metrics_gauge(r, "g_nan", "n", NULL), NAN);
    metrics_gauge_set(metrics_gauge(r, "g_pinf", "p", NULL), INFINITY);
    metrics_gauge_set(metrics_gauge(r, "g_ninf", "m", NULL), -INFINITY);
    metrics_gauge_set(metrics_gauge(r, "g_small", "s", NULL), 1e-9);
    metrics_gauge_set(metrics_gauge(r, "g_big", "b", NULL), 12345678901234.0);
    metrics_histogram(r, "h_empty", "no buckets", NULL, NULL, 0);
    text = metrics_render(r, NULL);
    assert_non_null(text);
    assert_non_null(strstr(text, "g_nan NaN\n"));
    assert_non_null(strstr(text, "g_pinf +Inf\n"));
    assert_non_null(strstr(text, "g_ninf -Inf\n"));
    assert_non_null(strstr(text, "g_small 1e-09\n"));
    assert_non_null(strstr(text, "g_big 12345678901234\n"));
    assert_non_null(strstr(text, "h_empty_bucket{le=\"+Inf\"} 0\nh_empty_sum 0\nh_empty_count 0\n"));
    free(text);
    metrics_registry_destroy(r);

    /* An empty registry renders as "". */
    r = metrics_registry_create();
    size_t len = 99;
    text = metrics_render(r, &len);
    assert_non_null(text);
    assert_string_equal(text, "");
    assert_int_equal(len, 0);
    free(text);
    metrics_registry_destroy(r);
    metrics_registry_destroy(NULL);
    assert_null(metrics_render(NULL, &len));
}

static void expect_refused(metrics_registry *r, void *p, int code, const char *needle)
{
    char msg[256];

    assert_null(p);
    assert_int_equal(metrics_registry_last_error(r, msg, sizeof msg), code);
    if (strstr(msg, needle) == NULL)
        fail_msg("\"%s\" does not mention \"%s\"", msg, needle);
}

static void test_validation(void **state)
{
    static const double good[] = { 1, 2 }, bad1[] = { 2, 1 }, bad2[] = { 1, 1 }, bad3[] = { 1, INFINITY };
    metrics_registry *r = metrics_registry_create();
    char              msg[64];

    (void)state;
    assert_int_equal(metrics_registry_last_error(r, msg, sizeof msg), METRICS_OK);
    assert_string_equal(msg, "");
    expect_refused(r, metrics_counter(r, "9lives", "h", NULL), METRICS_ENAME, "9lives");
    expect_refused(r, metrics_counter(r, "has-dash", "h", NULL), METRICS_ENAME, "has-dash");
    expect_refused(r, metrics_counter(r, "", "h", NULL), METRICS_ENAME, "\"\"");
    expect_refused(r, metrics_counter(r, NULL, "h", NULL), METRICS_ENAME, "(null)");
    assert_non_null(metrics_counter(r, "ns:sub_total", "colons are legal", NULL));

    static const char *const bad_labels[] = {
        "a=b", "a=\"b", "a=\"b\",", "a=\"b\"c=\"d\"", "1a=\"b\"", "__x=\"y\"", "a=\"b\\q\"", "a=\"line\nbreak\"",
        "=\"v\"", "a =\"b\"", "a=\"b\"\"",
    };
    for (size_t i = 0; i < sizeof bad_labels / sizeof bad_labels[0]; i++)
        expect_refused(r, metrics_counter(r, "lbl_total", "h", bad_labels[i]), METRICS_ELABELS, "invalid label set");
    assert_non_null(metrics_counter(r, "lbl_total", "h", "a=\"x\\\\y\\\"z\\n\",b_2=\"\""));

    assert_non_null(metrics_counter(r, "typed", "help one", NULL));
    expect_refused(r, metrics_gauge(r, "typed", "help one", NULL), METRICS_EMISMATCH, "typed is a counter, not a gauge");
    expect_refused(r, metrics_counter(r, "typed", "help two", NULL), METRICS_EMISMATCH, "another help");

    expect_refused(r, metrics_histogram(r, "h1", "h", NULL, bad1, 2), METRICS_EBUCKETS, "increasing");
    expect_refused(r, metrics_histogram(r, "h1", "h", NULL, bad2, 2), METRICS_EBUCKETS, "increasing");
    expect_refused(r, metrics_histogram(r, "h1", "h", NULL, bad3, 2), METRICS_EBUCKETS, "finite");
    expect_refused(r, metrics_histogram(r, "h1", "h", NULL, NULL, 2), METRICS_EBUCKETS, "no buckets");
    assert_non_null(metrics_histogram(r, "h1", "h", NULL, good, 2));
    expect_refused(r, metrics_histogram(r, "h1", "h", NULL, good, 1), METRICS_EMISMATCH, "other buckets");
    expect_refused(r, metrics_histogram(r, "h1", "h", "le=\"1\"", good, 2), METRICS_ELABELS, "invalid label set");
    /* le is only reserved for histograms. */
    assert_non_null(metrics_counter(r, "le_ok_total", "h", "le=\"1\""));

    /* Updates on NULL are no-ops, not crashes. */
    metrics_counter_add(NULL, 1);
    metrics_gauge_set(NULL, 1);
    metrics_gauge_add(NULL, 1);
    metrics_histogram_observe(NULL, 1);
    assert_int_equal(metrics_counter_value(NULL), 0);
    assert_null(metrics_counter(NULL, "x", "h", NULL));
    assert_string_equal(metrics_strstatus(METRICS_EBUCKETS), "histogram buckets not finite and strictly increasing");
    metrics_registry_destroy(r);
}

static void test_label_escape(void **state)
{
    char   out[64], tiny[5];
    size_t n;

    (void)state;
    n = metrics_label_escape("a\\b\"c\nd", out, sizeof out);
    assert_string_equal(out, "a\\\\b\\\"c\\nd");
    assert_int_equal(n, strlen(out));
    n = metrics_label_escape("\"\"\"", tiny, sizeof tiny);
    assert_int_equal(n, 6);              /* what it needed */
    assert_string_equal(tiny, "\\\"\\\"");   /* what fitted */
    assert_int_equal(metrics_label_escape("abc", NULL, 0), 3);
    assert_int_equal(metrics_label_escape("", out, sizeof out), 0);
    assert_string_equal(out, "");

    /* An escaped value is always a valid label value. */
    char labels[80];
    metrics_registry *r = metrics_registry_create();
    metrics_label_escape("evil\"},x=\"1\n\\", out, sizeof out);
    snprintf(labels, sizeof labels, "v=\"%s\"", out);
    assert_non_null(metrics_counter(r, "esc_total", "h", labels));
    metrics_registry_destroy(r);
}

#define THREADS 8
#define ITERS 100000

static const double tb[] = { 1, 10, 100 };

typedef struct shared {
    metrics_registry *r;
    pthread_barrier_t go;
} shared;

static void *hammer(void *arg)
{
    shared *sh = arg;

    pthread_barrier_wait(&sh->go);
    /* Everyone asks for the same series at once. */
    metrics_counter   *c = metrics_counter(sh->r, "hits_total", "Hits.", "k=\"v\"");
    metrics_gauge     *g = metrics_gauge(sh->r, "level", "Level.", NULL);
    metrics_histogram *h = metrics_histogram(sh->r, "sizes", "Sizes.", NULL, tb, 3);
    for (int i = 0; i < ITERS; i++) {
        metrics_counter_add(c, 1);
        metrics_gauge_add(g, 0.5);
        metrics_histogram_observe(h, (double)(i % 200));
    }
    return c;
}

static void check_consistent(const char *text)
{
    /* +Inf bucket equals _count in every snapshot. */
    const char *inf = strstr(text, "sizes_bucket{le=\"+Inf\"} ");
    const char *cnt = strstr(text, "sizes_count ");
    if (inf == NULL || cnt == NULL)
        return;   /* not created yet */
    assert_int_equal(strtoull(inf + strlen("sizes_bucket{le=\"+Inf\"} "), NULL, 10),
                     strtoull(cnt + strlen("sizes_count "), NULL, 10));
}

static void test_threads(void **state)
{
    shared    sh = { 0 };
    pthread_t t[THREADS];
    void     *ret[THREADS];
    char     *text;

    (void)state;
    sh.r = metrics_registry_create();
    pthread_barrier_init(&sh.go, NULL, THREADS + 1);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &sh), 0);
    pthread_barrier_wait(&sh.go);
    for (int i = 0; i < 50; i++) {
        text = metrics_render(sh.r, NULL);
        assert_non_null(text);
        check_consistent(text);
        free(text);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], &ret[i]);
    for (int i = 1; i < THREADS; i++)
        assert_ptr_equal(ret[i], ret[0]);   /* one series, not eight */
    text = metrics_render(sh.r, NULL);
    assert_non_null(strstr(text, "hits_total{k=\"v\"} 800000\n"));
    assert_non_null(strstr(text, "level 400000\n"));
    /* Per thread: i%200 in 0..199 -> le=1: 0,1 (2 per 200), le=10: 11, le=100: 101. */
    assert_non_null(strstr(text, "sizes_bucket{le=\"1\"} 8000\n"));
    assert_non_null(strstr(text, "sizes_bucket{le=\"10\"} 44000\n"));
    assert_non_null(strstr(text, "sizes_bucket{le=\"100\"} 404000\n"));
    assert_non_null(strstr(text, "sizes_bucket{le=\"+Inf\"} 800000\n"));
    assert_non_null(strstr(text, "sizes_sum 79600000\n"));
    assert_non_null(strstr(text, "sizes_count 800000\n"));
    free(text);
    pthread_barrier_destroy(&sh.go);
    metrics_registry_destroy(sh.r);
}

/* Fail each allocation of create / get-or-create / render in turn: every
 * failure is a NULL (with METRICS_ENOMEM recorded), whatever was created
 * keeps working, and destroy frees it all. */
static void test_alloc_failures(void **state)
{
    static const double b[] = { 1, 2 };
    long                i;

    (void)state;
    if (!chaos_available()) {
        skip();
        return;
    }
    for (i = 0;; i++) {
        long               live = chaos_live;
        metrics_registry  *r;
        metrics_counter   *c = NULL, *c2 = NULL;
        metrics_gauge     *g = NULL;
        metrics_histogram *h = NULL;
        char              *text = NULL, msg[128];
        int                hit;

        chaos_arm(i);
        r = metrics_registry_create();
        if (r != NULL) {
            c = metrics_counter(r, "c_total", "c", "a=\"1\"");
            c2 = metrics_counter(r, "c_total", "c", "a=\"2\"");
            g = metrics_gauge(r, "g", "g", NULL);
            h = metrics_histogram(r, "h", "h", "x=\"y\"", b, 2);
            text = metrics_render(r, NULL);
        }
        hit = chaos_disarm();
        metrics_counter_add(c, 1);
        metrics_counter_add(c2, 1);
        metrics_gauge_set(g, 1);
        metrics_histogram_observe(h, 1.5);
        if (!hit) {
            assert_non_null(text);
            assert_non_null(strstr(text, "h_bucket{x=\"y\",le=\"+Inf\"} 0\n"));
            free(text);
            metrics_registry_destroy(r);
            break;
        }
        if (r != NULL && (c == NULL || c2 == NULL || g == NULL || h == NULL))
            assert_int_equal(metrics_registry_last_error(r, msg, sizeof msg), METRICS_ENOMEM);
        if (r != NULL && c != NULL && c2 != NULL && g != NULL && h != NULL)
            assert_null(text);   /* the failure was in render */
        free(text);
        /* Whatever was created still works after the failure. */
        if (c != NULL && r != NULL) {
            assert_ptr_equal(metrics_counter(r, "c_total", "c", "a=\"1\""), c);
            assert_int_equal(metrics_counter_value(c), 1);
        }
        metrics_registry_destroy(r);
        assert_int_equal(chaos_live, live);   /* nothing leaked on this path */
    }
    assert_true(i >= 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_golden),
        cmocka_unit_test(test_special_values),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_label_escape),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
