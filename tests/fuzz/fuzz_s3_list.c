/*
 * fuzz_s3_list: libFuzzer harness for the s3 response parsers.  Every input
 * goes to the ListObjectsV2 page parser and to the <Error> body parser, which
 * see bytes straight from the network in production.  A parsed page is
 * checked for the invariants s3_list relies on: a truncated page carries a
 * non-empty continuation token, every entry has a key and a non-negative
 * size.
 *
 * Build with clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Ilibs
 * from this file, the .c files of libs/s3 and libs/err and the pkg-config
 * flags of libcurl, libxml-2.0 and openssl; run it on a copy of
 * tests/fuzz/corpus/s3_list with -max_total_time=60.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "s3/s3_internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    xmlInitParser();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s3__list_page page;
    ep_err        err = {0};
    char          code[64], msg[128];

    if (s3__parse_list_xml((const char *)data, size, &page, &err) == S3_OK) {
        if (page.truncated != (page.next_token != NULL))
            abort();
        if (page.next_token != NULL && page.next_token[0] == '\0')
            abort();
        for (size_t i = 0; i < page.n; i++)
            if (page.entries[i].key == NULL || page.entries[i].key[0] == '\0' ||
                page.entries[i].etag == NULL || page.entries[i].size < 0)
                abort();
        s3__list_page_dispose(&page);
    } else if (err.code == S3_OK || err.msg[0] == '\0') {
        abort();  /* a failure must always say why */
    }
    if (s3__parse_error_xml((const char *)data, size, code, sizeof code, msg, sizeof msg) == 0 &&
        code[0] == '\0')
        abort();
    return 0;
}
