/*
 * test_expirer_bench: how fast the expirer's timer store works off 10,000
 * due timers, as a ratio to a plain Redis loop measured in the same run on
 * the same server (absolute numbers on a shared machine are noise).
 *
 *   expirer:  timers_schedule each timer (one Lua script each), then
 *             timers_lease in batches of 64 and timers_complete each entry
 *             (one script per batch, one per entry: the service's real
 *             Redis traffic per step, without the publish and the S3 call).
 *   baseline: ZADD each member, then ZRANGEBYSCORE ... LIMIT 0 64 and ZREM
 *             each member: the same round trips with no atomicity, no
 *             lease, no generation check.
 *
 * Both are checked for correctness (every timer handled exactly once), so
 * this is a test that can fail, not only a printout.  Uses Redis database
 * 12, emptied first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "../../services/expirer/timers.c"

#define N     10000
#define BATCH 64

static char url[512];

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static store *connect_db(void)
{
    store      *s = NULL;
    ep_err      err = { 0 };
    redisReply *r;

    if (store_create(url, 10000, &s, &err) != STORE_OK)
        fail_msg("store_create(%s): %s", url, err.msg);
    r = store_cmd(s, &err, "FLUSHDB");
    assert_non_null(r);
    freeReplyObject(r);
    return s;
}

typedef struct rates { double schedule, process; } rates;

static rates run_expirer(store *s, unsigned char *seen)
{
    timers     *t = timers_create(0);
    const long long T0 = 1700000000000LL;
    char        name[32], exp[32];
    ep_err      err = { 0 };
    double      t0, t1, t2;
    size_t      total = 0;
    rates       r;

    assert_non_null(t);
    timers_format_time(T0, exp);
    t0 = now_s();
    for (int i = 0; i < N; i++) {
        timer_claim    c = { 0 };
        timers_outcome oc;

        snprintf(name, sizeof name, "sue-bench-%d", i);
        c.env = name;
        c.generation = 1;
        c.expiration = exp;
        c.expiration_ms = T0;
        c.bucket = "environments";
        c.key = name;
        if (timers_schedule(t, s, &c, 1000, &oc, &err) != TIMERS_OK || oc != TIMERS_APPLIED)
            fail_msg("schedule %s: %s", name, err.msg);
    }
    t1 = now_s();
    for (;;) {
        timer_entry *es = NULL;
        size_t       n = 0;

        if (timers_lease(t, s, T0, 30000, BATCH, &es, &n, &err) != TIMERS_OK)
            fail_msg("lease: %s", err.msg);
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            int lost = 0;
            seen[atoi(es[i].env + 10)]++;
            if (timers_complete(t, s, &es[i], TIMER_DONE, 0, &lost, &err) != TIMERS_OK || lost)
                fail_msg("complete %s: %s", es[i].env, lost ? "lost" : err.msg);
        }
        total += n;
        timers_entries_free(es, n);
    }
    t2 = now_s();
    assert_int_equal(total, N);
    timers_destroy(t);
    r.schedule = N / (t1 - t0);
    r.process = N / (t2 - t1);
    return r;
}

static rates run_baseline(store *s, unsigned char *seen)
{
    char   name[32];
    ep_err err = { 0 };
    double t0, t1, t2;
    size_t total = 0;
    rates  r;

    t0 = now_s();
    for (int i = 0; i < N; i++) {
        redisReply *x;
        snprintf(name, sizeof name, "sue-bench-%d", i);
        x = store_cmd(s, &err, "ZADD plain:due %d %s", 1000, name);
        assert_non_null(x);
        freeReplyObject(x);
    }
    t1 = now_s();
    for (;;) {
        redisReply *x = store_cmd(s, &err, "ZRANGEBYSCORE plain:due -inf %d LIMIT 0 %d", 1000, BATCH);
        size_t      n;

        assert_non_null(x);
        n = x->elements;
        for (size_t i = 0; i < n; i++) {
            redisReply *y = store_cmd(s, &err, "ZREM plain:due %s", x->element[i]->str);
            assert_non_null(y);
            freeReplyObject(y);
            seen[atoi(x->element[i]->str + 10)]++;
        }
        freeReplyObject(x);
        total += n;
        if (n == 0)
            break;
    }
    t2 = now_s();
    assert_int_equal(total, N);
    r.schedule = N / (t1 - t0);
    r.process = N / (t2 - t1);
    return r;
}

static void test_bench_10k_due_timers(void **state)
{
    store         *s = connect_db();
    unsigned char *seen_a = calloc(N, 1), *seen_b = calloc(N, 1);
    rates          base, ex;

    (void)state;
    /* Interleave warm-up order: baseline, expirer (scripts loaded by the first call). */
    base = run_baseline(s, seen_b);
    ex = run_expirer(s, seen_a);
    for (int i = 0; i < N; i++) {
        if (seen_a[i] != 1 || seen_b[i] != 1)
            fail_msg("timer %d handled %d/%d times", i, seen_a[i], seen_b[i]);
    }
    print_message("10000 due timers, batch %d, one connection:\n", BATCH);
    print_message("  schedule: expirer %.0f/s, plain ZADD %.0f/s, ratio %.2f\n",
                  ex.schedule, base.schedule, ex.schedule / base.schedule);
    print_message("  process:  expirer %.0f/s (lease + complete), plain ZRANGEBYSCORE+ZREM %.0f/s, ratio %.2f\n",
                  ex.process, base.process, ex.process / base.process);
    free(seen_a);
    free(seen_b);
    store_destroy(s);
}

int main(void)
{
    const char *u = getenv("EP_REDIS_URL");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bench_10k_due_timers),
    };

    if (u == NULL || u[0] == '\0') {
        fprintf(stderr, "EP_REDIS_URL is not set: run through scripts/with-stack.sh\n");
        return 1;
    }
    snprintf(url, sizeof url, "%s/12", u);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
