/*
 * canon.c: the canonical JSON of a normalised claim and the content hashes.
 *
 * The content hash decides whether an upload changed anything: re-saving a
 * claim with other whitespace or key order, or writing a service as
 * "v1" instead of {"version": "v1"}, must not start a reconcile, while a
 * version change must.  So the hash is taken over a canonical rendering of
 * the normalised claim, not over the bytes: keys sorted bytewise, no
 * whitespace, services always in object form, absent optional strings
 * omitted, a never-expiring claim's expiration_date written as null.
 * Parsing the canonical JSON again yields an equal claim (tested), so the
 * form is stable under its own round trip.
 */
#include "claim/claim_internal.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

/* Set key to a string; empty strings are omitted when optional. */
static int put(json_t *obj, const char *key, const char *val, int optional)
{
    json_t *s;

    if (optional && (val == NULL || val[0] == '\0'))
        return 0;
    s = json_string(val ? val : "");
    return s == NULL ? -1 : json_object_set_new(obj, key, s);
}

char *claim_canonical_json(const claim *c)
{
    json_t *root = NULL, *svcs, *svc;
    char *text = NULL, *out = NULL;
    size_t i;

    if (c == NULL)
        return NULL;
    root = json_object();
    svcs = json_object();
    if (root == NULL || svcs == NULL || json_object_set_new(root, "services", svcs) != 0)
        goto out;
    if (put(root, "user", c->user, 0) || put(root, "environment_pool", c->environment_pool, 0) ||
        put(root, "environment_name", c->environment_name, 0) ||
        put(root, "environment_type", claim_env_type_str(c->environment_type), 0) ||
        put(root, "creation_date", c->creation_date, 0) ||
        put(root, "deployment_method", c->deployment_method, 0) ||
        put(root, "git_repository", c->git_repository, 1) || put(root, "branch", c->branch, 1))
        goto out;
    if (c->expiration_date != NULL && c->expiration_date[0] != '\0') {
        if (put(root, "expiration_date", c->expiration_date, 0))
            goto out;
    } else if (json_object_set_new(root, "expiration_date", json_null()) != 0) {
        goto out;
    }
    for (i = 0; i < c->n_services; i++) {
        const claim_service *s = &c->services[i];
        svc = json_object();
        if (svc == NULL || json_object_set_new(svcs, s->name, svc) != 0)
            goto out;
        if (put(svc, "version", s->version, 0) || put(svc, "docker_image", s->docker_image, 1) ||
            put(svc, "ansible_artifact", s->ansible_artifact, 1))
            goto out;
    }
    text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    if (text == NULL)
        goto out;
    /* json_dumps uses jansson's allocator, which is ours too. */
    out = text;
out:
    json_decref(root);
    return out;
}

static int sha256_hex(const void *bytes, size_t len, char out[CLAIM_HASH_LEN])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0, i;

    if (EVP_Digest(bytes, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return CLAIM_EHASH;
    memcpy(out, "sha256:", 7);
    for (i = 0; i < mdlen; i++) {
        out[7 + 2 * i] = hex[md[i] >> 4];
        out[8 + 2 * i] = hex[md[i] & 15];
    }
    out[7 + 2 * mdlen] = '\0';
    return CLAIM_OK;
}

int claim_content_hash(const claim *c, char out[CLAIM_HASH_LEN])
{
    char *text;
    int rc;

    if (c == NULL || out == NULL)
        return CLAIM_EARG;
    text = claim_canonical_json(c);
    if (text == NULL)
        return CLAIM_ENOMEM;
    rc = sha256_hex(text, strlen(text), out);
    claim__free(text);
    return rc;
}

int claim_raw_hash(const void *bytes, size_t len, char out[CLAIM_HASH_LEN])
{
    if ((bytes == NULL && len > 0) || out == NULL)
        return CLAIM_EARG;
    return sha256_hex(bytes ? bytes : "", len, out);
}

int claim_name_from_key(const char *key, char *name, size_t n)
{
    size_t kl, nl;

    if (name == NULL || n == 0)
        return CLAIM_ENOSPC;
    name[0] = '\0';
    if (key == NULL)
        return CLAIM_EKEY;
    kl = strlen(key);
    if (strchr(key, '/') != NULL || kl <= 5 || strcmp(key + kl - 5, ".json") != 0)
        return CLAIM_EKEY;
    nl = kl - 5;
    if (nl > 6 && memcmp(key + nl - 6, "-claim", 6) == 0)
        nl -= 6;
    if (!claim__is_dns_label(key, nl))
        return CLAIM_EKEY;
    if (nl + 1 > n)
        return CLAIM_ENOSPC;
    memcpy(name, key, nl);
    name[nl] = '\0';
    return CLAIM_OK;
}
