/*
 * Evaluator: one compiled expression against the request in a cedar_ctx.
 *
 * Follows Cedar's evaluation semantics: && and || evaluate their right side
 * only when needed and demand booleans, if-then-else evaluates one branch,
 * == never errors (values of different types are unequal), arithmetic is
 * checked 64-bit, `in` and attribute access go through the entity store
 * (whose ancestor sets were computed at load), and every type mismatch is an
 * error that makes the whole policy be skipped and reported.  Values built
 * here (sets, records, IP addresses) live in the ctx's scratch arena.
 */
#include "cedar/cedar_internal.h"

#define ERR(msg) do { ctx->why = (msg); return -1; } while (0)
#define EVAL(e, v) do { if (cedar__eval(ctx, (e), (v))) return -1; } while (0)

static const char *const ETYPE = "type error";

bool cedar__like(const cedar__pat *p, const char *s, size_t n) {
    /* Greedy wildcard matching with one backtrack point (linear-ish). */
    size_t pi = 0, si = 0, star = (size_t)-1, mark = 0;
    while (si < n) {
        if (pi < p->n && p->c[pi] == -1) { star = pi++; mark = si; }
        else if (pi < p->n && p->c[pi] == (unsigned char)s[si]) { pi++; si++; }
        else if (star != (size_t)-1) { pi = star + 1; si = ++mark; }
        else return false;
    }
    while (pi < p->n && p->c[pi] == -1) pi++;
    return pi == p->n;
}

static const cedar__entity *entity_of(cedar_ctx *ctx, const cedar__uid *u) {
    if (!ctx->es) return NULL;
    for (int i = 0; i < 3; i++)
        if (u == &ctx->var[i])
            return ctx->ent[i] >= 0 && ctx->es->e[ctx->ent[i]].exists ? &ctx->es->e[ctx->ent[i]] : NULL;
    int32_t k = cedar__entity_find(ctx->es, u);
    if (k < 0 || !ctx->es->e[k].exists) return NULL;
    return &ctx->es->e[k];
}

static bool entity_in(cedar_ctx *ctx, const cedar__uid *a, const cedar__uid *b) {
    if (cedar__uid_eq(a, b)) return true;
    if (!ctx->es) return false;
    int32_t ia = -1;
    for (int i = 0; i < 3; i++) if (a == &ctx->var[i]) ia = ctx->ent[i];
    if (ia < 0) ia = cedar__entity_find(ctx->es, a);
    if (ia < 0) return false;
    const cedar__entity *e = &ctx->es->e[ia];
    if (!e->nanc) return false;
    if (e->nanc <= 8) {
        /* Few ancestors: a scan on hashes beats a lookup of b. */
        for (uint32_t i = 0; i < e->nanc; i++) {
            const cedar__uid *x = &ctx->es->e[e->anc[i]].uid;
            if (x->h == b->h && cedar__uid_eq(x, b)) return true;
        }
        return false;
    }
    int32_t ib = cedar__entity_find(ctx->es, b);
    if (ib < 0) return false;
    uint32_t lo = 0, hi = e->nanc, key = (uint32_t)ib;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (e->anc[mid] == key) return true;
        if (e->anc[mid] < key) lo = mid + 1; else hi = mid;
    }
    return false;
}

bool cedar__entity_in(cedar_ctx *ctx, const cedar__uid *a, const cedar__uid *b);
bool cedar__entity_in(cedar_ctx *ctx, const cedar__uid *a, const cedar__uid *b) {
    return entity_in(ctx, a, b);
}

static bool set_contains(const cedar__set *s, const cedar__val *v) {
    for (uint32_t i = 0; i < s->n; i++) if (cedar__val_eq(&s->v[i], v)) return true;
    return false;
}

static int attr(cedar_ctx *ctx, const cedar__val *v, const cedar__str *name,
                cedar__val *out) {
    const cedar__val *r;
    if (v->k == CV_RECORD) {
        r = cedar__rec_get(v->u.rec, name->p, name->n, name->h);
        if (!r) ERR("record does not have the attribute");
    } else if (v->k == CV_ENTITY) {
        const cedar__entity *e = entity_of(ctx, v->u.e);
        if (!e) ERR("entity does not exist");
        r = cedar__rec_get(&e->attrs, name->p, name->n, name->h);
        if (!r) ERR("entity does not have the attribute");
    } else ERR(ETYPE);
    *out = *r;
    return 0;
}

static int has(cedar_ctx *ctx, const cedar__val *v, const cedar__str *name, bool *out) {
    if (v->k == CV_RECORD) {
        *out = cedar__rec_get(v->u.rec, name->p, name->n, name->h) != NULL;
    } else if (v->k == CV_ENTITY) {
        const cedar__entity *e = entity_of(ctx, v->u.e);
        *out = e && cedar__rec_get(&e->attrs, name->p, name->n, name->h);
    } else ERR(ETYPE);
    return 0;
}

static int ext_call(cedar_ctx *ctx, const cedar__expr *x, cedar__val *out);

int cedar__eval(cedar_ctx *ctx, const cedar__expr *x, cedar__val *out) {
    cedar__val a, b;
    switch ((cedar__op)x->op) {
    case CX_LIT:
        *out = x->lit;
        return 0;
    case CX_VAR:
        if (x->aux == CVAR_CONTEXT) *out = ctx->context;
        else { out->k = CV_ENTITY; out->u.e = &ctx->var[x->aux]; }
        return 0;
    case CX_AND: case CX_OR:
        /* n-ary: evaluate left to right, stop at the first deciding value. */
        for (uint32_t i = 0; i < x->n; i++) {
            EVAL(x->kid[i], &a);
            if (a.k != CV_BOOL) ERR(ETYPE);
            if (a.u.b == (x->op == CX_OR)) break;
        }
        *out = a;
        return 0;
    case CX_IF:
        EVAL(x->kid[0], &a);
        if (a.k != CV_BOOL) ERR(ETYPE);
        return cedar__eval(ctx, x->kid[a.u.b ? 1 : 2], out);
    case CX_NOT:
        EVAL(x->kid[0], &a);
        if (a.k != CV_BOOL) ERR(ETYPE);
        out->k = CV_BOOL; out->u.b = !a.u.b;
        return 0;
    case CX_NEG:
        EVAL(x->kid[0], &a);
        if (a.k != CV_LONG) ERR(ETYPE);
        if (a.u.i == INT64_MIN) ERR("integer overflow");
        out->k = CV_LONG; out->u.i = -a.u.i;
        return 0;
    case CX_EQ: case CX_NE:
        EVAL(x->kid[0], &a);
        EVAL(x->kid[1], &b);
        out->k = CV_BOOL;
        out->u.b = cedar__val_eq(&a, &b) == (x->op == CX_EQ);
        return 0;
    case CX_LT: case CX_LE: case CX_GT: case CX_GE: {
        EVAL(x->kid[0], &a);
        EVAL(x->kid[1], &b);
        if (a.k != b.k || (a.k != CV_LONG && a.k != CV_DATETIME && a.k != CV_DURATION))
            ERR(ETYPE);
        bool r = x->op == CX_LT ? a.u.i < b.u.i : x->op == CX_LE ? a.u.i <= b.u.i :
                 x->op == CX_GT ? a.u.i > b.u.i : a.u.i >= b.u.i;
        out->k = CV_BOOL; out->u.b = r;
        return 0;
    }
    case CX_ADD: case CX_SUB: case CX_MUL: {
        EVAL(x->kid[0], &a);
        if (a.k != CV_LONG) ERR(ETYPE);
        EVAL(x->kid[1], &b);
        if (b.k != CV_LONG) ERR(ETYPE);
        int64_t r;
        bool o = x->op == CX_ADD ? __builtin_add_overflow(a.u.i, b.u.i, &r) :
                 x->op == CX_SUB ? __builtin_sub_overflow(a.u.i, b.u.i, &r) :
                                   __builtin_mul_overflow(a.u.i, b.u.i, &r);
        if (o) ERR("integer overflow");
        out->k = CV_LONG; out->u.i = r;
        return 0;
    }
    case CX_IN:
        EVAL(x->kid[0], &a);
        if (a.k != CV_ENTITY) ERR(ETYPE);
        EVAL(x->kid[1], &b);
        out->k = CV_BOOL;
        if (b.k == CV_ENTITY) { out->u.b = entity_in(ctx, a.u.e, b.u.e); return 0; }
        if (b.k != CV_SET) ERR(ETYPE);
        for (uint32_t i = 0; i < b.u.set->n; i++)
            if (b.u.set->v[i].k != CV_ENTITY) ERR(ETYPE);
        out->u.b = false;
        for (uint32_t i = 0; i < b.u.set->n; i++)
            if (entity_in(ctx, a.u.e, b.u.set->v[i].u.e)) { out->u.b = true; break; }
        return 0;
    case CX_HAS:
        EVAL(x->kid[0], &a);
        out->k = CV_BOOL;
        return has(ctx, &a, &x->name, &out->u.b);
    case CX_ATTR:
        EVAL(x->kid[0], &a);
        return attr(ctx, &a, &x->name, out);
    case CX_LIKE:
        EVAL(x->kid[0], &a);
        if (a.k != CV_STRING) ERR(ETYPE);
        out->k = CV_BOOL;
        out->u.b = cedar__like(&x->pat, a.u.s->p, a.u.s->n);
        return 0;
    case CX_IS:
        EVAL(x->kid[0], &a);
        if (a.k != CV_ENTITY) ERR(ETYPE);
        out->k = CV_BOOL;
        out->u.b = cedar__str_eq(&a.u.e->type, &x->type);
        return 0;
    case CX_SET: {
        cedar__set *s = cedar__alloc(&ctx->scratch, sizeof *s + x->n * sizeof(cedar__val));
        if (!s) ERR("out of memory");
        s->n = x->n;
        for (uint32_t i = 0; i < x->n; i++) EVAL(x->kid[i], &s->v[i]);
        out->k = CV_SET; out->u.set = s;
        return 0;
    }
    case CX_RECORD: {
        cedar__rec *r = cedar__alloc(&ctx->scratch, sizeof *r);
        cedar__str *k = cedar__alloc(&ctx->scratch, (x->n + 1) * sizeof *k);
        cedar__val *v = cedar__alloc(&ctx->scratch, (x->n + 1) * sizeof *v);
        if (!r || !k || !v) ERR("out of memory");
        for (uint32_t i = 0; i < x->n; i++) { k[i] = x->keys[i]; EVAL(x->kid[i], &v[i]); }
        r->n = x->n; r->keys = k; r->vals = v;
        cedar__rec_sort(r);
        out->k = CV_RECORD; out->u.rec = r;
        return 0;
    }
    case CX_CONTAINS:
        EVAL(x->kid[0], &a);
        if (a.k != CV_SET) ERR(ETYPE);
        EVAL(x->kid[1], &b);
        out->k = CV_BOOL; out->u.b = set_contains(a.u.set, &b);
        return 0;
    case CX_CONTAINS_ALL: case CX_CONTAINS_ANY: {
        EVAL(x->kid[0], &a);
        if (a.k != CV_SET) ERR(ETYPE);
        EVAL(x->kid[1], &b);
        if (b.k != CV_SET) ERR(ETYPE);
        bool all = x->op == CX_CONTAINS_ALL, r = all;
        for (uint32_t i = 0; i < b.u.set->n; i++) {
            bool in = set_contains(a.u.set, &b.u.set->v[i]);
            if (all && !in) { r = false; break; }
            if (!all && in) { r = true; break; }
        }
        out->k = CV_BOOL; out->u.b = r;
        return 0;
    }
    case CX_IS_EMPTY:
        EVAL(x->kid[0], &a);
        if (a.k != CV_SET) ERR(ETYPE);
        out->k = CV_BOOL; out->u.b = a.u.set->n == 0;
        return 0;
    case CX_HAS_TAG: case CX_GET_TAG: {
        EVAL(x->kid[0], &a);
        if (a.k != CV_ENTITY) ERR(ETYPE);
        EVAL(x->kid[1], &b);
        if (b.k != CV_STRING) ERR(ETYPE);
        const cedar__entity *e = entity_of(ctx, a.u.e);
        const cedar__val *t = e ? cedar__rec_get(&e->tags, b.u.s->p, b.u.s->n, b.u.s->h) : NULL;
        if (x->op == CX_HAS_TAG) { out->k = CV_BOOL; out->u.b = t != NULL; return 0; }
        if (!e) ERR("entity does not exist");
        if (!t) ERR("entity does not have the tag");
        *out = *t;
        return 0;
    }
    case CX_EXT:
        return ext_call(ctx, x, out);
    }
    ERR("unknown expression");
}

/* ---- extension functions ------------------------------------------------------ */
static bool ip_in_range(const cedar__ip *a, const cedar__ip *b) {
    if (a->v6 != b->v6 || a->prefix < b->prefix) return false;
    unsigned bits = b->prefix;
    for (unsigned i = 0; i < 16 && bits; i++) {
        unsigned take = bits >= 8 ? 8 : bits;
        uint8_t mask = (uint8_t)(0xFF << (8 - take));
        if ((a->addr[i] & mask) != (b->addr[i] & mask)) return false;
        bits -= take;
    }
    return true;
}

static int64_t floordiv(int64_t a, int64_t b) {
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
    return q;
}

static int ext_call(cedar_ctx *ctx, const cedar__expr *x, cedar__val *out) {
    static const uint8_t arity[CF__COUNT] = {
        [CF_IP] = 1, [CF_DECIMAL] = 1, [CF_DATETIME] = 1, [CF_DURATION] = 1,
        [CF_IS_IPV4] = 1, [CF_IS_IPV6] = 1, [CF_IS_LOOPBACK] = 1, [CF_IS_MULTICAST] = 1,
        [CF_IS_IN_RANGE] = 2, [CF_LT] = 2, [CF_LE] = 2, [CF_GT] = 2, [CF_GE] = 2,
        [CF_OFFSET] = 2, [CF_DURATION_SINCE] = 2, [CF_TO_DATE] = 1, [CF_TO_TIME] = 1,
        [CF_TO_DAYS] = 1, [CF_TO_HOURS] = 1, [CF_TO_MINUTES] = 1, [CF_TO_SECONDS] = 1,
        [CF_TO_MILLIS] = 1 };
    cedar__val v[2];
    /* Arguments are evaluated before the arity check, as in the reference. */
    for (uint32_t i = 0; i < x->n; i++) {
        cedar__val t;
        EVAL(x->kid[i], &t);
        if (i < 2) v[i] = t;
    }
    if (x->n != arity[x->aux]) ERR("wrong number of arguments to extension function");
    const cedar__val *a = &v[0], *b = &v[1];
    switch ((cedar__fn)x->aux) {
    case CF_IP: case CF_DECIMAL: case CF_DATETIME: case CF_DURATION: {
        if (a->k != CV_STRING) ERR(ETYPE);
        const char *why;
        if (x->aux == CF_IP) {
            cedar__ip *ip = cedar__alloc(&ctx->scratch, sizeof *ip);
            if (!ip) ERR("out of memory");
            if (!cedar__ip_parse(a->u.s->p, a->u.s->n, ip)) ERR("invalid IP address");
            out->k = CV_IP; out->u.ip = ip;
        } else if (x->aux == CF_DECIMAL) {
            if (!cedar__decimal_parse(a->u.s->p, a->u.s->n, &out->u.i, &why)) ERR("invalid decimal");
            out->k = CV_DECIMAL;
        } else if (x->aux == CF_DATETIME) {
            if (!cedar__datetime_parse(a->u.s->p, a->u.s->n, &out->u.i)) ERR("invalid datetime");
            out->k = CV_DATETIME;
        } else {
            if (!cedar__duration_parse(a->u.s->p, a->u.s->n, &out->u.i)) ERR("invalid duration");
            out->k = CV_DURATION;
        }
        return 0;
    }
    case CF_IS_IPV4: case CF_IS_IPV6: case CF_IS_LOOPBACK: case CF_IS_MULTICAST: {
        if (a->k != CV_IP) ERR(ETYPE);
        const cedar__ip *ip = a->u.ip;
        bool r;
        if (x->aux == CF_IS_IPV4) r = !ip->v6;
        else if (x->aux == CF_IS_IPV6) r = ip->v6;
        else if (x->aux == CF_IS_LOOPBACK) {
            static const uint8_t one[16] = { [15] = 1 };
            r = ip->v6 ? (ip->prefix >= 128 && !memcmp(ip->addr, one, 16))
                       : (ip->prefix >= 8 && ip->addr[0] == 127);
        } else {
            r = ip->v6 ? (ip->prefix >= 8 && ip->addr[0] == 0xFF)
                       : (ip->prefix >= 4 && (ip->addr[0] & 0xF0) == 0xE0);
        }
        out->k = CV_BOOL; out->u.b = r;
        return 0;
    }
    case CF_IS_IN_RANGE:
        if (a->k != CV_IP || b->k != CV_IP) ERR(ETYPE);
        out->k = CV_BOOL; out->u.b = ip_in_range(a->u.ip, b->u.ip);
        return 0;
    case CF_LT: case CF_LE: case CF_GT: case CF_GE: {
        if (a->k != CV_DECIMAL || b->k != CV_DECIMAL) ERR(ETYPE);
        int64_t l = a->u.i, r = b->u.i;
        out->k = CV_BOOL;
        out->u.b = x->aux == CF_LT ? l < r : x->aux == CF_LE ? l <= r : x->aux == CF_GT ? l > r : l >= r;
        return 0;
    }
    case CF_OFFSET:
        if (a->k != CV_DATETIME || b->k != CV_DURATION) ERR(ETYPE);
        if (__builtin_add_overflow(a->u.i, b->u.i, &out->u.i)) ERR("overflow in datetime offset");
        out->k = CV_DATETIME;
        return 0;
    case CF_DURATION_SINCE:
        if (a->k != CV_DATETIME || b->k != CV_DATETIME) ERR(ETYPE);
        if (__builtin_sub_overflow(a->u.i, b->u.i, &out->u.i)) ERR("overflow in durationSince");
        out->k = CV_DURATION;
        return 0;
    case CF_TO_DATE: case CF_TO_TIME: {
        if (a->k != CV_DATETIME) ERR(ETYPE);
        const int64_t day = 86400000;
        int64_t d = floordiv(a->u.i, day);
        int64_t start;
        if (__builtin_mul_overflow(d, day, &start)) ERR("overflow in datetime conversion");
        if (x->aux == CF_TO_DATE) { out->k = CV_DATETIME; out->u.i = start; }
        else { out->k = CV_DURATION; out->u.i = a->u.i - start; }
        return 0;
    }
    case CF_TO_DAYS: case CF_TO_HOURS: case CF_TO_MINUTES: case CF_TO_SECONDS: case CF_TO_MILLIS: {
        if (a->k != CV_DURATION) ERR(ETYPE);
        static const int64_t div[] = { 86400000, 3600000, 60000, 1000, 1 };
        out->k = CV_LONG;
        out->u.i = a->u.i / div[x->aux - CF_TO_DAYS];
        return 0;
    }
    default:
        break;
    }
    ERR("unknown extension function");
}
