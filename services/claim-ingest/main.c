/*
 * claim-ingest: reads environment claims from the claim buckets and
 * publishes claim.accepted / claim.rejected / claim.deleted.
 *
 * Input: MinIO bucket notifications (NATS target, JetStream mode) through a
 * durable pull consumer, plus a periodic listing of both buckets that
 * repairs whatever notifications were lost.  See ingest.c for how
 * duplicates, reordering and crashes are made harmless.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingest.h"
#include "log/log.h"

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int worker_setup(ingest *ing)
{
    s3_config sc = { 0 };
    ep_err    err = { 0 };
    bus_consumer_config cc = { 0 };

    sc.endpoint = ing->cfg.s3_endpoint;
    sc.region = ing->cfg.s3_region;
    sc.access_key = ing->cfg.s3_access_key;
    sc.secret_key = ing->cfg.s3_secret_key;
    if (s3_client_create(&sc, &ing->s3, &err) != S3_OK) {
        LOG_KV(LOG_LEVEL_ERROR, "cannot create the S3 client", "error", err.msg, NULL);
        return -1;
    }
    if (store_create(ing->cfg.redis_url, 5000, &ing->st, &err) != 0) {
        LOG_KV(LOG_LEVEL_ERROR, "cannot connect to Redis", "error", err.msg, NULL);
        return -1;
    }
    if (ingest_scripts_create(ing) != 0) {
        LOG_KV(LOG_LEVEL_ERROR, "out of memory creating Redis scripts", NULL);
        return -1;
    }
    cc.stream = BUS_NOTIFY_STREAM;
    cc.durable = ing->cfg.durable;
    cc.filter_subject = ing->cfg.notify_subject;
    cc.max_deliver = (int)ing->cfg.max_deliver;
    cc.handler = ingest_on_notification;
    cc.ud = ing;
    if (bus_consumer_create(ing->bus, &cc, &ing->cons, &err) != BUS_OK) {
        LOG_KV(LOG_LEVEL_ERROR, "cannot create the notification consumer", "error", err.msg, NULL);
        return -1;
    }
    return 0;
}

static void worker(svc *s, void *ud)
{
    ingest   *ing = ud;
    long long next_resync = 0;
    char      why[1024];

    if (worker_setup(ing) != 0) {
        svc_fail(s, "start-up failed (see the previous error)");
        return;
    }
    while (!svc_stopping(s)) {
        if (next_resync <= now_ms()) {
            int n;
            why[0] = '\0';
            n = ingest_resync(ing, why, sizeof why);
            if (n < 0) {
                LOG_KV(LOG_LEVEL_WARN, "resync failed; will try again", "error", why, NULL);
                svc_set_ready(s, 0, why);
                next_resync = now_ms() + 5000;   /* retry soon; a listing is cheap */
            } else {
                char buf[16];
                snprintf(buf, sizeof buf, "%d", n);
                LOG_KV(n ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG, "resync done", "repaired", buf, NULL);
                svc_set_ready(s, 1, NULL);
                next_resync = ing->cfg.resync_ms > 0 ? now_ms() + ing->cfg.resync_ms : (1LL << 62);
            }
        }
        svc_poll(s, ing->cons, 500, "notifications");
    }
    /* Unsubscribe while the loop still runs the connection. */
    bus_consumer_destroy(ing->cons);
    ing->cons = NULL;
    LOG_KV(LOG_LEVEL_INFO, "worker drained: no message in hand", NULL);
}

int main(int argc, char **argv)
{
    static ingest ing;
    const cfg_option opts[] = {
        { "s3-endpoint", CFG_STRING, "http://127.0.0.1:9000", "S3 (MinIO) endpoint URL", 0, 0, &ing.cfg.s3_endpoint, NULL, 0, 0 },
        { "s3-region", CFG_STRING, "us-east-1", "S3 signing region", 0, 0, &ing.cfg.s3_region, NULL, 0, 0 },
        { "s3-access-key", CFG_STRING, NULL, "S3 access key", 0, 0, &ing.cfg.s3_access_key, NULL, 0, 1 },
        { "s3-secret-key", CFG_STRING, NULL, "S3 secret key", 0, 0, &ing.cfg.s3_secret_key, NULL, 1, 1 },
        { "redis-url", CFG_STRING, "redis://127.0.0.1:6379", "Redis for claim state (generations, hashes)", 0, 0, &ing.cfg.redis_url, NULL, 0, 0 },
        { "bucket-dynamic", CFG_STRING, "environments", "bucket of API-managed claims", 0, 0, &ing.cfg.bucket_dynamic, NULL, 0, 0 },
        { "bucket-static", CFG_STRING, "static-environments", "bucket of git-managed (static) claims", 0, 0, &ing.cfg.bucket_static, NULL, 0, 0 },
        { "notify-subject", CFG_STRING, "minio.notify.claims", "subject MinIO publishes bucket notifications on", 0, 0, &ing.cfg.notify_subject, NULL, 0, 0 },
        { "durable", CFG_STRING, "claim-ingest", "durable consumer name (also the dead-letter subject suffix)", 0, 0, &ing.cfg.durable, NULL, 0, 0 },
        { "resync-interval", CFG_DURATION, "5m", "how often to list both buckets and repair missed notifications (0 = only at start)", 0, 7LL * 24 * 3600 * 1000, &ing.cfg.resync_ms, NULL, 0, 0 },
        { "max-claim-size", CFG_SIZE, "64KiB", "largest claim object accepted", 1024, 16LL * 1024 * 1024, &ing.cfg.max_claim_size, NULL, 0, 0 },
        { "max-deliver", CFG_INT, "5", "deliveries of a failing notification before it is dead-lettered", 1, 100, &ing.cfg.max_deliver, NULL, 0, 0 },
    };
    svc_info info = {
        .name = "claim-ingest",
        .summary = "validate claims from the claim buckets and publish claim.accepted/rejected/deleted",
        .opts = opts,
        .nopts = sizeof opts / sizeof opts[0],
    };
    ep_err err = { 0 };
    int    rc;

    /* notify_subject is known only after parsing; svc ensures the streams
     * with it, so peek at it the same way cfg does (flag beats env). */
    info.notify_subject = getenv("EP_NOTIFY_SUBJECT") ? getenv("EP_NOTIFY_SUBJECT") : "minio.notify.claims";
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--notify-subject=", 17) == 0)
            info.notify_subject = argv[i] + 17;
        else if (strcmp(argv[i], "--notify-subject") == 0 && i + 1 < argc)
            info.notify_subject = argv[i + 1];
    }
    if (s3_global_init(&err) != S3_OK) {
        fprintf(stderr, "claim-ingest: %s\n", err.msg);
        return 1;
    }
    rc = svc_create(&info, argc, argv, &ing.svc);
    if (rc != SVC_OK) {
        s3_global_cleanup();
        return rc == SVC_EXIT ? 0 : 1;
    }
    ing.bus = svc_bus(ing.svc);
    ing.reg = svc_metrics(ing.svc);
    ingest_metrics_init(&ing);
    svc_set_ready(ing.svc, 0, "first resync not finished");
    svc_set_worker(ing.svc, worker, &ing);
    rc = svc_run(ing.svc);

    bus_consumer_destroy(ing.cons);
    store_script_destroy(ing.sc_accept);
    store_script_destroy(ing.sc_delete);
    store_destroy(ing.st);
    s3_client_destroy(ing.s3);
    svc_destroy(ing.svc);
    s3_global_cleanup();
    return rc;
}
