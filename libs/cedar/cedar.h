/*
 * cedar: a Cedar authorization engine (policy language of cedarpolicy.com).
 *
 * A policy set is parsed and compiled once (cedar_policy_set_parse) into an
 * arena together with an index over the literal entities and entity types of
 * the policy scopes, then evaluated for many requests.  Entities are loaded
 * from Cedar's JSON entity format (cedar_entities_parse) into a hashed store
 * whose ancestor sets are computed once at load, so `in` is a lookup.  A
 * request is set on a cedar_ctx, a reusable per-thread scratch object; the
 * answer (decision, determining policies, erroring policies) lives in the ctx
 * until the next request.  Semantics follow the Cedar reference: default deny,
 * forbid overrides permit, a policy whose condition errors is skipped and
 * reported, 64-bit overflow is an error.
 *
 * Thread safety: policy sets and entity stores are immutable after creation
 * and may be shared by threads; a cedar_ctx belongs to one thread at a time.
 */
#ifndef EP_CEDAR_H
#define EP_CEDAR_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "err/err.h"

#define CEDAR_STATUS_MAP(X)                                                   \
    X(OK, "ok")                         /* success */                         \
    X(EPARSE, "policy parse error")     /* policy text is not valid Cedar */  \
    X(EJSON, "invalid JSON")            /* input is not well-formed JSON */   \
    X(EENTITY, "invalid entity data")   /* entity JSON violates the format */ \
    X(EREQUEST, "invalid request")      /* request JSON violates the format */\
    X(ENOMEM, "out of memory")          /* an allocation failed */            \
    X(EINVAL, "invalid argument")       /* API misuse (NULL, no request) */

typedef enum cedar_status {
#define CEDAR__ENUM(name, str) CEDAR_##name,
    CEDAR_STATUS_MAP(CEDAR__ENUM)
#undef CEDAR__ENUM
} cedar_status;

/* Static string for a status value, never NULL. */
const char *cedar_strstatus(cedar_status s);

typedef enum cedar_decision { CEDAR_DENY = 0, CEDAR_ALLOW = 1 } cedar_decision;

/* One parse error: 1-based line and column (in bytes) and a message. */
typedef struct cedar_diag {
    int    line;
    int    col;
    size_t offset;          /* byte offset into the text */
    char   msg[200];
} cedar_diag;

typedef struct cedar_policy_set cedar_policy_set;
typedef struct cedar_entities cedar_entities;
typedef struct cedar_ctx cedar_ctx;

/* Parse and compile the policies in text[0..len).  On success stores a new
 * set in *out (caller destroys it).  On failure returns CEDAR_EPARSE, fills
 * err with the first error as "line:col: message", writes up to ndiag errors
 * to diags (may be NULL) and the total number of errors to *ndiag_out (may
 * be NULL).  The text is not retained. */
cedar_status cedar_policy_set_parse(const char *text, size_t len,
                                    cedar_policy_set **out,
                                    cedar_diag *diags, size_t ndiag,
                                    size_t *ndiag_out, ep_err *err);
void cedar_policy_set_destroy(cedar_policy_set *ps);     /* accepts NULL */
size_t cedar_policy_set_count(const cedar_policy_set *ps);
/* "policy<i>", borrowed from the set. */
const char *cedar_policy_id(const cedar_policy_set *ps, size_t i);

/* Load entities from Cedar's JSON entity format: an array of
 * {"uid": {"type","id"}, "attrs": {...}, "parents": [...], "tags": {...}}.
 * The json_t is borrowed; the store copies what it needs.  New store in *out. */
cedar_status cedar_entities_from_json(const json_t *arr, cedar_entities **out,
                                      ep_err *err);
cedar_status cedar_entities_parse(const char *text, size_t len,
                                  cedar_entities **out, ep_err *err);
void cedar_entities_destroy(cedar_entities *es);          /* accepts NULL */

/* Per-thread scratch for requests; reuse it for many requests. */
cedar_ctx *cedar_ctx_create(void);
void cedar_ctx_destroy(cedar_ctx *ctx);                   /* accepts NULL */

/* Set the request from JSON {"principal": {"type","id"}, "action": ...,
 * "resource": ..., "context": {...}} (borrowed; copied into ctx). */
cedar_status cedar_ctx_set_request(cedar_ctx *ctx, const json_t *req,
                                   ep_err *err);

/* The answer of the last cedar_authorize on a ctx.  The arrays hold policy
 * indexes (ascending) and belong to the ctx until its next request. */
typedef struct cedar_response {
    cedar_decision   decision;
    const uint32_t  *reasons;       /* determining policies */
    size_t           nreasons;
    const uint32_t  *errors;        /* policies whose evaluation errored */
    const char *const *error_msgs;  /* static message per erroring policy */
    size_t           nerrors;
} cedar_response;

/* Decide the ctx's current request against ps and es (es may be NULL for no
 * entities).  Does not allocate once the ctx has warmed up, except for values
 * the policies construct (sets, records) in the ctx's scratch arena. */
cedar_status cedar_authorize(cedar_ctx *ctx, const cedar_policy_set *ps,
                             const cedar_entities *es, cedar_response *out,
                             ep_err *err);

/* Write the response as {"decision":..,"reasons":[ids],"errors":[ids]}.
 * New reference. */
json_t *cedar_response_to_json(const cedar_policy_set *ps,
                               const cedar_response *r);

#endif
