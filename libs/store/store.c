/*
 * store: a hiredis connection with URL parsing, timeouts, one reconnect,
 * error replies as ep_err, pipelining bookkeeping and cached Lua scripts.
 *
 * Commands are formatted into RESP once (redisvFormatCommand) and the bytes
 * kept until the reply arrives: a retry after a reconnect resends exactly
 * the same bytes, without a second pass over a va_list, and an error
 * message can name the command and its key by reading them back out of the
 * RESP header.  After an I/O or protocol error hiredis leaves the context
 * unusable, so the store marks itself broken and reconnects before the next
 * command -- but never while pipelined replies are outstanding, because a
 * new connection could not deliver them and a caller counting replies would
 * be misaligned.
 */
#include "store/store.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

struct store {
    redisContext *c;
    char         *host;
    int           port;
    char         *user;       /* NULL unless the URL named one (Redis 6 ACL) */
    char         *pass;       /* NULL when no password */
    int           db;
    long          timeout_ms;
    int           broken;     /* c must be replaced before the next command */
    size_t        pending;    /* pipelined commands whose replies are unread */
    size_t        pipe_seq;   /* replies read in the current pipeline */
    int           pipe_lost;  /* the connection died with replies pending */
    unsigned long reconnects;
};

struct store_script {
    char *lua;
    char  sha[41];
};

static const char *const status_text[] = {
#define STORE__TEXT(name, value, text) [value] = text,
    STORE_STATUS_MAP(STORE__TEXT)
#undef STORE__TEXT
};

const char *store_strstatus(int status)
{
    if (status < 0 || (size_t)status >= sizeof status_text / sizeof status_text[0] ||
        status_text[status] == NULL)
        return "unknown status";
    return status_text[status];
}

/* ---- URL ------------------------------------------------------------------------ */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode s[0..n) into a new string, NULL on bad escapes or OOM. */
static char *pct_decode(const char *s, size_t n)
{
    char  *out = malloc(n + 1);
    size_t j = 0;

    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi = i + 2 < n ? hexval((unsigned char)s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(out);
                return NULL;
            }
            out[j++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[j++] = s[i];
        }
    }
    out[j] = '\0';
    return out;
}

static int parse_url(store *s, const char *url, ep_err *err)
{
    const char *p, *auth_end, *at = NULL, *host, *host_end, *port_s = NULL;
    char       *end;

    if (url == NULL || strncmp(url, "redis://", 8) != 0)
        return ep_err_set(err, STORE_EURL, "redis URL must start with redis:// (got \"%.64s\")",
                          url ? url : "(null)");
    p = url + 8;
    auth_end = p + strcspn(p, "/?#");
    for (const char *q = p; q < auth_end; q++)
        if (*q == '@')
            at = q;
    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon == NULL)
            return ep_err_set(err, STORE_EURL, "redis URL: userinfo must be [user]:password");
        if (colon > p && (s->user = pct_decode(p, (size_t)(colon - p))) == NULL)
            return ep_err_set(err, STORE_EURL, "redis URL: bad percent-encoding in user");
        if ((s->pass = pct_decode(colon + 1, (size_t)(at - colon - 1))) == NULL)
            return ep_err_set(err, STORE_EURL, "redis URL: bad percent-encoding in password");
        p = at + 1;
    }
    if (*p == '[') {
        host = p + 1;
        host_end = memchr(host, ']', (size_t)(auth_end - host));
        if (host_end == NULL)
            return ep_err_set(err, STORE_EURL, "redis URL: unterminated [IPv6] host");
        if (host_end + 1 < auth_end) {
            if (host_end[1] != ':')
                return ep_err_set(err, STORE_EURL, "redis URL: junk after [IPv6] host");
            port_s = host_end + 2;
        }
    } else {
        host = p;
        host_end = memchr(p, ':', (size_t)(auth_end - p));
        if (host_end == NULL)
            host_end = auth_end;
        else
            port_s = host_end + 1;
    }
    if (host_end == host)
        return ep_err_set(err, STORE_EURL, "redis URL: no host");
    if ((s->host = strndup(host, (size_t)(host_end - host))) == NULL)
        return ep_err_set(err, STORE_ENOMEM, "redis URL: out of memory");
    s->port = 6379;
    if (port_s != NULL) {
        long v;
        if (port_s == auth_end)
            return ep_err_set(err, STORE_EURL, "redis URL: empty port");
        errno = 0;
        v = strtol(port_s, &end, 10);
        if (errno != 0 || end != auth_end || v < 1 || v > 65535 || *port_s == '-' || *port_s == '+')
            return ep_err_set(err, STORE_EURL, "redis URL: bad port \"%.*s\"", (int)(auth_end - port_s), port_s);
        s->port = (int)v;
    }
    p = auth_end;
    if (*p == '/' && p[1] != '\0') {
        long v;
        errno = 0;
        v = strtol(p + 1, &end, 10);
        if (errno != 0 || *end != '\0' || v < 0 || v > INT_MAX || p[1] == '-' || p[1] == '+')
            return ep_err_set(err, STORE_EURL, "redis URL: bad database number \"%.16s\"", p + 1);
        s->db = (int)v;
    } else if (*p != '\0' && strcmp(p, "/") != 0) {
        return ep_err_set(err, STORE_EURL, "redis URL: unexpected \"%.32s\"", p);
    }
    return STORE_OK;
}

/* ---- connection ----------------------------------------------------------------- */

/* "HSET ep:claim:x" from a RESP-formatted command, for error messages.
 * Arguments after the first are never shown (they may be secrets or large
 * values), nor is anything after AUTH. */
static void describe(const char *cmd, size_t len, char *out, size_t outlen)
{
    const char *p = cmd, *e = cmd + len;
    long        nargs, shown = 0;
    size_t      used = 0;

    out[0] = '\0';
    if (len < 4 || *p != '*')
        return;
    nargs = strtol(p + 1, NULL, 10);
    p = memchr(p, '\n', (size_t)(e - p));
    for (long i = 0; p != NULL && i < nargs && i < 2; i++) {
        long        alen;
        const char *data;

        p++;
        if (p >= e || *p != '$')
            return;
        alen = strtol(p + 1, NULL, 10);
        data = memchr(p, '\n', (size_t)(e - p));
        if (data == NULL || alen < 0 || data + 1 + alen > e)
            return;
        data++;
        int n = snprintf(out + used, outlen - used, "%s%.*s", shown ? " " : "",
                         (int)(alen > 128 ? 128 : alen), data);
        if (n < 0 || (size_t)n >= outlen - used)
            return;
        used += (size_t)n;
        shown++;
        if (i == 0 && alen == 4 && strncasecmp(data, "AUTH", 4) == 0)
            return;
        p = data + alen + 1;   /* at the \n of "\r\n" */
    }
}

static int check_setup_reply(store *s, redisReply *r, const char *what, ep_err *err)
{
    int rc = STORE_OK;

    if (r == NULL)
        rc = ep_err_set(err, STORE_ECONNECT, "redis %s:%d: %s: %s", s->host, s->port, what,
                        s->c->errstr[0] ? s->c->errstr : "no reply");
    else if (r->type == REDIS_REPLY_ERROR)
        rc = ep_err_set(err, STORE_ECONNECT, "redis %s:%d: %s: %s", s->host, s->port, what, r->str);
    freeReplyObject(r);
    return rc;
}

/* Replace the connection with a fresh, authenticated, database-selected one. */
static int connect_now(store *s, ep_err *err)
{
    struct timeval tv = { s->timeout_ms / 1000, (s->timeout_ms % 1000) * 1000 };
    redisReply    *r;
    int            rc;

    if (s->c != NULL) {
        redisFree(s->c);
        s->c = NULL;
    }
    s->broken = 1;
    s->c = s->timeout_ms > 0 ? redisConnectWithTimeout(s->host, s->port, tv)
                             : redisConnect(s->host, s->port);
    if (s->c == NULL)
        return ep_err_set(err, STORE_ENOMEM, "redis %s:%d: out of memory", s->host, s->port);
    if (s->c->err)
        return ep_err_set(err, STORE_ECONNECT, "connect redis %s:%d: %s", s->host, s->port, s->c->errstr);
    if (s->timeout_ms > 0 && redisSetTimeout(s->c, tv) != REDIS_OK)
        return ep_err_set(err, STORE_ECONNECT, "redis %s:%d: setting timeout: %s", s->host, s->port,
                          s->c->errstr);
    if (s->pass != NULL) {
        if (s->user != NULL)
            r = redisCommand(s->c, "AUTH %s %s", s->user, s->pass);
        else
            r = redisCommand(s->c, "AUTH %s", s->pass);
        if ((rc = check_setup_reply(s, r, "AUTH", err)) != STORE_OK)
            return rc;
    }
    if (s->db != 0) {
        r = redisCommand(s->c, "SELECT %d", s->db);
        if ((rc = check_setup_reply(s, r, "SELECT", err)) != STORE_OK)
            return rc;
    }
    s->broken = 0;
    return STORE_OK;
}

int store_create(const char *url, long timeout_ms, store **out, ep_err *err)
{
    store *s = calloc(1, sizeof *s);
    int    rc;

    *out = NULL;
    if (s == NULL)
        return ep_err_set(err, STORE_ENOMEM, "redis: out of memory");
    s->timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
    rc = parse_url(s, url, err);
    if (rc == STORE_OK)
        rc = connect_now(s, err);
    if (rc != STORE_OK) {
        store_destroy(s);
        return rc;
    }
    *out = s;
    return STORE_OK;
}

void store_destroy(store *s)
{
    if (s == NULL)
        return;
    if (s->c != NULL)
        redisFree(s->c);
    free(s->host);
    free(s->user);
    if (s->pass != NULL) {
        /* Do not leave the password in freed heap memory. */
        volatile char *v = s->pass;
        while (*v)
            *v++ = 0;
        free(s->pass);
    }
    free(s);
}

unsigned long store_reconnects(const store *s)
{
    return s ? s->reconnects : 0;
}

size_t store_pending(const store *s)
{
    return s ? s->pending : 0;
}

/* Reconnect if the last command broke the connection. */
static int ensure_connected(store *s, ep_err *err)
{
    int rc;

    if (!s->broken && s->c != NULL)
        return STORE_OK;
    rc = connect_now(s, err);
    if (rc == STORE_OK)
        s->reconnects++;
    return rc;
}

/* Fill err from the context's error; a socket timeout reads better as
 * one than as "Resource temporarily unavailable". */
static void io_error(store *s, ep_err *err, const char *desc)
{
    if (s->c->err == REDIS_ERR_IO && s->timeout_ms > 0 &&
        (strcmp(s->c->errstr, strerror(EAGAIN)) == 0 || strcmp(s->c->errstr, strerror(EWOULDBLOCK)) == 0))
        ep_err_set(err, STORE_EIO, "redis %s: timed out after %ld ms", desc, s->timeout_ms);
    else
        ep_err_set(err, s->c->err == REDIS_ERR_PROTOCOL ? STORE_EPROTO : STORE_EIO, "redis %s: %s", desc,
                   s->c->errstr[0] ? s->c->errstr : "connection lost");
}

/* Send formatted bytes, read one reply (error replies included), retrying
 * once on a new connection after an I/O error. */
static redisReply *exec_raw(store *s, const char *cmd, size_t len, const char *desc, ep_err *err)
{
    redisReply *r = NULL;
    void       *reply;

    if (s->pending > 0) {
        ep_err_set(err, STORE_EINVAL, "redis %s: %zu pipelined replies still unread", desc, s->pending);
        return NULL;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        if (ensure_connected(s, err) != STORE_OK) {
            ep_err_wrap(err, "redis %s", desc);
            return NULL;
        }
        if (redisAppendFormattedCommand(s->c, cmd, len) == REDIS_OK &&
            redisGetReply(s->c, &reply) == REDIS_OK) {
            r = reply;
            break;
        }
        s->broken = 1;
        if (s->c->err == REDIS_ERR_OOM) {
            ep_err_set(err, STORE_ENOMEM, "redis %s: out of memory", desc);
            return NULL;
        }
        if ((s->c->err != REDIS_ERR_IO && s->c->err != REDIS_ERR_EOF) || attempt == 1) {
            io_error(s, err, desc);
            return NULL;
        }
    }
    return r;
}

/* Turn an error reply into NULL + err. */
static redisReply *check_reply(redisReply *r, const char *desc, ep_err *err)
{
    if (r != NULL && r->type == REDIS_REPLY_ERROR) {
        ep_err_set(err, STORE_EREPLY, "redis %s: %.*s", desc, (int)r->len, r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

static redisReply *exec_formatted(store *s, char *cmd, long long len, ep_err *err)
{
    char        desc[300];
    redisReply *r;

    if (len < 0) {
        ep_err_set(err, len == -1 ? STORE_EINVAL : STORE_ENOMEM,
                   "redis: cannot format command (bad format string or out of memory)");
        return NULL;
    }
    describe(cmd, (size_t)len, desc, sizeof desc);
    r = check_reply(exec_raw(s, cmd, (size_t)len, desc, err), desc, err);
    redisFreeCommand(cmd);
    return r;
}

redisReply *store_cmd(store *s, ep_err *err, const char *fmt, ...)
{
    char   *cmd = NULL;
    va_list ap;
    int     len;

    if (s == NULL || fmt == NULL) {
        ep_err_set(err, STORE_EINVAL, "redis: NULL store or format");
        return NULL;
    }
    va_start(ap, fmt);
    len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    return exec_formatted(s, cmd, len, err);
}

redisReply *store_cmd_argv(store *s, int argc, const char **argv, const size_t *lens, ep_err *err)
{
    char     *cmd = NULL;
    long long len;

    if (s == NULL || argc < 1 || argv == NULL) {
        ep_err_set(err, STORE_EINVAL, "redis: NULL store or empty command");
        return NULL;
    }
    len = redisFormatCommandArgv(&cmd, argc, argv, lens);
    return exec_formatted(s, cmd, len, err);
}

/* ---- pipelining ------------------------------------------------------------------ */

static int before_append(store *s, ep_err *err)
{
    if (s == NULL)
        return ep_err_set(err, STORE_EINVAL, "redis: NULL store");
    if (s->pending == 0) {
        int rc;
        s->pipe_seq = 0;
        s->pipe_lost = 0;
        if ((rc = ensure_connected(s, err)) != STORE_OK)
            return ep_err_wrap(err, "redis pipeline");
    } else if (s->pipe_lost) {
        return ep_err_set(err, STORE_EIO, "redis pipeline: connection lost; read the %zu pending replies first",
                          s->pending);
    }
    return STORE_OK;
}

int store_append(store *s, ep_err *err, const char *fmt, ...)
{
    va_list ap;
    int     rc;

    if ((rc = before_append(s, err)) != STORE_OK)
        return rc;
    va_start(ap, fmt);
    rc = redisvAppendCommand(s->c, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK)
        return ep_err_set(err, STORE_EINVAL, "redis pipeline: cannot format command (bad format or out of memory)");
    s->pending++;
    return STORE_OK;
}

int store_append_argv(store *s, int argc, const char **argv, const size_t *lens, ep_err *err)
{
    int rc;

    if ((rc = before_append(s, err)) != STORE_OK)
        return rc;
    if (argc < 1 || argv == NULL)
        return ep_err_set(err, STORE_EINVAL, "redis pipeline: empty command");
    if (redisAppendCommandArgv(s->c, argc, argv, lens) != REDIS_OK)
        return ep_err_set(err, STORE_ENOMEM, "redis pipeline: out of memory");
    s->pending++;
    return STORE_OK;
}

redisReply *store_get_reply(store *s, ep_err *err)
{
    void       *reply;
    redisReply *r;
    size_t      seq;

    if (s == NULL || s->pending == 0) {
        ep_err_set(err, STORE_EINVAL, "redis pipeline: no pending command");
        return NULL;
    }
    seq = ++s->pipe_seq;
    s->pending--;
    if (s->pipe_lost) {
        ep_err_set(err, STORE_EIO, "redis pipelined command #%zu: connection was lost", seq);
        return NULL;
    }
    if (redisGetReply(s->c, &reply) != REDIS_OK) {
        s->broken = 1;
        s->pipe_lost = s->pending > 0;
        ep_err_set(err, s->c->err == REDIS_ERR_OOM ? STORE_ENOMEM
                        : s->c->err == REDIS_ERR_PROTOCOL ? STORE_EPROTO : STORE_EIO,
                   "redis pipelined command #%zu: %s", seq, s->c->errstr[0] ? s->c->errstr : "connection lost");
        return NULL;
    }
    r = reply;
    if (r->type == REDIS_REPLY_ERROR) {
        ep_err_set(err, STORE_EREPLY, "redis pipelined command #%zu: %.*s", seq, (int)r->len, r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* ---- scripts ---------------------------------------------------------------------- */

store_script *store_script_create(const char *lua)
{
    store_script *sc;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int  mdlen = 0;

    if (lua == NULL || (sc = calloc(1, sizeof *sc)) == NULL)
        return NULL;
    if ((sc->lua = strdup(lua)) == NULL ||
        EVP_Digest(lua, strlen(lua), md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20) {
        store_script_destroy(sc);
        return NULL;
    }
    for (unsigned i = 0; i < 20; i++)
        snprintf(sc->sha + 2 * i, 3, "%02x", md[i]);
    return sc;
}

void store_script_destroy(store_script *sc)
{
    if (sc == NULL)
        return;
    free(sc->lua);
    free(sc);
}

const char *store_script_sha(const store_script *sc)
{
    return sc ? sc->sha : "";
}

redisReply *store_script_run(store *s, store_script *sc, int nkeys, const char **keys, int nargs,
                             const char **args, ep_err *err)
{
    const char **argv = NULL;
    char         nk[16], desc[200], *cmd = NULL;
    long long    len;
    redisReply  *r = NULL;
    int          argc = 3 + nkeys + nargs;

    if (s == NULL || sc == NULL || nkeys < 0 || nargs < 0 || (nkeys > 0 && keys == NULL) ||
        (nargs > 0 && args == NULL)) {
        ep_err_set(err, STORE_EINVAL, "redis script: bad arguments");
        return NULL;
    }
    snprintf(desc, sizeof desc, "script %.8s%s%.128s", sc->sha, nkeys > 0 ? " " : "", nkeys > 0 ? keys[0] : "");
    if ((argv = malloc((size_t)argc * sizeof *argv)) == NULL) {
        ep_err_set(err, STORE_ENOMEM, "redis %s: out of memory", desc);
        return NULL;
    }
    snprintf(nk, sizeof nk, "%d", nkeys);
    argv[0] = "EVALSHA";
    argv[1] = sc->sha;
    argv[2] = nk;
    for (int i = 0; i < nkeys; i++)
        argv[3 + i] = keys[i];
    for (int i = 0; i < nargs; i++)
        argv[3 + nkeys + i] = args[i];

    len = redisFormatCommandArgv(&cmd, argc, argv, NULL);
    if (len < 0) {
        ep_err_set(err, STORE_ENOMEM, "redis %s: out of memory", desc);
        goto out;
    }
    r = exec_raw(s, cmd, (size_t)len, desc, err);
    redisFreeCommand(cmd);
    cmd = NULL;
    /* The server lost its script cache (SCRIPT FLUSH, restart, failover):
     * send the text, which also caches it again. */
    if (r != NULL && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(r);
        argv[0] = "EVAL";
        argv[1] = sc->lua;
        len = redisFormatCommandArgv(&cmd, argc, argv, NULL);
        if (len < 0) {
            r = NULL;
            ep_err_set(err, STORE_ENOMEM, "redis %s: out of memory", desc);
            goto out;
        }
        r = exec_raw(s, cmd, (size_t)len, desc, err);
        redisFreeCommand(cmd);
    }
    r = check_reply(r, desc, err);
out:
    free(argv);
    return r;
}

int store_ping(store *s, ep_err *err)
{
    redisReply *r = store_cmd(s, err, "PING");
    int         rc = STORE_OK;

    if (r == NULL)
        return err ? err->code : STORE_EIO;
    if (r->type != REDIS_REPLY_STATUS || strcmp(r->str, "PONG") != 0)
        rc = ep_err_set(err, STORE_EPROTO, "redis PING: unexpected reply");
    freeReplyObject(r);
    return rc;
}
