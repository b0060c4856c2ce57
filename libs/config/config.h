/*
 * config: a service's configuration described as a table.
 *
 * Each service declares one static array of cfg_option rows -- name, type,
 * default as text with its units, bounds, help, optional validator -- the
 * way redis declares static_configs[].  From that single table cfg_load
 * fills the service's variables from defaults, then the environment
 * (EP_NATS_URL), then the command line (--nats-url), and every error names
 * the key, where the bad value came from and why it is bad.  --help, the
 * effective-configuration log line and the error messages are all generated
 * from the same rows, so they cannot drift from what the code accepts.
 *
 * Not thread-safe: call it from main() before starting threads.
 */
#ifndef EP_CONFIG_H
#define EP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "err/err.h"

#define CFG_STATUS_MAP(X)                                                                   \
    X(CFG_OK,       0, "ok")                                                                \
    X(CFG_HELP,     1, "--help was given; help printed to stdout, caller should exit 0")   \
    X(CFG_EINVAL,   2, "invalid value (syntax, bounds or validator)")                      \
    X(CFG_EUNKNOWN, 3, "unknown flag, flag without value, or stray argument")              \
    X(CFG_EMISSING, 4, "a required option was not set")                                    \
    X(CFG_ETABLE,   5, "the option table itself is wrong (bad default, duplicate name)")  \
    X(CFG_ENOMEM,   6, "out of memory")

typedef enum {
#define CFG__ENUM(name, value, text) name = value,
    CFG_STATUS_MAP(CFG__ENUM)
#undef CFG__ENUM
} cfg_status;

/* Static string for a status value ("unknown status" if out of range). */
const char *cfg_strstatus(int status);

typedef enum { CFG_STRING, CFG_INT, CFG_BOOL, CFG_DURATION, CFG_SIZE } cfg_type;
/* CFG_DURATION values are milliseconds (long long) parsed from "250ms", "30s",
 *   "5m", "24h", "2d", "1h30m", or a bare integer = ms.
 * CFG_SIZE values are bytes (long long) from "512", "512B", "64KiB", "1MiB",
 *   "1GiB", "1TiB" (binary) or "64KB", "2GB", "1TB" (decimal); units are
 *   case-insensitive.
 * CFG_BOOL: true/false/1/0/yes/no/on/off (case-insensitive). */

typedef struct cfg_option {
    const char *name;        /* "nats-url": flag --nats-url, env var <PREFIX>NATS_URL (upper-case, '-' -> '_') */
    cfg_type    type;
    const char *def;         /* default as text (NULL = no default: empty string / 0 / false) */
    const char *help;        /* one line */
    long long   min, max;    /* bounds for INT/DURATION/SIZE; min == max == 0 means unbounded */
    void       *target;      /* CFG_STRING: char ** (malloc'd copy, free with cfg_dispose)
                                CFG_INT/DURATION/SIZE: long long *   CFG_BOOL: bool * */
    int (*validate)(const char *text, char *why, size_t why_len);   /* optional extra check on the text; non-zero = invalid, fill why */
    int         secret;      /* never print the value (help shows "<secret>") */
    int         required;    /* error if not set by default, env or flag */
} cfg_option;

/* Fill every target: defaults first, then environment variables
 * <env_prefix><NAME>, then argv[1..] (--name=value, --name value; a bool flag
 * alone means true and --no-name means false; "--" ends the options).  "-h"
 * or "--help" anywhere prints cfg_print_help to stdout and returns CFG_HELP
 * without checking anything else.  On error returns a status and fills err
 * naming the key, the source and the reason, e.g.
 *   "EP_RESYNC_INTERVAL=abc: not a duration (examples: 250ms, 30s, 5m, 1h30m)"
 * (secret values are shown as <secret>).  Targets are overwritten without
 * freeing what they held: call cfg_dispose before loading again.  On any
 * return other than CFG_OK every string target is NULL (nothing to free);
 * on CFG_OK every string target holds a malloc'd string ("" if unset).
 * opts, env_prefix (NULL = ""), prog and summary are borrowed. */
int cfg_load(const cfg_option *opts, size_t n, const char *env_prefix, const char *prog,
             const char *summary, int argc, char **argv, ep_err *err);

/* Print usage generated from the table: flag, env var, type, default with
 * units, bounds, required/secret, help. */
void cfg_print_help(FILE *out, const cfg_option *opts, size_t n, const char *env_prefix,
                    const char *prog, const char *summary);

/* Free the strings cfg_load allocated into CFG_STRING targets and set them
 * to NULL.  Safe to call twice or after a failed cfg_load. */
void cfg_dispose(const cfg_option *opts, size_t n);

/* Write "key=value key=value ..." (durations and sizes in units, strings
 * quoted when they contain spaces or quotes, secrets as ***) into buf, always
 * NUL-terminated, truncated with "..." if len is too small.  For one startup
 * log line. */
void cfg_log_effective(const cfg_option *opts, size_t n, char *buf, size_t len);

/* The value parsers behind the table, for services that read durations and
 * sizes from elsewhere (a claim, a header).  Return CFG_OK or CFG_EINVAL
 * (also on overflow or a negative value). */
int cfg_parse_duration(const char *text, long long *ms);
int cfg_parse_size(const char *text, long long *bytes);
int cfg_parse_bool(const char *text, bool *out);

/* Format back in the largest exact units: 5400000 -> "1h30m", 250 -> "250ms",
 * 65536 -> "64KiB", 2000000000 -> "2GB", 1500 -> "1500" (binary units
 * preferred when both are exact) ... always
 * NUL-terminated.  Returns buf. */
char *cfg_format_duration(long long ms, char *buf, size_t len);
char *cfg_format_size(long long bytes, char *buf, size_t len);

#endif
