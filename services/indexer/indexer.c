/*
 * indexer processing: PLATFORM events in, index documents and
 * platform.index.v1.updated out; queries answered over NATS request/reply.
 *
 * Per event, in this order: fold it into Redis (libs/index: one atomic
 * script per change), publish IndexUpdated for every change the fold
 * reports (id index-updated/<env>/<stream seq of the change>), mark each
 * one published, acknowledge.  A crash before the publish leaves the change
 * marked pending; the redelivered event — or, if another event of the same
 * environment comes first, that one — announces it then, with the same id,
 * so the stream drops a repeat inside its duplicate window and the pending
 * flag prevents one after it.  Each change is therefore announced once.
 *
 * Queries: a queue subscription on platform.index.v1.query (so replicas
 * share the load); the handler runs on cnats' delivery thread and uses its
 * own Redis connection under a mutex.
 */
#include "indexer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ce/ce.h"
#include "events/events.h"
#include "log/log.h"

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void indexer_metrics_init(indexer *x)
{
    static const double q_buckets[] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25 };
    metrics_registry *r = x->reg;
    const char *ev = "Events folded into the index, by verdict";

    x->m_applied = metrics_counter(r, "indexer_events_total", ev, "verdict=\"applied\"");
    x->m_same = metrics_counter(r, "indexer_events_total", ev, "verdict=\"redelivered\"");
    x->m_stale = metrics_counter(r, "indexer_events_total", ev, "verdict=\"stale\"");
    x->m_ignored = metrics_counter(r, "indexer_events_total", ev, "verdict=\"ignored\"");
    x->m_skipped = metrics_counter(r, "indexer_events_total", ev, "verdict=\"not_indexed\"");
    x->m_malformed = metrics_counter(r, "indexer_events_total", ev, "verdict=\"malformed\"");
    x->m_announced = metrics_counter(r, "indexer_updates_published_total", "index.updated events published", NULL);
    x->m_redis_errors = metrics_counter(r, "indexer_redis_errors_total", "Index updates that failed in Redis (retried)", NULL);
    x->m_publish_errors = metrics_counter(r, "indexer_publish_errors_total", "index.updated publishes that failed (retried)", NULL);
    x->m_queries = metrics_counter(r, "indexer_queries_total", "Queries answered", NULL);
    x->m_query_invalid = metrics_counter(r, "indexer_queries_invalid_total", "Queries answered with a validation error", NULL);
    x->m_query_errors = metrics_counter(r, "indexer_query_errors_total", "Queries that failed in Redis", NULL);
    x->m_query_seconds = metrics_histogram(r, "indexer_query_seconds", "Time to answer one query (Redis included)", NULL,
                                           q_buckets, sizeof q_buckets / sizeof q_buckets[0]);
    x->m_apply_seconds = metrics_histogram(r, "indexer_apply_seconds", "Time to fold one event and announce it", NULL,
                                           q_buckets, sizeof q_buckets / sizeof q_buckets[0]);
}

static const char *verdict_str(index_verdict v)
{
    switch (v) {
    case INDEX_APPLIED: return "applied";
    case INDEX_SAME:    return "redelivered";
    case INDEX_STALE:   return "stale";
    default:            return "ignored";
    }
}

bus_verdict indexer_on_event(const bus_msg *m, void *ud, char *why, size_t why_len)
{
    indexer     *x = ud;
    index_event  ev;
    index_result res;
    ep_err       err = { 0 };
    char         now[32], seq[24], gen[24];
    double       t0 = now_s();
    const events_entry *upd = events_by_subject(EV_INDEX_UPDATED);
    int          rc;

    rc = index_event_decode(m->subject, m->data, m->len, m->stream_seq, &ev, &err);
    if (rc == INDEX_ESKIP) {
        metrics_counter_add(x->m_skipped, 1);
        return BUS_ACK;
    }
    if (rc != INDEX_OK) {
        metrics_counter_add(x->m_malformed, 1);
        snprintf(why, why_len, "%s", err.msg);
        LOG_KV(LOG_LEVEL_WARN, "malformed event; dead-lettered", "subject", m->subject, "error", err.msg, NULL);
        return BUS_DEAD;
    }
    snprintf(seq, sizeof seq, "%llu", (unsigned long long)m->stream_seq);
    snprintf(gen, sizeof gen, "%llu", (unsigned long long)ev.generation);
    ce_time_now(now);
    rc = index_apply(x->ix, x->st, &ev, now, &res, &err);
    if (rc != INDEX_OK) {
        metrics_counter_add(x->m_redis_errors, 1);
        snprintf(why, why_len, "%s", err.msg);
        LOG_KV(LOG_LEVEL_WARN, "index update failed; will retry", "env", ev.env, "stream_seq", seq,
               "error", err.msg, NULL);
        index_event_dispose(&ev);
        return BUS_RETRY;
    }
    for (int i = 0; i < res.nann; i++) {
        index_announce *a = &res.ann[i];
        if (!x->rebuilding) {
            int dup = 0;
            if (bus_publish_event(x->bus, EV_INDEX_UPDATED, upd->ce_type, a->id, a->env,
                                  a->data, a->len, &dup, &err) != BUS_OK) {
                metrics_counter_add(x->m_publish_errors, 1);
                snprintf(why, why_len, "%s", err.msg);
                LOG_KV(LOG_LEVEL_WARN, "publishing index.updated failed; will retry", "env", a->env,
                       "event_id", a->id, "error", err.msg, NULL);
                goto retry;
            }
            if (!dup)
                metrics_counter_add(x->m_announced, 1);
        }
        if (index_mark_published(x->ix, x->st, a->env, a->seq, &err) != INDEX_OK) {
            /* Published but still marked pending: the next touch of this
             * document republishes the same id, which the stream drops. */
            metrics_counter_add(x->m_redis_errors, 1);
            snprintf(why, why_len, "%s", err.msg);
            goto retry;
        }
    }
    switch (res.verdict) {
    case INDEX_APPLIED: metrics_counter_add(x->m_applied, 1); break;
    case INDEX_SAME:    metrics_counter_add(x->m_same, 1); break;
    case INDEX_STALE:   metrics_counter_add(x->m_stale, 1); break;
    case INDEX_IGNORED: metrics_counter_add(x->m_ignored, 1); break;
    }
    if (!x->rebuilding || log_enabled(LOG_LEVEL_DEBUG))
        LOG_KV(res.verdict == INDEX_APPLIED ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG,
               res.verdict == INDEX_APPLIED ? "index updated" : "event changes nothing",
               "env", ev.env, "generation", gen, "subject", m->subject, "stream_seq", seq,
               "verdict", verdict_str(res.verdict),
               res.nann ? "event_id" : NULL, res.nann ? res.ann[res.nann - 1].id : NULL, NULL);
    metrics_histogram_observe(x->m_apply_seconds, now_s() - t0);
    index_result_dispose(&res);
    index_event_dispose(&ev);
    return BUS_ACK;
retry:
    index_result_dispose(&res);
    index_event_dispose(&ev);
    return BUS_RETRY;
}

/* ---- queries --------------------------------------------------------------------- */

static void on_query(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    indexer    *x = closure;
    const char *reply = natsMsg_GetReply(msg);
    uint8_t    *out = NULL;
    size_t      out_len = 0;
    ep_err      err = { 0 };
    double      t0 = now_s();
    int         rc;

    (void)sub;
    if (reply == NULL || reply[0] == '\0') {
        /* Published, not requested: nobody to answer. */
        natsMsg_Destroy(msg);
        return;
    }
    pthread_mutex_lock(&x->qlock);
    rc = index_query(x->ix, x->qst, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg),
                     &out, &out_len, &err);
    pthread_mutex_unlock(&x->qlock);
    if (rc != INDEX_OK) {
        char msgbuf[600];
        metrics_counter_add(x->m_query_errors, 1);
        LOG_KV(LOG_LEVEL_WARN, "query failed", "error", err.msg, NULL);
        snprintf(msgbuf, sizeof msgbuf, "index unavailable: %s", err.msg);
        if (index_error_reply(msgbuf, &out, &out_len) != INDEX_OK) {
            natsMsg_Destroy(msg);
            return;
        }
    } else if ((int64_t)out_len > natsConnection_GetMaxPayload(nc) - 1024) {
        /* Headroom for the reply subject and protocol line. */
        free(out);
        out = NULL;
        metrics_counter_add(x->m_query_invalid, 1);
        if (index_error_reply("limit: the page is larger than the NATS maximum payload; ask for fewer",
                              &out, &out_len) != INDEX_OK) {
            natsMsg_Destroy(msg);
            return;
        }
    } else if (out_len > 0 && out[0] == 0x22) {
        /* The reply starts with field 4 (error) only when the query was
         * invalid: items, cursor and total would come first. */
        metrics_counter_add(x->m_query_invalid, 1);
    }
    natsConnection_Publish(nc, reply, out, (int)out_len);
    free(out);
    natsMsg_Destroy(msg);
    metrics_counter_add(x->m_queries, 1);
    metrics_histogram_observe(x->m_query_seconds, now_s() - t0);
}

int indexer_serve_queries(indexer *x)
{
    ep_err     err = { 0 };
    natsStatus s;

    if (store_create(x->cfg.redis_url, 5000, &x->qst, &err) != STORE_OK) {
        LOG_KV(LOG_LEVEL_ERROR, "cannot connect to Redis for queries", "error", err.msg, NULL);
        return -1;
    }
    s = natsConnection_QueueSubscribe(&x->qsub, bus_conn(x->bus), RPC_INDEX_QUERY, x->cfg.query_group,
                                      on_query, x);
    if (s == NATS_OK)
        s = natsConnection_FlushTimeout(bus_conn(x->bus), 5000);
    if (s != NATS_OK) {
        LOG_KV(LOG_LEVEL_ERROR, "cannot subscribe to queries", "subject", RPC_INDEX_QUERY,
               "error", natsStatus_GetText(s), NULL);
        return -1;
    }
    LOG_KV(LOG_LEVEL_INFO, "answering queries", "subject", RPC_INDEX_QUERY, "queue_group", x->cfg.query_group, NULL);
    return 0;
}

void indexer_stop_queries(indexer *x)
{
    if (x->qsub == NULL)
        return;
    /* Drain: stop receiving, let the handler finish what it holds; only
     * then may its store be freed. */
    if (natsSubscription_Drain(x->qsub) == NATS_OK)
        natsSubscription_WaitForDrainCompletion(x->qsub, 5000);
    natsSubscription_Destroy(x->qsub);
    x->qsub = NULL;
}
