/*
 * timers: the expirer's durable timers in Redis.
 *
 * One sorted set holds every pending action, scored by the Unix time in
 * milliseconds at which it is due; one hash per environment holds what the
 * action needs and which step it is at:
 *
 *   ep:expirer:due          ZSET  member = environment name, score = due (ms)
 *   ep:expirer:env:<name>   HASH  generation expiration expiration_ms source
 *                                 bucket key phase lease
 *
 * Every mutation is one Lua script, so a replica never sees half an update.
 * Several replicas share the set safely through leases: timers_lease() takes
 * the due entries and, in the same script, moves their score to now + lease
 * and bumps the hash's lease counter.  Other replicas no longer see them as
 * due; the holder acts and then calls timers_complete() with the token it
 * was given, which succeeds only if nobody re-leased the entry (the holder
 * died or stalled past its lease) and no newer claim generation replaced it.
 * A holder that dies simply lets its lease run out, and the entry becomes
 * due again for whoever looks next.
 *
 * Generations make redelivered and reordered claim events harmless: a
 * schedule or cancel for an older generation than the one stored is
 * ignored, and one for the same generation does not reset the step reached.
 * Finished timers (done, cancelled, deleted) leave their hash behind as a
 * tombstone with a TTL so a late redelivery still finds the generation.
 *
 * Nothing here knows about NATS or S3, and time is always an argument: the
 * caller's clock is the only clock, so tests drive time freely.  One
 * timers object per thread (it holds no connection, only the scripts; the
 * store passed in must belong to the calling thread).
 */
#ifndef EXPIRER_TIMERS_H
#define EXPIRER_TIMERS_H

#include <stddef.h>

#include "err/err.h"
#include "store/store.h"

#define TIMERS_DUE_KEY    "ep:expirer:due"
#define TIMERS_ENV_PREFIX "ep:expirer:env:"

#define TIMERS_STATUS_MAP(X)                                                    \
    X(TIMERS_OK, "ok")                                                          \
    X(TIMERS_ENOMEM, "out of memory")                                           \
    X(TIMERS_EREDIS, "redis command failed")      /* message from libs/store */ \
    X(TIMERS_EPROTO, "unexpected reply from a timer script")                    \
    X(TIMERS_EINVAL, "invalid argument")

typedef enum {
#define TIMERS_ENUM(name, str) name,
    TIMERS_STATUS_MAP(TIMERS_ENUM)
#undef TIMERS_ENUM
} timers_status;

const char *timers_strstatus(int status);

/* The step an environment's timer is at.  The first three are in the due
 * set; the last three are tombstones. */
typedef enum {
    TIMER_SCHEDULED,   /* waiting for the lead time (dynamic) or deadline (static) */
    TIMER_WARNED,      /* env.expiring sent; waiting for the deadline */
    TIMER_EXPIRED,     /* env.expired sent; the claim object still to delete */
    TIMER_DONE,        /* finished: object deleted, or static warning sent */
    TIMER_NONE,        /* the current generation has no expiration */
    TIMER_DELETED      /* the claim was deleted (claim.deleted) */
} timer_phase;

const char *timer_phase_name(timer_phase p);
/* -1 if s names no phase. */
int         timer_phase_parse(const char *s);

/* What a timer knows about its claim (all strings borrowed by schedule,
 * owned by the entry in a lease result). */
typedef struct timer_claim {
    const char        *env;
    unsigned long long generation;
    const char        *expiration;     /* RFC 3339 as in the claim; "" = never expires */
    long long          expiration_ms;  /* Unix ms of expiration (ignored when "") */
    int                is_static;      /* from the static-environments bucket: never deleted */
    const char        *bucket, *key;   /* where the claim object lives */
} timer_claim;

/* One leased entry.  Strings point into the entry's own storage. */
typedef struct timer_entry {
    char              *env;
    unsigned long long generation;
    timer_phase        phase;
    char              *expiration;
    long long          expiration_ms;
    int                is_static;
    char              *bucket, *key;
    char              *token;          /* lease token for timers_complete */
} timer_entry;

typedef struct timers timers;

/* Create the scripts; tombstone_ttl_ms bounds how long finished timers keep
 * their generation (it must outlast any redelivery of an old claim event).
 * NULL on out of memory. */
timers *timers_create(long long tombstone_ttl_ms);
void    timers_destroy(timers *t);

/* Outcome of schedule/cancel. */
typedef enum {
    TIMERS_APPLIED,   /* stored: a new generation (or first sight of the env) */
    TIMERS_SAME,      /* this generation was already applied: nothing changed */
    TIMERS_STALE      /* an older generation than the stored one: ignored */
} timers_outcome;

/* Record a claim generation.  With an expiration it is scheduled: the first
 * action is due at expiration - lead_ms for dynamic claims (the lead-time
 * warning) and at the expiration for static ones.  Without one, any timer of
 * an older generation is cancelled (phase none).  *outcome says which. */
int timers_schedule(timers *t, store *st, const timer_claim *c, long long lead_ms,
                    timers_outcome *outcome, ep_err *err);

/* The claim was deleted at generation gen: drop its timer (phase deleted)
 * unless a newer generation is stored. */
int timers_cancel(timers *t, store *st, const char *env, unsigned long long generation,
                  timers_outcome *outcome, ep_err *err);

/* Lease up to limit entries due at or before now_ms for lease_ms.  On
 * success *out is a new array of *n entries (free with timers_entries_free).
 * Entries whose hash vanished are dropped from the set on the way. */
int timers_lease(timers *t, store *st, long long now_ms, long long lease_ms, size_t limit,
                 timer_entry **out, size_t *n, ep_err *err);
void timers_entries_free(timer_entry *e, size_t n);

/* Finish a step of a leased entry: move it to phase, due again at due_ms,
 * or out of the set when phase is a tombstone (due_ms ignored).  *lost is 1
 * when the lease was taken over or a newer generation replaced the entry:
 * nothing was changed and the caller drops it. */
int timers_complete(timers *t, store *st, const timer_entry *e, timer_phase phase,
                    long long due_ms, int *lost, ep_err *err);

/* Score of the earliest entry (due time or lease end), or -1 if none. */
int timers_next_due(store *st, long long *due_ms, ep_err *err);
/* Number of entries in the due set. */
int timers_pending(store *st, long long *n, ep_err *err);

/* Parse the normalised claim form "YYYY-MM-DDTHH:MM:SS[.f]Z" (any RFC 3339
 * UTC date-time with 'Z') into Unix milliseconds (fraction truncated).
 * 0 on success, -1 if s is not of that form. */
int timers_parse_time(const char *s, long long *ms);
/* Format Unix ms as "YYYY-MM-DDTHH:MM:SS.mmmZ". */
void timers_format_time(long long ms, char out[32]);

#endif
