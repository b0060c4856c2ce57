/*
 * render: the desired state of one environment as YAML documents that
 * Crossplane and Flux apply.
 *
 * The provisioner feeds a claim generation in and gets a set of documents
 * back (path relative to the environment's prefix in the state bucket, and
 * bytes).  Nothing here does I/O or keeps global state: the same input
 * always gives the same bytes, which is what makes re-rendering after a
 * crash or a redelivery harmless and lets the tests compare against golden
 * files.  The document set for an environment is:
 *
 *   kustomization.yaml        kustomize.config.k8s.io/v1beta1 Kustomization
 *                             listing every other document
 *   cluster-claim.yaml        EnvironmentCluster (platform.envplane.io/v1alpha1),
 *                             a Crossplane claim: node pools, HA, autoscaling
 *                             by environment type
 *   platform-bindings.yaml    dev/sue: PlatformBinding per shared platform
 *                             service (logging, monitoring, Kong, OPAL/Cedar)
 *   dedicated-stack.yaml      staging/prod: DedicatedComponent per component
 *   cloudflare-waf.yaml       staging/prod: CloudflareWAF
 *   services/<svc>.yaml       Flux ImageRepository + ImagePolicy
 *                             (image.toolkit.fluxcd.io/v1beta2), plus an
 *                             OCIRepository when the service names an
 *                             ansible artifact
 *
 * YAML is emitted with libyaml, so quoting is the emitter's business and
 * every document parses back.  docs/provisioner.md shows the documents and
 * explains how version constraints become image policies.
 */
#ifndef EP_RENDER_H
#define EP_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include "claim/claim.h"
#include "err/err.h"

#define RENDER_STATUS_MAP(X)                                                  \
    X(RENDER_OK, "ok")                                   /* success */        \
    X(RENDER_ENOMEM, "out of memory")                    /* allocation */     \
    X(RENDER_EINVAL, "invalid input")                    /* bad name/type */  \
    X(RENDER_EVERSION, "version cannot be mapped")       /* constraint */     \
    X(RENDER_EYAML, "YAML emitter failed")               /* libyaml error */

typedef enum {
#define RENDER_ENUM(name, str) name,
    RENDER_STATUS_MAP(RENDER_ENUM)
#undef RENDER_ENUM
} render_status;

/* Static string for a render_status ("unknown status" otherwise). */
const char *render_strstatus(int status);

/* ---- input ------------------------------------------------------------------ */

/* All strings borrowed; NULL or "" means absent. */
typedef struct render_service {
    const char *name;              /* DNS-1123 label */
    const char *version;           /* as in the claim: tag or constraint */
    const char *docker_image;      /* "repo/path[:tag|@digest]", optional */
    const char *ansible_artifact;  /* OCI reference, optional */
} render_service;

typedef struct render_env {
    const char     *name;          /* environment name, DNS-1123 label */
    claim_env_type  type;          /* dev, staging, prod or sue */
    uint64_t        generation;    /* claim generation (an annotation) */
    const char     *user;          /* owner, optional */
    const char     *pool;          /* environment pool, optional */
    const char     *content_hash;  /* claim content hash, optional */
    const render_service *services;  /* borrowed, n_services entries */
    size_t          n_services;
} render_env;

typedef struct render_options {
    /* Image repository prefix for services without docker_image; the
     * repository becomes "<prefix>/<service>".  NULL: "artifactory/docker-releases". */
    const char *image_registry;
    /* Namespace of the Flux objects.  NULL: "flux-system". */
    const char *flux_namespace;
    /* Scan interval of ImageRepository/OCIRepository.  NULL: "5m". */
    const char *interval;
    /* Namespace of the Crossplane claims.  NULL: "envplane-system". */
    const char *claims_namespace;
} render_options;

/* ---- output ----------------------------------------------------------------- */

typedef struct render_doc {
    char  *path;   /* relative, e.g. "services/user-service.yaml" */
    char  *data;   /* YAML, NUL-terminated */
    size_t len;
} render_doc;

/* Embedded: render_set_init() before use, render_set_dispose() after. */
typedef struct render_set {
    render_doc *docs;   /* kustomization.yaml first, the rest sorted by path */
    size_t      n;
} render_set;

void render_set_init(render_set *s);
void render_set_dispose(render_set *s);   /* accepts NULL */

/* Render every document of env into out (which must be initialised and is
 * emptied first).  opt may be NULL.  Returns RENDER_OK, or a status with err
 * naming the service or field; out is then empty. */
int render_environment(const render_env *env, const render_options *opt, render_set *out, ep_err *err);

/* ---- version constraints -> Flux image policies ------------------------------ */

/* How a version string of a claim is expressed for Flux (docs/provisioner.md
 * has the table).  Exactly one of pinned / semver_range is set; filter_* are
 * optional and restrict or rewrite the tags the policy considers. */
typedef struct render_policy {
    claim_constraint_kind kind;  /* from claim_version_parse */
    int  pinned;                 /* anchored tag: select exactly `tag` */
    char tag[CLAIM_MAX_VERSION];
    char semver_range[512];      /* Masterminds/semver range, e.g. ">=1.2.0, <2.0.0" */
    char filter_pattern[768];    /* Go regexp on tags, "" when none */
    char filter_extract[32];     /* replacement giving the value ordered, "" when none */
    char note[256];              /* what the mapping approximates, "" when exact */
} render_policy;

/* Map a claim version string onto a policy.  Returns RENDER_OK, or
 * RENDER_EVERSION with err saying why (the string is not a valid
 * constraint per claim_version_parse). */
int render_policy_from_version(const char *version, render_policy *out, ep_err *err);

/* The environment-type profile the cluster claim follows. */
typedef struct render_pool {
    const char *name;      /* "general-restricted", ... */
    int         min, max;  /* nodes */
    const char *capacity;  /* "on-demand" or "spot" */
    const char *taint_key; /* NULL: no taint */
    const char *taint_value;
    const char *taint_effect;
} render_pool;

typedef struct render_profile {
    const char        *scaling;       /* "aggressive", "moderate", "conservative" */
    int                ha;            /* control plane and zones spread */
    int                control_plane_replicas;
    int                zones;
    const char        *scale_down_unneeded;   /* cluster-autoscaler durations */
    const char        *scale_down_delay_after_add;
    int                scale_down_utilization_pct;
    int                shared_platform;        /* dev/sue bind to the platform cluster */
    const render_pool *pools;
    size_t             n_pools;
} render_profile;

/* The profile of an environment type, or NULL for UNSPECIFIED/unknown. */
const render_profile *render_profile_for(claim_env_type type);

#endif
