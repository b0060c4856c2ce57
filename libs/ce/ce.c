/*
 * ce: CloudEvents binary-mode header set and the binding's percent-encoding.
 * See ce.h for the rules; the encoder is deliberately strict (it encodes
 * every byte the HTTP binding lists) and the decoder deliberately lenient
 * about case in hex digits, as the binding asks receivers to be.
 */
#include "ce/ce.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *ce_strstatus(int status)
{
    switch (status) {
#define CE_STR(name, str) case name: return str;
        CE_STATUS_MAP(CE_STR)
#undef CE_STR
    }
    return "unknown ce status";
}

static int must_encode(unsigned char c)
{
    return c <= 0x20 || c >= 0x7F || c == '"' || c == '%';
}

int ce_percent_encode(const char *in, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        if (must_encode(*p)) {
            if (o + 3 >= outlen)
                return CE_ENOSPC;
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 0xF];
        } else {
            if (o + 1 >= outlen)
                return CE_ENOSPC;
            out[o++] = (char)*p;
        }
    }
    if (outlen == 0)
        return CE_ENOSPC;
    out[o] = '\0';
    return CE_OK;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int ce_percent_decode(const char *in, char *out, size_t outlen)
{
    size_t o = 0;

    for (size_t i = 0; in[i]; i++) {
        char c = in[i];
        if (c == '%') {
            int hi, lo;
            if (in[i + 1] == '\0' || in[i + 2] == '\0')
                return CE_EINVAL;
            hi = hexval(in[i + 1]);
            lo = hexval(in[i + 2]);
            if (hi < 0 || lo < 0)
                return CE_EINVAL;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (o + 1 >= outlen)
            return CE_ENOSPC;
        out[o++] = c;
    }
    if (outlen == 0)
        return CE_ENOSPC;
    out[o] = '\0';
    return CE_OK;
}

static int add(ce_headers *hs, const char *name, const char *value, ep_err *err)
{
    size_t cap = strlen(value) * 3 + 1;
    char  *enc = malloc(cap);

    if (enc == NULL)
        return ep_err_set(err, CE_ENOSPC, "ce: out of memory encoding %s", name);
    if (ce_percent_encode(value, enc, cap) != CE_OK) {
        free(enc);
        return ep_err_set(err, CE_ENOSPC, "ce: encoding %s", name);
    }
    snprintf(hs->h[hs->n].name, sizeof hs->h[hs->n].name, "%s", name);
    hs->h[hs->n].value = enc;
    hs->n++;
    return CE_OK;
}

int ce_headers_build(const ce_event *ev, ce_headers *out, ep_err *err)
{
    int rc = CE_OK;

    memset(out, 0, sizeof *out);
    if (ev->id == NULL || ev->id[0] == '\0')
        return ep_err_set(err, CE_EMISSING, "ce: required attribute id is missing");
    if (ev->source == NULL || ev->source[0] == '\0')
        return ep_err_set(err, CE_EMISSING, "ce: required attribute source is missing");
    if (ev->type == NULL || ev->type[0] == '\0')
        return ep_err_set(err, CE_EMISSING, "ce: required attribute type is missing");

    if ((rc = add(out, "ce-specversion", CE_SPECVERSION, err)) != CE_OK) goto out;
    if ((rc = add(out, "ce-id", ev->id, err)) != CE_OK) goto out;
    if ((rc = add(out, "ce-source", ev->source, err)) != CE_OK) goto out;
    if ((rc = add(out, "ce-type", ev->type, err)) != CE_OK) goto out;
    if (ev->time && (rc = add(out, "ce-time", ev->time, err)) != CE_OK) goto out;
    if (ev->subject && (rc = add(out, "ce-subject", ev->subject, err)) != CE_OK) goto out;
    if (ev->dataschema && (rc = add(out, "ce-dataschema", ev->dataschema, err)) != CE_OK) goto out;
    if (ev->datacontenttype && (rc = add(out, "content-type", ev->datacontenttype, err)) != CE_OK) goto out;
out:
    if (rc != CE_OK)
        ce_headers_dispose(out);
    return rc;
}

void ce_headers_dispose(ce_headers *hs)
{
    for (size_t i = 0; i < hs->n; i++)
        free(hs->h[i].value);
    hs->n = 0;
}

void ce_time_now(char out[32])
{
    struct timespec ts;
    struct tm tm;

    size_t n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ts.tv_nsec / 1000000) % 1000);
}

void ce_time_format(long long unix_seconds, char out[32])
{
    time_t t = (time_t)unix_seconds;
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
