/*
 * cedar internals shared by the parser, the evaluator, the entity store and
 * the authorizer.  Everything a compiled policy set or an entity store owns
 * lives in one arena per object, so destroying it is freeing a chunk list,
 * and per-request values live in the ctx's scratch arena, reset per request.
 */
#ifndef EP_CEDAR_INTERNAL_H
#define EP_CEDAR_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "cedar/cedar.h"

/* ---- arena ---------------------------------------------------------------- */
typedef struct cedar__chunk {
    struct cedar__chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
} cedar__chunk;

typedef struct cedar__arena {
    cedar__chunk *head;
} cedar__arena;

void *cedar__alloc(cedar__arena *a, size_t n);           /* zeroed, 16-aligned */
char *cedar__strndup(cedar__arena *a, const char *s, size_t n);
void  cedar__arena_reset(cedar__arena *a);   /* keeps the largest chunk */
void  cedar__arena_free(cedar__arena *a);

/* ---- strings and entity uids ----------------------------------------------- */
typedef struct cedar__str {
    const char *p;
    uint32_t    n;
    uint32_t    h;
} cedar__str;

uint32_t cedar__hash(const char *p, size_t n);
static inline bool cedar__str_eq(const cedar__str *a, const cedar__str *b) {
    return a->n == b->n && a->h == b->h && memcmp(a->p, b->p, a->n) == 0;
}

typedef struct cedar__uid {
    cedar__str type;
    cedar__str id;
    uint32_t   h;                 /* combined hash */
} cedar__uid;

static inline bool cedar__uid_eq(const cedar__uid *a, const cedar__uid *b) {
    return a == b || (a->h == b->h && cedar__str_eq(&a->type, &b->type) &&
                      cedar__str_eq(&a->id, &b->id));
}
void cedar__uid_init(cedar__uid *u, const char *t, size_t tn, const char *id,
                     size_t idn);

/* ---- values ------------------------------------------------------------------- */
typedef enum {
    CV_BOOL, CV_LONG, CV_STRING, CV_ENTITY, CV_SET, CV_RECORD,
    CV_IP, CV_DECIMAL, CV_DATETIME, CV_DURATION
} cedar__kind;

struct cedar__set;
struct cedar__rec;
typedef struct cedar__ip {
    uint8_t v6, prefix;
    uint8_t addr[16];
} cedar__ip;

typedef struct cedar__val {
    uint8_t k;
    union {
        bool                    b;
        int64_t                 i;      /* long, decimal (x10^4), datetime, duration (ms) */
        const cedar__str       *s;
        const cedar__uid       *e;
        const struct cedar__set *set;
        const struct cedar__rec *rec;
        const cedar__ip        *ip;
    } u;
} cedar__val;

typedef struct cedar__set {
    uint32_t   n;
    cedar__val v[];
} cedar__set;

/* Records keep their keys sorted (by length, then bytes) for lookup. */
typedef struct cedar__rec {
    uint32_t    n;
    cedar__str *keys;
    cedar__val *vals;
} cedar__rec;

bool cedar__val_eq(const cedar__val *a, const cedar__val *b);
const cedar__val *cedar__rec_get(const cedar__rec *r, const char *k, uint32_t n,
                                 uint32_t h);
int  cedar__str_cmp(const cedar__str *a, const cedar__str *b);
/* Sort keys in place; returns false if a key repeats. */
bool cedar__rec_sort(cedar__rec *r);

/* Extension value parsers; return false when the text is not well-formed. */
bool cedar__ip_parse(const char *s, size_t n, cedar__ip *out);
bool cedar__decimal_parse(const char *s, size_t n, int64_t *out, const char **why);
bool cedar__datetime_parse(const char *s, size_t n, int64_t *out);
bool cedar__duration_parse(const char *s, size_t n, int64_t *out);

/* Value from Cedar's JSON value format (__entity / __extn escapes). */
int cedar__val_from_json(cedar__arena *a, const json_t *j, cedar__val *out,
                         char *why, size_t whyn);
/* The members of a JSON object as a record (no escape applies at the top:
 * an attribute may be called __entity). */
int cedar__rec_from_json(cedar__arena *a, const json_t *j, cedar__rec *r,
                         char *why, size_t whyn);
int cedar__uid_from_json(cedar__arena *a, const json_t *j, cedar__uid *out,
                         char *why, size_t whyn);

/* ---- expressions ------------------------------------------------------------------ */
/* CX_AND and CX_OR are n-ary: a chain a && b && c is one node, so long
 * chains cost no recursion depth. */
typedef enum {
    CX_LIT, CX_VAR, CX_AND, CX_OR, CX_IF, CX_NOT, CX_NEG,
    CX_EQ, CX_NE, CX_LT, CX_LE, CX_GT, CX_GE, CX_ADD, CX_SUB, CX_MUL,
    CX_IN, CX_HAS, CX_LIKE, CX_IS, CX_ATTR, CX_SET, CX_RECORD,
    CX_CONTAINS, CX_CONTAINS_ALL, CX_CONTAINS_ANY, CX_IS_EMPTY,
    CX_HAS_TAG, CX_GET_TAG, CX_EXT
} cedar__op;

typedef enum {
    CF_IP, CF_DECIMAL, CF_DATETIME, CF_DURATION,
    CF_IS_IPV4, CF_IS_IPV6, CF_IS_LOOPBACK, CF_IS_MULTICAST, CF_IS_IN_RANGE,
    CF_LT, CF_LE, CF_GT, CF_GE,
    CF_OFFSET, CF_DURATION_SINCE, CF_TO_DATE, CF_TO_TIME,
    CF_TO_DAYS, CF_TO_HOURS, CF_TO_MINUTES, CF_TO_SECONDS, CF_TO_MILLIS,
    CF__COUNT
} cedar__fn;

enum { CVAR_PRINCIPAL, CVAR_ACTION, CVAR_RESOURCE, CVAR_CONTEXT };

/* Like patterns: a sequence of literal bytes and wildcards. */
typedef struct cedar__pat {
    uint32_t n;
    int16_t *c;                 /* byte 0..255, or -1 for the wildcard */
} cedar__pat;

typedef struct cedar__expr {
    uint8_t op;
    uint8_t aux;                /* var id, fn id */
    uint32_t n;                 /* number of kids / record fields */
    struct cedar__expr **kid;
    cedar__val  lit;            /* CX_LIT */
    cedar__str  name;           /* CX_ATTR, CX_HAS (one path step each) */
    cedar__str *keys;           /* CX_RECORD (source order) */
    cedar__str  type;           /* CX_IS */
    cedar__pat  pat;            /* CX_LIKE */
    uint32_t    off;            /* source offset, for messages */
    uint32_t    h;              /* height of the tree below, bounded by the parser */
    uint32_t    cap;            /* CX_AND/CX_OR: room in kid while parsing */
} cedar__expr;

/* ---- policies and sets --------------------------------------------------------- */
typedef enum { CS_ANY, CS_EQ, CS_IN, CS_IS, CS_IS_IN, CS_IN_SET } cedar__scope_op;

typedef struct cedar__scope {
    uint8_t      op;
    cedar__str   type;         /* CS_IS, CS_IS_IN */
    cedar__uid  *uids;         /* CS_EQ/CS_IN/CS_IS_IN: 1; CS_IN_SET: n */
    uint32_t     n;
} cedar__scope;

typedef struct cedar__policy {
    uint8_t       forbid;
    cedar__scope  sc[3];        /* principal, action, resource */
    uint32_t      ncond;
    cedar__expr **cond;         /* when: as is; unless: wrapped in CX_NOT */
    char          id[24];
} cedar__policy;

/* Index entry: one (slot, key) -> policy list bucket. */
typedef struct cedar__ibucket {
    uint8_t   slot;             /* 0..2 uid keys, 3..5 type keys */
    cedar__str type;
    cedar__str id;              /* empty for type keys */
    uint32_t  h;
    uint32_t  n, cap;
    uint32_t *pol;
} cedar__ibucket;

struct cedar_policy_set {
    cedar__arena    arena;
    uint32_t        n;
    cedar__policy  *pol;
    /* index */
    uint32_t        nbuckets_mask;     /* open addressing, power of two */
    cedar__ibucket **buckets;
    uint32_t        nunindexed;
    uint32_t       *unindexed;
};

/* ---- entities ----------------------------------------------------------------------- */
typedef struct cedar__entity {
    cedar__uid  uid;
    cedar__rec  attrs;
    cedar__rec  tags;
    uint32_t    nanc;
    uint32_t   *anc;            /* sorted indexes into es->uids */
    uint32_t    nparents;
    uint32_t   *parents;        /* indexes into es->uids */
    bool        exists;         /* false for uids only named as parents */
} cedar__entity;

struct cedar_entities {
    cedar__arena   arena;
    uint32_t       n, cap;
    cedar__entity *e;           /* every uid seen, with or without data */
    uint32_t       mask;
    uint32_t      *slots;       /* hash table of index+1 */
};

int32_t cedar__entity_find(const cedar_entities *es, const cedar__uid *u);

/* ---- request context ----------------------------------------------------------------------- */
struct cedar_ctx {
    cedar__arena  req;           /* request values */
    cedar__arena  scratch;       /* values built during evaluation */
    bool          have_req;
    cedar__uid    var[3];
    cedar__val    context;
    int32_t       ent[3];        /* entity index of principal/action/resource, -1 */
    const cedar_entities *es;
    /* authorizer buffers, grown as needed */
    uint32_t     *mark;
    uint32_t      nmark;
    uint32_t      epoch;
    uint32_t     *cand, ncand, capcand;
    uint32_t     *reasons, nreasons;
    uint32_t     *errs, nerrs;
    const char  **errmsg;
    uint32_t      capout;
    const char   *why;           /* message of the current evaluation error */
};

/* Evaluate e; 0 and *out on success, -1 on error (ctx->why says why). */
int cedar__eval(cedar_ctx *ctx, const cedar__expr *e, cedar__val *out);
bool cedar__like(const cedar__pat *p, const char *s, size_t n);

/* Parser entry used by cedar_policy_set_parse. */
int cedar__parse(cedar_policy_set *ps, const char *text, size_t len,
                 cedar_diag *diags, size_t ndiag, size_t *ndiag_out);
int cedar__index_build(cedar_policy_set *ps);

#endif
