/*
 * timers: durable expiry timers in a Redis sorted set (see timers.h for the
 * keys and the lease protocol).  Each operation is a single Lua script so
 * that replicas sharing the set never interleave halfway through one.
 *
 * The scripts address the per-environment hashes by building their names
 * from a prefix passed in ARGV rather than declaring them in KEYS; that is
 * fine on one Redis server (which envplane uses) but would need hash tags on
 * a Redis Cluster.
 */
#include "timers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *timers_strstatus(int status)
{
    static const char *names[] = {
#define TIMERS_STR(name, str) str,
        TIMERS_STATUS_MAP(TIMERS_STR)
#undef TIMERS_STR
    };
    if (status < 0 || (size_t)status >= sizeof names / sizeof names[0])
        return "unknown status";
    return names[status];
}

static const char *const phase_names[] = { "scheduled", "warned", "expired", "done", "none", "deleted" };

const char *timer_phase_name(timer_phase p)
{
    return (unsigned)p < sizeof phase_names / sizeof phase_names[0] ? phase_names[p] : "unknown";
}

int timer_phase_parse(const char *s)
{
    for (size_t i = 0; s && i < sizeof phase_names / sizeof phase_names[0]; i++)
        if (strcmp(s, phase_names[i]) == 0)
            return (int)i;
    return -1;
}

/* KEYS: hash, due set.  ARGV: env generation expiration expiration_ms
 * static bucket key phase due tombstone_ttl.  Generations are compared as
 * numbers but stored as the caller's decimal text, so a later string
 * comparison in COMPLETE_LUA is exact. */
static const char SCHEDULE_LUA[] =
    "local cur = redis.call('HMGET', KEYS[1], 'generation', 'phase')\n"
    "local g = tonumber(cur[1]) or -1\n"
    "local gen = tonumber(ARGV[2])\n"
    "if g > gen then return 'stale' end\n"
    "if g == gen and cur[2] then return 'same' end\n"
    "redis.call('DEL', KEYS[1])\n"
    "if ARGV[3] == '' then\n"
    "  redis.call('HSET', KEYS[1], 'generation', ARGV[2], 'phase', 'none')\n"
    "  redis.call('PEXPIRE', KEYS[1], ARGV[10])\n"
    "  redis.call('ZREM', KEYS[2], ARGV[1])\n"
    "  return 'applied'\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'generation', ARGV[2], 'expiration', ARGV[3], 'expiration_ms', ARGV[4],\n"
    "           'static', ARGV[5], 'bucket', ARGV[6], 'key', ARGV[7], 'phase', ARGV[8], 'lease', '0')\n"
    "redis.call('ZADD', KEYS[2], ARGV[9], ARGV[1])\n"
    "return 'applied'\n";

/* KEYS: hash, due set.  ARGV: env generation tombstone_ttl. */
static const char CANCEL_LUA[] =
    "local g = tonumber(redis.call('HGET', KEYS[1], 'generation')) or -1\n"
    "local gen = tonumber(ARGV[2])\n"
    "if g > gen then return 'stale' end\n"
    "if g == gen and redis.call('HGET', KEYS[1], 'phase') == 'deleted' then return 'same' end\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('HSET', KEYS[1], 'generation', ARGV[2], 'phase', 'deleted')\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
    "redis.call('ZREM', KEYS[2], ARGV[1])\n"
    "return 'applied'\n";

/* KEYS: due set.  ARGV: now lease_until limit hash_prefix.  Returns one
 * array per leased entry: env generation phase expiration expiration_ms
 * static bucket key token. */
static const char LEASE_LUA[] =
    "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))\n"
    "local out = {}\n"
    "for _, env in ipairs(due) do\n"
    "  local h = ARGV[4] .. env\n"
    "  local r = redis.call('HMGET', h, 'generation', 'phase', 'expiration', 'expiration_ms', 'static', 'bucket', 'key')\n"
    "  if not r[1] or (r[2] ~= 'scheduled' and r[2] ~= 'warned' and r[2] ~= 'expired') then\n"
    "    redis.call('ZREM', KEYS[1], env)\n"
    "  else\n"
    "    local tok = redis.call('HINCRBY', h, 'lease', 1)\n"
    "    redis.call('ZADD', KEYS[1], ARGV[2], env)\n"
    "    out[#out + 1] = {env, r[1], r[2], r[3] or '', r[4] or '0', r[5] or '0', r[6] or '', r[7] or '', tostring(tok)}\n"
    "  end\n"
    "end\n"
    "return out\n";

/* KEYS: hash, due set.  ARGV: env generation token phase due tombstone_ttl
 * (due '' = leave the set). */
static const char COMPLETE_LUA[] =
    "local r = redis.call('HMGET', KEYS[1], 'generation', 'lease')\n"
    "if r[1] ~= ARGV[2] or r[2] ~= ARGV[3] then return 'lost' end\n"
    "redis.call('HSET', KEYS[1], 'phase', ARGV[4])\n"
    "if ARGV[5] == '' then\n"
    "  redis.call('ZREM', KEYS[2], ARGV[1])\n"
    "  redis.call('PEXPIRE', KEYS[1], ARGV[6])\n"
    "else\n"
    "  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])\n"
    "end\n"
    "return 'ok'\n";

struct timers {
    store_script *schedule, *cancel, *lease, *complete;
    long long     tombstone_ttl_ms;
};

timers *timers_create(long long tombstone_ttl_ms)
{
    timers *t = calloc(1, sizeof *t);

    if (t == NULL)
        return NULL;
    t->tombstone_ttl_ms = tombstone_ttl_ms > 0 ? tombstone_ttl_ms : 7LL * 24 * 3600 * 1000;
    t->schedule = store_script_create(SCHEDULE_LUA);
    t->cancel = store_script_create(CANCEL_LUA);
    t->lease = store_script_create(LEASE_LUA);
    t->complete = store_script_create(COMPLETE_LUA);
    if (!t->schedule || !t->cancel || !t->lease || !t->complete) {
        timers_destroy(t);
        return NULL;
    }
    return t;
}

void timers_destroy(timers *t)
{
    if (t == NULL)
        return;
    store_script_destroy(t->schedule);
    store_script_destroy(t->cancel);
    store_script_destroy(t->lease);
    store_script_destroy(t->complete);
    free(t);
}

static int hash_key(char *out, size_t len, const char *env)
{
    int n = snprintf(out, len, "%s%s", TIMERS_ENV_PREFIX, env);
    return n > 0 && (size_t)n < len ? 0 : -1;
}

/* A status reply ('applied', 'same', 'stale') from SCHEDULE or CANCEL. */
static int outcome_of(redisReply *r, timers_outcome *outcome, const char *what, const char *env, ep_err *err)
{
    if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS)
        return ep_err_set(err, TIMERS_EPROTO, "%s %s: unexpected reply type %d", what, env, r->type);
    if (strcmp(r->str, "applied") == 0)
        *outcome = TIMERS_APPLIED;
    else if (strcmp(r->str, "same") == 0)
        *outcome = TIMERS_SAME;
    else if (strcmp(r->str, "stale") == 0)
        *outcome = TIMERS_STALE;
    else
        return ep_err_set(err, TIMERS_EPROTO, "%s %s: unexpected reply '%s'", what, env, r->str);
    return TIMERS_OK;
}

int timers_schedule(timers *t, store *st, const timer_claim *c, long long lead_ms,
                    timers_outcome *outcome, ep_err *err)
{
    char        hk[256], gen[24], exp_ms[24], due[24], ttl[24];
    const char *keys[2], *args[10];
    redisReply *r;
    int         rc;
    long long   due_ms = 0;

    if (c->env == NULL || c->env[0] == '\0' || hash_key(hk, sizeof hk, c->env) != 0)
        return ep_err_set(err, TIMERS_EINVAL, "scheduling: missing or overlong environment name");
    if (c->expiration && c->expiration[0])
        due_ms = c->is_static ? c->expiration_ms : c->expiration_ms - (lead_ms > 0 ? lead_ms : 0);
    snprintf(gen, sizeof gen, "%llu", c->generation);
    snprintf(exp_ms, sizeof exp_ms, "%lld", c->expiration_ms);
    snprintf(due, sizeof due, "%lld", due_ms);
    snprintf(ttl, sizeof ttl, "%lld", t->tombstone_ttl_ms);
    keys[0] = hk;
    keys[1] = TIMERS_DUE_KEY;
    args[0] = c->env;
    args[1] = gen;
    args[2] = c->expiration ? c->expiration : "";
    args[3] = exp_ms;
    args[4] = c->is_static ? "1" : "0";
    args[5] = c->bucket ? c->bucket : "";
    args[6] = c->key ? c->key : "";
    args[7] = "scheduled";
    args[8] = due;
    args[9] = ttl;
    r = store_script_run(st, t->schedule, 2, keys, 10, args, err);
    if (r == NULL)
        return ep_err_wrap(err, "scheduling %s generation %s", c->env, gen), TIMERS_EREDIS;
    rc = outcome_of(r, outcome, "scheduling", c->env, err);
    freeReplyObject(r);
    return rc;
}

int timers_cancel(timers *t, store *st, const char *env, unsigned long long generation,
                  timers_outcome *outcome, ep_err *err)
{
    char        hk[256], gen[24], ttl[24];
    const char *keys[2], *args[3];
    redisReply *r;
    int         rc;

    if (env == NULL || env[0] == '\0' || hash_key(hk, sizeof hk, env) != 0)
        return ep_err_set(err, TIMERS_EINVAL, "cancelling: missing or overlong environment name");
    snprintf(gen, sizeof gen, "%llu", generation);
    snprintf(ttl, sizeof ttl, "%lld", t->tombstone_ttl_ms);
    keys[0] = hk;
    keys[1] = TIMERS_DUE_KEY;
    args[0] = env;
    args[1] = gen;
    args[2] = ttl;
    r = store_script_run(st, t->cancel, 2, keys, 3, args, err);
    if (r == NULL)
        return ep_err_wrap(err, "cancelling %s generation %s", env, gen), TIMERS_EREDIS;
    rc = outcome_of(r, outcome, "cancelling", env, err);
    freeReplyObject(r);
    return rc;
}

void timers_entries_free(timer_entry *e, size_t n)
{
    for (size_t i = 0; e && i < n; i++) {
        free(e[i].env);
        free(e[i].expiration);
        free(e[i].bucket);
        free(e[i].key);
        free(e[i].token);
    }
    free(e);
}

static int dup_str(char **out, const redisReply *r)
{
    *out = strdup(r->type == REDIS_REPLY_STRING ? r->str : "");
    return *out ? 0 : -1;
}

int timers_lease(timers *t, store *st, long long now_ms, long long lease_ms, size_t limit,
                 timer_entry **out, size_t *n, ep_err *err)
{
    char         now[24], until[24], lim[24];
    const char  *keys[1], *args[4];
    redisReply  *r;
    timer_entry *es = NULL;
    int          rc = TIMERS_OK;

    *out = NULL;
    *n = 0;
    snprintf(now, sizeof now, "%lld", now_ms);
    snprintf(until, sizeof until, "%lld", now_ms + lease_ms);
    snprintf(lim, sizeof lim, "%zu", limit ? limit : 1);
    keys[0] = TIMERS_DUE_KEY;
    args[0] = now;
    args[1] = until;
    args[2] = lim;
    args[3] = TIMERS_ENV_PREFIX;
    r = store_script_run(st, t->lease, 1, keys, 4, args, err);
    if (r == NULL)
        return ep_err_wrap(err, "leasing due timers"), TIMERS_EREDIS;
    if (r->type != REDIS_REPLY_ARRAY) {
        rc = ep_err_set(err, TIMERS_EPROTO, "leasing due timers: unexpected reply type %d", r->type);
        goto out;
    }
    if (r->elements == 0)
        goto out;
    es = calloc(r->elements, sizeof *es);
    if (es == NULL) {
        rc = ep_err_set(err, TIMERS_ENOMEM, "leasing due timers: out of memory");
        goto out;
    }
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *x = r->element[i];
        timer_entry      *e = &es[i];
        int               ph;

        if (x->type != REDIS_REPLY_ARRAY || x->elements != 9) {
            rc = ep_err_set(err, TIMERS_EPROTO, "leasing due timers: malformed entry %zu", i);
            goto out;
        }
        *n = i + 1;   /* from here on e is freed by timers_entries_free */
        if (dup_str(&e->env, x->element[0]) || dup_str(&e->expiration, x->element[3]) ||
            dup_str(&e->bucket, x->element[6]) || dup_str(&e->key, x->element[7]) ||
            dup_str(&e->token, x->element[8])) {
            rc = ep_err_set(err, TIMERS_ENOMEM, "leasing due timers: out of memory");
            goto out;
        }
        ph = timer_phase_parse(x->element[2]->type == REDIS_REPLY_STRING ? x->element[2]->str : NULL);
        if (ph < 0 || x->element[1]->type != REDIS_REPLY_STRING) {
            rc = ep_err_set(err, TIMERS_EPROTO, "leasing due timers: bad phase or generation for %s", e->env);
            goto out;
        }
        e->phase = (timer_phase)ph;
        e->generation = strtoull(x->element[1]->str, NULL, 10);
        e->expiration_ms = x->element[4]->type == REDIS_REPLY_STRING ? strtoll(x->element[4]->str, NULL, 10) : 0;
        e->is_static = x->element[5]->type == REDIS_REPLY_STRING && strcmp(x->element[5]->str, "1") == 0;
    }
out:
    freeReplyObject(r);
    if (rc != TIMERS_OK) {
        timers_entries_free(es, *n);
        *n = 0;
        return rc;
    }
    *out = es;
    return TIMERS_OK;
}

int timers_complete(timers *t, store *st, const timer_entry *e, timer_phase phase,
                    long long due_ms, int *lost, ep_err *err)
{
    char        hk[256], gen[24], due[24], ttl[24];
    const char *keys[2], *args[6];
    redisReply *r;
    int         rc = TIMERS_OK;
    int         tomb = phase == TIMER_DONE || phase == TIMER_NONE || phase == TIMER_DELETED;

    *lost = 0;
    if (hash_key(hk, sizeof hk, e->env) != 0)
        return ep_err_set(err, TIMERS_EINVAL, "completing: overlong environment name");
    snprintf(gen, sizeof gen, "%llu", e->generation);
    snprintf(due, sizeof due, "%lld", due_ms);
    snprintf(ttl, sizeof ttl, "%lld", t->tombstone_ttl_ms);
    keys[0] = hk;
    keys[1] = TIMERS_DUE_KEY;
    args[0] = e->env;
    args[1] = gen;
    args[2] = e->token;
    args[3] = timer_phase_name(phase);
    args[4] = tomb ? "" : due;
    args[5] = ttl;
    r = store_script_run(st, t->complete, 2, keys, 6, args, err);
    if (r == NULL)
        return ep_err_wrap(err, "completing %s step %s", e->env, timer_phase_name(phase)), TIMERS_EREDIS;
    if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS)
        rc = ep_err_set(err, TIMERS_EPROTO, "completing %s: unexpected reply type %d", e->env, r->type);
    else if (strcmp(r->str, "lost") == 0)
        *lost = 1;
    else if (strcmp(r->str, "ok") != 0)
        rc = ep_err_set(err, TIMERS_EPROTO, "completing %s: unexpected reply '%s'", e->env, r->str);
    freeReplyObject(r);
    return rc;
}

int timers_next_due(store *st, long long *due_ms, ep_err *err)
{
    redisReply *r = store_cmd(st, err, "ZRANGE %s 0 0 WITHSCORES", TIMERS_DUE_KEY);

    *due_ms = -1;
    if (r == NULL)
        return ep_err_wrap(err, "reading the next due timer"), TIMERS_EREDIS;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[1]->type == REDIS_REPLY_STRING)
        *due_ms = (long long)strtod(r->element[1]->str, NULL);
    freeReplyObject(r);
    return TIMERS_OK;
}

int timers_pending(store *st, long long *n, ep_err *err)
{
    redisReply *r = store_cmd(st, err, "ZCARD %s", TIMERS_DUE_KEY);

    *n = 0;
    if (r == NULL)
        return ep_err_wrap(err, "counting timers"), TIMERS_EREDIS;
    if (r->type == REDIS_REPLY_INTEGER)
        *n = r->integer;
    freeReplyObject(r);
    return TIMERS_OK;
}

/* ---- time ------------------------------------------------------------------------ */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * civil-to-days algorithm, written out from its published description). */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
    long long era;
    unsigned  yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int timers_parse_time(const char *s, long long *ms)
{
    static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int Y, M, D, h, m, sec, frac = 0, nfrac = 0;
    const char *p;

    if (s == NULL || strlen(s) < 20)
        return -1;
    if (digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-' || digits(s + 8, 2, &D) ||
        (s[10] != 'T' && s[10] != 't') || digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &m) ||
        s[16] != ':' || digits(s + 17, 2, &sec))
        return -1;
    if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 23 || m > 59 || sec > 59)
        return -1;
    if (M == 2 && D == 29 && !((Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0))
        return -1;
    p = s + 19;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            if (nfrac < 3)
                frac = frac * 10 + (*p - '0');
            nfrac++;
            p++;
        }
        if (nfrac == 0 || nfrac > 9)
            return -1;
        for (int i = nfrac; i < 3; i++)
            frac *= 10;
    }
    if ((*p != 'Z' && *p != 'z') || p[1] != '\0')
        return -1;
    *ms = ((days_from_civil(Y, (unsigned)M, (unsigned)D) * 86400LL) + h * 3600LL + m * 60LL + sec) * 1000LL + frac;
    return 0;
}

void timers_format_time(long long ms, char out[32])
{
    time_t    t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int       milli = (int)(ms - (long long)t * 1000);
    struct tm tm;
    size_t    n;

    gmtime_r(&t, &tm);
    n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", milli);
}
