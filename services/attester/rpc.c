/*
 * attester NATS face: request/reply on platform.attest.v1.challenge,
 * platform.attest.v1.verify and platform.secret.v1.release (protobuf both
 * ways, attest.proto), in queue group "attester" so replicas share the load.
 *
 * cnats calls each subscription's handler on that subscription's own
 * delivery thread; the handlers touch only the thread-safe core (att_*),
 * which borrows a Redis connection per call from the pool.
 */
#include "attester.h"

#include <stdlib.h>
#include <string.h>

#include "events/events.h"
#include "log/log.h"

#define QUEUE "attester"

static natsSubscription *subs[3];

static void reply(natsConnection *nc, natsMsg *msg, const ProtobufCMessage *m)
{
    size_t   len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(len ? len : 1);
    const char *to = natsMsg_GetReply(msg);

    if (buf == NULL || to == NULL) {
        free(buf);
        return;
    }
    protobuf_c_message_pack(m, buf);
    natsConnection_Publish(nc, to, buf, (int)len);
    free(buf);
}

static void on_challenge(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *ud)
{
    attester *a = ud;
    Envplane__Attest__V1__ChallengeReply rep = ENVPLANE__ATTEST__V1__CHALLENGE_REPLY__INIT;
    uint8_t  nonce[SNP_NONCE_LEN];
    int64_t  exp = 0;
    ep_err   err = {0};
    store   *st = att_store_get(a, &err);

    (void)sub;
    if (st != NULL && att_nonce_issue(a, st, nonce, &exp, &err) == 0) {
        rep.nonce.data = nonce;
        rep.nonce.len = sizeof nonce;
        rep.expires_at = exp;
        metrics_counter_add(a->m_challenges, 1);
    } else {
        rep.error = err.msg;
        LOG_KV(LOG_LEVEL_WARN, "challenge failed", "error", err.msg, NULL);
    }
    att_store_put(a, st);
    reply(nc, msg, &rep.base);
    natsMsg_Destroy(msg);
}

static void on_verify(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *ud)
{
    attester *a = ud;
    Envplane__Attest__V1__VerifyRequest *req;
    Envplane__Attest__V1__VerifyReply    rep = ENVPLANE__ATTEST__V1__VERIFY_REPLY__INIT;
    Envplane__Attest__V1__Reason         rv[ATT_REASONS_MAX], *rp[ATT_REASONS_MAX];
    att_verify_in  in = {0};
    att_verify_out *out = calloc(1, sizeof *out);
    ep_err         err = {0};

    (void)sub;
    req = envplane__attest__v1__verify_request__unpack(NULL, (size_t)natsMsg_GetDataLength(msg),
                                                         (const uint8_t *)natsMsg_GetData(msg));
    if (req == NULL || out == NULL) {
        rep.error = req == NULL ? "request is not a VerifyRequest" : "out of memory";
        goto send;
    }
    in.evidence_type = req->evidence_type;
    in.report = req->report.data;
    in.report_len = req->report.len;
    in.cert = req->vcek.data;
    in.cert_len = req->vcek.len;
    in.nonce = req->nonce.data;
    in.nonce_len = req->nonce.len;
    in.environment = req->environment;
    in.workload = req->workload;
    in.images = (const char *const *)req->image_digests;
    in.n_images = req->n_image_digests;
    in.workload_key = req->workload_key;
    in.via = "nats";
    if (att_verify(a, &in, out, &err) != 0) {
        rep.error = err.msg;
        LOG_KV(LOG_LEVEL_WARN, "verify failed", "environment", req->environment, "error", err.msg, NULL);
        goto send;
    }
    rep.passed = out->passed;
    rep.status = (char *)ear_tier_name(out->tier);
    rep.token = out->token ? out->token : "";
    rep.attestation_id = out->attestation_id;
    rep.expires_at = out->expires_at;
    for (size_t i = 0; i < out->n_reasons; i++) {
        Envplane__Attest__V1__Reason r0 = ENVPLANE__ATTEST__V1__REASON__INIT;
        rv[i] = r0;
        rv[i].name = out->reasons[i].name;
        rv[i].detail = out->reasons[i].detail;
        rp[i] = &rv[i];
    }
    rep.reasons = rp;
    rep.n_reasons = out->n_reasons;
    LOG_KV(out->passed ? LOG_LEVEL_INFO : LOG_LEVEL_WARN, out->passed ? "attestation verified" : "attestation failed",
           "environment", req->environment, "workload", req->workload, "attestation_id", out->attestation_id,
           "status", rep.status, "first_reason", out->n_reasons ? out->reasons[0].name : "", NULL);
send:
    reply(nc, msg, &rep.base);
    if (out != NULL)
        free(out->token);
    free(out);
    envplane__attest__v1__verify_request__free_unpacked(req, NULL);
    natsMsg_Destroy(msg);
}

static void on_release(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *ud)
{
    attester *a = ud;
    Envplane__Attest__V1__SecretReleaseRequest *req;
    Envplane__Attest__V1__SecretReleaseReply    rep = ENVPLANE__ATTEST__V1__SECRET_RELEASE_REPLY__INIT;
    char  *jwe = NULL;
    ep_err err = {0};
    int    rc;

    (void)sub;
    req = envplane__attest__v1__secret_release_request__unpack(NULL, (size_t)natsMsg_GetDataLength(msg),
                                                                 (const uint8_t *)natsMsg_GetData(msg));
    if (req == NULL) {
        rep.code = 400;
        rep.error = "request is not a SecretReleaseRequest";
        goto send;
    }
    rc = att_secret_release(a, req->token, req->environment, req->name, &jwe, &err);
    rep.code = (uint32_t)rc;
    if (rc == 0)
        rep.jwe = jwe;
    else
        rep.error = err.msg;
    LOG_KV(rc == 0 ? LOG_LEVEL_INFO : LOG_LEVEL_WARN, rc == 0 ? "secret released" : "secret release refused",
           "environment", req->environment, "name", req->name, "error", rc == 0 ? "" : err.msg, NULL);
send:
    reply(nc, msg, &rep.base);
    free(jwe);
    envplane__attest__v1__secret_release_request__free_unpacked(req, NULL);
    natsMsg_Destroy(msg);
}

int att_rpc_start(attester *a, ep_err *err)
{
    static const char *subjects[3] = { RPC_ATTEST_CHALLENGE, RPC_ATTEST_VERIFY, RPC_SECRET_RELEASE };
    natsMsgHandler     handlers[3] = { on_challenge, on_verify, on_release };
    natsConnection    *nc = bus_conn(a->bus);

    for (int i = 0; i < 3; i++) {
        natsStatus s = natsConnection_QueueSubscribe(&subs[i], nc, subjects[i], QUEUE, handlers[i], a);
        if (s != NATS_OK)
            return ep_err_set(err, (int)s, "subscribing to %s: %s", subjects[i], natsStatus_GetText(s)), -1;
    }
    if (natsConnection_FlushTimeout(nc, 5000) != NATS_OK)
        return ep_err_set(err, 1, "flushing subscriptions"), -1;
    return 0;
}

void att_rpc_stop(attester *a)
{
    (void)a;
    for (int i = 0; i < 3; i++) {
        if (subs[i] != NULL) {
            /* Drain: let a handler in progress finish and reply before the
             * core it uses is torn down. */
            if (natsSubscription_Drain(subs[i]) == NATS_OK)
                natsSubscription_WaitForDrainCompletion(subs[i], 10000);
            else
                natsSubscription_Unsubscribe(subs[i]);
            natsSubscription_Destroy(subs[i]);
            subs[i] = NULL;
        }
    }
}
