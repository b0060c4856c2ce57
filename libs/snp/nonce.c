/*
 * nonce.c: single-use, expiring nonces kept in memory.
 *
 * The verifier hands a nonce to the workload, the workload puts
 * SHA-512(nonce || its public key) into report_data, and the evidence is
 * accepted once for that nonce.  A consumed nonce is remembered until its
 * lifetime ends so that a replay is reported as such; after that it is
 * forgotten and a replay shows up as an unknown nonce, which is rejected
 * just the same.  The table is a chained hash keyed by the nonce's first
 * eight bytes (the nonce is random, so those are a good hash).  Expired
 * entries are swept when the table is full.  One mutex guards everything;
 * the work under it is tiny.  A service with several replicas will put the
 * same protocol into Redis.
 */
#include "snp/snp.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

typedef struct nonce_node {
    struct nonce_node *next;
    uint8_t            nonce[SNP_NONCE_LEN];
    int64_t            expires;   /* Unix seconds; invalid from this instant */
    bool               consumed;
} nonce_node;

struct snp_nonce_store {
    pthread_mutex_t lock;
    nonce_node    **buckets;
    size_t          mask;      /* buckets - 1, a power of two minus one */
    size_t          count, max;
    int64_t         ttl;
    snp_clock_fn    clock;
    void           *clock_data;
};

static int64_t real_clock(void *data)
{
    (void)data;
    return (int64_t)time(NULL);
}

snp_nonce_store *snp_nonce_store_create(int64_t ttl, size_t max_outstanding,
                                        snp_clock_fn clock, void *clock_data, ep_err *err)
{
    snp_nonce_store *s;
    size_t           nb = 64;

    if (ttl <= 0) {
        ep_err_set(err, SNP_EINVAL, "nonce store: ttl must be positive");
        return NULL;
    }
    if (max_outstanding == 0)
        max_outstanding = 65536;
    while (nb < max_outstanding && nb < ((size_t)1 << 24))
        nb <<= 1;
    s = calloc(1, sizeof *s);
    if (s == NULL || (s->buckets = calloc(nb, sizeof *s->buckets)) == NULL) {
        free(s);
        ep_err_set(err, SNP_ENOMEM, "nonce store: out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    s->mask = nb - 1;
    s->max = max_outstanding;
    s->ttl = ttl;
    s->clock = clock ? clock : real_clock;
    s->clock_data = clock_data;
    return s;
}

void snp_nonce_store_destroy(snp_nonce_store *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i <= s->mask; i++) {
        nonce_node *n = s->buckets[i];
        while (n != NULL) {
            nonce_node *next = n->next;
            OPENSSL_cleanse(n, sizeof *n);
            free(n);
            n = next;
        }
    }
    free(s->buckets);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static size_t bucket_of(const snp_nonce_store *s, const uint8_t *nonce)
{
    uint64_t h;

    memcpy(&h, nonce, sizeof h);
    return (size_t)h & s->mask;
}

static void sweep_locked(snp_nonce_store *s, int64_t now)
{
    for (size_t i = 0; i <= s->mask; i++) {
        nonce_node **pp = &s->buckets[i];
        while (*pp != NULL) {
            nonce_node *n = *pp;
            if (n->expires <= now) {
                *pp = n->next;
                free(n);
                s->count--;
            } else {
                pp = &n->next;
            }
        }
    }
}

int snp_nonce_issue(snp_nonce_store *s, uint8_t out[SNP_NONCE_LEN], ep_err *err)
{
    nonce_node *n;
    int64_t     now;
    size_t      b;
    int         rc = SNP_OK;

    if (s == NULL || out == NULL)
        return ep_err_set(err, SNP_EINVAL, "nonce issue: NULL argument");
    if ((n = calloc(1, sizeof *n)) == NULL)
        return ep_err_set(err, SNP_ENOMEM, "nonce issue: out of memory");
    if (RAND_bytes(n->nonce, SNP_NONCE_LEN) != 1) {
        free(n);
        return ep_err_set(err, SNP_ECRYPTO, "nonce issue: RAND_bytes failed");
    }
    pthread_mutex_lock(&s->lock);
    now = s->clock(s->clock_data);
    if (s->count >= s->max)
        sweep_locked(s, now);
    if (s->count >= s->max) {
        rc = ep_err_set(err, SNP_EFULL, "nonce issue: %zu nonces outstanding", s->count);
        free(n);
    } else {
        n->expires = now + s->ttl;
        b = bucket_of(s, n->nonce);
        n->next = s->buckets[b];
        s->buckets[b] = n;
        s->count++;
        memcpy(out, n->nonce, SNP_NONCE_LEN);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

snp_nonce_status snp_nonce_consume(snp_nonce_store *s, const uint8_t *nonce, size_t len)
{
    snp_nonce_status st = SNP_NONCE_UNKNOWN;
    nonce_node     **pp;
    int64_t          now;

    if (s == NULL || nonce == NULL || len != SNP_NONCE_LEN)
        return SNP_NONCE_UNKNOWN;
    pthread_mutex_lock(&s->lock);
    now = s->clock(s->clock_data);
    for (pp = &s->buckets[bucket_of(s, nonce)]; *pp != NULL; pp = &(*pp)->next) {
        nonce_node *n = *pp;
        if (CRYPTO_memcmp(n->nonce, nonce, SNP_NONCE_LEN) != 0)
            continue;
        if (n->expires <= now) {
            st = SNP_NONCE_EXPIRED;
            *pp = n->next;
            free(n);
            s->count--;
        } else if (n->consumed) {
            st = SNP_NONCE_REPLAYED;
        } else {
            n->consumed = true;
            st = SNP_NONCE_OK;
        }
        break;
    }
    pthread_mutex_unlock(&s->lock);
    return st;
}

static snp_nonce_status store_consume(void *ud, const uint8_t *nonce, size_t len)
{
    return snp_nonce_consume(ud, nonce, len);
}

snp_nonce_consumer snp_nonce_store_consumer(snp_nonce_store *s)
{
    return (snp_nonce_consumer){.consume = store_consume, .ud = s};
}
