/*
 * fuzz_snp: libFuzzer harness for the SEV-SNP evidence parsers, which see
 * bytes straight from the workload being attested.
 *
 * An input of at least 1184 bytes is split into a report (the first 1184)
 * and a certificate (the rest); a shorter input is taken as a certificate
 * and, zero-padded, as a report.  Each goes through snp_report_parse,
 * snp_report_claims, snp_cert_parse, snp_refvals_parse (the input as
 * reference-value JSON), the reference checks, and the whole
 * snp_verifier_verify path (without trust anchors, so the chain always
 * fails, but leaf parsing, extension reading and the signature code run).
 * Invariants: a parsed report's decoded fields agree with its raw bytes,
 * and findings never overflow.
 *
 * Build with clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Ilibs
 * from this file and the .c files of libs/snp and libs/err, linking
 * -lssl -lcrypto -ljansson -lpthread; run it on a copy of
 * tests/fuzz/corpus/snp with -max_total_time=120.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snp/snp.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static snp_verifier *verifier;
static snp_result    result;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    verifier = snp_verifier_create(8, NULL);
    return verifier == NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t        report[SNP_REPORT_SIZE] = {0};
    const uint8_t *cert = data;
    size_t         cert_len = size;
    snp_report     r;
    snp_cert_info  ci;
    snp_findings   f = {0};
    snp_reference  ref = {0};
    json_t        *claims;
    const char    *images[] = {"sha256:00"};

    if (size >= SNP_REPORT_SIZE) {
        memcpy(report, data, SNP_REPORT_SIZE);
        cert = data + SNP_REPORT_SIZE;
        cert_len = size - SNP_REPORT_SIZE;
    } else {
        memcpy(report, data, size);
    }

    /* The exact-size check on the raw input. */
    snp_report_parse(data, size, &r, &f, NULL);

    snp_findings_clear(&f);
    snp_report_parse(report, sizeof report, &r, &f, NULL);
    if (r.reported_tcb.microcode != report[0x187] || r.vmpl != (uint32_t)(report[0x30] |
        report[0x31] << 8 | (uint32_t)report[0x32] << 16 | (uint32_t)report[0x33] << 24))
        abort();
    claims = snp_report_claims(&r);
    if (claims == NULL)
        abort();
    json_decref(claims);
    snp_reference_check(&r, &ref, images, 1, &f);
    if (f.n > SNP_FINDINGS_MAX)
        abort();

    if (snp_cert_parse(cert, cert_len, &ci, NULL) == SNP_OK &&
        (ci.product_name[sizeof ci.product_name - 1] != '\0' ||
         ci.csp_id[sizeof ci.csp_id - 1] != '\0'))
        abort();

    {
        snp_refvals *rv = snp_refvals_parse((const char *)data, size, NULL);
        if (rv != NULL) {
            snp_findings_clear(&f);
            snp_reference_check(&r, snp_refvals_get(rv), images, 1, &f);
            snp_refvals_destroy(rv);
        }
    }

    snp_verifier_verify(verifier, report, sizeof report, cert, cert_len, 0, &result, NULL);
    if (result.findings.n > SNP_FINDINGS_MAX)
        abort();
    return 0;
}
