/*
 * render: the document set of one environment (see render.h for the list).
 *
 * Each document is built by a function that only emits; the caller checks
 * the writer's sticky failure once.  What varies by environment type lives
 * in the profile table below, so the seed's rules (dev/sue: three pools, no
 * HA, aggressive scaling, shared platform services; staging: memory pool,
 * HA, moderate; prod: every pool, HA, conservative; staging/prod: dedicated
 * components and Cloudflare WAF) can be read in one place.
 */
#include "render/render.h"
#include "render_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API_PLATFORM "platform.envplane.io/v1alpha1"
#define API_IMAGE    "image.toolkit.fluxcd.io/v1beta2"
#define API_SOURCE   "source.toolkit.fluxcd.io/v1beta2"
#define API_KUSTOMIZE "kustomize.config.k8s.io/v1beta1"

const char *render_strstatus(int status)
{
    switch (status) {
#define RENDER_STR(name, str) case name: return str;
        RENDER_STATUS_MAP(RENDER_STR)
#undef RENDER_STR
    }
    return "unknown status";
}

/* ---- profiles ------------------------------------------------------------------ */

#define SYSTEM_TAINT "node-role.envplane.io/system", "true", "NoSchedule"
#define NO_TAINT NULL, NULL, NULL

static const render_pool DEV_POOLS[] = {
    { "general-restricted", 1, 2, "on-demand", SYSTEM_TAINT },
    { "general-public", 1, 6, "on-demand", NO_TAINT },
    { "spot", 0, 10, "spot", "envplane.io/spot", "true", "NoSchedule" },
};

static const render_pool STAGING_POOLS[] = {
    { "general-restricted", 3, 3, "on-demand", SYSTEM_TAINT },
    { "general-public", 2, 8, "on-demand", NO_TAINT },
    { "memory", 1, 4, "on-demand", "envplane.io/workload", "memory", "NoSchedule" },
};

static const render_pool PROD_POOLS[] = {
    { "general-restricted", 3, 5, "on-demand", SYSTEM_TAINT },
    { "general-public", 3, 20, "on-demand", NO_TAINT },
    { "memory", 2, 10, "on-demand", "envplane.io/workload", "memory", "NoSchedule" },
    { "storage", 2, 10, "on-demand", "envplane.io/workload", "storage", "NoSchedule" },
    { "spot", 0, 20, "spot", "envplane.io/spot", "true", "NoSchedule" },
    { "ai", 0, 4, "on-demand", "nvidia.com/gpu", "present", "NoSchedule" },
};

#define NPOOLS(a) (sizeof(a) / sizeof(a)[0])

/* Aggressive scaling removes idle nodes quickly (short delays, high
 * utilisation threshold); conservative keeps capacity around. */
static const render_profile PROFILE_DEV = {
    "aggressive", 0, 1, 1, "2m", "2m", 70, 1, DEV_POOLS, NPOOLS(DEV_POOLS)
};
static const render_profile PROFILE_STAGING = {
    "moderate", 1, 3, 3, "10m", "10m", 55, 0, STAGING_POOLS, NPOOLS(STAGING_POOLS)
};
static const render_profile PROFILE_PROD = {
    "conservative", 1, 3, 3, "30m", "30m", 40, 0, PROD_POOLS, NPOOLS(PROD_POOLS)
};

const render_profile *render_profile_for(claim_env_type type)
{
    switch (type) {
    case CLAIM_ENV_DEV:
    case CLAIM_ENV_SUE:
        return &PROFILE_DEV;
    case CLAIM_ENV_STAGING:
        return &PROFILE_STAGING;
    case CLAIM_ENV_PROD:
        return &PROFILE_PROD;
    default:
        return NULL;
    }
}

/* The platform components every environment needs, shared on the platform
 * cluster for dev/sue and dedicated in the environment for staging/prod. */
typedef struct component {
    const char *name;            /* logging, monitoring, ... */
    const char *implementation;  /* elasticsearch, ... */
    const char *shared_ns;       /* namespace on the platform cluster */
    const char *shared_service;
} component;

static const component COMPONENTS[] = {
    { "logging", "elasticsearch", "logging", "elasticsearch-shared" },
    { "monitoring", "prometheus-grafana", "monitoring", "prometheus-shared" },
    { "api-gateway", "kong", "kong", "kong-shared" },
    { "authorization", "opal-cedar", "opal", "opal-server-shared" },
};

/* ---- helpers ----------------------------------------------------------------------- */

static int is_label(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

static int present(const char *s)
{
    return s && s[0];
}

static void metadata(render__yw *w, const render_env *e, const char *name, const char *ns,
                     const char *component_name)
{
    char gen[24];

    snprintf(gen, sizeof gen, "%llu", (unsigned long long)e->generation);
    render__yw_str(w, "metadata");
    render__yw_map_begin(w);
    render__yw_kv(w, "name", name);
    if (ns)
        render__yw_kv(w, "namespace", ns);
    render__yw_str(w, "labels");
    render__yw_map_begin(w);
    render__yw_kv(w, "app.kubernetes.io/managed-by", "envplane");
    render__yw_kv(w, "envplane.io/environment", e->name);
    render__yw_kv(w, "envplane.io/environment-type", claim_env_type_str(e->type));
    if (component_name)
        render__yw_kv(w, "envplane.io/component", component_name);
    render__yw_map_end(w);
    render__yw_str(w, "annotations");
    render__yw_map_begin(w);
    render__yw_kv(w, "envplane.io/generation", gen);
    if (present(e->content_hash))
        render__yw_kv(w, "envplane.io/content-hash", e->content_hash);
    if (present(e->user))
        render__yw_kv(w, "envplane.io/owner", e->user);
    if (present(e->pool))
        render__yw_kv(w, "envplane.io/pool", e->pool);
    render__yw_map_end(w);
    render__yw_map_end(w);
}

static void header(render__yw *w, const char *api, const char *kind)
{
    render__yw_doc_begin(w);
    render__yw_map_begin(w);
    render__yw_kv(w, "apiVersion", api);
    render__yw_kv(w, "kind", kind);
}

static void footer(render__yw *w)
{
    render__yw_map_end(w);
    render__yw_doc_end(w);
}

/* ---- documents ------------------------------------------------------------------------ */

static void doc_cluster(render__yw *w, const render_env *e, const render_profile *p, const render_options *o)
{
    char secret[128];

    header(w, API_PLATFORM, "EnvironmentCluster");
    metadata(w, e, e->name, o->claims_namespace, "cluster");
    render__yw_str(w, "spec");
    render__yw_map_begin(w);
    render__yw_kv(w, "environmentName", e->name);
    render__yw_kv(w, "environmentType", claim_env_type_str(e->type));
    render__yw_str(w, "compositionSelector");
    render__yw_map_begin(w);
    render__yw_str(w, "matchLabels");
    render__yw_map_begin(w);
    render__yw_kv(w, "platform.envplane.io/environment-type", claim_env_type_str(e->type));
    render__yw_map_end(w);
    render__yw_map_end(w);
    render__yw_kv_bool(w, "highAvailability", p->ha);
    render__yw_str(w, "controlPlane");
    render__yw_map_begin(w);
    render__yw_kv_int(w, "replicas", p->control_plane_replicas);
    render__yw_kv_int(w, "zones", p->zones);
    render__yw_map_end(w);
    render__yw_str(w, "autoscaling");
    render__yw_map_begin(w);
    render__yw_kv(w, "profile", p->scaling);
    render__yw_kv(w, "scaleDownUnneededTime", p->scale_down_unneeded);
    render__yw_kv(w, "scaleDownDelayAfterAdd", p->scale_down_delay_after_add);
    render__yw_kv_int(w, "scaleDownUtilizationThresholdPercent", p->scale_down_utilization_pct);
    render__yw_map_end(w);
    render__yw_str(w, "nodePools");
    render__yw_seq_begin(w);
    for (size_t i = 0; i < p->n_pools; i++) {
        const render_pool *np = &p->pools[i];
        render__yw_map_begin(w);
        render__yw_kv(w, "name", np->name);
        render__yw_kv(w, "capacityType", np->capacity);
        render__yw_kv_int(w, "minNodes", np->min);
        render__yw_kv_int(w, "maxNodes", np->max);
        if (np->taint_key) {
            render__yw_str(w, "taints");
            render__yw_seq_begin(w);
            render__yw_map_begin(w);
            render__yw_kv(w, "key", np->taint_key);
            render__yw_kv(w, "value", np->taint_value);
            render__yw_kv(w, "effect", np->taint_effect);
            render__yw_map_end(w);
            render__yw_seq_end(w);
        }
        render__yw_map_end(w);
    }
    render__yw_seq_end(w);
    snprintf(secret, sizeof secret, "%s-kubeconfig", e->name);
    render__yw_str(w, "writeConnectionSecretToRef");
    render__yw_map_begin(w);
    render__yw_kv(w, "name", secret);
    render__yw_map_end(w);
    render__yw_map_end(w);
    footer(w);
}

static void doc_bindings(render__yw *w, const render_env *e, const render_options *o)
{
    for (size_t i = 0; i < sizeof COMPONENTS / sizeof COMPONENTS[0]; i++) {
        const component *c = &COMPONENTS[i];
        char name[128];

        snprintf(name, sizeof name, "%s-%s", e->name, c->name);
        header(w, API_PLATFORM, "PlatformBinding");
        metadata(w, e, name, o->claims_namespace, c->name);
        render__yw_str(w, "spec");
        render__yw_map_begin(w);
        render__yw_kv(w, "environmentName", e->name);
        render__yw_kv(w, "component", c->name);
        render__yw_kv(w, "implementation", c->implementation);
        render__yw_kv(w, "mode", "shared");
        render__yw_str(w, "target");
        render__yw_map_begin(w);
        render__yw_kv(w, "cluster", "platform");
        render__yw_kv(w, "namespace", c->shared_ns);
        render__yw_kv(w, "service", c->shared_service);
        render__yw_map_end(w);
        render__yw_str(w, "tenant");
        render__yw_map_begin(w);
        render__yw_kv(w, "name", e->name);
        if (strcmp(c->name, "logging") == 0) {
            char idx[128];
            snprintf(idx, sizeof idx, "env-%s-*", e->name);
            render__yw_kv(w, "indexPattern", idx);
            render__yw_kv(w, "shipper", "functionbeat");
        } else if (strcmp(c->name, "api-gateway") == 0) {
            /* The shared Kong has basic protection, not Cloudflare's WAF. */
            render__yw_kv(w, "waf", "basic");
        } else if (strcmp(c->name, "authorization") == 0) {
            render__yw_kv(w, "policyStore", "geldata-shared");
        }
        render__yw_map_end(w);
        render__yw_map_end(w);
        footer(w);
    }
}

static void doc_dedicated(render__yw *w, const render_env *e, const render_profile *p, const render_options *o)
{
    for (size_t i = 0; i < sizeof COMPONENTS / sizeof COMPONENTS[0]; i++) {
        const component *c = &COMPONENTS[i];
        char name[128];

        snprintf(name, sizeof name, "%s-%s", e->name, c->name);
        header(w, API_PLATFORM, "DedicatedComponent");
        metadata(w, e, name, o->claims_namespace, c->name);
        render__yw_str(w, "spec");
        render__yw_map_begin(w);
        render__yw_kv(w, "environmentName", e->name);
        render__yw_kv(w, "component", c->name);
        render__yw_kv(w, "implementation", c->implementation);
        render__yw_kv(w, "mode", "dedicated");
        render__yw_kv_bool(w, "highAvailability", p->ha);
        render__yw_kv_int(w, "replicas", e->type == CLAIM_ENV_PROD ? 3 : 2);
        render__yw_kv(w, "nodePool", "general-restricted");
        if (strcmp(c->name, "logging") == 0) {
            render__yw_kv(w, "shipper", "functionbeat");
        } else if (strcmp(c->name, "monitoring") == 0) {
            render__yw_str(w, "components");
            render__yw_seq_begin(w);
            render__yw_str(w, "prometheus");
            render__yw_str(w, "grafana");
            render__yw_str(w, "alertmanager");
            render__yw_seq_end(w);
        } else if (strcmp(c->name, "api-gateway") == 0) {
            render__yw_kv(w, "waf", "cloudflare");
        } else if (strcmp(c->name, "authorization") == 0) {
            render__yw_kv(w, "policyStore", "geldata-dedicated");
        }
        render__yw_map_end(w);
        footer(w);
    }
}

static void doc_waf(render__yw *w, const render_env *e, const render_options *o)
{
    char name[128], kong[128];
    int  prod = e->type == CLAIM_ENV_PROD;

    snprintf(name, sizeof name, "%s-waf", e->name);
    snprintf(kong, sizeof kong, "%s-api-gateway", e->name);
    header(w, API_PLATFORM, "CloudflareWAF");
    metadata(w, e, name, o->claims_namespace, "waf");
    render__yw_str(w, "spec");
    render__yw_map_begin(w);
    render__yw_kv(w, "environmentName", e->name);
    /* The seed has WAF rules applied by Ansible through Crossplane/Flux. */
    render__yw_kv(w, "provider", "ansible");
    render__yw_str(w, "targetRef");
    render__yw_map_begin(w);
    render__yw_kv(w, "kind", "DedicatedComponent");
    render__yw_kv(w, "name", kong);
    render__yw_map_end(w);
    render__yw_str(w, "managedRulesets");
    render__yw_seq_begin(w);
    render__yw_str(w, "cloudflare-managed");
    render__yw_str(w, "cloudflare-owasp-core");
    render__yw_seq_end(w);
    render__yw_kv_int(w, "owaspParanoiaLevel", prod ? 2 : 1);
    render__yw_kv(w, "action", "block");
    render__yw_str(w, "rateLimit");
    render__yw_map_begin(w);
    render__yw_kv_int(w, "requestsPerMinute", prod ? 600 : 1200);
    render__yw_kv(w, "action", "managed_challenge");
    render__yw_map_end(w);
    render__yw_map_end(w);
    footer(w);
}

/* Split an image reference "repo/path[:tag][@digest]" into its parts. */
static void split_ref(const char *ref, char *repo, size_t nrepo, char *tag, size_t ntag, char *dig, size_t ndig)
{
    const char *slash = strrchr(ref, '/');
    const char *at = strchr(slash ? slash : ref, '@');
    const char *end = at ? at : ref + strlen(ref);
    const char *colon = NULL;

    for (const char *p = slash ? slash : ref; p < end; p++)
        if (*p == ':')
            colon = p;
    snprintf(repo, nrepo, "%.*s", (int)((colon ? colon : end) - ref), ref);
    snprintf(tag, ntag, "%.*s", colon ? (int)(end - colon - 1) : 0, colon ? colon + 1 : "");
    snprintf(dig, ndig, "%s", at ? at + 1 : "");
}

static int doc_service(render__yw *w, const render_env *e, const render_service *s, const render_options *o,
                       ep_err *err)
{
    render_policy pol;
    char name[160], repo[600], tag[160], dig[160];
    int  rc;

    rc = render_policy_from_version(s->version, &pol, err);
    if (rc != RENDER_OK)
        return ep_err_wrap(err, "service %s", s->name);
    snprintf(name, sizeof name, "%s-%s", e->name, s->name);
    if (present(s->docker_image))
        split_ref(s->docker_image, repo, sizeof repo, tag, sizeof tag, dig, sizeof dig);
    else
        snprintf(repo, sizeof repo, "%s/%s", o->image_registry, s->name);

    header(w, API_IMAGE, "ImageRepository");
    metadata(w, e, name, o->flux_namespace, s->name);
    render__yw_str(w, "spec");
    render__yw_map_begin(w);
    render__yw_kv(w, "image", repo);
    render__yw_kv(w, "interval", o->interval);
    render__yw_map_end(w);
    footer(w);

    header(w, API_IMAGE, "ImagePolicy");
    render__yw_str(w, "metadata");
    render__yw_map_begin(w);
    render__yw_kv(w, "name", name);
    render__yw_kv(w, "namespace", o->flux_namespace);
    render__yw_str(w, "labels");
    render__yw_map_begin(w);
    render__yw_kv(w, "app.kubernetes.io/managed-by", "envplane");
    render__yw_kv(w, "envplane.io/environment", e->name);
    render__yw_kv(w, "envplane.io/component", s->name);
    render__yw_map_end(w);
    render__yw_str(w, "annotations");
    render__yw_map_begin(w);
    {
        char gen[24];
        snprintf(gen, sizeof gen, "%llu", (unsigned long long)e->generation);
        render__yw_kv(w, "envplane.io/generation", gen);
    }
    render__yw_kv(w, "envplane.io/version", s->version);
    render__yw_kv(w, "envplane.io/constraint-kind", claim_kind_str(pol.kind));
    if (pol.note[0])
        render__yw_kv(w, "envplane.io/constraint-note", pol.note);
    render__yw_map_end(w);
    render__yw_map_end(w);
    render__yw_str(w, "spec");
    render__yw_map_begin(w);
    render__yw_str(w, "imageRepositoryRef");
    render__yw_map_begin(w);
    render__yw_kv(w, "name", name);
    render__yw_map_end(w);
    if (pol.filter_pattern[0]) {
        render__yw_str(w, "filterTags");
        render__yw_map_begin(w);
        render__yw_kv(w, "pattern", pol.filter_pattern);
        if (pol.filter_extract[0])
            render__yw_kv(w, "extract", pol.filter_extract);
        render__yw_map_end(w);
    }
    render__yw_str(w, "policy");
    render__yw_map_begin(w);
    if (pol.pinned) {
        /* The filter admits the one tag; any ordering then selects it. */
        render__yw_str(w, "alphabetical");
        render__yw_map_begin(w);
        render__yw_kv(w, "order", "asc");
        render__yw_map_end(w);
    } else {
        render__yw_str(w, "semver");
        render__yw_map_begin(w);
        render__yw_kv(w, "range", pol.semver_range);
        render__yw_map_end(w);
    }
    render__yw_map_end(w);
    render__yw_map_end(w);
    footer(w);

    if (present(s->ansible_artifact)) {
        char aname[200], url[700];
        snprintf(aname, sizeof aname, "%s-ansible", name);
        split_ref(s->ansible_artifact, repo, sizeof repo, tag, sizeof tag, dig, sizeof dig);
        snprintf(url, sizeof url, "oci://%s", repo);
        header(w, API_SOURCE, "OCIRepository");
        metadata(w, e, aname, o->flux_namespace, s->name);
        render__yw_str(w, "spec");
        render__yw_map_begin(w);
        render__yw_kv(w, "url", url);
        render__yw_kv(w, "interval", o->interval);
        render__yw_str(w, "ref");
        render__yw_map_begin(w);
        /* The artifact's own tag or digest wins; otherwise it follows the
         * service's version like the image does. */
        if (dig[0])
            render__yw_kv(w, "digest", dig);
        else if (tag[0])
            render__yw_kv(w, "tag", tag);
        else if (pol.pinned)
            render__yw_kv(w, "tag", pol.tag);
        else
            render__yw_kv(w, "semver", pol.semver_range);
        render__yw_map_end(w);
        render__yw_map_end(w);
        footer(w);
    }
    return RENDER_OK;
}

static void doc_kustomization(render__yw *w, const render_set *docs)
{
    render__yw_doc_begin(w);
    render__yw_map_begin(w);
    render__yw_kv(w, "apiVersion", API_KUSTOMIZE);
    render__yw_kv(w, "kind", "Kustomization");
    render__yw_str(w, "resources");
    render__yw_seq_begin(w);
    for (size_t i = 0; i < docs->n; i++)
        render__yw_str(w, docs->docs[i].path);
    render__yw_seq_end(w);
    render__yw_map_end(w);
    render__yw_doc_end(w);
}

/* ---- the set ------------------------------------------------------------------------------ */

void render_set_init(render_set *s)
{
    s->docs = NULL;
    s->n = 0;
}

void render_set_dispose(render_set *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->docs[i].path);
        free(s->docs[i].data);
    }
    free(s->docs);
    s->docs = NULL;
    s->n = 0;
}

/* Append a document; takes data over (frees it on failure). */
static int add_doc(render_set *s, const char *path, char *data, size_t len)
{
    render_doc *nd = realloc(s->docs, (s->n + 1) * sizeof *nd);
    char       *p = strdup(path);

    if (nd)
        s->docs = nd;
    if (nd == NULL || p == NULL) {
        free(p);
        free(data);
        return RENDER_ENOMEM;
    }
    s->docs[s->n].path = p;
    s->docs[s->n].data = data;
    s->docs[s->n].len = len;
    s->n++;
    return RENDER_OK;
}

typedef enum { D_CLUSTER, D_BINDINGS, D_DEDICATED, D_WAF, D_SERVICE, D_KUSTOMIZATION } doc_kind;

static int render_one(render_set *out, const char *path, doc_kind k, const render_env *e,
                      const render_profile *p, const render_options *o, const render_service *s,
                      const render_set *listing, ep_err *err)
{
    render__yw w;
    char      *data = NULL;
    size_t     len = 0;
    int        rc;

    rc = render__yw_init(&w);
    if (rc == RENDER_OK) {
        switch (k) {
        case D_CLUSTER: doc_cluster(&w, e, p, o); break;
        case D_BINDINGS: doc_bindings(&w, e, o); break;
        case D_DEDICATED: doc_dedicated(&w, e, p, o); break;
        case D_WAF: doc_waf(&w, e, o); break;
        case D_SERVICE: rc = doc_service(&w, e, s, o, err); break;
        case D_KUSTOMIZATION: doc_kustomization(&w, listing); break;
        }
    }
    if (rc == RENDER_OK)
        rc = render__yw_finish(&w, &data, &len);
    render__yw_dispose(&w);
    if (rc == RENDER_ENOMEM)
        return ep_err_set(err, rc, "rendering %s: out of memory", path);
    if (rc == RENDER_EYAML)
        return ep_err_set(err, rc, "rendering %s: YAML emitter failed", path);
    if (rc != RENDER_OK)
        return rc;   /* err already says which service */
    return add_doc(out, path, data, len) == RENDER_OK ? RENDER_OK
                                                       : ep_err_set(err, RENDER_ENOMEM, "rendering %s: out of memory", path);
}

static int cmp_doc(const void *a, const void *b)
{
    return strcmp(((const render_doc *)a)->path, ((const render_doc *)b)->path);
}

int render_environment(const render_env *env, const render_options *opt, render_set *out, ep_err *err)
{
    render_options        o = { 0 };
    const render_profile *p;
    render_set            body, all;
    int                   rc = RENDER_OK;

    render_set_dispose(out);
    render_set_init(&body);
    render_set_init(&all);
    if (opt)
        o = *opt;
    if (!present(o.image_registry)) o.image_registry = "artifactory/docker-releases";
    if (!present(o.flux_namespace)) o.flux_namespace = "flux-system";
    if (!present(o.interval)) o.interval = "5m";
    if (!present(o.claims_namespace)) o.claims_namespace = "envplane-system";

    if (env == NULL || !is_label(env->name))
        return ep_err_set(err, RENDER_EINVAL, "environment name \"%s\" is not a DNS-1123 label",
                          env && env->name ? env->name : "");
    p = render_profile_for(env->type);
    if (p == NULL)
        return ep_err_set(err, RENDER_EINVAL, "environment %s: unknown environment type %d", env->name, (int)env->type);
    for (size_t i = 0; i < env->n_services; i++)
        if (!is_label(env->services[i].name))
            return ep_err_set(err, RENDER_EINVAL, "environment %s: service name \"%s\" is not a DNS-1123 label",
                              env->name, env->services[i].name ? env->services[i].name : "");

    rc = render_one(&body, "cluster-claim.yaml", D_CLUSTER, env, p, &o, NULL, NULL, err);
    if (rc == RENDER_OK && p->shared_platform)
        rc = render_one(&body, "platform-bindings.yaml", D_BINDINGS, env, p, &o, NULL, NULL, err);
    if (rc == RENDER_OK && !p->shared_platform)
        rc = render_one(&body, "dedicated-stack.yaml", D_DEDICATED, env, p, &o, NULL, NULL, err);
    if (rc == RENDER_OK && !p->shared_platform)
        rc = render_one(&body, "cloudflare-waf.yaml", D_WAF, env, p, &o, NULL, NULL, err);
    for (size_t i = 0; rc == RENDER_OK && i < env->n_services; i++) {
        char path[128];
        snprintf(path, sizeof path, "services/%s.yaml", env->services[i].name);
        rc = render_one(&body, path, D_SERVICE, env, p, &o, &env->services[i], NULL, err);
    }
    if (rc != RENDER_OK)
        goto out;
    qsort(body.docs, body.n, sizeof *body.docs, cmp_doc);
    rc = render_one(&all, "kustomization.yaml", D_KUSTOMIZATION, env, p, &o, NULL, &body, err);
    if (rc != RENDER_OK)
        goto out;
    /* The kustomization read body's paths; now move body's documents behind it. */
    {
        render_doc *nd = realloc(all.docs, (all.n + body.n) * sizeof *nd);
        if (nd == NULL) {
            rc = ep_err_set(err, RENDER_ENOMEM, "rendering %s: out of memory", env->name);
            goto out;
        }
        all.docs = nd;
        memcpy(all.docs + all.n, body.docs, body.n * sizeof *body.docs);
        all.n += body.n;
        free(body.docs);
        render_set_init(&body);
    }
    *out = all;
    render_set_init(&all);
out:
    render_set_dispose(&body);
    render_set_dispose(&all);
    return rc;
}
