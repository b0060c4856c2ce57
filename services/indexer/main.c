/*
 * indexer: keeps a queryable document per environment in Redis.
 *
 * Input: every claim.* and env.* event of the PLATFORM stream through the
 * durable pull consumer "indexer" (filter platform.*.v1.*; other subjects
 * are acknowledged and skipped).  Output: the index (libs/index), one
 * platform.index.v1.updated per change, and answers to
 * platform.index.v1.query requests.
 *
 * indexer --rebuild wipes the index and folds the whole PLATFORM stream
 * into it again through a temporary consumer, announcing nothing, then
 * exits 0: the way back after Redis lost its data.  Run it while no
 * indexer is running (see docs/indexer.md).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "indexer.h"
#include "log/log.h"

static int worker_setup(indexer *x)
{
    ep_err err = { 0 };

    if (store_create(x->cfg.redis_url, 5000, &x->st, &err) != STORE_OK) {
        LOG_KV(LOG_LEVEL_ERROR, "cannot connect to Redis", "error", err.msg, NULL);
        return -1;
    }
    if (store_ping(x->st, &err) != STORE_OK) {
        LOG_KV(LOG_LEVEL_ERROR, "Redis does not answer", "error", err.msg, NULL);
        return -1;
    }
    return 0;
}

static int consumer_open(indexer *x, const char *durable)
{
    bus_consumer_config cc = { 0 };
    ep_err              err = { 0 };

    cc.stream = BUS_EVENT_STREAM;
    cc.durable = durable;
    cc.filter_subject = "platform.*.v1.*";
    cc.max_deliver = (int)x->cfg.max_deliver;
    cc.ack_wait_ms = (long)x->cfg.ack_wait_ms;
    cc.batch = 64;
    cc.handler = indexer_on_event;
    cc.ud = x;
    if (bus_consumer_create(x->bus, &cc, &x->cons, &err) != BUS_OK) {
        LOG_KV(LOG_LEVEL_ERROR, "cannot create the event consumer", "durable", durable, "error", err.msg, NULL);
        return -1;
    }
    return 0;
}

/* Replay the whole stream into a wiped index through a consumer of our own,
 * until the server says nothing is left to deliver or unacknowledged. */
static void rebuild(svc *s, indexer *x)
{
    char        durable[64], n[32];
    ep_err      err = { 0 };
    long long   wiped;
    int         total = 0;
    jsErrCode   jerr = 0;

    snprintf(durable, sizeof durable, "indexer-rebuild-%d", (int)getpid());
    x->rebuilding = 1;
    wiped = index_wipe(x->ix, x->st, &err);
    if (wiped < 0) {
        LOG_KV(LOG_LEVEL_ERROR, "cannot wipe the index", "error", err.msg, NULL);
        svc_fail(s, "rebuild failed");
        return;
    }
    snprintf(n, sizeof n, "%lld", wiped);
    LOG_KV(LOG_LEVEL_INFO, "rebuild: index wiped; replaying the PLATFORM stream", "keys_deleted", n,
           "consumer", durable, NULL);
    if (consumer_open(x, durable) != 0) {
        svc_fail(s, "rebuild failed");
        return;
    }
    while (!svc_stopping(s)) {
        jsConsumerInfo *ci = NULL;
        int             handled, done;

        handled = svc_poll(s, x->cons, 500, "events to rebuild from");
        total += handled;
        if (handled > 0)
            continue;
        if (js_GetConsumerInfo(&ci, bus_js(x->bus), BUS_EVENT_STREAM, durable, NULL, &jerr) != NATS_OK) {
            LOG_KV(LOG_LEVEL_WARN, "rebuild: cannot read the consumer's state; retrying", NULL);
            continue;
        }
        done = ci->NumPending == 0 && ci->NumAckPending == 0;
        jsConsumerInfo_Destroy(ci);
        if (done)
            break;
    }
    bus_consumer_destroy(x->cons);
    x->cons = NULL;
    js_DeleteConsumer(bus_js(x->bus), BUS_EVENT_STREAM, durable, NULL, &jerr);
    if (svc_stopping(s)) {
        svc_fail(s, "rebuild interrupted; the index is incomplete (run --rebuild again)");
        return;
    }
    snprintf(n, sizeof n, "%d", total);
    LOG_KV(LOG_LEVEL_INFO, "rebuild finished", "events", n, NULL);
}

/* After a crash, the events the previous run had fetched but not
 * acknowledged come back only after ack-wait, by which time newer events of
 * the same environments would have been folded: the index would still be
 * right (generation ordering), but its announcements out of order (a
 * claim's fields arriving after its ready).  So fold that window first, in
 * stream order, read directly from the stream; the redeliveries then find
 * their changes made and announced, and change nothing. */
static void replay_unacked(svc *s, indexer *x)
{
    jsConsumerInfo *ci = NULL;
    jsErrCode       jerr = 0;
    uint64_t        from, to, folded = 0;
    char            a[24], b[24], n[24], why[512];

    if (js_GetConsumerInfo(&ci, bus_js(x->bus), BUS_EVENT_STREAM, x->cfg.durable, NULL, &jerr) != NATS_OK) {
        LOG_KV(LOG_LEVEL_WARN, "cannot read the consumer's state; unacknowledged events wait for redelivery", NULL);
        return;
    }
    from = ci->AckFloor.Stream + 1;
    to = ci->Delivered.Stream;
    jsConsumerInfo_Destroy(ci);
    if (to < from)
        return;
    if (to - from >= 100000)
        from = to - 99999;   /* bounded; anything older is redelivered as usual */
    for (uint64_t seq = from; seq <= to && !svc_stopping(s); seq++) {
        natsMsg    *m = NULL;
        bus_msg     bm = { 0 };
        bus_verdict v;

        if (js_GetMsg(&m, bus_js(x->bus), BUS_EVENT_STREAM, seq, NULL, &jerr) != NATS_OK)
            continue;   /* deleted, or not there: nothing to fold */
        bm.subject = natsMsg_GetSubject(m);
        bm.data = natsMsg_GetData(m);
        bm.len = (size_t)natsMsg_GetDataLength(m);
        bm.stream_seq = seq;
        bm.num_delivered = 1;
        bm.raw = m;
        why[0] = '\0';
        v = indexer_on_event(&bm, x, why, sizeof why);
        natsMsg_Destroy(m);
        if (v == BUS_RETRY) {
            LOG_KV(LOG_LEVEL_WARN, "replaying unacknowledged events stopped; redelivery takes over", "error", why, NULL);
            break;
        }
        folded++;
    }
    snprintf(a, sizeof a, "%llu", (unsigned long long)from);
    snprintf(b, sizeof b, "%llu", (unsigned long long)to);
    snprintf(n, sizeof n, "%llu", (unsigned long long)folded);
    LOG_KV(LOG_LEVEL_INFO, "unacknowledged events of the previous run folded first", "from_seq", a, "to_seq", b,
           "events", n, NULL);
}

static void worker(svc *s, void *ud)
{
    indexer *x = ud;

    if (worker_setup(x) != 0) {
        svc_fail(s, "start-up failed (see the previous error)");
        return;
    }
    if (x->cfg.rebuild) {
        rebuild(s, x);
        return;
    }
    if (indexer_serve_queries(x) != 0 || consumer_open(x, x->cfg.durable) != 0) {
        indexer_stop_queries(x);
        svc_fail(s, "start-up failed (see the previous error)");
        return;
    }
    replay_unacked(s, x);
    svc_set_ready(s, 1, NULL);
    while (!svc_stopping(s)) {
        svc_poll(s, x->cons, 500, "events");
    }
    /* Unsubscribe while the loop still runs the connection. */
    svc_set_ready(s, 0, "stopping");
    indexer_stop_queries(x);
    bus_consumer_destroy(x->cons);
    x->cons = NULL;
    LOG_KV(LOG_LEVEL_INFO, "worker drained: no event or query in hand", NULL);
}

int main(int argc, char **argv)
{
    static indexer x;
    const cfg_option opts[] = {
        { "redis-url", CFG_STRING, "redis://127.0.0.1:6379", "Redis holding the index", 0, 0, &x.cfg.redis_url, NULL, 0, 0 },
        { "durable", CFG_STRING, "indexer", "durable consumer name on the PLATFORM stream (also the dead-letter subject suffix)", 0, 0, &x.cfg.durable, NULL, 0, 0 },
        { "query-group", CFG_STRING, "indexer", "NATS queue group of the query responders (replicas share queries)", 0, 0, &x.cfg.query_group, NULL, 0, 0 },
        { "key-prefix", CFG_STRING, "ep:indexer:", "prefix of every Redis key of the index", 0, 0, &x.cfg.key_prefix, NULL, 0, 0 },
        { "max-deliver", CFG_INT, "5", "deliveries of a failing event before it is dead-lettered", 1, 100, &x.cfg.max_deliver, NULL, 0, 0 },
        { "ack-wait", CFG_DURATION, "30s", "redelivery delay of an event left unacknowledged (e.g. by a crash)", 1000, 3600LL * 1000, &x.cfg.ack_wait_ms, NULL, 0, 0 },
        { "tombstone-ttl", CFG_DURATION, "7d", "how long a removed environment blocks late events of its generation", 60000, 365LL * 24 * 3600 * 1000, &x.cfg.tomb_ttl_ms, NULL, 0, 0 },
        { "rebuild", CFG_BOOL, "false", "wipe the index, replay the PLATFORM stream into it, exit (run with no indexer running)", 0, 0, &x.cfg.rebuild, NULL, 0, 0 },
    };
    svc_info info = {
        .name = "indexer",
        .summary = "keep a queryable document per environment in Redis; answer platform.index.v1.query",
        .opts = opts,
        .nopts = sizeof opts / sizeof opts[0],
    };
    int rc;

    signal(SIGPIPE, SIG_IGN);
    rc = svc_create(&info, argc, argv, &x.svc);
    if (rc != SVC_OK)
        return rc == SVC_EXIT ? 0 : 1;
    pthread_mutex_init(&x.qlock, NULL);
    x.bus = svc_bus(x.svc);
    x.reg = svc_metrics(x.svc);
    x.ix = index_create(x.cfg.key_prefix, x.cfg.tomb_ttl_ms);
    if (x.ix == NULL) {
        LOG_KV(LOG_LEVEL_ERROR, "out of memory creating the index scripts", NULL);
        svc_destroy(x.svc);
        return 1;
    }
    indexer_metrics_init(&x);
    svc_set_ready(x.svc, 0, x.cfg.rebuild ? "rebuilding" : "consumer not started");
    svc_set_worker(x.svc, worker, &x);
    rc = svc_run(x.svc);

    bus_consumer_destroy(x.cons);
    store_destroy(x.st);
    store_destroy(x.qst);
    index_destroy(x.ix);
    pthread_mutex_destroy(&x.qlock);
    svc_destroy(x.svc);
    return rc;
}
