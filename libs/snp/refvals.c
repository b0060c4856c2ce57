/*
 * refvals.c: reference values for one environment/workload read from JSON,
 * the form in which a service keeps them (environment claims, config) and an
 * operator hands them to snp-verify --reference.
 *
 *   {"measurements": ["<96 hex>", ...],            required, non-empty
 *    "host_data": "<64 hex>",                      optional
 *    "report_data": "<128 hex>",                   optional
 *    "id_key_digest": "<96 hex>",                  optional
 *    "min_guest_svn": 0,
 *    "min_tcb": {"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115, "fmc": 0},
 *    "max_vmpl": 0,                                0..3
 *    "allow_debug": false, "allow_migrate_ma": false, "allow_smt": true,
 *    "forbidden_policy_bits": 0,                   integer or "0x..." string
 *    "min_abi": {"major": 1, "minor": 51},
 *    "allowed_images": ["sha256:<64 hex>", ...]}
 *
 * Parsing is strict: an unknown key, a wrong type or a value out of range is
 * an error naming the key, because a typo in security configuration must
 * not silently loosen it.
 */
#include "snp/snp.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

struct snp_refvals {
    snp_reference ref;
    uint8_t     (*measurements)[48];
    char        **images;
    size_t        n_images;
};

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Exactly 2n hex digits into out[n]. */
static bool parse_hex(const json_t *v, uint8_t *out, size_t n)
{
    const char *s = json_string_value(v);

    if (s == NULL || json_string_length(v) != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval((unsigned char)s[2 * i]), lo = hexval((unsigned char)s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

static bool parse_u8(const json_t *v, uint8_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 255)
        return false;
    *out = (uint8_t)json_integer_value(v);
    return true;
}

static bool image_digest_ok(const char *s)
{
    size_t n = strlen(s);

    if (n != 7 + 64 || strncmp(s, "sha256:", 7) != 0)
        return false;
    for (size_t i = 7; i < n; i++)
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
            return false;
    return true;
}

static int parse_min_tcb(json_t *o, snp_tcb *t, ep_err *err)
{
    const char *k;
    json_t     *v;

    if (!json_is_object(o))
        return ep_err_set(err, SNP_EPARSE, "reference: min_tcb must be an object");
    json_object_foreach(o, k, v) {
        uint8_t *dst = strcmp(k, "bootloader") == 0 ? &t->bootloader
                       : strcmp(k, "tee") == 0      ? &t->tee
                       : strcmp(k, "snp") == 0      ? &t->snp
                       : strcmp(k, "microcode") == 0 ? &t->microcode
                       : strcmp(k, "fmc") == 0      ? &t->fmc
                                                    : NULL;
        if (dst == NULL)
            return ep_err_set(err, SNP_EPARSE, "reference: min_tcb: unknown key \"%.40s\"", k);
        if (!parse_u8(v, dst))
            return ep_err_set(err, SNP_EPARSE, "reference: min_tcb.%s must be an integer 0..255", k);
    }
    return SNP_OK;
}

static int parse_bool(json_t *v, const char *k, bool *out, ep_err *err)
{
    if (!json_is_boolean(v))
        return ep_err_set(err, SNP_EPARSE, "reference: %s must be true or false", k);
    *out = json_is_true(v);
    return SNP_OK;
}

static int parse_key(snp_refvals *rv, const char *k, json_t *v, ep_err *err)
{
    snp_reference *ref = &rv->ref;
    size_t         i, n;

    if (strcmp(k, "measurements") == 0) {
        if (!json_is_array(v) || (n = json_array_size(v)) == 0 || n > 4096)
            return ep_err_set(err, SNP_EPARSE, "reference: measurements must be a non-empty array");
        if ((rv->measurements = calloc(n, sizeof *rv->measurements)) == NULL)
            return ep_err_set(err, SNP_ENOMEM, "reference: out of memory");
        for (i = 0; i < n; i++)
            if (!parse_hex(json_array_get(v, i), rv->measurements[i], 48))
                return ep_err_set(err, SNP_EPARSE, "reference: measurements[%zu] is not 96 hex digits", i);
        ref->measurements = (const uint8_t(*)[48])rv->measurements;
        ref->n_measurements = n;
    } else if (strcmp(k, "host_data") == 0) {
        if (!parse_hex(v, ref->host_data, 32))
            return ep_err_set(err, SNP_EPARSE, "reference: host_data is not 64 hex digits");
        ref->check_host_data = true;
    } else if (strcmp(k, "report_data") == 0) {
        if (!parse_hex(v, ref->expected_report_data, 64))
            return ep_err_set(err, SNP_EPARSE, "reference: report_data is not 128 hex digits");
        ref->check_report_data = true;
    } else if (strcmp(k, "id_key_digest") == 0) {
        if (!parse_hex(v, ref->id_key_digest, 48))
            return ep_err_set(err, SNP_EPARSE, "reference: id_key_digest is not 96 hex digits");
        ref->check_id_key_digest = true;
    } else if (strcmp(k, "min_guest_svn") == 0) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > UINT32_MAX)
            return ep_err_set(err, SNP_EPARSE, "reference: min_guest_svn must be 0..4294967295");
        ref->min_guest_svn = (uint32_t)json_integer_value(v);
    } else if (strcmp(k, "min_tcb") == 0) {
        return parse_min_tcb(v, &ref->min_tcb, err);
    } else if (strcmp(k, "max_vmpl") == 0) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 3)
            return ep_err_set(err, SNP_EPARSE, "reference: max_vmpl must be 0..3");
        ref->max_vmpl = (uint32_t)json_integer_value(v);
    } else if (strcmp(k, "allow_debug") == 0) {
        return parse_bool(v, k, &ref->allow_debug, err);
    } else if (strcmp(k, "allow_migrate_ma") == 0) {
        return parse_bool(v, k, &ref->allow_migrate_ma, err);
    } else if (strcmp(k, "allow_smt") == 0) {
        return parse_bool(v, k, &ref->allow_smt, err);
    } else if (strcmp(k, "forbidden_policy_bits") == 0) {
        const char *s = json_string_value(v);
        char       *end;
        if (json_is_integer(v) && json_integer_value(v) >= 0)
            ref->forbidden_policy_bits = (uint64_t)json_integer_value(v);
        else if (s != NULL && strncmp(s, "0x", 2) == 0 && s[2] != '\0' &&
                 (ref->forbidden_policy_bits = strtoull(s + 2, &end, 16), *end == '\0'))
            ;
        else
            return ep_err_set(err, SNP_EPARSE,
                              "reference: forbidden_policy_bits must be an integer or \"0x...\"");
    } else if (strcmp(k, "min_abi") == 0) {
        if (!json_is_object(v) || json_object_size(v) != 2 ||
            !parse_u8(json_object_get(v, "major"), &ref->min_abi_major) ||
            !parse_u8(json_object_get(v, "minor"), &ref->min_abi_minor))
            return ep_err_set(err, SNP_EPARSE, "reference: min_abi must be {\"major\": n, \"minor\": n}");
    } else if (strcmp(k, "allowed_images") == 0) {
        if (!json_is_array(v) || (n = json_array_size(v)) > 65536)
            return ep_err_set(err, SNP_EPARSE, "reference: allowed_images must be an array");
        if (n > 0 && (rv->images = calloc(n, sizeof *rv->images)) == NULL)
            return ep_err_set(err, SNP_ENOMEM, "reference: out of memory");
        for (i = 0; i < n; i++) {
            const char *s = json_string_value(json_array_get(v, i));
            if (s == NULL || !image_digest_ok(s))
                return ep_err_set(err, SNP_EPARSE,
                                  "reference: allowed_images[%zu] is not sha256:<64 lower-case hex>", i);
            if ((rv->images[i] = strdup(s)) == NULL)
                return ep_err_set(err, SNP_ENOMEM, "reference: out of memory");
            rv->n_images = i + 1;
        }
        ref->allowed_image_digests = (const char *const *)rv->images;
        ref->n_allowed_image_digests = rv->n_images;
    } else {
        return ep_err_set(err, SNP_EPARSE, "reference: unknown key \"%.40s\"", k);
    }
    return SNP_OK;
}

snp_refvals *snp_refvals_parse(const char *json, size_t len, ep_err *err)
{
    snp_refvals *rv = NULL;
    json_t      *root, *v;
    json_error_t je;
    const char  *k;
    int          rc = SNP_OK;

    if (json == NULL) {
        ep_err_set(err, SNP_EINVAL, "reference: NULL");
        return NULL;
    }
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL || !json_is_object(root)) {
        ep_err_set(err, SNP_EPARSE, "reference: not a JSON object (line %d: %.80s)", je.line,
                   root ? "top level must be an object" : je.text);
        json_decref(root);
        return NULL;
    }
    if ((rv = calloc(1, sizeof *rv)) == NULL) {
        rc = ep_err_set(err, SNP_ENOMEM, "reference: out of memory");
        goto out;
    }
    json_object_foreach(root, k, v) {
        if ((rc = parse_key(rv, k, v, err)) != SNP_OK)
            goto out;
    }
    if (rv->ref.n_measurements == 0)
        rc = ep_err_set(err, SNP_EPARSE, "reference: measurements is required");
out:
    json_decref(root);
    if (rc != SNP_OK) {
        snp_refvals_destroy(rv);
        return NULL;
    }
    return rv;
}

const snp_reference *snp_refvals_get(const snp_refvals *rv)
{
    return rv ? &rv->ref : NULL;
}

void snp_refvals_destroy(snp_refvals *rv)
{
    if (rv == NULL)
        return;
    for (size_t i = 0; i < rv->n_images; i++)
        free(rv->images[i]);
    free(rv->images);
    free(rv->measurements);
    free(rv);
}
