/*
 * test_log: the JSON-lines logger.  Every line the tests produce is read
 * back and parsed with jansson, so "valid JSON" is checked by a real parser
 * rather than by string comparison; escaping is checked by comparing the
 * decoded strings with what was logged.  The thread test writes lines much
 * longer than PIPE_BUF from several threads into one file and checks that
 * every line still parses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "log/log.h"

#include "chaos.h"

static FILE *out;

static int setup(void **state)
{
    (void)state;
    out = tmpfile();
    if (out == NULL)
        return -1;
    log_init("test-svc", LOG_LEVEL_DEBUG, out);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    log_init("-", LOG_LEVEL_INFO, NULL);
    fclose(out);
    return 0;
}

/* Read everything written so far as lines; returns the number of lines and
 * a malloc'd array of parsed objects (fails the test on a non-JSON line). */
static size_t read_lines(json_t ***objs)
{
    char        *line = NULL;
    size_t       cap = 0, n = 0;
    ssize_t      len;
    json_t     **v = NULL;
    json_error_t jerr;

    fflush(out);
    rewind(out);
    while ((len = getline(&line, &cap, out)) > 0) {
        assert_int_equal(line[len - 1], '\n');
        v = realloc(v, (n + 1) * sizeof *v);
        assert_non_null(v);
        v[n] = json_loadb(line, (size_t)len, 0, &jerr);
        if (v[n] == NULL)
            fail_msg("line %zu is not JSON (%s): %.200s", n, jerr.text, line);
        n++;
    }
    free(line);
    assert_int_equal(ftruncate(fileno(out), 0), 0);
    rewind(out);
    *objs = v;
    return n;
}

static void free_lines(json_t **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref(v[i]);
    free(v);
}

static const char *str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void test_shape(void **state)
{
    json_t    **v;
    size_t      n;
    const char *ts;

    (void)state;
    log_kv(LOG_LEVEL_INFO, "claim accepted", "env", "dev-x", "generation", "3", "skipped", NULL,
           "event_id", "e-1", NULL);
    n = read_lines(&v);
    assert_int_equal(n, 1);
    /* Keys in the documented order: ts, level, service, msg, then pairs. */
    const char *order[] = { "ts", "level", "service", "msg", "env", "generation", "event_id" };
    void       *it = json_object_iter(v[0]);
    for (size_t i = 0; i < 7; i++, it = json_object_iter_next(v[0], it)) {
        assert_non_null(it);
        assert_string_equal(json_object_iter_key(it), order[i]);
    }
    assert_null(it);
    assert_string_equal(str(v[0], "level"), "info");
    assert_string_equal(str(v[0], "service"), "test-svc");
    assert_string_equal(str(v[0], "msg"), "claim accepted");
    assert_string_equal(str(v[0], "env"), "dev-x");
    assert_string_equal(str(v[0], "generation"), "3");
    assert_string_equal(str(v[0], "event_id"), "e-1");
    assert_null(json_object_get(v[0], "skipped"));
    ts = str(v[0], "ts");
    assert_non_null(ts);
    /* 2026-11-23T11:30:00.123Z */
    assert_int_equal(strlen(ts), 24);
    assert_true(ts[4] == '-' && ts[7] == '-' && ts[10] == 'T' && ts[13] == ':' && ts[16] == ':' &&
                ts[19] == '.' && ts[23] == 'Z');
    free_lines(v, n);

    /* Raw text keeps the documented key order. */
    log_kv(LOG_LEVEL_WARN, "m", "a", "1", NULL);
    fflush(out);
    rewind(out);
    char raw[256];
    assert_non_null(fgets(raw, sizeof raw, out));
    assert_non_null(strstr(raw, "\",\"level\":\"warn\",\"service\":\"test-svc\",\"msg\":\"m\",\"a\":\"1\"}\n"));
    assert_int_equal(strncmp(raw, "{\"ts\":\"", 7), 0);
    n = read_lines(&v);   /* drain what the raw check read */
    free_lines(v, n);
}

static void test_escaping(void **state)
{
    static const char *const tricky[] = {
        "quote\" backslash\\ slash/",
        "nl\ncr\rtab\tbell\a\x01\x1f",
        "utf8 \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",     /* é € 😀 kept as is */
    };
    json_t **v;
    size_t   n;

    (void)state;
    for (size_t i = 0; i < sizeof tricky / sizeof tricky[0]; i++)
        log_kv(LOG_LEVEL_INFO, tricky[i], tricky[i], tricky[i], NULL);
    /* Invalid UTF-8: lone continuation, truncated sequence, overlong '/',
     * a surrogate, a byte never valid in UTF-8. */
    log_kv(LOG_LEVEL_INFO, "bad", "v", "a\x80" "b\xe2\x82" "c\xc0\xaf" "d\xed\xa0\x80" "e\xff", NULL);
    n = read_lines(&v);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(str(v[i], "msg"), tricky[i]);
        assert_string_equal(str(v[i], tricky[i]), tricky[i]);
    }
    assert_string_equal(str(v[3], "v"),
                        "a\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd" "c\xef\xbf\xbd\xef\xbf\xbd"
                        "d\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "e\xef\xbf\xbd");
    free_lines(v, n);
}

static int evaluated;

static const char *side_effect(void)
{
    evaluated++;
    return "x";
}

static void test_levels(void **state)
{
    json_t  **v;
    size_t    n;
    log_level l = LOG_LEVEL_ERROR;

    (void)state;
    assert_int_equal(log_level_parse("debug", &l), LOG_OK);
    assert_int_equal(l, LOG_LEVEL_DEBUG);
    assert_int_equal(log_level_parse("WARNING", &l), LOG_OK);
    assert_int_equal(l, LOG_LEVEL_WARN);
    assert_int_equal(log_level_parse("Error", &l), LOG_OK);
    assert_int_equal(l, LOG_LEVEL_ERROR);
    assert_int_equal(log_level_parse("verbose", &l), LOG_EINVAL);
    assert_int_equal(log_level_parse(NULL, &l), LOG_EINVAL);
    assert_int_equal(l, LOG_LEVEL_ERROR);
    assert_string_equal(log_strstatus(LOG_EINVAL), "invalid argument (unknown level name)");
    assert_string_equal(log_strstatus(99), "unknown status");

    log_set_level(LOG_LEVEL_WARN);
    assert_false(log_enabled(LOG_LEVEL_INFO));
    assert_true(log_enabled(LOG_LEVEL_ERROR));
    evaluated = 0;
    LOG_KV(LOG_LEVEL_DEBUG, "hidden", "k", side_effect(), NULL);
    LOG_MSG(LOG_LEVEL_INFO, "hidden %s", side_effect());
    log_kv(LOG_LEVEL_INFO, "hidden", NULL);
    assert_int_equal(evaluated, 0);
    LOG_KV(LOG_LEVEL_WARN, "shown", "k", side_effect(), NULL);
    LOG_MSG(LOG_LEVEL_ERROR, "shown %d %s", 42, side_effect());
    assert_int_equal(evaluated, 2);
    n = read_lines(&v);
    assert_int_equal(n, 2);
    assert_string_equal(str(v[0], "level"), "warn");
    assert_string_equal(str(v[1], "level"), "error");
    assert_string_equal(str(v[1], "msg"), "shown 42 x");
    free_lines(v, n);
}

static void test_long_msg(void **state)
{
    char   *big = malloc(20001);
    json_t **v;
    size_t   n;

    (void)state;
    assert_non_null(big);
    memset(big, 'y', 20000);
    big[20000] = '\0';
    log_msg(LOG_LEVEL_INFO, "%s-%d", big, 7);
    log_kv(LOG_LEVEL_INFO, big, "big", big, NULL);
    n = read_lines(&v);
    assert_int_equal(n, 2);
    assert_int_equal(strlen(str(v[0], "msg")), 20002);
    assert_string_equal(str(v[0], "msg") + 20000, "-7");
    assert_string_equal(str(v[1], "big"), big);
    free_lines(v, n);
    free(big);
}

/* A line that needs the heap and cannot get it is replaced by a short line
 * saying so; a long printf message that cannot be allocated is logged
 * truncated rather than lost. */
static void test_alloc_failures(void **state)
{
    char   *big;
    json_t **v;
    size_t   n;
    long     live;

    (void)state;
    if (!chaos_available()) {
        skip();
        return;
    }
    big = malloc(5001);
    assert_non_null(big);
    memset(big, 'z', 5000);
    big[5000] = '\0';
    live = chaos_live;
    chaos_arm(0);
    log_kv(LOG_LEVEL_INFO, big, NULL);
    assert_true(chaos_disarm());
    chaos_arm(0);
    log_msg(LOG_LEVEL_INFO, "%s", big);   /* message copy fails, line buffer does not */
    assert_true(chaos_disarm());
    assert_int_equal(chaos_live, live);
    n = read_lines(&v);
    assert_int_equal(n, 2);
    assert_string_equal(str(v[0], "msg"), "log line dropped: out of memory");
    assert_int_equal(strlen(str(v[1], "msg")), 511);
    free_lines(v, n);
    free(big);
}

#define THREADS 8
#define PER_THREAD 500

static void *writer(void *arg)
{
    char id[16], pad[9000];

    snprintf(id, sizeof id, "%d", (int)(intptr_t)arg);
    memset(pad, 'a' + (int)(intptr_t)arg, sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    for (int i = 0; i < PER_THREAD; i++)
        log_kv(LOG_LEVEL_INFO, "concurrent", "thread", id, "pad", pad, NULL);
    return NULL;
}

static void test_threads_do_not_interleave(void **state)
{
    pthread_t t[THREADS];
    json_t  **v;
    size_t    n, per[THREADS] = {0};

    (void)state;
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, writer, (void *)(intptr_t)i), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    n = read_lines(&v);   /* fails on any line that is not whole JSON */
    assert_int_equal(n, THREADS * PER_THREAD);
    for (size_t i = 0; i < n; i++) {
        int id = atoi(str(v[i], "thread"));
        assert_in_range(id, 0, THREADS - 1);
        assert_int_equal(strlen(str(v[i], "pad")), 8999);
        assert_int_equal(str(v[i], "pad")[8998], 'a' + id);
        per[id]++;
    }
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(per[i], PER_THREAD);
    free_lines(v, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escaping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_levels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_msg, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_do_not_interleave, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc_failures, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
