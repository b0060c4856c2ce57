/*
 * events: the event catalogue table.  The CloudEvents type is the subject
 * with "platform." replaced by "io.envplane.", so the two never disagree.
 */
#include "events/events.h"

#include <string.h>

#include "envplane/claim/v1/claim.pb-c.h"

const events_entry events_catalogue[] = {
    { EV_CLAIM_ACCEPTED, "io.envplane.claim.v1.accepted", &envplane__claim__v1__claim_accepted__descriptor,
      "a claim was validated and normalised; new content means a new generation" },
    { EV_CLAIM_REJECTED, "io.envplane.claim.v1.rejected", &envplane__claim__v1__claim_rejected__descriptor,
      "a claim object failed validation; every field error is listed" },
    { EV_CLAIM_DELETED, "io.envplane.claim.v1.deleted", &envplane__claim__v1__claim_deleted__descriptor,
      "a claim object was removed from its bucket" },
    { NULL, NULL, NULL, NULL },
};

const events_entry *events_by_subject(const char *subject)
{
    for (const events_entry *e = events_catalogue; e->subject; e++)
        if (strcmp(e->subject, subject) == 0)
            return e;
    return NULL;
}

const events_entry *events_by_type(const char *ce_type)
{
    for (const events_entry *e = events_catalogue; e->subject; e++)
        if (strcmp(e->ce_type, ce_type) == 0)
            return e;
    return NULL;
}
