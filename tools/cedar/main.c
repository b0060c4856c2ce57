/*
 * cedar: the operator CLI of libs/cedar.
 *
 *   cedar check POLICIES.cedar
 *       exit 0 when the file parses; else print FILE:LINE:COL: message for
 *       each error and exit 1.
 *   cedar authorize --policies P --entities E.json --request R.json
 *       print {"decision": "Allow"|"Deny", "reasons": [...], "errors": [...]}.
 *   cedar batch
 *       read one JSON case per line on stdin and answer one JSON line per
 *       case, so the differential tests run thousands of cases in one
 *       process: {"policies": TEXT, "entities": [...], "request": {...}}
 *       gives the authorize answer (or {"error": "..."}); {"check": TEXT}
 *       gives {"ok": true|false, "errors": [...]}.
 *   cedar bench --policies P --entities E.json --requests R.json [--seconds S]
 *               [--parse-request]
 *       time cedar_authorize over the requests (a JSON array), round-robin,
 *       and print {"n", "per_sec", "median_ns", "p99_ns", "decisions"};
 *       --parse-request times JSON text -> request -> decision instead.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cedar/cedar.h"

static char *slurp(const char *path, size_t *len) {
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) return NULL;
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap) break;
        cap *= 2;
        char *nb = realloc(buf, cap);
        if (!nb) { free(buf); buf = NULL; }
        buf = nb;
    }
    if (f != stdin) fclose(f);
    if (buf) { buf[n < cap ? n : cap - 1] = 0; *len = n; }
    return buf;
}

static int cmd_check(const char *path) {
    size_t len;
    char *text = slurp(path, &len);
    if (!text) { fprintf(stderr, "cedar: %s: %s\n", path, strerror(errno)); return 2; }
    cedar_diag d[64];
    size_t nd = 0;
    cedar_policy_set *ps = NULL;
    ep_err err;
    ep_err_clear(&err);
    cedar_status st = cedar_policy_set_parse(text, len, &ps, d, 64, &nd, &err);
    free(text);
    if (st == CEDAR_OK) {
        printf("%s: %zu policies OK\n", path, cedar_policy_set_count(ps));
        cedar_policy_set_destroy(ps);
        return 0;
    }
    if (st != CEDAR_EPARSE) { fprintf(stderr, "cedar: %s: %s\n", path, err.msg); return 2; }
    for (size_t i = 0; i < nd && i < 64; i++)
        fprintf(stderr, "%s:%d:%d: %s\n", path, d[i].line, d[i].col, d[i].msg);
    if (nd > 64) fprintf(stderr, "%s: %zu more errors\n", path, nd - 64);
    return 1;
}

static const char *opt(int argc, char **argv, const char *name) {
    for (int i = 0; i + 1 < argc; i++) if (!strcmp(argv[i], name)) return argv[i + 1];
    return NULL;
}

static cedar_policy_set *load_policies(const char *path, ep_err *err) {
    size_t len;
    char *text = slurp(path, &len);
    if (!text) { ep_err_set(err, CEDAR_EINVAL, "%s: %s", path, strerror(errno)); return NULL; }
    cedar_policy_set *ps = NULL;
    if (cedar_policy_set_parse(text, len, &ps, NULL, 0, NULL, err)) ep_err_wrap(err, "%s", path);
    free(text);
    return ps;
}

static cedar_entities *load_entities(const char *path, ep_err *err) {
    size_t len;
    char *text = slurp(path, &len);
    if (!text) { ep_err_set(err, CEDAR_EINVAL, "%s: %s", path, strerror(errno)); return NULL; }
    cedar_entities *es = NULL;
    if (cedar_entities_parse(text, len, &es, err)) ep_err_wrap(err, "%s", path);
    free(text);
    return es;
}

static int cmd_authorize(int argc, char **argv) {
    const char *pp = opt(argc, argv, "--policies"), *ep = opt(argc, argv, "--entities"),
               *rp = opt(argc, argv, "--request");
    if (!pp || !rp) {
        fprintf(stderr, "usage: cedar authorize --policies P --entities E.json --request R.json\n");
        return 2;
    }
    int rc = 2;
    ep_err err;
    ep_err_clear(&err);
    cedar_policy_set *ps = NULL;
    cedar_entities *es = NULL;
    cedar_ctx *ctx = cedar_ctx_create();
    json_t *req = NULL, *out = NULL;
    json_error_t je;
    cedar_response r;
    if (!ctx) { ep_err_set(&err, CEDAR_ENOMEM, "out of memory"); goto out; }
    if (!(ps = load_policies(pp, &err))) goto out;
    if (ep && !(es = load_entities(ep, &err))) goto out;
    if (!(req = json_load_file(rp, JSON_REJECT_DUPLICATES, &je))) {
        ep_err_set(&err, CEDAR_EJSON, "%s:%d:%d: %s", rp, je.line, je.column, je.text);
        goto out;
    }
    if (cedar_ctx_set_request(ctx, req, &err) || cedar_authorize(ctx, ps, es, &r, &err)) goto out;
    out = cedar_response_to_json(ps, &r);
    char *s = out ? json_dumps(out, JSON_COMPACT) : NULL;
    if (s) { puts(s); free(s); rc = 0; }
out:
    if (rc) fprintf(stderr, "cedar: %s\n", err.msg[0] ? err.msg : "failed");
    json_decref(req); json_decref(out);
    cedar_ctx_destroy(ctx);
    cedar_entities_destroy(es);
    cedar_policy_set_destroy(ps);
    return rc;
}

static json_t *batch_case(cedar_ctx *ctx, const json_t *c) {
    ep_err err;
    ep_err_clear(&err);
    const json_t *chk = json_object_get(c, "check");
    if (json_is_string(chk)) {
        cedar_diag d[8];
        size_t nd = 0;
        cedar_policy_set *ps = NULL;
        cedar_status st = cedar_policy_set_parse(json_string_value(chk), json_string_length(chk),
                                                 &ps, d, 8, &nd, &err);
        cedar_policy_set_destroy(ps);
        json_t *errs = json_array();
        for (size_t i = 0; i < nd && i < 8; i++)
            json_array_append_new(errs, json_sprintf("%d:%d: %s", d[i].line, d[i].col, d[i].msg));
        return json_pack("{s:b, s:o}", "ok", st == CEDAR_OK, "errors", errs);
    }
    const json_t *pt = json_object_get(c, "policies");
    cedar_policy_set *ps = NULL;
    cedar_entities *es = NULL;
    json_t *res = NULL;
    cedar_response r;
    if (!json_is_string(pt)) { ep_err_set(&err, CEDAR_EINVAL, "case has no \"policies\" string"); goto out; }
    if (cedar_policy_set_parse(json_string_value(pt), json_string_length(pt), &ps, NULL, 0, NULL, &err))
        goto out;
    const json_t *ej = json_object_get(c, "entities");
    if (ej && cedar_entities_from_json(ej, &es, &err)) goto out;
    if (cedar_ctx_set_request(ctx, json_object_get(c, "request"), &err)) goto out;
    if (cedar_authorize(ctx, ps, es, &r, &err)) goto out;
    res = cedar_response_to_json(ps, &r);
out:
    if (!res) res = json_pack("{s:s, s:i}", "error", err.msg, "status", err.code);
    cedar_entities_destroy(es);
    cedar_policy_set_destroy(ps);
    return res;
}

static int cmd_batch(void) {
    cedar_ctx *ctx = cedar_ctx_create();
    if (!ctx) return 2;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        json_error_t je;
        json_t *c = json_loadb(line, (size_t)n, JSON_REJECT_DUPLICATES, &je);
        json_t *res = c ? batch_case(ctx, c) : json_pack("{s:s}", "error", je.text);
        char *s = json_dumps(res, JSON_COMPACT);
        if (s) { puts(s); free(s); }
        json_decref(res);
        json_decref(c);
    }
    fflush(stdout);
    free(line);
    cedar_ctx_destroy(ctx);
    return 0;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* With --parse-request each timed decision starts from the request's JSON
 * text, as a gateway receiving JSON would: parse, set, authorize. */
static void decide_text(cedar_ctx *ctx, const char *text, const cedar_policy_set *ps,
                        const cedar_entities *es, cedar_response *r) {
    json_t *j = json_loads(text, 0, NULL);
    if (j && cedar_ctx_set_request(ctx, j, NULL) == CEDAR_OK) cedar_authorize(ctx, ps, es, r, NULL);
    json_decref(j);
}

static int cmd_bench(int argc, char **argv) {
    const char *pp = opt(argc, argv, "--policies"), *ep = opt(argc, argv, "--entities"),
               *rp = opt(argc, argv, "--requests"), *secs = opt(argc, argv, "--seconds");
    if (!pp || !rp) {
        fprintf(stderr, "usage: cedar bench --policies P --entities E.json --requests R.json [--seconds S]\n");
        return 2;
    }
    double seconds = secs ? atof(secs) : 2.0;
    ep_err err;
    ep_err_clear(&err);
    cedar_policy_set *ps = load_policies(pp, &err);
    cedar_entities *es = ps && ep ? load_entities(ep, &err) : NULL;
    json_error_t je;
    json_t *reqs = json_load_file(rp, 0, &je);
    if (!ps || (ep && !es) || !json_is_array(reqs) || !json_array_size(reqs)) {
        fprintf(stderr, "cedar bench: %s\n", err.msg[0] ? err.msg : "requests must be a non-empty JSON array");
        return 2;
    }
    size_t nreq = json_array_size(reqs);
    char **texts = NULL;
    for (int i = 0; i < argc; i++) if (!strcmp(argv[i], "--parse-request")) {
        texts = calloc(nreq, sizeof *texts);
        for (size_t k = 0; k < nreq; k++) texts[k] = json_dumps(json_array_get(reqs, k), JSON_COMPACT);
    }
    cedar_ctx **ctxs = calloc(nreq, sizeof *ctxs);
    for (size_t i = 0; i < nreq; i++) {
        ctxs[i] = cedar_ctx_create();
        if (!ctxs[i] || cedar_ctx_set_request(ctxs[i], json_array_get(reqs, i), &err)) {
            fprintf(stderr, "cedar bench: request %zu: %s\n", i, err.msg);
            return 2;
        }
    }
    /* Each ctx holds one pre-parsed request, as a gateway holds its parsed
     * request; only the decision is timed, one sample per call. */
    cedar_response r;
    char *dec = malloc(nreq + 1);
    for (size_t i = 0; i < nreq; i++) {
        cedar_authorize(ctxs[i], ps, es, &r, NULL);
        dec[i] = r.decision == CEDAR_ALLOW ? 'A' : 'D';
    }
    dec[nreq] = 0;
    size_t cap = 1u << 22, n = 0, allow = 0;
    uint64_t *lat = malloc(cap * sizeof *lat);
    for (size_t i = 0; i < nreq * 4; i++) cedar_authorize(ctxs[i % nreq], ps, es, &r, NULL);
    uint64_t start = now_ns(), deadline = start + (uint64_t)(seconds * 1e9);
    for (;;) {
        for (size_t k = 0; k < 256 && n < cap; k++, n++) {
            uint64_t t0 = now_ns();
            if (texts) decide_text(ctxs[n % nreq], texts[n % nreq], ps, es, &r);
            else cedar_authorize(ctxs[n % nreq], ps, es, &r, NULL);
            lat[n] = now_ns() - t0;
            allow += r.decision == CEDAR_ALLOW;
        }
        if (n >= cap || now_ns() >= deadline) break;
    }
    uint64_t total = now_ns() - start;
    /* Throughput without per-call clock reads. */
    size_t m = n;
    uint64_t t1 = now_ns();
    for (size_t i = 0; i < m; i++) {
        if (texts) decide_text(ctxs[i % nreq], texts[i % nreq], ps, es, &r);
        else cedar_authorize(ctxs[i % nreq], ps, es, &r, NULL);
    }
    uint64_t tput_ns = now_ns() - t1;
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) sum += lat[i];
    qsort(lat, n, sizeof *lat, cmp_u64);
    printf("{\"n\":%zu,\"per_sec\":%.0f,\"median_ns\":%llu,\"p99_ns\":%llu,\"mean_ns\":%llu,\"max_ns\":%llu,\"allow\":%zu,"
           "\"policies\":%zu,\"timed_loop_ns\":%llu,\"decisions\":\"%s\"}\n",
           n, (double)m * 1e9 / (double)tput_ns, (unsigned long long)lat[n / 2],
           (unsigned long long)lat[(size_t)((double)n * 0.99)], (unsigned long long)(sum / n),
           (unsigned long long)lat[n - 1], allow,
           cedar_policy_set_count(ps), (unsigned long long)total, dec);
    free(dec);
    for (size_t i = 0; i < nreq; i++) {
        cedar_ctx_destroy(ctxs[i]);
        if (texts) free(texts[i]);
    }
    free(texts);
    free(ctxs);
    free(lat);
    json_decref(reqs);
    cedar_entities_destroy(es);
    cedar_policy_set_destroy(ps);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 3 && !strcmp(argv[1], "check")) return cmd_check(argv[2]);
    if (argc >= 2 && !strcmp(argv[1], "authorize")) return cmd_authorize(argc - 2, argv + 2);
    if (argc >= 2 && !strcmp(argv[1], "batch")) return cmd_batch();
    if (argc >= 2 && !strcmp(argv[1], "bench")) return cmd_bench(argc - 2, argv + 2);
    fprintf(stderr,
            "usage: cedar check POLICIES.cedar\n"
            "       cedar authorize --policies P --entities E.json --request R.json\n"
            "       cedar batch < cases.jsonl\n"
            "       cedar bench --policies P --entities E.json --requests R.json [--seconds S] [--parse-request]\n");
    return 2;
}
