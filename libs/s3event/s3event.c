/*
 * s3event.c: the bucket-notification parser and Go-compatible query
 * escaping.
 *
 * MinIO builds each record from its internal event.Event and escapes the
 * object key with url.QueryEscape; the NATS target then wraps the record in
 * an event.Log whose Key is the bucket, a '/', and the key it just
 * unescaped again.  We parse strictly: every field we hand on is checked for
 * type, the key must unescape the way Go would unescape it and must come out
 * as UTF-8 without NUL bytes (S3 keys are UTF-8, and the key ends up in C
 * strings and protobuf string fields), and the top-level Key must agree with
 * the record.  A message that fails any of that is reported with the JSON
 * path of the field, so an operator can find the culprit in the NATS stream.
 */
#include "s3event/s3event.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* ---- allocation through jansson's allocator ---------------------------------- */

static void *xmalloc(size_t n)
{
    json_malloc_t m;
    json_free_t f;

    json_get_alloc_funcs(&m, &f);
    return m(n ? n : 1);
}

static void xfree(void *p)
{
    json_malloc_t m;
    json_free_t f;

    if (p == NULL)
        return;
    json_get_alloc_funcs(&m, &f);
    f(p);
}

void s3event_free(void *p)
{
    xfree(p);
}

static char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);

    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

const char *s3event_strstatus(int status)
{
    switch (status) {
#define S3EVENT_STR(name, str) case name: return str;
        S3EVENT_STATUS_MAP(S3EVENT_STR)
#undef S3EVENT_STR
    }
    return "unknown status";
}

const char *s3event_kind_str(s3event_kind k)
{
    switch (k) {
    case S3EVENT_KIND_CREATED: return "created";
    case S3EVENT_KIND_REMOVED: return "removed";
    case S3EVENT_KIND_OTHER: break;
    }
    return "other";
}

/* ---- Go url.QueryEscape / QueryUnescape ---------------------------------------- */

static int unhex(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int s3event_query_unescape(const char *in, size_t len, char *out, size_t *out_len,
                           ep_err *err)
{
    size_t i, o = 0;

    if ((in == NULL && len > 0) || out == NULL)
        return ep_err_set(err, S3EVENT_EARG, "s3event_query_unescape: NULL argument");
    /* Go checks the whole string before writing anything; so do we, so a
     * failure leaves no half-decoded output behind. */
    for (i = 0; i < len; i++) {
        if (in[i] == '%') {
            if (i + 2 >= len || unhex(in[i + 1]) < 0 || unhex(in[i + 2]) < 0) {
                size_t n = len - i < 3 ? len - i : 3;
                out[0] = '\0';
                if (out_len != NULL)
                    *out_len = 0;
                return ep_err_set(err, S3EVENT_EESCAPE, "invalid URL escape \"%.*s\"", (int)n,
                                  in + i);
            }
            i += 2;
        }
    }
    for (i = 0; i < len; i++) {
        if (in[i] == '%') {
            out[o++] = (char)(unhex(in[i + 1]) << 4 | unhex(in[i + 2]));
            i += 2;
        } else {
            out[o++] = in[i] == '+' ? ' ' : in[i];
        }
    }
    out[o] = '\0';
    if (out_len != NULL)
        *out_len = o;
    return S3EVENT_OK;
}

char *s3event_query_escape(const char *in, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i, o = 0;
    char *out;

    if (in == NULL && len > 0)
        return NULL;
    if (len > (SIZE_MAX - 1) / 3)
        return NULL;
    out = xmalloc(3 * len + 1);
    if (out == NULL)
        return NULL;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            out[o++] = (char)c;
        } else if (c == ' ') {
            out[o++] = '+';
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}

/* ---- sequencers -------------------------------------------------------------------- */

static int is_hex_str(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (; *s; s++)
        if (unhex(*s) < 0)
            return 0;
    return 1;
}

int s3event_sequencer_compare(const char *a, const char *b)
{
    int ha = is_hex_str(a), hb = is_hex_str(b);
    size_t la, lb, i;

    if (!ha || !hb)
        return ha - hb;
    while (a[0] == '0' && a[1] != '\0') a++;
    while (b[0] == '0' && b[1] != '\0') b++;
    la = strlen(a);
    lb = strlen(b);
    if (la != lb)
        return la < lb ? -1 : 1;
    for (i = 0; i < la; i++) {
        int da = unhex(a[i]), db = unhex(b[i]);
        if (da != db)
            return da < db ? -1 : 1;
    }
    return 0;
}

/* ---- parsing ------------------------------------------------------------------------- */

/* RFC 3629 UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF. */
static int valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned c = s[i];
        size_t k, need;
        unsigned cp;

        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) { need = 1; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { need = 2; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { need = 3; cp = c & 0x07; }
        else return 0;
        if (n - i <= need)
            return 0;
        for (k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if ((need == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        i += need + 1;
    }
    return 1;
}

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

/* obj[key] as an object; absent or another type is an error naming path. */
static json_t *need_object(json_t *obj, const char *key, const char *path, ep_err *err)
{
    json_t *v = json_object_get(obj, key);

    if (v == NULL) {
        ep_err_set(err, S3EVENT_EFORMAT, "%s: missing", path);
        return NULL;
    }
    if (!json_is_object(v)) {
        ep_err_set(err, S3EVENT_EFORMAT, "%s: expected object, got %s", path, type_name(v));
        return NULL;
    }
    return v;
}

/* Copy obj[key] (a string, or absent when !required) into *dst. */
static int get_str(json_t *obj, const char *key, const char *path, int required, char **dst,
                   ep_err *err)
{
    json_t *v = json_object_get(obj, key);
    const char *s = "";
    size_t n = 0;

    if (v == NULL || (json_is_null(v) && !required)) {
        if (required)
            return ep_err_set(err, S3EVENT_EFORMAT, "%s: missing", path);
    } else if (!json_is_string(v)) {
        return ep_err_set(err, S3EVENT_EFORMAT, "%s: expected string, got %s", path,
                          type_name(v));
    } else {
        s = json_string_value(v);
        n = json_string_length(v);
        if (memchr(s, '\0', n) != NULL)
            return ep_err_set(err, S3EVENT_EFORMAT, "%s: contains NUL", path);
    }
    if (required && n == 0)
        return ep_err_set(err, S3EVENT_EFORMAT, "%s: empty", path);
    *dst = xstrndup(s, n);
    if (*dst == NULL)
        return ep_err_set(err, S3EVENT_ENOMEM, "%s: out of memory", path);
    return S3EVENT_OK;
}

static void record_dispose(s3event_record *r)
{
    xfree(r->event_name);
    xfree(r->event_time);
    xfree(r->event_source);
    xfree(r->bucket);
    xfree(r->key);
    xfree(r->raw_key);
    xfree(r->etag);
    xfree(r->sequencer);
    xfree(r->version_id);
    xfree(r->content_type);
}

void s3event_destroy(s3event *ev)
{
    size_t i;

    if (ev == NULL)
        return;
    xfree(ev->event_name);
    xfree(ev->key);
    if (ev->records != NULL)
        for (i = 0; i < ev->n_records; i++)
            record_dispose(&ev->records[i]);
    xfree(ev->records);
    xfree(ev);
}

static s3event_kind kind_of(const char *name)
{
    if (strncmp(name, "s3:ObjectCreated:", 17) == 0)
        return S3EVENT_KIND_CREATED;
    if (strncmp(name, "s3:ObjectRemoved:", 17) == 0)
        return S3EVENT_KIND_REMOVED;
    return S3EVENT_KIND_OTHER;
}

static int parse_record(json_t *rec, size_t idx, s3event_record *r, ep_err *err)
{
    char p[96];
    json_t *s3, *bucket, *object, *size;
    size_t n;
    int rc;

#define PATH(suffix) (snprintf(p, sizeof p, "Records[%zu]%s", idx, suffix), p)
    if (!json_is_object(rec))
        return ep_err_set(err, S3EVENT_EFORMAT, "%s: expected object, got %s", PATH(""),
                          type_name(rec));
    if ((rc = get_str(rec, "eventName", PATH(".eventName"), 1, &r->event_name, err)) != 0 ||
        (rc = get_str(rec, "eventTime", PATH(".eventTime"), 0, &r->event_time, err)) != 0 ||
        (rc = get_str(rec, "eventSource", PATH(".eventSource"), 0, &r->event_source, err)) != 0)
        return rc;
    r->kind = kind_of(r->event_name);
    if ((s3 = need_object(rec, "s3", PATH(".s3"), err)) == NULL ||
        (bucket = need_object(s3, "bucket", PATH(".s3.bucket"), err)) == NULL ||
        (object = need_object(s3, "object", PATH(".s3.object"), err)) == NULL)
        return S3EVENT_EFORMAT;
    if ((rc = get_str(bucket, "name", PATH(".s3.bucket.name"), 1, &r->bucket, err)) != 0 ||
        (rc = get_str(object, "key", PATH(".s3.object.key"), 1, &r->raw_key, err)) != 0 ||
        (rc = get_str(object, "eTag", PATH(".s3.object.eTag"), 0, &r->etag, err)) != 0 ||
        (rc = get_str(object, "sequencer", PATH(".s3.object.sequencer"), 0, &r->sequencer,
                      err)) != 0 ||
        (rc = get_str(object, "versionId", PATH(".s3.object.versionId"), 0, &r->version_id,
                      err)) != 0 ||
        (rc = get_str(object, "contentType", PATH(".s3.object.contentType"), 0,
                      &r->content_type, err)) != 0)
        return rc;

    size = json_object_get(object, "size");
    if (size != NULL && !json_is_null(size)) {
        if (!json_is_integer(size))
            return ep_err_set(err, S3EVENT_EFORMAT, "%s: expected integer, got %s",
                              PATH(".s3.object.size"), type_name(size));
        if (json_integer_value(size) < 0)
            return ep_err_set(err, S3EVENT_EFORMAT, "%s: negative", PATH(".s3.object.size"));
        r->size = json_integer_value(size);
    }

    n = strlen(r->raw_key);
    r->key = xmalloc(n + 1);
    if (r->key == NULL)
        return ep_err_set(err, S3EVENT_ENOMEM, "%s: out of memory", PATH(".s3.object.key"));
    if ((rc = s3event_query_unescape(r->raw_key, n, r->key, &n, err)) != 0) {
        ep_err_wrap(err, "%s", PATH(".s3.object.key"));
        return rc;
    }
    if (n == 0 || memchr(r->key, '\0', n) != NULL)
        return ep_err_set(err, S3EVENT_EFORMAT, "%s: decoded key %s",
                          PATH(".s3.object.key"), n == 0 ? "is empty" : "contains NUL");
    if (!valid_utf8((const unsigned char *)r->key, n))
        return ep_err_set(err, S3EVENT_EFORMAT, "%s: decoded key is not UTF-8",
                          PATH(".s3.object.key"));
#undef PATH
    return S3EVENT_OK;
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

int s3event_parse(const char *bytes, size_t len, s3event **out, ep_err *err)
{
    json_t *root = NULL, *records;
    json_error_t je;
    s3event *ev = NULL;
    size_t i, n;
    int rc;

    if (out != NULL)
        *out = NULL;
    if ((bytes == NULL && len > 0) || out == NULL)
        return ep_err_set(err, S3EVENT_EARG, "s3event_parse: NULL argument");
    if (len > S3EVENT_MAX_SIZE)
        return ep_err_set(err, S3EVENT_ETOOLARGE, "notification is %zu bytes, at most %d",
                          len, S3EVENT_MAX_SIZE);
    if (bytes == NULL)
        bytes = "";
    /* jansson leaves the error's code byte unset on one path; zero it. */
    memset(&je, 0, sizeof je);
    root = json_loadb(bytes, len, LOAD_FLAGS, &je);
    if (root == NULL) {
        if (load_failed_for_memory(bytes, len, LOAD_FLAGS, &je))
            return ep_err_set(err, S3EVENT_ENOMEM, "parsing notification: out of memory");
        return ep_err_set(err, S3EVENT_ESYNTAX, "line %d column %d: %s", je.line, je.column,
                          je.text);
    }
    if (!json_is_object(root)) {
        rc = ep_err_set(err, S3EVENT_EFORMAT, "expected a JSON object, got %s",
                        type_name(root));
        goto out;
    }
    ev = xmalloc(sizeof *ev);
    if (ev == NULL) {
        rc = ep_err_set(err, S3EVENT_ENOMEM, "out of memory");
        goto out;
    }
    memset(ev, 0, sizeof *ev);
    if ((rc = get_str(root, "EventName", "EventName", 0, &ev->event_name, err)) != 0 ||
        (rc = get_str(root, "Key", "Key", 0, &ev->key, err)) != 0)
        goto out;

    records = json_object_get(root, "Records");
    if (records == NULL) {
        rc = ep_err_set(err, S3EVENT_EFORMAT, "Records: missing");
        goto out;
    }
    if (!json_is_array(records)) {
        rc = ep_err_set(err, S3EVENT_EFORMAT, "Records: expected array, got %s",
                        type_name(records));
        goto out;
    }
    n = json_array_size(records);
    if (n == 0) {
        rc = ep_err_set(err, S3EVENT_EFORMAT, "Records: empty");
        goto out;
    }
    if (n > S3EVENT_MAX_RECORDS) {
        rc = ep_err_set(err, S3EVENT_ETOOLARGE, "Records: %zu records, at most %d", n,
                        S3EVENT_MAX_RECORDS);
        goto out;
    }
    ev->records = xmalloc(n * sizeof *ev->records);
    if (ev->records == NULL) {
        rc = ep_err_set(err, S3EVENT_ENOMEM, "Records: out of memory");
        goto out;
    }
    memset(ev->records, 0, n * sizeof *ev->records);
    ev->n_records = n;
    for (i = 0; i < n; i++)
        if ((rc = parse_record(json_array_get(records, i), i, &ev->records[i], err)) != 0)
            goto out;

    /* The NATS target writes Key = bucket "/" unescaped key; a message where
     * the two disagree was not written by it. */
    if (ev->key[0] != '\0' && n == 1) {
        const s3event_record *r = &ev->records[0];
        size_t bl = strlen(r->bucket), kl = strlen(r->key);
        if (strlen(ev->key) != bl + 1 + kl || memcmp(ev->key, r->bucket, bl) != 0 ||
            ev->key[bl] != '/' || memcmp(ev->key + bl + 1, r->key, kl) != 0) {
            rc = ep_err_set(err, S3EVENT_EFORMAT,
                            "Key: \"%.200s\" disagrees with Records[0] (bucket \"%.60s\", "
                            "key \"%.200s\")", ev->key, r->bucket, r->key);
            goto out;
        }
    }
    *out = ev;
    ev = NULL;
    rc = S3EVENT_OK;
out:
    s3event_destroy(ev);
    json_decref(root);
    return rc;
}
