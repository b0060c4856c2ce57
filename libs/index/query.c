/*
 * index queries: validate a Query, run it in Redis with one Lua script,
 * encode the QueryReply.
 *
 * The script intersects the sort order's sorted set (by-creation or
 * by-expiry) with the filter sets (weight 0, so the sort score survives)
 * into a scratch key, cuts the expiry window with ZREMRANGEBYSCORE, finds
 * where the cursor points with ZRANK and reads one page with the stored
 * document bytes — all atomically, so a page never mixes two versions of
 * the index.  The scratch keys can be fixed names because Redis runs one
 * script at a time.  Redis orders equal scores by member name, so
 * (score, name) is a total order and a cursor is simply the last
 * (score, name) returned; if that member has gone or moved since, it is
 * put back into the scratch copy just to find its rank.
 *
 * Cost: a filtered query is O(smallest filter set × number of sets) plus
 * the page; an unfiltered one reads the sorted set directly, except with a
 * cursor whose member has gone, which copies it once.
 */
#include "index.h"
#include "index_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envplane/index/v1/index.pb-c.h"

const char index__query_lua[] =
    "local p, tmp, one = ARGV[1], KEYS[1], KEYS[2]\n"
    "local src = p .. ARGV[2]\n"
    "local desc = ARGV[3] == '1'\n"
    "local limit = tonumber(ARGV[4])\n"
    "local sets = {}\n"
    "for i = 13, #ARGV do sets[#sets + 1] = p .. ARGV[i] end\n"
    "redis.call('DEL', tmp, one)\n"
    "if ARGV[11] ~= '' then\n"
    "  redis.call('SADD', one, ARGV[11])\n"
    "  sets[#sets + 1] = one\n"
    "end\n"
    "local function range(key, from, to)\n"
    "  if desc then return redis.call('ZREVRANGE', key, from, to, 'WITHSCORES') end\n"
    "  return redis.call('ZRANGE', key, from, to, 'WITHSCORES')\n"
    "end\n"
    /* Position after the cursor in key; a cursor whose member has gone
     * or moved is put back into a scratch copy just to find its place. */
    "local function after_cursor(key)\n"
    "  if ARGV[5] ~= '1' then return 0, key end\n"
    "  if redis.call('ZSCORE', key, ARGV[7]) ~= ARGV[6] then\n"
    "    if key ~= tmp then redis.call('ZUNIONSTORE', tmp, 1, key) key = tmp end\n"
    "    redis.call('ZADD', key, ARGV[6], ARGV[7])\n"
    "  end\n"
    "  local r\n"
    "  if desc then r = redis.call('ZREVRANK', key, ARGV[7]) else r = redis.call('ZRANK', key, ARGV[7]) end\n"
    "  return r + 1, key\n"
    "end\n"
    "local function finish(total, more, items)\n"
    "  local out = {total, more}\n"
    "  for i = 1, #items, 2 do\n"
    "    out[#out + 1] = items[i]\n"
    "    out[#out + 1] = items[i + 1]\n"
    "    out[#out + 1] = redis.call('HGET', p .. 'doc:' .. items[i], 'pb') or ''\n"
    "  end\n"
    "  redis.call('DEL', tmp, one)\n"
    "  return out\n"
    "end\n"
    /* Broad filters: walk the sort order and test membership.  Every
     * document is in every sorted set and each set holds only documents,
     * so the matches number SINTERCARD of the sets.  Chosen when at least
     * one document in 8 matches (so a page costs about 8 pages of
     * membership tests) or when the caller forces it (ARGV[12]); never with
     * the name filter, whose one-member set need not be a document. */
    "if ARGV[10] ~= '1' and ARGV[11] == '' and #sets > 0 and ARGV[12] ~= 'intersect' then\n"
    "  local total\n"
    "  if #sets == 1 then total = redis.call('SCARD', sets[1]) else total = redis.call('SINTERCARD', #sets, unpack(sets)) end\n"
    "  local n = redis.call('ZCARD', src)\n"
    "  if ARGV[12] == 'scan' or total * 8 >= n then\n"
    "    local pos, key = after_cursor(src)\n"
    "    n = redis.call('ZCARD', key)\n"
    "    local items, more, chunk = {}, 0, math.max(2 * limit, 64)\n"
    "    while more == 0 and pos < n do\n"
    "      local part = range(key, pos, pos + chunk - 1)\n"
    "      for i = 1, #part, 2 do\n"
    "        local ok = true\n"
    "        for _, s in ipairs(sets) do\n"
    "          if redis.call('SISMEMBER', s, part[i]) == 0 then ok = false break end\n"
    "        end\n"
    "        if ok then\n"
    "          if #items >= 2 * limit then more = 1 break end\n"
    "          items[#items + 1] = part[i]\n"
    "          items[#items + 1] = part[i + 1]\n"
    "        end\n"
    "      end\n"
    "      pos = pos + chunk\n"
    "    end\n"
    "    return finish(total, more, items)\n"
    "  end\n"
    "end\n"
    /* Selective filters or an expiry window: intersect into a scratch
     * sorted set that keeps the sort score (filter sets weigh 0). */
    "local function inter(base)\n"
    "  local a = {tmp, 1 + #sets, base}\n"
    "  for _, s in ipairs(sets) do a[#a + 1] = s end\n"
    "  a[#a + 1] = 'WEIGHTS'\n"
    "  a[#a + 1] = 1\n"
    "  for _ in ipairs(sets) do a[#a + 1] = 0 end\n"
    "  redis.call('ZINTERSTORE', unpack(a))\n"
    "end\n"
    "local work = src\n"
    "if ARGV[10] == '1' then\n"
    "  inter(p .. 'by-expiry')\n"
    "  if ARGV[8] ~= '-inf' then redis.call('ZREMRANGEBYSCORE', tmp, '-inf', '(' .. ARGV[8]) end\n"
    "  if ARGV[9] ~= '+inf' then redis.call('ZREMRANGEBYSCORE', tmp, ARGV[9], '+inf') end\n"
    "  if ARGV[2] ~= 'by-expiry' then redis.call('ZINTERSTORE', tmp, 2, src, tmp, 'WEIGHTS', 1, 0) end\n"
    "  work = tmp\n"
    "elseif #sets > 0 then\n"
    "  inter(src)\n"
    "  work = tmp\n"
    "end\n"
    "local total = redis.call('ZCARD', work)\n"
    "local start\n"
    "start, work = after_cursor(work)\n"
    "local items = range(work, start, start + limit - 1)\n"
    "local more = 0\n"
    "if start + #items / 2 < redis.call('ZCARD', work) then more = 1 end\n"
    "return finish(total, more, items)\n";

void index_set_query_strategy(index_db *ix, index_strategy s)
{
    ix->strategy = s;
}

/* ---- protobuf writing (the reply is a handful of fields; writing them
 * directly avoids decoding and re-encoding every stored document) ---------- */

typedef struct buf {
    uint8_t *p;
    size_t   len, cap;
    int      oom;
} buf;

static void buf_reserve(buf *b, size_t n)
{
    if (b->oom || b->len + n <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n)
        cap *= 2;
    uint8_t *np = realloc(b->p, cap);
    if (np == NULL) {
        b->oom = 1;
        return;
    }
    b->p = np;
    b->cap = cap;
}

static void buf_varint(buf *b, uint64_t v)
{
    buf_reserve(b, 10);
    if (b->oom)
        return;
    do {
        b->p[b->len++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
}

static void buf_bytes_field(buf *b, unsigned field, const void *data, size_t len)
{
    buf_varint(b, (uint64_t)field << 3 | 2);
    buf_varint(b, len);
    buf_reserve(b, len);
    if (b->oom)
        return;
    if (len)
        memcpy(b->p + b->len, data, len);
    b->len += len;
}

int index_error_reply(const char *msg, uint8_t **reply, size_t *reply_len)
{
    buf b = { 0 };

    buf_bytes_field(&b, 4, msg, strlen(msg));
    if (b.oom) {
        free(b.p);
        return INDEX_ENOMEM;
    }
    *reply = b.p;
    *reply_len = b.len;
    return INDEX_OK;
}

/* ---- cursors: hex of "v1|<sort>|<dir>|<score>|<name>" ---------------------- */

static void cursor_encode(char sort, int desc, const char *score, const char *name, char *out, size_t cap)
{
    char raw[256];
    int  n = snprintf(raw, sizeof raw, "v1|%c|%c|%s|%s", sort, desc ? 'd' : 'a', score, name);

    out[0] = '\0';
    if (n < 0 || (size_t)n >= sizeof raw || (size_t)n * 2 + 1 > cap)
        return;
    for (int i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", (unsigned char)raw[i]);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Returns NULL or a message saying what is wrong with the cursor. */
static const char *cursor_decode(const char *hex, char sort, int desc, char score[64], char name[72])
{
    char   raw[256], *f[5], *save = NULL, *tok;
    size_t n = strlen(hex), nf = 0;

    if (n % 2 || n / 2 >= sizeof raw)
        return "cursor: not a cursor from this index";
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return "cursor: not a cursor from this index";
        raw[i] = (char)(hi << 4 | lo);
        if (raw[i] == '\0')
            return "cursor: not a cursor from this index";
    }
    raw[n / 2] = '\0';
    for (tok = strtok_r(raw, "|", &save); tok && nf < 5; tok = strtok_r(NULL, "|", &save))
        f[nf++] = tok;
    if (nf != 5 || tok != NULL || strcmp(f[0], "v1") != 0 || strlen(f[1]) != 1 || strlen(f[2]) != 1 ||
        strlen(f[3]) >= 64 || strlen(f[4]) >= 72)
        return "cursor: not a cursor from this index";
    if (f[1][0] != sort || f[2][0] != (desc ? 'd' : 'a'))
        return "cursor: belongs to a different sort order or direction";
    if (strcmp(f[3], "inf") != 0) {
        char *end;
        strtoll(f[3], &end, 10);
        if (*end != '\0')
            return "cursor: not a cursor from this index";
    }
    snprintf(score, 64, "%s", f[3]);
    snprintf(name, 72, "%s", f[4]);
    return NULL;
}

/* ---- the query ----------------------------------------------------------------- */

int index_query(index_db *ix, store *st, const void *req, size_t req_len,
                uint8_t **reply, size_t *reply_len, ep_err *err)
{
    Envplane__Index__V1__Query *q = envplane__index__v1__query__unpack(NULL, req_len, req);
    char        tmp[160], one[160], limit[16], cscore[64] = "", cname[72] = "";
    char        after[32] = "-inf", before[32] = "+inf", ftype[32], fstate[32];
    char       *fuser = NULL, *fpool = NULL;
    const char *keys[2] = { tmp, one }, *args[20], *bad = NULL;
    const char *sortkey;
    char        sortc;
    int         nargs = 0, rc = INDEX_OK, has_exp = 0;
    unsigned    lim;
    redisReply *r = NULL;
    buf         b = { 0 };

    *reply = NULL;
    *reply_len = 0;
    if (q == NULL) {
        rc = index_error_reply("query: the request is not a Query message", reply, reply_len);
        goto out;
    }
    lim = q->limit ? q->limit : 50;
    if (q->limit > 1000)
        bad = "limit: at most 1000";
    else if ((int)q->sort < 0 || (int)q->sort > ENVPLANE__INDEX__V1__SORT_BY__SORT_BY_EXPIRY)
        bad = "sort: unknown value";
    else if ((int)q->environment_type < 0 || (int)q->environment_type > ENVPLANE__CLAIM__V1__ENVIRONMENT_TYPE__ENVIRONMENT_TYPE_SUE)
        bad = "environment_type: unknown value";
    else if ((int)q->state < 0 || (int)q->state > ENVPLANE__ENV__V1__ENV_STATE__ENV_STATE_DELETED)
        bad = "state: unknown value";
    else if (strlen(q->user) > 254 || strlen(q->environment_pool) > 254 || strlen(q->environment_name) > 63)
        bad = "query: a filter value is too long";
    if (bad == NULL && q->expires_after[0]) {
        long long t = 0;
        if (index_parse_time(q->expires_after, &t) != 0)
            bad = "expires_after: not an RFC 3339 time";
        snprintf(after, sizeof after, "%lld", t);
        has_exp = 1;
    }
    if (bad == NULL && q->expires_before[0]) {
        long long t = 0;
        if (index_parse_time(q->expires_before, &t) != 0)
            bad = "expires_before: not an RFC 3339 time";
        snprintf(before, sizeof before, "%lld", t);
        has_exp = 1;
    }
    sortc = q->sort == ENVPLANE__INDEX__V1__SORT_BY__SORT_BY_EXPIRY ? 'e' : 'c';
    sortkey = sortc == 'e' ? "by-expiry" : "by-creation";
    if (bad == NULL && q->cursor[0])
        bad = cursor_decode(q->cursor, sortc, q->descending, cscore, cname);
    if (bad != NULL) {
        rc = index_error_reply(bad, reply, reply_len);
        goto out;
    }

    snprintf(tmp, sizeof tmp, "%stmp:q", ix->prefix);
    snprintf(one, sizeof one, "%stmp:name", ix->prefix);
    snprintf(limit, sizeof limit, "%u", lim);
    args[nargs++] = ix->prefix;
    args[nargs++] = sortkey;
    args[nargs++] = q->descending ? "1" : "0";
    args[nargs++] = limit;
    args[nargs++] = q->cursor[0] ? "1" : "0";
    args[nargs++] = cscore;
    args[nargs++] = cname;
    args[nargs++] = after;
    args[nargs++] = before;
    args[nargs++] = has_exp ? "1" : "0";
    args[nargs++] = q->environment_name;
    args[nargs++] = ix->strategy == INDEX_STRATEGY_SCAN ? "scan" :
                    ix->strategy == INDEX_STRATEGY_INTERSECT ? "intersect" : "auto";
    if (q->user[0]) {
        fuser = malloc(strlen(q->user) + 6);
        if (fuser) sprintf(fuser, "user:%s", q->user);
        args[nargs++] = fuser;
    }
    if (q->environment_pool[0]) {
        fpool = malloc(strlen(q->environment_pool) + 6);
        if (fpool) sprintf(fpool, "pool:%s", q->environment_pool);
        args[nargs++] = fpool;
    }
    if ((q->user[0] && !fuser) || (q->environment_pool[0] && !fpool)) {
        rc = ep_err_set(err, INDEX_ENOMEM, "index: out of memory");
        goto out;
    }
    if (q->environment_type) {
        snprintf(ftype, sizeof ftype, "type:%d", (int)q->environment_type);
        args[nargs++] = ftype;
    }
    if (q->state) {
        snprintf(fstate, sizeof fstate, "state:%d", (int)q->state);
        args[nargs++] = fstate;
    }
    r = store_script_run(st, ix->sc_query, 2, keys, nargs, args, err);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 2 || (r->elements - 2) % 3 != 0) {
        if (r != NULL)
            ep_err_set(err, INDEX_ESTORE, "index: unexpected reply from the query script");
        ep_err_wrap(err, "index: query");
        rc = INDEX_ESTORE;
        goto out;
    }
    {
        size_t    nitems = (r->elements - 2) / 3;
        long long total = r->element[0]->integer, more = r->element[1]->integer;

        for (size_t i = 0; i < nitems; i++) {
            const redisReply *pb = r->element[2 + 3 * i + 2];
            if (pb->type == REDIS_REPLY_STRING && pb->len > 0)
                buf_bytes_field(&b, 1, pb->str, pb->len);
        }
        if (more && nitems > 0) {
            char cur[600];
            const redisReply *nm = r->element[2 + 3 * (nitems - 1)];
            const redisReply *sc = r->element[2 + 3 * (nitems - 1) + 1];
            cursor_encode(sortc, q->descending, sc->str, nm->str, cur, sizeof cur);
            buf_bytes_field(&b, 2, cur, strlen(cur));
        }
        if (total > 0) {
            buf_varint(&b, 3 << 3 | 0);
            buf_varint(&b, (uint64_t)total);
        }
    }
    if (b.oom) {
        rc = ep_err_set(err, INDEX_ENOMEM, "index: out of memory");
        goto out;
    }
    if (b.p == NULL) {
        /* An empty reply is zero bytes; hand out a valid buffer anyway. */
        b.p = malloc(1);
        if (b.p == NULL) {
            rc = ep_err_set(err, INDEX_ENOMEM, "index: out of memory");
            goto out;
        }
    }
    *reply = b.p;
    *reply_len = b.len;
    b.p = NULL;
out:
    free(b.p);
    free(fuser);
    free(fpool);
    freeReplyObject(r);
    if (q)
        envplane__index__v1__query__free_unpacked(q, NULL);
    return rc;
}
