/*
 * attester: verifies TEE evidence (AMD SEV-SNP), issues EAR attestation
 * result tokens and releases secrets to attested workloads.
 *
 * Faces: NATS request/reply (rpc.c) for envplane's own services, the KBS
 * protocol over HTTP on --kbs-listen (kbs.c) for Confidential Containers
 * guests, and the admin subcommand
 *
 *   attester secret put ENV NAME [POLICY_JSON] < value
 *
 * which seals a secret under the KEK into Redis (EP_REDIS_URL,
 * EP_SECRETS_KEK_FILE).  The worker thread subscribes the request subjects
 * and then only watches the reference-values file for changes.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attester.h"
#include "log/log.h"
#include "svc/svc.h"

static svc *the_svc;

static void worker(svc *s, void *ud)
{
    attester       *a = ud;
    ep_err          err = {0};
    struct timespec tick = { 0, 100 * 1000000L };
    long long       waited = 0;

    if (att_rpc_start(a, &err) != 0) {
        LOG_KV(LOG_LEVEL_ERROR, "cannot subscribe", "error", err.msg, NULL);
        svc_fail(s, "start-up failed (see the previous error)");
        return;
    }
    svc_set_ready(s, 1, NULL);
    while (!svc_stopping(s)) {
        /* A stat() every reload interval; the tick only bounds how late we
         * notice the stop flag. */
        nanosleep(&tick, NULL);
        waited += 100;
        if (waited < a->cfg.reload_ms)
            continue;
        waited = 0;
        ep_err_clear(&err);
        switch (att_refs_maybe_reload(a, &err)) {
        case 1:
            LOG_KV(LOG_LEVEL_INFO, "reference values reloaded", "file", a->cfg.reference_file,
                   "bucket", a->cfg.reference_bucket, "etag", a->refs_etag, NULL);
            break;
        case -1:
            LOG_KV(LOG_LEVEL_ERROR, "reference values not reloaded; keeping the previous ones",
                   "error", err.msg, NULL);
            break;
        default:
            break;
        }
    }
    att_rpc_stop(a);
    LOG_KV(LOG_LEVEL_INFO, "worker drained: request subscriptions closed", NULL);
}

static void metrics_init(attester *a)
{
    static const double b[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1 };
    metrics_registry   *r = a->reg;
    const char         *n = "attester_verifications_total", *h = "Evidence verifications by outcome";
    const char         *rn = "attester_releases_total", *rh = "Secret release requests by outcome";

    a->m_challenges = metrics_counter(r, "attester_challenges_total", "Nonces issued", NULL);
    a->m_verified = metrics_counter(r, n, h, "result=\"verified\"");
    a->m_failed = metrics_counter(r, n, h, "result=\"failed\"");
    a->m_errors = metrics_counter(r, "attester_errors_total", "Requests that failed for operational reasons", NULL);
    a->m_released = metrics_counter(r, rn, rh, "result=\"released\"");
    a->m_denied = metrics_counter(r, rn, rh, "result=\"denied\"");
    a->m_notfound = metrics_counter(r, rn, rh, "result=\"not_found\"");
    a->m_unauth = metrics_counter(r, rn, rh, "result=\"unauthorized\"");
    a->m_reloads = metrics_counter(r, "attester_reference_reloads_total", "Reference-value file reloads", NULL);
    a->m_verify_seconds = metrics_histogram_get(r, "attester_verify_seconds", "Time to verify, appraise and sign",
                                                NULL, b, sizeof b / sizeof b[0]);
}

/* attester secret put ENV NAME [POLICY_JSON] < value */
static int secret_cli(int argc, char **argv)
{
    static attester a;
    store          *st = NULL;
    ep_err          err = {0};
    uint8_t        *val = NULL;
    size_t          len = 0, cap = 0, got;
    int             rc = 1;

    if (argc < 5 || argc > 6 || strcmp(argv[2], "put") != 0) {
        fprintf(stderr, "usage: attester secret put ENV NAME [POLICY_JSON] < value\n"
                        "  environment: EP_REDIS_URL, EP_SECRETS_KEK_FILE\n"
                        "  POLICY_JSON: {\"environments\": [...], \"verdicts\": [\"affirming\", \"warning\"]}\n");
        return 2;
    }
    a.cfg.redis_url = getenv("EP_REDIS_URL") ? getenv("EP_REDIS_URL") : "redis://127.0.0.1:6379";
    a.cfg.kek_file = getenv("EP_SECRETS_KEK_FILE");
    if (a.cfg.kek_file == NULL) {
        fprintf(stderr, "attester secret: EP_SECRETS_KEK_FILE is not set\n");
        return 2;
    }
    if (att_init(&a, true, &err) != 0)
        goto out;
    do {
        if (len + 4096 > cap) {
            uint8_t *nv = realloc(val, cap = cap * 2 + 4096);
            if (nv == NULL)
                goto out;
            val = nv;
        }
        got = fread(val + len, 1, 4096, stdin);
        len += got;
    } while (got > 0 && len < 1024 * 1024);
    if ((st = att_store_get(&a, &err)) == NULL ||
        att_secret_put(&a, st, argv[3], argv[4], val ? val : (const uint8_t *)"", len,
                       argc == 6 ? argv[5] : NULL, &err) != 0)
        goto out;
    fprintf(stderr, "attester secret: stored %s/%s (%zu bytes, sealed)\n", argv[3], argv[4], len);
    rc = 0;
out:
    if (rc != 0)
        fprintf(stderr, "attester secret: %s\n", err.msg[0] ? err.msg : "out of memory");
    if (val != NULL) {
        memset(val, 0, cap);
        free(val);
    }
    att_store_put(&a, st);
    a.cfg.redis_url = NULL;
    a.cfg.kek_file = NULL;
    att_dispose(&a);
    return rc;
}

int main(int argc, char **argv)
{
    static attester a;
    const cfg_option opts[] = {
        { "redis-url", CFG_STRING, "redis://127.0.0.1:6379", "Redis for nonces, KBS sessions and sealed secrets", 0, 0, &a.cfg.redis_url, NULL, 0, 0 },
        { "ark-file", CFG_STRING, NULL, "PEM file of trusted AMD root keys (ARKs), one per product line", 0, 0, &a.cfg.ark_file, NULL, 0, 1 },
        { "ask-file", CFG_STRING, NULL, "PEM file of AMD intermediates (ASK/ASVK); never trusted by themselves", 0, 0, &a.cfg.ask_file, NULL, 0, 0 },
        { "crl-file", CFG_STRING, NULL, "AMD CRL (DER or PEM); once set every chain is checked for revocation", 0, 0, &a.cfg.crl_file, NULL, 0, 0 },
        { "reference-file", CFG_STRING, NULL, "reference values: {\"environments\": {ENV: {WORKLOAD|*: {...}}}} (or reference-bucket)", 0, 0, &a.cfg.reference_file, NULL, 0, 0 },
        { "reference-bucket", CFG_STRING, NULL, "bucket holding the reference values instead of a file", 0, 0, &a.cfg.reference_bucket, NULL, 0, 0 },
        { "reference-key", CFG_STRING, "reference-values.json", "object key of the reference values in reference-bucket", 0, 0, &a.cfg.reference_key, NULL, 0, 0 },
        { "reload-interval", CFG_DURATION, "2s", "how often to check the reference file or object for changes", 100, 3600 * 1000, &a.cfg.reload_ms, NULL, 0, 0 },
        { "s3-endpoint", CFG_STRING, "http://127.0.0.1:9000", "S3 (MinIO) endpoint for reference-bucket", 0, 0, &a.cfg.s3_endpoint, NULL, 0, 0 },
        { "s3-region", CFG_STRING, "us-east-1", "S3 signing region", 0, 0, &a.cfg.s3_region, NULL, 0, 0 },
        { "s3-access-key", CFG_STRING, NULL, "S3 access key", 0, 0, &a.cfg.s3_access_key, NULL, 0, 0 },
        { "s3-secret-key", CFG_STRING, NULL, "S3 secret key", 0, 0, &a.cfg.s3_secret_key, NULL, 1, 0 },
        { "signing-key-file", CFG_STRING, NULL, "private EC P-256 JWK signing result tokens (unset: a key generated at start)", 0, 0, &a.cfg.signing_key_file, NULL, 0, 0 },
        { "secrets-kek-file", CFG_STRING, NULL, "key-encryption key of the sealed secrets: 32 bytes or 64 hex digits", 0, 0, &a.cfg.kek_file, NULL, 0, 0 },
        { "nonce-ttl", CFG_DURATION, "5m", "lifetime of a challenge nonce", 1000, 24LL * 3600 * 1000, &a.cfg.nonce_ttl_ms, NULL, 0, 0 },
        { "token-ttl", CFG_DURATION, "5m", "lifetime of an attestation result token", 1000, 24LL * 3600 * 1000, &a.cfg.token_ttl_ms, NULL, 0, 0 },
        { "kbs-listen", CFG_STRING, "127.0.0.1:8081", "address of the KBS-protocol HTTP endpoint", 0, 0, &a.cfg.kbs_listen, NULL, 0, 0 },
        { "kbs-session-ttl", CFG_DURATION, "5m", "lifetime of a KBS session (cookie)", 1000, 24LL * 3600 * 1000, &a.cfg.session_ttl_ms, NULL, 0, 0 },
        { "kbs-environment", CFG_STRING, NULL, "environment KBS guests are appraised against unless extra-params names one", 0, 0, &a.cfg.kbs_environment, NULL, 0, 0 },
        { "kbs-workload", CFG_STRING, NULL, "workload KBS guests are appraised against (\"\" = the environment's \"*\")", 0, 0, &a.cfg.kbs_workload, NULL, 0, 0 },
        { "clock-offset", CFG_INT, "0", "seconds added to the clock (test hook for expiry)", -100000000, 100000000, &a.cfg.clock_offset, NULL, 0, 0 },
    };
    svc_info info = {
        .name = "attester",
        .summary = "verify SEV-SNP evidence, issue EAR tokens, release sealed secrets (NATS and KBS protocol)",
        .opts = opts,
        .nopts = sizeof opts / sizeof opts[0],
    };
    httpd *kbs = NULL;
    ep_err err = {0};
    char   port[16];
    int    rc;

    if (argc >= 2 && strcmp(argv[1], "secret") == 0)
        return secret_cli(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    if (s3_global_init(&err) != S3_OK) {
        fprintf(stderr, "attester: %s\n", err.msg);
        return 1;
    }
    rc = svc_create(&info, argc, argv, &the_svc);
    if (rc != SVC_OK) {
        s3_global_cleanup();
        return rc == SVC_EXIT ? 0 : 1;
    }
    a.bus = svc_bus(the_svc);
    a.reg = svc_metrics(the_svc);
    metrics_init(&a);
    if (att_init(&a, false, &err) != 0 || att_kbs_start(&a, &kbs, &err) != 0) {
        LOG_KV(LOG_LEVEL_ERROR, "cannot start", "error", err.msg, NULL);
        att_dispose(&a);
        svc_destroy(the_svc);
        s3_global_cleanup();
        return 1;
    }
    if (!a.have_kek)
        LOG_KV(LOG_LEVEL_WARN, "no secrets-kek-file: secret release is disabled", NULL);
    if (a.cfg.signing_key_file == NULL || a.cfg.signing_key_file[0] == '\0')
        LOG_KV(LOG_LEVEL_WARN, "no signing-key-file: tokens are signed with a key generated now "
               "(replicas will not accept each other's tokens)", NULL);
    snprintf(port, sizeof port, "%d", httpd_port(kbs));
    LOG_KV(LOG_LEVEL_INFO, "kbs endpoint up", "listen", a.cfg.kbs_listen, "port", port,
           "verifier_jwk", a.signer_pub, NULL);
    svc_set_ready(the_svc, 0, "request subscriptions not open yet");
    svc_set_worker(the_svc, worker, &a);
    rc = svc_run(the_svc);

    httpd_destroy(kbs);
    att_dispose(&a);
    svc_destroy(the_svc);
    s3_global_cleanup();
    return rc;
}
