/*
 * provisioner: the per-environment state machine, persisted in Redis.
 *
 *                 claim.accepted (generation G > stored)
 *                              |
 *                              v
 *   pending --(env.provisioning published)--> provisioning --> ready
 *                                                          \--> failed (reason)
 *   pending | provisioning | ready | failed
 *       --(claim.deleted / env.expired, G >= stored)--> deprovisioning --> deleted
 *
 * One Redis hash per environment, ep:provisioner:env:<name>:
 *   state generation previous reason documents type source published updated_at
 * Every change goes through one Lua script that compares generations, so an
 * older generation arriving late (a redelivery, a retried message overtaken
 * by a newer one) can never overwrite a newer one, and a transition that is
 * already in place is reported as such rather than done twice.  `published`
 * says whether the event announcing the current state went out; it makes a
 * crash between committing a state and publishing its event recoverable
 * without publishing twice.
 */
#ifndef PROVISIONER_ENVSTATE_H
#define PROVISIONER_ENVSTATE_H

#include <stdint.h>

#include "err/err.h"
#include "store/store.h"

typedef enum {
    ENVSTATE_NONE = 0,        /* no record */
    ENVSTATE_PENDING,
    ENVSTATE_PROVISIONING,
    ENVSTATE_READY,
    ENVSTATE_FAILED,
    ENVSTATE_DEPROVISIONING,
    ENVSTATE_DELETED
} envstate_state;

/* Same numbers as envplane.env.v1.EnvState. */
const char    *envstate_name(envstate_state s);          /* "pending", ... "" for NONE */
envstate_state envstate_parse(const char *s);            /* NONE if unknown */

/* May `from` become `to` within one generation?  (A newer generation may
 * start from any state; see envstate_transition.) */
int envstate_allowed(envstate_state from, envstate_state to);

typedef enum {
    ENVSTATE_OK,       /* the transition was made */
    ENVSTATE_SAME,     /* already in `to` at this generation: nothing done */
    ENVSTATE_STALE,    /* the record holds a newer generation: nothing done */
    ENVSTATE_REFUSED   /* same generation, `to` not reachable from the current state */
} envstate_verdict;

/* The record as the script left it (after the transition, if one was made). */
typedef struct envstate_record {
    envstate_state state;
    uint64_t       generation;
    envstate_state previous;
    int            published;
    char           type[16];      /* environment type name ("dev"), "" if unknown */
    char           source[16];    /* claim source name ("dynamic"), "" if unknown */
    char           reason[256];
} envstate_record;

typedef struct envstate envstate;

/* Scripts for one store connection's user; NULL when out of memory. */
envstate *envstate_create(void);
void      envstate_destroy(envstate *es);

typedef struct envstate_change {
    uint64_t       generation;
    envstate_state to;
    int            new_generation_ok;  /* allow starting generation G over an older one */
    const char    *reason;             /* "" or NULL: keep none */
    const char    *documents;          /* newline-separated keys (ready), NULL: clear */
    const char    *type;               /* NULL: keep */
    const char    *source;             /* NULL: keep */
    const char    *at;                 /* RFC 3339 */
} envstate_change;

/* Apply ch to env's record.  Returns 0 with *verdict and *rec filled, or -1
 * with err (Redis failure: the caller retries the whole message). */
int envstate_transition(envstate *es, store *st, const char *env, const envstate_change *ch,
                        envstate_verdict *verdict, envstate_record *rec, ep_err *err);

/* Mark the event of (generation, state) published, if the record is still
 * there.  Returns 0 or -1 with err. */
int envstate_mark_published(envstate *es, store *st, const char *env, uint64_t generation,
                            envstate_state state, ep_err *err);

/* Read env's record (state NONE when absent).  0 or -1 with err. */
int envstate_get(store *st, const char *env, envstate_record *rec, ep_err *err);

#endif
