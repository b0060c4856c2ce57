/*
 * claim-ingest processing: turn bucket state into claim events.
 *
 * The service is state-based rather than event-based: a notification only
 * says "look at bucket/key".  We then read the object as it is now and
 * compare it with what we last committed in Redis.  That makes MinIO's
 * at-least-once delivery, reordered notifications and lost notifications
 * (repaired by the resync pass) all harmless:
 *
 *   ep:ingest:claim:<env>      hash: bucket key hash etag generation state
 *                              (live|deleted) published (0|1) updated_at
 *   ep:ingest:keys:<bucket>    hash: object key -> environment name
 *   ep:ingest:rejects:<bucket> hash: object key -> etag last rejected
 *
 * Commit order for an accepted claim: a Lua script bumps the generation
 * and marks it unpublished (atomic); we publish claim.accepted with the id
 * claim-accepted/<env>/<generation>; then mark it published.  A crash
 * between any two steps republishes the same id on redelivery or resync,
 * and JetStream drops the duplicate, so each generation is announced once.
 */
#include "ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "ce/ce.h"
#include "claim/claim.h"
#include "envplane/claim/v1/claim.pb-c.h"
#include "events/events.h"
#include "log/log.h"
#include "s3event/s3event.h"

static const char ACCEPT_LUA[] =
    "local r = redis.call('HMGET', KEYS[1], 'bucket', 'key', 'hash', 'generation', 'state', 'published')\n"
    "local gen = tonumber(r[4]) or 0\n"
    "redis.call('HDEL', KEYS[3], ARGV[2])\n"
    "if r[5] == 'live' and (r[1] ~= ARGV[1] or r[2] ~= ARGV[2]) then\n"
    "  return {'conflict', r[1], r[2]}\n"
    "end\n"
    "if r[5] == 'live' and r[3] == ARGV[3] then\n"
    "  redis.call('HSET', KEYS[1], 'etag', ARGV[4])\n"
    "  if r[6] == '1' then return {'noop', tostring(gen)} end\n"
    "  return {'republish', tostring(gen)}\n"
    "end\n"
    "gen = gen + 1\n"
    "redis.call('HSET', KEYS[1], 'bucket', ARGV[1], 'key', ARGV[2], 'hash', ARGV[3], 'etag', ARGV[4],\n"
    "           'generation', gen, 'state', 'live', 'published', '0', 'updated_at', ARGV[6])\n"
    "redis.call('HSET', KEYS[2], ARGV[2], ARGV[5])\n"
    "return {'new', tostring(gen)}\n";

static const char DELETE_LUA[] =
    "redis.call('HDEL', KEYS[3], ARGV[2])\n"
    "local r = redis.call('HMGET', KEYS[1], 'bucket', 'key', 'generation', 'state', 'published')\n"
    "if r[1] ~= ARGV[1] or r[2] ~= ARGV[2] then\n"
    "  redis.call('HDEL', KEYS[2], ARGV[2])\n"
    "  return {'unknown', '0'}\n"
    "end\n"
    "if r[4] == 'deleted' then\n"
    "  if r[5] == '1' then redis.call('HDEL', KEYS[2], ARGV[2]) return {'noop', r[3]} end\n"
    "  return {'republish', r[3]}\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'state', 'deleted', 'published', '0', 'updated_at', ARGV[3])\n"
    "return {'new', r[3]}\n";

int ingest_scripts_create(ingest *ing)
{
    ing->sc_accept = store_script_create(ACCEPT_LUA);
    ing->sc_delete = store_script_create(DELETE_LUA);
    return ing->sc_accept && ing->sc_delete ? 0 : -1;
}

void ingest_metrics_init(ingest *ing)
{
    static const double lat_buckets[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5 };
    metrics_registry *r = ing->reg;

    ing->m_accepted = metrics_counter(r, "claim_ingest_accepted_total", "Claims accepted with a new generation", NULL);
    ing->m_noop = metrics_counter(r, "claim_ingest_noop_total", "Claim objects whose content was unchanged (no new generation)", NULL);
    ing->m_deleted = metrics_counter(r, "claim_ingest_deleted_total", "Claims deleted", NULL);
    ing->m_notifications = metrics_counter(r, "claim_ingest_notifications_total", "Bucket notification records received", NULL);
    ing->m_malformed = metrics_counter(r, "claim_ingest_notifications_malformed_total", "Notifications that could not be parsed (dead-lettered)", NULL);
    ing->m_vanished = metrics_counter(r, "claim_ingest_objects_vanished_total", "Objects gone between notification and GET", NULL);
    ing->m_ignored = metrics_counter(r, "claim_ingest_records_ignored_total", "Notification records for other buckets or event kinds", NULL);
    ing->m_resync_runs = metrics_counter(r, "claim_ingest_resync_runs_total", "Completed resync passes", NULL);
    ing->m_resync_errors = metrics_counter(r, "claim_ingest_resync_errors_total", "Resync passes that failed", NULL);
    ing->m_resync_repaired = metrics_counter(r, "claim_ingest_resync_repaired_total", "Objects or removals the resync found unprocessed", NULL);
    ing->m_s3_errors = metrics_counter(r, "claim_ingest_s3_errors_total", "S3 requests that failed (retried)", NULL);
    ing->m_redis_errors = metrics_counter(r, "claim_ingest_redis_errors_total", "Redis commands that failed (retried)", NULL);
    ing->m_publish_errors = metrics_counter(r, "claim_ingest_publish_errors_total", "Event publishes that failed (retried)", NULL);
    ing->m_latency = metrics_histogram(r, "claim_ingest_process_seconds", "Time to process one claim object", NULL,
                                       lat_buckets, sizeof lat_buckets / sizeof lat_buckets[0]);
}

static metrics_counter *rejected_counter(ingest *ing, const char *code)
{
    char labels[96];

    snprintf(labels, sizeof labels, "code=\"%s\"", code);
    return metrics_counter(ing->reg, "claim_ingest_rejected_total", "Claims rejected, by first error code", labels);
}

static claim_source source_of(ingest *ing, const char *bucket)
{
    if (strcmp(bucket, ing->cfg.bucket_static) == 0)
        return CLAIM_SOURCE_STATIC;
    if (strcmp(bucket, ing->cfg.bucket_dynamic) == 0)
        return CLAIM_SOURCE_DYNAMIC;
    return CLAIM_SOURCE_UNSPECIFIED;
}

static void now_rfc3339(char out[32])
{
    ce_time_now(out);
}

/* Short stable digest of a string for ids that must not carry raw keys
 * (object keys may contain any byte, headers may not). */
static void short_digest(const char *s, char out[17])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int  n = 0;

    EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
    for (int i = 0; i < 8; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static int publish(ingest *ing, const char *subject, const char *id, const char *env,
                   const ProtobufCMessage *msg, char *why, size_t why_len)
{
    size_t   len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(len ? len : 1);
    ep_err   err = { 0 };
    const events_entry *ev = events_by_subject(subject);
    int      rc;

    if (buf == NULL) {
        snprintf(why, why_len, "out of memory packing %s", subject);
        return -1;
    }
    protobuf_c_message_pack(msg, buf);
    rc = bus_publish_event(ing->bus, subject, ev->ce_type, id, env, buf, len, NULL, &err);
    free(buf);
    if (rc != BUS_OK) {
        metrics_counter_add(ing->m_publish_errors, 1);
        snprintf(why, why_len, "%s", err.msg);
        LOG_KV(LOG_LEVEL_WARN, "publish failed; will retry", "env", env, "event_id", id, "error", err.msg, NULL);
        return -1;
    }
    return 0;
}

static void fill_objref(Envplane__Claim__V1__ObjectRef *o, const char *bucket, const char *key,
                        const char *etag, long long size, const char *sequencer)
{
    envplane__claim__v1__object_ref__init(o);
    o->bucket = (char *)bucket;
    o->key = (char *)key;
    o->etag = (char *)(etag ? etag : "");
    o->size = size;
    o->sequencer = (char *)(sequencer ? sequencer : "");
}

/* Emit claim.rejected with every field error, and remember the etag so a
 * resync does not reject the same bytes again. */
static ingest_result reject(ingest *ing, const char *bucket, const char *key, const char *etag,
                            long long size, const char *sequencer, const char *raw_hash,
                            const claim_field_error *errs, size_t nerrs, char *why, size_t why_len)
{
    Envplane__Claim__V1__ClaimRejected  rj;
    Envplane__Claim__V1__ObjectRef      obj;
    Envplane__Claim__V1__FieldError    *fe = calloc(nerrs ? nerrs : 1, sizeof *fe);
    Envplane__Claim__V1__FieldError   **fep = calloc(nerrs ? nerrs : 1, sizeof *fep);
    char  name[72] = "", id[160], kd[17], at[32], codes[256] = "";
    ep_err err = { 0 };
    redisReply *r;
    ingest_result res = ING_DONE;

    if (fe == NULL || fep == NULL) {
        free(fe);
        free(fep);
        snprintf(why, why_len, "out of memory");
        return ING_RETRY;
    }
    claim_name_from_key(key, name, sizeof name);
    for (size_t i = 0; i < nerrs; i++) {
        envplane__claim__v1__field_error__init(&fe[i]);
        fe[i].field = (char *)errs[i].field;
        fe[i].code = (char *)claim_fcode_str(errs[i].code);
        fe[i].message = (char *)errs[i].message;
        fep[i] = &fe[i];
        if (strlen(codes) + strlen(fe[i].code) + 2 < sizeof codes) {
            if (codes[0]) strcat(codes, ",");
            strcat(codes, fe[i].code);
        }
    }
    now_rfc3339(at);
    fill_objref(&obj, bucket, key, etag, size, sequencer);
    envplane__claim__v1__claim_rejected__init(&rj);
    rj.object = &obj;
    rj.environment_name = name;
    rj.n_errors = nerrs;
    rj.errors = fep;
    rj.content_hash = (char *)raw_hash;
    rj.source = (Envplane__Claim__V1__ClaimSource)source_of(ing, bucket);
    rj.rejected_at = at;

    {
        char bk[1100];
        snprintf(bk, sizeof bk, "%s/%s", bucket, key);
        short_digest(bk, kd);
    }
    /* Same bytes at the same key: same id, so redeliveries are dropped. */
    snprintf(id, sizeof id, "claim-rejected/%s/%.23s", kd, raw_hash + 7);
    if (publish(ing, EV_CLAIM_REJECTED, id, name[0] ? name : NULL, &rj.base, why, why_len) != 0) {
        res = ING_RETRY;
        goto out;
    }
    metrics_counter_add(rejected_counter(ing, nerrs ? claim_fcode_str(errs[0].code) : "unknown"), 1);
    LOG_KV(LOG_LEVEL_WARN, "claim rejected", "env", name[0] ? name : NULL, "bucket", bucket, "key", key,
           "errors", codes, "first_error", nerrs ? errs[0].message : NULL, "event_id", id, NULL);
    if (etag && etag[0]) {
        r = store_cmd(ing->st, &err, "HSET ep:ingest:rejects:%s %s %s", bucket, key, etag);
        if (r == NULL)
            metrics_counter_add(ing->m_redis_errors, 1);   /* only costs a repeated rejection */
        freeReplyObject(r);
    }
out:
    free(fe);
    free(fep);
    return res;
}

static ingest_result reject_one(ingest *ing, const char *bucket, const char *key, const char *etag,
                                long long size, const char *sequencer, const char *raw_hash,
                                const char *field, claim_fcode code, const char *msg,
                                char *why, size_t why_len)
{
    claim_field_error fe;

    memset(&fe, 0, sizeof fe);
    snprintf(fe.field, sizeof fe.field, "%s", field);
    fe.code = code;
    snprintf(fe.message, sizeof fe.message, "%s", msg);
    return reject(ing, bucket, key, etag, size, sequencer, raw_hash, &fe, 1, why, why_len);
}

static ingest_result accept_claim(ingest *ing, const char *bucket, const char *key, const s3_object_info *info,
                            const char *sequencer, const claim *c, const claim_errors *ce,
                            const char *raw_hash, char *why, size_t why_len)
{
    Envplane__Claim__V1__ClaimAccepted  acc;
    Envplane__Claim__V1__Claim          cl;
    Envplane__Claim__V1__ObjectRef      obj;
    Envplane__Claim__V1__ServiceSpec   *sv = NULL, **svp = NULL;
    char       **warn = NULL;
    char         hash[CLAIM_HASH_LEN], id[160], at[32], recbuf[128], keysbuf[128], rejbuf[128], updated[32];
    const char  *keys[3], *args[6];
    redisReply  *r = NULL;
    ep_err       err = { 0 };
    unsigned long long gen;
    ingest_result res = ING_RETRY;
    char         verdict[16];

    if (claim_content_hash(c, hash) != CLAIM_OK) {
        snprintf(why, why_len, "hashing claim failed");
        return ING_RETRY;
    }
    snprintf(recbuf, sizeof recbuf, "ep:ingest:claim:%s", c->environment_name);
    snprintf(keysbuf, sizeof keysbuf, "ep:ingest:keys:%s", bucket);
    snprintf(rejbuf, sizeof rejbuf, "ep:ingest:rejects:%s", bucket);
    now_rfc3339(updated);
    keys[0] = recbuf; keys[1] = keysbuf; keys[2] = rejbuf;
    args[0] = bucket; args[1] = key; args[2] = hash; args[3] = info->etag;
    args[4] = c->environment_name; args[5] = updated;
    r = store_script_run(ing->st, ing->sc_accept, 3, keys, 6, args, &err);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 2) {
        metrics_counter_add(ing->m_redis_errors, 1);
        snprintf(why, why_len, "committing claim %s: %s", c->environment_name, r ? "unexpected reply" : err.msg);
        goto out;
    }
    /* Copied: the reply is freed before the last log line uses it. */
    snprintf(verdict, sizeof verdict, "%s", r->element[0]->str ? r->element[0]->str : "");
    if (strcmp(verdict, "conflict") == 0) {
        char msg[CLAIM_MSG_MAX];
        snprintf(msg, sizeof msg, "environment \"%s\" is already claimed by %s/%s; delete that object first",
                 c->environment_name, r->element[1]->str ? r->element[1]->str : "?",
                 r->elements > 2 && r->element[2]->str ? r->element[2]->str : "?");
        res = reject_one(ing, bucket, key, info->etag, info->size, sequencer, raw_hash,
                         "environment_name", CLAIM_FC_MISMATCH, msg, why, why_len);
        goto out;
    }
    gen = strtoull(r->element[1]->str, NULL, 10);
    if (strcmp(verdict, "noop") == 0) {
        metrics_counter_add(ing->m_noop, 1);
        LOG_KV(LOG_LEVEL_INFO, "claim unchanged; no new generation", "env", c->environment_name,
               "generation", r->element[1]->str, "content_hash", hash, NULL);
        res = ING_DONE;
        goto out;
    }

    /* "new" or "republish": announce generation gen. */
    sv = calloc(c->n_services ? c->n_services : 1, sizeof *sv);
    svp = calloc(c->n_services ? c->n_services : 1, sizeof *svp);
    warn = calloc(ce && ce->n_warnings ? ce->n_warnings : 1, sizeof *warn);
    if (sv == NULL || svp == NULL || warn == NULL) {
        snprintf(why, why_len, "out of memory");
        goto out;
    }
    envplane__claim__v1__claim__init(&cl);
    cl.user = c->user;
    cl.environment_pool = c->environment_pool;
    cl.environment_name = c->environment_name;
    cl.environment_type = (Envplane__Claim__V1__EnvironmentType)c->environment_type;
    cl.creation_date = c->creation_date;
    cl.expiration_date = c->expiration_date;
    cl.deployment_method = c->deployment_method;
    cl.git_repository = c->git_repository;
    cl.branch = c->branch;
    for (size_t i = 0; i < c->n_services; i++) {
        envplane__claim__v1__service_spec__init(&sv[i]);
        sv[i].name = c->services[i].name;
        sv[i].version = c->services[i].version;
        sv[i].kind = (Envplane__Claim__V1__ConstraintKind)c->services[i].kind;
        sv[i].docker_image = c->services[i].docker_image;
        sv[i].ansible_artifact = c->services[i].ansible_artifact;
        svp[i] = &sv[i];
    }
    cl.n_services = c->n_services;
    cl.services = svp;
    fill_objref(&obj, bucket, key, info->etag, info->size, sequencer);
    envplane__claim__v1__claim_accepted__init(&acc);
    acc.claim = &cl;
    acc.content_hash = hash;
    acc.generation = gen;
    acc.source = (Envplane__Claim__V1__ClaimSource)source_of(ing, bucket);
    acc.object = &obj;
    for (size_t i = 0; ce && i < ce->n_warnings; i++)
        warn[i] = (char *)ce->warnings[i].text;
    acc.n_warnings = ce ? ce->n_warnings : 0;
    acc.warnings = warn;
    now_rfc3339(at);
    acc.accepted_at = at;
    snprintf(id, sizeof id, "claim-accepted/%s/%llu", c->environment_name, gen);
    if (publish(ing, EV_CLAIM_ACCEPTED, id, c->environment_name, &acc.base, why, why_len) != 0)
        goto out;
    freeReplyObject(r);
    r = store_cmd(ing->st, &err, "HSET %s published 1", recbuf);
    if (r == NULL) {
        /* Published but not marked: the next pass republishes the same id,
         * which the stream drops.  Retrying now does exactly that. */
        metrics_counter_add(ing->m_redis_errors, 1);
        snprintf(why, why_len, "marking %s published: %s", c->environment_name, err.msg);
        goto out;
    }
    metrics_counter_add(ing->m_accepted, 1);
    {
        char g[24];
        snprintf(g, sizeof g, "%llu", gen);
        LOG_KV(LOG_LEVEL_INFO, strcmp(verdict, "new") == 0 ? "claim accepted" : "claim accepted (republished)",
               "env", c->environment_name, "generation", g, "bucket", bucket, "key", key,
               "content_hash", hash, "event_id", id,
               ce && ce->n_warnings ? "warning" : NULL, ce && ce->n_warnings ? ce->warnings[0].text : NULL, NULL);
    }
    res = ING_DONE;
out:
    freeReplyObject(r);
    free(sv);
    free(svp);
    free(warn);
    return res;
}

/* Quick check before fetching: is this exact etag already committed or
 * already rejected?  MinIO's at-least-once delivery makes this common. */
static int already_seen(ingest *ing, const char *bucket, const char *key, const char *etag)
{
    redisReply *r;
    ep_err      err = { 0 };
    int         seen = 0;

    if (etag == NULL || etag[0] == '\0')
        return 0;
    r = store_cmd(ing->st, &err, "HGET ep:ingest:rejects:%s %s", bucket, key);
    if (r && r->type == REDIS_REPLY_STRING && strcmp(r->str, etag) == 0)
        seen = 1;
    freeReplyObject(r);
    if (seen)
        return 1;
    r = store_cmd(ing->st, &err, "HGET ep:ingest:keys:%s %s", bucket, key);
    if (r && r->type == REDIS_REPLY_STRING) {
        redisReply *rec = store_cmd(ing->st, &err, "HMGET ep:ingest:claim:%s etag published state key bucket", r->str);
        if (rec && rec->type == REDIS_REPLY_ARRAY && rec->elements == 5 &&
            rec->element[0]->str && strcmp(rec->element[0]->str, etag) == 0 &&
            rec->element[1]->str && strcmp(rec->element[1]->str, "1") == 0 &&
            rec->element[2]->str && strcmp(rec->element[2]->str, "live") == 0 &&
            rec->element[3]->str && strcmp(rec->element[3]->str, key) == 0 &&
            rec->element[4]->str && strcmp(rec->element[4]->str, bucket) == 0)
            seen = 1;
        freeReplyObject(rec);
    }
    freeReplyObject(r);
    return seen;
}

ingest_result ingest_object(ingest *ing, const char *bucket, const char *key, const char *etag_hint,
                            const char *sequencer, char *why, size_t why_len)
{
    s3_buf          body = { 0 };
    s3_object_info  info;
    ep_err          err = { 0 };
    claim_options   opt = { 0 };
    claim_errors    ce;
    claim          *c = NULL;
    char            raw_hash[CLAIM_HASH_LEN];
    ingest_result   res = ING_RETRY;
    struct timespec t0, t1;
    int             rc;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    claim_errors_init(&ce);
    memset(&info, 0, sizeof info);
    if (already_seen(ing, bucket, key, etag_hint)) {
        metrics_counter_add(ing->m_noop, 1);
        LOG_KV(LOG_LEVEL_DEBUG, "object already processed at this etag", "bucket", bucket, "key", key,
               "etag", etag_hint, NULL);
        return ING_DONE;
    }
    rc = s3_get(ing->s3, bucket, key, (size_t)ing->cfg.max_claim_size, &body, &info, &err);
    if (rc == S3_ENOTFOUND) {
        /* Deleted (or renamed) after the notification was sent: the
         * removal's own notification, or the resync, takes it from here. */
        metrics_counter_add(ing->m_vanished, 1);
        LOG_KV(LOG_LEVEL_INFO, "object vanished before it could be read; nothing to do", "bucket", bucket,
               "key", key, NULL);
        res = ING_DONE;
        goto out;
    }
    if (rc == S3_ETOOLARGE) {
        char msg[CLAIM_MSG_MAX];
        s3_object_info hi;
        memset(&hi, 0, sizeof hi);
        if (s3_head(ing->s3, bucket, key, &hi, NULL) == S3_OK)
            info = hi;
        snprintf(msg, sizeof msg, "claim object is larger than the limit of %lld bytes", ing->cfg.max_claim_size);
        claim_raw_hash(info.etag, strlen(info.etag), raw_hash);   /* the bytes were not read */
        res = reject_one(ing, bucket, key, info.etag, info.size, sequencer, raw_hash, "",
                         CLAIM_FC_TOO_LARGE, msg, why, why_len);
        goto out;
    }
    if (rc != S3_OK) {
        metrics_counter_add(ing->m_s3_errors, 1);
        snprintf(why, why_len, "fetching claim %s/%s: %s", bucket, key, err.msg);
        LOG_KV(LOG_LEVEL_WARN, "cannot fetch claim; will retry", "bucket", bucket, "key", key, "error", err.msg, NULL);
        goto out;
    }
    claim_raw_hash(body.data, body.len, raw_hash);
    opt.key = key;
    opt.source = source_of(ing, bucket);
    opt.max_size = (size_t)ing->cfg.max_claim_size;
    rc = claim_parse(body.data, body.len, &opt, &c, &ce, &err);
    if (rc == CLAIM_EINVALID) {
        res = reject(ing, bucket, key, info.etag, info.size, sequencer, raw_hash, ce.errors, ce.n_errors,
                     why, why_len);
    } else if (rc != CLAIM_OK) {
        snprintf(why, why_len, "validating %s/%s: %s", bucket, key, err.msg);
    } else {
        res = accept_claim(ing, bucket, key, &info, sequencer, c, &ce, raw_hash, why, why_len);
    }
out:
    claim_destroy(c);
    claim_errors_dispose(&ce);
    free(body.data);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    metrics_histogram_observe(ing->m_latency, (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    return res;
}

ingest_result ingest_removed(ingest *ing, const char *bucket, const char *key, const char *sequencer,
                             char *why, size_t why_len)
{
    Envplane__Claim__V1__ClaimDeleted del;
    Envplane__Claim__V1__ObjectRef    obj;
    s3_object_info info;
    ep_err         err = { 0 };
    redisReply    *r = NULL, *m = NULL;
    char           name[128] = "", recbuf[192], keysbuf[128], rejbuf[128], at[32], id[192];
    const char    *keys[3], *args[3];
    const char    *verdict;
    ingest_result  res = ING_RETRY;
    int            rc;

    /* A removal notification can arrive after the key was written again:
     * trust the bucket, not the order of notifications. */
    rc = s3_head(ing->s3, bucket, key, &info, &err);
    if (rc == S3_OK) {
        LOG_KV(LOG_LEVEL_INFO, "removal notification for an object that exists again; ignored",
               "bucket", bucket, "key", key, NULL);
        return ING_DONE;
    }
    if (rc != S3_ENOTFOUND) {
        metrics_counter_add(ing->m_s3_errors, 1);
        snprintf(why, why_len, "checking %s/%s: %s", bucket, key, err.msg);
        return ING_RETRY;
    }
    m = store_cmd(ing->st, &err, "HGET ep:ingest:keys:%s %s", bucket, key);
    if (m == NULL) {
        metrics_counter_add(ing->m_redis_errors, 1);
        snprintf(why, why_len, "looking up %s/%s: %s", bucket, key, err.msg);
        return ING_RETRY;
    }
    if (m->type == REDIS_REPLY_STRING)
        snprintf(name, sizeof name, "%s", m->str);
    else
        claim_name_from_key(key, name, sizeof name);
    freeReplyObject(m);
    if (name[0] == '\0') {
        metrics_counter_add(ing->m_ignored, 1);
        LOG_KV(LOG_LEVEL_INFO, "removed object was never a claim; ignored", "bucket", bucket, "key", key, NULL);
        r = store_cmd(ing->st, &err, "HDEL ep:ingest:rejects:%s %s", bucket, key);
        freeReplyObject(r);
        return ING_DONE;
    }
    snprintf(recbuf, sizeof recbuf, "ep:ingest:claim:%s", name);
    snprintf(keysbuf, sizeof keysbuf, "ep:ingest:keys:%s", bucket);
    snprintf(rejbuf, sizeof rejbuf, "ep:ingest:rejects:%s", bucket);
    now_rfc3339(at);
    keys[0] = recbuf; keys[1] = keysbuf; keys[2] = rejbuf;
    args[0] = bucket; args[1] = key; args[2] = at;
    r = store_script_run(ing->st, ing->sc_delete, 3, keys, 3, args, &err);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 2) {
        metrics_counter_add(ing->m_redis_errors, 1);
        snprintf(why, why_len, "committing deletion of %s: %s", name, r ? "unexpected reply" : err.msg);
        goto out;
    }
    verdict = r->element[0]->str;
    if (strcmp(verdict, "unknown") == 0 || strcmp(verdict, "noop") == 0) {
        LOG_KV(LOG_LEVEL_INFO, strcmp(verdict, "noop") == 0 ? "claim already deleted" : "removed object held no accepted claim",
               "env", name, "bucket", bucket, "key", key, NULL);
        res = ING_DONE;
        goto out;
    }
    envplane__claim__v1__claim_deleted__init(&del);
    fill_objref(&obj, bucket, key, "", 0, sequencer);
    del.environment_name = name;
    del.generation = strtoull(r->element[1]->str, NULL, 10);
    del.source = (Envplane__Claim__V1__ClaimSource)source_of(ing, bucket);
    del.object = &obj;
    del.deleted_at = at;
    snprintf(id, sizeof id, "claim-deleted/%s/%llu", name, (unsigned long long)del.generation);
    if (publish(ing, EV_CLAIM_DELETED, id, name, &del.base, why, why_len) != 0)
        goto out;
    freeReplyObject(r);
    r = NULL;
    if (store_append(ing->st, &err, "HSET %s published 1", recbuf) != 0 ||
        store_append(ing->st, &err, "HDEL %s %s", keysbuf, key) != 0) {
        metrics_counter_add(ing->m_redis_errors, 1);
        snprintf(why, why_len, "marking deletion of %s published: %s", name, err.msg);
        goto out;
    }
    for (int i = 0; i < 2; i++) {
        redisReply *x = store_get_reply(ing->st, &err);
        if (x == NULL) {
            metrics_counter_add(ing->m_redis_errors, 1);
            snprintf(why, why_len, "marking deletion of %s published: %s", name, err.msg);
            goto out;
        }
        freeReplyObject(x);
    }
    metrics_counter_add(ing->m_deleted, 1);
    LOG_KV(LOG_LEVEL_INFO, "claim deleted", "env", name, "bucket", bucket, "key", key, "event_id", id, NULL);
    res = ING_DONE;
out:
    freeReplyObject(r);
    return res;
}

bus_verdict ingest_on_notification(const bus_msg *m, void *ud, char *why, size_t why_len)
{
    ingest        *ing = ud;
    s3event       *ev = NULL;
    ep_err         err = { 0 };
    bus_verdict    v = BUS_ACK;

    if (s3event_parse(m->data, m->len, &ev, &err) != S3EVENT_OK) {
        metrics_counter_add(ing->m_malformed, 1);
        snprintf(why, why_len, "malformed bucket notification: %s", err.msg);
        LOG_KV(LOG_LEVEL_WARN, "malformed bucket notification; dead-lettered", "error", err.msg, NULL);
        return BUS_DEAD;
    }
    for (size_t i = 0; i < ev->n_records; i++) {
        const s3event_record *rec = &ev->records[i];
        ingest_result res;

        metrics_counter_add(ing->m_notifications, 1);
        if (source_of(ing, rec->bucket) == CLAIM_SOURCE_UNSPECIFIED) {
            metrics_counter_add(ing->m_ignored, 1);
            LOG_KV(LOG_LEVEL_DEBUG, "notification for a bucket we do not watch", "bucket", rec->bucket, NULL);
            continue;
        }
        if (rec->kind == S3EVENT_KIND_CREATED)
            res = ingest_object(ing, rec->bucket, rec->key, rec->etag, rec->sequencer, why, why_len);
        else if (rec->kind == S3EVENT_KIND_REMOVED)
            res = ingest_removed(ing, rec->bucket, rec->key, rec->sequencer, why, why_len);
        else {
            metrics_counter_add(ing->m_ignored, 1);
            continue;
        }
        if (res == ING_RETRY)
            v = BUS_RETRY;   /* records already done are idempotent on redelivery */
    }
    s3event_destroy(ev);
    return v;
}

/* ---- resync ---------------------------------------------------------------------- */

typedef struct seen_keys {
    char  **keys;
    size_t  n, cap;
} seen_keys;

typedef struct resync_ctx {
    ingest    *ing;
    const char *bucket;
    seen_keys  seen;
    int        repaired, failed;
    char      *why;
    size_t     why_len;
} resync_ctx;

static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_cb(const s3_list_entry *e, void *ud)
{
    resync_ctx *x = ud;

    if (x->seen.n == x->seen.cap) {
        size_t ncap = x->seen.cap ? x->seen.cap * 2 : 64;
        char **nk = realloc(x->seen.keys, ncap * sizeof *nk);
        if (nk == NULL)
            return 1;
        x->seen.keys = nk;
        x->seen.cap = ncap;
    }
    x->seen.keys[x->seen.n] = strdup(e->key);
    if (x->seen.keys[x->seen.n] == NULL)
        return 1;
    x->seen.n++;
    if (svc_stopping(x->ing->svc))
        return 1;
    if (!already_seen(x->ing, x->bucket, e->key, e->etag)) {
        /* Counted before the work, so the metric never lags the event. */
        x->repaired++;
        metrics_counter_add(x->ing->m_resync_repaired, 1);
        if (ingest_object(x->ing, x->bucket, e->key, NULL, NULL, x->why, x->why_len) != ING_DONE)
            x->failed++;
    }
    return 0;
}

static int resync_bucket(ingest *ing, const char *bucket, char *why, size_t why_len)
{
    resync_ctx  x = { .ing = ing, .bucket = bucket, .why = why, .why_len = why_len };
    ep_err      err = { 0 };
    redisReply *r = NULL;
    int         rc = -1;

    if (s3_list(ing->s3, bucket, NULL, 0, list_cb, &x, &err) != S3_OK) {
        metrics_counter_add(ing->m_s3_errors, 1);
        snprintf(why, why_len, "listing %s: %s", bucket, err.msg);
        goto out;
    }
    if (svc_stopping(ing->svc))
        goto out;
    if (x.seen.n > 0)   /* qsort and bsearch want a real array, even for 0 elements */
        qsort(x.seen.keys, x.seen.n, sizeof *x.seen.keys, cmpstr);
    /* Claims we hold whose object is gone: a removal we never heard of. */
    r = store_cmd(ing->st, &err, "HKEYS ep:ingest:keys:%s", bucket);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        metrics_counter_add(ing->m_redis_errors, 1);
        snprintf(why, why_len, "reading claims of %s: %s", bucket, r ? "unexpected reply" : err.msg);
        goto out;
    }
    for (size_t i = 0; i < r->elements; i++) {
        const char *k = r->element[i]->str;
        if (x.seen.n > 0 && bsearch(&k, x.seen.keys, x.seen.n, sizeof *x.seen.keys, cmpstr) != NULL)
            continue;
        x.repaired++;
        metrics_counter_add(ing->m_resync_repaired, 1);
        if (ingest_removed(ing, bucket, k, NULL, why, why_len) != ING_DONE)
            x.failed++;
    }
    rc = x.failed ? -1 : x.repaired;
out:
    freeReplyObject(r);
    for (size_t i = 0; i < x.seen.n; i++)
        free(x.seen.keys[i]);
    free(x.seen.keys);
    return rc;
}

int ingest_resync(ingest *ing, char *why, size_t why_len)
{
    int a, b;

    a = resync_bucket(ing, ing->cfg.bucket_dynamic, why, why_len);
    b = a < 0 ? -1 : resync_bucket(ing, ing->cfg.bucket_static, why, why_len);
    if (a < 0 || b < 0) {
        metrics_counter_add(ing->m_resync_errors, 1);
        return -1;
    }
    metrics_counter_add(ing->m_resync_runs, 1);
    return a + b;
}
