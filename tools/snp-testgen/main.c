/*
 * snp-testgen: TEST TOOLING ONLY -- fake AMD SEV-SNP evidence for the
 * end-to-end tests.  It signs reports with a generated chip key that no
 * real AMD root vouches for; an attester trusts it only when given the
 * generated ark.pem as its --ark-file.
 *
 *   snp-testgen pki DIR
 *       writes DIR/ark.pem, ask.pem (RSA, RSA-PSS signed like AMD's), vcek.pem,
 *       vcek.der and vcek-key.pem (EC P-384, AMD TCB and hwID extensions),
 *       valid from a day ago for 30 days
 *   snp-testgen report DIR REPORT_DATA_HEX [--policy HEX] [--measurement HEX] > report.bin
 *       a 1184-byte version-3 report, measurement 0x11 x 48 unless given,
 *       signed with DIR/vcek-key.pem
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>

#include "../../tests/unit/snp_pki.h"

static snp_test_ext the_ext(void)
{
    snp_test_ext e = { .bl = 3, .tee = 0, .snp = 8, .ucode = 115 };

    memset(e.hwid, 0xab, sizeof e.hwid);
    return e;
}

static int write_file(const char *dir, const char *name, const uint8_t *b, size_t n)
{
    char  path[4096];
    FILE *f;
    int   ok;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    if ((f = fopen(path, "wb")) == NULL) {
        perror(path);
        return -1;
    }
    ok = fwrite(b, 1, n, f) == n;
    ok = fclose(f) == 0 && ok;
    return ok ? 0 : -1;
}

static int hex_decode(const char *s, uint8_t *out, size_t n)
{
    if (strlen(s) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

static int cmd_pki(const char *dir)
{
    snp_test_ext ext = the_ext();
    int64_t      now = (int64_t)time(NULL);
    EVP_PKEY    *ark_key = snp_test_rsa_key(), *ask_key = snp_test_rsa_key(), *vcek_key = snp_test_ec_key();
    X509        *ark = NULL, *ask = NULL, *vcek = NULL;
    uint8_t     *ark_pem = NULL, *ask_pem = NULL, *vcek_pem = NULL, *vcek_der = NULL;
    size_t       l1, l2, l3, l4;
    char         path[4096];
    FILE        *f = NULL;
    int          rc = 1;

    if (!ark_key || !ask_key || !vcek_key)
        goto out;
    ark = snp_test_cert("ARK-Milan", ark_key, "ARK-Milan", ark_key, now - 86400, now + 30 * 86400, true, NULL);
    ask = snp_test_cert("SEV-Milan", ask_key, "ARK-Milan", ark_key, now - 86400, now + 30 * 86400, true, NULL);
    vcek = snp_test_cert("SEV-VCEK", vcek_key, "SEV-Milan", ask_key, now - 86400, now + 30 * 86400, false, &ext);
    if (!ark || !ask || !vcek)
        goto out;
    ark_pem = snp_test_pem(ark, &l1);
    ask_pem = snp_test_pem(ask, &l2);
    vcek_pem = snp_test_pem(vcek, &l3);
    vcek_der = snp_test_der(vcek, &l4);
    if (!ark_pem || !ask_pem || !vcek_pem || !vcek_der ||
        write_file(dir, "ark.pem", ark_pem, l1) || write_file(dir, "ask.pem", ask_pem, l2) ||
        write_file(dir, "vcek.pem", vcek_pem, l3) || write_file(dir, "vcek.der", vcek_der, l4))
        goto out;
    snprintf(path, sizeof path, "%s/vcek-key.pem", dir);
    if ((f = fopen(path, "wb")) == NULL || PEM_write_PrivateKey(f, vcek_key, NULL, NULL, 0, NULL, NULL) != 1)
        goto out;
    rc = 0;
out:
    if (f != NULL && fclose(f) != 0)
        rc = 1;
    if (rc != 0)
        fprintf(stderr, "snp-testgen: generating the PKI in %s failed\n", dir);
    free(ark_pem);
    free(ask_pem);
    free(vcek_pem);
    free(vcek_der);
    X509_free(ark);
    X509_free(ask);
    X509_free(vcek);
    EVP_PKEY_free(ark_key);
    EVP_PKEY_free(ask_key);
    EVP_PKEY_free(vcek_key);
    return rc;
}

static int cmd_report(int argc, char **argv)
{
    snp_test_ext ext = the_ext();
    uint8_t      r[1184], rd[64], m[48];
    char         path[4096];
    FILE        *f;
    EVP_PKEY    *key;
    int          rc = 1;

    if (hex_decode(argv[3], rd, sizeof rd) != 0) {
        fprintf(stderr, "snp-testgen: REPORT_DATA must be 128 hex digits\n");
        return 2;
    }
    snp_test_report_init(r, 3, &ext, false);
    memcpy(r + 0x50, rd, 64);
    for (int i = 4; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--policy") == 0) {
            snp_test_put64(r + 0x08, strtoull(argv[i + 1], NULL, 16));
        } else if (strcmp(argv[i], "--measurement") == 0 && hex_decode(argv[i + 1], m, 48) == 0) {
            memcpy(r + 0x90, m, 48);
        } else {
            fprintf(stderr, "snp-testgen: bad option %s\n", argv[i]);
            return 2;
        }
    }
    snprintf(path, sizeof path, "%s/vcek-key.pem", argv[2]);
    if ((f = fopen(path, "rb")) == NULL) {
        perror(path);
        return 1;
    }
    key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (key != NULL && snp_test_report_sign(r, key) == 0 && fwrite(r, 1, sizeof r, stdout) == sizeof r)
        rc = 0;
    else
        fprintf(stderr, "snp-testgen: signing the report failed\n");
    EVP_PKEY_free(key);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "pki") == 0)
        return cmd_pki(argv[2]);
    if (argc >= 4 && strcmp(argv[1], "report") == 0)
        return cmd_report(argc, argv);
    fprintf(stderr, "usage: snp-testgen pki DIR\n"
                    "       snp-testgen report DIR REPORT_DATA_HEX [--policy HEX] [--measurement HEX] > report.bin\n"
                    "TEST TOOLING ONLY: the generated chain is not AMD's.\n");
    return 2;
}
