/*
 * claim_internal.h: what the files of libs/claim share and nobody else sees:
 * the allocator shims (everything goes through jansson's allocator so one
 * hook covers the whole parse), the RFC 3339 date code and the character
 * class helpers.
 */
#ifndef EP_CLAIM_INTERNAL_H
#define EP_CLAIM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "claim/claim.h"

void *claim__malloc(size_t n);
void *claim__calloc(size_t n, size_t size);
void claim__free(void *p);
char *claim__strndup(const char *s, size_t n);
char *claim__strdup(const char *s);

/* A point in time parsed from RFC 3339: seconds since the Unix epoch (UTC)
 * and nanoseconds. */
typedef struct claim__time {
    int64_t sec;
    uint32_t nsec;
} claim__time;

/* Parse an RFC 3339 date-time.  Returns 0 or -1 with why[0..whylen) set. */
int claim__time_parse(const char *s, claim__time *t, char *why, size_t whylen);
/* Format as "YYYY-MM-DDTHH:MM:SS[.fraction]Z" (fraction without trailing
 * zeros, absent when zero).  Returns 0, or -1 when the year is outside
 * 0001..9999. */
int claim__time_format(const claim__time *t, char out[40]);

/* True for a DNS-1123 label: 1..63 of [a-z0-9-], alnum at both ends. */
int claim__is_dns_label(const char *s, size_t n);

#endif
