/*
 * fuzz_index: the indexer's decoding of PLATFORM stream messages.  Anyone
 * who can publish on an event subject can hand the indexer arbitrary bytes,
 * so index_event_decode must reject them with a reason and never crash or
 * leak; index_parse_time gets the same bytes as a date string.
 *
 * The first input byte picks the subject (so every payload type is reached),
 * the rest is the payload.  Built and run by scripts/fuzz.sh.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "index/index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const subjects[] = {
    "platform.claim.v1.accepted", "platform.claim.v1.deleted", "platform.claim.v1.rejected",
    "platform.env.v1.provisioning", "platform.env.v1.ready", "platform.env.v1.failed",
    "platform.env.v1.deprovisioning", "platform.env.v1.deleted", "platform.env.v1.expired",
    "platform.index.v1.updated", "platform.unknown.v1.x",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    index_event ev;
    ep_err      err = { 0 };
    long long   t;
    char        text[128];
    const char *subject;

    if (size == 0)
        return 0;
    subject = subjects[data[0] % (sizeof subjects / sizeof subjects[0])];
    memset(&ev, 0, sizeof ev);
    if (index_event_decode(subject, data + 1, size - 1, 7, &ev, &err) == INDEX_OK) {
        /* A decoded event always names its environment. */
        if (ev.env == NULL || ev.env[0] == '\0')
            abort();
        index_event_dispose(&ev);
    } else if (err.msg[0] == '\0' && err.code != 0) {
        abort();   /* a rejection must say why */
    }
    if (size - 1 < sizeof text) {
        memcpy(text, data + 1, size - 1);
        text[size - 1] = '\0';
        (void)index_parse_time(text, &t);
    }
    return 0;
}
