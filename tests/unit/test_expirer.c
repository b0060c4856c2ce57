/*
 * test_expirer: the expirer's durable timers (services/expirer/timers.c)
 * against the real redis-server of scripts/with-stack.sh (EP_REDIS_URL;
 * the tests fail if it is unset).
 *
 * Time is always an argument of the timer functions, so these tests move a
 * virtual clock instead of waiting.  They cover the date parser, when the
 * first step is due (lead time for dynamic claims, the deadline for static
 * ones), leases (a second replica sees nothing while a lease runs, takes
 * the entry over once it lapses, and the first holder's completion is then
 * refused), generations (older events ignored, repeated ones do not reset
 * progress, a generation without expiration cancels), tombstones with a
 * TTL, orphaned set members, and two threads with their own connections
 * leasing 2,000 due timers at once: each is acted on exactly once.  One
 * test fails each allocation of timers_create in turn.
 *
 * The timer code is a service file, not a library, so it is compiled into
 * this program directly.  The tests use their own Redis database (11) and
 * empty it first, because the timer keys are fixed names.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../services/expirer/timers.c"
#include "chaos.h"

static char url[512];

static store *connect_db(void)
{
    store *s = NULL;
    ep_err err = { 0 };

    if (store_create(url, 5000, &s, &err) != STORE_OK)
        fail_msg("store_create(%s): %s", url, err.msg);
    return s;
}

static int setup(void **state)
{
    store      *s = connect_db();
    ep_err      err = { 0 };
    redisReply *r = store_cmd(s, &err, "FLUSHDB");

    assert_non_null(r);
    freeReplyObject(r);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    store_destroy(*state);
    return 0;
}

static const long long T0 = 1700000000000LL;   /* the virtual clock's origin */
static const long long LEAD = 3600 * 1000LL;

static void schedule(timers *t, store *s, const char *env, unsigned long long gen, long long exp_ms,
                     int is_static, timers_outcome want)
{
    char           exp[32];
    timer_claim    c = { 0 };
    timers_outcome oc;
    ep_err         err = { 0 };

    timers_format_time(exp_ms, exp);
    c.env = env;
    c.generation = gen;
    c.expiration = exp_ms ? exp : "";
    c.expiration_ms = exp_ms;
    c.is_static = is_static;
    c.bucket = is_static ? "static-environments" : "environments";
    c.key = env;
    if (timers_schedule(t, s, &c, LEAD, &oc, &err) != TIMERS_OK)
        fail_msg("schedule %s: %s", env, err.msg);
    assert_int_equal(oc, want);
}

static size_t lease(timers *t, store *s, long long now, long long lease_ms, size_t limit, timer_entry **es)
{
    size_t n = 0;
    ep_err err = { 0 };

    if (timers_lease(t, s, now, lease_ms, limit, es, &n, &err) != TIMERS_OK)
        fail_msg("lease: %s", err.msg);
    return n;
}

static long long zscore(store *s, const char *env)
{
    ep_err      err = { 0 };
    redisReply *r = store_cmd(s, &err, "ZSCORE %s %s", TIMERS_DUE_KEY, env);
    long long   v = -1;

    assert_non_null(r);
    if (r->type == REDIS_REPLY_STRING)
        v = (long long)strtod(r->str, NULL);
    freeReplyObject(r);
    return v;
}

static void test_parse_time(void **state)
{
    static const struct { const char *s; long long ms; } good[] = {
        { "1970-01-01T00:00:00Z", 0 },
        { "2024-01-15T10:30:00Z", 1705314600000LL },
        { "2024-02-29T23:59:59.5Z", 1709251199500LL },
        { "2024-01-15T10:30:00.123456789Z", 1705314600123LL },
        { "2000-03-01t00:00:00z", 951868800000LL },
        { "9999-12-31T23:59:59Z", 253402300799000LL },
    };
    static const char *const bad[] = {
        "", "2024-01-15", "2024-01-15T10:30:00", "2024-01-15T10:30:00+01:00", "2024-01-15 10:30:00Z",
        "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2024-13-01T00:00:00Z", "2024-04-31T00:00:00Z",
        "2024-01-15T24:00:00Z", "2024-01-15T10:60:00Z", "2024-01-15T10:30:60Z", "2024-01-15T10:30:00.Z",
        "2024-01-15T10:30:00.1234567890Z", "2024-01-15T10:30:00Zx", "2024-1-15T10:30:00Z",
    };
    long long ms;
    char      buf[32];

    (void)state;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        ms = -1;
        if (timers_parse_time(good[i].s, &ms) != 0)
            fail_msg("rejected %s", good[i].s);
        if (ms != good[i].ms)
            fail_msg("%s: %lld != %lld", good[i].s, ms, good[i].ms);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (timers_parse_time(bad[i], &ms) == 0)
            fail_msg("accepted %s", bad[i]);
    timers_format_time(1709251199500LL, buf);
    assert_string_equal(buf, "2024-02-29T23:59:59.500Z");
    assert_int_equal(timers_parse_time(buf, &ms), 0);
    assert_int_equal(ms, 1709251199500LL);
}

static void test_due_times(void **state)
{
    store       *s = *state;
    timers      *t = timers_create(0);
    timer_entry *es = NULL;
    size_t       n;

    assert_non_null(t);
    schedule(t, s, "sue-a", 1, T0 + 2 * LEAD, 0, TIMERS_APPLIED);
    schedule(t, s, "sue-static", 1, T0 + 2 * LEAD, 1, TIMERS_APPLIED);
    schedule(t, s, "dev-never", 1, 0, 0, TIMERS_APPLIED);
    /* dynamic: due at the lead time; static: at the deadline; never: absent */
    assert_int_equal(zscore(s, "sue-a"), T0 + LEAD);
    assert_int_equal(zscore(s, "sue-static"), T0 + 2 * LEAD);
    assert_int_equal(zscore(s, "dev-never"), -1);

    assert_int_equal(lease(t, s, T0 + LEAD - 1, 1000, 10, &es), 0);
    n = lease(t, s, T0 + LEAD, 1000, 10, &es);
    assert_int_equal(n, 1);
    assert_string_equal(es[0].env, "sue-a");
    assert_int_equal(es[0].phase, TIMER_SCHEDULED);
    assert_int_equal(es[0].generation, 1);
    assert_int_equal(es[0].expiration_ms, T0 + 2 * LEAD);
    assert_false(es[0].is_static);
    assert_string_equal(es[0].bucket, "environments");
    timers_entries_free(es, n);

    /* The static claim's deadline, and sue-a again: its lease lapsed
     * without a completion, as if its holder had died. */
    n = lease(t, s, T0 + 2 * LEAD, 1000, 10, &es);
    assert_int_equal(n, 2);
    assert_string_equal(es[0].env, "sue-a");
    assert_int_equal(es[0].phase, TIMER_SCHEDULED);
    assert_string_equal(es[1].env, "sue-static");
    assert_true(es[1].is_static);
    assert_string_equal(es[1].bucket, "static-environments");
    timers_entries_free(es, n);
    timers_destroy(t);
}

static void test_lease_and_takeover(void **state)
{
    store       *s = *state, *s2 = connect_db();
    timers      *t = timers_create(0);
    timer_entry *a = NULL, *b = NULL;
    ep_err       err = { 0 };
    int          lost = -1;
    long long    now = T0 + LEAD;

    schedule(t, s, "sue-b", 7, T0 + 2 * LEAD, 0, TIMERS_APPLIED);
    assert_int_equal(lease(t, s, now, 30000, 10, &a), 1);
    /* Another replica, same moment and during the lease: nothing due. */
    assert_int_equal(lease(t, s2, now, 30000, 10, &b), 0);
    assert_int_equal(lease(t, s2, now + 29999, 30000, 10, &b), 0);
    /* The first holder stalled: the lease lapses and the second takes over. */
    assert_int_equal(lease(t, s2, now + 30000, 30000, 10, &b), 1);
    assert_string_not_equal(a[0].token, b[0].token);
    assert_int_equal(timers_complete(t, s, &a[0], TIMER_WARNED, T0 + 2 * LEAD, &lost, &err), TIMERS_OK);
    assert_int_equal(lost, 1);
    assert_int_equal(zscore(s, "sue-b"), now + 60000);   /* untouched by the refused completion */
    assert_int_equal(timers_complete(t, s2, &b[0], TIMER_WARNED, T0 + 2 * LEAD, &lost, &err), TIMERS_OK);
    assert_int_equal(lost, 0);
    assert_int_equal(zscore(s, "sue-b"), T0 + 2 * LEAD);
    timers_entries_free(a, 1);
    timers_entries_free(b, 1);

    /* Next step: warned at the deadline, then done (out of the set, tombstone). */
    assert_int_equal(lease(t, s, T0 + 2 * LEAD, 30000, 10, &a), 1);
    assert_int_equal(a[0].phase, TIMER_WARNED);
    assert_int_equal(timers_complete(t, s, &a[0], TIMER_DONE, 0, &lost, &err), TIMERS_OK);
    assert_int_equal(lost, 0);
    assert_int_equal(zscore(s, "sue-b"), -1);
    {
        redisReply *r = store_cmd(s, &err, "PTTL " TIMERS_ENV_PREFIX "sue-b");
        assert_non_null(r);
        assert_true(r->integer > 0 && r->integer <= 7LL * 24 * 3600 * 1000);
        freeReplyObject(r);
        r = store_cmd(s, &err, "HGET " TIMERS_ENV_PREFIX "sue-b phase");
        assert_string_equal(r->str, "done");
        freeReplyObject(r);
    }
    /* A redelivered claim.accepted of the same generation does not restart it. */
    schedule(t, s, "sue-b", 7, T0 + 2 * LEAD, 0, TIMERS_SAME);
    assert_int_equal(zscore(s, "sue-b"), -1);
    timers_entries_free(a, 1);
    timers_destroy(t);
    store_destroy(s2);
}

static void test_generations(void **state)
{
    store         *s = *state;
    timers        *t = timers_create(0);
    timer_entry   *a = NULL;
    timers_outcome oc;
    ep_err         err = { 0 };
    int            lost = -1;

    schedule(t, s, "sue-c", 2, T0 + 2 * LEAD, 0, TIMERS_APPLIED);
    schedule(t, s, "sue-c", 1, T0 + 9 * LEAD, 0, TIMERS_STALE);
    assert_int_equal(zscore(s, "sue-c"), T0 + LEAD);

    /* A lease on generation 2 is refused once generation 3 replaced it. */
    assert_int_equal(lease(t, s, T0 + LEAD, 30000, 10, &a), 1);
    schedule(t, s, "sue-c", 3, T0 + 4 * LEAD, 0, TIMERS_APPLIED);
    assert_int_equal(zscore(s, "sue-c"), T0 + 3 * LEAD);
    assert_int_equal(timers_complete(t, s, &a[0], TIMER_WARNED, T0 + 2 * LEAD, &lost, &err), TIMERS_OK);
    assert_int_equal(lost, 1);
    assert_int_equal(zscore(s, "sue-c"), T0 + 3 * LEAD);
    timers_entries_free(a, 1);

    /* Generation 4 without expiration cancels the timer. */
    schedule(t, s, "sue-c", 4, 0, 0, TIMERS_APPLIED);
    assert_int_equal(zscore(s, "sue-c"), -1);
    /* Deletion of an older generation is stale, of the current one applies once. */
    assert_int_equal(timers_cancel(t, s, "sue-c", 3, &oc, &err), TIMERS_OK);
    assert_int_equal(oc, TIMERS_STALE);
    assert_int_equal(timers_cancel(t, s, "sue-c", 4, &oc, &err), TIMERS_OK);
    assert_int_equal(oc, TIMERS_APPLIED);
    assert_int_equal(timers_cancel(t, s, "sue-c", 4, &oc, &err), TIMERS_OK);
    assert_int_equal(oc, TIMERS_SAME);
    /* A late claim.accepted for the deleted generation does not resurrect it. */
    schedule(t, s, "sue-c", 4, T0 + LEAD, 0, TIMERS_SAME);
    assert_int_equal(zscore(s, "sue-c"), -1);
    /* Deleting a scheduled timer removes it from the due set. */
    schedule(t, s, "sue-d", 1, T0 + 2 * LEAD, 0, TIMERS_APPLIED);
    assert_int_equal(timers_cancel(t, s, "sue-d", 1, &oc, &err), TIMERS_OK);
    assert_int_equal(zscore(s, "sue-d"), -1);
    assert_int_equal(lease(t, s, T0 + 100 * LEAD, 30000, 10, &a), 0);
    timers_destroy(t);
}

static void test_orphans_and_next_due(void **state)
{
    store       *s = *state;
    timers      *t = timers_create(0);
    timer_entry *a = NULL;
    ep_err       err = { 0 };
    long long    next = 0, pending = 0;
    redisReply  *r = store_cmd(s, &err, "ZADD %s 5 orphan", TIMERS_DUE_KEY);

    freeReplyObject(r);
    assert_int_equal(timers_next_due(s, &next, &err), TIMERS_OK);
    assert_int_equal(next, 5);
    assert_int_equal(lease(t, s, T0, 30000, 10, &a), 0);   /* dropped, not returned */
    assert_int_equal(timers_pending(s, &pending, &err), TIMERS_OK);
    assert_int_equal(pending, 0);
    assert_int_equal(timers_next_due(s, &next, &err), TIMERS_OK);
    assert_int_equal(next, -1);
    schedule(t, s, "sue-static2", 1, T0 + 5, 1, TIMERS_APPLIED);
    assert_int_equal(timers_next_due(s, &next, &err), TIMERS_OK);
    assert_int_equal(next, T0 + 5);
    timers_destroy(t);
}

/* Fail each allocation of timers_create in turn: NULL, or a complete
 * object when OpenSSL absorbed the failure (some of its cache allocations
 * are optional), never a crash.  Leak accounting is left out: a failure
 * inside OpenSSL's digest (the script SHA1) leaves blocks in OpenSSL's own
 * method caches.  The Redis operations are not run under injected failures:
 * hiredis 0.14 crashes on its next command when sdsempty() fails inside
 * redisBufferWrite (its output buffer becomes NULL unchecked), so such a
 * test would measure hiredis, not this code. */
static void test_alloc_failures(void **state)
{
    int hits = 0;

    (void)state;
    if (!chaos_available()) {
        skip();
        return;
    }
    for (long n = 0;; n++) {
        timers *t;
        chaos_arm(n);
        t = timers_create(0);
        if (!chaos_disarm()) {
            assert_non_null(t);
            timers_destroy(t);
            break;
        }
        hits += t == NULL;
        timers_destroy(t);
    }
    print_message("%d injected failures made timers_create return NULL\n", hits);
    assert_true(hits >= 5);   /* its own calloc and both blocks of each of 4 scripts, at least */
}

/* ---- two replicas at once ------------------------------------------------------------ */

#define RACE_N 2000

typedef struct race_arg {
    timers        *t;
    unsigned char *acted;    /* per entry: how many times it was acted on */
    int            actions, lost;
    pthread_mutex_t *mu;
} race_arg;

static void *race_worker(void *p)
{
    race_arg *ra = p;
    store    *s = connect_db();

    for (;;) {
        timer_entry *es = NULL;
        size_t       n = 0;
        ep_err       err = { 0 };

        if (timers_lease(ra->t, s, T0, 60000, 16, &es, &n, &err) != TIMERS_OK)
            break;
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            int lost = 0;
            int idx = atoi(es[i].env + 4);
            pthread_mutex_lock(ra->mu);
            ra->acted[idx]++;
            pthread_mutex_unlock(ra->mu);
            ra->actions++;
            if (timers_complete(ra->t, s, &es[i], TIMER_DONE, 0, &lost, &err) != TIMERS_OK || lost)
                ra->lost++;
        }
        timers_entries_free(es, n);
    }
    store_destroy(s);
    return NULL;
}

static void test_two_replicas(void **state)
{
    store          *s = *state;
    timers         *t = timers_create(0);
    unsigned char  *acted = calloc(RACE_N, 1);
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    race_arg        ra[2];
    pthread_t       th[2];
    char            name[32];

    for (int i = 0; i < RACE_N; i++) {
        snprintf(name, sizeof name, "sue-%d", i);
        schedule(t, s, name, 1, T0 - 1000, 1, TIMERS_APPLIED);
    }
    for (int i = 0; i < 2; i++) {
        ra[i] = (race_arg){ .t = t, .acted = acted, .mu = &mu };
        assert_int_equal(pthread_create(&th[i], NULL, race_worker, &ra[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < RACE_N; i++)
        if (acted[i] != 1)
            fail_msg("sue-%d acted on %d times", i, acted[i]);
    assert_int_equal(ra[0].actions + ra[1].actions, RACE_N);
    assert_int_equal(ra[0].lost + ra[1].lost, 0);
    /* Both took part (a trivially serial run would prove nothing). */
    print_message("replica A %d, replica B %d\n", ra[0].actions, ra[1].actions);
    assert_true(ra[0].actions > 0 && ra[1].actions > 0);
    free(acted);
    timers_destroy(t);
}

int main(void)
{
    const char *u = getenv("EP_REDIS_URL");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test_setup_teardown(test_due_times, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_and_takeover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_orphans_and_next_due, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_replicas, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc_failures, setup, teardown),
    };

    if (u == NULL || u[0] == '\0') {
        fprintf(stderr, "EP_REDIS_URL is not set: run through scripts/with-stack.sh\n");
        return 1;
    }
    snprintf(url, sizeof url, "%s/11", u);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
