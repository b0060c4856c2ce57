/*
 * bus: NATS connection on the service's libuv loop, JetStream streams,
 * CloudEvents publishing with de-duplication ids, and the durable pull
 * consumer with bounded redelivery and dead-lettering.  See bus.h for the
 * threading rules; the short version is that only bus_create/bus_destroy
 * belong on the loop thread and everything that waits belongs elsewhere.
 */
#include "bus/bus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The adapter header defines its functions (not just declares them), so it
 * is included by exactly this one file of the whole program. */
#include <nats/adapters/libuv.h>

#include "ce/ce.h"

struct bus {
    natsConnection *nc;
    jsCtx          *js;
    uv_loop_t      *loop;
    char           *source;
    long            timeout_ms;
    bus_stats       stats;   /* updated with __atomic builtins */
};

struct bus_consumer {
    bus                 *b;
    natsSubscription    *sub;
    bus_consumer_config  cfg;
    char                *stream, *durable, *filter, *dlq_subject;
};

const char *bus_strstatus(int status)
{
    switch (status) {
#define BUS_STR(name, str) case name: return str;
        BUS_STATUS_MAP(BUS_STR)
#undef BUS_STR
    }
    return "unknown bus status";
}

#define STAT_INC(b, field) __atomic_fetch_add(&(b)->stats.field, 1, __ATOMIC_RELAXED)

/* Fill err from a cnats status, the JetStream error code and cnats'
 * thread-local last error text, which usually names the real cause. */
static int nats_fail(ep_err *err, int code, natsStatus s, jsErrCode jerr, const char *what)
{
    const char *last = nats_GetLastError(NULL);

    if (jerr != 0)
        return ep_err_set(err, BUS_EJETSTREAM, "%s: %s (JetStream error %d)%s%s", what,
                          natsStatus_GetText(s), (int)jerr, last ? ": " : "", last ? last : "");
    return ep_err_set(err, code, "%s: %s%s%s", what, natsStatus_GetText(s),
                      last ? ": " : "", last ? last : "");
}

int bus_create(const bus_config *cfg, bus **out, ep_err *err)
{
    natsOptions *opts = NULL;
    natsStatus   s;
    jsOptions    jo;
    bus         *b;
    int          rc = BUS_OK;

    *out = NULL;
    if (cfg == NULL || cfg->url == NULL || cfg->url[0] == '\0')
        return ep_err_set(err, BUS_EINVAL, "bus: no NATS URL configured");
    b = calloc(1, sizeof *b);
    if (b == NULL)
        return ep_err_set(err, BUS_ENOMEM, "bus: out of memory");
    b->loop = cfg->loop;
    b->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 5000;
    b->source = strdup(cfg->source ? cfg->source : "/envplane");
    if (b->source == NULL) {
        rc = ep_err_set(err, BUS_ENOMEM, "bus: out of memory");
        goto out;
    }

    s = natsOptions_Create(&opts);
    if (s == NATS_OK) s = natsOptions_SetServers(opts, NULL, 0);
    if (s == NATS_OK) s = natsOptions_SetURL(opts, cfg->url);
    if (s == NATS_OK && cfg->name) s = natsOptions_SetName(opts, cfg->name);
    if (s == NATS_OK) s = natsOptions_SetTimeout(opts, b->timeout_ms);
    /* Once connected, never give up: a NATS restart must not kill services. */
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 250);
    /* Flush small publishes at once instead of batching them (~1 ms less per
     * acknowledged publish; measured in ARCHITECTURE.md). */
    if (s == NATS_OK) s = natsOptions_SetSendAsap(opts, true);
    if (s == NATS_OK && b->loop != NULL) {
        natsLibuv_Init();
        natsLibuv_SetThreadLocalLoop(b->loop);
        s = natsOptions_SetEventLoop(opts, (void *)b->loop, natsLibuv_Attach,
                                     natsLibuv_Read, natsLibuv_Write, natsLibuv_Detach);
    }
    if (s != NATS_OK) {
        rc = nats_fail(err, BUS_ENATS, s, 0, "bus: setting NATS options");
        goto out;
    }
    s = natsConnection_Connect(&b->nc, opts);
    if (s != NATS_OK) {
        rc = nats_fail(err, BUS_ECONNECT, s, 0, "bus: connecting to NATS");
        ep_err_wrap(err, "bus: %s", cfg->url);
        goto out;
    }
    jsOptions_Init(&jo);
    jo.Wait = b->timeout_ms;
    s = natsConnection_JetStream(&b->js, b->nc, &jo);
    if (s != NATS_OK)
        rc = nats_fail(err, BUS_ENATS, s, 0, "bus: JetStream context");
out:
    natsOptions_Destroy(opts);
    if (rc != BUS_OK) {
        bus_destroy(b);
        return rc;
    }
    *out = b;
    return BUS_OK;
}

void bus_destroy(bus *b)
{
    if (b == NULL)
        return;
    jsCtx_Destroy(b->js);
    if (b->nc != NULL) {
        natsConnection_Close(b->nc);
        natsConnection_Destroy(b->nc);
    }
    free(b->source);
    free(b);
}

int bus_connected(bus *b)
{
    return b != NULL && b->nc != NULL && natsConnection_Status(b->nc) == NATS_CONN_STATUS_CONNECTED;
}

natsConnection *bus_conn(bus *b) { return b->nc; }
jsCtx *bus_js(bus *b) { return b->js; }

void bus_get_stats(bus *b, bus_stats *out)
{
    out->published      = __atomic_load_n(&b->stats.published, __ATOMIC_RELAXED);
    out->publish_errors = __atomic_load_n(&b->stats.publish_errors, __ATOMIC_RELAXED);
    out->duplicates     = __atomic_load_n(&b->stats.duplicates, __ATOMIC_RELAXED);
    out->acked          = __atomic_load_n(&b->stats.acked, __ATOMIC_RELAXED);
    out->retried        = __atomic_load_n(&b->stats.retried, __ATOMIC_RELAXED);
    out->dead_lettered  = __atomic_load_n(&b->stats.dead_lettered, __ATOMIC_RELAXED);
    out->fetch_errors   = __atomic_load_n(&b->stats.fetch_errors, __ATOMIC_RELAXED);
}

/* ---- streams ------------------------------------------------------------------ */

static int ensure_stream(bus *b, jsStreamConfig *cfg, ep_err *err)
{
    jsStreamInfo *si = NULL;
    jsErrCode     jerr = 0;
    natsStatus    s;

    s = js_AddStream(&si, b->js, cfg, NULL, &jerr);
    if (s != NATS_OK && jerr == JSStreamNameExistErr) {
        jerr = 0;
        s = js_UpdateStream(&si, b->js, cfg, NULL, &jerr);
    }
    jsStreamInfo_Destroy(si);
    if (s != NATS_OK) {
        nats_fail(err, BUS_EJETSTREAM, s, jerr, "creating or updating the stream");
        return ep_err_wrap(err, "bus: stream %s", cfg->Name);
    }
    return BUS_OK;
}

int bus_ensure_streams(bus *b, const char *notify_subject, ep_err *err)
{
    /* Event subjects only; see bus.h for why request subjects stay out. */
    static const char *event_subjects[] = {
        "platform.claim.v1.*",  "platform.env.v1.*",          "platform.index.v1.updated",
        "platform.policy.v1.>", "platform.attest.v1.verified", "platform.attest.v1.failed",
        "platform.dlq.v1.>",
    };
    const char    *notify[1];
    jsStreamConfig sc;
    int            rc;

    jsStreamConfig_Init(&sc);
    sc.Name = BUS_EVENT_STREAM;
    sc.Description = "envplane events (CloudEvents, protobuf payloads)";
    sc.Subjects = event_subjects;
    sc.SubjectsLen = (int)(sizeof event_subjects / sizeof event_subjects[0]);
    sc.Storage = js_FileStorage;
    sc.Retention = js_LimitsPolicy;
    /* A publisher that crashed between committing and publishing republishes
     * with the same id on restart; 10 minutes covers a restart comfortably. */
    sc.Duplicates = 10LL * 60 * 1000000000LL;
    if ((rc = ensure_stream(b, &sc, err)) != BUS_OK)
        return rc;

    if (notify_subject == NULL || notify_subject[0] == '\0')
        return BUS_OK;
    notify[0] = notify_subject;
    jsStreamConfig_Init(&sc);
    sc.Name = BUS_NOTIFY_STREAM;
    sc.Description = "MinIO bucket notifications for claim buckets";
    sc.Subjects = notify;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    sc.Retention = js_LimitsPolicy;
    sc.MaxAge = 7LL * 24 * 3600 * 1000000000LL;
    return ensure_stream(b, &sc, err);
}

/* ---- publishing ------------------------------------------------------------------ */

int bus_publish_event(bus *b, const char *subject, const char *ce_type,
                      const char *id, const char *subject_env,
                      const void *data, size_t len, int *duplicate, ep_err *err)
{
    char         now[32];
    ce_event     ev = { 0 };
    ce_headers   hs;
    natsMsg     *msg = NULL;
    jsPubAck    *pa = NULL;
    jsPubOptions po;
    jsErrCode    jerr = 0;
    natsStatus   s;
    int          rc = BUS_OK;

    ce_time_now(now);
    ev.id = id;
    ev.source = b->source;
    ev.type = ce_type;
    ev.time = now;
    ev.subject = subject_env;
    ev.datacontenttype = CE_CONTENT_TYPE_PROTOBUF;
    if (ce_headers_build(&ev, &hs, err) != CE_OK) {
        ep_err_wrap(err, "bus: publishing %s", subject);
        return BUS_EINVAL;
    }
    s = natsMsg_Create(&msg, subject, NULL, (const char *)data, (int)len);
    for (size_t i = 0; s == NATS_OK && i < hs.n; i++)
        s = natsMsgHeader_Set(msg, hs.h[i].name, hs.h[i].value);
    if (s != NATS_OK) {
        rc = nats_fail(err, BUS_ENATS, s, 0, "building message");
        goto out;
    }
    jsPubOptions_Init(&po);
    po.MsgId = id;
    po.MaxWait = b->timeout_ms;
    s = js_PublishMsg(&pa, b->js, msg, &po, &jerr);
    if (s != NATS_OK) {
        rc = nats_fail(err, s == NATS_TIMEOUT ? BUS_ETIMEOUT : BUS_EJETSTREAM, s, jerr, "publish");
        goto out;
    }
    if (duplicate)
        *duplicate = pa->Duplicate;
    if (pa->Duplicate)
        STAT_INC(b, duplicates);
out:
    if (rc == BUS_OK)
        STAT_INC(b, published);
    else {
        STAT_INC(b, publish_errors);
        ep_err_wrap(err, "bus: publishing %s id %s", subject, id);
    }
    jsPubAck_Destroy(pa);
    natsMsg_Destroy(msg);
    ce_headers_dispose(&hs);
    return rc;
}

/* ---- consumer ------------------------------------------------------------------ */

const char *bus_msg_header(const bus_msg *m, const char *name)
{
    const char *v = NULL;

    if (m->raw == NULL || natsMsgHeader_Get(m->raw, name, &v) != NATS_OK)
        return NULL;
    return v;
}

int bus_consumer_create(bus *b, const bus_consumer_config *cfg, bus_consumer **out, ep_err *err)
{
    bus_consumer *c;
    jsSubOptions  so;
    jsOptions     jo;
    jsErrCode     jerr = 0;
    natsStatus    s;
    size_t        n;

    *out = NULL;
    if (cfg->stream == NULL || cfg->durable == NULL || cfg->filter_subject == NULL || cfg->handler == NULL)
        return ep_err_set(err, BUS_EINVAL, "bus: consumer needs stream, durable, filter subject and handler");
    c = calloc(1, sizeof *c);
    if (c == NULL)
        return ep_err_set(err, BUS_ENOMEM, "bus: out of memory");
    c->b = b;
    c->cfg = *cfg;
    if (c->cfg.max_deliver <= 0) c->cfg.max_deliver = 5;
    if (c->cfg.ack_wait_ms <= 0) c->cfg.ack_wait_ms = 30000;
    if (c->cfg.batch <= 0) c->cfg.batch = 32;
    c->stream = strdup(cfg->stream);
    c->durable = strdup(cfg->durable);
    c->filter = strdup(cfg->filter_subject);
    n = strlen(BUS_DLQ_PREFIX) + strlen(cfg->durable) + 1;
    c->dlq_subject = malloc(n);
    if (!c->stream || !c->durable || !c->filter || !c->dlq_subject) {
        bus_consumer_destroy(c);
        return ep_err_set(err, BUS_ENOMEM, "bus: out of memory");
    }
    snprintf(c->dlq_subject, n, "%s%s", BUS_DLQ_PREFIX, cfg->durable);

    jsOptions_Init(&jo);
    jo.Wait = b->timeout_ms;
    jsSubOptions_Init(&so);
    so.Stream = c->stream;
    so.Config.Durable = c->durable;
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.DeliverPolicy = js_DeliverAll;
    so.Config.AckWait = (int64_t)c->cfg.ack_wait_ms * 1000000;
    /* We dead-letter at max_deliver ourselves; the server's own limit is a
     * backstop for a handler that crashes the process on every delivery. */
    so.Config.MaxDeliver = c->cfg.max_deliver + 2;
    so.Config.MaxAckPending = 1024;
    s = js_PullSubscribe(&c->sub, b->js, c->filter, c->durable, &jo, &so, &jerr);
    if (s != NATS_OK) {
        nats_fail(err, BUS_EJETSTREAM, s, jerr, "pull subscribe");
        ep_err_wrap(err, "bus: consumer %s on %s/%s", c->durable, c->stream, c->filter);
        bus_consumer_destroy(c);
        return BUS_EJETSTREAM;
    }
    *out = c;
    return BUS_OK;
}

/* Copy a failed message to the dead-letter subject with the reason, so
 * an operator can inspect and replay it; the original is then terminated. */
static void dead_letter(bus_consumer *c, natsMsg *m, const bus_msg *bm, const char *why)
{
    natsMsg     *dm = NULL;
    const char **keys = NULL;
    int          nkeys = 0;
    char         idbuf[256], num[32], reason[1024];
    jsPubOptions po;
    jsPubAck    *pa = NULL;
    jsErrCode    jerr = 0;
    natsStatus   s;

    s = natsMsg_Create(&dm, c->dlq_subject, NULL, bm->data, (int)bm->len);
    if (s == NATS_OK && natsMsgHeader_Keys(m, &keys, &nkeys) == NATS_OK) {
        for (int i = 0; i < nkeys && s == NATS_OK; i++) {
            const char *v = NULL;
            if (strcmp(keys[i], "Nats-Msg-Id") == 0)
                continue;
            if (natsMsgHeader_Get(m, keys[i], &v) == NATS_OK)
                s = natsMsgHeader_Set(dm, keys[i], v);
        }
        free((void *)keys);
    }
    if (ce_percent_encode(why && why[0] ? why : "unspecified", reason, sizeof reason) != CE_OK)
        snprintf(reason, sizeof reason, "reason-too-long");
    if (s == NATS_OK) s = natsMsgHeader_Set(dm, "ep-dlq-reason", reason);
    if (s == NATS_OK) s = natsMsgHeader_Set(dm, "ep-dlq-subject", bm->subject);
    if (s == NATS_OK) s = natsMsgHeader_Set(dm, "ep-dlq-stream", c->stream);
    snprintf(num, sizeof num, "%llu", (unsigned long long)bm->stream_seq);
    if (s == NATS_OK) s = natsMsgHeader_Set(dm, "ep-dlq-stream-seq", num);
    snprintf(num, sizeof num, "%llu", (unsigned long long)bm->num_delivered);
    if (s == NATS_OK) s = natsMsgHeader_Set(dm, "ep-dlq-deliveries", num);
    snprintf(idbuf, sizeof idbuf, "dlq:%s:%s:%llu", c->durable, c->stream,
             (unsigned long long)bm->stream_seq);
    jsPubOptions_Init(&po);
    po.MsgId = idbuf;
    if (s == NATS_OK)
        s = js_PublishMsg(&pa, c->b->js, dm, &po, &jerr);
    jsPubAck_Destroy(pa);
    natsMsg_Destroy(dm);
    if (s != NATS_OK) {
        /* Could not record it: leave it for redelivery rather than lose it. */
        natsMsg_NakWithDelay(m, 5000, NULL);
        STAT_INC(c->b, retried);
        return;
    }
    natsMsg_Term(m, NULL);
    STAT_INC(c->b, dead_lettered);
}

int bus_consumer_poll(bus_consumer *c, long timeout_ms, int *handled, ep_err *err)
{
    natsMsgList list = { 0 };
    jsErrCode   jerr = 0;
    natsStatus  s;

    if (handled)
        *handled = 0;
    s = natsSubscription_Fetch(&list, c->sub, c->cfg.batch, timeout_ms, &jerr);
    if (s == NATS_TIMEOUT)
        return BUS_OK;
    if (s != NATS_OK) {
        STAT_INC(c->b, fetch_errors);
        nats_fail(err, BUS_ENATS, s, jerr, "fetch");
        return ep_err_wrap(err, "bus: consumer %s", c->durable);
    }
    for (int i = 0; i < list.Count; i++) {
        natsMsg       *m = list.Msgs[i];
        jsMsgMetaData *meta = NULL;
        bus_msg        bm = { 0 };
        char           why[512] = "";
        bus_verdict    v;

        bm.subject = natsMsg_GetSubject(m);
        bm.data = natsMsg_GetData(m);
        bm.len = (size_t)natsMsg_GetDataLength(m);
        bm.raw = m;
        if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
            bm.stream_seq = meta->Sequence.Stream;
            bm.num_delivered = meta->NumDelivered;
            jsMsgMetaData_Destroy(meta);
        }
        v = c->cfg.handler(&bm, c->cfg.ud, why, sizeof why);
        if (v == BUS_ACK) {
            natsMsg_Ack(m, NULL);
            STAT_INC(c->b, acked);
        } else if (v == BUS_DEAD || bm.num_delivered >= (uint64_t)c->cfg.max_deliver) {
            dead_letter(c, m, &bm, why);
        } else {
            /* Exponential back-off: 200 ms, 400 ms, ... capped at 30 s. */
            int64_t delay = 200LL << (bm.num_delivered > 8 ? 8 : bm.num_delivered);
            natsMsg_NakWithDelay(m, delay > 30000 ? 30000 : delay, NULL);
            STAT_INC(c->b, retried);
        }
        if (handled)
            (*handled)++;
    }
    natsMsgList_Destroy(&list);
    return BUS_OK;
}

void bus_consumer_destroy(bus_consumer *c)
{
    if (c == NULL)
        return;
    natsSubscription_Destroy(c->sub);
    free(c->stream);
    free(c->durable);
    free(c->filter);
    free(c->dlq_subject);
    free(c);
}
