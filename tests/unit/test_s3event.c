/*
 * test_s3event: libs/s3event against tests/unit/data/s3event:
 *   valid/NAME.json   notifications (minio_*.json were captured from a real
 *                    MinIO publishing to NATS; the rest are written from
 *                    MinIO's event structs) with NAME.expect listing the
 *                    records we must extract;
 *   invalid/NAME.json malformed ones with the status and a message fragment;
 *   query_vectors.tsv  url.QueryUnescape / QueryEscape results produced by
 *                    Go's net/url itself (generator: query_vectors.go.txt).
 * Plus a run that fails every allocation in turn.
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "s3event/s3event.h"

static char data_dir[PATH_MAX + 64];

/* tests/unit/data under $EP_ROOT (set by scripts/run-unit.sh), under the
 * working directory, or relative to build/test/<binary>. */
static const char *find_data_dir(void)
{
    char exe[PATH_MAX];
    const char *env = getenv("EP_ROOT");
    ssize_t n;
    char *slash;

    if (data_dir[0] != '\0')
        return data_dir;
    if (env != NULL && env[0] != '\0')
        snprintf(data_dir, sizeof data_dir, "%.*s/tests/unit/data", PATH_MAX - 1, env);
    else if (access("tests/unit/data/s3event", R_OK) == 0)
        snprintf(data_dir, sizeof data_dir, "tests/unit/data");
    else if ((n = readlink("/proc/self/exe", exe, sizeof exe - 1)) > 0) {
        exe[n] = '\0';
        slash = strrchr(exe, '/');
        if (slash != NULL)
            *slash = '\0';
        snprintf(data_dir, sizeof data_dir, "%.*s/../../tests/unit/data", PATH_MAX - 1, exe);
    }
    return data_dir;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        } else if (buf != NULL) {
            buf[n] = '\0';
            *len = (size_t)n;
        }
    }
    fclose(f);
    return buf;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char **list_cases(const char *kind, size_t *n)
{
    char dir[PATH_MAX + 128];
    char **names = NULL;
    struct dirent *e;
    DIR *d;
    size_t cap = 0;

    *n = 0;
    snprintf(dir, sizeof dir, "%s/s3event/%s", find_data_dir(), kind);
    d = opendir(dir);
    if (d == NULL)
        fail_msg("cannot open %s: %s", dir, strerror(errno));
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l <= 5 || strcmp(e->d_name + l - 5, ".json") != 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            names = realloc(names, cap * sizeof *names);
            assert_non_null(names);
        }
        names[(*n)++] = strndup(e->d_name, l - 5);
    }
    closedir(d);
    qsort(names, *n, sizeof *names, cmp_str);
    return names;
}

static char *load(const char *kind, const char *name, const char *ext, size_t *len)
{
    char path[PATH_MAX + 256];
    char *b;

    snprintf(path, sizeof path, "%s/s3event/%s/%s%s", find_data_dir(), kind, name, ext);
    b = read_file(path, len);
    if (b == NULL)
        fail_msg("cannot read %s", path);
    return b;
}

static size_t failed;

static void bad(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void bad(const char *name, const char *fmt, ...)
{
    va_list ap;

    failed++;
    fprintf(stderr, "  case %s: ", name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static const char *record_field(const s3event_record *r, const char *f, char *tmp, size_t n)
{
    if (strcmp(f, "kind") == 0) return s3event_kind_str(r->kind);
    if (strcmp(f, "event_name") == 0) return r->event_name;
    if (strcmp(f, "event_time") == 0) return r->event_time;
    if (strcmp(f, "bucket") == 0) return r->bucket;
    if (strcmp(f, "key") == 0) return r->key;
    if (strcmp(f, "raw_key") == 0) return r->raw_key;
    if (strcmp(f, "etag") == 0) return r->etag;
    if (strcmp(f, "sequencer") == 0) return r->sequencer;
    if (strcmp(f, "version_id") == 0) return r->version_id;
    if (strcmp(f, "size") == 0) {
        snprintf(tmp, n, "%lld", (long long)r->size);
        return tmp;
    }
    return NULL;
}

static void check_valid(const char *name)
{
    size_t len, elen;
    char *json = load("valid", name, ".json", &len);
    char *exp = load("valid", name, ".expect", &elen);
    char *line, *save = NULL, tmp[32];
    s3event *ev = NULL;
    ep_err err;
    long rec = -1;
    int rc;

    rc = s3event_parse(json, len, &ev, &err);
    if (rc != S3EVENT_OK) {
        bad(name, "rc %s: %s", s3event_strstatus(rc), err.msg);
        goto out;
    }
    for (line = strtok_r(exp, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(line, ' ');
        const char *want = sp ? sp + 1 : "", *got;

        if (sp)
            *sp = '\0';
        if (strcmp(line, "records") == 0) {
            if ((size_t)atol(want) != ev->n_records)
                bad(name, "%zu records, want %s", ev->n_records, want);
        } else if (strcmp(line, "record") == 0) {
            rec = atol(want);
            if (rec < 0 || (size_t)rec >= ev->n_records) {
                bad(name, "no record %ld", rec);
                goto out;
            }
        } else if (rec >= 0) {
            got = record_field(&ev->records[rec], line, tmp, sizeof tmp);
            if (got == NULL || strcmp(got, want) != 0)
                bad(name, "record %ld %s = \"%s\", want \"%s\"", rec, line, got ? got : "?",
                    want);
        }
    }
out:
    s3event_destroy(ev);
    free(json);
    free(exp);
}

static void check_invalid(const char *name)
{
    size_t len, elen;
    char *json = load("invalid", name, ".json", &len);
    char *exp = load("invalid", name, ".expect", &elen);
    char status[32] = "", *msg;
    s3event *ev = (s3event *)&ev;
    ep_err err;
    int rc;

    if (sscanf(exp, "status %31s", status) != 1 || (msg = strstr(exp, "\nmessage ")) == NULL) {
        bad(name, "malformed .expect");
        goto out;
    }
    msg += 9;
    msg[strcspn(msg, "\n")] = '\0';
    ep_err_clear(&err);
    rc = s3event_parse(json, len, &ev, &err);
    if (strcmp(s3event_strstatus(rc), "ok") == 0 || ev != NULL)
        bad(name, "accepted");
    else {
        char want[48];
        snprintf(want, sizeof want, "S3EVENT_%s", status);
        /* Compare by name through the X-macro-built table. */
#define S3EVENT_NAME(n, s) if (rc == n && strcmp(#n, want) != 0) bad(name, "status %s, want %s", #n, want);
        S3EVENT_STATUS_MAP(S3EVENT_NAME)
#undef S3EVENT_NAME
        if (err.code != rc)
            bad(name, "err.code %d, rc %d", err.code, rc);
        if (strstr(err.msg, msg) == NULL)
            bad(name, "message \"%s\" lacks \"%s\"", err.msg, msg);
    }
out:
    free(json);
    free(exp);
}

static void test_valid(void **state)
{
    size_t n, i;
    char **names = list_cases("valid", &n);

    failed = 0;
    assert_true(n >= 15);
    for (i = 0; i < n; i++) {
        check_valid(names[i]);
        free(names[i]);
    }
    free(names);
    if (failed)
        fail_msg("%zu check(s) failed", failed);
}

static void test_invalid(void **state)
{
    size_t n, i;
    char **names = list_cases("invalid", &n);

    failed = 0;
    assert_true(n >= 30);
    for (i = 0; i < n; i++) {
        check_invalid(names[i]);
        free(names[i]);
    }
    free(names);
    if (failed)
        fail_msg("%zu check(s) failed", failed);
}

static size_t unhex_str(const char *h, char *out)
{
    size_t n = 0;
    unsigned v;

    while (h[0] && h[1] && sscanf(h, "%2x", &v) == 1) {
        out[n++] = (char)v;
        h += 2;
    }
    return n;
}

/* Every line of query_vectors.tsv: U <in hex> <out hex | !go error> or
 * E <in hex> <out hex>. */
static void test_go_vectors(void **state)
{
    size_t len, nu = 0, ne = 0;
    char *tsv = load("", "query_vectors", ".tsv", &len);
    char *line, *save = NULL;

    failed = 0;
    for (line = strtok_r(tsv, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char in[64], want[64], out[64];
        char *f1 = strchr(line, '\t'), *f2 = f1 ? strchr(f1 + 1, '\t') : NULL;
        size_t inl, wl, ol = 99;
        ep_err err;
        int rc;

        assert_non_null(f2);
        *f1 = *f2 = '\0';
        inl = unhex_str(f1 + 1, in);
        if (line[0] == 'U') {
            nu++;
            ep_err_clear(&err);
            rc = s3event_query_unescape(in, inl, out, &ol, &err);
            if (f2[1] == '!') {
                if (rc != S3EVENT_EESCAPE)
                    bad(f1 + 1, "unescape accepted, Go says %s", f2 + 2);
                /* Go quotes with %q; compare when the bytes are printable. */
                else if (strspn(f2 + 2, " !#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "[]^_`abcdefghijklmnopqrstuvwxyz{|}~\"") == strlen(f2 + 2) &&
                         strcmp(err.msg, f2 + 2) != 0)
                    bad(f1 + 1, "message \"%s\", Go says \"%s\"", err.msg, f2 + 2);
            } else {
                wl = unhex_str(f2 + 1, want);
                if (rc != S3EVENT_OK || ol != wl || memcmp(out, want, wl) != 0 || out[ol] != '\0')
                    bad(f1 + 1, "unescape differs from Go (rc %d)", rc);
            }
        } else {
            char *esc;
            ne++;
            wl = unhex_str(f2 + 1, want);
            want[wl] = '\0';
            esc = s3event_query_escape(in, inl);
            if (esc == NULL || strcmp(esc, want) != 0)
                bad(f1 + 1, "escape \"%s\", Go says \"%s\"", esc ? esc : "(null)", want);
            s3event_free(esc);
        }
    }
    free(tsv);
    assert_true(nu > 400 && ne > 100);
    if (failed)
        fail_msg("%zu vector(s) differ from Go", failed);
}

static void test_api_edges(void **state)
{
    char out[16];
    size_t ol;
    s3event *ev;
    char *big;
    ep_err err;

    assert_int_equal(s3event_query_unescape(NULL, 1, out, &ol, &err), S3EVENT_EARG);
    assert_int_equal(s3event_query_unescape("a+b", 3, out, NULL, NULL), S3EVENT_OK);
    assert_string_equal(out, "a b");
    /* Only len bytes are read. */
    assert_int_equal(s3event_query_unescape("%41%", 3, out, &ol, NULL), S3EVENT_OK);
    assert_string_equal(out, "A");
    assert_int_equal(s3event_parse(NULL, 0, &ev, &err), S3EVENT_ESYNTAX);
    assert_null(ev);
    assert_int_equal(s3event_parse("{}", 2, NULL, &err), S3EVENT_EARG);
    big = calloc(1, S3EVENT_MAX_SIZE + 2);
    memset(big, ' ', S3EVENT_MAX_SIZE + 1);
    assert_int_equal(s3event_parse(big, S3EVENT_MAX_SIZE + 1, &ev, &err), S3EVENT_ETOOLARGE);
    free(big);
    s3event_destroy(NULL);

    assert_true(s3event_sequencer_compare("18EAA99479A8AD70", "18EAA9947C097E2D") < 0);
    assert_true(s3event_sequencer_compare("FF", "100") < 0);
    assert_true(s3event_sequencer_compare("00ff", "FF") == 0);
    assert_true(s3event_sequencer_compare("", "0") < 0);
    assert_true(s3event_sequencer_compare("zz", "zz") == 0);
    assert_true(s3event_sequencer_compare("1", NULL) > 0);
    assert_string_equal(s3event_kind_str(S3EVENT_KIND_REMOVED), "removed");
    assert_string_equal(s3event_strstatus(S3EVENT_EESCAPE), "invalid escape");
}

static long budget = -1, live, nfailed;

static void *cmalloc(size_t n)
{
    void *p;

    if (budget == 0) {
        nfailed++;
        return NULL;
    }
    if (budget > 0)
        budget--;
    p = malloc(n);
    if (p)
        live++;
    return p;
}

static void cfree(void *p)
{
    if (p)
        live--;
    free(p);
}

static void test_allocation_failures(void **state)
{
    size_t len;
    char *json = load("valid", "two_records", ".json", &len);
    long n;

    json_set_alloc_funcs(cmalloc, cfree);
    for (n = 0;; n++) {
        s3event *ev = NULL;
        ep_err err;
        int rc;

        budget = n;
        live = 0;
        nfailed = 0;
        rc = s3event_parse(json, len, &ev, &err);
        s3event_destroy(ev);
        if (live != 0)
            fail_msg("%ld blocks leaked with allocation %ld failing", live, n);
        if (nfailed == 0) {
            assert_int_equal(rc, S3EVENT_OK);
            break;
        }
        if (rc != S3EVENT_ENOMEM)
            fail_msg("allocation %ld failing gave %s (%s)", n, s3event_strstatus(rc), err.msg);
        assert_null(ev);
    }
    budget = -1;
    json_set_alloc_funcs(malloc, free);
    assert_true(n > 20);
    free(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_go_vectors),
        cmocka_unit_test(test_api_edges),
        cmocka_unit_test(test_allocation_failures),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
