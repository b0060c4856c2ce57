/*
 * test_render: libs/render — the rendered documents of one environment per
 * type against golden files in tests/unit/data/render/<case>/, every
 * document parsed back with libyaml, every set built with `kubectl
 * kustomize`, and the version-constraint -> ImagePolicy table.
 *
 * EP_UPDATE_GOLDEN=1 rewrites the golden files instead of comparing (then
 * review the diff: the golden files are the specification).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "render/render.h"

#define GOLDEN "tests/unit/data/render"

static const render_service SEED_SERVICES[] = {
    { "api-gateway", "1.x.x.x", NULL, NULL },
    { "auth-service", "^1.0.0.0", NULL, NULL },
    { "reporting", ">=1.2.0, <2.0.0", NULL, NULL },
    { "user-service", "v1.2.3", "artifactory/docker-releases/user-service:v1.2.3",
      "artifactory/oci-releases/user-service-ansible:v1.2.3" },
    { "worker", "*", NULL, "artifactory/oci-releases/worker-ansible" },
};

static const render_service STAGING_SERVICES[] = {
    { "billing", "~1.4", "harbor.internal/team/billing@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", NULL },
    { "search", "2.3.*", NULL, NULL },
};

static const render_service PROD_SERVICES[] = {
    { "user-service", "v2.1.0", NULL, NULL },
};

typedef struct rcase {
    const char *name;
    render_env  env;
} rcase;

static const rcase CASES[] = {
    { "dev", { "dev-team1-feature-x", CLAIM_ENV_DEV, 3, "john.doe@company.com", "team1",
               "sha256:1111111111111111111111111111111111111111111111111111111111111111",
               SEED_SERVICES, sizeof SEED_SERVICES / sizeof SEED_SERVICES[0] } },
    { "sue", { "sue-poc", CLAIM_ENV_SUE, 1, "eve@company.com", "eval", NULL, PROD_SERVICES, 1 } },
    { "staging", { "staging-qa", CLAIM_ENV_STAGING, 7, "qa@company.com", "qa", NULL,
                   STAGING_SERVICES, sizeof STAGING_SERVICES / sizeof STAGING_SERVICES[0] } },
    { "prod", { "prod-main", CLAIM_ENV_PROD, 12, "ops@company.com", "main", NULL, PROD_SERVICES, 1 } },
};

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long  n;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n) {
            buf[n] = '\0';
            *len = (size_t)n;
        } else {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    return buf;
}

static void mkdirs_for(const char *path)
{
    char tmp[512];

    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0755);
            *p = '/';
        }
    }
}

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f;

    mkdirs_for(path);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* Parse every document of a YAML stream; returns the number of documents
 * or -1 on a parse error. */
static int yaml_docs(const char *data, size_t len)
{
    yaml_parser_t p;
    yaml_event_t  ev;
    int           docs = 0, done = 0;

    assert_true(yaml_parser_initialize(&p));
    yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
    while (!done) {
        if (!yaml_parser_parse(&p, &ev)) {
            docs = -1;
            break;
        }
        if (ev.type == YAML_DOCUMENT_START_EVENT)
            docs++;
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    return docs;
}

static void test_golden(void **state)
{
    int update = getenv("EP_UPDATE_GOLDEN") != NULL;

    (void)state;
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++) {
        render_set set;
        ep_err     err = { 0 };
        char       dir[256], cmd[600];

        render_set_init(&set);
        assert_int_equal(render_environment(&CASES[c].env, NULL, &set, &err), RENDER_OK);
        assert_string_equal(set.docs[0].path, "kustomization.yaml");
        snprintf(dir, sizeof dir, "/tmp/ep-render-%d-%s", (int)getpid(), CASES[c].name);
        for (size_t i = 0; i < set.n; i++) {
            char   path[512];
            size_t glen = 0;
            char  *g;

            assert_true(yaml_docs(set.docs[i].data, set.docs[i].len) >= 1);
            snprintf(path, sizeof path, "%s/%s/%s", GOLDEN, CASES[c].name, set.docs[i].path);
            if (update)
                write_file(path, set.docs[i].data, set.docs[i].len);
            g = read_file(path, &glen);
            if (g == NULL)
                fail_msg("golden file %s missing (EP_UPDATE_GOLDEN=1 writes it)", path);
            if (glen != set.docs[i].len || memcmp(g, set.docs[i].data, glen) != 0)
                fail_msg("%s differs from its golden file; rendered:\n%s", path, set.docs[i].data);
            free(g);
            snprintf(path, sizeof path, "%s/%s", dir, set.docs[i].path);
            write_file(path, set.docs[i].data, set.docs[i].len);
        }
        /* The whole set must build as a kustomization. */
        snprintf(cmd, sizeof cmd, "kubectl kustomize %s > %s.out 2>&1", dir, dir);
        if (system(cmd) != 0) {
            size_t n = 0;
            char   out[300];
            char  *o;
            snprintf(out, sizeof out, "%s.out", dir);
            o = read_file(out, &n);
            fail_msg("kubectl kustomize %s failed: %s", dir, o ? o : "(no output)");
        }
        snprintf(cmd, sizeof cmd, "rm -rf %s %s.out", dir, dir);
        assert_int_equal(system(cmd), 0);
        render_set_dispose(&set);
    }
}

/* Each type gets its pools, HA and scaling, and exactly one of shared
 * bindings or dedicated components + WAF. */
static void test_profiles(void **state)
{
    const render_profile *dev = render_profile_for(CLAIM_ENV_DEV);
    const render_profile *sue = render_profile_for(CLAIM_ENV_SUE);
    const render_profile *stg = render_profile_for(CLAIM_ENV_STAGING);
    const render_profile *prod = render_profile_for(CLAIM_ENV_PROD);

    (void)state;
    assert_null(render_profile_for(CLAIM_ENV_UNSPECIFIED));
    assert_ptr_equal(dev, sue);
    assert_false(dev->ha);
    assert_string_equal(dev->scaling, "aggressive");
    assert_int_equal(dev->n_pools, 3);
    assert_string_equal(dev->pools[2].name, "spot");
    assert_true(stg->ha);
    assert_string_equal(stg->scaling, "moderate");
    assert_int_equal(stg->n_pools, 3);
    assert_string_equal(stg->pools[2].name, "memory");
    assert_true(prod->ha);
    assert_string_equal(prod->scaling, "conservative");
    assert_int_equal(prod->n_pools, 6);
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++) {
        render_set set;
        int shared = 0, dedicated = 0, waf = 0;
        render_set_init(&set);
        assert_int_equal(render_environment(&CASES[c].env, NULL, &set, NULL), RENDER_OK);
        for (size_t i = 0; i < set.n; i++) {
            shared += strcmp(set.docs[i].path, "platform-bindings.yaml") == 0;
            dedicated += strcmp(set.docs[i].path, "dedicated-stack.yaml") == 0;
            waf += strcmp(set.docs[i].path, "cloudflare-waf.yaml") == 0;
        }
        if (CASES[c].env.type == CLAIM_ENV_DEV || CASES[c].env.type == CLAIM_ENV_SUE) {
            assert_int_equal(shared, 1);
            assert_int_equal(dedicated + waf, 0);
        } else {
            assert_int_equal(shared, 0);
            assert_int_equal(dedicated, 1);
            assert_int_equal(waf, 1);
        }
        render_set_dispose(&set);
    }
}

typedef struct pcase {
    const char *version;
    int         pinned;
    const char *range;     /* NULL: none */
    const char *pattern;   /* NULL: none */
    const char *extract;   /* NULL: none */
    int         note;      /* an approximation is declared */
} pcase;

static const pcase POLICIES[] = {
    { "v1.2.3", 1, NULL, "^v1\\.2\\.3$", NULL, 0 },
    { "1.2.3.4", 1, NULL, "^1\\.2\\.3\\.4$", NULL, 0 },
    { "dev-snapshot", 1, NULL, "^dev-snapshot$", NULL, 0 },
    { "1.2.3-rc.1+build.5", 1, NULL, "^1\\.2\\.3-rc\\.1\\+build\\.5$", NULL, 0 },
    { "^1.2.3", 0, ">=1.2.3, <2.0.0", NULL, NULL, 0 },
    { "^v0.4", 0, ">=0.4.0, <1.0.0", NULL, NULL, 0 },
    { "^1.2.3-beta", 0, ">=1.2.3-beta, <2.0.0-0", NULL, NULL, 0 },
    { "^1.0.0.0", 0, ">=1.0.0, <2.0.0", "^[vV]?(?P<v>[0-9]+\\.[0-9]+\\.[0-9]+)\\.[0-9]+$", "$v", 1 },
    { "~1.2.3", 0, ">=1.2.3, <1.3.0", NULL, NULL, 0 },
    { "~1.2", 0, ">=1.2.0, <1.3.0", NULL, NULL, 0 },
    { "~1", 0, ">=1.0.0, <1.1.0", NULL, NULL, 0 },
    { "1.x.x.x", 0, ">=1.0.0, <2.0.0", "^[vV]?(?P<v>1\\.[0-9]+\\.[0-9]+)\\.[0-9]+$", "$v", 1 },
    { "1.2.*", 0, ">=1.2.0, <1.3.0", "^[vV]?1\\.2\\.[0-9]+$", NULL, 0 },
    { "v1.x", 0, ">=1.0.0, <2.0.0", "^[vV]?(?P<v>1\\.[0-9]+)$", "$v.0", 0 },
    { "1.2.3.x", 0, ">=1.2.3, <1.2.4", "^[vV]?(?P<v>1\\.2\\.3)\\.[0-9]+$", "$v", 1 },
    { ">=1.2.0, <2.0.0", 0, ">=1.2.0, <2.0.0", NULL, NULL, 0 },
    { ">=1.0.0, !=1.5.0, <2.0.0", 0, ">=1.0.0, !=1.5.0, <2.0.0", NULL, NULL, 0 },
    { "> 1.0", 0, ">1.0.0", NULL, NULL, 0 },
    { "=v1.2.3", 0, "=1.2.3", NULL, NULL, 0 },
    { ">=1.2.3.4", 0, ">=1.2.3", "^[vV]?(?P<v>[0-9]+\\.[0-9]+\\.[0-9]+)\\.[0-9]+$", "$v", 1 },
    { "*", 0, ">=0.0.0", NULL, NULL, 0 },
    { "latest", 0, ">=0.0.0", NULL, NULL, 0 },
};

static void test_policy_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof POLICIES / sizeof POLICIES[0]; i++) {
        const pcase  *pc = &POLICIES[i];
        render_policy p;
        ep_err        err = { 0 };

        if (render_policy_from_version(pc->version, &p, &err) != RENDER_OK)
            fail_msg("%s: %s", pc->version, err.msg);
        if (p.pinned != pc->pinned)
            fail_msg("%s: pinned %d", pc->version, p.pinned);
        if (strcmp(p.semver_range, pc->range ? pc->range : "") != 0)
            fail_msg("%s: range \"%s\"", pc->version, p.semver_range);
        if (strcmp(p.filter_pattern, pc->pattern ? pc->pattern : "") != 0)
            fail_msg("%s: pattern \"%s\"", pc->version, p.filter_pattern);
        if (strcmp(p.filter_extract, pc->extract ? pc->extract : "") != 0)
            fail_msg("%s: extract \"%s\"", pc->version, p.filter_extract);
        if ((p.note[0] != '\0') != pc->note)
            fail_msg("%s: note \"%s\"", pc->version, p.note);
    }
}

static void test_errors(void **state)
{
    static const render_service bad_version[] = { { "svc-a", "1..2", NULL, NULL } };
    static const render_service bad_name[] = { { "Svc_A", "1.0.0", NULL, NULL } };
    render_env    e = { "dev-x", CLAIM_ENV_DEV, 1, NULL, NULL, NULL, bad_version, 1 };
    render_set    set;
    render_policy p;
    ep_err        err = { 0 };

    (void)state;
    render_set_init(&set);
    assert_int_equal(render_environment(&e, NULL, &set, &err), RENDER_EVERSION);
    assert_non_null(strstr(err.msg, "service svc-a"));
    assert_int_equal(set.n, 0);
    e.services = bad_name;
    assert_int_equal(render_environment(&e, NULL, &set, &err), RENDER_EINVAL);
    e.services = NULL;
    e.n_services = 0;
    e.type = CLAIM_ENV_UNSPECIFIED;
    assert_int_equal(render_environment(&e, NULL, &set, &err), RENDER_EINVAL);
    e.type = CLAIM_ENV_DEV;
    e.name = "Not-A-Label";
    assert_int_equal(render_environment(&e, NULL, &set, &err), RENDER_EINVAL);
    assert_int_equal(render_policy_from_version(">=2.0.0, <1.0.0", &p, &err), RENDER_EVERSION);
    assert_int_equal(render_policy_from_version(NULL, &p, &err), RENDER_EVERSION);
    render_set_dispose(&set);
}

/* Strings that would read back as other types are quoted; the rendering
 * is deterministic. */
static void test_quoting_and_determinism(void **state)
{
    static const render_service svc[] = { { "yes", "1.0", "on/true:1.0", NULL } };
    render_env e = { "dev-q", CLAIM_ENV_DEV, 1, "null", "true", NULL, svc, 1 };
    render_set a, b;

    (void)state;
    render_set_init(&a);
    render_set_init(&b);
    assert_int_equal(render_environment(&e, NULL, &a, NULL), RENDER_OK);
    assert_int_equal(render_environment(&e, NULL, &b, NULL), RENDER_OK);
    assert_int_equal(a.n, b.n);
    for (size_t i = 0; i < a.n; i++) {
        assert_string_equal(a.docs[i].path, b.docs[i].path);
        assert_string_equal(a.docs[i].data, b.docs[i].data);
    }
    for (size_t i = 0; i < a.n; i++) {
        if (strcmp(a.docs[i].path, "services/yes.yaml") == 0) {
            assert_non_null(strstr(a.docs[i].data, "envplane.io/component: \"yes\""));
            assert_non_null(strstr(a.docs[i].data, "envplane.io/version: \"1.0\""));
            assert_non_null(strstr(a.docs[i].data, "envplane.io/generation: \"1\""));
        }
        if (strcmp(a.docs[i].path, "cluster-claim.yaml") == 0) {
            assert_non_null(strstr(a.docs[i].data, "envplane.io/owner: \"null\""));
            assert_non_null(strstr(a.docs[i].data, "highAvailability: false"));
        }
    }
    render_set_dispose(&a);
    render_set_dispose(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_profiles),
        cmocka_unit_test(test_policy_table),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_quoting_and_determinism),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
