/*
 * claim: validate and normalise one environment claim (the JSON object a
 * user or GitLab CI puts into the `environments` or `static-environments`
 * bucket), and classify service version constraints.
 *
 * The library is a pure parser: it is fed bytes and does no I/O.  It collects
 * every field error it finds (JSON path, code, message) rather than stopping
 * at the first, so a rejection event can tell the author everything that is
 * wrong at once.  The normalised claim maps 1:1 onto envplane.claim.v1.Claim
 * (proto/envplane/claim/v1/claim.proto); the rules and every decision behind
 * them are in docs/claims.md.
 *
 * Memory: every allocation this library makes goes through jansson's
 * allocator (json_set_alloc_funcs), so one hook covers the JSON parser and
 * us; install it before the first call and do not change it while claims
 * are alive.  Nothing here keeps global state; all functions are reentrant.
 */
#ifndef EP_CLAIM_H
#define EP_CLAIM_H

#include <stddef.h>
#include <stdint.h>

#include "err/err.h"

#define CLAIM_STATUS_MAP(X)                                                  \
    X(CLAIM_OK, "ok")                         /* success */                  \
    X(CLAIM_EINVALID, "claim is invalid")     /* field errors collected */   \
    X(CLAIM_ENOMEM, "out of memory")          /* an allocation failed */     \
    X(CLAIM_EARG, "invalid argument")         /* NULL where not allowed */   \
    X(CLAIM_EVERSION, "invalid version")      /* claim_version_parse */      \
    X(CLAIM_EKEY, "not a claim object key")   /* claim_name_from_key */      \
    X(CLAIM_ENOSPC, "output buffer too small") /* caller's buffer */         \
    X(CLAIM_EHASH, "digest failed")           /* OpenSSL EVP error */

typedef enum {
#define CLAIM_ENUM(name, str) name,
    CLAIM_STATUS_MAP(CLAIM_ENUM)
#undef CLAIM_ENUM
} claim_status;

/* Static string for a claim_status value ("unknown status" otherwise). */
const char *claim_strstatus(int status);

/* Limits.  They bound memory and time on hostile input; docs/claims.md
 * explains each. */
#define CLAIM_DEFAULT_MAX_SIZE (64 * 1024) /* bytes of claim JSON */
#define CLAIM_MAX_SERVICES     256         /* entries in "services" */
#define CLAIM_MAX_ERRORS       100         /* field errors reported */
#define CLAIM_MAX_WARNINGS     32          /* warnings reported */
#define CLAIM_MAX_VERSION      256         /* bytes of a version string */
#define CLAIM_MAX_COMPARATORS  8           /* comparators in a range */
#define CLAIM_FIELD_MAX        160         /* bytes of a field path, with NUL */
#define CLAIM_MSG_MAX          256         /* bytes of a message, with NUL */
#define CLAIM_HASH_LEN         72          /* "sha256:" + 64 hex + NUL */

/* Mirrors envplane.claim.v1.EnvironmentType (same numbers). */
typedef enum {
    CLAIM_ENV_UNSPECIFIED = 0,
    CLAIM_ENV_DEV = 1,
    CLAIM_ENV_STAGING = 2,
    CLAIM_ENV_PROD = 3,
    CLAIM_ENV_SUE = 4
} claim_env_type;

/* Mirrors envplane.claim.v1.ClaimSource (same numbers). */
typedef enum {
    CLAIM_SOURCE_UNSPECIFIED = 0, /* treated as DYNAMIC by claim_parse */
    CLAIM_SOURCE_DYNAMIC = 1,     /* bucket `environments` */
    CLAIM_SOURCE_STATIC = 2       /* bucket `static-environments` */
} claim_source;

/* Mirrors envplane.claim.v1.ConstraintKind (same numbers). */
typedef enum {
    CLAIM_KIND_UNSPECIFIED = 0,
    CLAIM_KIND_TAG = 1,     /* v1.2.3, 1.2.3.4, dev-snapshot */
    CLAIM_KIND_CARET = 2,   /* ^1.0.0.0 */
    CLAIM_KIND_TILDE = 3,   /* ~1.2.3 */
    CLAIM_KIND_PATTERN = 4, /* 1.x.x.x, 1.2.* */
    CLAIM_KIND_RANGE = 5,   /* >=1.2.0, <2.0.0 */
    CLAIM_KIND_LATEST = 6   /* * or latest */
} claim_constraint_kind;

/* Field error codes; the strings are envplane.claim.v1.FieldError.code. */
#define CLAIM_FCODE_MAP(X)                                                   \
    X(CLAIM_FC_REQUIRED, "required")   /* absent, null or empty */           \
    X(CLAIM_FC_TYPE, "type")           /* wrong JSON type */                 \
    X(CLAIM_FC_FORMAT, "format")       /* right type, wrong syntax */        \
    X(CLAIM_FC_VALUE, "value")         /* well-formed but not allowed */     \
    X(CLAIM_FC_MISMATCH, "mismatch")   /* disagrees with another field/key */\
    X(CLAIM_FC_TOO_LARGE, "too_large") /* a size or count limit */           \
    X(CLAIM_FC_SYNTAX, "syntax")       /* not a JSON object */               \
    X(CLAIM_FC_UNKNOWN_FIELD, "unknown_field") /* reserved: we only warn */

typedef enum {
#define CLAIM_FC_ENUM(name, str) name,
    CLAIM_FCODE_MAP(CLAIM_FC_ENUM)
#undef CLAIM_FC_ENUM
} claim_fcode;

/* Static string for a claim_fcode ("required", "type", ...). */
const char *claim_fcode_str(claim_fcode code);
const char *claim_env_type_str(claim_env_type t);      /* "dev", ... or "" */
const char *claim_kind_str(claim_constraint_kind k);   /* "tag", ... or "" */
const char *claim_source_str(claim_source s);          /* "dynamic", ... */

/* ---- the normalised claim (envplane.claim.v1.Claim) ---------------------- */

/* All strings are owned by the claim, NUL-terminated and never NULL; ""
 * means absent. */
typedef struct claim_service {
    char *name;                  /* DNS-1123 label */
    char *version;               /* as written, trimmed */
    claim_constraint_kind kind;
    char *docker_image;          /* optional */
    char *ansible_artifact;      /* optional */
} claim_service;

typedef struct claim {
    char *user;                  /* e-mail, trimmed, domain lower-cased */
    char *environment_pool;
    char *environment_name;
    claim_env_type environment_type;
    char *creation_date;         /* RFC 3339 UTC "YYYY-MM-DDTHH:MM:SS[.f]Z" */
    char *expiration_date;       /* same form, "" = never expires */
    claim_service *services;     /* sorted by name */
    size_t n_services;
    char *deployment_method;     /* "platform" or "git" */
    char *git_repository;
    char *branch;
    claim_source source;         /* the bucket it was parsed for */
} claim;

/* Free a claim from claim_parse.  Accepts NULL. */
void claim_destroy(claim *c);

/* ---- errors and warnings --------------------------------------------------- */

/* One envplane.claim.v1.FieldError. field is a JSON path such as
 * "services.user-service.version"; "" is the whole document. */
typedef struct claim_field_error {
    char field[CLAIM_FIELD_MAX];
    claim_fcode code;
    char message[CLAIM_MSG_MAX];
} claim_field_error;

typedef struct claim_warning {
    char text[CLAIM_MSG_MAX];
} claim_warning;

/* Everything claim_parse found, in a fixed order (see docs/claims.md).
 * Embedded: claim_errors_init() before use, claim_errors_dispose() after;
 * claim_parse resets it on entry, so one value can be reused. */
typedef struct claim_errors {
    claim_field_error *errors;
    size_t n_errors;
    claim_warning *warnings;
    size_t n_warnings;
} claim_errors;

void claim_errors_init(claim_errors *e);
void claim_errors_dispose(claim_errors *e);   /* accepts NULL */

/* ---- parsing ------------------------------------------------------------------- */

typedef struct claim_options {
    const char *key;       /* decoded object key to check against
                              environment_name; NULL: no check */
    claim_source source;   /* bucket kind; UNSPECIFIED means DYNAMIC */
    size_t max_size;       /* 0: CLAIM_DEFAULT_MAX_SIZE */
} claim_options;

/* Validate and normalise the claim in bytes[0..len) (need not be
 * NUL-terminated).  opt may be NULL (all defaults).
 *
 * Returns CLAIM_OK and sets *out to a new claim (free with claim_destroy)
 * when the claim is valid; errs then holds only warnings.  Returns
 * CLAIM_EINVALID with *out = NULL when it is not; errs holds every field
 * error (and warnings).  errs may be NULL if the caller only wants a verdict.
 * CLAIM_ENOMEM / CLAIM_EARG are failures of the call itself; err says which. */
int claim_parse(const char *bytes, size_t len, const claim_options *opt,
                claim **out, claim_errors *errs, ep_err *err);

/* Derive the environment name from an object key: "<name>.json" or
 * "<name>-claim.json" at the bucket root (the "-claim" suffix is removed;
 * environment names may not end in "-claim", so this is unambiguous).
 * Writes the name into name[0..n).  Returns CLAIM_OK, CLAIM_EKEY (name = "")
 * when the key is not of that form or the name is not a DNS-1123 label, or
 * CLAIM_ENOSPC when n is too small. */
int claim_name_from_key(const char *key, char *name, size_t n);

/* ---- canonical form and hashes ------------------------------------------------ */

/* The canonical JSON of a claim: compact, keys sorted, normalised values,
 * services always in object form.  Parsing it again yields an equal claim.
 * Returns a new string (free with claim_free), NULL when out of memory. */
char *claim_canonical_json(const claim *c);
void claim_free(void *p);   /* frees strings returned by this library */

/* "sha256:<64 hex>" of claim_canonical_json(c) into out.
 * Returns CLAIM_OK, CLAIM_ENOMEM or CLAIM_EHASH. */
int claim_content_hash(const claim *c, char out[CLAIM_HASH_LEN]);

/* "sha256:<64 hex>" of the raw bytes (for rejected objects). */
int claim_raw_hash(const void *bytes, size_t len, char out[CLAIM_HASH_LEN]);

/* ---- version constraints ------------------------------------------------------- */

/* A version as written in a constraint: optional "v", 1..4 numeric parts,
 * optional "-prerelease" and "+build". */
typedef struct claim_semver {
    int has_v;                         /* written with a leading v/V */
    int nparts;                        /* 1..4 */
    uint64_t part[4];                  /* missing parts are 0 */
    char pre[CLAIM_MAX_VERSION];       /* "" when none, without the '-' */
    char build[CLAIM_MAX_VERSION];     /* "" when none, without the '+' */
} claim_semver;

typedef enum {
    CLAIM_OP_EQ,  /* = */
    CLAIM_OP_NE,  /* != */
    CLAIM_OP_GT,  /* > */
    CLAIM_OP_GE,  /* >= */
    CLAIM_OP_LT,  /* < */
    CLAIM_OP_LE   /* <= */
} claim_op;

typedef struct claim_comparator {
    claim_op op;
    claim_semver v;
} claim_comparator;

/* A classified constraint.  Which members mean something depends on kind:
 *   TAG      tag (the trimmed string); semver too when is_semver
 *   CARET    base (after '^');  TILDE  base (after '~')
 *   PATTERN  base.part[0..fixed) are the fixed leading parts, nparts the
 *            total number of positions (e.g. 1.x.x.x: fixed 1, nparts 4)
 *   RANGE    cmp[0..n_cmp)
 *   LATEST   nothing */
typedef struct claim_version_constraint {
    claim_constraint_kind kind;
    char tag[CLAIM_MAX_VERSION];
    int is_semver;
    claim_semver base;
    int fixed;
    claim_comparator cmp[CLAIM_MAX_COMPARATORS];
    size_t n_cmp;
} claim_version_constraint;

/* Classify the version string s (leading/trailing blanks ignored).  Returns
 * CLAIM_OK and fills *out, or CLAIM_EVERSION with err saying what is wrong
 * ("empty range: >=2.0.0 excludes <1.0.0"). */
int claim_version_parse(const char *s, claim_version_constraint *out, ep_err *err);

/* Order two versions the semver way (numeric parts, missing = 0; a
 * prerelease sorts before its release; build metadata ignored).
 * Returns <0, 0 or >0. */
int claim_semver_compare(const claim_semver *a, const claim_semver *b);

#endif
