/*
 * attester core: trust configuration, reference values, nonces in Redis,
 * the verify-appraise-sign path and sealed secrets.
 *
 * Redis keys (prefix ep:attester:):
 *   nonce:<hex>            issued_at (Unix s) | "consumed"; expires after
 *                          2 x nonce-ttl, so a late use is told "expired"
 *                          and a second use "replayed" rather than "unknown"
 *   secret:<env>:<name>    hash: blob = AES-256-GCM(iv||ct||tag) under the
 *                          KEK with aad "ep-secret-v1/<env>/<name>",
 *                          policy = release policy JSON, updated_at
 *   kbs:<session id>       hash: nonce, environment, workload, token (kbs.c)
 *
 * Several replicas share Redis, so a nonce issued by one is consumed by any
 * other exactly once (the consume script is atomic).
 */
#include "attester.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ce/ce.h"
#include "events/events.h"
#include "log/log.h"

/* KEYS[1] nonce key; ARGV[1] now, ARGV[2] ttl (s).  The first use within
 * the lifetime wins; the value becomes "consumed" so later uses are
 * replays until the key expires. */
static const char CONSUME_LUA[] =
    "local v = redis.call('GET', KEYS[1])\n"
    "if not v then return 'unknown' end\n"
    "if v == 'consumed' then return 'replayed' end\n"
    "redis.call('SET', KEYS[1], 'consumed', 'KEEPTTL')\n"
    "if tonumber(ARGV[1]) - tonumber(v) > tonumber(ARGV[2]) then return 'expired' end\n"
    "return 'ok'\n";

/* ---- reference values ------------------------------------------------------------- */

typedef struct att_ref_entry {
    char        *env, *workload;
    snp_refvals *rv;
} att_ref_entry;

struct att_refs {
    att_ref_entry *v;
    size_t         n;
};

static void refs_destroy(att_refs *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].env);
        free(r->v[i].workload);
        snp_refvals_destroy(r->v[i].rv);
    }
    free(r->v);
    free(r);
}

static uint8_t *read_file(const char *path, size_t *len, ep_err *err)
{
    FILE    *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t   cap = 0, n = 0;

    if (f == NULL) {
        ep_err_set(err, errno, "%s: %s", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        if (n + 4096 + 1 > cap) {
            uint8_t *nb = realloc(buf, cap = cap * 2 + 8192);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                ep_err_set(err, ENOMEM, "%s: out of memory", path);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, 4096, f);
        n += got;
        if (got < 4096)
            break;
    }
    if (ferror(f)) {
        ep_err_set(err, EIO, "%s: read error", path);
        free(buf);
        buf = NULL;
    } else {
        buf[n] = '\0';
        *len = n;
    }
    fclose(f);
    return buf;
}

/* {"environments": {"<env>": {"<workload>|*": {<snp refvals>}}}}; `what`
 * names the source in errors. */
static att_refs *refs_parse(const char *what, const char *text, size_t len, ep_err *err)
{
    json_t      *root = NULL, *envs, *wls, *val;
    json_error_t je;
    att_refs    *r = NULL;
    const char  *env, *wl;

    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        ep_err_set(err, EINVAL, "%s:%d: %s", what, je.line, je.text);
        goto out;
    }
    envs = json_object_get(root, "environments");
    if (!json_is_object(envs) || json_object_size(root) != 1) {
        ep_err_set(err, EINVAL, "%s: expected {\"environments\": {ENV: {WORKLOAD: REFERENCE}}}", what);
        goto out;
    }
    if ((r = calloc(1, sizeof *r)) == NULL)
        goto oom;
    json_object_foreach(envs, env, wls) {
        if (!json_is_object(wls)) {
            ep_err_set(err, EINVAL, "%s: environments.%s: not an object of workloads", what, env);
            goto fail;
        }
        json_object_foreach(wls, wl, val) {
            char          *dump = json_dumps(val, JSON_COMPACT);
            att_ref_entry *nv;
            ep_err         e2 = {0};

            if (dump == NULL)
                goto oom;
            nv = realloc(r->v, (r->n + 1) * sizeof *nv);
            if (nv == NULL) {
                free(dump);
                goto oom;
            }
            r->v = nv;
            nv[r->n].rv = snp_refvals_parse(dump, strlen(dump), &e2);
            free(dump);
            if (nv[r->n].rv == NULL) {
                ep_err_set(err, EINVAL, "%s: environments.%s.%s: %s", what, env, wl, e2.msg);
                goto fail;
            }
            nv[r->n].env = strdup(env);
            nv[r->n].workload = strdup(wl);
            r->n++;
            if (nv[r->n - 1].env == NULL || nv[r->n - 1].workload == NULL)
                goto oom;
        }
    }
    goto out;
oom:
    ep_err_set(err, ENOMEM, "%s: out of memory", what);
fail:
    refs_destroy(r);
    r = NULL;
out:
    json_decref(root);
    return r;
}

/* Exact workload first, then the environment's "*".  Borrowed. */
static const snp_reference *refs_find(const att_refs *r, const char *env, const char *wl)
{
    const snp_reference *any = NULL;

    if (r == NULL || env == NULL)
        return NULL;
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(r->v[i].env, env) != 0)
            continue;
        if (wl != NULL && strcmp(r->v[i].workload, wl) == 0)
            return snp_refvals_get(r->v[i].rv);
        if (strcmp(r->v[i].workload, "*") == 0)
            any = snp_refvals_get(r->v[i].rv);
    }
    return any;
}

static long long mtime_ns(const char *path)
{
    struct stat st;

    if (stat(path, &st) != 0)
        return -1;
    return (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec + (long long)st.st_size;
}

static void refs_swap(attester *a, att_refs *nr)
{
    att_refs *old;

    pthread_rwlock_wrlock(&a->refs_mu);
    old = a->refs;
    a->refs = nr;
    pthread_rwlock_unlock(&a->refs_mu);
    refs_destroy(old);
    if (a->m_reloads)
        metrics_counter_add(a->m_reloads, 1);
}

static int reload_from_bucket(attester *a, ep_err *err)
{
    s3_object_info info;
    s3_buf         buf = { 0 };
    att_refs      *nr;
    char           what[512];

    snprintf(what, sizeof what, "s3://%s/%s", a->cfg.reference_bucket, a->cfg.reference_key);
    /* HEAD first: a poll that finds the same ETag costs no body transfer. */
    if (s3_head(a->s3, a->cfg.reference_bucket, a->cfg.reference_key, &info, err) != S3_OK)
        return ep_err_wrap(err, "%s", what), -1;
    if (info.etag[0] != '\0' && strcmp(info.etag, a->refs_etag) == 0)
        return 0;
    if (s3_get(a->s3, a->cfg.reference_bucket, a->cfg.reference_key, 16u << 20, &buf, &info, err) != S3_OK)
        return ep_err_wrap(err, "%s", what), -1;
    nr = refs_parse(what, buf.data, buf.len, err);
    free(buf.data);
    /* Remember the ETag even of a bad object: report it once, not every poll. */
    snprintf(a->refs_etag, sizeof a->refs_etag, "%s", info.etag);
    if (nr == NULL)
        return -1;
    refs_swap(a, nr);
    return 1;
}

int att_refs_maybe_reload(attester *a, ep_err *err)
{
    long long m;
    att_refs *nr;
    uint8_t  *text;
    size_t    len;

    if (a->cfg.reference_bucket != NULL && a->cfg.reference_bucket[0] != '\0')
        return reload_from_bucket(a, err);
    if (a->cfg.reference_file == NULL || a->cfg.reference_file[0] == '\0')
        return 0;
    m = mtime_ns(a->cfg.reference_file);
    if (m < 0) {
        ep_err_set(err, errno, "%s: %s", a->cfg.reference_file, strerror(errno));
        return -1;
    }
    if (m == a->refs_mtime_ns)
        return 0;
    a->refs_mtime_ns = m;   /* also for a bad file: report it once, not every poll */
    if ((text = read_file(a->cfg.reference_file, &len, err)) == NULL)
        return -1;
    nr = refs_parse(a->cfg.reference_file, (const char *)text, len, err);
    free(text);
    if (nr == NULL)
        return -1;
    refs_swap(a, nr);
    return 1;
}

/* ---- setup ---------------------------------------------------------------------------- */

int64_t att_now(const attester *a)
{
    return (int64_t)time(NULL) + a->cfg.clock_offset;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A KEK file holds 32 raw bytes or 64 hex digits (trailing newline ok). */
static int load_kek(attester *a, ep_err *err)
{
    size_t   len;
    uint8_t *b = read_file(a->cfg.kek_file, &len, err);
    int      rc = -1;

    if (b == NULL)
        return ep_err_wrap(err, "secrets-kek-file"), -1;
    while (len > 0 && (b[len - 1] == '\n' || b[len - 1] == '\r' || b[len - 1] == ' '))
        len--;
    if (len == 64) {
        rc = 0;
        for (size_t i = 0; i < 32; i++) {
            int hi = hexval(b[2 * i]), lo = hexval(b[2 * i + 1]);
            if (hi < 0 || lo < 0) {
                rc = -1;
                break;
            }
            a->kek[i] = (uint8_t)(hi << 4 | lo);
        }
    }
    if (rc != 0 && len == 32) {
        memcpy(a->kek, b, 32);
        rc = 0;
    }
    OPENSSL_cleanse(b, len);
    free(b);
    if (rc != 0)
        ep_err_set(err, EINVAL, "secrets-kek-file %s: expected 32 bytes or 64 hex digits",
                   a->cfg.kek_file);
    a->have_kek = rc == 0;
    return rc;
}

static int load_certs(snp_verifier *v, const char *path, int kind, ep_err *err)
{
    size_t   len;
    uint8_t *b;
    int      rc;

    if (path == NULL || path[0] == '\0')
        return 0;
    if ((b = read_file(path, &len, err)) == NULL)
        return -1;
    rc = kind == 0 ? snp_verifier_add_ark(v, b, len, err)
       : kind == 1 ? snp_verifier_add_intermediate(v, b, len, err)
                   : snp_verifier_add_crl(v, b, len, err);
    free(b);
    if (rc != SNP_OK) {
        ep_err_wrap(err, "%s", path);
        return -1;
    }
    return 0;
}

int att_init(attester *a, bool secrets_only, ep_err *err)
{
    pthread_mutex_init(&a->sign_mu, NULL);
    pthread_mutex_init(&a->pool_mu, NULL);
    pthread_rwlock_init(&a->refs_mu, NULL);
    if ((a->sc_consume = store_script_create(CONSUME_LUA)) == NULL)
        return ep_err_set(err, ENOMEM, "out of memory"), -1;
    if (a->cfg.kek_file && a->cfg.kek_file[0] && load_kek(a, err) != 0)
        return -1;
    if (secrets_only)
        return 0;
    if ((a->verifier = snp_verifier_create(0, err)) == NULL)
        return -1;
    if (a->cfg.ark_file == NULL || a->cfg.ark_file[0] == '\0')
        return ep_err_set(err, EINVAL, "ark-file: no trusted AMD root configured"), -1;
    if (load_certs(a->verifier, a->cfg.ark_file, 0, err) != 0 ||
        load_certs(a->verifier, a->cfg.ask_file, 1, err) != 0 ||
        load_certs(a->verifier, a->cfg.crl_file, 2, err) != 0)
        return -1;
    if (a->cfg.signing_key_file && a->cfg.signing_key_file[0]) {
        size_t   len;
        uint8_t *jwk = read_file(a->cfg.signing_key_file, &len, err);

        if (jwk == NULL)
            return ep_err_wrap(err, "signing-key-file"), -1;
        a->signer = ear_signer_create((const char *)jwk, err);
        OPENSSL_cleanse(jwk, len);
        free(jwk);
    } else {
        a->signer = ear_signer_create(NULL, err);
    }
    if (a->signer == NULL || (a->signer_pub = ear_signer_public_jwk(a->signer, err)) == NULL)
        return ep_err_wrap(err, "token signing key"), -1;
    if (a->cfg.reference_bucket != NULL && a->cfg.reference_bucket[0] != '\0') {
        s3_config sc = { .endpoint = a->cfg.s3_endpoint, .region = a->cfg.s3_region,
                         .access_key = a->cfg.s3_access_key, .secret_key = a->cfg.s3_secret_key };
        if (s3_client_create(&sc, &a->s3, err) != S3_OK)
            return ep_err_wrap(err, "reference-bucket"), -1;
    } else if (a->cfg.reference_file == NULL || a->cfg.reference_file[0] == '\0') {
        return ep_err_set(err, EINVAL, "reference-file or reference-bucket must be set"), -1;
    }
    if (att_refs_maybe_reload(a, err) < 0)
        return ep_err_wrap(err, "reference values"), -1;
    return 0;
}

void att_dispose(attester *a)
{
    for (int i = 0; i < a->npool; i++)
        store_destroy(a->pool[i]);
    a->npool = 0;
    store_script_destroy(a->sc_consume);
    refs_destroy(a->refs);
    s3_client_destroy(a->s3);
    snp_verifier_destroy(a->verifier);
    ear_signer_destroy(a->signer);
    free(a->signer_pub);
    OPENSSL_cleanse(a->kek, sizeof a->kek);
    pthread_mutex_destroy(&a->sign_mu);
    pthread_mutex_destroy(&a->pool_mu);
    pthread_rwlock_destroy(&a->refs_mu);
}

/* ---- Redis pool ------------------------------------------------------------------------------ */

store *att_store_get(attester *a, ep_err *err)
{
    store *st = NULL;

    pthread_mutex_lock(&a->pool_mu);
    if (a->npool > 0)
        st = a->pool[--a->npool];
    pthread_mutex_unlock(&a->pool_mu);
    if (st == NULL && store_create(a->cfg.redis_url, 5000, &st, err) != STORE_OK)
        return NULL;
    return st;
}

void att_store_put(attester *a, store *st)
{
    if (st == NULL)
        return;
    pthread_mutex_lock(&a->pool_mu);
    if (a->npool < ATT_POOL_MAX) {
        a->pool[a->npool++] = st;
        st = NULL;
    }
    pthread_mutex_unlock(&a->pool_mu);
    store_destroy(st);
}

/* ---- nonces ---------------------------------------------------------------------------------- */

static void nonce_key(const uint8_t *nonce, size_t len, char out[32 + 2 * SNP_NONCE_LEN])
{
    char hex[2 * SNP_NONCE_LEN + 1];

    snp_hex(nonce, len, hex);
    snprintf(out, 32 + 2 * SNP_NONCE_LEN, "ep:attester:nonce:%s", hex);
}

int att_nonce_issue(attester *a, store *st, uint8_t out[SNP_NONCE_LEN], int64_t *expires_at,
                    ep_err *err)
{
    char        key[32 + 2 * SNP_NONCE_LEN];
    long long   ttl = a->cfg.nonce_ttl_ms / 1000 > 0 ? a->cfg.nonce_ttl_ms / 1000 : 1;
    int64_t     now = att_now(a);
    redisReply *r;
    int         rc = -1;

    if (RAND_bytes(out, SNP_NONCE_LEN) != 1)
        return ep_err_set(err, EIO, "RAND_bytes failed"), -1;
    nonce_key(out, SNP_NONCE_LEN, key);
    r = store_cmd(st, err, "SET %s %lld NX EX %lld", key, (long long)now, 2 * ttl);
    if (r == NULL)
        return ep_err_wrap(err, "issuing nonce"), -1;
    if (r->type == REDIS_REPLY_STATUS) {
        rc = 0;
        if (expires_at)
            *expires_at = now + ttl;
    } else {
        ep_err_set(err, EEXIST, "issuing nonce: random nonce collided");
    }
    freeReplyObject(r);
    return rc;
}

snp_nonce_status att_nonce_consume(attester *a, store *st, const uint8_t *nonce, size_t len)
{
    char             key[32 + 2 * SNP_NONCE_LEN], now[24], ttl[24];
    const char      *keys[1] = { key }, *args[2] = { now, ttl };
    redisReply      *r;
    ep_err           err = {0};
    snp_nonce_status s = SNP_NONCE_UNKNOWN;

    if (len != SNP_NONCE_LEN)
        return SNP_NONCE_UNKNOWN;
    nonce_key(nonce, len, key);
    snprintf(now, sizeof now, "%lld", (long long)att_now(a));
    snprintf(ttl, sizeof ttl, "%lld", a->cfg.nonce_ttl_ms / 1000 > 0 ? a->cfg.nonce_ttl_ms / 1000 : 1);
    r = store_script_run(st, a->sc_consume, 1, keys, 2, args, &err);
    if (r == NULL) {
        /* Fail closed: an unreachable store must not make nonces reusable. */
        LOG_KV(LOG_LEVEL_WARN, "nonce consume failed", "error", err.msg, NULL);
        return SNP_NONCE_UNKNOWN;
    }
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) {
        if (strcmp(r->str, "ok") == 0)
            s = SNP_NONCE_OK;
        else if (strcmp(r->str, "replayed") == 0)
            s = SNP_NONCE_REPLAYED;
        else if (strcmp(r->str, "expired") == 0)
            s = SNP_NONCE_EXPIRED;
    }
    freeReplyObject(r);
    return s;
}

typedef struct consume_ctx {
    attester *a;
    store    *st;
} consume_ctx;

static snp_nonce_status consume_cb(void *ud, const uint8_t *nonce, size_t len)
{
    consume_ctx *c = ud;

    return att_nonce_consume(c->a, c->st, nonce, len);
}

/* ---- verification --------------------------------------------------------------------------- */

static void add_reason(att_verify_out *o, const char *name, const char *detail)
{
    if (o->n_reasons >= ATT_REASONS_MAX)
        return;
    snprintf(o->reasons[o->n_reasons].name, sizeof o->reasons[0].name, "%s", name);
    snprintf(o->reasons[o->n_reasons].detail, sizeof o->reasons[0].detail, "%s", detail);
    o->n_reasons++;
}

static Envplane__Attest__V1__Reason **pb_reasons(const att_verify_out *o,
                                                 Envplane__Attest__V1__Reason *store_v)
{
    static Envplane__Attest__V1__Reason init = ENVPLANE__ATTEST__V1__REASON__INIT;
    Envplane__Attest__V1__Reason      **p = calloc(o->n_reasons + 1, sizeof *p);

    if (p == NULL)
        return NULL;
    for (size_t i = 0; i < o->n_reasons; i++) {
        store_v[i] = init;
        store_v[i].name = (char *)o->reasons[i].name;
        store_v[i].detail = (char *)o->reasons[i].detail;
        p[i] = &store_v[i];
    }
    return p;
}

static void publish_outcome(attester *a, const att_verify_in *in, const att_verify_out *o)
{
    Envplane__Attest__V1__Reason   rv[ATT_REASONS_MAX];
    Envplane__Attest__V1__Reason **rp = pb_reasons(o, rv);
    char        id[160], when[32];
    uint8_t    *buf = NULL;
    size_t      len;
    ep_err      err = {0};
    const char *env = in->environment ? in->environment : "";

    if (a->bus == NULL || rp == NULL) {
        free(rp);
        return;
    }
    ce_time_format(att_now(a), when);
    if (o->passed) {
        Envplane__Attest__V1__AttestVerified ev = ENVPLANE__ATTEST__V1__ATTEST_VERIFIED__INIT;
        ev.attestation_id = (char *)o->attestation_id;
        ev.environment = (char *)env;
        ev.workload = (char *)(in->workload ? in->workload : "");
        ev.evidence_type = in->evidence_type;
        ev.status = (char *)ear_tier_name(o->tier);
        ev.measurement = (char *)o->measurement;
        ev.image_digests = (char **)in->images;
        ev.n_image_digests = in->n_images;
        ev.reasons = rp;
        ev.n_reasons = o->n_reasons;
        ev.expires_at = o->expires_at;
        ev.verified_at = when;
        ev.via = (char *)in->via;
        len = envplane__attest__v1__attest_verified__get_packed_size(&ev);
        if ((buf = malloc(len ? len : 1)) != NULL)
            envplane__attest__v1__attest_verified__pack(&ev, buf);
        snprintf(id, sizeof id, "attest.verified/%s/%s", env, o->attestation_id);
        if (buf && bus_publish_event(a->bus, EV_ATTEST_VERIFIED, "io.envplane.attest.v1.verified", id,
                                     env, buf, len, NULL, &err) != BUS_OK)
            LOG_KV(LOG_LEVEL_WARN, "publishing attest.verified failed", "id", id, "error", err.msg, NULL);
    } else {
        Envplane__Attest__V1__AttestFailed ev = ENVPLANE__ATTEST__V1__ATTEST_FAILED__INIT;
        ev.attestation_id = (char *)o->attestation_id;
        ev.environment = (char *)env;
        ev.workload = (char *)(in->workload ? in->workload : "");
        ev.evidence_type = in->evidence_type;
        ev.reasons = rp;
        ev.n_reasons = o->n_reasons;
        ev.failed_at = when;
        ev.via = (char *)in->via;
        len = envplane__attest__v1__attest_failed__get_packed_size(&ev);
        if ((buf = malloc(len ? len : 1)) != NULL)
            envplane__attest__v1__attest_failed__pack(&ev, buf);
        snprintf(id, sizeof id, "attest.failed/%s/%s", env, o->attestation_id);
        if (buf && bus_publish_event(a->bus, EV_ATTEST_FAILED, "io.envplane.attest.v1.failed", id,
                                     env, buf, len, NULL, &err) != BUS_OK)
            LOG_KV(LOG_LEVEL_WARN, "publishing attest.failed failed", "id", id, "error", err.msg, NULL);
    }
    free(buf);
    free(rp);
}

/* The attestation id names one attempt: derived from the nonce (unique per
 * challenge) so a retried publish is de-duplicated, random without one. */
static void attestation_id(const att_verify_in *in, char out[65])
{
    uint8_t      d[32];
    unsigned int dl = 0;

    if (in->nonce != NULL && in->nonce_len > 0 &&
        EVP_Digest(in->nonce, in->nonce_len, d, &dl, EVP_sha256(), NULL) == 1) {
        snp_hex(d, 16, out);
        return;
    }
    if (RAND_bytes(d, 16) != 1)
        memset(d, 0, 16);
    snp_hex(d, 16, out);
}

static const char *evidence_name(int t)
{
    switch (t) {
    case ENVPLANE__ATTEST__V1__EVIDENCE_TYPE__EVIDENCE_TYPE_SEV_SNP: return "sev-snp";
    case ENVPLANE__ATTEST__V1__EVIDENCE_TYPE__EVIDENCE_TYPE_TDX: return "tdx";
    case ENVPLANE__ATTEST__V1__EVIDENCE_TYPE__EVIDENCE_TYPE_SGX: return "sgx";
    default: return "unspecified";
    }
}

/* Add what the token must carry for secret release: the TEE key (as the
 * KBS token does, under runtime_data_claims.tee-pubkey) and the envplane
 * subject of the attestation. */
static int annotate(json_t *submod, const att_verify_in *in, const att_verify_out *o)
{
    json_t *ann = json_object_get(submod, "ear.veraison.annotated-evidence");
    json_t *rd = json_object(), *ep = json_object(), *imgs = json_array();
    json_t *key = json_loads(in->workload_key, 0, NULL);

    if (ann == NULL || rd == NULL || ep == NULL || imgs == NULL || key == NULL) {
        json_decref(rd);
        json_decref(ep);
        json_decref(imgs);
        json_decref(key);
        return -1;
    }
    json_object_set_new(rd, "tee-pubkey", key);
    json_object_set_new(ann, "runtime_data_claims", rd);
    for (size_t i = 0; i < in->n_images; i++)
        json_array_append_new(imgs, json_string(in->images[i]));
    json_object_set_new(ep, "environment", json_string(in->environment));
    json_object_set_new(ep, "workload", json_string(in->workload ? in->workload : ""));
    json_object_set_new(ep, "attestation_id", json_string(o->attestation_id));
    json_object_set_new(ep, "evidence_type", json_string(evidence_name(in->evidence_type)));
    json_object_set_new(ep, "image_digests", imgs);
    json_object_set_new(ann, "envplane", ep);
    return 0;
}

static bool usable_jwk(const char *s)
{
    json_t *j = s ? json_loads(s, 0, NULL) : NULL;
    bool    ok = json_is_object(j) && json_is_string(json_object_get(j, "kty"));

    json_decref(j);
    return ok;
}

int att_verify(attester *a, const att_verify_in *in, att_verify_out *o, ep_err *err)
{
    static const snp_reference strictest;
    snp_result          *res = NULL;
    snp_reference        ref;
    const snp_reference *found;
    snp_evidence         ev = {0};
    consume_ctx          cctx = { a, NULL };
    snp_nonce_consumer   consumer = { consume_cb, &cctx };
    json_t              *submod = NULL, *submods = NULL;
    bool                 service_fail = false;
    int                  rc = -1, src;
    struct timespec      t0, t1;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    memset(o, 0, sizeof *o);
    attestation_id(in, o->attestation_id);
    o->tier = EAR_TIER_CONTRAINDICATED;

    if (in->evidence_type != ENVPLANE__ATTEST__V1__EVIDENCE_TYPE__EVIDENCE_TYPE_SEV_SNP) {
        add_reason(o, "unsupported_evidence", evidence_name(in->evidence_type));
        publish_outcome(a, in, o);
        if (a->m_failed)
            metrics_counter_add(a->m_failed, 1);
        rc = 0;
        goto out;
    }
    if (in->environment == NULL || in->environment[0] == '\0') {
        add_reason(o, "no_reference", "no environment named");
        service_fail = true;
    }
    if (!usable_jwk(in->workload_key)) {
        add_reason(o, "workload_key", "workload key is not a JWK object with kty");
        service_fail = true;
    }
    if ((res = malloc(sizeof *res)) == NULL) {
        ep_err_set(err, ENOMEM, "out of memory");
        goto out;
    }
    if ((cctx.st = att_store_get(a, err)) == NULL)
        goto out;

    ev.report = in->report;
    ev.report_len = in->report_len;
    ev.cert = in->cert;
    ev.cert_len = in->cert_len;
    ev.image_digests = in->images;
    ev.n_image_digests = in->n_images;
    ev.at = att_now(a);

    pthread_rwlock_rdlock(&a->refs_mu);
    found = refs_find(a->refs, in->environment, in->workload);
    if (found == NULL) {
        char d[SNP_DETAIL_MAX];
        snprintf(d, sizeof d, "no reference values for environment %s workload %s",
                 in->environment ? in->environment : "", in->workload ? in->workload : "");
        if (in->environment != NULL && in->environment[0] != '\0')
            add_reason(o, "no_reference", d);
        service_fail = true;
        found = &strictest;
    }
    ref = *found;
    if (in->runtime_data != NULL) {
        unsigned int dl = 0;
        ref.check_report_data = true;
        EVP_Digest(in->runtime_data, in->runtime_data_len, ref.expected_report_data, &dl,
                   EVP_sha512(), NULL);
    } else {
        ev.nonce = in->nonce;
        ev.nonce_len = in->nonce_len;
        ev.workload_key = (const uint8_t *)(in->workload_key ? in->workload_key : "");
        ev.workload_key_len = in->workload_key ? strlen(in->workload_key) : 0;
    }
    src = snp_appraise(a->verifier, ev.nonce ? &consumer : NULL, &ev, &ref, res, err);
    pthread_rwlock_unlock(&a->refs_mu);
    if (src != SNP_OK && src != SNP_EREJECTED)
        goto out;
    if (in->runtime_data == NULL && (in->nonce == NULL || in->nonce_len == 0))
        snp_findings_add(&res->findings, SNP_REASON_NONCE_UNKNOWN, "no nonce given");
    if (in->runtime_data != NULL && in->nonce_mismatch) {
        snp_findings_add(&res->findings, SNP_REASON_NONCE_UNKNOWN,
                         "runtime-data nonce is not the session's nonce");
    } else if (in->runtime_data != NULL && snp_findings_count_evidence(&res->findings) == 0 &&
               !snp_findings_has(&res->findings, SNP_REASON_REPORT_DATA)) {
        /* Same rule as snp_appraise: only evidence that holds may burn a nonce. */
        snp_nonce_status ns = att_nonce_consume(a, cctx.st, in->nonce, in->nonce_len);
        if (ns == SNP_NONCE_UNKNOWN)
            snp_findings_add(&res->findings, SNP_REASON_NONCE_UNKNOWN, "session nonce unknown");
        else if (ns == SNP_NONCE_REPLAYED)
            snp_findings_add(&res->findings, SNP_REASON_NONCE_REPLAYED, "session nonce already used");
        else if (ns == SNP_NONCE_EXPIRED)
            snp_findings_add(&res->findings, SNP_REASON_NONCE_EXPIRED, "session nonce expired");
    }
    for (size_t i = 0; i < res->findings.n; i++)
        add_reason(o, snp_reason_name(res->findings.v[i].reason), res->findings.v[i].detail);
    if (res->report_parsed)
        snp_hex(res->report.measurement, 48, o->measurement);

    if ((submod = ear_snp_submod(res, &o->tier)) == NULL) {
        ep_err_set(err, ENOMEM, "out of memory");
        goto out;
    }
    if (service_fail)
        o->tier = EAR_TIER_CONTRAINDICATED;
    o->passed = o->tier == EAR_TIER_AFFIRMING || o->tier == EAR_TIER_WARNING;
    if (o->passed) {
        ear_claims c = {0};

        json_object_set_new(submod, "ear.status", json_string(ear_tier_name(o->tier)));
        if (annotate(submod, in, o) != 0 || (submods = json_object()) == NULL) {
            ep_err_set(err, ENOMEM, "annotating the result");
            goto out;
        }
        json_object_set(submods, "cpu0", submod);
        c.iat = att_now(a);
        c.ttl = a->cfg.token_ttl_ms / 1000 > 0 ? a->cfg.token_ttl_ms / 1000 : 1;
        c.verifier_developer = "envplane";
        c.verifier_build = "attester";
        c.nonce = in->nonce;
        c.nonce_len = in->nonce_len;
        c.submods = submods;
        pthread_mutex_lock(&a->sign_mu);
        o->token = ear_token_sign(a->signer, &c, err);
        pthread_mutex_unlock(&a->sign_mu);
        if (o->token == NULL)
            goto out;
        o->expires_at = c.iat + c.ttl;
    }
    publish_outcome(a, in, o);
    if (a->m_verified)
        metrics_counter_add(o->passed ? a->m_verified : a->m_failed, 1);
    rc = 0;
out:
    if (rc != 0 && a->m_errors)
        metrics_counter_add(a->m_errors, 1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (a->m_verify_seconds)
        metrics_histogram_observe(a->m_verify_seconds,
                                  (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    att_store_put(a, cctx.st);
    json_decref(submod);
    json_decref(submods);
    free(res);
    return rc;
}

/* ---- secrets --------------------------------------------------------------------------------- */

static int aad_of(const char *env, const char *name, char *out, size_t cap)
{
    int n = snprintf(out, cap, "ep-secret-v1/%s/%s", env, name);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

int att_seal(const uint8_t kek[ATT_KEK_LEN], const char *env, const char *name,
             const uint8_t *pt, size_t len, uint8_t **blob, size_t *blob_len, ep_err *err)
{
    EVP_CIPHER_CTX *c = NULL;
    char            aad[512];
    int             aadn = aad_of(env, name, aad, sizeof aad), n, rc = -1;
    uint8_t        *b = malloc(12 + len + 16);

    if (b == NULL || aadn < 0 || len > INT32_MAX) {
        ep_err_set(err, EINVAL, "sealing %s/%s: name too long or out of memory", env, name);
        goto out;
    }
    if (RAND_bytes(b, 12) != 1 || (c = EVP_CIPHER_CTX_new()) == NULL ||
        EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, kek, b) != 1 ||
        EVP_EncryptUpdate(c, NULL, &n, (const uint8_t *)aad, aadn) != 1 ||
        EVP_EncryptUpdate(c, b + 12, &n, pt, (int)len) != 1 ||
        EVP_EncryptFinal_ex(c, b + 12 + n, &n) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, b + 12 + len) != 1) {
        ep_err_set(err, EIO, "sealing %s/%s: AES-256-GCM failed", env, name);
        goto out;
    }
    *blob = b;
    *blob_len = 12 + len + 16;
    b = NULL;
    rc = 0;
out:
    EVP_CIPHER_CTX_free(c);
    free(b);
    return rc;
}

int att_open(const uint8_t kek[ATT_KEK_LEN], const char *env, const char *name,
             const uint8_t *blob, size_t blob_len, uint8_t **pt, size_t *len, ep_err *err)
{
    EVP_CIPHER_CTX *c = NULL;
    char            aad[512];
    int             aadn = aad_of(env, name, aad, sizeof aad), n, rc = -1;
    size_t          clen = blob_len >= 28 ? blob_len - 28 : 0;
    uint8_t        *p = NULL;

    if (blob_len < 28 || aadn < 0 || (p = malloc(clen + 1)) == NULL) {
        ep_err_set(err, EINVAL, "opening %s/%s: blob too short", env, name);
        goto out;
    }
    if ((c = EVP_CIPHER_CTX_new()) == NULL ||
        EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, kek, blob) != 1 ||
        EVP_DecryptUpdate(c, NULL, &n, (const uint8_t *)aad, aadn) != 1 ||
        EVP_DecryptUpdate(c, p, &n, blob + 12, (int)clen) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, (void *)(blob + 12 + clen)) != 1 ||
        EVP_DecryptFinal_ex(c, p + n, &n) != 1) {
        ep_err_set(err, EIO, "opening %s/%s: authentication failed (wrong KEK or tampered blob)", env, name);
        goto out;
    }
    *pt = p;
    *len = clen;
    p = NULL;
    rc = 0;
out:
    if (p != NULL)
        OPENSSL_cleanse(p, clen);
    free(p);
    EVP_CIPHER_CTX_free(c);
    return rc;
}

/* Environment names are DNS-label-like and secret names paths of such
 * segments (KBS: "<type>/<tag>"), so "<env>:<name>" in the Redis key and
 * "<env>/<name>" in the AAD can never be read two ways. */
static bool valid_name(const char *s, bool slash)
{
    size_t n = 0;

    for (const char *p = s; *p; p++, n++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || (*p == '.' && p[1] != '.'))
            continue;
        if (slash && *p == '/' && p != s && p[1] != '/' && p[1] != '\0')
            continue;
        return false;
    }
    return n > 0 && n <= 200;
}

static void secret_key(const char *env, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "ep:attester:secret:%s:%s", env, name);
}

/* Policy: {"environments": [..], "verdicts": [..]}; strict. */
static int policy_check_syntax(const char *policy, ep_err *err)
{
    json_t     *j = json_loads(policy, JSON_REJECT_DUPLICATES, NULL), *v;
    const char *k;
    int         rc = 0;

    if (!json_is_object(j)) {
        json_decref(j);
        return ep_err_set(err, EINVAL, "release policy: not a JSON object"), -1;
    }
    json_object_foreach(j, k, v) {
        size_t  i;
        json_t *s;
        if (strcmp(k, "environments") != 0 && strcmp(k, "verdicts") != 0) {
            rc = -1;
            ep_err_set(err, EINVAL, "release policy: unknown key %s", k);
            break;
        }
        if (!json_is_array(v)) {
            rc = -1;
            ep_err_set(err, EINVAL, "release policy: %s is not an array", k);
            break;
        }
        json_array_foreach(v, i, s) {
            if (!json_is_string(s) ||
                (strcmp(k, "verdicts") == 0 && strcmp(json_string_value(s), "affirming") != 0 &&
                 strcmp(json_string_value(s), "warning") != 0)) {
                rc = -1;
            ep_err_set(err, EINVAL, "release policy: %s[%zu] invalid (verdicts: affirming, warning)", k, i);
                break;
            }
        }
    }
    json_decref(j);
    return rc;
}

int att_secret_put(attester *a, store *st, const char *env, const char *name,
                   const uint8_t *value, size_t len, const char *policy_json, ep_err *err)
{
    uint8_t    *blob = NULL;
    size_t      blen;
    char        key[600], when[32];
    redisReply *r;
    const char *pol = policy_json ? policy_json : "{}";

    if (!a->have_kek)
        return ep_err_set(err, EINVAL, "no secrets-kek-file configured"), -1;
    if (!valid_name(env, false) || !valid_name(name, true))
        return ep_err_set(err, EINVAL, "secret environment must be 1..200 of [A-Za-z0-9._-], the name "
                          "the same plus inner '/'"), -1;
    if (policy_check_syntax(pol, err) != 0)
        return -1;
    if (att_seal(a->kek, env, name, value, len, &blob, &blen, err) != 0)
        return -1;
    secret_key(env, name, key, sizeof key);
    ce_time_now(when);
    r = store_cmd(st, err, "HSET %s blob %b policy %s updated_at %s", key, blob, blen, pol, when);
    free(blob);
    if (r == NULL)
        return ep_err_wrap(err, "storing secret %s/%s", env, name), -1;
    freeReplyObject(r);
    return 0;
}

static bool in_list(json_t *arr, const char *s)
{
    size_t  i;
    json_t *v;

    json_array_foreach(arr, i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return true;
    return false;
}

int att_secret_release(attester *a, const char *token, const char *env, const char *name,
                       char **jwe, ep_err *err)
{
    json_t      *claims = NULL, *sub, *ann, *pol = NULL, *envs, *verdicts, *key;
    const char  *status, *tok_env;
    char         rkey[600], *jwk = NULL;
    store       *st = NULL;
    redisReply  *r = NULL;
    uint8_t     *pt = NULL;
    size_t       ptlen = 0;
    int          rc = 500;

    *jwe = NULL;
    if (token == NULL || ear_token_verify(token, a->signer_pub, att_now(a), &claims, err) != EAR_OK) {
        if (token == NULL)
            ep_err_set(err, EINVAL, "no token");
        rc = 401;
        goto out;
    }
    sub = json_object_get(json_object_get(claims, "submods"), "cpu0");
    ann = json_object_get(sub, "ear.veraison.annotated-evidence");
    status = json_string_value(json_object_get(sub, "ear.status"));
    tok_env = json_string_value(json_object_get(json_object_get(ann, "envplane"), "environment"));
    key = json_object_get(json_object_get(ann, "runtime_data_claims"), "tee-pubkey");
    if (status == NULL || tok_env == NULL || !json_is_object(key)) {
        ep_err_set(err, EINVAL, "token lacks ear.status, environment or tee-pubkey");
        rc = 401;
        goto out;
    }
    if (env == NULL || name == NULL || !valid_name(env, false) || !valid_name(name, true)) {
        ep_err_set(err, ENOENT, "no such secret (invalid environment or name)");
        rc = 404;
        goto out;
    }
    if (!a->have_kek) {
        ep_err_set(err, EINVAL, "no secrets-kek-file configured");
        goto out;
    }
    if ((st = att_store_get(a, err)) == NULL)
        goto out;
    secret_key(env, name, rkey, sizeof rkey);
    if ((r = store_cmd(st, err, "HMGET %s blob policy", rkey)) == NULL)
        goto out;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING) {
        ep_err_set(err, ENOENT, "no secret %s in environment %s", name, env);
        rc = 404;
        goto out;
    }
    pol = json_loads(r->element[1]->type == REDIS_REPLY_STRING ? r->element[1]->str : "{}", 0, NULL);
    envs = json_object_get(pol, "environments");
    verdicts = json_object_get(pol, "verdicts");
    if (!(strcmp(tok_env, env) == 0 || (envs != NULL && in_list(envs, tok_env)))) {
        ep_err_set(err, EPERM, "secret %s/%s is not released to environment %s", env, name, tok_env);
        rc = 403;
        goto out;
    }
    if (!(verdicts == NULL ? strcmp(status, "affirming") == 0 : in_list(verdicts, status))) {
        ep_err_set(err, EPERM, "secret %s/%s is not released on verdict %s", env, name, status);
        rc = 403;
        goto out;
    }
    if (att_open(a->kek, env, name, (const uint8_t *)r->element[0]->str, r->element[0]->len, &pt,
                 &ptlen, err) != 0)
        goto out;
    if ((jwk = json_dumps(key, JSON_COMPACT)) == NULL || (*jwe = ear_jwe_wrap(jwk, pt, ptlen, err)) == NULL) {
        ep_err_wrap(err, "wrapping to the tee-pubkey");
        goto out;
    }
    rc = 0;
out:
    if (pt != NULL)
        OPENSSL_cleanse(pt, ptlen);
    free(pt);
    free(jwk);
    if (r != NULL)
        freeReplyObject(r);
    att_store_put(a, st);
    json_decref(pol);
    json_decref(claims);
    if (a->m_released) {
        metrics_counter_add(rc == 0 ? a->m_released : rc == 401 ? a->m_unauth
                            : rc == 403 ? a->m_denied : rc == 404 ? a->m_notfound : a->m_errors, 1);
    }
    return rc;
}
