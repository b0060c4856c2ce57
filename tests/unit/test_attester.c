/*
 * test_attester: the attester service's core against a real Redis
 * (EP_REDIS_URL from scripts/with-stack.sh; fails when unset): nonces that
 * are consumed exactly once across connections and threads, expiry with the
 * injectable clock, sealed secrets (AES-256-GCM bound to environment and
 * name), the verify path with a generated PKI, and the release policy
 * (environments, verdicts, 401/403/404).  The service's core.c is compiled
 * in (it is not a library), so these are white-box tests of its code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../services/attester/core.c"
#include "snp_pki.h"

/* libcjose 0.6.2.1 leaks one byte per ECDH-ES decryption (see test_snp_ear). */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libcjose.so\n";
}

static const char *ENV_A = "ut-att-a", *ENV_B = "ut-att-b";

typedef struct world {
    char       dir[64];
    attester   a;
    EVP_PKEY  *ark_key, *ask_key, *vcek_key;
    X509      *ark, *ask, *vcek;
    uint8_t   *vcek_der;
    size_t     vcek_len;
    snp_test_ext ext;
} world;

static world W;

static void write_text(const char *name, const void *b, size_t n, char *path_out)
{
    char  path[128];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", W.dir, name);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    if (path_out)
        strcpy(path_out, path);
}

static char *P(const char *name)
{
    char *p = malloc(128);
    snprintf(p, 128, "%s/%s", W.dir, name);
    return p;
}

static const char REFS[] =
    "{\"environments\": {\"ut-att-a\": {\"web\": {\"measurements\": [\"111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111\"], \"allow_smt\": true}},"
    " \"ut-att-b\": {\"*\": {\"measurements\": [\"111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111\"]}}}}";

static int setup(void **state)
{
    int64_t  now = (int64_t)time(NULL);
    uint8_t *pem;
    size_t   n;
    ep_err   err = {0};

    (void)state;
    if (getenv("EP_REDIS_URL") == NULL) {
        fprintf(stderr, "EP_REDIS_URL is not set: run through scripts/with-stack.sh\n");
        return -1;
    }
    strcpy(W.dir, "/tmp/test_attester.XXXXXX");
    if (mkdtemp(W.dir) == NULL)
        return -1;
    W.ext = (snp_test_ext){ .bl = 3, .snp = 8, .ucode = 115 };
    memset(W.ext.hwid, 0xab, 64);
    W.ark_key = snp_test_rsa_key();
    W.ask_key = snp_test_rsa_key();
    W.vcek_key = snp_test_ec_key();
    W.ark = snp_test_cert("ARK-Milan", W.ark_key, "ARK-Milan", W.ark_key, now - 1000, now + 100000, true, NULL);
    W.ask = snp_test_cert("SEV-Milan", W.ask_key, "ARK-Milan", W.ark_key, now - 1000, now + 100000, true, NULL);
    W.vcek = snp_test_cert("SEV-VCEK", W.vcek_key, "SEV-Milan", W.ask_key, now - 1000, now + 100000, false, &W.ext);
    if (!W.ark || !W.ask || !W.vcek)
        return -1;
    pem = snp_test_pem(W.ark, &n);
    write_text("ark.pem", pem, n, NULL);
    free(pem);
    pem = snp_test_pem(W.ask, &n);
    write_text("ask.pem", pem, n, NULL);
    free(pem);
    W.vcek_der = snp_test_der(W.vcek, &W.vcek_len);
    write_text("kek.hex", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n", 65, NULL);
    write_text("ref.json", REFS, strlen(REFS), NULL);

    W.a.cfg.redis_url = getenv("EP_REDIS_URL");
    W.a.cfg.ark_file = P("ark.pem");
    W.a.cfg.ask_file = P("ask.pem");
    W.a.cfg.kek_file = P("kek.hex");
    W.a.cfg.reference_file = P("ref.json");
    W.a.cfg.nonce_ttl_ms = 60000;
    W.a.cfg.token_ttl_ms = 60000;
    if (att_init(&W.a, false, &err) != 0) {
        fprintf(stderr, "att_init: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    att_dispose(&W.a);
    free(W.a.cfg.ark_file);
    free(W.a.cfg.ask_file);
    free(W.a.cfg.kek_file);
    free(W.a.cfg.reference_file);
    free(W.vcek_der);
    X509_free(W.ark);
    X509_free(W.ask);
    X509_free(W.vcek);
    EVP_PKEY_free(W.ark_key);
    EVP_PKEY_free(W.ask_key);
    EVP_PKEY_free(W.vcek_key);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", W.dir);
    return system(cmd) == 0 ? 0 : -1;
}

static store *get_store(void)
{
    ep_err err = {0};
    store *st = att_store_get(&W.a, &err);

    if (st == NULL)
        fail_msg("store: %s", err.msg);
    return st;
}

/* ---- nonces ---- */

static void test_nonce_once(void **state)
{
    uint8_t n[SNP_NONCE_LEN], unknown[SNP_NONCE_LEN] = {0};
    int64_t exp = 0;
    store  *st = get_store(), *st2;
    ep_err  err = {0};

    (void)state;
    st2 = NULL;
    assert_int_equal(store_create(W.a.cfg.redis_url, 5000, &st2, &err), STORE_OK);
    assert_int_equal(att_nonce_issue(&W.a, st, n, &exp, &err), 0);
    assert_true(exp >= att_now(&W.a) + 59);
    /* Another connection (another replica) consumes it once. */
    assert_int_equal(att_nonce_consume(&W.a, st2, n, sizeof n), SNP_NONCE_OK);
    assert_int_equal(att_nonce_consume(&W.a, st, n, sizeof n), SNP_NONCE_REPLAYED);
    assert_int_equal(att_nonce_consume(&W.a, st2, n, sizeof n), SNP_NONCE_REPLAYED);
    assert_int_equal(att_nonce_consume(&W.a, st, unknown, sizeof unknown), SNP_NONCE_UNKNOWN);
    assert_int_equal(att_nonce_consume(&W.a, st, n, 16), SNP_NONCE_UNKNOWN);
    store_destroy(st2);
    att_store_put(&W.a, st);
}

static void test_nonce_expired(void **state)
{
    uint8_t n[SNP_NONCE_LEN];
    store  *st = get_store();
    ep_err  err = {0};

    (void)state;
    assert_int_equal(att_nonce_issue(&W.a, st, n, NULL, &err), 0);
    W.a.cfg.clock_offset = 61;   /* one second past the 60 s lifetime */
    assert_int_equal(att_nonce_consume(&W.a, st, n, sizeof n), SNP_NONCE_EXPIRED);
    W.a.cfg.clock_offset = 0;
    /* An expired nonce is spent too: no second chance after the clock moves back. */
    assert_int_equal(att_nonce_consume(&W.a, st, n, sizeof n), SNP_NONCE_REPLAYED);
    att_store_put(&W.a, st);
}

#define RACERS 8

typedef struct racer {
    pthread_t        t;
    const uint8_t   *nonce;
    snp_nonce_status got;
    pthread_barrier_t *go;
} racer;

static void *race(void *p)
{
    racer *r = p;
    store *st = get_store();

    pthread_barrier_wait(r->go);
    r->got = att_nonce_consume(&W.a, st, r->nonce, SNP_NONCE_LEN);
    att_store_put(&W.a, st);
    return NULL;
}

static void test_nonce_race(void **state)
{
    uint8_t           n[SNP_NONCE_LEN];
    racer             rs[RACERS];
    pthread_barrier_t go;
    store            *st = get_store();
    ep_err            err = {0};
    int               oks = 0;

    (void)state;
    for (int round = 0; round < 20; round++) {
        assert_int_equal(att_nonce_issue(&W.a, st, n, NULL, &err), 0);
        pthread_barrier_init(&go, NULL, RACERS);
        for (int i = 0; i < RACERS; i++) {
            rs[i] = (racer){ .nonce = n, .go = &go };
            assert_int_equal(pthread_create(&rs[i].t, NULL, race, &rs[i]), 0);
        }
        oks = 0;
        for (int i = 0; i < RACERS; i++) {
            pthread_join(rs[i].t, NULL);
            if (rs[i].got == SNP_NONCE_OK)
                oks++;
            else
                assert_int_equal(rs[i].got, SNP_NONCE_REPLAYED);
        }
        pthread_barrier_destroy(&go);
        assert_int_equal(oks, 1);
    }
    att_store_put(&W.a, st);
}

/* ---- sealing ---- */

static void test_seal(void **state)
{
    uint8_t  kek[32], *blob, *pt;
    size_t   blen, plen;
    ep_err   err = {0};

    (void)state;
    memset(kek, 7, sizeof kek);
    assert_int_equal(att_seal(kek, "env", "name", (const uint8_t *)"hello", 5, &blob, &blen, &err), 0);
    assert_int_equal(blen, 12 + 5 + 16);
    assert_null(memmem(blob, blen, "hello", 5));
    assert_int_equal(att_open(kek, "env", "name", blob, blen, &pt, &plen, &err), 0);
    assert_int_equal(plen, 5);
    assert_memory_equal(pt, "hello", 5);
    free(pt);
    /* Bound to environment and name, the KEK, and every byte. */
    assert_int_equal(att_open(kek, "env2", "name", blob, blen, &pt, &plen, &err), -1);
    assert_int_equal(att_open(kek, "env", "name2", blob, blen, &pt, &plen, &err), -1);
    assert_non_null(strstr(err.msg, "authentication failed"));
    for (size_t i = 0; i < blen; i++) {
        blob[i] ^= 0x01;
        assert_int_equal(att_open(kek, "env", "name", blob, blen, &pt, &plen, &err), -1);
        blob[i] ^= 0x01;
    }
    kek[0] ^= 1;
    assert_int_equal(att_open(kek, "env", "name", blob, blen, &pt, &plen, &err), -1);
    assert_int_equal(att_open(kek, "env", "name", blob, 27, &pt, &plen, &err), -1);
    free(blob);
}

/* ---- verify and release ---- */

static const char WL_PUB[] =
    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\",\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}";
static const char WL_PRIV[] =
    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\",\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\",\"d\":\"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI\"}";

/* A fresh nonce and a report binding it with WL_PUB; policy overrides the
 * report's guest policy when non-zero. */
static void evidence(uint8_t report[SNP_REPORT_SIZE], uint8_t nonce[SNP_NONCE_LEN], uint64_t policy)
{
    store  *st = get_store();
    ep_err  err = {0};
    uint8_t rd[64];

    assert_int_equal(att_nonce_issue(&W.a, st, nonce, NULL, &err), 0);
    att_store_put(&W.a, st);
    assert_int_equal(snp_report_data_binding(nonce, SNP_NONCE_LEN, (const uint8_t *)WL_PUB, strlen(WL_PUB), rd, &err), SNP_OK);
    snp_test_report_init(report, 3, &W.ext, false);
    memcpy(report + 0x50, rd, 64);
    if (policy)
        snp_test_put64(report + 0x08, policy);
    assert_int_equal(snp_test_report_sign(report, W.vcek_key), 0);
}

static att_verify_out *verify(const char *env, const char *wl, const uint8_t *report, const uint8_t *nonce)
{
    att_verify_in   in = {0};
    att_verify_out *out = calloc(1, sizeof *out);
    ep_err          err = {0};

    in.evidence_type = ENVPLANE__ATTEST__V1__EVIDENCE_TYPE__EVIDENCE_TYPE_SEV_SNP;
    in.report = report;
    in.report_len = SNP_REPORT_SIZE;
    in.cert = W.vcek_der;
    in.cert_len = W.vcek_len;
    in.nonce = nonce;
    in.nonce_len = SNP_NONCE_LEN;
    in.environment = env;
    in.workload = wl;
    in.workload_key = WL_PUB;
    in.via = "test";
    assert_non_null(out);
    if (att_verify(&W.a, &in, out, &err) != 0)
        fail_msg("att_verify: %s", err.msg);
    return out;
}

static void free_out(att_verify_out *o)
{
    free(o->token);
    free(o);
}

static bool has_reason(const att_verify_out *o, const char *name)
{
    for (size_t i = 0; i < o->n_reasons; i++)
        if (strcmp(o->reasons[i].name, name) == 0)
            return true;
    return false;
}

static void put(const char *env, const char *name, const char *value, const char *policy)
{
    store *st = get_store();
    ep_err err = {0};

    if (att_secret_put(&W.a, st, env, name, (const uint8_t *)value, strlen(value), policy, &err) != 0)
        fail_msg("put: %s", err.msg);
    att_store_put(&W.a, st);
}

static void test_verify_release(void **state)
{
    uint8_t         report[SNP_REPORT_SIZE], nonce[SNP_NONCE_LEN], *pt;
    att_verify_out *o;
    char           *jwe = NULL;
    size_t          len;
    ep_err          err = {0};

    (void)state;
    put(ENV_A, "k1", "value-1", NULL);
    put(ENV_B, "k2", "value-2", NULL);
    put(ENV_B, "k3", "value-3", "{\"environments\":[\"ut-att-a\"]}");
    put(ENV_A, "k4", "value-4", "{\"verdicts\":[\"warning\"]}");

    evidence(report, nonce, 0);
    o = verify(ENV_A, "web", report, nonce);
    assert_true(o->passed);
    assert_int_equal(o->n_reasons, 0);
    assert_int_equal(o->tier, EAR_TIER_AFFIRMING);

    assert_int_equal(att_secret_release(&W.a, o->token, ENV_A, "k1", &jwe, &err), 0);
    assert_null(strstr(jwe, "value-1"));
    pt = ear_jwe_unwrap(jwe, WL_PRIV, &len, &err);
    assert_non_null(pt);
    assert_int_equal(len, 7);
    assert_memory_equal(pt, "value-1", 7);
    free(pt);
    free(jwe);
    assert_int_equal(att_secret_release(&W.a, o->token, ENV_B, "k2", &jwe, &err), 403);
    assert_null(jwe);
    assert_int_equal(att_secret_release(&W.a, o->token, ENV_B, "k3", &jwe, &err), 0);
    free(jwe);
    assert_int_equal(att_secret_release(&W.a, o->token, ENV_A, "k4", &jwe, &err), 403);   /* affirming not listed */
    assert_int_equal(att_secret_release(&W.a, o->token, ENV_A, "nope", &jwe, &err), 404);
    /* Expired token, foreign token, garbage. */
    W.a.cfg.clock_offset = 61;
    assert_int_equal(att_secret_release(&W.a, o->token, ENV_A, "k1", &jwe, &err), 401);
    W.a.cfg.clock_offset = 0;
    assert_int_equal(att_secret_release(&W.a, "x.y.z", ENV_A, "k1", &jwe, &err), 401);
    assert_int_equal(att_secret_release(&W.a, NULL, ENV_A, "k1", &jwe, &err), 401);
    {
        /* Same claims, another signer: not ours. */
        ear_signer *other = ear_signer_create(NULL, &err), *mine = W.a.signer;
        att_verify_out *o2;
        evidence(report, nonce, 0);
        W.a.signer = other;
        o2 = verify(ENV_A, "web", report, nonce);
        W.a.signer = mine;
        assert_true(o2->passed);
        assert_int_equal(att_secret_release(&W.a, o2->token, ENV_A, "k1", &jwe, &err), 401);
        free_out(o2);
        ear_signer_destroy(other);
    }
    /* Replay of the same evidence. */
    {
        att_verify_out *o3;
        evidence(report, nonce, 0);
        free_out(verify(ENV_A, "web", report, nonce));
        o3 = verify(ENV_A, "web", report, nonce);
        assert_false(o3->passed);
        assert_true(has_reason(o3, "nonce_replayed"));
        assert_null(o3->token);
        free_out(o3);
    }
    free_out(o);
}

static void test_verify_failures(void **state)
{
    uint8_t         report[SNP_REPORT_SIZE], nonce[SNP_NONCE_LEN];
    att_verify_out *o;

    (void)state;
    /* Debug allowed by the guest policy, and no reference for the workload. */
    evidence(report, nonce, 0xb0000);
    o = verify(ENV_A, "db", report, nonce);
    assert_false(o->passed);
    assert_true(has_reason(o, "no_reference"));
    assert_true(has_reason(o, "debug"));
    assert_int_equal(o->tier, EAR_TIER_CONTRAINDICATED);
    free_out(o);
    /* ENV_B's "*" reference does not allow SMT: a warning, still a token. */
    evidence(report, nonce, 0);
    o = verify(ENV_B, "any", report, nonce);
    assert_true(o->passed);
    assert_int_equal(o->tier, EAR_TIER_WARNING);
    assert_true(has_reason(o, "smt"));
    free_out(o);
    /* Tampered: signature, and the nonce is not burnt by it. */
    evidence(report, nonce, 0);
    report[0x90] ^= 1;
    o = verify(ENV_A, "web", report, nonce);
    assert_false(o->passed);
    assert_true(has_reason(o, "bad_signature"));
    free_out(o);
    report[0x90] ^= 1;
    o = verify(ENV_A, "web", report, nonce);
    assert_true(o->passed);
    free_out(o);
}

static void test_refs_reload(void **state)
{
    ep_err      err = {0};
    const char  bad[] = "{\"environments\": {\"x\": {\"w\": {\"measurment\": []}}}}";
    const char  good[] = "{\"environments\": {\"x\": {\"w\": {\"measurements\": [\"222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222\"]}}}}";
    char        path[128];

    (void)state;
    assert_int_equal(att_refs_maybe_reload(&W.a, &err), 0);   /* unchanged */
    write_text("ref.json", bad, strlen(bad), path);
    assert_int_equal(att_refs_maybe_reload(&W.a, &err), -1);
    assert_non_null(strstr(err.msg, "environments.x.w"));
    /* The old table is still in force. */
    assert_non_null(refs_find(W.a.refs, ENV_A, "web"));
    write_text("ref.json", good, strlen(good), path);
    if (att_refs_maybe_reload(&W.a, &err) != 1)
        fail_msg("reload: %s", err.msg);
    assert_null(refs_find(W.a.refs, ENV_A, "web"));
    assert_non_null(refs_find(W.a.refs, "x", "w"));
    write_text("ref.json", REFS, strlen(REFS), path);
    assert_int_equal(att_refs_maybe_reload(&W.a, &err), 1);
}

static void test_policy_syntax(void **state)
{
    store *st = get_store();
    ep_err err = {0};

    (void)state;
    assert_int_equal(att_secret_put(&W.a, st, ENV_A, "p", (const uint8_t *)"v", 1, "{\"verdict\":[]}", &err), -1);
    assert_non_null(strstr(err.msg, "unknown key verdict"));
    assert_int_equal(att_secret_put(&W.a, st, ENV_A, "p", (const uint8_t *)"v", 1, "{\"verdicts\":[\"contraindicated\"]}", &err), -1);
    assert_int_equal(att_secret_put(&W.a, st, ENV_A, "p", (const uint8_t *)"v", 1, "[]", &err), -1);
    /* Names that could be read two ways in the key or the AAD. */
    assert_int_equal(att_secret_put(&W.a, st, "a:b", "c", (const uint8_t *)"v", 1, NULL, &err), -1);
    assert_int_equal(att_secret_put(&W.a, st, "a/b", "c", (const uint8_t *)"v", 1, NULL, &err), -1);
    assert_int_equal(att_secret_put(&W.a, st, "a", "b:c", (const uint8_t *)"v", 1, NULL, &err), -1);
    assert_int_equal(att_secret_put(&W.a, st, "a", "../c", (const uint8_t *)"v", 1, NULL, &err), -1);
    assert_int_equal(att_secret_put(&W.a, st, "a", "/c", (const uint8_t *)"v", 1, NULL, &err), -1);
    assert_int_equal(att_secret_put(&W.a, st, "a", "c/", (const uint8_t *)"v", 1, NULL, &err), -1);
    assert_int_equal(att_secret_put(&W.a, st, "", "c", (const uint8_t *)"v", 1, NULL, &err), -1);
    assert_int_equal(att_secret_put(&W.a, st, "a", "db/pass.word_1", (const uint8_t *)"v", 1, NULL, &err), 0);
    att_store_put(&W.a, st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nonce_once),
        cmocka_unit_test(test_nonce_expired),
        cmocka_unit_test(test_nonce_race),
        cmocka_unit_test(test_seal),
        cmocka_unit_test(test_verify_release),
        cmocka_unit_test(test_verify_failures),
        cmocka_unit_test(test_refs_reload),
        cmocka_unit_test(test_policy_syntax),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
