/*
 * fuzz_config: libFuzzer harness for the configuration parsers, which read
 * operator input (environment variables, flags, and durations or sizes
 * services take from claims via cfg_parse_duration / cfg_parse_size).
 *
 * The input is taken whole as one value text for the duration, size and
 * bool parsers; whatever parses must format back to text that parses to
 * the same value (format/parse round trip).  The input is also split on
 * newlines into an argv for cfg_load on a table with every type, bounds,
 * a validator and a secret; after any outcome cfg_dispose must leave
 * nothing behind (the leak checker sees it), the error message must be
 * terminated and never contain the secret's value, and a successful load
 * must respect the bounds.
 *
 * Build with clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Ilibs
 * from this file and libs/config/config.c, libs/err/err.c; run it on a copy
 * of tests/fuzz/corpus/config with -max_total_time=120.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char     *s_url, *s_token;
static long long s_workers, s_interval, s_size;
static bool      s_flag;

static int no_x(const char *text, char *why, size_t why_len)
{
    if (strchr(text, 'X') != NULL) {
        snprintf(why, why_len, "no X allowed");
        return 1;
    }
    return 0;
}

static const cfg_option table[] = {
    { "url", CFG_STRING, "nats://h:4222", "url", 0, 0, &s_url, no_x, 0, 0 },
    { "token", CFG_STRING, NULL, "secret", 0, 0, &s_token, NULL, 1, 0 },
    { "workers", CFG_INT, "4", "n", -5, 64, &s_workers, NULL, 0, 0 },
    { "interval", CFG_DURATION, "5m", "d", 1, 86400000, &s_interval, NULL, 0, 0 },
    { "size", CFG_SIZE, "1MiB", "s", 0, 0, &s_size, NULL, 0, 0 },
    { "flag", CFG_BOOL, NULL, "b", 0, 0, &s_flag, NULL, 0, 0 },
};

static void roundtrip(const char *text)
{
    long long v, back;
    bool      b;
    char      buf[64];

    if (cfg_parse_duration(text, &v) == CFG_OK) {
        if (v < 0)
            abort();
        if (v > 0 && (cfg_parse_duration(cfg_format_duration(v, buf, sizeof buf), &back) != CFG_OK || back != v))
            abort();
    }
    if (cfg_parse_size(text, &v) == CFG_OK) {
        if (v < 0)
            abort();
        if (cfg_parse_size(cfg_format_size(v, buf, sizeof buf), &back) != CFG_OK || back != v)
            abort();
    }
    if (cfg_parse_bool(text, &b) == CFG_OK && b != true && b != false)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char  *text = malloc(size + 1), *argv[33], *p;
    int    argc = 1;
    ep_err err;
    char   line[1024];

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    roundtrip(text);

    argv[0] = "fuzz";
    for (p = text; argc < 32 && p != NULL && *p != '\0';) {
        char *nl = strchr(p, '\n');
        if (nl != NULL)
            *nl = '\0';
        argv[argc++] = p;
        p = nl ? nl + 1 : NULL;
    }
    argv[argc] = NULL;
    /* Keep --help quiet: stdout is not interesting here. */
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            argv[i] = "--flag";
    memset(&err, 0x55, sizeof err);
    int rc = cfg_load(table, sizeof table / sizeof table[0], "FUZZ_CFG_", "fuzz", NULL, argc, argv, &err);
    if (memchr(err.msg, '\0', sizeof err.msg) == NULL)
        abort();
    if (rc == CFG_OK) {
        if (s_workers < -5 || s_workers > 64 || s_interval < 1 || s_interval > 86400000 || s_url == NULL ||
            s_token == NULL || strchr(s_url, 'X') != NULL)
            abort();
        cfg_log_effective(table, sizeof table / sizeof table[0], line, sizeof line);
        if (s_token[0] != '\0' && strlen(s_token) > 3 && strstr(line, s_token) != NULL &&
            strstr(line, "token=***") == NULL)
            abort();
    } else {
        if (s_url != NULL || s_token != NULL)
            abort();
        /* An error about the token never shows its value. */
        if (strncmp(err.msg, "--token=", 8) == 0 && strncmp(err.msg, "--token=<secret>:", 17) != 0)
            abort();
    }
    cfg_dispose(table, sizeof table / sizeof table[0]);
    free(text);
    return 0;
}
