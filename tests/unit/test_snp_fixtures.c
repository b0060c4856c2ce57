/*
 * test_snp_fixtures: libs/snp against the five real SEV-SNP evidence sets
 * in ../shared/testdata/sev-snp (Milan and Genoa, report versions 2 and 3,
 * VCEK and VLEK).  Each set must verify, every one-byte change of the
 * signed part must not, and the oddities the README describes (current vs
 * reported TCB, VLEK at VMPL 1 with an expired certificate, raw hwID bytes,
 * serial number 0) must come out as documented.
 *
 * The data directory is $EP_TESTDATA, else ../shared/testdata next to the
 * repository (found by walking up from the working directory).  Missing
 * data fails the test with a message saying where it looked.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "snp/snp.h"

#define MILAN_VLEK_VALID 1748736000  /* 2025-06-01T00:00:00Z, inside the VLEK's validity */
#define NOW_2026         1795392000  /* 2026-11-22, after the VLEK expired */

static char testdata[PATH_MAX + 64];

typedef struct fixture {
    const char *dir, *cert, *ark, *ask;
    uint32_t    version;
    bool        vlek;
    int64_t     at;
    uint8_t     bl, tee, snp, ucode;     /* reported_tcb */
    uint8_t     cur_ucode;               /* current_tcb microcode */
    uint32_t    vmpl;
    uint64_t    policy;
} fixture;

static const fixture sets[] = {
    {"milan-vcek-trustee", "vcek.der", "milan/ark.pem", "milan/ask.pem", 2, false, NOW_2026,
     3, 0, 8, 115, 206, 0, 0x3001f},
    {"milan-vcek-virtee", "vcek.der", "milan/ark.pem", "milan/ask.pem", 2, false, NOW_2026,
     3, 0, 8, 115, 115, 0, 0x30000},
    {"milan-vcek-go-sev-guest", "vcek.der", "milan/ark.pem", "milan/ask.pem", 2, false, NOW_2026,
     2, 0, 5, 68, 68, 0, 0xb0000},
    {"genoa-vcek-azure", "vcek.pem", "genoa/ark.pem", "genoa/ask.pem", 3, false, NOW_2026,
     10, 0, 23, 84, 84, 0, 0x3001f},
    {"milan-vlek-aws", "vlek.der", "milan/ark.pem", "milan/ask_ark_asvk.pem", 3, true,
     MILAN_VLEK_VALID, 4, 0, 24, 217, 220, 1, 0x30000},
};
#define NSETS (sizeof sets / sizeof sets[0])

static bool find_testdata(void)
{
    const char *env = getenv("EP_TESTDATA");
    char        dir[PATH_MAX], probe[2 * PATH_MAX + 128];

    if (env != NULL && *env != '\0') {
        snprintf(testdata, sizeof testdata, "%s", env);
        snprintf(probe, sizeof probe, "%s/sev-snp/README.md", testdata);
        return access(probe, R_OK) == 0;
    }
    if (getcwd(dir, sizeof dir) == NULL)
        return false;
    for (;;) {
        snprintf(probe, sizeof probe, "%s/../shared/testdata/sev-snp/README.md", dir);
        if (access(probe, R_OK) == 0) {
            snprintf(testdata, sizeof testdata, "%s/../shared/testdata", dir);
            return true;
        }
        char *slash = strrchr(dir, '/');
        if (slash == NULL || slash == dir)
            return false;
        *slash = '\0';
    }
}

static uint8_t *slurp(const char *rel, size_t *len)
{
    char     path[2 * PATH_MAX + 128];
    FILE    *f;
    uint8_t *buf = malloc(1 << 16);

    snprintf(path, sizeof path, "%s/sev-snp/%s", testdata, rel);
    f = fopen(path, "rb");
    if (f == NULL || buf == NULL)
        fail_msg("cannot read %s", path);
    *len = fread(buf, 1, 1 << 16, f);
    fclose(f);
    return buf;
}

typedef struct loaded {
    uint8_t *report, *cert;
    size_t   report_len, cert_len;
    snp_verifier *v;
} loaded;

static void load(const fixture *s, loaded *l)
{
    char    rel[256];
    uint8_t *ark, *ask;
    size_t  ark_len, ask_len;
    ep_err  err;

    snprintf(rel, sizeof rel, "%s/report.bin", s->dir);
    l->report = slurp(rel, &l->report_len);
    snprintf(rel, sizeof rel, "%s/%s", s->dir, s->cert);
    l->cert = slurp(rel, &l->cert_len);
    snprintf(rel, sizeof rel, "certs/%s", s->ark);
    ark = slurp(rel, &ark_len);
    snprintf(rel, sizeof rel, "certs/%s", s->ask);
    ask = slurp(rel, &ask_len);
    l->v = snp_verifier_create(0, &err);
    assert_non_null(l->v);
    assert_int_equal(snp_verifier_add_ark(l->v, ark, ark_len, &err), SNP_OK);
    assert_int_equal(snp_verifier_add_intermediate(l->v, ask, ask_len, &err), SNP_OK);
    free(ark);
    free(ask);
}

static void unload(loaded *l)
{
    free(l->report);
    free(l->cert);
    snp_verifier_destroy(l->v);
}

static void print_findings(const char *set, const snp_findings *f)
{
    for (size_t i = 0; i < f->n; i++)
        print_message("  %s: %s: %s\n", set, snp_reason_name(f->v[i].reason), f->v[i].detail);
}

/* Every set verifies at a time inside its certificates' validity. */
static void test_all_sets_verify(void **state)
{
    (void)state;
    for (size_t i = 0; i < NSETS; i++) {
        const fixture *s = &sets[i];
        loaded         l;
        snp_result    *res = malloc(sizeof *res);
        ep_err         err;
        int            rc;

        load(s, &l);
        rc = snp_verifier_verify(l.v, l.report, l.report_len, l.cert, l.cert_len, s->at, res, &err);
        if (rc != SNP_OK)
            print_findings(s->dir, &res->findings);
        assert_int_equal(rc, SNP_OK);
        assert_true(res->report_parsed && res->cert_parsed);
        assert_int_equal(res->report.version, s->version);
        assert_int_equal(res->report.signing_key, s->vlek ? SNP_SIGNING_KEY_VLEK : SNP_SIGNING_KEY_VCEK);
        assert_int_equal(res->cert.kind, s->vlek ? SNP_CERT_VLEK : SNP_CERT_VCEK);
        assert_int_equal(res->report.reported_tcb.bootloader, s->bl);
        assert_int_equal(res->report.reported_tcb.tee, s->tee);
        assert_int_equal(res->report.reported_tcb.snp, s->snp);
        assert_int_equal(res->report.reported_tcb.microcode, s->ucode);
        assert_int_equal(res->report.current_tcb.microcode, s->cur_ucode);
        assert_int_equal(res->report.vmpl, s->vmpl);
        assert_int_equal(res->report.policy.raw, s->policy);
        assert_int_equal(res->report.tcb_layout, SNP_TCB_LAYOUT_MILAN_GENOA);
        /* The certificate's SPLs are those of reported_tcb. */
        assert_int_equal(res->cert.ucode_spl, s->ucode);
        /* A VCEK carries the chip id as 64 raw bytes, not an OCTET STRING. */
        assert_int_equal(res->cert.has_hwid, !s->vlek);
        assert_false(res->cert.hwid_wrapped);
        assert_false(res->cache_hit);

        /* The second time the chain comes from the cache. */
        assert_int_equal(snp_verifier_verify(l.v, l.report, l.report_len, l.cert, l.cert_len,
                                             s->at, res, &err), SNP_OK);
        assert_true(res->cache_hit);
        free(res);
        unload(&l);
    }
}

/* Flipping any byte of the signed part breaks the signature.  The stride
 * (EP_SNP_STRIDE, default 1 = every byte) lets valgrind runs sample. */
static void test_every_signed_byte(void **state)
{
    const char *st = getenv("EP_SNP_STRIDE");
    size_t      stride = st ? (size_t)atoi(st) : 1;

    (void)state;
    if (stride == 0)
        stride = 1;
    for (size_t i = 0; i < NSETS; i++) {
        loaded      l;
        snp_result *res = malloc(sizeof *res);

        load(&sets[i], &l);
        for (size_t off = i % stride; off < SNP_REPORT_SIGNED_SIZE; off += stride) {
            l.report[off] ^= 0x01;
            assert_int_equal(snp_verifier_verify(l.v, l.report, l.report_len, l.cert, l.cert_len,
                                                 sets[i].at, res, NULL), SNP_EREJECTED);
            if (!snp_findings_has(&res->findings, SNP_REASON_BAD_SIGNATURE))
                fail_msg("%s: flipping byte 0x%zx did not break the signature", sets[i].dir, off);
            l.report[off] ^= 0x01;
        }
        /* Non-zero high bytes of r (beyond the 48 a P-384 value can use). */
        l.report[0x2A0 + 60] = 1;
        assert_int_equal(snp_verifier_verify(l.v, l.report, l.report_len, l.cert, l.cert_len,
                                             sets[i].at, res, NULL), SNP_EREJECTED);
        assert_true(snp_findings_has(&res->findings, SNP_REASON_BAD_SIGNATURE));
        l.report[0x2A0 + 60] = 0;
        /* And s itself. */
        l.report[0x2E8] ^= 0x80;
        assert_int_equal(snp_verifier_verify(l.v, l.report, l.report_len, l.cert, l.cert_len,
                                             sets[i].at, res, NULL), SNP_EREJECTED);
        assert_true(snp_findings_has(&res->findings, SNP_REASON_BAD_SIGNATURE));
        free(res);
        unload(&l);
    }
}

/* The VLEK expired on 2025-12-10: after that the evidence fails with
 * exactly cert_expired; and at VMPL 1 it fails the default policy. */
static void test_vlek_expired_and_vmpl1(void **state)
{
    loaded        l;
    snp_result   *res = malloc(sizeof *res);
    snp_reference ref = {.allow_smt = true};
    snp_findings  pf = {0};

    (void)state;
    load(&sets[4], &l);
    assert_int_equal(snp_verifier_verify(l.v, l.report, l.report_len, l.cert, l.cert_len, NOW_2026,
                                         res, NULL), SNP_EREJECTED);
    assert_int_equal(res->findings.n, 1);
    assert_int_equal(res->findings.v[0].reason, SNP_REASON_CERT_EXPIRED);
    /* The cached result of an earlier verification must not hide expiry. */
    assert_int_equal(snp_verifier_verify(l.v, l.report, l.report_len, l.cert, l.cert_len,
                                         MILAN_VLEK_VALID, res, NULL), SNP_OK);
    assert_int_equal(snp_verifier_verify(l.v, l.report, l.report_len, l.cert, l.cert_len, NOW_2026,
                                         res, NULL), SNP_EREJECTED);
    assert_true(snp_findings_has(&res->findings, SNP_REASON_CERT_EXPIRED));
    assert_false(res->cache_hit);

    /* A real report legitimately failing a policy check: AWS runs the
     * guest at VMPL 1 under an SVSM-like paravisor. */
    snp_policy_check(&res->report, &ref, &pf);
    assert_int_equal(pf.n, 1);
    assert_int_equal(pf.v[0].reason, SNP_REASON_VMPL);
    ref.max_vmpl = 1;
    snp_findings_clear(&pf);
    snp_policy_check(&res->report, &ref, &pf);
    assert_int_equal(pf.n, 0);

    /* chip_id is zero in a VLEK-signed report, and that is fine. */
    for (int i = 0; i < 64; i++)
        assert_int_equal(res->report.chip_id[i], 0);
    assert_string_equal(res->cert.csp_id, "CN=cc-us-east-2.amazonaws.com");
    free(res);
    unload(&l);
}

/* The VLEK does not chain through the ASK: only through the ASVK. */
static void test_vlek_needs_asvk(void **state)
{
    fixture     s = sets[4];
    loaded      l;
    snp_result *res = malloc(sizeof *res);

    (void)state;
    s.ask = "milan/ask.pem";
    load(&s, &l);
    assert_int_equal(snp_verifier_verify(l.v, l.report, l.report_len, l.cert, l.cert_len, s.at, res,
                                         NULL), SNP_EREJECTED);
    assert_true(snp_findings_has(&res->findings, SNP_REASON_CHAIN));
    free(res);
    unload(&l);
}

/* A Genoa VCEK does not chain to the Milan ARK, and a report checked with
 * another chip's VCEK fails on chip id and signature. */
static void test_cross_checks(void **state)
{
    fixture     s = sets[3];
    loaded      l, o;
    snp_result *res = malloc(sizeof *res);

    (void)state;
    s.ark = "milan/ark.pem";
    s.ask = "milan/ask.pem";
    load(&s, &l);
    assert_int_equal(snp_verifier_verify(l.v, l.report, l.report_len, l.cert, l.cert_len, s.at, res,
                                         NULL), SNP_EREJECTED);
    assert_true(snp_findings_has(&res->findings, SNP_REASON_CHAIN));
    unload(&l);

    load(&sets[0], &l);
    load(&sets[1], &o);
    assert_int_equal(snp_verifier_verify(l.v, o.report, o.report_len, l.cert, l.cert_len,
                                         sets[0].at, res, NULL), SNP_EREJECTED);
    assert_true(snp_findings_has(&res->findings, SNP_REASON_BAD_SIGNATURE));
    assert_true(snp_findings_has(&res->findings, SNP_REASON_CHIP_ID_MISMATCH));
    assert_false(snp_findings_has(&res->findings, SNP_REASON_CHAIN));
    unload(&l);
    unload(&o);
    free(res);
}

/* The go-sev-guest report was launched with DEBUG allowed (policy
 * 0xb0000): the evidence is genuine, the default policy says no. */
static void test_debug_policy_in_real_report(void **state)
{
    loaded        l;
    snp_result   *res = malloc(sizeof *res);
    snp_reference ref = {.allow_smt = true};
    snp_findings  pf = {0};

    (void)state;
    load(&sets[2], &l);
    assert_int_equal(snp_verifier_verify(l.v, l.report, l.report_len, l.cert, l.cert_len,
                                         sets[2].at, res, NULL), SNP_OK);
    assert_true(res->report.policy.debug);
    snp_policy_check(&res->report, &ref, &pf);
    assert_int_equal(pf.n, 1);
    assert_int_equal(pf.v[0].reason, SNP_REASON_DEBUG);
    free(res);
    unload(&l);
}

/* Genoa v3 report: CPUID fields present; the claims JSON has them. */
static void test_genoa_claims(void **state)
{
    loaded      l;
    snp_result *res = malloc(sizeof *res);
    json_t     *c, *t;

    (void)state;
    load(&sets[3], &l);
    assert_int_equal(snp_verifier_verify(l.v, l.report, l.report_len, l.cert, l.cert_len,
                                         sets[3].at, res, NULL), SNP_OK);
    assert_true(res->report.has_cpuid);
    assert_int_equal(res->report.cpuid_fam, 0x19);
    assert_int_equal(res->report.cpuid_mod, 0x11);
    assert_int_equal(res->report.cpuid_step, 0x1);
    assert_int_equal(res->report.guest_svn, 0x1000B);
    assert_string_equal(res->cert.product_name, "Genoa");
    c = snp_report_claims(&res->report);
    assert_non_null(c);
    t = json_object_get(c, "reported_tcb");
    assert_int_equal(json_integer_value(json_object_get(t, "snp")), 23);
    assert_int_equal(json_integer_value(json_object_get(t, "bootloader")), 10);
    assert_string_equal(json_string_value(json_object_get(c, "signing_key")), "vcek");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "cpuid"), "model")), 0x11);
    assert_true(strncmp(json_string_value(json_object_get(c, "chip_id")), "0506ffba", 8) == 0);
    json_decref(c);
    free(res);
    unload(&l);
}

/* The KDS path asks for the VCEK of reported_tcb: for the trustee report
 * that is microcode 115, not the current 206. */
static void test_kds_paths(void **state)
{
    loaded      l;
    snp_result *res = malloc(sizeof *res);
    char        path[256];
    ep_err      err;

    (void)state;
    load(&sets[0], &l);
    snp_verifier_verify(l.v, l.report, l.report_len, l.cert, l.cert_len, sets[0].at, res, NULL);
    assert_null(snp_report_product(&res->report));   /* v2: no CPUID */
    assert_int_equal(snp_kds_vcek_path(&res->report, NULL, path, sizeof path, &err), SNP_EINVAL);
    assert_int_equal(snp_kds_vcek_path(&res->report, "Milan", path, sizeof path, &err), SNP_OK);
    assert_true(strncmp(path, "/vcek/v1/Milan/c38427a3", 23) == 0);
    assert_non_null(strstr(path, "?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115"));
    assert_int_equal(strlen(path), strlen("/vcek/v1/Milan/") + 128 +
                                   strlen("?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115"));
    assert_int_equal(snp_kds_vcek_path(&res->report, "Milan", path, 40, &err), SNP_EINVAL);
    unload(&l);

    load(&sets[3], &l);
    snp_verifier_verify(l.v, l.report, l.report_len, l.cert, l.cert_len, sets[3].at, res, NULL);
    assert_string_equal(snp_report_product(&res->report), "Genoa");
    assert_int_equal(snp_kds_vcek_path(&res->report, NULL, path, sizeof path, &err), SNP_OK);
    assert_true(strncmp(path, "/vcek/v1/Genoa/0506ffba", 23) == 0);
    assert_non_null(strstr(path, "?blSPL=10&teeSPL=0&snpSPL=23&ucodeSPL=84"));
    unload(&l);

    load(&sets[4], &l);   /* VLEK: chip_id zero, no VCEK to fetch */
    snp_verifier_verify(l.v, l.report, l.report_len, l.cert, l.cert_len, sets[4].at, res, NULL);
    assert_string_equal(snp_report_product(&res->report), "Milan");
    assert_int_equal(snp_kds_vcek_path(&res->report, NULL, path, sizeof path, &err), SNP_EINVAL);
    unload(&l);
    free(res);
}

/* Wrong sizes are named, and a report one byte long does not crash. */
static void test_report_size(void **state)
{
    loaded      l;
    snp_result *res = malloc(sizeof *res);

    (void)state;
    load(&sets[0], &l);
    assert_int_equal(snp_verifier_verify(l.v, l.report, 1183, l.cert, l.cert_len, sets[0].at, res,
                                         NULL), SNP_EREJECTED);
    assert_true(snp_findings_has(&res->findings, SNP_REASON_REPORT_SIZE));
    assert_false(res->report_parsed);
    assert_int_equal(snp_verifier_verify(l.v, l.report, 1, l.cert, l.cert_len, sets[0].at, res,
                                         NULL), SNP_EREJECTED);
    assert_true(snp_findings_has(&res->findings, SNP_REASON_REPORT_SIZE));
    free(res);
    unload(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_sets_verify),
        cmocka_unit_test(test_every_signed_byte),
        cmocka_unit_test(test_vlek_expired_and_vmpl1),
        cmocka_unit_test(test_vlek_needs_asvk),
        cmocka_unit_test(test_cross_checks),
        cmocka_unit_test(test_debug_policy_in_real_report),
        cmocka_unit_test(test_genoa_claims),
        cmocka_unit_test(test_kds_paths),
        cmocka_unit_test(test_report_size),
    };

    if (!find_testdata()) {
        fprintf(stderr, "test_snp_fixtures: SEV-SNP test data not found: set EP_TESTDATA to the "
                        "shared testdata directory (holding sev-snp/README.md) or place the "
                        "shared/ checkout beside the repository (../shared/testdata)\n");
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
