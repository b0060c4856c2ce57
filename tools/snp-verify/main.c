/*
 * snp-verify: verify one AMD SEV-SNP attestation report offline.
 *
 *   snp-verify --report R.bin --cert VCEK_OR_VLEK --ark ARK.pem
 *              --ask ASK_OR_ASVK.pem [--crl CRL] [--at RFC3339]
 *              [--reference REF.json [--image sha256:...]...]
 *
 * Prints one JSON object: {"valid", "reasons", "details", "policy_reasons",
 * "claims", "certificate"} and exits 0 when the evidence holds (signature,
 * chain, validity at --at, certificate TCB/hwID vs report), 1 when it does
 * not, 2 on a usage or file error.  Reference values (measurement, host
 * data, minimum TCB) belong to the attester service, so they are not judged
 * here unless --reference gives them (then "reference_reasons" lists the
 * failures, and they make the report invalid too); without it
 * "policy_reasons" lists what a default policy would object to (VMPL above
 * 0, debug, migration agent) for information only.
 *
 * `--bench SECONDS [--threads N]` verifies the same evidence repeatedly
 * with a warm chain cache and prints the rate; scripts/bench-attest.sh uses
 * it.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "snp/snp.h"

#define MAX_FILE (1 << 20)

static void usage(FILE *f)
{
    fprintf(f,
            "usage: snp-verify --report R.bin --cert VCEK_OR_VLEK(.der|.pem) --ark ARK.pem\n"
            "                  --ask ASK_OR_ASVK.pem [--crl CRL] [--at RFC3339]\n"
            "                  [--reference REF.json [--image sha256:HEX]...]\n"
            "                  [--bench SECONDS [--threads N]]\n"
            "  --report   1184-byte attestation report\n"
            "  --cert     VCEK or VLEK certificate, DER or PEM\n"
            "  --ark      trusted AMD root (repeatable; PEM may hold several)\n"
            "  --ask      ASK or ASVK (repeatable; a file that also holds the ARK is fine)\n"
            "  --crl      AMD CRL, DER or PEM (repeatable; enables revocation checks)\n"
            "  --at       evaluation time, e.g. 2025-06-01T00:00:00Z (default: now)\n"
            "  --reference  reference values (JSON, see docs/attestation.md) to appraise against\n"
            "  --image    a workload image digest to check against the allow-list (repeatable)\n"
            "  --bench    verify repeatedly for SECONDS with a warm cache and print the rate\n"
            "  --threads  threads for --bench (default 1)\n"
            "exit status: 0 valid, 1 invalid, 2 usage or file error\n");
}

static int read_file(const char *path, uint8_t **out, size_t *len)
{
    FILE   *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t  n;

    if (f == NULL) {
        fprintf(stderr, "snp-verify: %s: %s\n", path, strerror(errno));
        return -1;
    }
    buf = malloc(MAX_FILE);
    if (buf == NULL) {
        fclose(f);
        fprintf(stderr, "snp-verify: out of memory\n");
        return -1;
    }
    n = fread(buf, 1, MAX_FILE, f);
    if (ferror(f) || n == MAX_FILE) {
        fprintf(stderr, "snp-verify: %s: %s\n", path, ferror(f) ? "read error" : "larger than 1 MiB");
        fclose(f);
        free(buf);
        return -1;
    }
    fclose(f);
    *out = buf;
    *len = n;
    return 0;
}

/* RFC 3339: YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM). */
static int parse_rfc3339(const char *s, int64_t *out)
{
    struct tm tm = {0};
    int       y, mo, d, h, mi, sec, off = 0, oh, om, n = 0;
    const char *p;

    if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n == 0)
        return -1;
    p = s + n;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        off = 0;
    } else if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) == 2 &&
               p[1 + n] == '\0' && oh < 24 && om < 60) {
        off = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
    } else {
        return -1;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *out = (int64_t)timegm(&tm) - off;
    return 0;
}

static json_t *time_json(int64_t t)
{
    char      buf[32];
    time_t    tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL)
        return json_null();
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(buf);
}

static json_t *cert_json(const snp_cert_info *c)
{
    json_t *o = json_object(), *tcb = json_object();
    char    hex[2 * 64 + 1];

    json_object_set_new(o, "kind", json_string(c->kind == SNP_CERT_VCEK   ? "vcek"
                                               : c->kind == SNP_CERT_VLEK ? "vlek"
                                                                          : "unknown"));
    json_object_set_new(o, "subject_cn", json_string(c->subject_cn));
    json_object_set_new(o, "issuer_cn", json_string(c->issuer_cn));
    json_object_set_new(o, "product_name", json_string(c->product_name));
    snp_hex(c->fingerprint, 32, hex);
    json_object_set_new(o, "sha256", json_string(hex));
    json_object_set_new(o, "not_before", time_json(c->not_before));
    json_object_set_new(o, "not_after", time_json(c->not_after));
    if (c->has_bl)
        json_object_set_new(tcb, "bootloader", json_integer(c->bl_spl));
    if (c->has_tee)
        json_object_set_new(tcb, "tee", json_integer(c->tee_spl));
    if (c->has_snp)
        json_object_set_new(tcb, "snp", json_integer(c->snp_spl));
    if (c->has_ucode)
        json_object_set_new(tcb, "microcode", json_integer(c->ucode_spl));
    if (c->has_fmc)
        json_object_set_new(tcb, "fmc", json_integer(c->fmc_spl));
    json_object_set_new(o, "tcb", tcb);
    if (c->has_hwid) {
        snp_hex(c->hwid, 64, hex);
        json_object_set_new(o, "hwid", json_string(hex));
        json_object_set_new(o, "hwid_encoding", json_string(c->hwid_wrapped ? "octet_string" : "raw"));
    }
    if (c->csp_id[0] != '\0')
        json_object_set_new(o, "csp_id", json_string(c->csp_id));
    return o;
}

typedef struct bench_arg {
    snp_verifier  *v;
    const uint8_t *report, *cert;
    size_t         report_len, cert_len;
    int64_t        at;
    double         seconds;
    uint64_t       count;
    int            failed;
} bench_arg;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *bench_thread(void *p)
{
    bench_arg  *a = p;
    snp_result *res = malloc(sizeof *res);
    double      end = now_s() + a->seconds;

    if (res == NULL) {
        a->failed = 1;
        return NULL;
    }
    /* Check the clock every 16 verifications: each takes about a millisecond. */
    while (!a->failed) {
        for (int i = 0; i < 16; i++) {
            if (snp_verifier_verify(a->v, a->report, a->report_len, a->cert, a->cert_len, a->at,
                                    res, NULL) != SNP_OK)
                a->failed = 1;
            a->count++;
        }
        if (now_s() >= end)
            break;
    }
    free(res);
    return NULL;
}

static int run_bench(snp_verifier *v, bench_arg *tmpl, int threads)
{
    bench_arg      *args = calloc((size_t)threads, sizeof *args);
    pthread_t      *tids = calloc((size_t)threads, sizeof *tids);
    uint64_t        total = 0;
    int             failed = 0;
    double          t0, t1;
    snp_cache_stats st;

    if (args == NULL || tids == NULL) {
        free(args);
        free(tids);
        return 2;
    }
    t0 = now_s();
    for (int i = 0; i < threads; i++) {
        args[i] = *tmpl;
        pthread_create(&tids[i], NULL, bench_thread, &args[i]);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(tids[i], NULL);
        total += args[i].count;
        failed |= args[i].failed;
    }
    t1 = now_s();
    snp_verifier_cache_stats(v, &st);
    printf("{\"verifications\": %llu, \"seconds\": %.3f, \"threads\": %d, "
           "\"verifications_per_sec\": %.1f, \"cache_hits\": %llu, \"cache_misses\": %llu, "
           "\"all_valid\": %s}\n",
           (unsigned long long)total, t1 - t0, threads, (double)total / (t1 - t0),
           (unsigned long long)st.hits, (unsigned long long)st.misses, failed ? "false" : "true");
    free(args);
    free(tids);
    return failed ? 1 : 0;
}

enum { MAX_MULTI = 8 };

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"report", required_argument, NULL, 'r'}, {"cert", required_argument, NULL, 'c'},
        {"ark", required_argument, NULL, 'a'},    {"ask", required_argument, NULL, 'k'},
        {"crl", required_argument, NULL, 'l'},    {"at", required_argument, NULL, 't'},
        {"bench", required_argument, NULL, 'b'},  {"threads", required_argument, NULL, 'n'},
        {"reference", required_argument, NULL, 'f'}, {"image", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char    *report_path = NULL, *cert_path = NULL;
    const char    *arks[MAX_MULTI], *asks[MAX_MULTI], *crls[MAX_MULTI];
    const char    *ref_path = NULL, *images[64];
    int            n_images = 0;
    snp_refvals   *refvals = NULL;
    snp_findings   rf = {0};
    int            n_ark = 0, n_ask = 0, n_crl = 0, threads = 1, rc = 2, opt;
    double         bench = 0;
    int64_t        at = (int64_t)time(NULL);
    uint8_t       *report = NULL, *cert = NULL, *buf = NULL;
    size_t         report_len = 0, cert_len = 0, len;
    snp_verifier  *v = NULL;
    snp_result    *res = NULL;
    ep_err         err;
    json_t        *out = NULL, *reasons, *details, *policy, *rr = NULL;
    snp_findings   pf = {0};
    snp_reference  baseline = {0};

    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'r': report_path = optarg; break;
        case 'c': cert_path = optarg; break;
        case 'a': if (n_ark < MAX_MULTI) arks[n_ark++] = optarg; break;
        case 'k': if (n_ask < MAX_MULTI) asks[n_ask++] = optarg; break;
        case 'l': if (n_crl < MAX_MULTI) crls[n_crl++] = optarg; break;
        case 't':
            if (parse_rfc3339(optarg, &at) != 0) {
                fprintf(stderr, "snp-verify: --at %s: not an RFC 3339 time\n", optarg);
                return 2;
            }
            break;
        case 'b': bench = strtod(optarg, NULL); break;
        case 'f': ref_path = optarg; break;
        case 'i':
            if (n_images == 64) {
                fprintf(stderr, "snp-verify: at most 64 --image\n");
                return 2;
            }
            images[n_images++] = optarg;
            break;
        case 'n': threads = atoi(optarg); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (report_path == NULL || cert_path == NULL || n_ark == 0 || n_ask == 0 || optind != argc ||
        threads < 1 || threads > 256) {
        usage(stderr);
        return 2;
    }
    if ((v = snp_verifier_create(0, &err)) == NULL) {
        fprintf(stderr, "snp-verify: %s\n", err.msg);
        return 2;
    }
    for (int i = 0; i < n_ark + n_ask + n_crl; i++) {
        const char *path = i < n_ark ? arks[i] : i < n_ark + n_ask ? asks[i - n_ark]
                                                                   : crls[i - n_ark - n_ask];
        int r;
        if (read_file(path, &buf, &len) != 0)
            goto out;
        r = i < n_ark           ? snp_verifier_add_ark(v, buf, len, &err)
            : i < n_ark + n_ask ? snp_verifier_add_intermediate(v, buf, len, &err)
                                : snp_verifier_add_crl(v, buf, len, &err);
        free(buf);
        buf = NULL;
        if (r != SNP_OK) {
            fprintf(stderr, "snp-verify: %s: %s\n", path, err.msg);
            goto out;
        }
    }
    if (ref_path != NULL) {
        if (read_file(ref_path, &buf, &len) != 0)
            goto out;
        refvals = snp_refvals_parse((const char *)buf, len, &err);
        free(buf);
        buf = NULL;
        if (refvals == NULL) {
            fprintf(stderr, "snp-verify: %s: %s\n", ref_path, err.msg);
            goto out;
        }
    } else if (n_images > 0) {
        fprintf(stderr, "snp-verify: --image needs --reference (the allow-list)\n");
        goto out;
    }
    if (read_file(report_path, &report, &report_len) != 0 ||
        read_file(cert_path, &cert, &cert_len) != 0)
        goto out;
    if ((res = malloc(sizeof *res)) == NULL)
        goto out;

    rc = snp_verifier_verify(v, report, report_len, cert, cert_len, at, res, &err);
    if (rc != SNP_OK && rc != SNP_EREJECTED) {
        fprintf(stderr, "snp-verify: %s\n", err.msg);
        rc = 2;
        goto out;
    }
    if (bench > 0) {
        bench_arg a = {.v = v, .report = report, .report_len = report_len, .cert = cert,
                       .cert_len = cert_len, .at = at, .seconds = bench};
        if (rc != SNP_OK) {
            fprintf(stderr, "snp-verify: --bench needs evidence that verifies: %s\n", err.msg);
            rc = 1;
            goto out;
        }
        rc = run_bench(v, &a, threads);
        goto out;
    }

    out = json_object();
    reasons = json_array();
    details = json_array();
    policy = json_array();
    for (size_t i = 0; i < res->findings.n; i++) {
        json_t *d = json_object();
        json_array_append_new(reasons, json_string(snp_reason_name(res->findings.v[i].reason)));
        json_object_set_new(d, "reason", json_string(snp_reason_name(res->findings.v[i].reason)));
        json_object_set_new(d, "detail", json_string(res->findings.v[i].detail));
        json_array_append_new(details, d);
    }
    if (res->report_parsed && refvals != NULL) {
        rr = json_array();
        snp_reference_check(&res->report, snp_refvals_get(refvals), images, (size_t)n_images, &rf);
        for (size_t i = 0; i < rf.n; i++) {
            json_t *d = json_object();
            json_array_append_new(rr, json_string(snp_reason_name(rf.v[i].reason)));
            json_object_set_new(d, "reason", json_string(snp_reason_name(rf.v[i].reason)));
            json_object_set_new(d, "detail", json_string(rf.v[i].detail));
            json_array_append_new(details, d);
        }
        if (rf.n > 0 && rc == SNP_OK)
            rc = SNP_EREJECTED;
    } else if (res->report_parsed) {
        /* Informative only: what the strictest default policy (SMT aside,
         * which nearly every real guest allows) would object to. */
        baseline.allow_smt = true;
        snp_policy_check(&res->report, &baseline, &pf);
        for (size_t i = 0; i < pf.n; i++)
            json_array_append_new(policy, json_string(snp_reason_name(pf.v[i].reason)));
    }
    json_object_set_new(out, "valid", json_boolean(rc == SNP_OK));
    json_object_set_new(out, "reasons", reasons);
    json_object_set_new(out, "details", details);
    if (rr != NULL) {
        json_object_set_new(out, "reference_reasons", rr);
        json_decref(policy);
    } else {
        json_object_set_new(out, "policy_reasons", policy);
    }
    json_object_set_new(out, "evaluated_at", time_json(at));
    json_object_set_new(out, "claims", res->report_parsed ? snp_report_claims(&res->report)
                                                          : json_null());
    json_object_set_new(out, "certificate", res->cert_parsed ? cert_json(&res->cert) : json_null());
    if (json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
        rc = 2;
        goto out;
    }
    putchar('\n');
    rc = rc == SNP_OK ? 0 : 1;
out:
    json_decref(out);
    snp_refvals_destroy(refvals);
    free(res);
    free(report);
    free(cert);
    snp_verifier_destroy(v);
    return rc;
}
