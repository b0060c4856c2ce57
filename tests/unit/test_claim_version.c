/*
 * test_claim_version: claim_version_parse and claim_semver_compare, the
 * public pieces the provisioner will use to turn a service's version string
 * into an image policy.  The claim case folders check classification through
 * claim_parse; this file checks the parsed structure and the ordering.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "claim/claim.h"

static claim_version_constraint vc;

static void parse_ok(const char *s, claim_constraint_kind kind)
{
    ep_err err;
    int rc;

    ep_err_clear(&err);
    rc = claim_version_parse(s, &vc, &err);
    if (rc != CLAIM_OK || vc.kind != kind)
        fail_msg("\"%s\": rc %d kind %s (%s), want %s", s, rc, claim_kind_str(vc.kind), err.msg,
                 claim_kind_str(kind));
}

static void parse_bad(const char *s, const char *why)
{
    ep_err err;
    int rc;

    ep_err_clear(&err);
    rc = claim_version_parse(s, &vc, &err);
    if (rc != CLAIM_EVERSION || err.code != CLAIM_EVERSION)
        fail_msg("\"%s\": rc %d kind %s, want CLAIM_EVERSION", s, rc, claim_kind_str(vc.kind));
    if (why != NULL && strstr(err.msg, why) == NULL)
        fail_msg("\"%s\": message \"%s\" lacks \"%s\"", s, err.msg, why);
}

static void test_tags(void **state)
{
    parse_ok("v1.2.3", CLAIM_KIND_TAG);
    assert_true(vc.is_semver);
    assert_true(vc.base.has_v);
    assert_int_equal(vc.base.nparts, 3);
    assert_int_equal(vc.base.part[0], 1);
    assert_int_equal(vc.base.part[2], 3);
    assert_string_equal(vc.tag, "v1.2.3");

    parse_ok(" 1.2.3.4-rc.1+build.7 ", CLAIM_KIND_TAG);
    assert_string_equal(vc.tag, "1.2.3.4-rc.1+build.7");
    assert_int_equal(vc.base.nparts, 4);
    assert_int_equal(vc.base.part[3], 4);
    assert_string_equal(vc.base.pre, "rc.1");
    assert_string_equal(vc.base.build, "build.7");

    parse_ok("dev-snapshot", CLAIM_KIND_TAG);
    assert_false(vc.is_semver);
    parse_ok("20240115_abc", CLAIM_KIND_TAG);
    assert_false(vc.is_semver);
    parse_ok("18446744073709551615.0", CLAIM_KIND_TAG);
    assert_true(vc.base.part[0] == UINT64_MAX);
    parse_bad("18446744073709551616.0", "too large");
}

static void test_caret_tilde_pattern(void **state)
{
    parse_ok("^1.0.0.0", CLAIM_KIND_CARET);
    assert_int_equal(vc.base.nparts, 4);
    assert_int_equal(vc.base.part[0], 1);
    parse_ok("~1.2.3", CLAIM_KIND_TILDE);
    assert_int_equal(vc.base.part[1], 2);

    parse_ok("1.x.x.x", CLAIM_KIND_PATTERN);
    assert_int_equal(vc.fixed, 1);
    assert_int_equal(vc.base.nparts, 4);
    parse_ok("1.2.*", CLAIM_KIND_PATTERN);
    assert_int_equal(vc.fixed, 2);
    assert_int_equal(vc.base.nparts, 3);
    assert_int_equal(vc.base.part[1], 2);
    parse_ok("1.X", CLAIM_KIND_PATTERN);
    assert_int_equal(vc.fixed, 1);

    parse_bad("1.x.2", "may not follow a wildcard");
    parse_bad("1.x.y", "unexpected 'y'");
    parse_bad("x.x", "fixed major");
    parse_bad("^", "caret");
    parse_bad("~1.x", "wildcard");
    parse_bad("1.2.x-rc", "prerelease");
}

static void test_ranges(void **state)
{
    parse_ok(">=1.2.0, <2.0.0", CLAIM_KIND_RANGE);
    assert_int_equal(vc.n_cmp, 2);
    assert_int_equal(vc.cmp[0].op, CLAIM_OP_GE);
    assert_int_equal(vc.cmp[0].v.part[1], 2);
    assert_int_equal(vc.cmp[1].op, CLAIM_OP_LT);
    assert_int_equal(vc.cmp[1].v.part[0], 2);

    parse_ok("> 1.0, <= 3, != 2.0.0, = 2.5", CLAIM_KIND_RANGE);
    assert_int_equal(vc.n_cmp, 4);
    assert_int_equal(vc.cmp[0].op, CLAIM_OP_GT);
    assert_int_equal(vc.cmp[1].op, CLAIM_OP_LE);
    assert_int_equal(vc.cmp[2].op, CLAIM_OP_NE);
    assert_int_equal(vc.cmp[3].op, CLAIM_OP_EQ);

    /* Bounds that meet are fine when both include the point. */
    parse_ok(">=1.0.0, <=1.0.0", CLAIM_KIND_RANGE);
    /* 1.0.0-rc.1 < 1.0.0, so this range holds the release candidates. */
    parse_ok(">=1.0.0-rc.1, <1.0.0", CLAIM_KIND_RANGE);
    /* 1.2 and 1.2.0 are the same version. */
    parse_ok(">=1.2, <=1.2.0", CLAIM_KIND_RANGE);

    parse_bad(">=2.0.0, <1.0.0", "empty range");
    parse_bad(">1.0.0, <=1.0.0", "empty range");
    parse_bad(">=1.0.0, <1.0.0", "empty range");
    parse_bad("=1.0.0, !=1.0.0", "excluded");
    parse_bad("=1.0.0, =1.0.1", "empty range");
    parse_bad(">=1.0.0-rc.2, <1.0.0-rc.1", "empty range");
    parse_bad(">=1.2.0,", "empty comparator");
    parse_bad(",>=1.2.0", "empty comparator");
    parse_bad(">= abc", "comparator 1");
    parse_bad(">=1.0 <2.0", "unexpected ' '");
    parse_bad(">=1.0 || <0.5", "||");
    parse_bad(">=1.0, 2.0", "no operator");
    parse_bad(">=1.0.0, >=1.0.1, >=1.0.2, >=1.0.3, >=1.0.4, >=1.0.5, >=1.0.6, >=1.0.7, >=1.0.8",
              "more than 8");
}

static void test_latest_and_errors(void **state)
{
    char big[400];
    ep_err err;

    parse_ok("*", CLAIM_KIND_LATEST);
    parse_ok("latest", CLAIM_KIND_LATEST);
    parse_ok("  latest\t", CLAIM_KIND_LATEST);
    parse_ok("LATEST", CLAIM_KIND_TAG);
    parse_bad("", "empty");
    parse_bad("   ", "empty");
    parse_bad("1..2", "empty part");
    parse_bad("feature/x", "OCI tag");
    memset(big, '1', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    parse_bad(big, "longer than");
    assert_int_equal(claim_version_parse(NULL, &vc, &err), CLAIM_EARG);
    assert_int_equal(claim_version_parse("v1", NULL, NULL), CLAIM_EARG);
    /* err may be NULL. */
    assert_int_equal(claim_version_parse("1..2", &vc, NULL), CLAIM_EVERSION);
}

/* Semver 2.0.0 section 11's example order, plus a fourth part and build. */
static void test_semver_order(void **state)
{
    static const char *const order[] = {
        "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
        "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.0.1", "1.0.1", "1.1", "2.0.0",
        "10.0.0",
    };
    claim_version_constraint a, b;
    size_t i, j;

    for (i = 0; i < sizeof order / sizeof order[0]; i++) {
        assert_int_equal(claim_version_parse(order[i], &a, NULL), CLAIM_OK);
        for (j = 0; j < sizeof order / sizeof order[0]; j++) {
            int c, want = i < j ? -1 : i > j;
            assert_int_equal(claim_version_parse(order[j], &b, NULL), CLAIM_OK);
            c = claim_semver_compare(&a.base, &b.base);
            c = c < 0 ? -1 : c > 0;
            if (c != want)
                fail_msg("compare(%s, %s) = %d, want %d", order[i], order[j], c, want);
        }
    }
    /* Build metadata and a leading v do not take part; missing parts are 0. */
    assert_int_equal(claim_version_parse("v1.2.0+abc", &a, NULL), CLAIM_OK);
    assert_int_equal(claim_version_parse("1.2", &b, NULL), CLAIM_OK);
    assert_int_equal(claim_semver_compare(&a.base, &b.base), 0);
    /* Numeric prerelease identifiers of any length compare numerically. */
    assert_int_equal(claim_version_parse("1.0.0-99999999999999999999999", &a, NULL), CLAIM_OK);
    assert_int_equal(claim_version_parse("1.0.0-100000000000000000000000", &b, NULL), CLAIM_OK);
    assert_true(claim_semver_compare(&a.base, &b.base) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_caret_tilde_pattern),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_latest_and_errors),
        cmocka_unit_test(test_semver_order),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
