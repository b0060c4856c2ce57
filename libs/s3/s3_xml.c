/*
 * s3 response parsers: ListObjectsV2 pages and S3 <Error> bodies, parsed with
 * libxml2 into a tree and walked element by element.  Input comes from the
 * network, so the parser is configured defensively: no network access, no
 * entity substitution, documents with a DTD refused, and text is read only
 * from text and CDATA nodes (an entity reference is an error), so no input
 * can make us expand entities.  These functions do no I/O and keep no state,
 * which is what lets the fuzz harness feed them arbitrary bytes.
 */
#include "s3/s3_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

/* libxml2 options: NONET refuses to fetch external resources, NOERROR and
 * NOWARNING keep libxml2 from printing (libraries never log).  NOENT is
 * deliberately absent: it would substitute entities. */
#define XML_OPTS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)

static int is_element(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* The text of element n as a new malloc'd string in *out.  Returns S3_OK,
 * S3_ENOMEM, or S3_EPARSE when n holds anything but text (child elements,
 * entity references) or an embedded NUL. */
static int element_text(const xmlNode *n, char **out, ep_err *err)
{
    const xmlNode *ch;
    size_t         len = 0, off = 0;
    char          *s;

    *out = NULL;
    for (ch = n->children; ch != NULL; ch = ch->next) {
        if (ch->type == XML_TEXT_NODE || ch->type == XML_CDATA_SECTION_NODE) {
            if (ch->content != NULL)
                len += strlen((const char *)ch->content);
        } else if (ch->type != XML_COMMENT_NODE && ch->type != XML_PI_NODE) {
            return ep_err_set(err, S3_EPARSE, "element <%s> holds more than text",
                              (const char *)n->name);
        }
    }
    s = malloc(len + 1);
    if (s == NULL)
        return ep_err_set(err, S3_ENOMEM, "out of memory");
    for (ch = n->children; ch != NULL; ch = ch->next) {
        if ((ch->type == XML_TEXT_NODE || ch->type == XML_CDATA_SECTION_NODE) &&
            ch->content != NULL) {
            size_t l = strlen((const char *)ch->content);
            memcpy(s + off, ch->content, l);
            off += l;
        }
    }
    s[off] = '\0';
    *out = s;
    return S3_OK;
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Decode, in place, a key that S3 sent with encoding-type=url: "%XX" is a
 * byte and '+' a space (S3 form-encodes; a literal '+' arrives as %2B).
 * Returns -1 on a malformed escape or an encoded NUL. */
static int url_decode_inplace(char *s)
{
    char *w = s;

    for (const char *r = s; *r != '\0'; r++) {
        if (*r == '%') {
            int hi = hexval((unsigned char)r[1]);
            int lo = hi < 0 ? -1 : hexval((unsigned char)r[2]);
            if (lo < 0 || (hi == 0 && lo == 0))
                return -1;
            *w++ = (char)(hi * 16 + lo);
            r += 2;
        } else if (*r == '+') {
            *w++ = ' ';
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return 0;
}

/* Remove one pair of surrounding double quotes, in place. */
static void strip_quotes(char *s)
{
    size_t len = strlen(s);

    if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
        memmove(s, s + 1, len - 2);
        s[len - 2] = '\0';
    }
}

static int parse_size(const char *s, int64_t *out)
{
    char     *end;
    long long v;

    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0)
        return -1;
    *out = (int64_t)v;
    return 0;
}

int s3__parse_iso8601(const char *s, int64_t *out)
{
    struct tm tm;
    int       y, mo, d, h, mi, sec, n = 0;
    time_t    t;

    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
        n != 19)
        return -1;
    s += n;
    if (*s == '.') {
        s++;
        if (*s < '0' || *s > '9')
            return -1;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    if (strcmp(s, "Z") != 0)
        return -1;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    *out = (int64_t)t;
    return 0;
}

/* Parse the document, refusing DTDs.  On failure the error names libxml2's
 * reason and position. */
static int read_doc(const char *xml, size_t len, const char *what, xmlDoc **out,
                    ep_err *err)
{
    xmlParserCtxt *ctxt;
    xmlDoc        *doc;
    int            rc = S3_OK;

    *out = NULL;
    if (len > INT_MAX)
        return ep_err_set(err, S3_EPARSE, "%s: document too large (%zu bytes)", what, len);
    ctxt = xmlNewParserCtxt();
    if (ctxt == NULL)
        return ep_err_set(err, S3_ENOMEM, "out of memory");
    /* S3 always answers in UTF-8.  Forcing it keeps libxml2 away from its
     * encoding converters, which print conversion errors to stderr
     * regardless of XML_PARSE_NOERROR; invalid UTF-8 is an ordinary parse
     * error instead. */
    doc = xmlCtxtReadMemory(ctxt, xml, (int)len, NULL, "UTF-8", XML_OPTS);
    if (doc == NULL) {
        const xmlError *xe = xmlCtxtGetLastError(ctxt);
        char            msg[160] = "unknown error";

        if (xe != NULL && xe->message != NULL) {
            snprintf(msg, sizeof msg, "%s", xe->message);
            msg[strcspn(msg, "\r\n")] = '\0';
        }
        rc = ep_err_set(err, S3_EPARSE, "%s: not well-formed XML (line %d: %s)", what,
                        xe != NULL ? xe->line : 0, msg);
        goto out;
    }
    if (doc->intSubset != NULL || doc->extSubset != NULL) {
        rc = ep_err_set(err, S3_EPARSE, "%s: document has a DTD", what);
        goto out;
    }
    if (xmlDocGetRootElement(doc) == NULL) {
        rc = ep_err_set(err, S3_EPARSE, "%s: no root element", what);
        goto out;
    }
    *out = doc;
    doc = NULL;
out:
    xmlFreeDoc(doc);
    xmlFreeParserCtxt(ctxt);
    return rc;
}

void s3__list_page_dispose(s3__list_page *page)
{
    if (page == NULL)
        return;
    for (size_t i = 0; i < page->n; i++) {
        free((char *)page->entries[i].key);
        free((char *)page->entries[i].etag);
    }
    free(page->entries);
    free(page->next_token);
    memset(page, 0, sizeof *page);
}

/* Fill e from one <Contents> element.  Key and Size are required; ETag and
 * LastModified are optional. */
static int parse_contents(const xmlNode *contents, int url_encoded, s3_list_entry *e,
                          ep_err *err)
{
    char *key = NULL, *etag = NULL, *size = NULL, *mtime = NULL;
    int   rc = S3_OK;

    for (const xmlNode *n = contents->children; n != NULL && rc == S3_OK; n = n->next) {
        char **slot = NULL;

        if (is_element(n, "Key"))
            slot = &key;
        else if (is_element(n, "ETag"))
            slot = &etag;
        else if (is_element(n, "Size"))
            slot = &size;
        else if (is_element(n, "LastModified"))
            slot = &mtime;
        if (slot == NULL)
            continue;
        if (*slot != NULL) {
            rc = ep_err_set(err, S3_EPARSE, "<Contents> has two <%s>", (const char *)n->name);
            break;
        }
        rc = element_text(n, slot, err);
    }
    if (rc != S3_OK)
        goto out;
    if (key == NULL || key[0] == '\0') {
        rc = ep_err_set(err, S3_EPARSE, "<Contents> without <Key>");
        goto out;
    }
    if (url_encoded && url_decode_inplace(key) != 0) {
        rc = ep_err_set(err, S3_EPARSE, "<Key> has a malformed %%-escape");
        goto out;
    }
    if (size == NULL || parse_size(size, &e->size) != 0) {
        rc = ep_err_set(err, S3_EPARSE, "<Contents> for key \"%.200s\" without a valid <Size>",
                        key);
        goto out;
    }
    e->mtime = 0;
    if (mtime != NULL && s3__parse_iso8601(mtime, &e->mtime) != 0) {
        rc = ep_err_set(err, S3_EPARSE, "<LastModified> \"%.64s\" is not an ISO 8601 time",
                        mtime);
        goto out;
    }
    if (etag == NULL) {
        etag = strdup("");
        if (etag == NULL) {
            rc = ep_err_set(err, S3_ENOMEM, "out of memory");
            goto out;
        }
    }
    strip_quotes(etag);
    e->key = key;
    e->etag = etag;
    key = etag = NULL;
out:
    free(key);
    free(etag);
    free(size);
    free(mtime);
    return rc;
}

int s3__parse_list_xml(const char *xml, size_t len, s3__list_page *page, ep_err *err)
{
    xmlDoc        *doc = NULL;
    const xmlNode *root, *n;
    char          *text = NULL;
    size_t         ncontents = 0;
    int            have_truncated = 0, url_encoded = 0;
    int            rc;

    memset(page, 0, sizeof *page);
    rc = read_doc(xml, len, "ListObjectsV2 response", &doc, err);
    if (rc != S3_OK)
        return rc;
    root = xmlDocGetRootElement(doc);
    if (!is_element(root, "ListBucketResult")) {
        rc = ep_err_set(err, S3_EPARSE,
                        "ListObjectsV2 response: root element is <%.64s>, not <ListBucketResult>",
                        (const char *)root->name);
        goto out;
    }

    /* First pass: the page-level fields, which tell how to read the entries
     * (EncodingType may follow the Contents in document order). */
    for (n = root->children; n != NULL; n = n->next) {
        if (is_element(n, "Contents")) {
            ncontents++;
            continue;
        }
        if (!is_element(n, "IsTruncated") && !is_element(n, "NextContinuationToken") &&
            !is_element(n, "EncodingType"))
            continue;
        rc = element_text(n, &text, err);
        if (rc != S3_OK)
            goto out;
        if (is_element(n, "IsTruncated")) {
            if (strcmp(text, "true") == 0)
                page->truncated = 1;
            else if (strcmp(text, "false") != 0) {
                rc = ep_err_set(err, S3_EPARSE,
                                "ListObjectsV2 response: <IsTruncated> is \"%.32s\"", text);
                goto out;
            }
            have_truncated = 1;
        } else if (is_element(n, "NextContinuationToken")) {
            free(page->next_token);
            page->next_token = text;
            text = NULL;
        } else {
            url_encoded = strcmp(text, "url") == 0;
        }
        free(text);
        text = NULL;
    }
    if (!have_truncated) {
        rc = ep_err_set(err, S3_EPARSE, "ListObjectsV2 response without <IsTruncated>");
        goto out;
    }
    if (!page->truncated) {
        free(page->next_token);
        page->next_token = NULL;
    } else if (page->next_token == NULL || page->next_token[0] == '\0') {
        rc = ep_err_set(err, S3_EPARSE,
                        "ListObjectsV2 response is truncated but has no <NextContinuationToken>");
        goto out;
    }

    if (ncontents > 0) {
        page->entries = calloc(ncontents, sizeof *page->entries);
        if (page->entries == NULL) {
            rc = ep_err_set(err, S3_ENOMEM, "out of memory");
            goto out;
        }
    }
    for (n = root->children; n != NULL; n = n->next) {
        if (!is_element(n, "Contents"))
            continue;
        rc = parse_contents(n, url_encoded, &page->entries[page->n], err);
        if (rc != S3_OK) {
            ep_err_wrap(err, "ListObjectsV2 response, entry %zu", page->n + 1);
            goto out;
        }
        page->n++;
    }
out:
    free(text);
    xmlFreeDoc(doc);
    if (rc != S3_OK)
        s3__list_page_dispose(page);
    return rc;
}

int s3__parse_error_xml(const char *xml, size_t len, char *code, size_t code_size,
                        char *message, size_t message_size)
{
    xmlDoc        *doc = NULL;
    const xmlNode *root;
    char          *text = NULL;
    int            found = -1;

    if (code_size > 0)
        code[0] = '\0';
    if (message_size > 0)
        message[0] = '\0';
    if (code_size == 0 || read_doc(xml, len, "error body", &doc, NULL) != S3_OK)
        return -1;
    root = xmlDocGetRootElement(doc);
    if (!is_element(root, "Error"))
        goto out;
    for (const xmlNode *n = root->children; n != NULL; n = n->next) {
        int is_code = is_element(n, "Code");

        if (!is_code && !is_element(n, "Message"))
            continue;
        if (element_text(n, &text, NULL) != S3_OK)
            continue;
        if (is_code && text[0] != '\0') {
            snprintf(code, code_size, "%s", text);
            found = 0;
        } else if (!is_code && message_size > 0) {
            snprintf(message, message_size, "%s", text);
        }
        free(text);
        text = NULL;
    }
out:
    xmlFreeDoc(doc);
    return found;
}
