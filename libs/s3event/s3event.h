/*
 * s3event: parse one MinIO bucket notification, as MinIO's NATS target
 * publishes it, into a list of records with decoded object keys.
 *
 * The message is the JSON of MinIO's event.Log:
 *   {"EventName": "s3:ObjectCreated:Put",
 *    "Key": "environments/dev-x.json",          bucket + "/" + DECODED key
 *    "Records": [{"eventVersion": "2.0", "eventSource": "minio:s3",
 *                 "awsRegion": "", "eventTime": "2026-11-23T11:30:00.123Z",
 *                 "eventName": "s3:ObjectCreated:Put", ...,
 *                 "s3": {"bucket": {"name": "environments", ...},
 *                        "object": {"key": "dev-x.json",   Go url.QueryEscape'd
 *                                   "size": 312, "eTag": "...",
 *                                   "sequencer": "187A...", ...}}}]}
 * Inside a record the object key is escaped the way Go's url.QueryEscape
 * does it ('/' is %2F, ' ' is '+'); s3event_parse undoes that exactly as
 * Go's url.QueryUnescape does, and cross-checks the top-level Key.
 *
 * Pure parser: fed bytes, no I/O.  Memory comes from jansson's allocator
 * (json_set_alloc_funcs), like libs/claim.
 */
#ifndef EP_S3EVENT_H
#define EP_S3EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "err/err.h"

#define S3EVENT_STATUS_MAP(X)                                                 \
    X(S3EVENT_OK, "ok")                           /* success */               \
    X(S3EVENT_ESYNTAX, "not JSON")                /* malformed JSON */        \
    X(S3EVENT_EFORMAT, "not a bucket notification") /* field missing/wrong */ \
    X(S3EVENT_EESCAPE, "invalid escape")          /* bad %XX in a key */      \
    X(S3EVENT_ETOOLARGE, "message too large")     /* size or count limit */   \
    X(S3EVENT_ENOMEM, "out of memory")            /* an allocation failed */  \
    X(S3EVENT_EARG, "invalid argument")           /* NULL where not allowed */

typedef enum {
#define S3EVENT_ENUM(name, str) name,
    S3EVENT_STATUS_MAP(S3EVENT_ENUM)
#undef S3EVENT_ENUM
} s3event_status;

const char *s3event_strstatus(int status);

#define S3EVENT_MAX_SIZE    (256 * 1024) /* bytes of one notification */
#define S3EVENT_MAX_RECORDS 64           /* MinIO sends one per message */

typedef enum {
    S3EVENT_KIND_OTHER = 0,   /* accessed, replication, restore, ... */
    S3EVENT_KIND_CREATED = 1, /* s3:ObjectCreated:* */
    S3EVENT_KIND_REMOVED = 2  /* s3:ObjectRemoved:* (incl. delete markers) */
} s3event_kind;

const char *s3event_kind_str(s3event_kind k);   /* "created", "removed", "other" */

/* One record.  Strings are owned by the s3event that holds the record,
 * NUL-terminated and never NULL ("" when the message left them out). */
typedef struct s3event_record {
    s3event_kind kind;
    char *event_name;    /* "s3:ObjectCreated:Put" */
    char *event_time;    /* as sent, e.g. "2026-11-23T11:30:00.123Z" */
    char *event_source;  /* "minio:s3" */
    char *bucket;
    char *key;           /* DECODED object key, valid UTF-8, no NUL */
    char *raw_key;       /* the key as it appeared (escaped) */
    int64_t size;        /* 0 when absent (MinIO omits it for 0 and deletes) */
    char *etag;
    char *sequencer;     /* MinIO: upper-case hex of a nanosecond time */
    char *version_id;
    char *content_type;
} s3event_record;

typedef struct s3event {
    char *event_name;    /* top-level EventName, "" if absent */
    char *key;           /* top-level Key ("bucket/decoded key"), "" if absent */
    s3event_record *records;
    size_t n_records;    /* >= 1 */
} s3event;

/* Parse bytes[0..len).  Returns S3EVENT_OK and a new s3event in *out (free
 * with s3event_destroy), or an error status with err naming the field
 * ("Records[0].s3.object.key: invalid escape \"%zz\"") and *out = NULL. */
int s3event_parse(const char *bytes, size_t len, s3event **out, ep_err *err);
void s3event_destroy(s3event *ev);   /* accepts NULL */

/* Go's url.QueryUnescape, byte for byte: '+' becomes ' ', "%XX" (either hex
 * case) becomes the byte, any other byte is copied; a '%' not followed by two
 * hex digits is an error naming up to three bytes from it.  in[0..len) need
 * not be NUL-terminated; out must hold len + 1 bytes and receives the
 * NUL-terminated result (which may contain NUL bytes: see *out_len).
 * Returns S3EVENT_OK or S3EVENT_EESCAPE. */
int s3event_query_unescape(const char *in, size_t len, char *out, size_t *out_len,
                           ep_err *err);

/* Go's url.QueryEscape: keeps A-Z a-z 0-9 - _ . ~, turns ' ' into '+' and
 * every other byte into "%XX" (upper case).  Returns a new string (free with
 * s3event_free), NULL when out of memory. */
char *s3event_query_escape(const char *in, size_t len);
void s3event_free(void *p);

/* Order two sequencers (hex numbers of any length; MinIO's are the object's
 * modification time in nanoseconds).  Returns <0, 0 or >0; a string that is
 * not hex sorts before every hex one. */
int s3event_sequencer_compare(const char *a, const char *b);

#endif
