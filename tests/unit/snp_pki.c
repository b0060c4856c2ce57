/*
 * snp_pki.c: the throw-away AMD-like PKI and report builder of snp_pki.h.
 * Test helper: failures return NULL/-1 and the tests assert on that.
 */
#include "snp_pki.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

EVP_PKEY *snp_test_rsa_key(void)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
}

EVP_PKEY *snp_test_ec_key(void)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
}

static int add_ext_der(X509 *x, const char *oid, const unsigned char *der, int len)
{
    ASN1_OBJECT       *obj = OBJ_txt2obj(oid, 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    X509_EXTENSION    *ext = NULL;
    int                ok = -1;

    if (obj != NULL && os != NULL && ASN1_OCTET_STRING_set(os, der, len) == 1 &&
        (ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os)) != NULL &&
        X509_add_ext(x, ext, -1) == 1)
        ok = 0;
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(obj);
    return ok;
}

static int add_int_ext(X509 *x, const char *oid, long v)
{
    ASN1_INTEGER  *i = ASN1_INTEGER_new();
    unsigned char *der = NULL;
    int            len = -1, rc = -1;

    if (i != NULL && ASN1_INTEGER_set(i, v) == 1)
        len = i2d_ASN1_INTEGER(i, &der);
    if (len > 0)
        rc = add_ext_der(x, oid, der, len);
    OPENSSL_free(der);
    ASN1_INTEGER_free(i);
    return rc;
}

static int add_str_ext(X509 *x, const char *oid, const char *s)
{
    ASN1_IA5STRING *str = ASN1_IA5STRING_new();
    unsigned char  *der = NULL;
    int             len = -1, rc = -1;

    if (str != NULL && ASN1_STRING_set(str, s, (int)strlen(s)) == 1)
        len = i2d_ASN1_IA5STRING(str, &der);
    if (len > 0)
        rc = add_ext_der(x, oid, der, len);
    OPENSSL_free(der);
    ASN1_IA5STRING_free(str);
    return rc;
}

static int add_amd_exts(X509 *x, const snp_test_ext *e)
{
    int rc = 0;

    rc |= add_str_ext(x, "1.3.6.1.4.1.3704.1.2", e->product ? e->product : "Milan");
    rc |= add_int_ext(x, "1.3.6.1.4.1.3704.1.3.1", e->bl);
    rc |= add_int_ext(x, "1.3.6.1.4.1.3704.1.3.2", e->tee);
    rc |= add_int_ext(x, "1.3.6.1.4.1.3704.1.3.3", e->snp);
    rc |= add_int_ext(x, "1.3.6.1.4.1.3704.1.3.8", e->ucode);
    if (e->has_fmc)
        rc |= add_int_ext(x, "1.3.6.1.4.1.3704.1.3.9", e->fmc);
    if (!e->no_hwid) {
        if (e->hwid_wrapped) {
            unsigned char der[66] = {0x04, 64};
            memcpy(der + 2, e->hwid, 64);
            rc |= add_ext_der(x, "1.3.6.1.4.1.3704.1.4", der, 66);
        } else {
            rc |= add_ext_der(x, "1.3.6.1.4.1.3704.1.4", e->hwid, 64);
        }
    }
    if (e->csp_id != NULL)
        rc |= add_str_ext(x, "1.3.6.1.4.1.3704.1.5", e->csp_id);
    return rc;
}

/* RSA-PSS with SHA-384, MGF1-SHA-384 and a 48-byte salt, as AMD signs. */
static EVP_MD_CTX *pss_ctx(EVP_PKEY *key)
{
    EVP_MD_CTX   *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;

    if (md == NULL || EVP_DigestSignInit(md, &pctx, EVP_sha384(), NULL, key) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 48) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha384()) != 1) {
        EVP_MD_CTX_free(md);
        return NULL;
    }
    return md;
}

static X509_NAME *amd_name(const char *cn)
{
    X509_NAME *n = X509_NAME_new();

    if (n == NULL)
        return NULL;
    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"Advanced Micro Devices",
                               -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    return n;
}

X509 *snp_test_cert(const char *cn, EVP_PKEY *key, const char *issuer_cn, EVP_PKEY *issuer_key,
                    int64_t nb, int64_t na, bool ca, const snp_test_ext *ext)
{
    X509           *x = X509_new();
    X509_NAME      *subj = amd_name(cn), *iss = amd_name(issuer_cn);
    X509_EXTENSION *e;
    EVP_MD_CTX     *md = NULL;
    bool            ok = false;

    if (x == NULL || subj == NULL || iss == NULL)
        goto out;
    X509_set_version(x, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 0);
    X509_set_subject_name(x, subj);
    X509_set_issuer_name(x, iss);
    if (ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb) == NULL ||
        ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na) == NULL || X509_set_pubkey(x, key) != 1)
        goto out;
    if (ca) {
        e = X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints, "critical,CA:TRUE");
        if (e == NULL || X509_add_ext(x, e, -1) != 1)
            goto out;
        X509_EXTENSION_free(e);
        e = X509V3_EXT_conf_nid(NULL, NULL, NID_key_usage, "critical,keyCertSign,cRLSign");
        if (e == NULL || X509_add_ext(x, e, -1) != 1)
            goto out;
        X509_EXTENSION_free(e);
    }
    if (ext != NULL && add_amd_exts(x, ext) != 0)
        goto out;
    if ((md = pss_ctx(issuer_key)) == NULL || X509_sign_ctx(x, md) <= 0)
        goto out;
    ok = true;
out:
    EVP_MD_CTX_free(md);
    X509_NAME_free(subj);
    X509_NAME_free(iss);
    if (!ok) {
        X509_free(x);
        x = NULL;
    }
    return x;
}

X509_CRL *snp_test_crl(X509 *issuer, EVP_PKEY *issuer_key, X509 *revoked, int64_t last,
                       int64_t next)
{
    X509_CRL     *crl = X509_CRL_new();
    ASN1_TIME    *t1 = ASN1_TIME_set(NULL, (time_t)last), *t2 = ASN1_TIME_set(NULL, (time_t)next);
    X509_REVOKED *rev = NULL;
    EVP_MD_CTX   *md = NULL;
    bool          ok = false;

    if (crl == NULL || t1 == NULL || t2 == NULL)
        goto out;
    X509_CRL_set_version(crl, X509_CRL_VERSION_2);
    X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer));
    X509_CRL_set1_lastUpdate(crl, t1);
    X509_CRL_set1_nextUpdate(crl, t2);
    if (revoked != NULL) {
        if ((rev = X509_REVOKED_new()) == NULL ||
            X509_REVOKED_set_serialNumber(rev, X509_get_serialNumber(revoked)) != 1 ||
            X509_REVOKED_set_revocationDate(rev, t1) != 1 || X509_CRL_add0_revoked(crl, rev) != 1)
            goto out;
        rev = NULL;
    }
    X509_CRL_sort(crl);
    if ((md = pss_ctx(issuer_key)) == NULL || X509_CRL_sign_ctx(crl, md) <= 0)
        goto out;
    ok = true;
out:
    X509_REVOKED_free(rev);
    EVP_MD_CTX_free(md);
    ASN1_TIME_free(t1);
    ASN1_TIME_free(t2);
    if (!ok) {
        X509_CRL_free(crl);
        crl = NULL;
    }
    return crl;
}

uint8_t *snp_test_der(X509 *x, size_t *len)
{
    unsigned char *der = NULL;
    int            n = i2d_X509(x, &der);
    uint8_t       *out;

    if (n <= 0 || (out = malloc((size_t)n)) == NULL) {
        OPENSSL_free(der);
        return NULL;
    }
    memcpy(out, der, (size_t)n);
    OPENSSL_free(der);
    *len = (size_t)n;
    return out;
}

uint8_t *snp_test_crl_der(X509_CRL *c, size_t *len)
{
    unsigned char *der = NULL;
    int            n = i2d_X509_CRL(c, &der);
    uint8_t       *out;

    if (n <= 0 || (out = malloc((size_t)n)) == NULL) {
        OPENSSL_free(der);
        return NULL;
    }
    memcpy(out, der, (size_t)n);
    OPENSSL_free(der);
    *len = (size_t)n;
    return out;
}

uint8_t *snp_test_pem(X509 *x, size_t *len)
{
    BIO     *bio = BIO_new(BIO_s_mem());
    char    *data;
    long     n;
    uint8_t *out = NULL;

    if (bio != NULL && PEM_write_bio_X509(bio, x) == 1 && (n = BIO_get_mem_data(bio, &data)) > 0 &&
        (out = malloc((size_t)n)) != NULL) {
        memcpy(out, data, (size_t)n);
        *len = (size_t)n;
    }
    BIO_free(bio);
    return out;
}

void snp_test_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void snp_test_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t tcb_raw(const snp_test_ext *e)
{
    uint8_t b[8] = {0};

    if (e->has_fmc) {
        b[0] = e->fmc, b[1] = e->bl, b[2] = e->tee, b[3] = e->snp;
    } else {
        b[0] = e->bl, b[1] = e->tee, b[6] = e->snp;
    }
    b[7] = e->ucode;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

void snp_test_report_init(uint8_t r[1184], uint32_t version, const snp_test_ext *ext, bool vlek)
{
    uint64_t tcb = tcb_raw(ext);

    memset(r, 0, 1184);
    snp_test_put32(r + 0x00, version);
    snp_test_put64(r + 0x08, 0x30000);        /* SMT allowed, reserved bit 17 */
    snp_test_put32(r + 0x30, 0);              /* VMPL 0 */
    snp_test_put32(r + 0x34, 1);              /* ECDSA P-384 with SHA-384 */
    snp_test_put64(r + 0x38, tcb);            /* current_tcb */
    snp_test_put64(r + 0x40, 0x5);            /* SMT_EN, ECC_EN */
    snp_test_put32(r + 0x48, vlek ? 1u << 2 : 0);
    memset(r + 0x90, 0x11, 48);               /* measurement */
    memset(r + 0xC0, 0x22, 32);               /* host_data */
    memset(r + 0x140, 0x33, 32);              /* report_id */
    snp_test_put64(r + 0x180, tcb);           /* reported_tcb */
    if (version >= 3) {
        r[0x188] = ext->has_fmc ? 0x1A : 0x19;
        r[0x189] = ext->has_fmc ? 0x02 : 0x01;
        r[0x18A] = 1;
    }
    if (!vlek)
        memcpy(r + 0x1A0, ext->hwid, 64);
    snp_test_put64(r + 0x1E0, tcb);           /* committed_tcb */
    r[0x1E8] = 4, r[0x1E9] = 52, r[0x1EA] = 1;  /* current fw 1.52.4 */
    r[0x1EC] = 4, r[0x1ED] = 52, r[0x1EE] = 1;
    snp_test_put64(r + 0x1F0, tcb);           /* launch_tcb */
}

int snp_test_report_sign(uint8_t r[1184], EVP_PKEY *key)
{
    EVP_MD_CTX          *md = EVP_MD_CTX_new();
    unsigned char        der[128];
    size_t               n = sizeof der;
    const unsigned char *p = der;
    ECDSA_SIG           *sig = NULL;
    const BIGNUM        *br, *bs;
    uint8_t              be[48];
    int                  rc = -1;

    if (md == NULL || EVP_DigestSignInit(md, NULL, EVP_sha384(), NULL, key) != 1 ||
        EVP_DigestSign(md, der, &n, r, 0x2A0) != 1 || (sig = d2i_ECDSA_SIG(NULL, &p, (long)n)) == NULL)
        goto out;
    ECDSA_SIG_get0(sig, &br, &bs);
    memset(r + 0x2A0, 0, 0x200);
    if (BN_bn2binpad(br, be, 48) != 48)
        goto out;
    for (int i = 0; i < 48; i++)
        r[0x2A0 + i] = be[47 - i];
    if (BN_bn2binpad(bs, be, 48) != 48)
        goto out;
    for (int i = 0; i < 48; i++)
        r[0x2E8 + i] = be[47 - i];
    rc = 0;
out:
    ECDSA_SIG_free(sig);
    EVP_MD_CTX_free(md);
    return rc;
}
