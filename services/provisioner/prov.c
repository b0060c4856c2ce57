/*
 * provisioner processing: claim generations -> rendered desired state in
 * the state bucket, announced as env.* events.
 *
 * Order of work for claim.accepted at generation G (envstate.h has the
 * state machine):
 *
 *   1. announce whatever an earlier crash left committed but unpublished;
 *   2. pending (script: refuses anything older than the stored generation);
 *   3. publish env.provisioning (id env-provisioning/<env>/<G>), then
 *      provisioning;
 *   4. render, PUT every document under <env>/, delete keys under <env>/
 *      that are not part of this generation (a removed service);
 *   5. ready with the document list (or failed with the reason), then
 *      publish env.ready / env.failed and mark it published.
 *
 * Deletion (claim.deleted, or env.expired whose claim was deleted): the
 * same shape with deprovisioning, removal of every key under <env>/ and
 * deleted.  Every event id is derived from (event, env, generation), so a
 * step repeated after a crash or a redelivery republishes the same id and
 * JetStream drops it; the `published` flag covers restarts that take longer
 * than the stream's duplicate window.  A message is acknowledged only after
 * its final state is committed.
 */
#include "prov.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ce/ce.h"
#include "claim/claim.h"
#include "envplane/claim/v1/claim.pb-c.h"
#include "envplane/env/v1/env.pb-c.h"
#include "events/events.h"
#include "log/log.h"
#include "render/render.h"

typedef enum { PROV_DONE, PROV_RETRY } prov_result;

void prov_metrics_init(prov *p)
{
    static const double lat[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5 };
    metrics_registry *r = p->reg;

    p->m_ready = metrics_counter(r, "provisioner_ready_total", "Generations that reached ready", NULL);
    p->m_failed = metrics_counter(r, "provisioner_failed_total", "Generations that ended in failed", NULL);
    p->m_deleted = metrics_counter(r, "provisioner_deleted_total", "Environments deprovisioned", NULL);
    p->m_stale = metrics_counter(r, "provisioner_stale_total", "Events for a generation older than the stored one (ignored)", NULL);
    p->m_duplicate = metrics_counter(r, "provisioner_duplicate_total", "Events whose transition was already done (redeliveries)", NULL);
    p->m_skipped = metrics_counter(r, "provisioner_skipped_total", "Stream events of other kinds (acknowledged untouched)", NULL);
    p->m_malformed = metrics_counter(r, "provisioner_malformed_total", "Events whose payload could not be decoded (dead-lettered)", NULL);
    p->m_docs_written = metrics_counter(r, "provisioner_documents_written_total", "Rendered documents written to the state bucket", NULL);
    p->m_docs_removed = metrics_counter(r, "provisioner_documents_removed_total", "Documents removed from the state bucket", NULL);
    p->m_s3_errors = metrics_counter(r, "provisioner_s3_errors_total", "State bucket requests that failed", NULL);
    p->m_redis_errors = metrics_counter(r, "provisioner_redis_errors_total", "Redis commands that failed (message retried)", NULL);
    p->m_publish_errors = metrics_counter(r, "provisioner_publish_errors_total", "Event publishes that failed (message retried)", NULL);
    p->m_latency = metrics_histogram(r, "provisioner_apply_seconds", "Time to render and store one generation", NULL,
                                     lat, sizeof lat / sizeof lat[0]);
}

/* ---- events ------------------------------------------------------------------------ */

static const char *subject_of(envstate_state s)
{
    switch (s) {
    case ENVSTATE_PENDING:        /* env.provisioning announces the start of work */
    case ENVSTATE_PROVISIONING:   return EV_ENV_PROVISIONING;
    case ENVSTATE_READY:          return EV_ENV_READY;
    case ENVSTATE_FAILED:         return EV_ENV_FAILED;
    case ENVSTATE_DEPROVISIONING: return EV_ENV_DEPROVISIONING;
    case ENVSTATE_DELETED:        return EV_ENV_DELETED;
    default:                      return NULL;
    }
}

static int type_from_name(const char *s)
{
    for (int t = CLAIM_ENV_DEV; t <= CLAIM_ENV_SUE; t++)
        if (strcmp(claim_env_type_str((claim_env_type)t), s) == 0)
            return t;
    return 0;
}

static int source_from_name(const char *s)
{
    if (strcmp(s, claim_source_str(CLAIM_SOURCE_DYNAMIC)) == 0)
        return CLAIM_SOURCE_DYNAMIC;
    if (strcmp(s, claim_source_str(CLAIM_SOURCE_STATIC)) == 0)
        return CLAIM_SOURCE_STATIC;
    return 0;
}

/* Publish the event of `state` (the record's) for env at generation.
 * docs: newline-separated keys for env.ready, else NULL. */
static int publish_transition(prov *p, const char *env, uint64_t generation, envstate_state state,
                              envstate_state previous, const envstate_record *rec, const char *docs,
                              char *why, size_t why_len)
{
    Envplane__Env__V1__EnvTransition t;
    const char *subject = subject_of(state);
    const events_entry *ev = subject ? events_by_subject(subject) : NULL;
    char      prefix[96], at[32], id[160];
    char     *dcopy = NULL, **dv = NULL;
    size_t    nd = 0, len;
    uint8_t  *buf = NULL;
    ep_err    err = { 0 };
    int       rc = -1;

    if (ev == NULL) {
        snprintf(why, why_len, "no event for state %s", envstate_name(state));
        return -1;
    }
    envplane__env__v1__env_transition__init(&t);
    snprintf(prefix, sizeof prefix, "%s/", env);
    ce_time_now(at);
    t.environment_name = (char *)env;
    t.generation = generation;
    t.state = (Envplane__Env__V1__EnvState)(state == ENVSTATE_PENDING ? ENVSTATE_PROVISIONING : state);
    t.previous_state = (Envplane__Env__V1__EnvState)previous;
    t.reason = (char *)(rec && (state == ENVSTATE_FAILED || state == ENVSTATE_DELETED ||
                                state == ENVSTATE_DEPROVISIONING) ? rec->reason : "");
    t.environment_type = (Envplane__Claim__V1__EnvironmentType)(rec ? type_from_name(rec->type) : 0);
    t.source = (Envplane__Claim__V1__ClaimSource)(rec ? source_from_name(rec->source) : 0);
    t.state_bucket = p->cfg.state_bucket;
    t.state_prefix = prefix;
    t.at = at;
    if (docs && docs[0]) {
        size_t n = 1;
        dcopy = strdup(docs);
        for (const char *c = docs; *c; c++)
            n += *c == '\n';
        dv = calloc(n, sizeof *dv);
        if (dcopy == NULL || dv == NULL) {
            snprintf(why, why_len, "out of memory");
            goto out;
        }
        for (char *save = NULL, *tok = strtok_r(dcopy, "\n", &save); tok; tok = strtok_r(NULL, "\n", &save))
            dv[nd++] = tok;
        t.n_documents = nd;
        t.documents = dv;
    }
    len = protobuf_c_message_get_packed_size(&t.base);
    buf = malloc(len ? len : 1);
    if (buf == NULL) {
        snprintf(why, why_len, "out of memory");
        goto out;
    }
    protobuf_c_message_pack(&t.base, buf);
    /* "env-ready/<env>/<generation>": the de-duplication id. */
    snprintf(id, sizeof id, "env-%s/%s/%llu", subject + strlen("platform.env.v1."), env,
             (unsigned long long)generation);
    if (bus_publish_event(p->bus, subject, ev->ce_type, id, env, buf, len, NULL, &err) != BUS_OK) {
        metrics_counter_add(p->m_publish_errors, 1);
        snprintf(why, why_len, "publishing %s: %s", id, err.msg);
        LOG_KV(LOG_LEVEL_WARN, "publish failed; will retry", "env", env, "event_id", id, "error", err.msg, NULL);
        goto out;
    }
    LOG_KV(LOG_LEVEL_DEBUG, "published", "env", env, "event_id", id, NULL);
    rc = 0;
out:
    free(buf);
    free(dv);
    free(dcopy);
    return rc;
}

static int redis_failed(prov *p, const ep_err *err, char *why, size_t why_len)
{
    metrics_counter_add(p->m_redis_errors, 1);
    snprintf(why, why_len, "%s", err->msg);
    LOG_KV(LOG_LEVEL_WARN, "redis failed; will retry", "error", err->msg, NULL);
    return -1;
}

/* Publish the event of the record's committed state and mark it
 * published.  For ready, the document list comes from the record. */
static int announce(prov *p, const char *env, const envstate_record *rec, char *why, size_t why_len)
{
    ep_err      err = { 0 };
    redisReply *r = NULL;
    const char *docs = NULL;
    int         rc = -1;

    if (rec->state == ENVSTATE_READY) {
        r = store_cmd(p->st, &err, "HGET ep:provisioner:env:%s documents", env);
        if (r == NULL)
            return redis_failed(p, &err, why, why_len);
        docs = r->type == REDIS_REPLY_STRING ? r->str : NULL;
    }
    if (publish_transition(p, env, rec->generation, rec->state, rec->previous, rec, docs, why, why_len) != 0)
        goto out;
    if (envstate_mark_published(p->es, p->st, env, rec->generation, rec->state, &err) != 0) {
        /* Published but not marked: the next message republishes the same
         * id, which the stream drops. */
        redis_failed(p, &err, why, why_len);
        goto out;
    }
    rc = 0;
out:
    freeReplyObject(r);
    return rc;
}

/* Step 1: a final state committed before a crash but never announced. */
static int flush_unpublished(prov *p, const char *env, char *why, size_t why_len)
{
    envstate_record rec;
    ep_err          err = { 0 };

    if (envstate_get(p->st, env, &rec, &err) != 0)
        return redis_failed(p, &err, why, why_len);
    if (rec.published)
        return 0;
    switch (rec.state) {
    case ENVSTATE_READY:
    case ENVSTATE_FAILED:
    case ENVSTATE_DEPROVISIONING:
    case ENVSTATE_DELETED:
        LOG_KV(LOG_LEVEL_INFO, "announcing a state committed before a restart", "env", env,
               "state", envstate_name(rec.state), NULL);
        return announce(p, env, &rec, why, why_len);
    default:
        return 0;
    }
}

static int transition(prov *p, const char *env, const envstate_change *ch, envstate_verdict *v,
                      envstate_record *rec, char *why, size_t why_len)
{
    ep_err err = { 0 };

    if (envstate_transition(p->es, p->st, env, ch, v, rec, &err) != 0)
        return redis_failed(p, &err, why, why_len);
    return 0;
}

/* ---- the state bucket ------------------------------------------------------------------ */

typedef struct list_ctx {
    char  **keys;
    size_t  n, cap;
    int     oom;
} list_ctx;

static int collect_key(const s3_list_entry *e, void *ud)
{
    list_ctx *x = ud;

    if (x->n == x->cap) {
        size_t ncap = x->cap ? 2 * x->cap : 16;
        char **nk = realloc(x->keys, ncap * sizeof *nk);
        if (nk == NULL) {
            x->oom = 1;
            return 1;
        }
        x->keys = nk;
        x->cap = ncap;
    }
    x->keys[x->n] = strdup(e->key);
    if (x->keys[x->n] == NULL) {
        x->oom = 1;
        return 1;
    }
    x->n++;
    return 0;
}

static void list_dispose(list_ctx *x)
{
    for (size_t i = 0; i < x->n; i++)
        free(x->keys[i]);
    free(x->keys);
    memset(x, 0, sizeof *x);
}

/* Delete every key under <env>/ that is not in keep (newline-separated,
 * NULL: delete all).  Returns 0 or -1 with why. */
static int remove_other_keys(prov *p, const char *env, const char *keep, char *why, size_t why_len)
{
    list_ctx x = { 0 };
    char     prefix[96];
    ep_err   err = { 0 };
    int      rc = -1;

    snprintf(prefix, sizeof prefix, "%s/", env);
    if (s3_list(p->s3, p->cfg.state_bucket, prefix, 0, collect_key, &x, &err) != S3_OK || x.oom) {
        metrics_counter_add(p->m_s3_errors, 1);
        snprintf(why, why_len, "listing %s/%s: %s", p->cfg.state_bucket, prefix, x.oom ? "out of memory" : err.msg);
        goto out;
    }
    for (size_t i = 0; i < x.n; i++) {
        if (keep) {
            size_t      kl = strlen(x.keys[i]);
            const char *hit = keep;
            int         found = 0;
            while ((hit = strstr(hit, x.keys[i])) != NULL) {
                if ((hit == keep || hit[-1] == '\n') && (hit[kl] == '\n' || hit[kl] == '\0')) {
                    found = 1;
                    break;
                }
                hit += kl;
            }
            if (found)
                continue;
        }
        if (s3_delete(p->s3, p->cfg.state_bucket, x.keys[i], &err) != S3_OK) {
            metrics_counter_add(p->m_s3_errors, 1);
            snprintf(why, why_len, "deleting %s/%s: %s", p->cfg.state_bucket, x.keys[i], err.msg);
            goto out;
        }
        metrics_counter_add(p->m_docs_removed, 1);
        LOG_KV(LOG_LEVEL_DEBUG, "removed document", "env", env, "key", x.keys[i], NULL);
    }
    rc = 0;
out:
    list_dispose(&x);
    return rc;
}

/* Render and store.  Returns 0 (docs = new newline-separated key list),
 * 1 for a permanent failure (why = reason), -1 for a failed write. */
static int render_and_store(prov *p, const Envplane__Claim__V1__ClaimAccepted *acc, char **docs,
                            char *why, size_t why_len)
{
    const Envplane__Claim__V1__Claim *c = acc->claim;
    render_service *sv = calloc(c->n_services ? c->n_services : 1, sizeof *sv);
    render_env      e;
    render_options  o = { 0 };
    render_set      set;
    ep_err          err = { 0 };
    char           *list = NULL, **keys = NULL;
    writers_item   *items = NULL;
    size_t          used = 0, cap = 0;
    int             rc = -1;

    render_set_init(&set);
    *docs = NULL;
    if (sv == NULL) {
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < c->n_services; i++) {
        sv[i].name = c->services[i]->name;
        sv[i].version = c->services[i]->version;
        sv[i].docker_image = c->services[i]->docker_image;
        sv[i].ansible_artifact = c->services[i]->ansible_artifact;
    }
    memset(&e, 0, sizeof e);
    e.name = c->environment_name;
    e.type = (claim_env_type)c->environment_type;
    e.generation = acc->generation;
    e.user = c->user;
    e.pool = c->environment_pool;
    e.content_hash = acc->content_hash;
    e.services = sv;
    e.n_services = c->n_services;
    o.image_registry = p->cfg.image_registry;
    o.flux_namespace = p->cfg.flux_namespace;
    o.claims_namespace = p->cfg.claims_namespace;
    o.interval = p->cfg.interval;
    if (render_environment(&e, &o, &set, &err) != RENDER_OK) {
        snprintf(why, why_len, "rendering: %s", err.msg);
        rc = err.code == RENDER_ENOMEM ? -1 : 1;
        goto out;
    }
    keys = calloc(set.n, sizeof *keys);
    items = calloc(set.n, sizeof *items);
    if (keys == NULL || items == NULL) {
        snprintf(why, why_len, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < set.n; i++) {
        size_t kl = strlen(e.name) + 1 + strlen(set.docs[i].path) + 1;

        keys[i] = malloc(kl);
        if (keys[i] == NULL) {
            snprintf(why, why_len, "out of memory");
            goto out;
        }
        snprintf(keys[i], kl, "%s/%s", e.name, set.docs[i].path);
        items[i].key = keys[i];
        items[i].data = set.docs[i].data;
        items[i].len = set.docs[i].len;
        if (used + kl + 1 > cap) {
            size_t ncap = cap ? 2 * cap : 512;
            char  *nl;
            while (ncap < used + kl + 1)
                ncap *= 2;
            nl = realloc(list, ncap);
            if (nl == NULL) {
                snprintf(why, why_len, "out of memory");
                goto out;
            }
            list = nl;
            cap = ncap;
        }
        if (used)
            list[used++] = '\n';
        memcpy(list + used, keys[i], kl);
        used += kl - 1;
    }
    /* Every document concurrently, then the kustomization (docs[0]) that
     * lists them, so nobody reading the bucket sees it name a missing file. */
    if (writers_put_all(p->wr, p->cfg.state_bucket, items + 1, set.n - 1, "application/yaml", &err) != 0 ||
        writers_put_all(p->wr, p->cfg.state_bucket, items, 1, "application/yaml", &err) != 0) {
        metrics_counter_add(p->m_s3_errors, 1);
        snprintf(why, why_len, "writing %s/%s/: %s", p->cfg.state_bucket, e.name, err.msg);
        goto out;
    }
    metrics_counter_add(p->m_docs_written, set.n);
    /* Documents of an older generation that this one no longer has (a
     * service removed from the claim). */
    if (remove_other_keys(p, e.name, list ? list : "", why, why_len) != 0)
        goto out;
    *docs = list;
    list = NULL;
    rc = 0;
out:
    for (size_t i = 0; keys && i < set.n; i++)
        free(keys[i]);
    free(keys);
    free(items);
    free(list);
    free(sv);
    render_set_dispose(&set);
    return rc;
}

/* ---- provisioning ------------------------------------------------------------------------ */

static prov_result apply(prov *p, const Envplane__Claim__V1__ClaimAccepted *acc, const bus_msg *m,
                         char *why, size_t why_len)
{
    const char      *env = acc->claim->environment_name;
    envstate_change  ch;
    envstate_verdict v;
    envstate_record  rec;
    char             at[32], gen[24], *docs = NULL;
    struct timespec  t0, t1;
    prov_result      res = PROV_RETRY;
    int              rc;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    snprintf(gen, sizeof gen, "%llu", (unsigned long long)acc->generation);
    if (flush_unpublished(p, env, why, why_len) != 0)
        return PROV_RETRY;
    ce_time_now(at);
    memset(&ch, 0, sizeof ch);
    ch.generation = acc->generation;
    ch.to = ENVSTATE_PENDING;
    ch.new_generation_ok = 1;
    ch.type = claim_env_type_str((claim_env_type)acc->claim->environment_type);
    ch.source = claim_source_str((claim_source)acc->source);
    ch.at = at;
    if (transition(p, env, &ch, &v, &rec, why, why_len) != 0)
        return PROV_RETRY;
    if (v == ENVSTATE_STALE) {
        char have[24];
        snprintf(have, sizeof have, "%llu", (unsigned long long)rec.generation);
        metrics_counter_add(p->m_stale, 1);
        LOG_KV(LOG_LEVEL_INFO, "claim generation older than the stored one; ignored", "env", env,
               "generation", gen, "stored_generation", have, NULL);
        return PROV_DONE;
    }
    if (v == ENVSTATE_REFUSED && rec.state != ENVSTATE_PROVISIONING) {
        /* ready/failed: a redelivery of work already finished (announced
         * by flush_unpublished if it had not been); deprovisioning/deleted:
         * this generation was deleted before its acceptance came round. */
        metrics_counter_add(p->m_duplicate, 1);
        LOG_KV(LOG_LEVEL_DEBUG, "generation already handled", "env", env, "generation", gen,
               "state", envstate_name(rec.state), NULL);
        return PROV_DONE;
    }
    if (rec.state == ENVSTATE_PENDING) {
        if (publish_transition(p, env, acc->generation, ENVSTATE_PROVISIONING, ENVSTATE_PENDING, &rec, NULL,
                               why, why_len) != 0)
            return PROV_RETRY;
        ch.to = ENVSTATE_PROVISIONING;
        ch.new_generation_ok = 0;
        if (transition(p, env, &ch, &v, &rec, why, why_len) != 0)
            return PROV_RETRY;
        if (v == ENVSTATE_STALE || rec.state != ENVSTATE_PROVISIONING)
            return PROV_DONE;   /* overtaken: nothing left for this generation */
    }

    /* provisioning: (re-)render; writing the same bytes again is harmless. */
    rc = render_and_store(p, acc, &docs, why, why_len);
    if (rc < 0 && m->num_delivered < (uint64_t)p->cfg.max_deliver) {
        LOG_KV(LOG_LEVEL_WARN, "storing rendered state failed; will retry", "env", env, "generation", gen,
               "error", why, NULL);
        goto out;   /* stays provisioning; the redelivery resumes here */
    }
    ce_time_now(at);
    ch.to = rc == 0 ? ENVSTATE_READY : ENVSTATE_FAILED;
    ch.reason = rc == 0 ? "" : why;
    ch.documents = docs;
    ch.new_generation_ok = 0;
    ch.at = at;
    {
        char reason[512];
        snprintf(reason, sizeof reason, "%s", rc == 0 ? "" : why);
        ch.reason = reason;
        if (transition(p, env, &ch, &v, &rec, why, why_len) != 0)
            goto out;
    }
    if (v == ENVSTATE_STALE || (rec.state != ENVSTATE_READY && rec.state != ENVSTATE_FAILED)) {
        res = PROV_DONE;
        goto out;
    }
    /* Counted and logged when committed, before the event announces it, so
     * whoever sees the event also sees the counter. */
    if (v == ENVSTATE_OK && rec.state == ENVSTATE_READY) {
        metrics_counter_add(p->m_ready, 1);
        LOG_KV(LOG_LEVEL_INFO, "environment ready", "env", env, "generation", gen, NULL);
    } else if (v == ENVSTATE_OK) {
        metrics_counter_add(p->m_failed, 1);
        LOG_KV(LOG_LEVEL_WARN, "environment failed", "env", env, "generation", gen, "reason", rec.reason, NULL);
    }
    if (!rec.published && announce(p, env, &rec, why, why_len) != 0)
        goto out;
    res = PROV_DONE;
out:
    free(docs);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    metrics_histogram_observe(p->m_latency, (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    return res;
}

/* ---- deprovisioning ------------------------------------------------------------------------- */

static prov_result deprovision(prov *p, const char *env, uint64_t generation, int source, const char *reason,
                               char *why, size_t why_len)
{
    envstate_change  ch;
    envstate_verdict v;
    envstate_record  rec;
    char             at[32], gen[24];

    snprintf(gen, sizeof gen, "%llu", (unsigned long long)generation);
    if (flush_unpublished(p, env, why, why_len) != 0)
        return PROV_RETRY;
    ce_time_now(at);
    memset(&ch, 0, sizeof ch);
    ch.generation = generation;
    ch.to = ENVSTATE_DEPROVISIONING;
    ch.new_generation_ok = 1;
    ch.reason = reason;
    ch.source = source ? claim_source_str((claim_source)source) : NULL;
    ch.at = at;
    if (transition(p, env, &ch, &v, &rec, why, why_len) != 0)
        return PROV_RETRY;
    if (v == ENVSTATE_STALE) {
        metrics_counter_add(p->m_stale, 1);
        LOG_KV(LOG_LEVEL_INFO, "deletion of an older generation; a newer one exists, ignored", "env", env,
               "generation", gen, NULL);
        return PROV_DONE;
    }
    if (rec.state == ENVSTATE_DELETED) {
        metrics_counter_add(p->m_duplicate, 1);
        return PROV_DONE;   /* already deleted (and announced by flush_unpublished) */
    }
    if (rec.state != ENVSTATE_DEPROVISIONING)
        return PROV_DONE;
    if (!rec.published && announce(p, env, &rec, why, why_len) != 0)
        return PROV_RETRY;
    if (remove_other_keys(p, env, NULL, why, why_len) != 0) {
        LOG_KV(LOG_LEVEL_WARN, "removing rendered state failed; will retry", "env", env, "error", why, NULL);
        return PROV_RETRY;
    }
    ce_time_now(at);
    ch.to = ENVSTATE_DELETED;
    ch.new_generation_ok = 0;
    ch.reason = rec.reason;   /* why the deletion began */
    if (transition(p, env, &ch, &v, &rec, why, why_len) != 0)
        return PROV_RETRY;
    if (rec.state != ENVSTATE_DELETED || rec.generation != generation)
        return PROV_DONE;
    if (v == ENVSTATE_OK) {
        metrics_counter_add(p->m_deleted, 1);
        LOG_KV(LOG_LEVEL_INFO, "environment deleted", "env", env, "generation", gen, "reason", rec.reason, NULL);
    }
    if (!rec.published && announce(p, env, &rec, why, why_len) != 0)
        return PROV_RETRY;
    return PROV_DONE;
}

/* ---- dispatch ----------------------------------------------------------------------------------- */

bus_verdict prov_on_event(const bus_msg *m, void *ud, char *why, size_t why_len)
{
    prov       *p = ud;
    prov_result res = PROV_DONE;

    if (strcmp(m->subject, EV_CLAIM_ACCEPTED) == 0) {
        Envplane__Claim__V1__ClaimAccepted *acc =
            envplane__claim__v1__claim_accepted__unpack(NULL, m->len, (const uint8_t *)m->data);
        if (acc == NULL || acc->claim == NULL || acc->claim->environment_name == NULL ||
            acc->claim->environment_name[0] == '\0' || acc->generation == 0) {
            if (acc)
                envplane__claim__v1__claim_accepted__free_unpacked(acc, NULL);
            metrics_counter_add(p->m_malformed, 1);
            snprintf(why, why_len, "undecodable claim.accepted payload");
            return BUS_DEAD;
        }
        res = apply(p, acc, m, why, why_len);
        envplane__claim__v1__claim_accepted__free_unpacked(acc, NULL);
    } else if (strcmp(m->subject, EV_CLAIM_DELETED) == 0) {
        Envplane__Claim__V1__ClaimDeleted *del =
            envplane__claim__v1__claim_deleted__unpack(NULL, m->len, (const uint8_t *)m->data);
        if (del == NULL || del->environment_name == NULL || del->environment_name[0] == '\0') {
            if (del)
                envplane__claim__v1__claim_deleted__free_unpacked(del, NULL);
            metrics_counter_add(p->m_malformed, 1);
            snprintf(why, why_len, "undecodable claim.deleted payload");
            return BUS_DEAD;
        }
        res = deprovision(p, del->environment_name, del->generation, (int)del->source, "claim deleted", why, why_len);
        envplane__claim__v1__claim_deleted__free_unpacked(del, NULL);
    } else if (strcmp(m->subject, EV_ENV_EXPIRED) == 0) {
        Envplane__Env__V1__EnvExpiry *ex =
            envplane__env__v1__env_expiry__unpack(NULL, m->len, (const uint8_t *)m->data);
        if (ex == NULL || ex->environment_name == NULL || ex->environment_name[0] == '\0') {
            if (ex)
                envplane__env__v1__env_expiry__free_unpacked(ex, NULL);
            metrics_counter_add(p->m_malformed, 1);
            snprintf(why, why_len, "undecodable env.expired payload");
            return BUS_DEAD;
        }
        /* Only an expiry that removed the claim ends the environment; the
         * claim.deleted that follows is then a no-op (same generation). */
        if (ex->claim_deleted)
            res = deprovision(p, ex->environment_name, ex->generation, (int)ex->source, "expired", why, why_len);
        else
            metrics_counter_add(p->m_skipped, 1);
        envplane__env__v1__env_expiry__free_unpacked(ex, NULL);
    } else {
        metrics_counter_add(p->m_skipped, 1);
    }
    return res == PROV_DONE ? BUS_ACK : BUS_RETRY;
}
