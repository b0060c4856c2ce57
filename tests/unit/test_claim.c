/*
 * test_claim: libs/claim against the case folders in tests/unit/data/claims
 * (valid/ and invalid/, each NAME.json with a NAME.expect sidecar written by
 * make_cases.py from the rules in docs/claims.md), plus the API edges the
 * folders cannot express: options, ownership, the name-from-key helper, hash
 * stability, and a run that fails every allocation in turn.
 *
 * A data-driven test reports every failing case by name before failing, so
 * one run shows all regressions at once.
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

#include "claim/claim.h"

/* ---- files --------------------------------------------------------------------- */

static char data_dir[PATH_MAX + 64];

/* Find tests/unit/data: under $EP_ROOT (scripts/run-unit.sh sets it), the
 * working directory (make runs
 * from the repository root), or relative to the test binary
 * (build/test/test_claim). */
static const char *find_data_dir(void)
{
    char exe[PATH_MAX];
    const char *env = getenv("EP_ROOT");
    ssize_t n;
    char *slash;

    if (data_dir[0] != '\0')
        return data_dir;
    if (env != NULL && env[0] != '\0') {
        snprintf(data_dir, sizeof data_dir, "%.*s/tests/unit/data", PATH_MAX - 1, env);
        return data_dir;
    }
    if (access("tests/unit/data/claims", R_OK) == 0) {
        snprintf(data_dir, sizeof data_dir, "tests/unit/data");
        return data_dir;
    }
    n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        slash = strrchr(exe, '/');
        if (slash != NULL) {
            *slash = '\0';
            snprintf(data_dir, sizeof data_dir, "%.*s/../../tests/unit/data", PATH_MAX - 1, exe);
            return data_dir;
        }
    }
    snprintf(data_dir, sizeof data_dir, "tests/unit/data");
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

/* Sorted case names (NAME for each NAME.json) in data/claims/<kind>. */
static char **list_cases(const char *kind, size_t *n)
{
    char dir[PATH_MAX + 64];
    char **names = NULL;
    struct dirent *e;
    DIR *d;
    size_t cap = 0;

    *n = 0;
    snprintf(dir, sizeof dir, "%s/claims/%s", find_data_dir(), kind);
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

static void free_cases(char **names, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* ---- one case --------------------------------------------------------------------- */

typedef struct expect {
    char *text;         /* the sidecar, split in place into lines */
    char *lines[400];
    size_t n;
} expect;

static void expect_load(expect *x, const char *kind, const char *name)
{
    char path[PATH_MAX + 128];
    size_t len, i;
    char *p;

    snprintf(path, sizeof path, "%s/claims/%s/%s.expect", find_data_dir(), kind, name);
    x->text = read_file(path, &len);
    if (x->text == NULL)
        fail_msg("cannot read %s", path);
    x->n = 0;
    for (p = x->text; *p != '\0' && x->n < 400;) {
        char *nl = strchr(p, '\n');
        if (nl != NULL)
            *nl = '\0';
        if (*p != '\0')
            x->lines[x->n++] = p;
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    for (i = 0; i < x->n; i++)
        assert_non_null(x->lines[i]);
}

/* Value of the first line "<directive> ..." or NULL. */
static const char *directive(const expect *x, const char *d)
{
    size_t i, l = strlen(d);

    for (i = 0; i < x->n; i++)
        if (strncmp(x->lines[i], d, l) == 0 && x->lines[i][l] == ' ')
            return x->lines[i] + l + 1;
    return NULL;
}

typedef struct failures {
    size_t n;
} failures;

static int check(failures *f, int ok, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int check(failures *f, int ok, const char *name, const char *fmt, ...)
{
    va_list ap;

    if (ok)
        return 1;
    f->n++;
    fprintf(stderr, "  case %s: ", name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 0;
}

static int parse_case(const char *kind, const char *name, const expect *x, claim **c,
                      claim_errors *errs, ep_err *err, char **raw, size_t *len)
{
    char path[PATH_MAX + 128];
    claim_options opt = { NULL, CLAIM_SOURCE_DYNAMIC, 0 };
    const char *src = directive(x, "source");

    snprintf(path, sizeof path, "%s/claims/%s/%s.json", find_data_dir(), kind, name);
    *raw = read_file(path, len);
    if (*raw == NULL)
        fail_msg("cannot read %s", path);
    opt.key = directive(x, "key");
    if (src != NULL && strcmp(src, "static") == 0)
        opt.source = CLAIM_SOURCE_STATIC;
    return claim_parse(*raw, *len, &opt, c, errs, err);
}

static const char *field_value(const claim *c, const char *f)
{
    if (strcmp(f, "user") == 0) return c->user;
    if (strcmp(f, "environment_pool") == 0) return c->environment_pool;
    if (strcmp(f, "environment_name") == 0) return c->environment_name;
    if (strcmp(f, "environment_type") == 0) return claim_env_type_str(c->environment_type);
    if (strcmp(f, "creation_date") == 0) return c->creation_date;
    if (strcmp(f, "expiration_date") == 0) return c->expiration_date;
    if (strcmp(f, "deployment_method") == 0) return c->deployment_method;
    if (strcmp(f, "git_repository") == 0) return c->git_repository;
    if (strcmp(f, "branch") == 0) return c->branch;
    return NULL;
}

/* Warnings must be exactly the listed ones, in order. */
static void check_warnings(failures *f, const char *name, const expect *x,
                           const claim_errors *errs)
{
    size_t i, w = 0;

    for (i = 0; i < x->n; i++) {
        if (strncmp(x->lines[i], "warning ", 8) != 0)
            continue;
        if (check(f, w < errs->n_warnings, name, "missing warning \"%s\"", x->lines[i] + 8))
            check(f, strcmp(errs->warnings[w].text, x->lines[i] + 8) == 0, name,
                  "warning %zu is \"%s\", want \"%s\"", w, errs->warnings[w].text,
                  x->lines[i] + 8);
        w++;
    }
    for (; w < errs->n_warnings; w++)
        check(f, 0, name, "unexpected warning \"%s\"", errs->warnings[w].text);
}

static void check_valid_case(failures *f, const char *name)
{
    claim *c = NULL, *c2 = NULL;
    claim_errors errs, errs2;
    claim_options opt2 = { NULL, CLAIM_SOURCE_DYNAMIC, 0 };
    char h1[CLAIM_HASH_LEN], h2[CLAIM_HASH_LEN];
    char *raw = NULL, *canon = NULL, *canon2 = NULL;
    const char *v;
    size_t len, i;
    ep_err err;
    expect x;
    int rc;

    claim_errors_init(&errs);
    claim_errors_init(&errs2);
    expect_load(&x, "valid", name);
    rc = parse_case("valid", name, &x, &c, &errs, &err, &raw, &len);
    if (!check(f, rc == CLAIM_OK && c != NULL, name, "rc %s: %s", claim_strstatus(rc),
               rc ? err.msg : "")) {
        for (i = 0; i < errs.n_errors; i++)
            fprintf(stderr, "    error %s %s: %s\n", errs.errors[i].field,
                    claim_fcode_str(errs.errors[i].code), errs.errors[i].message);
        goto out;
    }
    check_warnings(f, name, &x, &errs);
    canon = claim_canonical_json(c);
    assert_non_null(canon);
    if ((v = directive(&x, "canonical")) != NULL)
        check(f, strcmp(canon, v) == 0, name, "canonical\n    got  %s\n    want %s", canon, v);
    assert_int_equal(claim_content_hash(c, h1), CLAIM_OK);
    if ((v = directive(&x, "hash")) != NULL)
        check(f, strcmp(h1, v) == 0, name, "hash %s, want %s", h1, v);
    for (i = 0; i < x.n; i++) {
        char fld[64], kind[32], svc[128];
        const char *got;
        size_t k;

        if (strncmp(x.lines[i], "field ", 6) == 0) {
            const char *sp = strchr(x.lines[i] + 6, ' ');
            const char *want = sp ? sp + 1 : "";
            size_t fl = sp ? (size_t)(sp - x.lines[i] - 6) : strlen(x.lines[i] + 6);
            snprintf(fld, sizeof fld, "%.*s", (int)fl, x.lines[i] + 6);
            got = field_value(c, fld);
            check(f, got != NULL && strcmp(got, want) == 0, name, "field %s = \"%s\", want \"%s\"",
                  fld, got ? got : "(unknown field)", want);
        } else if (sscanf(x.lines[i], "service %127s %31s", svc, kind) == 2) {
            for (k = 0; k < c->n_services; k++)
                if (strcmp(c->services[k].name, svc) == 0)
                    break;
            if (check(f, k < c->n_services, name, "no service %s", svc))
                check(f, strcmp(claim_kind_str(c->services[k].kind), kind) == 0, name,
                      "service %s kind %s, want %s", svc, claim_kind_str(c->services[k].kind),
                      kind);
        }
    }
    /* Invariants of every normalised claim. */
    for (i = 0; i + 1 < c->n_services; i++)
        check(f, strcmp(c->services[i].name, c->services[i + 1].name) < 0, name,
              "services not sorted");
    check(f, c->user && c->environment_pool && c->environment_name && c->creation_date &&
                 c->expiration_date && c->deployment_method && c->git_repository && c->branch,
          name, "a string field is NULL");

    /* The canonical form parses to the same claim, without warnings. */
    opt2.source = c->source;
    rc = claim_parse(canon, strlen(canon), &opt2, &c2, &errs2, &err);
    if (check(f, rc == CLAIM_OK, name, "canonical form does not parse: %s", err.msg)) {
        canon2 = claim_canonical_json(c2);
        assert_non_null(canon2);
        check(f, strcmp(canon, canon2) == 0, name, "canonical not a fixed point: %s", canon2);
        assert_int_equal(claim_content_hash(c2, h2), CLAIM_OK);
        check(f, strcmp(h1, h2) == 0, name, "hash changed on round trip");
        check(f, errs2.n_warnings == 0, name, "canonical form has warnings");
    }
out:
    claim_free(canon);
    claim_free(canon2);
    claim_destroy(c);
    claim_destroy(c2);
    claim_errors_dispose(&errs);
    claim_errors_dispose(&errs2);
    free(raw);
    free(x.text);
}

static void check_invalid_case(failures *f, const char *name)
{
    claim *c = (claim *)&c; /* must be reset to NULL */
    claim_errors errs;
    char *raw = NULL, h[CLAIM_HASH_LEN];
    size_t len, i, e = 0;
    ep_err err;
    expect x;
    int rc;

    claim_errors_init(&errs);
    expect_load(&x, "invalid", name);
    ep_err_clear(&err);
    rc = parse_case("invalid", name, &x, &c, &errs, &err, &raw, &len);
    check(f, rc == CLAIM_EINVALID, name, "rc %s, want CLAIM_EINVALID", claim_strstatus(rc));
    check(f, c == NULL, name, "*out not NULL on failure");
    check(f, err.code == CLAIM_EINVALID && err.msg[0] != '\0', name, "ep_err not filled");
    for (i = 0; i < x.n; i++) {
        char field[CLAIM_FIELD_MAX], code[32];
        const claim_field_error *fe;

        if (sscanf(x.lines[i], "error %159s %31s", field, code) != 2)
            continue;
        if (strcmp(field, ".") == 0)
            field[0] = '\0';
        if (!check(f, e < errs.n_errors, name, "missing error %s %s", field, code)) {
            e++;
            continue;
        }
        fe = &errs.errors[e++];
        check(f, strcmp(fe->field, field) == 0 && strcmp(claim_fcode_str(fe->code), code) == 0,
              name, "error %zu is (%s, %s: %s), want (%s, %s)", e - 1, fe->field,
              claim_fcode_str(fe->code), fe->message, field, code);
        check(f, fe->message[0] != '\0', name, "error %zu has no message", e - 1);
    }
    for (; e < errs.n_errors; e++)
        check(f, 0, name, "unexpected error (%s, %s: %s)", errs.errors[e].field,
              claim_fcode_str(errs.errors[e].code), errs.errors[e].message);
    check_warnings(f, name, &x, &errs);
    /* Rejected objects are identified by the hash of their bytes. */
    assert_int_equal(claim_raw_hash(raw, len, h), CLAIM_OK);
    assert_int_equal(strlen(h), 71);
    claim_errors_dispose(&errs);
    free(raw);
    free(x.text);
}

static void test_valid_cases(void **state)
{
    failures f = { 0 };
    size_t n, i;
    char **names = list_cases("valid", &n);

    assert_true(n >= 90);
    for (i = 0; i < n; i++)
        check_valid_case(&f, names[i]);
    free_cases(names, n);
    if (f.n)
        fail_msg("%zu check(s) failed in valid cases", f.n);
}

static void test_invalid_cases(void **state)
{
    failures f = { 0 };
    size_t n, i;
    char **names = list_cases("invalid", &n);

    assert_true(n >= 150);
    for (i = 0; i < n; i++)
        check_invalid_case(&f, names[i]);
    free_cases(names, n);
    if (f.n)
        fail_msg("%zu check(s) failed in invalid cases", f.n);
}

/* ---- API edges --------------------------------------------------------------------- */

static const char SEED[] =
    "{\"user\": \"john.doe@company.com\", \"environment_pool\": \"team1\","
    " \"creation_date\": \"2024-01-15T10:30:00Z\","
    " \"environment_name\": \"dev-team1-feature-x\", \"environment_type\": \"dev\","
    " \"expiration_date\": null, \"services\": {\"user-service\": \"v1.2.3\","
    " \"auth-service\": \"v2.1.0\", \"api-gateway\": \"v1.0.5\"}}";

/* sha256 of the seed claim's canonical JSON, computed independently:
 *   python3 -c 'import json,hashlib; ...' (see docs/claims.md).  Pinning it
 * catches any accidental change of the canonical form, which would make
 * every stored claim look changed. */
static const char SEED_HASH[] =
    "sha256:4e4b60e0f34821cd4d462c1f34e34d4433e3c409cec73716130a5ddad42e3178";

static claim *parse_ok(const char *json, const claim_options *opt)
{
    claim *c = NULL;
    ep_err err;
    int rc = claim_parse(json, strlen(json), opt, &c, NULL, &err);

    if (rc != CLAIM_OK)
        fail_msg("parse failed: %s", err.msg);
    return c;
}

static void test_hashes(void **state)
{
    claim *a, *b;
    char ha[CLAIM_HASH_LEN], hb[CLAIM_HASH_LEN], raw[CLAIM_HASH_LEN];
    char *changed;
    const char *at;

    a = parse_ok(SEED, NULL);
    assert_int_equal(claim_content_hash(a, ha), CLAIM_OK);
    assert_string_equal(ha, SEED_HASH);

    /* A version change is a content change. */
    changed = strdup(SEED);
    at = strstr(changed, "v1.2.3");
    changed[at - changed + 5] = '4';
    b = parse_ok(changed, NULL);
    assert_int_equal(claim_content_hash(b, hb), CLAIM_OK);
    assert_string_not_equal(ha, hb);
    claim_destroy(b);
    free(changed);

    /* The raw hash is over bytes: empty input has the well-known digest. */
    assert_int_equal(claim_raw_hash("", 0, raw), CLAIM_OK);
    assert_string_equal(raw, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_int_equal(claim_raw_hash(NULL, 0, raw), CLAIM_OK);
    assert_int_equal(claim_raw_hash(NULL, 1, raw), CLAIM_EARG);
    assert_int_equal(claim_content_hash(NULL, raw), CLAIM_EARG);
    assert_null(claim_canonical_json(NULL));
    claim_destroy(a);
}

static void test_options_and_arguments(void **state)
{
    claim_options opt = { NULL, CLAIM_SOURCE_UNSPECIFIED, 0 };
    claim_errors errs;
    claim *c = NULL;
    ep_err err;
    size_t n = strlen(SEED);

    claim_errors_init(&errs);
    /* max_size is inclusive. */
    opt.max_size = n;
    assert_int_equal(claim_parse(SEED, n, &opt, &c, &errs, &err), CLAIM_OK);
    assert_int_equal(c->source, CLAIM_SOURCE_DYNAMIC);
    claim_destroy(c);
    opt.max_size = n - 1;
    assert_int_equal(claim_parse(SEED, n, &opt, &c, &errs, &err), CLAIM_EINVALID);
    assert_null(c);
    assert_int_equal(errs.n_errors, 1);
    assert_int_equal(errs.errors[0].code, CLAIM_FC_TOO_LARGE);
    assert_string_equal(errs.errors[0].field, "");
    /* The same claim_errors can be reused: it is reset on entry. */
    opt.max_size = 0;
    assert_int_equal(claim_parse(SEED, n, &opt, &c, &errs, &err), CLAIM_OK);
    assert_int_equal(errs.n_errors, 0);
    claim_destroy(c);
    /* errs may be NULL; the verdict still comes back. */
    assert_int_equal(claim_parse("{}", 2, NULL, &c, NULL, &err), CLAIM_EINVALID);
    assert_int_equal(err.code, CLAIM_EINVALID);
    assert_non_null(strstr(err.msg, "6 errors"));
    assert_int_equal(claim_parse(SEED, n, NULL, NULL, NULL, NULL), CLAIM_EARG);
    assert_int_equal(claim_parse(NULL, 5, NULL, &c, NULL, &err), CLAIM_EARG);
    assert_int_equal(claim_parse(NULL, 0, NULL, &c, &errs, NULL), CLAIM_EINVALID);
    assert_int_equal(errs.errors[0].code, CLAIM_FC_SYNTAX);
    /* The input need not be NUL-terminated: parse a prefix of a buffer. */
    {
        char *buf = malloc(n + 10);
        memcpy(buf, SEED, n);
        memcpy(buf + n, "garbage!!", 10);
        assert_int_equal(claim_parse(buf, n, NULL, &c, NULL, &err), CLAIM_OK);
        claim_destroy(c);
        free(buf);
    }
    claim_destroy(NULL);
    claim_errors_dispose(NULL);
    claim_errors_dispose(&errs);
    assert_string_equal(claim_strstatus(CLAIM_EINVALID), "claim is invalid");
    assert_string_equal(claim_strstatus(999), "unknown status");
    assert_string_equal(claim_fcode_str(CLAIM_FC_TOO_LARGE), "too_large");
    assert_string_equal(claim_source_str(CLAIM_SOURCE_STATIC), "static");
}

static void test_syntax_position(void **state)
{
    claim_errors errs;
    claim *c;
    ep_err err;
    const char *bad = "{\n  \"user\": \"a@b.c\",\n  \"x\": tru\n}";
    const char *arr = "\n\n   [1]";

    claim_errors_init(&errs);
    assert_int_equal(claim_parse(bad, strlen(bad), NULL, &c, &errs, &err), CLAIM_EINVALID);
    assert_int_equal(errs.n_errors, 1);
    assert_non_null(strstr(errs.errors[0].message, "line 3 column"));
    assert_int_equal(claim_parse(arr, strlen(arr), NULL, &c, &errs, &err), CLAIM_EINVALID);
    assert_string_equal(errs.errors[0].message,
                        "line 3 column 4: expected a JSON object, got array");
    claim_errors_dispose(&errs);
}

/* Strict UTF-8 check, independent of the library's. */
static int is_utf8(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;

    while (*s) {
        int n = *s < 0x80 ? 0 : (*s & 0xE0) == 0xC0 ? 1 : (*s & 0xF0) == 0xE0 ? 2
                : (*s & 0xF8) == 0xF0 ? 3 : -1;
        if (n < 0 || (n == 1 && *s < 0xC2))
            return 0;
        s++;
        while (n-- > 0)
            if ((*s++ & 0xC0) != 0x80)
                return 0;
    }
    return 1;
}

static void test_truncation_keeps_utf8(void **state)
{
    char json[2048], name[400];
    claim_errors errs;
    claim *c;
    size_t i, k, o = 0;

    /* Odd offsets so every cut (path at 100 bytes, key excerpts at 64,
     * buffers at 160/256) would land inside a two-byte character. */
    name[o++] = 'a';
    for (i = 0; i < 150; i++) {
        name[o++] = '\xc3';
        name[o++] = '\xa9';
    }
    name[o] = '\0';
    snprintf(json, sizeof json,
             "{\"%s\": 1, \"services\": {\"%s\": {\"version\": \"v1\", \"%s\": 2}}}",
             name, name, name);
    claim_errors_init(&errs);
    assert_int_equal(claim_parse(json, strlen(json), NULL, &c, &errs, NULL), CLAIM_EINVALID);
    assert_true(errs.n_errors > 0 && errs.n_warnings == 2);
    for (i = 0; i < errs.n_errors; i++) {
        assert_true(is_utf8(errs.errors[i].field));
        assert_true(is_utf8(errs.errors[i].message));
    }
    for (k = 0; k < errs.n_warnings; k++)
        assert_true(is_utf8(errs.warnings[k].text));
    claim_errors_dispose(&errs);
}

static void test_hostile_keys_are_cleaned(void **state)
{
    const char *j = "{\"services\": {\"a\\nb\\u001b[31m\": \"v1\"}}";
    claim_errors errs;
    claim *c;
    size_t i, k;

    claim_errors_init(&errs);
    assert_int_equal(claim_parse(j, strlen(j), NULL, &c, &errs, NULL), CLAIM_EINVALID);
    for (i = 0; i < errs.n_errors; i++)
        for (k = 0; errs.errors[i].field[k]; k++)
            assert_true((unsigned char)errs.errors[i].field[k] >= 0x20);
    claim_errors_dispose(&errs);
}

static void test_name_from_key(void **state)
{
    static const struct { const char *key; int rc; const char *name; } cases[] = {
        { "dev-x.json", CLAIM_OK, "dev-x" },
        { "dev-x-claim.json", CLAIM_OK, "dev-x" },
        { "my-env-claim.json", CLAIM_OK, "my-env" },
        { "prod-main.json", CLAIM_OK, "prod-main" },
        { "-claim.json", CLAIM_EKEY, "" },
        { "claim.json", CLAIM_OK, "claim" },
        { "a/dev-x.json", CLAIM_EKEY, "" },
        { "dev-x.yaml", CLAIM_EKEY, "" },
        { ".json", CLAIM_EKEY, "" },
        { "Dev-X.json", CLAIM_EKEY, "" },
        { "dev x.json", CLAIM_EKEY, "" },
        { "", CLAIM_EKEY, "" },
    };
    char name[64], tiny[4];
    size_t i;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = claim_name_from_key(cases[i].key, name, sizeof name);
        if (rc != cases[i].rc || strcmp(name, cases[i].name) != 0)
            fail_msg("key \"%s\": rc %d name \"%s\", want %d \"%s\"", cases[i].key, rc, name,
                     cases[i].rc, cases[i].name);
    }
    assert_int_equal(claim_name_from_key("dev-x.json", tiny, sizeof tiny), CLAIM_ENOSPC);
    assert_int_equal(claim_name_from_key(NULL, name, sizeof name), CLAIM_EKEY);
    assert_int_equal(claim_name_from_key("dev-x.json", NULL, 0), CLAIM_ENOSPC);
}

/* ---- allocation failure ------------------------------------------------------------- */

static long alloc_budget = -1;  /* allocations left before failing; -1: never fail */
static long alloc_live;
static long alloc_count;
static long alloc_failed;

static void *counting_malloc(size_t n)
{
    void *p;

    if (alloc_budget == 0) {
        alloc_failed++;
        return NULL;
    }
    if (alloc_budget > 0)
        alloc_budget--;
    p = malloc(n);
    if (p != NULL) {
        alloc_live++;
        alloc_count++;
    }
    return p;
}

static void counting_free(void *p)
{
    if (p != NULL)
        alloc_live--;
    free(p);
}

/* Parse (and render and hash) json with the n-th allocation failing, for
 * every n until a run needs no failure; every failing run must report
 * CLAIM_ENOMEM, hand out nothing and leak nothing. */
static void fail_each_allocation(const char *json, const claim_options *opt, int want)
{
    long n;

    json_set_alloc_funcs(counting_malloc, counting_free);
    for (n = 0;; n++) {
        claim_errors errs;
        claim *c = NULL;
        ep_err err;
        char h[CLAIM_HASH_LEN];
        int rc, hrc = CLAIM_OK;

        claim_errors_init(&errs);
        alloc_live = 0;
        alloc_count = 0;
        alloc_failed = 0;
        alloc_budget = n;
        rc = claim_parse(json, strlen(json), opt, &c, &errs, &err);
        if (rc == CLAIM_OK)
            hrc = claim_content_hash(c, h);
        claim_destroy(c);
        claim_errors_dispose(&errs);
        if (alloc_live != 0)
            fail_msg("leak of %ld blocks with allocation %ld failing", alloc_live, n);
        if (alloc_failed == 0) {  /* nothing failed: done */
            assert_int_equal(rc, want);
            break;
        }
        if (rc != CLAIM_ENOMEM && hrc != CLAIM_ENOMEM)
            fail_msg("allocation %ld failing gave %s / %s", n, claim_strstatus(rc),
                     claim_strstatus(hrc));
        if (rc == CLAIM_ENOMEM)
            assert_null(c);
    }
    alloc_budget = -1;
    json_set_alloc_funcs(malloc, free);
    assert_true(n > 3);
}

static void test_allocation_failures(void **state)
{
    claim_options opt = { "dev-team1-feature-x.json", CLAIM_SOURCE_DYNAMIC, 0 };
    const char *warn = "{\"user\": \"a@b.co\", \"environment_pool\": \"p\","
                       " \"creation_date\": \"2024-01-15T10:30:00+01:00\","
                       " \"environment_name\": \"sue-x\", \"environment_type\": \"sue\","
                       " \"services\": {\"s\": {\"version\": \"^1.2\", \"docker_image\": \"r/s:1\","
                       " \"ansible_artifact\": \"r/a:1\", \"more\": 1}}, \"extra\": 1}";
    const char *bad = "{\"user\": \"x\", \"environment_type\": \"stage\", \"services\": "
                      "{\"a\": \"1..2\", \"b\": 3, \"c\": {}}, \"zz\": 1, \"yy\": 2}";

    fail_each_allocation(SEED, &opt, CLAIM_OK);
    fail_each_allocation(warn, NULL, CLAIM_OK);
    fail_each_allocation(bad, NULL, CLAIM_EINVALID);
    /* A genuine syntax error stays one, and memory trouble is not mistaken
     * for it (jansson reports some allocation failures as syntax errors). */
    fail_each_allocation("{\"user\": \"a@b.co\", \"services\": [1, 2, tru]}", NULL,
                         CLAIM_EINVALID);
}

/* ---- robustness: every single-byte change of a claim ----------------------------------- */

static void test_byte_mutations(void **state)
{
    static const char subst[] = { '\0', '"', '{', '}', '[', ',', ':', '\\', 'x', '9', '\xff', ' ' };
    size_t n = strlen(SEED), i, k, ok = 0, bad = 0;
    char *buf = malloc(n);

    for (i = 0; i < n; i++) {
        for (k = 0; k < sizeof subst; k++) {
            claim_errors errs;
            claim *c = NULL;
            int rc;

            memcpy(buf, SEED, n);
            buf[i] = subst[k];
            claim_errors_init(&errs);
            rc = claim_parse(buf, n, NULL, &c, &errs, NULL);
            assert_true(rc == CLAIM_OK || rc == CLAIM_EINVALID);
            assert_true((rc == CLAIM_OK) == (c != NULL));
            assert_true((rc == CLAIM_OK) == (errs.n_errors == 0));
            if (rc == CLAIM_OK) {
                char *j = claim_canonical_json(c);
                assert_non_null(j);
                claim_free(j);
                ok++;
            } else {
                bad++;
            }
            claim_destroy(c);
            claim_errors_dispose(&errs);
        }
    }
    free(buf);
    assert_true(ok > 0 && bad > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_cases),
        cmocka_unit_test(test_invalid_cases),
        cmocka_unit_test(test_hashes),
        cmocka_unit_test(test_options_and_arguments),
        cmocka_unit_test(test_syntax_position),
        cmocka_unit_test(test_hostile_keys_are_cleaned),
        cmocka_unit_test(test_truncation_keeps_utf8),
        cmocka_unit_test(test_name_from_key),
        cmocka_unit_test(test_allocation_failures),
        cmocka_unit_test(test_byte_mutations),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
