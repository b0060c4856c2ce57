/*
 * test_httpd: the HTTP server, started on 127.0.0.1:0 and driven with
 * libcurl like any client would: the built-in /healthz, /readyz (flipped by
 * the test) and /metrics (format and counts), routing (exact, prefix,
 * methods, HEAD), request accessors, the JSON 404/405/413/500 errors, bad
 * listen addresses, concurrent requests from several threads whose total
 * must show up exactly in http_requests_total, clients hanging up in the
 * middle of a body, and httpd_destroy waiting for a handler in flight.  The last test
 * measures sequential /healthz requests per second on one keep-alive
 * connection (EP_HTTPD_BENCH_N, default 5000).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "httpd/httpd.h"
#include "metrics/metrics.h"

typedef struct fixture {
    httpd            *h;
    metrics_registry *reg;
    atomic_int        ready;
    char              base[64];
} fixture;

typedef struct reply {
    long   status;
    char  *body;
    size_t len;
    char   ctype[128];
    char   allow[128];
    char   location[128];
} reply;

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    reply *r = ud;
    char  *nb = realloc(r->body, r->len + sz * n + 1);

    if (nb == NULL)
        return 0;
    r->body = nb;
    memcpy(r->body + r->len, p, sz * n);
    r->len += sz * n;
    r->body[r->len] = '\0';
    return sz * n;
}

static void grab(const char *line, size_t n, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);

    if (n > nl + 1 && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
        const char *v = line + nl + 1;
        size_t      vl = n - nl - 1;
        while (vl > 0 && (*v == ' '))
            v++, vl--;
        while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
            vl--;
        snprintf(out, outlen, "%.*s", (int)vl, v);
    }
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    reply *r = ud;

    grab(p, sz * n, "Content-Type", r->ctype, sizeof r->ctype);
    grab(p, sz * n, "Allow", r->allow, sizeof r->allow);
    grab(p, sz * n, "Location", r->location, sizeof r->location);
    return sz * n;
}

typedef struct upload {
    const char *p;
    size_t      left;
} upload;

static size_t on_read(char *buf, size_t sz, size_t n, void *ud)
{
    upload *u = ud;
    size_t  k = sz * n < u->left ? sz * n : u->left;

    if (k > 1000)
        k = 1000;   /* several chunks */
    memcpy(buf, u->p, k);
    u->p += k;
    u->left -= k;
    return k;
}

/* One request.  body == NULL: no body; chunked: send the body with
 * Transfer-Encoding: chunked instead of Content-Length. */
static CURLcode request(CURL *c, const char *method, const char *url, const char *body, size_t blen,
                        int chunked, const char *header, reply *r)
{
    struct curl_slist *hdrs = NULL;
    upload             u = { body, blen };
    CURLcode           rc;

    memset(r, 0, sizeof *r);
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body != NULL) {
        if (chunked) {
            curl_easy_setopt(c, CURLOPT_POST, 1L);
            curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(c, CURLOPT_READDATA, &u);
            hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
        } else {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)blen);
        }
    }
    if (header != NULL)
        hdrs = curl_slist_append(hdrs, header);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hdrs);
    return rc;
}

static reply get(fixture *f, const char *method, const char *path)
{
    CURL *c = curl_easy_init();
    char  url[512];
    reply r;

    snprintf(url, sizeof url, "%s%s", f->base, path);
    assert_int_equal(request(c, method, url, NULL, 0, 0, NULL, &r), CURLE_OK);
    curl_easy_cleanup(c);
    return r;
}

static json_t *json_of(const reply *r)
{
    json_error_t e;
    json_t      *j = json_loadb(r->body ? r->body : "", r->len, 0, &e);

    if (j == NULL)
        fail_msg("not JSON (%s): %s", e.text, r->body ? r->body : "");
    return j;
}

static const char *jstr(json_t *j, const char *k)
{
    return json_string_value(json_object_get(j, k));
}

/* ---- handlers ---------------------------------------------------------------------- */

/* Echo everything the request accessors return, as JSON. */
static void echo(const httpd_request *req, httpd_response *resp, void *ud)
{
    size_t      blen;
    const char *body = httpd_request_body(req, &blen);
    json_t     *j = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:I, s:s}",
                              "tag", (const char *)ud, "method", httpd_request_method(req),
                              "path", httpd_request_path(req), "q", httpd_request_query(req, "q"),
                              "flag", httpd_request_query(req, "flag"),
                              "hdr", httpd_request_header(req, "x-test-header"),
                              "missing", httpd_request_query(req, "nope"), "len", (json_int_t)blen,
                              "route", httpd_request_route(req));
    (void)body;
    resp->body = json_dumps(j, JSON_COMPACT);
    resp->body_len = strlen(resp->body);
    json_decref(j);
}

static void created(const httpd_request *req, httpd_response *resp, void *ud)
{
    size_t      blen;
    const char *body = httpd_request_body(req, &blen);

    resp->status = 201;
    resp->content_type = "application/octet-stream";
    resp->body = malloc(blen ? blen : 1);
    memcpy(resp->body, body, blen);
    resp->body_len = blen;
    resp->extra_header_name = "Location";
    resp->extra_header_value = "/v1/things/42";
}

static void broken(const httpd_request *req, httpd_response *resp, void *ud)
{
    resp->status = 0;
    resp->body = strdup("leaked if the server forgot to free it");
    resp->body_len = strlen(resp->body);
}

static void bad_header(const httpd_request *req, httpd_response *resp, void *ud)
{
    resp->extra_header_name = "X-Bad";
    resp->extra_header_value = "line\r\nInjected: yes";
}

static int ready_fn(void *ud, char *why, size_t why_len)
{
    fixture *f = ud;

    if (atomic_load(&f->ready))
        return 1;
    snprintf(why, why_len, "nats \"not\" connected");
    return 0;
}

static int setup(void **state)
{
    static fixture f;
    httpd_config   cfg = { "127.0.0.1:0", 1024, 4 };
    ep_err         err = {0};

    memset(&f, 0, sizeof f);
    f.reg = metrics_registry_create();
    metrics_counter_add(metrics_counter(f.reg, "ep_test_total", "A service metric.", NULL), 7);
    if (httpd_create(&cfg, &f.h, &err) != HTTPD_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    if (httpd_route(f.h, "GET", "/v1/echo", echo, "exact-get") != HTTPD_OK ||
        httpd_route(f.h, "POST", "/v1/echo", echo, "exact-post") != HTTPD_OK ||
        httpd_route(f.h, NULL, "/v1/any/*", echo, "prefix-any") != HTTPD_OK ||
        httpd_route(f.h, "GET", "/v1/any/deeper/*", echo, "prefix-longer") != HTTPD_OK ||
        httpd_route(f.h, "POST", "/v1/things", created, NULL) != HTTPD_OK ||
        httpd_route(f.h, "GET", "/v1/broken", broken, NULL) != HTTPD_OK ||
        httpd_route(f.h, "GET", "/v1/badheader", bad_header, NULL) != HTTPD_OK)
        return -1;
    assert_int_equal(httpd_route(f.h, "GET", "no-slash", echo, NULL), HTTPD_EINVAL);
    httpd_set_health(f.h, f.reg, ready_fn, &f);
    atomic_store(&f.ready, 1);
    assert_int_equal(httpd_port(f.h), 0);
    if (httpd_start(f.h, &err) != HTTPD_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    assert_int_equal(httpd_route(f.h, "GET", "/late", echo, NULL), HTTPD_EINVAL);
    snprintf(f.base, sizeof f.base, "http://127.0.0.1:%d", httpd_port(f.h));
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    httpd_destroy(f->h);
    metrics_registry_destroy(f->reg);
    return 0;
}

static void test_health_and_ready(void **state)
{
    fixture *f = *state;
    reply    r;
    json_t  *j;

    assert_true(httpd_port(f->h) > 0);
    r = get(f, "GET", "/healthz");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"status\":\"ok\"}");
    assert_string_equal(r.ctype, "application/json");
    free(r.body);

    r = get(f, "GET", "/readyz");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"ready\":true}");
    free(r.body);

    atomic_store(&f->ready, 0);
    r = get(f, "GET", "/readyz");
    assert_int_equal(r.status, 503);
    j = json_of(&r);
    assert_true(json_is_false(json_object_get(j, "ready")));
    assert_string_equal(jstr(j, "reason"), "nats \"not\" connected");
    json_decref(j);
    free(r.body);
    atomic_store(&f->ready, 1);
    r = get(f, "GET", "/readyz");
    assert_int_equal(r.status, 200);
    free(r.body);

    r = get(f, "POST", "/healthz");
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "GET, HEAD");
    free(r.body);
    r = get(f, "HEAD", "/healthz");
    assert_int_equal(r.status, 200);
    assert_null(r.body);
}

static void test_routes(void **state)
{
    fixture *f = *state;
    CURL    *c = curl_easy_init();
    char     url[256];
    reply    r;
    json_t  *j;

    snprintf(url, sizeof url, "%s/v1/echo?q=a%%20b&flag", f->base);
    assert_int_equal(request(c, "GET", url, NULL, 0, 0, "X-Test-Header: hv", &r), CURLE_OK);
    assert_int_equal(r.status, 200);
    j = json_of(&r);
    assert_string_equal(jstr(j, "tag"), "exact-get");
    assert_string_equal(jstr(j, "method"), "GET");
    assert_string_equal(jstr(j, "path"), "/v1/echo");
    assert_string_equal(jstr(j, "q"), "a b");
    assert_string_equal(jstr(j, "flag"), "");
    assert_string_equal(jstr(j, "hdr"), "hv");
    assert_true(json_is_null(json_object_get(j, "missing")));   /* absent query -> NULL */
    assert_string_equal(jstr(j, "route"), "/v1/echo");
    json_decref(j);
    free(r.body);

    snprintf(url, sizeof url, "%s/v1/echo", f->base);
    assert_int_equal(request(c, "POST", url, "hello", 5, 0, NULL, &r), CURLE_OK);
    j = json_of(&r);
    assert_string_equal(jstr(j, "tag"), "exact-post");
    assert_int_equal(json_integer_value(json_object_get(j, "len")), 5);
    json_decref(j);
    free(r.body);

    /* Prefixes: the longer one wins; any method on the shorter one. */
    r = get(f, "DELETE", "/v1/any/thing");
    j = json_of(&r);
    assert_string_equal(jstr(j, "tag"), "prefix-any");
    assert_string_equal(jstr(j, "path"), "/v1/any/thing");
    assert_string_equal(jstr(j, "route"), "/v1/any/*");
    json_decref(j);
    free(r.body);
    r = get(f, "GET", "/v1/any/deeper/x/y");
    j = json_of(&r);
    assert_string_equal(jstr(j, "tag"), "prefix-longer");
    json_decref(j);
    free(r.body);
    r = get(f, "PUT", "/v1/any/deeper/x");
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "GET");
    free(r.body);
    r = get(f, "GET", "/v1/any");       /* the prefix is "/v1/any/" */
    assert_int_equal(r.status, 404);
    free(r.body);

    /* HEAD on a GET route. */
    r = get(f, "HEAD", "/v1/echo");
    assert_int_equal(r.status, 200);
    free(r.body);

    /* Status, content type, extra header, binary body. */
    snprintf(url, sizeof url, "%s/v1/things", f->base);
    assert_int_equal(request(c, "POST", url, "a\0b", 3, 0, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.location, "/v1/things/42");
    assert_string_equal(r.ctype, "application/octet-stream");
    assert_int_equal(r.len, 3);
    assert_memory_equal(r.body, "a\0b", 3);
    free(r.body);
    curl_easy_cleanup(c);
}

static void test_errors(void **state)
{
    fixture *f = *state;
    CURL    *c = curl_easy_init();
    char     url[256], big[4096];
    reply    r;
    json_t  *j;

    r = get(f, "GET", "/nope/%22quoted%22%0A");
    assert_int_equal(r.status, 404);
    assert_string_equal(r.ctype, "application/json");
    j = json_of(&r);
    assert_string_equal(jstr(j, "error"), "not found");
    assert_string_equal(jstr(j, "path"), "/nope/\"quoted\"\n");
    json_decref(j);
    free(r.body);

    r = get(f, "DELETE", "/v1/echo");
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "GET, POST");
    j = json_of(&r);
    assert_string_equal(jstr(j, "error"), "method not allowed");
    json_decref(j);
    free(r.body);

    /* Over the limit with Content-Length: refused before the upload. */
    memset(big, 'x', sizeof big);
    snprintf(url, sizeof url, "%s/v1/echo", f->base);
    assert_int_equal(request(c, "POST", url, big, 1025, 0, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 413);
    j = json_of(&r);
    assert_string_equal(jstr(j, "error"), "request body too large");
    assert_int_equal(json_integer_value(json_object_get(j, "limit")), 1024);
    json_decref(j);
    free(r.body);
    /* Chunked, growing over the limit while it arrives. */
    assert_int_equal(request(c, "POST", url, big, sizeof big, 1, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 413);
    free(r.body);
    /* Exactly at the limit is fine, chunked or not. */
    assert_int_equal(request(c, "POST", url, big, 1024, 0, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 200);
    free(r.body);
    assert_int_equal(request(c, "POST", url, big, 1024, 1, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 200);
    j = json_of(&r);
    assert_int_equal(json_integer_value(json_object_get(j, "len")), 1024);
    json_decref(j);
    free(r.body);

    r = get(f, "GET", "/v1/broken");
    assert_int_equal(r.status, 500);
    j = json_of(&r);
    assert_non_null(strstr(jstr(j, "error"), "no valid status"));
    json_decref(j);
    free(r.body);
    r = get(f, "GET", "/v1/badheader");
    assert_int_equal(r.status, 500);
    free(r.body);
    curl_easy_cleanup(c);
}

#define CLIENTS 8
#define PER_CLIENT 200

static void *client(void *arg)
{
    fixture *f = arg;
    CURL    *c = curl_easy_init();
    char     url[128];
    reply    r;
    long     ok = 0;

    snprintf(url, sizeof url, "%s/v1/echo?q=conc", f->base);
    for (int i = 0; i < PER_CLIENT; i++) {
        if (request(c, "GET", url, NULL, 0, 0, NULL, &r) == CURLE_OK && r.status == 200 && r.body &&
            strstr(r.body, "\"q\":\"conc\""))
            ok++;
        free(r.body);
    }
    curl_easy_cleanup(c);
    return (void *)ok;
}

static unsigned long long metric_value(const char *text, const char *series)
{
    const char *p = strstr(text, series);

    if (p == NULL)
        fail_msg("series %s not in /metrics:\n%s", series, text);
    return strtoull(p + strlen(series), NULL, 10);
}

static void test_concurrent_and_metrics(void **state)
{
    fixture  *f = *state;
    pthread_t t[CLIENTS];
    void     *ok;
    reply     r;

    for (int i = 0; i < CLIENTS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, client, f), 0);
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(t[i], &ok);
        assert_int_equal((long)ok, PER_CLIENT);
    }
    r = get(f, "GET", "/metrics");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "text/plain; version=0.0.4; charset=utf-8");
    /* The service's registry first, then the server's own families. */
    assert_non_null(strstr(r.body, "# TYPE ep_test_total counter\nep_test_total 7\n"));
    assert_true(strstr(r.body, "ep_test_total") < strstr(r.body, "http_requests_total"));
    assert_non_null(strstr(r.body, "# HELP http_requests_total "));
    assert_non_null(strstr(r.body, "# TYPE http_request_duration_seconds histogram\n"));
    /* This group's requests: 8 x 200 concurrent GETs plus those of the
     * earlier tests on the same route (1 GET, 1 HEAD, 1 POST + 3 413s...)
     * -- so compare with a fresh count taken from the concurrent part. */
    unsigned long long ok200 = metric_value(r.body, "http_requests_total{route=\"/v1/echo\",code=\"200\"} ");
    assert_true(ok200 >= CLIENTS * PER_CLIENT);
    unsigned long long cnt = metric_value(r.body, "http_request_duration_seconds_count{route=\"/v1/echo\"} ");
    unsigned long long inf = metric_value(r.body, "http_request_duration_seconds_bucket{route=\"/v1/echo\",le=\"+Inf\"} ");
    assert_int_equal(cnt, inf);
    assert_true(cnt >= ok200);
    assert_true(metric_value(r.body, "http_requests_total{route=\"unmatched\",code=\"404\"} ") >= 1);
    /* 413s are counted under the route they were sent to. */
    assert_int_equal(metric_value(r.body, "http_requests_total{route=\"/v1/echo\",code=\"413\"} "), 2);
    free(r.body);

    /* Exact: another 10 requests move the counter by exactly 10. */
    for (int i = 0; i < 10; i++) {
        reply x = get(f, "GET", "/v1/echo");
        free(x.body);
    }
    r = get(f, "GET", "/metrics");
    assert_int_equal(metric_value(r.body, "http_requests_total{route=\"/v1/echo\",code=\"200\"} "), ok200 + 10);
    free(r.body);
}

static void test_listen_errors(void **state)
{
    fixture           *f = *state;
    httpd             *h = NULL;
    ep_err             err = {0};
    char               addr[64];
    static const char *const bad[] = { "127.0.0.1", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:8x",
                                       "[::1:80", "a:b:80" };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        httpd_config cfg = { bad[i], 0, 0 };
        assert_int_equal(httpd_create(&cfg, &h, &err), HTTPD_OK);
        assert_int_equal(httpd_start(h, &err), HTTPD_EINVAL);
        assert_non_null(strstr(err.msg, "bad listen address"));
        httpd_destroy(h);
    }
    /* The port the fixture holds is in use. */
    snprintf(addr, sizeof addr, "127.0.0.1:%d", httpd_port(f->h));
    httpd_config cfg = { addr, 0, 1 };
    assert_int_equal(httpd_create(&cfg, &h, &err), HTTPD_OK);
    assert_int_equal(httpd_start(h, &err), HTTPD_ELISTEN);
    assert_non_null(strstr(err.msg, "Address already in use"));
    assert_non_null(strstr(err.msg, addr));
    httpd_destroy(h);

    httpd_config none = { NULL, 0, 0 };
    assert_int_equal(httpd_create(&none, &h, &err), HTTPD_EINVAL);
    assert_null(h);
    httpd_destroy(NULL);

    /* IPv6 loopback and one thread, started and stopped at once. */
    httpd_config v6 = { "[::1]:0", 0, 1 };
    assert_int_equal(httpd_create(&v6, &h, &err), HTTPD_OK);
    if (httpd_start(h, &err) == HTTPD_OK) {
        CURL *c = curl_easy_init();
        reply r;
        snprintf(addr, sizeof addr, "http://[::1]:%d/healthz", httpd_port(h));
        assert_int_equal(request(c, "GET", addr, NULL, 0, 0, NULL, &r), CURLE_OK);
        assert_int_equal(r.status, 200);
        free(r.body);
        curl_easy_cleanup(c);
    } else {
        fprintf(stderr, "note: no IPv6 loopback here: %s\n", err.msg);
    }
    httpd_destroy(h);
}

/* A client that sends half a body and hangs up must cost nothing: the
 * request context is freed (valgrind/ASan see it) and service goes on. */
static void test_abort_mid_upload(void **state)
{
    fixture           *f = *state;
    struct sockaddr_in sa = { 0 };
    static const char  req[] = "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 900\r\n\r\n0123456789";

    for (int i = 0; i < 20; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fd >= 0);
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)httpd_port(f->h));
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
        assert_int_equal(write(fd, req, sizeof req - 1), (ssize_t)(sizeof req - 1));
        close(fd);
    }
    reply r = get(f, "GET", "/healthz");
    assert_int_equal(r.status, 200);
    free(r.body);
}

typedef struct slow {
    sem_t       entered;
    atomic_int  finished;
    int         port;
    long        status;
} slow;

static void slow_handler(const httpd_request *req, httpd_response *resp, void *ud)
{
    slow           *sl = ud;
    struct timespec ts = { 0, 200 * 1000000L };

    sem_post(&sl->entered);
    nanosleep(&ts, NULL);   /* the work that is in flight during destroy */
    atomic_store(&sl->finished, 1);
    resp->body = strdup("{}");
    resp->body_len = 2;
}

static void *slow_client(void *arg)
{
    slow *sl = arg;
    CURL *c = curl_easy_init();
    char  url[64];
    reply r;

    snprintf(url, sizeof url, "http://127.0.0.1:%d/slow", sl->port);
    request(c, "GET", url, NULL, 0, 0, NULL, &r);
    sl->status = r.status;
    free(r.body);
    curl_easy_cleanup(c);
    return NULL;
}

static void test_destroy_waits_for_handlers(void **state)
{
    httpd       *h = NULL;
    httpd_config cfg = { "127.0.0.1:0", 0, 2 };
    ep_err       err = {0};
    slow         sl;
    pthread_t    t;

    (void)state;
    memset(&sl, 0, sizeof sl);
    sem_init(&sl.entered, 0, 0);
    assert_int_equal(httpd_create(&cfg, &h, &err), HTTPD_OK);
    assert_int_equal(httpd_route(h, "GET", "/slow", slow_handler, &sl), HTTPD_OK);
    assert_int_equal(httpd_start(h, &err), HTTPD_OK);
    sl.port = httpd_port(h);
    assert_int_equal(pthread_create(&t, NULL, slow_client, &sl), 0);
    sem_wait(&sl.entered);
    httpd_destroy(h);   /* must not return while slow_handler runs */
    assert_int_equal(atomic_load(&sl.finished), 1);
    pthread_join(t, NULL);
    sem_destroy(&sl.entered);
}

static void test_bench_healthz(void **state)
{
    fixture        *f = *state;
    CURL           *c = curl_easy_init();
    const char     *env = getenv("EP_HTTPD_BENCH_N");
    long            n = env ? atol(env) : 5000, ok = 0, conns = 0;
    char            url[128];
    reply           r;
    struct timespec t0, t1;

    snprintf(url, sizeof url, "%s/healthz", f->base);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++) {
        memset(&r, 0, sizeof r);
        /* Keep the handle's connection: no curl_easy_reset between requests. */
        if (i == 0) {
            curl_easy_setopt(c, CURLOPT_URL, url);
            curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        }
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
        if (curl_easy_perform(c) == CURLE_OK) {
            long code = 0, nc = 0;
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
            curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &nc);
            ok += code == 200;
            conns += nc;
        }
        free(r.body);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    fprintf(stderr, "bench: %ld sequential GET /healthz on %ld connection(s): %.0f req/s\n", n, conns,
            (double)n / s);
    assert_int_equal(ok, n);
    assert_int_equal(conns, 1);
    curl_easy_cleanup(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_and_ready),
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_concurrent_and_metrics),
        cmocka_unit_test(test_listen_errors),
        cmocka_unit_test(test_abort_mid_upload),
        cmocka_unit_test(test_destroy_waits_for_handlers),
        cmocka_unit_test(test_bench_healthz),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
