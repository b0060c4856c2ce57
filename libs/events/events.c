/*
 * events: the event catalogue table.  The CloudEvents type is the subject
 * with "platform." replaced by "io.envplane.", so the two never disagree.
 */
#include "events/events.h"

#include <string.h>

#include "envplane/attest/v1/attest.pb-c.h"
#include "envplane/claim/v1/claim.pb-c.h"
#include "envplane/env/v1/env.pb-c.h"
#include "envplane/index/v1/index.pb-c.h"

const events_entry events_catalogue[] = {
    { EV_CLAIM_ACCEPTED, "io.envplane.claim.v1.accepted", &envplane__claim__v1__claim_accepted__descriptor,
      "a claim was validated and normalised; new content means a new generation" },
    { EV_CLAIM_REJECTED, "io.envplane.claim.v1.rejected", &envplane__claim__v1__claim_rejected__descriptor,
      "a claim object failed validation; every field error is listed" },
    { EV_CLAIM_DELETED, "io.envplane.claim.v1.deleted", &envplane__claim__v1__claim_deleted__descriptor,
      "a claim object was removed from its bucket" },
    { EV_ENV_PROVISIONING, "io.envplane.env.v1.provisioning", &envplane__env__v1__env_transition__descriptor,
      "desired state for a claim generation is being rendered" },
    { EV_ENV_READY, "io.envplane.env.v1.ready", &envplane__env__v1__env_transition__descriptor,
      "desired state for a claim generation is in the state bucket" },
    { EV_ENV_FAILED, "io.envplane.env.v1.failed", &envplane__env__v1__env_transition__descriptor,
      "provisioning a generation failed; reason says why" },
    { EV_ENV_DEPROVISIONING, "io.envplane.env.v1.deprovisioning", &envplane__env__v1__env_transition__descriptor,
      "the environment's rendered state is being removed" },
    { EV_ENV_DELETED, "io.envplane.env.v1.deleted", &envplane__env__v1__env_transition__descriptor,
      "the environment is gone (claim deleted or expired)" },
    { EV_ENV_EXPIRING, "io.envplane.env.v1.expiring", &envplane__env__v1__env_expiry__descriptor,
      "the claim expires soon (lead time before its expiration_date)" },
    { EV_ENV_EXPIRED, "io.envplane.env.v1.expired", &envplane__env__v1__env_expiry__descriptor,
      "the claim reached its expiration_date and its object was deleted" },
    { EV_ENV_EXPIRY_WARNING, "io.envplane.env.v1.expiry_warning", &envplane__env__v1__env_expiry__descriptor,
      "a static (git-managed) claim is past its expiration_date; it is never deleted automatically" },
    { EV_INDEX_UPDATED, "io.envplane.index.v1.updated", &envplane__index__v1__index_updated__descriptor,
      "the index document of an environment changed or was removed" },
    { EV_ATTEST_VERIFIED, "io.envplane.attest.v1.verified", &envplane__attest__v1__attest_verified__descriptor,
      "evidence of a workload verified against its environment's reference values; a result token was issued" },
    { EV_ATTEST_FAILED, "io.envplane.attest.v1.failed", &envplane__attest__v1__attest_failed__descriptor,
      "evidence of a workload failed verification or appraisal; every reason is listed" },
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
