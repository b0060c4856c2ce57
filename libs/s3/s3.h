/*
 * s3: a small, blocking S3 client for the object store every envplane service
 * talks to (MinIO in our deployments; AWS S3 speaks the same protocol).
 *
 * Requests use path-style addressing (<endpoint>/<bucket>/<key>) over http or
 * https.  Signing is libcurl's own AWS Signature V4 (CURLOPT_AWS_SIGV4); this
 * library only prepares what the signer needs and cannot do itself: the
 * percent-encoded path, a sorted query string and the x-amz-content-sha256
 * header.  Responses (listings, error bodies) are parsed with libxml2.
 *
 * Lifecycle: call s3_global_init() once at program start, before any thread
 * is created, and s3_global_cleanup() once at exit.  Between them, create one
 * s3_client per thread.
 *
 * Errors: every function returns an s3_status and, when given an ep_err,
 * fills it with a message naming the operation, the object and the cause,
 * e.g. "s3 GET environments/dev-x.json: HTTP 404 NoSuchKey: The specified key
 * does not exist."
 */
#ifndef EP_S3_H
#define EP_S3_H

#include <stddef.h>
#include <stdint.h>

#include "err/err.h"

/* X(name, value, description) */
#define S3_STATUS_MAP(X)                                                              \
    X(S3_OK,         0, "success")                                                   \
    X(S3_ENOMEM,     1, "out of memory")                                             \
    X(S3_EINVAL,     2, "invalid argument or configuration")                         \
    X(S3_ENOTFOUND,  3, "no such bucket or key (HTTP 404)")                          \
    X(S3_ETOOLARGE,  4, "response larger than the caller's bound")                   \
    X(S3_EHTTP,      5, "server answered with an error status")                      \
    X(S3_ETRANSPORT, 6, "transport failure (connect, TLS, timeout)")                 \
    X(S3_EPARSE,     7, "unparseable response")                                      \
    X(S3_EINTERNAL,  8, "library misuse of libcurl or libxml2 (a bug in s3 itself)")

typedef enum s3_status {
#define S3__ENUM(name, value, desc) name = value,
    S3_STATUS_MAP(S3__ENUM)
#undef S3__ENUM
} s3_status;

/* Static description of a status ("no such bucket or key (HTTP 404)");
 * "unknown s3 status" for values outside the enum.  Never NULL. */
const char *s3_strstatus(int status);

/* Process-wide setup of libcurl and libxml2.  Call once from the main thread
 * before creating clients or threads (curl_global_init and xmlInitParser are
 * not thread-safe); pair with s3_global_cleanup() at exit, after every client
 * is destroyed.  A program that already calls curl_global_init itself must
 * still call this (it is reference-counted inside libcurl). */
int  s3_global_init(ep_err *err);
void s3_global_cleanup(void);

typedef struct s3_config {
    const char *endpoint;    /* "http://host:port" or "https://host[:port]", no path */
    const char *region;      /* signing region, e.g. "us-east-1" */
    const char *access_key;
    const char *secret_key;
    long        timeout_ms;  /* whole-request limit; 0 = default 10000 */
    const char *ca_file;     /* nullable: PEM bundle for https; NULL = system store */
} s3_config;

/* A client owns one libcurl easy handle, whose connection cache keeps the
 * TCP/TLS connection to the endpoint open between requests, plus the
 * per-request buffers.  It is NOT thread-safe: libcurl forbids using one easy
 * handle from two threads at once, and the buffers are shared by the
 * requests.  Use one client per thread. */
typedef struct s3_client s3_client;

/* Validate cfg and create a client in *out.  The strings are copied; cfg may
 * be freed afterwards.  On failure *out is NULL. */
int  s3_client_create(const s3_config *cfg, s3_client **out, ep_err *err);

/* Close the connection and free the client.  Accepts NULL. */
void s3_client_destroy(s3_client *c);

typedef struct s3_object_info {
    char    etag[80];           /* without the surrounding quotes; "" if unknown */
    int64_t size;               /* bytes; -1 if unknown */
    int64_t mtime;              /* Last-Modified as unix seconds; 0 if unknown */
    char    content_type[128];  /* "" if unknown; truncated if longer */
} s3_object_info;

typedef struct s3_buf {
    char  *data;  /* owned by the caller, free() it; NUL-terminated (not counted in len) */
    size_t len;
} s3_buf;

/*
 * Bucket names: 3-63 characters of [a-z0-9.-].  Keys: 1-1024 bytes, any bytes
 * except NUL; they are percent-encoded per path segment, so spaces, '+', '%',
 * '?', '#' and UTF-8 all work, and '/' separates segments.
 */

/* Download bucket/key into out (new buffer owned by the caller).  If the
 * object is larger than max_bytes (pass SIZE_MAX for no bound), the transfer
 * is aborted as soon as Content-Length or the received bytes say so and
 * S3_ETOOLARGE is returned.  info (nullable) receives the object's metadata.
 * On failure out->data is NULL and out->len 0. */
int s3_get(s3_client *c, const char *bucket, const char *key, size_t max_bytes,
           s3_buf *out, s3_object_info *info, ep_err *err);

/* Upload len bytes of data (borrowed, not retained) as bucket/key, replacing
 * any existing object.  content_type NULL means "application/octet-stream".
 * info (nullable) receives etag, size and content_type; mtime is 0 because
 * S3 does not return it on PUT. */
int s3_put(s3_client *c, const char *bucket, const char *key, const void *data,
           size_t len, const char *content_type, s3_object_info *info, ep_err *err);

/* Delete bucket/key.  Deleting a key that does not exist succeeds (S3
 * semantics); a missing bucket is S3_ENOTFOUND. */
int s3_delete(s3_client *c, const char *bucket, const char *key, ep_err *err);

/* Fetch bucket/key's metadata into info (required) without its body. */
int s3_head(s3_client *c, const char *bucket, const char *key, s3_object_info *info,
            ep_err *err);

typedef struct s3_list_entry {
    const char *key;   /* borrowed: valid only during the callback */
    const char *etag;  /* borrowed, without quotes; "" if the server sent none */
    int64_t     size;
    int64_t     mtime; /* unix seconds; 0 if the server sent none */
} s3_list_entry;

/* Called once per object, in key order.  Return non-zero to stop listing. */
typedef int (*s3_list_cb)(const s3_list_entry *e, void *ud);

/* List the objects of bucket whose keys start with prefix (nullable: all),
 * with ListObjectsV2, fetching page_size keys per request (0 = 1000, the
 * maximum) and following continuation tokens until the last page.  cb is
 * called for every object; if it returns non-zero, listing stops and s3_list
 * returns S3_OK (record the reason in ud).  On error, cb may already have
 * been called for the objects of earlier pages. */
int s3_list(s3_client *c, const char *bucket, const char *prefix, int page_size,
            s3_list_cb cb, void *ud, ep_err *err);

/* Create bucket if it does not exist yet (in the client's region).  A bucket
 * that already exists and is ours is success. */
int s3_bucket_ensure(s3_client *c, const char *bucket, ep_err *err);

#endif
