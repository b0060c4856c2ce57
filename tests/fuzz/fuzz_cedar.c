/*
 * fuzz_cedar: libFuzzer harness for the Cedar parser and evaluator.
 *
 * The input is policy text, optionally followed by a NUL byte and Cedar
 * entity JSON.  The text is parsed (every error path of the parser is
 * reachable); when it parses, the policies are evaluated against the
 * entities of the input, or against a fixed world with a hierarchy, tags
 * and extension values when the input has none or they do not load, for a
 * few requests through one reused ctx.  Any crash, leak or UB fails.
 *
 *   clang -fsanitize=fuzzer,address,undefined ... (see docs/cedar.md)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cedar/cedar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *WORLD =
    "[{\"uid\":{\"type\":\"User\",\"id\":\"alice\"},\"parents\":[{\"type\":\"Group\",\"id\":\"eng\"}],"
    "  \"attrs\":{\"name\":\"alice\",\"age\":30,\"tags\":[\"a\",\"b\"],\"profile\":{\"dept\":\"eng\",\"n\":{\"x\":1}},"
    "  \"ip\":{\"__extn\":{\"fn\":\"ip\",\"arg\":\"10.0.0.1\"}},\"d\":{\"__extn\":{\"fn\":\"decimal\",\"arg\":\"1.5\"}},"
    "  \"m\":{\"__entity\":{\"type\":\"User\",\"id\":\"bob\"}}},\"tags\":{\"env\":\"prod\"}},"
    " {\"uid\":{\"type\":\"User\",\"id\":\"bob\"},\"parents\":[{\"type\":\"Group\",\"id\":\"all\"}],\"attrs\":{\"age\":9223372036854775807}},"
    " {\"uid\":{\"type\":\"Group\",\"id\":\"eng\"},\"parents\":[{\"type\":\"Group\",\"id\":\"all\"}],\"attrs\":{}},"
    " {\"uid\":{\"type\":\"Doc\",\"id\":\"d\"},\"parents\":[{\"type\":\"Folder\",\"id\":\"f\"}],"
    "  \"attrs\":{\"owner\":{\"__entity\":{\"type\":\"User\",\"id\":\"alice\"}}}},"
    " {\"uid\":{\"type\":\"Action\",\"id\":\"view\"},\"parents\":[{\"type\":\"Action\",\"id\":\"read\"}],\"attrs\":{}}]";

static const char *REQUESTS[] = {
    "{\"principal\":{\"type\":\"User\",\"id\":\"alice\"},\"action\":{\"type\":\"Action\",\"id\":\"view\"},"
    " \"resource\":{\"type\":\"Doc\",\"id\":\"d\"},\"context\":{\"n\":5,\"s\":\"hello\",\"set\":[1,2],\"r\":{\"a\":true}}}",
    "{\"principal\":{\"type\":\"User\",\"id\":\"bob\"},\"action\":{\"type\":\"Action\",\"id\":\"edit\"},"
    " \"resource\":{\"type\":\"Folder\",\"id\":\"f\"},\"context\":{}}",
    "{\"principal\":{\"type\":\"Ghost\",\"id\":\"\"},\"action\":{\"type\":\"Action\",\"id\":\"read\"},"
    " \"resource\":{\"type\":\"Group\",\"id\":\"all\"}}",
};

static cedar_entities *world;
static cedar_ctx *ctxs[3];

static void setup(void) {
    if (world) return;
    if (cedar_entities_parse(WORLD, strlen(WORLD), &world, NULL)) abort();
    for (int i = 0; i < 3; i++) {
        json_t *j = json_loads(REQUESTS[i], 0, NULL);
        ctxs[i] = cedar_ctx_create();
        if (!j || !ctxs[i] || cedar_ctx_set_request(ctxs[i], j, NULL)) abort();
        json_decref(j);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    setup();
    const char *text = (const char *)data;
    const uint8_t *nul = memchr(data, 0, size);
    size_t tlen = nul ? (size_t)(nul - data) : size;
    cedar_policy_set *ps = NULL;
    cedar_diag d[4];
    size_t nd;
    if (cedar_policy_set_parse(text, tlen, &ps, d, 4, &nd, NULL) != CEDAR_OK) return 0;
    cedar_entities *es = NULL;
    if (nul && cedar_entities_parse((const char *)nul + 1, size - tlen - 1, &es, NULL) != CEDAR_OK)
        es = NULL;
    for (int i = 0; i < 3; i++) {
        cedar_response r;
        if (cedar_authorize(ctxs[i], ps, es ? es : world, &r, NULL) != CEDAR_OK) abort();
        json_t *j = cedar_response_to_json(ps, &r);
        json_decref(j);
    }
    cedar_entities_destroy(es);
    cedar_policy_set_destroy(ps);
    return 0;
}
