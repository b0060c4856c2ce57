/*
 * provisioner: the state machine's table and its Redis scripts (see
 * envstate.h).  The table in C is the single statement of which transitions
 * exist; the script receives, for each call, the list of states the target
 * may be reached from, and adds what only Redis can check atomically: the
 * generation comparison and the current state.
 */
#include "envstate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const NAMES[] = {
    "", "pending", "provisioning", "ready", "failed", "deprovisioning", "deleted"
};
#define NSTATES ((int)(sizeof NAMES / sizeof NAMES[0]))

const char *envstate_name(envstate_state s)
{
    return (int)s >= 0 && (int)s < NSTATES ? NAMES[s] : "";
}

envstate_state envstate_parse(const char *s)
{
    for (int i = 1; s && i < NSTATES; i++)
        if (strcmp(s, NAMES[i]) == 0)
            return (envstate_state)i;
    return ENVSTATE_NONE;
}

int envstate_allowed(envstate_state from, envstate_state to)
{
    switch (to) {
    case ENVSTATE_PROVISIONING:
        return from == ENVSTATE_PENDING;
    case ENVSTATE_READY:
        return from == ENVSTATE_PROVISIONING;
    case ENVSTATE_FAILED:
        return from == ENVSTATE_PENDING || from == ENVSTATE_PROVISIONING;
    case ENVSTATE_DEPROVISIONING:
        return from == ENVSTATE_PENDING || from == ENVSTATE_PROVISIONING || from == ENVSTATE_READY ||
               from == ENVSTATE_FAILED;
    case ENVSTATE_DELETED:
        return from == ENVSTATE_DEPROVISIONING;
    case ENVSTATE_PENDING:   /* only ever as the start of a newer generation */
    case ENVSTATE_NONE:
        return 0;
    }
    return 0;
}

static const char TRANSITION_LUA[] =
    "local k = KEYS[1]\n"
    "local F = {'state', 'generation', 'previous', 'published', 'type', 'source', 'reason'}\n"
    "local function reply(v)\n"
    "  local x = redis.call('HMGET', k, unpack(F))\n"
    "  return {v, x[1] or '', x[2] or '0', x[3] or '', x[4] or '0', x[5] or '', x[6] or '', x[7] or ''}\n"
    "end\n"
    "local r = redis.call('HMGET', k, 'state', 'generation')\n"
    "local st = r[1] or ''\n"
    "local gen = tonumber(r[2]) or 0\n"
    "local g = tonumber(ARGV[1])\n"
    "if st ~= '' and gen > g then return reply('stale') end\n"
    "if st ~= '' and gen == g then\n"
    "  if st == ARGV[2] then return reply('same') end\n"
    "  if not string.find(ARGV[4], ',' .. st .. ',', 1, true) then return reply('refused') end\n"
    "elseif ARGV[3] ~= '1' then\n"
    "  return reply('refused')\n"
    "end\n"
    "redis.call('HSET', k, 'state', ARGV[2], 'generation', ARGV[1], 'previous', st, 'reason', ARGV[5],\n"
    "           'published', '0', 'updated_at', ARGV[9])\n"
    "if ARGV[10] == 'set' then redis.call('HSET', k, 'documents', ARGV[6])\n"
    "elseif ARGV[10] == 'clear' then redis.call('HDEL', k, 'documents') end\n"
    "if ARGV[7] ~= '' then redis.call('HSET', k, 'type', ARGV[7]) end\n"
    "if ARGV[8] ~= '' then redis.call('HSET', k, 'source', ARGV[8]) end\n"
    "return reply('ok')\n";

static const char MARK_LUA[] =
    "local r = redis.call('HMGET', KEYS[1], 'state', 'generation')\n"
    "if r[1] == ARGV[2] and r[2] == ARGV[1] then\n"
    "  redis.call('HSET', KEYS[1], 'published', '1')\n"
    "  return 1\n"
    "end\n"
    "return 0\n";

struct envstate {
    store_script *transition, *mark;
};

envstate *envstate_create(void)
{
    envstate *es = calloc(1, sizeof *es);

    if (es == NULL)
        return NULL;
    es->transition = store_script_create(TRANSITION_LUA);
    es->mark = store_script_create(MARK_LUA);
    if (es->transition == NULL || es->mark == NULL) {
        envstate_destroy(es);
        return NULL;
    }
    return es;
}

void envstate_destroy(envstate *es)
{
    if (es == NULL)
        return;
    store_script_destroy(es->transition);
    store_script_destroy(es->mark);
    free(es);
}

static void key_of(const char *env, char *out, size_t n)
{
    snprintf(out, n, "ep:provisioner:env:%s", env);
}

static void fill_record(const redisReply *r, size_t first, envstate_record *rec)
{
    /* state generation previous published type source reason */
    memset(rec, 0, sizeof *rec);
    rec->state = envstate_parse(r->element[first]->str);
    rec->generation = strtoull(r->element[first + 1]->str ? r->element[first + 1]->str : "0", NULL, 10);
    rec->previous = envstate_parse(r->element[first + 2]->str);
    rec->published = r->element[first + 3]->str && strcmp(r->element[first + 3]->str, "1") == 0;
    snprintf(rec->type, sizeof rec->type, "%s", r->element[first + 4]->str ? r->element[first + 4]->str : "");
    snprintf(rec->source, sizeof rec->source, "%s", r->element[first + 5]->str ? r->element[first + 5]->str : "");
    snprintf(rec->reason, sizeof rec->reason, "%s", r->element[first + 6]->str ? r->element[first + 6]->str : "");
}

int envstate_transition(envstate *es, store *st, const char *env, const envstate_change *ch,
                        envstate_verdict *verdict, envstate_record *rec, ep_err *err)
{
    char        key[128], gen[24], from[128] = ",";
    const char *keys[1], *args[10];
    redisReply *r;
    const char *v;
    int         rc = -1;

    key_of(env, key, sizeof key);
    snprintf(gen, sizeof gen, "%llu", (unsigned long long)ch->generation);
    for (int s = 1; s < NSTATES; s++) {
        if (envstate_allowed((envstate_state)s, ch->to)) {
            strcat(from, NAMES[s]);
            strcat(from, ",");
        }
    }
    keys[0] = key;
    args[0] = gen;
    args[1] = envstate_name(ch->to);
    args[2] = ch->new_generation_ok ? "1" : "0";
    args[3] = from;
    args[4] = ch->reason ? ch->reason : "";
    args[5] = ch->documents ? ch->documents : "";
    args[6] = ch->type ? ch->type : "";
    args[7] = ch->source ? ch->source : "";
    args[8] = ch->at ? ch->at : "";
    args[9] = ch->documents ? "set" : "clear";
    r = store_script_run(st, es->transition, 1, keys, 10, args, err);
    if (r == NULL) {
        ep_err_wrap(err, "state of %s", env);
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 8) {
        ep_err_set(err, STORE_EPROTO, "state of %s: unexpected script reply", env);
        goto out;
    }
    for (size_t i = 0; i < 8; i++)
        if (r->element[i]->type != REDIS_REPLY_STRING) {
            ep_err_set(err, STORE_EPROTO, "state of %s: unexpected script reply", env);
            goto out;
        }
    v = r->element[0]->str;
    *verdict = strcmp(v, "ok") == 0     ? ENVSTATE_OK
             : strcmp(v, "same") == 0   ? ENVSTATE_SAME
             : strcmp(v, "stale") == 0  ? ENVSTATE_STALE
                                        : ENVSTATE_REFUSED;
    fill_record(r, 1, rec);
    rc = 0;
out:
    freeReplyObject(r);
    return rc;
}

int envstate_mark_published(envstate *es, store *st, const char *env, uint64_t generation,
                            envstate_state state, ep_err *err)
{
    char        key[128], gen[24];
    const char *keys[1], *args[2];
    redisReply *r;

    key_of(env, key, sizeof key);
    snprintf(gen, sizeof gen, "%llu", (unsigned long long)generation);
    keys[0] = key;
    args[0] = gen;
    args[1] = envstate_name(state);
    r = store_script_run(st, es->mark, 1, keys, 2, args, err);
    if (r == NULL) {
        ep_err_wrap(err, "marking %s published", env);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

int envstate_get(store *st, const char *env, envstate_record *rec, ep_err *err)
{
    char        key[128];
    redisReply *r;
    int         rc = -1;

    key_of(env, key, sizeof key);
    r = store_cmd(st, err, "HMGET %s state generation previous published type source reason", key);
    if (r == NULL) {
        ep_err_wrap(err, "reading state of %s", env);
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 7) {
        ep_err_set(err, STORE_EPROTO, "reading state of %s: unexpected reply", env);
        goto out;
    }
    fill_record(r, 0, rec);
    rc = 0;
out:
    freeReplyObject(r);
    return rc;
}
