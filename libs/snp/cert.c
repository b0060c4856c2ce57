/*
 * cert.c: reading AMD's VCEK/VLEK certificates and their extensions.
 *
 * AMD puts the TCB a VCEK/VLEK was issued for into private extensions under
 * 1.3.6.1.4.1.3704.1: .2 productName (IA5String), .3.1 blSPL, .3.2 teeSPL,
 * .3.3 snpSPL, .3.8 ucodeSPL, .3.9 fmcSPL (Turin), each a DER INTEGER, .4
 * hwID and .5 cspID (VLEK).  The hwID extension of real VCEKs holds the 64
 * chip-id bytes raw as the extnValue, not wrapped in an OCTET STRING; we
 * accept both forms and record which one we saw.  AMD's certificates have
 * serial number 0, which OpenSSL accepts and so do we.
 */
#include "snp/snp_internal.h"

#include <limits.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

X509 *snp__x509_read(const uint8_t *buf, size_t len)
{
    X509                *x = NULL;
    BIO                 *bio;
    const unsigned char *p = buf;

    if (buf == NULL || len == 0 || len > INT_MAX)
        return NULL;
    if (buf[0] == 0x30) {
        x = d2i_X509(NULL, &p, (long)len);
    } else {
        bio = BIO_new_mem_buf(buf, (int)len);
        if (bio != NULL)
            x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        BIO_free(bio);
    }
    /* Leave no parse errors on this thread's OpenSSL error queue: callers
     * report through ep_err, and stale entries would confuse later calls. */
    ERR_clear_error();
    return x;
}

bool snp__asn1_time(const ASN1_TIME *t, int64_t *out)
{
    struct tm tm;

    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return false;
    *out = (int64_t)timegm(&tm);
    return true;
}

/* A DER INTEGER in 0..255 (the SPL extensions). */
static bool der_spl(const ASN1_OCTET_STRING *v, uint8_t *out)
{
    const unsigned char *p = ASN1_STRING_get0_data(v);
    long                 n = ASN1_STRING_length(v);
    ASN1_INTEGER        *i = d2i_ASN1_INTEGER(NULL, &p, n);
    int64_t              val;
    bool                 ok;

    ok = i != NULL && p == ASN1_STRING_get0_data(v) + n && ASN1_INTEGER_get_int64(&val, i) == 1 &&
         val >= 0 && val <= 255;
    if (ok)
        *out = (uint8_t)val;
    ASN1_INTEGER_free(i);
    return ok;
}

/* A DER string (IA5String, UTF8String or PrintableString) into out. */
static bool der_text(const ASN1_OCTET_STRING *v, char *out, size_t cap)
{
    const unsigned char *p = ASN1_STRING_get0_data(v);
    long                 n = ASN1_STRING_length(v);
    ASN1_TYPE           *t = d2i_ASN1_TYPE(NULL, &p, n);
    bool                 ok = false;
    int                  len;

    if (t == NULL || p != ASN1_STRING_get0_data(v) + n)
        goto out;
    if (t->type != V_ASN1_IA5STRING && t->type != V_ASN1_UTF8STRING &&
        t->type != V_ASN1_PRINTABLESTRING)
        goto out;
    len = ASN1_STRING_length(t->value.asn1_string);
    if (len < 0 || (size_t)len >= cap)
        goto out;
    memcpy(out, ASN1_STRING_get0_data(t->value.asn1_string), (size_t)len);
    out[len] = '\0';
    ok = memchr(out, '\0', (size_t)len) == NULL;
out:
    ASN1_TYPE_free(t);
    return ok;
}

/* hwID: 64 raw bytes (what AMD's KDS issues) or an OCTET STRING of 64. */
static bool hwid_value(const ASN1_OCTET_STRING *v, uint8_t out[64], bool *wrapped)
{
    const unsigned char *p = ASN1_STRING_get0_data(v);
    long                 n = ASN1_STRING_length(v);
    ASN1_OCTET_STRING   *o;
    bool                 ok;

    if (n == 64) {
        memcpy(out, p, 64);
        *wrapped = false;
        return true;
    }
    o = d2i_ASN1_OCTET_STRING(NULL, &p, n);
    ok = o != NULL && p == ASN1_STRING_get0_data(v) + n && ASN1_STRING_length(o) == 64;
    if (ok) {
        memcpy(out, ASN1_STRING_get0_data(o), 64);
        *wrapped = true;
    }
    ASN1_OCTET_STRING_free(o);
    return ok;
}

static void name_cn(const X509_NAME *name, char *out, size_t cap)
{
    int              i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    const ASN1_STRING *s;
    int              len;

    out[0] = '\0';
    if (i < 0)
        return;
    s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    len = ASN1_STRING_length(s);
    if (len < 0 || (size_t)len >= cap)
        return;
    memcpy(out, ASN1_STRING_get0_data(s), (size_t)len);
    out[len] = '\0';
}

int snp__cert_info(X509 *x, snp_cert_info *info, ep_err *err)
{
    unsigned int fplen = 0;
    char         oid[64];
    int          next;

    memset(info, 0, sizeof *info);
    if (X509_digest(x, EVP_sha256(), info->fingerprint, &fplen) != 1 || fplen != 32)
        return ep_err_set(err, SNP_ECRYPTO, "certificate: SHA-256 fingerprint failed");
    name_cn(X509_get_subject_name(x), info->subject_cn, sizeof info->subject_cn);
    name_cn(X509_get_issuer_name(x), info->issuer_cn, sizeof info->issuer_cn);
    if (strcmp(info->subject_cn, "SEV-VCEK") == 0)
        info->kind = SNP_CERT_VCEK;
    else if (strcmp(info->subject_cn, "SEV-VLEK") == 0)
        info->kind = SNP_CERT_VLEK;
    if (!snp__asn1_time(X509_get0_notBefore(x), &info->not_before) ||
        !snp__asn1_time(X509_get0_notAfter(x), &info->not_after))
        return ep_err_set(err, SNP_EPARSE, "certificate %s: unreadable validity dates",
                          info->subject_cn);

    for (int i = 0; i < X509_get_ext_count(x); i++) {
        X509_EXTENSION          *ext = X509_get_ext(x, i);
        const ASN1_OCTET_STRING *val = X509_EXTENSION_get_data(ext);
        bool                    *has = NULL, ok = true;
        uint8_t                 *spl = NULL;

        if (OBJ_obj2txt(oid, sizeof oid, X509_EXTENSION_get_object(ext), 1) <= 0)
            continue;
        if (strncmp(oid, "1.3.6.1.4.1.3704.1.", 19) != 0)
            continue;
        next = 0;
        if (strcmp(oid, "1.3.6.1.4.1.3704.1.2") == 0) {
            ok = der_text(val, info->product_name, sizeof info->product_name);
        } else if (strcmp(oid, "1.3.6.1.4.1.3704.1.3.1") == 0) {
            has = &info->has_bl, spl = &info->bl_spl;
        } else if (strcmp(oid, "1.3.6.1.4.1.3704.1.3.2") == 0) {
            has = &info->has_tee, spl = &info->tee_spl;
        } else if (strcmp(oid, "1.3.6.1.4.1.3704.1.3.3") == 0) {
            has = &info->has_snp, spl = &info->snp_spl;
        } else if (strcmp(oid, "1.3.6.1.4.1.3704.1.3.8") == 0) {
            has = &info->has_ucode, spl = &info->ucode_spl;
        } else if (strcmp(oid, "1.3.6.1.4.1.3704.1.3.9") == 0) {
            has = &info->has_fmc, spl = &info->fmc_spl;
        } else if (strcmp(oid, "1.3.6.1.4.1.3704.1.4") == 0) {
            if (info->has_hwid)
                return ep_err_set(err, SNP_EPARSE, "certificate %s: duplicate hwID",
                                  info->subject_cn);
            ok = info->has_hwid = hwid_value(val, info->hwid, &info->hwid_wrapped);
        } else if (strcmp(oid, "1.3.6.1.4.1.3704.1.5") == 0) {
            ok = der_text(val, info->csp_id, sizeof info->csp_id);
        } else {
            next = 1;  /* structVersion (.1) and reserved SPLs (.3.4-.3.7) */
        }
        if (next)
            continue;
        if (has != NULL) {
            if (*has)
                return ep_err_set(err, SNP_EPARSE, "certificate %s: duplicate extension %s",
                                  info->subject_cn, oid);
            ok = *has = der_spl(val, spl);
        }
        if (!ok)
            return ep_err_set(err, SNP_EPARSE, "certificate %s: malformed AMD extension %s",
                              info->subject_cn, oid);
    }
    if (info->kind == SNP_CERT_UNKNOWN)
        info->kind = info->has_hwid ? SNP_CERT_VCEK
                     : info->csp_id[0] != '\0' ? SNP_CERT_VLEK : SNP_CERT_UNKNOWN;
    return SNP_OK;
}

int snp_cert_parse(const uint8_t *buf, size_t len, snp_cert_info *info, ep_err *err)
{
    X509 *x;
    int   rc;

    if (buf == NULL || info == NULL)
        return ep_err_set(err, SNP_EINVAL, "certificate: NULL argument");
    x = snp__x509_read(buf, len);
    if (x == NULL)
        return ep_err_set(err, SNP_EPARSE, "certificate: not a DER or PEM X.509 certificate");
    rc = snp__cert_info(x, info, err);
    X509_free(x);
    return rc;
}
