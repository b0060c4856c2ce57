/*
 * verify.c: the verifier object, its chain cache and the evidence checks.
 *
 * Checking the VCEK -> ASK -> ARK chain costs three RSA-4096 PSS
 * verifications and a certificate parse; the report signature costs one
 * ECDSA P-384 verification.  A service sees the same few VCEKs again and
 * again (one per chip and TCB), so a successful chain verification is
 * cached, keyed by the leaf's SHA-256 fingerprint, together with the leaf's
 * public key, its extension facts and the time window in which the result
 * holds (the intersection of the chain's validity periods and the CRLs'
 * nextUpdate).  Outside that window, or after the trust configuration
 * changes, the chain is verified again.  Failures are never cached.
 *
 * Locking: `cfg_lock` (read for verification, write for adding anchors,
 * intermediates and CRLs) guards the X509_STORE and friends; `cache_lock`
 * guards the cache table and counters and is held only for lookups and
 * inserts, never during cryptography.
 */
#include "snp/snp_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

typedef struct cache_entry {
    bool          used;
    uint8_t       fp[32];
    EVP_PKEY     *key;      /* one reference owned by the entry */
    snp_cert_info info;
    int64_t       from, to; /* the cached result holds for from <= at <= to */
    uint64_t      stamp;    /* last use, for LRU eviction */
} cache_entry;

struct snp_verifier {
    pthread_rwlock_t    cfg_lock;
    X509_STORE         *store;     /* trusted ARKs and CRLs */
    STACK_OF(X509)     *inter;     /* untrusted ASK/ASVK candidates */
    STACK_OF(X509_CRL) *crls;      /* the same CRLs, for nextUpdate */
    EVP_MD             *sha384;    /* fetched once: cheaper than per call */

    pthread_mutex_t     cache_lock;
    cache_entry        *cache;
    size_t              cap;
    uint64_t            tick, hits, misses;
};

/* ---- lifecycle and configuration ----------------------------------------------- */

snp_verifier *snp_verifier_create(size_t cache_size, ep_err *err)
{
    snp_verifier *v = calloc(1, sizeof *v);

    if (v == NULL)
        goto oom;
    v->cap = cache_size ? cache_size : SNP_CACHE_DEFAULT;
    v->cache = calloc(v->cap, sizeof *v->cache);
    v->store = X509_STORE_new();
    v->inter = sk_X509_new_null();
    v->crls = sk_X509_CRL_new_null();
    v->sha384 = EVP_MD_fetch(NULL, "SHA384", NULL);
    if (v->cache == NULL || v->store == NULL || v->inter == NULL || v->crls == NULL ||
        v->sha384 == NULL) {
        free(v->cache);
        X509_STORE_free(v->store);
        sk_X509_free(v->inter);
        sk_X509_CRL_free(v->crls);
        EVP_MD_free(v->sha384);
        free(v);
        goto oom;
    }
    pthread_rwlock_init(&v->cfg_lock, NULL);
    pthread_mutex_init(&v->cache_lock, NULL);
    return v;
oom:
    ep_err_set(err, SNP_ENOMEM, "snp verifier: out of memory");
    return NULL;
}

static void cache_clear_locked(snp_verifier *v)
{
    for (size_t i = 0; i < v->cap; i++) {
        if (v->cache[i].used)
            EVP_PKEY_free(v->cache[i].key);
        memset(&v->cache[i], 0, sizeof v->cache[i]);
    }
}

void snp_verifier_destroy(snp_verifier *v)
{
    if (v == NULL)
        return;
    cache_clear_locked(v);
    free(v->cache);
    X509_STORE_free(v->store);
    sk_X509_pop_free(v->inter, X509_free);
    sk_X509_CRL_pop_free(v->crls, X509_CRL_free);
    EVP_MD_free(v->sha384);
    pthread_rwlock_destroy(&v->cfg_lock);
    pthread_mutex_destroy(&v->cache_lock);
    free(v);
}

/* Every certificate of a DER blob or of all PEM blocks.  New stack. */
static STACK_OF(X509) *read_all_certs(const uint8_t *buf, size_t len)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    BIO            *bio = NULL;
    X509           *x;

    if (sk == NULL || buf == NULL || len == 0 || len > INT32_MAX)
        goto fail;
    if (buf[0] == 0x30) {
        if ((x = snp__x509_read(buf, len)) == NULL || !sk_X509_push(sk, x)) {
            X509_free(x);
            goto fail;
        }
        return sk;
    }
    if ((bio = BIO_new_mem_buf(buf, (int)len)) == NULL)
        goto fail;
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (!sk_X509_push(sk, x)) {
            X509_free(x);
            goto fail;
        }
    }
    ERR_clear_error();  /* the loop ends on a "no start line" error */
    BIO_free(bio);
    if (sk_X509_num(sk) == 0)
        goto fail;
    return sk;
fail:
    ERR_clear_error();
    BIO_free(bio);
    sk_X509_pop_free(sk, X509_free);
    return NULL;
}

static void config_changed(snp_verifier *v)
{
    pthread_mutex_lock(&v->cache_lock);
    cache_clear_locked(v);
    pthread_mutex_unlock(&v->cache_lock);
}

int snp_verifier_add_ark(snp_verifier *v, const uint8_t *buf, size_t len, ep_err *err)
{
    STACK_OF(X509) *sk;
    int             rc = SNP_OK;

    if (v == NULL)
        return ep_err_set(err, SNP_EINVAL, "snp verifier: NULL");
    if ((sk = read_all_certs(buf, len)) == NULL)
        return ep_err_set(err, SNP_EPARSE, "ARK: no DER or PEM certificate");
    pthread_rwlock_wrlock(&v->cfg_lock);
    for (int i = 0; i < sk_X509_num(sk); i++) {
        X509 *x = sk_X509_value(sk, i);
        /* Only a self-issued certificate can be a root; checking this here
         * catches an ASK passed where the ARK was meant. */
        if (X509_check_issued(x, x) != X509_V_OK) {
            rc = ep_err_set(err, SNP_EPARSE, "ARK: certificate %d is not self-signed", i + 1);
            break;
        }
        if (X509_STORE_add_cert(v->store, x) != 1) {
            ERR_clear_error();
            rc = ep_err_set(err, SNP_ECRYPTO, "ARK: X509_STORE_add_cert failed");
            break;
        }
    }
    config_changed(v);
    pthread_rwlock_unlock(&v->cfg_lock);
    sk_X509_pop_free(sk, X509_free);
    return rc;
}

int snp_verifier_add_intermediate(snp_verifier *v, const uint8_t *buf, size_t len, ep_err *err)
{
    STACK_OF(X509) *sk;
    int             rc = SNP_OK;

    if (v == NULL)
        return ep_err_set(err, SNP_EINVAL, "snp verifier: NULL");
    if ((sk = read_all_certs(buf, len)) == NULL)
        return ep_err_set(err, SNP_EPARSE, "ASK/ASVK: no DER or PEM certificate");
    pthread_rwlock_wrlock(&v->cfg_lock);
    while (sk_X509_num(sk) > 0) {
        X509 *x = sk_X509_shift(sk);
        if (!sk_X509_push(v->inter, x)) {
            X509_free(x);
            rc = ep_err_set(err, SNP_ENOMEM, "ASK/ASVK: out of memory");
            break;
        }
    }
    config_changed(v);
    pthread_rwlock_unlock(&v->cfg_lock);
    sk_X509_pop_free(sk, X509_free);
    return rc;
}

int snp_verifier_add_crl(snp_verifier *v, const uint8_t *buf, size_t len, ep_err *err)
{
    X509_CRL            *crl = NULL;
    const unsigned char *p = buf;
    BIO                 *bio;
    int                  rc = SNP_OK;

    if (v == NULL || buf == NULL || len == 0 || len > INT32_MAX)
        return ep_err_set(err, SNP_EINVAL, "CRL: bad argument");
    if (buf[0] == 0x30) {
        crl = d2i_X509_CRL(NULL, &p, (long)len);
    } else if ((bio = BIO_new_mem_buf(buf, (int)len)) != NULL) {
        crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
        BIO_free(bio);
    }
    ERR_clear_error();
    if (crl == NULL)
        return ep_err_set(err, SNP_EPARSE, "CRL: not a DER or PEM X.509 CRL");
    pthread_rwlock_wrlock(&v->cfg_lock);
    if (X509_STORE_add_crl(v->store, crl) != 1 || !sk_X509_CRL_push(v->crls, crl)) {
        ERR_clear_error();
        rc = ep_err_set(err, SNP_ECRYPTO, "CRL: cannot add to the store");
        X509_CRL_free(crl);
    }
    config_changed(v);
    pthread_rwlock_unlock(&v->cfg_lock);
    return rc;
}

void snp_verifier_cache_stats(snp_verifier *v, snp_cache_stats *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&v->cache_lock);
    out->hits = v->hits;
    out->misses = v->misses;
    for (size_t i = 0; i < v->cap; i++)
        out->entries += v->cache[i].used;
    pthread_mutex_unlock(&v->cache_lock);
}

/* ---- cache ------------------------------------------------------------------------------ */

/* On a hit, copy the facts and take a reference on the key. */
static bool cache_get(snp_verifier *v, const uint8_t fp[32], int64_t at,
                      snp_cert_info *info, EVP_PKEY **key)
{
    bool hit = false;

    pthread_mutex_lock(&v->cache_lock);
    for (size_t i = 0; i < v->cap; i++) {
        cache_entry *e = &v->cache[i];
        if (!e->used || memcmp(e->fp, fp, 32) != 0)
            continue;
        if (at < e->from || at > e->to)
            break;  /* the result does not hold at this time: verify again */
        if (EVP_PKEY_up_ref(e->key) != 1)
            break;
        *key = e->key;
        *info = e->info;
        e->stamp = ++v->tick;
        hit = true;
        break;
    }
    if (hit)
        v->hits++;
    else
        v->misses++;
    pthread_mutex_unlock(&v->cache_lock);
    return hit;
}

static void cache_put(snp_verifier *v, const snp_cert_info *info, EVP_PKEY *key,
                      int64_t from, int64_t to)
{
    cache_entry *slot = NULL, *same = NULL;

    if (EVP_PKEY_up_ref(key) != 1)
        return;
    pthread_mutex_lock(&v->cache_lock);
    /* Prefer the entry for the same leaf (another thread may have verified
     * it meanwhile), then a free slot, then the least recently used. */
    for (size_t i = 0; i < v->cap && same == NULL; i++) {
        cache_entry *e = &v->cache[i];
        if (e->used && memcmp(e->fp, info->fingerprint, 32) == 0)
            same = e;
        else if (!e->used && (slot == NULL || slot->used))
            slot = e;
        else if (e->used && (slot == NULL || (slot->used && e->stamp < slot->stamp)))
            slot = e;
    }
    if (same != NULL)
        slot = same;
    if (slot->used)
        EVP_PKEY_free(slot->key);
    slot->used = true;
    memcpy(slot->fp, info->fingerprint, 32);
    slot->key = key;
    slot->info = *info;
    slot->from = from;
    slot->to = to;
    slot->stamp = ++v->tick;
    pthread_mutex_unlock(&v->cache_lock);
}

/* ---- chain ------------------------------------------------------------------------------- */

typedef struct chain_ctx {
    snp_findings *f;
    size_t        recorded;
} chain_ctx;

static void cert_name(X509_STORE_CTX *ctx, char *out, size_t cap)
{
    X509 *x = X509_STORE_CTX_get_current_cert(ctx);
    int   i;

    snprintf(out, cap, "depth %d", X509_STORE_CTX_get_error_depth(ctx));
    if (x == NULL)
        return;
    i = X509_NAME_get_index_by_NID(X509_get_subject_name(x), NID_commonName, -1);
    if (i >= 0) {
        const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(X509_get_subject_name(x), i));
        snprintf(out, cap, "%.*s", ASN1_STRING_length(s), (const char *)ASN1_STRING_get0_data(s));
    }
}

/* Record every problem OpenSSL reports.  Time and revocation problems are
 * recorded and then waved through so that verification goes on and finds
 * the rest (an expired and revoked certificate yields both reasons); the
 * chain counts as good only if nothing was recorded.  The one error that is
 * not a problem: no CRL for the leaf.  AMD publishes a CRL per product,
 * signed by the ARK, covering the ASK/ASVK; the ASK issues no CRL for the
 * VCEKs it signs. */
static int verify_cb(int ok, X509_STORE_CTX *ctx)
{
    chain_ctx *c = X509_STORE_CTX_get_app_data(ctx);
    int        e = X509_STORE_CTX_get_error(ctx);
    int        depth = X509_STORE_CTX_get_error_depth(ctx);
    char       who[64];
    snp_reason r;
    int        cont = 1;

    if (ok)
        return 1;
    if (e == X509_V_ERR_UNABLE_TO_GET_CRL && depth == 0)
        return 1;
    cert_name(ctx, who, sizeof who);
    switch (e) {
    case X509_V_ERR_CERT_HAS_EXPIRED: r = SNP_REASON_CERT_EXPIRED; break;
    case X509_V_ERR_CERT_NOT_YET_VALID: r = SNP_REASON_CERT_NOT_YET_VALID; break;
    case X509_V_ERR_CERT_REVOKED: r = SNP_REASON_CERT_REVOKED; break;
    case X509_V_ERR_UNABLE_TO_GET_CRL:
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_CRL_NOT_YET_VALID:
    case X509_V_ERR_CRL_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
    case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
        r = SNP_REASON_CRL;
        break;
    default:
        r = SNP_REASON_CHAIN;
        cont = 0;
        break;
    }
    snp_findings_add(c->f, r, "%s: %s", who, X509_verify_cert_error_string(e));
    c->recorded++;
    return cont;
}

/* Verify leaf -> intermediates -> trusted ARK at `at`.  On success set the
 * window in which the result holds.  Caller holds cfg_lock for reading. */
static bool chain_verify(snp_verifier *v, X509 *leaf, int64_t at, snp_findings *f,
                         int64_t *from, int64_t *to)
{
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    chain_ctx       c = {.f = f};
    unsigned long   flags = X509_V_FLAG_CHECK_SS_SIGNATURE;
    bool            ok = false;
    int             r;

    if (ctx == NULL || X509_STORE_CTX_init(ctx, v->store, leaf, v->inter) != 1) {
        snp_findings_add(f, SNP_REASON_CHAIN, "cannot set up chain verification");
        goto out;
    }
    if (sk_X509_CRL_num(v->crls) > 0)
        flags |= X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL;
    X509_STORE_CTX_set_flags(ctx, flags);
    X509_STORE_CTX_set_time(ctx, 0, (time_t)at);
    X509_STORE_CTX_set_verify_cb(ctx, verify_cb);
    X509_STORE_CTX_set_app_data(ctx, &c);
    r = X509_verify_cert(ctx);
    if (r != 1 && c.recorded == 0)
        snp_findings_add(f, SNP_REASON_CHAIN, "%s",
                         X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    ok = r == 1 && c.recorded == 0;
    if (ok) {
        STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
        *from = INT64_MIN;
        *to = INT64_MAX;
        for (int i = 0; i < sk_X509_num(chain); i++) {
            int64_t nb, na;
            X509   *x = sk_X509_value(chain, i);
            if (!snp__asn1_time(X509_get0_notBefore(x), &nb) ||
                !snp__asn1_time(X509_get0_notAfter(x), &na)) {
                nb = na = at;  /* unreadable: let the result hold only now */
            }
            if (nb > *from)
                *from = nb;
            if (na < *to)
                *to = na;
        }
        for (int i = 0; i < sk_X509_CRL_num(v->crls); i++) {
            int64_t nu;
            const ASN1_TIME *t = X509_CRL_get0_nextUpdate(sk_X509_CRL_value(v->crls, i));
            if (t != NULL && snp__asn1_time(t, &nu) && nu < *to)
                *to = nu;
        }
    }
out:
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    return ok;
}

/* ---- evidence ---------------------------------------------------------------------------- */

static bool key_is_p384(EVP_PKEY *k)
{
    char group[32];

    return k != NULL && EVP_PKEY_get_base_id(k) == EVP_PKEY_EC &&
           EVP_PKEY_get_group_name(k, group, sizeof group, NULL) == 1 &&
           strcmp(group, "secp384r1") == 0;
}

/* Leaf certificate: from the cache, or parsed and chain-verified.  Returns
 * the leaf key (new reference) or NULL; sets out->cert and findings. */
static EVP_PKEY *leaf_key(snp_verifier *v, const uint8_t *cert, size_t cert_len, int64_t at,
                          snp_result *out, ep_err *err)
{
    uint8_t   fp[32];
    X509     *x = NULL;
    EVP_PKEY *key = NULL;
    int64_t   from, to;
    ep_err    perr;

    if (cert != NULL && cert_len > 0 && cert[0] == 0x30) {
        /* DER as received: its SHA-256 is the fingerprint, no parse needed. */
        if (EVP_Digest(cert, cert_len, fp, NULL, EVP_sha256(), NULL) != 1)
            return NULL;
    } else {
        if ((x = snp__x509_read(cert, cert_len)) == NULL) {
            snp_findings_add(&out->findings, SNP_REASON_CERT_PARSE,
                             "VCEK/VLEK is not a DER or PEM certificate");
            return NULL;
        }
        if (X509_digest(x, EVP_sha256(), fp, NULL) != 1)
            goto out;
    }
    if (cache_get(v, fp, at, &out->cert, &key)) {
        out->cert_parsed = true;
        out->cache_hit = true;
        goto out;
    }
    if (x == NULL && (x = snp__x509_read(cert, cert_len)) == NULL) {
        snp_findings_add(&out->findings, SNP_REASON_CERT_PARSE,
                         "VCEK/VLEK is not a DER certificate");
        goto out;
    }
    if (snp__cert_info(x, &out->cert, &perr) != SNP_OK) {
        snp_findings_add(&out->findings, SNP_REASON_CERT_PARSE, "%s", perr.msg);
        goto out;
    }
    out->cert_parsed = true;
    key = X509_get_pubkey(x);
    if (!key_is_p384(key)) {
        snp_findings_add(&out->findings, SNP_REASON_CERT_KEY, "%s key is not EC P-384",
                         out->cert.subject_cn);
        EVP_PKEY_free(key);
        key = NULL;
    }
    if (chain_verify(v, x, at, &out->findings, &from, &to) && key != NULL)
        cache_put(v, &out->cert, key, from, to);
out:
    (void)err;
    X509_free(x);
    return key;
}

static const char *kind_name(snp_cert_kind k)
{
    return k == SNP_CERT_VCEK ? "VCEK" : k == SNP_CERT_VLEK ? "VLEK" : "unknown";
}

int snp_verifier_verify(snp_verifier *v, const uint8_t *report, size_t report_len,
                        const uint8_t *cert, size_t cert_len, int64_t at,
                        snp_result *out, ep_err *err)
{
    EVP_PKEY *key = NULL;
    char      detail[SNP_DETAIL_MAX];
    int       sig;

    if (v == NULL || out == NULL || report == NULL)
        return ep_err_set(err, SNP_EINVAL, "snp verify: NULL argument");
    memset(out, 0, sizeof *out);
    snp_report_parse(report, report_len, &out->report, &out->findings, NULL);
    out->report_parsed = report_len == SNP_REPORT_SIZE;
    if (out->report_parsed) {
        if (out->report.sig_algo != SNP_SIG_ALGO_ECDSA_P384_SHA384)
            snp_findings_add(&out->findings, SNP_REASON_SIG_ALGO,
                             "signature algorithm %u, expected 1 (ECDSA P-384 with SHA-384)",
                             out->report.sig_algo);
        if (out->report.signing_key != SNP_SIGNING_KEY_VCEK &&
            out->report.signing_key != SNP_SIGNING_KEY_VLEK)
            snp_findings_add(&out->findings, SNP_REASON_SIGNING_KEY,
                             "signing key selector %u is neither VCEK (0) nor VLEK (1)",
                             out->report.signing_key);
    }

    pthread_rwlock_rdlock(&v->cfg_lock);
    key = leaf_key(v, cert, cert_len, at, out, err);
    pthread_rwlock_unlock(&v->cfg_lock);

    if (out->cert_parsed && out->report_parsed) {
        snp_cert_kind want = out->report.signing_key == SNP_SIGNING_KEY_VLEK ? SNP_CERT_VLEK
                                                                            : SNP_CERT_VCEK;
        if (out->cert.kind != want && (out->report.signing_key == SNP_SIGNING_KEY_VCEK ||
                                       out->report.signing_key == SNP_SIGNING_KEY_VLEK))
            snp_findings_add(&out->findings, SNP_REASON_SIGNING_KEY,
                             "report is signed with a %s, certificate is a %s (%s)",
                             kind_name(want), kind_name(out->cert.kind), out->cert.subject_cn);
        snp__cert_vs_report(&out->report, &out->cert, &out->findings);
    }
    if (out->report_parsed && key != NULL) {
        sig = snp__report_verify_sig(&out->report, key, v->sha384, detail, sizeof detail);
        if (sig != 1)
            snp_findings_add(&out->findings, SNP_REASON_BAD_SIGNATURE, "%s", detail);
    } else if (out->report_parsed) {
        snp_findings_add(&out->findings, SNP_REASON_BAD_SIGNATURE,
                         "no usable certificate key to verify the signature with");
    }
    EVP_PKEY_free(key);

    if (out->findings.n > 0)
        return ep_err_set(err, SNP_EREJECTED, "snp evidence rejected: %s: %s",
                          snp_reason_name(out->findings.v[0].reason), out->findings.v[0].detail);
    return SNP_OK;
}
