/*
 * provisioner: the service's state and its entry point, one handler for
 * every event of the PLATFORM stream.  Everything runs on the single worker
 * thread, so environments are processed one message at a time and need no
 * locks of their own.
 */
#ifndef PROVISIONER_PROV_H
#define PROVISIONER_PROV_H

#include <stdbool.h>

#include "bus/bus.h"
#include "envstate.h"
#include "metrics/metrics.h"
#include "s3/s3.h"
#include "store/store.h"
#include "svc/svc.h"
#include "writers.h"

typedef struct prov_config {
    char      *s3_endpoint, *s3_region, *s3_access_key, *s3_secret_key;
    char      *redis_url;
    char      *state_bucket;
    bool       create_bucket;     /* s3_bucket_ensure at start */
    char      *durable, *filter_subject;
    long long  max_deliver;       /* deliveries before a failing write ends in env.failed */
    long long  write_concurrency; /* S3 writer threads */
    long long  ack_wait_ms;       /* redelivery of an unacknowledged message (after a crash) */
    char      *image_registry, *flux_namespace, *claims_namespace, *interval;
} prov_config;

typedef struct prov {
    prov_config   cfg;
    svc          *svc;
    bus          *bus;
    s3_client    *s3;
    store        *st;
    envstate     *es;
    bus_consumer *cons;
    writers      *wr;        /* the documents of one generation are written concurrently */

    metrics_registry  *reg;
    metrics_counter   *m_ready, *m_failed, *m_deleted, *m_stale, *m_duplicate, *m_skipped, *m_malformed;
    metrics_counter   *m_docs_written, *m_docs_removed;
    metrics_counter   *m_s3_errors, *m_redis_errors, *m_publish_errors;
    metrics_histogram *m_latency;
} prov;

void        prov_metrics_init(prov *p);
/* PLATFORM stream handler (bus_handler): claim.accepted provisions,
 * claim.deleted and env.expired (claim deleted) deprovision, every other
 * subject is acknowledged untouched. */
bus_verdict prov_on_event(const bus_msg *m, void *ud, char *why, size_t why_len);

#endif
