/*
 * CloudEvents binary-mode envelope: the binding's percent-encoding rule
 * and the header set every envplane event carries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ce/ce.h"

static void encode_rule(void **state)
{
    char out[128];

    (void)state;
    assert_int_equal(ce_percent_encode("dev-team1", out, sizeof out), CE_OK);
    assert_string_equal(out, "dev-team1");
    /* space, quote and percent are encoded; other printable ASCII is not */
    assert_int_equal(ce_percent_encode("a b\"c%d/e:f", out, sizeof out), CE_OK);
    assert_string_equal(out, "a%20b%22c%25d/e:f");
    /* UTF-8 bytes and controls, upper-case hex */
    assert_int_equal(ce_percent_encode("\xc3\xa9\x7f\n", out, sizeof out), CE_OK);
    assert_string_equal(out, "%C3%A9%7F%0A");
    assert_int_equal(ce_percent_encode("abc", out, 3), CE_ENOSPC);
    assert_int_equal(ce_percent_encode("a b", out, 4), CE_ENOSPC);
}

static void decode_roundtrip(void **state)
{
    const char *samples[] = { "", "plain", "sp ace", "100%", "\"q\"", "\xe2\x82\xac uro", "tab\there" };
    char enc[128], dec[128];

    (void)state;
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        assert_int_equal(ce_percent_encode(samples[i], enc, sizeof enc), CE_OK);
        assert_int_equal(ce_percent_decode(enc, dec, sizeof dec), CE_OK);
        assert_string_equal(dec, samples[i]);
    }
    assert_int_equal(ce_percent_decode("%c3%a9", dec, sizeof dec), CE_OK);   /* lower-case hex accepted */
    assert_string_equal(dec, "\xc3\xa9");
    assert_int_equal(ce_percent_decode("bad%zz", dec, sizeof dec), CE_EINVAL);
    assert_int_equal(ce_percent_decode("cut%4", dec, sizeof dec), CE_EINVAL);
    assert_int_equal(ce_percent_decode("cut%", dec, sizeof dec), CE_EINVAL);
}

static const char *find(const ce_headers *hs, const char *name)
{
    for (size_t i = 0; i < hs->n; i++)
        if (strcmp(hs->h[i].name, name) == 0)
            return hs->h[i].value;
    return NULL;
}

static void header_set(void **state)
{
    ce_event   ev = { .id = "claim-accepted/dev-x/1", .source = "/envplane/claim-ingest",
                      .type = "io.envplane.claim.v1.accepted", .time = "2026-11-23T11:30:00.123Z",
                      .subject = "dev x", .datacontenttype = CE_CONTENT_TYPE_PROTOBUF };
    ce_headers hs;
    ep_err     err = { 0 };

    (void)state;
    assert_int_equal(ce_headers_build(&ev, &hs, &err), CE_OK);
    assert_string_equal(find(&hs, "ce-specversion"), "1.0");
    assert_string_equal(find(&hs, "ce-id"), "claim-accepted/dev-x/1");
    assert_string_equal(find(&hs, "ce-type"), "io.envplane.claim.v1.accepted");
    assert_string_equal(find(&hs, "ce-source"), "/envplane/claim-ingest");
    assert_string_equal(find(&hs, "ce-subject"), "dev%20x");
    assert_string_equal(find(&hs, "content-type"), "application/protobuf");
    assert_null(find(&hs, "ce-dataschema"));
    ce_headers_dispose(&hs);

    ev.id = NULL;
    assert_int_equal(ce_headers_build(&ev, &hs, &err), CE_EMISSING);
    assert_non_null(strstr(err.msg, "id"));
    ev.id = "x";
    ev.type = "";
    assert_int_equal(ce_headers_build(&ev, &hs, &err), CE_EMISSING);
    assert_non_null(strstr(err.msg, "type"));
}

static void time_format(void **state)
{
    char t[32];

    (void)state;
    ce_time_format(0, t);
    assert_string_equal(t, "1970-01-01T00:00:00Z");
    ce_time_format(1700000000, t);
    assert_string_equal(t, "2023-11-14T22:13:20Z");
    ce_time_now(t);
    assert_int_equal(strlen(t), 24);
    assert_int_equal(t[23], 'Z');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(encode_rule),
        cmocka_unit_test(decode_roundtrip),
        cmocka_unit_test(header_set),
        cmocka_unit_test(time_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
