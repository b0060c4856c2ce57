/*
 * version.c: classify a service version string into a ConstraintKind.
 *
 * The grammar (docs/claims.md, "Version constraints") is small on purpose:
 * anchored tags (semver-like versions with one to four numeric parts, or any
 * OCI tag), caret and tilde constraints, wildcard patterns, comma-separated
 * comparator ranges and "latest".  The one judgement call is that a string
 * which starts like a version ("1.", "v2") but is not a well-formed one is an
 * error rather than an opaque OCI tag: "1..2" is far more likely a typo than
 * a tag somebody pushed, and an error now is cheaper than a deployment that
 * never resolves.  Nothing here allocates.
 */
#include "claim/claim_internal.h"

#include <stdio.h>
#include <string.h>

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_alnum(char c) { return is_digit(c) || is_alpha(c); }
static int is_blank(char c) { return c == ' ' || c == '\t'; }
static int is_wild(char c) { return c == 'x' || c == 'X' || c == '*'; }

/* OCI distribution spec tag grammar: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. */
static int is_oci_tag(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > 128 || !(is_alnum(s[0]) || s[0] == '_'))
        return 0;
    for (i = 1; i < n; i++)
        if (!(is_alnum(s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-'))
            return 0;
    return 1;
}

/* Dot-separated identifiers of [0-9A-Za-z-], none empty (semver 9 and 10;
 * leading zeros in numeric identifiers are tolerated). */
static int is_ident_list(const char *s, size_t n)
{
    size_t i, run = 0;

    if (n == 0)
        return 0;
    for (i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (run == 0)
                return 0;
            run = 0;
        } else if (is_alnum(s[i]) || s[i] == '-') {
            run++;
        } else {
            return 0;
        }
    }
    return run > 0;
}

/* Parse one unsigned decimal number at s[*i], advancing *i. */
static int parse_num(const char *s, size_t n, size_t *i, uint64_t *out,
                     char *why, size_t whylen)
{
    uint64_t v = 0;
    size_t start = *i;

    while (*i < n && is_digit(s[*i])) {
        uint64_t d = (uint64_t)(s[*i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            snprintf(why, whylen, "number too large");
            return -1;
        }
        v = v * 10 + d;
        (*i)++;
    }
    if (*i == start) {
        snprintf(why, whylen, "expected a number at offset %zu", start);
        return -1;
    }
    *out = v;
    return 0;
}

/*
 * Parse a version or, when allow_wild, a wildcard pattern:
 *   [v|V] N ("." (N | x | X | *)){0,3} ["-" pre] ["+" build]
 * Once a wildcard position appears every later position must be one, and a
 * pattern takes no prerelease or build suffix.  *fixed receives the number of
 * numeric leading positions (== nparts for a plain version).
 */
static int parse_semver(const char *s, size_t n, int allow_wild,
                        claim_semver *v, int *fixed, char *why, size_t whylen)
{
    size_t i = 0, j;
    int wild = 0;

    memset(v, 0, sizeof *v);
    *fixed = 0;
    if (i < n && (s[i] == 'v' || s[i] == 'V')) {
        v->has_v = 1;
        i++;
    }
    for (;;) {
        if (v->nparts == 4) {
            snprintf(why, whylen, "more than 4 numeric parts");
            return -1;
        }
        if (i < n && is_wild(s[i]) && v->nparts > 0) {
            if (!allow_wild) {
                snprintf(why, whylen, "wildcard '%c' not allowed here", s[i]);
                return -1;
            }
            wild = 1;
            i++;
            v->nparts++;
        } else if (i < n && is_digit(s[i])) {
            if (wild) {
                snprintf(why, whylen,
                         "a number may not follow a wildcard position");
                return -1;
            }
            if (parse_num(s, n, &i, &v->part[v->nparts], why, whylen) != 0)
                return -1;
            v->nparts++;
            (*fixed)++;
        } else if (i < n && s[i] == '.') {
            snprintf(why, whylen, "empty part at offset %zu", i);
            return -1;
        } else if (i >= n) {
            snprintf(why, whylen, v->nparts ? "ends with '.'" : "empty version");
            return -1;
        } else {
            snprintf(why, whylen, "unexpected '%c' at offset %zu", s[i], i);
            return -1;
        }
        if (i < n && s[i] == '.') {
            i++;
            continue;
        }
        break;
    }
    if (i < n && s[i] == '-') {
        j = ++i;
        while (i < n && s[i] != '+')
            i++;
        if (wild) {
            snprintf(why, whylen, "a wildcard pattern takes no prerelease");
            return -1;
        }
        if (!is_ident_list(s + j, i - j)) {
            snprintf(why, whylen, "malformed prerelease \"%.*s\"",
                     (int)(i - j > 40 ? 40 : i - j), s + j);
            return -1;
        }
        memcpy(v->pre, s + j, i - j);
        v->pre[i - j] = '\0';
    }
    if (i < n && s[i] == '+') {
        j = ++i;
        i = n;
        if (wild) {
            snprintf(why, whylen, "a wildcard pattern takes no build metadata");
            return -1;
        }
        if (!is_ident_list(s + j, i - j)) {
            snprintf(why, whylen, "malformed build metadata \"%.*s\"",
                     (int)(i - j > 40 ? 40 : i - j), s + j);
            return -1;
        }
        memcpy(v->build, s + j, i - j);
        v->build[i - j] = '\0';
    }
    if (i != n) {
        snprintf(why, whylen, "unexpected '%c' at offset %zu", s[i], i);
        return -1;
    }
    return 0;
}

/* Compare two numeric identifier strings of any length. */
static int cmp_numeric_ident(const char *a, size_t an, const char *b, size_t bn)
{
    int c;

    while (an > 1 && *a == '0') { a++; an--; }
    while (bn > 1 && *b == '0') { b++; bn--; }
    if (an != bn)
        return an < bn ? -1 : 1;
    c = memcmp(a, b, an);
    return c < 0 ? -1 : c > 0;
}

static int all_digits(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (!is_digit(s[i]))
            return 0;
    return n > 0;
}

/* Semver 11.4: identifiers compared left to right; numeric ones
 * numerically and below alphanumeric ones; a longer list wins a tie. */
static int cmp_pre(const char *a, const char *b)
{
    while (*a != '\0' && *b != '\0') {
        size_t an = strcspn(a, "."), bn = strcspn(b, ".");
        int ad = all_digits(a, an), bd = all_digits(b, bn), c;

        if (ad && bd) {
            c = cmp_numeric_ident(a, an, b, bn);
        } else if (ad != bd) {
            c = ad ? -1 : 1;
        } else {
            size_t m = an < bn ? an : bn;
            c = memcmp(a, b, m);
            c = c < 0 ? -1 : c > 0 ? 1 : an < bn ? -1 : an > bn;
        }
        if (c != 0)
            return c;
        a += an;
        b += bn;
        if (*a == '.')
            a++;
        if (*b == '.')
            b++;
    }
    if (*a == '\0' && *b == '\0')
        return 0;
    return *a == '\0' ? -1 : 1;
}

int claim_semver_compare(const claim_semver *a, const claim_semver *b)
{
    int i;

    for (i = 0; i < 4; i++)
        if (a->part[i] != b->part[i])
            return a->part[i] < b->part[i] ? -1 : 1;
    if (a->pre[0] == '\0' || b->pre[0] == '\0') {
        if (a->pre[0] == b->pre[0])
            return 0;
        return a->pre[0] == '\0' ? 1 : -1;
    }
    return cmp_pre(a->pre, b->pre);
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
    return "?";
}

/* A bound of the interval a range describes. */
typedef struct bound {
    const claim_comparator *c;   /* NULL: unbounded */
    int exclusive;
} bound;

/* Is there any version that satisfies every comparator?  The lower bound is
 * the largest of the >, >=, = versions, the upper the smallest of the <, <=,
 * = versions; the range is empty when they cross, meet at an excluded
 * point, or meet at a point a != removes.  On empty, names the two
 * comparators that clash. */
static int range_is_empty(const claim_version_constraint *vc, char *why, size_t whylen)
{
    bound lo = { NULL, 0 }, hi = { NULL, 0 };
    size_t i;
    int c;

    for (i = 0; i < vc->n_cmp; i++) {
        const claim_comparator *k = &vc->cmp[i];
        int excl = k->op == CLAIM_OP_GT || k->op == CLAIM_OP_LT;

        if (k->op == CLAIM_OP_GT || k->op == CLAIM_OP_GE || k->op == CLAIM_OP_EQ) {
            c = lo.c ? claim_semver_compare(&k->v, &lo.c->v) : 1;
            if (c > 0 || (c == 0 && excl && !lo.exclusive)) {
                lo.c = k;
                lo.exclusive = excl;
            }
        }
        if (k->op == CLAIM_OP_LT || k->op == CLAIM_OP_LE || k->op == CLAIM_OP_EQ) {
            c = hi.c ? claim_semver_compare(&k->v, &hi.c->v) : -1;
            if (c < 0 || (c == 0 && excl && !hi.exclusive)) {
                hi.c = k;
                hi.exclusive = excl;
            }
        }
    }
    if (lo.c == NULL || hi.c == NULL)
        return 0;
    c = claim_semver_compare(&lo.c->v, &hi.c->v);
    if (c > 0 || (c == 0 && (lo.exclusive || hi.exclusive))) {
        goto name_them;
    }
    if (c == 0) {
        for (i = 0; i < vc->n_cmp; i++) {
            if (vc->cmp[i].op == CLAIM_OP_NE &&
                claim_semver_compare(&vc->cmp[i].v, &lo.c->v) == 0) {
                snprintf(why, whylen, "empty range: the only version allowed is excluded by !=");
                return 1;
            }
        }
    }
    return 0;

name_them:
    /* Rewrite with the version numbers, which is what a person needs. */
    {
        char a[64], b[64];
        int k;
        int na = 0, nb = 0;

        for (k = 0; k < lo.c->v.nparts; k++)
            na += snprintf(a + na, sizeof a - (size_t)na, "%s%llu", k ? "." : "",
                           (unsigned long long)lo.c->v.part[k]);
        for (k = 0; k < hi.c->v.nparts; k++)
            nb += snprintf(b + nb, sizeof b - (size_t)nb, "%s%llu", k ? "." : "",
                           (unsigned long long)hi.c->v.part[k]);
        snprintf(why, whylen, "empty range: no version is both %s%s%s%.40s and %s%s%s%.40s",
                 op_str(lo.c->op), a, lo.c->v.pre[0] ? "-" : "", lo.c->v.pre,
                 op_str(hi.c->op), b, hi.c->v.pre[0] ? "-" : "", hi.c->v.pre);
    }
    return 1;
}

static int parse_range(const char *s, size_t n, claim_version_constraint *vc,
                       char *why, size_t whylen)
{
    size_t i = 0;

    if (memmem(s, n, "||", 2) != NULL) {
        snprintf(why, whylen, "alternatives (||) are not supported; use one range");
        return -1;
    }
    for (;;) {
        size_t end = i, a, b;
        claim_comparator *k;
        int fixed;
        char sub[160];

        while (end < n && s[end] != ',')
            end++;
        a = i;
        b = end;
        while (a < b && is_blank(s[a])) a++;
        while (b > a && is_blank(s[b - 1])) b--;
        if (a == b) {
            snprintf(why, whylen, "empty comparator %s",
                     end == n ? "after the last ','" : "before a ','");
            return -1;
        }
        if (vc->n_cmp == CLAIM_MAX_COMPARATORS) {
            snprintf(why, whylen, "more than %d comparators", CLAIM_MAX_COMPARATORS);
            return -1;
        }
        k = &vc->cmp[vc->n_cmp];
        if (b - a >= 2 && s[a] == '>' && s[a + 1] == '=') { k->op = CLAIM_OP_GE; a += 2; }
        else if (b - a >= 2 && s[a] == '<' && s[a + 1] == '=') { k->op = CLAIM_OP_LE; a += 2; }
        else if (b - a >= 2 && s[a] == '!' && s[a + 1] == '=') { k->op = CLAIM_OP_NE; a += 2; }
        else if (s[a] == '>') { k->op = CLAIM_OP_GT; a++; }
        else if (s[a] == '<') { k->op = CLAIM_OP_LT; a++; }
        else if (s[a] == '=') { k->op = CLAIM_OP_EQ; a++; }
        else {
            snprintf(why, whylen, "comparator %zu has no operator (>=, >, <=, <, =, !=)",
                     vc->n_cmp + 1);
            return -1;
        }
        while (a < b && is_blank(s[a]))
            a++;
        if (a < b && (s[a] == '=' || s[a] == '<' || s[a] == '>' || s[a] == '!')) {
            snprintf(why, whylen, "comparator %zu: unknown operator", vc->n_cmp + 1);
            return -1;
        }
        if (parse_semver(s + a, b - a, 0, &k->v, &fixed, sub, sizeof sub) != 0) {
            snprintf(why, whylen, "comparator %zu (%s): %s", vc->n_cmp + 1,
                     op_str(k->op), sub);
            return -1;
        }
        vc->n_cmp++;
        if (end == n)
            break;
        i = end + 1;
    }
    return range_is_empty(vc, why, whylen) ? -1 : 0;
}

static int only_wild_and_dots(const char *s, size_t n)
{
    size_t i;
    int dot = 0;

    for (i = 0; i < n; i++) {
        if (s[i] == '.')
            dot = 1;
        else if (!is_wild(s[i]))
            return 0;
    }
    return dot;
}

int claim_version_parse(const char *s, claim_version_constraint *out, ep_err *err)
{
    char why[320];
    size_t n;
    int fixed;

    if (s == NULL || out == NULL)
        return ep_err_set(err, CLAIM_EARG, "claim_version_parse: NULL argument");
    memset(out, 0, sizeof *out);
    while (is_blank(*s))
        s++;
    n = strlen(s);
    while (n > 0 && is_blank(s[n - 1]))
        n--;
    if (n == 0)
        return ep_err_set(err, CLAIM_EVERSION, "empty version");
    if (n >= CLAIM_MAX_VERSION)
        return ep_err_set(err, CLAIM_EVERSION, "version longer than %d bytes",
                          CLAIM_MAX_VERSION - 1);
    memcpy(out->tag, s, n);
    out->tag[n] = '\0';

    if ((n == 1 && s[0] == '*') || (n == 6 && memcmp(s, "latest", 6) == 0)) {
        out->kind = CLAIM_KIND_LATEST;
        return CLAIM_OK;
    }
    if (s[0] == '^' || s[0] == '~') {
        if (parse_semver(s + 1, n - 1, 0, &out->base, &fixed, why, sizeof why) != 0)
            return ep_err_set(err, CLAIM_EVERSION, "%s constraint \"%s\": %s",
                              s[0] == '^' ? "caret" : "tilde", out->tag, why);
        out->kind = s[0] == '^' ? CLAIM_KIND_CARET : CLAIM_KIND_TILDE;
        return CLAIM_OK;
    }
    /* No tag or version contains these, so whatever holds one is meant as a
     * range, and the range parser gives the most useful message. */
    if (strpbrk(out->tag, "<>=!,|") != NULL) {
        if (parse_range(s, n, out, why, sizeof why) != 0) {
            out->n_cmp = 0;
            return ep_err_set(err, CLAIM_EVERSION, "range \"%s\": %s", out->tag, why);
        }
        out->kind = CLAIM_KIND_RANGE;
        return CLAIM_OK;
    }
    if (is_digit(s[0]) || ((s[0] == 'v' || s[0] == 'V') && n > 1 && is_digit(s[1]))) {
        if (parse_semver(s, n, 1, &out->base, &fixed, why, sizeof why) == 0) {
            if (fixed < out->base.nparts) {
                out->kind = CLAIM_KIND_PATTERN;
                out->fixed = fixed;
            } else {
                out->kind = CLAIM_KIND_TAG;
                out->is_semver = 1;
            }
            return CLAIM_OK;
        }
        /* "20240115_abc" is a fine tag; "1..2" or "1.x.y" is a typo. */
        if (memchr(s, '.', n) == NULL && is_oci_tag(s, n)) {
            memset(&out->base, 0, sizeof out->base);
            out->kind = CLAIM_KIND_TAG;
            return CLAIM_OK;
        }
        return ep_err_set(err, CLAIM_EVERSION, "version \"%s\": %s", out->tag, why);
    }
    if (only_wild_and_dots(s, n))
        return ep_err_set(err, CLAIM_EVERSION,
                          "pattern \"%s\" needs a fixed major version (use \"*\" for latest)",
                          out->tag);
    if (is_oci_tag(s, n)) {
        out->kind = CLAIM_KIND_TAG;
        return CLAIM_OK;
    }
    return ep_err_set(err, CLAIM_EVERSION,
                      "\"%s\" is neither a version constraint nor an OCI tag "
                      "([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})", out->tag);
}
