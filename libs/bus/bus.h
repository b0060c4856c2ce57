/*
 * bus: envplane's connection to NATS and JetStream.
 *
 * One bus per process.  Its NATS connection does its socket I/O on the
 * service's libuv loop through the cnats libuv adapter, so bus_create() must
 * run on the loop thread (before or inside uv_run).  Everything that waits
 * for the server — publishing with acknowledgement, fetching from a pull
 * consumer, requests — blocks the calling thread until the loop has moved
 * the bytes, so those calls are made from worker threads, never from the loop
 * thread (they would wait for themselves).
 *
 * Publishing: every event is a CloudEvent in binary mode (libs/ce) and its
 * ce-id is also the JetStream Nats-Msg-Id, so a publish repeated after a
 * crash inside the stream's duplicate window is dropped by the server.
 *
 * Consuming: a durable pull consumer with explicit acks.  The handler's
 * verdict decides: ACK after the handler committed its own state; RETRY
 * naks with a back-off delay; a message that failed max_deliver times, or
 * that the handler declares DEAD, is copied to the dead-letter subject
 * (platform.dlq.v1.<durable>) with the reason in headers and then
 * terminated, so one poison message never blocks the rest.
 */
#ifndef EP_BUS_H
#define EP_BUS_H

#include <stddef.h>
#include <stdint.h>

#include <nats/nats.h>
#include <uv.h>

#include "err/err.h"

#define BUS_STATUS_MAP(X)                                                          \
    X(BUS_OK, "ok")                                                                \
    X(BUS_ENOMEM, "out of memory")                                                 \
    X(BUS_EINVAL, "invalid argument")                                              \
    X(BUS_ECONNECT, "cannot connect to NATS")                                      \
    X(BUS_ENATS, "NATS error")             /* message carries cnats' text */       \
    X(BUS_EJETSTREAM, "JetStream error")   /* message carries the API error code */\
    X(BUS_ETIMEOUT, "timed out")                                                   \
    X(BUS_ECLOSED, "connection closed")

typedef enum {
#define BUS_ENUM(name, str) name,
    BUS_STATUS_MAP(BUS_ENUM)
#undef BUS_ENUM
} bus_status;

const char *bus_strstatus(int status);

/* The stream that records every envplane event, and the one MinIO's NATS
 * target publishes bucket notifications into. */
#define BUS_EVENT_STREAM  "PLATFORM"
#define BUS_NOTIFY_STREAM "MINIO_NOTIFY"
#define BUS_DLQ_PREFIX    "platform.dlq.v1."

typedef struct bus bus;

typedef struct bus_config {
    const char *url;          /* "nats://127.0.0.1:4222" (comma-separated list allowed) */
    const char *name;         /* connection name shown by the server: the service name */
    const char *source;       /* ce-source of published events, "/envplane/<service>" */
    uv_loop_t  *loop;         /* the service's loop; NULL = no loop (tools: cnats' own threads) */
    long        timeout_ms;   /* connect / JetStream API / publish ack wait; 0 = 5000 */
} bus_config;

/* Connect.  Copies the config strings.  With a loop, call on the loop
 * thread.  Reconnects forever on its own once connected. */
int  bus_create(const bus_config *cfg, bus **out, ep_err *err);
/* Close the connection.  With a loop, call on the loop thread and keep the
 * loop running until its handles have closed (uv_run returns).  NULL-safe. */
void bus_destroy(bus *b);
/* 1 while the connection is up. */
int  bus_connected(bus *b);
/* The underlying connection and JetStream context, borrowed. */
natsConnection *bus_conn(bus *b);
jsCtx *bus_js(bus *b);

/* Create or update the two envplane streams (idempotent).  The event stream
 * captures only event subjects, never request/reply subjects such as
 * platform.index.v1.query: a stream capturing a request subject would answer
 * the request with its own publish acknowledgement. */
int bus_ensure_streams(bus *b, const char *notify_subject, ep_err *err);

/* Publish one event and wait for the stream's acknowledgement.  id is the
 * ce-id and the de-duplication id; subject_env is the ce-subject (the
 * environment name, may be NULL).  Call from a worker thread.  On success
 * *duplicate (if given) says whether the stream had seen this id already. */
int bus_publish_event(bus *b, const char *subject, const char *ce_type,
                      const char *id, const char *subject_env,
                      const void *data, size_t len, int *duplicate, ep_err *err);

/* ---- durable pull consumer ----------------------------------------------- */

typedef enum {
    BUS_ACK,     /* handled and committed: acknowledge */
    BUS_RETRY,   /* transient failure: redeliver after a back-off */
    BUS_DEAD     /* permanent failure: dead-letter now */
} bus_verdict;

/* A delivered message, borrowed for the duration of the handler. */
typedef struct bus_msg {
    const char *subject;
    const char *data;
    size_t      len;
    uint64_t    stream_seq;
    uint64_t    num_delivered;   /* 1 on first delivery */
    natsMsg    *raw;             /* for bus_msg_header() */
} bus_msg;

/* Header value (percent-decoding is the caller's business), or NULL. */
const char *bus_msg_header(const bus_msg *m, const char *name);

/* The handler runs on the thread that calls bus_consumer_poll().  On
 * RETRY/DEAD it writes a reason into why (it goes into the log and the
 * dead-letter headers). */
typedef bus_verdict (*bus_handler)(const bus_msg *m, void *ud, char *why, size_t why_len);

typedef struct bus_consumer_config {
    const char *stream;          /* e.g. BUS_NOTIFY_STREAM */
    const char *durable;         /* durable name, e.g. "claim-ingest" */
    const char *filter_subject;  /* e.g. "minio.notify.claims" */
    int         max_deliver;     /* deliveries before dead-lettering; 0 = 5 */
    long        ack_wait_ms;     /* 0 = 30000 */
    int         batch;           /* messages per fetch; 0 = 32 */
    bus_handler handler;
    void       *ud;
} bus_consumer_config;

typedef struct bus_consumer bus_consumer;

/* Create (or bind to) the durable consumer.  Call from a worker thread when
 * the bus has a loop. */
int  bus_consumer_create(bus *b, const bus_consumer_config *cfg, bus_consumer **out, ep_err *err);
/* Fetch up to one batch, waiting at most timeout_ms for the first message,
 * and run the handler on each.  Returns BUS_OK (also when nothing came),
 * or an error when fetching itself failed.  *handled counts messages. */
int  bus_consumer_poll(bus_consumer *c, long timeout_ms, int *handled, ep_err *err);
void bus_consumer_destroy(bus_consumer *c);

/* Counters for /metrics, read with atomic loads by the service. */
typedef struct bus_stats {
    uint64_t published, publish_errors, duplicates;
    uint64_t acked, retried, dead_lettered, fetch_errors;
} bus_stats;
void bus_get_stats(bus *b, bus_stats *out);

#endif
