/*
 * provisioner: turns accepted claim generations into desired state for
 * Crossplane and Flux in the state bucket, and removes it when the claim is
 * deleted or expires.  Each environment follows the state machine of
 * envstate.h; progress is announced as env.* events.
 *
 * Input: the PLATFORM stream through the durable pull consumer "provisioner"
 * (filter platform.*.v1.*, one filter per consumer on this server version);
 * only claim.accepted, claim.deleted and env.expired are acted on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "prov.h"

static int worker_setup(prov *p)
{
    s3_config sc = { 0 };
    ep_err    err = { 0 };
    bus_consumer_config cc = { 0 };

    sc.endpoint = p->cfg.s3_endpoint;
    sc.region = p->cfg.s3_region;
    sc.access_key = p->cfg.s3_access_key;
    sc.secret_key = p->cfg.s3_secret_key;
    if (s3_client_create(&sc, &p->s3, &err) != S3_OK) {
        LOG_KV(LOG_LEVEL_ERROR, "cannot create the S3 client", "error", err.msg, NULL);
        return -1;
    }
    if (p->cfg.create_bucket && s3_bucket_ensure(p->s3, p->cfg.state_bucket, &err) != S3_OK) {
        LOG_KV(LOG_LEVEL_ERROR, "cannot create the state bucket", "bucket", p->cfg.state_bucket, "error", err.msg, NULL);
        return -1;
    }
    if (writers_create(&sc, (int)p->cfg.write_concurrency, &p->wr, &err) != 0) {
        LOG_KV(LOG_LEVEL_ERROR, "cannot start the S3 writers", "error", err.msg, NULL);
        return -1;
    }
    if (store_create(p->cfg.redis_url, 5000, &p->st, &err) != 0) {
        LOG_KV(LOG_LEVEL_ERROR, "cannot connect to Redis", "error", err.msg, NULL);
        return -1;
    }
    p->es = envstate_create();
    if (p->es == NULL) {
        LOG_KV(LOG_LEVEL_ERROR, "out of memory creating Redis scripts", NULL);
        return -1;
    }
    cc.stream = BUS_EVENT_STREAM;
    cc.durable = p->cfg.durable;
    cc.filter_subject = p->cfg.filter_subject;
    cc.max_deliver = (int)p->cfg.max_deliver;
    cc.ack_wait_ms = (long)p->cfg.ack_wait_ms;
    cc.handler = prov_on_event;
    cc.ud = p;
    if (bus_consumer_create(p->bus, &cc, &p->cons, &err) != BUS_OK) {
        LOG_KV(LOG_LEVEL_ERROR, "cannot create the event consumer", "error", err.msg, NULL);
        return -1;
    }
    return 0;
}

static void worker(svc *s, void *ud)
{
    prov  *p = ud;

    if (worker_setup(p) != 0) {
        svc_fail(s, "start-up failed (see the previous error)");
        return;
    }
    svc_set_ready(s, 1, NULL);
    while (!svc_stopping(s)) {
        svc_poll(s, p->cons, 500, "events");
    }
    /* Unsubscribe while the loop still runs the connection. */
    bus_consumer_destroy(p->cons);
    p->cons = NULL;
    LOG_KV(LOG_LEVEL_INFO, "worker drained: no message in hand", NULL);
}

int main(int argc, char **argv)
{
    static prov p;
    const cfg_option opts[] = {
        { "s3-endpoint", CFG_STRING, "http://127.0.0.1:9000", "S3 (MinIO) endpoint URL", 0, 0, &p.cfg.s3_endpoint, NULL, 0, 0 },
        { "s3-region", CFG_STRING, "us-east-1", "S3 signing region", 0, 0, &p.cfg.s3_region, NULL, 0, 0 },
        { "s3-access-key", CFG_STRING, NULL, "S3 access key", 0, 0, &p.cfg.s3_access_key, NULL, 0, 1 },
        { "s3-secret-key", CFG_STRING, NULL, "S3 secret key", 0, 0, &p.cfg.s3_secret_key, NULL, 1, 1 },
        { "redis-url", CFG_STRING, "redis://127.0.0.1:6379", "Redis for environment state", 0, 0, &p.cfg.redis_url, NULL, 0, 0 },
        { "bucket-state", CFG_STRING, "platform-state", "bucket the rendered desired state is written to (prefix <env>/)", 0, 0, &p.cfg.state_bucket, NULL, 0, 0 },
        { "create-bucket", CFG_BOOL, "true", "create the state bucket at start if missing", 0, 0, &p.cfg.create_bucket, NULL, 0, 0 },
        { "durable", CFG_STRING, "provisioner", "durable consumer name (also the dead-letter subject suffix)", 0, 0, &p.cfg.durable, NULL, 0, 0 },
        { "filter-subject", CFG_STRING, "platform.*.v1.*", "consumer filter on the PLATFORM stream", 0, 0, &p.cfg.filter_subject, NULL, 0, 0 },
        { "max-deliver", CFG_INT, "5", "deliveries of a failing write before the generation ends in env.failed", 1, 100, &p.cfg.max_deliver, NULL, 0, 0 },
        { "ack-wait", CFG_DURATION, "30s", "time before an unacknowledged event is redelivered (bounds recovery after a crash)", 1000, 3600000, &p.cfg.ack_wait_ms, NULL, 0, 0 },
        { "write-concurrency", CFG_INT, "6", "S3 writer threads: documents of one generation written concurrently", 1, 32, &p.cfg.write_concurrency, NULL, 0, 0 },
        { "image-registry", CFG_STRING, "artifactory/docker-releases", "image repository prefix for services without docker_image", 0, 0, &p.cfg.image_registry, NULL, 0, 0 },
        { "flux-namespace", CFG_STRING, "flux-system", "namespace of the rendered Flux objects", 0, 0, &p.cfg.flux_namespace, NULL, 0, 0 },
        { "claims-namespace", CFG_STRING, "envplane-system", "namespace of the rendered Crossplane claims", 0, 0, &p.cfg.claims_namespace, NULL, 0, 0 },
        { "scan-interval", CFG_STRING, "5m", "interval of the rendered ImageRepository/OCIRepository objects", 0, 0, &p.cfg.interval, NULL, 0, 0 },
    };
    svc_info info = {
        .name = "provisioner",
        .summary = "render desired state per environment into the state bucket and publish env.* transitions",
        .opts = opts,
        .nopts = sizeof opts / sizeof opts[0],
    };
    ep_err err = { 0 };
    int    rc;

    if (s3_global_init(&err) != S3_OK) {
        fprintf(stderr, "provisioner: %s\n", err.msg);
        return 1;
    }
    rc = svc_create(&info, argc, argv, &p.svc);
    if (rc != SVC_OK) {
        s3_global_cleanup();
        return rc == SVC_EXIT ? 0 : 1;
    }
    p.bus = svc_bus(p.svc);
    p.reg = svc_metrics(p.svc);
    prov_metrics_init(&p);
    svc_set_ready(p.svc, 0, "consumer not created yet");
    svc_set_worker(p.svc, worker, &p);
    rc = svc_run(p.svc);

    bus_consumer_destroy(p.cons);
    writers_destroy(p.wr);
    envstate_destroy(p.es);
    store_destroy(p.st);
    s3_client_destroy(p.s3);
    svc_destroy(p.svc);
    s3_global_cleanup();
    return rc;
}
