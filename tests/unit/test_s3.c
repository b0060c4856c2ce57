/*
 * test_s3: the s3 client against the real MinIO of scripts/with-stack.sh, and
 * its response parsers on hand-written documents.
 *
 * The server tests read EP_S3_ENDPOINT, EP_S3_REGION, EP_S3_ACCESS_KEY and
 * EP_S3_SECRET_KEY and fail when any is missing.  Each run works in a bucket
 * of its own, so runs never see each other's objects.  The last server test
 * measures sequential 1 KiB GETs (EP_S3_BENCH_N requests, default 2000) and
 * checks that they all travel over one connection.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "s3/s3.h"
#include "s3/s3_internal.h"

static s3_config cfg;
static char      bucket[64];

static const char *need_env(const char *name)
{
    const char *v = getenv(name);

    if (v == NULL || v[0] == '\0') {
        fprintf(stderr, "test_s3: %s is not set; run under scripts/with-stack.sh\n", name);
        return NULL;
    }
    return v;
}

static int server_group_setup(void **state)
{
    s3_client *c = NULL;
    ep_err     err = {0};
    int        rc;

    (void)state;
    cfg.endpoint = need_env("EP_S3_ENDPOINT");
    cfg.region = need_env("EP_S3_REGION");
    cfg.access_key = need_env("EP_S3_ACCESS_KEY");
    cfg.secret_key = need_env("EP_S3_SECRET_KEY");
    if (cfg.endpoint == NULL || cfg.region == NULL || cfg.access_key == NULL ||
        cfg.secret_key == NULL)
        return -1;
    snprintf(bucket, sizeof bucket, "test-s3-%ld-%ld", (long)getpid(), (long)time(NULL));
    rc = s3_client_create(&cfg, &c, &err);
    if (rc == S3_OK)
        rc = s3_bucket_ensure(c, bucket, &err);
    s3_client_destroy(c);
    if (rc != S3_OK) {
        fprintf(stderr, "test_s3: setup: %s\n", err.msg);
        return -1;
    }
    return 0;
}

/* Each server test gets a fresh client in *state. */
static int client_setup(void **state)
{
    s3_client *c = NULL;
    ep_err     err = {0};

    if (s3_client_create(&cfg, &c, &err) != S3_OK) {
        fprintf(stderr, "test_s3: client: %s\n", err.msg);
        return -1;
    }
    *state = c;
    return 0;
}

static int client_teardown(void **state)
{
    s3_client_destroy(*state);
    return 0;
}

#define assert_ok(expr, errp)                                                   \
    do {                                                                        \
        int rc_ = (expr);                                                       \
        if (rc_ != S3_OK)                                                       \
            fail_msg("%s -> %s: %s", #expr, s3_strstatus(rc_), (errp)->msg);    \
    } while (0)

static void put_str(s3_client *c, const char *key, const char *data)
{
    ep_err err = {0};

    assert_ok(s3_put(c, bucket, key, data, strlen(data), "text/plain", NULL, &err), &err);
}

/* ---- server tests ------------------------------------------------------------ */

static void test_roundtrip(void **state)
{
    s3_client     *c = *state;
    const char     body[] = "{\"name\":\"dev-x\"}";
    s3_object_info put = {0}, head = {0}, got = {0};
    s3_buf         buf = {0};
    ep_err         err = {0};
    time_t         now = time(NULL);

    assert_ok(s3_put(c, bucket, "environments/dev-x.json", body, strlen(body),
                     "application/json", &put, &err), &err);
    assert_int_equal(strlen(put.etag), 32);  /* MD5 hex, quotes removed */
    assert_int_equal(put.size, (int64_t)strlen(body));

    assert_ok(s3_head(c, bucket, "environments/dev-x.json", &head, &err), &err);
    assert_string_equal(head.etag, put.etag);
    assert_int_equal(head.size, (int64_t)strlen(body));
    assert_string_equal(head.content_type, "application/json");
    assert_true(head.mtime >= now - 60 && head.mtime <= now + 60);

    assert_ok(s3_get(c, bucket, "environments/dev-x.json", 1024, &buf, &got, &err), &err);
    assert_int_equal(buf.len, strlen(body));
    assert_memory_equal(buf.data, body, buf.len);
    assert_int_equal(buf.data[buf.len], '\0');
    assert_string_equal(got.etag, put.etag);
    assert_int_equal(got.mtime, head.mtime);
    free(buf.data);

    /* Overwrite with an empty object: still a NUL-terminated buffer. */
    assert_ok(s3_put(c, bucket, "environments/dev-x.json", NULL, 0, NULL, NULL, &err), &err);
    assert_ok(s3_get(c, bucket, "environments/dev-x.json", 0, &buf, NULL, &err), &err);
    assert_non_null(buf.data);
    assert_int_equal(buf.len, 0);
    free(buf.data);
    assert_ok(s3_head(c, bucket, "environments/dev-x.json", &head, &err), &err);
    assert_string_equal(head.content_type, "application/octet-stream");

    assert_ok(s3_delete(c, bucket, "environments/dev-x.json", &err), &err);
    assert_int_equal(s3_head(c, bucket, "environments/dev-x.json", &head, &err), S3_ENOTFOUND);
    assert_non_null(strstr(err.msg, "HEAD"));
    assert_int_equal(err.code, S3_ENOTFOUND);
    /* Deleting what is already gone succeeds, as in S3. */
    assert_ok(s3_delete(c, bucket, "environments/dev-x.json", &err), &err);
}

static void test_get_missing(void **state)
{
    s3_client *c = *state;
    s3_buf     buf = {(char *)"x", 1};
    ep_err     err = {0};
    char       want[200];

    assert_int_equal(s3_get(c, bucket, "environments/nope.json", 1024, &buf, NULL, &err),
                     S3_ENOTFOUND);
    assert_null(buf.data);
    assert_int_equal(buf.len, 0);
    snprintf(want, sizeof want, "s3 GET %s/environments/nope.json: HTTP 404 NoSuchKey: ", bucket);
    if (strncmp(err.msg, want, strlen(want)) != 0)
        fail_msg("unexpected message: %s", err.msg);

    assert_int_equal(s3_get(c, "no-such-bucket-here", "k", 1024, &buf, NULL, &err),
                     S3_ENOTFOUND);
    assert_non_null(strstr(err.msg, "NoSuchBucket"));
    assert_int_equal(s3_delete(c, "no-such-bucket-here", "k", &err), S3_ENOTFOUND);
}

static void test_get_too_large(void **state)
{
    s3_client *c = *state;
    size_t     big = 3 * 1024 * 1024;
    char      *data = malloc(big);
    s3_buf     buf = {0};
    ep_err     err = {0};

    assert_non_null(data);
    for (size_t i = 0; i < big; i++)
        data[i] = (char)('a' + i % 26);
    assert_ok(s3_put(c, bucket, "big.bin", data, big, NULL, NULL, &err), &err);

    assert_int_equal(s3_get(c, bucket, "big.bin", 1000, &buf, NULL, &err), S3_ETOOLARGE);
    assert_null(buf.data);
    assert_non_null(strstr(err.msg, "big.bin"));
    assert_non_null(strstr(err.msg, "3145728"));
    assert_int_equal(s3_get(c, bucket, "big.bin", big - 1, &buf, NULL, &err), S3_ETOOLARGE);

    /* Exactly at the bound is fine, and the client recovers from the
     * aborted transfers. */
    assert_ok(s3_get(c, bucket, "big.bin", big, &buf, NULL, &err), &err);
    assert_int_equal(buf.len, big);
    assert_memory_equal(buf.data, data, big);
    free(buf.data);
    assert_ok(s3_delete(c, bucket, "big.bin", &err), &err);
    free(data);
}

typedef struct seen {
    const char *const *keys;
    size_t             nkeys;
    int               *count;    /* per key */
    size_t             visits;
    size_t             stop_after; /* 0 = never */
    int                unknown;
} seen;

static int count_cb(const s3_list_entry *e, void *ud)
{
    seen  *s = ud;
    size_t i;

    s->visits++;
    for (i = 0; i < s->nkeys; i++)
        if (strcmp(e->key, s->keys[i]) == 0)
            break;
    if (i == s->nkeys) {
        fprintf(stderr, "unexpected key \"%s\"\n", e->key);
        s->unknown++;
    } else {
        s->count[i]++;
        if ((int64_t)strlen(s->keys[i]) != e->size || strlen(e->etag) != 32 || e->mtime == 0)
            s->unknown++;
    }
    return s->stop_after != 0 && s->visits >= s->stop_after;
}

static void test_odd_keys(void **state)
{
    static const char *const keys[] = {
        "odd/with space.json",     "odd/a+b=c&d;e,f",       "odd/100%/done?x#y",
        "odd/ünïcödé/日本語.txt", "odd/deep/a/b/c/d/e.txt", "odd/tilde~_-.*'()!$@:",
        "odd/tab\tand\x01control", "odd/dots..in.name.",
    };
    enum { N = sizeof keys / sizeof keys[0] };
    s3_client     *c = *state;
    int            count[N] = {0};
    seen           s = {keys, N, count, 0, 0, 0};
    s3_object_info info;
    s3_buf         buf;
    ep_err         err = {0};

    for (size_t i = 0; i < N; i++) {
        put_str(c, keys[i], keys[i]);  /* each object holds its own key */
        assert_ok(s3_head(c, bucket, keys[i], &info, &err), &err);
        assert_int_equal(info.size, (int64_t)strlen(keys[i]));
        assert_ok(s3_get(c, bucket, keys[i], 4096, &buf, NULL, &err), &err);
        assert_string_equal(buf.data, keys[i]);
        free(buf.data);
    }
    assert_ok(s3_list(c, bucket, "odd/", 0, count_cb, &s, &err), &err);
    assert_int_equal(s.unknown, 0);
    for (size_t i = 0; i < N; i++)
        if (count[i] != 1)
            fail_msg("key \"%s\" listed %d times", keys[i], count[i]);
    /* A prefix with the awkward characters selects exactly its object. */
    memset(count, 0, sizeof count);
    s.visits = 0;
    assert_ok(s3_list(c, bucket, "odd/100%/done?", 0, count_cb, &s, &err), &err);
    assert_int_equal(s.visits, 1);
    assert_int_equal(count[2], 1);
    for (size_t i = 0; i < N; i++)
        assert_ok(s3_delete(c, bucket, keys[i], &err), &err);

    /* Dot segments reach the server as written (libcurl must not resolve
     * "a/../b" into "b" and silently write another key); MinIO refuses them. */
    assert_int_equal(s3_put(c, bucket, "odd/../escape", "x", 1, NULL, NULL, &err), S3_EHTTP);
    assert_non_null(strstr(err.msg, "HTTP 400"));
    assert_int_equal(s3_head(c, bucket, "escape", &info, &err), S3_ENOTFOUND);
}

static void test_list_pages(void **state)
{
    static const char *const keys[] = {"pages/1", "pages/2", "pages/3", "pages/4",
                                       "pages/5", "pages/6", "pages/7"};
    enum { N = sizeof keys / sizeof keys[0] };
    s3_client *c = *state;
    int        count[N] = {0};
    seen       s = {keys, N, count, 0, 0, 0};
    ep_err     err = {0};
    long       before;

    for (size_t i = 0; i < N; i++)
        put_str(c, keys[i], keys[i]);
    before = s3__connects(c);
    assert_ok(s3_list(c, bucket, "pages/", 2, count_cb, &s, &err), &err);
    assert_int_equal(s.visits, N);
    assert_int_equal(s.unknown, 0);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(count[i], 1);
    assert_int_equal(s3__connects(c), before);  /* four pages, no new connection */

    /* Stopping early: the callback sees exactly three objects. */
    memset(count, 0, sizeof count);
    s.visits = 0;
    s.stop_after = 3;
    assert_ok(s3_list(c, bucket, "pages/", 2, count_cb, &s, &err), &err);
    assert_int_equal(s.visits, 3);

    assert_int_equal(s3_list(c, bucket, "pages/", 1001, count_cb, &s, &err), S3_EINVAL);
    for (size_t i = 0; i < N; i++)
        assert_ok(s3_delete(c, bucket, keys[i], &err), &err);
}

static void test_list_prefix(void **state)
{
    static const char *const a[] = {"pfx/a/1", "pfx/a/2", "pfx/a/sub/3"};
    static const char *const other[] = {"pfx/b/1", "pfx/ab", "pfx/a-b"};
    enum { NA = sizeof a / sizeof a[0], NO = sizeof other / sizeof other[0] };
    s3_client *c = *state;
    int        count[NA] = {0};
    seen       s = {a, NA, count, 0, 0, 0};
    ep_err     err = {0};

    for (size_t i = 0; i < NA; i++)
        put_str(c, a[i], a[i]);
    for (size_t i = 0; i < NO; i++)
        put_str(c, other[i], other[i]);
    assert_ok(s3_list(c, bucket, "pfx/a/", 0, count_cb, &s, &err), &err);
    assert_int_equal(s.unknown, 0);
    assert_int_equal(s.visits, NA);
    s.visits = 0;
    assert_ok(s3_list(c, bucket, "pfx/nothing/", 0, count_cb, &s, &err), &err);
    assert_int_equal(s.visits, 0);
    for (size_t i = 0; i < NA; i++)
        assert_ok(s3_delete(c, bucket, a[i], &err), &err);
    for (size_t i = 0; i < NO; i++)
        assert_ok(s3_delete(c, bucket, other[i], &err), &err);
}

static void test_bucket_ensure(void **state)
{
    s3_client *c = *state;
    ep_err     err = {0};

    assert_ok(s3_bucket_ensure(c, bucket, &err), &err);  /* exists: fine */
    assert_int_equal(s3_bucket_ensure(c, "Bad_Bucket", &err), S3_EINVAL);
    assert_non_null(strstr(err.msg, "Bad_Bucket"));
    assert_int_equal(s3_get(c, "ab", "k", 1, &(s3_buf){0}, NULL, &err), S3_EINVAL);
    assert_int_equal(s3_put(c, bucket, "", "x", 1, NULL, NULL, &err), S3_EINVAL);
}

static void test_wrong_secret(void **state)
{
    s3_config  bad = cfg;
    s3_client *c = NULL;
    s3_buf     buf = {0};
    ep_err     err = {0};
    int        rc;

    (void)state;
    bad.secret_key = "not-the-secret";
    assert_ok(s3_client_create(&bad, &c, &err), &err);
    rc = s3_get(c, bucket, "whatever", 10, &buf, NULL, &err);
    assert_int_equal(rc, S3_EHTTP);
    assert_int_equal(err.code, S3_EHTTP);
    if (strstr(err.msg, "HTTP 403 SignatureDoesNotMatch") == NULL &&
        strstr(err.msg, "HTTP 403 InvalidAccessKeyId") == NULL)
        fail_msg("unexpected message: %s", err.msg);
    assert_int_equal(s3_list(c, bucket, NULL, 0, count_cb, NULL, &err), S3_EHTTP);
    assert_non_null(strstr(err.msg, "s3 LIST "));
    s3_client_destroy(c);

    bad = cfg;
    bad.access_key = "nobody";
    assert_ok(s3_client_create(&bad, &c, &err), &err);
    assert_int_equal(s3_put(c, bucket, "k", "x", 1, NULL, NULL, &err), S3_EHTTP);
    assert_non_null(strstr(err.msg, "InvalidAccessKeyId"));
    s3_client_destroy(c);
}

static void test_connection_refused(void **state)
{
    struct sockaddr_in sa = {0};
    socklen_t          len = sizeof sa;
    s3_config          dead = cfg;
    s3_client         *c = NULL;
    s3_buf             buf = {0};
    ep_err             err = {0};
    char               endpoint[64];
    int                fd = socket(AF_INET, SOCK_STREAM, 0);

    (void)state;
    /* A port that is bound but not listening refuses connections for as
     * long as we hold it. */
    assert_true(fd >= 0);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", ntohs(sa.sin_port));
    dead.endpoint = endpoint;
    dead.timeout_ms = 2000;
    assert_ok(s3_client_create(&dead, &c, &err), &err);
    assert_int_equal(s3_get(c, bucket, "k", 10, &buf, NULL, &err), S3_ETRANSPORT);
    assert_non_null(strstr(err.msg, "s3 GET "));
    assert_non_null(strstr(err.msg, "onnect"));
    s3_client_destroy(c);
    close(fd);
}

static void test_timeout(void **state)
{
    struct sockaddr_in sa = {0};
    socklen_t          len = sizeof sa;
    s3_config          slow = cfg;
    s3_client         *c = NULL;
    s3_buf             buf = {0};
    ep_err             err = {0};
    char               endpoint[64];
    struct timespec    t0, t1;
    double             secs;
    int                fd = socket(AF_INET, SOCK_STREAM, 0);

    (void)state;
    /* A listening socket that never answers: the kernel accepts the
     * connection, the request goes out, no response ever comes. */
    assert_true(fd >= 0);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", ntohs(sa.sin_port));
    slow.endpoint = endpoint;
    slow.timeout_ms = 300;
    assert_ok(s3_client_create(&slow, &c, &err), &err);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(s3_get(c, bucket, "k", 10, &buf, NULL, &err), S3_ETRANSPORT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_non_null(strstr(err.msg, "imeout"));
    assert_true(secs >= 0.25 && secs < 5.0);
    s3_client_destroy(c);
    close(fd);
}

static void test_get_rate(void **state)
{
    s3_client      *c = *state;
    const char     *n_env = getenv("EP_S3_BENCH_N");
    long            n = n_env != NULL ? strtol(n_env, NULL, 10) : 2000;
    char            data[1024];
    s3_buf          buf;
    ep_err          err = {0};
    struct timespec t0, t1;
    long            before;
    double          secs;

    memset(data, 'k', sizeof data);
    assert_ok(s3_put(c, bucket, "bench/1k", data, sizeof data, NULL, NULL, &err), &err);
    before = s3__connects(c);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++) {
        assert_ok(s3_get(c, bucket, "bench/1k", sizeof data, &buf, NULL, &err), &err);
        assert_int_equal(buf.len, sizeof data);
        free(buf.data);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    fprintf(stderr, "test_s3: %ld sequential GETs of 1 KiB in %.3f s: %.0f requests/s, "
                    "%ld new connection(s)\n",
            n, secs, (double)n / secs, s3__connects(c) - before);
    assert_int_equal(s3__connects(c), before);  /* every GET reused the connection */
    assert_ok(s3_delete(c, bucket, "bench/1k", &err), &err);
}

/* ---- no server needed -------------------------------------------------------- */

static void test_config(void **state)
{
    s3_config  k = {"http://127.0.0.1:9000", "us-east-1", "ak", "sk", 0, NULL};
    s3_config  b;
    s3_client *c = (s3_client *)&k;
    ep_err     err = {0};

    (void)state;
    assert_ok(s3_client_create(&k, &c, &err), &err);
    s3_client_destroy(c);
    b = k, b.endpoint = "https://minio.example:9000/";
    assert_ok(s3_client_create(&b, &c, &err), &err);
    s3_client_destroy(c);
    s3_client_destroy(NULL);

    b = k, b.endpoint = "ftp://x";
    assert_int_equal(s3_client_create(&b, &c, &err), S3_EINVAL);
    assert_null(c);
    assert_non_null(strstr(err.msg, "endpoint"));
    b = k, b.endpoint = "http://host/some/path";
    assert_int_equal(s3_client_create(&b, &c, &err), S3_EINVAL);
    b = k, b.endpoint = "http://";
    assert_int_equal(s3_client_create(&b, &c, &err), S3_EINVAL);
    b = k, b.region = "";
    assert_int_equal(s3_client_create(&b, &c, &err), S3_EINVAL);
    assert_non_null(strstr(err.msg, "region"));
    b = k, b.access_key = NULL;
    assert_int_equal(s3_client_create(&b, &c, &err), S3_EINVAL);
    b = k, b.secret_key = "";
    assert_int_equal(s3_client_create(&b, &c, &err), S3_EINVAL);
    b = k, b.timeout_ms = -1;
    assert_int_equal(s3_client_create(&b, &c, &err), S3_EINVAL);
    assert_int_equal(s3_client_create(NULL, &c, &err), S3_EINVAL);

    assert_string_equal(s3_strstatus(S3_OK), "success");
    assert_string_equal(s3_strstatus(S3_ENOTFOUND), "no such bucket or key (HTTP 404)");
    assert_string_equal(s3_strstatus(999), "unknown s3 status");
}

static void test_uri_encode(void **state)
{
    char   out[128];
    size_t n;

    (void)state;
    n = s3__uri_encode(out, sizeof out, "a b/c+d%é~_.-", strlen("a b/c+d%é~_.-"), 1);
    assert_string_equal(out, "a%20b/c%2Bd%25%C3%A9~_.-");
    assert_int_equal(n, strlen(out));
    s3__uri_encode(out, sizeof out, "a/b=c", 5, 0);
    assert_string_equal(out, "a%2Fb%3Dc");
    /* Too small: truncated, NUL-terminated, full length reported. */
    n = s3__uri_encode(out, 4, "a b", 3, 1);
    assert_int_equal(n, 5);
    assert_int_equal(strlen(out), 1);
}

#define XML_HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" \
                 "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"

static int parse(const char *xml, s3__list_page *p, ep_err *err)
{
    return s3__parse_list_xml(xml, strlen(xml), p, err);
}

static void test_parse_list_empty(void **state)
{
    s3__list_page p;
    ep_err        err = {0};

    (void)state;
    assert_ok(parse(XML_HEAD "<Name>environments</Name><Prefix></Prefix><KeyCount>0</KeyCount>"
                    "<MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>",
                    &p, &err), &err);
    assert_int_equal(p.n, 0);
    assert_false(p.truncated);
    assert_null(p.next_token);
    s3__list_page_dispose(&p);
}

static void test_parse_list_truncated(void **state)
{
    s3__list_page p;
    ep_err        err = {0};

    (void)state;
    assert_ok(parse(XML_HEAD "<Name>b</Name><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>"
                    "<IsTruncated>true</IsTruncated>"
                    "<Contents><Key>a%20b%2Bc+d</Key><LastModified>2026-11-23T11:29:45.123Z"
                    "</LastModified><ETag>&#34;0cc175b9c0f1b6a831c399e269772661&#34;</ETag>"
                    "<Size>1</Size><StorageClass>STANDARD</StorageClass></Contents>"
                    "<Contents><Key>%C3%A9/x</Key><Size>1234567890123</Size></Contents>"
                    "<NextContinuationToken>1Nj/a+b==</NextContinuationToken>"
                    "<EncodingType>url</EncodingType></ListBucketResult>", &p, &err), &err);
    assert_int_equal(p.n, 2);
    assert_true(p.truncated);
    assert_string_equal(p.next_token, "1Nj/a+b==");
    assert_string_equal(p.entries[0].key, "a b+c d");
    assert_string_equal(p.entries[0].etag, "0cc175b9c0f1b6a831c399e269772661");
    assert_int_equal(p.entries[0].size, 1);
    assert_int_equal(p.entries[0].mtime, 1795433385);  /* date -d 2026-11-23T11:29:45Z +%s */
    assert_string_equal(p.entries[1].key, "\xc3\xa9/x");
    assert_string_equal(p.entries[1].etag, "");
    assert_int_equal(p.entries[1].size, 1234567890123LL);
    assert_int_equal(p.entries[1].mtime, 0);
    s3__list_page_dispose(&p);

    /* Without EncodingType, keys are taken as they are. */
    assert_ok(parse(XML_HEAD "<IsTruncated>false</IsTruncated><Contents><Key>a%20b+c</Key>"
                    "<Size>0</Size></Contents></ListBucketResult>", &p, &err), &err);
    assert_string_equal(p.entries[0].key, "a%20b+c");
    s3__list_page_dispose(&p);
}

static void test_parse_list_invalid(void **state)
{
    static const char *const bad[] = {
        "",
        "garbage",
        "\x00\x01\x02",
        "<ListBucketResult>",                                         /* unterminated */
        XML_HEAD "</ListBucketResult>",                               /* no IsTruncated */
        "<Error><Code>x</Code></Error>",                             /* wrong root */
        XML_HEAD "<IsTruncated>maybe</IsTruncated></ListBucketResult>",
        XML_HEAD "<IsTruncated>true</IsTruncated></ListBucketResult>", /* no token */
        XML_HEAD "<IsTruncated>false</IsTruncated><Contents><Size>1</Size></Contents>"
                 "</ListBucketResult>",                                /* no Key */
        XML_HEAD "<IsTruncated>false</IsTruncated><Contents><Key>k</Key><Size>-1</Size>"
                 "</Contents></ListBucketResult>",
        XML_HEAD "<IsTruncated>false</IsTruncated><Contents><Key>k</Key><Size>99999999999999999999"
                 "</Size></Contents></ListBucketResult>",
        XML_HEAD "<IsTruncated>false</IsTruncated><Contents><Key>k</Key><Size>1</Size>"
                 "<LastModified>yesterday</LastModified></Contents></ListBucketResult>",
        XML_HEAD "<IsTruncated>false</IsTruncated><Contents><Key>k</Key><Key>k2</Key><Size>1</Size>"
                 "</Contents></ListBucketResult>",
        XML_HEAD "<IsTruncated>false</IsTruncated><EncodingType>url</EncodingType><Contents>"
                 "<Key>bad%zz</Key><Size>1</Size></Contents></ListBucketResult>",
        XML_HEAD "<IsTruncated>false</IsTruncated><EncodingType>url</EncodingType><Contents>"
                 "<Key>nul%00</Key><Size>1</Size></Contents></ListBucketResult>",
        XML_HEAD "<IsTruncated>false</IsTruncated><Contents><Key><b>k</b></Key><Size>1</Size>"
                 "</Contents></ListBucketResult>",
        /* Entities are refused, not expanded. */
        "<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\">]>"
        "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>&a;</Key>"
        "<Size>1</Size></Contents></ListBucketResult>",
    };
    s3__list_page p;
    ep_err        err = {0};

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t len = i == 2 ? 3 : strlen(bad[i]);
        int    rc = s3__parse_list_xml(bad[i], len, &p, &err);

        if (rc != S3_EPARSE)
            fail_msg("case %zu: got %s, want S3_EPARSE", i, s3_strstatus(rc));
        assert_int_equal(err.code, S3_EPARSE);
        assert_true(strlen(err.msg) > 0);
        assert_null(p.entries);
        assert_null(p.next_token);
    }
    assert_int_equal(s3__parse_list_xml("garbage", 7, &p, &err), S3_EPARSE);
    assert_non_null(strstr(err.msg, "not well-formed"));
}

static void test_parse_error(void **state)
{
    static const char ok[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>"
        "<Message>The specified key does not exist.</Message><Key>k</Key></Error>";
    char code[16], msg[64];

    (void)state;
    assert_int_equal(s3__parse_error_xml(ok, strlen(ok), code, sizeof code, msg, sizeof msg), 0);
    assert_string_equal(code, "NoSuchKey");
    assert_string_equal(msg, "The specified key does not exist.");
    assert_int_equal(s3__parse_error_xml(ok, strlen(ok), code, 4, msg, 8), 0);
    assert_string_equal(code, "NoS");
    assert_string_equal(msg, "The spe");
    assert_int_equal(s3__parse_error_xml("<Error><Message>m</Message></Error>", 35, code,
                                         sizeof code, msg, sizeof msg), -1);
    assert_int_equal(s3__parse_error_xml("<html>502</html>", 16, code, sizeof code, msg,
                                         sizeof msg), -1);
    assert_int_equal(s3__parse_error_xml("nope", 4, code, sizeof code, msg, sizeof msg), -1);
    assert_string_equal(code, "");
}

static void test_parse_time(void **state)
{
    int64_t t = -1;

    (void)state;
    assert_int_equal(s3__parse_iso8601("1970-01-01T00:00:00Z", &t), 0);
    assert_int_equal(t, 0);
    assert_int_equal(s3__parse_iso8601("2026-11-23T11:29:45Z", &t), 0);
    assert_int_equal(t, 1795433385);
    assert_int_equal(s3__parse_iso8601("2026-11-23T11:29:45.5", &t), -1);
    assert_int_equal(s3__parse_iso8601("2026-11-23 11:29:45Z", &t), -1);
    assert_int_equal(s3__parse_iso8601("2026-13-23T11:29:45Z", &t), -1);
    assert_int_equal(s3__parse_iso8601("2026-11-23T11:29:45.Z", &t), -1);
}

int main(void)
{
    const struct CMUnitTest offline[] = {
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_uri_encode),
        cmocka_unit_test(test_parse_list_empty),
        cmocka_unit_test(test_parse_list_truncated),
        cmocka_unit_test(test_parse_list_invalid),
        cmocka_unit_test(test_parse_error),
        cmocka_unit_test(test_parse_time),
    };
    const struct CMUnitTest server[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip, client_setup, client_teardown),
        cmocka_unit_test_setup_teardown(test_get_missing, client_setup, client_teardown),
        cmocka_unit_test_setup_teardown(test_get_too_large, client_setup, client_teardown),
        cmocka_unit_test_setup_teardown(test_odd_keys, client_setup, client_teardown),
        cmocka_unit_test_setup_teardown(test_list_pages, client_setup, client_teardown),
        cmocka_unit_test_setup_teardown(test_list_prefix, client_setup, client_teardown),
        cmocka_unit_test_setup_teardown(test_bucket_ensure, client_setup, client_teardown),
        cmocka_unit_test(test_wrong_secret),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test_setup_teardown(test_get_rate, client_setup, client_teardown),
    };
    ep_err err = {0};
    int    failed;

    if (s3_global_init(&err) != S3_OK) {
        fprintf(stderr, "test_s3: %s\n", err.msg);
        return 1;
    }
    failed = cmocka_run_group_tests_name("s3 offline", offline, NULL, NULL);
    failed += cmocka_run_group_tests_name("s3 against MinIO", server, server_group_setup, NULL);
    s3_global_cleanup();
    return failed != 0;
}
