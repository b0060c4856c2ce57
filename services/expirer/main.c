/*
 * expirer: durable expiry timers for environment claims.
 *
 * Input: platform.claim.v1.accepted / .deleted through a durable pull
 * consumer on the PLATFORM stream.  Output: env.expiring at the lead time,
 * env.expired at the deadline followed by deletion of the claim object
 * (claim-ingest and the provisioner take it from there), and
 * env.expiry_warning for static claims, which are never deleted.  Timers
 * live in Redis (timers.h), so they survive restarts and any number of
 * replicas can share them.  The worker loop below alternates between a
 * timer pass and a consumer poll whose wait ends when the next timer is due.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events/events.h"
#include "expirer.h"
#include "log/log.h"

static int worker_setup(expirer *x)
{
    s3_config sc = { 0 };
    ep_err    err = { 0 };
    bus_consumer_config cc = { 0 };

    sc.endpoint = x->cfg.s3_endpoint;
    sc.region = x->cfg.s3_region;
    sc.access_key = x->cfg.s3_access_key;
    sc.secret_key = x->cfg.s3_secret_key;
    if (s3_client_create(&sc, &x->s3, &err) != S3_OK) {
        LOG_KV(LOG_LEVEL_ERROR, "cannot create the S3 client", "error", err.msg, NULL);
        return -1;
    }
    if (store_create(x->cfg.redis_url, 5000, &x->st, &err) != 0) {
        LOG_KV(LOG_LEVEL_ERROR, "cannot connect to Redis", "error", err.msg, NULL);
        return -1;
    }
    x->tm = timers_create(x->cfg.tombstone_ttl_ms);
    if (x->tm == NULL) {
        LOG_KV(LOG_LEVEL_ERROR, "out of memory creating Redis scripts", NULL);
        return -1;
    }
    cc.stream = BUS_EVENT_STREAM;
    cc.durable = x->cfg.durable;
    cc.filter_subject = "platform.claim.v1.*";
    cc.max_deliver = (int)x->cfg.max_deliver;
    cc.handler = expirer_on_claim_event;
    cc.ud = x;
    if (bus_consumer_create(x->bus, &cc, &x->cons, &err) != BUS_OK) {
        LOG_KV(LOG_LEVEL_ERROR, "cannot create the claim event consumer", "error", err.msg, NULL);
        return -1;
    }
    if (store_ping(x->st, &err) != STORE_OK) {
        LOG_KV(LOG_LEVEL_ERROR, "Redis does not answer", "error", err.msg, NULL);
        return -1;
    }
    return 0;
}

static void worker(svc *s, void *ud)
{
    expirer *x = ud;
    char     why[1024];
    ep_err   err = { 0 };
    int      failing = 0;

    if (worker_setup(x) != 0) {
        svc_fail(s, "start-up failed (see the previous error)");
        return;
    }
    /* Ready once the consumer exists and Redis answers: the first timer
     * pass may be a long backlog, and it is work, not start-up. */
    svc_set_ready(s, 1, NULL);
    while (!svc_stopping(s)) {
        long long wait = x->cfg.max_poll_ms, next = -1, pending = 0;
        int       steps;

        why[0] = '\0';
        steps = expirer_run_due(x, why, sizeof why);
        if (steps < 0) {
            if (!failing)
                LOG_KV(LOG_LEVEL_WARN, "timer pass failed; retrying", "error", why, NULL);
            failing = 1;
            svc_set_ready(s, 0, why);
        } else {
            if (failing)
                LOG_KV(LOG_LEVEL_INFO, "timer pass works again", NULL);
            failing = 0;
            svc_set_ready(s, 1, NULL);
            /* Sleep in the consumer poll until the next timer is due (a
             * lease end counts too: that is when a dead replica's work
             * becomes ours) or the rate limit gives a token, never longer
             * than max-poll. */
            if (x->throttled_until > 0) {
                wait = x->throttled_until - expirer_now_ms(x);
            } else if (timers_next_due(x->st, &next, &err) == TIMERS_OK && next >= 0) {
                long long d = next - expirer_now_ms(x);
                if (d < wait)
                    wait = d;
            }
            ep_err_clear(&err);
            if (timers_pending(x->st, &pending, &err) == TIMERS_OK)
                metrics_gauge_set(x->m_pending, (double)pending);
            ep_err_clear(&err);
        }
        if (wait > x->cfg.max_poll_ms)
            wait = x->cfg.max_poll_ms;
        if (wait < 10)
            wait = 10;   /* a fetch needs a round trip to the server anyway */
        svc_poll(s, x->cons, (long)wait, "claim events");
    }
    /* Unsubscribe while the loop still runs the connection. */
    bus_consumer_destroy(x->cons);
    x->cons = NULL;
    LOG_KV(LOG_LEVEL_INFO, "worker drained: no message or lease in hand", NULL);
}

int main(int argc, char **argv)
{
    static expirer x;
    const long long ten_years = 10LL * 366 * 24 * 3600 * 1000;
    const cfg_option opts[] = {
        { "s3-endpoint", CFG_STRING, "http://127.0.0.1:9000", "S3 (MinIO) endpoint URL", 0, 0, &x.cfg.s3_endpoint, NULL, 0, 0 },
        { "s3-region", CFG_STRING, "us-east-1", "S3 signing region", 0, 0, &x.cfg.s3_region, NULL, 0, 0 },
        { "s3-access-key", CFG_STRING, NULL, "S3 access key", 0, 0, &x.cfg.s3_access_key, NULL, 0, 1 },
        { "s3-secret-key", CFG_STRING, NULL, "S3 secret key", 0, 0, &x.cfg.s3_secret_key, NULL, 1, 1 },
        { "redis-url", CFG_STRING, "redis://127.0.0.1:6379", "Redis holding the timers", 0, 0, &x.cfg.redis_url, NULL, 0, 0 },
        { "bucket-static", CFG_STRING, "static-environments", "bucket of git-managed claims (never deleted)", 0, 0, &x.cfg.bucket_static, NULL, 0, 0 },
        { "durable", CFG_STRING, "expirer", "durable consumer name (shared by all replicas)", 0, 0, &x.cfg.durable, NULL, 0, 0 },
        { "lead-time", CFG_DURATION, "1h", "env.expiring is published this long before the deadline", 0, ten_years, &x.cfg.lead_ms, NULL, 0, 0 },
        { "lease", CFG_DURATION, "30s", "how long a replica owns a due timer it took (must stay well under the stream's 10 min duplicate window)", 100, 5LL * 60 * 1000, &x.cfg.lease_ms, NULL, 0, 0 },
        { "batch", CFG_INT, "64", "due timers taken per Redis round trip", 1, 10000, &x.cfg.batch, NULL, 0, 0 },
        { "retry-interval", CFG_DURATION, "5s", "delay before a failed timer step is tried again", 10, 3600 * 1000, &x.cfg.retry_ms, NULL, 0, 0 },
        { "max-poll", CFG_DURATION, "500ms", "longest wait for claim events between timer passes", 10, 60 * 1000, &x.cfg.max_poll_ms, NULL, 0, 0 },
        { "clock-offset", CFG_INT, "0", "milliseconds added to the system clock (tests and drills; may be negative)", -ten_years, ten_years, &x.cfg.clock_offset_ms, NULL, 0, 0 },
        { "tombstone-ttl", CFG_DURATION, "7d", "how long a finished timer remembers its generation", 60 * 1000, 365LL * 24 * 3600 * 1000, &x.cfg.tombstone_ttl_ms, NULL, 0, 0 },
        { "max-rate", CFG_INT, "0", "timer steps per second at most, so a backlog falling due at once is worked off gently (0 = unlimited)", 0, 1000000, &x.cfg.max_rate, NULL, 0, 0 },
        { "max-deliver", CFG_INT, "5", "deliveries of a failing claim event before it is dead-lettered", 1, 100, &x.cfg.max_deliver, NULL, 0, 0 },
    };
    svc_info info = {
        .name = "expirer",
        .summary = "durable expiry timers: publish env.expiring/env.expired and delete expired claims",
        .opts = opts,
        .nopts = sizeof opts / sizeof opts[0],
    };
    ep_err err = { 0 };
    int    rc;

    signal(SIGPIPE, SIG_IGN);
    if (s3_global_init(&err) != S3_OK) {
        fprintf(stderr, "expirer: %s\n", err.msg);
        return 1;
    }
    rc = svc_create(&info, argc, argv, &x.svc);
    if (rc != SVC_OK) {
        s3_global_cleanup();
        return rc == SVC_EXIT ? 0 : 1;
    }
    x.bus = svc_bus(x.svc);
    x.reg = svc_metrics(x.svc);
    expirer_metrics_init(&x);
    svc_set_ready(x.svc, 0, "consumer not created yet");
    svc_set_worker(x.svc, worker, &x);
    rc = svc_run(x.svc);

    bus_consumer_destroy(x.cons);
    timers_destroy(x.tm);
    store_destroy(x.st);
    s3_client_destroy(x.s3);
    svc_destroy(x.svc);
    s3_global_cleanup();
    return rc;
}
