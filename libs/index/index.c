/*
 * index: folding PLATFORM events into per-environment documents.
 *
 * index_apply reads the document (or the tombstone of a removed one),
 * decides in C what the event changes, and writes the new document and its
 * index entries with one Lua script that first checks the document is still
 * the version it read (useq).  If another writer got there first the whole
 * step is repeated.  Every change is written with pending=1 and the caller
 * clears it with index_mark_published once IndexUpdated is on the stream,
 * so a crash between the commit and the publish is noticed the next time
 * the document is touched and the announcement is made then (with the same
 * id, which the stream de-duplicates).
 */
#include "index.h"
#include "index_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "envplane/claim/v1/claim.pb-c.h"
#include "envplane/env/v1/env.pb-c.h"
#include "envplane/index/v1/index.pb-c.h"
#include "events/events.h"

static const char *const index_status_str[] = {
#define INDEX_STR(name, str) str,
    INDEX_STATUS_MAP(INDEX_STR)
#undef INDEX_STR
};

const char *index_strstatus(int status)
{
    if (status < 0 || (size_t)status >= sizeof index_status_str / sizeof index_status_str[0])
        return "unknown status";
    return index_status_str[status];
}

/* Write a document and its index entries, or remove them and leave a
 * tombstone — after checking that neither changed since they were read. */
static const char WRITE_LUA[] =
    "local cur = redis.call('HGET', KEYS[1], 'useq') or ''\n"
    "local tcur = redis.call('HGET', KEYS[2], 'useq') or ''\n"
    "if cur ~= ARGV[3] or tcur ~= ARGV[4] then return 'conflict' end\n"
    "local p, name = ARGV[1], ARGV[2]\n"
    "if cur ~= '' then\n"
    "  local o = redis.call('HMGET', KEYS[1], 'user', 'pool', 'type', 'state')\n"
    "  redis.call('SREM', p .. 'user:' .. (o[1] or ''), name)\n"
    "  redis.call('SREM', p .. 'pool:' .. (o[2] or ''), name)\n"
    "  redis.call('SREM', p .. 'type:' .. (o[3] or ''), name)\n"
    "  redis.call('SREM', p .. 'state:' .. (o[4] or ''), name)\n"
    "end\n"
    "if ARGV[5] == 'put' then\n"
    "  redis.call('HSET', KEYS[1], 'pb', ARGV[6], 'cgen', ARGV[7], 'gen', ARGV[8], 'seq', ARGV[9],\n"
    "             'useq', ARGV[10], 'pending', '1', 'user', ARGV[11], 'pool', ARGV[12],\n"
    "             'type', ARGV[13], 'state', ARGV[14], 'cscore', ARGV[15], 'escore', ARGV[16])\n"
    "  redis.call('SADD', p .. 'user:' .. ARGV[11], name)\n"
    "  redis.call('SADD', p .. 'pool:' .. ARGV[12], name)\n"
    "  redis.call('SADD', p .. 'type:' .. ARGV[13], name)\n"
    "  redis.call('SADD', p .. 'state:' .. ARGV[14], name)\n"
    "  redis.call('ZADD', p .. 'by-creation', ARGV[15], name)\n"
    "  redis.call('ZADD', p .. 'by-expiry', ARGV[16], name)\n"
    "  redis.call('DEL', KEYS[2])\n"
    "else\n"
    "  redis.call('DEL', KEYS[1], KEYS[2])\n"
    "  redis.call('ZREM', p .. 'by-creation', name)\n"
    "  redis.call('ZREM', p .. 'by-expiry', name)\n"
    "  redis.call('HSET', KEYS[2], 'pb', ARGV[6], 'gen', ARGV[7], 'useq', ARGV[8], 'pending', ARGV[9])\n"
    "  redis.call('PEXPIRE', KEYS[2], ARGV[10])\n"
    "end\n"
    "return 'ok'\n";

static const char MARK_LUA[] =
    "for i = 1, 2 do\n"
    "  if redis.call('HGET', KEYS[i], 'useq') == ARGV[1] then redis.call('HSET', KEYS[i], 'pending', '0') end\n"
    "end\n"
    "return 'ok'\n";

index_db *index_create(const char *prefix, long long tomb_ttl_ms)
{
    index_db *ix = calloc(1, sizeof *ix);

    if (ix == NULL)
        return NULL;
    ix->prefix = strdup(prefix ? prefix : "ep:indexer:");
    ix->tomb_ttl_ms = tomb_ttl_ms > 0 ? tomb_ttl_ms : 7LL * 24 * 3600 * 1000;
    ix->sc_write = store_script_create(WRITE_LUA);
    ix->sc_mark = store_script_create(MARK_LUA);
    ix->sc_query = store_script_create(index__query_lua);
    if (!ix->prefix || !ix->sc_write || !ix->sc_mark || !ix->sc_query) {
        index_destroy(ix);
        return NULL;
    }
    return ix;
}

void index_destroy(index_db *ix)
{
    if (ix == NULL)
        return;
    store_script_destroy(ix->sc_write);
    store_script_destroy(ix->sc_mark);
    store_script_destroy(ix->sc_query);
    free(ix->prefix);
    free(ix);
}

/* ---- events ------------------------------------------------------------------ */

int index_event_decode(const char *subject, const void *data, size_t len, uint64_t seq,
                       index_event *ev, ep_err *err)
{
    const uint8_t *d = data;

    memset(ev, 0, sizeof *ev);
    ev->seq = seq;
    if (strcmp(subject, EV_CLAIM_ACCEPTED) == 0) {
        Envplane__Claim__V1__ClaimAccepted *a = envplane__claim__v1__claim_accepted__unpack(NULL, len, d);
        if (a == NULL)
            return ep_err_set(err, INDEX_EINVAL, "index: %s payload does not decode as ClaimAccepted", subject);
        ev->payload = a;
        ev->claim_accepted = a;
        ev->kind = INDEX_EV_ACCEPTED;
        ev->env = a->claim ? a->claim->environment_name : "";
        ev->generation = a->generation;
        ev->state = ENVPLANE__ENV__V1__ENV_STATE__ENV_STATE_PENDING;
        ev->reason = "";
        ev->at = a->accepted_at;
        ev->source = a->source;
        ev->env_type = a->claim ? (int)a->claim->environment_type : 0;
    } else if (strcmp(subject, EV_CLAIM_DELETED) == 0) {
        Envplane__Claim__V1__ClaimDeleted *x = envplane__claim__v1__claim_deleted__unpack(NULL, len, d);
        if (x == NULL)
            return ep_err_set(err, INDEX_EINVAL, "index: %s payload does not decode as ClaimDeleted", subject);
        ev->payload = x;
        ev->kind = INDEX_EV_CLAIM_DELETED;
        ev->env = x->environment_name;
        ev->generation = x->generation;
        ev->state = ENVPLANE__ENV__V1__ENV_STATE__ENV_STATE_DEPROVISIONING;
        ev->reason = "claim deleted";
        ev->at = x->deleted_at;
        ev->source = x->source;
    } else if (strcmp(subject, EV_ENV_PROVISIONING) == 0 || strcmp(subject, EV_ENV_READY) == 0 ||
               strcmp(subject, EV_ENV_FAILED) == 0 || strcmp(subject, EV_ENV_DEPROVISIONING) == 0 ||
               strcmp(subject, EV_ENV_DELETED) == 0) {
        Envplane__Env__V1__EnvTransition *t = envplane__env__v1__env_transition__unpack(NULL, len, d);
        if (t == NULL)
            return ep_err_set(err, INDEX_EINVAL, "index: %s payload does not decode as EnvTransition", subject);
        ev->payload = t;
        ev->kind = strcmp(subject, EV_ENV_DELETED) == 0 ? INDEX_EV_ENV_DELETED : INDEX_EV_TRANSITION;
        ev->env = t->environment_name;
        ev->generation = t->generation;
        /* The subject is the authority on the state; the payload's field
         * may be left unset by a publisher. */
        if (strcmp(subject, EV_ENV_PROVISIONING) == 0) ev->state = ENVPLANE__ENV__V1__ENV_STATE__ENV_STATE_PROVISIONING;
        else if (strcmp(subject, EV_ENV_READY) == 0) ev->state = ENVPLANE__ENV__V1__ENV_STATE__ENV_STATE_READY;
        else if (strcmp(subject, EV_ENV_FAILED) == 0) ev->state = ENVPLANE__ENV__V1__ENV_STATE__ENV_STATE_FAILED;
        else if (strcmp(subject, EV_ENV_DEPROVISIONING) == 0) ev->state = ENVPLANE__ENV__V1__ENV_STATE__ENV_STATE_DEPROVISIONING;
        else ev->state = ENVPLANE__ENV__V1__ENV_STATE__ENV_STATE_DELETED;
        ev->reason = t->reason;
        ev->at = t->at;
        ev->env_type = t->environment_type;
        ev->source = t->source;
    } else {
        return INDEX_ESKIP;
    }
    if (ev->env == NULL || ev->env[0] == '\0' || strlen(ev->env) > 63) {
        index_event_dispose(ev);
        return ep_err_set(err, INDEX_EINVAL, "index: %s (stream seq %" PRIu64 ") has no valid environment name",
                          subject, seq);
    }
    if (ev->reason == NULL) ev->reason = "";
    if (ev->at == NULL) ev->at = "";
    return INDEX_OK;
}

void index_event_dispose(index_event *ev)
{
    if (ev == NULL || ev->payload == NULL)
        return;
    protobuf_c_message_free_unpacked((ProtobufCMessage *)ev->payload, NULL);
    ev->payload = NULL;
    ev->claim_accepted = NULL;
}

/* ---- time -------------------------------------------------------------------- */

static int digits(const char *s, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int index_parse_time(const char *s, long long *out)
{
    struct tm tm;
    int       y, mo, d, h, mi, se, oh = 0, om = 0, sign = 0;
    const char *p;

    if (s == NULL || strlen(s) < 20)
        return -1;
    if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
        digits(s + 17, 2, &se))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return -1;
    p = s + 19;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '+' ? 1 : -1;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return -1;
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    *out = (long long)timegm(&tm) - sign * (oh * 3600LL + om * 60LL);
    return 0;
}

/* ---- applying ---------------------------------------------------------------- */

/* What index_apply read before deciding. */
typedef struct current {
    redisReply *doc, *tomb;   /* HMGET replies, owned */
    int         has_doc, has_tomb;
    uint64_t    cgen, gen, seq, useq, tgen, tuseq;
    int         pending, tpending;
    const char *cscore;
} current;

static uint64_t field_u64(const redisReply *r, size_t i)
{
    if (r == NULL || i >= r->elements || r->element[i]->type != REDIS_REPLY_STRING)
        return 0;
    return strtoull(r->element[i]->str, NULL, 10);
}

static const redisReply *field(const redisReply *r, size_t i)
{
    if (r == NULL || i >= r->elements || r->element[i]->type != REDIS_REPLY_STRING)
        return NULL;
    return r->element[i];
}

static int read_current(index_db *ix, store *st, const char *env, current *c, ep_err *err)
{
    char dk[160], tk[160];

    memset(c, 0, sizeof *c);
    snprintf(dk, sizeof dk, "%sdoc:%s", ix->prefix, env);
    snprintf(tk, sizeof tk, "%stomb:%s", ix->prefix, env);
    if (store_append(st, err, "HMGET %s pb cgen gen seq useq pending cscore", dk) != STORE_OK ||
        store_append(st, err, "HMGET %s pb gen useq pending", tk) != STORE_OK)
        goto fail;
    c->doc = store_get_reply(st, err);
    c->tomb = store_get_reply(st, err);
    if (c->doc == NULL || c->tomb == NULL || c->doc->type != REDIS_REPLY_ARRAY || c->tomb->type != REDIS_REPLY_ARRAY ||
        c->doc->elements != 7 || c->tomb->elements != 4)
        goto fail;
    c->has_doc = field(c->doc, 4) != NULL && field(c->doc, 0) != NULL;
    c->cgen = field_u64(c->doc, 1);
    c->gen = field_u64(c->doc, 2);
    c->seq = field_u64(c->doc, 3);
    c->useq = field_u64(c->doc, 4);
    c->pending = field_u64(c->doc, 5) == 1;
    c->cscore = field(c->doc, 6) ? field(c->doc, 6)->str : NULL;
    c->has_tomb = field(c->tomb, 2) != NULL;
    c->tgen = field_u64(c->tomb, 1);
    c->tuseq = field_u64(c->tomb, 2);
    c->tpending = field_u64(c->tomb, 3) == 1;
    return INDEX_OK;
fail:
    while (store_pending(st) > 0)
        freeReplyObject(store_get_reply(st, NULL));
    freeReplyObject(c->doc);
    freeReplyObject(c->tomb);
    c->doc = c->tomb = NULL;
    if (err && err->code == 0)
        ep_err_set(err, INDEX_ESTORE, "index: unexpected reply reading %s", dk);
    return ep_err_wrap(err, "index: reading %s", env), INDEX_ESTORE;
}

static void current_dispose(current *c)
{
    freeReplyObject(c->doc);
    freeReplyObject(c->tomb);
    c->doc = c->tomb = NULL;
}

/* IndexUpdated is { doc = 1 (bytes of EnvironmentDoc), removed = 2 }: its
 * wire form is the document bytes behind one tag, so it is built from the
 * stored bytes without decoding them. */
static int make_announce(index_announce *a, const char *env, uint64_t useq,
                         const void *docpb, size_t len, int removed)
{
    uint8_t hdr[16];
    size_t  h = 0, v = len;

    hdr[h++] = 0x0a;
    do {
        hdr[h++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    a->data = malloc(h + len + 2);
    if (a->data == NULL)
        return -1;
    memcpy(a->data, hdr, h);
    if (len)
        memcpy(a->data + h, docpb, len);
    a->len = h + len;
    if (removed) {
        a->data[a->len++] = 0x10;
        a->data[a->len++] = 0x01;
    }
    a->removed = removed;
    a->seq = useq;
    snprintf(a->env, sizeof a->env, "%s", env);
    snprintf(a->id, sizeof a->id, "index-updated/%s/%" PRIu64, env, useq);
    return 0;
}

static int add_announce(index_result *res, const char *env, uint64_t useq,
                        const void *docpb, size_t len, int removed, ep_err *err)
{
    if (make_announce(&res->ann[res->nann], env, useq, docpb, len, removed) != 0)
        return ep_err_set(err, INDEX_ENOMEM, "index: out of memory"), INDEX_ENOMEM;
    res->nann++;
    return INDEX_OK;
}

void index_result_dispose(index_result *res)
{
    if (res == NULL)
        return;
    for (int i = 0; i < res->nann; i++) {
        free(res->ann[i].data);
        res->ann[i].data = NULL;
    }
    res->nann = 0;
}

/* Lexicographic (generation, stream sequence). */
static int newer(uint64_t g1, uint64_t s1, uint64_t g2, uint64_t s2)
{
    return g1 > g2 || (g1 == g2 && s1 > s2);
}

static int run_write(index_db *ix, store *st, const char *env, int nargs, const char **args,
                     const size_t *lens, ep_err *err)
{
    char        dk[160], tk[160];
    const char *argv[32];
    size_t      argl[32];
    redisReply *r;
    ep_err      e = { 0 };
    int         rc = INDEX_OK;

    snprintf(dk, sizeof dk, "%sdoc:%s", ix->prefix, env);
    snprintf(tk, sizeof tk, "%stomb:%s", ix->prefix, env);
    /* store_script_run takes NUL-terminated arguments; the document bytes
     * are binary, so run EVALSHA through the argv interface instead. */
    argv[0] = "EVALSHA";
    argv[1] = store_script_sha(ix->sc_write);
    argv[2] = "2";
    argv[3] = dk;
    argv[4] = tk;
    for (int i = 0; i < 5; i++)
        argl[i] = strlen(argv[i]);
    for (int i = 0; i < nargs; i++) {
        argv[5 + i] = args[i];
        argl[5 + i] = lens ? lens[i] : strlen(args[i]);
    }
    /* A local error: NOSCRIPT must be recognised even if the caller
     * passed no err. */
    r = store_cmd_argv(st, 5 + nargs, argv, argl, &e);
    if (r == NULL && strstr(e.msg, "NOSCRIPT") != NULL) {
        /* Not cached (first use, restart, SCRIPT FLUSH): load it once. */
        redisReply *l = store_cmd(st, &e, "SCRIPT LOAD %s", index__write_lua());
        freeReplyObject(l);
        if (l != NULL) {
            ep_err_clear(&e);
            r = store_cmd_argv(st, 5 + nargs, argv, argl, &e);
        }
    }
    if (r == NULL) {
        if (err)
            *err = e;
        return ep_err_wrap(err, "index: writing %s", env), INDEX_ESTORE;
    }
    if (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_STRING) {
        if (strcmp(r->str, "conflict") == 0)
            rc = INDEX_ECONFLICT;
    } else {
        rc = ep_err_set(err, INDEX_ESTORE, "index: writing %s: unexpected reply type %d", env, r->type);
    }
    freeReplyObject(r);
    return rc;
}

const char *index__write_lua(void)
{
    return WRITE_LUA;
}

/* Remove the document (or record that an unknown environment was deleted)
 * and leave a tombstone for generation gen. */
static int write_tomb(index_db *ix, store *st, const index_event *ev, const current *c,
                      const void *pb, size_t pblen, int pending, ep_err *err)
{
    char        exp_doc[24] = "", exp_tomb[24] = "", gen[24], useq[24], ttl[24];
    const char *args[10];
    size_t      lens[10];

    if (c->has_doc) snprintf(exp_doc, sizeof exp_doc, "%" PRIu64, c->useq);
    if (c->has_tomb) snprintf(exp_tomb, sizeof exp_tomb, "%" PRIu64, c->tuseq);
    snprintf(gen, sizeof gen, "%" PRIu64, ev->generation);
    snprintf(useq, sizeof useq, "%" PRIu64, ev->seq);
    snprintf(ttl, sizeof ttl, "%lld", ix->tomb_ttl_ms);
    args[0] = ix->prefix; args[1] = ev->env; args[2] = exp_doc; args[3] = exp_tomb; args[4] = "remove";
    args[5] = pb; args[6] = gen; args[7] = useq; args[8] = pending ? "1" : "0"; args[9] = ttl;
    for (int i = 0; i < 10; i++)
        lens[i] = i == 5 ? pblen : strlen(args[i]);
    return run_write(ix, st, ev->env, 10, args, lens, err);
}

static void score_of(const char *date, long long *out, int *ok)
{
    *ok = date && date[0] && index_parse_time(date, out) == 0;
}

static int apply_once(index_db *ix, store *st, const index_event *ev, const char *now,
                      index_result *res, ep_err *err)
{
    const Envplane__Claim__V1__ClaimAccepted *acc = ev->claim_accepted;
    Envplane__Index__V1__EnvironmentDoc *old = NULL, doc;
    current   c;
    uint8_t  *pb = NULL;
    size_t    pblen = 0;
    int       rc = INDEX_OK, remove = 0, newer_state, newer_claim;
    const redisReply *oldpb;

    rc = read_current(ix, st, ev->env, &c, err);
    if (rc != INDEX_OK)
        return rc;
    oldpb = field(c.doc, 0);
    envplane__index__v1__environment_doc__init(&doc);

    if (c.has_doc) {
        if (ev->seq == c.useq) {
            res->verdict = INDEX_SAME;
            if (c.pending)
                rc = add_announce(res, ev->env, c.useq, oldpb->str, oldpb->len, 0, err);
            goto out;
        }
        /* A change committed but never announced goes out first. */
        if (c.pending && (rc = add_announce(res, ev->env, c.useq, oldpb->str, oldpb->len, 0, err)) != INDEX_OK)
            goto out;
        old = envplane__index__v1__environment_doc__unpack(NULL, oldpb->len, (const uint8_t *)oldpb->str);
        if (old == NULL) {
            rc = ep_err_set(err, INDEX_ESTORE, "index: stored document of %s does not decode", ev->env);
            goto out;
        }
        doc = *old;
        newer_state = newer(ev->generation, ev->seq, c.gen, c.seq);
        newer_claim = ev->kind == INDEX_EV_ACCEPTED && ev->generation > c.cgen;
        switch (ev->kind) {
        case INDEX_EV_ACCEPTED:
            if (!newer_state && !newer_claim)
                goto stale;
            break;
        case INDEX_EV_TRANSITION:
        case INDEX_EV_ENV_DELETED:
            if (!newer_state)
                goto stale;
            remove = ev->kind == INDEX_EV_ENV_DELETED;
            break;
        case INDEX_EV_CLAIM_DELETED:
            if (!newer_state || ev->generation < c.cgen)
                goto stale;
            /* Nothing was provisioned for a claim still pending: no
             * env.deleted will follow, so it leaves the index now. */
            remove = old->state == ENVPLANE__ENV__V1__ENV_STATE__ENV_STATE_PENDING;
            break;
        }
    } else if (c.has_tomb) {
        if (ev->seq == c.tuseq) {
            const redisReply *tpb = field(c.tomb, 0);
            res->verdict = INDEX_SAME;
            if (c.tpending && tpb)
                rc = add_announce(res, ev->env, c.tuseq, tpb->str, tpb->len, 1, err);
            goto out;
        }
        if (ev->generation <= c.tgen)
            goto stale;
        newer_state = newer_claim = 1;
        if (c.tpending && field(c.tomb, 0) &&
            (rc = add_announce(res, ev->env, c.tuseq, field(c.tomb, 0)->str, field(c.tomb, 0)->len, 1, err)) != INDEX_OK)
            goto out;
    } else {
        newer_state = newer_claim = 1;
    }

    if (!c.has_doc && (ev->kind == INDEX_EV_CLAIM_DELETED || ev->kind == INDEX_EV_ENV_DELETED)) {
        /* Deleting what the index never held: only the tombstone, so late
         * events of this generation stay out; nothing to announce. */
        rc = write_tomb(ix, st, ev, &c, "", 0, 0, err);
        if (rc == INDEX_OK)
            res->verdict = INDEX_IGNORED;
        goto out;
    }

    /* Merge the event into the document. */
    doc.environment_name = (char *)ev->env;
    if (ev->kind == INDEX_EV_ACCEPTED && newer_claim && acc && acc->claim) {
        const Envplane__Claim__V1__Claim *cl = acc->claim;
        doc.user = cl->user;
        doc.environment_pool = cl->environment_pool;
        doc.environment_type = cl->environment_type;
        doc.creation_date = cl->creation_date;
        doc.expiration_date = cl->expiration_date;
        doc.n_services = cl->n_services;
        doc.services = cl->services;
        doc.content_hash = acc->content_hash;
        doc.source = acc->source;
        if (acc->object) {
            doc.bucket = acc->object->bucket;
            doc.key = acc->object->key;
        }
    }
    if (doc.environment_type == 0 && ev->env_type != 0)
        doc.environment_type = (Envplane__Claim__V1__EnvironmentType)ev->env_type;
    if (doc.source == 0 && ev->source != 0)
        doc.source = (Envplane__Claim__V1__ClaimSource)ev->source;
    if (newer_state) {
        doc.state = remove ? ENVPLANE__ENV__V1__ENV_STATE__ENV_STATE_DELETED : (Envplane__Env__V1__EnvState)ev->state;
        doc.generation = ev->generation;
        doc.state_reason = (char *)ev->reason;
    }
    doc.updated_at = (char *)now;

    pblen = envplane__index__v1__environment_doc__get_packed_size(&doc);
    pb = malloc(pblen ? pblen : 1);
    if (pb == NULL) {
        rc = ep_err_set(err, INDEX_ENOMEM, "index: out of memory");
        goto out;
    }
    envplane__index__v1__environment_doc__pack(&doc, pb);

    if (remove) {
        rc = write_tomb(ix, st, ev, &c, pb, pblen, 1, err);
        if (rc == INDEX_OK) {
            res->verdict = INDEX_APPLIED;
            res->state = ENVPLANE__ENV__V1__ENV_STATE__ENV_STATE_DELETED;
            rc = add_announce(res, ev->env, ev->seq, pb, pblen, 1, err);
        }
    } else {
        char exp_doc[24] = "", exp_tomb[24] = "", cgen[24], gen[24], seq[24], useq[24];
        char type[16], state[16], cscore[32], escore[32];
        const char *args[16];
        size_t      lens[16];
        long long   t;
        int         ok;

        if (c.has_doc) snprintf(exp_doc, sizeof exp_doc, "%" PRIu64, c.useq);
        if (c.has_tomb) snprintf(exp_tomb, sizeof exp_tomb, "%" PRIu64, c.tuseq);
        snprintf(cgen, sizeof cgen, "%" PRIu64, newer_claim && ev->kind == INDEX_EV_ACCEPTED ? ev->generation : c.cgen);
        snprintf(gen, sizeof gen, "%" PRIu64, newer_state ? ev->generation : c.gen);
        snprintf(seq, sizeof seq, "%" PRIu64, newer_state ? ev->seq : c.seq);
        snprintf(useq, sizeof useq, "%" PRIu64, ev->seq);
        snprintf(type, sizeof type, "%d", (int)doc.environment_type);
        snprintf(state, sizeof state, "%d", (int)doc.state);
        /* Creation order: the claim's creation date; without a claim
         * (its claim.accepted not seen yet) when the index first saw it. */
        score_of(doc.creation_date, &t, &ok);
        if (ok)
            snprintf(cscore, sizeof cscore, "%lld", t);
        else if (c.cscore)
            snprintf(cscore, sizeof cscore, "%s", c.cscore);
        else {
            score_of(ev->at, &t, &ok);
            if (!ok) score_of(now, &t, &ok);
            snprintf(cscore, sizeof cscore, "%lld", ok ? t : 0LL);
        }
        score_of(doc.expiration_date, &t, &ok);
        if (ok)
            snprintf(escore, sizeof escore, "%lld", t);
        else
            snprintf(escore, sizeof escore, "inf");
        args[0] = ix->prefix; args[1] = ev->env; args[2] = exp_doc; args[3] = exp_tomb; args[4] = "put";
        args[5] = (const char *)pb; args[6] = cgen; args[7] = gen; args[8] = seq; args[9] = useq;
        args[10] = doc.user ? doc.user : ""; args[11] = doc.environment_pool ? doc.environment_pool : "";
        args[12] = type; args[13] = state; args[14] = cscore; args[15] = escore;
        for (int i = 0; i < 16; i++)
            lens[i] = i == 5 ? pblen : strlen(args[i]);
        rc = run_write(ix, st, ev->env, 16, args, lens, err);
        if (rc == INDEX_OK) {
            res->verdict = INDEX_APPLIED;
            res->state = doc.state;
            rc = add_announce(res, ev->env, ev->seq, pb, pblen, 0, err);
        }
    }
    goto out;

stale:
    res->verdict = INDEX_STALE;
out:
    free(pb);
    if (old)
        envplane__index__v1__environment_doc__free_unpacked(old, NULL);
    current_dispose(&c);
    return rc;
}

int index_apply(index_db *ix, store *st, const index_event *ev, const char *now,
                index_result *res, ep_err *err)
{
    int rc = INDEX_ECONFLICT;

    memset(res, 0, sizeof *res);
    for (int attempt = 0; attempt < 8; attempt++) {
        rc = apply_once(ix, st, ev, now, res, err);
        if (rc != INDEX_ECONFLICT)
            break;
        index_result_dispose(res);
        memset(res, 0, sizeof *res);
    }
    if (rc == INDEX_ECONFLICT)
        ep_err_set(err, INDEX_ECONFLICT, "index: %s kept changing during 8 attempts", ev->env);
    if (rc != INDEX_OK)
        index_result_dispose(res);
    return rc;
}

int index_mark_published(index_db *ix, store *st, const char *env, uint64_t seq, ep_err *err)
{
    char        dk[160], tk[160], s[24];
    const char *keys[2] = { dk, tk }, *args[1] = { s };
    redisReply *r;

    snprintf(dk, sizeof dk, "%sdoc:%s", ix->prefix, env);
    snprintf(tk, sizeof tk, "%stomb:%s", ix->prefix, env);
    snprintf(s, sizeof s, "%" PRIu64, seq);
    r = store_script_run(st, ix->sc_mark, 2, keys, 1, args, err);
    if (r == NULL)
        return ep_err_wrap(err, "index: marking %s published", env), INDEX_ESTORE;
    freeReplyObject(r);
    return INDEX_OK;
}

long long index_wipe(index_db *ix, store *st, ep_err *err)
{
    char        cursor[32] = "0", pattern[200];
    long long   n = 0;

    snprintf(pattern, sizeof pattern, "%s*", ix->prefix);
    do {
        redisReply *r = store_cmd(st, err, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            freeReplyObject(r);
            if (err && err->code == 0)
                ep_err_set(err, INDEX_ESTORE, "index: unexpected SCAN reply");
            return ep_err_wrap(err, "index: wiping %s*", ix->prefix), -1;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            redisReply *d = store_cmd(st, err, "UNLINK %s", r->element[1]->element[i]->str);
            if (d == NULL) {
                freeReplyObject(r);
                return ep_err_wrap(err, "index: wiping %s*", ix->prefix), -1;
            }
            n += d->integer;
            freeReplyObject(d);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return n;
}
