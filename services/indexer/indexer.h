/*
 * indexer: the service's state and its two entry points — a PLATFORM event
 * (folded into the index on the worker thread) and a query request
 * (answered on cnats' delivery thread with a Redis connection of its own).
 */
#ifndef INDEXER_H
#define INDEXER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "bus/bus.h"
#include "index/index.h"
#include "metrics/metrics.h"
#include "store/store.h"
#include "svc/svc.h"

typedef struct indexer_config {
    char      *redis_url;
    char      *durable;
    char      *query_group;
    char      *key_prefix;
    long long  max_deliver;
    long long  ack_wait_ms;
    long long  tomb_ttl_ms;
    bool       rebuild;
} indexer_config;

typedef struct indexer {
    indexer_config cfg;
    svc           *svc;
    bus           *bus;
    index_db      *ix;
    store         *st;          /* worker thread only */
    bus_consumer  *cons;
    int            rebuilding;  /* fold without announcing */

    /* The query responder's own connection: cnats calls the handler on its
     * delivery thread, never on the worker's, and a store is one
     * connection that must not be shared. */
    pthread_mutex_t qlock;
    store          *qst;
    natsSubscription *qsub;

    metrics_registry  *reg;
    metrics_counter   *m_applied, *m_same, *m_stale, *m_ignored, *m_skipped, *m_malformed;
    metrics_counter   *m_announced, *m_redis_errors, *m_publish_errors;
    metrics_counter   *m_queries, *m_query_invalid, *m_query_errors;
    metrics_histogram *m_query_seconds, *m_apply_seconds;
} indexer;

void        indexer_metrics_init(indexer *x);
/* bus_handler for platform.*.v1.* on the worker thread. */
bus_verdict indexer_on_event(const bus_msg *m, void *ud, char *why, size_t why_len);
/* Subscribe the query responder (queue group cfg.query_group); call from
 * the worker thread.  0 or -1 (logged). */
int         indexer_serve_queries(indexer *x);
/* Drain the responder: no handler runs after this returns. */
void        indexer_stop_queries(indexer *x);

#endif
