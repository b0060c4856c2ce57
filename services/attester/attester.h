/*
 * attester: shared state and internal API of the attester service.
 *
 * The service verifies TEE evidence (SEV-SNP today) with libs/snp, issues
 * EAR result tokens with libs/ear and releases secrets, encrypted at rest
 * under a key-encryption key, as JWEs to the workload key a passing report
 * binds.  Three faces use the same core (core.c): NATS request/reply
 * (rpc.c), a KBS-protocol HTTP server (kbs.c) and the `secret put` admin
 * subcommand (main.c).  Core functions are called concurrently from cnats
 * and libmicrohttpd threads, so every piece of shared state is either
 * immutable after start, internally thread-safe (snp_verifier), or behind
 * a lock (reference values, the signer, the Redis connection pool).
 */
#ifndef EP_ATTESTER_H
#define EP_ATTESTER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "bus/bus.h"
#include "ear/ear.h"
#include "err/err.h"
#include "httpd/httpd.h"
#include "metrics/metrics.h"
#include "s3/s3.h"
#include "snp/snp.h"
#include "store/store.h"

#include "envplane/attest/v1/attest.pb-c.h"

#define ATT_KEK_LEN   32
#define ATT_POOL_MAX  8
#define ATT_REASONS_MAX (SNP_FINDINGS_MAX + 4)

typedef struct att_config {
    char     *redis_url;
    char     *ark_file, *ask_file, *crl_file;
    char     *reference_file;
    char     *reference_bucket, *reference_key;   /* alternative source: an S3 object */
    char     *s3_endpoint, *s3_region, *s3_access_key, *s3_secret_key;
    char     *signing_key_file;
    char     *kek_file;
    char     *kbs_listen;
    char     *kbs_environment, *kbs_workload;
    long long nonce_ttl_ms, token_ttl_ms, session_ttl_ms, reload_ms;
    long long clock_offset;     /* seconds added to the clock: a test hook */
} att_config;

/* One reference-values table: environment -> workload ("*" = any) -> refvals. */
typedef struct att_refs att_refs;

typedef struct attester {
    att_config       cfg;
    snp_verifier    *verifier;
    ear_signer      *signer;
    char            *signer_pub;        /* public JWK JSON, immutable */
    pthread_mutex_t  sign_mu;           /* cjose objects are not documented thread-safe */
    uint8_t          kek[ATT_KEK_LEN];
    bool             have_kek;

    pthread_rwlock_t refs_mu;
    att_refs        *refs;              /* current table, replaced on reload */
    long long        refs_mtime_ns;     /* file source: mtime + size last loaded */
    char             refs_etag[80];     /* bucket source: ETag last loaded */
    s3_client       *s3;                /* bucket source; used by one thread at a time */

    pthread_mutex_t  pool_mu;           /* Redis connections: one per concurrent caller */
    store           *pool[ATT_POOL_MAX];
    int              npool;
    store_script    *sc_consume;

    bus              *bus;              /* NULL in the CLI and unit tests: events not published */
    metrics_registry *reg;
    metrics_counter  *m_challenges, *m_verified, *m_failed, *m_errors;
    metrics_counter  *m_released, *m_denied, *m_notfound, *m_unauth, *m_reloads;
    metrics_histogram *m_verify_seconds;
} attester;

/* ---- setup (core.c) ---- */

/* Fill everything from a->cfg: trust anchors, signer, KEK, reference values,
 * the nonce script (secrets_only: just the KEK, for the admin CLI).  Errors
 * name the file.  att_dispose also after a failed att_init. */
int  att_init(attester *a, bool secrets_only, ep_err *err);
void att_dispose(attester *a);
/* Reload the reference values if their source changed: the file's mtime
 * and size, or the bucket object's ETag.  1 reloaded, 0 unchanged, -1 error
 * (the old table stays).  Not reentrant: one caller thread at a time. */
int  att_refs_maybe_reload(attester *a, ep_err *err);
int64_t att_now(const attester *a);

/* Redis pool: borrow a connection for the calling thread, give it back. */
store *att_store_get(attester *a, ep_err *err);
void   att_store_put(attester *a, store *st);

/* ---- nonces ---- */

/* Issue a nonce (SET NX EX) valid nonce_ttl; *expires_at in Unix seconds. */
int att_nonce_issue(attester *a, store *st, uint8_t out[SNP_NONCE_LEN], int64_t *expires_at,
                    ep_err *err);
/* Consume once, atomically (Lua): the same answers as snp_nonce_consume. */
snp_nonce_status att_nonce_consume(attester *a, store *st, const uint8_t *nonce, size_t len);

/* ---- verification ---- */

typedef struct att_reason {
    char name[40];
    char detail[SNP_DETAIL_MAX];
} att_reason;

typedef struct att_verify_in {
    int             evidence_type;       /* ENVPLANE__ATTEST__V1__EVIDENCE_TYPE__* */
    const uint8_t  *report;  size_t report_len;
    const uint8_t  *cert;    size_t cert_len;
    const uint8_t  *nonce;   size_t nonce_len;
    const char     *environment, *workload;
    const char *const *images; size_t n_images;
    /* NATS binding: report_data = SHA-512(nonce || workload_key bytes). */
    const char     *workload_key;
    /* KBS binding instead (when set): report_data = SHA-512(runtime_data)
     * and the nonce is the session's; workload_key is then the JWK. */
    const uint8_t  *runtime_data; size_t runtime_data_len;
    bool            nonce_mismatch;      /* KBS: runtime-data carried another nonce */
    const char     *via;                 /* "nats" | "kbs" */
} att_verify_in;

typedef struct att_verify_out {
    bool       passed;                   /* token issued */
    ear_tier   tier;
    char      *token;                    /* malloc'd, NULL unless passed */
    int64_t    expires_at;
    char       attestation_id[65];
    char       measurement[97];
    att_reason reasons[ATT_REASONS_MAX];
    size_t     n_reasons;
} att_verify_out;

/* Verify, appraise, sign, publish attest.verified / attest.failed.  Returns
 * 0 with a verdict in out (passed or not), -1 on an operational error
 * (err; nothing published).  out->token is the caller's to free. */
int att_verify(attester *a, const att_verify_in *in, att_verify_out *out, ep_err *err);

/* ---- secrets ---- */

/* Seal a secret for (env, name) under the KEK and store it with its release
 * policy (JSON {"environments":[...],"verdicts":[...]}, NULL = default:
 * only env itself, only "affirming"). */
int att_secret_put(attester *a, store *st, const char *env, const char *name,
                   const uint8_t *value, size_t len, const char *policy_json, ep_err *err);

/* Release (env, name) to the holder of `token`: 0 and *jwe (malloc'd), or
 * 401 (token bad/expired), 403 (policy), 404 (no such secret), 500 with err. */
int att_secret_release(attester *a, const char *token, const char *env, const char *name,
                       char **jwe, ep_err *err);

/* AES-256-GCM with the KEK: blob = iv(12) || ciphertext || tag(16); aad
 * binds env and name so a blob cannot be moved to another secret. */
int att_seal(const uint8_t kek[ATT_KEK_LEN], const char *env, const char *name,
             const uint8_t *pt, size_t len, uint8_t **blob, size_t *blob_len, ep_err *err);
int att_open(const uint8_t kek[ATT_KEK_LEN], const char *env, const char *name,
             const uint8_t *blob, size_t blob_len, uint8_t **pt, size_t *len, ep_err *err);

/* ---- faces ---- */

int  att_rpc_start(attester *a, ep_err *err);   /* subscribe (worker thread) */
void att_rpc_stop(attester *a);
int  att_kbs_start(attester *a, httpd **out, ep_err *err);

#endif
