/*
 * attester KBS face: the Confidential Containers key broker protocol over
 * HTTP, on its own listener (--kbs-listen), so guests that speak KBS can
 * use envplane as their key broker:
 *
 *   POST /kbs/v0/auth     {"version","tee","extra-params"} -> {"nonce","extra-params"}
 *                         and the cookie kbs-session-id
 *   POST /kbs/v0/attest   {"runtime-data": {"nonce","tee-pubkey": JWK},
 *                          "tee-evidence": {"report": b64, "vcek": b64}}
 *                         -> {"token"}; REPORT_DATA must be SHA-512 of the
 *                         runtime-data as compact JSON with sorted keys
 *   GET  /kbs/v0/resource/<repo>/<type>/<tag>
 *                         -> the secret <type>/<tag> of environment <repo>
 *                         as a flattened JWE to the tee-pubkey
 *
 * 401 without an attested session (or Authorization: Bearer token), 403
 * when the secret's release policy refuses, 404 when there is no such
 * secret.  Errors are {"type","detail"} as in the protocol.  Sessions live
 * in Redis (ep:attester:kbs:<id>) so any replica serves any step.
 */
#include "attester.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjose/cjose.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "log/log.h"

#define COOKIE "kbs-session-id"

/* Problem types are URIs under the protocol's error namespace (RFC 7807),
 * so KBS clients that match on them see the names they know. */
#define KBS_ERR_NS "https://github.com/confidential-containers/kbs/errors/"

static void error_resp(httpd_response *resp, int status, const char *type, const char *detail)
{
    char    uri[160];
    json_t *j;

    snprintf(uri, sizeof uri, KBS_ERR_NS "%s", type);
    j = json_pack("{s:s, s:s}", "type", uri, "detail", detail ? detail : "");

    resp->status = status;
    resp->body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    resp->body_len = resp->body ? strlen(resp->body) : 0;
    json_decref(j);
}

static void json_resp(httpd_response *resp, json_t *j)
{
    resp->body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    resp->body_len = resp->body ? strlen(resp->body) : 0;
    if (resp->body == NULL)
        resp->status = 500;
    json_decref(j);
}

/* The session id from the Cookie header, into out (hex only). */
static bool session_id(const httpd_request *req, char out[40])
{
    const char *c = httpd_request_header(req, "Cookie"), *p;
    size_t      n = 0;

    for (p = c; p != NULL && (p = strstr(p, COOKIE "=")) != NULL; p++) {
        if (p != c && p[-1] != ' ' && p[-1] != ';')
            continue;
        p += strlen(COOKIE "=");
        while (n < 32 && ((p[n] >= '0' && p[n] <= '9') || (p[n] >= 'a' && p[n] <= 'f')))
            n++;
        if (n != 32)
            return false;
        memcpy(out, p, n);
        out[n] = '\0';
        return true;
    }
    return false;
}

/* The Set-Cookie value must outlive the handler: httpd uses it right after
 * the handler returns, on the same thread. */
static __thread char cookie_hdr[160];

static void on_auth(const httpd_request *req, httpd_response *resp, void *ud)
{
    attester   *a = ud;
    size_t      len;
    const char *body = httpd_request_body(req, &len);
    json_t     *j = json_loadb(body, len, 0, NULL), *xp, *xpj = NULL;
    const char *tee = json_string_value(json_object_get(j, "tee"));
    const char *env = a->cfg.kbs_environment, *wl = a->cfg.kbs_workload;
    uint8_t     nonce[SNP_NONCE_LEN], sid_raw[16];
    char        sid[40], key[80], *b64 = NULL, ttl[24];
    size_t      b64len;
    int64_t     exp;
    store      *st = NULL;
    redisReply *r = NULL;
    ep_err      err = {0};
    cjose_err   ce;

    if (!json_is_object(j) || tee == NULL) {
        error_resp(resp, 400, "InvalidRequest", "expected {\"version\",\"tee\",\"extra-params\"}");
        goto out;
    }
    if (strcmp(tee, "snp") != 0 && strcmp(tee, "sev-snp") != 0 && strcmp(tee, "amd-sev-snp") != 0) {
        error_resp(resp, 400, "UnsupportedTee", tee);
        goto out;
    }
    /* extra-params may name the environment and workload to appraise
     * against (as an object or JSON text); otherwise the configured ones. */
    xp = json_object_get(j, "extra-params");
    if (json_is_string(xp) && json_string_length(xp) > 0)
        xp = xpj = json_loads(json_string_value(xp), 0, NULL);
    if (json_is_object(xp)) {
        if (json_is_string(json_object_get(xp, "environment")))
            env = json_string_value(json_object_get(xp, "environment"));
        if (json_is_string(json_object_get(xp, "workload")))
            wl = json_string_value(json_object_get(xp, "workload"));
    }
    if (env == NULL || env[0] == '\0') {
        error_resp(resp, 400, "InvalidRequest", "no environment: set kbs-environment or extra-params.environment");
        goto out;
    }
    if ((st = att_store_get(a, &err)) == NULL || att_nonce_issue(a, st, nonce, &exp, &err) != 0 ||
        RAND_bytes(sid_raw, sizeof sid_raw) != 1 ||
        !cjose_base64_encode(nonce, sizeof nonce, &b64, &b64len, &ce)) {
        error_resp(resp, 500, "InternalError", err.msg);
        goto out;
    }
    snp_hex(sid_raw, sizeof sid_raw, sid);
    snprintf(key, sizeof key, "ep:attester:kbs:%s", sid);
    snprintf(ttl, sizeof ttl, "%lld", a->cfg.session_ttl_ms / 1000 > 0 ? a->cfg.session_ttl_ms / 1000 : 1);
    if ((r = store_cmd(st, &err, "HSET %s nonce %s environment %s workload %s", key, b64, env,
                       wl ? wl : "")) == NULL) {
        error_resp(resp, 500, "InternalError", err.msg);
        goto out;
    }
    freeReplyObject(r);
    if ((r = store_cmd(st, &err, "EXPIRE %s %s", key, ttl)) == NULL) {
        error_resp(resp, 500, "InternalError", err.msg);
        goto out;
    }
    snprintf(cookie_hdr, sizeof cookie_hdr, COOKIE "=%s; Path=/kbs; HttpOnly; Max-Age=%s", sid, ttl);
    resp->extra_header_name = "Set-Cookie";
    resp->extra_header_value = cookie_hdr;
    json_resp(resp, json_pack("{s:s, s:s}", "nonce", b64, "extra-params", ""));
    metrics_counter_add(a->m_challenges, 1);
out:
    if (r != NULL)
        freeReplyObject(r);
    if (b64 != NULL)
        cjose_get_dealloc()(b64);
    att_store_put(a, st);
    json_decref(xpj);
    json_decref(j);
}

/* Session fields (new strings) or false when there is no live session. */
static bool session_get(attester *a, store *st, const char *sid, char **nonce, char **env, char **wl,
                        char **token)
{
    char        key[80];
    redisReply *r;
    ep_err      err = {0};
    bool        ok = false;

    snprintf(key, sizeof key, "ep:attester:kbs:%s", sid);
    r = store_cmd(st, &err, "HMGET %s nonce environment workload token", key);
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 4 &&
        r->element[0]->type == REDIS_REPLY_STRING) {
        *nonce = strdup(r->element[0]->str);
        *env = strdup(r->element[1]->type == REDIS_REPLY_STRING ? r->element[1]->str : "");
        *wl = strdup(r->element[2]->type == REDIS_REPLY_STRING ? r->element[2]->str : "");
        *token = r->element[3]->type == REDIS_REPLY_STRING ? strdup(r->element[3]->str) : NULL;
        ok = *nonce && *env && *wl;
    }
    if (r != NULL)
        freeReplyObject(r);
    return ok;
}

/* Decode base64 (standard or URL alphabet) into a new buffer. */
static uint8_t *b64_any(const char *s, size_t *len)
{
    uint8_t  *out = NULL;
    cjose_err e;

    if (s == NULL)
        return NULL;
    if (cjose_base64_decode(s, strlen(s), &out, len, &e) ||
        cjose_base64url_decode(s, strlen(s), &out, len, &e))
        return out;
    return NULL;
}

static void on_attest(const httpd_request *req, httpd_response *resp, void *ud)
{
    attester       *a = ud;
    size_t          len, nlen = 0, rlen = 0, clen = 0, sn_len = 0;
    const char     *body = httpd_request_body(req, &len);
    json_t         *j = NULL, *rd, *rd_own = NULL, *ev, *evj = NULL, *imgs;
    char            sid[40], *s_nonce = NULL, *s_env = NULL, *s_wl = NULL, *s_tok = NULL;
    char           *rd_text = NULL, *jwk = NULL, detail[1024];
    const char     *rd_nonce, *vcek_text = NULL;
    uint8_t        *nonce = NULL, *sess_nonce = NULL, *report = NULL, *cert = NULL;
    const char    **images = NULL;
    size_t          n_images = 0;
    store          *st = NULL;
    att_verify_in   in = {0};
    att_verify_out *out = NULL;
    ep_err          err = {0};

    if (!session_id(req, sid)) {
        error_resp(resp, 401, "InvalidCookie", "no kbs-session-id cookie: POST /kbs/v0/auth first");
        goto done;
    }
    if ((st = att_store_get(a, &err)) == NULL) {
        error_resp(resp, 500, "InternalError", err.msg);
        goto done;
    }
    if (!session_get(a, st, sid, &s_nonce, &s_env, &s_wl, &s_tok)) {
        error_resp(resp, 401, "InvalidCookie", "session unknown or expired");
        goto done;
    }
    j = json_loadb(body, len, 0, NULL);
    rd = json_object_get(j, "runtime-data");
    if (rd == NULL && json_is_object(json_object_get(j, "tee-pubkey"))) {
        /* The protocol's first form: tee-pubkey at the top, no runtime-data.
         * Bind the same object a newer client would send. */
        rd = rd_own = json_pack("{s:s, s:O}", "nonce", s_nonce, "tee-pubkey", json_object_get(j, "tee-pubkey"));
    }
    ev = json_object_get(j, "tee-evidence");
    if (json_is_string(ev))
        ev = evj = json_loads(json_string_value(ev), 0, NULL);
    rd_nonce = json_string_value(json_object_get(rd, "nonce"));
    if (!json_is_object(rd) || rd_nonce == NULL || !json_is_object(json_object_get(rd, "tee-pubkey")) ||
        !json_is_object(ev)) {
        error_resp(resp, 400, "InvalidRequest",
                   "expected {\"runtime-data\": {\"nonce\", \"tee-pubkey\"}, \"tee-evidence\": {\"report\", \"vcek\"}}");
        goto done;
    }
    sess_nonce = b64_any(s_nonce, &sn_len);
    nonce = b64_any(rd_nonce, &nlen);
    if (sess_nonce == NULL) {
        error_resp(resp, 500, "InternalError", "session nonce unreadable");
        goto done;
    }
    /* A foreign nonce is a failed attestation like any other (with an
     * event); the session's own nonce stays unconsumed. */
    in.nonce_mismatch = nonce == NULL || nlen != sn_len || CRYPTO_memcmp(nonce, sess_nonce, nlen) != 0;
    report = b64_any(json_string_value(json_object_get(ev, "report")), &rlen);
    vcek_text = json_string_value(json_object_get(ev, "vcek"));
    if (vcek_text != NULL && strncmp(vcek_text, "-----BEGIN", 10) == 0) {
        clen = strlen(vcek_text);
        cert = (uint8_t *)strdup(vcek_text);
    } else {
        cert = b64_any(vcek_text, &clen);
    }
    imgs = json_object_get(ev, "image_digests");
    if (json_is_array(imgs) && json_array_size(imgs) > 0) {
        size_t  i;
        json_t *v;
        images = calloc(json_array_size(imgs), sizeof *images);
        json_array_foreach(imgs, i, v)
            if (images && json_is_string(v))
                images[n_images++] = json_string_value(v);
    }
    if ((rd_text = json_dumps(rd, JSON_COMPACT | JSON_SORT_KEYS)) == NULL ||
        (jwk = json_dumps(json_object_get(rd, "tee-pubkey"), JSON_COMPACT | JSON_SORT_KEYS)) == NULL ||
        (out = calloc(1, sizeof *out)) == NULL) {
        error_resp(resp, 500, "InternalError", "out of memory");
        goto done;
    }
    in.evidence_type = ENVPLANE__ATTEST__V1__EVIDENCE_TYPE__EVIDENCE_TYPE_SEV_SNP;
    in.report = report;
    in.report_len = report ? rlen : 0;
    in.cert = cert;
    in.cert_len = cert ? clen : 0;
    in.nonce = sess_nonce;
    in.nonce_len = sn_len;
    in.environment = s_env;
    in.workload = s_wl;
    in.images = images;
    in.n_images = n_images;
    in.workload_key = jwk;
    in.runtime_data = (const uint8_t *)rd_text;
    in.runtime_data_len = strlen(rd_text);
    in.via = "kbs";
    if (att_verify(a, &in, out, &err) != 0) {
        error_resp(resp, 500, "InternalError", err.msg);
        goto done;
    }
    if (!out->passed) {
        /* The detail lists reason names only; the event has the details. */
        size_t off = 0;
        detail[0] = '\0';
        for (size_t i = 0; i < out->n_reasons && off < sizeof detail - 1; i++) {
            int n = snprintf(detail + off, sizeof detail - off, "%s%s", i ? ", " : "", out->reasons[i].name);
            if (n < 0)
                break;
            off += (size_t)n;
        }
        LOG_KV(LOG_LEVEL_WARN, "kbs attestation failed", "environment", s_env, "reasons", detail, NULL);
        error_resp(resp, 401, "AttestationFailed", detail);
        goto done;
    }
    {
        char        key[80];
        redisReply *r;
        snprintf(key, sizeof key, "ep:attester:kbs:%s", sid);
        if ((r = store_cmd(st, &err, "HSET %s token %s", key, out->token)) == NULL) {
            error_resp(resp, 500, "InternalError", err.msg);
            goto done;
        }
        freeReplyObject(r);
    }
    LOG_KV(LOG_LEVEL_INFO, "kbs attestation verified", "environment", s_env, "attestation_id",
           out->attestation_id, NULL);
    json_resp(resp, json_pack("{s:s}", "token", out->token));
done:
    att_store_put(a, st);
    if (out != NULL)
        free(out->token);
    free(out);
    free(images);
    free(rd_text);
    free(jwk);
    free(s_nonce);
    free(s_env);
    free(s_wl);
    free(s_tok);
    if (nonce)
        cjose_get_dealloc()(nonce);
    if (sess_nonce)
        cjose_get_dealloc()(sess_nonce);
    if (report)
        cjose_get_dealloc()(report);
    if (cert != NULL && vcek_text != NULL && strncmp(vcek_text, "-----BEGIN", 10) == 0)
        free(cert);
    else if (cert != NULL)
        cjose_get_dealloc()(cert);
    json_decref(evj);
    json_decref(rd_own);
    json_decref(j);
}

static void on_resource(const httpd_request *req, httpd_response *resp, void *ud)
{
    attester   *a = ud;
    const char *path = httpd_request_path(req) + strlen("/kbs/v0/resource/");
    const char *auth = httpd_request_header(req, "Authorization");
    const char *slash = strchr(path, '/');
    char        repo[256], sid[40], *s_nonce = NULL, *s_env = NULL, *s_wl = NULL, *s_tok = NULL;
    char       *jwe = NULL;
    const char *token = NULL;
    store      *st = NULL;
    ep_err      err = {0};
    int         rc;

    if (slash == NULL || (size_t)(slash - path) >= sizeof repo || slash == path ||
        strchr(slash + 1, '/') == NULL || strchr(strchr(slash + 1, '/') + 1, '/') != NULL) {
        error_resp(resp, 404, "ResourceNotFound", "expected /kbs/v0/resource/<repo>/<type>/<tag>");
        goto out;
    }
    memcpy(repo, path, (size_t)(slash - path));
    repo[slash - path] = '\0';
    if (auth != NULL && strncmp(auth, "Bearer ", 7) == 0) {
        token = auth + 7;
    } else if (session_id(req, sid)) {
        if ((st = att_store_get(a, &err)) == NULL) {
            error_resp(resp, 500, "InternalError", err.msg);
            goto out;
        }
        if (session_get(a, st, sid, &s_nonce, &s_env, &s_wl, &s_tok))
            token = s_tok;
    }
    if (token == NULL) {
        error_resp(resp, 401, "TokenNotFound", "no attested session and no bearer token");
        goto out;
    }
    rc = att_secret_release(a, token, repo, slash + 1, &jwe, &err);
    if (rc != 0) {
        static const char *types[] = { "TokenInvalid", "PolicyDeny", "ResourceNotFound", "InternalError" };
        error_resp(resp, rc, types[rc == 401 ? 0 : rc == 403 ? 1 : rc == 404 ? 2 : 3], err.msg);
        LOG_KV(LOG_LEVEL_WARN, "kbs resource refused", "environment", repo, "name", slash + 1, "error", err.msg, NULL);
        goto out;
    }
    LOG_KV(LOG_LEVEL_INFO, "kbs resource released", "environment", repo, "name", slash + 1, NULL);
    resp->body = jwe;
    resp->body_len = strlen(jwe);
    jwe = NULL;
out:
    att_store_put(a, st);
    free(jwe);
    free(s_nonce);
    free(s_env);
    free(s_wl);
    free(s_tok);
}

int att_kbs_start(attester *a, httpd **out, ep_err *err)
{
    httpd_config hc = { .listen = a->cfg.kbs_listen, .max_body = 64 * 1024, .threads = 2 };
    httpd       *h = NULL;

    *out = NULL;
    if (httpd_create(&hc, &h, err) != HTTPD_OK ||
        httpd_route(h, "POST", "/kbs/v0/auth", on_auth, a) != HTTPD_OK ||
        httpd_route(h, "POST", "/kbs/v0/attest", on_attest, a) != HTTPD_OK ||
        httpd_route(h, "GET", "/kbs/v0/resource/*", on_resource, a) != HTTPD_OK ||
        httpd_start(h, err) != HTTPD_OK) {
        httpd_destroy(h);
        return ep_err_wrap(err, "kbs-listen %s", a->cfg.kbs_listen), -1;
    }
    *out = h;
    return 0;
}
