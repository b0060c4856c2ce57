/*
 * snp_internal.h: helpers shared by the files of libs/snp, not part of the
 * contract.
 */
#ifndef EP_SNP_INTERNAL_H
#define EP_SNP_INTERNAL_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "snp/snp.h"

/* Read a certificate from DER or the first PEM block.  New reference. */
X509 *snp__x509_read(const uint8_t *buf, size_t len);

/* Fill `info` from an already parsed certificate. */
int snp__cert_info(X509 *x, snp_cert_info *info, ep_err *err);

/* Convert an ASN1_TIME to Unix seconds; false if unparsable. */
bool snp__asn1_time(const ASN1_TIME *t, int64_t *out);

/* Verify the report's ECDSA P-384/SHA-384 signature with `key`.  Returns 1
 * valid, 0 invalid (detail written), -1 on an OpenSSL failure. */
int snp__report_verify_sig(const snp_report *r, EVP_PKEY *key, const EVP_MD *sha384,
                           char *detail, size_t n);

/* Compare the certificate's TCB/hwID extensions with the report. */
void snp__cert_vs_report(const snp_report *r, const snp_cert_info *c, snp_findings *f);

#endif
