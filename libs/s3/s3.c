/*
 * s3 client: one libcurl easy handle per client, reused for every request so
 * that libcurl's connection cache keeps the connection to the endpoint open.
 *
 * Each request resets the handle's options (curl_easy_reset keeps the open
 * connections) and sets them afresh, so no option leaks from one request
 * into the next.  libcurl signs the request itself (CURLOPT_AWS_SIGV4); what
 * we must prepare for the signer, because libcurl 7.88 does not:
 *   - the path, percent-encoded per segment exactly as S3 canonicalises it
 *     (the signer uses the path as given);
 *   - the query string, already sorted by parameter name and encoded (the
 *     7.88 signer does not sort it);
 *   - the x-amz-content-sha256 header, which MinIO and S3 require and 7.88
 *     does not send; as a request header it is covered by the signature.
 * Response bodies are collected with a size bound; error bodies are parsed
 * for S3's Code and Message so that errors say why.
 */
#include "s3/s3_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <libxml/parser.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#define DEFAULT_TIMEOUT_MS 10000L
#define MAX_KEY_LEN        1024
/* Error bodies are a few hundred bytes; keep enough to find Code/Message. */
#define ERROR_BODY_MAX     (64 * 1024)
/* A ListObjectsV2 page of 1000 keys of up to 1024 bytes stays well below. */
#define LIST_BODY_MAX      (32 * 1024 * 1024)
/* The object part of an error message ("bucket/key"), truncated if longer. */
#define WHERE_MAX          300

#define S3__STR(name, value, desc) case name: return desc;
const char *s3_strstatus(int status)
{
    switch (status) {
        S3_STATUS_MAP(S3__STR)
    }
    return "unknown s3 status";
}
#undef S3__STR

int s3_global_init(ep_err *err)
{
    CURLcode cc = curl_global_init(CURL_GLOBAL_DEFAULT);

    if (cc != CURLE_OK)
        return ep_err_set(err, S3_EINTERNAL, "s3: curl_global_init: %s", curl_easy_strerror(cc));
    xmlInitParser();
    return S3_OK;
}

void s3_global_cleanup(void)
{
    xmlCleanupParser();
    curl_global_cleanup();
}

struct s3_client {
    CURL *curl;
    char *endpoint;   /* without trailing '/' */
    char *region;
    char *access_key;
    char *secret_key;
    char *ca_file;    /* NULL = system store */
    char *sigv4;      /* "aws:amz:<region>:s3" */
    long  timeout_ms;
    long  connects;   /* new connections opened, for s3__connects */
    char  curl_err[CURL_ERROR_SIZE];
};

/* One response being received. */
typedef struct response {
    long   status;       /* HTTP status of the final response */
    char  *body;         /* received bytes, NUL-terminated */
    size_t len, cap;
    size_t ok_max;       /* bound on a 2xx body */
    int    too_large;    /* a 2xx body exceeded ok_max: transfer aborted */
    int    oom;          /* allocation failed: transfer aborted */
    int    nobody;       /* HEAD: Content-Length describes no body of ours */
    int64_t announced;   /* Content-Length of a too-large body, -1 if unknown */
    CURL   *curl;
} response;

/* One request to send. */
typedef struct request {
    const char *method;        /* "GET", "PUT", "HEAD", "DELETE" */
    const char *bucket;
    const char *key;           /* nullable: bucket-level request */
    const char *query;         /* nullable: sorted, encoded, without '?' */
    const void *body;          /* nullable */
    size_t      body_len;
    const char *content_type;  /* nullable */
    size_t      ok_max;        /* bound on a 2xx response body */
} request;

static char *dup_str(const char *s)
{
    return s == NULL ? NULL : strdup(s);
}

/* ---- encoding ------------------------------------------------------------ */

size_t s3__uri_encode(char *dst, size_t size, const char *s, size_t len, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t            need = 0;  /* length of the full encoding so far */
    size_t            w = 0;     /* bytes written; stops growing once one did not fit */

    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        int keep = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                   (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' ||
                   ch == '~' || (keep_slash && ch == '/');
        size_t n = keep ? 1 : 3;

        if (w == need && need + n < size) {
            if (keep) {
                dst[w] = (char)ch;
            } else {
                dst[w] = '%';
                dst[w + 1] = hex[ch >> 4];
                dst[w + 2] = hex[ch & 15];
            }
            w += n;
        }
        need += n;
    }
    if (size > 0)
        dst[w] = '\0';
    return need;
}

/* Append the encoding of s to the malloc'd string *buf (length *len).
 * Returns -1 on allocation failure. */
static int append_encoded(char **buf, size_t *len, const char *s, int keep_slash)
{
    size_t slen = strlen(s);
    size_t need = s3__uri_encode(NULL, 0, s, slen, keep_slash);
    char  *nb = realloc(*buf, *len + need + 1);

    if (nb == NULL)
        return -1;
    s3__uri_encode(nb + *len, need + 1, s, slen, keep_slash);
    *buf = nb;
    *len += need;
    return 0;
}

static int append_raw(char **buf, size_t *len, const char *s)
{
    size_t slen = strlen(s);
    char  *nb = realloc(*buf, *len + slen + 1);

    if (nb == NULL)
        return -1;
    memcpy(nb + *len, s, slen + 1);
    *buf = nb;
    *len += slen;
    return 0;
}

/* hex SHA-256 of the payload, for x-amz-content-sha256. */
static int sha256_hex(const void *data, size_t len, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char     md[EVP_MAX_MD_SIZE];
    unsigned int      mdlen = 0;

    if (EVP_Digest(data != NULL ? data : "", len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
        mdlen != 32)
        return -1;
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
    return 0;
}

/* ---- validation ---------------------------------------------------------- */

static int valid_bucket(const char *b)
{
    size_t len;

    if (b == NULL)
        return 0;
    len = strlen(b);
    if (len < 3 || len > 63)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = b[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
            return 0;
    }
    return 1;
}

static int valid_key(const char *k)
{
    return k != NULL && k[0] != '\0' && strlen(k) <= MAX_KEY_LEN;
}

/* "bucket/key" for messages. */
static void where_of(char *buf, size_t size, const char *bucket, const char *key)
{
    if (key != NULL)
        snprintf(buf, size, "%s/%s", bucket, key);
    else
        snprintf(buf, size, "%s", bucket);
}

static int check_args(s3_client *c, const char *op, const char *bucket, const char *key,
                      int need_key, ep_err *err)
{
    if (c == NULL)
        return ep_err_set(err, S3_EINVAL, "s3 %s: client is NULL", op);
    if (!valid_bucket(bucket))
        return ep_err_set(err, S3_EINVAL,
                          "s3 %s: invalid bucket name \"%.64s\" (3-63 of [a-z0-9.-])", op,
                          bucket != NULL ? bucket : "(null)");
    if (need_key && !valid_key(key))
        return ep_err_set(err, S3_EINVAL, "s3 %s %s: invalid key (1-%d bytes required)", op,
                          bucket, MAX_KEY_LEN);
    return S3_OK;
}

/* ---- client -------------------------------------------------------------- */

int s3_client_create(const s3_config *cfg, s3_client **out, ep_err *err)
{
    s3_client  *c = NULL;
    const char *host, *path;
    size_t      len;
    int         rc = S3_OK;

    if (out != NULL)
        *out = NULL;
    if (cfg == NULL || out == NULL)
        return ep_err_set(err, S3_EINVAL, "s3 config: cfg and out are required");
    if (cfg->endpoint == NULL || (strncmp(cfg->endpoint, "http://", 7) != 0 &&
                                  strncmp(cfg->endpoint, "https://", 8) != 0))
        return ep_err_set(err, S3_EINVAL,
                          "s3 config: endpoint \"%.200s\" must start with http:// or https://",
                          cfg->endpoint != NULL ? cfg->endpoint : "(null)");
    /* Path-style addressing appends /bucket/key to the endpoint, so the
     * endpoint itself may end in '/' but must not carry a path. */
    host = strstr(cfg->endpoint, "//") + 2;
    path = strchr(host, '/');
    if (host[0] == '\0' || host[0] == '/' || (path != NULL && path[strspn(path, "/")] != '\0'))
        return ep_err_set(err, S3_EINVAL,
                          "s3 config: endpoint \"%.200s\" must be scheme://host[:port] "
                          "without a path", cfg->endpoint);
    if (cfg->endpoint[strcspn(cfg->endpoint, "?# \t\r\n")] != '\0')
        return ep_err_set(err, S3_EINVAL, "s3 config: endpoint \"%.200s\" has a query, "
                          "fragment or whitespace", cfg->endpoint);
    if (cfg->region == NULL || cfg->region[0] == '\0' ||
        cfg->region[strcspn(cfg->region, ":/ \t\r\n")] != '\0')
        return ep_err_set(err, S3_EINVAL, "s3 config: region is empty or has ':', '/' or spaces");
    if (cfg->access_key == NULL || cfg->access_key[0] == '\0')
        return ep_err_set(err, S3_EINVAL, "s3 config: access_key is empty");
    if (cfg->secret_key == NULL || cfg->secret_key[0] == '\0')
        return ep_err_set(err, S3_EINVAL, "s3 config: secret_key is empty");
    if (cfg->timeout_ms < 0)
        return ep_err_set(err, S3_EINVAL, "s3 config: timeout_ms %ld is negative",
                          cfg->timeout_ms);

    c = calloc(1, sizeof *c);
    if (c == NULL)
        goto oom;
    c->endpoint = dup_str(cfg->endpoint);
    c->region = dup_str(cfg->region);
    c->access_key = dup_str(cfg->access_key);
    c->secret_key = dup_str(cfg->secret_key);
    c->ca_file = dup_str(cfg->ca_file);
    len = strlen("aws:amz::s3") + strlen(cfg->region) + 1;
    c->sigv4 = malloc(len);
    if (c->endpoint == NULL || c->region == NULL || c->access_key == NULL ||
        c->secret_key == NULL || (cfg->ca_file != NULL && c->ca_file == NULL) ||
        c->sigv4 == NULL)
        goto oom;
    snprintf(c->sigv4, len, "aws:amz:%s:s3", cfg->region);
    len = strlen(c->endpoint);
    while (len > 0 && c->endpoint[len - 1] == '/')
        c->endpoint[--len] = '\0';
    c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
    c->curl = curl_easy_init();
    if (c->curl == NULL) {
        rc = ep_err_set(err, S3_ENOMEM, "s3: curl_easy_init failed");
        goto out;
    }
    *out = c;
    c = NULL;
    goto out;
oom:
    rc = ep_err_set(err, S3_ENOMEM, "s3 client: out of memory");
out:
    s3_client_destroy(c);
    return rc;
}

void s3_client_destroy(s3_client *c)
{
    if (c == NULL)
        return;
    if (c->curl != NULL)
        curl_easy_cleanup(c->curl);
    free(c->endpoint);
    free(c->region);
    free(c->access_key);
    if (c->secret_key != NULL)  /* a plain memset could be optimised away */
        OPENSSL_cleanse(c->secret_key, strlen(c->secret_key));
    free(c->secret_key);
    free(c->ca_file);
    free(c->sigv4);
    free(c);
}

long s3__connects(const s3_client *c)
{
    return c->connects;
}

/* ---- transfer -------------------------------------------------------------- */

static int reserve(response *r, size_t extra)
{
    size_t need, cap;
    char  *nb;

    if (extra > SIZE_MAX - r->len - 1)
        return -1;
    need = r->len + extra + 1;
    if (need <= r->cap)
        return 0;
    cap = r->cap > 0 ? r->cap : 1024;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    nb = realloc(r->body, cap);
    if (nb == NULL)
        return -1;
    r->body = nb;
    r->cap = cap;
    return 0;
}

static size_t body_limit(const response *r)
{
    return r->status >= 200 && r->status < 300 ? r->ok_max : ERROR_BODY_MAX;
}

/* At the end of each header block, learn the status and, for a success,
 * refuse a body whose announced length is already over the bound. */
static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    response  *r = ud;
    size_t     n = size * nmemb;
    curl_off_t cl = -1;

    if (n > 2 || (n == 2 && data[0] != '\r') || (n == 1 && data[0] != '\n'))
        return n;
    curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->status < 200 || r->nobody)
        return n;  /* an interim 1xx response, or HEAD's announced length */
    curl_easy_getinfo(r->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    if (r->status < 300 && cl >= 0 && (uint64_t)cl > (uint64_t)r->ok_max) {
        r->too_large = 1;
        r->announced = (int64_t)cl;
        return 0;  /* abort before any body byte arrives */
    }
    if (cl > 0 && (uint64_t)cl <= (uint64_t)body_limit(r) && reserve(r, (size_t)cl) != 0) {
        r->oom = 1;
        return 0;
    }
    return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    response *r = ud;
    size_t    n = size * nmemb;
    size_t    limit = body_limit(r);
    size_t    take = n;

    if (n > limit - (r->len < limit ? r->len : limit)) {
        if (r->status >= 200 && r->status < 300) {
            r->too_large = 1;
            return 0;  /* abort: the object is larger than the caller allows */
        }
        take = limit - r->len;  /* keep the start of an error body, drop the rest */
    }
    if (take > 0) {
        if (reserve(r, take) != 0) {
            r->oom = 1;
            return 0;
        }
        memcpy(r->body + r->len, data, take);
        r->len += take;
        r->body[r->len] = '\0';
    }
    return n;
}

static void response_dispose(response *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

/* Send req and receive the response into resp (caller disposes it).  Returns
 * S3_OK when an HTTP response arrived, whatever its status; transport,
 * bound and memory failures are reported here with `op where` as context. */
static int perform(s3_client *c, const request *req, const char *op, const char *where,
                   response *resp, ep_err *err)
{
    CURL              *h = c->curl;
    struct curl_slist *hdrs = NULL, *tmp;
    char              *url = NULL;
    size_t             ulen = 0;
    char               sha[65];
    char               line[160];
    long               nconn = 0;
    CURLcode           cc;
    int                rc = S3_OK;

    memset(resp, 0, sizeof *resp);
    resp->ok_max = req->ok_max;
    resp->announced = -1;
    resp->curl = h;
    resp->nobody = strcmp(req->method, "HEAD") == 0;

    if (append_raw(&url, &ulen, c->endpoint) != 0 || append_raw(&url, &ulen, "/") != 0 ||
        append_raw(&url, &ulen, req->bucket) != 0 ||
        (req->key != NULL &&
         (append_raw(&url, &ulen, "/") != 0 || append_encoded(&url, &ulen, req->key, 1) != 0)) ||
        (req->query != NULL &&
         (append_raw(&url, &ulen, "?") != 0 || append_raw(&url, &ulen, req->query) != 0)))
        goto oom;

    if (sha256_hex(req->body, req->body_len, sha) != 0) {
        rc = ep_err_set(err, S3_EINTERNAL, "s3 %s %s: SHA-256 of the payload failed", op, where);
        goto out;
    }
    snprintf(line, sizeof line, "x-amz-content-sha256: %s", sha);
    if ((tmp = curl_slist_append(hdrs, line)) == NULL)
        goto oom;
    hdrs = tmp;
    /* No "Expect:" removal header here: the 7.88 signer would list the
     * removed header among the signed ones and the server would reject the
     * signature.  MinIO answers "100 Continue" at once, so large PUTs lose
     * only a round trip. */
    if (req->body != NULL || strcmp(req->method, "PUT") == 0) {
        char *ct = NULL;
        size_t ctlen = 0;

        if (append_raw(&ct, &ctlen, "Content-Type: ") != 0 ||
            append_raw(&ct, &ctlen, req->content_type != NULL ? req->content_type
                                                             : "application/octet-stream") != 0) {
            free(ct);
            goto oom;
        }
        tmp = curl_slist_append(hdrs, ct);
        free(ct);
        if (tmp == NULL)
            goto oom;
        hdrs = tmp;
    }

    curl_easy_reset(h);
    c->curl_err[0] = '\0';
    cc = CURLE_OK;
#define SETOPT(opt, val)                                   \
    do {                                                   \
        if (cc == CURLE_OK)                                \
            cc = curl_easy_setopt(h, opt, val);            \
    } while (0)
    SETOPT(CURLOPT_URL, url);
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
    /* Keys may contain "." and ".." segments; they must reach the server
     * as written, not be resolved by libcurl. */
    SETOPT(CURLOPT_PATH_AS_IS, 1L);
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_TIMEOUT_MS, c->timeout_ms);
    SETOPT(CURLOPT_ERRORBUFFER, c->curl_err);
    SETOPT(CURLOPT_AWS_SIGV4, c->sigv4);
    SETOPT(CURLOPT_USERNAME, c->access_key);
    SETOPT(CURLOPT_PASSWORD, c->secret_key);
    SETOPT(CURLOPT_HTTPHEADER, hdrs);
    SETOPT(CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(CURLOPT_HEADERDATA, resp);
    SETOPT(CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(CURLOPT_WRITEDATA, resp);
    if (c->ca_file != NULL)
        SETOPT(CURLOPT_CAINFO, c->ca_file);
    if (strcmp(req->method, "HEAD") == 0) {
        SETOPT(CURLOPT_NOBODY, 1L);
    } else if (strcmp(req->method, "PUT") == 0) {
        /* POSTFIELDS (with the method overridden) rather than an upload
         * callback: the 7.88 signer hashes POSTFIELDS, so its payload hash
         * and our x-amz-content-sha256 agree. */
        SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        SETOPT(CURLOPT_POSTFIELDS, req->body != NULL ? req->body : "");
        SETOPT(CURLOPT_CUSTOMREQUEST, "PUT");
    } else if (strcmp(req->method, "GET") != 0) {
        SETOPT(CURLOPT_CUSTOMREQUEST, req->method);
    }
#undef SETOPT
    if (cc != CURLE_OK) {
        rc = ep_err_set(err, S3_EINTERNAL, "s3 %s %s: setting up libcurl: %s", op, where,
                        curl_easy_strerror(cc));
        goto out;
    }

    cc = curl_easy_perform(h);
    if (curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &nconn) == CURLE_OK)
        c->connects += nconn;
    /* Do not leave pointers to this stack frame and these buffers in the
     * handle once the request is over. */
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, NULL);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, NULL);
    if (resp->oom)
        goto oom;
    if (resp->too_large) {
        if (resp->announced >= 0)
            rc = ep_err_set(err, S3_ETOOLARGE,
                            "s3 %s %s: object is %lld bytes, more than the limit of %zu", op,
                            where, (long long)resp->announced, req->ok_max);
        else
            rc = ep_err_set(err, S3_ETOOLARGE,
                            "s3 %s %s: object is larger than the limit of %zu bytes", op,
                            where, req->ok_max);
        goto out;
    }
    if (cc != CURLE_OK) {
        rc = ep_err_set(err, S3_ETRANSPORT, "s3 %s %s: %s%s%s", op, where,
                        curl_easy_strerror(cc), c->curl_err[0] != '\0' ? ": " : "",
                        c->curl_err);
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    goto out;
oom:
    rc = ep_err_set(err, S3_ENOMEM, "s3 %s %s: out of memory", op, where);
out:
    curl_slist_free_all(hdrs);
    free(url);
    if (rc != S3_OK)
        response_dispose(resp);
    return rc;
}

/* Turn a non-2xx response into a status and a message naming the S3 error
 * code and message when the body carries them. */
static int http_error(const response *resp, const char *op, const char *where, ep_err *err)
{
    char code[64], msg[256];
    int  st = resp->status == 404 ? S3_ENOTFOUND : S3_EHTTP;

    if (resp->len > 0 &&
        s3__parse_error_xml(resp->body, resp->len, code, sizeof code, msg, sizeof msg) == 0) {
        if (msg[0] != '\0')
            return ep_err_set(err, st, "s3 %s %s: HTTP %ld %s: %s", op, where, resp->status,
                              code, msg);
        return ep_err_set(err, st, "s3 %s %s: HTTP %ld %s", op, where, resp->status, code);
    }
    return ep_err_set(err, st, "s3 %s %s: HTTP %ld", op, where, resp->status);
}

static int is_success(const response *resp)
{
    return resp->status >= 200 && resp->status < 300;
}

/* Remove one pair of surrounding double quotes, in place. */
static void unquote(char *s)
{
    size_t len = strlen(s);

    if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
        memmove(s, s + 1, len - 2);
        s[len - 2] = '\0';
    }
}

/* The last response's metadata headers into info. */
static void fill_info(s3_client *c, s3_object_info *info)
{
    struct curl_header *hv = NULL;
    curl_off_t          cl = -1;
    char               *ct = NULL;

    memset(info, 0, sizeof *info);
    info->size = -1;
    if (curl_easy_header(c->curl, "ETag", 0, CURLH_HEADER, -1, &hv) == CURLHE_OK &&
        hv->value != NULL) {
        snprintf(info->etag, sizeof info->etag, "%s", hv->value);
        unquote(info->etag);
    }
    if (curl_easy_getinfo(c->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK &&
        cl >= 0)
        info->size = (int64_t)cl;
    if (curl_easy_getinfo(c->curl, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct != NULL)
        snprintf(info->content_type, sizeof info->content_type, "%s", ct);
    if (curl_easy_header(c->curl, "Last-Modified", 0, CURLH_HEADER, -1, &hv) == CURLHE_OK &&
        hv->value != NULL) {
        time_t t = curl_getdate(hv->value, NULL);
        if (t != (time_t)-1)
            info->mtime = (int64_t)t;
    }
}

/* ---- operations -------------------------------------------------------------- */

int s3_get(s3_client *c, const char *bucket, const char *key, size_t max_bytes,
           s3_buf *out, s3_object_info *info, ep_err *err)
{
    request  req = {.method = "GET", .bucket = bucket, .key = key, .ok_max = max_bytes};
    response resp;
    char     where[WHERE_MAX];
    int      rc;

    if (out != NULL) {
        out->data = NULL;
        out->len = 0;
    }
    rc = check_args(c, "GET", bucket, key, 1, err);
    if (rc != S3_OK)
        return rc;
    if (out == NULL)
        return ep_err_set(err, S3_EINVAL, "s3 GET: out is NULL");
    where_of(where, sizeof where, bucket, key);
    rc = perform(c, &req, "GET", where, &resp, err);
    if (rc != S3_OK)
        return rc;
    if (!is_success(&resp)) {
        rc = http_error(&resp, "GET", where, err);
        goto out;
    }
    if (resp.body == NULL) {  /* empty object: still hand back a string */
        resp.body = malloc(1);
        if (resp.body == NULL) {
            rc = ep_err_set(err, S3_ENOMEM, "s3 GET %s: out of memory", where);
            goto out;
        }
        resp.body[0] = '\0';
    }
    if (info != NULL) {
        fill_info(c, info);
        info->size = (int64_t)resp.len;
    }
    out->data = resp.body;
    out->len = resp.len;
    resp.body = NULL;
out:
    response_dispose(&resp);
    return rc;
}

int s3_put(s3_client *c, const char *bucket, const char *key, const void *data, size_t len,
           const char *content_type, s3_object_info *info, ep_err *err)
{
    request  req = {.method = "PUT", .bucket = bucket, .key = key, .body = data,
                    .body_len = len, .content_type = content_type, .ok_max = ERROR_BODY_MAX};
    response resp;
    char     where[WHERE_MAX];
    int      rc;

    rc = check_args(c, "PUT", bucket, key, 1, err);
    if (rc != S3_OK)
        return rc;
    if (data == NULL && len > 0)
        return ep_err_set(err, S3_EINVAL, "s3 PUT %s/%s: data is NULL", bucket, key);
    if (content_type != NULL && content_type[strcspn(content_type, "\r\n")] != '\0')
        return ep_err_set(err, S3_EINVAL, "s3 PUT %s/%s: content_type has a line break",
                          bucket, key);
    where_of(where, sizeof where, bucket, key);
    rc = perform(c, &req, "PUT", where, &resp, err);
    if (rc != S3_OK)
        return rc;
    if (!is_success(&resp)) {
        rc = http_error(&resp, "PUT", where, err);
        goto out;
    }
    if (info != NULL) {
        fill_info(c, info);
        info->size = (int64_t)len;
        info->mtime = 0;
        snprintf(info->content_type, sizeof info->content_type, "%s",
                 content_type != NULL ? content_type : "application/octet-stream");
    }
out:
    response_dispose(&resp);
    return rc;
}

int s3_delete(s3_client *c, const char *bucket, const char *key, ep_err *err)
{
    request  req = {.method = "DELETE", .bucket = bucket, .key = key, .ok_max = ERROR_BODY_MAX};
    response resp;
    char     where[WHERE_MAX], code[64], msg[8];
    int      rc;

    rc = check_args(c, "DELETE", bucket, key, 1, err);
    if (rc != S3_OK)
        return rc;
    where_of(where, sizeof where, bucket, key);
    rc = perform(c, &req, "DELETE", where, &resp, err);
    if (rc != S3_OK)
        return rc;
    /* S3 answers 204 for a missing key; tolerate stores that say NoSuchKey. */
    if (!is_success(&resp) &&
        !(resp.status == 404 && resp.len > 0 &&
          s3__parse_error_xml(resp.body, resp.len, code, sizeof code, msg, sizeof msg) == 0 &&
          strcmp(code, "NoSuchKey") == 0))
        rc = http_error(&resp, "DELETE", where, err);
    response_dispose(&resp);
    return rc;
}

int s3_head(s3_client *c, const char *bucket, const char *key, s3_object_info *info,
            ep_err *err)
{
    request  req = {.method = "HEAD", .bucket = bucket, .key = key, .ok_max = 0};
    response resp;
    char     where[WHERE_MAX];
    int      rc;

    rc = check_args(c, "HEAD", bucket, key, 1, err);
    if (rc != S3_OK)
        return rc;
    if (info == NULL)
        return ep_err_set(err, S3_EINVAL, "s3 HEAD %s/%s: info is NULL", bucket, key);
    where_of(where, sizeof where, bucket, key);
    rc = perform(c, &req, "HEAD", where, &resp, err);
    if (rc != S3_OK)
        return rc;
    /* A HEAD response has no body, hence no S3 error code to report. */
    if (!is_success(&resp))
        rc = http_error(&resp, "HEAD", where, err);
    else
        fill_info(c, info);
    response_dispose(&resp);
    return rc;
}

/* The ListObjectsV2 query: parameters in byte order of their names, as the
 * SigV4 canonical request requires, values encoded like the path but with
 * '/' encoded too.  New malloc'd string, or NULL when out of memory. */
static char *list_query(const char *token, const char *prefix, int page_size)
{
    char  *q = NULL;
    size_t len = 0;
    char   num[32];

    if (token != NULL &&
        (append_raw(&q, &len, "continuation-token=") != 0 ||
         append_encoded(&q, &len, token, 0) != 0 || append_raw(&q, &len, "&") != 0))
        goto fail;
    /* encoding-type=url makes keys with characters XML 1.0 cannot carry
     * (control characters) listable; the parser decodes them. */
    snprintf(num, sizeof num, "%d", page_size);
    if (append_raw(&q, &len, "encoding-type=url&list-type=2&max-keys=") != 0 ||
        append_raw(&q, &len, num) != 0)
        goto fail;
    if (prefix != NULL && prefix[0] != '\0' &&
        (append_raw(&q, &len, "&prefix=") != 0 || append_encoded(&q, &len, prefix, 0) != 0))
        goto fail;
    return q;
fail:
    free(q);
    return NULL;
}

int s3_list(s3_client *c, const char *bucket, const char *prefix, int page_size,
            s3_list_cb cb, void *ud, ep_err *err)
{
    s3__list_page page = {0};
    response      resp = {0};
    char          where[WHERE_MAX];
    char         *token = NULL, *query = NULL;
    size_t        pages = 0;
    int           stop = 0, rc;

    rc = check_args(c, "LIST", bucket, NULL, 0, err);
    if (rc != S3_OK)
        return rc;
    if (cb == NULL)
        return ep_err_set(err, S3_EINVAL, "s3 LIST %s: callback is NULL", bucket);
    if (page_size < 0 || page_size > 1000)
        return ep_err_set(err, S3_EINVAL, "s3 LIST %s: page_size %d outside 0..1000", bucket,
                          page_size);
    if (prefix != NULL && strlen(prefix) > MAX_KEY_LEN)
        return ep_err_set(err, S3_EINVAL, "s3 LIST %s: prefix longer than %d bytes", bucket,
                          MAX_KEY_LEN);
    if (page_size == 0)
        page_size = 1000;
    if (prefix != NULL && prefix[0] != '\0')
        snprintf(where, sizeof where, "%.63s (prefix \"%.200s\")", bucket, prefix);
    else
        snprintf(where, sizeof where, "%.63s", bucket);

    do {
        request req = {.method = "GET", .bucket = bucket, .ok_max = LIST_BODY_MAX};

        query = list_query(token, prefix, page_size);
        if (query == NULL) {
            rc = ep_err_set(err, S3_ENOMEM, "s3 LIST %s: out of memory", where);
            goto out;
        }
        req.query = query;
        rc = perform(c, &req, "LIST", where, &resp, err);
        if (rc != S3_OK)
            goto out;
        pages++;
        if (!is_success(&resp)) {
            rc = http_error(&resp, "LIST", where, err);
            goto out;
        }
        rc = s3__parse_list_xml(resp.body != NULL ? resp.body : "", resp.len, &page, err);
        if (rc != S3_OK) {
            ep_err_wrap(err, "s3 LIST %s, page %zu", where, pages);
            goto out;
        }
        for (size_t i = 0; i < page.n && !stop; i++)
            stop = cb(&page.entries[i], ud) != 0;
        /* A server that hands back the token it was given would make us loop
         * for ever. */
        if (page.truncated && token != NULL && strcmp(token, page.next_token) == 0) {
            rc = ep_err_set(err, S3_EPARSE,
                            "s3 LIST %s, page %zu: continuation token did not advance", where,
                            pages);
            goto out;
        }
        free(token);
        token = page.next_token;  /* NULL on the last page */
        page.next_token = NULL;
        s3__list_page_dispose(&page);
        response_dispose(&resp);
        free(query);
        query = NULL;
    } while (token != NULL && !stop);
out:
    s3__list_page_dispose(&page);
    response_dispose(&resp);
    free(query);
    free(token);
    return rc;
}

int s3_bucket_ensure(s3_client *c, const char *bucket, ep_err *err)
{
    request  req = {.method = "PUT", .bucket = bucket, .ok_max = ERROR_BODY_MAX};
    response resp;
    char     code[64], msg[8];
    char     body[256];
    int      rc;

    rc = check_args(c, "CREATE-BUCKET", bucket, NULL, 0, err);
    if (rc != S3_OK)
        return rc;
    /* us-east-1 is S3's default location and must not be named explicitly. */
    if (strcmp(c->region, "us-east-1") != 0) {
        snprintf(body, sizeof body,
                 "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                 "<LocationConstraint>%s</LocationConstraint></CreateBucketConfiguration>",
                 c->region);
        req.body = body;
        req.body_len = strlen(body);
        req.content_type = "application/xml";
    }
    rc = perform(c, &req, "CREATE-BUCKET", bucket, &resp, err);
    if (rc != S3_OK)
        return rc;
    if (!is_success(&resp) &&
        !(resp.status == 409 && resp.len > 0 &&
          s3__parse_error_xml(resp.body, resp.len, code, sizeof code, msg, sizeof msg) == 0 &&
          strcmp(code, "BucketAlreadyOwnedByYou") == 0))
        rc = http_error(&resp, "CREATE-BUCKET", bucket, err);
    response_dispose(&resp);
    return rc;
}
