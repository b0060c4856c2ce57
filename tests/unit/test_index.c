/*
 * test_index: the environment index (libs/index) against the real
 * redis-server of scripts/with-stack.sh (EP_REDIS_URL; fails if unset).
 *
 * Events are built as the publishers build them (protobuf bytes on their
 * subjects, with stream sequences chosen by the test) and folded with
 * index_apply; the index is then read back with index_query exactly as the
 * service answers NATS requests.  Covers: a claim's document and its
 * secondary indexes, every filter and their combination, ordering by
 * (generation, stream sequence) so a late event of an older generation
 * never regresses a newer one, claim fields that arrive after their own
 * generation's transitions, removal and tombstones, redelivery and the
 * pending-announcement recovery, pagination with cursors in all four sort
 * orders over 257 documents with both query strategies (every document
 * exactly once, in order), a cursor whose document vanished, the
 * expiry window, validation errors naming the field, and the index staying
 * consistent with its documents after 2000 random events and after two
 * concurrent writers (the compare-and-set).  Every test uses
 * its own key prefix.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "envplane/claim/v1/claim.pb-c.h"
#include "envplane/env/v1/env.pb-c.h"
#include "envplane/index/v1/index.pb-c.h"
#include "events/events.h"
#include "index/index.h"
#include "store/store.h"

static const char *url;
static int         prefix_no;

typedef struct fx {
    store    *st;
    index_db *ix;
    char      prefix[64];
} fx;

static int setup(void **state)
{
    fx    *f = calloc(1, sizeof *f);
    ep_err err = { 0 };

    if (url == NULL)
        fail_msg("EP_REDIS_URL is not set: run through scripts/with-stack.sh");
    if (store_create(url, 5000, &f->st, &err) != STORE_OK)
        fail_msg("store_create: %s", err.msg);
    snprintf(f->prefix, sizeof f->prefix, "test:index:%d:%d:", (int)getpid(), prefix_no++);
    f->ix = index_create(f->prefix, 60000);
    assert_non_null(f->ix);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx    *f = *state;
    ep_err err = { 0 };

    assert_true(index_wipe(f->ix, f->st, &err) >= 0);
    index_destroy(f->ix);
    store_destroy(f->st);
    free(f);
    return 0;
}

/* ---- event builders ------------------------------------------------------------ */

typedef struct packed {
    uint8_t data[4096];
    size_t  len;
} packed;

static void accepted(packed *p, const char *name, const char *user, const char *pool, int type,
                     uint64_t gen, const char *created, const char *expires)
{
    Envplane__Claim__V1__ClaimAccepted a;
    Envplane__Claim__V1__Claim         c;
    Envplane__Claim__V1__ObjectRef     o;

    envplane__claim__v1__claim__init(&c);
    c.user = (char *)user;
    c.environment_pool = (char *)pool;
    c.environment_name = (char *)name;
    c.environment_type = type;
    c.creation_date = (char *)created;
    c.expiration_date = (char *)(expires ? expires : "");
    envplane__claim__v1__object_ref__init(&o);
    o.bucket = "environments";
    o.key = (char *)name;
    envplane__claim__v1__claim_accepted__init(&a);
    a.claim = &c;
    a.generation = gen;
    a.source = ENVPLANE__CLAIM__V1__CLAIM_SOURCE__CLAIM_SOURCE_DYNAMIC;
    a.object = &o;
    a.content_hash = "sha256:00";
    a.accepted_at = "2026-01-01T00:00:00Z";
    assert_true(envplane__claim__v1__claim_accepted__get_packed_size(&a) <= sizeof p->data);
    p->len = envplane__claim__v1__claim_accepted__pack(&a, p->data);
}

static void transition(packed *p, const char *name, uint64_t gen, int state, const char *reason)
{
    Envplane__Env__V1__EnvTransition t;

    envplane__env__v1__env_transition__init(&t);
    t.environment_name = (char *)name;
    t.generation = gen;
    t.state = state;
    t.reason = (char *)(reason ? reason : "");
    t.at = "2026-01-01T00:00:01Z";
    p->len = envplane__env__v1__env_transition__pack(&t, p->data);
}

static void claim_deleted(packed *p, const char *name, uint64_t gen)
{
    Envplane__Claim__V1__ClaimDeleted d;

    envplane__claim__v1__claim_deleted__init(&d);
    d.environment_name = (char *)name;
    d.generation = gen;
    p->len = envplane__claim__v1__claim_deleted__pack(&d, p->data);
}

static const char *state_subject(int state)
{
    switch (state) {
    case 2: return EV_ENV_PROVISIONING;
    case 3: return EV_ENV_READY;
    case 4: return EV_ENV_FAILED;
    case 5: return EV_ENV_DEPROVISIONING;
    default: return EV_ENV_DELETED;
    }
}

/* Fold one event; returns the verdict and checks the call succeeded.  The
 * announcements are published "for real" here by marking them. */
static index_verdict fold(fx *f, const char *subject, const packed *p, uint64_t seq, int mark, int *nann)
{
    index_event  ev;
    index_result res;
    ep_err       err = { 0 };
    int          rc = index_event_decode(subject, p->data, p->len, seq, &ev, &err);
    index_verdict v;

    if (rc != INDEX_OK)
        fail_msg("decode %s: %s (%d)", subject, err.msg, rc);
    rc = index_apply(f->ix, f->st, &ev, "2026-01-01T00:00:02Z", &res, &err);
    if (rc != INDEX_OK)
        fail_msg("apply %s: %s", subject, err.msg);
    for (int i = 0; mark && i < res.nann; i++) {
        /* Each announcement must decode as an IndexUpdated of this env. */
        Envplane__Index__V1__IndexUpdated *u =
            envplane__index__v1__index_updated__unpack(NULL, res.ann[i].len, res.ann[i].data);
        assert_non_null(u);
        assert_non_null(u->doc);
        assert_string_equal(u->doc->environment_name, ev.env);
        assert_int_equal(u->removed, res.ann[i].removed);
        envplane__index__v1__index_updated__free_unpacked(u, NULL);
        assert_int_equal(index_mark_published(f->ix, f->st, res.ann[i].env, res.ann[i].seq, &err), INDEX_OK);
    }
    if (nann)
        *nann = res.nann;
    v = res.verdict;
    index_result_dispose(&res);
    index_event_dispose(&ev);
    return v;
}

/* ---- query helper -------------------------------------------------------------- */

static Envplane__Index__V1__QueryReply *query(fx *f, const Envplane__Index__V1__Query *q)
{
    uint8_t  req[2048], *rep = NULL;
    size_t   len = envplane__index__v1__query__pack(q, req), rlen = 0;
    ep_err   err = { 0 };
    Envplane__Index__V1__QueryReply *r;

    if (index_query(f->ix, f->st, req, len, &rep, &rlen, &err) != INDEX_OK)
        fail_msg("index_query: %s", err.msg);
    r = envplane__index__v1__query_reply__unpack(NULL, rlen, rep);
    free(rep);
    assert_non_null(r);
    return r;
}

static Envplane__Index__V1__EnvironmentDoc *get_doc(fx *f, const char *name, Envplane__Index__V1__QueryReply **keep)
{
    Envplane__Index__V1__Query q;

    envplane__index__v1__query__init(&q);
    q.environment_name = (char *)name;
    *keep = query(f, &q);
    assert_string_equal((*keep)->error, "");
    return (*keep)->n_items == 1 ? (*keep)->items[0] : NULL;
}

static size_t count(fx *f, const char *user, const char *pool, int type, int state)
{
    Envplane__Index__V1__Query q;
    Envplane__Index__V1__QueryReply *r;
    size_t n;

    envplane__index__v1__query__init(&q);
    q.user = (char *)(user ? user : "");
    q.environment_pool = (char *)(pool ? pool : "");
    q.environment_type = type;
    q.state = state;
    q.limit = 1000;
    r = query(f, &q);
    assert_string_equal(r->error, "");
    n = r->n_items;
    assert_int_equal(r->total, n);
    envplane__index__v1__query_reply__free_unpacked(r, NULL);
    return n;
}

/* ---- tests --------------------------------------------------------------------- */

static void test_claim_document_and_filters(void **state)
{
    fx     *f = *state;
    packed  p;
    Envplane__Index__V1__QueryReply *keep;
    Envplane__Index__V1__EnvironmentDoc *d;

    accepted(&p, "dev-a", "ann@x.com", "team1", 1, 1, "2024-01-15T10:30:00Z", NULL);
    assert_int_equal(fold(f, EV_CLAIM_ACCEPTED, &p, 10, 1, NULL), INDEX_APPLIED);
    accepted(&p, "sue-b", "ann@x.com", "team2", 4, 1, "2024-01-16T10:30:00Z", "2030-01-01T00:00:00Z");
    assert_int_equal(fold(f, EV_CLAIM_ACCEPTED, &p, 11, 1, NULL), INDEX_APPLIED);
    accepted(&p, "dev-c", "bob@x.com", "team1", 1, 1, "2024-01-17T10:30:00Z", NULL);
    assert_int_equal(fold(f, EV_CLAIM_ACCEPTED, &p, 12, 1, NULL), INDEX_APPLIED);
    transition(&p, "dev-c", 1, 3, NULL);
    assert_int_equal(fold(f, EV_ENV_READY, &p, 13, 1, NULL), INDEX_APPLIED);

    d = get_doc(f, "sue-b", &keep);
    assert_non_null(d);
    assert_string_equal(d->user, "ann@x.com");
    assert_string_equal(d->environment_pool, "team2");
    assert_int_equal(d->environment_type, 4);
    assert_int_equal(d->state, ENVPLANE__ENV__V1__ENV_STATE__ENV_STATE_PENDING);
    assert_int_equal(d->generation, 1);
    assert_int_equal(d->source, ENVPLANE__CLAIM__V1__CLAIM_SOURCE__CLAIM_SOURCE_DYNAMIC);
    assert_string_equal(d->expiration_date, "2030-01-01T00:00:00Z");
    assert_string_equal(d->bucket, "environments");
    assert_string_equal(d->updated_at, "2026-01-01T00:00:02Z");
    envplane__index__v1__query_reply__free_unpacked(keep, NULL);

    assert_int_equal(count(f, "ann@x.com", NULL, 0, 0), 2);
    assert_int_equal(count(f, NULL, "team1", 0, 0), 2);
    assert_int_equal(count(f, NULL, NULL, 1, 0), 2);
    assert_int_equal(count(f, NULL, NULL, 4, 0), 1);
    assert_int_equal(count(f, NULL, NULL, 0, 3), 1);
    assert_int_equal(count(f, NULL, NULL, 0, 1), 2);
    assert_int_equal(count(f, "ann@x.com", "team1", 1, 1), 1);
    assert_int_equal(count(f, "ann@x.com", "team1", 1, 3), 0);
    assert_int_equal(count(f, "nobody@x.com", NULL, 0, 0), 0);
    assert_int_equal(count(f, NULL, NULL, 0, 0), 3);
}

static void test_older_generation_never_regresses(void **state)
{
    fx     *f = *state;
    packed  p;
    Envplane__Index__V1__QueryReply *keep;
    Envplane__Index__V1__EnvironmentDoc *d;

    accepted(&p, "dev-x", "ann@x.com", "team1", 1, 1, "2024-01-15T10:30:00Z", NULL);
    assert_int_equal(fold(f, EV_CLAIM_ACCEPTED, &p, 1, 1, NULL), INDEX_APPLIED);
    transition(&p, "dev-x", 1, 2, NULL);
    assert_int_equal(fold(f, EV_ENV_PROVISIONING, &p, 2, 1, NULL), INDEX_APPLIED);
    /* Generation 2 is accepted (new pool) ... */
    accepted(&p, "dev-x", "ann@x.com", "team9", 1, 2, "2024-01-15T10:30:00Z", NULL);
    assert_int_equal(fold(f, EV_CLAIM_ACCEPTED, &p, 3, 1, NULL), INDEX_APPLIED);
    /* ... then generation 1's env.ready arrives late: ignored. */
    transition(&p, "dev-x", 1, 3, NULL);
    assert_int_equal(fold(f, EV_ENV_READY, &p, 4, 1, NULL), INDEX_STALE);
    d = get_doc(f, "dev-x", &keep);
    assert_int_equal(d->generation, 2);
    assert_int_equal(d->state, ENVPLANE__ENV__V1__ENV_STATE__ENV_STATE_PENDING);
    assert_string_equal(d->environment_pool, "team9");
    envplane__index__v1__query_reply__free_unpacked(keep, NULL);
    assert_int_equal(count(f, NULL, "team1", 0, 0), 0);
    assert_int_equal(count(f, NULL, "team9", 0, 0), 1);
    assert_int_equal(count(f, NULL, NULL, 0, 3), 0);

    /* Generation 1's claim.accepted redelivered now changes nothing. */
    accepted(&p, "dev-x", "ann@x.com", "team1", 1, 1, "2024-01-15T10:30:00Z", NULL);
    assert_int_equal(fold(f, EV_CLAIM_ACCEPTED, &p, 1, 1, NULL), INDEX_STALE);
    /* Within generation 2, stream order decides. */
    transition(&p, "dev-x", 2, 3, NULL);
    assert_int_equal(fold(f, EV_ENV_READY, &p, 6, 1, NULL), INDEX_APPLIED);
    transition(&p, "dev-x", 2, 2, NULL);
    assert_int_equal(fold(f, EV_ENV_PROVISIONING, &p, 5, 1, NULL), INDEX_STALE);
    assert_int_equal(count(f, NULL, "team9", 0, 3), 1);
}

static void test_claim_fields_after_their_transitions(void **state)
{
    fx     *f = *state;
    packed  p;
    Envplane__Index__V1__QueryReply *keep;
    Envplane__Index__V1__EnvironmentDoc *d;

    /* env.ready of generation 1 is processed before claim.accepted of
     * generation 1 (a redelivery reordered them). */
    transition(&p, "dev-late", 1, 3, NULL);
    assert_int_equal(fold(f, EV_ENV_READY, &p, 21, 1, NULL), INDEX_APPLIED);
    assert_int_equal(count(f, NULL, NULL, 0, 3), 1);
    accepted(&p, "dev-late", "cy@x.com", "team3", 1, 1, "2024-02-01T00:00:00Z", NULL);
    assert_int_equal(fold(f, EV_CLAIM_ACCEPTED, &p, 20, 1, NULL), INDEX_APPLIED);
    d = get_doc(f, "dev-late", &keep);
    assert_string_equal(d->user, "cy@x.com");
    assert_int_equal(d->state, ENVPLANE__ENV__V1__ENV_STATE__ENV_STATE_READY);
    envplane__index__v1__query_reply__free_unpacked(keep, NULL);
    assert_int_equal(count(f, "cy@x.com", NULL, 1, 3), 1);
}

static void test_removal_and_tombstone(void **state)
{
    fx     *f = *state;
    packed  p;
    int     nann = 0;

    accepted(&p, "sue-r", "ann@x.com", "team1", 4, 3, "2024-01-15T10:30:00Z", "2024-01-16T00:00:00Z");
    assert_int_equal(fold(f, EV_CLAIM_ACCEPTED, &p, 100, 1, NULL), INDEX_APPLIED);
    transition(&p, "sue-r", 3, 3, NULL);
    assert_int_equal(fold(f, EV_ENV_READY, &p, 101, 1, NULL), INDEX_APPLIED);
    /* The claim is deleted: the environment is being torn down. */
    claim_deleted(&p, "sue-r", 3);
    assert_int_equal(fold(f, EV_CLAIM_DELETED, &p, 102, 1, NULL), INDEX_APPLIED);
    assert_int_equal(count(f, NULL, NULL, 4, ENVPLANE__ENV__V1__ENV_STATE__ENV_STATE_DEPROVISIONING), 1);
    transition(&p, "sue-r", 3, 6, "expired");
    assert_int_equal(fold(f, EV_ENV_DELETED, &p, 104, 1, &nann), INDEX_APPLIED);
    assert_int_equal(nann, 1);
    assert_int_equal(count(f, NULL, NULL, 4, 0), 0);
    assert_int_equal(count(f, "ann@x.com", NULL, 0, 0), 0);
    assert_int_equal(count(f, NULL, NULL, 0, 0), 0);
    /* Late events of generation 3 cannot bring it back. */
    transition(&p, "sue-r", 3, 5, NULL);
    assert_int_equal(fold(f, EV_ENV_DEPROVISIONING, &p, 103, 1, NULL), INDEX_STALE);
    transition(&p, "sue-r", 3, 3, NULL);
    assert_int_equal(fold(f, EV_ENV_READY, &p, 105, 1, NULL), INDEX_STALE);
    /* The removal redelivered: same verdict, nothing pending to announce. */
    transition(&p, "sue-r", 3, 6, "expired");
    assert_int_equal(fold(f, EV_ENV_DELETED, &p, 104, 1, &nann), INDEX_SAME);
    assert_int_equal(nann, 0);
    assert_int_equal(count(f, NULL, NULL, 0, 0), 0);
    /* A new claim under the same name (generation 4) is indexed again. */
    accepted(&p, "sue-r", "ann@x.com", "team1", 4, 4, "2024-03-01T00:00:00Z", NULL);
    assert_int_equal(fold(f, EV_CLAIM_ACCEPTED, &p, 106, 1, NULL), INDEX_APPLIED);
    assert_int_equal(count(f, NULL, NULL, 4, 1), 1);

    /* A claim deleted while still pending leaves at once. */
    accepted(&p, "dev-p", "ann@x.com", "team1", 1, 1, "2024-01-15T10:30:00Z", NULL);
    assert_int_equal(fold(f, EV_CLAIM_ACCEPTED, &p, 107, 1, NULL), INDEX_APPLIED);
    claim_deleted(&p, "dev-p", 1);
    assert_int_equal(fold(f, EV_CLAIM_DELETED, &p, 108, 1, NULL), INDEX_APPLIED);
    assert_int_equal(count(f, NULL, NULL, 1, 0), 0);
    /* Deleting something never indexed only records a tombstone. */
    claim_deleted(&p, "dev-never", 2);
    assert_int_equal(fold(f, EV_CLAIM_DELETED, &p, 109, 1, &nann), INDEX_IGNORED);
    assert_int_equal(nann, 0);
    transition(&p, "dev-never", 2, 2, NULL);
    assert_int_equal(fold(f, EV_ENV_PROVISIONING, &p, 110, 1, NULL), INDEX_STALE);
    assert_int_equal(count(f, NULL, NULL, 0, 0), 1);
}

static void test_redelivery_and_pending_announcements(void **state)
{
    fx     *f = *state;
    packed  p;
    int     nann = 0;
    index_event  ev;
    index_result res;
    ep_err  err = { 0 };

    accepted(&p, "dev-r", "ann@x.com", "team1", 1, 1, "2024-01-15T10:30:00Z", NULL);
    /* Committed but "crashed" before publishing (not marked). */
    assert_int_equal(fold(f, EV_CLAIM_ACCEPTED, &p, 7, 0, &nann), INDEX_APPLIED);
    assert_int_equal(nann, 1);
    /* Redelivered: the same announcement again (same id). */
    assert_int_equal(index_event_decode(EV_CLAIM_ACCEPTED, p.data, p.len, 7, &ev, &err), INDEX_OK);
    assert_int_equal(index_apply(f->ix, f->st, &ev, "2026-01-01T00:00:03Z", &res, &err), INDEX_OK);
    assert_int_equal(res.verdict, INDEX_SAME);
    assert_int_equal(res.nann, 1);
    assert_string_equal(res.ann[0].id, "index-updated/dev-r/7");
    index_result_dispose(&res);
    index_event_dispose(&ev);
    /* If the next event comes first, the missed announcement precedes it. */
    transition(&p, "dev-r", 1, 2, NULL);
    assert_int_equal(index_event_decode(EV_ENV_PROVISIONING, p.data, p.len, 8, &ev, &err), INDEX_OK);
    assert_int_equal(index_apply(f->ix, f->st, &ev, "2026-01-01T00:00:03Z", &res, &err), INDEX_OK);
    assert_int_equal(res.verdict, INDEX_APPLIED);
    assert_int_equal(res.nann, 2);
    assert_string_equal(res.ann[0].id, "index-updated/dev-r/7");
    assert_string_equal(res.ann[1].id, "index-updated/dev-r/8");
    assert_int_equal(index_mark_published(f->ix, f->st, "dev-r", 8, &err), INDEX_OK);
    index_result_dispose(&res);
    index_event_dispose(&ev);
    /* Once published, a redelivery announces nothing. */
    assert_int_equal(fold(f, EV_ENV_PROVISIONING, &p, 8, 1, &nann), INDEX_SAME);
    assert_int_equal(nann, 0);
    /* Subjects the index does not fold, and malformed payloads. */
    assert_int_equal(index_event_decode(EV_CLAIM_REJECTED, p.data, p.len, 9, &ev, &err), INDEX_ESKIP);
    assert_int_equal(index_event_decode(EV_INDEX_UPDATED, p.data, p.len, 9, &ev, &err), INDEX_ESKIP);
    assert_int_equal(index_event_decode(EV_ENV_READY, "\xff\xff\xff", 3, 9, &ev, &err), INDEX_EINVAL);
    transition(&p, "", 1, 2, NULL);
    assert_int_equal(index_event_decode(EV_ENV_READY, p.data, p.len, 9, &ev, &err), INDEX_EINVAL);
}

/* 257 documents; page through each sort order and direction with several
 * page sizes; each document must come exactly once and in order. */
static void test_pagination(void **state)
{
    fx     *f = *state;
    packed  p;
    const int N = 257;

    for (int i = 0; i < N; i++) {
        char name[32], created[32], expires[32];
        snprintf(name, sizeof name, "dev-p%03d", i);
        /* Creation times repeat (ties broken by name); every 4th never expires. */
        snprintf(created, sizeof created, "2024-01-%02dT00:00:00Z", 1 + (i * 7) % 28);
        snprintf(expires, sizeof expires, "2025-%02d-01T00:00:00Z", 1 + (i * 5) % 12);
        accepted(&p, name, i % 2 ? "odd@x.com" : "even@x.com", "pool", 1, 1, created, i % 4 == 0 ? NULL : expires);
        assert_int_equal(fold(f, EV_CLAIM_ACCEPTED, &p, 1000 + i, 1, NULL), INDEX_APPLIED);
    }
    for (int strat = 0; strat < 3; strat++)
    for (int sort = 1; sort <= 2; sort++) {
        index_set_query_strategy(f->ix, (index_strategy)strat);
        for (int desc = 0; desc <= 1; desc++) {
            for (int filt = 0; filt <= 1; filt++) {
                static const unsigned sizes[] = { 1, 7, 50, 1000 };
                for (size_t si = 0; si < 4; si++) {
                    Envplane__Index__V1__Query q;
                    char   cursor[700] = "", seen[300] = { 0 };
                    char   last_key[64] = "";
                    int    got = 0, pages = 0;
                    int    want = filt ? (N + 1) / 2 : N;
                    int    never_seen = 0;

                    do {
                        Envplane__Index__V1__QueryReply *r;
                        envplane__index__v1__query__init(&q);
                        q.sort = sort;
                        q.descending = desc;
                        q.limit = sizes[si];
                        q.cursor = cursor;
                        if (filt)
                            q.user = "even@x.com";
                        r = query(f, &q);
                        assert_string_equal(r->error, "");
                        assert_int_equal(r->total, want);
                        for (size_t k = 0; k < r->n_items; k++) {
                            Envplane__Index__V1__EnvironmentDoc *d = r->items[k];
                            int   i = atoi(d->environment_name + 5);
                            char  key[64];
                            const char *date = sort == 1 ? d->creation_date : d->expiration_date;
                            assert_false(seen[i]);
                            seen[i] = 1;
                            got++;
                            /* "~" sorts after every date: never-expiring last. */
                            snprintf(key, sizeof key, "%s|%s", date[0] ? date : "~", d->environment_name);
                            if (last_key[0]) {
                                if (desc) assert_true(strcmp(key, last_key) < 0);
                                else assert_true(strcmp(key, last_key) > 0);
                            }
                            if (sort == 2 && !date[0]) never_seen = 1;
                            else if (sort == 2 && !desc) assert_false(never_seen);
                            snprintf(last_key, sizeof last_key, "%s", key);
                        }
                        snprintf(cursor, sizeof cursor, "%s", r->next_cursor);
                        envplane__index__v1__query_reply__free_unpacked(r, NULL);
                        pages++;
                        assert_true(pages <= N + 1);
                    } while (cursor[0]);
                    assert_int_equal(got, want);
                }
            }
        }
    }
}

static void test_cursor_survives_removal_of_its_document(void **state)
{
    fx     *f = *state;
    packed  p;
    Envplane__Index__V1__Query q;
    Envplane__Index__V1__QueryReply *r;
    char    cursor[700];

    for (int i = 0; i < 10; i++) {
        char name[32], created[32];
        snprintf(name, sizeof name, "dev-c%d", i);
        snprintf(created, sizeof created, "2024-01-%02dT00:00:00Z", 1 + i);
        accepted(&p, name, "u@x.com", "pool", 1, 1, created, NULL);
        assert_int_equal(fold(f, EV_CLAIM_ACCEPTED, &p, 10 + i, 1, NULL), INDEX_APPLIED);
    }
    envplane__index__v1__query__init(&q);
    q.limit = 3;
    r = query(f, &q);
    assert_int_equal(r->n_items, 3);
    assert_string_equal(r->items[2]->environment_name, "dev-c2");
    snprintf(cursor, sizeof cursor, "%s", r->next_cursor);
    envplane__index__v1__query_reply__free_unpacked(r, NULL);
    /* The cursor's document goes away before the next page. */
    claim_deleted(&p, "dev-c2", 1);
    assert_int_equal(fold(f, EV_CLAIM_DELETED, &p, 50, 1, NULL), INDEX_APPLIED);
    for (int filt = 0; filt <= 3; filt++) {
        index_set_query_strategy(f->ix, filt == 2 ? INDEX_STRATEGY_SCAN : INDEX_STRATEGY_INTERSECT);
        q.cursor = cursor;
        q.user = filt ? "u@x.com" : "";
        r = query(f, &q);
        assert_string_equal(r->error, "");
        assert_int_equal(r->n_items, 3);
        assert_string_equal(r->items[0]->environment_name, "dev-c3");
        assert_int_equal(r->total, 9);
        envplane__index__v1__query_reply__free_unpacked(r, NULL);
    }
}

static void test_expiry_window(void **state)
{
    fx     *f = *state;
    packed  p;
    Envplane__Index__V1__Query q;
    Envplane__Index__V1__QueryReply *r;

    accepted(&p, "sue-1", "u@x.com", "pool", 4, 1, "2024-01-05T00:00:00Z", "2024-06-01T00:00:00Z");
    fold(f, EV_CLAIM_ACCEPTED, &p, 1, 1, NULL);
    accepted(&p, "sue-2", "u@x.com", "pool", 4, 1, "2024-01-04T00:00:00Z", "2024-07-01T00:00:00Z");
    fold(f, EV_CLAIM_ACCEPTED, &p, 2, 1, NULL);
    accepted(&p, "sue-3", "u@x.com", "pool", 4, 1, "2024-01-03T00:00:00Z", "2024-08-01T00:00:00+02:00");
    fold(f, EV_CLAIM_ACCEPTED, &p, 3, 1, NULL);
    accepted(&p, "dev-4", "u@x.com", "pool", 1, 1, "2024-01-02T00:00:00Z", NULL);
    fold(f, EV_CLAIM_ACCEPTED, &p, 4, 1, NULL);

    envplane__index__v1__query__init(&q);
    q.expires_after = "2024-07-01T00:00:00Z";   /* inclusive */
    r = query(f, &q);
    assert_string_equal(r->error, "");
    /* creation order: dev-4 (never expires counts as after), sue-3, sue-2 */
    assert_int_equal(r->n_items, 3);
    assert_string_equal(r->items[0]->environment_name, "dev-4");
    assert_string_equal(r->items[1]->environment_name, "sue-3");
    assert_string_equal(r->items[2]->environment_name, "sue-2");
    envplane__index__v1__query_reply__free_unpacked(r, NULL);

    q.expires_before = "2024-07-31T22:00:00Z";   /* exclusive: sue-3 is exactly then */
    q.sort = ENVPLANE__INDEX__V1__SORT_BY__SORT_BY_EXPIRY;
    r = query(f, &q);
    assert_int_equal(r->n_items, 1);
    assert_string_equal(r->items[0]->environment_name, "sue-2");
    envplane__index__v1__query_reply__free_unpacked(r, NULL);

    envplane__index__v1__query__init(&q);
    q.expires_before = "2024-07-01T00:00:01Z";
    q.environment_type = 4;
    q.sort = ENVPLANE__INDEX__V1__SORT_BY__SORT_BY_EXPIRY;
    q.descending = 1;
    r = query(f, &q);
    assert_int_equal(r->n_items, 2);
    assert_string_equal(r->items[0]->environment_name, "sue-2");
    assert_string_equal(r->items[1]->environment_name, "sue-1");
    envplane__index__v1__query_reply__free_unpacked(r, NULL);
}

static void test_validation(void **state)
{
    fx *f = *state;
    Envplane__Index__V1__Query q;
    Envplane__Index__V1__QueryReply *r;
    uint8_t *rep = NULL;
    size_t   rlen = 0;
    ep_err   err = { 0 };
    struct { const char *field; } cases[] = { { "limit" }, { "cursor" }, { "expires_before" }, { "expires_after" },
                                             { "environment_type" }, { "state" }, { "sort" }, { "cursor" } };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        envplane__index__v1__query__init(&q);
        switch (i) {
        case 0: q.limit = 1001; break;
        case 1: q.cursor = "zz"; break;
        case 2: q.expires_before = "2024-13-01T00:00:00Z"; break;
        case 3: q.expires_after = "yesterday"; break;
        case 4: q.environment_type = 9; break;
        case 5: q.state = 42; break;
        case 6: q.sort = 7; break;
        case 7: {
            /* A creation-order cursor used with expiry order. */
            static char hex[200];
            const char *raw = "v1|c|a|100|dev-a";
            for (size_t k = 0; raw[k]; k++)
                snprintf(hex + 2 * k, 3, "%02x", (unsigned char)raw[k]);
            q.cursor = hex;
            q.sort = ENVPLANE__INDEX__V1__SORT_BY__SORT_BY_EXPIRY;
            break;
        }
        }
        r = query(f, &q);
        assert_int_equal(r->n_items, 0);
        if (strncmp(r->error, cases[i].field, strlen(cases[i].field)) != 0)
            fail_msg("case %zu: error '%s' does not name %s", i, r->error, cases[i].field);
        envplane__index__v1__query_reply__free_unpacked(r, NULL);
    }
    /* Not a Query at all. */
    assert_int_equal(index_query(f->ix, f->st, "\xff\xff", 2, &rep, &rlen, &err), INDEX_OK);
    r = envplane__index__v1__query_reply__unpack(NULL, rlen, rep);
    assert_non_null(r);
    assert_true(strlen(r->error) > 0);
    envplane__index__v1__query_reply__free_unpacked(r, NULL);
    free(rep);
    /* Limit 0 means 50. */
    for (int i = 0; i < 60; i++) {
        packed p;
        char   name[16];
        snprintf(name, sizeof name, "dev-l%d", i);
        accepted(&p, name, "u@x.com", "pool", 1, 1, "2024-01-01T00:00:00Z", NULL);
        fold(f, EV_CLAIM_ACCEPTED, &p, 1 + i, 1, NULL);
    }
    envplane__index__v1__query__init(&q);
    r = query(f, &q);
    assert_int_equal(r->n_items, 50);
    assert_int_equal(r->total, 60);
    assert_true(r->next_cursor[0] != '\0');
    envplane__index__v1__query_reply__free_unpacked(r, NULL);
}

/* Every member of every index set has a document with that field value,
 * every document is in its sets and sorted sets, and the sorted sets hold
 * exactly the documents. */
static void check_consistent(fx *f)
{
    ep_err err = { 0 };

    {
        char pat[128];
        redisReply *keys;
        snprintf(pat, sizeof pat, "%s*", f->prefix);
        keys = store_cmd(f->st, &err, "KEYS %s", pat);
        assert_non_null(keys);
        for (size_t i = 0; i < keys->elements; i++) {
            const char *k = keys->element[i]->str + strlen(f->prefix);
            const char *fields[] = { "user:", "pool:", "type:", "state:" };
            for (int fi = 0; fi < 4; fi++) {
                size_t fl = strlen(fields[fi]);
                if (strncmp(k, fields[fi], fl) != 0)
                    continue;
                redisReply *m = store_cmd(f->st, &err, "SMEMBERS %s", keys->element[i]->str);
                for (size_t j = 0; j < m->elements; j++) {
                    char fname[8];
                    snprintf(fname, sizeof fname, "%.*s", (int)fl - 1, fields[fi]);
                    redisReply *v = store_cmd(f->st, &err, "HGET %sdoc:%s %s", f->prefix, m->element[j]->str, fname);
                    assert_int_equal(v->type, REDIS_REPLY_STRING);
                    assert_string_equal(v->str, k + fl);
                    freeReplyObject(v);
                }
                freeReplyObject(m);
            }
            if (strncmp(k, "doc:", 4) == 0) {
                const char *name = k + 4;
                redisReply *v = store_cmd(f->st, &err, "HMGET %s user state", keys->element[i]->str);
                redisReply *a = store_cmd(f->st, &err, "SISMEMBER %suser:%s %s", f->prefix, v->element[0]->str, name);
                redisReply *b = store_cmd(f->st, &err, "SISMEMBER %sstate:%s %s", f->prefix, v->element[1]->str, name);
                redisReply *c = store_cmd(f->st, &err, "ZSCORE %sby-creation %s", f->prefix, name);
                redisReply *d = store_cmd(f->st, &err, "ZSCORE %sby-expiry %s", f->prefix, name);
                assert_int_equal(a->integer, 1);
                assert_int_equal(b->integer, 1);
                assert_int_equal(c->type, REDIS_REPLY_STRING);
                assert_int_equal(d->type, REDIS_REPLY_STRING);
                freeReplyObject(v); freeReplyObject(a); freeReplyObject(b);
                freeReplyObject(c); freeReplyObject(d);
            }
        }
        freeReplyObject(keys);
    }
    {
        /* And the sorted sets hold exactly the documents. */
        redisReply *z = store_cmd(f->st, &err, "ZCARD %sby-creation", f->prefix);
        size_t      n = count(f, NULL, NULL, 0, 0);
        assert_int_equal((size_t)z->integer, n);
        freeReplyObject(z);
    }
}

/* Random events over 40 environments; afterwards every index set must
 * agree with the documents. */
static void test_random_events_keep_indexes_consistent(void **state)
{
    fx      *f = *state;
    packed   p;
    uint64_t gen[40] = { 0 };
    unsigned seed = 12345;

    for (uint64_t seq = 1; seq <= 2000; seq++) {
        int  e = (int)((seed = seed * 1103515245u + 12345u) >> 16) % 40;
        int  what = (int)((seed = seed * 1103515245u + 12345u) >> 16) % 10;
        char name[16], user[16], pool[16];
        snprintf(name, sizeof name, "dev-q%d", e);
        snprintf(user, sizeof user, "u%d@x.com", (int)(seed >> 20) % 3);
        snprintf(pool, sizeof pool, "p%d", (int)(seed >> 22) % 4);
        if (what < 3 || gen[e] == 0) {
            accepted(&p, name, user, pool, 1 + what % 4, ++gen[e], "2024-01-01T00:00:00Z", NULL);
            fold(f, EV_CLAIM_ACCEPTED, &p, seq, what % 2, NULL);
        } else if (what < 8) {
            /* Sometimes an older generation's event, arriving late. */
            uint64_t g = what == 7 && gen[e] > 1 ? gen[e] - 1 : gen[e];
            int      st = 2 + what % 4;
            transition(&p, name, g, st, NULL);
            fold(f, state_subject(st), &p, seq, 1, NULL);
        } else if (what == 8) {
            claim_deleted(&p, name, gen[e]);
            fold(f, EV_CLAIM_DELETED, &p, seq, 1, NULL);
        } else {
            transition(&p, name, gen[e], 6, NULL);
            fold(f, EV_ENV_DELETED, &p, seq, 1, NULL);
        }
    }
    check_consistent(f);
}

/* Two writers (think: two indexer replicas on one durable) fold the same
 * environments' events concurrently, each its own half, in opposite
 * orders.  The compare-and-set must make every change land on the version
 * it was computed from: at the end each document reflects its newest event
 * and the indexes agree with the documents. */
#define CONC_ENVS 20
#define CONC_EVENTS 30

typedef struct conc_arg {
    fx  *f;
    int  part;        /* fold events whose index % 2 == part */
    int  failures;
    int  conflicts_seen;
} conc_arg;

static void conc_event(int e, int k, const char **subject, packed *p)
{
    char     name[16];
    uint64_t gen = 1 + (uint64_t)k / 5;

    snprintf(name, sizeof name, "dev-w%d", e);
    if (k % 5 == 0) {
        char pool[16];
        snprintf(pool, sizeof pool, "pool%llu", (unsigned long long)gen);
        accepted(p, name, "w@x.com", pool, 1, gen, "2024-01-01T00:00:00Z", NULL);
        *subject = EV_CLAIM_ACCEPTED;
    } else if (k == CONC_EVENTS - 1 && e % 3 == 0) {
        transition(p, name, gen, 6, NULL);
        *subject = EV_ENV_DELETED;
    } else {
        int st = 2 + k % 4;
        transition(p, name, gen, st, NULL);
        *subject = state_subject(st);
    }
}

static void *conc_main(void *argp)
{
    conc_arg *a = argp;
    store    *st = NULL;
    ep_err    err = { 0 };

    if (store_create(url, 5000, &st, &err) != STORE_OK) {
        a->failures++;
        return NULL;
    }
    for (int round = 0; round < CONC_EVENTS; round++) {
        int k = a->part ? CONC_EVENTS - 1 - round : round;
        if (k % 2 != a->part)
            continue;
        for (int e = 0; e < CONC_ENVS; e++) {
            packed       p;
            const char  *subject;
            index_event  ev;
            index_result res;

            conc_event(e, k, &subject, &p);
            if (index_event_decode(subject, p.data, p.len, (uint64_t)(1 + k), &ev, &err) != INDEX_OK) {
                a->failures++;
                continue;
            }
            if (index_apply(a->f->ix, st, &ev, "2026-01-01T00:00:00Z", &res, &err) != INDEX_OK)
                a->failures++;
            else
                index_result_dispose(&res);
            index_event_dispose(&ev);
        }
    }
    store_destroy(st);
    return NULL;
}

static void test_concurrent_writers(void **state)
{
    fx        *f = *state;
    pthread_t  t[2];
    conc_arg   a[2] = { { f, 0, 0, 0 }, { f, 1, 0, 0 } };
    Envplane__Index__V1__QueryReply *keep;

    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, conc_main, &a[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(a[0].failures + a[1].failures, 0);
    for (int e = 0; e < CONC_ENVS; e++) {
        char name[16];
        Envplane__Index__V1__EnvironmentDoc *d;
        snprintf(name, sizeof name, "dev-w%d", e);
        d = get_doc(f, name, &keep);
        if (e % 3 == 0) {
            assert_null(d);   /* its newest event is env.deleted */
        } else {
            int k = CONC_EVENTS - 1;
            assert_non_null(d);
            assert_int_equal(d->generation, 1 + k / 5);
            assert_int_equal(d->state, 2 + k % 4);
            assert_string_equal(d->environment_pool, "pool6");
        }
        envplane__index__v1__query_reply__free_unpacked(keep, NULL);
    }
    check_consistent(f);
}

static void test_parse_time(void **state)
{
    long long t;

    (void)state;
    assert_int_equal(index_parse_time("1970-01-01T00:00:00Z", &t), 0);
    assert_int_equal(t, 0);
    assert_int_equal(index_parse_time("2024-01-15T10:30:00.123Z", &t), 0);
    assert_int_equal(t, 1705314600);
    assert_int_equal(index_parse_time("2024-01-15T12:30:00+02:00", &t), 0);
    assert_int_equal(t, 1705314600);
    assert_int_equal(index_parse_time("2024-01-15T10:30:00", &t), -1);
    assert_int_equal(index_parse_time("2024-01-15", &t), -1);
    assert_int_equal(index_parse_time("2024-01-15T10:30:00Zx", &t), -1);
    assert_int_equal(index_parse_time("", &t), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test_setup_teardown(test_claim_document_and_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_older_generation_never_regresses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_fields_after_their_transitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removal_and_tombstone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redelivery_and_pending_announcements, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pagination, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cursor_survives_removal_of_its_document, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_events_keep_indexes_consistent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
    };

    url = getenv("EP_REDIS_URL");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
