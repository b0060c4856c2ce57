/*
 * svc: loop thread, worker thread, signals, health endpoint and graceful
 * stop.  The loop thread is the only one that touches loop handles; the
 * worker tells it "I am done" through a uv_async_t, the one libuv call that
 * is safe from another thread.
 */
#include "svc/svc.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd/httpd.h"
#include "log/log.h"

struct svc {
    char             *name;
    uv_loop_t         loop;
    int               loop_inited;
    uv_signal_t       sigint, sigterm;
    uv_async_t        worker_done;
    uv_timer_t        stats_timer;
    uv_thread_t       worker;
    int               worker_started;
    svc_worker_fn     worker_fn;
    void             *worker_ud;
    bus              *bus;
    httpd            *http;
    metrics_registry *metrics;
    cfg_option       *opts;       /* merged table: common + service */
    size_t            nopts;

    /* common options */
    char             *nats_url, *http_listen, *log_level;
    char             *notify_subject;

    int               stopping;   /* __atomic */
    int               exit_code;  /* __atomic */
    pthread_mutex_t   lock;       /* guards ready/why */
    int               ready;
    char              why_not[256];

    bus_stats         last;       /* loop thread only: deltas for counters */
    metrics_counter  *m_published, *m_pub_err, *m_dup, *m_acked, *m_retried, *m_dead, *m_fetch_err;
    metrics_gauge    *m_connected;
};

const char *svc_strstatus(int status)
{
    switch (status) {
#define SVC_STR(name, str) case name: return str;
        SVC_STATUS_MAP(SVC_STR)
#undef SVC_STR
    }
    return "unknown svc status";
}

int svc_poll(svc *s, bus_consumer *c, long timeout_ms, const char *what)
{
    ep_err err = { 0 };
    int    handled = 0;
    char   msg[128];

    (void)s;
    if (bus_consumer_poll(c, timeout_ms, &handled, &err) != BUS_OK) {
        snprintf(msg, sizeof msg, "fetching %s failed; retrying", what);
        LOG_KV(LOG_LEVEL_WARN, msg, "error", err.msg, NULL);
    }
    return handled;
}

int svc_stopping(svc *s) { return __atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE); }
bus *svc_bus(svc *s) { return s->bus; }
metrics_registry *svc_metrics(svc *s) { return s->metrics; }
const char *svc_name(svc *s) { return s->name; }
int svc_http_port(svc *s) { return s->http ? httpd_port(s->http) : 0; }

void svc_set_ready(svc *s, int ready, const char *why_not)
{
    pthread_mutex_lock(&s->lock);
    s->ready = ready;
    snprintf(s->why_not, sizeof s->why_not, "%s", why_not ? why_not : "");
    pthread_mutex_unlock(&s->lock);
}

void svc_fail(svc *s, const char *why)
{
    LOG_KV(LOG_LEVEL_ERROR, "service failing", "reason", why, NULL);
    __atomic_store_n(&s->exit_code, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&s->stopping, 1, __ATOMIC_RELEASE);
}

static int ready_cb(void *ud, char *why, size_t len)
{
    svc *s = ud;
    int  r;

    if (svc_stopping(s)) {
        snprintf(why, len, "shutting down");
        return 0;
    }
    if (!bus_connected(s->bus)) {
        snprintf(why, len, "not connected to NATS");
        return 0;
    }
    pthread_mutex_lock(&s->lock);
    r = s->ready;
    if (!r)
        snprintf(why, len, "%s", s->why_not[0] ? s->why_not : "starting");
    pthread_mutex_unlock(&s->lock);
    return r;
}

/* Copy the bus' atomic counters into Prometheus counters once a second;
 * the bus stays free of any metrics dependency. */
static void add_delta(metrics_counter *c, uint64_t now, uint64_t *last)
{
    if (now > *last)
        metrics_counter_add(c, now - *last);
    *last = now;
}

static void stats_cb(uv_timer_t *t)
{
    svc      *s = t->data;
    bus_stats st;

    bus_get_stats(s->bus, &st);
    add_delta(s->m_published, st.published, &s->last.published);
    add_delta(s->m_pub_err, st.publish_errors, &s->last.publish_errors);
    add_delta(s->m_dup, st.duplicates, &s->last.duplicates);
    add_delta(s->m_acked, st.acked, &s->last.acked);
    add_delta(s->m_retried, st.retried, &s->last.retried);
    add_delta(s->m_dead, st.dead_lettered, &s->last.dead_lettered);
    add_delta(s->m_fetch_err, st.fetch_errors, &s->last.fetch_errors);
    metrics_gauge_set(s->m_connected, bus_connected(s->bus) ? 1 : 0);
    if (svc_stopping(s) && !s->worker_started)
        uv_stop(&s->loop);
}

static void worker_main(void *arg)
{
    svc   *s = arg;
    ep_err err = { 0 };

    /* JetStream API calls wait for a reply that the loop thread reads, so
     * they are made here and never during svc_create on the loop thread. */
    if (bus_ensure_streams(s->bus, s->notify_subject, &err) != BUS_OK) {
        LOG_KV(LOG_LEVEL_ERROR, "cannot create the JetStream streams", "error", err.msg, NULL);
        svc_fail(s, "JetStream streams unavailable");
    } else {
        s->worker_fn(s, s->worker_ud);
    }
    /* Whatever made the worker return, the service is done. */
    __atomic_store_n(&s->stopping, 1, __ATOMIC_RELEASE);
    uv_async_send(&s->worker_done);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void shutdown_loop(svc *s)
{
    if (s->worker_started) {
        uv_thread_join(&s->worker);
        s->worker_started = 0;
    }
    stats_cb(&s->stats_timer);
    /* Flush what the worker published, then close: the adapter detaches
     * through handles of this loop, so it must still be running. */
    if (s->bus != NULL) {
        natsConnection_FlushTimeout(bus_conn(s->bus), 2000);
        bus_destroy(s->bus);
        s->bus = NULL;
    }
    uv_close((uv_handle_t *)&s->sigint, NULL);
    uv_close((uv_handle_t *)&s->sigterm, NULL);
    uv_close((uv_handle_t *)&s->worker_done, NULL);
    uv_close((uv_handle_t *)&s->stats_timer, NULL);
}

static void worker_done_cb(uv_async_t *a)
{
    svc *s = a->data;

    LOG_KV(LOG_LEVEL_INFO, "worker stopped; closing connections", NULL);
    shutdown_loop(s);
}

static void signal_cb(uv_signal_t *h, int signum)
{
    svc *s = h->data;

    LOG_KV(LOG_LEVEL_INFO, "signal received; draining", "signal", signum == SIGINT ? "SIGINT" : "SIGTERM", NULL);
    __atomic_store_n(&s->stopping, 1, __ATOMIC_RELEASE);
    if (!s->worker_started)
        shutdown_loop(s);
    /* else the worker sees the flag after its current message and returns */
}

int svc_create(const svc_info *info, int argc, char **argv, svc **out)
{
    const cfg_option common[] = {
        { "nats-url", CFG_STRING, "nats://127.0.0.1:4222", "NATS server URL(s), comma-separated",
          0, 0, NULL, NULL, 0, 0 },
        { "http-listen", CFG_STRING, "127.0.0.1:8080", "address for /healthz, /readyz and /metrics (port 0 = any)",
          0, 0, NULL, NULL, 0, 0 },
        { "log-level", CFG_STRING, "info", "debug | info | warn | error", 0, 0, NULL, NULL, 0, 0 },
    };
    const size_t ncommon = sizeof common / sizeof common[0];
    svc         *s;
    ep_err       err = { 0 };
    log_level    lvl;
    bus_config   bc = { 0 };
    httpd_config hc = { 0 };
    char         source[128], eff[2048];
    int          rc;

    *out = NULL;
    /* hiredis and libcurl write to sockets the peer may have closed; a
     * closed peer must be an error return, not a process-killing signal. */
    signal(SIGPIPE, SIG_IGN);
    s = calloc(1, sizeof *s);
    if (s == NULL)
        return SVC_ENOMEM;
    pthread_mutex_init(&s->lock, NULL);
    s->name = strdup(info->name);
    s->nopts = ncommon + info->nopts;
    s->opts = calloc(s->nopts, sizeof *s->opts);
    if (s->name == NULL || s->opts == NULL) {
        svc_destroy(s);
        return SVC_ENOMEM;
    }
    memcpy(s->opts, common, sizeof common);
    s->opts[0].target = &s->nats_url;
    s->opts[1].target = &s->http_listen;
    s->opts[2].target = &s->log_level;
    if (info->nopts)
        memcpy(s->opts + ncommon, info->opts, info->nopts * sizeof *info->opts);

    log_init(info->name, LOG_LEVEL_INFO, NULL);
    rc = cfg_load(s->opts, s->nopts, "EP_", info->name, info->summary, argc, argv, &err);
    if (rc == CFG_HELP) {
        svc_destroy(s);
        return SVC_EXIT;
    }
    if (rc != CFG_OK) {
        fprintf(stderr, "%s: %s (see --help)\n", info->name, err.msg);
        LOG_KV(LOG_LEVEL_ERROR, "configuration error", "error", err.msg, NULL);
        svc_destroy(s);
        return SVC_ECONFIG;
    }
    if (log_level_parse(s->log_level, &lvl) != 0) {
        LOG_KV(LOG_LEVEL_ERROR, "configuration error", "error",
               "EP_LOG_LEVEL / --log-level: expected debug, info, warn or error", "value", s->log_level, NULL);
        svc_destroy(s);
        return SVC_ECONFIG;
    }
    log_set_level(lvl);
    cfg_log_effective(s->opts, s->nopts, eff, sizeof eff);
    LOG_KV(LOG_LEVEL_INFO, "starting", "config", eff, NULL);

    s->metrics = metrics_registry_create();
    if (s->metrics == NULL || uv_loop_init(&s->loop) != 0) {
        svc_destroy(s);
        return SVC_ENOMEM;
    }
    s->loop_inited = 1;
    s->m_published = metrics_counter(s->metrics, "envplane_events_published_total", "Events published to JetStream and acknowledged", NULL);
    s->m_pub_err = metrics_counter(s->metrics, "envplane_publish_errors_total", "Publishes that failed (will be retried by redelivery)", NULL);
    s->m_dup = metrics_counter(s->metrics, "envplane_publish_duplicates_total", "Publishes the stream dropped as duplicates of an earlier id", NULL);
    s->m_acked = metrics_counter(s->metrics, "envplane_messages_acked_total", "Consumed messages acknowledged after commit", NULL);
    s->m_retried = metrics_counter(s->metrics, "envplane_messages_retried_total", "Consumed messages negatively acknowledged for redelivery", NULL);
    s->m_dead = metrics_counter(s->metrics, "envplane_messages_dead_lettered_total", "Consumed messages moved to the dead-letter subject", NULL);
    s->m_fetch_err = metrics_counter(s->metrics, "envplane_fetch_errors_total", "Failed fetches from the durable consumer", NULL);
    s->m_connected = metrics_gauge(s->metrics, "envplane_nats_connected", "1 while connected to NATS", NULL);

    snprintf(source, sizeof source, "/envplane/%s", info->name);
    bc.url = s->nats_url;
    bc.name = info->name;
    bc.source = source;
    bc.loop = &s->loop;
    s->notify_subject = info->notify_subject ? strdup(info->notify_subject) : NULL;
    if (bus_create(&bc, &s->bus, &err) != BUS_OK) {
        LOG_KV(LOG_LEVEL_ERROR, "cannot start: NATS", "error", err.msg, NULL);
        svc_destroy(s);
        return SVC_ESTART;
    }

    hc.listen = s->http_listen;
    if (httpd_create(&hc, &s->http, &err) != HTTPD_OK) {
        LOG_KV(LOG_LEVEL_ERROR, "cannot start: HTTP", "error", err.msg, NULL);
        svc_destroy(s);
        return SVC_ESTART;
    }
    httpd_set_health(s->http, s->metrics, ready_cb, s);

    uv_signal_init(&s->loop, &s->sigint);
    uv_signal_init(&s->loop, &s->sigterm);
    s->sigint.data = s->sigterm.data = s;
    uv_async_init(&s->loop, &s->worker_done, worker_done_cb);
    s->worker_done.data = s;
    uv_timer_init(&s->loop, &s->stats_timer);
    s->stats_timer.data = s;
    *out = s;
    return SVC_OK;
}

void svc_set_worker(svc *s, svc_worker_fn fn, void *ud)
{
    s->worker_fn = fn;
    s->worker_ud = ud;
}

int svc_run(svc *s)
{
    ep_err err = { 0 };
    char   port[16];

    if (httpd_start(s->http, &err) != HTTPD_OK) {
        LOG_KV(LOG_LEVEL_ERROR, "cannot start: HTTP", "error", err.msg, "listen", s->http_listen, NULL);
        __atomic_store_n(&s->exit_code, 1, __ATOMIC_RELEASE);
        __atomic_store_n(&s->stopping, 1, __ATOMIC_RELEASE);
    } else {
        snprintf(port, sizeof port, "%d", httpd_port(s->http));
        LOG_KV(LOG_LEVEL_INFO, "http endpoint up", "listen", s->http_listen, "port", port, NULL);
    }
    uv_signal_start(&s->sigint, signal_cb, SIGINT);
    uv_signal_start(&s->sigterm, signal_cb, SIGTERM);
    uv_timer_start(&s->stats_timer, stats_cb, 1000, 1000);
    if (s->worker_fn != NULL && !svc_stopping(s)) {
        if (uv_thread_create(&s->worker, worker_main, s) == 0)
            s->worker_started = 1;
        else
            svc_fail(s, "cannot start the worker thread");
    }
    if (!s->worker_started)
        shutdown_loop(s);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    httpd_destroy(s->http);
    s->http = NULL;
    LOG_KV(LOG_LEVEL_INFO, "stopped", NULL);
    return __atomic_load_n(&s->exit_code, __ATOMIC_ACQUIRE);
}

void svc_destroy(svc *s)
{
    if (s == NULL)
        return;
    if (s->bus != NULL) {
        /* Only when svc_create failed half-way: the adapter detaches
         * through the loop, so run it until its handles are closed. */
        bus_destroy(s->bus);
        s->bus = NULL;
        uv_run(&s->loop, UV_RUN_DEFAULT);
    }
    httpd_destroy(s->http);
    if (s->loop_inited && uv_loop_close(&s->loop) != 0) {
        /* Handles still open (svc_create failed after creating them):
         * close them and let the loop finish before closing it. */
        uv_walk(&s->loop, close_walk, NULL);
        uv_run(&s->loop, UV_RUN_DEFAULT);
        uv_loop_close(&s->loop);
    }
    metrics_registry_destroy(s->metrics);
    if (s->opts)
        cfg_dispose(s->opts, s->nopts);
    free(s->opts);
    free(s->notify_subject);
    free(s->name);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
