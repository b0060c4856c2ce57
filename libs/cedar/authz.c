/*
 * Authorizer: policy sets, their scope index, request contexts and the
 * decision procedure.
 *
 * The index maps (scope slot, literal entity) and (scope slot, entity type)
 * to the policies whose scope names them; each policy is filed under the
 * most selective of its three scope constraints (==, then in, then is), and
 * policies with no usable constraint are always candidates.  A request
 * probes the index with its principal, action and resource, their ancestors
 * and their types, so it evaluates only the policies that can match it:
 * a set of ten thousand per-owner rules costs about what ten do.
 */
#include <stdio.h>
#include <stdlib.h>
#include "cedar/cedar_internal.h"

bool cedar__entity_in(cedar_ctx *ctx, const cedar__uid *a, const cedar__uid *b);

const char *cedar_strstatus(cedar_status s) {
    switch (s) {
#define CEDAR__STR(name, str) case CEDAR_##name: return str;
    CEDAR_STATUS_MAP(CEDAR__STR)
#undef CEDAR__STR
    }
    return "unknown cedar status";
}

/* ---- index ----------------------------------------------------------------- */
static uint32_t key_hash(uint8_t slot, const cedar__str *type, const cedar__str *id) {
    return (type->h * 31u + (id ? id->h * 0x9e3779b1u : 0x85ebca6bu)) ^ (slot * 0x27d4eb2fu);
}

static cedar__ibucket *bucket_find(const cedar_policy_set *ps, uint8_t slot,
                                   const cedar__str *type, const cedar__str *id,
                                   uint32_t h) {
    if (!ps->buckets) return NULL;
    for (uint32_t i = h & ps->nbuckets_mask;; i = (i + 1) & ps->nbuckets_mask) {
        cedar__ibucket *b = ps->buckets[i];
        if (!b) return NULL;
        if (b->h == h && b->slot == slot && cedar__str_eq(&b->type, type) &&
            (id ? cedar__str_eq(&b->id, id) : b->id.p == NULL))
            return b;
    }
}

static int bucket_add(cedar_policy_set *ps, uint8_t slot, const cedar__str *type,
                      const cedar__str *id, uint32_t pol) {
    uint32_t h = key_hash(slot, type, id);
    cedar__ibucket *b = bucket_find(ps, slot, type, id, h);
    if (!b) {
        b = cedar__alloc(&ps->arena, sizeof *b);
        if (!b) return -1;
        b->slot = slot; b->type = *type; b->h = h;
        if (id) b->id = *id;
        uint32_t i = h & ps->nbuckets_mask;
        while (ps->buckets[i]) i = (i + 1) & ps->nbuckets_mask;
        ps->buckets[i] = b;
    }
    if (b->n && b->pol[b->n - 1] == pol) return 0;
    if (b->n == b->cap) {
        uint32_t nc = b->cap ? b->cap * 2 : 4;
        uint32_t *np = cedar__alloc(&ps->arena, nc * sizeof *np);
        if (!np) return -1;
        if (b->n) memcpy(np, b->pol, b->n * sizeof *np);
        b->pol = np; b->cap = nc;
    }
    b->pol[b->n++] = pol;
    return 0;
}

static uint32_t option_cost(const cedar_policy_set *ps, const cedar__scope *sc, int slot) {
    /* The number of policies a request probing this option would pull in. */
    uint32_t cost = 0;
    if (sc->op == CS_IS) {
        const cedar__ibucket *b = bucket_find(ps, (uint8_t)(slot + 3), &sc->type, NULL,
                                              key_hash((uint8_t)(slot + 3), &sc->type, NULL));
        return b ? b->n : 0;
    }
    for (uint32_t k = 0; k < sc->n; k++) {
        const cedar__uid *u = &sc->uids[k];
        const cedar__ibucket *b = bucket_find(ps, (uint8_t)slot, &u->type, &u->id,
                                              key_hash((uint8_t)slot, &u->type, &u->id));
        cost += b ? b->n : 0;
    }
    return cost;
}

static int file_under(cedar_policy_set *ps, const cedar__scope *sc, int slot, uint32_t pol) {
    if (sc->op == CS_IS) return bucket_add(ps, (uint8_t)(slot + 3), &sc->type, NULL, pol);
    for (uint32_t k = 0; k < sc->n; k++)
        if (bucket_add(ps, (uint8_t)slot, &sc->uids[k].type, &sc->uids[k].id, pol)) return -1;
    return 0;
}

int cedar__index_build(cedar_policy_set *ps) {
    /* Upper bound on keys: every scope uid of every policy. */
    size_t keys = 0;
    for (uint32_t i = 0; i < ps->n; i++)
        for (int s = 0; s < 3; s++) keys += ps->pol[i].sc[s].n + 1;
    uint32_t sz = 16;
    while (sz < keys * 2) sz *= 2;
    ps->buckets = calloc(sz, sizeof *ps->buckets);
    ps->unindexed = malloc((ps->n + 1) * sizeof *ps->unindexed);
    if (!ps->buckets || !ps->unindexed) return -1;
    ps->nbuckets_mask = sz - 1;
    /* Pass 1 files every policy under every constrained slot, to learn how
     * many policies share each key.  Pass 2 files each policy under its one
     * cheapest slot: the key shared by the fewest policies (a key every
     * request hits, like an organisation all users belong to, is expensive),
     * == before in before is on ties, principal and resource before action. */
    for (uint32_t i = 0; i < ps->n; i++)
        for (int s = 0; s < 3; s++)
            if (ps->pol[i].sc[s].op != CS_ANY && file_under(ps, &ps->pol[i].sc[s], s, i)) return -1;
    static const int rank_of[] = { [CS_ANY] = 0, [CS_IS] = 1, [CS_IN] = 2,
                                   [CS_IS_IN] = 2, [CS_IN_SET] = 2, [CS_EQ] = 3 };
    int8_t *best = malloc(ps->n + 1);
    if (!best) return -1;
    for (uint32_t i = 0; i < ps->n; i++) {
        const cedar__policy *p = &ps->pol[i];
        uint64_t bestcost = UINT64_MAX;
        best[i] = -1;
        for (int s = 0; s < 3; s++) {
            if (p->sc[s].op == CS_ANY) continue;
            uint64_t cost = ((uint64_t)option_cost(ps, &p->sc[s], s) << 8) |
                            (uint64_t)((3 - rank_of[p->sc[s].op]) * 2 + (s == 1));
            if (cost < bestcost) { bestcost = cost; best[i] = (int8_t)s; }
        }
    }
    memset(ps->buckets, 0, sz * sizeof *ps->buckets);
    for (uint32_t i = 0; i < ps->n; i++) {
        if (best[i] < 0) { ps->unindexed[ps->nunindexed++] = i; continue; }
        if (file_under(ps, &ps->pol[i].sc[best[i]], best[i], i)) { free(best); return -1; }
    }
    free(best);
    return 0;
}

/* ---- policy sets ------------------------------------------------------------------ */
cedar_status cedar_policy_set_parse(const char *text, size_t len,
                                    cedar_policy_set **out,
                                    cedar_diag *diags, size_t ndiag,
                                    size_t *ndiag_out, ep_err *err) {
    cedar_diag first;
    cedar_policy_set *ps = calloc(1, sizeof *ps);
    if (!ps) return ep_err_set(err, CEDAR_ENOMEM, "cedar: out of memory");
    if (!diags || !ndiag) { diags = &first; ndiag = 1; }
    size_t nd = 0;
    int rc = cedar__parse(ps, text, len, diags, ndiag, &nd);
    if (ndiag_out) *ndiag_out = nd;
    if (rc < 0) {
        cedar_policy_set_destroy(ps);
        return ep_err_set(err, CEDAR_ENOMEM, "cedar: out of memory while parsing");
    }
    if (rc > 0) {
        cedar_policy_set_destroy(ps);
        return ep_err_set(err, CEDAR_EPARSE, "%d:%d: %s", diags[0].line, diags[0].col, diags[0].msg);
    }
    if (cedar__index_build(ps)) {
        cedar_policy_set_destroy(ps);
        return ep_err_set(err, CEDAR_ENOMEM, "cedar: out of memory while indexing");
    }
    *out = ps;
    return CEDAR_OK;
}

void cedar_policy_set_destroy(cedar_policy_set *ps) {
    if (!ps) return;
    cedar__arena_free(&ps->arena);
    free(ps->pol);
    free(ps->buckets);
    free(ps->unindexed);
    free(ps);
}

size_t cedar_policy_set_count(const cedar_policy_set *ps) { return ps ? ps->n : 0; }

const char *cedar_policy_id(const cedar_policy_set *ps, size_t i) {
    return ps && i < ps->n ? ps->pol[i].id : NULL;
}

/* ---- contexts and requests ------------------------------------------------------- */
cedar_ctx *cedar_ctx_create(void) {
    return calloc(1, sizeof(cedar_ctx));
}

void cedar_ctx_destroy(cedar_ctx *ctx) {
    if (!ctx) return;
    cedar__arena_free(&ctx->req);
    cedar__arena_free(&ctx->scratch);
    free(ctx->mark);
    free(ctx->cand);
    free(ctx->reasons);
    free(ctx->errs);
    free(ctx->errmsg);
    free(ctx);
}

cedar_status cedar_ctx_set_request(cedar_ctx *ctx, const json_t *req, ep_err *err) {
    static const char *const names[] = { "principal", "action", "resource" };
    char why[256];
    if (!ctx || !json_is_object(req))
        return ep_err_set(err, CEDAR_EREQUEST, "cedar request: expected a JSON object");
    ctx->have_req = false;
    cedar__arena_reset(&ctx->req);
    for (int i = 0; i < 3; i++) {
        if (cedar__uid_from_json(&ctx->req, json_object_get(req, names[i]), &ctx->var[i],
                                 why, sizeof why))
            return ep_err_set(err, CEDAR_EREQUEST, "cedar request: %s: %s", names[i], why);
    }
    const json_t *c = json_object_get(req, "context");
    if (!c || json_is_null(c)) {
        static const cedar__rec empty;
        ctx->context.k = CV_RECORD;
        ctx->context.u.rec = &empty;
    } else {
        if (!json_is_object(c))
            return ep_err_set(err, CEDAR_EREQUEST, "cedar request: context must be an object");
        /* Unlike attrs, the context is one Cedar value (escapes apply to
         * it as a whole) that must turn out to be a record. */
        if (cedar__val_from_json(&ctx->req, c, &ctx->context, why, sizeof why))
            return ep_err_set(err, CEDAR_EREQUEST, "cedar request: context: %s", why);
        if (ctx->context.k != CV_RECORD)
            return ep_err_set(err, CEDAR_EREQUEST, "cedar request: context is not a record");
    }
    ctx->have_req = true;
    return CEDAR_OK;
}

/* ---- deciding ------------------------------------------------------------------------ */
static bool scope_match(cedar_ctx *ctx, const cedar__scope *sc, int slot) {
    const cedar__uid *u = &ctx->var[slot];
    switch ((cedar__scope_op)sc->op) {
    case CS_ANY: return true;
    case CS_EQ: return cedar__uid_eq(u, &sc->uids[0]);
    case CS_IN: return cedar__entity_in(ctx, u, &sc->uids[0]);
    case CS_IS: return cedar__str_eq(&u->type, &sc->type);
    case CS_IS_IN: return cedar__str_eq(&u->type, &sc->type) && cedar__entity_in(ctx, u, &sc->uids[0]);
    case CS_IN_SET:
        for (uint32_t i = 0; i < sc->n; i++) if (cedar__entity_in(ctx, u, &sc->uids[i])) return true;
        return false;
    }
    return false;
}

static int grow(cedar_ctx *ctx, uint32_t n) {
    if (n <= ctx->nmark) return 0;
    uint32_t *m = calloc(n, sizeof *m), *c = malloc(n * sizeof *c);
    uint32_t *r = malloc(n * sizeof *r), *e = malloc(n * sizeof *e);
    const char **em = malloc(n * sizeof *em);
    if (!m || !c || !r || !e || !em) { free(m); free(c); free(r); free(e); free(em); return -1; }
    free(ctx->mark); free(ctx->cand); free(ctx->reasons); free(ctx->errs); free(ctx->errmsg);
    ctx->mark = m; ctx->cand = c; ctx->reasons = r; ctx->errs = e; ctx->errmsg = em;
    ctx->nmark = n;
    ctx->epoch = 0;
    return 0;
}

static inline void add_cands(cedar_ctx *ctx, const cedar__ibucket *b) {
    if (!b) return;
    for (uint32_t i = 0; i < b->n; i++) {
        uint32_t p = b->pol[i];
        if (ctx->mark[p] != ctx->epoch) { ctx->mark[p] = ctx->epoch; ctx->cand[ctx->ncand++] = p; }
    }
}

static void probe_slot(cedar_ctx *ctx, const cedar_policy_set *ps, int slot) {
    const cedar__uid *u = &ctx->var[slot];
    add_cands(ctx, bucket_find(ps, (uint8_t)slot, &u->type, &u->id, key_hash((uint8_t)slot, &u->type, &u->id)));
    add_cands(ctx, bucket_find(ps, (uint8_t)(slot + 3), &u->type, NULL, key_hash((uint8_t)(slot + 3), &u->type, NULL)));
    if (ctx->ent[slot] < 0) return;
    const cedar__entity *e = &ctx->es->e[ctx->ent[slot]];
    for (uint32_t i = 0; i < e->nanc; i++) {
        const cedar__uid *a = &ctx->es->e[e->anc[i]].uid;
        add_cands(ctx, bucket_find(ps, (uint8_t)slot, &a->type, &a->id, key_hash((uint8_t)slot, &a->type, &a->id)));
    }
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

cedar_status cedar_authorize(cedar_ctx *ctx, const cedar_policy_set *ps,
                             const cedar_entities *es, cedar_response *out,
                             ep_err *err) {
    if (!ctx || !ps || !out || !ctx->have_req)
        return ep_err_set(err, CEDAR_EINVAL, "cedar authorize: no request set");
    if (grow(ctx, ps->n + 1))
        return ep_err_set(err, CEDAR_ENOMEM, "cedar authorize: out of memory");
    cedar__arena_reset(&ctx->scratch);
    ctx->es = es;
    for (int i = 0; i < 3; i++) ctx->ent[i] = es ? cedar__entity_find(es, &ctx->var[i]) : -1;
    if (++ctx->epoch == 0) { memset(ctx->mark, 0, ctx->nmark * sizeof *ctx->mark); ctx->epoch = 1; }
    ctx->ncand = 0;
    for (uint32_t i = 0; i < ps->nunindexed; i++) {
        uint32_t p = ps->unindexed[i];
        ctx->mark[p] = ctx->epoch;
        ctx->cand[ctx->ncand++] = p;
    }
    for (int s = 0; s < 3; s++) probe_slot(ctx, ps, s);
    if (ctx->ncand > 1) {
        if (ctx->ncand < 16) {
            for (uint32_t i = 1; i < ctx->ncand; i++) {
                uint32_t v = ctx->cand[i], j = i;
                while (j > 0 && ctx->cand[j - 1] > v) { ctx->cand[j] = ctx->cand[j - 1]; j--; }
                ctx->cand[j] = v;
            }
        } else qsort(ctx->cand, ctx->ncand, sizeof *ctx->cand, cmp_u32);
    }
    uint32_t npermit = 0, nforbid = 0, nerr = 0;
    uint32_t *forbids = ctx->reasons;                       /* fill from the front */
    uint32_t *permits = ctx->cand;                          /* reuse: write index <= read index */
    for (uint32_t c = 0; c < ctx->ncand; c++) {
        uint32_t pi = ctx->cand[c];
        const cedar__policy *p = &ps->pol[pi];
        bool ok = scope_match(ctx, &p->sc[0], 0) && scope_match(ctx, &p->sc[1], 1) &&
                  scope_match(ctx, &p->sc[2], 2);
        for (uint32_t k = 0; ok && k < p->ncond; k++) {
            cedar__val v;
            if (cedar__eval(ctx, p->cond[k], &v)) {
                ctx->errs[nerr] = pi;
                ctx->errmsg[nerr++] = ctx->why;
                ok = false;
            } else if (v.k != CV_BOOL) {
                ctx->errs[nerr] = pi;
                ctx->errmsg[nerr++] = "type error: condition is not a boolean";
                ok = false;
            } else ok = v.u.b;
        }
        if (!ok) continue;
        if (p->forbid) forbids[nforbid++] = pi;
        else permits[npermit++] = pi;
    }
    if (nforbid) {
        out->decision = CEDAR_DENY;
        out->reasons = forbids; out->nreasons = nforbid;
    } else if (npermit) {
        out->decision = CEDAR_ALLOW;
        out->reasons = permits; out->nreasons = npermit;
    } else {
        out->decision = CEDAR_DENY;
        out->reasons = ctx->reasons; out->nreasons = 0;
    }
    out->errors = ctx->errs;
    out->error_msgs = ctx->errmsg;
    out->nerrors = nerr;
    return CEDAR_OK;
}

json_t *cedar_response_to_json(const cedar_policy_set *ps, const cedar_response *r) {
    json_t *o = json_object(), *rs = json_array(), *es = json_array();
    if (!o || !rs || !es) { json_decref(o); json_decref(rs); json_decref(es); return NULL; }
    for (size_t i = 0; i < r->nreasons; i++)
        json_array_append_new(rs, json_string(cedar_policy_id(ps, r->reasons[i])));
    for (size_t i = 0; i < r->nerrors; i++)
        json_array_append_new(es, json_string(cedar_policy_id(ps, r->errors[i])));
    json_object_set_new(o, "decision", json_string(r->decision == CEDAR_ALLOW ? "Allow" : "Deny"));
    json_object_set_new(o, "reasons", rs);
    json_object_set_new(o, "errors", es);
    return o;
}
