/*
 * index internals shared between the event side (index.c) and the query
 * side (query.c).
 */
#ifndef EP_INDEX_INTERNAL_H
#define EP_INDEX_INTERNAL_H

#include "index.h"

struct index_db {
    char         *prefix;
    long long     tomb_ttl_ms;
    store_script *sc_write, *sc_mark, *sc_query;
    index_strategy strategy;
};

/* The query script's text (query.c). */
extern const char index__query_lua[];
/* The write script's text, for loading it after NOSCRIPT (index.c). */
const char *index__write_lua(void);

#endif
