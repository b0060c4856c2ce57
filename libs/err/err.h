/*
 * err: a small error value that every envplane library fills in.
 *
 * Libraries return a status enum of their own (0 = OK) and, when the caller
 * passes an ep_err, a message that says where and why.  Each layer that passes
 * an error up prefixes its own context with ep_err_wrap(), so a service logs
 * "fetching claim dev-x: s3 GET environments/dev-x.json: HTTP 404 NoSuchKey"
 * rather than "error 7".  The buffer is embedded, so reporting an error never
 * allocates (out-of-memory errors included).
 */
#ifndef EP_ERR_H
#define EP_ERR_H

#include <stddef.h>

#define EP_ERR_MSG_MAX 512

typedef struct ep_err {
    int  code;                   /* the failing library's status value, 0 if none */
    char msg[EP_ERR_MSG_MAX];    /* NUL-terminated, truncated if too long */
} ep_err;

/* Reset to "no error".  Accepts NULL. */
void ep_err_clear(ep_err *e);

/* Set code and message (printf format).  Accepts NULL e (then does nothing).
 * Returns code, so a library can write `return ep_err_set(err, S3_EHTTP, ...)`. */
int ep_err_set(ep_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix the current message with "<context>: ".  Keeps the code.  Accepts NULL.
 * Returns the code so it can end a function: `return ep_err_wrap(err, ...)`. */
int ep_err_wrap(ep_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
