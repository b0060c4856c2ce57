/*
 * snp_pki.h: a throw-away AMD-like PKI for the snp tests.
 *
 * Generates an ARK and ASK (RSA, certificates signed with RSA-PSS/SHA-384
 * like AMD's), a VCEK or VLEK (EC P-384) carrying AMD's TCB and hwID
 * extensions, CRLs, and attestation reports in the real binary layout
 * signed with the leaf key.  Linked into every unit test, so it is small
 * and every symbol starts with snp_test_.
 */
#ifndef EP_TEST_SNP_PKI_H
#define EP_TEST_SNP_PKI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* What goes into a leaf certificate's AMD extensions. */
typedef struct snp_test_ext {
    uint8_t     bl, tee, snp, ucode, fmc;
    bool        has_fmc;        /* add fmcSPL (Turin) */
    bool        no_hwid;        /* omit hwID (VLEK) */
    bool        hwid_wrapped;   /* encode hwID as an OCTET STRING, not raw */
    uint8_t     hwid[64];
    const char *product;        /* productName, NULL = "Milan" */
    const char *csp_id;         /* cspID (VLEK), NULL = none */
} snp_test_ext;

/* New RSA-2048 (fast to generate; AMD uses 4096) or EC P-384 key. */
EVP_PKEY *snp_test_rsa_key(void);
EVP_PKEY *snp_test_ec_key(void);

/* New certificate for `key` named CN=cn, issued by issuer_cn and signed
 * with issuer_key (RSA-PSS, SHA-384, salt 48), serial 0 like AMD's, valid
 * [nb, na].  ca adds basicConstraints CA:TRUE and keyUsage; ext (may be
 * NULL) adds AMD's extensions. */
X509 *snp_test_cert(const char *cn, EVP_PKEY *key, const char *issuer_cn, EVP_PKEY *issuer_key,
                    int64_t nb, int64_t na, bool ca, const snp_test_ext *ext);

/* New CRL by issuer (signed like the certificates), revoking `revoked`
 * (NULL = none), thisUpdate last, nextUpdate next. */
X509_CRL *snp_test_crl(X509 *issuer, EVP_PKEY *issuer_key, X509 *revoked, int64_t last,
                       int64_t next);

/* DER / PEM encodings into malloc'd buffers (caller frees). */
uint8_t *snp_test_der(X509 *x, size_t *len);
uint8_t *snp_test_pem(X509 *x, size_t *len);
uint8_t *snp_test_crl_der(X509_CRL *c, size_t *len);

/* Fill a 1184-byte report: version, sig algo 1, policy 0x30000 (SMT
 * allowed, debug off), VMPL 0, signing key selector from vlek, TCBs from
 * ext (Milan/Genoa layout, or Turin with CPUID family 0x1A when
 * ext->has_fmc), chip_id from ext->hwid, a recognisable measurement
 * (0x11...), host_data (0x22...). */
void snp_test_report_init(uint8_t r[1184], uint32_t version, const snp_test_ext *ext, bool vlek);

/* Little-endian stores, for tests that change a field before signing. */
void snp_test_put32(uint8_t *p, uint32_t v);
void snp_test_put64(uint8_t *p, uint64_t v);

/* Sign bytes 0..0x29F with the P-384 key and store r and s as 72-byte
 * little-endian values at 0x2A0 and 0x2E8.  Returns 0 on success. */
int snp_test_report_sign(uint8_t r[1184], EVP_PKEY *key);

#endif
