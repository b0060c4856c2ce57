/*
 * provisioner: the S3 writer pool (see writers.h).  One mutex guards the
 * batch; threads take the next item index under it and report completion
 * under it, and the caller waits on `done` until every item is accounted
 * for.  Shutdown raises `stop` and wakes everyone; a batch is never in
 * progress then, because only the worker thread submits and it has
 * returned before main destroys the pool.
 */
#include "writers.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct writer {
    writers   *pool;
    s3_client *client;
    pthread_t  tid;
    int        started;
} writer;

struct writers {
    pthread_mutex_t     mu;
    pthread_cond_t      work, done;
    writer             *w;
    int                 n;
    int                 stop;
    /* the batch in progress */
    const writers_item *items;
    size_t              n_items, next, finished;
    const char         *bucket, *ctype;
    int                 failed;
    ep_err              first_err;
};

static void *run(void *arg)
{
    writer  *me = arg;
    writers *p = me->pool;

    pthread_mutex_lock(&p->mu);
    for (;;) {
        size_t i;
        ep_err err = { 0 };
        int    rc;

        while (!p->stop && (p->items == NULL || p->next >= p->n_items))
            pthread_cond_wait(&p->work, &p->mu);
        if (p->stop)
            break;
        i = p->next++;
        pthread_mutex_unlock(&p->mu);
        rc = s3_put(me->client, p->bucket, p->items[i].key, p->items[i].data, p->items[i].len, p->ctype,
                    NULL, &err);
        pthread_mutex_lock(&p->mu);
        if (rc != S3_OK && !p->failed) {
            p->failed = 1;
            p->first_err = err;
        }
        if (++p->finished == p->n_items)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int writers_create(const s3_config *cfg, int n, writers **out, ep_err *err)
{
    writers *p = calloc(1, sizeof *p);

    *out = NULL;
    if (p == NULL || (p->w = calloc((size_t)n, sizeof *p->w)) == NULL) {
        free(p);
        ep_err_set(err, S3_ENOMEM, "writer pool: out of memory");
        return -1;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    p->n = n;
    for (int i = 0; i < n; i++) {
        p->w[i].pool = p;
        if (s3_client_create(cfg, &p->w[i].client, err) != S3_OK)
            goto fail;
        if (pthread_create(&p->w[i].tid, NULL, run, &p->w[i]) != 0) {
            ep_err_set(err, S3_EINTERNAL, "writer pool: cannot start thread %d", i);
            goto fail;
        }
        p->w[i].started = 1;
    }
    *out = p;
    return 0;
fail:
    writers_destroy(p);
    return -1;
}

int writers_put_all(writers *p, const char *bucket, const writers_item *items, size_t n,
                    const char *content_type, ep_err *err)
{
    int rc = 0;

    if (n == 0)
        return 0;
    pthread_mutex_lock(&p->mu);
    p->items = items;
    p->n_items = n;
    p->next = p->finished = 0;
    p->bucket = bucket;
    p->ctype = content_type;
    p->failed = 0;
    pthread_cond_broadcast(&p->work);
    while (p->finished < p->n_items)
        pthread_cond_wait(&p->done, &p->mu);
    if (p->failed) {
        if (err)
            *err = p->first_err;
        rc = -1;
    }
    p->items = NULL;
    p->n_items = p->next = p->finished = 0;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void writers_destroy(writers *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n; i++) {
        if (p->w[i].started)
            pthread_join(p->w[i].tid, NULL);
        s3_client_destroy(p->w[i].client);
    }
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p->w);
    free(p);
}
