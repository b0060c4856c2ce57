/*
 * epctl: operator's command-line tool for envplane's event bus.
 *
 *   epctl streams   create or update the JetStream streams (idempotent)
 *   epctl tail      print events as JSON lines as they arrive, payload decoded
 *   epctl query     ask the indexer (query.c)
 *
 * It uses cnats' own threads rather than a libuv loop: it is a short-lived
 * client, and blocking calls are the simplest correct thing here.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bus/bus.h"
#include "ce/ce.h"
#include "epctl.h"
#include "events/events.h"
#include "pbjson/pbjson.h"

static void usage(FILE *out)
{
    fprintf(out,
        "usage: epctl COMMAND [OPTIONS]\n"
        "\n"
        "commands:\n"
        "  streams   create or update the PLATFORM and MINIO_NOTIFY JetStream streams\n"
        "  tail      print envplane events as JSON lines as they arrive\n"
        "  query     query the environment index (epctl query --help)\n"
        "\n"
        "options:\n"
        "  --nats-url URL        NATS server (env EP_NATS_URL; default nats://127.0.0.1:4222)\n"
        "  --notify-subject S    subject MinIO publishes bucket notifications on\n"
        "                        (streams; env EP_NOTIFY_SUBJECT; default minio.notify.claims)\n"
        "  --subject S           subject filter for tail (default platform.>)\n"
        "  --count N             tail: exit after N events (default: run until interrupted)\n"
        "  --idle-timeout SEC    tail: exit after SEC seconds without an event\n"
        "  -h, --help            this help\n");
}

static const char *envor(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && v[0] ? v : def;
}

static void print_event(natsMsg *m)
{
    json_t             *o = json_object(), *ce = json_object();
    const char        **keys = NULL;
    int                 nkeys = 0;
    const char         *type = NULL;
    const events_entry *ent;
    char               *line;

    json_object_set_new(o, "subject", json_string(natsMsg_GetSubject(m)));
    if (natsMsgHeader_Keys(m, &keys, &nkeys) == NATS_OK) {
        for (int i = 0; i < nkeys; i++) {
            const char *v = NULL;
            char        dec[1024];
            if (natsMsgHeader_Get(m, keys[i], &v) != NATS_OK)
                continue;
            if (strncmp(keys[i], "ce-", 3) == 0 && ce_percent_decode(v, dec, sizeof dec) == CE_OK)
                json_object_set_new(ce, keys[i] + 3, json_string(dec));
            else
                json_object_set_new(ce, keys[i], json_string(v));
            if (strcmp(keys[i], "ce-type") == 0)
                type = v;
        }
        free((void *)keys);
    }
    json_object_set_new(o, "ce", ce);
    ent = type ? events_by_type(type) : events_by_subject(natsMsg_GetSubject(m));
    if (ent != NULL) {
        ProtobufCMessage *pm = protobuf_c_message_unpack(ent->payload, NULL,
            (size_t)natsMsg_GetDataLength(m), (const uint8_t *)natsMsg_GetData(m));
        if (pm != NULL) {
            json_object_set_new(o, "data", pbjson_from_message(pm));
            protobuf_c_message_free_unpacked(pm, NULL);
        } else {
            json_object_set_new(o, "data_error", json_string("payload does not decode as the catalogued message"));
        }
    } else {
        json_object_set_new(o, "data_bytes", json_integer(natsMsg_GetDataLength(m)));
    }
    line = json_dumps(o, JSON_COMPACT);
    if (line) {
        printf("%s\n", line);
        fflush(stdout);
    }
    free(line);
    json_decref(o);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "nats-url", required_argument, NULL, 'u' },
        { "notify-subject", required_argument, NULL, 'n' },
        { "subject", required_argument, NULL, 's' },
        { "count", required_argument, NULL, 'c' },
        { "idle-timeout", required_argument, NULL, 't' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *url = envor("EP_NATS_URL", "nats://127.0.0.1:4222");
    const char *notify = envor("EP_NOTIFY_SUBJECT", "minio.notify.claims");
    const char *subject = "platform.>";
    long        count = 0, idle = 0;
    const char *cmd;
    bus        *b = NULL;
    bus_config  bc = { 0 };
    ep_err      err = { 0 };
    int         opt, rc = 1;

    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    cmd = argv[1];
    if (strcmp(cmd, "query") == 0) {
        rc = epctl_query(argc, argv, url);
        nats_Close();
        return rc;
    }
    optind = 2;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'u': url = optarg; break;
        case 'n': notify = optarg; break;
        case 's': subject = optarg; break;
        case 'c': count = strtol(optarg, NULL, 10); break;
        case 't': idle = strtol(optarg, NULL, 10); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (strcmp(cmd, "streams") != 0 && strcmp(cmd, "tail") != 0) {
        fprintf(stderr, "epctl: unknown command '%s'\n", cmd);
        usage(stderr);
        return 2;
    }

    bc.url = url;
    bc.name = "epctl";
    bc.source = "/envplane/epctl";
    if (bus_create(&bc, &b, &err) != BUS_OK) {
        fprintf(stderr, "epctl: %s\n", err.msg);
        return 1;
    }
    if (strcmp(cmd, "streams") == 0) {
        if (bus_ensure_streams(b, notify, &err) != BUS_OK) {
            fprintf(stderr, "epctl: %s\n", err.msg);
            goto out;
        }
        printf("streams %s (event subjects) and %s (%s) are in place\n",
               BUS_EVENT_STREAM, BUS_NOTIFY_STREAM, notify);
        rc = 0;
    } else {
        natsSubscription *sub = NULL;
        natsStatus        s = natsConnection_SubscribeSync(&sub, bus_conn(b), subject);
        long              seen = 0;

        if (s != NATS_OK) {
            fprintf(stderr, "epctl: subscribing to %s: %s\n", subject, natsStatus_GetText(s));
            goto out;
        }
        natsConnection_Flush(bus_conn(b));
        fprintf(stderr, "epctl: tailing %s on %s\n", subject, url);
        rc = 0;
        while (count == 0 || seen < count) {
            natsMsg *m = NULL;
            s = natsSubscription_NextMsg(&m, sub, idle > 0 ? idle * 1000 : 3600 * 1000);
            if (s == NATS_TIMEOUT) {
                if (idle > 0)
                    break;
                continue;
            }
            if (s != NATS_OK) {
                fprintf(stderr, "epctl: %s\n", natsStatus_GetText(s));
                rc = 1;
                break;
            }
            print_event(m);
            natsMsg_Destroy(m);
            seen++;
        }
        natsSubscription_Destroy(sub);
    }
out:
    bus_destroy(b);
    nats_Close();
    return rc;
}
