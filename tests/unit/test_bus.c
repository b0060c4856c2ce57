/*
 * bus against a real nats-server with JetStream: idempotent stream setup,
 * de-duplication by event id, and the consumer's verdicts — ack, bounded
 * redelivery ending in the dead-letter subject, immediate dead-lettering.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "bus/bus.h"

static bus *B;
static char uniq[32];

static int setup(void **state)
{
    const char *url = getenv("EP_NATS_URL");
    bus_config  bc = { 0 };
    ep_err      err = { 0 };

    (void)state;
    if (url == NULL) {
        fprintf(stderr, "EP_NATS_URL is not set: run through scripts/with-stack.sh\n");
        return -1;
    }
    bc.url = url;
    bc.name = "test_bus";
    bc.source = "/envplane/test";
    if (bus_create(&bc, &B, &err) != BUS_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    snprintf(uniq, sizeof uniq, "%lx", (long)time(NULL) ^ (long)getpid());
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    bus_destroy(B);
    nats_Close();
    return 0;
}

static void streams_idempotent(void **state)
{
    ep_err      err = { 0 };
    /* The stack's own subject: other tests on this stack rely on it. */
    const char *notify = getenv("EP_NOTIFY_SUBJECT") ? getenv("EP_NOTIFY_SUBJECT") : "minio.notify.claims";

    (void)state;
    assert_int_equal(bus_ensure_streams(B, notify, &err), BUS_OK);
    assert_int_equal(bus_ensure_streams(B, notify, &err), BUS_OK);
}

static void dedup_by_id(void **state)
{
    ep_err err = { 0 };
    int    dup = -1;
    char   id[64];

    (void)state;
    snprintf(id, sizeof id, "test-dedup/%s", uniq);
    assert_int_equal(bus_publish_event(B, "platform.claim.v1.accepted", "io.envplane.claim.v1.accepted",
                                       id, "dev-x", "a", 1, &dup, &err), BUS_OK);
    assert_int_equal(dup, 0);
    assert_int_equal(bus_publish_event(B, "platform.claim.v1.accepted", "io.envplane.claim.v1.accepted",
                                       id, "dev-x", "a", 1, &dup, &err), BUS_OK);
    assert_int_equal(dup, 1);
    /* a subject no stream captures: the publish fails with a clear error */
    assert_int_not_equal(bus_publish_event(B, "nowhere.at.all", "t", "x", NULL, "a", 1, NULL, &err), BUS_OK);
    assert_non_null(strstr(err.msg, "nowhere.at.all"));
}

typedef struct seen {
    int         calls;
    bus_verdict verdict;
    uint64_t    last_delivery;
    char        header[64];
} seen;

static bus_verdict handler(const bus_msg *m, void *ud, char *why, size_t why_len)
{
    seen       *s = ud;
    const char *h = bus_msg_header(m, "ce-id");

    s->calls++;
    s->last_delivery = m->num_delivered;
    snprintf(s->header, sizeof s->header, "%s", h ? h : "");
    snprintf(why, why_len, "test says %s", s->verdict == BUS_ACK ? "ack" : "no");
    return s->verdict;
}

/* Poll until the handler has been called n times (each poll blocks up to
 * 2 s for a message: waiting on the event, not on a clock). */
static void poll_until(bus_consumer *c, seen *s, int n)
{
    ep_err err = { 0 };

    for (int tries = 0; s->calls < n && tries < 40; tries++)
        assert_int_equal(bus_consumer_poll(c, 2000, NULL, &err), BUS_OK);
    assert_int_equal(s->calls, n);
}

static void consume_dead_letter(void **state)
{
    char                subj[96], dur[64], id[64], dlq[96];
    seen                s = { .verdict = BUS_RETRY };
    seen                d = { .verdict = BUS_ACK };
    bus_consumer       *c = NULL, *dc = NULL;
    bus_consumer_config cc = { 0 }, dcc = { 0 };
    ep_err              err = { 0 };

    (void)state;
    snprintf(subj, sizeof subj, "platform.claim.v1.t%s", uniq);
    snprintf(dur, sizeof dur, "t%s", uniq);
    snprintf(dlq, sizeof dlq, BUS_DLQ_PREFIX "%s", dur);
    snprintf(id, sizeof id, "retry/%s", uniq);
    cc.stream = BUS_EVENT_STREAM;
    cc.durable = dur;
    cc.filter_subject = subj;
    cc.max_deliver = 3;
    cc.handler = handler;
    cc.ud = &s;
    assert_int_equal(bus_consumer_create(B, &cc, &c, &err), BUS_OK);
    dcc.stream = BUS_EVENT_STREAM;
    dcc.durable = "dlqwatch";
    dcc.filter_subject = dlq;
    dcc.handler = handler;
    dcc.ud = &d;
    assert_int_equal(bus_consumer_create(B, &dcc, &dc, &err), BUS_OK);

    assert_int_equal(bus_publish_event(B, subj, "io.envplane.test", id, NULL, "payload", 7, NULL, &err), BUS_OK);
    /* three deliveries (the back-off between them is the server's), then
     * the third failure moves it to the dead-letter subject */
    poll_until(c, &s, 3);
    assert_int_equal(s.last_delivery, 3);
    poll_until(dc, &d, 1);
    assert_string_equal(d.header, id);

    /* BUS_DEAD goes straight to the dead-letter subject */
    s.calls = 0;
    s.verdict = BUS_DEAD;
    snprintf(id, sizeof id, "dead/%s", uniq);
    assert_int_equal(bus_publish_event(B, subj, "io.envplane.test", id, NULL, "x", 1, NULL, &err), BUS_OK);
    poll_until(c, &s, 1);
    poll_until(dc, &d, 2);
    assert_string_equal(d.header, id);

    /* BUS_ACK: delivered once */
    s.calls = 0;
    s.verdict = BUS_ACK;
    snprintf(id, sizeof id, "ack/%s", uniq);
    assert_int_equal(bus_publish_event(B, subj, "io.envplane.test", id, NULL, "x", 1, NULL, &err), BUS_OK);
    poll_until(c, &s, 1);
    assert_int_equal(s.last_delivery, 1);

    {
        bus_stats st;
        bus_get_stats(B, &st);
        assert_true(st.dead_lettered >= 2);
        assert_true(st.retried >= 2);
        assert_true(st.acked >= 3);
    }
    bus_consumer_destroy(c);
    bus_consumer_destroy(dc);
}

static void connect_refused(void **state)
{
    bus_config bc = { .url = "nats://127.0.0.1:1", .name = "x", .timeout_ms = 500 };
    bus       *b = NULL;
    ep_err     err = { 0 };

    (void)state;
    assert_int_equal(bus_create(&bc, &b, &err), BUS_ECONNECT);
    assert_null(b);
    assert_non_null(strstr(err.msg, "127.0.0.1:1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(streams_idempotent),
        cmocka_unit_test(dedup_by_id),
        cmocka_unit_test(consume_dead_letter),
        cmocka_unit_test(connect_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
