/*
 * svc: the runtime every envplane service shares.
 *
 * A service is one libuv loop thread and one worker thread.  The loop thread
 * owns the NATS connection's I/O (cnats libuv adapter), signal handling and
 * timers; the worker thread does the service's actual work with blocking
 * calls (JetStream fetch and publish, S3, Redis), which is safe precisely
 * because the loop keeps moving the NATS bytes meanwhile.  The HTTP endpoint
 * (/healthz, /readyz, /metrics) runs on libmicrohttpd's threads.
 *
 * Shutdown (SIGINT/SIGTERM, or svc_fail): the stop flag is raised; the
 * worker finishes the message in hand and returns; the loop then closes the
 * NATS connection after a flush, stops the HTTP server and exits.  Nothing
 * is acknowledged that was not committed, so a hard kill at any point only
 * delays work.
 *
 * Configuration: svc adds the options every service has (nats-url,
 * http-listen, log-level) to the service's own table, loads them all with
 * libs/config (defaults < EP_* environment < flags) and generates --help.
 */
#ifndef EP_SVC_H
#define EP_SVC_H

#include <stddef.h>

#include <uv.h>

#include "bus/bus.h"
#include "config/config.h"
#include "err/err.h"
#include "metrics/metrics.h"

#define SVC_STATUS_MAP(X)                                              \
    X(SVC_OK, "ok")                                                    \
    X(SVC_EXIT, "nothing to run (--help printed)")                     \
    X(SVC_ECONFIG, "configuration error")                              \
    X(SVC_ESTART, "start-up failed")                                   \
    X(SVC_ENOMEM, "out of memory")

typedef enum {
#define SVC_ENUM(name, str) name,
    SVC_STATUS_MAP(SVC_ENUM)
#undef SVC_ENUM
} svc_status;

const char *svc_strstatus(int status);

typedef struct svc svc;

typedef struct svc_info {
    const char       *name;      /* "claim-ingest": log service, NATS name, ce-source /envplane/<name> */
    const char       *summary;   /* one line for --help */
    const cfg_option *opts;      /* the service's own options (borrowed; targets filled by svc_create) */
    size_t            nopts;
    const char       *notify_subject; /* if set, bus_ensure_streams() also creates the notification stream */
} svc_info;

/* Parse configuration, initialise logging, metrics and HTTP, create the loop
 * and connect to NATS; the streams are ensured on the worker thread before
 * the worker function runs.  Returns SVC_OK, SVC_EXIT
 * when --help was printed (exit 0), or an error already logged (exit 1). */
int  svc_create(const svc_info *info, int argc, char **argv, svc **out);
/* Free everything; call after svc_run returned.  NULL-safe. */
void svc_destroy(svc *s);

typedef void (*svc_worker_fn)(svc *s, void *ud);
/* Run fn on the worker thread once svc_run starts.  One worker per service. */
void svc_set_worker(svc *s, svc_worker_fn fn, void *ud);
/* Run until stopped; returns the process exit code (0 clean stop, 1 after
 * svc_fail). */
int  svc_run(svc *s);

/* Thread-safe state. */
int  svc_stopping(svc *s);                       /* 1 once a stop began */
void svc_fail(svc *s, const char *why);          /* log, exit code 1, stop */
void svc_set_ready(svc *s, int ready, const char *why_not);   /* for /readyz */

/* Fetch and handle one batch from c on the worker thread, waiting at most
 * timeout_ms.  A failed fetch (the server away, the consumer gone) is
 * logged as "fetching <what> failed; retrying" and counts as nothing
 * handled: the caller's loop simply polls again.  Returns the number of
 * messages handled. */
int               svc_poll(svc *s, bus_consumer *c, long timeout_ms, const char *what);

bus              *svc_bus(svc *s);
metrics_registry *svc_metrics(svc *s);
const char       *svc_name(svc *s);
/* The HTTP port actually bound (useful with --http-listen=127.0.0.1:0). */
int               svc_http_port(svc *s);

#endif
