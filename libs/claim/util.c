/*
 * util.c: the small pieces the rest of libs/claim stands on: allocation
 * through jansson's allocator, RFC 3339 dates, DNS-1123 labels and the
 * status/enum strings.
 *
 * Dates are converted with the proleptic Gregorian day-count formulas
 * (days from 0000-03-01, so February is the last month of a "year" and leap
 * days need no special case), which keeps the conversion exact for every
 * year 0001..9999 without touching the C library's time zone machinery.
 */
#include "claim/claim_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* ---- allocation ------------------------------------------------------------- */

void *claim__malloc(size_t n)
{
    json_malloc_t m;
    json_free_t f;

    json_get_alloc_funcs(&m, &f);
    return m(n ? n : 1);
}

void *claim__calloc(size_t n, size_t size)
{
    void *p;

    if (size != 0 && n > SIZE_MAX / size)
        return NULL;
    p = claim__malloc(n * size);
    if (p != NULL)
        memset(p, 0, n * size);
    return p;
}

void claim__free(void *p)
{
    json_malloc_t m;
    json_free_t f;

    if (p == NULL)
        return;
    json_get_alloc_funcs(&m, &f);
    f(p);
}

void claim_free(void *p)
{
    claim__free(p);
}

char *claim__strndup(const char *s, size_t n)
{
    char *p = claim__malloc(n + 1);

    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

char *claim__strdup(const char *s)
{
    return claim__strndup(s, strlen(s));
}

/* ---- strings for enums -------------------------------------------------------- */

const char *claim_strstatus(int status)
{
    switch (status) {
#define CLAIM_STR(name, str) case name: return str;
        CLAIM_STATUS_MAP(CLAIM_STR)
#undef CLAIM_STR
    }
    return "unknown status";
}

const char *claim_fcode_str(claim_fcode code)
{
    switch (code) {
#define CLAIM_FC_STR(name, str) case name: return str;
        CLAIM_FCODE_MAP(CLAIM_FC_STR)
#undef CLAIM_FC_STR
    }
    return "";
}

const char *claim_env_type_str(claim_env_type t)
{
    switch (t) {
    case CLAIM_ENV_DEV: return "dev";
    case CLAIM_ENV_STAGING: return "staging";
    case CLAIM_ENV_PROD: return "prod";
    case CLAIM_ENV_SUE: return "sue";
    case CLAIM_ENV_UNSPECIFIED: break;
    }
    return "";
}

const char *claim_kind_str(claim_constraint_kind k)
{
    switch (k) {
    case CLAIM_KIND_TAG: return "tag";
    case CLAIM_KIND_CARET: return "caret";
    case CLAIM_KIND_TILDE: return "tilde";
    case CLAIM_KIND_PATTERN: return "pattern";
    case CLAIM_KIND_RANGE: return "range";
    case CLAIM_KIND_LATEST: return "latest";
    case CLAIM_KIND_UNSPECIFIED: break;
    }
    return "";
}

const char *claim_source_str(claim_source s)
{
    switch (s) {
    case CLAIM_SOURCE_DYNAMIC: return "dynamic";
    case CLAIM_SOURCE_STATIC: return "static";
    case CLAIM_SOURCE_UNSPECIFIED: break;
    }
    return "";
}

/* ---- DNS-1123 labels ----------------------------------------------------------- */

int claim__is_dns_label(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > 63)
        return 0;
    for (i = 0; i < n; i++) {
        char c = s[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && !(c == '-' && i > 0 && i < n - 1))
            return 0;
    }
    return 1;
}

/* ---- RFC 3339 ------------------------------------------------------------------ */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era;
    unsigned doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned dm[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

/* Read exactly n digits at s. */
static int digits(const char *s, int n, unsigned *out)
{
    unsigned v = 0;
    int i;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return 0;
}

int claim__time_parse(const char *s, claim__time *t, char *why, size_t whylen)
{
    unsigned Y, M, D, h, mi, sec, oh = 0, om = 0;
    uint32_t nsec = 0;
    int sign = 0, nfrac = 0;
    size_t i;
    int64_t secs;

    if (digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-' ||
        digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) ||
        s[16] != ':' || digits(s + 17, 2, &sec)) {
        snprintf(why, whylen, "not RFC 3339 (want YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM))");
        return -1;
    }
    i = 19;
    if (s[i] == '.') {
        i++;
        while (s[i] >= '0' && s[i] <= '9') {
            if (nfrac == 9) {
                snprintf(why, whylen, "more than 9 fractional digits");
                return -1;
            }
            nsec = nsec * 10 + (uint32_t)(s[i] - '0');
            nfrac++;
            i++;
        }
        if (nfrac == 0) {
            snprintf(why, whylen, "'.' without fractional digits");
            return -1;
        }
        for (; nfrac < 9; nfrac++)
            nsec *= 10;
    }
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        sign = s[i] == '+' ? 1 : -1;
        if (digits(s + i + 1, 2, &oh) || s[i + 3] != ':' || digits(s + i + 4, 2, &om)) {
            snprintf(why, whylen, "malformed UTC offset (want Z or +HH:MM)");
            return -1;
        }
        if (oh > 23 || om > 59) {
            snprintf(why, whylen, "UTC offset out of range");
            return -1;
        }
        i += 6;
    } else {
        snprintf(why, whylen, "missing UTC offset (want Z or +HH:MM)");
        return -1;
    }
    if (s[i] != '\0') {
        snprintf(why, whylen, "trailing characters after the date");
        return -1;
    }
    if (M < 1 || M > 12) {
        snprintf(why, whylen, "month %02u does not exist", M);
        return -1;
    }
    if (D < 1 || D > days_in_month(Y, M)) {
        snprintf(why, whylen, "day %04u-%02u-%02u does not exist", Y, M, D);
        return -1;
    }
    if (h > 23 || mi > 59 || sec > 59) {
        snprintf(why, whylen, "time %02u:%02u:%02u does not exist%s", h, mi, sec,
                 sec == 60 ? " (leap seconds are not accepted)" : "");
        return -1;
    }
    secs = days_from_civil(Y, M, D) * 86400 + h * 3600 + mi * 60 + sec;
    secs -= sign * (int64_t)(oh * 3600 + om * 60);
    t->sec = secs;
    t->nsec = nsec;
    if (secs < days_from_civil(1, 1, 1) * 86400 ||
        secs >= days_from_civil(10000, 1, 1) * 86400) {
        snprintf(why, whylen, "outside years 0001..9999 in UTC");
        return -1;
    }
    return 0;
}

int claim__time_format(const claim__time *t, char out[40])
{
    int64_t days, y, rem;
    unsigned m, d;
    char frac[12] = "";
    int n;

    days = t->sec / 86400;
    rem = t->sec % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    civil_from_days(days, &y, &m, &d);
    if (y < 1 || y > 9999)
        return -1;
    if (t->nsec != 0) {
        snprintf(frac, sizeof frac, ".%09u", (unsigned)t->nsec);
        n = (int)strlen(frac);
        while (frac[n - 1] == '0')
            frac[--n] = '\0';
    }
    snprintf(out, 40, "%04d-%02u-%02uT%02d:%02d:%02d%sZ", (int)y, m, d,
             (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60), frac);
    return 0;
}
