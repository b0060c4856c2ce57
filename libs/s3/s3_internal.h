/*
 * s3 internals shared between the client (s3.c) and the response parsers
 * (s3_xml.c).  The parsers are pure functions over bytes, with no I/O, so the
 * unit tests and the libFuzzer harness (tests/fuzz/fuzz_s3_list.c) can drive
 * them directly.
 */
#ifndef EP_S3_INTERNAL_H
#define EP_S3_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "s3/s3.h"

/* One parsed ListObjectsV2 page.  The entries' strings belong to the page. */
typedef struct s3__list_page {
    s3_list_entry *entries;    /* n entries, in document order */
    size_t         n;
    int            truncated;  /* IsTruncated was "true" */
    char          *next_token; /* NextContinuationToken; non-NULL iff truncated */
} s3__list_page;

/* Parse a ListBucketResult document of len bytes into page (zeroed first).
 * Keys are percent-decoded when the document says <EncodingType>url.
 * Returns S3_OK, S3_ENOMEM or S3_EPARSE (with the reason in err); on failure
 * page holds nothing that needs disposing. */
int s3__parse_list_xml(const char *xml, size_t len, s3__list_page *page, ep_err *err);

/* Free what s3__parse_list_xml stored in page and zero it.  Accepts a zeroed
 * page. */
void s3__list_page_dispose(s3__list_page *page);

/* Extract Code and Message from an S3 <Error> document into the caller's
 * buffers (always NUL-terminated, truncated if needed; message may be "").
 * Returns 0 if the document is an <Error> with a non-empty Code, -1 if not. */
int s3__parse_error_xml(const char *xml, size_t len, char *code, size_t code_size,
                        char *message, size_t message_size);

/* Parse an ISO 8601 UTC timestamp as S3 writes it ("2026-11-23T11:29:45.123Z",
 * fraction optional) into unix seconds.  Returns 0 or -1 if malformed. */
int s3__parse_iso8601(const char *s, int64_t *out);

/* Append the RFC 3986 percent-encoding of the len bytes at s to dst (size
 * bytes, NUL-terminated), keeping unreserved characters and, if keep_slash,
 * '/'.  Uppercase hex, as SigV4 requires.  Returns the length that the full
 * encoding needs (like snprintf); the output is complete iff it is < size. */
size_t s3__uri_encode(char *dst, size_t size, const char *s, size_t len, int keep_slash);

/* Number of new connections the client's handle has opened so far (libcurl's
 * CURLINFO_NUM_CONNECTS summed over requests).  Lets the tests prove that
 * sequential requests reuse one connection. */
long s3__connects(const s3_client *c);

#endif
