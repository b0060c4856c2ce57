/*
 * store: envplane's connection to Redis, a thin layer over hiredis.
 *
 * It adds what every service otherwise repeats: parsing redis:// URLs
 * (password, database), a timeout on connect and on every command, one
 * reconnect-and-retry when the connection was lost (Redis restarted, an idle
 * connection cut by a proxy, CLIENT KILL), error replies turned into ep_err
 * messages naming the command and key, and Lua scripts run by SHA with a
 * fallback to the full text after SCRIPT FLUSH or a server restart.
 *
 * A store is ONE connection and is NOT thread-safe: Redis answers requests
 * in order on a connection, so two threads sharing one would read each
 * other's replies (and hiredis keeps unsynchronised buffers).  Use one store
 * per thread; they are cheap.  store_script objects are immutable after
 * creation and may be shared between threads.
 *
 * Retry caveat: a command is retried once after an I/O error, and the
 * server may already have executed it before the connection broke.  Make
 * retried writes idempotent (SET, HSET, scripts that check a generation), or
 * use pipelining, which never retries.
 *
 * hiredis writes with write(), so a write to a connection the server has
 * closed raises SIGPIPE: a service using store must ignore SIGPIPE
 * (signal(SIGPIPE, SIG_IGN) in main), as every long-running server does.
 */
#ifndef EP_STORE_H
#define EP_STORE_H

#include <stddef.h>
#include <hiredis/hiredis.h>

#include "err/err.h"

#define STORE_STATUS_MAP(X)                                                        \
    X(STORE_OK,       0, "ok")                                                     \
    X(STORE_EURL,     1, "invalid redis URL")                                      \
    X(STORE_ECONNECT, 2, "could not connect, authenticate or select the database") \
    X(STORE_EIO,      3, "connection lost or timed out (after one reconnect)")     \
    X(STORE_EREPLY,   4, "redis answered with an error reply")                     \
    X(STORE_EPROTO,   5, "unexpected reply or protocol error")                     \
    X(STORE_EINVAL,   6, "invalid argument")                                       \
    X(STORE_ENOMEM,   7, "out of memory")

typedef enum {
#define STORE__ENUM(name, value, text) name = value,
    STORE_STATUS_MAP(STORE__ENUM)
#undef STORE__ENUM
} store_status;

/* Static string for a status value ("unknown status" if out of range). */
const char *store_strstatus(int status);

typedef struct store store;

/* Connect to redis://[[user]:password@]host[:port][/db] (port 6379, db 0 by
 * default; user and password may be percent-encoded; "[::1]" for IPv6).
 * timeout_ms bounds the connect and each command (<= 0: no timeout).
 * Returns STORE_OK and *out, or a status with err filled (the password is
 * never part of a message).  url is copied. */
int  store_create(const char *url, long timeout_ms, store **out, ep_err *err);
/* Close and free; accepts NULL. */
void store_destroy(store *s);

/* Send one command (hiredis format: %s, %b with pointer + size_t, %d ...) and
 * wait for its reply.  On an I/O error the connection is re-established
 * once and the command sent again.  Returns a new reply (free with
 * freeReplyObject), or NULL with err filled: an error reply becomes
 * STORE_EREPLY "redis HSET ep:claim:x: WRONGTYPE ..." (command and first
 * argument, never other arguments). */
redisReply *store_cmd(store *s, ep_err *err, const char *fmt, ...);
/* Same with an argument vector; lens may be NULL (then strlen).  argv borrowed. */
redisReply *store_cmd_argv(store *s, int argc, const char **argv, const size_t *lens, ep_err *err);

/* Pipelining: queue a command in the output buffer (nothing is sent yet),
 * then collect one reply per queued command, in order, with
 * store_get_reply (the first call sends the whole buffer).  No retry: after
 * an I/O error the pending commands are lost, every further store_get_reply
 * fails until the queue is drained, and the next store_cmd reconnects.
 * store_append returns STORE_OK or a status; store_get_reply returns a new
 * reply or NULL + err (error replies too, STORE_EREPLY, naming the command's
 * position in the pipeline). */
int  store_append(store *s, ep_err *err, const char *fmt, ...);
int  store_append_argv(store *s, int argc, const char **argv, const size_t *lens, ep_err *err);
redisReply *store_get_reply(store *s, ep_err *err);
/* Number of queued commands whose replies have not been read yet. */
size_t store_pending(const store *s);

/* A Lua script run with EVALSHA, falling back to EVAL on NOSCRIPT (which
 * also loads it into the server's script cache).  create copies lua and
 * computes its SHA1; NULL on out of memory.  destroy accepts NULL. */
typedef struct store_script store_script;
store_script *store_script_create(const char *lua);
void store_script_destroy(store_script *sc);
/* The script's SHA1 as 40 lower-case hex digits (borrowed). */
const char *store_script_sha(const store_script *sc);
/* Run sc with KEYS = keys[0..nkeys) and ARGV = args[0..nargs) (borrowed).
 * Returns a new reply or NULL + err (a Lua error is STORE_EREPLY). */
redisReply *store_script_run(store *s, store_script *sc, int nkeys, const char **keys,
                             int nargs, const char **args, ep_err *err);

/* PING; STORE_OK if the server answered PONG. */
int  store_ping(store *s, ep_err *err);

/* Number of times this store re-established its connection (for metrics). */
unsigned long store_reconnects(const store *s);

#endif
