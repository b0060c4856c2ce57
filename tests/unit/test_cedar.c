/*
 * test_cedar: the public contract of libs/cedar.  Parse errors carry line
 * and column for every broken policy; decisions follow Cedar (default deny,
 * forbid overrides permit, erroring policies skipped and reported, overflow
 * is an error); entity data is validated (differing duplicates, cycles);
 * the scope index finds the one matching policy among thousands and agrees
 * with a set that cannot be indexed; one ctx serves many requests.  The
 * language itself is proven against the reference by `make test-cedar`.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "cedar/cedar.h"

static const char *ENTITIES =
    "[{\"uid\":{\"type\":\"User\",\"id\":\"alice\"},\"attrs\":{\"age\":30,\"big\":9223372036854775807},"
    "  \"parents\":[{\"type\":\"Group\",\"id\":\"eng\"}]},"
    " {\"uid\":{\"type\":\"Group\",\"id\":\"eng\"},\"attrs\":{},\"parents\":[{\"type\":\"Group\",\"id\":\"all\"}]}]";

static cedar_policy_set *parse_ok(const char *text) {
    cedar_policy_set *ps = NULL;
    ep_err err;
    ep_err_clear(&err);
    cedar_status st = cedar_policy_set_parse(text, strlen(text), &ps, NULL, 0, NULL, &err);
    if (st != CEDAR_OK) fail_msg("parse failed: %s", err.msg);
    return ps;
}

static void set_request(cedar_ctx *ctx, const char *principal, const char *context) {
    char buf[512];
    snprintf(buf, sizeof buf,
             "{\"principal\":{\"type\":\"User\",\"id\":\"%s\"},\"action\":{\"type\":\"Action\",\"id\":\"view\"},"
             "\"resource\":{\"type\":\"Doc\",\"id\":\"d\"},\"context\":%s}", principal, context);
    json_t *j = json_loads(buf, 0, NULL);
    assert_non_null(j);
    ep_err err;
    assert_int_equal(cedar_ctx_set_request(ctx, j, &err), CEDAR_OK);
    json_decref(j);
}

static cedar_response decide(const char *policies, const char *principal, const char *context) {
    cedar_policy_set *ps = parse_ok(policies);
    cedar_entities *es = NULL;
    assert_int_equal(cedar_entities_parse(ENTITIES, strlen(ENTITIES), &es, NULL), CEDAR_OK);
    cedar_ctx *ctx = cedar_ctx_create();
    set_request(ctx, principal, context);
    cedar_response r;
    assert_int_equal(cedar_authorize(ctx, ps, es, &r, NULL), CEDAR_OK);
    /* Copy the answer out before the ctx goes away. */
    static uint32_t reasons[16], errors[16];
    cedar_response out = r;
    memcpy(reasons, r.reasons, r.nreasons * sizeof *reasons);
    memcpy(errors, r.errors, r.nerrors * sizeof *errors);
    out.reasons = reasons;
    out.errors = errors;
    out.error_msgs = NULL;
    cedar_ctx_destroy(ctx);
    cedar_entities_destroy(es);
    cedar_policy_set_destroy(ps);
    return out;
}

static void test_parse_ids(void **state) {
    (void)state;
    cedar_policy_set *ps = parse_ok("@id(\"x\") permit(principal, action, resource);\n"
                                    "forbid(principal == User::\"a\", action, resource) when { 1 < 2 };\n");
    assert_int_equal(cedar_policy_set_count(ps), 2);
    assert_string_equal(cedar_policy_id(ps, 0), "policy0");
    assert_string_equal(cedar_policy_id(ps, 1), "policy1");
    assert_null(cedar_policy_id(ps, 2));
    cedar_policy_set_destroy(ps);
    ps = parse_ok("// nothing but a comment\n");
    assert_int_equal(cedar_policy_set_count(ps), 0);
    cedar_policy_set_destroy(ps);
}

static void test_parse_errors_have_positions(void **state) {
    (void)state;
    const char *text = "permit(principal, action, resource) when { 1 + };\n"
                       "permit(principal, action, resource);\n"
                       "  permit(principal, action);\n"
                       "forbid(principal, action, resource) when { \"\\q\" };\n";
    cedar_diag d[8];
    size_t nd = 0;
    cedar_policy_set *ps = NULL;
    ep_err err;
    assert_int_equal(cedar_policy_set_parse(text, strlen(text), &ps, d, 8, &nd, &err), CEDAR_EPARSE);
    assert_null(ps);
    assert_int_equal(nd, 3);
    assert_int_equal(d[0].line, 1); assert_int_equal(d[0].col, 48);
    assert_int_equal(d[1].line, 3); assert_int_equal(d[1].col, 27);
    assert_non_null(strstr(d[1].msg, "resource"));
    assert_int_equal(d[2].line, 4);
    assert_non_null(strstr(d[2].msg, "\\q"));
    assert_non_null(strstr(err.msg, "1:48:"));
}

static void test_decisions(void **state) {
    (void)state;
    cedar_response r = decide("permit(principal, action, resource);", "alice", "{}");
    assert_int_equal(r.decision, CEDAR_ALLOW);
    assert_int_equal(r.nreasons, 1);
    r = decide("permit(principal == User::\"bob\", action, resource);", "alice", "{}");
    assert_int_equal(r.decision, CEDAR_DENY);      /* default deny */
    assert_int_equal(r.nreasons, 0);
    r = decide("permit(principal in Group::\"all\", action, resource);\n"
               "forbid(principal, action, resource) when { context.block };", "alice", "{\"block\":true}");
    assert_int_equal(r.decision, CEDAR_DENY);      /* forbid overrides permit */
    assert_int_equal(r.nreasons, 1);
    assert_int_equal(r.reasons[0], 1);
    r = decide("permit(principal, action, resource) when { principal.big + 1 > 0 };\n"
               "forbid(principal, action, resource) when { principal.nope };\n"
               "permit(principal, action, resource) when { principal.age == 30 };", "alice", "{}");
    assert_int_equal(r.decision, CEDAR_ALLOW);     /* erroring policies are skipped */
    assert_int_equal(r.nreasons, 1);
    assert_int_equal(r.reasons[0], 2);
    assert_int_equal(r.nerrors, 2);
    assert_int_equal(r.errors[0], 0);
    assert_int_equal(r.errors[1], 1);
    r = decide("permit(principal, action, resource) when { false && 1 + \"a\" };", "alice", "{}");
    assert_int_equal(r.nerrors, 0);                /* && short-circuits */
}

static void test_entity_validation(void **state) {
    (void)state;
    cedar_entities *es = NULL;
    ep_err err;
    const char *dup = "[{\"uid\":{\"type\":\"U\",\"id\":\"a\"},\"attrs\":{\"x\":1},\"parents\":[]},"
                      " {\"uid\":{\"type\":\"U\",\"id\":\"a\"},\"attrs\":{\"x\":2},\"parents\":[]}]";
    assert_int_equal(cedar_entities_parse(dup, strlen(dup), &es, &err), CEDAR_EENTITY);
    assert_non_null(strstr(err.msg, "duplicate"));
    const char *cyc = "[{\"uid\":{\"type\":\"G\",\"id\":\"a\"},\"attrs\":{},\"parents\":[{\"type\":\"G\",\"id\":\"b\"}]},"
                      " {\"uid\":{\"type\":\"G\",\"id\":\"b\"},\"attrs\":{},\"parents\":[{\"type\":\"G\",\"id\":\"a\"}]}]";
    assert_int_equal(cedar_entities_parse(cyc, strlen(cyc), &es, &err), CEDAR_EENTITY);
    assert_non_null(strstr(err.msg, "cycle"));
    const char *flt = "[{\"uid\":{\"type\":\"U\",\"id\":\"a\"},\"attrs\":{\"x\":1.5},\"parents\":[]}]";
    assert_int_equal(cedar_entities_parse(flt, strlen(flt), &es, &err), CEDAR_EENTITY);
    assert_int_equal(cedar_entities_parse("[", 1, &es, &err), CEDAR_EJSON);
    assert_null(es);
}

/* Thousands of per-user policies: the index must find exactly the matching
 * one, and agree with the same policies behind an unindexable condition. */
static void test_index_agrees(void **state) {
    (void)state;
    enum { N = 3000 };
    size_t cap = N * 120, n = 0;
    char *indexed = malloc(cap), *plain = malloc(cap);
    size_t m = 0;
    for (int i = 0; i < N; i++) {
        n += (size_t)snprintf(indexed + n, cap - n, "permit(principal == User::\"u%d\", action, resource);\n", i);
        m += (size_t)snprintf(plain + m, cap - m, "permit(principal, action, resource) when { principal == User::\"u%d\" };\n", i);
    }
    cedar_policy_set *a = parse_ok(indexed), *b = parse_ok(plain);
    cedar_ctx *ctx = cedar_ctx_create();
    for (int i = 0; i < N + 5; i += 97) {
        char who[16];
        snprintf(who, sizeof who, "u%d", i);
        set_request(ctx, who, "{}");
        cedar_response ra, rb;
        assert_int_equal(cedar_authorize(ctx, a, NULL, &ra, NULL), CEDAR_OK);
        uint32_t da = ra.decision, ida = ra.nreasons ? ra.reasons[0] : UINT32_MAX;
        size_t na = ra.nreasons;
        assert_int_equal(cedar_authorize(ctx, b, NULL, &rb, NULL), CEDAR_OK);
        assert_int_equal(da, rb.decision);
        assert_int_equal(na, rb.nreasons);
        if (i < N) {
            assert_int_equal(na, 1);
            assert_int_equal(ida, (uint32_t)i);
            assert_int_equal(rb.reasons[0], (uint32_t)i);
        } else assert_int_equal(na, 0);
    }
    cedar_ctx_destroy(ctx);
    cedar_policy_set_destroy(a);
    cedar_policy_set_destroy(b);
    free(indexed);
    free(plain);
}

static void test_response_json(void **state) {
    (void)state;
    cedar_policy_set *ps = parse_ok("permit(principal, action, resource);\n"
                                    "forbid(principal, action, resource) when { 1 + true };");
    cedar_ctx *ctx = cedar_ctx_create();
    set_request(ctx, "alice", "{}");
    cedar_response r;
    assert_int_equal(cedar_authorize(ctx, ps, NULL, &r, NULL), CEDAR_OK);
    json_t *j = cedar_response_to_json(ps, &r);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(s, "{\"decision\":\"Allow\",\"errors\":[\"policy1\"],\"reasons\":[\"policy0\"]}");
    free(s);
    json_decref(j);
    cedar_ctx_destroy(ctx);
    cedar_policy_set_destroy(ps);
    assert_string_equal(cedar_strstatus(CEDAR_EPARSE), "policy parse error");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ids),
        cmocka_unit_test(test_parse_errors_have_positions),
        cmocka_unit_test(test_decisions),
        cmocka_unit_test(test_entity_validation),
        cmocka_unit_test(test_index_agrees),
        cmocka_unit_test(test_response_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
