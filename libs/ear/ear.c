/*
 * ear.c: EAR attestation-result tokens (ES256 JWT) from libs/snp results,
 * and JWE secret wrapping to a TEE key, on top of libcjose.
 *
 * Strings cjose returns were allocated with cjose's allocator; we copy them
 * into malloc'd strings before returning, so callers always use free().
 */
#include "ear/ear.h"

#include <stdlib.h>
#include <string.h>

#include <cjose/cjose.h>

const char *ear_strstatus(int status)
{
    switch (status) {
#define EAR__STATUS_STR(name, text) case EAR_##name: return text;
        EAR_STATUS_MAP(EAR__STATUS_STR)
#undef EAR__STATUS_STR
    }
    return "unknown status";
}

const char *ear_tier_name(ear_tier t)
{
    if (t >= EAR_TIER_CONTRAINDICATED)
        return "contraindicated";
    if (t >= EAR_TIER_WARNING)
        return "warning";
    if (t >= EAR_TIER_AFFIRMING)
        return "affirming";
    return "none";
}

static char *dup_cjose(char *s)
{
    char *out = s ? strdup(s) : NULL;

    if (s != NULL)
        cjose_get_dealloc()(s);
    return out;
}

/* ---- submodule --------------------------------------------------------------------------- */

static void worsen(int *v, int to)
{
    if (to > *v)
        *v = to;
}

json_t *ear_snp_submod(const snp_result *r, ear_tier *tier)
{
    int     ident = 2, hw = 2, conf = 2, exe = 2, worst;
    json_t *sub = json_object(), *tv = json_object(), *ann = json_object(), *reasons = json_array();
    json_t *claims = NULL;

    if (sub == NULL || tv == NULL || ann == NULL || reasons == NULL)
        goto fail;
    for (size_t i = 0; i < r->findings.n; i++) {
        snp_reason why = r->findings.v[i].reason;
        json_t    *f = json_object();

        if (f == NULL)
            goto fail;
        json_object_set_new(f, "reason", json_string(snp_reason_name(why)));
        json_object_set_new(f, "detail", json_string(r->findings.v[i].detail));
        json_array_append_new(reasons, f);

        if (snp_reason_is_evidence(why)) {
            worsen(&hw, 96);
            worsen(&ident, 96);
            continue;
        }
        switch (why) {
        case SNP_REASON_REPORT_DATA:
        case SNP_REASON_NONCE_UNKNOWN:
        case SNP_REASON_NONCE_REPLAYED:
        case SNP_REASON_NONCE_EXPIRED:
            worsen(&ident, 96);
            break;
        case SNP_REASON_MIN_TCB:
            worsen(&hw, 32);   /* genuine, but with known-vulnerable firmware */
            break;
        case SNP_REASON_SMT:
            worsen(&conf, 32);
            break;
        case SNP_REASON_MEASUREMENT:
        case SNP_REASON_IMAGE_DIGEST:
            worsen(&exe, 96);
            break;
        case SNP_REASON_ID_KEY:
        case SNP_REASON_GUEST_SVN:
            worsen(&exe, 96);   /* the guest owner's signed launch identity */
            break;
        default:   /* vmpl, debug, migrate_ma, policy, host_data */
            worsen(&conf, 96);
            break;
        }
    }
    if (r->findings.truncated)
        worsen(&conf, 96);
    worst = ident;
    worsen(&worst, hw);
    worsen(&worst, conf);
    worsen(&worst, exe);

    json_object_set_new(tv, "instance-identity", json_integer(ident));
    json_object_set_new(tv, "configuration", json_integer(conf));
    json_object_set_new(tv, "executables", json_integer(exe));
    json_object_set_new(tv, "hardware", json_integer(hw));
    if (r->report_parsed && (claims = snp_report_claims(&r->report)) == NULL)
        goto fail;
    json_object_set_new(ann, "snp", claims ? claims : json_null());
    json_object_set_new(ann, "reasons", reasons);
    reasons = NULL;
    json_object_set_new(sub, "ear.status", json_string(ear_tier_name((ear_tier)worst)));
    json_object_set_new(sub, "ear.trustworthiness-vector", tv);
    json_object_set_new(sub, "ear.veraison.annotated-evidence", ann);
    if (tier != NULL)
        *tier = worst >= 96 ? EAR_TIER_CONTRAINDICATED : worst >= 32 ? EAR_TIER_WARNING
                                                                     : EAR_TIER_AFFIRMING;
    return sub;
fail:
    json_decref(sub);
    json_decref(tv);
    json_decref(ann);
    json_decref(reasons);
    return NULL;
}

/* ---- signer ------------------------------------------------------------------------------- */

struct ear_signer {
    cjose_jwk_t *jwk;
    char        *public_json;   /* cached, malloc'd */
};

static bool is_p256(const cjose_jwk_t *k)
{
    cjose_err e;

    return cjose_jwk_get_kty(k, &e) == CJOSE_JWK_KTY_EC &&
           cjose_jwk_EC_get_curve(k, &e) == CJOSE_JWK_EC_P_256;
}

/* cjose has no "is private" query; the private export has a "d" member. */
static bool has_private(const cjose_jwk_t *k)
{
    cjose_err e;
    char     *json = cjose_jwk_to_json(k, true, &e);
    json_t   *o = json ? json_loads(json, 0, NULL) : NULL;
    bool      priv = o != NULL && json_is_string(json_object_get(o, "d"));

    json_decref(o);
    if (json != NULL) {
        memset(json, 0, strlen(json));
        cjose_get_dealloc()(json);
    }
    return priv;
}

ear_signer *ear_signer_create(const char *jwk, ep_err *err)
{
    ear_signer *s = calloc(1, sizeof *s);
    cjose_err   e;

    if (s == NULL) {
        ep_err_set(err, EAR_ENOMEM, "ear signer: out of memory");
        return NULL;
    }
    s->jwk = jwk ? cjose_jwk_import(jwk, strlen(jwk), &e) : cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &e);
    if (s->jwk == NULL) {
        ep_err_set(err, EAR_EKEY, "ear signer: %s", e.message);
        goto fail;
    }
    if (!is_p256(s->jwk) || !has_private(s->jwk)) {
        ep_err_set(err, EAR_EKEY, "ear signer: ES256 needs an EC P-256 private key");
        goto fail;
    }
    s->public_json = dup_cjose(cjose_jwk_to_json(s->jwk, false, &e));
    if (s->public_json == NULL) {
        ep_err_set(err, EAR_ENOMEM, "ear signer: exporting the public key failed");
        goto fail;
    }
    return s;
fail:
    ear_signer_destroy(s);
    return NULL;
}

void ear_signer_destroy(ear_signer *s)
{
    if (s == NULL)
        return;
    cjose_jwk_release(s->jwk);
    free(s->public_json);
    free(s);
}

char *ear_signer_public_jwk(const ear_signer *s, ep_err *err)
{
    char *out = s ? strdup(s->public_json) : NULL;

    if (out == NULL)
        ep_err_set(err, s ? EAR_ENOMEM : EAR_EINVAL, "ear signer: cannot copy the public key");
    return out;
}

/* ---- tokens ----------------------------------------------------------------------------------- */

char *ear_token_sign(ear_signer *s, const ear_claims *c, ep_err *err)
{
    json_t         *claims = NULL, *vid;
    char           *payload = NULL, *b64 = NULL, *out = NULL;
    size_t          b64len;
    cjose_header_t *hdr = NULL;
    cjose_jws_t    *jws = NULL;
    const char     *ser;
    cjose_err       e;

    if (s == NULL || c == NULL || c->ttl <= 0 || c->submods == NULL || !json_is_object(c->submods)) {
        ep_err_set(err, EAR_EINVAL, "ear token: missing signer, ttl or submods");
        return NULL;
    }
    claims = json_object();
    vid = json_object();
    if (claims == NULL || vid == NULL) {
        json_decref(vid);
        goto oom;
    }
    json_object_set_new(claims, "eat_profile", json_string(c->profile ? c->profile : EAR_PROFILE));
    json_object_set_new(claims, "iat", json_integer(c->iat));
    json_object_set_new(claims, "exp", json_integer(c->iat + c->ttl));
    json_object_set_new(vid, "developer", json_string(c->verifier_developer ? c->verifier_developer
                                                                             : "envplane"));
    json_object_set_new(vid, "build", json_string(c->verifier_build ? c->verifier_build : "dev"));
    json_object_set_new(claims, "ear.verifier-id", vid);
    if (c->nonce != NULL && c->nonce_len > 0) {
        if (!cjose_base64url_encode(c->nonce, c->nonce_len, &b64, &b64len, &e))
            goto oom;
        json_object_set_new(claims, "eat_nonce", json_stringn(b64, b64len));
    }
    json_object_set(claims, "submods", c->submods);
    if ((payload = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
        goto oom;

    if ((hdr = cjose_header_new(&e)) == NULL ||
        !cjose_header_set(hdr, CJOSE_HDR_ALG, CJOSE_HDR_ALG_ES256, &e) ||
        !cjose_header_set(hdr, "typ", "JWT", &e) ||
        !cjose_header_set_raw(hdr, "jwk", s->public_json, &e)) {
        ep_err_set(err, EAR_ECRYPTO, "ear token: header: %s", e.message);
        goto out;
    }
    jws = cjose_jws_sign(s->jwk, hdr, (const uint8_t *)payload, strlen(payload), &e);
    if (jws == NULL || !cjose_jws_export(jws, &ser, &e)) {
        ep_err_set(err, EAR_ECRYPTO, "ear token: signing: %s", e.message);
        goto out;
    }
    if ((out = strdup(ser)) == NULL)
        goto oom;
    goto out;
oom:
    ep_err_set(err, EAR_ENOMEM, "ear token: out of memory");
out:
    if (b64 != NULL)
        cjose_get_dealloc()(b64);
    cjose_jws_release(jws);
    cjose_header_release(hdr);
    free(payload);
    json_decref(claims);
    return out;
}

/* Public JSON of a JWK in cjose's canonical form, for comparing keys. */
static char *public_json(const char *jwk_json, cjose_jwk_t **keep, cjose_err *e)
{
    cjose_jwk_t *k = cjose_jwk_import(jwk_json, strlen(jwk_json), e);
    char        *out;

    if (k == NULL)
        return NULL;
    out = dup_cjose(cjose_jwk_to_json(k, false, e));
    if (keep != NULL)
        *keep = k;
    else
        cjose_jwk_release(k);
    return out;
}

int ear_token_verify(const char *token, const char *pinned_jwk, int64_t now, json_t **claims,
                     ep_err *err)
{
    cjose_jws_t    *jws = NULL;
    cjose_jwk_t    *pinned = NULL;
    cjose_header_t *hdr;
    const char     *alg;
    char           *hdr_jwk = NULL, *hdr_pub = NULL, *pin_pub = NULL;
    uint8_t        *pt;
    size_t          ptlen;
    json_t         *c = NULL, *v;
    json_error_t    je;
    cjose_err       e;
    int             rc;

    if (claims != NULL)
        *claims = NULL;
    if (token == NULL || pinned_jwk == NULL)
        return ep_err_set(err, EAR_EINVAL, "ear verify: NULL argument");
    if ((pin_pub = public_json(pinned_jwk, &pinned, &e)) == NULL) {
        rc = ep_err_set(err, EAR_EKEY, "ear verify: pinned key: %s", e.message);
        goto out;
    }
    if ((jws = cjose_jws_import(token, strlen(token), &e)) == NULL) {
        rc = ep_err_set(err, EAR_EVERIFY, "ear verify: not a compact JWS: %s", e.message);
        goto out;
    }
    hdr = cjose_jws_get_protected(jws);
    alg = hdr ? cjose_header_get(hdr, CJOSE_HDR_ALG, &e) : NULL;
    if (alg == NULL || strcmp(alg, CJOSE_HDR_ALG_ES256) != 0) {
        rc = ep_err_set(err, EAR_EVERIFY, "ear verify: alg %s, expected ES256", alg ? alg : "(none)");
        goto out;
    }
    hdr_jwk = cjose_header_get_raw(hdr, "jwk", &e);
    if (hdr_jwk == NULL || (hdr_pub = public_json(hdr_jwk, NULL, &e)) == NULL ||
        strcmp(hdr_pub, pin_pub) != 0) {
        rc = ep_err_set(err, EAR_EVERIFY, "ear verify: header jwk is not the pinned verifier key");
        goto out;
    }
    if (!cjose_jws_verify(jws, pinned, &e)) {
        rc = ep_err_set(err, EAR_EVERIFY, "ear verify: signature: %s", e.message);
        goto out;
    }
    if (!cjose_jws_get_plaintext(jws, &pt, &ptlen, &e) ||
        (c = json_loadb((const char *)pt, ptlen, 0, &je)) == NULL || !json_is_object(c)) {
        rc = ep_err_set(err, EAR_ECLAIMS, "ear verify: payload is not a JSON object");
        goto out;
    }
    v = json_object_get(c, "eat_profile");
    if (!json_is_string(v) || strcmp(json_string_value(v), EAR_PROFILE) != 0) {
        rc = ep_err_set(err, EAR_ECLAIMS, "ear verify: eat_profile is not %s", EAR_PROFILE);
        goto out;
    }
    if (!json_is_integer(json_object_get(c, "iat")) || !json_is_integer(json_object_get(c, "exp")) ||
        json_integer_value(json_object_get(c, "iat")) > now + 60 ||
        json_integer_value(json_object_get(c, "exp")) <= now) {
        rc = ep_err_set(err, EAR_ECLAIMS, "ear verify: token not valid at %lld (iat/exp)",
                        (long long)now);
        goto out;
    }
    if (!json_is_object(json_object_get(c, "submods"))) {
        rc = ep_err_set(err, EAR_ECLAIMS, "ear verify: no submods");
        goto out;
    }
    if (claims != NULL) {
        *claims = c;
        c = NULL;
    }
    rc = EAR_OK;
out:
    json_decref(c);
    if (hdr_jwk != NULL)
        cjose_get_dealloc()(hdr_jwk);
    free(hdr_pub);
    free(pin_pub);
    cjose_jwk_release(pinned);
    cjose_jws_release(jws);
    return rc;
}

/* ---- JWE ------------------------------------------------------------------------------------------ */

char *ear_jwe_wrap(const char *tee_jwk, const uint8_t *secret, size_t len, ep_err *err)
{
    cjose_jwk_t    *k = NULL;
    cjose_header_t *hdr = NULL;
    cjose_jwe_t    *jwe = NULL;
    const char     *alg;
    char           *out = NULL;
    cjose_err       e;

    if (tee_jwk == NULL || (secret == NULL && len > 0)) {
        ep_err_set(err, EAR_EINVAL, "jwe wrap: NULL argument");
        return NULL;
    }
    if ((k = cjose_jwk_import(tee_jwk, strlen(tee_jwk), &e)) == NULL) {
        ep_err_set(err, EAR_EKEY, "jwe wrap: TEE key: %s", e.message);
        goto out;
    }
    switch (cjose_jwk_get_kty(k, &e)) {
    case CJOSE_JWK_KTY_EC: alg = CJOSE_HDR_ALG_ECDH_ES; break;
    case CJOSE_JWK_KTY_RSA: alg = CJOSE_HDR_ALG_RSA_OAEP; break;
    default:
        ep_err_set(err, EAR_EKEY, "jwe wrap: TEE key must be EC or RSA");
        goto out;
    }
    if ((hdr = cjose_header_new(&e)) == NULL || !cjose_header_set(hdr, CJOSE_HDR_ALG, alg, &e) ||
        !cjose_header_set(hdr, CJOSE_HDR_ENC, CJOSE_HDR_ENC_A256GCM, &e)) {
        ep_err_set(err, EAR_ECRYPTO, "jwe wrap: header: %s", e.message);
        goto out;
    }
    if ((jwe = cjose_jwe_encrypt(k, hdr, secret, len, &e)) == NULL) {
        ep_err_set(err, EAR_ECRYPTO, "jwe wrap: %s: %s", alg, e.message);
        goto out;
    }
    if ((out = dup_cjose(cjose_jwe_export_json(jwe, &e))) == NULL)
        ep_err_set(err, EAR_ECRYPTO, "jwe wrap: export failed");
out:
    cjose_jwe_release(jwe);
    cjose_header_release(hdr);
    cjose_jwk_release(k);
    return out;
}

uint8_t *ear_jwe_unwrap(const char *jwe_json, const char *private_jwk, size_t *len, ep_err *err)
{
    cjose_jwk_t *k = NULL;
    cjose_jwe_t *jwe = NULL;
    cjose_header_t *hdr;
    cjose_jwk_kty_t kty;
    const char  *alg;
    uint8_t     *pt = NULL, *out = NULL;
    size_t       n = 0;
    cjose_err    e;

    if (jwe_json == NULL || private_jwk == NULL || len == NULL) {
        ep_err_set(err, EAR_EINVAL, "jwe unwrap: NULL argument");
        return NULL;
    }
    if ((k = cjose_jwk_import(private_jwk, strlen(private_jwk), &e)) == NULL) {
        ep_err_set(err, EAR_EKEY, "jwe unwrap: key: %s", e.message);
        goto out;
    }
    if ((jwe = cjose_jwe_import_json(jwe_json, strlen(jwe_json), &e)) == NULL) {
        ep_err_set(err, EAR_ECRYPTO, "jwe unwrap: %s", e.message);
        goto out;
    }
    /* Refuse a key of the wrong type before cjose tries it: its failure
     * path for that case leaks, and the answer is known anyway. */
    hdr = cjose_jwe_get_protected(jwe);
    alg = hdr ? cjose_header_get(hdr, CJOSE_HDR_ALG, &e) : NULL;
    kty = cjose_jwk_get_kty(k, &e);
    if (alg == NULL || !((strcmp(alg, CJOSE_HDR_ALG_ECDH_ES) == 0 && kty == CJOSE_JWK_KTY_EC) ||
                         (strcmp(alg, CJOSE_HDR_ALG_RSA_OAEP) == 0 && kty == CJOSE_JWK_KTY_RSA))) {
        ep_err_set(err, EAR_EKEY, "jwe unwrap: key type does not fit alg %s", alg ? alg : "(none)");
        goto out;
    }
    if ((pt = cjose_jwe_decrypt(jwe, k, &n, &e)) == NULL) {
        ep_err_set(err, EAR_ECRYPTO, "jwe unwrap: %s", e.message);
        goto out;
    }
    if ((out = malloc(n ? n : 1)) == NULL) {
        ep_err_set(err, EAR_ENOMEM, "jwe unwrap: out of memory");
        goto out;
    }
    memcpy(out, pt, n);
    *len = n;
out:
    if (pt != NULL) {
        memset(pt, 0, n);
        cjose_get_dealloc()(pt);
    }
    cjose_jwe_release(jwe);
    cjose_jwk_release(k);
    return out;
}
