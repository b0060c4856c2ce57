/*
 * render: claim version strings -> Flux ImagePolicy settings.
 *
 * Flux's image-reflector orders tags with Masterminds/semver, which knows
 * three numeric parts, an optional "v" and prereleases, and evaluates a
 * range where a comma or a blank means AND.  The claim grammar
 * (docs/claims.md) is wider: four-part versions, x-patterns, anchored tags
 * that are not versions at all.  The mapping below states each constraint
 * as a semver range where it can, and otherwise narrows or rewrites the
 * tags first with filterTags (a Go regexp and an extract template), so the
 * range still sees three parts.  What that cannot express — the fourth part
 * of a version — is said in `note` and ends up in an annotation.
 */
#include "render/render.h"

#include <stdio.h>
#include <string.h>

#define FOUR_PART_PATTERN "^[vV]?(?P<v>[0-9]+\\.[0-9]+\\.[0-9]+)\\.[0-9]+$"
#define FOUR_PART_NOTE "four-part versions: Flux orders the first three parts; the fourth is neither bounded nor ordered"

/* "M.m.p[-pre]" of the first three parts. */
static void sv3(const claim_semver *v, char *out, size_t n)
{
    if (v->pre[0])
        snprintf(out, n, "%llu.%llu.%llu-%s", (unsigned long long)v->part[0], (unsigned long long)v->part[1],
                 (unsigned long long)v->part[2], v->pre);
    else
        snprintf(out, n, "%llu.%llu.%llu", (unsigned long long)v->part[0], (unsigned long long)v->part[1],
                 (unsigned long long)v->part[2]);
}

/* Escape s for a Go regexp (RE2 syntax). */
static void re_escape(const char *s, char *out, size_t n)
{
    size_t j = 0;

    for (; *s && j + 3 < n; s++) {
        if (strchr("\\.+*?()|[]{}^$", *s))
            out[j++] = '\\';
        out[j++] = *s;
    }
    out[j] = '\0';
}

/* ">=lo <hi" where hi is lo with part `bump` incremented and the later
 * parts zeroed; without an upper bound when the part cannot grow.  A
 * prerelease lower bound opens the range to prereleases in Masterminds'
 * semantics, so the upper bound then excludes the next version's own
 * prereleases with "-0". */
static void bounded(const claim_semver *lo, int bump, char *out, size_t n)
{
    claim_semver hi;
    char         a[300], b[80];

    sv3(lo, a, sizeof a);
    if (lo->part[bump] == UINT64_MAX) {
        snprintf(out, n, ">=%s", a);
        return;
    }
    memset(&hi, 0, sizeof hi);
    for (int i = 0; i < bump; i++)
        hi.part[i] = lo->part[i];
    hi.part[bump] = lo->part[bump] + 1;
    sv3(&hi, b, sizeof b);
    snprintf(out, n, ">=%s, <%s%s", a, b, lo->pre[0] ? "-0" : "");
}

static void four_part(render_policy *out)
{
    snprintf(out->filter_pattern, sizeof out->filter_pattern, "%s", FOUR_PART_PATTERN);
    snprintf(out->filter_extract, sizeof out->filter_extract, "$v");
    snprintf(out->note, sizeof out->note, "%s", FOUR_PART_NOTE);
}

static const char *op_str(claim_op op)
{
    switch (op) {
    case CLAIM_OP_EQ: return "=";
    case CLAIM_OP_NE: return "!=";
    case CLAIM_OP_GT: return ">";
    case CLAIM_OP_GE: return ">=";
    case CLAIM_OP_LT: return "<";
    case CLAIM_OP_LE: return "<=";
    }
    return "=";
}

static void map_pattern(const claim_version_constraint *vc, render_policy *out)
{
    char   re[512];
    size_t j = 0;
    claim_semver lo;

    /* The filter admits exactly the pattern's number of positions; the
     * range then only repeats the fixed parts, so the two agree. */
    j += (size_t)snprintf(re + j, sizeof re - j, "^[vV]?%s", vc->base.nparts == 3 ? "" : "(?P<v>");
    for (int i = 0; i < vc->base.nparts && i < 3 && j < sizeof re; i++) {
        if (i > 0)
            j += (size_t)snprintf(re + j, sizeof re - j, "\\.");
        if (i < vc->fixed)
            j += (size_t)snprintf(re + j, sizeof re - j, "%llu", (unsigned long long)vc->base.part[i]);
        else
            j += (size_t)snprintf(re + j, sizeof re - j, "[0-9]+");
    }
    if (j < sizeof re)
        snprintf(re + j, sizeof re - j, "%s%s", vc->base.nparts == 3 ? "" : ")",
                 vc->base.nparts == 4 ? "\\.[0-9]+$" : "$");
    snprintf(out->filter_pattern, sizeof out->filter_pattern, "%s", re);
    if (vc->base.nparts == 2)
        snprintf(out->filter_extract, sizeof out->filter_extract, "$v.0");
    else if (vc->base.nparts == 4) {
        snprintf(out->filter_extract, sizeof out->filter_extract, "$v");
        snprintf(out->note, sizeof out->note, "%s", FOUR_PART_NOTE);
    }
    memset(&lo, 0, sizeof lo);
    for (int i = 0; i < vc->fixed && i < 3; i++)
        lo.part[i] = vc->base.part[i];
    bounded(&lo, vc->fixed - 1 < 2 ? vc->fixed - 1 : 2, out->semver_range, sizeof out->semver_range);
}

int render_policy_from_version(const char *version, render_policy *out, ep_err *err)
{
    claim_version_constraint vc;
    ep_err e = { 0 };
    int    four = 0;

    memset(out, 0, sizeof *out);
    if (version == NULL || claim_version_parse(version, &vc, &e) != CLAIM_OK)
        return ep_err_set(err, RENDER_EVERSION, "version \"%s\": %s", version ? version : "", version ? e.msg : "missing");
    out->kind = vc.kind;
    switch (vc.kind) {
    case CLAIM_KIND_TAG: {
        char esc[2 * CLAIM_MAX_VERSION + 1];
        /* An anchored tag is a policy that admits one tag and nothing else. */
        out->pinned = 1;
        snprintf(out->tag, sizeof out->tag, "%s", vc.tag);
        re_escape(vc.tag, esc, sizeof esc);
        snprintf(out->filter_pattern, sizeof out->filter_pattern, "^%s$", esc);
        break;
    }
    case CLAIM_KIND_CARET:
        bounded(&vc.base, 0, out->semver_range, sizeof out->semver_range);
        four = vc.base.nparts == 4;
        break;
    case CLAIM_KIND_TILDE:
        /* "same major.minor" with missing parts read as 0: ~1 is ~1.0. */
        bounded(&vc.base, 1, out->semver_range, sizeof out->semver_range);
        four = vc.base.nparts == 4;
        break;
    case CLAIM_KIND_PATTERN:
        map_pattern(&vc, out);
        break;
    case CLAIM_KIND_RANGE: {
        size_t j = 0;
        for (size_t i = 0; i < vc.n_cmp; i++) {
            char v[300];
            sv3(&vc.cmp[i].v, v, sizeof v);
            j += (size_t)snprintf(out->semver_range + j, sizeof out->semver_range - j, "%s%s%s",
                                  i ? ", " : "", op_str(vc.cmp[i].op), v);
            if (j >= sizeof out->semver_range)
                return ep_err_set(err, RENDER_EVERSION, "version \"%s\": range too long", version);
            if (vc.cmp[i].v.nparts == 4)
                four = 1;
        }
        break;
    }
    case CLAIM_KIND_LATEST:
        /* The newest released version; prereleases and non-semver tags
         * (dev-snapshot) are never "latest". */
        snprintf(out->semver_range, sizeof out->semver_range, ">=0.0.0");
        break;
    default:
        return ep_err_set(err, RENDER_EVERSION, "version \"%s\": unknown constraint kind", version);
    }
    if (four)
        four_part(out);
    return RENDER_OK;
}
