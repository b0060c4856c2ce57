/*
 * report.c: the SEV-SNP ATTESTATION_REPORT binary layout (AMD SEV-SNP
 * firmware ABI, report versions 2 to 5), its claims as JSON, the report
 * signature, and the status/reason tables.
 *
 * All multi-byte integers in the report are little-endian.  The signature
 * covers bytes 0x000..0x29F; r and s are stored as 72-byte little-endian
 * integers of which only the low 48 bytes may be non-zero for P-384.
 */
#include "snp/snp_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>

/* ---- tables ------------------------------------------------------------------- */

const char *snp_strstatus(int status)
{
    switch (status) {
#define SNP__STATUS_STR(name, text) case SNP_##name: return text;
        SNP_STATUS_MAP(SNP__STATUS_STR)
#undef SNP__STATUS_STR
    }
    return "unknown status";
}

#define SNP__CLASS_E true
#define SNP__CLASS_A false

static const struct {
    const char *name;
    const char *text;
    bool        evidence;
} reason_table[SNP_REASON__COUNT] = {
#define SNP__REASON_ROW(name, str, cls, text) {str, text, SNP__CLASS_##cls},
    SNP_REASON_MAP(SNP__REASON_ROW)
#undef SNP__REASON_ROW
};

const char *snp_reason_name(snp_reason r)
{
    return (unsigned)r < SNP_REASON__COUNT ? reason_table[r].name : "unknown";
}

const char *snp_reason_text(snp_reason r)
{
    return (unsigned)r < SNP_REASON__COUNT ? reason_table[r].text : "unknown reason";
}

bool snp_reason_is_evidence(snp_reason r)
{
    return (unsigned)r < SNP_REASON__COUNT && reason_table[r].evidence;
}

/* ---- findings --------------------------------------------------------------------- */

void snp_findings_clear(snp_findings *f)
{
    f->n = 0;
    f->truncated = false;
}

void snp_findings_add(snp_findings *f, snp_reason r, const char *fmt, ...)
{
    va_list ap;

    if (f == NULL)
        return;
    if (f->n == SNP_FINDINGS_MAX) {
        f->truncated = true;
        return;
    }
    f->v[f->n].reason = r;
    va_start(ap, fmt);
    vsnprintf(f->v[f->n].detail, sizeof f->v[f->n].detail, fmt, ap);
    va_end(ap);
    f->n++;
}

bool snp_findings_has(const snp_findings *f, snp_reason r)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->v[i].reason == r)
            return true;
    return false;
}

size_t snp_findings_count_evidence(const snp_findings *f)
{
    size_t n = 0;

    for (size_t i = 0; i < f->n; i++)
        n += snp_reason_is_evidence(f->v[i].reason);
    return n;
}

/* ---- parsing ------------------------------------------------------------------------- */

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

snp_tcb snp_tcb_decode(uint64_t raw, snp_tcb_layout layout)
{
    snp_tcb t = {.raw = raw};
    uint8_t b[8];

    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(raw >> (8 * i));
    if (layout == SNP_TCB_LAYOUT_TURIN) {
        t.fmc = b[0];
        t.bootloader = b[1];
        t.tee = b[2];
        t.snp = b[3];
    } else {
        t.bootloader = b[0];
        t.tee = b[1];
        t.snp = b[6];
    }
    t.microcode = b[7];
    return t;
}

/* r and s: 72 bytes little-endian each; keep the low 48, big-endian. */
static void sig_component(const uint8_t *le72, uint8_t be48[48], bool *high_zero)
{
    for (int i = 0; i < 48; i++)
        be48[i] = le72[47 - i];
    for (int i = 48; i < 72; i++)
        if (le72[i] != 0)
            *high_zero = false;
}

int snp_report_parse(const uint8_t *buf, size_t len, snp_report *out,
                     snp_findings *findings, ep_err *err)
{
    const uint8_t *p = buf;
    uint64_t       pol, pi;
    int            rc = SNP_OK;

    if (buf == NULL || out == NULL)
        return ep_err_set(err, SNP_EINVAL, "snp report: NULL argument");
    memset(out, 0, sizeof *out);
    if (len != SNP_REPORT_SIZE) {
        snp_findings_add(findings, SNP_REASON_REPORT_SIZE, "report is %zu bytes, expected %d",
                         len, SNP_REPORT_SIZE);
        return ep_err_set(err, SNP_EPARSE, "snp report: %zu bytes, expected %d", len,
                          SNP_REPORT_SIZE);
    }
    memcpy(out->raw, buf, SNP_REPORT_SIZE);

    out->version = le32(p + 0x00);
    out->guest_svn = le32(p + 0x04);
    pol = le64(p + 0x08);
    out->policy = (snp_policy){
        .raw = pol,
        .abi_minor = (uint8_t)pol,
        .abi_major = (uint8_t)(pol >> 8),
        .smt = pol >> 16 & 1,
        .reserved_one = pol >> 17 & 1,
        .migrate_ma = pol >> 18 & 1,
        .debug = pol >> 19 & 1,
        .single_socket = pol >> 20 & 1,
        .cxl_allow = pol >> 21 & 1,
        .mem_aes_256_xts = pol >> 22 & 1,
        .rapl_dis = pol >> 23 & 1,
        .ciphertext_hiding = pol >> 24 & 1,
        .page_swap_disable = pol >> 25 & 1,
    };
    memcpy(out->family_id, p + 0x10, 16);
    memcpy(out->image_id, p + 0x20, 16);
    out->vmpl = le32(p + 0x30);
    out->sig_algo = le32(p + 0x34);
    pi = le64(p + 0x40);
    out->platform_info = (snp_platform_info){
        .raw = pi,
        .smt_en = pi & 1,
        .tsme_en = pi >> 1 & 1,
        .ecc_en = pi >> 2 & 1,
        .rapl_dis = pi >> 3 & 1,
        .ciphertext_hiding_en = pi >> 4 & 1,
        .alias_check_complete = pi >> 5 & 1,
    };
    out->key_info = le32(p + 0x48);
    out->author_key_en = out->key_info & 1;
    out->mask_chip_key = out->key_info >> 1 & 1;
    out->signing_key = out->key_info >> 2 & 7;
    memcpy(out->report_data, p + 0x50, 64);
    memcpy(out->measurement, p + 0x90, 48);
    memcpy(out->host_data, p + 0xC0, 32);
    memcpy(out->id_key_digest, p + 0xE0, 48);
    memcpy(out->author_key_digest, p + 0x110, 48);
    memcpy(out->report_id, p + 0x140, 32);
    memcpy(out->report_id_ma, p + 0x160, 32);

    /* CPUID family/model/stepping exist from version 3 on; they decide the
     * TCB layout, because Turin (family 0x1A) moved the SVN bytes. */
    out->has_cpuid = out->version >= 3;
    if (out->has_cpuid) {
        out->cpuid_fam = p[0x188];
        out->cpuid_mod = p[0x189];
        out->cpuid_step = p[0x18A];
    }
    out->tcb_layout = out->has_cpuid && out->cpuid_fam == 0x1A ? SNP_TCB_LAYOUT_TURIN
                                                               : SNP_TCB_LAYOUT_MILAN_GENOA;
    out->current_tcb = snp_tcb_decode(le64(p + 0x38), out->tcb_layout);
    out->reported_tcb = snp_tcb_decode(le64(p + 0x180), out->tcb_layout);
    memcpy(out->chip_id, p + 0x1A0, 64);
    out->committed_tcb = snp_tcb_decode(le64(p + 0x1E0), out->tcb_layout);
    out->current_fw = (snp_fw_version){.build = p[0x1E8], .minor = p[0x1E9], .major = p[0x1EA]};
    out->committed_fw = (snp_fw_version){.build = p[0x1EC], .minor = p[0x1ED], .major = p[0x1EE]};
    out->launch_tcb = snp_tcb_decode(le64(p + 0x1F0), out->tcb_layout);
    out->has_mit_vectors = out->version >= 5;
    if (out->has_mit_vectors) {
        out->launch_mit_vector = le64(p + 0x1F8);
        out->current_mit_vector = le64(p + 0x200);
    }
    out->sig_high_zero = true;
    sig_component(p + 0x2A0, out->sig_r, &out->sig_high_zero);
    sig_component(p + 0x2E8, out->sig_s, &out->sig_high_zero);

    if (out->version < SNP_REPORT_MIN_VERSION || out->version > SNP_REPORT_MAX_VERSION) {
        snp_findings_add(findings, SNP_REASON_REPORT_VERSION, "report version %u, accepted %d..%d",
                         out->version, SNP_REPORT_MIN_VERSION, SNP_REPORT_MAX_VERSION);
        rc = ep_err_set(err, SNP_EPARSE, "snp report: version %u not in %d..%d", out->version,
                        SNP_REPORT_MIN_VERSION, SNP_REPORT_MAX_VERSION);
    }
    return rc;
}

/* ---- signature --------------------------------------------------------------------------- */

int snp__report_verify_sig(const snp_report *r, EVP_PKEY *key, const EVP_MD *sha384,
                           char *detail, size_t n)
{
    ECDSA_SIG     *sig = NULL;
    BIGNUM        *br = NULL, *bs = NULL;
    unsigned char *der = NULL;
    EVP_MD_CTX    *md = NULL;
    int            derlen, rc = -1, v;

    if (!r->sig_high_zero) {
        snprintf(detail, n, "upper 24 bytes of r or s are not zero");
        return 0;
    }
    br = BN_bin2bn(r->sig_r, 48, NULL);
    bs = BN_bin2bn(r->sig_s, 48, NULL);
    sig = ECDSA_SIG_new();
    if (br == NULL || bs == NULL || sig == NULL)
        goto out;
    if (!ECDSA_SIG_set0(sig, br, bs))
        goto out;
    br = bs = NULL;  /* owned by sig now */
    derlen = i2d_ECDSA_SIG(sig, &der);
    if (derlen <= 0)
        goto out;
    md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestVerifyInit(md, NULL, sha384, NULL, key) != 1)
        goto out;
    v = EVP_DigestVerify(md, der, (size_t)derlen, r->raw, SNP_REPORT_SIGNED_SIZE);
    if (v == 1) {
        rc = 1;
    } else {
        /* 0 is a wrong signature; negative values are malformed ones (a zero
         * r or s), which for our purpose are wrong signatures too. */
        snprintf(detail, n, "ECDSA P-384/SHA-384 signature over bytes 0x000..0x29F does not verify");
        rc = 0;
    }
out:
    BN_free(br);
    BN_free(bs);
    ECDSA_SIG_free(sig);
    OPENSSL_free(der);
    EVP_MD_CTX_free(md);
    if (rc < 0)
        snprintf(detail, n, "OpenSSL failed while verifying the signature");
    return rc;
}

/* ---- certificate vs report ------------------------------------------------------------------ */

static bool all_zero(const uint8_t *b, size_t n)
{
    uint8_t acc = 0;

    for (size_t i = 0; i < n; i++)
        acc |= b[i];
    return acc == 0;
}

static void spl_check(snp_findings *f, const char *name, bool has, uint8_t cert, uint8_t rep)
{
    if (!has)
        snp_findings_add(f, SNP_REASON_TCB_MISMATCH, "certificate has no %s extension", name);
    else if (cert != rep)
        snp_findings_add(f, SNP_REASON_TCB_MISMATCH,
                         "%s: certificate %u, report reported_tcb %u", name, cert, rep);
}

void snp__cert_vs_report(const snp_report *r, const snp_cert_info *c, snp_findings *f)
{
    const snp_tcb *t = &r->reported_tcb;

    /* The VCEK/VLEK is issued for one TCB: the one the firmware reports as
     * reported_tcb (which may lag current_tcb, see docs/attestation.md). */
    spl_check(f, "blSPL", c->has_bl, c->bl_spl, t->bootloader);
    spl_check(f, "teeSPL", c->has_tee, c->tee_spl, t->tee);
    spl_check(f, "snpSPL", c->has_snp, c->snp_spl, t->snp);
    spl_check(f, "ucodeSPL", c->has_ucode, c->ucode_spl, t->microcode);
    if (r->tcb_layout == SNP_TCB_LAYOUT_TURIN)
        spl_check(f, "fmcSPL", c->has_fmc, c->fmc_spl, t->fmc);

    if (c->kind == SNP_CERT_VLEK)
        return;  /* a VLEK is per provider, not per chip: no hwID to compare */
    if (r->mask_chip_key && all_zero(r->chip_id, 64))
        return;  /* the host masked chip_id; the VCEK signature still binds the chip */
    if (!c->has_hwid)
        snp_findings_add(f, SNP_REASON_CHIP_ID_MISMATCH, "VCEK has no hwID extension");
    else if (CRYPTO_memcmp(c->hwid, r->chip_id, 64) != 0)
        snp_findings_add(f, SNP_REASON_CHIP_ID_MISMATCH,
                         "VCEK hwID differs from the report's chip_id");
}

/* ---- product and KDS ------------------------------------------------------------------------------ */

const char *snp_report_product(const snp_report *r)
{
    if (!r->has_cpuid)
        return NULL;
    if (r->cpuid_fam == 0x19 && r->cpuid_mod <= 0x0F)
        return "Milan";
    if (r->cpuid_fam == 0x19 && ((r->cpuid_mod >= 0x10 && r->cpuid_mod <= 0x1F) ||
                                 (r->cpuid_mod >= 0xA0 && r->cpuid_mod <= 0xAF)))
        return "Genoa";
    if (r->cpuid_fam == 0x1A)
        return "Turin";
    return NULL;
}

int snp_kds_vcek_path(const snp_report *r, const char *product, char *out, size_t cap,
                      ep_err *err)
{
    const snp_tcb *t = &r->reported_tcb;
    char           hwid[2 * 64 + 1];
    bool           turin;
    int            n;

    if (product == NULL)
        product = snp_report_product(r);
    if (product == NULL || (strcmp(product, "Milan") != 0 && strcmp(product, "Genoa") != 0 &&
                            strcmp(product, "Turin") != 0))
        return ep_err_set(err, SNP_EINVAL, "kds path: unknown product %s", product ? product : "(none)");
    if (all_zero(r->chip_id, 64))
        return ep_err_set(err, SNP_EINVAL, "kds path: chip_id is masked or zero (VLEK?)");
    turin = strcmp(product, "Turin") == 0;
    snp_hex(r->chip_id, turin ? 8 : 64, hwid);
    if (turin)
        n = snprintf(out, cap, "/vcek/v1/%s/%s?fmcSPL=%u&blSPL=%u&teeSPL=%u&snpSPL=%u&ucodeSPL=%u",
                     product, hwid, t->fmc, t->bootloader, t->tee, t->snp, t->microcode);
    else
        n = snprintf(out, cap, "/vcek/v1/%s/%s?blSPL=%u&teeSPL=%u&snpSPL=%u&ucodeSPL=%u", product,
                     hwid, t->bootloader, t->tee, t->snp, t->microcode);
    if (n < 0 || (size_t)n >= cap)
        return ep_err_set(err, SNP_EINVAL, "kds path: buffer of %zu bytes too small", cap);
    return SNP_OK;
}

/* ---- claims ------------------------------------------------------------------------------------ */

void snp_hex(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static int set_hex(json_t *o, const char *key, const uint8_t *b, size_t n)
{
    char buf[2 * 64 + 1];

    snp_hex(b, n, buf);
    return json_object_set_new(o, key, json_string(buf));
}

/* u64 values as "0x..." strings: JSON integers are signed 64-bit in
 * jansson and lose precision in JavaScript consumers. */
static json_t *u64_json(uint64_t v)
{
    char buf[24];

    snprintf(buf, sizeof buf, "0x%016llx", (unsigned long long)v);
    return json_string(buf);
}

static json_t *tcb_json(const snp_tcb *t, snp_tcb_layout layout)
{
    json_t *o = json_object();

    if (o == NULL)
        return NULL;
    if (layout == SNP_TCB_LAYOUT_TURIN)
        json_object_set_new(o, "fmc", json_integer(t->fmc));
    json_object_set_new(o, "bootloader", json_integer(t->bootloader));
    json_object_set_new(o, "tee", json_integer(t->tee));
    json_object_set_new(o, "snp", json_integer(t->snp));
    json_object_set_new(o, "microcode", json_integer(t->microcode));
    json_object_set_new(o, "raw", u64_json(t->raw));
    return o;
}

static json_t *fw_json(const snp_fw_version *v)
{
    char buf[16];

    snprintf(buf, sizeof buf, "%u.%u.%u", v->major, v->minor, v->build);
    return json_string(buf);
}

json_t *snp_report_claims(const snp_report *r)
{
    json_t *c = json_object(), *pol = json_object(), *pi = json_object();
    const char *sk;

    if (c == NULL || pol == NULL || pi == NULL) {
        json_decref(c);
        json_decref(pol);
        json_decref(pi);
        return NULL;
    }
    switch (r->signing_key) {
    case SNP_SIGNING_KEY_VCEK: sk = "vcek"; break;
    case SNP_SIGNING_KEY_VLEK: sk = "vlek"; break;
    case SNP_SIGNING_KEY_NONE: sk = "none"; break;
    default: sk = "reserved"; break;
    }
    json_object_set_new(c, "version", json_integer(r->version));
    json_object_set_new(c, "guest_svn", json_integer(r->guest_svn));
    json_object_set_new(c, "vmpl", json_integer(r->vmpl));
    json_object_set_new(c, "signature_algo", json_integer(r->sig_algo));
    json_object_set_new(c, "signing_key", json_string(sk));
    json_object_set_new(c, "author_key_en", json_boolean(r->author_key_en));
    json_object_set_new(c, "mask_chip_key", json_boolean(r->mask_chip_key));

    json_object_set_new(pol, "raw", u64_json(r->policy.raw));
    json_object_set_new(pol, "abi_major", json_integer(r->policy.abi_major));
    json_object_set_new(pol, "abi_minor", json_integer(r->policy.abi_minor));
    json_object_set_new(pol, "smt", json_boolean(r->policy.smt));
    json_object_set_new(pol, "migrate_ma", json_boolean(r->policy.migrate_ma));
    json_object_set_new(pol, "debug", json_boolean(r->policy.debug));
    json_object_set_new(pol, "single_socket", json_boolean(r->policy.single_socket));
    json_object_set_new(pol, "cxl_allow", json_boolean(r->policy.cxl_allow));
    json_object_set_new(pol, "mem_aes_256_xts", json_boolean(r->policy.mem_aes_256_xts));
    json_object_set_new(pol, "rapl_dis", json_boolean(r->policy.rapl_dis));
    json_object_set_new(pol, "ciphertext_hiding", json_boolean(r->policy.ciphertext_hiding));
    json_object_set_new(pol, "page_swap_disable", json_boolean(r->policy.page_swap_disable));
    json_object_set_new(c, "policy", pol);

    json_object_set_new(pi, "raw", u64_json(r->platform_info.raw));
    json_object_set_new(pi, "smt_en", json_boolean(r->platform_info.smt_en));
    json_object_set_new(pi, "tsme_en", json_boolean(r->platform_info.tsme_en));
    json_object_set_new(pi, "ecc_en", json_boolean(r->platform_info.ecc_en));
    json_object_set_new(pi, "rapl_dis", json_boolean(r->platform_info.rapl_dis));
    json_object_set_new(pi, "ciphertext_hiding_en",
                        json_boolean(r->platform_info.ciphertext_hiding_en));
    json_object_set_new(pi, "alias_check_complete",
                        json_boolean(r->platform_info.alias_check_complete));
    json_object_set_new(c, "platform_info", pi);

    set_hex(c, "measurement", r->measurement, 48);
    set_hex(c, "report_data", r->report_data, 64);
    set_hex(c, "host_data", r->host_data, 32);
    set_hex(c, "chip_id", r->chip_id, 64);
    set_hex(c, "family_id", r->family_id, 16);
    set_hex(c, "image_id", r->image_id, 16);
    set_hex(c, "id_key_digest", r->id_key_digest, 48);
    set_hex(c, "author_key_digest", r->author_key_digest, 48);
    set_hex(c, "report_id", r->report_id, 32);
    set_hex(c, "report_id_ma", r->report_id_ma, 32);
    json_object_set_new(c, "tcb_layout", json_string(r->tcb_layout == SNP_TCB_LAYOUT_TURIN
                                                         ? "turin" : "milan_genoa"));
    json_object_set_new(c, "reported_tcb", tcb_json(&r->reported_tcb, r->tcb_layout));
    json_object_set_new(c, "current_tcb", tcb_json(&r->current_tcb, r->tcb_layout));
    json_object_set_new(c, "committed_tcb", tcb_json(&r->committed_tcb, r->tcb_layout));
    json_object_set_new(c, "launch_tcb", tcb_json(&r->launch_tcb, r->tcb_layout));
    json_object_set_new(c, "current_firmware", fw_json(&r->current_fw));
    json_object_set_new(c, "committed_firmware", fw_json(&r->committed_fw));
    if (snp_report_product(r) != NULL)
        json_object_set_new(c, "product", json_string(snp_report_product(r)));
    if (r->has_cpuid) {
        json_t *cpuid = json_object();
        json_object_set_new(cpuid, "family", json_integer(r->cpuid_fam));
        json_object_set_new(cpuid, "model", json_integer(r->cpuid_mod));
        json_object_set_new(cpuid, "stepping", json_integer(r->cpuid_step));
        json_object_set_new(c, "cpuid", cpuid);
    }
    if (r->has_mit_vectors) {
        json_object_set_new(c, "launch_mit_vector", u64_json(r->launch_mit_vector));
        json_object_set_new(c, "current_mit_vector", u64_json(r->current_mit_vector));
    }
    return c;
}
