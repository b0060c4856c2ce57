/*
 * test_store: the Redis wrapper against the real redis-server of
 * scripts/with-stack.sh (EP_REDIS_URL; the server tests fail if it is
 * unset).  Covers URL parsing and connection errors, plain and binary
 * commands, error replies turned into messages, database selection, Lua
 * scripts including the NOSCRIPT fallback after SCRIPT FLUSH, reconnecting
 * after CLIENT KILL from a second connection, command timeouts, and
 * pipelining 10k commands (with an error reply and a lost connection in the
 * middle).  The last test measures round trips per second one at a time
 * against pipelined and prints the ratio.  Keys carry the pid so parallel
 * runs against one server do not collide.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/store.h"

static const char *url;
static char        key[64];   /* per-run key prefix */

static store *connect_or_fail(const char *u)
{
    store *s = NULL;
    ep_err err = {0};

    if (store_create(u, 2000, &s, &err) != STORE_OK)
        fail_msg("store_create(%s): %s", u, err.msg);
    return s;
}

static void k(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s:%s", key, name);
}

static void test_bad_urls(void **state)
{
    static const char *const bad[] = {
        "http://127.0.0.1:6379", "redis://", "redis://:6379", "redis://host:0", "redis://host:65536",
        "redis://host:abc", "redis://host:", "redis://host/abc", "redis://host/-1", "redis://[::1",
        "redis://[::1]x", "redis://:%zz@host", "redis://nopassword@host", "redis://host:1?x", NULL,
    };
    store *s = (store *)1;
    ep_err err = {0};

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(store_create(bad[i], 500, &s, &err), STORE_EURL);
        assert_null(s);
        assert_int_equal(err.code, STORE_EURL);
        assert_non_null(strstr(err.msg, "redis URL"));
    }
    /* Nothing listens on port 1: a connect error naming the address. */
    assert_int_equal(store_create("redis://127.0.0.1:1", 500, &s, &err), STORE_ECONNECT);
    assert_null(s);
    assert_non_null(strstr(err.msg, "127.0.0.1:1"));
    assert_non_null(strstr(err.msg, "refused"));
    store_destroy(NULL);
    assert_string_equal(store_strstatus(STORE_EREPLY), "redis answered with an error reply");
}

static void test_password_not_leaked(void **state)
{
    char   u[256];
    store *s = NULL;
    ep_err err = {0};

    (void)state;
    /* The test server has no password: AUTH fails, the message names AUTH
     * but never the password. */
    snprintf(u, sizeof u, "redis://:hunter%%32@%s", url + strlen("redis://"));
    assert_int_equal(store_create(u, 1000, &s, &err), STORE_ECONNECT);
    assert_non_null(strstr(err.msg, "AUTH"));
    assert_null(strstr(err.msg, "hunter"));
    snprintf(u, sizeof u, "redis://bob:hunter2@%s", url + strlen("redis://"));
    assert_int_equal(store_create(u, 1000, &s, &err), STORE_ECONNECT);
    assert_null(strstr(err.msg, "hunter"));
}

static void test_commands(void **state)
{
    store      *s = connect_or_fail(url);
    redisReply *r;
    ep_err      err = {0};
    char        kk[128], kh[128];
    const char *argv[] = { "SET", kk, "v\0with\0nul" };
    size_t      lens[] = { 3, 0, 11 };

    (void)state;
    k(kk, sizeof kk, "str");
    k(kh, sizeof kh, "hash");
    assert_int_equal(store_ping(s, &err), STORE_OK);
    r = store_cmd(s, &err, "SET %s %b", kk, "a\0b", (size_t)3);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    assert_string_equal(r->str, "OK");
    freeReplyObject(r);
    r = store_cmd(s, &err, "GET %s", kk);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_int_equal(r->len, 3);
    assert_memory_equal(r->str, "a\0b", 3);
    freeReplyObject(r);

    lens[1] = strlen(kk);
    r = store_cmd_argv(s, 3, argv, lens, &err);
    assert_non_null(r);
    freeReplyObject(r);
    r = store_cmd(s, &err, "STRLEN %s", kk);
    assert_int_equal(r->integer, 11);
    freeReplyObject(r);

    /* Error replies: NULL + a message with command and key. */
    r = store_cmd(s, &err, "HSET %s f v", kk);
    assert_null(r);
    assert_int_equal(err.code, STORE_EREPLY);
    char want[256];
    snprintf(want, sizeof want, "redis HSET %s: WRONGTYPE", kk);
    if (strncmp(err.msg, want, strlen(want)) != 0)
        fail_msg("got \"%s\"", err.msg);
    r = store_cmd(s, &err, "NOSUCHCOMMAND %s", "secret-arg-2");
    assert_null(r);
    assert_non_null(strstr(err.msg, "redis NOSUCHCOMMAND secret-arg-2: ERR unknown command"));
    const char *av[] = { "HSET", kk, "field", "value-not-shown" };
    assert_null(store_cmd_argv(s, 4, av, NULL, &err));
    assert_null(strstr(err.msg, "value-not-shown"));
    assert_non_null(strstr(err.msg, "WRONGTYPE"));
    /* The connection is still fine after error replies. */
    r = store_cmd(s, &err, "HSET %s f v", kh);
    assert_non_null(r);
    assert_int_equal(r->integer, 1);
    freeReplyObject(r);
    r = store_cmd(s, &err, "DEL %s %s", kk, kh);
    assert_int_equal(r->integer, 2);
    freeReplyObject(r);

    assert_null(store_cmd_argv(s, 0, argv, NULL, &err));
    assert_int_equal(store_reconnects(s), 0);
    store_destroy(s);
}

static void test_database_selection(void **state)
{
    char        u[256], kk[128];
    store      *s0 = connect_or_fail(url), *s3;
    redisReply *r;
    ep_err      err = {0};

    (void)state;
    snprintf(u, sizeof u, "%s/3", url);
    s3 = connect_or_fail(u);
    k(kk, sizeof kk, "db");
    freeReplyObject(store_cmd(s3, &err, "SET %s three", kk));
    r = store_cmd(s0, &err, "EXISTS %s", kk);
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);
    r = store_cmd(s3, &err, "GET %s", kk);
    assert_string_equal(r->str, "three");
    freeReplyObject(r);
    freeReplyObject(store_cmd(s3, &err, "DEL %s", kk));
    store_destroy(s0);
    store_destroy(s3);
    snprintf(u, sizeof u, "%s/99999", url);
    store *bad = NULL;
    assert_int_equal(store_create(u, 1000, &bad, &err), STORE_ECONNECT);
    assert_non_null(strstr(err.msg, "SELECT"));
}

static void test_scripts(void **state)
{
    static const char lua[] =
        "local v = redis.call('INCRBY', KEYS[1], ARGV[1])\n"
        "return {v, ARGV[2]}\n";
    store        *s = connect_or_fail(url);
    store_script *sc = store_script_create(lua);
    redisReply   *r;
    ep_err        err = {0};
    char          kk[128];
    const char   *keys[1] = { kk }, *args[2] = { "5", "tag" };

    (void)state;
    assert_non_null(sc);
    k(kk, sizeof kk, "counter");
    freeReplyObject(store_cmd(s, &err, "DEL %s", kk));
    /* Our SHA1 is the server's. */
    r = store_cmd(s, &err, "SCRIPT LOAD %s", lua);
    assert_string_equal(r->str, store_script_sha(sc));
    freeReplyObject(r);

    r = store_script_run(s, sc, 1, keys, 2, args, &err);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->element[0]->integer, 5);
    assert_string_equal(r->element[1]->str, "tag");
    freeReplyObject(r);

    /* The server forgets its scripts: EVALSHA gets NOSCRIPT, EVAL runs the
     * text and caches it again. */
    freeReplyObject(store_cmd(s, &err, "SCRIPT FLUSH"));
    r = store_cmd(s, &err, "SCRIPT EXISTS %s", store_script_sha(sc));
    assert_int_equal(r->element[0]->integer, 0);
    freeReplyObject(r);
    r = store_script_run(s, sc, 1, keys, 2, args, &err);
    assert_non_null(r);
    assert_int_equal(r->element[0]->integer, 10);
    freeReplyObject(r);
    r = store_cmd(s, &err, "SCRIPT EXISTS %s", store_script_sha(sc));
    assert_int_equal(r->element[0]->integer, 1);
    freeReplyObject(r);

    /* A Lua error is an error reply naming the script and key. */
    args[0] = "not-a-number";
    assert_null(store_script_run(s, sc, 1, keys, 2, args, &err));
    assert_int_equal(err.code, STORE_EREPLY);
    char want[256];
    snprintf(want, sizeof want, "redis script %.8s %s: ", store_script_sha(sc), kk);
    if (strncmp(err.msg, want, strlen(want)) != 0)
        fail_msg("got \"%s\"", err.msg);
    assert_null(store_script_run(s, sc, -1, keys, 0, NULL, &err));
    assert_int_equal(err.code, STORE_EINVAL);

    freeReplyObject(store_cmd(s, &err, "DEL %s", kk));
    store_script_destroy(sc);
    store_script_destroy(NULL);
    store_destroy(s);
}

static long long client_kill_normal(void)
{
    store      *killer = connect_or_fail(url);
    ep_err      err = {0};
    redisReply *r = store_cmd(killer, &err, "CLIENT KILL TYPE normal");
    long long   n;

    if (r == NULL)
        fail_msg("CLIENT KILL: %s", err.msg);
    n = r->integer;
    freeReplyObject(r);
    store_destroy(killer);
    return n;
}

static void test_reconnect_after_kill(void **state)
{
    store      *s = connect_or_fail(url);
    redisReply *r;
    ep_err      err = {0};
    char        kk[128];

    (void)state;
    k(kk, sizeof kk, "survivor");
    freeReplyObject(store_cmd(s, &err, "SET %s before", kk));
    /* SKIPME is the default, so the killer survives and s is killed. */
    assert_true(client_kill_normal() >= 1);
    r = store_cmd(s, &err, "GET %s", kk);
    if (r == NULL)
        fail_msg("no reconnect: %s", err.msg);
    assert_string_equal(r->str, "before");
    freeReplyObject(r);
    assert_int_equal(store_reconnects(s), 1);

    /* Killed again while a pipeline is queued: those replies are lost (no
     * retry), every one of them reports it, and the next command
     * reconnects. */
    assert_int_equal(store_append(s, &err, "GET %s", kk), STORE_OK);
    assert_int_equal(store_append(s, &err, "GET %s", kk), STORE_OK);
    assert_int_equal(store_append(s, &err, "GET %s", kk), STORE_OK);
    assert_true(client_kill_normal() >= 1);
    assert_null(store_get_reply(s, &err));
    assert_int_equal(err.code, STORE_EIO);
    assert_int_equal(store_append(s, &err, "PING"), STORE_EIO);   /* not onto a dead pipeline */
    assert_null(store_get_reply(s, &err));
    assert_null(store_get_reply(s, &err));
    assert_non_null(strstr(err.msg, "#3"));
    assert_int_equal(store_pending(s), 0);
    assert_null(store_get_reply(s, &err));
    assert_int_equal(err.code, STORE_EINVAL);
    assert_int_equal(store_ping(s, &err), STORE_OK);
    assert_int_equal(store_reconnects(s), 2);
    freeReplyObject(store_cmd(s, &err, "DEL %s", kk));
    store_destroy(s);
}

static void test_timeout(void **state)
{
    store          *s = NULL;
    ep_err          err = {0};
    char            kk[128];
    struct timespec t0, t1;

    (void)state;
    assert_int_equal(store_create(url, 200, &s, &err), STORE_OK);
    k(kk, sizeof kk, "empty-list");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* BLPOP waits 5 s server-side; the client gives up after 200 ms, retries
     * once on a new connection, and gives up again. */
    assert_null(store_cmd(s, &err, "BLPOP %s 5", kk));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(err.code, STORE_EIO);
    if (strstr(err.msg, "redis BLPOP") == NULL || strstr(err.msg, "timed out after 200 ms") == NULL)
        fail_msg("got \"%s\"", err.msg);
    double el = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(el >= 0.35 && el < 2.0);
    /* And the store is usable afterwards. */
    assert_int_equal(store_ping(s, &err), STORE_OK);
    store_destroy(s);
}

#define PIPE_N 10000

static void test_pipeline_10k(void **state)
{
    store      *s = connect_or_fail(url);
    redisReply *r;
    ep_err      err = {0};
    char        kk[128], ks[128];

    (void)state;
    k(kk, sizeof kk, "pipe");
    k(ks, sizeof ks, "pipe-str");
    freeReplyObject(store_cmd(s, &err, "DEL %s", kk));
    freeReplyObject(store_cmd(s, &err, "SET %s text", ks));
    for (int i = 0; i < PIPE_N; i++) {
        if (i == PIPE_N / 2)
            assert_int_equal(store_append(s, &err, "INCR %s", ks), STORE_OK);   /* an error in the middle */
        else
            assert_int_equal(store_append(s, &err, "INCR %s", kk), STORE_OK);
    }
    assert_int_equal(store_pending(s), PIPE_N);
    assert_null(store_cmd(s, &err, "PING"));   /* replies still pending */
    assert_int_equal(err.code, STORE_EINVAL);
    long long expect = 1;
    for (int i = 0; i < PIPE_N; i++) {
        r = store_get_reply(s, &err);
        if (i == PIPE_N / 2) {
            assert_null(r);
            assert_int_equal(err.code, STORE_EREPLY);
            char want[64];
            snprintf(want, sizeof want, "redis pipelined command #%d: ERR", PIPE_N / 2 + 1);
            assert_non_null(strstr(err.msg, want));
            continue;
        }
        assert_non_null(r);
        assert_int_equal(r->integer, expect++);
        freeReplyObject(r);
    }
    assert_int_equal(store_pending(s), 0);
    r = store_cmd(s, &err, "GET %s", kk);
    assert_int_equal(atoi(r->str), PIPE_N - 1);
    freeReplyObject(r);
    const char *av[] = { "DEL", kk, ks };
    assert_int_equal(store_append_argv(s, 3, av, NULL, &err), STORE_OK);
    r = store_get_reply(s, &err);
    assert_int_equal(r->integer, 2);
    freeReplyObject(r);
    store_destroy(s);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void test_bench_roundtrips(void **state)
{
    store      *s = connect_or_fail(url);
    const char *env = getenv("EP_STORE_BENCH_N");
    long        n = env ? atol(env) : 20000;
    ep_err      err = {0};
    char        kk[128];
    double      t0, one, piped;

    (void)state;
    k(kk, sizeof kk, "bench");
    t0 = now_s();
    for (long i = 0; i < n; i++) {
        redisReply *r = store_cmd(s, &err, "INCR %s", kk);
        assert_non_null(r);
        freeReplyObject(r);
    }
    one = now_s() - t0;
    t0 = now_s();
    for (long i = 0; i < n; i++)
        assert_int_equal(store_append(s, &err, "INCR %s", kk), STORE_OK);
    for (long i = 0; i < n; i++) {
        redisReply *r = store_get_reply(s, &err);
        assert_non_null(r);
        assert_int_equal(r->integer, n + i + 1);
        freeReplyObject(r);
    }
    piped = now_s() - t0;
    fprintf(stderr, "bench: %ld INCR one at a time %.0f/s, pipelined %.0f/s, ratio %.1fx\n", n, n / one,
            n / piped, one / piped);
    freeReplyObject(store_cmd(s, &err, "DEL %s", kk));
    store_destroy(s);
}

static int group_setup(void **state)
{
    (void)state;
    url = getenv("EP_REDIS_URL");
    if (url == NULL || url[0] == '\0') {
        fprintf(stderr, "test_store: EP_REDIS_URL is not set; run under scripts/with-stack.sh\n");
        return -1;
    }
    snprintf(key, sizeof key, "test_store:%ld", (long)getpid());
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_urls),
        cmocka_unit_test(test_password_not_leaked),
        cmocka_unit_test(test_commands),
        cmocka_unit_test(test_database_selection),
        cmocka_unit_test(test_scripts),
        cmocka_unit_test(test_reconnect_after_kill),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_pipeline_10k),
        cmocka_unit_test(test_bench_roundtrips),
    };

    /* hiredis writes with write(): a dead connection must not kill us. */
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
