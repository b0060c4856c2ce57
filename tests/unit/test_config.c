/*
 * test_config: the table-driven configuration loader.  Value parsers are
 * checked on tables of valid and invalid texts; cfg_load on a service-like
 * table through all three layers (defaults, environment, flags), the error
 * messages it promises (key, source, reason, secrets masked), --help, and
 * that nothing leaks whether loading succeeds or fails.  Environment
 * variables use the prefix TCFG_ so the test cannot pick up a real EP_ one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"

#include "chaos.h"

static void test_parse_duration(void **state)
{
    static const struct { const char *in; long long ms; } ok[] = {
        { "0", 0 }, { "250", 250 }, { "250ms", 250 }, { "30s", 30000 }, { "5m", 300000 },
        { "24h", 86400000 }, { "1h30m", 5400000 }, { "2d", 172800000 }, { "1m30s500ms", 90500 },
        { "0s", 0 },
    };
    static const char *const bad[] = {
        "", "abc", "-5s", "5 s", "5S", "1.5s", "30m1h", "1h1h", "s", "5sec", "99999999999999999999",
        "9223372036854775807s", "1h 30m", " 5s", "5s ",
    };
    long long v;

    (void)state;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        v = -1;
        assert_int_equal(cfg_parse_duration(ok[i].in, &v), CFG_OK);
        assert_int_equal(v, ok[i].ms);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (cfg_parse_duration(bad[i], &v) != CFG_EINVAL)
            fail_msg("duration \"%s\" accepted", bad[i]);
    }
    assert_int_equal(cfg_parse_duration(NULL, &v), CFG_EINVAL);
}

static void test_parse_size(void **state)
{
    static const struct { const char *in; long long b; } ok[] = {
        { "512", 512 }, { "512B", 512 }, { "64KiB", 65536 }, { "1MiB", 1048576 },
        { "1gib", 1073741824LL }, { "2GB", 2000000000LL }, { "64kb", 64000 }, { "1TiB", 1LL << 40 },
        { "0", 0 },
    };
    static const char *const bad[] = { "", "KiB", "-1", "1.5MiB", "1 MiB", "1XB", "9999999999TiB", "1MiBs" };
    long long v;

    (void)state;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        v = -1;
        assert_int_equal(cfg_parse_size(ok[i].in, &v), CFG_OK);
        assert_int_equal(v, ok[i].b);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (cfg_parse_size(bad[i], &v) != CFG_EINVAL)
            fail_msg("size \"%s\" accepted", bad[i]);
}

static void test_parse_bool_and_format(void **state)
{
    static const char *const t[] = { "true", "TRUE", "1", "yes", "on", "On" };
    static const char *const f[] = { "false", "0", "no", "off", "OFF" };
    bool b;
    char buf[32];

    (void)state;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        b = false;
        assert_int_equal(cfg_parse_bool(t[i], &b), CFG_OK);
        assert_true(b);
    }
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        b = true;
        assert_int_equal(cfg_parse_bool(f[i], &b), CFG_OK);
        assert_false(b);
    }
    assert_int_equal(cfg_parse_bool("maybe", &b), CFG_EINVAL);
    assert_int_equal(cfg_parse_bool("", &b), CFG_EINVAL);

    assert_string_equal(cfg_format_duration(5400000, buf, sizeof buf), "1h30m");
    assert_string_equal(cfg_format_duration(250, buf, sizeof buf), "250ms");
    assert_string_equal(cfg_format_duration(0, buf, sizeof buf), "0ms");
    assert_string_equal(cfg_format_duration(90500, buf, sizeof buf), "1m30s500ms");
    assert_string_equal(cfg_format_size(65536, buf, sizeof buf), "64KiB");
    assert_string_equal(cfg_format_size(2000000000LL, buf, sizeof buf), "2GB");
    assert_string_equal(cfg_format_size(1500, buf, sizeof buf), "1500");
    assert_string_equal(cfg_format_size(0, buf, sizeof buf), "0");
    assert_string_equal(cfg_format_duration(5400000, buf, 3), "1h");   /* truncated, terminated */
    /* Formatting and parsing agree. */
    for (long long ms = 1; ms < 100000000LL; ms = ms * 7 + 3) {
        long long back;
        assert_int_equal(cfg_parse_duration(cfg_format_duration(ms, buf, sizeof buf), &back), CFG_OK);
        assert_int_equal(back, ms);
    }
}

/* A service-like table. */
static char     *nats_url, *token, *name;
static long long workers, interval, max_body;
static bool      verbose;

static int no_spaces(const char *text, char *why, size_t why_len)
{
    if (strchr(text, ' ') != NULL) {
        snprintf(why, why_len, "must not contain spaces");
        return 1;
    }
    return 0;
}

static const cfg_option table[] = {
    { "nats-url", CFG_STRING, "nats://127.0.0.1:4222", "NATS server URL", 0, 0, &nats_url, NULL, 0, 0 },
    { "token", CFG_STRING, NULL, "API token", 0, 0, &token, NULL, 1, 0 },
    { "name", CFG_STRING, "svc", "instance name", 0, 0, &name, no_spaces, 0, 0 },
    { "workers", CFG_INT, "4", "worker threads", 1, 64, &workers, NULL, 0, 0 },
    { "resync-interval", CFG_DURATION, "5m", "how often to resync", 1000, 3600000, &interval, NULL, 0, 0 },
    { "max-body", CFG_SIZE, "1MiB", "largest request body", 0, 0, &max_body, NULL, 0, 0 },
    { "verbose", CFG_BOOL, "false", "log debug lines", 0, 0, &verbose, NULL, 0, 0 },
};
#define NOPTS (sizeof table / sizeof table[0])

static void clear_env(void)
{
    static const char *const vars[] = { "TCFG_NATS_URL", "TCFG_TOKEN", "TCFG_NAME", "TCFG_WORKERS",
                                        "TCFG_RESYNC_INTERVAL", "TCFG_MAX_BODY", "TCFG_VERBOSE", "TCFG_NEED" };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
}

static int setup(void **state)
{
    (void)state;
    clear_env();
    nats_url = token = name = NULL;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cfg_dispose(table, NOPTS);
    clear_env();
    return 0;
}

static int load(ep_err *err, int argc, ...)
{
    char   *argv[16];
    va_list ap;

    argv[0] = "svc";
    va_start(ap, argc);
    for (int i = 1; i < argc; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    argv[argc] = NULL;
    return cfg_load(table, NOPTS, "TCFG_", "svc", "test service", argc, argv, err);
}

static void test_defaults(void **state)
{
    ep_err err = {0};

    (void)state;
    assert_int_equal(load(&err, 1), CFG_OK);
    assert_string_equal(nats_url, "nats://127.0.0.1:4222");
    assert_string_equal(token, "");            /* no default: empty string */
    assert_int_equal(workers, 4);
    assert_int_equal(interval, 300000);
    assert_int_equal(max_body, 1048576);
    assert_false(verbose);
}

static void test_env_then_flags(void **state)
{
    ep_err err = {0};

    (void)state;
    setenv("TCFG_WORKERS", "8", 1);
    setenv("TCFG_RESYNC_INTERVAL", "30s", 1);
    setenv("TCFG_NATS_URL", "nats://env:4222", 1);
    setenv("TCFG_VERBOSE", "yes", 1);
    assert_int_equal(load(&err, 6, "--workers=16", "--nats-url", "nats://flag:4222", "--max-body=64KiB",
                          "--no-verbose"),
                     CFG_OK);
    assert_int_equal(workers, 16);                 /* flag over env */
    assert_int_equal(interval, 30000);             /* env over default */
    assert_string_equal(nats_url, "nats://flag:4222");
    assert_int_equal(max_body, 65536);
    assert_false(verbose);                         /* --no-verbose over env */
    cfg_dispose(table, NOPTS);

    assert_int_equal(load(&err, 2, "--verbose"), CFG_OK);   /* bool flag alone = true */
    assert_true(verbose);
    cfg_dispose(table, NOPTS);
    assert_int_equal(load(&err, 3, "--verbose", "--"), CFG_OK);
    assert_true(verbose);
}

static void expect_error(int rc_want, const char *msg_want, int argc, ...)
{
    char   *argv[16];
    va_list ap;
    ep_err  err = {0};
    int     rc;

    argv[0] = "svc";
    va_start(ap, argc);
    for (int i = 1; i < argc; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    rc = cfg_load(table, NOPTS, "TCFG_", "svc", NULL, argc, argv, &err);
    if (rc != rc_want || strcmp(err.msg, msg_want) != 0)
        fail_msg("want %d \"%s\", got %d \"%s\"", rc_want, msg_want, rc, err.msg);
    assert_int_equal(err.code, rc_want);
    /* A failed load leaves nothing to free. */
    assert_null(nats_url);
    assert_null(token);
    assert_null(name);
}

static void test_errors(void **state)
{
    (void)state;
    setenv("TCFG_RESYNC_INTERVAL", "abc", 1);
    expect_error(CFG_EINVAL, "TCFG_RESYNC_INTERVAL=abc: not a duration (examples: 250ms, 30s, 5m, 1h30m)", 1);
    /* The environment is checked even when a flag would override it: a bad
     * value anywhere is a configuration mistake worth reporting. */
    expect_error(CFG_EINVAL, "TCFG_RESYNC_INTERVAL=abc: not a duration (examples: 250ms, 30s, 5m, 1h30m)", 2,
                 "--resync-interval=10s");
    unsetenv("TCFG_RESYNC_INTERVAL");
    expect_error(CFG_EINVAL, "--resync-interval=2h: out of range (1s..1h)", 2, "--resync-interval=2h");
    expect_error(CFG_EINVAL, "--workers=0: out of range (1..64)", 2, "--workers=0");
    expect_error(CFG_EINVAL, "--workers=4x: not an integer", 3, "--workers", "4x");
    expect_error(CFG_EINVAL, "--verbose=maybe: not a boolean (true/false, yes/no, on/off, 1/0)", 2, "--verbose=maybe");
    expect_error(CFG_EINVAL, "--max-body=1.5MiB: not a size (examples: 512, 64KiB, 1MiB, 2GB)", 2, "--max-body=1.5MiB");
    expect_error(CFG_EINVAL, "--name=a b: must not contain spaces", 2, "--name=a b");
    expect_error(CFG_EUNKNOWN, "unknown option --nats (see --help)", 2, "--nats=x");
    expect_error(CFG_EUNKNOWN, "unknown option --no-workers (see --help)", 2, "--no-workers");
    expect_error(CFG_EUNKNOWN, "option --workers needs a value", 2, "--workers");
    expect_error(CFG_EUNKNOWN, "unexpected argument extra (options start with --)", 2, "extra");
    expect_error(CFG_EUNKNOWN, "unexpected argument extra", 3, "--", "extra");
    /* An error after a string was accepted still frees it. */
    expect_error(CFG_EINVAL, "--workers=99: out of range (1..64)", 3, "--nats-url=nats://x", "--workers=99");
}

static void test_secret_masked_in_errors(void **state)
{
    static long long        key;
    static const cfg_option t[] = {
        { "api-key", CFG_INT, NULL, "numeric key", 0, 0, &key, NULL, 1, 0 },
    };
    char  *argv[] = { "svc", "--api-key=hunter2", NULL };
    ep_err err = {0};

    (void)state;
    assert_int_equal(cfg_load(t, 1, "TCFG_", "svc", NULL, 2, argv, &err), CFG_EINVAL);
    assert_string_equal(err.msg, "--api-key=<secret>: not an integer");
    assert_null(strstr(err.msg, "hunter2"));
}

static void test_required(void **state)
{
    static char *need;
    static const cfg_option t[] = {
        { "need", CFG_STRING, NULL, "must be given", 0, 0, &need, NULL, 0, 1 },
    };
    char  *argv[] = { "svc", NULL, NULL };
    ep_err err = {0};

    (void)state;
    assert_int_equal(cfg_load(t, 1, "TCFG_", "svc", NULL, 1, argv, &err), CFG_EMISSING);
    assert_string_equal(err.msg, "need is required: set --need or TCFG_NEED");
    assert_null(need);
    setenv("TCFG_NEED", "from-env", 1);
    assert_int_equal(cfg_load(t, 1, "TCFG_", "svc", NULL, 1, argv, &err), CFG_OK);
    assert_string_equal(need, "from-env");
    cfg_dispose(t, 1);
    assert_null(need);
    cfg_dispose(t, 1);   /* twice is fine */
    unsetenv("TCFG_NEED");
    argv[1] = "--need=x";
    assert_int_equal(cfg_load(t, 1, "TCFG_", "svc", NULL, 2, argv, &err), CFG_OK);
    assert_string_equal(need, "x");
    cfg_dispose(t, 1);
}

static void test_bad_tables(void **state)
{
    static long long a, b;
    static const cfg_option dup[] = {
        { "a", CFG_INT, "1", "", 0, 0, &a, NULL, 0, 0 },
        { "a", CFG_INT, "1", "", 0, 0, &b, NULL, 0, 0 },
    };
    static const cfg_option bad_def[] = {
        { "wait", CFG_DURATION, "5 minutes", "", 0, 0, &a, NULL, 0, 0 },
    };
    static const cfg_option bad_name[] = {
        { "Wait_For", CFG_INT, "1", "", 0, 0, &a, NULL, 0, 0 },
    };
    char  *argv[] = { "svc", NULL };
    ep_err err = {0};

    (void)state;
    assert_int_equal(cfg_load(dup, 2, "T_", "svc", NULL, 1, argv, &err), CFG_ETABLE);
    assert_string_equal(err.msg, "config table: a defined twice");
    assert_int_equal(cfg_load(bad_def, 1, "T_", "svc", NULL, 1, argv, &err), CFG_ETABLE);
    assert_string_equal(err.msg, "default of wait (5 minutes): not a duration (examples: 250ms, 30s, 5m, 1h30m)");
    assert_int_equal(cfg_load(bad_name, 1, "T_", "svc", NULL, 1, argv, &err), CFG_ETABLE);
    assert_non_null(strstr(err.msg, "[a-z0-9-]"));
}

static void test_help(void **state)
{
    FILE  *f = tmpfile();
    char   text[4096];
    size_t n;
    ep_err err = {0};
    int    saved;

    (void)state;
    assert_non_null(f);
    cfg_print_help(f, table, NOPTS, "TCFG_", "svc", "test service");
    rewind(f);
    n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    assert_non_null(strstr(text, "Usage: svc [options]\ntest service\n"));
    assert_non_null(strstr(text, "--resync-interval=<duration>  [TCFG_RESYNC_INTERVAL]"));
    assert_non_null(strstr(text, "how often to resync Default: 5m. Range: 1s..1h."));
    assert_non_null(strstr(text, "largest request body Default: 1MiB."));
    assert_non_null(strstr(text, "--verbose, --no-verbose  [TCFG_VERBOSE]"));
    assert_non_null(strstr(text, "API token Default: <secret>."));
    assert_non_null(strstr(text, "worker threads Default: 4. Range: 1..64."));

    /* --help wins even over a bad environment variable; stdout goes to
     * /dev/null for the call. */
    setenv("TCFG_WORKERS", "many", 1);
    fflush(stdout);
    saved = dup(1);
    assert_non_null(freopen("/dev/null", "w", stdout));
    int rc = load(&err, 3, "--workers=x", "--help");
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    assert_int_equal(rc, CFG_HELP);
    assert_null(nats_url);
}

static void test_log_effective(void **state)
{
    ep_err err = {0};
    char   line[512], small[24];

    (void)state;
    setenv("TCFG_TOKEN", "s3cr3t", 1);
    if (load(&err, 3, "--name=two\"q", "--resync-interval=45m30s") != CFG_OK)
        fail_msg("%s", err.msg);
    cfg_log_effective(table, NOPTS, line, sizeof line);
    assert_string_equal(line, "nats-url=nats://127.0.0.1:4222 token=*** name=\"two\\\"q\" workers=4 "
                              "resync-interval=45m30s max-body=1MiB verbose=false");
    assert_null(strstr(line, "s3cr3t"));
    cfg_log_effective(table, NOPTS, small, sizeof small);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_string_equal(small + strlen(small) - 3, "...");
    cfg_log_effective(table, NOPTS, small, 0);   /* must not write */
}

/* Fail each allocation of a load in turn: each failure is CFG_ENOMEM with
 * no string left behind; the loop ends when a run needs no more failures. */
static void test_alloc_failures(void **state)
{
    long i;

    (void)state;
    if (!chaos_available()) {
        skip();
        return;
    }
    setenv("TCFG_NAME", "from-env", 1);
    for (i = 0;; i++) {
        ep_err err = {0};
        int    rc;
        long   live = chaos_live;

        chaos_arm(i);
        rc = load(&err, 3, "--nats-url=nats://x", "--workers=9");
        if (!chaos_disarm()) {
            assert_int_equal(rc, CFG_OK);
            assert_string_equal(name, "from-env");
            cfg_dispose(table, NOPTS);
            break;
        }
        assert_int_equal(rc, CFG_ENOMEM);
        assert_non_null(strstr(err.msg, "out of memory"));
        assert_null(nats_url);
        assert_null(token);
        assert_null(name);
        assert_int_equal(chaos_live, live);   /* nothing leaked on this path */
    }
    assert_true(i >= 4);   /* the slots and three strings */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_parse_bool_and_format),
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_then_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_masked_in_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_required, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_tables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_help, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_effective, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc_failures, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
