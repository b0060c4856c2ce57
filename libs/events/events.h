/*
 * events: the catalogue of envplane events — NATS subject, CloudEvents type
 * and protobuf payload of each — in one table, so publishers, tools and docs
 * never spell a subject twice.
 */
#ifndef EP_EVENTS_H
#define EP_EVENTS_H

#include <protobuf-c/protobuf-c.h>

#define EV_CLAIM_ACCEPTED "platform.claim.v1.accepted"
#define EV_CLAIM_REJECTED "platform.claim.v1.rejected"
#define EV_CLAIM_DELETED  "platform.claim.v1.deleted"

#define EV_ENV_PROVISIONING   "platform.env.v1.provisioning"
#define EV_ENV_READY          "platform.env.v1.ready"
#define EV_ENV_FAILED         "platform.env.v1.failed"
#define EV_ENV_DEPROVISIONING "platform.env.v1.deprovisioning"
#define EV_ENV_DELETED        "platform.env.v1.deleted"
#define EV_ENV_EXPIRING       "platform.env.v1.expiring"
#define EV_ENV_EXPIRED        "platform.env.v1.expired"
#define EV_ENV_EXPIRY_WARNING "platform.env.v1.expiry_warning"

#define EV_INDEX_UPDATED      "platform.index.v1.updated"
/* Request/reply subjects (not events, not in the stream). */
#define RPC_INDEX_QUERY       "platform.index.v1.query"

#define EV_ATTEST_VERIFIED    "platform.attest.v1.verified"
#define EV_ATTEST_FAILED      "platform.attest.v1.failed"
/* Request/reply subjects of the attester (not events, not in the stream). */
#define RPC_ATTEST_CHALLENGE  "platform.attest.v1.challenge"
#define RPC_ATTEST_VERIFY     "platform.attest.v1.verify"
#define RPC_SECRET_RELEASE    "platform.secret.v1.release"

typedef struct events_entry {
    const char *subject;   /* NATS subject */
    const char *ce_type;   /* CloudEvents type */
    const ProtobufCMessageDescriptor *payload;
    const char *summary;
} events_entry;

/* The whole catalogue, terminated by an entry with subject NULL. */
extern const events_entry events_catalogue[];

/* Lookup by subject or by CloudEvents type; NULL if unknown. */
const events_entry *events_by_subject(const char *subject);
const events_entry *events_by_type(const char *ce_type);

#endif
