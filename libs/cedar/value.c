/*
 * Values: the arena every cedar object allocates from, string and uid
 * hashing, structural equality, records, the JSON value format with its
 * __entity and __extn escapes, and the parsers of the extension types
 * (ipaddr, decimal, datetime, duration) whose rules follow the Cedar
 * reference to the letter: what it rejects, we reject.
 */
#include <stdio.h>
#include <stdlib.h>
#include "cedar/cedar_internal.h"

/* ---- arena ---------------------------------------------------------------- */
void *cedar__alloc(cedar__arena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    cedar__chunk *c = a->head;
    if (!c || c->size - c->used < n) {
        size_t sz = c ? c->size * 2 : 4096;
        if (sz > (1u << 20)) sz = 1u << 20;
        if (sz < n) sz = n;
        cedar__chunk *nc = malloc(sizeof *nc + sz);
        if (!nc) return NULL;
        nc->size = sz;
        nc->used = 0;
        nc->next = c;
        a->head = c = nc;
    }
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

char *cedar__strndup(cedar__arena *a, const char *s, size_t n) {
    char *p = cedar__alloc(a, n + 1);
    if (p) { memcpy(p, s, n); p[n] = 0; }
    return p;
}

void cedar__arena_reset(cedar__arena *a) {
    /* Keep the largest chunk so a warmed-up context stops allocating. */
    cedar__chunk *keep = NULL;
    for (cedar__chunk *c = a->head; c; c = c->next)
        if (!keep || c->size > keep->size) keep = c;
    cedar__chunk *c = a->head;
    while (c) {
        cedar__chunk *nx = c->next;
        if (c != keep) free(c);
        c = nx;
    }
    if (keep) { keep->used = 0; keep->next = NULL; }
    a->head = keep;
}

void cedar__arena_free(cedar__arena *a) {
    cedar__chunk *c = a->head;
    while (c) { cedar__chunk *nx = c->next; free(c); c = nx; }
    a->head = NULL;
}

/* ---- hashing ----------------------------------------------------------------- */
uint32_t cedar__hash(const char *p, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) { h ^= (unsigned char)p[i]; h *= 16777619u; }
    return h;
}

void cedar__uid_init(cedar__uid *u, const char *t, size_t tn, const char *id,
                     size_t idn) {
    u->type.p = t; u->type.n = (uint32_t)tn; u->type.h = cedar__hash(t, tn);
    u->id.p = id; u->id.n = (uint32_t)idn; u->id.h = cedar__hash(id, idn);
    u->h = u->type.h * 31u + u->id.h * 0x9e3779b1u;
}

/* ---- equality and records ------------------------------------------------------- */
int cedar__str_cmp(const cedar__str *a, const cedar__str *b) {
    if (a->n != b->n) return a->n < b->n ? -1 : 1;
    return memcmp(a->p, b->p, a->n);
}

static bool set_has(const cedar__set *s, const cedar__val *v) {
    for (uint32_t i = 0; i < s->n; i++)
        if (cedar__val_eq(&s->v[i], v)) return true;
    return false;
}

bool cedar__val_eq(const cedar__val *a, const cedar__val *b) {
    if (a->k != b->k) return false;
    switch (a->k) {
    case CV_BOOL: return a->u.b == b->u.b;
    case CV_LONG: case CV_DECIMAL: case CV_DATETIME: case CV_DURATION:
        return a->u.i == b->u.i;
    case CV_STRING: return a->u.s->n == b->u.s->n &&
                           memcmp(a->u.s->p, b->u.s->p, a->u.s->n) == 0;
    case CV_ENTITY: return cedar__uid_eq(a->u.e, b->u.e);
    case CV_IP:
        return a->u.ip->v6 == b->u.ip->v6 && a->u.ip->prefix == b->u.ip->prefix &&
               memcmp(a->u.ip->addr, b->u.ip->addr, 16) == 0;
    case CV_SET:
        for (uint32_t i = 0; i < a->u.set->n; i++)
            if (!set_has(b->u.set, &a->u.set->v[i])) return false;
        for (uint32_t i = 0; i < b->u.set->n; i++)
            if (!set_has(a->u.set, &b->u.set->v[i])) return false;
        return true;
    case CV_RECORD:
        if (a->u.rec->n != b->u.rec->n) return false;
        for (uint32_t i = 0; i < a->u.rec->n; i++)
            if (cedar__str_cmp(&a->u.rec->keys[i], &b->u.rec->keys[i]) ||
                !cedar__val_eq(&a->u.rec->vals[i], &b->u.rec->vals[i]))
                return false;
        return true;
    }
    return false;
}

const cedar__val *cedar__rec_get(const cedar__rec *r, const char *k, uint32_t n,
                                 uint32_t h) {
    if (r->n <= 8) {
        /* Small records: compare hashes first, bytes only on a hash match. */
        for (uint32_t i = 0; i < r->n; i++)
            if (r->keys[i].h == h && r->keys[i].n == n && memcmp(r->keys[i].p, k, n) == 0)
                return &r->vals[i];
        return NULL;
    }
    cedar__str key = { k, n, h };
    uint32_t lo = 0, hi = r->n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        int c = cedar__str_cmp(&r->keys[mid], &key);
        if (c == 0) return &r->vals[mid];
        if (c < 0) lo = mid + 1; else hi = mid;
    }
    return NULL;
}

bool cedar__rec_sort(cedar__rec *r) {
    /* Insertion sort: records are small and usually arrive nearly sorted. */
    for (uint32_t i = 1; i < r->n; i++) {
        cedar__str k = r->keys[i];
        cedar__val v = r->vals[i];
        uint32_t j = i;
        while (j > 0 && cedar__str_cmp(&r->keys[j - 1], &k) > 0) {
            r->keys[j] = r->keys[j - 1];
            r->vals[j] = r->vals[j - 1];
            j--;
        }
        r->keys[j] = k;
        r->vals[j] = v;
    }
    for (uint32_t i = 1; i < r->n; i++)
        if (cedar__str_cmp(&r->keys[i - 1], &r->keys[i]) == 0) return false;
    return true;
}

/* ---- extension parsers -------------------------------------------------------- */
static int dec_num(const char *s, size_t n, size_t *i, unsigned max, unsigned *out) {
    /* Decimal number without leading zeros, at most max. */
    size_t st = *i;
    unsigned v = 0;
    while (*i < n && s[*i] >= '0' && s[*i] <= '9') {
        v = v * 10 + (unsigned)(s[*i] - '0');
        if (v > max) return -1;
        (*i)++;
    }
    if (*i == st) return -1;
    if (*i - st > 1 && s[st] == '0') return -1;
    *out = v;
    return 0;
}

static bool ipv4_parse(const char *s, size_t n, uint8_t *a) {
    size_t i = 0;
    for (int k = 0; k < 4; k++) {
        unsigned v;
        if (k && (i >= n || s[i++] != '.')) return false;
        if (dec_num(s, n, &i, 255, &v)) return false;
        a[k] = (uint8_t)v;
    }
    return i == n;
}

static int hexv(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool ipv6_parse(const char *s, size_t n, uint8_t *a) {
    uint16_t head[8], tail[8];
    int nh = 0, nt = 0, gap = 0;
    size_t i = 0;
    if (n >= 2 && s[0] == ':' && s[1] == ':') { gap = 1; i = 2; }
    else if (n >= 1 && s[0] == ':') return false;
    while (i < n) {
        int d = 0; unsigned v = 0;
        while (i < n && d < 5 && hexv(s[i]) >= 0) { v = v * 16 + (unsigned)hexv(s[i]); i++; d++; }
        if (d == 0 || d > 4) return false;
        if (gap) { if (nt >= 8) return false; tail[nt++] = (uint16_t)v; }
        else { if (nh >= 8) return false; head[nh++] = (uint16_t)v; }
        if (i == n) break;
        if (s[i] != ':') return false;
        i++;
        if (i < n && s[i] == ':') {
            if (gap) return false;
            gap = 1; i++;
            if (i == n) break;
        } else if (i == n) return false;
    }
    if (gap ? nh + nt > 7 : nh != 8) return false;
    memset(a, 0, 16);
    for (int k = 0; k < nh; k++) { a[2 * k] = head[k] >> 8; a[2 * k + 1] = head[k] & 255; }
    for (int k = 0; k < nt; k++) {
        int pos = 8 - nt + k;
        a[2 * pos] = tail[k] >> 8; a[2 * pos + 1] = tail[k] & 255;
    }
    return true;
}

bool cedar__ip_parse(const char *s, size_t n, cedar__ip *out) {
    size_t slash = n;
    for (size_t i = 0; i < n; i++) if (s[i] == '/') { slash = i; break; }
    memset(out, 0, sizeof *out);
    bool v6 = memchr(s, ':', slash) != NULL;
    if (v6) {
        if (memchr(s, '.', slash)) return false;   /* no embedded IPv4 */
        if (!ipv6_parse(s, slash, out->addr)) return false;
    } else {
        if (!ipv4_parse(s, slash, out->addr)) return false;
    }
    out->v6 = v6;
    unsigned max = v6 ? 128 : 32, pre = max;
    if (slash < n) {
        size_t i = slash + 1;
        if (dec_num(s, n, &i, max, &pre) || i != n) return false;
    }
    out->prefix = (uint8_t)pre;
    return true;
}

bool cedar__decimal_parse(const char *s, size_t n, int64_t *out, const char **why) {
    size_t i = 0;
    bool neg = false;
    *why = "is not a well-formed decimal value";
    if (i < n && s[i] == '-') { neg = true; i++; }
    size_t st = i;
    uint64_t mag = 0;
    bool ovf = false;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        if (mag > (UINT64_MAX - 9) / 10) ovf = true;
        else mag = mag * 10 + (uint64_t)(s[i] - '0');
        i++;
    }
    if (i == st || i >= n || s[i] != '.') return false;
    i++;
    size_t fs = i;
    uint64_t frac = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9') { frac = frac * 10 + (uint64_t)(s[i] - '0'); i++; if (i - fs > 4) break; }
    if (i == fs) return false;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    if (i != n) return false;
    if (i - fs > 4) { *why = "has too many digits after the decimal"; return false; }
    for (size_t k = i - fs; k < 4; k++) frac *= 10;
    *why = "overflows the decimal range";
    if (ovf || mag > UINT64_MAX / 10000) return false;
    uint64_t tot = mag * 10000 + frac;
    if (tot < mag * 10000) return false;
    if (neg) {
        if (tot > (uint64_t)INT64_MAX + 1) return false;
        *out = tot == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)tot;
    } else {
        if (tot > (uint64_t)INT64_MAX) return false;
        *out = (int64_t)tot;
    }
    return true;
}

static int digits(const char *s, size_t n, size_t *i, int k, int *out) {
    int v = 0;
    for (int d = 0; d < k; d++) {
        if (*i >= n || s[*i] < '0' || s[*i] > '9') return -1;
        v = v * 10 + (s[(*i)++] - '0');
    }
    *out = v;
    return 0;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

bool cedar__datetime_parse(const char *s, size_t n, int64_t *out) {
    size_t i = 0;
    int y, mo, d, h = 0, mi = 0, se = 0, ms = 0, oh = 0, om = 0, sign = 0;
    if (digits(s, n, &i, 4, &y) || i >= n || s[i++] != '-' ||
        digits(s, n, &i, 2, &mo) || i >= n || s[i++] != '-' ||
        digits(s, n, &i, 2, &d))
        return false;
    if (i < n) {
        if (s[i++] != 'T' || digits(s, n, &i, 2, &h) || i >= n || s[i++] != ':' ||
            digits(s, n, &i, 2, &mi) || i >= n || s[i++] != ':' ||
            digits(s, n, &i, 2, &se))
            return false;
        if (i < n && s[i] == '.') { i++; if (digits(s, n, &i, 3, &ms)) return false; }
        if (i >= n) return false;
        if (s[i] == 'Z') i++;
        else if (s[i] == '+' || s[i] == '-') {
            sign = s[i++] == '+' ? 1 : -1;
            if (digits(s, n, &i, 2, &oh) || digits(s, n, &i, 2, &om)) return false;
        } else return false;
        if (i != n) return false;
    }
    static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (mo < 1 || mo > 12 || d < 1) return false;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[mo - 1] + (mo == 2 && leap)) return false;
    if (h > 23 || mi > 59 || se > 59 || oh > 23 || om > 59) return false;
    int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t t = ((days * 24 + h) * 60 + mi) * 60 + se;
    t = t * 1000 + ms;
    t -= (int64_t)sign * ((int64_t)oh * 3600 + om * 60) * 1000;
    *out = t;
    return true;
}

bool cedar__duration_parse(const char *s, size_t n, int64_t *out) {
    static const struct { const char *u; size_t ul; int64_t ms; } units[] = {
        { "d", 1, 86400000 }, { "h", 1, 3600000 }, { "m", 1, 60000 },
        { "s", 1, 1000 }, { "ms", 2, 1 } };
    size_t i = 0;
    bool neg = false;
    if (i < n && s[i] == '-') { neg = true; i++; }
    int next = 0, any = 0;
    int64_t tot = 0;
    while (i < n) {
        size_t st = i;
        int64_t v = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (__builtin_mul_overflow(v, 10, &v) ||
                __builtin_add_overflow(v, s[i] - '0', &v)) return false;
            i++;
        }
        if (i == st) return false;
        int u = -1;
        for (int k = next; k < 5; k++) {
            if (i + units[k].ul <= n && memcmp(s + i, units[k].u, units[k].ul) == 0 &&
                !(k == 2 && i + 1 < n && s[i + 1] == 's')) { u = k; break; }
        }
        if (u < 0) return false;
        i += units[u].ul;
        next = u + 1;
        any = 1;
        int64_t part;
        if (__builtin_mul_overflow(v, units[u].ms, &part) ||
            __builtin_add_overflow(tot, part, &tot)) return false;
    }
    if (!any) return false;
    *out = neg ? -tot : tot;
    return true;
}

/* ---- JSON values ------------------------------------------------------------------- */
static bool id_char(char c, bool first) {
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (!first && c >= '0' && c <= '9');
}

/* A Cedar name: identifiers separated by "::", none of them a reserved
 * word or `__cedar`, exactly as the reference checks entity type names. */
static bool valid_name(const char *s, size_t n) {
    static const char *const reserved[] = { "true", "false", "if", "then", "else", "in",
                                            "is", "like", "has", "__cedar", NULL };
    size_t i = 0;
    for (;;) {
        size_t st = i;
        if (i >= n || !id_char(s[i], true)) return false;
        while (i < n && id_char(s[i], false)) i++;
        for (int k = 0; reserved[k]; k++)
            if (strlen(reserved[k]) == i - st && !memcmp(s + st, reserved[k], i - st)) return false;
        if (i == n) return true;
        if (i + 2 >= n || s[i] != ':' || s[i + 1] != ':') return false;
        i += 2;
    }
}

int cedar__uid_from_json(cedar__arena *a, const json_t *j, cedar__uid *out,
                         char *why, size_t whyn) {
    if (json_is_object(j) && json_object_get(j, "__entity"))
        j = json_object_get(j, "__entity");
    const json_t *t = json_object_get(j, "type"), *id = json_object_get(j, "id");
    if (!json_is_string(t) || !json_is_string(id)) {
        snprintf(why, whyn, "entity uid needs string \"type\" and \"id\"");
        return -1;
    }
    size_t tn = json_string_length(t), idn = json_string_length(id);
    if (!valid_name(json_string_value(t), tn)) {
        snprintf(why, whyn, "invalid entity type name \"%s\"", json_string_value(t));
        return -1;
    }
    char *tp = cedar__strndup(a, json_string_value(t), tn);
    char *ip = cedar__strndup(a, json_string_value(id), idn);
    if (!tp || !ip) { snprintf(why, whyn, "out of memory"); return -1; }
    cedar__uid_init(out, tp, tn, ip, idn);
    return 0;
}

int cedar__rec_from_json(cedar__arena *a, const json_t *j, cedar__rec *r,
                         char *why, size_t whyn) {
    size_t n = json_object_size(j);
    cedar__str *keys = cedar__alloc(a, (n ? n : 1) * sizeof *keys);
    cedar__val *vals = cedar__alloc(a, (n ? n : 1) * sizeof *vals);
    if (!keys || !vals) goto oom;
    const char *k;
    json_t *v;
    size_t i = 0;
    json_object_foreach((json_t *)j, k, v) {
        size_t kn = strlen(k);
        char *kp = cedar__strndup(a, k, kn);
        if (!kp) goto oom;
        keys[i].p = kp; keys[i].n = (uint32_t)kn; keys[i].h = cedar__hash(kp, kn);
        if (cedar__val_from_json(a, v, &vals[i], why, whyn)) return -1;
        i++;
    }
    r->n = (uint32_t)n; r->keys = keys; r->vals = vals;
    cedar__rec_sort(r);
    return 0;
oom:
    snprintf(why, whyn, "out of memory");
    return -1;
}

int cedar__val_from_json(cedar__arena *a, const json_t *j, cedar__val *out,
                         char *why, size_t whyn) {
    memset(out, 0, sizeof *out);
    switch (json_typeof(j)) {
    case JSON_TRUE: out->k = CV_BOOL; out->u.b = true; return 0;
    case JSON_FALSE: out->k = CV_BOOL; out->u.b = false; return 0;
    case JSON_INTEGER: out->k = CV_LONG; out->u.i = json_integer_value(j); return 0;
    case JSON_REAL: snprintf(why, whyn, "floating-point numbers are not Cedar values"); return -1;
    case JSON_NULL: snprintf(why, whyn, "null is not a Cedar value"); return -1;
    case JSON_STRING: {
        cedar__str *s = cedar__alloc(a, sizeof *s);
        size_t n = json_string_length(j);
        char *p = s ? cedar__strndup(a, json_string_value(j), n) : NULL;
        if (!p) goto oom;
        s->p = p; s->n = (uint32_t)n; s->h = cedar__hash(p, n);
        out->k = CV_STRING; out->u.s = s;
        return 0;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        cedar__set *s = cedar__alloc(a, sizeof *s + n * sizeof(cedar__val));
        if (!s) goto oom;
        s->n = (uint32_t)n;
        for (size_t i = 0; i < n; i++)
            if (cedar__val_from_json(a, json_array_get(j, i), &s->v[i], why, whyn)) return -1;
        out->k = CV_SET; out->u.set = s;
        return 0;
    }
    case JSON_OBJECT: {
        const json_t *x;
        /* The escapes apply only to objects of exactly that one key whose
         * payload has the escape's fields; anything else is a record, as
         * in the reference's untagged value format. */
        if (json_object_size(j) == 1 && (x = json_object_get(j, "__entity")) &&
            json_is_string(json_object_get(x, "type")) && json_is_string(json_object_get(x, "id"))) {
            cedar__uid *u = cedar__alloc(a, sizeof *u);
            if (!u) goto oom;
            if (cedar__uid_from_json(a, x, u, why, whyn)) return -1;
            out->k = CV_ENTITY; out->u.e = u;
            return 0;
        }
        if (json_object_size(j) == 1 && (x = json_object_get(j, "__extn")) &&
            json_is_string(json_object_get(x, "fn")) && json_object_get(x, "arg")) {
            const json_t *fn = json_object_get(x, "fn"), *arg = json_object_get(x, "arg");
            if (!json_is_string(arg)) {
                snprintf(why, whyn, "type error: the argument of %s must be a string", json_string_value(fn));
                return -1;
            }
            const char *f = json_string_value(fn), *s = json_string_value(arg);
            size_t n = json_string_length(arg);
            const char *w;
            if (!strcmp(f, "ip")) {
                cedar__ip *ip = cedar__alloc(a, sizeof *ip);
                if (!ip) goto oom;
                if (!cedar__ip_parse(s, n, ip)) { snprintf(why, whyn, "invalid IP address: %s", s); return -1; }
                out->k = CV_IP; out->u.ip = ip;
            } else if (!strcmp(f, "decimal")) {
                if (!cedar__decimal_parse(s, n, &out->u.i, &w)) { snprintf(why, whyn, "`%s` %s", s, w); return -1; }
                out->k = CV_DECIMAL;
            } else if (!strcmp(f, "datetime")) {
                if (!cedar__datetime_parse(s, n, &out->u.i)) { snprintf(why, whyn, "invalid datetime: %s", s); return -1; }
                out->k = CV_DATETIME;
            } else if (!strcmp(f, "duration")) {
                if (!cedar__duration_parse(s, n, &out->u.i)) { snprintf(why, whyn, "invalid duration: %s", s); return -1; }
                out->k = CV_DURATION;
            } else {
                snprintf(why, whyn, "unknown extension function %s", f);
                return -1;
            }
            return 0;
        }
        cedar__rec *r = cedar__alloc(a, sizeof *r);
        if (!r) goto oom;
        if (cedar__rec_from_json(a, j, r, why, whyn)) return -1;
        out->k = CV_RECORD; out->u.rec = r;
        return 0;
    }
    }
    snprintf(why, whyn, "unsupported JSON value");
    return -1;
oom:
    snprintf(why, whyn, "out of memory");
    return -1;
}
