/*
 * httpd: the small HTTP server inside every envplane service.
 *
 * Built on libmicrohttpd with its own thread pool.  A service registers
 * routes (exact path or prefix) before httpd_start; handlers run on MHD's
 * threads, get the whole request -- headers, query, the body read into
 * memory up to a limit -- and fill one response.  Every server also answers
 * the operational endpoints Kubernetes and Prometheus expect: /healthz
 * (liveness), /readyz (readiness from a service callback) and /metrics (the
 * service's registry plus the server's own request counters and latency
 * histogram).  Errors the server produces itself (404, 405, 413, 500) are
 * JSON bodies, so clients parse one format.  The platform-api and the KBS
 * endpoint are built on this, hence the strict limits on bodies and idle
 * connections.
 */
#ifndef EP_HTTPD_H
#define EP_HTTPD_H

#include <stddef.h>

#include "err/err.h"
#include "metrics/metrics.h"

#define HTTPD_STATUS_MAP(X)                                                   \
    X(HTTPD_OK,       0, "ok")                                                \
    X(HTTPD_EINVAL,   1, "invalid argument (listen address, route, state)")   \
    X(HTTPD_ELISTEN,  2, "could not create, bind or listen on the socket")    \
    X(HTTPD_ESTART,   3, "libmicrohttpd refused to start")                    \
    X(HTTPD_ENOMEM,   4, "out of memory")

typedef enum {
#define HTTPD__ENUM(name, value, text) name = value,
    HTTPD_STATUS_MAP(HTTPD__ENUM)
#undef HTTPD__ENUM
} httpd_status;

/* Static string for a status value ("unknown status" if out of range). */
const char *httpd_strstatus(int status);

typedef struct httpd httpd;
typedef struct httpd_request httpd_request;   /* opaque; valid only during the handler call */

/* Request accessors.  Every returned string is borrowed and valid until the
 * handler returns. */
const char *httpd_request_method(const httpd_request *r);                     /* "GET" */
const char *httpd_request_path(const httpd_request *r);                       /* without query, percent-decoded */
const char *httpd_request_query(const httpd_request *r, const char *name);    /* NULL if absent */
const char *httpd_request_header(const httpd_request *r, const char *name);   /* case-insensitive; NULL if absent */
/* The body (NUL-terminated for convenience; may contain NULs), "" if none. */
const char *httpd_request_body(const httpd_request *r, size_t *len);
/* The route pattern that matched, as registered (with its trailing '*' for
 * a prefix), for labels and logs. */
const char *httpd_request_route(const httpd_request *r);

typedef struct httpd_response {
    int         status;              /* preset to 200; 0 or out of 100..599 becomes 500 */
    const char *content_type;        /* borrowed, must outlive the handler (a literal); NULL = application/json */
    char       *body;                /* malloc'd, taken over by the server (also on error); NULL = empty */
    size_t      body_len;
    const char *extra_header_name, *extra_header_value;   /* one optional header (Location, Set-Cookie); borrowed */
} httpd_response;

/* Called on MHD's threads, possibly concurrently: must be thread-safe.  ud is
 * the pointer given to httpd_route, borrowed. */
typedef void (*httpd_handler)(const httpd_request *req, httpd_response *resp, void *ud);
/* Readiness: return 1 when ready; otherwise fill why (NUL-terminated) and
 * return 0.  Called on MHD's threads. */
typedef int (*httpd_ready_fn)(void *ud, char *why, size_t why_len);

typedef struct httpd_config {
    const char *listen;    /* "127.0.0.1:8080", ":8080" (all IPv4+IPv6), "[::1]:8080", "127.0.0.1:0" (0 = any free port) */
    size_t      max_body;  /* 0 = 1 MiB; larger bodies get 413 with a JSON error */
    unsigned    threads;   /* 0 = 2 */
} httpd_config;

/* Create a stopped server (nothing bound yet).  cfg is copied.  Returns
 * HTTPD_OK and *out, or a status with err filled. */
int httpd_create(const httpd_config *cfg, httpd **out, ep_err *err);

/* Register fn for method ("GET", "POST" ...; NULL = any) on path: exact, or
 * a prefix if it ends with '*' ("/v1/envs/" followed by '*' matches
 * "/v1/envs/" and everything below).  Exact routes win over prefixes, longer prefixes over
 * shorter.  A path that matches with another method gets 405 with Allow.
 * Only before httpd_start.  method, path copied; ud borrowed. */
int httpd_route(httpd *h, const char *method, const char *path, httpd_handler fn, void *ud);

/* Serve reg (borrowed; may be NULL) at /metrics and use ready (may be NULL =
 * always ready) for /readyz.  Built in, always present:
 *   GET /healthz -> 200 {"status":"ok"}
 *   GET /readyz  -> 200 {"ready":true} | 503 {"ready":false,"reason":why}
 *   GET /metrics -> text/plain; version=0.0.4: reg, then the server's own
 *       http_requests_total{route,code} and
 *       http_request_duration_seconds{route} histogram.
 * Only before httpd_start. */
void httpd_set_health(httpd *h, metrics_registry *reg, httpd_ready_fn ready, void *ud);

/* Bind, listen and start the threads.  Errors name the address and errno. */
int httpd_start(httpd *h, ep_err *err);

/* The bound port (useful with :0), 0 if not started. */
int httpd_port(const httpd *h);

/* Stop accepting, wait for in-flight handlers, free everything.  Accepts
 * NULL. */
void httpd_destroy(httpd *h);

#endif
