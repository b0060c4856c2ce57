/*
 * httpd: routes, request bodies, operational endpoints and server metrics
 * on top of libmicrohttpd.
 *
 * MHD calls the access handler several times per request: once with the
 * headers (a per-request context is allocated then), once per chunk of
 * body, and once more with no data when the body is complete -- only then
 * is the route handler called, with the whole body in memory.  A request
 * whose Content-Length is over the limit is answered 413 from the first call
 * so the client never uploads it; a chunked body that grows over the limit
 * is discarded as it arrives and answered 413 at the end.  The listening
 * socket is created here rather than by MHD so bind errors name the address
 * and errno, and so ":0" can report the port the kernel chose.  The route
 * table is written only before httpd_start and read-only afterwards, which
 * is why the handler threads can read it without a lock.
 */
#include "httpd/httpd.h"
#include "strbuf/strbuf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#define DEFAULT_MAX_BODY (1024 * 1024)
#define DEFAULT_THREADS  2
#define IDLE_TIMEOUT_S   30u                 /* drop idle keep-alive connections */
#define CONN_MEMORY      (128u * 1024u)      /* per-connection header space (large JWT cookies) */

static const double duration_buckets[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                           0.1,    0.25,  0.5,    1,     2.5,  5,     10 };
static const char requests_help[] = "HTTP requests answered, by route pattern and status code.";
static const char duration_help[] = "Time from request headers to response queued, by route pattern.";

typedef struct route {
    char              *method;    /* NULL = any */
    char              *pattern;   /* as registered, '*' included */
    size_t             plen;      /* length to compare (without the '*' for prefixes) */
    int                prefix;
    httpd_handler      fn;
    void              *ud;
    metrics_histogram *duration;  /* per pattern, shared by its methods */
} route;

struct httpd {
    httpd_config       cfg;
    char              *listen;
    route             *routes;
    size_t             nroutes;
    metrics_registry  *reg;        /* borrowed, may be NULL */
    httpd_ready_fn     ready;
    void              *ready_ud;
    metrics_registry  *own;        /* the server's own metrics */
    metrics_histogram *dur_builtin[4];   /* /healthz /readyz /metrics unmatched */
    struct MHD_Daemon *daemon;
    int                port;
};

struct httpd_request {
    httpd                 *h;
    struct MHD_Connection *conn;
    const char            *method;
    const char            *path;
    const char            *route;       /* pattern, or a builtin label; NULL = unmatched */
    const struct route    *pat;         /* the best matching route pattern, if any */
    int                    builtin;     /* 0..2 for /healthz /readyz /metrics, -1 otherwise */
    metrics_histogram     *duration;
    char                  *body;
    size_t                 len, cap;
    int                    too_large;
    int                    answered;
    struct timespec        start;
};

static const char *const status_text[] = {
#define HTTPD__TEXT(name, value, text) [value] = text,
    HTTPD_STATUS_MAP(HTTPD__TEXT)
#undef HTTPD__TEXT
};

const char *httpd_strstatus(int status)
{
    if (status < 0 || (size_t)status >= sizeof status_text / sizeof status_text[0] ||
        status_text[status] == NULL)
        return "unknown status";
    return status_text[status];
}

/* ---- create / routes ---------------------------------------------------------------- */

static metrics_histogram *duration_for(httpd *h, const char *label)
{
    char esc[512], labels[560];

    metrics_label_escape(label, esc, sizeof esc);
    snprintf(labels, sizeof labels, "route=\"%s\"", esc);
    return metrics_histogram(h->own, "http_request_duration_seconds", duration_help, labels,
                             duration_buckets, sizeof duration_buckets / sizeof duration_buckets[0]);
}

int httpd_create(const httpd_config *cfg, httpd **out, ep_err *err)
{
    static const char *const builtin[4] = { "/healthz", "/readyz", "/metrics", "unmatched" };
    httpd *h;

    *out = NULL;
    if (cfg == NULL || cfg->listen == NULL)
        return ep_err_set(err, HTTPD_EINVAL, "httpd: no listen address");
    if ((h = calloc(1, sizeof *h)) == NULL)
        return ep_err_set(err, HTTPD_ENOMEM, "httpd: out of memory");
    h->cfg = *cfg;
    if (h->cfg.max_body == 0)
        h->cfg.max_body = DEFAULT_MAX_BODY;
    if (h->cfg.threads == 0)
        h->cfg.threads = DEFAULT_THREADS;
    h->listen = strdup(cfg->listen);
    h->cfg.listen = h->listen;
    h->own = metrics_registry_create();
    if (h->listen == NULL || h->own == NULL)
        goto oom;
    for (int i = 0; i < 4; i++)
        if ((h->dur_builtin[i] = duration_for(h, builtin[i])) == NULL)
            goto oom;
    *out = h;
    return HTTPD_OK;
oom:
    httpd_destroy(h);
    return ep_err_set(err, HTTPD_ENOMEM, "httpd: out of memory");
}

int httpd_route(httpd *h, const char *method, const char *path, httpd_handler fn, void *ud)
{
    route *nr, *r;
    size_t plen;

    if (h == NULL || h->daemon != NULL || path == NULL || path[0] != '/' || fn == NULL)
        return HTTPD_EINVAL;
    plen = strlen(path);
    nr = realloc(h->routes, (h->nroutes + 1) * sizeof *nr);
    if (nr == NULL)
        return HTTPD_ENOMEM;
    h->routes = nr;
    r = &nr[h->nroutes];
    memset(r, 0, sizeof *r);
    r->prefix = path[plen - 1] == '*';
    r->plen = r->prefix ? plen - 1 : plen;
    r->fn = fn;
    r->ud = ud;
    r->pattern = strdup(path);
    r->method = method ? strdup(method) : NULL;
    if (r->pattern == NULL || (method != NULL && r->method == NULL) ||
        (r->duration = duration_for(h, path)) == NULL) {
        free(r->pattern);
        free(r->method);
        return HTTPD_ENOMEM;
    }
    h->nroutes++;
    return HTTPD_OK;
}

void httpd_set_health(httpd *h, metrics_registry *reg, httpd_ready_fn ready, void *ud)
{
    if (h == NULL || h->daemon != NULL)
        return;
    h->reg = reg;
    h->ready = ready;
    h->ready_ud = ud;
}

/* ---- request accessors ------------------------------------------------------------ */

const char *httpd_request_method(const httpd_request *r)
{
    return r->method;
}

const char *httpd_request_path(const httpd_request *r)
{
    return r->path;
}

const char *httpd_request_route(const httpd_request *r)
{
    return r->route;
}

const char *httpd_request_query(const httpd_request *r, const char *name)
{
    const char *v = NULL;
    size_t      vlen = 0;

    if (name == NULL)
        return NULL;
    if (MHD_lookup_connection_value_n(r->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name), &v, &vlen) != MHD_YES)
        return NULL;
    return v ? v : "";   /* "?flag" without '=' is present and empty */
}

const char *httpd_request_header(const httpd_request *r, const char *name)
{
    if (name == NULL)
        return NULL;
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *httpd_request_body(const httpd_request *r, size_t *len)
{
    if (len != NULL)
        *len = r->len;
    return r->body ? r->body : "";
}

/* ---- responding -------------------------------------------------------------------- */

static double since(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void count(httpd_request *rq, int status)
{
    char esc[512], labels[600];
    const char *label = rq->route ? rq->route : "unmatched";

    metrics_label_escape(label, esc, sizeof esc);
    snprintf(labels, sizeof labels, "route=\"%s\",code=\"%d\"", esc, status);
    metrics_counter_add(metrics_counter(rq->h->own, "http_requests_total", requests_help, labels), 1);
    metrics_histogram_observe(rq->duration ? rq->duration : rq->h->dur_builtin[3], since(&rq->start));
}

/* Queue a response and take over body (malloc'd or NULL) in every case. */
static enum MHD_Result respond(httpd_request *rq, int status, const char *ctype, char *body, size_t len,
                               const char *hname, const char *hvalue)
{
    struct MHD_Response *resp;
    enum MHD_Result      ret;

    if (body != NULL)
        resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    else
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (resp == NULL) {
        free(body);
        return MHD_NO;   /* MHD closes the connection */
    }
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype ? ctype : "application/json") != MHD_YES ||
        (hname != NULL && hvalue != NULL && MHD_add_response_header(resp, hname, hvalue) != MHD_YES)) {
        /* A header MHD refuses (CR/LF in it) is a handler bug: answer 500. */
        MHD_destroy_response(resp);
        static const char msg[] = "{\"error\":\"internal error: invalid response header\"}";
        resp = MHD_create_response_from_buffer(sizeof msg - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
        if (resp == NULL)
            return MHD_NO;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        status = 500;
    }
    rq->answered = 1;
    count(rq, status);
    ret = MHD_queue_response(rq->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* A JSON body from alternating key, value strings ended by NULL.  Keys are
 * literals in this file; a key starting with '#' marks its value as raw JSON
 * (true, a number), so values -- which may come from the client -- are
 * always escaped as strings. */
static enum MHD_Result respond_json(httpd_request *rq, int status, const char *hname, const char *hvalue, ...)
{
    ep_strbuf   b;
    va_list     ap;
    const char *k, *v;
    int         first = 1;

    ep_strbuf_init(&b);
    ep_strbuf_put(&b, "{", 1);
    va_start(ap, hvalue);
    while ((k = va_arg(ap, const char *)) != NULL) {
        v = va_arg(ap, const char *);
        if (!first)
            ep_strbuf_put(&b, ",", 1);
        first = 0;
        ep_strbuf_json_string(&b, k[0] == '#' ? k + 1 : k);
        ep_strbuf_put(&b, ":", 1);
        if (k[0] == '#')
            ep_strbuf_puts(&b, v);
        else
            ep_strbuf_json_string(&b, v);
    }
    va_end(ap);
    ep_strbuf_put(&b, "}", 1);
    if (ep_strbuf_failed(&b)) {
        ep_strbuf_dispose(&b);
        return MHD_NO;
    }
    return respond(rq, status, "application/json", b.p, b.len, hname, hvalue);
}

static int is_get(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

static enum MHD_Result builtin(httpd_request *rq, int which)
{
    httpd *h = rq->h;

    if (!is_get(rq->method))
        return respond_json(rq, 405, "Allow", "GET, HEAD", "error", "method not allowed", "method",
                            rq->method, NULL);
    if (which == 0)
        return respond_json(rq, 200, NULL, NULL, "status", "ok", NULL);
    if (which == 1) {
        char why[256] = "";
        if (h->ready == NULL || h->ready(h->ready_ud, why, sizeof why) == 1)
            return respond_json(rq, 200, NULL, NULL, "#ready", "true", NULL);
        why[sizeof why - 1] = '\0';
        return respond_json(rq, 503, NULL, NULL, "#ready", "false", "reason",
                            why[0] ? why : "not ready", NULL);
    }
    /* /metrics: the service's registry, then the server's own. */
    size_t la = 0, lb = 0;
    char  *a = h->reg ? metrics_render(h->reg, &la) : NULL;
    char  *c = metrics_render(h->own, &lb);
    char  *all = (h->reg == NULL || a != NULL) && c != NULL ? malloc(la + lb + 1) : NULL;
    if (all == NULL) {
        free(a);
        free(c);
        return respond_json(rq, 500, NULL, NULL, "error", "out of memory rendering metrics", NULL);
    }
    if (la > 0)
        memcpy(all, a, la);
    memcpy(all + la, c, lb + 1);
    free(a);
    free(c);
    return respond(rq, 200, "text/plain; version=0.0.4; charset=utf-8", all, la + lb, NULL, NULL);
}

/* Exact beats prefix; a longer prefix beats a shorter one. */
static const route *best_pattern(const httpd *h, const char *path)
{
    const route *best = NULL;
    size_t       plen = strlen(path), best_score = 0;

    for (size_t i = 0; i < h->nroutes; i++) {
        const route *r = &h->routes[i];
        size_t       score;
        if (r->prefix) {
            if (plen < r->plen || strncmp(path, r->pattern, r->plen) != 0)
                continue;
            score = r->plen + 1;
        } else {
            if (plen != r->plen || strcmp(path, r->pattern) != 0)
                continue;
            score = SIZE_MAX;
        }
        if (best == NULL || score > best_score) {
            best = r;
            best_score = score;
        }
    }
    return best;
}

static int method_matches(const route *r, const char *method)
{
    if (r->method == NULL || strcmp(r->method, method) == 0)
        return 1;
    return strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0;
}

/* Decide which route (or built-in) the request belongs to, once, at its
 * first callback, so every response -- 413s included -- is counted under
 * the right route label. */
static void classify(httpd_request *rq)
{
    static const char *const names[3] = { "/healthz", "/readyz", "/metrics" };

    rq->builtin = -1;
    for (int i = 0; i < 3; i++) {
        if (strcmp(rq->path, names[i]) == 0) {
            rq->builtin = i;
            rq->route = names[i];
            rq->duration = rq->h->dur_builtin[i];
            return;
        }
    }
    rq->pat = best_pattern(rq->h, rq->path);
    if (rq->pat != NULL) {
        rq->route = rq->pat->pattern;
        rq->duration = rq->pat->duration;
    }
}

static enum MHD_Result dispatch(httpd_request *rq)
{
    httpd         *h = rq->h;
    const route   *pat, *r = NULL;
    httpd_response resp = { 200, NULL, NULL, 0, NULL, NULL };

    if (rq->builtin >= 0)
        return builtin(rq, rq->builtin);
    pat = rq->pat;
    if (pat == NULL)
        return respond_json(rq, 404, NULL, NULL, "error", "not found", "path", rq->path, NULL);
    for (size_t i = 0; i < h->nroutes && r == NULL; i++)
        if (strcmp(h->routes[i].pattern, pat->pattern) == 0 && method_matches(&h->routes[i], rq->method))
            r = &h->routes[i];
    if (r == NULL) {
        char allow[256] = "";
        for (size_t i = 0; i < h->nroutes; i++) {
            const route *x = &h->routes[i];
            if (strcmp(x->pattern, pat->pattern) != 0 || x->method == NULL || strstr(allow, x->method))
                continue;
            size_t used = strlen(allow);
            snprintf(allow + used, sizeof allow - used, "%s%s", used ? ", " : "", x->method);
        }
        return respond_json(rq, 405, "Allow", allow, "error", "method not allowed", "method", rq->method,
                            "allow", allow, NULL);
    }
    r->fn(rq, &resp, r->ud);
    if (resp.status < 100 || resp.status > 599) {
        free(resp.body);
        return respond_json(rq, 500, NULL, NULL, "error", "internal error: handler set no valid status", NULL);
    }
    return respond(rq, resp.status, resp.content_type, resp.body, resp.body ? resp.body_len : 0,
                   resp.extra_header_name, resp.extra_header_value);
}

static enum MHD_Result too_large(httpd_request *rq)
{
    char limit[32];

    snprintf(limit, sizeof limit, "%zu", rq->h->cfg.max_body);
    return respond_json(rq, 413, NULL, NULL, "error", "request body too large", "#limit", limit, NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    httpd         *h = cls;
    httpd_request *rq = *con_cls;

    if (rq == NULL) {
        const char *cl;
        if ((rq = calloc(1, sizeof *rq)) == NULL)
            return MHD_NO;
        rq->h = h;
        rq->conn = conn;
        rq->method = method;
        rq->path = url;
        clock_gettime(CLOCK_MONOTONIC, &rq->start);
        classify(rq);
        *con_cls = rq;
        cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl != NULL) {
            char              *end;
            unsigned long long v;
            errno = 0;
            v = strtoull(cl, &end, 10);
            if (errno != 0 || *end != '\0' || v > h->cfg.max_body)
                return too_large(rq);
        }
        return MHD_YES;
    }
    rq->conn = conn;
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (rq->answered || rq->too_large)
            return MHD_YES;
        if (rq->len + n > h->cfg.max_body) {
            rq->too_large = 1;
            free(rq->body);
            rq->body = NULL;
            rq->len = rq->cap = 0;
            return MHD_YES;
        }
        if (rq->len + n + 1 > rq->cap) {
            size_t ncap = rq->cap ? rq->cap : 4096;
            char  *nb;
            while (ncap < rq->len + n + 1)
                ncap *= 2;
            if ((nb = realloc(rq->body, ncap)) == NULL)
                return MHD_NO;
            rq->body = nb;
            rq->cap = ncap;
        }
        memcpy(rq->body + rq->len, upload_data, n);
        rq->len += n;
        rq->body[rq->len] = '\0';
        return MHD_YES;
    }
    if (rq->answered)
        return MHD_YES;
    if (rq->too_large)
        return too_large(rq);
    return dispatch(rq);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    httpd_request *rq = *con_cls;

    if (rq == NULL)
        return;
    free(rq->body);
    free(rq);
    *con_cls = NULL;
}

/* ---- start / stop ------------------------------------------------------------------- */

/* Split "host:port", ":port" or "[v6]:port". */
static int split_listen(const char *listen, char *host, size_t hlen, char *port, size_t plen)
{
    const char *colon;

    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (close == NULL || close[1] != ':' || (size_t)(close - listen - 1) >= hlen)
            return -1;
        memcpy(host, listen + 1, (size_t)(close - listen - 1));
        host[close - listen - 1] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(listen, ':');
        if (colon == NULL || (size_t)(colon - listen) >= hlen || memchr(listen, ':', (size_t)(colon - listen)))
            return -1;
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = '\0';
    }
    if (colon[1] == '\0' || strlen(colon + 1) >= plen || strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
        atol(colon + 1) > 65535)
        return -1;
    snprintf(port, plen, "%s", colon + 1);
    return 0;
}

static int open_listener(httpd *h, int *family, ep_err *err)
{
    char             host[256], port[8];
    struct addrinfo  hints, *res = NULL, *ai;
    int              fd = -1, gai, saved = 0, one = 1, zero = 0;

    if (split_listen(h->listen, host, sizeof host, port, sizeof port) != 0) {
        ep_err_set(err, HTTPD_EINVAL, "httpd: bad listen address \"%s\" (want host:port, :port or [v6]:port)",
                   h->listen);
        return -1;
    }
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    /* ":port" means every address: prefer one dual-stack IPv6 socket. */
    hints.ai_family = host[0] == '\0' ? AF_INET6 : AF_UNSPEC;
    gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (gai != 0 && host[0] == '\0') {
        hints.ai_family = AF_INET;
        gai = getaddrinfo(NULL, port, &hints, &res);
    }
    if (gai != 0) {
        ep_err_set(err, HTTPD_ELISTEN, "httpd: resolving %s: %s", h->listen, gai_strerror(gai));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (ai->ai_family == AF_INET6 && host[0] == '\0')
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0) {
            *family = ai->ai_family;
            break;
        }
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        ep_err_set(err, HTTPD_ELISTEN, "httpd: listen on %s: %s", h->listen, strerror(saved ? saved : EINVAL));
    return fd;
}

int httpd_start(httpd *h, ep_err *err)
{
    struct MHD_OptionItem opts[8];
    struct sockaddr_storage ss;
    socklen_t             sl = sizeof ss;
    struct stat           st;
    unsigned              flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
    int                   fd, family = AF_INET, n = 0;

    if (h == NULL || h->daemon != NULL)
        return ep_err_set(err, HTTPD_EINVAL, "httpd: NULL or already started");
    if ((fd = open_listener(h, &family, err)) < 0)
        return err ? err->code : HTTPD_ELISTEN;
    if (fstat(fd, &st) != 0)
        memset(&st, 0, sizeof st);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        h->port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_LISTEN_SOCKET, fd, NULL };
    opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, h };
    opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT, IDLE_TIMEOUT_S, NULL };
    opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONN_MEMORY, NULL };
    if (h->cfg.threads > 1)
        opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_THREAD_POOL_SIZE, h->cfg.threads, NULL };
    opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
    h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (h->daemon == NULL) {
        struct stat now;
        /* MHD closes the socket on some failure paths and not on others;
         * close it only if the descriptor still is our socket, so a
         * number another thread reused in between is never closed. */
        if (fstat(fd, &now) == 0 && now.st_ino == st.st_ino && now.st_dev == st.st_dev)
            close(fd);
        h->port = 0;
        return ep_err_set(err, HTTPD_ESTART, "httpd: libmicrohttpd failed to start on %s", h->listen);
    }
    return HTTPD_OK;
}

int httpd_port(const httpd *h)
{
    return h && h->daemon ? h->port : 0;
}

void httpd_destroy(httpd *h)
{
    if (h == NULL)
        return;
    if (h->daemon != NULL)
        MHD_stop_daemon(h->daemon);   /* joins the threads, closes the listener */
    for (size_t i = 0; i < h->nroutes; i++) {
        free(h->routes[i].method);
        free(h->routes[i].pattern);
    }
    free(h->routes);
    metrics_registry_destroy(h->own);
    free(h->listen);
    free(h);
}
