/*
 * test_provisioner_writers: the provisioner's S3 writer pool
 * (services/provisioner/writers.c) against the real MinIO from
 * scripts/with-stack.sh (EP_S3_*; the test fails when they are unset):
 * every item of a batch is written exactly as given, batches follow one
 * another on the same threads, a failure is reported with the S3 error
 * after every item was attempted, and the pool stops cleanly while idle.
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

#include "../../services/provisioner/writers.c"

static const char *need(const char *name)
{
    const char *v = getenv(name);

    if (v == NULL || v[0] == '\0')
        fail_msg("%s is not set: run through scripts/with-stack.sh", name);
    return v;
}

static s3_config config(void)
{
    s3_config c = { 0 };

    c.endpoint = need("EP_S3_ENDPOINT");
    c.region = need("EP_S3_REGION");
    c.access_key = need("EP_S3_ACCESS_KEY");
    c.secret_key = need("EP_S3_SECRET_KEY");
    return c;
}

static int setup(void **state)
{
    ep_err err = { 0 };

    (void)state;
    if (s3_global_init(&err) != S3_OK)
        fail_msg("s3_global_init: %s", err.msg);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    s3_global_cleanup();
    return 0;
}

static void test_batches(void **state)
{
    s3_config    cfg = config();
    s3_client   *c = NULL;
    writers     *w = NULL;
    ep_err       err = { 0 };
    char         keys[40][64], bodies[40][64];
    writers_item items[40];
    const char  *bucket = "provisioner-writers-test";

    (void)state;
    assert_int_equal(s3_client_create(&cfg, &c, &err), S3_OK);
    assert_int_equal(s3_bucket_ensure(c, bucket, &err), S3_OK);
    assert_int_equal(writers_create(&cfg, 4, &w, &err), 0);
    for (int round = 0; round < 3; round++) {
        size_t n = round == 1 ? 1 : 40;   /* a single-item batch in between */
        for (size_t i = 0; i < n; i++) {
            snprintf(keys[i], sizeof keys[i], "r%d/%d-%zu.yaml", (int)getpid(), round, i);
            snprintf(bodies[i], sizeof bodies[i], "round: %d\nitem: %zu\n", round, i);
            items[i].key = keys[i];
            items[i].data = bodies[i];
            items[i].len = strlen(bodies[i]);
        }
        if (writers_put_all(w, bucket, items, n, "application/yaml", &err) != 0)
            fail_msg("round %d: %s", round, err.msg);
        for (size_t i = 0; i < n; i++) {
            s3_buf         b = { 0 };
            s3_object_info info;
            assert_int_equal(s3_get(c, bucket, keys[i], 4096, &b, &info, &err), S3_OK);
            assert_string_equal(b.data, bodies[i]);
            assert_string_equal(info.content_type, "application/yaml");
            free(b.data);
            assert_int_equal(s3_delete(c, bucket, keys[i], &err), S3_OK);
        }
    }
    assert_int_equal(writers_put_all(w, bucket, items, 0, NULL, &err), 0);
    writers_destroy(w);
    s3_client_destroy(c);
}

static void test_failure(void **state)
{
    s3_config    cfg = config();
    writers     *w = NULL;
    ep_err       err = { 0 };
    writers_item items[5];

    (void)state;
    for (int i = 0; i < 5; i++) {
        items[i].key = "x.yaml";
        items[i].data = "a: 1\n";
        items[i].len = 5;
    }
    assert_int_equal(writers_create(&cfg, 2, &w, &err), 0);
    assert_int_equal(writers_put_all(w, "no-such-bucket-writers", items, 5, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "no-such-bucket-writers"));
    assert_int_equal(err.code, S3_ENOTFOUND);
    writers_destroy(w);
    writers_destroy(NULL);
}

static void test_bad_config(void **state)
{
    s3_config cfg = config();
    writers  *w = (writers *)&cfg;
    ep_err    err = { 0 };

    (void)state;
    cfg.endpoint = "not a url";
    assert_int_equal(writers_create(&cfg, 3, &w, &err), -1);
    assert_null(w);
    assert_true(err.msg[0] != '\0');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batches),
        cmocka_unit_test(test_failure),
        cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
