/*
 * expirer: the service's state and its two entry points — a claim event
 * from the PLATFORM stream (which schedules or cancels a timer) and a timer
 * pass (which acts on every due timer).  Both run on the service's single
 * worker thread, interleaved by the worker loop in main.c.
 */
#ifndef EXPIRER_H
#define EXPIRER_H

#include <stddef.h>

#include "bus/bus.h"
#include "metrics/metrics.h"
#include "s3/s3.h"
#include "store/store.h"
#include "svc/svc.h"
#include "timers.h"

typedef struct expirer_config {
    char      *s3_endpoint, *s3_region, *s3_access_key, *s3_secret_key;
    char      *redis_url;
    char      *bucket_static;
    char      *durable;
    long long  lead_ms;          /* env.expiring this long before the deadline */
    long long  lease_ms;         /* how long a replica owns a due timer it took */
    long long  batch;            /* timers leased per Redis round trip */
    long long  retry_ms;         /* back-off after a failed action */
    long long  max_poll_ms;      /* longest wait for claim events between timer passes */
    long long  clock_offset_ms;  /* added to the system clock (tests, drills) */
    long long  tombstone_ttl_ms;
    long long  max_deliver;
    long long  max_rate;         /* timer steps per second; 0 = unlimited */
} expirer_config;

typedef struct expirer {
    expirer_config cfg;
    svc           *svc;
    bus           *bus;
    s3_client     *s3;
    store         *st;
    timers        *tm;
    bus_consumer  *cons;

    /* Token bucket for max_rate: a backlog that falls due at once (after an
     * outage, or a mass upload with one deadline) is worked off at a pace
     * the provisioner and the object store can follow. */
    double         tokens;
    long long      tokens_at;        /* when tokens was last refilled (ms) */
    long long      throttled_until;  /* > 0: due work waits for a token until then */

    metrics_registry  *reg;
    metrics_counter   *m_scheduled, *m_cancelled, *m_stale, *m_expiring, *m_expired, *m_static;
    metrics_counter   *m_objects_deleted, *m_lease_lost, *m_errors_redis, *m_errors_s3, *m_errors_publish;
    metrics_counter   *m_warning_skipped;
    metrics_gauge     *m_pending;
    metrics_histogram *m_lateness;
} expirer;

/* The expirer's clock: system real time plus the configured offset, in
 * Unix milliseconds.  Every decision about time goes through it. */
long long   expirer_now_ms(const expirer *x);

void        expirer_metrics_init(expirer *x);
/* Claim event handler (bus_handler) for platform.claim.v1.*. */
bus_verdict expirer_on_claim_event(const bus_msg *m, void *ud, char *why, size_t why_len);
/* Lease and act on due timers until none is due or stop was requested.
 * Returns the number of timer steps taken, or -1 if Redis failed (why says
 * how; the caller backs off). */
int         expirer_run_due(expirer *x, char *why, size_t why_len);

#endif
