/*
 * log: one JSON object per line on stderr, for every envplane service.
 *
 * A log line is an event a machine will read (Loki, jq, the e2e tests), so it
 * is JSON with a fixed head -- ts, level, service, msg -- followed by the
 * caller's key/value pairs (env, generation, event_id ...).  Lines are built
 * in memory and handed to the kernel with one write() under a process-wide
 * lock, so lines from different threads never interleave.  The level check
 * is a relaxed atomic load; the LOG_KV/LOG_MSG macros test it before the
 * arguments are evaluated, so a disabled debug line costs almost nothing.
 * Libraries never log (they return ep_err); only services call this.
 */
#ifndef EP_LOG_H
#define EP_LOG_H

#include <stdio.h>

#define LOG_STATUS_MAP(X)                                              \
    X(LOG_OK,     0, "ok")                                             \
    X(LOG_EINVAL, 1, "invalid argument (unknown level name)")

typedef enum {
#define LOG__ENUM(name, value, text) name = value,
    LOG_STATUS_MAP(LOG__ENUM)
#undef LOG__ENUM
} log_status;

/* Static string for a status value ("unknown status" if out of range). */
const char *log_strstatus(int status);

typedef enum { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR } log_level;

/* Set the service name (copied, truncated to 63 bytes), the minimum level and
 * the output stream (borrowed; NULL = stderr; only its file descriptor is
 * used).  Call once at startup before other threads log; calling it again
 * later is allowed but a concurrent line may carry either service name.
 * Before log_init the defaults are service "-", level info, stderr. */
void log_init(const char *service, log_level min, FILE *out);

/* Change the minimum level at run time (thread-safe). */
void log_set_level(log_level min);

/* "debug" | "info" | "warn" | "error" (case-insensitive; "warning" too).
 * Returns LOG_OK and sets *out, or LOG_EINVAL leaving *out unchanged. */
int log_level_parse(const char *s, log_level *out);

/* Static lower-case name of a level ("info"). */
const char *log_level_name(log_level l);

/* 1 if a line at level l would be written (thread-safe, lock-free). */
int log_enabled(log_level l);

/* Write one line: msg, then trailing key, value string pairs terminated by a
 * NULL key.  A NULL value skips its pair.  Keys and values are borrowed and
 * JSON-escaped (control characters, quotes, backslashes; invalid UTF-8
 * becomes \ufffd).  Example:
 *   log_kv(LOG_LEVEL_INFO, "claim accepted", "env", name, "event_id", id, NULL);
 *   {"ts":"2026-11-23T11:30:00.123Z","level":"info","service":"claim-ingest",
 *    "msg":"claim accepted","env":"dev-x","event_id":"..."}
 * Thread-safe; never fails visibly (a line that cannot be allocated is
 * replaced by a short line saying so). */
void log_kv(log_level l, const char *msg, ...) __attribute__((sentinel));

/* Write one line whose msg is the printf-formatted text.  Thread-safe. */
void log_msg(log_level l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Same as log_kv/log_msg but the level is tested before the arguments are
 * evaluated. */
#define LOG_KV(level, ...)  do { if (log_enabled(level)) log_kv(level, __VA_ARGS__); } while (0)
#define LOG_MSG(level, ...) do { if (log_enabled(level)) log_msg(level, __VA_ARGS__); } while (0)

#endif
