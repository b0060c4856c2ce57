/*
 * expirer processing: claim events in, expiry events and claim deletions out.
 *
 * Claim events only move timers (timers.c): claim.accepted schedules the
 * generation's expiration or, without one, cancels any older timer;
 * claim.deleted removes the timer.  A timer pass then leases what is due
 * and takes one step per entry:
 *
 *   scheduled --(lead time, dynamic)--> env.expiring      --> warned
 *   scheduled --(deadline passed)-----> env.expired, delete object --> done
 *   warned    --(deadline)------------> env.expired, delete object --> done
 *   expired   --(delete failed before)-> delete object              --> done
 *   scheduled --(deadline, static)----> env.expiry_warning          --> done
 *
 * Each published id is derived from (event, environment, generation), so a
 * step repeated after a crash or a lost lease is dropped by the stream's
 * de-duplication window, and deleting an absent object succeeds: every step
 * is safe to repeat, and the lease (timers.h) makes repeats rare.  Static
 * claims belong to git and are never deleted here.
 */
#include "expirer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "envplane/claim/v1/claim.pb-c.h"
#include "envplane/env/v1/env.pb-c.h"
#include "events/events.h"
#include "log/log.h"

/* Passes are bounded so claim events keep flowing while a backlog of due
 * timers is worked off. */
#define MAX_BATCHES_PER_PASS 8

long long expirer_now_ms(const expirer *x)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + x->cfg.clock_offset_ms;
}

void expirer_metrics_init(expirer *x)
{
    static const double late_buckets[] = { 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300 };
    metrics_registry *r = x->reg;

    x->m_scheduled = metrics_counter(r, "expirer_timers_scheduled_total", "Claim generations whose expiration was scheduled", NULL);
    x->m_cancelled = metrics_counter(r, "expirer_timers_cancelled_total", "Timers cancelled (claim deleted, or new generation without expiration)", NULL);
    x->m_stale = metrics_counter(r, "expirer_claim_events_stale_total", "Claim events older than the stored generation (ignored)", NULL);
    x->m_expiring = metrics_counter(r, "expirer_expiring_total", "env.expiring events published", NULL);
    x->m_expired = metrics_counter(r, "expirer_expired_total", "env.expired events published", NULL);
    x->m_static = metrics_counter(r, "expirer_static_warnings_total", "env.expiry_warning events for static claims past their date", NULL);
    x->m_warning_skipped = metrics_counter(r, "expirer_warnings_skipped_total", "Lead-time warnings skipped because the deadline had already passed", NULL);
    x->m_objects_deleted = metrics_counter(r, "expirer_objects_deleted_total", "Claim objects deleted at expiry", NULL);
    x->m_lease_lost = metrics_counter(r, "expirer_lease_lost_total", "Steps whose lease was taken over or whose generation was replaced", NULL);
    x->m_errors_redis = metrics_counter(r, "expirer_redis_errors_total", "Redis operations that failed (retried)", NULL);
    x->m_errors_s3 = metrics_counter(r, "expirer_s3_errors_total", "Claim object deletions that failed (retried)", NULL);
    x->m_errors_publish = metrics_counter(r, "expirer_publish_errors_total", "Event publishes that failed (retried)", NULL);
    x->m_pending = metrics_gauge(r, "expirer_timers_pending", "Entries in the due set after the last pass", NULL);
    x->m_lateness = metrics_histogram(r, "expirer_step_lateness_seconds", "How late a timer step ran after it was due", NULL,
                                      late_buckets, sizeof late_buckets / sizeof late_buckets[0]);
}

/* ---- claim events ------------------------------------------------------------------ */

static bus_verdict on_accepted(expirer *x, const bus_msg *m, char *why, size_t why_len)
{
    Envplane__Claim__V1__ClaimAccepted *acc;
    timer_claim    tc = { 0 };
    timers_outcome oc;
    ep_err         err = { 0 };
    bus_verdict    v = BUS_ACK;
    char           gen[24];

    acc = envplane__claim__v1__claim_accepted__unpack(NULL, m->len, (const uint8_t *)m->data);
    if (acc == NULL || acc->claim == NULL || acc->claim->environment_name == NULL ||
        acc->claim->environment_name[0] == '\0') {
        snprintf(why, why_len, "claim.accepted without a decodable claim");
        LOG_KV(LOG_LEVEL_WARN, "undecodable claim.accepted; dead-lettered", "event_id", bus_msg_header(m, "ce-id"), NULL);
        v = BUS_DEAD;
        goto out;
    }
    tc.env = acc->claim->environment_name;
    tc.generation = acc->generation;
    tc.expiration = acc->claim->expiration_date ? acc->claim->expiration_date : "";
    tc.is_static = acc->source == ENVPLANE__CLAIM__V1__CLAIM_SOURCE__CLAIM_SOURCE_STATIC ||
                   (acc->object && acc->object->bucket && strcmp(acc->object->bucket, x->cfg.bucket_static) == 0);
    tc.bucket = acc->object ? acc->object->bucket : "";
    tc.key = acc->object ? acc->object->key : "";
    snprintf(gen, sizeof gen, "%llu", tc.generation);
    if (tc.expiration[0] && timers_parse_time(tc.expiration, &tc.expiration_ms) != 0) {
        snprintf(why, why_len, "claim %s generation %s: unparseable expiration_date '%.64s'", tc.env, gen, tc.expiration);
        LOG_KV(LOG_LEVEL_WARN, "unparseable expiration_date; dead-lettered", "env", tc.env, "generation", gen,
               "expiration", tc.expiration, NULL);
        v = BUS_DEAD;
        goto out;
    }
    if (!tc.is_static && tc.expiration[0] && (tc.bucket[0] == '\0' || tc.key[0] == '\0')) {
        snprintf(why, why_len, "claim %s generation %s: no object reference to delete at expiry", tc.env, gen);
        v = BUS_DEAD;
        goto out;
    }
    if (timers_schedule(x->tm, x->st, &tc, x->cfg.lead_ms, &oc, &err) != TIMERS_OK) {
        metrics_counter_add(x->m_errors_redis, 1);
        snprintf(why, why_len, "%s", err.msg);
        LOG_KV(LOG_LEVEL_WARN, "cannot schedule; will retry", "env", tc.env, "generation", gen, "error", err.msg, NULL);
        v = BUS_RETRY;
        goto out;
    }
    if (oc == TIMERS_STALE) {
        metrics_counter_add(x->m_stale, 1);
        LOG_KV(LOG_LEVEL_INFO, "claim.accepted for an older generation; ignored", "env", tc.env, "generation", gen, NULL);
    } else if (oc == TIMERS_APPLIED && tc.expiration[0]) {
        metrics_counter_add(x->m_scheduled, 1);
        LOG_KV(LOG_LEVEL_INFO, "expiry scheduled", "env", tc.env, "generation", gen, "expiration", tc.expiration,
               "static", tc.is_static ? "true" : "false", NULL);
    } else if (oc == TIMERS_APPLIED) {
        LOG_KV(LOG_LEVEL_DEBUG, "claim never expires; no timer", "env", tc.env, "generation", gen, NULL);
    }
out:
    if (acc)
        envplane__claim__v1__claim_accepted__free_unpacked(acc, NULL);
    return v;
}

static bus_verdict on_deleted(expirer *x, const bus_msg *m, char *why, size_t why_len)
{
    Envplane__Claim__V1__ClaimDeleted *del;
    timers_outcome oc;
    ep_err         err = { 0 };
    bus_verdict    v = BUS_ACK;
    char           gen[24];

    del = envplane__claim__v1__claim_deleted__unpack(NULL, m->len, (const uint8_t *)m->data);
    if (del == NULL || del->environment_name == NULL || del->environment_name[0] == '\0') {
        snprintf(why, why_len, "claim.deleted without an environment name");
        v = BUS_DEAD;
        goto out;
    }
    snprintf(gen, sizeof gen, "%llu", (unsigned long long)del->generation);
    if (timers_cancel(x->tm, x->st, del->environment_name, del->generation, &oc, &err) != TIMERS_OK) {
        metrics_counter_add(x->m_errors_redis, 1);
        snprintf(why, why_len, "%s", err.msg);
        LOG_KV(LOG_LEVEL_WARN, "cannot cancel timer; will retry", "env", del->environment_name, "error", err.msg, NULL);
        v = BUS_RETRY;
        goto out;
    }
    if (oc == TIMERS_APPLIED) {
        metrics_counter_add(x->m_cancelled, 1);
        LOG_KV(LOG_LEVEL_INFO, "claim deleted; timer removed", "env", del->environment_name, "generation", gen, NULL);
    } else if (oc == TIMERS_STALE) {
        metrics_counter_add(x->m_stale, 1);
    }
out:
    if (del)
        envplane__claim__v1__claim_deleted__free_unpacked(del, NULL);
    return v;
}

bus_verdict expirer_on_claim_event(const bus_msg *m, void *ud, char *why, size_t why_len)
{
    expirer *x = ud;

    if (strcmp(m->subject, EV_CLAIM_ACCEPTED) == 0)
        return on_accepted(x, m, why, why_len);
    if (strcmp(m->subject, EV_CLAIM_DELETED) == 0)
        return on_deleted(x, m, why, why_len);
    return BUS_ACK;   /* claim.rejected and future claim events: not ours */
}

/* ---- timer steps -------------------------------------------------------------------- */

static int publish_expiry(expirer *x, const char *subject, const char *id_prefix, const timer_entry *e,
                          long long now, int claim_deleted, const char *reason, char *why, size_t why_len)
{
    Envplane__Env__V1__EnvExpiry ex;
    const events_entry *ev = events_by_subject(subject);
    char     id[320], at[32];
    uint8_t *buf;
    size_t   len;
    ep_err   err = { 0 };
    int      rc;
    long long left = e->expiration_ms - now;

    envplane__env__v1__env_expiry__init(&ex);
    ex.environment_name = e->env;
    ex.generation = e->generation;
    ex.expiration_date = e->expiration;
    ex.source = e->is_static ? ENVPLANE__CLAIM__V1__CLAIM_SOURCE__CLAIM_SOURCE_STATIC
                             : ENVPLANE__CLAIM__V1__CLAIM_SOURCE__CLAIM_SOURCE_DYNAMIC;
    /* Whole seconds, rounded towards the deadline's side: a warning never
     * says 0 while time is left, an expiry never says 1 after it. */
    ex.seconds_left = left > 0 ? (left + 999) / 1000 : left / 1000;
    ex.claim_deleted = claim_deleted;
    ex.reason = (char *)(reason ? reason : "");
    timers_format_time(now, at);
    ex.at = at;
    snprintf(id, sizeof id, "%s/%s/%llu", id_prefix, e->env, e->generation);
    len = envplane__env__v1__env_expiry__get_packed_size(&ex);
    buf = malloc(len ? len : 1);
    if (buf == NULL) {
        snprintf(why, why_len, "out of memory packing %s", subject);
        return -1;
    }
    envplane__env__v1__env_expiry__pack(&ex, buf);
    rc = bus_publish_event(x->bus, subject, ev->ce_type, id, e->env, buf, len, NULL, &err);
    free(buf);
    if (rc != BUS_OK) {
        metrics_counter_add(x->m_errors_publish, 1);
        snprintf(why, why_len, "publishing %s: %s", id, err.msg);
        LOG_KV(LOG_LEVEL_WARN, "publish failed; will retry", "env", e->env, "event_id", id, "error", err.msg, NULL);
        return -1;
    }
    LOG_KV(LOG_LEVEL_INFO, subject + sizeof "platform.env.v1." - 1, "env", e->env, "event_id", id,
           "expiration", e->expiration, NULL);
    return 0;
}

/* Before deleting: is this still our lease on the current generation?  A
 * newer claim generation or a replica that took the lease over means the
 * object is no longer ours to delete. */
static int still_held(expirer *x, const timer_entry *e, ep_err *err)
{
    redisReply *r = store_cmd(x->st, err, "HMGET " TIMERS_ENV_PREFIX "%s generation lease", e->env);
    char        gen[24];
    int         held;

    if (r == NULL)
        return -1;
    snprintf(gen, sizeof gen, "%llu", e->generation);
    held = r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
           r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, gen) == 0 &&
           r->element[1]->type == REDIS_REPLY_STRING && strcmp(r->element[1]->str, e->token) == 0;
    freeReplyObject(r);
    return held;
}

/* Move e on to phase (due at due_ms); logs and counts a lost lease. */
static void complete(expirer *x, const timer_entry *e, timer_phase phase, long long due_ms)
{
    ep_err err = { 0 };
    int    lost = 0;

    if (timers_complete(x->tm, x->st, e, phase, due_ms, &lost, &err) != TIMERS_OK) {
        /* The lease runs out and the step is repeated, harmlessly. */
        metrics_counter_add(x->m_errors_redis, 1);
        LOG_KV(LOG_LEVEL_WARN, "cannot record timer step; it will be repeated", "env", e->env,
               "phase", timer_phase_name(phase), "error", err.msg, NULL);
    } else if (lost) {
        metrics_counter_add(x->m_lease_lost, 1);
        LOG_KV(LOG_LEVEL_INFO, "timer changed while we acted (new generation or lease taken over)",
               "env", e->env, "phase", timer_phase_name(phase), NULL);
    }
}

/* Delete the claim object of a dynamic claim, then finish the timer.
 * Returns 0, or -1 after scheduling a retry. */
static int delete_object(expirer *x, const timer_entry *e, long long now, char *why, size_t why_len)
{
    ep_err err = { 0 };
    int    held = still_held(x, e, &err);

    if (held < 0) {
        metrics_counter_add(x->m_errors_redis, 1);
        snprintf(why, why_len, "%s", err.msg);
        complete(x, e, TIMER_EXPIRED, now + x->cfg.retry_ms);
        return -1;
    }
    if (!held) {
        metrics_counter_add(x->m_lease_lost, 1);
        LOG_KV(LOG_LEVEL_INFO, "not deleting: the claim changed or another replica took over", "env", e->env, NULL);
        return 0;
    }
    if (s3_delete(x->s3, e->bucket, e->key, &err) != S3_OK) {
        metrics_counter_add(x->m_errors_s3, 1);
        snprintf(why, why_len, "deleting %s/%s: %s", e->bucket, e->key, err.msg);
        LOG_KV(LOG_LEVEL_WARN, "cannot delete expired claim; will retry", "env", e->env, "bucket", e->bucket,
               "key", e->key, "error", err.msg, NULL);
        complete(x, e, TIMER_EXPIRED, now + x->cfg.retry_ms);
        return -1;
    }
    metrics_counter_add(x->m_objects_deleted, 1);
    LOG_KV(LOG_LEVEL_INFO, "expired claim object deleted", "env", e->env, "bucket", e->bucket, "key", e->key, NULL);
    complete(x, e, TIMER_DONE, 0);
    return 0;
}

/* When the step the entry is at was due (for the lateness histogram). */
static long long due_of(const expirer *x, const timer_entry *e)
{
    if (!e->is_static && e->phase == TIMER_SCHEDULED)
        return e->expiration_ms - x->cfg.lead_ms;
    return e->expiration_ms;
}

static void step(expirer *x, const timer_entry *e, char *why, size_t why_len)
{
    long long now = expirer_now_ms(x);

    if (e->is_static) {
        if (publish_expiry(x, EV_ENV_EXPIRY_WARNING, "env-expiry-warning", e, now, 0,
                           "static claims are managed in git and are never deleted by the expirer; "
                           "remove the claim from its repository", why, why_len) != 0) {
            complete(x, e, e->phase, now + x->cfg.retry_ms);
            return;
        }
        metrics_counter_add(x->m_static, 1);
        complete(x, e, TIMER_DONE, 0);
        return;
    }
    if (e->phase == TIMER_SCHEDULED && now < e->expiration_ms) {
        if (publish_expiry(x, EV_ENV_EXPIRING, "env-expiring", e, now, 0, NULL, why, why_len) != 0) {
            complete(x, e, e->phase, now + x->cfg.retry_ms);
            return;
        }
        metrics_counter_add(x->m_expiring, 1);
        complete(x, e, TIMER_WARNED, e->expiration_ms);
        return;
    }
    if (e->phase == TIMER_SCHEDULED || e->phase == TIMER_WARNED) {
        if (e->phase == TIMER_SCHEDULED)
            metrics_counter_add(x->m_warning_skipped, 1);
        if (publish_expiry(x, EV_ENV_EXPIRED, "env-expired", e, now, 1, "expired", why, why_len) != 0) {
            complete(x, e, e->phase, now + x->cfg.retry_ms);
            return;
        }
        metrics_counter_add(x->m_expired, 1);
    }
    /* warned/scheduled just published, or expired left over from a failed delete */
    delete_object(x, e, now, why, why_len);
}

/* How many steps the rate limit allows now (at most want).  Refills the
 * bucket; capacity is a tenth of a second's worth, so bursts stay short. */
static size_t rate_allow(expirer *x, size_t want, long long now)
{
    double rate = (double)x->cfg.max_rate, cap = rate / 10 < 1 ? 1 : rate / 10;

    if (x->cfg.max_rate <= 0)
        return want;
    if (x->tokens_at == 0)
        x->tokens = cap;
    else if (now > x->tokens_at)
        x->tokens += (double)(now - x->tokens_at) * rate / 1000.0;
    if (x->tokens > cap)
        x->tokens = cap;
    x->tokens_at = now;
    if (x->tokens < 1) {
        x->throttled_until = now + (long long)((1 - x->tokens) * 1000.0 / rate) + 1;
        return 0;
    }
    return (size_t)x->tokens < want ? (size_t)x->tokens : want;
}

int expirer_run_due(expirer *x, char *why, size_t why_len)
{
    int steps = 0;

    x->throttled_until = 0;
    for (int b = 0; b < MAX_BATCHES_PER_PASS && !svc_stopping(x->svc); b++) {
        timer_entry *es = NULL;
        size_t       n = 0, i, limit;
        ep_err       err = { 0 };
        long long    now = expirer_now_ms(x), lease_end = now + x->cfg.lease_ms;

        limit = rate_allow(x, (size_t)x->cfg.batch, now);
        if (limit == 0)
            break;
        if (timers_lease(x->tm, x->st, now, x->cfg.lease_ms, limit, &es, &n, &err) != TIMERS_OK) {
            metrics_counter_add(x->m_errors_redis, 1);
            snprintf(why, why_len, "%s", err.msg);
            return -1;
        }
        for (i = 0; i < n; i++) {
            long long t = expirer_now_ms(x);
            /* Give back what we cannot finish well inside the lease (stop
             * requested, or a slow batch) so nobody waits for it to lapse. */
            if (svc_stopping(x->svc) || t > lease_end - x->cfg.lease_ms / 4)
                break;
            if (es[i].phase != TIMER_EXPIRED && t >= due_of(x, &es[i]))
                metrics_histogram_observe(x->m_lateness, (double)(t - due_of(x, &es[i])) / 1000.0);
            step(x, &es[i], why, why_len);
            if (x->cfg.max_rate > 0)
                x->tokens -= 1;
            steps++;
        }
        for (; i < n; i++)
            complete(x, &es[i], es[i].phase, expirer_now_ms(x));
        timers_entries_free(es, n);
        if (n < limit)
            break;   /* nothing more is due */
    }
    return steps;
}
