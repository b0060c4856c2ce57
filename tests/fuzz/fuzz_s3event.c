/*
 * fuzz_s3event: libFuzzer harness for s3event_parse and the Go-compatible
 * query escaping.
 *
 * Every parse outcome must be consistent (a result exactly on success); an
 * accepted record's key must be non-empty UTF-8 without NUL, and escaping it
 * and unescaping again must give it back, as must escaping and unescaping
 * whatever the raw input unescapes to.
 *
 * Build (from the repository root):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Ilibs \
 *     libs/s3event/s3event.c libs/err/err.c tests/fuzz/fuzz_s3event.c \
 *     $(pkg-config --cflags --libs jansson) -o fuzz_s3event
 * Run on a copy of tests/fuzz/corpus/s3event with -max_total_time=120.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "s3event/s3event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip(const char *s, size_t n)
{
    char *esc = s3event_query_escape(s, n), *back;
    size_t bl;

    if (esc == NULL)
        abort();
    back = malloc(strlen(esc) + 1);
    if (s3event_query_unescape(esc, strlen(esc), back, &bl, NULL) != S3EVENT_OK ||
        bl != n || memcmp(back, s, n) != 0)
        abort();
    free(back);
    s3event_free(esc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s3event *ev = NULL;
    ep_err err;
    char *out;
    size_t n;
    int rc;

    rc = s3event_parse((const char *)data, size, &ev, &err);
    if ((rc == S3EVENT_OK) != (ev != NULL))
        abort();
    if (ev != NULL) {
        if (ev->n_records == 0 || ev->n_records > S3EVENT_MAX_RECORDS)
            abort();
        for (size_t i = 0; i < ev->n_records; i++) {
            const s3event_record *r = &ev->records[i];
            if (r->key[0] == '\0' || r->bucket[0] == '\0' || r->size < 0)
                abort();
            round_trip(r->key, strlen(r->key));
        }
    } else if (err.code != rc || strnlen(err.msg, sizeof err.msg) == sizeof err.msg) {
        abort();
    }
    s3event_destroy(ev);

    out = malloc(size + 1);
    if (s3event_query_unescape((const char *)data, size, out, &n, NULL) == S3EVENT_OK) {
        if (n > size || out[n] != '\0')
            abort();
        round_trip(out, n);
    }
    free(out);
    return 0;
}
