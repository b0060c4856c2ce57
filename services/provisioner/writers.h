/*
 * provisioner: a small pool of S3 writer threads.
 *
 * Writing a generation's documents one PUT after another costs one MinIO
 * round trip (a few milliseconds, mostly the server's own write) per
 * document, which made the bucket the provisioner's bottleneck.  The pool
 * writes the documents of one generation concurrently.  Each thread owns
 * its own s3_client (a client is not thread-safe and keeps its connection
 * alive between requests); the worker thread hands over one batch at a
 * time and waits for all of it, so processing stays serial per message.
 */
#ifndef PROVISIONER_WRITERS_H
#define PROVISIONER_WRITERS_H

#include <stddef.h>

#include "err/err.h"
#include "s3/s3.h"

typedef struct writers writers;

typedef struct writers_item {
    const char *key;     /* borrowed for the call */
    const char *data;
    size_t      len;
} writers_item;

/* Start n (>= 1) threads with a client each for cfg (copied).  Returns 0 or
 * -1 with err. */
int  writers_create(const s3_config *cfg, int n, writers **out, ep_err *err);
/* PUT every item into bucket and wait until all finished.  Returns 0, or
 * -1 with err describing the first failure (the other items were still
 * attempted; rewriting them is harmless). */
int  writers_put_all(writers *w, const char *bucket, const writers_item *items, size_t n,
                     const char *content_type, ep_err *err);
/* Stop and join the threads, free the clients.  NULL-safe. */
void writers_destroy(writers *w);

#endif
