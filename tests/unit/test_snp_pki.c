/*
 * test_snp_pki: libs/snp against a PKI generated in the test.
 *
 * An ARK and ASK (RSA, RSA-PSS signatures), a VCEK (EC P-384) with AMD's
 * TCB and hwID extensions, and reports in the real binary layout signed
 * with the VCEK.  A good report passes the whole appraisal; each single
 * tampering fails with its own named reason: a flipped bit in a signed
 * field breaks the signature, a correctly signed report with a wrong value
 * fails the reference check that covers that value.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "snp/snp.h"
#include "snp_pki.h"

#define T0   INT64_C(1767225600)  /* 2026-01-01T00:00:00Z: the tests' "now" */
#define DAY  86400
#define YEAR (365 * DAY)

static const char *allowed_images[] = {
    "sha256:1111111111111111111111111111111111111111111111111111111111111111",
    "sha256:2222222222222222222222222222222222222222222222222222222222222222",
};

typedef struct pki {
    EVP_PKEY     *ark_key, *ask_key, *vcek_key, *other_key;
    X509         *ark, *ask, *vcek;
    uint8_t      *ark_pem, *ask_pem, *vcek_der;
    size_t        ark_pem_len, ask_pem_len, vcek_der_len;
    snp_test_ext  ext;
    snp_verifier *v;
} pki;

static pki P;

static int64_t fake_now = T0;
static int64_t fake_clock(void *data)
{
    (void)data;
    return fake_now;
}

static int setup(void **state)
{
    ep_err err;

    (void)state;
    P.ext = (snp_test_ext){.bl = 3, .tee = 0, .snp = 8, .ucode = 115};
    for (int i = 0; i < 64; i++)
        P.ext.hwid[i] = (uint8_t)(i * 7 + 1);
    P.ark_key = snp_test_rsa_key();
    P.ask_key = snp_test_rsa_key();
    P.other_key = snp_test_rsa_key();
    P.vcek_key = snp_test_ec_key();
    if (!P.ark_key || !P.ask_key || !P.other_key || !P.vcek_key)
        return -1;
    P.ark = snp_test_cert("ARK-Milan", P.ark_key, "ARK-Milan", P.ark_key, T0 - 5 * YEAR,
                          T0 + 20 * YEAR, true, NULL);
    P.ask = snp_test_cert("SEV-Milan", P.ask_key, "ARK-Milan", P.ark_key, T0 - 5 * YEAR,
                          T0 + 20 * YEAR, true, NULL);
    P.vcek = snp_test_cert("SEV-VCEK", P.vcek_key, "SEV-Milan", P.ask_key, T0 - DAY, T0 + YEAR,
                           false, &P.ext);
    if (!P.ark || !P.ask || !P.vcek)
        return -1;
    P.ark_pem = snp_test_pem(P.ark, &P.ark_pem_len);
    P.ask_pem = snp_test_pem(P.ask, &P.ask_pem_len);
    P.vcek_der = snp_test_der(P.vcek, &P.vcek_der_len);
    P.v = snp_verifier_create(0, &err);
    if (P.v == NULL || snp_verifier_add_ark(P.v, P.ark_pem, P.ark_pem_len, &err) != SNP_OK ||
        snp_verifier_add_intermediate(P.v, P.ask_pem, P.ask_pem_len, &err) != SNP_OK)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    snp_verifier_destroy(P.v);
    free(P.ark_pem);
    free(P.ask_pem);
    free(P.vcek_der);
    X509_free(P.ark);
    X509_free(P.ask);
    X509_free(P.vcek);
    EVP_PKEY_free(P.ark_key);
    EVP_PKEY_free(P.ask_key);
    EVP_PKEY_free(P.other_key);
    EVP_PKEY_free(P.vcek_key);
    return 0;
}

/* ---- a complete, good appraisal --------------------------------------------------- */

static const uint8_t workload_key[] = "-----BEGIN PUBLIC KEY----- workload test key";

typedef struct scenario {
    snp_nonce_store *nonces;
    uint8_t          nonce[SNP_NONCE_LEN];
    uint8_t          report[SNP_REPORT_SIZE];
    uint8_t          measurement[1][48];
    snp_reference    ref;
    snp_evidence     ev;
    const char      *images[2];
    snp_result       res;
} scenario;

/* A report bound to a freshly issued nonce and the workload key, signed by
 * the VCEK, and reference values it satisfies. */
static void scenario_init(scenario *s)
{
    ep_err err;

    memset(s, 0, sizeof *s);
    fake_now = T0;
    s->nonces = snp_nonce_store_create(300, 0, fake_clock, NULL, &err);
    assert_non_null(s->nonces);
    assert_int_equal(snp_nonce_issue(s->nonces, s->nonce, &err), SNP_OK);
    snp_test_report_init(s->report, 2, &P.ext, false);
    assert_int_equal(snp_report_data_binding(s->nonce, SNP_NONCE_LEN, workload_key,
                                             sizeof workload_key, s->report + 0x50, &err), SNP_OK);
    memset(s->measurement[0], 0x11, 48);
    s->ref.measurements = (const uint8_t(*)[48])s->measurement;
    s->ref.n_measurements = 1;
    s->ref.check_host_data = true;
    memset(s->ref.host_data, 0x22, 32);
    s->ref.min_tcb = (snp_tcb){.bootloader = 3, .snp = 8, .microcode = 100};
    s->ref.allow_smt = true;
    s->ref.allowed_image_digests = allowed_images;
    s->ref.n_allowed_image_digests = 2;
    s->images[0] = allowed_images[1];
    s->images[1] = allowed_images[0];
    s->ev = (snp_evidence){
        .report = s->report, .report_len = SNP_REPORT_SIZE,
        .cert = P.vcek_der, .cert_len = P.vcek_der_len,
        .nonce = s->nonce, .nonce_len = SNP_NONCE_LEN,
        .workload_key = workload_key, .workload_key_len = sizeof workload_key,
        .image_digests = s->images, .n_image_digests = 2,
        .at = T0,
    };
}

static void sign(scenario *s)
{
    assert_int_equal(snp_test_report_sign(s->report, P.vcek_key), 0);
}

static int appraise(scenario *s)
{
    snp_nonce_consumer c = snp_nonce_store_consumer(s->nonces);

    return snp_appraise(P.v, &c, &s->ev, &s->ref, &s->res, NULL);
}

static void scenario_dispose(scenario *s)
{
    snp_nonce_store_destroy(s->nonces);
}

static void dump(const snp_findings *f)
{
    for (size_t i = 0; i < f->n; i++)
        print_message("  finding: %s: %s\n", snp_reason_name(f->v[i].reason), f->v[i].detail);
}

/* Exactly one finding, with this reason. */
static void expect_only(scenario *s, snp_reason r)
{
    int rc = appraise(s);

    if (s->res.findings.n != 1 || s->res.findings.v[0].reason != r) {
        dump(&s->res.findings);
        fail_msg("expected exactly %s", snp_reason_name(r));
    }
    assert_int_equal(rc, SNP_EREJECTED);
}

static void test_good_report_passes(void **state)
{
    scenario          *s = malloc(sizeof *s);
    snp_nonce_consumer c;
    ep_err             err;
    int                rc;

    (void)state;
    scenario_init(s);
    sign(s);
    c = snp_nonce_store_consumer(s->nonces);
    rc = snp_appraise(P.v, &c, &s->ev, &s->ref, &s->res, &err);
    if (rc != SNP_OK)
        dump(&s->res.findings);
    assert_int_equal(rc, SNP_OK);
    assert_int_equal(s->res.findings.n, 0);
    assert_int_equal(s->res.cert.kind, SNP_CERT_VCEK);
    assert_int_equal(s->res.report.reported_tcb.microcode, 115);
    scenario_dispose(s);
    free(s);
}

/* One flipped bit in a signed field: the signature no longer verifies. */
static void test_flipped_bits_break_signature(void **state)
{
    static const struct { const char *field; size_t off; } flips[] = {
        {"measurement", 0x90 + 5}, {"report_data", 0x50 + 63}, {"policy", 0x08 + 2},
        {"reported_tcb", 0x180 + 7}, {"chip_id", 0x1A0}, {"vmpl", 0x30},
        {"signature r", 0x2A0 + 3}, {"signature s", 0x2E8 + 47},
    };

    (void)state;
    for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
        scenario *s = malloc(sizeof *s);
        scenario_init(s);
        sign(s);
        s->report[flips[i].off] ^= 0x04;
        assert_int_equal(appraise(s), SNP_EREJECTED);
        if (!snp_findings_has(&s->res.findings, SNP_REASON_BAD_SIGNATURE))
            fail_msg("flipping a bit of %s did not break the signature", flips[i].field);
        /* A forged report must not consume the nonce. */
        assert_int_equal(snp_nonce_consume(s->nonces, s->nonce, SNP_NONCE_LEN), SNP_NONCE_OK);
        scenario_dispose(s);
        free(s);
    }
}

/* Correctly signed reports whose values are wrong: each named reason. */
static void test_signed_but_wrong_values(void **state)
{
    scenario *s = malloc(sizeof *s);

    (void)state;
    scenario_init(s);
    s->report[0x90] ^= 1;
    sign(s);
    expect_only(s, SNP_REASON_MEASUREMENT);
    scenario_dispose(s);

    scenario_init(s);
    s->report[0x50] ^= 1;   /* report_data no longer binds nonce + key */
    sign(s);
    expect_only(s, SNP_REASON_REPORT_DATA);
    scenario_dispose(s);

    scenario_init(s);
    snp_test_put64(s->report + 0x08, 0x30000 | 1u << 19);   /* DEBUG */
    sign(s);
    expect_only(s, SNP_REASON_DEBUG);
    s->ref.allow_debug = true;   /* a debug environment may allow it */
    scenario_dispose(s);
    scenario_init(s);
    snp_test_put64(s->report + 0x08, 0x30000 | 1u << 19);
    sign(s);
    s->ref.allow_debug = true;
    assert_int_equal(appraise(s), SNP_OK);
    scenario_dispose(s);

    scenario_init(s);
    snp_test_put64(s->report + 0x08, 0x30000 | 1u << 18);   /* MIGRATE_MA */
    sign(s);
    expect_only(s, SNP_REASON_MIGRATE_MA);
    scenario_dispose(s);

    scenario_init(s);
    sign(s);
    s->ref.allow_smt = false;
    expect_only(s, SNP_REASON_SMT);
    scenario_dispose(s);

    scenario_init(s);
    snp_test_put32(s->report + 0x30, 2);   /* VMPL 2 */
    sign(s);
    expect_only(s, SNP_REASON_VMPL);
    scenario_dispose(s);

    scenario_init(s);
    s->report[0xC0] ^= 1;
    sign(s);
    expect_only(s, SNP_REASON_HOST_DATA);
    scenario_dispose(s);

    scenario_init(s);
    s->report[0x180 + 7] = 116;   /* reported ucode differs from the VCEK's 115 */
    sign(s);
    expect_only(s, SNP_REASON_TCB_MISMATCH);
    scenario_dispose(s);

    scenario_init(s);
    sign(s);
    s->ref.min_tcb.snp = 9;
    expect_only(s, SNP_REASON_MIN_TCB);
    scenario_dispose(s);

    scenario_init(s);
    s->report[0x1A0 + 10] ^= 0xff;
    sign(s);
    expect_only(s, SNP_REASON_CHIP_ID_MISMATCH);
    scenario_dispose(s);

    scenario_init(s);
    snp_test_put32(s->report + 0x34, 2);
    sign(s);
    expect_only(s, SNP_REASON_SIG_ALGO);
    scenario_dispose(s);

    scenario_init(s);
    snp_test_put32(s->report + 0x48, 1u << 2);   /* claims VLEK, signed by a VCEK */
    sign(s);
    expect_only(s, SNP_REASON_SIGNING_KEY);
    scenario_dispose(s);

    scenario_init(s);
    snp_test_put32(s->report + 0x48, 7u << 2);   /* "no key" */
    sign(s);
    expect_only(s, SNP_REASON_SIGNING_KEY);
    scenario_dispose(s);

    scenario_init(s);
    snp_test_put32(s->report, 1);
    sign(s);
    expect_only(s, SNP_REASON_REPORT_VERSION);
    scenario_dispose(s);

    scenario_init(s);
    snp_test_put32(s->report, 6);
    sign(s);
    expect_only(s, SNP_REASON_REPORT_VERSION);
    scenario_dispose(s);

    scenario_init(s);
    s->images[1] = "sha256:3333333333333333333333333333333333333333333333333333333333333333";
    sign(s);
    expect_only(s, SNP_REASON_IMAGE_DIGEST);
    assert_non_null(strstr(s->res.findings.v[0].detail, "sha256:3333"));
    scenario_dispose(s);

    scenario_init(s);
    memset(s->report + 0xE0, 0x44, 48);   /* an ID block signed by key 0x44.. */
    snp_test_put32(s->report + 0x04, 3);  /* guest SVN 3 */
    sign(s);
    s->ref.check_id_key_digest = true;
    memset(s->ref.id_key_digest, 0x44, 48);
    s->ref.min_guest_svn = 3;
    assert_int_equal(appraise(s), SNP_OK);
    scenario_dispose(s);
    scenario_init(s);
    memset(s->report + 0xE0, 0x45, 48);
    sign(s);
    s->ref.check_id_key_digest = true;
    memset(s->ref.id_key_digest, 0x44, 48);
    expect_only(s, SNP_REASON_ID_KEY);
    scenario_dispose(s);
    scenario_init(s);
    sign(s);
    s->ref.min_guest_svn = 1;
    expect_only(s, SNP_REASON_GUEST_SVN);
    scenario_dispose(s);

    /* Several problems at once: all are reported. */
    scenario_init(s);
    snp_test_put64(s->report + 0x08, 0x30000 | 1u << 19);
    s->report[0x90] ^= 1;
    s->images[0] = "sha256:bad";
    sign(s);
    assert_int_equal(appraise(s), SNP_EREJECTED);
    assert_int_equal(s->res.findings.n, 3);
    assert_true(snp_findings_has(&s->res.findings, SNP_REASON_DEBUG));
    assert_true(snp_findings_has(&s->res.findings, SNP_REASON_MEASUREMENT));
    assert_true(snp_findings_has(&s->res.findings, SNP_REASON_IMAGE_DIGEST));
    scenario_dispose(s);

    /* No reference measurement at all is a failure, not a pass. */
    scenario_init(s);
    sign(s);
    s->ref.n_measurements = 0;
    expect_only(s, SNP_REASON_MEASUREMENT);
    scenario_dispose(s);
    free(s);
}

/* Report versions 3 and 5: CPUID and mitigation vectors are parsed. */
static void test_versions_3_and_5(void **state)
{
    scenario *s = malloc(sizeof *s);

    (void)state;
    scenario_init(s);
    snp_test_report_init(s->report, 5, &P.ext, false);
    snp_report_data_binding(s->nonce, SNP_NONCE_LEN, workload_key, sizeof workload_key,
                            s->report + 0x50, NULL);
    snp_test_put64(s->report + 0x1F8, 0x3);
    snp_test_put64(s->report + 0x200, 0x7);
    sign(s);
    assert_int_equal(appraise(s), SNP_OK);
    assert_true(s->res.report.has_cpuid);
    assert_int_equal(s->res.report.cpuid_fam, 0x19);
    assert_true(s->res.report.has_mit_vectors);
    assert_int_equal(s->res.report.launch_mit_vector, 3);
    assert_int_equal(s->res.report.current_mit_vector, 7);
    assert_int_equal(s->res.report.current_fw.major, 1);
    assert_int_equal(s->res.report.current_fw.minor, 52);
    scenario_dispose(s);
    free(s);
}

/* ---- the chain ------------------------------------------------------------------- */

static void test_wrong_chain(void **state)
{
    EVP_PKEY *rogue_ask_key = P.other_key;
    X509     *rogue_ask, *rogue_vcek;
    uint8_t  *der;
    size_t    len;
    scenario *s = malloc(sizeof *s);

    (void)state;
    /* An ASK with AMD's name but another key, and a VCEK it signed. */
    rogue_ask = snp_test_cert("SEV-Milan", rogue_ask_key, "ARK-Milan", rogue_ask_key,
                              T0 - YEAR, T0 + YEAR, true, NULL);
    rogue_vcek = snp_test_cert("SEV-VCEK", P.vcek_key, "SEV-Milan", rogue_ask_key, T0 - DAY,
                               T0 + YEAR, false, &P.ext);
    assert_non_null(rogue_vcek);
    der = snp_test_der(rogue_vcek, &len);
    scenario_init(s);
    sign(s);
    s->ev.cert = der;
    s->ev.cert_len = len;
    expect_only(s, SNP_REASON_CHAIN);
    scenario_dispose(s);

    /* A verifier that knows the ARK but not the ASK cannot build the chain. */
    {
        snp_verifier *v = snp_verifier_create(4, NULL);
        snp_result   *r = malloc(sizeof *r);
        scenario_init(s);
        sign(s);
        assert_int_equal(snp_verifier_add_ark(v, P.ark_pem, P.ark_pem_len, NULL), SNP_OK);
        assert_int_equal(snp_verifier_verify(v, s->report, SNP_REPORT_SIZE, P.vcek_der,
                                             P.vcek_der_len, T0, r, NULL), SNP_EREJECTED);
        assert_true(snp_findings_has(&r->findings, SNP_REASON_CHAIN));
        /* An ASK is not a root. */
        assert_int_equal(snp_verifier_add_ark(v, P.ask_pem, P.ask_pem_len, NULL), SNP_EPARSE);
        snp_verifier_destroy(v);
        free(r);
        scenario_dispose(s);
    }
    free(der);
    X509_free(rogue_ask);
    X509_free(rogue_vcek);
    free(s);
}

static void test_cert_validity(void **state)
{
    scenario *s = malloc(sizeof *s);

    (void)state;
    scenario_init(s);
    sign(s);
    s->ev.at = T0 + 2 * YEAR;   /* after the VCEK's notAfter */
    fake_now = T0;
    expect_only(s, SNP_REASON_CERT_EXPIRED);
    assert_non_null(strstr(s->res.findings.v[0].detail, "SEV-VCEK"));
    scenario_dispose(s);

    scenario_init(s);
    sign(s);
    s->ev.at = T0 - 2 * DAY;    /* before its notBefore */
    expect_only(s, SNP_REASON_CERT_NOT_YET_VALID);
    scenario_dispose(s);
    free(s);
}

/* A leaf whose key is not P-384 is refused even if the chain is fine. */
static void test_cert_key(void **state)
{
    EVP_PKEY *p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509     *x = snp_test_cert("SEV-VCEK", p256, "SEV-Milan", P.ask_key, T0 - DAY, T0 + YEAR,
                                false, &P.ext);
    size_t    len;
    uint8_t  *der = snp_test_der(x, &len);
    scenario *s = malloc(sizeof *s);

    (void)state;
    scenario_init(s);
    sign(s);
    s->ev.cert = der;
    s->ev.cert_len = len;
    assert_int_equal(appraise(s), SNP_EREJECTED);
    assert_true(snp_findings_has(&s->res.findings, SNP_REASON_CERT_KEY));
    assert_true(snp_findings_has(&s->res.findings, SNP_REASON_BAD_SIGNATURE));
    s->ev.cert = (const uint8_t *)"garbage";
    s->ev.cert_len = 7;
    assert_int_equal(appraise(s), SNP_EREJECTED);
    assert_true(snp_findings_has(&s->res.findings, SNP_REASON_CERT_PARSE));
    scenario_dispose(s);
    free(s);
    free(der);
    X509_free(x);
    EVP_PKEY_free(p256);
}

static void test_crl(void **state)
{
    X509_CRL     *revoking = snp_test_crl(P.ark, P.ark_key, P.ask, T0 - DAY, T0 + 30 * DAY);
    X509_CRL     *clean = snp_test_crl(P.ark, P.ark_key, NULL, T0 - DAY, T0 + 30 * DAY);
    uint8_t      *rder, *cder;
    size_t        rlen, clen;
    snp_verifier *v;
    snp_result   *r = malloc(sizeof *r);
    scenario     *s = malloc(sizeof *s);

    (void)state;
    assert_non_null(revoking);
    assert_non_null(clean);
    rder = snp_test_crl_der(revoking, &rlen);
    cder = snp_test_crl_der(clean, &clen);
    scenario_init(s);
    sign(s);

    /* A CRL that lists nothing: still valid; past its nextUpdate: crl. */
    v = snp_verifier_create(0, NULL);
    snp_verifier_add_ark(v, P.ark_pem, P.ark_pem_len, NULL);
    snp_verifier_add_intermediate(v, P.ask_pem, P.ask_pem_len, NULL);
    assert_int_equal(snp_verifier_add_crl(v, cder, clen, NULL), SNP_OK);
    assert_int_equal(snp_verifier_verify(v, s->report, SNP_REPORT_SIZE, P.vcek_der,
                                         P.vcek_der_len, T0, r, NULL), SNP_OK);
    assert_int_equal(snp_verifier_verify(v, s->report, SNP_REPORT_SIZE, P.vcek_der,
                                         P.vcek_der_len, T0 + 60 * DAY, r, NULL), SNP_EREJECTED);
    assert_true(snp_findings_has(&r->findings, SNP_REASON_CRL));
    assert_false(r->cache_hit);
    snp_verifier_destroy(v);

    /* A CRL that revokes the ASK. */
    v = snp_verifier_create(0, NULL);
    snp_verifier_add_ark(v, P.ark_pem, P.ark_pem_len, NULL);
    snp_verifier_add_intermediate(v, P.ask_pem, P.ask_pem_len, NULL);
    assert_int_equal(snp_verifier_add_crl(v, rder, rlen, NULL), SNP_OK);
    assert_int_equal(snp_verifier_verify(v, s->report, SNP_REPORT_SIZE, P.vcek_der,
                                         P.vcek_der_len, T0, r, NULL), SNP_EREJECTED);
    assert_true(snp_findings_has(&r->findings, SNP_REASON_CERT_REVOKED));
    snp_verifier_destroy(v);

    scenario_dispose(s);
    free(s);
    free(r);
    free(rder);
    free(cder);
    X509_CRL_free(revoking);
    X509_CRL_free(clean);
}

/* ---- VLEK, Turin, encodings --------------------------------------------------------- */

static void test_vlek(void **state)
{
    EVP_PKEY     *asvk_key = P.other_key, *vlek_key = snp_test_ec_key();
    snp_test_ext  e = P.ext;
    X509         *asvk, *vlek;
    uint8_t      *asvk_pem, *vlek_der, report[SNP_REPORT_SIZE];
    size_t        asvk_len, vlek_len;
    snp_result   *r = malloc(sizeof *r);
    snp_verifier *v = snp_verifier_create(0, NULL);

    (void)state;
    e.no_hwid = true;
    e.csp_id = "CN=test-csp";
    asvk = snp_test_cert("SEV-VLEK-Milan", asvk_key, "ARK-Milan", P.ark_key, T0 - YEAR,
                         T0 + 10 * YEAR, true, NULL);
    vlek = snp_test_cert("SEV-VLEK", vlek_key, "SEV-VLEK-Milan", asvk_key, T0 - DAY, T0 + YEAR,
                         false, &e);
    asvk_pem = snp_test_pem(asvk, &asvk_len);
    vlek_der = snp_test_der(vlek, &vlek_len);
    snp_verifier_add_ark(v, P.ark_pem, P.ark_pem_len, NULL);
    assert_int_equal(snp_verifier_add_intermediate(v, asvk_pem, asvk_len, NULL), SNP_OK);

    snp_test_report_init(report, 3, &e, true);
    assert_int_equal(snp_test_report_sign(report, vlek_key), 0);
    assert_int_equal(snp_verifier_verify(v, report, sizeof report, vlek_der, vlek_len, T0, r, NULL),
                     SNP_OK);
    assert_int_equal(r->cert.kind, SNP_CERT_VLEK);
    assert_string_equal(r->cert.csp_id, "CN=test-csp");
    assert_false(r->cert.has_hwid);

    /* The same VLEK-signed report claiming to be VCEK-signed. */
    snp_test_put32(report + 0x48, 0);
    assert_int_equal(snp_test_report_sign(report, vlek_key), 0);
    assert_int_equal(snp_verifier_verify(v, report, sizeof report, vlek_der, vlek_len, T0, r, NULL),
                     SNP_EREJECTED);
    assert_true(snp_findings_has(&r->findings, SNP_REASON_SIGNING_KEY));

    snp_verifier_destroy(v);
    free(r);
    free(asvk_pem);
    free(vlek_der);
    X509_free(asvk);
    X509_free(vlek);
    EVP_PKEY_free(vlek_key);
}

/* Turin: CPUID family 0x1A switches the TCB layout and adds fmcSPL. */
static void test_turin_layout(void **state)
{
    snp_test_ext e = P.ext;
    X509        *x;
    uint8_t     *der, report[SNP_REPORT_SIZE];
    size_t       len;
    snp_result  *r = malloc(sizeof *r);
    snp_tcb      t;

    (void)state;
    e.has_fmc = true;
    e.fmc = 2;
    e.product = "Turin";
    x = snp_test_cert("SEV-VCEK", P.vcek_key, "SEV-Milan", P.ask_key, T0 - DAY, T0 + YEAR, false, &e);
    der = snp_test_der(x, &len);
    snp_test_report_init(report, 3, &e, false);
    assert_int_equal(snp_test_report_sign(report, P.vcek_key), 0);
    assert_int_equal(snp_verifier_verify(P.v, report, sizeof report, der, len, T0, r, NULL), SNP_OK);
    assert_int_equal(r->report.tcb_layout, SNP_TCB_LAYOUT_TURIN);
    assert_int_equal(r->report.reported_tcb.fmc, 2);
    assert_int_equal(r->report.reported_tcb.bootloader, 3);
    assert_int_equal(r->report.reported_tcb.snp, 8);
    assert_int_equal(r->cert.fmc_spl, 2);

    report[0x180] = 3;   /* FMC SVN differs from the certificate's */
    assert_int_equal(snp_test_report_sign(report, P.vcek_key), 0);
    assert_int_equal(snp_verifier_verify(P.v, report, sizeof report, der, len, T0, r, NULL),
                     SNP_EREJECTED);
    assert_true(snp_findings_has(&r->findings, SNP_REASON_TCB_MISMATCH));

    {
        char path[128];
        assert_string_equal(snp_report_product(&r->report), "Turin");
        assert_int_equal(snp_kds_vcek_path(&r->report, NULL, path, sizeof path, NULL), SNP_OK);
        /* Turin: 8 chip-id bytes and fmcSPL first (FMC here is 3, as just signed). */
        assert_string_equal(path, "/vcek/v1/Turin/01080f161d242b32?fmcSPL=3&blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115");
    }
    t = snp_tcb_decode(0x7300000000000803ull, SNP_TCB_LAYOUT_MILAN_GENOA);
    assert_int_equal(t.bootloader, 3);
    assert_int_equal(t.tee, 8);
    assert_int_equal(t.snp, 0);
    assert_int_equal(t.microcode, 0x73);
    free(r);
    free(der);
    X509_free(x);
}

/* hwID as an OCTET STRING (not what AMD issues) is accepted too; a PEM
 * leaf works and hits the same cache entry as its DER. */
static void test_hwid_wrapped_and_pem(void **state)
{
    snp_test_ext   e = P.ext;
    X509          *x;
    uint8_t       *der, *pem;
    size_t         len, plen;
    snp_result    *r = malloc(sizeof *r);
    snp_cache_stats st0, st1;
    scenario      *s = malloc(sizeof *s);

    (void)state;
    e.hwid_wrapped = true;
    x = snp_test_cert("SEV-VCEK", P.vcek_key, "SEV-Milan", P.ask_key, T0 - DAY, T0 + YEAR, false, &e);
    der = snp_test_der(x, &len);
    pem = snp_test_pem(x, &plen);
    scenario_init(s);
    sign(s);
    assert_int_equal(snp_verifier_verify(P.v, s->report, SNP_REPORT_SIZE, der, len, T0, r, NULL),
                     SNP_OK);
    assert_true(r->cert.hwid_wrapped);
    snp_verifier_cache_stats(P.v, &st0);
    assert_int_equal(snp_verifier_verify(P.v, s->report, SNP_REPORT_SIZE, pem, plen, T0, r, NULL),
                     SNP_OK);
    assert_true(r->cache_hit);
    snp_verifier_cache_stats(P.v, &st1);
    assert_int_equal(st1.hits, st0.hits + 1);
    assert_true(snp_cert_parse(pem, plen, &r->cert, NULL) == SNP_OK);
    assert_int_equal(snp_cert_parse((const uint8_t *)"\x30\x03\x02\x01\x00", 5, &r->cert, NULL),
                     SNP_EPARSE);
    scenario_dispose(s);
    free(s);
    free(r);
    free(der);
    free(pem);
    X509_free(x);
}

/* ---- cache and threads --------------------------------------------------------------------- */

static void test_cache_eviction(void **state)
{
    snp_verifier   *v = snp_verifier_create(2, NULL);
    X509           *x[3];
    uint8_t        *der[3];
    size_t          len[3];
    snp_result     *r = malloc(sizeof *r);
    snp_cache_stats st;
    scenario       *s = malloc(sizeof *s);

    (void)state;
    snp_verifier_add_ark(v, P.ark_pem, P.ark_pem_len, NULL);
    snp_verifier_add_intermediate(v, P.ask_pem, P.ask_pem_len, NULL);
    scenario_init(s);
    sign(s);
    /* Three distinct certificates for the same key (different validity). */
    for (int i = 0; i < 3; i++) {
        x[i] = snp_test_cert("SEV-VCEK", P.vcek_key, "SEV-Milan", P.ask_key, T0 - DAY - i,
                             T0 + YEAR, false, &P.ext);
        der[i] = snp_test_der(x[i], &len[i]);
        assert_int_equal(snp_verifier_verify(v, s->report, SNP_REPORT_SIZE, der[i], len[i], T0, r,
                                             NULL), SNP_OK);
    }
    snp_verifier_cache_stats(v, &st);
    assert_int_equal(st.entries, 2);
    assert_int_equal(st.misses, 3);
    /* The first was least recently used and is gone; the third is there. */
    snp_verifier_verify(v, s->report, SNP_REPORT_SIZE, der[2], len[2], T0, r, NULL);
    assert_true(r->cache_hit);
    snp_verifier_verify(v, s->report, SNP_REPORT_SIZE, der[0], len[0], T0, r, NULL);
    assert_false(r->cache_hit);
    /* Changing the trust configuration empties the cache. */
    snp_verifier_add_ark(v, P.ark_pem, P.ark_pem_len, NULL);
    snp_verifier_cache_stats(v, &st);
    assert_int_equal(st.entries, 0);
    for (int i = 0; i < 3; i++) {
        free(der[i]);
        X509_free(x[i]);
    }
    snp_verifier_destroy(v);
    scenario_dispose(s);
    free(s);
    free(r);
}

typedef struct thread_arg {
    const uint8_t *report;
    int            failures;
} thread_arg;

static void *verify_thread(void *p)
{
    thread_arg *a = p;
    snp_result *r = malloc(sizeof *r);

    for (int i = 0; i < 40; i++)
        if (r == NULL || snp_verifier_verify(P.v, a->report, SNP_REPORT_SIZE, P.vcek_der,
                                             P.vcek_der_len, T0, r, NULL) != SNP_OK)
            a->failures++;
    free(r);
    return NULL;
}

static void test_threads(void **state)
{
    pthread_t  t[4];
    thread_arg a[4];
    scenario  *s = malloc(sizeof *s);

    (void)state;
    scenario_init(s);
    sign(s);
    for (int i = 0; i < 4; i++) {
        a[i] = (thread_arg){.report = s->report};
        assert_int_equal(pthread_create(&t[i], NULL, verify_thread, &a[i]), 0);
    }
    /* Reconfiguring while they run clears the cache under their feet; the
     * results must stay correct (they re-verify the chain). */
    for (int i = 0; i < 5; i++)
        assert_int_equal(snp_verifier_add_intermediate(P.v, P.ask_pem, P.ask_pem_len, NULL), SNP_OK);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(a[i].failures, 0);
    }
    scenario_dispose(s);
    free(s);
}

/* ---- nonces ------------------------------------------------------------------------------- */

static void test_nonce_replay_unknown_expired(void **state)
{
    scenario *s = malloc(sizeof *s);
    uint8_t   stranger[SNP_NONCE_LEN];

    (void)state;
    scenario_init(s);
    sign(s);
    assert_int_equal(appraise(s), SNP_OK);
    expect_only(s, SNP_REASON_NONCE_REPLAYED);   /* the same evidence again */
    scenario_dispose(s);

    /* A nonce this store never issued, correctly bound in the report. */
    scenario_init(s);
    memset(stranger, 0x5a, sizeof stranger);
    memcpy(s->nonce, stranger, sizeof stranger);
    snp_report_data_binding(s->nonce, SNP_NONCE_LEN, workload_key, sizeof workload_key,
                            s->report + 0x50, NULL);
    sign(s);
    expect_only(s, SNP_REASON_NONCE_UNKNOWN);
    scenario_dispose(s);

    scenario_init(s);
    sign(s);
    fake_now = T0 + 301;
    expect_only(s, SNP_REASON_NONCE_EXPIRED);
    scenario_dispose(s);
    free(s);
}

static void test_nonce_store(void **state)
{
    snp_nonce_store *ns;
    uint8_t          n[3][SNP_NONCE_LEN];
    ep_err           err;

    (void)state;
    fake_now = 1000;
    ns = snp_nonce_store_create(10, 2, fake_clock, NULL, &err);
    assert_non_null(ns);
    assert_int_equal(snp_nonce_issue(ns, n[0], &err), SNP_OK);
    assert_int_equal(snp_nonce_issue(ns, n[1], &err), SNP_OK);
    assert_memory_not_equal(n[0], n[1], SNP_NONCE_LEN);
    assert_int_equal(snp_nonce_issue(ns, n[2], &err), SNP_EFULL);
    assert_int_equal(snp_nonce_consume(ns, n[0], SNP_NONCE_LEN), SNP_NONCE_OK);
    assert_int_equal(snp_nonce_consume(ns, n[0], SNP_NONCE_LEN), SNP_NONCE_REPLAYED);
    assert_int_equal(snp_nonce_consume(ns, n[0], 5), SNP_NONCE_UNKNOWN);
    fake_now = 1010;   /* both expire; the sweep makes room */
    assert_int_equal(snp_nonce_issue(ns, n[2], &err), SNP_OK);
    assert_int_equal(snp_nonce_consume(ns, n[1], SNP_NONCE_LEN), SNP_NONCE_UNKNOWN);
    assert_int_equal(snp_nonce_consume(ns, n[2], SNP_NONCE_LEN), SNP_NONCE_OK);
    snp_nonce_store_destroy(ns);
    assert_null(snp_nonce_store_create(0, 0, NULL, NULL, &err));
    assert_int_equal(err.code, SNP_EINVAL);
}

/* A service's own nonce backend (Redis) plugs in through the table; it is
 * asked only for evidence that verifies. */
static int calls;
static snp_nonce_status counting_consume(void *ud, const uint8_t *nonce, size_t len)
{
    (void)ud;
    (void)nonce;
    calls++;
    return len == SNP_NONCE_LEN ? SNP_NONCE_OK : SNP_NONCE_UNKNOWN;
}

static void test_custom_consumer(void **state)
{
    scenario          *s = malloc(sizeof *s);
    snp_nonce_consumer c = {.consume = counting_consume};

    (void)state;
    calls = 0;
    scenario_init(s);
    sign(s);
    assert_int_equal(snp_appraise(P.v, &c, &s->ev, &s->ref, &s->res, NULL), SNP_OK);
    assert_int_equal(calls, 1);
    s->report[0x91] ^= 1;   /* forged */
    assert_int_equal(snp_appraise(P.v, &c, &s->ev, &s->ref, &s->res, NULL), SNP_EREJECTED);
    assert_int_equal(calls, 1);
    scenario_dispose(s);
    free(s);
}

/* Reference values from JSON: a good document drives the appraisal; every
 * malformed one is refused with the key named. */
static void test_refvals(void **state)
{
    static const char good[] =
        "{\"measurements\": [\"" "1111111111111111111111111111111111111111111111111111111111111111"
        "11111111111111111111111111111111\"],"
        " \"host_data\": \"2222222222222222222222222222222222222222222222222222222222222222\","
        " \"min_tcb\": {\"bootloader\": 3, \"snp\": 8, \"microcode\": 100},"
        " \"max_vmpl\": 0, \"allow_smt\": true, \"allow_debug\": false,"
        " \"forbidden_policy_bits\": \"0x100000\", \"min_abi\": {\"major\": 0, \"minor\": 0},"
        " \"allowed_images\": [\"sha256:1111111111111111111111111111111111111111111111111111111111111111\"]}";
    static const struct { const char *json, *names; } bad[] = {
        {"[]", "object"},
        {"{}", "measurements"},
        {"{\"measurements\": []}", "measurements"},
        {"{\"measurements\": [\"abc\"]}", "measurements[0]"},
        {"{\"host_data\": \"zz\"}", "host_data"},
        {"{\"min_tcb\": {\"snp\": 256}}", "min_tcb.snp"},
        {"{\"min_tcb\": {\"spl\": 1}}", "spl"},
        {"{\"max_vmpl\": 4}", "max_vmpl"},
        {"{\"id_key_digest\": \"00\"}", "id_key_digest"},
        {"{\"min_guest_svn\": -1}", "min_guest_svn"},
        {"{\"allow_debug\": 1}", "allow_debug"},
        {"{\"allowed_images\": [\"sha256:ABC\"]}", "allowed_images[0]"},
        {"{\"forbidden_policy_bits\": \"0xzz\"}", "forbidden_policy_bits"},
        {"{\"measurment\": []}", "measurment"},
        {"{\"max_vmpl\": 0, \"max_vmpl\": 1}", "duplicate"},
    };
    snp_refvals *rv;
    const snp_reference *ref;
    scenario    *s = malloc(sizeof *s);
    snp_findings f = {0};
    const char  *img[] = {allowed_images[0]};
    ep_err       err;

    (void)state;
    rv = snp_refvals_parse(good, sizeof good - 1, &err);
    if (rv == NULL)
        fail_msg("%s", err.msg);
    ref = snp_refvals_get(rv);
    assert_int_equal(ref->n_measurements, 1);
    assert_true(ref->check_host_data);
    assert_int_equal(ref->min_tcb.microcode, 100);
    assert_int_equal(ref->forbidden_policy_bits, 0x100000);
    assert_true(ref->allow_smt);
    assert_int_equal(ref->n_allowed_image_digests, 1);
    scenario_init(s);
    sign(s);
    snp_report_parse(s->report, SNP_REPORT_SIZE, &s->res.report, NULL, NULL);
    snp_reference_check(&s->res.report, ref, img, 1, &f);
    assert_int_equal(f.n, 0);
    img[0] = allowed_images[1];
    snp_reference_check(&s->res.report, ref, img, 1, &f);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.v[0].reason, SNP_REASON_IMAGE_DIGEST);
    snp_refvals_destroy(rv);
    scenario_dispose(s);
    free(s);

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ep_err_clear(&err);
        assert_null(snp_refvals_parse(bad[i].json, strlen(bad[i].json), &err));
        assert_int_equal(err.code, SNP_EPARSE);
        if (strstr(err.msg, bad[i].names) == NULL)
            fail_msg("error for %s does not name %s: %s", bad[i].json, bad[i].names, err.msg);
    }
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(snp_reason_name(SNP_REASON_BAD_SIGNATURE), "bad_signature");
    assert_string_equal(snp_reason_name(SNP_REASON_IMAGE_DIGEST), "image_digest");
    assert_true(snp_reason_is_evidence(SNP_REASON_CHAIN));
    assert_false(snp_reason_is_evidence(SNP_REASON_MEASUREMENT));
    assert_string_equal(snp_reason_name(SNP_REASON__COUNT), "unknown");
    assert_string_equal(snp_strstatus(SNP_EREJECTED), "evidence rejected");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_report_passes),
        cmocka_unit_test(test_flipped_bits_break_signature),
        cmocka_unit_test(test_signed_but_wrong_values),
        cmocka_unit_test(test_versions_3_and_5),
        cmocka_unit_test(test_wrong_chain),
        cmocka_unit_test(test_cert_validity),
        cmocka_unit_test(test_cert_key),
        cmocka_unit_test(test_crl),
        cmocka_unit_test(test_vlek),
        cmocka_unit_test(test_turin_layout),
        cmocka_unit_test(test_hwid_wrapped_and_pem),
        cmocka_unit_test(test_cache_eviction),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_nonce_replay_unknown_expired),
        cmocka_unit_test(test_nonce_store),
        cmocka_unit_test(test_custom_consumer),
        cmocka_unit_test(test_refvals),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
