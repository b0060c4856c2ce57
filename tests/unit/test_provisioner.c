/*
 * test_provisioner: the provisioner's environment state machine
 * (services/provisioner/envstate.c) — the transition table, and the Redis
 * script against the real server from scripts/with-stack.sh (EP_REDIS_URL;
 * the test fails when it is unset): generations only move forward, a
 * repeated transition is reported as such, the published flag follows the
 * state, and deletion is final for its generation.
 *
 * The service's source is compiled into this test directly: services are
 * not libraries, and the state machine is the part worth testing alone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../services/provisioner/envstate.c"

typedef struct fixture {
    store    *st;
    envstate *es;
    char      env[64];
} fixture;

static int setup(void **state)
{
    const char *url = getenv("EP_REDIS_URL");
    fixture    *f = calloc(1, sizeof *f);
    ep_err      err = { 0 };
    static int  seq;

    if (url == NULL)
        fail_msg("EP_REDIS_URL is not set: run through scripts/with-stack.sh");
    if (store_create(url, 5000, &f->st, &err) != STORE_OK)
        fail_msg("store_create: %s", err.msg);
    f->es = envstate_create();
    assert_non_null(f->es);
    snprintf(f->env, sizeof f->env, "dev-t%d-%d", (int)getpid(), seq++);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture    *f = *state;
    redisReply *r = store_cmd(f->st, NULL, "DEL ep:provisioner:env:%s", f->env);

    freeReplyObject(r);
    envstate_destroy(f->es);
    store_destroy(f->st);
    free(f);
    return 0;
}

static envstate_verdict step(fixture *f, uint64_t gen, envstate_state to, int new_ok, const char *docs,
                             envstate_record *rec)
{
    envstate_change  ch = { 0 };
    envstate_verdict v;
    ep_err           err = { 0 };

    ch.generation = gen;
    ch.to = to;
    ch.new_generation_ok = new_ok;
    ch.reason = to == ENVSTATE_FAILED ? "rendering: boom" : "";
    ch.documents = docs;
    ch.type = "dev";
    ch.source = "dynamic";
    ch.at = "2026-01-01T00:00:00Z";
    if (envstate_transition(f->es, f->st, f->env, &ch, &v, rec, &err) != 0)
        fail_msg("transition: %s", err.msg);
    return v;
}

static void test_table(void **state)
{
    (void)state;
    assert_true(envstate_allowed(ENVSTATE_PENDING, ENVSTATE_PROVISIONING));
    assert_true(envstate_allowed(ENVSTATE_PROVISIONING, ENVSTATE_READY));
    assert_true(envstate_allowed(ENVSTATE_PROVISIONING, ENVSTATE_FAILED));
    assert_true(envstate_allowed(ENVSTATE_READY, ENVSTATE_DEPROVISIONING));
    assert_true(envstate_allowed(ENVSTATE_FAILED, ENVSTATE_DEPROVISIONING));
    assert_true(envstate_allowed(ENVSTATE_DEPROVISIONING, ENVSTATE_DELETED));
    assert_false(envstate_allowed(ENVSTATE_PENDING, ENVSTATE_READY));
    assert_false(envstate_allowed(ENVSTATE_READY, ENVSTATE_PROVISIONING));
    assert_false(envstate_allowed(ENVSTATE_FAILED, ENVSTATE_READY));
    assert_false(envstate_allowed(ENVSTATE_DELETED, ENVSTATE_DEPROVISIONING));
    assert_false(envstate_allowed(ENVSTATE_DELETED, ENVSTATE_PENDING));
    assert_false(envstate_allowed(ENVSTATE_READY, ENVSTATE_DELETED));
    for (int s = ENVSTATE_PENDING; s <= ENVSTATE_DELETED; s++) {
        assert_string_equal(envstate_name(envstate_parse(envstate_name((envstate_state)s))),
                            envstate_name((envstate_state)s));
        assert_false(envstate_allowed((envstate_state)s, ENVSTATE_PENDING));
    }
    assert_int_equal(envstate_parse("nonsense"), ENVSTATE_NONE);
    assert_int_equal(envstate_parse(NULL), ENVSTATE_NONE);
}

static void test_happy_path(void **state)
{
    fixture        *f = *state;
    envstate_record rec;
    ep_err          err = { 0 };

    assert_int_equal(envstate_get(f->st, f->env, &rec, &err), 0);
    assert_int_equal(rec.state, ENVSTATE_NONE);
    assert_int_equal(step(f, 1, ENVSTATE_PENDING, 1, NULL, &rec), ENVSTATE_OK);
    assert_int_equal(rec.state, ENVSTATE_PENDING);
    assert_int_equal(rec.previous, ENVSTATE_NONE);
    assert_int_equal(rec.generation, 1);
    assert_string_equal(rec.type, "dev");
    assert_int_equal(step(f, 1, ENVSTATE_PROVISIONING, 0, NULL, &rec), ENVSTATE_OK);
    assert_int_equal(step(f, 1, ENVSTATE_READY, 0, "dev-x/a.yaml\ndev-x/b.yaml", &rec), ENVSTATE_OK);
    assert_int_equal(rec.state, ENVSTATE_READY);
    assert_int_equal(rec.previous, ENVSTATE_PROVISIONING);
    assert_false(rec.published);
    /* Redelivery: the same transition again changes nothing. */
    assert_int_equal(step(f, 1, ENVSTATE_READY, 0, "other", &rec), ENVSTATE_SAME);
    assert_int_equal(envstate_mark_published(f->es, f->st, f->env, 1, ENVSTATE_READY, &err), 0);
    assert_int_equal(envstate_get(f->st, f->env, &rec, &err), 0);
    assert_true(rec.published);
    {
        redisReply *r = store_cmd(f->st, &err, "HGET ep:provisioner:env:%s documents", f->env);
        assert_non_null(r);
        assert_string_equal(r->str, "dev-x/a.yaml\ndev-x/b.yaml");
        freeReplyObject(r);
    }
    /* The acceptance of generation 1 again: refused, the record shows ready. */
    assert_int_equal(step(f, 1, ENVSTATE_PENDING, 1, NULL, &rec), ENVSTATE_REFUSED);
    assert_int_equal(rec.state, ENVSTATE_READY);
    assert_true(rec.published);
}

static void test_generations_only_move_forward(void **state)
{
    fixture        *f = *state;
    envstate_record rec;
    ep_err          err = { 0 };

    assert_int_equal(step(f, 2, ENVSTATE_PENDING, 1, NULL, &rec), ENVSTATE_OK);
    assert_int_equal(step(f, 2, ENVSTATE_PROVISIONING, 0, NULL, &rec), ENVSTATE_OK);
    /* Generation 1 arrives late, for every kind of transition. */
    assert_int_equal(step(f, 1, ENVSTATE_PENDING, 1, NULL, &rec), ENVSTATE_STALE);
    assert_int_equal(step(f, 1, ENVSTATE_READY, 0, "x", &rec), ENVSTATE_STALE);
    assert_int_equal(step(f, 1, ENVSTATE_DEPROVISIONING, 1, NULL, &rec), ENVSTATE_STALE);
    assert_int_equal(rec.state, ENVSTATE_PROVISIONING);
    assert_int_equal(rec.generation, 2);
    /* A newer generation may start over any state, even mid-provisioning. */
    assert_int_equal(step(f, 3, ENVSTATE_PENDING, 1, NULL, &rec), ENVSTATE_OK);
    assert_int_equal(rec.previous, ENVSTATE_PROVISIONING);
    /* But not through a transition that is not the start of a generation. */
    assert_int_equal(step(f, 4, ENVSTATE_READY, 0, "x", &rec), ENVSTATE_REFUSED);
    assert_int_equal(rec.generation, 3);
    /* Marking an older generation published touches nothing. */
    assert_int_equal(envstate_mark_published(f->es, f->st, f->env, 2, ENVSTATE_PROVISIONING, &err), 0);
    assert_int_equal(envstate_get(f->st, f->env, &rec, &err), 0);
    assert_false(rec.published);
    assert_int_equal(rec.state, ENVSTATE_PENDING);
}

static void test_failure_and_deletion(void **state)
{
    fixture        *f = *state;
    envstate_record rec;

    assert_int_equal(step(f, 1, ENVSTATE_PENDING, 1, NULL, &rec), ENVSTATE_OK);
    assert_int_equal(step(f, 1, ENVSTATE_PROVISIONING, 0, NULL, &rec), ENVSTATE_OK);
    assert_int_equal(step(f, 1, ENVSTATE_FAILED, 0, NULL, &rec), ENVSTATE_OK);
    assert_string_equal(rec.reason, "rendering: boom");
    /* failed is final for its generation */
    assert_int_equal(step(f, 1, ENVSTATE_READY, 0, "x", &rec), ENVSTATE_REFUSED);
    assert_int_equal(step(f, 1, ENVSTATE_DELETED, 0, NULL, &rec), ENVSTATE_REFUSED);
    assert_int_equal(step(f, 1, ENVSTATE_DEPROVISIONING, 1, NULL, &rec), ENVSTATE_OK);
    assert_int_equal(rec.previous, ENVSTATE_FAILED);
    assert_int_equal(step(f, 1, ENVSTATE_DELETED, 0, NULL, &rec), ENVSTATE_OK);
    /* A late acceptance of the deleted generation cannot revive it ... */
    assert_int_equal(step(f, 1, ENVSTATE_PENDING, 1, NULL, &rec), ENVSTATE_REFUSED);
    assert_int_equal(rec.state, ENVSTATE_DELETED);
    assert_int_equal(step(f, 1, ENVSTATE_DEPROVISIONING, 1, NULL, &rec), ENVSTATE_REFUSED);
    /* ... a re-created claim (next generation) starts again. */
    assert_int_equal(step(f, 2, ENVSTATE_PENDING, 1, NULL, &rec), ENVSTATE_OK);
    assert_int_equal(rec.previous, ENVSTATE_DELETED);
}

static void test_delete_unknown(void **state)
{
    fixture        *f = *state;
    envstate_record rec;

    /* Deletion of an environment never provisioned here still ends in
     * deleted, so a reordered acceptance finds it deleted. */
    assert_int_equal(step(f, 4, ENVSTATE_DEPROVISIONING, 1, NULL, &rec), ENVSTATE_OK);
    assert_int_equal(rec.previous, ENVSTATE_NONE);
    assert_int_equal(step(f, 4, ENVSTATE_DELETED, 0, NULL, &rec), ENVSTATE_OK);
    assert_int_equal(step(f, 4, ENVSTATE_PENDING, 1, NULL, &rec), ENVSTATE_REFUSED);
    assert_int_equal(step(f, 3, ENVSTATE_PENDING, 1, NULL, &rec), ENVSTATE_STALE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test_setup_teardown(test_happy_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generations_only_move_forward, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_and_deletion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_unknown, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
