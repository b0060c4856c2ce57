/*
 * snp: verification of AMD SEV-SNP attestation evidence.
 *
 * A confidential VM proves what it runs with a 1184-byte attestation report
 * that the AMD Secure Processor signs with a key bound to the chip and its
 * firmware versions: the VCEK (per chip and TCB) or the VLEK (per cloud
 * provider).  AMD certifies that key with a chain VCEK -> ASK (or VLEK ->
 * ASVK) -> ARK, all RSA-PSS signatures except the leaf's ECDSA P-384 key.
 *
 * This library is fed bytes and does no I/O, so a service and the
 * snp-verify CLI share it:
 *
 *   snp_report_parse()       every field of the report layouts v2..v5
 *   snp_cert_parse()         a VCEK/VLEK (DER or PEM) and AMD's extensions
 *   snp_verifier_*           trust anchors (ARK), intermediates (ASK/ASVK),
 *                            optional CRLs, and a thread-safe cache of
 *                            verified chains keyed by the leaf's SHA-256
 *                            fingerprint; snp_verifier_verify() checks the
 *                            evidence: report format, signature, chain,
 *                            validity, revocation, certificate vs report
 *   snp_reference_check()    the appraisal against reference values:
 *                            VMPL, guest policy, measurement, host data,
 *                            minimum TCB, report_data, image allow-list
 *   snp_nonce_store_*        single-use, expiring nonces in memory
 *   snp_appraise()           all of the above for one piece of evidence
 *
 * Every check that fails adds a named reason (SNP_REASON_MAP) with a detail
 * string to an snp_findings list; verification never stops at the first
 * failure, so a caller sees every reason at once.  Operational errors (out
 * of memory, bad arguments) are reported separately through the return
 * status and ep_err.
 */
#ifndef EP_SNP_H
#define EP_SNP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err/err.h"

/* ---- status ---------------------------------------------------------------- */

#define SNP_STATUS_MAP(X)                                                      \
    X(OK,        "ok")                        /* success */                     \
    X(EINVAL,    "invalid argument")          /* NULL or out-of-range input */  \
    X(ENOMEM,    "out of memory")             /* an allocation failed */        \
    X(EPARSE,    "malformed input")           /* bytes are not a report/cert */ \
    X(ECRYPTO,   "crypto library error")      /* OpenSSL failed internally */   \
    X(EREJECTED, "evidence rejected")         /* findings list is not empty */  \
    X(EFULL,     "nonce store full")          /* too many outstanding nonces */

typedef enum snp_status {
#define SNP__STATUS_ENUM(name, text) SNP_##name,
    SNP_STATUS_MAP(SNP__STATUS_ENUM)
#undef SNP__STATUS_ENUM
} snp_status;

/* Static text for a status value; never NULL. */
const char *snp_strstatus(int status);

/* ---- reasons ------------------------------------------------------------------
 * Each row: enum suffix, stable name (used in JSON and logs), class, text.
 * Class E = a check of the evidence itself (format, signature, chain, the
 * certificate against the report); class A = appraisal against reference
 * values or freshness, which depends on the environment/workload. */
#define SNP_REASON_MAP(X)                                                          \
    X(REPORT_SIZE,        "report_size",        E, "report is not 1184 bytes")        \
    X(REPORT_VERSION,     "report_version",     E, "report version is not 2..5")      \
    X(SIG_ALGO,           "signature_algorithm", E, "signature algorithm is not ECDSA P-384/SHA-384") \
    X(SIGNING_KEY,        "signing_key",        E, "signing key selector invalid or not the certificate's kind") \
    X(CERT_PARSE,         "cert_parse",         E, "certificate is not a parsable X.509 certificate") \
    X(CERT_KEY,           "cert_key",           E, "certificate key is not ECDSA P-384") \
    X(CHAIN,              "chain",              E, "certificate does not chain to a trusted ARK") \
    X(CERT_EXPIRED,       "cert_expired",       E, "a certificate of the chain has expired") \
    X(CERT_NOT_YET_VALID, "cert_not_yet_valid", E, "a certificate of the chain is not yet valid") \
    X(CERT_REVOKED,       "cert_revoked",       E, "a certificate of the chain is revoked") \
    X(CRL,                "crl",                E, "a configured revocation list is missing, expired or invalid") \
    X(BAD_SIGNATURE,      "bad_signature",      E, "report signature does not verify with the certificate key") \
    X(TCB_MISMATCH,       "tcb_mismatch",       E, "certificate TCB extensions differ from the report's reported_tcb") \
    X(CHIP_ID_MISMATCH,   "chip_id_mismatch",   E, "certificate hwID differs from the report's chip_id") \
    X(VMPL,               "vmpl",               A, "report VMPL above the allowed maximum") \
    X(DEBUG,              "debug",              A, "guest policy allows debugging") \
    X(MIGRATE_MA,         "migrate_ma",         A, "guest policy allows a migration agent") \
    X(SMT,                "smt",                A, "guest policy allows SMT") \
    X(POLICY,             "policy",             A, "guest policy has a forbidden bit or too old an ABI") \
    X(MEASUREMENT,        "measurement",        A, "measurement is not a reference value") \
    X(HOST_DATA,          "host_data",          A, "host_data differs from the reference") \
    X(MIN_TCB,            "min_tcb",            A, "reported TCB is below the reference minimum") \
    X(REPORT_DATA,        "report_data",        A, "report_data does not bind the nonce and workload key") \
    X(NONCE_UNKNOWN,      "nonce_unknown",      A, "nonce was never issued (or long forgotten)") \
    X(NONCE_REPLAYED,     "nonce_replayed",     A, "nonce was already used") \
    X(NONCE_EXPIRED,      "nonce_expired",      A, "nonce is older than its lifetime") \
    X(IMAGE_DIGEST,       "image_digest",       A, "an image digest is not on the allow-list") \
    X(ID_KEY,             "id_key_digest",      A, "the ID key that signed the ID block is not the reference one") \
    X(GUEST_SVN,          "guest_svn",          A, "guest SVN is below the reference minimum")

typedef enum snp_reason {
#define SNP__REASON_ENUM(name, str, cls, text) SNP_REASON_##name,
    SNP_REASON_MAP(SNP__REASON_ENUM)
#undef SNP__REASON_ENUM
    SNP_REASON__COUNT
} snp_reason;

/* Stable snake_case name ("bad_signature"), "unknown" if out of range. */
const char *snp_reason_name(snp_reason r);
/* One-line description, "unknown reason" if out of range. */
const char *snp_reason_text(snp_reason r);
/* True for class E reasons (evidence checks), false for appraisal ones. */
bool snp_reason_is_evidence(snp_reason r);

#define SNP_DETAIL_MAX   160
#define SNP_FINDINGS_MAX 48

typedef struct snp_finding {
    snp_reason reason;
    char       detail[SNP_DETAIL_MAX];  /* what exactly differed, NUL-terminated */
} snp_finding;

/* An embedded list of findings; zero-initialise (or snp_findings_clear). */
typedef struct snp_findings {
    size_t      n;
    bool        truncated;              /* more than SNP_FINDINGS_MAX were added */
    snp_finding v[SNP_FINDINGS_MAX];
} snp_findings;

void snp_findings_clear(snp_findings *f);
/* Append a finding (printf detail).  Never fails; sets truncated when full. */
void snp_findings_add(snp_findings *f, snp_reason r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool snp_findings_has(const snp_findings *f, snp_reason r);
/* Number of class E findings. */
size_t snp_findings_count_evidence(const snp_findings *f);

/* ---- report -------------------------------------------------------------------- */

#define SNP_REPORT_SIZE        1184    /* 0x4A0 */
#define SNP_REPORT_SIGNED_SIZE 0x2A0   /* bytes covered by the signature */
#define SNP_REPORT_MIN_VERSION 2
#define SNP_REPORT_MAX_VERSION 5
#define SNP_SIG_ALGO_ECDSA_P384_SHA384 1

/* Layout of a TCB_VERSION: Milan and Genoa put bootloader, TEE, SNP and
 * microcode SVNs in bytes 0, 1, 6, 7; Turin (CPUID family 0x1A) adds an FMC
 * SVN and uses bytes 0 FMC, 1 bootloader, 2 TEE, 3 SNP, 7 microcode. */
typedef enum snp_tcb_layout {
    SNP_TCB_LAYOUT_MILAN_GENOA = 0,
    SNP_TCB_LAYOUT_TURIN       = 1,
} snp_tcb_layout;

typedef struct snp_tcb {
    uint64_t raw;          /* the u64 as stored (little-endian decoded) */
    uint8_t  fmc;          /* Turin only, 0 otherwise */
    uint8_t  bootloader;
    uint8_t  tee;
    uint8_t  snp;
    uint8_t  microcode;
} snp_tcb;

/* Decode a raw TCB_VERSION value in the given layout. */
snp_tcb snp_tcb_decode(uint64_t raw, snp_tcb_layout layout);

/* Guest policy (report offset 0x08), bits the guest owner fixed at launch. */
typedef struct snp_policy {
    uint64_t raw;
    uint8_t  abi_minor;          /* bits 7:0 */
    uint8_t  abi_major;          /* bits 15:8 */
    bool     smt;                /* 16: SMT may be enabled on the host */
    bool     reserved_one;       /* 17: must be 1 */
    bool     migrate_ma;         /* 18: a migration agent may be associated */
    bool     debug;              /* 19: debugging (DBG_DECRYPT etc.) allowed */
    bool     single_socket;      /* 20 */
    bool     cxl_allow;          /* 21 */
    bool     mem_aes_256_xts;    /* 22 */
    bool     rapl_dis;           /* 23 */
    bool     ciphertext_hiding;  /* 24 */
    bool     page_swap_disable;  /* 25 */
} snp_policy;

/* Platform info (offset 0x40), bits describing the host's configuration. */
typedef struct snp_platform_info {
    uint64_t raw;
    bool     smt_en;                 /* 0 */
    bool     tsme_en;                /* 1 */
    bool     ecc_en;                 /* 2 */
    bool     rapl_dis;               /* 3 */
    bool     ciphertext_hiding_en;   /* 4 */
    bool     alias_check_complete;   /* 5 */
} snp_platform_info;

/* Signing key selector, bits 4:2 of the u32 at 0x48. */
typedef enum snp_signing_key {
    SNP_SIGNING_KEY_VCEK = 0,
    SNP_SIGNING_KEY_VLEK = 1,
    SNP_SIGNING_KEY_NONE = 7,
} snp_signing_key;

typedef struct snp_fw_version {
    uint8_t major, minor, build;
} snp_fw_version;

/* A parsed report.  Plain data: copy it freely.  Byte arrays are as in the
 * report; integers are host order. */
typedef struct snp_report {
    uint32_t          version;
    uint32_t          guest_svn;
    snp_policy        policy;
    uint8_t           family_id[16];
    uint8_t           image_id[16];
    uint32_t          vmpl;
    uint32_t          sig_algo;
    snp_tcb           current_tcb;
    snp_platform_info platform_info;
    uint32_t          key_info;         /* raw u32 at 0x48 */
    bool              author_key_en;    /* key_info bit 0 */
    bool              mask_chip_key;    /* key_info bit 1: chip_id is zeroed */
    uint32_t          signing_key;      /* key_info bits 4:2, snp_signing_key */
    uint8_t           report_data[64];
    uint8_t           measurement[48];
    uint8_t           host_data[32];
    uint8_t           id_key_digest[48];
    uint8_t           author_key_digest[48];
    uint8_t           report_id[32];
    uint8_t           report_id_ma[32];
    snp_tcb           reported_tcb;
    bool              has_cpuid;        /* version >= 3 */
    uint8_t           cpuid_fam, cpuid_mod, cpuid_step;
    uint8_t           chip_id[64];
    snp_tcb           committed_tcb;
    snp_fw_version    current_fw;
    snp_fw_version    committed_fw;
    snp_tcb           launch_tcb;
    bool              has_mit_vectors;  /* version >= 5 */
    uint64_t          launch_mit_vector, current_mit_vector;
    snp_tcb_layout    tcb_layout;       /* Turin when has_cpuid && fam 0x1A */
    uint8_t           sig_r[48];        /* big-endian, from the LE 72-byte field */
    uint8_t           sig_s[48];
    bool              sig_high_zero;    /* upper 24 bytes of r and s were zero */
    uint8_t           raw[SNP_REPORT_SIZE];
} snp_report;

/* Parse a report.  Structural problems (size, version) are added to
 * `findings` (may be NULL) and make the call return SNP_EPARSE; the fields
 * are filled whenever len == SNP_REPORT_SIZE, even for an unknown version,
 * so a caller can still show them.  Borrowed buf, nothing allocated. */
int snp_report_parse(const uint8_t *buf, size_t len, snp_report *out,
                     snp_findings *findings, ep_err *err);

/* Claims of a report as a new JSON object (caller owns the reference):
 * version, guest_svn, vmpl, signing_key, policy{...}, platform_info{...},
 * measurement, report_data, host_data, chip_id, id_key_digest,
 * author_key_digest, report_id, family_id, image_id, *_tcb{...},
 * firmware versions, cpuid (v3+), mit vectors (v5+).  NULL on ENOMEM. */
json_t *snp_report_claims(const snp_report *r);

/* Lower-case hex of `n` bytes into `out` (2n+1 bytes). */
void snp_hex(const uint8_t *b, size_t n, char *out);

/* The product line a report comes from, from its CPUID (version >= 3):
 * family 0x19 models 0x00-0x0F "Milan", 0x10-0x1F and 0xA0-0xAF "Genoa",
 * family 0x1A "Turin".  NULL when unknown (version 2 has no CPUID). */
const char *snp_report_product(const snp_report *r);

/* The path (and query) of this report's VCEK on AMD's Key Distribution
 * Service, for the TCB the VCEK must match, i.e. reported_tcb:
 *   /vcek/v1/<product>/<hwid hex>?blSPL=..&teeSPL=..&snpSPL=..&ucodeSPL=..
 * (Turin: the hwID is the first 8 bytes of chip_id and fmcSPL comes
 * first).  product NULL = snp_report_product(r).  The host is
 * configuration, not ours.  EINVAL when the product is unknown, the chip id
 * is masked (all zero) or `cap` is too small. */
int snp_kds_vcek_path(const snp_report *r, const char *product, char *out, size_t cap,
                      ep_err *err);

/* ---- certificates -------------------------------------------------------------- */

typedef enum snp_cert_kind {
    SNP_CERT_UNKNOWN = 0,
    SNP_CERT_VCEK,
    SNP_CERT_VLEK,
} snp_cert_kind;

/* What a VCEK/VLEK says about itself.  Plain data. */
typedef struct snp_cert_info {
    snp_cert_kind kind;              /* from the subject CN SEV-VCEK / SEV-VLEK */
    uint8_t  fingerprint[32];        /* SHA-256 of the DER */
    char     subject_cn[64];
    char     issuer_cn[64];
    char     product_name[32];       /* 1.3.6.1.4.1.3704.1.2, "" if absent */
    bool     has_bl, has_tee, has_snp, has_ucode, has_fmc;
    uint8_t  bl_spl, tee_spl, snp_spl, ucode_spl, fmc_spl;  /* 1.3.6.1.4.1.3704.1.3.{1,2,3,8,9} */
    bool     has_hwid;               /* 1.3.6.1.4.1.3704.1.4 */
    bool     hwid_wrapped;           /* hwID was a DER OCTET STRING, not raw bytes */
    uint8_t  hwid[64];
    char     csp_id[128];            /* 1.3.6.1.4.1.3704.1.5 (VLEK), "" if absent */
    int64_t  not_before, not_after;  /* Unix seconds */
} snp_cert_info;

/* Parse a certificate given as DER or PEM (first block) and read its AMD
 * extensions.  A malformed AMD extension is an EPARSE error: a fuzzer feeds
 * this.  Borrowed buf; `info` is filled on success. */
int snp_cert_parse(const uint8_t *buf, size_t len, snp_cert_info *info, ep_err *err);

/* ---- verifier (trust anchors, chain cache) -------------------------------------- */

typedef struct snp_verifier snp_verifier;

#define SNP_CACHE_DEFAULT 256

/* New verifier with no trust anchors and a chain cache of `cache_size`
 * entries (0 = SNP_CACHE_DEFAULT).  Destroy with snp_verifier_destroy. */
snp_verifier *snp_verifier_create(size_t cache_size, ep_err *err);
/* Accepts NULL. */
void snp_verifier_destroy(snp_verifier *v);

/* Add every certificate in `buf` (DER, or one or more PEM blocks) as a
 * trusted root (an ARK).  Only self-signed certificates are accepted as
 * roots.  Clears the cache.  Borrowed buf. */
int snp_verifier_add_ark(snp_verifier *v, const uint8_t *buf, size_t len, ep_err *err);
/* Add every certificate in `buf` as an untrusted intermediate (ASK, ASVK);
 * a file that also contains the ARK is fine, trust comes only from
 * snp_verifier_add_ark.  Clears the cache. */
int snp_verifier_add_intermediate(snp_verifier *v, const uint8_t *buf, size_t len, ep_err *err);
/* Add a CRL (DER or PEM), e.g. AMD's per-product CRL signed by the ARK.
 * Once any CRL is added, revocation is checked for every chain, and every
 * certificate above the leaf (ASK/ASVK and the ARK) must be covered by a
 * current CRL of its issuer: add one CRL per configured ARK/product, or
 * evidence of a product without one fails with SNP_REASON_CRL.  The leaf
 * needs none (the ASK issues no CRL).  Clears the cache. */
int snp_verifier_add_crl(snp_verifier *v, const uint8_t *buf, size_t len, ep_err *err);

typedef struct snp_cache_stats {
    uint64_t hits, misses;
    size_t   entries;
} snp_cache_stats;
void snp_verifier_cache_stats(snp_verifier *v, snp_cache_stats *out);

/* The outcome of verifying one piece of evidence. */
typedef struct snp_result {
    bool          report_parsed;   /* `report` holds the fields */
    snp_report    report;
    bool          cert_parsed;     /* `cert` holds the leaf's facts */
    snp_cert_info cert;
    bool          cache_hit;       /* chain result came from the cache */
    snp_findings  findings;        /* every failed check */
} snp_result;

/* Verify a report with its VCEK/VLEK (DER or PEM) at time `at` (Unix
 * seconds; chain validity and CRLs are judged at that instant):
 * size/version, signature algorithm, signing-key selector vs certificate
 * kind, chain to a trusted ARK (cached), validity, revocation, the report
 * signature, reported_tcb vs the certificate's SPL extensions and chip_id vs
 * hwID (VCEK only: a VLEK has no hwID and the report's chip_id is zero).
 * Fills `out` (caller-provided, overwritten).  Returns SNP_OK when there is
 * no finding, SNP_EREJECTED when there are findings (err names the first),
 * another status on operational failure.  Thread-safe. */
int snp_verifier_verify(snp_verifier *v, const uint8_t *report, size_t report_len,
                        const uint8_t *cert, size_t cert_len, int64_t at,
                        snp_result *out, ep_err *err);

/* ---- reference values -------------------------------------------------------------- */

/* Reference values for one environment/workload.  Zero-initialised means
 * the strictest policy: VMPL 0, debug/migration agent/SMT forbidden, and no
 * measurement accepted.  Pointers are borrowed for the call. */
typedef struct snp_reference {
    const uint8_t (*measurements)[48];  /* accepted launch measurements */
    size_t         n_measurements;
    bool           check_host_data;
    uint8_t        host_data[32];
    snp_tcb        min_tcb;             /* per-component floor for reported_tcb */
    uint32_t       max_vmpl;            /* highest accepted VMPL (0 = only VMPL 0) */
    bool           allow_debug;
    bool           allow_migrate_ma;
    bool           allow_smt;
    uint64_t       forbidden_policy_bits;   /* any set in the report -> POLICY */
    uint8_t        min_abi_major, min_abi_minor;
    bool           check_report_data;   /* compare with expected_report_data */
    uint8_t        expected_report_data[64];
    bool           check_id_key_digest; /* require this ID key (ID block signer) */
    uint8_t        id_key_digest[48];
    uint32_t       min_guest_svn;
    const char *const *allowed_image_digests;  /* "sha256:<hex>" strings */
    size_t         n_allowed_image_digests;
} snp_reference;

/* Only the checks that need no reference values beyond policy: VMPL, debug,
 * migration agent, SMT, forbidden bits, ABI minimum.  Adds to `out`. */
void snp_policy_check(const snp_report *r, const snp_reference *ref, snp_findings *out);

/* All reference checks: snp_policy_check plus measurement, host_data,
 * min TCB, ID key digest, guest SVN, report_data (if ref->check_report_data), and that each of the
 * `n_images` workload image digests is allowed.  Adds to `out`. */
void snp_reference_check(const snp_report *r, const snp_reference *ref,
                         const char *const *image_digests, size_t n_images,
                         snp_findings *out);

/* Reference values parsed from JSON (format in docs/attestation.md and
 * refvals.c): measurements (required), host_data, report_data, min_tcb,
 * id_key_digest, min_guest_svn,
 * max_vmpl, allow_debug/_migrate_ma/_smt, forbidden_policy_bits, min_abi,
 * allowed_images.  Strict: unknown keys and bad values are EPARSE errors
 * naming the key.  The object owns its arrays; snp_refvals_get returns a
 * borrowed view valid until snp_refvals_destroy. */
typedef struct snp_refvals snp_refvals;
snp_refvals *snp_refvals_parse(const char *json, size_t len, ep_err *err);
const snp_reference *snp_refvals_get(const snp_refvals *rv);
void snp_refvals_destroy(snp_refvals *rv);   /* accepts NULL */

/* The report_data a workload must request: SHA-512(nonce || pubkey), which
 * fills the 64 bytes exactly.  The nonce has a fixed length
 * (SNP_NONCE_LEN for our store), so the concatenation is unambiguous. */
int snp_report_data_binding(const uint8_t *nonce, size_t nonce_len,
                            const uint8_t *pubkey, size_t pubkey_len,
                            uint8_t out[64], ep_err *err);

/* ---- nonces -------------------------------------------------------------------------- */

#define SNP_NONCE_LEN 32

typedef struct snp_nonce_store snp_nonce_store;

/* Clock in Unix seconds; `data` is the caller's.  NULL means real time. */
typedef int64_t (*snp_clock_fn)(void *data);

typedef enum snp_nonce_status {
    SNP_NONCE_OK = 0,       /* issued, unused, fresh: now consumed */
    SNP_NONCE_UNKNOWN,      /* never issued here (or forgotten after expiry) */
    SNP_NONCE_REPLAYED,     /* already consumed */
    SNP_NONCE_EXPIRED,      /* issued but older than the lifetime */
} snp_nonce_status;

/* New store: nonces live `ttl` seconds (> 0); at most `max_outstanding`
 * (0 = 65536) issued-or-consumed nonces are remembered.  Thread-safe. */
snp_nonce_store *snp_nonce_store_create(int64_t ttl, size_t max_outstanding,
                                        snp_clock_fn clock, void *clock_data,
                                        ep_err *err);
void snp_nonce_store_destroy(snp_nonce_store *s);  /* accepts NULL */

/* Issue a fresh random nonce into out.  SNP_EFULL when the store holds
 * max_outstanding live nonces. */
int snp_nonce_issue(snp_nonce_store *s, uint8_t out[SNP_NONCE_LEN], ep_err *err);
/* Consume a nonce: succeeds once, within its lifetime. */
snp_nonce_status snp_nonce_consume(snp_nonce_store *s, const uint8_t *nonce, size_t len);

/* How snp_appraise consumes a nonce: a small function table, so a service
 * with several replicas can put the same protocol into Redis.  `consume`
 * must be thread-safe and return SNP_NONCE_OK at most once per nonce. */
typedef struct snp_nonce_consumer {
    snp_nonce_status (*consume)(void *ud, const uint8_t *nonce, size_t len);
    void *ud;
} snp_nonce_consumer;

/* The consumer for an in-memory store (borrowed; must outlive its use). */
snp_nonce_consumer snp_nonce_store_consumer(snp_nonce_store *s);

/* ---- everything for one piece of evidence ------------------------------------------- */

typedef struct snp_evidence {
    const uint8_t *report;      size_t report_len;
    const uint8_t *cert;        size_t cert_len;      /* VCEK or VLEK */
    const uint8_t *nonce;       size_t nonce_len;     /* NULL: no freshness check */
    const uint8_t *workload_key; size_t workload_key_len; /* bound with the nonce */
    const char *const *image_digests; size_t n_image_digests;
    int64_t        at;          /* evaluation time, Unix seconds */
} snp_evidence;

/* Verify the evidence (snp_verifier_verify), then, if it holds
 * cryptographically, consume the nonce (when `nonces` and ev->nonce are
 * set) and require report_data == snp_report_data_binding(nonce, key), then
 * snp_reference_check.  A nonce is consumed only by evidence whose signature
 * and chain verify, so forged reports cannot burn other clients' nonces.
 * Same return convention as snp_verifier_verify.  Thread-safe. */
int snp_appraise(snp_verifier *v, const snp_nonce_consumer *nonces, const snp_evidence *ev,
                 const snp_reference *ref, snp_result *out, ep_err *err);

#endif
