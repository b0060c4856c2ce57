/*
 * index: the environment index the indexer service keeps in Redis, as a
 * library that needs no NATS — event folding, atomic document updates and
 * the query engine.
 *
 * One document per environment (EnvironmentDoc, protobuf) plus secondary
 * indexes, all under one key prefix (the service uses "ep:indexer:"):
 *
 *   <p>doc:<env>        hash: pb (EnvironmentDoc bytes), cgen (generation of
 *                       the claim fields), gen + seq (generation and stream
 *                       sequence of the event that set the state), useq
 *                       (stream sequence of the last change), pending (1 =
 *                       change not yet announced), user pool type state,
 *                       cscore escore (sort scores)
 *   <p>tomb:<env>       hash: gen useq pending pb — a removed environment,
 *                       kept for a while so late events of its generation
 *                       cannot resurrect it
 *   <p>user:<user>  <p>pool:<pool>  <p>type:<n>  <p>state:<n>   sets of names
 *   <p>by-creation      sorted set, score = creation time (Unix seconds)
 *   <p>by-expiry        sorted set, score = expiry time, +inf = never
 *
 * A document and its index entries change together in one Lua script that
 * also checks the document is still the version the change was computed
 * from (compare-and-set on useq), so a crash or a second indexer replica
 * never leaves them inconsistent.
 *
 * Ordering: an event's (generation, stream sequence) must be newer than
 * the one that set the current state, so a late event of an older claim
 * generation never overwrites a newer one.  Claim fields follow the newest
 * claim.accepted generation on their own, so a claim.accepted delivered
 * after its own generation's env.* events still fills them in.
 *
 * An index value is immutable after creation and may be shared between
 * threads; each thread passes its own store (libs/store).
 */
#ifndef EP_INDEX_H
#define EP_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "err/err.h"
#include "store/store.h"

#define INDEX_STATUS_MAP(X)                                                        \
    X(INDEX_OK, "ok")                                                              \
    X(INDEX_ESKIP, "not an event the index folds (ignore it)")                     \
    X(INDEX_EINVAL, "malformed event or invalid argument")                         \
    X(INDEX_ESTORE, "Redis failed (message carries the store error)")              \
    X(INDEX_ECONFLICT, "the document kept changing under us (retry later)")        \
    X(INDEX_ENOMEM, "out of memory")

typedef enum {
#define INDEX_ENUM(name, str) name,
    INDEX_STATUS_MAP(INDEX_ENUM)
#undef INDEX_ENUM
} index_status;

const char *index_strstatus(int status);

typedef struct index_db index_db;

/* prefix ("ep:indexer:") is copied.  tomb_ttl_ms: how long a removed
 * environment's tombstone lives (<= 0: 7 days).  NULL on out of memory. */
index_db *index_create(const char *prefix, long long tomb_ttl_ms);
void   index_destroy(index_db *ix);   /* NULL-safe */

/* ---- events ------------------------------------------------------------------ */

typedef enum {
    INDEX_EV_ACCEPTED,       /* claim.accepted: claim fields, state pending */
    INDEX_EV_TRANSITION,     /* env.provisioning/ready/failed/deprovisioning */
    INDEX_EV_CLAIM_DELETED,  /* claim.deleted */
    INDEX_EV_ENV_DELETED     /* env.deleted: the environment leaves the index */
} index_event_kind;

/* One event reduced to what the index needs.  Owns the unpacked payload. */
typedef struct index_event {
    index_event_kind kind;
    const char      *env;          /* borrowed from the payload */
    uint64_t         generation;
    uint64_t         seq;          /* JetStream stream sequence */
    int              state;        /* Envplane__Env__V1__EnvState for transitions */
    const char      *reason;
    const char      *at;           /* event time, RFC 3339, may be "" */
    int              env_type, source;   /* from a transition, 0 if unknown */
    void            *payload;      /* the unpacked protobuf message */
    const void      *claim_accepted;     /* = payload for INDEX_EV_ACCEPTED */
} index_event;

/* Decode a PLATFORM stream message.  INDEX_ESKIP for subjects the index
 * does not fold (claim.rejected, env.expiring, index.updated, ...),
 * INDEX_EINVAL (err says why) for a payload that does not decode or lacks
 * the environment name.  On INDEX_OK release with index_event_dispose. */
int  index_event_decode(const char *subject, const void *data, size_t len, uint64_t seq,
                        index_event *ev, ep_err *err);
void index_event_dispose(index_event *ev);

/* ---- applying ---------------------------------------------------------------- */

typedef enum {
    INDEX_APPLIED,   /* the document changed (or was removed): announce it */
    INDEX_SAME,      /* this very event was applied before (redelivery) */
    INDEX_STALE,     /* older than what the document already reflects */
    INDEX_IGNORED    /* nothing to change (e.g. deletion of an unknown env) */
} index_verdict;

/* An IndexUpdated to publish: id "index-updated/<env>/<useq>", seq = useq
 * for index_mark_published.  data is a new buffer (free it). */
typedef struct index_announce {
    char     id[200];
    char     env[72];
    uint64_t seq;
    uint8_t *data;
    size_t   len;
    int      removed;
} index_announce;

typedef struct index_result {
    index_verdict  verdict;
    /* Up to two announcements, oldest first: a change committed earlier but
     * never announced (crash between commit and publish), then this one.
     * INDEX_SAME carries the event's own announcement again only if it is
     * still pending. */
    index_announce ann[2];
    int            nann;
    int            state;     /* resulting state (EnvState), 6 = removed */
} index_result;

/* Fold ev into the index.  now is the RFC 3339 time recorded as
 * updated_at.  Retries a lost compare-and-set a few times.  On success
 * free the announcements with index_result_dispose. */
int  index_apply(index_db *ix, store *st, const index_event *ev, const char *now,
                 index_result *res, ep_err *err);
void index_result_dispose(index_result *res);

/* The announcement with this useq was published: clear its pending flag
 * (a no-op if the document moved on meanwhile). */
int  index_mark_published(index_db *ix, store *st, const char *env, uint64_t seq, ep_err *err);

/* Delete every key under the prefix (for a rebuild).  Returns the number
 * of keys deleted or -1 with err filled. */
long long index_wipe(index_db *ix, store *st, ep_err *err);

/* ---- queries ----------------------------------------------------------------- */

/* Answer one Query (protobuf bytes) with a QueryReply (new buffer in
 * *reply, free it).  An invalid query is not an error: the reply's error
 * field names the offending field.  Returns INDEX_OK, or INDEX_ESTORE /
 * INDEX_ENOMEM when the index could not be read (the caller answers with
 * an error reply of its own). */
int  index_query(index_db *ix, store *st, const void *req, size_t req_len,
                 uint8_t **reply, size_t *reply_len, ep_err *err);

/* How a filtered query finds its page.  AUTO (the default) walks the sort
 * order testing set membership when at least one document in 8 matches,
 * and intersects into a scratch sorted set otherwise (and always for an
 * expiry window).  The others force one way; for tests and benchmarks.
 * Not thread-safe against concurrent queries: set it before sharing. */
typedef enum { INDEX_STRATEGY_AUTO, INDEX_STRATEGY_INTERSECT, INDEX_STRATEGY_SCAN } index_strategy;
void index_set_query_strategy(index_db *ix, index_strategy s);

/* Build a QueryReply carrying only an error message (new buffer). */
int  index_error_reply(const char *msg, uint8_t **reply, size_t *reply_len);

/* Parse RFC 3339 ("2024-01-15T10:30:00Z", fractions and offsets allowed)
 * to Unix seconds.  0 on success, -1 if malformed. */
int  index_parse_time(const char *s, long long *out);

#endif
