/*
 * Parser: Cedar policy text to compiled policies.
 *
 * A hand-written lexer and recursive-descent parser for the grammar of the
 * Cedar language reference.  Each policy is parsed on its own; an error is
 * recorded with its line and column and the parser resumes after the next
 * `;`, so `cedar check` can report every broken policy in one run.  The
 * acceptance rules (reserved identifiers, non-associative relations, at most
 * four unary operators of one kind, builtin method arity, known extension
 * functions, duplicate annotations and record keys, templates rejected in a
 * static policy set) mirror the reference parser; literal sets, records and
 * extension constructors over literals are folded at compile time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include "cedar/cedar_internal.h"

typedef enum {
    T_EOF, T_IDENT, T_STR, T_INT, T_SLOT, T_LP, T_RP, T_LB, T_RB, T_LC, T_RC,
    T_COMMA, T_SEMI, T_DOT, T_COLON, T_DCOLON, T_AT, T_EQ, T_NE, T_LT, T_LE,
    T_GT, T_GE, T_AND, T_OR, T_NOT, T_MINUS, T_PLUS, T_STAR, T_SLASH,
    T_PERCENT, T_ASSIGN, T_ERR
} tok_kind;

typedef struct tok {
    uint8_t  kind;
    uint8_t  big;          /* T_INT: above INT64_MAX */
    uint32_t off, len;
    int      line, col;
    uint64_t ival;
} tok;

typedef struct parser {
    cedar_policy_set *ps;
    cedar__arena *a;
    const char *src;
    size_t      len;
    tok        *t;
    size_t      nt, pos;
    jmp_buf     jb;
    int         depth;
    cedar_diag *diags;
    size_t      ndiag, nerr;
    char        scratch[256];
} parser;

/* ---- lexer ---------------------------------------------------------------- */
static bool is_id0(char c) { return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool is_id(char c) { return is_id0(c) || (c >= '0' && c <= '9'); }

/* Bytes of the Unicode White_Space character at s[i], or 0.  The reference
 * lexer skips all of them, not only ASCII blanks. */
static size_t ws_len(const char *s, size_t i, size_t n) {
    unsigned char c = (unsigned char)s[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f') return 1;
    if (c == 0xC2 && i + 1 < n && ((unsigned char)s[i + 1] == 0x85 || (unsigned char)s[i + 1] == 0xA0)) return 2;
    if (i + 2 < n) {
        unsigned char c1 = (unsigned char)s[i + 1], c2 = (unsigned char)s[i + 2];
        if (c == 0xE1 && c1 == 0x9A && c2 == 0x80) return 3;                        /* U+1680 */
        if (c == 0xE2 && c1 == 0x80 && (c2 <= 0x8A || c2 == 0xA8 || c2 == 0xA9 || c2 == 0xAF))
            return 3;                                                               /* U+2000-200A, 2028, 2029, 202F */
        if (c == 0xE2 && c1 == 0x81 && c2 == 0x9F) return 3;                        /* U+205F */
        if (c == 0xE3 && c1 == 0x80 && c2 == 0x80) return 3;                        /* U+3000 */
    }
    return 0;
}

static int lex(parser *p) {
    size_t cap = 64, n = 0, i = 0;
    int line = 1, col = 1;
    tok *t = malloc(cap * sizeof *t);
    if (!t) return -1;
    const char *s = p->src;
    for (;;) {
        /* whitespace and comments */
        while (i < p->len) {
            char c = s[i];
            size_t w;
            if (c == '\n') { line++; col = 1; i++; }
            else if ((w = ws_len(s, i, p->len)) > 0) { col++; i += w; }
            else if (c == '/' && i + 1 < p->len && s[i + 1] == '/') {
                /* A comment ends at a line feed or a carriage return. */
                while (i < p->len && s[i] != '\n' && s[i] != '\r') { i++; col++; }
            } else break;
        }
        if (n + 1 >= cap) {
            cap *= 2;
            tok *nt = realloc(t, cap * sizeof *t);
            if (!nt) { free(t); return -1; }
            t = nt;
        }
        tok *k = &t[n++];
        memset(k, 0, sizeof *k);
        k->off = (uint32_t)i; k->line = line; k->col = col;
        if (i >= p->len) { k->kind = T_EOF; break; }
        char c = s[i];
        size_t st = i;
        if (is_id0(c)) {
            while (i < p->len && is_id(s[i])) i++;
            k->kind = T_IDENT;
        } else if (c >= '0' && c <= '9') {
            uint64_t v = 0;
            while (i < p->len && s[i] >= '0' && s[i] <= '9') {
                if (v > (UINT64_MAX - 9) / 10) k->big = 1;
                else v = v * 10 + (uint64_t)(s[i] - '0');
                i++;
            }
            if (v > (uint64_t)INT64_MAX + 1) k->big = 1;
            k->ival = v;
            k->kind = T_INT;
        } else if (c == '"') {
            i++;
            while (i < p->len && s[i] != '"') {
                if (s[i] == '\\' && i + 1 < p->len) i++;
                if (s[i] == '\n') { line++; col = 0; }
                i++;
            }
            if (i >= p->len) { k->kind = T_ERR; i = p->len; }
            else { i++; k->kind = T_STR; }
        } else if (c == '?' && i + 1 < p->len && is_id0(s[i + 1])) {
            i++;
            while (i < p->len && is_id(s[i])) i++;
            k->kind = T_SLOT;
        } else {
            char d = i + 1 < p->len ? s[i + 1] : 0;
            int two = 1;
            switch (c) {
            case '(': k->kind = T_LP; break;
            case ')': k->kind = T_RP; break;
            case '[': k->kind = T_LB; break;
            case ']': k->kind = T_RB; break;
            case '{': k->kind = T_LC; break;
            case '}': k->kind = T_RC; break;
            case ',': k->kind = T_COMMA; break;
            case ';': k->kind = T_SEMI; break;
            case '.': k->kind = T_DOT; break;
            case '@': k->kind = T_AT; break;
            case '+': k->kind = T_PLUS; break;
            case '-': k->kind = T_MINUS; break;
            case '*': k->kind = T_STAR; break;
            case '/': k->kind = T_SLASH; break;
            case '%': k->kind = T_PERCENT; break;
            case ':': if (d == ':') { k->kind = T_DCOLON; two = 2; } else k->kind = T_COLON; break;
            case '=': if (d == '=') { k->kind = T_EQ; two = 2; } else k->kind = T_ASSIGN; break;
            case '!': if (d == '=') { k->kind = T_NE; two = 2; } else k->kind = T_NOT; break;
            case '<': if (d == '=') { k->kind = T_LE; two = 2; } else k->kind = T_LT; break;
            case '>': if (d == '=') { k->kind = T_GE; two = 2; } else k->kind = T_GT; break;
            case '&': if (d == '&') { k->kind = T_AND; two = 2; } else k->kind = T_ERR; break;
            case '|': if (d == '|') { k->kind = T_OR; two = 2; } else k->kind = T_ERR; break;
            default: k->kind = T_ERR; break;
            }
            i += two;
        }
        k->len = (uint32_t)(i - st);
        if (k->kind != T_STR) col += (int)(i - st);
        else {
            /* Columns after a multi-line string restart on its last line. */
            const char *nl = NULL;
            for (size_t q = st; q < i; q++) if (s[q] == '\n') nl = s + q;
            col = nl ? (int)(s + i - nl) : col + (int)(i - st);
        }
    }
    p->t = t;
    p->nt = n;
    return 0;
}

/* ---- errors ------------------------------------------------------------------ */
static void diag_add(parser *p, const tok *at, const char *msg) {
    if (p->nerr < p->ndiag && p->diags) {
        cedar_diag *d = &p->diags[p->nerr];
        d->line = at->line; d->col = at->col; d->offset = at->off;
        snprintf(d->msg, sizeof d->msg, "%s", msg);
    }
    p->nerr++;
}

__attribute__((noreturn, format(printf, 3, 4)))
static void fail(parser *p, const tok *at, const char *fmt, ...) {
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    diag_add(p, at, msg);
    longjmp(p->jb, 1);
}

static const char *tok_text(parser *p, const tok *t) {
    if (t->kind == T_EOF) return "end of input";
    int n = t->len > 40 ? 40 : (int)t->len;
    snprintf(p->scratch, sizeof p->scratch, "`%.*s`", n, p->src + t->off);
    return p->scratch;
}

static void *palloc(parser *p, size_t n) {
    void *r = cedar__alloc(p->a, n);
    if (!r) fail(p, &p->t[p->pos], "out of memory");
    return r;
}

/* ---- token helpers ------------------------------------------------------------ */
static tok *cur(parser *p) { return &p->t[p->pos]; }
static tok *peek(parser *p, size_t k) {
    size_t i = p->pos + k;
    return &p->t[i < p->nt ? i : p->nt - 1];
}
static tok *advance(parser *p) {
    tok *t = cur(p);
    if (t->kind == T_ERR) fail(p, t, "invalid token %s", tok_text(p, t));
    if (p->pos + 1 < p->nt) p->pos++;
    return t;
}
static tok *expect(parser *p, tok_kind k, const char *what) {
    tok *t = cur(p);
    if (t->kind != k) fail(p, t, "unexpected %s, expected %s", tok_text(p, t), what);
    return advance(p);
}
static bool is_word(parser *p, const tok *t, const char *w) {
    size_t n = strlen(w);
    return t->kind == T_IDENT && t->len == n && memcmp(p->src + t->off, w, n) == 0;
}
static bool reserved(parser *p, const tok *t) {
    static const char *const r[] = { "true", "false", "if", "then", "else",
                                     "in", "is", "like", "has", NULL };
    for (int i = 0; r[i]; i++) if (is_word(p, t, r[i])) return true;
    return false;
}
static void check_cedar_reserved(parser *p, const tok *t) {
    if (t->len == 7 && memcmp(p->src + t->off, "__cedar", 7) == 0)
        fail(p, t, "the name `__cedar` is reserved");
}
static tok *ident(parser *p) {
    tok *t = cur(p);
    if (t->kind != T_IDENT) fail(p, t, "unexpected %s, expected identifier", tok_text(p, t));
    if (reserved(p, t)) fail(p, t, "this identifier is reserved and cannot be used: %.*s",
                             (int)t->len, p->src + t->off);
    return advance(p);
}

static cedar__str mkstr(parser *p, const char *s, size_t n) {
    cedar__str r;
    r.p = n ? cedar__strndup(p->a, s, n) : "";
    if (!r.p) fail(p, cur(p), "out of memory");
    r.n = (uint32_t)n;
    r.h = cedar__hash(r.p, n);
    return r;
}
static cedar__str tokstr(parser *p, const tok *t) { return mkstr(p, p->src + t->off, t->len); }

static int hexdig(char c) {
    return (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 :
           (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
}

/* Unescape a string literal.  In a pattern, `\*` becomes -1 (a literal star
 * marker) and a bare `*` becomes -2 (the wildcard); outside patterns `\*` is
 * invalid.  Returns the number of code units written to out (int16 each). */
static size_t unescape(parser *p, const tok *t, bool pattern, int16_t *out) {
    const char *s = p->src + t->off + 1;
    size_t n = t->len - 2, o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c != '\\') { out[o++] = (int16_t)(pattern && c == '*' ? -2 : c); continue; }
        if (++i >= n) fail(p, t, "string ends with a lone backslash");
        char e = s[i];
        switch (e) {
        case 'n': out[o++] = '\n'; break;
        case 'r': out[o++] = '\r'; break;
        case 't': out[o++] = '\t'; break;
        case '0': out[o++] = 0; break;
        case '\\': out[o++] = '\\'; break;
        case '\'': out[o++] = '\''; break;
        case '"': out[o++] = '"'; break;
        case '*':
            if (!pattern) fail(p, t, "the input `\\*` is not a valid escape");
            out[o++] = -1;
            break;
        case 'x': {
            /* \xHH, ASCII only, as in the reference's unescaper. */
            int h1 = i + 1 < n ? hexdig(s[i + 1]) : -1, h2 = i + 2 < n ? hexdig(s[i + 2]) : -1;
            if (h1 < 0 || h2 < 0 || h1 > 7) fail(p, t, "the input `\\x` is not a valid escape");
            out[o++] = (int16_t)(h1 * 16 + h2);
            i += 2;
            break;
        }
        case 'u': {
            if (i + 1 >= n || s[i + 1] != '{') fail(p, t, "invalid unicode escape: expected `\\u{...}`");
            i += 2;
            uint32_t v = 0;
            int d = 0;
            while (i < n && s[i] != '}') {
                int h = (s[i] >= '0' && s[i] <= '9') ? s[i] - '0' :
                        (s[i] >= 'a' && s[i] <= 'f') ? s[i] - 'a' + 10 :
                        (s[i] >= 'A' && s[i] <= 'F') ? s[i] - 'A' + 10 : -1;
                if (h < 0 || ++d > 6) fail(p, t, "invalid unicode escape in string literal");
                v = v * 16 + (uint32_t)h;
                i++;
            }
            if (i >= n || d == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
                fail(p, t, "invalid unicode escape in string literal");
            if (v < 0x80) out[o++] = (int16_t)v;
            else if (v < 0x800) { out[o++] = (int16_t)(0xC0 | (v >> 6)); out[o++] = (int16_t)(0x80 | (v & 63)); }
            else if (v < 0x10000) {
                out[o++] = (int16_t)(0xE0 | (v >> 12)); out[o++] = (int16_t)(0x80 | ((v >> 6) & 63));
                out[o++] = (int16_t)(0x80 | (v & 63));
            } else {
                out[o++] = (int16_t)(0xF0 | (v >> 18)); out[o++] = (int16_t)(0x80 | ((v >> 12) & 63));
                out[o++] = (int16_t)(0x80 | ((v >> 6) & 63)); out[o++] = (int16_t)(0x80 | (v & 63));
            }
            break;
        }
        default:
            fail(p, t, "the input `\\%c` is not a valid escape", e);
        }
    }
    return o;
}

static cedar__str string_lit(parser *p, const tok *t) {
    int16_t *buf = palloc(p, (t->len + 1) * sizeof *buf);
    size_t n = unescape(p, t, false, buf);
    char *s = palloc(p, n + 1);
    for (size_t i = 0; i < n; i++) s[i] = (char)buf[i];
    cedar__str r = { s, (uint32_t)n, cedar__hash(s, n) };
    return r;
}

/* ---- expressions -------------------------------------------------------------- */
static cedar__expr *mk(parser *p, cedar__op op, uint32_t nkid, const tok *at) {
    cedar__expr *e = palloc(p, sizeof *e);
    e->op = (uint8_t)op;
    e->n = nkid;
    e->off = at->off;
    e->kid = palloc(p, (nkid ? nkid : 1) * sizeof *e->kid);
    return e;
}

static cedar__expr *expr(parser *p);

/* Left-associative chains (a + b + ..., a.b.c...) are built without
 * recursion but evaluated with it, so their height is bounded too; the
 * reference fails on such chains (stack exhaustion) well below this. */
#define MAX_HEIGHT 512

static cedar__expr *sealed(parser *p, cedar__expr *e) {
    uint32_t h = 0;
    for (uint32_t i = 0; i < e->n; i++) if (e->kid[i] && e->kid[i]->h > h) h = e->kid[i]->h;
    e->h = h + 1;
    if (e->h > MAX_HEIGHT) fail(p, cur(p), "expression is too deeply nested (more than %d levels)", MAX_HEIGHT);
    return e;
}

/* Path `A::B::C`; stops before `::"string"` (an entity) or `::(`.  The
 * result spans the source text of the path. */
static cedar__str path(parser *p, tok *first) {
    const tok *last = first;
    check_cedar_reserved(p, first);
    while (cur(p)->kind == T_DCOLON && peek(p, 1)->kind == T_IDENT) {
        advance(p);
        last = ident(p);
        check_cedar_reserved(p, last);
    }
    /* Normalise whitespace around `::` by rebuilding the name. */
    size_t cap = last->off + last->len - first->off + 1, n = 0;
    char *buf = palloc(p, cap);
    for (const tok *t = first; t <= last; t++) {
        memcpy(buf + n, p->src + t->off, t->len);
        n += t->len;
    }
    cedar__str r = { buf, (uint32_t)n, cedar__hash(buf, n) };
    return r;
}

/* Entity literal after its path's first identifier was consumed. */
static cedar__uid *entity_after(parser *p, tok *first) {
    cedar__str ty = path(p, first);
    expect(p, T_DCOLON, "`::`");
    tok *s = expect(p, T_STR, "string literal");
    cedar__str id = string_lit(p, s);
    cedar__uid *u = palloc(p, sizeof *u);
    cedar__uid_init(u, ty.p, ty.n, id.p, id.n);
    return u;
}

static cedar__uid *entity_lit(parser *p) {
    tok *t = cur(p);
    if (t->kind == T_SLOT)
        fail(p, t, "template slots are not allowed in a static policy set");
    if (t->kind != T_IDENT) fail(p, t, "unexpected %s, expected an entity uid", tok_text(p, t));
    if (reserved(p, t)) fail(p, t, "this identifier is reserved and cannot be used: %.*s",
                             (int)t->len, p->src + t->off);
    advance(p);
    return entity_after(p, t);
}

static bool all_lit(const cedar__expr *e) {
    for (uint32_t i = 0; i < e->n; i++) if (e->kid[i]->op != CX_LIT) return false;
    return true;
}

static const struct { const char *name; uint8_t fn; } ext_funs[] = {
    { "ip", CF_IP }, { "decimal", CF_DECIMAL }, { "datetime", CF_DATETIME },
    { "duration", CF_DURATION }, { NULL, 0 } };
static const struct { const char *name; uint8_t fn; } ext_methods[] = {
    { "isIpv4", CF_IS_IPV4 }, { "isIpv6", CF_IS_IPV6 }, { "isLoopback", CF_IS_LOOPBACK },
    { "isMulticast", CF_IS_MULTICAST }, { "isInRange", CF_IS_IN_RANGE },
    { "lessThan", CF_LT }, { "lessThanOrEqual", CF_LE }, { "greaterThan", CF_GT },
    { "greaterThanOrEqual", CF_GE }, { "offset", CF_OFFSET },
    { "durationSince", CF_DURATION_SINCE }, { "toDate", CF_TO_DATE },
    { "toTime", CF_TO_TIME }, { "toDays", CF_TO_DAYS }, { "toHours", CF_TO_HOURS },
    { "toMinutes", CF_TO_MINUTES }, { "toSeconds", CF_TO_SECONDS },
    { "toMilliseconds", CF_TO_MILLIS }, { NULL, 0 } };

/* Fold an extension constructor over a literal string when it is valid;
 * an invalid one stays a call and errors at evaluation, as in Cedar. */
static void fold_ext(parser *p, cedar__expr *e) {
    if (e->n != 1 || e->kid[0]->op != CX_LIT || e->kid[0]->lit.k != CV_STRING) return;
    const cedar__str *s = e->kid[0]->lit.u.s;
    cedar__val v = { 0 };
    const char *why;
    switch (e->aux) {
    case CF_IP: {
        cedar__ip *ip = palloc(p, sizeof *ip);
        if (!cedar__ip_parse(s->p, s->n, ip)) return;
        v.k = CV_IP; v.u.ip = ip;
        break;
    }
    case CF_DECIMAL: if (!cedar__decimal_parse(s->p, s->n, &v.u.i, &why)) return; v.k = CV_DECIMAL; break;
    case CF_DATETIME: if (!cedar__datetime_parse(s->p, s->n, &v.u.i)) return; v.k = CV_DATETIME; break;
    case CF_DURATION: if (!cedar__duration_parse(s->p, s->n, &v.u.i)) return; v.k = CV_DURATION; break;
    default: return;
    }
    e->op = CX_LIT;
    e->lit = v;
    e->n = 0;
}

static cedar__expr *lit_str_expr(parser *p, tok *t) {
    cedar__expr *e = mk(p, CX_LIT, 0, t);
    cedar__str *s = palloc(p, sizeof *s);
    *s = string_lit(p, t);
    e->lit.k = CV_STRING;
    e->lit.u.s = s;
    return e;
}

/* Comma-separated expressions up to `close`, trailing comma allowed. */
static uint32_t expr_list(parser *p, tok_kind close, cedar__expr ***out) {
    cedar__expr *tmp[64], **v = tmp;
    uint32_t n = 0, cap = 64;
    while (cur(p)->kind != close) {
        if (n == cap) {
            cedar__expr **nv = palloc(p, 2 * cap * sizeof *nv);
            memcpy(nv, v, n * sizeof *nv);
            v = nv; cap *= 2;
        }
        v[n++] = expr(p);
        if (cur(p)->kind != T_COMMA) break;
        advance(p);
    }
    expect(p, close, close == T_RP ? "`)`" : "`]`");
    *out = palloc(p, (n ? n : 1) * sizeof **out);
    memcpy(*out, v, n * sizeof **out);
    return n;
}

static cedar__expr *primary(parser *p) {
    tok *t = cur(p);
    cedar__expr *e;
    switch (t->kind) {
    case T_INT:
        advance(p);
        if (t->big || t->ival > (uint64_t)INT64_MAX)
            fail(p, t, "integer literal %s is too large", tok_text(p, t));
        e = mk(p, CX_LIT, 0, t);
        e->lit.k = CV_LONG; e->lit.u.i = (int64_t)t->ival;
        return e;
    case T_STR:
        advance(p);
        return lit_str_expr(p, t);
    case T_SLOT:
        fail(p, t, "template slots are not allowed in a static policy set");
    case T_LP:
        advance(p);
        e = expr(p);
        expect(p, T_RP, "`)`");
        return e;
    case T_LB: {
        advance(p);
        cedar__expr **kids;
        uint32_t n = expr_list(p, T_RB, &kids);
        e = mk(p, CX_SET, 0, t);
        e->n = n; e->kid = kids;
        sealed(p, e);
        if (all_lit(e)) {
            cedar__set *s = palloc(p, sizeof *s + n * sizeof(cedar__val));
            s->n = n;
            for (uint32_t i = 0; i < n; i++) s->v[i] = kids[i]->lit;
            e->op = CX_LIT; e->lit.k = CV_SET; e->lit.u.set = s; e->n = 0;
        }
        return e;
    }
    case T_LC: {
        advance(p);
        cedar__str keys[64], *kv = keys;
        cedar__expr *vals[64], **vv = vals;
        uint32_t n = 0, cap = 64;
        while (cur(p)->kind != T_RC) {
            if (n == cap) {
                cedar__str *nk = palloc(p, 2 * cap * sizeof *nk);
                cedar__expr **nv = palloc(p, 2 * cap * sizeof *nv);
                memcpy(nk, kv, n * sizeof *nk); memcpy(nv, vv, n * sizeof *nv);
                kv = nk; vv = nv; cap *= 2;
            }
            tok *k = cur(p);
            if (k->kind == T_STR) { advance(p); kv[n] = string_lit(p, k); }
            else { k = ident(p); check_cedar_reserved(p, k); kv[n] = tokstr(p, k); }
            for (uint32_t i = 0; i < n; i++)
                if (cedar__str_cmp(&kv[i], &kv[n]) == 0)
                    fail(p, k, "duplicate key `%.*s` in record literal", (int)kv[n].n, kv[n].p);
            expect(p, T_COLON, "`:`");
            vv[n++] = expr(p);
            if (cur(p)->kind != T_COMMA) break;
            advance(p);
        }
        expect(p, T_RC, "`}`");
        e = mk(p, CX_RECORD, n, t);
        e->keys = palloc(p, (n ? n : 1) * sizeof *e->keys);
        memcpy(e->keys, kv, n * sizeof *kv);
        memcpy(e->kid, vv, n * sizeof *vv);
        sealed(p, e);
        if (all_lit(e)) {
            cedar__rec *r = palloc(p, sizeof *r);
            r->n = n;
            r->keys = palloc(p, (n ? n : 1) * sizeof *r->keys);
            r->vals = palloc(p, (n ? n : 1) * sizeof *r->vals);
            for (uint32_t i = 0; i < n; i++) { r->keys[i] = kv[i]; r->vals[i] = vv[i]->lit; }
            cedar__rec_sort(r);
            e->op = CX_LIT; e->lit.k = CV_RECORD; e->lit.u.rec = r; e->n = 0;
        }
        return e;
    }
    case T_IDENT: {
        if (is_word(p, t, "true") || is_word(p, t, "false")) {
            advance(p);
            e = mk(p, CX_LIT, 0, t);
            e->lit.k = CV_BOOL; e->lit.u.b = is_word(p, t, "true");
            return e;
        }
        if (reserved(p, t))
            fail(p, t, "unexpected %s: reserved word where an expression was expected", tok_text(p, t));
        advance(p);
        if (cur(p)->kind == T_DCOLON) {
            /* Entity literal or namespaced function call. */
            size_t save = p->pos;
            while (cur(p)->kind == T_DCOLON && peek(p, 1)->kind == T_IDENT) { advance(p); advance(p); }
            if (cur(p)->kind == T_LP) {
                fail(p, t, "`%.*s` is not a valid function",
                     (int)(cur(p)->off - t->off), p->src + t->off);
            }
            p->pos = save;
            cedar__uid *u = entity_after(p, t);
            e = mk(p, CX_LIT, 0, t);
            e->lit.k = CV_ENTITY; e->lit.u.e = u;
            return e;
        }
        if (cur(p)->kind == T_LP) {
            int fn = -1;
            for (int i = 0; ext_funs[i].name; i++) if (is_word(p, t, ext_funs[i].name)) fn = ext_funs[i].fn;
            if (fn < 0) fail(p, t, "`%.*s` is not a valid function", (int)t->len, p->src + t->off);
            advance(p);
            cedar__expr **kids;
            uint32_t n = expr_list(p, T_RP, &kids);
            e = mk(p, CX_EXT, 0, t);
            e->aux = (uint8_t)fn; e->n = n; e->kid = kids;
            sealed(p, e);
            fold_ext(p, e);
            return e;
        }
        static const char *const vars[] = { "principal", "action", "resource", "context" };
        for (int i = 0; i < 4; i++) if (is_word(p, t, vars[i])) {
            e = mk(p, CX_VAR, 0, t);
            e->aux = (uint8_t)i;
            return e;
        }
        fail(p, t, "invalid variable: %.*s (expected principal, action, resource or context)",
             (int)t->len, p->src + t->off);
    }
    default:
        fail(p, t, "unexpected %s, expected an expression", tok_text(p, t));
    }
}

static cedar__expr *member(parser *p) {
    cedar__expr *e = primary(p);
    for (;;) {
        tok *t = cur(p);
        if (t->kind == T_DOT) {
            advance(p);
            tok *name = ident(p);
            if (cur(p)->kind == T_LP) {
                advance(p);
                cedar__expr **args;
                uint32_t n = expr_list(p, T_RP, &args);
                static const struct { const char *m; uint8_t op; uint8_t arity; } builtins[] = {
                    { "contains", CX_CONTAINS, 1 }, { "containsAll", CX_CONTAINS_ALL, 1 },
                    { "containsAny", CX_CONTAINS_ANY, 1 }, { "isEmpty", CX_IS_EMPTY, 0 },
                    { "hasTag", CX_HAS_TAG, 1 }, { "getTag", CX_GET_TAG, 1 }, { NULL, 0, 0 } };
                cedar__expr *m = NULL;
                for (int i = 0; builtins[i].m; i++) if (is_word(p, name, builtins[i].m)) {
                    if (n != builtins[i].arity)
                        fail(p, name, "call to `%s` requires exactly %u argument%s, but got %u",
                             builtins[i].m, builtins[i].arity, builtins[i].arity == 1 ? "" : "s", n);
                    m = mk(p, (cedar__op)builtins[i].op, n + 1, name);
                }
                if (!m) {
                    for (int i = 0; ext_methods[i].name; i++) if (is_word(p, name, ext_methods[i].name)) {
                        m = mk(p, CX_EXT, n + 1, name);
                        m->aux = ext_methods[i].fn;
                    }
                }
                if (!m) fail(p, name, "`%.*s` is not a valid method", (int)name->len, p->src + name->off);
                m->kid[0] = e;
                for (uint32_t i = 0; i < n; i++) m->kid[i + 1] = args[i];
                e = sealed(p, m);
            } else {
                cedar__expr *a = mk(p, CX_ATTR, 1, name);
                check_cedar_reserved(p, name);
                a->kid[0] = e;
                a->name = tokstr(p, name);
                e = sealed(p, a);
            }
        } else if (t->kind == T_LB) {
            advance(p);
            tok *s = expect(p, T_STR, "string literal");
            expect(p, T_RB, "`]`");
            cedar__expr *a = mk(p, CX_ATTR, 1, s);
            a->kid[0] = e;
            a->name = string_lit(p, s);
            e = sealed(p, a);
        } else return e;
    }
}

static cedar__expr *unary(parser *p) {
    tok *t = cur(p);
    if (t->kind != T_NOT && t->kind != T_MINUS) return member(p);
    int n = 0;
    tok_kind k = (tok_kind)t->kind;
    while (cur(p)->kind == k) { advance(p); n++; }
    if (n > 4) fail(p, t, "too many occurrences of `%s`", k == T_NOT ? "!" : "-");
    cedar__expr *e;
    if (k == T_MINUS && cur(p)->kind == T_INT && peek(p, 1)->kind != T_DOT &&
        peek(p, 1)->kind != T_LB) {
        /* The innermost `-` folds into a bare literal, so the most negative
         * long can be written. */
        tok *it = advance(p);
        if (it->big) fail(p, it, "integer literal %s is too large", tok_text(p, it));
        e = mk(p, CX_LIT, 0, it);
        e->lit.k = CV_LONG;
        e->lit.u.i = it->ival == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)it->ival;
        n--;
    } else {
        e = member(p);
    }
    while (n-- > 0) {
        cedar__expr *u = mk(p, k == T_NOT ? CX_NOT : CX_NEG, 1, t);
        u->kid[0] = e;
        e = sealed(p, u);
    }
    return e;
}

static cedar__expr *binary(parser *p, cedar__op op, cedar__expr *l, cedar__expr *r, const tok *at) {
    cedar__expr *e = mk(p, op, 2, at);
    e->kid[0] = l; e->kid[1] = r;
    return sealed(p, e);
}

/* Append r to an n-ary && / || node, creating it from l when needed. */
static cedar__expr *chain(parser *p, cedar__op op, cedar__expr *l, cedar__expr *r, const tok *at) {
    if (l->op != op || !l->cap) {
        cedar__expr *e = mk(p, op, 0, at);
        e->kid = palloc(p, 4 * sizeof *e->kid);
        e->cap = 4;
        e->kid[e->n++] = l;
        l = e;
    }
    if (l->n == l->cap) {
        cedar__expr **nk = palloc(p, 2 * l->cap * sizeof *nk);
        memcpy(nk, l->kid, l->n * sizeof *nk);
        l->kid = nk;
        l->cap *= 2;
    }
    l->kid[l->n++] = r;
    return sealed(p, l);
}

static cedar__expr *mult(parser *p) {
    cedar__expr *e = unary(p);
    for (;;) {
        tok *t = cur(p);
        if (t->kind == T_STAR) { advance(p); e = binary(p, CX_MUL, e, unary(p), t); }
        else if (t->kind == T_SLASH) fail(p, t, "division is not supported");
        else if (t->kind == T_PERCENT) fail(p, t, "remainder/modulo is not supported");
        else return e;
    }
}

static cedar__expr *add(parser *p) {
    cedar__expr *e = mult(p);
    for (;;) {
        tok *t = cur(p);
        if (t->kind == T_PLUS) { advance(p); e = binary(p, CX_ADD, e, mult(p), t); }
        else if (t->kind == T_MINUS) { advance(p); e = binary(p, CX_SUB, e, mult(p), t); }
        else return e;
    }
}

static bool is_relop(parser *p, const tok *t) {
    return t->kind == T_EQ || t->kind == T_NE || t->kind == T_LT || t->kind == T_LE ||
           t->kind == T_GT || t->kind == T_GE || is_word(p, t, "in");
}

static cedar__expr *relation(parser *p) {
    cedar__expr *e = add(p);
    tok *t = cur(p);
    if (is_relop(p, t)) {
        advance(p);
        static const uint8_t ops[] = { [T_EQ] = CX_EQ, [T_NE] = CX_NE, [T_LT] = CX_LT,
                                       [T_LE] = CX_LE, [T_GT] = CX_GT, [T_GE] = CX_GE };
        cedar__op op = t->kind == T_IDENT ? CX_IN : (cedar__op)ops[t->kind];
        e = binary(p, op, e, add(p), t);
        if (is_relop(p, cur(p)))
            fail(p, cur(p), "multiple relational operators (>, ==, in, etc.) must be used "
                            "with parentheses to make ordering explicit");
        return e;
    }
    if (t->kind == T_ASSIGN) fail(p, t, "unexpected `=`; use `==` for equality");
    if (is_word(p, t, "has")) {
        advance(p);
        tok *k = cur(p);
        if (k->kind == T_STR) {
            advance(p);
            cedar__expr *h = mk(p, CX_HAS, 1, t);
            h->kid[0] = e; h->name = string_lit(p, k);
            if (cur(p)->kind == T_DOT) fail(p, cur(p), "invalid RHS of a `has` operation");
            return sealed(p, h);
        }
        /* `e has a.b.c` means e has a && e.a has b && e.a.b has c. */
        tok *id = ident(p);
        check_cedar_reserved(p, id);
        cedar__expr *h = mk(p, CX_HAS, 1, t);
        h->kid[0] = e; h->name = tokstr(p, id);
        sealed(p, h);
        cedar__expr *acc = e, *res = h;
        cedar__str prev = h->name;
        while (cur(p)->kind == T_DOT) {
            advance(p);
            tok *nx = ident(p);
            check_cedar_reserved(p, nx);
            cedar__expr *a = mk(p, CX_ATTR, 1, nx);
            a->kid[0] = acc; a->name = prev;
            acc = sealed(p, a);
            cedar__expr *h2 = mk(p, CX_HAS, 1, nx);
            h2->kid[0] = acc; h2->name = tokstr(p, nx);
            prev = h2->name;
            res = chain(p, CX_AND, res, sealed(p, h2), nx);
        }
        return res;
    }
    if (is_word(p, t, "like")) {
        advance(p);
        tok *s = expect(p, T_STR, "a string pattern");
        int16_t *buf = palloc(p, (s->len + 1) * sizeof *buf);
        size_t n = unescape(p, s, true, buf);
        for (size_t i = 0; i < n; i++) buf[i] = buf[i] == -1 ? '*' : buf[i] == -2 ? -1 : buf[i];
        cedar__expr *l = mk(p, CX_LIKE, 1, t);
        l->kid[0] = e; l->pat.n = (uint32_t)n; l->pat.c = buf;
        return sealed(p, l);
    }
    if (is_word(p, t, "is")) {
        advance(p);
        tok *first = ident(p);
        cedar__expr *x = mk(p, CX_IS, 1, t);
        x->kid[0] = e;
        x->type = path(p, first);
        sealed(p, x);
        if (cur(p)->kind == T_DCOLON)
            fail(p, first, "right hand side of an `is` expression must be an entity type name");
        if (is_word(p, cur(p), "in")) {
            tok *in = advance(p);
            cedar__expr *r = binary(p, CX_IN, e, add(p), in);
            return binary(p, CX_AND, x, r, in);
        }
        return x;
    }
    return e;
}

static cedar__expr *and_expr(parser *p) {
    cedar__expr *e = relation(p);
    while (cur(p)->kind == T_AND) { tok *t = advance(p); e = chain(p, CX_AND, e, relation(p), t); }
    return e;
}

static cedar__expr *or_expr(parser *p) {
    cedar__expr *e = and_expr(p);
    while (cur(p)->kind == T_OR) { tok *t = advance(p); e = chain(p, CX_OR, e, and_expr(p), t); }
    return e;
}

/* Nesting deeper than this is rejected, so the recursive parser and
 * evaluator stay within small thread stacks; the reference implementation
 * already fails (stack exhaustion in cedar-wasm) at about 150 levels. */
#define MAX_DEPTH 128

static cedar__expr *expr_inner(parser *p);

static cedar__expr *expr(parser *p) {
    if (++p->depth > MAX_DEPTH)
        fail(p, cur(p), "expression nested more than %d levels deep", MAX_DEPTH);
    cedar__expr *e = expr_inner(p);
    p->depth--;
    return e;
}

static cedar__expr *expr_inner(parser *p) {
    tok *t = cur(p);
    if (is_word(p, t, "if")) {
        advance(p);
        cedar__expr *e = mk(p, CX_IF, 3, t);
        e->kid[0] = expr(p);
        if (!is_word(p, cur(p), "then")) fail(p, cur(p), "unexpected %s, expected `then`", tok_text(p, cur(p)));
        advance(p);
        e->kid[1] = expr(p);
        if (!is_word(p, cur(p), "else")) fail(p, cur(p), "unexpected %s, expected `else`", tok_text(p, cur(p)));
        advance(p);
        e->kid[2] = expr(p);
        return sealed(p, e);
    }
    return or_expr(p);
}

/* ---- policies ------------------------------------------------------------------ */
/* Action scope entities must have type Action, optionally namespaced. */
static void check_action(parser *p, const cedar__uid *u, const tok *at) {
    const cedar__str *t = &u->type;
    if (!(t->n == 6 && !memcmp(t->p, "Action", 6)) &&
        !(t->n > 8 && !memcmp(t->p + t->n - 8, "::Action", 8)))
        fail(p, at, "expected an entity uid with type `Action` but got `%s::\"%s\"`", t->p, u->id.p);
}

static void scope(parser *p, cedar__scope *sc, int slot) {
    static const char *const names[] = { "principal", "action", "resource" };
    tok *t = cur(p);
    if (t->kind != T_IDENT || !is_word(p, t, names[slot])) {
        if (t->kind == T_RP || (t->kind == T_COMMA && slot > 0))
            fail(p, t, "this policy is missing the `%s` variable in the scope", names[slot]);
        fail(p, t, "found %s where the variable `%s` must be used", tok_text(p, t), names[slot]);
    }
    advance(p);
    t = cur(p);
    sc->op = CS_ANY;
    if (t->kind == T_EQ) {
        advance(p);
        if (cur(p)->kind == T_SLOT) fail(p, cur(p), "static policy set includes a template");
        tok *at = cur(p);
        sc->op = CS_EQ; sc->n = 1; sc->uids = entity_lit(p);
        if (slot == 1) check_action(p, sc->uids, at);
    } else if (is_word(p, t, "in")) {
        advance(p);
        if (cur(p)->kind == T_SLOT) fail(p, cur(p), "static policy set includes a template");
        if (cur(p)->kind == T_LB) {
            tok *lb = advance(p);
            if (slot != 1) fail(p, lb, "expected single entity uid or template slot, found set of entity uids");
            cedar__uid tmp[32], *v = tmp;
            uint32_t n = 0, cap = 32;
            while (cur(p)->kind != T_RB) {
                if (n == cap) {
                    cedar__uid *nv = palloc(p, 2 * cap * sizeof *nv);
                    memcpy(nv, v, n * sizeof *nv);
                    v = nv; cap *= 2;
                }
                tok *at = cur(p);
                v[n++] = *entity_lit(p);
                check_action(p, &v[n - 1], at);
                if (cur(p)->kind != T_COMMA) break;
                advance(p);
            }
            expect(p, T_RB, "`]`");
            sc->op = CS_IN_SET; sc->n = n;
            sc->uids = palloc(p, (n ? n : 1) * sizeof *sc->uids);
            memcpy(sc->uids, v, n * sizeof *v);
        } else {
            tok *at = cur(p);
            sc->op = CS_IN; sc->n = 1; sc->uids = entity_lit(p);
            if (slot == 1) check_action(p, sc->uids, at);
        }
    } else if (is_word(p, t, "is")) {
        if (slot == 1) fail(p, t, "`is` cannot appear in the action scope");
        advance(p);
        tok *first = ident(p);
        sc->type = path(p, first);
        if (cur(p)->kind == T_DCOLON)
            fail(p, first, "right hand side of an `is` expression must be an entity type name");
        sc->op = CS_IS;
        if (is_word(p, cur(p), "in")) {
            advance(p);
            if (cur(p)->kind == T_SLOT) fail(p, cur(p), "static policy set includes a template");
            sc->op = CS_IS_IN; sc->n = 1; sc->uids = entity_lit(p);
        }
    } else if (t->kind != T_COMMA && t->kind != T_RP) {
        fail(p, t, "unexpected %s in the %s scope", tok_text(p, t), names[slot]);
    }
}

static void policy(parser *p, cedar__policy *pol) {
    /* annotations */
    cedar__str *ann = NULL;
    uint32_t nann = 0, cap = 0;
    while (cur(p)->kind == T_AT) {
        advance(p);
        tok *k = cur(p);
        if (k->kind != T_IDENT) fail(p, k, "unexpected %s, expected an annotation name", tok_text(p, k));
        advance(p);
        cedar__str name = tokstr(p, k);
        for (uint32_t i = 0; i < nann; i++)
            if (cedar__str_cmp(&ann[i], &name) == 0) fail(p, k, "duplicate annotation: @%s", name.p);
        if (nann == cap) {
            cedar__str *na = palloc(p, (cap ? 2 * cap : 8) * sizeof *na);
            if (nann) memcpy(na, ann, nann * sizeof *na);
            ann = na;
            cap = cap ? 2 * cap : 8;
        }
        ann[nann++] = name;
        if (cur(p)->kind == T_LP) {
            advance(p);
            /* Annotation values do not affect decisions; they are checked
             * (escapes) like any string literal and then dropped. */
            tok *v = expect(p, T_STR, "string literal");
            string_lit(p, v);
            expect(p, T_RP, "`)`");
        }
    }
    tok *eff = cur(p);
    if (eff->kind != T_IDENT) fail(p, eff, "unexpected %s, expected `permit` or `forbid`", tok_text(p, eff));
    if (is_word(p, eff, "permit")) pol->forbid = 0;
    else if (is_word(p, eff, "forbid")) pol->forbid = 1;
    else fail(p, eff, "invalid policy effect: %.*s (expected permit or forbid)", (int)eff->len, p->src + eff->off);
    advance(p);
    expect(p, T_LP, "`(`");
    for (int s = 0; s < 3; s++) {
        scope(p, &pol->sc[s], s);
        if (s < 2) {
            if (cur(p)->kind == T_RP)
                fail(p, cur(p), "this policy is missing the `%s` variable in the scope",
                     s == 0 ? "action" : "resource");
            expect(p, T_COMMA, "`,`");
        }
    }
    if (cur(p)->kind == T_COMMA) {
        advance(p);
        if (cur(p)->kind != T_RP)
            fail(p, cur(p), "this policy has an extra element in the scope: %s", tok_text(p, cur(p)));
    }
    expect(p, T_RP, "`)`");
    cedar__expr **conds = NULL;
    uint32_t n = 0, ccap = 0;
    while (cur(p)->kind == T_IDENT) {
        tok *w = advance(p);
        bool when = is_word(p, w, "when");
        if (!when && !is_word(p, w, "unless"))
            fail(p, w, "invalid policy condition: %.*s (expected when or unless)", (int)w->len, p->src + w->off);
        expect(p, T_LC, "`{`");
        if (cur(p)->kind == T_RC) fail(p, w, "`%s` condition clause cannot be empty", when ? "when" : "unless");
        cedar__expr *e = expr(p);
        expect(p, T_RC, "`}`");
        if (!when) {
            cedar__expr *u = mk(p, CX_NOT, 1, w);
            u->kid[0] = e;
            e = u;
        }
        if (n == ccap) {
            cedar__expr **nc = palloc(p, (ccap ? 2 * ccap : 4) * sizeof *nc);
            if (n) memcpy(nc, conds, n * sizeof *nc);
            conds = nc;
            ccap = ccap ? 2 * ccap : 4;
        }
        conds[n++] = e;
    }
    expect(p, T_SEMI, "`;` or `when`/`unless`");
    pol->ncond = n;
    pol->cond = conds;
}

int cedar__parse(cedar_policy_set *ps, const char *text, size_t len,
                 cedar_diag *diags, size_t ndiag, size_t *ndiag_out) {
    parser p;
    memset(&p, 0, sizeof p);
    p.ps = ps; p.a = &ps->arena; p.src = text; p.len = len;
    p.diags = diags; p.ndiag = ndiag;
    int rc = -1;
    if (lex(&p)) goto out;
    volatile uint32_t cap = 16;
    ps->pol = malloc(cap * sizeof *ps->pol);
    if (!ps->pol) goto out;
    while (cur(&p)->kind != T_EOF) {
        if (ps->n == cap) {
            cap *= 2;
            cedar__policy *np = realloc(ps->pol, cap * sizeof *np);
            if (!np) goto out;
            ps->pol = np;
        }
        cedar__policy *pol = &ps->pol[ps->n];
        memset(pol, 0, sizeof *pol);
        p.depth = 0;
        if (setjmp(p.jb) == 0) {
            policy(&p, pol);
            snprintf(pol->id, sizeof pol->id, "policy%u", ps->n);
            ps->n++;
        } else {
            /* Resume after the next `;` so later policies are checked too. */
            while (cur(&p)->kind != T_EOF && cur(&p)->kind != T_SEMI) p.pos++;
            if (cur(&p)->kind == T_SEMI) p.pos++;
        }
    }
    rc = p.nerr ? 1 : 0;
out:
    if (ndiag_out) *ndiag_out = p.nerr;
    free(p.t);
    return rc;
}
