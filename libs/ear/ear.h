/*
 * ear: attestation results as EAR tokens, and secrets wrapped for a TEE.
 *
 * After libs/snp has appraised evidence, the attester service tells relying
 * parties the outcome as an EAT Attestation Result (EAR, the IETF RATS
 * draft also used by Veraison and the confidential-containers KBS): a JWT
 * signed with ES256 whose protected header carries the verifier's public key
 * as a JWK, with the claims eat_profile, iat, exp, ear.verifier-id and
 * submods.<name> = {ear.status, ear.trustworthiness-vector,
 * ear.veraison.annotated-evidence}.  ear.status is "affirming", "warning" or
 * "contraindicated", derived from the snp findings through the AR4SI
 * trustworthiness vector (see ear_snp_submod).
 *
 * A secret released to an attested workload is encrypted to the TEE's
 * public key (a JWK the workload put into its evidence): JWE with ECDH-ES
 * (EC keys) or RSA-OAEP (RSA keys) and A256GCM, in the flattened JSON
 * serialization that the KBS protocol's response uses.
 *
 * All JOSE work goes through libcjose (OpenSSL underneath).  Keys are JWK
 * JSON strings.  No I/O.
 */
#ifndef EP_EAR_H
#define EP_EAR_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err/err.h"
#include "snp/snp.h"

#define EAR_STATUS_MAP(X)                                                    \
    X(OK,       "ok")                       /* success */                      \
    X(EINVAL,   "invalid argument")         /* NULL or unusable input */       \
    X(ENOMEM,   "out of memory")            /* an allocation failed */         \
    X(EKEY,     "unusable key")             /* JWK malformed or wrong type */  \
    X(ECRYPTO,  "JOSE operation failed")    /* cjose/OpenSSL error */          \
    X(EVERIFY,  "token does not verify")    /* bad signature, alg or key */    \
    X(ECLAIMS,  "token claims invalid")     /* profile, iat or exp wrong */

typedef enum ear_status {
#define EAR__STATUS_ENUM(name, text) EAR_##name,
    EAR_STATUS_MAP(EAR__STATUS_ENUM)
#undef EAR__STATUS_ENUM
} ear_status;

const char *ear_strstatus(int status);

#define EAR_PROFILE "tag:github.com,2023:veraison/ear"

/* AR4SI tiers: a trustworthiness value in 2..31 affirms, 32..95 warns,
 * 96..127 contraindicates. */
typedef enum ear_tier {
    EAR_TIER_NONE            = 0,
    EAR_TIER_AFFIRMING       = 2,
    EAR_TIER_WARNING         = 32,
    EAR_TIER_CONTRAINDICATED = 96,
} ear_tier;

/* "affirming", "warning", "contraindicated" or "none". */
const char *ear_tier_name(ear_tier t);

/* The EAR submodule for one libs/snp result (new JSON object, NULL on
 * ENOMEM), and its tier in *tier (may be NULL).  Trustworthiness vector:
 *   instance-identity  96 on report_data/nonce failures or any evidence
 *                      failure, else 2
 *   hardware           96 on evidence failures (signature, chain, TCB/chip),
 *                      32 when only below min_tcb, else 2
 *   configuration      96 on vmpl/debug/migrate_ma/policy/host_data,
 *                      32 on smt, else 2
 *   executables        96 on measurement or image digest, else 2
 * ear.status is the worst tier of the vector.  The annotated evidence holds
 * the report's claims ("snp", as snp_report_claims) and the findings. */
json_t *ear_snp_submod(const snp_result *r, ear_tier *tier);

/* ---- signing --------------------------------------------------------------------- */

typedef struct ear_signer ear_signer;

/* A signer from a private EC P-256 JWK (JSON), or a freshly generated key
 * when jwk is NULL.  Destroy with ear_signer_destroy. */
ear_signer *ear_signer_create(const char *jwk, ep_err *err);
void ear_signer_destroy(ear_signer *s);   /* accepts NULL */

/* The public JWK as JSON (new string, free()). */
char *ear_signer_public_jwk(const ear_signer *s, ep_err *err);

typedef struct ear_claims {
    const char    *profile;              /* NULL = EAR_PROFILE */
    int64_t        iat;                  /* Unix seconds */
    int64_t        ttl;                  /* exp = iat + ttl, > 0 */
    const char    *verifier_developer;   /* ear.verifier-id.developer */
    const char    *verifier_build;       /* ear.verifier-id.build */
    const uint8_t *nonce;                /* eat_nonce (base64url), optional */
    size_t         nonce_len;
    json_t        *submods;              /* borrowed object: name -> submodule */
} ear_claims;

/* Sign the claims as a compact JWS (JWT), header {"alg":"ES256","typ":"JWT",
 * "jwk":<public key>}.  New string (free()), NULL on error. */
char *ear_token_sign(ear_signer *s, const ear_claims *c, ep_err *err);

/* Verify a token against the pinned public JWK of the verifier (the jwk in
 * the header must be that key: a token cannot vouch for itself), require
 * alg ES256, eat_profile EAR_PROFILE, iat <= now + 60 and now < exp.  On
 * success *claims (may be NULL) is a new reference to the claims object. */
int ear_token_verify(const char *token, const char *pinned_jwk, int64_t now, json_t **claims,
                     ep_err *err);

/* ---- secret wrapping ------------------------------------------------------------------ */

/* Encrypt `secret` to the TEE public key `tee_jwk` (JSON JWK): ECDH-ES for
 * kty EC, RSA-OAEP for kty RSA, content encryption A256GCM.  Returns the
 * flattened JSON serialization {"protected","encrypted_key","iv",
 * "ciphertext","tag"} as a new string (free()), NULL on error. */
char *ear_jwe_wrap(const char *tee_jwk, const uint8_t *secret, size_t len, ep_err *err);

/* The TEE side (and the tests): decrypt a flattened JSON JWE with a private
 * JWK.  New buffer (free()) and its length in *len. */
uint8_t *ear_jwe_unwrap(const char *jwe_json, const char *private_jwk, size_t *len, ep_err *err);

#endif
