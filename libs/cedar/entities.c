/*
 * Entity store: Cedar's JSON entity format loaded into a hashed table.
 *
 * Every uid the data names (entities and the parents they list) gets an
 * index; the transitive closure of the parent relation is computed once at
 * load into a sorted ancestor array per entity, so `a in b` during
 * evaluation is two hash lookups and a binary search, with no per-request
 * memo needed.  Duplicate entities are rejected, as in the reference.
 */
#include <stdio.h>
#include <stdlib.h>
#include "cedar/cedar_internal.h"

int32_t cedar__entity_find(const cedar_entities *es, const cedar__uid *u) {
    if (!es || !es->slots) return -1;
    for (uint32_t i = u->h & es->mask;; i = (i + 1) & es->mask) {
        uint32_t s = es->slots[i];
        if (!s) return -1;
        if (cedar__uid_eq(&es->e[s - 1].uid, u)) return (int32_t)(s - 1);
    }
}

static int rehash(cedar_entities *es, uint32_t want) {
    uint32_t sz = 16;
    while (sz < want * 2) sz *= 2;
    uint32_t *sl = calloc(sz, sizeof *sl);
    if (!sl) return -1;
    free(es->slots);
    es->slots = sl;
    es->mask = sz - 1;
    for (uint32_t k = 0; k < es->n; k++) {
        uint32_t i = es->e[k].uid.h & es->mask;
        while (sl[i]) i = (i + 1) & es->mask;
        sl[i] = k + 1;
    }
    return 0;
}

/* Index of u, adding it (without data) when absent; -1 on out of memory. */
static int32_t intern(cedar_entities *es, const cedar__uid *u) {
    int32_t f = cedar__entity_find(es, u);
    if (f >= 0) return f;
    if (es->n == es->cap) {
        uint32_t nc = es->cap ? es->cap * 2 : 64;
        cedar__entity *ne = realloc(es->e, nc * sizeof *ne);
        if (!ne) return -1;
        es->e = ne;
        es->cap = nc;
    }
    if (!es->slots || (es->n + 1) * 2 > es->mask + 1) {
        if (rehash(es, es->cap)) return -1;
    }
    cedar__entity *e = &es->e[es->n];
    memset(e, 0, sizeof *e);
    e->uid = *u;
    uint32_t i = u->h & es->mask;
    while (es->slots[i]) i = (i + 1) & es->mask;
    es->slots[i] = ++es->n;
    return (int32_t)(es->n - 1);
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int closure(cedar_entities *es, uint32_t *cyc) {
    /* Each uid is expanded at most once per entity, so the stack never holds
     * more than twice the number of parent edges. */
    size_t edges = 0;
    for (uint32_t k = 0; k < es->n; k++) edges += es->e[k].nparents;
    uint32_t *mark = calloc(es->n + 1, sizeof *mark);
    uint32_t *stack = malloc((2 * edges + 2) * sizeof *stack);
    uint32_t *acc = malloc((es->n + 1) * sizeof *acc);
    int rc = -1;
    if (!mark || !stack || !acc) goto out;
    for (uint32_t k = 0; k < es->n; k++) {
        cedar__entity *e = &es->e[k];
        if (!e->nparents) continue;
        uint32_t sp = 0, na = 0, ep = k + 1;
        for (uint32_t j = 0; j < e->nparents; j++) stack[sp++] = e->parents[j];
        while (sp) {
            uint32_t x = stack[--sp];
            if (mark[x] == ep) continue;
            mark[x] = ep;
            acc[na++] = x;
            const cedar__entity *px = &es->e[x];
            for (uint32_t j = 0; j < px->nparents; j++)
                if (mark[px->parents[j]] != ep) stack[sp++] = px->parents[j];
        }
        e->anc = cedar__alloc(&es->arena, (na ? na : 1) * sizeof *e->anc);
        if (!e->anc) goto out;
        memcpy(e->anc, acc, na * sizeof *acc);
        qsort(e->anc, na, sizeof *e->anc, cmp_u32);
        e->nanc = na;
        if (mark[k] == ep) { rc = -2; *cyc = k; goto out; }
    }
    rc = 0;
out:
    free(mark); free(stack); free(acc);
    return rc;
}

static int load_attrs(cedar_entities *es, const json_t *j, cedar__rec *out,
                      const char *what, char *why, size_t whyn) {
    /* attrs is required, tags optional; neither may be null. */
    if (!j && !strcmp(what, "tags")) { memset(out, 0, sizeof *out); return 0; }
    if (!j) { snprintf(why, whyn, "missing field \"%s\"", what); return -1; }
    if (!json_is_object(j)) { snprintf(why, whyn, "\"%s\" must be an object", what); return -1; }
    return cedar__rec_from_json(&es->arena, j, out, why, whyn);
}

cedar_status cedar_entities_from_json(const json_t *arr, cedar_entities **out,
                                      ep_err *err) {
    char why[256] = "";
    cedar_status st = CEDAR_EENTITY;
    uint32_t *idx = NULL;
    cedar_entities *es = calloc(1, sizeof *es);
    if (!es) return ep_err_set(err, CEDAR_ENOMEM, "cedar entities: out of memory");
    if (!json_is_array(arr)) { snprintf(why, sizeof why, "expected a JSON array of entities"); goto out; }
    size_t n = json_array_size(arr);
    idx = calloc(n + 1, sizeof *idx);
    if (!idx) { st = CEDAR_ENOMEM; snprintf(why, sizeof why, "out of memory"); goto out; }
    /* Pass 1: the entities themselves, so data wins over parent mentions. */
    for (size_t i = 0; i < n; i++) {
        const json_t *ej = json_array_get(arr, i);
        cedar__uid u;
        if (!json_is_object(ej)) { snprintf(why, sizeof why, "entity %zu: not an object", i); goto out; }
        if (cedar__uid_from_json(&es->arena, json_object_get(ej, "uid"), &u, why, sizeof why)) goto out;
        int32_t dup = cedar__entity_find(es, &u);
        if (dup >= 0 && es->e[dup].exists) {
            /* The reference accepts a repeated entity only when it is an
             * identical copy. */
            size_t first = 0;
            while (first < i && idx[first] != (uint32_t)dup) first++;
            if (first < i && json_equal(json_array_get(arr, first), (json_t *)ej)) {
                idx[i] = UINT32_MAX;
                continue;
            }
            snprintf(why, sizeof why, "duplicate entity entry `%s::\"%s\"`", u.type.p, u.id.p);
            goto out;
        }
        int32_t k = intern(es, &u);
        if (k < 0) { st = CEDAR_ENOMEM; snprintf(why, sizeof why, "out of memory"); goto out; }
        es->e[k].exists = true;
        idx[i] = (uint32_t)k;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *ej = json_array_get(arr, i);
        uint32_t k = idx[i];
        if (k == UINT32_MAX) continue;
        if (load_attrs(es, json_object_get(ej, "attrs"), &es->e[k].attrs, "attrs", why, sizeof why) ||
            load_attrs(es, json_object_get(ej, "tags"), &es->e[k].tags, "tags", why, sizeof why)) {
            char w2[256];
            snprintf(w2, sizeof w2, "entity `%s::\"%s\"`: %s", es->e[k].uid.type.p, es->e[k].uid.id.p, why);
            memcpy(why, w2, sizeof why);
            goto out;
        }
        const json_t *pj = json_object_get(ej, "parents");
        if (!json_is_array(pj)) { snprintf(why, sizeof why, "entity %zu: \"parents\" must be an array", i); goto out; }
        size_t np = json_array_size(pj);
        uint32_t *par = cedar__alloc(&es->arena, (np ? np : 1) * sizeof *par);
        if (!par) { st = CEDAR_ENOMEM; goto out; }
        for (size_t j = 0; j < np; j++) {
            cedar__uid pu;
            if (cedar__uid_from_json(&es->arena, json_array_get(pj, j), &pu, why, sizeof why)) goto out;
            int32_t pk = intern(es, &pu);
            if (pk < 0) { st = CEDAR_ENOMEM; goto out; }
            par[j] = (uint32_t)pk;
        }
        es->e[k].parents = par;
        es->e[k].nparents = (uint32_t)np;
    }
    uint32_t cyc = 0;
    int crc = closure(es, &cyc);
    if (crc == -2) {
        /* The reference rejects hierarchies with cycles. */
        snprintf(why, sizeof why, "the entity hierarchy has a cycle containing `%s::\"%s\"`",
                 es->e[cyc].uid.type.p, es->e[cyc].uid.id.p);
        goto out;
    }
    if (crc) { st = CEDAR_ENOMEM; snprintf(why, sizeof why, "out of memory"); goto out; }
    free(idx);
    *out = es;
    return CEDAR_OK;
out:
    free(idx);
    cedar_entities_destroy(es);
    return ep_err_set(err, (int)st, "cedar entities: %s", why);
}

cedar_status cedar_entities_parse(const char *text, size_t len,
                                  cedar_entities **out, ep_err *err) {
    json_error_t je;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!j) return ep_err_set(err, CEDAR_EJSON, "cedar entities: %d:%d: %s",
                              je.line, je.column, je.text);
    cedar_status st = cedar_entities_from_json(j, out, err);
    json_decref(j);
    return st;
}

void cedar_entities_destroy(cedar_entities *es) {
    if (!es) return;
    cedar__arena_free(&es->arena);
    free(es->e);
    free(es->slots);
    free(es);
}
