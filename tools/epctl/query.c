/*
 * epctl query: ask the indexer (platform.index.v1.query, protobuf Query)
 * and print the QueryReply as one JSON object (libs/pbjson).  Exit status:
 * 0 answered, 1 no answer or transport error, 2 bad flags, 3 the indexer
 * rejected the query (the reply's error names the field).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bus/bus.h"
#include "envplane/index/v1/index.pb-c.h"
#include "epctl.h"
#include "events/events.h"
#include "pbjson/pbjson.h"

static void query_usage(FILE *out)
{
    fprintf(out,
        "usage: epctl query [--user U] [--pool P] [--type dev|staging|prod|sue]\n"
        "                   [--state pending|provisioning|ready|failed|deprovisioning]\n"
        "                   [--name ENV] [--expires-before T] [--expires-after T]\n"
        "                   [--sort creation|expiry] [--desc] [--limit N] [--cursor C]\n"
        "                   [--nats-url URL] [--timeout SEC]\n"
        "Prints the indexer's reply as JSON; next_cursor (if any) fetches the next page.\n");
}

static int lookup(const char *const *names, int n, const char *v)
{
    for (int i = 1; i < n; i++)
        if (strcmp(names[i], v) == 0)
            return i;
    return -1;
}

int epctl_query(int argc, char **argv, const char *default_url)
{
    static const struct option longopts[] = {
        { "user", required_argument, NULL, 'u' }, { "pool", required_argument, NULL, 'p' },
        { "type", required_argument, NULL, 't' }, { "state", required_argument, NULL, 's' },
        { "name", required_argument, NULL, 'n' }, { "expires-before", required_argument, NULL, 'b' },
        { "expires-after", required_argument, NULL, 'a' }, { "sort", required_argument, NULL, 'o' },
        { "desc", no_argument, NULL, 'd' }, { "limit", required_argument, NULL, 'l' },
        { "cursor", required_argument, NULL, 'c' }, { "nats-url", required_argument, NULL, 'N' },
        { "timeout", required_argument, NULL, 'T' }, { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    static const char *const types[] = { "", "dev", "staging", "prod", "sue" };
    static const char *const states[] = { "", "pending", "provisioning", "ready", "failed", "deprovisioning", "deleted" };
    Envplane__Index__V1__Query q;
    Envplane__Index__V1__QueryReply *r = NULL;
    const char *url = default_url;
    long        timeout = 5, limit;
    uint8_t    *req = NULL;
    size_t      len;
    bus        *b = NULL;
    bus_config  bc = { 0 };
    ep_err      err = { 0 };
    natsMsg    *reply = NULL;
    natsStatus  s;
    int         opt, rc = 1, v;
    char       *end;

    envplane__index__v1__query__init(&q);
    optind = 2;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'u': q.user = optarg; break;
        case 'p': q.environment_pool = optarg; break;
        case 'n': q.environment_name = optarg; break;
        case 'b': q.expires_before = optarg; break;
        case 'a': q.expires_after = optarg; break;
        case 'c': q.cursor = optarg; break;
        case 'd': q.descending = 1; break;
        case 'N': url = optarg; break;
        case 't':
            if ((v = lookup(types, 5, optarg)) < 0) {
                fprintf(stderr, "epctl query: --type must be dev, staging, prod or sue\n");
                return 2;
            }
            q.environment_type = v;
            break;
        case 's':
            if ((v = lookup(states, 7, optarg)) < 0) {
                fprintf(stderr, "epctl query: --state must be pending, provisioning, ready, failed or deprovisioning\n");
                return 2;
            }
            q.state = v;
            break;
        case 'o':
            if (strcmp(optarg, "creation") == 0) q.sort = ENVPLANE__INDEX__V1__SORT_BY__SORT_BY_CREATION;
            else if (strcmp(optarg, "expiry") == 0) q.sort = ENVPLANE__INDEX__V1__SORT_BY__SORT_BY_EXPIRY;
            else {
                fprintf(stderr, "epctl query: --sort must be creation or expiry\n");
                return 2;
            }
            break;
        case 'l':
            limit = strtol(optarg, &end, 10);
            if (*end || limit < 0 || limit > 100000) {
                fprintf(stderr, "epctl query: --limit must be a number\n");
                return 2;
            }
            q.limit = (uint32_t)limit;   /* the indexer enforces its own maximum */
            break;
        case 'T':
            timeout = strtol(optarg, &end, 10);
            if (*end || timeout <= 0) {
                fprintf(stderr, "epctl query: --timeout must be a positive number of seconds\n");
                return 2;
            }
            break;
        case 'h': query_usage(stdout); return 0;
        default: query_usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "epctl query: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    len = envplane__index__v1__query__get_packed_size(&q);
    req = malloc(len ? len : 1);
    if (req == NULL) {
        fprintf(stderr, "epctl query: out of memory\n");
        return 1;
    }
    envplane__index__v1__query__pack(&q, req);

    bc.url = url;
    bc.name = "epctl";
    bc.source = "/envplane/epctl";
    if (bus_create(&bc, &b, &err) != BUS_OK) {
        fprintf(stderr, "epctl query: %s\n", err.msg);
        goto out;
    }
    s = natsConnection_Request(&reply, bus_conn(b), RPC_INDEX_QUERY, req, (int)len, timeout * 1000);
    if (s != NATS_OK) {
        fprintf(stderr, "epctl query: no answer on %s: %s%s\n", RPC_INDEX_QUERY, natsStatus_GetText(s),
                s == NATS_NO_RESPONDERS ? " (is an indexer running?)" : "");
        goto out;
    }
    r = envplane__index__v1__query_reply__unpack(NULL, (size_t)natsMsg_GetDataLength(reply),
                                                 (const uint8_t *)natsMsg_GetData(reply));
    if (r == NULL) {
        fprintf(stderr, "epctl query: the reply is not a QueryReply\n");
        goto out;
    }
    {
        json_t *o = pbjson_from_message(&r->base);
        char   *line = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
        if (line)
            printf("%s\n", line);
        free(line);
        json_decref(o);
    }
    if (r->error[0]) {
        fprintf(stderr, "epctl query: %s\n", r->error);
        rc = 3;
    } else {
        rc = 0;
    }
out:
    if (r)
        envplane__index__v1__query_reply__free_unpacked(r, NULL);
    natsMsg_Destroy(reply);
    bus_destroy(b);
    free(req);
    return rc;
}
