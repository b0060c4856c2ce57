/*
 * claim-ingest: the service's own state and its three entry points — a
 * bucket notification, a periodic resync pass, and object processing shared
 * by both.  Everything here runs on the service's single worker thread, so
 * processing of claims is serialised and needs no locks of its own.
 */
#ifndef CLAIM_INGEST_H
#define CLAIM_INGEST_H

#include <stddef.h>

#include "bus/bus.h"
#include "metrics/metrics.h"
#include "s3/s3.h"
#include "store/store.h"
#include "svc/svc.h"

typedef struct ingest_config {
    char      *s3_endpoint, *s3_region, *s3_access_key, *s3_secret_key;
    char      *redis_url;
    char      *bucket_dynamic, *bucket_static;
    char      *notify_subject, *durable;
    long long  resync_ms;      /* 0 = no periodic resync */
    long long  max_claim_size; /* bytes */
    long long  max_deliver;
} ingest_config;

typedef struct ingest {
    ingest_config cfg;
    svc          *svc;
    bus          *bus;
    s3_client    *s3;
    store        *st;
    bus_consumer *cons;
    store_script *sc_accept, *sc_delete;

    /* metrics, created once in ingest_metrics_init */
    metrics_counter *m_accepted, *m_noop, *m_deleted, *m_notifications, *m_malformed;
    metrics_counter *m_vanished, *m_ignored, *m_resync_runs, *m_resync_errors, *m_resync_repaired;
    metrics_counter *m_s3_errors, *m_redis_errors, *m_publish_errors;
    metrics_registry *reg;
    metrics_histogram *m_latency;
} ingest;

/* Outcome of processing one object or removal. */
typedef enum { ING_DONE, ING_RETRY } ingest_result;

void          ingest_metrics_init(ingest *ing);
/* Create the Redis scripts (sc_accept, sc_delete).  0 or -1 (no memory). */
int           ingest_scripts_create(ingest *ing);
/* Bucket notification handler (bus_handler). */
bus_verdict   ingest_on_notification(const bus_msg *m, void *ud, char *why, size_t why_len);
/* An object exists (or existed) at bucket/key: fetch, validate, emit. */
ingest_result ingest_object(ingest *ing, const char *bucket, const char *key, const char *etag_hint,
                            const char *sequencer, char *why, size_t why_len);
/* An object was removed from bucket/key: confirm and emit claim.deleted. */
ingest_result ingest_removed(ingest *ing, const char *bucket, const char *key,
                             const char *sequencer, char *why, size_t why_len);
/* List both buckets and repair what notifications missed.  Returns the
 * number of objects/removals it had to process, or -1 on error. */
int           ingest_resync(ingest *ing, char *why, size_t why_len);

#endif
