/*
 * ce: the CloudEvents 1.0 envelope of every envplane event, in the binary
 * content mode of the NATS protocol binding.
 *
 * Each context attribute travels as a message header named "ce-<attribute>";
 * the data content type travels as "content-type" and the protobuf payload
 * is the message body.  Header values are percent-encoded by the rule the
 * binding borrows from the HTTP binding: space, '"', '%' and every byte
 * outside printable ASCII (0x21..0x7E) become %XX (UTF-8 bytes, upper-case
 * hex).  This library only builds and reads the attribute set; libs/bus
 * moves it onto and off NATS messages, so the rules are testable without a
 * server.
 */
#ifndef EP_CE_H
#define EP_CE_H

#include <stddef.h>

#include "err/err.h"

#define CE_STATUS_MAP(X)                                                    \
    X(CE_OK, "ok")                                  /* success */           \
    X(CE_ENOSPC, "output buffer too small")         /* caller's buffer */   \
    X(CE_EINVAL, "invalid percent-encoding")        /* bad %XX on decode */ \
    X(CE_EMISSING, "required attribute missing")    /* id/source/type/... */\
    X(CE_EVERSION, "unsupported specversion")       /* not "1.0" */

typedef enum {
#define CE_ENUM(name, str) name,
    CE_STATUS_MAP(CE_ENUM)
#undef CE_ENUM
} ce_status;

const char *ce_strstatus(int status);

#define CE_SPECVERSION "1.0"
#define CE_CONTENT_TYPE_PROTOBUF "application/protobuf"

/* The context attributes envplane sets on every event (all borrowed
 * strings; NULL means "absent" for the optional ones). */
typedef struct ce_event {
    const char *id;               /* required: unique per source; also the Nats-Msg-Id */
    const char *source;           /* required: "/envplane/<service>" */
    const char *type;             /* required: "io.envplane.claim.v1.accepted" */
    const char *time;             /* optional: RFC 3339 */
    const char *subject;          /* optional: the environment name */
    const char *datacontenttype;  /* optional: carried as "content-type" */
    const char *dataschema;       /* optional */
} ce_event;

/* One header to set: name and percent-encoded value, both owned by the
 * ce_headers that holds them. */
typedef struct ce_header {
    char name[32];
    char *value;
} ce_header;

typedef struct ce_headers {
    ce_header h[8];
    size_t    n;
} ce_headers;

/* Build the header set for ev.  Fails with CE_EMISSING naming the attribute
 * when id, source or type is absent.  On success the caller disposes the set
 * with ce_headers_dispose(). */
int ce_headers_build(const ce_event *ev, ce_headers *out, ep_err *err);
void ce_headers_dispose(ce_headers *hs);

/* Percent-encode in into out (NUL-terminated).  Returns CE_OK or CE_ENOSPC. */
int ce_percent_encode(const char *in, char *out, size_t outlen);
/* Decode in place-compatible: out may equal in.  Returns CE_OK, CE_EINVAL on
 * a malformed escape, CE_ENOSPC. */
int ce_percent_decode(const char *in, char *out, size_t outlen);

/* Current time as RFC 3339 UTC with milliseconds: "2026-11-23T11:30:00.123Z". */
void ce_time_now(char out[32]);
/* Format a Unix time (seconds) as "2026-11-23T11:30:00Z". */
void ce_time_format(long long unix_seconds, char out[32]);

#endif
