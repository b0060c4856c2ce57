/*
 * fuzz_claim: libFuzzer harness for claim_parse, the first code to touch
 * bytes anybody with write access to a claims bucket can put there.
 *
 * The first input byte picks the options (bucket kind, whether an object key
 * is checked, a small size limit); the rest is the claim.  Whatever the
 * outcome, the result must be consistent: a claim comes back exactly when no
 * error does, errors and warnings stay within their caps and carry no
 * control characters, and an accepted claim's canonical JSON parses again
 * to the same canonical JSON and hash (the form is a fixed point).  The
 * version classifier and the key helper get the same bytes as a string.
 *
 * Build (from the repository root):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Ilibs \
 *     libs/claim/[a-z]*.c libs/err/err.c tests/fuzz/fuzz_claim.c \
 *     $(pkg-config --cflags --libs jansson openssl) -o fuzz_claim
 * Run on a copy of tests/fuzz/corpus/claim with -max_total_time=120.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "claim/claim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Terminated, no control characters, valid UTF-8 (the texts go into
 * protobuf string fields and logs). */
static void check_text(const char *str, size_t cap)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t n = strnlen(str, cap), i = 0;

    if (n == cap)
        abort();
    while (i < n) {
        unsigned c = s[i];
        size_t need = c < 0x80 ? 0 : c >= 0xC2 && c <= 0xDF ? 1 : c >= 0xE0 && c <= 0xEF ? 2
                    : c >= 0xF0 && c <= 0xF4 ? 3 : 9;
        if (c < 0x20 || c == 0x7f || need == 9 || i + need >= n + (need ? 0 : 1))
            abort();
        for (size_t k = 1; k <= need; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                abort();
        i += need + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    claim_options opt = { NULL, CLAIM_SOURCE_DYNAMIC, 0 };
    claim_errors errs;
    claim *c = NULL, *c2 = NULL;
    claim_version_constraint vc;
    char h1[CLAIM_HASH_LEN], h2[CLAIM_HASH_LEN], name[80], str[300];
    char *j1 = NULL, *j2 = NULL;
    ep_err err;
    uint8_t sel;
    int rc;

    if (size == 0)
        return 0;
    sel = data[0];
    data++;
    size--;
    if (sel & 1)
        opt.source = CLAIM_SOURCE_STATIC;
    if (sel & 2)
        opt.key = (sel & 4) ? "dev-team1-feature-x.json" : "prod-main-claim.json";
    if (sel & 8)
        opt.max_size = 512;

    claim_errors_init(&errs);
    rc = claim_parse((const char *)data, size, &opt, &c, &errs, &err);
    if (rc != CLAIM_OK && rc != CLAIM_EINVALID)
        abort();
    if ((rc == CLAIM_OK) != (c != NULL) || (rc == CLAIM_OK) != (errs.n_errors == 0))
        abort();
    if (errs.n_errors > CLAIM_MAX_ERRORS || errs.n_warnings > CLAIM_MAX_WARNINGS)
        abort();
    for (size_t i = 0; i < errs.n_errors; i++) {
        check_text(errs.errors[i].field, sizeof errs.errors[i].field);
        check_text(errs.errors[i].message, sizeof errs.errors[i].message);
        if (errs.errors[i].message[0] == '\0')
            abort();
    }
    for (size_t i = 0; i < errs.n_warnings; i++)
        check_text(errs.warnings[i].text, sizeof errs.warnings[i].text);

    if (c != NULL) {
        claim_options o2 = { NULL, c->source, 0 };
        j1 = claim_canonical_json(c);
        if (j1 == NULL || claim_content_hash(c, h1) != CLAIM_OK)
            abort();
        if (claim_parse(j1, strlen(j1), &o2, &c2, NULL, &err) != CLAIM_OK)
            abort();
        j2 = claim_canonical_json(c2);
        if (j2 == NULL || strcmp(j1, j2) != 0 || claim_content_hash(c2, h2) != CLAIM_OK ||
            strcmp(h1, h2) != 0)
            abort();
        for (size_t i = 0; i < c->n_services; i++)
            if (claim_version_parse(c->services[i].version, &vc, NULL) != CLAIM_OK ||
                vc.kind != c->services[i].kind)
                abort();
    }
    if (claim_raw_hash(data, size, h1) != CLAIM_OK)
        abort();

    /* The same bytes as a version string and as an object key. */
    size_t n = size < sizeof str - 1 ? size : sizeof str - 1;
    memcpy(str, data, n);
    str[n] = '\0';
    if (claim_version_parse(str, &vc, &err) == CLAIM_OK &&
        (vc.kind < CLAIM_KIND_TAG || vc.kind > CLAIM_KIND_LATEST))
        abort();
    rc = claim_name_from_key(str, name, sizeof name);
    if (rc == CLAIM_OK && (name[0] == '\0' || strlen(name) > 63))
        abort();

    claim_free(j1);
    claim_free(j2);
    claim_destroy(c);
    claim_destroy(c2);
    claim_errors_dispose(&errs);
    return 0;
}
