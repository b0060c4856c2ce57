/*
 * reference.c: appraisal of a verified report against the reference values
 * of an environment/workload, the report_data binding, and snp_appraise()
 * which runs the whole pipeline for one piece of evidence.
 *
 * Digests (measurement, host_data, report_data, image digests) are compared
 * with CRYPTO_memcmp so that the time taken does not tell an attacker how
 * many leading bytes of a guess were right.
 */
#include "snp/snp_internal.h"

#include <string.h>

#include <openssl/crypto.h>

void snp_policy_check(const snp_report *r, const snp_reference *ref, snp_findings *out)
{
    const snp_policy *p = &r->policy;
    uint64_t          bad;

    if (r->vmpl > ref->max_vmpl)
        snp_findings_add(out, SNP_REASON_VMPL, "report VMPL %u, highest allowed %u", r->vmpl,
                         ref->max_vmpl);
    if (p->debug && !ref->allow_debug)
        snp_findings_add(out, SNP_REASON_DEBUG, "guest policy 0x%llx has DEBUG (bit 19) set",
                         (unsigned long long)p->raw);
    if (p->migrate_ma && !ref->allow_migrate_ma)
        snp_findings_add(out, SNP_REASON_MIGRATE_MA,
                         "guest policy 0x%llx has MIGRATE_MA (bit 18) set",
                         (unsigned long long)p->raw);
    if (p->smt && !ref->allow_smt)
        snp_findings_add(out, SNP_REASON_SMT, "guest policy 0x%llx has SMT (bit 16) set",
                         (unsigned long long)p->raw);
    bad = p->raw & ref->forbidden_policy_bits;
    if (bad != 0)
        snp_findings_add(out, SNP_REASON_POLICY, "guest policy has forbidden bits 0x%llx",
                         (unsigned long long)bad);
    if (p->abi_major < ref->min_abi_major ||
        (p->abi_major == ref->min_abi_major && p->abi_minor < ref->min_abi_minor))
        snp_findings_add(out, SNP_REASON_POLICY, "guest policy ABI %u.%u below minimum %u.%u",
                         p->abi_major, p->abi_minor, ref->min_abi_major, ref->min_abi_minor);
}

static void tcb_floor(snp_findings *out, const char *name, uint8_t have, uint8_t min)
{
    if (have < min)
        snp_findings_add(out, SNP_REASON_MIN_TCB, "reported_tcb %s SVN %u below minimum %u",
                         name, have, min);
}

static bool image_allowed(const char *digest, const snp_reference *ref)
{
    size_t n = strlen(digest);
    bool   found = false;

    /* Walk the whole list, so the time does not depend on the position. */
    for (size_t i = 0; i < ref->n_allowed_image_digests; i++) {
        const char *a = ref->allowed_image_digests[i];
        if (a != NULL && strlen(a) == n && CRYPTO_memcmp(a, digest, n) == 0)
            found = true;
    }
    return found;
}

void snp_reference_check(const snp_report *r, const snp_reference *ref,
                         const char *const *image_digests, size_t n_images,
                         snp_findings *out)
{
    bool measured = false;
    char hex[2 * 48 + 1];

    snp_policy_check(r, ref, out);

    for (size_t i = 0; i < ref->n_measurements; i++)
        if (CRYPTO_memcmp(ref->measurements[i], r->measurement, 48) == 0)
            measured = true;
    if (!measured) {
        snp_hex(r->measurement, 48, hex);
        snp_findings_add(out, SNP_REASON_MEASUREMENT, "measurement %.24s... is not among %zu reference values",
                         hex, ref->n_measurements);
    }
    if (ref->check_host_data && CRYPTO_memcmp(ref->host_data, r->host_data, 32) != 0)
        snp_findings_add(out, SNP_REASON_HOST_DATA, "host_data differs from the reference");

    if (r->tcb_layout == SNP_TCB_LAYOUT_TURIN)
        tcb_floor(out, "fmc", r->reported_tcb.fmc, ref->min_tcb.fmc);
    tcb_floor(out, "bootloader", r->reported_tcb.bootloader, ref->min_tcb.bootloader);
    tcb_floor(out, "tee", r->reported_tcb.tee, ref->min_tcb.tee);
    tcb_floor(out, "snp", r->reported_tcb.snp, ref->min_tcb.snp);
    tcb_floor(out, "microcode", r->reported_tcb.microcode, ref->min_tcb.microcode);

    if (ref->check_id_key_digest && CRYPTO_memcmp(ref->id_key_digest, r->id_key_digest, 48) != 0)
        snp_findings_add(out, SNP_REASON_ID_KEY, "id_key_digest differs from the reference");
    if (r->guest_svn < ref->min_guest_svn)
        snp_findings_add(out, SNP_REASON_GUEST_SVN, "guest_svn %u below minimum %u", r->guest_svn,
                         ref->min_guest_svn);

    if (ref->check_report_data &&
        CRYPTO_memcmp(ref->expected_report_data, r->report_data, 64) != 0)
        snp_findings_add(out, SNP_REASON_REPORT_DATA, "report_data differs from the expected value");

    for (size_t i = 0; i < n_images; i++) {
        if (image_digests[i] == NULL || !image_allowed(image_digests[i], ref))
            snp_findings_add(out, SNP_REASON_IMAGE_DIGEST, "image %.100s is not allowed",
                             image_digests[i] ? image_digests[i] : "(null)");
    }
}

int snp_report_data_binding(const uint8_t *nonce, size_t nonce_len,
                            const uint8_t *pubkey, size_t pubkey_len,
                            uint8_t out[64], ep_err *err)
{
    EVP_MD_CTX  *md = EVP_MD_CTX_new();
    unsigned int n = 0;
    int          rc = SNP_OK;

    if ((nonce == NULL && nonce_len) || (pubkey == NULL && pubkey_len))
        rc = ep_err_set(err, SNP_EINVAL, "report_data binding: NULL input");
    else if (md == NULL || EVP_DigestInit_ex(md, EVP_sha512(), NULL) != 1 ||
             EVP_DigestUpdate(md, nonce, nonce_len) != 1 ||
             EVP_DigestUpdate(md, pubkey, pubkey_len) != 1 ||
             EVP_DigestFinal_ex(md, out, &n) != 1 || n != 64)
        rc = ep_err_set(err, SNP_ECRYPTO, "report_data binding: SHA-512 failed");
    EVP_MD_CTX_free(md);
    return rc;
}

int snp_appraise(snp_verifier *v, const snp_nonce_consumer *nonces, const snp_evidence *ev,
                 const snp_reference *ref, snp_result *out, ep_err *err)
{
    snp_reference eff;
    int           rc;

    if (v == NULL || ev == NULL || ref == NULL || out == NULL)
        return ep_err_set(err, SNP_EINVAL, "snp appraise: NULL argument");
    rc = snp_verifier_verify(v, ev->report, ev->report_len, ev->cert, ev->cert_len, ev->at,
                             out, NULL);
    if (rc != SNP_OK && rc != SNP_EREJECTED)
        return ep_err_set(err, rc, "snp appraise: %s", snp_strstatus(rc));
    if (!out->report_parsed)
        goto done;

    eff = *ref;
    if (ev->nonce != NULL) {
        /* The expected report_data is computed here, so a caller cannot
         * forget the binding when it supplies a nonce. */
        rc = snp_report_data_binding(ev->nonce, ev->nonce_len, ev->workload_key,
                                     ev->workload_key_len, eff.expected_report_data, err);
        if (rc != SNP_OK)
            return rc;
        eff.check_report_data = true;
        if (nonces != NULL && nonces->consume != NULL && snp_findings_count_evidence(&out->findings) == 0 &&
            CRYPTO_memcmp(eff.expected_report_data, out->report.report_data, 64) == 0) {
            switch (nonces->consume(nonces->ud, ev->nonce, ev->nonce_len)) {
            case SNP_NONCE_OK: break;
            case SNP_NONCE_UNKNOWN:
                snp_findings_add(&out->findings, SNP_REASON_NONCE_UNKNOWN, "nonce was not issued here");
                break;
            case SNP_NONCE_REPLAYED:
                snp_findings_add(&out->findings, SNP_REASON_NONCE_REPLAYED, "nonce was already used");
                break;
            case SNP_NONCE_EXPIRED:
                snp_findings_add(&out->findings, SNP_REASON_NONCE_EXPIRED, "nonce has expired");
                break;
            }
        }
    }
    snp_reference_check(&out->report, &eff, ev->image_digests, ev->n_image_digests,
                        &out->findings);
done:
    if (out->findings.n > 0)
        return ep_err_set(err, SNP_EREJECTED, "snp evidence rejected: %s: %s",
                          snp_reason_name(out->findings.v[0].reason), out->findings.v[0].detail);
    return SNP_OK;
}
