/*
 * claim.c: claim_parse, the validator and normaliser of one claim object.
 *
 * The parse runs in two phases.  jansson turns the bytes into a tree (or a
 * single "syntax" error with line and column); then every known field is
 * checked in a fixed order, each check appending to the error list and
 * carrying on, so the author sees every problem in one rejection.  Checks
 * that depend on another field (name prefix vs type, expiration vs
 * creation, key vs name) run only when the fields they compare are valid,
 * so one mistake yields one error, not a cascade.  The normalised values are
 * written into a claim as they are validated; the claim is handed out only
 * when no error was found.  Decisions are documented in docs/claims.md.
 */
#include "claim/claim_internal.h"
#include "strbuf/strbuf.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length limits of free-form strings; docs/claims.md. */
#define MAX_USER       254
#define MAX_LOCAL_PART 64
#define MAX_IMAGE      512
#define MAX_GIT_URL    2048
#define MAX_BRANCH     255
#define MAX_KEY_SHOWN  64

typedef struct ctx {
    claim_errors *errs;
    size_t suppressed;    /* errors beyond CLAIM_MAX_ERRORS - 1 */
    size_t suppressed_w;  /* warnings beyond CLAIM_MAX_WARNINGS - 1 */
    size_t cap_e, cap_w;
    int oom;
    claim *c;
    claim_source source;
    /* validity of fields other checks depend on */
    int name_ok, type_ok, created_ok;
    claim__time created;
} ctx;

/* ---- error and warning lists ------------------------------------------------- */

static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    size_t ncap;
    void *p;

    if (n < *cap)
        return 0;
    ncap = *cap ? *cap * 2 : 8;
    p = claim__malloc(ncap * elem);
    if (p == NULL)
        return -1;
    if (*arr != NULL)
        memcpy(p, *arr, n * elem);
    claim__free(*arr);
    *arr = p;
    *cap = ncap;
    return 0;
}

/* Copy s into a field path or message.  Keys are chosen by whoever wrote the
 * claim and end up in logs and in protobuf string fields, which must be
 * UTF-8: control characters and bytes that are not valid UTF-8 (including
 * a sequence cut by an earlier truncation) become '?', and truncation here
 * never splits a character. */
static void copy_clean(char *dst, size_t dstlen, const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, o = 0, n;

    while (u[i] != '\0' && o + 1 < dstlen) {
        if (u[i] < 0x80) {
            dst[o++] = u[i] < 0x20 || u[i] == 0x7f ? '?' : (char)u[i];
            i++;
        } else if ((n = ep_utf8_seq_len(u + i, 4)) == 0) {
            /* (4 is safe on a NUL-terminated string: the check stops at the
             * first byte that is not a continuation byte, the NUL included.) */
            dst[o++] = '?';
            i++;
        } else if (o + n < dstlen) {
            memcpy(dst + o, u + i, n);
            o += n;
            i += n;
        } else {
            break;
        }
    }
    dst[o] = '\0';
}

/* Append an error; past the cap only count it (force: the closing summary,
 * which may take the last slot). */
static void add_error_v(ctx *x, int force, const char *field, claim_fcode code,
                        const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

static void add_error_v(ctx *x, int force, const char *field, claim_fcode code,
                        const char *fmt, va_list ap)
{
    claim_field_error *fe;
    char msg[CLAIM_MSG_MAX];

    if (x->oom)
        return;
    if (!force && x->errs->n_errors >= CLAIM_MAX_ERRORS - 1) {
        x->suppressed++;
        return;
    }
    if (grow((void **)&x->errs->errors, &x->cap_e, x->errs->n_errors, sizeof *fe) != 0) {
        x->oom = 1;
        return;
    }
    fe = &x->errs->errors[x->errs->n_errors++];
    copy_clean(fe->field, sizeof fe->field, field);
    fe->code = code;
    vsnprintf(msg, sizeof msg, fmt, ap);
    copy_clean(fe->message, sizeof fe->message, msg);
}

static void add_error(ctx *x, const char *field, claim_fcode code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add_error(ctx *x, const char *field, claim_fcode code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    add_error_v(x, 0, field, code, fmt, ap);
    va_end(ap);
}

static void add_summary(ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add_summary(ctx *x, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    add_error_v(x, 1, "", CLAIM_FC_TOO_LARGE, fmt, ap);
    va_end(ap);
}

static void add_warning(ctx *x, int force, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_warning(ctx *x, int force, const char *fmt, ...)
{
    claim_warning *w;
    char msg[CLAIM_MSG_MAX];
    va_list ap;

    if (x->oom)
        return;
    if (!force && x->errs->n_warnings >= CLAIM_MAX_WARNINGS - 1) {
        x->suppressed_w++;
        return;
    }
    if (grow((void **)&x->errs->warnings, &x->cap_w, x->errs->n_warnings, sizeof *w) != 0) {
        x->oom = 1;
        return;
    }
    w = &x->errs->warnings[x->errs->n_warnings++];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    copy_clean(w->text, sizeof w->text, msg);
}

/* The caps keep CLAIM_MAX_ERRORS - 1 entries and end the list with one
 * "N more" entry, so a reader knows the list is not complete. */
static void close_lists(ctx *x)
{
    if (x->suppressed > 0)
        add_summary(x, "%zu more errors not reported", x->suppressed);
    if (x->suppressed_w > 0)
        add_warning(x, 1, "%zu more warnings not reported", x->suppressed_w);
}

void claim_errors_init(claim_errors *e)
{
    memset(e, 0, sizeof *e);
}

void claim_errors_dispose(claim_errors *e)
{
    if (e == NULL)
        return;
    claim__free(e->errors);
    claim__free(e->warnings);
    memset(e, 0, sizeof *e);
}

/* ---- the claim ---------------------------------------------------------------- */

static void service_dispose(claim_service *s)
{
    claim__free(s->name);
    claim__free(s->version);
    claim__free(s->docker_image);
    claim__free(s->ansible_artifact);
}

void claim_destroy(claim *c)
{
    size_t i;

    if (c == NULL)
        return;
    claim__free(c->user);
    claim__free(c->environment_pool);
    claim__free(c->environment_name);
    claim__free(c->creation_date);
    claim__free(c->expiration_date);
    if (c->services != NULL)
        for (i = 0; i < c->n_services; i++)
            service_dispose(&c->services[i]);
    claim__free(c->services);
    claim__free(c->deployment_method);
    claim__free(c->git_repository);
    claim__free(c->branch);
    claim__free(c);
}

/* Replace *dst with a copy of s[0..n); records OOM. */
static void set_str(ctx *x, char **dst, const char *s, size_t n)
{
    char *p = claim__strndup(s, n);

    if (p == NULL) {
        x->oom = 1;
        return;
    }
    claim__free(*dst);
    *dst = p;
}

/* ---- JSON access ----------------------------------------------------------------- */

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER:
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "unknown";
}

enum { ABSENT, PRESENT, BAD };

/* Fetch obj[key] as a string.  null counts as absent.  A non-string is a
 * "type" error; a required field that is absent or blank is "required". */
static int get_string(ctx *x, json_t *obj, const char *key, const char *path,
                      int required, const char **s, size_t *n)
{
    json_t *v = json_object_get(obj, key);

    if (v == NULL || json_is_null(v)) {
        if (required)
            add_error(x, path, CLAIM_FC_REQUIRED, "%s is required", path);
        return required ? BAD : ABSENT;
    }
    if (!json_is_string(v)) {
        add_error(x, path, CLAIM_FC_TYPE, "expected string, got %s", type_name(v));
        return BAD;
    }
    *s = json_string_value(v);
    *n = json_string_length(v);
    return PRESENT;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static void trim(const char **s, size_t *n)
{
    while (*n > 0 && is_space(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && is_space((*s)[*n - 1]))
        (*n)--;
}

static int has_ctl_or_space(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
            return 1;
    return 0;
}

/* ---- individual fields ------------------------------------------------------------- */

/* RFC 5322 atext plus '.', and any UTF-8 byte (RFC 6531). */
static int is_local_char(unsigned char c)
{
    if (c >= 0x80)
        return 1;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return strchr("!#$%&'*+/=?^_`{|}~-.", c) != NULL && c != '\0';
}

static void check_user(ctx *x, json_t *root)
{
    const char *s, *at;
    size_t n, i, local, label = 0, dots = 0;
    char buf[MAX_USER + 1];

    if (get_string(x, root, "user", "user", 1, &s, &n) != PRESENT)
        return;
    trim(&s, &n);
    if (n == 0) {
        add_error(x, "user", CLAIM_FC_REQUIRED, "user is required (got a blank string)");
        return;
    }
    if (n > MAX_USER) {
        add_error(x, "user", CLAIM_FC_FORMAT, "e-mail address longer than %d bytes", MAX_USER);
        return;
    }
    at = memchr(s, '@', n);
    if (at == NULL || memchr(at + 1, '@', n - (size_t)(at - s) - 1) != NULL) {
        add_error(x, "user", CLAIM_FC_FORMAT, "not an e-mail address: need exactly one '@'");
        return;
    }
    local = (size_t)(at - s);
    if (local == 0 || local > MAX_LOCAL_PART) {
        add_error(x, "user", CLAIM_FC_FORMAT, "e-mail local part must be 1..%d bytes",
                  MAX_LOCAL_PART);
        return;
    }
    for (i = 0; i < local; i++) {
        if (!is_local_char((unsigned char)s[i])) {
            add_error(x, "user", CLAIM_FC_FORMAT,
                      "e-mail local part may not contain %s",
                      s[i] == ' ' ? "spaces" : "this character");
            return;
        }
    }
    if (s[0] == '.' || s[local - 1] == '.' || memmem(s, local, "..", 2) != NULL) {
        add_error(x, "user", CLAIM_FC_FORMAT,
                  "e-mail local part may not start or end with '.' or contain '..'");
        return;
    }
    /* Domain: dot-separated LDH labels (IDNs in their xn-- form). */
    memcpy(buf, s, n);
    buf[n] = '\0';
    for (i = local + 1; i <= n; i++) {
        char c = i < n ? buf[i] : '.';
        if (c >= 'A' && c <= 'Z')
            buf[i] = (char)(c - 'A' + 'a');
        if (c == '.') {
            if (label == 0 || label > 63 || buf[i - 1] == '-' || buf[i - label] == '-') {
                add_error(x, "user", CLAIM_FC_FORMAT,
                          "e-mail domain must be dot-separated labels of letters, digits "
                          "and '-'");
                return;
            }
            if (i < n)
                dots++;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                   (c >= '0' && c <= '9') || c == '-') {
            label++;
        } else {
            add_error(x, "user", CLAIM_FC_FORMAT, "e-mail domain may not contain %s",
                      c == ' ' ? "spaces" : "this character");
            return;
        }
    }
    if (dots == 0) {
        add_error(x, "user", CLAIM_FC_FORMAT, "e-mail domain needs a dot");
        return;
    }
    set_str(x, &x->c->user, buf, n);
}

static int check_label(ctx *x, json_t *root, const char *key, char **dst)
{
    const char *s;
    size_t n;

    if (get_string(x, root, key, key, 1, &s, &n) != PRESENT)
        return 0;
    if (n == 0) {
        add_error(x, key, CLAIM_FC_REQUIRED, "%s is required (got \"\")", key);
        return 0;
    }
    if (!claim__is_dns_label(s, n)) {
        add_error(x, key, CLAIM_FC_FORMAT,
                  "not a DNS-1123 label (1..63 of a-z, 0-9, '-', starting and ending "
                  "with a letter or digit)");
        return 0;
    }
    set_str(x, dst, s, n);
    return !x->oom;
}

static void check_name_and_type(ctx *x, json_t *root)
{
    const char *s, *name;
    size_t n;
    int r;

    x->name_ok = check_label(x, root, "environment_name", &x->c->environment_name);
    if (x->name_ok) {
        n = strlen(x->c->environment_name);
        if (n >= 6 && strcmp(x->c->environment_name + n - 6, "-claim") == 0) {
            add_error(x, "environment_name", CLAIM_FC_VALUE,
                      "may not end in \"-claim\" (reserved for <name>-claim.json keys)");
            x->name_ok = 0;
        }
    }

    r = get_string(x, root, "environment_type", "environment_type", 1, &s, &n);
    if (r == PRESENT) {
        if (n == 0)
            add_error(x, "environment_type", CLAIM_FC_REQUIRED,
                      "environment_type is required (got \"\")");
        else if (strcmp(s, "dev") == 0 && n == 3)
            x->c->environment_type = CLAIM_ENV_DEV;
        else if (strcmp(s, "staging") == 0 && n == 7)
            x->c->environment_type = CLAIM_ENV_STAGING;
        else if (strcmp(s, "stage") == 0 && n == 5) {
            x->c->environment_type = CLAIM_ENV_STAGING;
            add_warning(x, 0, "environment_type \"stage\" read as \"staging\"");
        } else if (strcmp(s, "prod") == 0 && n == 4)
            x->c->environment_type = CLAIM_ENV_PROD;
        else if (strcmp(s, "sue") == 0 && n == 3)
            x->c->environment_type = CLAIM_ENV_SUE;
        else
            add_error(x, "environment_type", CLAIM_FC_VALUE,
                      "must be one of dev, staging, prod, sue");
        x->type_ok = x->c->environment_type != CLAIM_ENV_UNSPECIFIED;
    }

    if (!x->name_ok || !x->type_ok)
        return;
    name = x->c->environment_name;
    switch (x->c->environment_type) {
    case CLAIM_ENV_DEV: r = strncmp(name, "dev-", 4) == 0; break;
    case CLAIM_ENV_STAGING:
        r = strncmp(name, "staging-", 8) == 0 || strncmp(name, "stage-", 6) == 0;
        break;
    case CLAIM_ENV_PROD: r = strncmp(name, "prod-", 5) == 0; break;
    case CLAIM_ENV_SUE: r = strncmp(name, "sue-", 4) == 0; break;
    default: r = 1; break;
    }
    if (!r) {
        add_error(x, "environment_name", CLAIM_FC_MISMATCH,
                  "a %s environment's name must start with \"%s\"",
                  claim_env_type_str(x->c->environment_type),
                  x->c->environment_type == CLAIM_ENV_STAGING ? "staging-\" or \"stage-"
                  : x->c->environment_type == CLAIM_ENV_DEV   ? "dev-"
                  : x->c->environment_type == CLAIM_ENV_PROD  ? "prod-"
                                                              : "sue-");
        x->name_ok = 0;
    }
}

static void check_key(ctx *x, const char *key)
{
    const char *name = x->c->environment_name;
    size_t nl, kl;

    if (key == NULL || !x->name_ok)
        return;
    nl = strlen(name);
    kl = strlen(key);
    if (strchr(key, '/') != NULL) {
        add_error(x, "environment_name", CLAIM_FC_MISMATCH,
                  "object key \"%.*s\" is not at the bucket root", MAX_KEY_SHOWN, key);
        return;
    }
    if ((kl == nl + 5 && memcmp(key, name, nl) == 0 && strcmp(key + nl, ".json") == 0) ||
        (kl == nl + 11 && memcmp(key, name, nl) == 0 && strcmp(key + nl, "-claim.json") == 0))
        return;
    add_error(x, "environment_name", CLAIM_FC_MISMATCH,
              "object key \"%.*s\" does not match: expected \"%s.json\" or \"%s-claim.json\"",
              MAX_KEY_SHOWN, key, name, name);
}

static void check_dates(ctx *x, json_t *root)
{
    const char *s;
    size_t n;
    claim__time t;
    char why[128], out[40];
    int r;

    r = get_string(x, root, "creation_date", "creation_date", 1, &s, &n);
    if (r == PRESENT) {
        if (n == 0)
            add_error(x, "creation_date", CLAIM_FC_REQUIRED,
                      "creation_date is required (got \"\")");
        else if (claim__time_parse(s, &x->created, why, sizeof why) != 0)
            add_error(x, "creation_date", CLAIM_FC_FORMAT, "%s", why);
        else {
            claim__time_format(&x->created, out);
            set_str(x, &x->c->creation_date, out, strlen(out));
            x->created_ok = 1;
        }
    }

    r = get_string(x, root, "expiration_date", "expiration_date", 0, &s, &n);
    if (r == BAD)
        return;
    if (r == ABSENT || n == 0) {
        if (x->type_ok && x->created_ok && x->c->environment_type == CLAIM_ENV_SUE) {
            t = x->created;
            t.sec += 24 * 3600;
            if (claim__time_format(&t, out) != 0)
                add_error(x, "expiration_date", CLAIM_FC_VALUE,
                          "default expiration (creation + 24 h) is past year 9999");
            else
                set_str(x, &x->c->expiration_date, out, strlen(out));
        }
        return;
    }
    if (claim__time_parse(s, &t, why, sizeof why) != 0) {
        add_error(x, "expiration_date", CLAIM_FC_FORMAT, "%s", why);
        return;
    }
    if (x->created_ok && (t.sec < x->created.sec ||
                          (t.sec == x->created.sec && t.nsec <= x->created.nsec))) {
        add_error(x, "expiration_date", CLAIM_FC_VALUE, "must be after creation_date");
        return;
    }
    claim__time_format(&t, out);
    set_str(x, &x->c->expiration_date, out, strlen(out));
}

/* OCI image reference characters; no whitespace. */
static int is_ref_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '/' || c == ':' || c == '@' || c == '-' || c == '+';
}

static void check_ref(ctx *x, json_t *obj, const char *key, const char *path, char **dst)
{
    const char *s;
    size_t n, i;

    if (get_string(x, obj, key, path, 0, &s, &n) != PRESENT || n == 0)
        return;
    if (n > MAX_IMAGE) {
        add_error(x, path, CLAIM_FC_TOO_LARGE, "longer than %d bytes", MAX_IMAGE);
        return;
    }
    for (i = 0; i < n; i++) {
        if (!is_ref_char(s[i]) || (i == 0 && !((s[0] >= 'a' && s[0] <= 'z') ||
                                               (s[0] >= 'A' && s[0] <= 'Z') ||
                                               (s[0] >= '0' && s[0] <= '9')))) {
            add_error(x, path, CLAIM_FC_FORMAT,
                      "not an image reference ([registry/]path[:tag][@digest])");
            return;
        }
    }
    set_str(x, dst, s, n);
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void check_service(ctx *x, const char *name, json_t *v, claim_service *svc)
{
    char path[CLAIM_FIELD_MAX], vpath[2 * CLAIM_FIELD_MAX], sub[2 * CLAIM_FIELD_MAX];
    claim_version_constraint vc;
    const char *s = NULL, *key;
    size_t n = 0;
    ep_err e;
    json_t *val;

    snprintf(path, sizeof path, "services.%.100s", name);
    if (!claim__is_dns_label(name, strlen(name)))
        add_error(x, path, CLAIM_FC_FORMAT, "service name is not a DNS-1123 label");
    set_str(x, &svc->name, name, strlen(name));

    if (json_is_string(v)) {
        s = json_string_value(v);
        n = json_string_length(v);
        snprintf(vpath, sizeof vpath, "%s", path);
    } else if (json_is_object(v)) {
        snprintf(vpath, sizeof vpath, "%s.version", path);
        if (get_string(x, v, "version", vpath, 1, &s, &n) != PRESENT)
            s = NULL;
        snprintf(sub, sizeof sub, "%s.docker_image", path);
        check_ref(x, v, "docker_image", sub, &svc->docker_image);
        snprintf(sub, sizeof sub, "%s.ansible_artifact", path);
        check_ref(x, v, "ansible_artifact", sub, &svc->ansible_artifact);
        json_object_foreach(v, key, val) {
            if (strcmp(key, "version") != 0 && strcmp(key, "docker_image") != 0 &&
                strcmp(key, "ansible_artifact") != 0)
                add_warning(x, 0, "unknown field \"%s.%.*s\" ignored", path, MAX_KEY_SHOWN, key);
        }
    } else {
        add_error(x, path, CLAIM_FC_TYPE, "expected string or object, got %s", type_name(v));
        return;
    }
    if (s == NULL)
        return;
    if (memchr(s, '\0', n) != NULL) {
        add_error(x, vpath, CLAIM_FC_FORMAT, "version contains NUL");
        return;
    }
    trim(&s, &n);
    if (n == 0) {
        add_error(x, vpath, CLAIM_FC_REQUIRED, "version is required (got a blank string)");
        return;
    }
    if (n >= CLAIM_MAX_VERSION) {
        add_error(x, vpath, CLAIM_FC_TOO_LARGE, "version longer than %d bytes",
                  CLAIM_MAX_VERSION - 1);
        return;
    }
    {
        char buf[CLAIM_MAX_VERSION];
        memcpy(buf, s, n);
        buf[n] = '\0';
        ep_err_clear(&e);
        if (claim_version_parse(buf, &vc, &e) != CLAIM_OK) {
            add_error(x, vpath, CLAIM_FC_FORMAT, "service %s: %s", name, e.msg);
            return;
        }
    }
    set_str(x, &svc->version, s, n);
    svc->kind = vc.kind;
}

static void check_services(ctx *x, json_t *root)
{
    json_t *sv = json_object_get(root, "services"), *v;
    const char **names = NULL, *key;
    size_t n, i = 0;

    if (sv == NULL || json_is_null(sv)) {
        add_error(x, "services", CLAIM_FC_REQUIRED, "services is required");
        return;
    }
    if (!json_is_object(sv)) {
        add_error(x, "services", CLAIM_FC_TYPE, "expected object, got %s", type_name(sv));
        return;
    }
    n = json_object_size(sv);
    if (n == 0) {
        add_error(x, "services", CLAIM_FC_REQUIRED, "services must name at least one service");
        return;
    }
    if (n > CLAIM_MAX_SERVICES) {
        add_error(x, "services", CLAIM_FC_TOO_LARGE, "%zu services, at most %d allowed", n,
                  CLAIM_MAX_SERVICES);
        return;
    }
    names = claim__calloc(n, sizeof *names);
    x->c->services = claim__calloc(n, sizeof *x->c->services);
    if (names == NULL || x->c->services == NULL) {
        x->oom = 1;
        goto out;
    }
    x->c->n_services = n;
    json_object_foreach(sv, key, v)
        names[i++] = key;
    qsort(names, n, sizeof *names, cmp_keys);
    for (i = 0; i < n && !x->oom; i++)
        check_service(x, names[i], json_object_get(sv, names[i]), &x->c->services[i]);
out:
    claim__free(names);
}

static int valid_git_url(const char *s, size_t n)
{
    const char *at, *colon;

    if (has_ctl_or_space(s, n))
        return 0;
    if ((n > 8 && strncmp(s, "https://", 8) == 0) || (n > 7 && strncmp(s, "http://", 7) == 0) ||
        (n > 6 && strncmp(s, "ssh://", 6) == 0) || (n > 6 && strncmp(s, "git://", 6) == 0))
        return 1;
    /* scp-like: user@host:path */
    at = memchr(s, '@', n);
    colon = memchr(s, ':', n);
    return at != NULL && colon != NULL && at > s && colon > at + 1 && colon < s + n - 1;
}

/* git check-ref-format, the parts a branch name can break. */
static int valid_branch(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > MAX_BRANCH || s[0] == '-' || s[0] == '/' || s[0] == '.' ||
        s[n - 1] == '/' || s[n - 1] == '.' ||
        (n >= 5 && memcmp(s + n - 5, ".lock", 5) == 0) || memmem(s, n, "..", 2) ||
        memmem(s, n, "//", 2) || memmem(s, n, "/.", 2) || memmem(s, n, "@{", 2) ||
        (n == 1 && s[0] == '@'))
        return 0;
    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f || strchr("~^:?*[\\", s[i]))
            return 0;
    return 1;
}

static void check_deployment(ctx *x, json_t *root)
{
    const char *s, *method;
    size_t n;
    int r, git;

    method = x->source == CLAIM_SOURCE_STATIC ? "git" : "platform";
    r = get_string(x, root, "deployment_method", "deployment_method", 0, &s, &n);
    if (r == PRESENT && n > 0) {
        if (strcmp(s, "platform") == 0 || strcmp(s, "git") == 0) {
            method = s;
        } else {
            add_error(x, "deployment_method", CLAIM_FC_VALUE, "must be \"platform\" or \"git\"");
            r = BAD;
        }
    }
    git = strcmp(method, "git") == 0;
    if (r != BAD) {
        if (x->source == CLAIM_SOURCE_STATIC && !git)
            add_error(x, "deployment_method", CLAIM_FC_MISMATCH,
                      "claims in the static-environments bucket are git-managed; "
                      "deployment_method must be \"git\"");
        else if (x->source != CLAIM_SOURCE_STATIC && git)
            add_error(x, "deployment_method", CLAIM_FC_MISMATCH,
                      "git-managed claims belong in the static-environments bucket");
        set_str(x, &x->c->deployment_method, method, strlen(method));
    }

    r = get_string(x, root, "git_repository", "git_repository", 0, &s, &n);
    if (r == PRESENT && n > 0) {
        if (n > MAX_GIT_URL)
            add_error(x, "git_repository", CLAIM_FC_TOO_LARGE, "longer than %d bytes",
                      MAX_GIT_URL);
        else if (!valid_git_url(s, n))
            add_error(x, "git_repository", CLAIM_FC_FORMAT,
                      "not a git URL (https://, http://, ssh://, git:// or user@host:path)");
        else if (git)
            set_str(x, &x->c->git_repository, s, n);
    } else if (r != BAD && git) {
        add_error(x, "git_repository", CLAIM_FC_REQUIRED,
                  "git_repository is required when deployment_method is \"git\"");
    }
    if (r == PRESENT && n > 0 && !git)
        add_warning(x, 0, "git_repository is ignored unless deployment_method is \"git\"");

    r = get_string(x, root, "branch", "branch", 0, &s, &n);
    if (r == PRESENT && n > 0) {
        if (!valid_branch(s, n))
            add_error(x, "branch", CLAIM_FC_FORMAT, "not a valid git branch name");
        else if (git)
            set_str(x, &x->c->branch, s, n);
        if (!git)
            add_warning(x, 0, "branch is ignored unless deployment_method is \"git\"");
    }
}

static const char *const known_fields[] = {
    "user", "environment_pool", "environment_name", "environment_type", "creation_date",
    "expiration_date", "services", "deployment_method", "git_repository", "branch", NULL
};

static void check_unknown(ctx *x, json_t *root)
{
    const char *key;
    json_t *v;
    size_t i;

    json_object_foreach(root, key, v) {
        for (i = 0; known_fields[i] != NULL; i++)
            if (strcmp(key, known_fields[i]) == 0)
                break;
        if (known_fields[i] == NULL)
            add_warning(x, 0, "unknown field \"%.*s\" ignored", MAX_KEY_SHOWN, key);
    }
}

/* ---- syntax -------------------------------------------------------------------------- */

static void syntax_error(ctx *x, const json_error_t *je)
{
    add_error(x, "", CLAIM_FC_SYNTAX, "line %d column %d: %s", je->line, je->column, je->text);
}

/* Line and column (1-based, bytes) of the first non-blank byte. */
static void first_token(const char *b, size_t len, int *line, int *col)
{
    size_t i;

    *line = 1;
    *col = 1;
    for (i = 0; i < len && is_space(b[i]); i++) {
        if (b[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static void ensure_strings(ctx *x)
{
    claim *c = x->c;
    char **all[] = { &c->user, &c->environment_pool, &c->environment_name,
                     &c->creation_date, &c->expiration_date, &c->deployment_method,
                     &c->git_repository, &c->branch };
    size_t i;

    for (i = 0; i < sizeof all / sizeof all[0]; i++)
        if (*all[i] == NULL)
            set_str(x, all[i], "", 0);
    for (i = 0; i < c->n_services; i++) {
        claim_service *s = &c->services[i];
        if (s->version == NULL) set_str(x, &s->version, "", 0);
        if (s->docker_image == NULL) set_str(x, &s->docker_image, "", 0);
        if (s->ansible_artifact == NULL) set_str(x, &s->ansible_artifact, "", 0);
        if (s->name == NULL) set_str(x, &s->name, "", 0);
    }
}

#define LOAD_FLAGS (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)

/* jansson reports most allocation failures as json_error_out_of_memory,
 * but not all: one in its lexer set-up leaves the error blank, and a failed
 * copy of a string token comes back as a syntax error ("string or '}'
 * expected").  Rejecting a good document for a syntax error it does not
 * have would be worse than any other outcome, so a syntax error is only
 * believed when a second parse fails the same way; otherwise the first
 * failure was memory. */
static int load_failed_for_memory(const char *bytes, size_t len, size_t flags,
                                  const json_error_t *je)
{
    json_error_t again;
    json_t *root;
    int same;

    if (json_error_code(je) == json_error_out_of_memory || (je->line == -1 && je->text[0] == '\0'))
        return 1;
    memset(&again, 0, sizeof again);
    root = json_loadb(bytes, len, flags, &again);
    if (root != NULL) {
        json_decref(root);
        return 1;
    }
    same = again.position == je->position && strcmp(again.text, je->text) == 0;
    return !same;
}

int claim_parse(const char *bytes, size_t len, const claim_options *opt, claim **out,
                claim_errors *errs, ep_err *err)
{
    static const claim_options defaults = { NULL, CLAIM_SOURCE_DYNAMIC, 0 };
    claim_errors local;
    json_error_t je;
    json_t *root = NULL;
    size_t max;
    ctx x;
    int rc, line, col;

    if (out != NULL)
        *out = NULL;
    if ((bytes == NULL && len > 0) || out == NULL)
        return ep_err_set(err, CLAIM_EARG, "claim_parse: NULL argument");
    if (opt == NULL)
        opt = &defaults;
    claim_errors_init(&local);
    if (errs == NULL)
        errs = &local;
    else
        claim_errors_dispose(errs);

    memset(&x, 0, sizeof x);
    x.errs = errs;
    x.source = opt->source == CLAIM_SOURCE_STATIC ? CLAIM_SOURCE_STATIC : CLAIM_SOURCE_DYNAMIC;
    max = opt->max_size ? opt->max_size : CLAIM_DEFAULT_MAX_SIZE;

    if (len > max) {
        add_error(&x, "", CLAIM_FC_TOO_LARGE, "claim is %zu bytes, at most %zu allowed", len,
                  max);
        goto done;
    }
    /* RFC 8259 lets a parser ignore a byte order mark; editors add them. */
    if (len >= 3 && memcmp(bytes, "\xEF\xBB\xBF", 3) == 0) {
        bytes += 3;
        len -= 3;
    }
    if (bytes == NULL)
        bytes = "";
    /* jansson leaves the error's code byte unset on one path; zero it. */
    memset(&je, 0, sizeof je);
    root = json_loadb(bytes, len, LOAD_FLAGS, &je);
    if (root == NULL) {
        if (load_failed_for_memory(bytes, len, LOAD_FLAGS, &je)) {
            x.oom = 1;
            goto done;
        }
        syntax_error(&x, &je);
        goto done;
    }
    if (!json_is_object(root)) {
        first_token(bytes, len, &line, &col);
        add_error(&x, "", CLAIM_FC_SYNTAX, "line %d column %d: expected a JSON object, got %s",
                  line, col, type_name(root));
        goto done;
    }

    x.c = claim__calloc(1, sizeof *x.c);
    if (x.c == NULL) {
        x.oom = 1;
        goto done;
    }
    x.c->source = x.source;
    /* After an allocation failure the claim is incomplete; stop early. */
    if (!x.oom) check_user(&x, root);
    if (!x.oom) check_label(&x, root, "environment_pool", &x.c->environment_pool);
    if (!x.oom) check_name_and_type(&x, root);
    if (!x.oom) check_key(&x, opt->key);
    if (!x.oom) check_dates(&x, root);
    if (!x.oom) check_services(&x, root);
    if (!x.oom) check_deployment(&x, root);
    if (!x.oom) check_unknown(&x, root);
    if (!x.oom && errs->n_errors == 0 && x.suppressed == 0)
        ensure_strings(&x);

done:
    close_lists(&x);
    json_decref(root);
    if (x.oom) {
        claim_destroy(x.c);
        claim_errors_dispose(errs);
        return ep_err_set(err, CLAIM_ENOMEM, "claim_parse: out of memory");
    }
    if (errs->n_errors > 0) {
        claim_destroy(x.c);
        rc = ep_err_set(err, CLAIM_EINVALID, "claim invalid: %zu error%s, first: %s%s%s",
                        errs->n_errors, errs->n_errors == 1 ? "" : "s",
                        errs->errors[0].field, errs->errors[0].field[0] ? ": " : "",
                        errs->errors[0].message);
    } else {
        *out = x.c;
        rc = CLAIM_OK;
    }
    claim_errors_dispose(&local);
    return rc;
}
