/*
 * config: load a cfg_option table from defaults, environment and argv.
 *
 * Values are parsed from text at every layer (the defaults are text too), so
 * a default with a typo fails the same way a bad flag does, and the
 * validator and bounds apply to all three sources.  Each option's winning
 * text is decided first and converted into its target at the end, so a
 * failed load leaves no half-filled strings behind: on error every string
 * target is NULL.
 */
#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NAME_MAX_LEN 128

static const char *const status_text[] = {
#define CFG__TEXT(name, value, text) [value] = text,
    CFG_STATUS_MAP(CFG__TEXT)
#undef CFG__TEXT
};

const char *cfg_strstatus(int status)
{
    if (status < 0 || (size_t)status >= sizeof status_text / sizeof status_text[0] ||
        status_text[status] == NULL)
        return "unknown status";
    return status_text[status];
}

/* ---- value parsers --------------------------------------------------------- */

/* Parse a run of decimal digits at *p into *v without overflow. */
static int parse_digits(const char **p, long long *v)
{
    const char *s = *p;
    long long   acc = 0;

    if (!isdigit((unsigned char)*s))
        return -1;
    while (isdigit((unsigned char)*s)) {
        int d = *s - '0';
        if (acc > (LLONG_MAX - d) / 10)
            return -1;
        acc = acc * 10 + d;
        s++;
    }
    *p = s;
    *v = acc;
    return 0;
}

static int mul_add(long long *acc, long long v, long long unit)
{
    if (v > LLONG_MAX / unit)
        return -1;
    v *= unit;
    if (*acc > LLONG_MAX - v)
        return -1;
    *acc += v;
    return 0;
}

int cfg_parse_duration(const char *text, long long *ms)
{
    static const struct { const char *u; long long ms; } units[] = {
        { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 },
    };
    const char *p = text;
    long long   total = 0, v;
    int         terms = 0;
    size_t      last_unit = sizeof units / sizeof units[0];

    if (text == NULL || *text == '\0')
        return CFG_EINVAL;
    if (parse_digits(&p, &v) == 0 && *p == '\0') {
        *ms = v;   /* A bare integer is milliseconds. */
        return CFG_OK;
    }
    p = text;
    while (*p != '\0') {
        size_t i, ulen = 0;

        if (parse_digits(&p, &v) != 0)
            return CFG_EINVAL;
        while (isalpha((unsigned char)p[ulen]))
            ulen++;
        for (i = 0; i < sizeof units / sizeof units[0]; i++)
            if (strlen(units[i].u) == ulen && strncmp(p, units[i].u, ulen) == 0)
                break;
        if (i == sizeof units / sizeof units[0])
            return CFG_EINVAL;
        /* Units must appear largest first and once each ("1h30m", not "30m1h"). */
        if (terms > 0 && units[i].ms >= units[last_unit].ms)
            return CFG_EINVAL;
        if (mul_add(&total, v, units[i].ms) != 0)
            return CFG_EINVAL;
        last_unit = i;
        terms++;
        p += ulen;
    }
    *ms = total;
    return CFG_OK;
}

static const struct { const char *u; long long mult; } size_units[] = {
    { "", 1 }, { "b", 1 },
    { "kib", 1LL << 10 }, { "mib", 1LL << 20 }, { "gib", 1LL << 30 }, { "tib", 1LL << 40 },
    { "kb", 1000LL }, { "mb", 1000000LL }, { "gb", 1000000000LL }, { "tb", 1000000000000LL },
};

int cfg_parse_size(const char *text, long long *bytes)
{
    const char *p = text;
    long long   v, total = 0;

    if (text == NULL || parse_digits(&p, &v) != 0)
        return CFG_EINVAL;
    for (size_t i = 0; i < sizeof size_units / sizeof size_units[0]; i++) {
        if (strcasecmp(p, size_units[i].u) == 0) {
            if (mul_add(&total, v, size_units[i].mult) != 0)
                return CFG_EINVAL;
            *bytes = total;
            return CFG_OK;
        }
    }
    return CFG_EINVAL;
}

int cfg_parse_bool(const char *text, bool *out)
{
    static const char *const t[] = { "true", "1", "yes", "on" };
    static const char *const f[] = { "false", "0", "no", "off" };

    if (text == NULL)
        return CFG_EINVAL;
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(text, t[i]) == 0) {
            *out = true;
            return CFG_OK;
        }
        if (strcasecmp(text, f[i]) == 0) {
            *out = false;
            return CFG_OK;
        }
    }
    return CFG_EINVAL;
}

static int parse_int(const char *text, long long *out)
{
    char *end;

    if (text == NULL || *text == '\0' || isspace((unsigned char)*text))
        return CFG_EINVAL;
    errno = 0;
    *out = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0')
        return CFG_EINVAL;
    return CFG_OK;
}

char *cfg_format_duration(long long ms, char *buf, size_t len)
{
    static const struct { const char *u; long long ms; } units[] = {
        { "d", 86400000 }, { "h", 3600000 }, { "m", 60000 }, { "s", 1000 }, { "ms", 1 },
    };
    size_t used = 0;

    if (len == 0)
        return buf;
    buf[0] = '\0';
    if (ms <= 0) {
        snprintf(buf, len, "%lldms", ms);
        return buf;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0] && ms > 0; i++) {
        long long q = ms / units[i].ms;
        if (q == 0)
            continue;
        ms -= q * units[i].ms;
        int n = snprintf(buf + used, len - used, "%lld%s", q, units[i].u);
        if (n < 0 || (size_t)n >= len - used)
            break;
        used += (size_t)n;
    }
    return buf;
}

char *cfg_format_size(long long bytes, char *buf, size_t len)
{
    static const struct { const char *u; long long mult; } order[] = {
        { "TiB", 1LL << 40 }, { "GiB", 1LL << 30 }, { "MiB", 1LL << 20 }, { "KiB", 1LL << 10 },
        { "TB", 1000000000000LL }, { "GB", 1000000000LL }, { "MB", 1000000LL }, { "KB", 1000LL },
    };

    size_t best = SIZE_MAX;

    if (len == 0)
        return buf;
    /* The exact unit giving the fewest digits; binary wins ties. */
    for (size_t i = 0; bytes > 0 && i < sizeof order / sizeof order[0]; i++)
        if (bytes % order[i].mult == 0 && (best == SIZE_MAX || order[i].mult > order[best].mult))
            best = i;
    if (best != SIZE_MAX)
        snprintf(buf, len, "%lld%s", bytes / order[best].mult, order[best].u);
    else
        snprintf(buf, len, "%lld", bytes);
    return buf;
}

/* ---- the table ---------------------------------------------------------------- */

static const char *type_name(cfg_type t)
{
    switch (t) {
    case CFG_STRING:   return "string";
    case CFG_INT:      return "int";
    case CFG_BOOL:     return "bool";
    case CFG_DURATION: return "duration";
    case CFG_SIZE:     return "size";
    }
    return "?";
}

static const char *type_examples(cfg_type t)
{
    switch (t) {
    case CFG_INT:      return "not an integer";
    case CFG_BOOL:     return "not a boolean (true/false, yes/no, on/off, 1/0)";
    case CFG_DURATION: return "not a duration (examples: 250ms, 30s, 5m, 1h30m)";
    case CFG_SIZE:     return "not a size (examples: 512, 64KiB, 1MiB, 2GB)";
    default:           return "invalid";
    }
}

static void format_value(cfg_type t, long long v, char *buf, size_t len)
{
    if (t == CFG_DURATION)
        cfg_format_duration(v, buf, len);
    else if (t == CFG_SIZE)
        cfg_format_size(v, buf, len);
    else
        snprintf(buf, len, "%lld", v);
}

static void env_name(const char *prefix, const char *name, char *buf, size_t len)
{
    size_t i = 0;

    snprintf(buf, len, "%s", prefix ? prefix : "");
    i = strlen(buf);
    for (; *name && i + 1 < len; name++)
        buf[i++] = *name == '-' ? '_' : (char)toupper((unsigned char)*name);
    buf[i] = '\0';
}

/* Parse and check text for option o; on success store a number in *num
 * (strings leave *num alone).  why gets the reason on failure. */
static int check_value(const cfg_option *o, const char *text, long long *num, char *why,
                       size_t why_len)
{
    long long v = 0;
    bool      b;
    int       rc = CFG_OK;

    switch (o->type) {
    case CFG_STRING:
        break;
    case CFG_BOOL:
        rc = cfg_parse_bool(text, &b);
        v = b;
        break;
    case CFG_INT:
        rc = parse_int(text, &v);
        break;
    case CFG_DURATION:
        rc = cfg_parse_duration(text, &v);
        break;
    case CFG_SIZE:
        rc = cfg_parse_size(text, &v);
        break;
    }
    if (rc != CFG_OK) {
        snprintf(why, why_len, "%s", type_examples(o->type));
        return CFG_EINVAL;
    }
    if (o->type != CFG_STRING && o->type != CFG_BOOL && !(o->min == 0 && o->max == 0) &&
        (v < o->min || v > o->max)) {
        char lo[48], hi[48];
        format_value(o->type, o->min, lo, sizeof lo);
        format_value(o->type, o->max, hi, sizeof hi);
        snprintf(why, why_len, "out of range (%s..%s)", lo, hi);
        return CFG_EINVAL;
    }
    if (o->validate != NULL) {
        why[0] = '\0';
        if (o->validate(text, why, why_len) != 0) {
            if (why[0] == '\0')
                snprintf(why, why_len, "rejected by validator");
            return CFG_EINVAL;
        }
    }
    *num = v;
    return CFG_OK;
}

typedef struct slot {
    const char *text;    /* winning text, borrowed from the table, environ or argv */
    long long   num;
    int         set;     /* set by a default, the environment or a flag */
} slot;

static int find_option(const cfg_option *opts, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

static int check_table(const cfg_option *opts, size_t n, ep_err *err)
{
    for (size_t i = 0; i < n; i++) {
        const char *nm = opts[i].name;
        if (nm == NULL || *nm == '\0' || strlen(nm) >= NAME_MAX_LEN || opts[i].target == NULL ||
            strcmp(nm, "help") == 0 || strncmp(nm, "no-", 3) == 0)
            return ep_err_set(err, CFG_ETABLE, "config table row %zu (%s): bad name or no target",
                              i, nm ? nm : "NULL");
        for (const char *c = nm; *c; c++)
            if (!(islower((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '-'))
                return ep_err_set(err, CFG_ETABLE,
                                  "config table row %zu (%s): name must be [a-z0-9-]", i, nm);
        if (find_option(opts, i, nm, strlen(nm)) >= 0)
            return ep_err_set(err, CFG_ETABLE, "config table: %s defined twice", nm);
        if (opts[i].type < CFG_STRING || opts[i].type > CFG_SIZE)
            return ep_err_set(err, CFG_ETABLE, "config table: %s has an unknown type", nm);
    }
    return CFG_OK;
}

static void null_strings(const cfg_option *opts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (opts[i].type == CFG_STRING && opts[i].target != NULL)
            *(char **)opts[i].target = NULL;
}

int cfg_load(const cfg_option *opts, size_t n, const char *env_prefix, const char *prog,
             const char *summary, int argc, char **argv, ep_err *err)
{
    slot *slots = NULL;
    char  why[256], ename[NAME_MAX_LEN + 64];
    int   rc = CFG_OK, targets_ok = 0;
    int   i;

    ep_err_clear(err);
    if (opts == NULL && n > 0)
        return ep_err_set(err, CFG_ETABLE, "config table is NULL");
    rc = check_table(opts, n, err);
    if (rc != CFG_OK)
        goto out;
    targets_ok = 1;
    null_strings(opts, n);

    /* --help wins over everything, even bad environment variables. */
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            cfg_print_help(stdout, opts, n, env_prefix, prog, summary);
            rc = CFG_HELP;
            goto out;
        }
    }

    slots = calloc(n ? n : 1, sizeof *slots);
    if (slots == NULL) {
        rc = ep_err_set(err, CFG_ENOMEM, "config: out of memory");
        goto out;
    }

    /* Layer 1: defaults (errors here are bugs in the table). */
    for (size_t k = 0; k < n; k++) {
        const cfg_option *o = &opts[k];
        if (o->def == NULL)
            continue;
        if (check_value(o, o->def, &slots[k].num, why, sizeof why) != CFG_OK) {
            rc = ep_err_set(err, CFG_ETABLE, "default of %s (%s): %s", o->name,
                            o->secret ? "<secret>" : o->def, why);
            goto out;
        }
        slots[k].text = o->def;
        slots[k].set = 1;
    }

    /* Layer 2: the environment. */
    for (size_t k = 0; k < n; k++) {
        const cfg_option *o = &opts[k];
        const char       *v;

        env_name(env_prefix, o->name, ename, sizeof ename);
        v = getenv(ename);
        if (v == NULL)
            continue;
        if (check_value(o, v, &slots[k].num, why, sizeof why) != CFG_OK) {
            rc = ep_err_set(err, CFG_EINVAL, "%s=%s: %s", ename, o->secret ? "<secret>" : v, why);
            goto out;
        }
        slots[k].text = v;
        slots[k].set = 1;
    }

    /* Layer 3: the command line. */
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *name, *eq, *val = NULL;
        size_t      nlen;
        int         k, negate = 0;

        if (strcmp(a, "--") == 0) {
            if (i + 1 < argc) {
                rc = ep_err_set(err, CFG_EUNKNOWN, "unexpected argument %s", argv[i + 1]);
                goto out;
            }
            break;
        }
        if (strncmp(a, "--", 2) != 0) {
            rc = ep_err_set(err, CFG_EUNKNOWN, "unexpected argument %s (options start with --)", a);
            goto out;
        }
        name = a + 2;
        eq = strchr(name, '=');
        nlen = eq ? (size_t)(eq - name) : strlen(name);
        k = find_option(opts, n, name, nlen);
        if (k < 0 && nlen > 3 && strncmp(name, "no-", 3) == 0 && eq == NULL) {
            k = find_option(opts, n, name + 3, nlen - 3);
            if (k >= 0 && opts[k].type == CFG_BOOL)
                negate = 1;
            else
                k = -1;
        }
        if (k < 0) {
            rc = ep_err_set(err, CFG_EUNKNOWN, "unknown option --%.*s (see --help)", (int)nlen, name);
            goto out;
        }
        const cfg_option *o = &opts[k];
        if (eq != NULL)
            val = eq + 1;
        else if (negate)
            val = "false";
        else if (o->type == CFG_BOOL)
            val = "true";
        else if (i + 1 < argc)
            val = argv[++i];
        else {
            rc = ep_err_set(err, CFG_EUNKNOWN, "option --%s needs a value", o->name);
            goto out;
        }
        if (check_value(o, val, &slots[k].num, why, sizeof why) != CFG_OK) {
            rc = ep_err_set(err, CFG_EINVAL, "--%s=%s: %s", o->name, o->secret ? "<secret>" : val, why);
            goto out;
        }
        slots[k].text = val;
        slots[k].set = 1;
    }

    for (size_t k = 0; k < n; k++) {
        if (opts[k].required && !slots[k].set) {
            env_name(env_prefix, opts[k].name, ename, sizeof ename);
            rc = ep_err_set(err, CFG_EMISSING, "%s is required: set --%s or %s", opts[k].name,
                            opts[k].name, ename);
            goto out;
        }
    }

    /* Everything is valid: store the values. */
    for (size_t k = 0; k < n; k++) {
        const cfg_option *o = &opts[k];
        switch (o->type) {
        case CFG_STRING: {
            char *copy = strdup(slots[k].text ? slots[k].text : "");
            if (copy == NULL) {
                rc = ep_err_set(err, CFG_ENOMEM, "config: out of memory copying %s", o->name);
                goto out;
            }
            *(char **)o->target = copy;
            break;
        }
        case CFG_BOOL:
            *(bool *)o->target = slots[k].num != 0;
            break;
        default:
            *(long long *)o->target = slots[k].num;
            break;
        }
    }

out:
    /* Before check_table passed the targets may be unusable: touch nothing. */
    if (rc != CFG_OK && targets_ok)
        cfg_dispose(opts, n);
    free(slots);
    return rc;
}

void cfg_dispose(const cfg_option *opts, size_t n)
{
    for (size_t i = 0; opts != NULL && i < n; i++) {
        if (opts[i].type == CFG_STRING && opts[i].target != NULL) {
            char **p = opts[i].target;
            free(*p);
            *p = NULL;
        }
    }
}

void cfg_print_help(FILE *out, const cfg_option *opts, size_t n, const char *env_prefix,
                    const char *prog, const char *summary)
{
    char ename[NAME_MAX_LEN + 64], lo[48], hi[48], dv[64];

    fprintf(out, "Usage: %s [options]\n", prog ? prog : "prog");
    if (summary != NULL && *summary != '\0')
        fprintf(out, "%s\n", summary);
    fprintf(out, "\nOptions (each also settable by environment variable; flags override):\n");
    for (size_t i = 0; i < n; i++) {
        const cfg_option *o = &opts[i];
        env_name(env_prefix, o->name, ename, sizeof ename);
        if (o->type == CFG_BOOL)
            fprintf(out, "  --%s, --no-%s  [%s]\n", o->name, o->name, ename);
        else
            fprintf(out, "  --%s=<%s>  [%s]\n", o->name, type_name(o->type), ename);
        fprintf(out, "      %s", o->help ? o->help : "");
        if (o->required)
            fprintf(out, " (required)");
        if (o->secret)
            fprintf(out, " Default: <secret>.");
        else if (o->def != NULL && *o->def != '\0') {
            long long v;
            char      why[8];
            /* Show defaults in canonical units when they parse. */
            if ((o->type == CFG_DURATION || o->type == CFG_SIZE) &&
                check_value(&(cfg_option){ .type = o->type }, o->def, &v, why, sizeof why) == CFG_OK) {
                format_value(o->type, v, dv, sizeof dv);
                fprintf(out, " Default: %s.", dv);
            } else {
                fprintf(out, " Default: %s.", o->def);
            }
        }
        if ((o->type == CFG_INT || o->type == CFG_DURATION || o->type == CFG_SIZE) &&
            !(o->min == 0 && o->max == 0)) {
            format_value(o->type, o->min, lo, sizeof lo);
            format_value(o->type, o->max, hi, sizeof hi);
            fprintf(out, " Range: %s..%s.", lo, hi);
        }
        fputc('\n', out);
    }
    fprintf(out, "  -h, --help\n      Show this help and exit.\n");
}

/* Append to buf without overflowing; once full, ends it with "...". */
typedef struct outbuf {
    char  *p;
    size_t len, used;
    int    full;
} outbuf;

static void ob_put(outbuf *b, const char *s, size_t n)
{
    if (b->full || b->len == 0)
        return;
    if (b->used + n + 1 > b->len) {
        size_t room = b->len - 1 - b->used;
        memcpy(b->p + b->used, s, room);
        b->used += room;
        b->p[b->used] = '\0';
        if (b->len >= 4)
            memcpy(b->p + b->len - 4, "...", 4);
        b->full = 1;
        return;
    }
    memcpy(b->p + b->used, s, n);
    b->used += n;
    b->p[b->used] = '\0';
}

static void ob_puts(outbuf *b, const char *s)
{
    ob_put(b, s, strlen(s));
}

void cfg_log_effective(const cfg_option *opts, size_t n, char *buf, size_t len)
{
    outbuf b = { buf, len, 0, 0 };
    char   v[64];

    if (len == 0)
        return;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const cfg_option *o = &opts[i];
        if (i > 0)
            ob_put(&b, " ", 1);
        ob_puts(&b, o->name);
        ob_put(&b, "=", 1);
        if (o->secret) {
            ob_puts(&b, "***");
            continue;
        }
        switch (o->type) {
        case CFG_STRING: {
            const char *s = *(char **)o->target ? *(char **)o->target : "";
            if (*s == '\0' || strpbrk(s, " \t\n\"\\") != NULL) {
                ob_put(&b, "\"", 1);
                for (; *s; s++) {
                    if (*s == '"' || *s == '\\')
                        ob_put(&b, "\\", 1);
                    ob_put(&b, *s == '\n' ? " " : s, 1);
                }
                ob_put(&b, "\"", 1);
            } else {
                ob_puts(&b, s);
            }
            break;
        }
        case CFG_BOOL:
            ob_puts(&b, *(bool *)o->target ? "true" : "false");
            break;
        default:
            format_value(o->type, *(long long *)o->target, v, sizeof v);
            ob_puts(&b, v);
            break;
        }
    }
}
