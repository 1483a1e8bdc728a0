/*
 * llm-evaluator configuration: see llo_eval_conf.h.
 */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "llo_cost.h"
#include "llo_pii.h"
#include "llo_eval_conf.h"
#include "llo_eval_log.h"


#ifndef LLO_SQL_DIR
#define LLO_SQL_DIR  "/usr/share/llm-observer/sql"
#endif


typedef enum {
    LLO_CONF_STR = 0,       /* min 1: must not be empty */
    LLO_CONF_NUM,
    LLO_CONF_MSEC,
    LLO_CONF_LEVEL,
    LLO_CONF_FLAG,          /* on | off */
    LLO_CONF_USD,           /* a decimal, kept in micro-USD */
    LLO_CONF_REDACT         /* off | pii | secrets | all */
} llo_conf_type_e;


typedef struct {
    const char         *name;
    llo_conf_type_e     type;
    size_t              offset;
    const char         *dflt;
    int64_t             min;
    int64_t             max;
    const char         *expect;     /* how errors describe a valid value */
    unsigned            restart:1;  /* SIGHUP keeps the old value */
} llo_conf_cmd_t;


typedef struct {
    const char         *file;
    int                 line;
    int                 set_on[48];     /* line each key was set on */
    char               *err;
    size_t              errlen;
} llo_conf_ctx_t;


static int llo_conf_line(llo_conf_t *conf, llo_conf_ctx_t *ctx, char *p);
static int llo_conf_set(llo_conf_t *conf, llo_conf_ctx_t *ctx,
    const llo_conf_cmd_t *cmd, const char *value);
static int llo_conf_parse_num(const char *s, int msec, int64_t *out);
static void llo_conf_sql_dir(llo_conf_t *conf);


#define llo_conf_off(f)  offsetof(llo_conf_t, f)

static const llo_conf_cmd_t  llo_conf_cmds[] = {

    { "ring_path", LLO_CONF_STR, llo_conf_off(ring_path),
      "/dev/shm/llm_observer.ring", 1, 0, "a path", 0 },

    /* empty: libpq's defaults and PG* environment variables */
    { "pg_conninfo", LLO_CONF_STR, llo_conf_off(pg_conninfo),
      "", 0, 0, "a libpq connection string", 0 },

    { "batch_size", LLO_CONF_NUM, llo_conf_off(batch_size),
      "5000", 1, 100000, "1..100000", 0 },

    { "flush_interval", LLO_CONF_MSEC, llo_conf_off(flush_interval),
      "200ms", 1, 3600000, "1ms..1h, e.g. 200ms or 1s", 0 },

    { "torn_timeout", LLO_CONF_MSEC, llo_conf_off(torn_timeout),
      "2s", 1, 3600000, "1ms..1h, e.g. 500ms or 2s", 0 },

    { "log_level", LLO_CONF_LEVEL, llo_conf_off(log_level),
      "info", 0, 0, "error, warn, info or debug", 0 },

    { "log_file", LLO_CONF_STR, llo_conf_off(log_file),
      "stderr", 1, 0, "a path or stderr", 0 },

    /* the default is resolved by llo_conf_sql_dir() */
    { "sql_dir", LLO_CONF_STR, llo_conf_off(sql_dir),
      LLO_SQL_DIR, 1, 0, "a directory", 0 },

    { "partition_months_ahead", LLO_CONF_NUM,
      llo_conf_off(partition_months_ahead), "2", 0, 120, "0..120", 0 },

    /* empty: calls are stored unscored */
    { "rules_file", LLO_CONF_STR, llo_conf_off(rules_file),
      "", 0, 0, "a path", 0 },

    { "flag_below", LLO_CONF_NUM, llo_conf_off(flag_below),
      "3", 1, 6, "1..6 (6: every call)", 0 },

    /* what the PII detectors find is replaced in the stored texts */
    { "redact", LLO_CONF_REDACT, llo_conf_off(redact),
      "off", 0, 0, "off, pii, secrets or all", 0 },

    { "rules_cache", LLO_CONF_NUM, llo_conf_off(rules_cache),
      "16384", 0, 16777216, "0..16777216 entries (0: no cache)", 0 },

    /* the LLM judge (docs/scoring.md); empty judge_url: none */
    { "judge_url", LLO_CONF_STR, llo_conf_off(judge_url),
      "", 0, 0, "an http:// or https:// base URL, e.g. "
      "https://api.openai.com/v1", 0 },

    { "judge_model", LLO_CONF_STR, llo_conf_off(judge_model),
      "gpt-4o-mini", 1, 0, "a model name", 0 },

    /* the key itself is never in the configuration, so never in -T */
    { "judge_api_key_file", LLO_CONF_STR, llo_conf_off(judge_api_key_file),
      "", 0, 0, "a path", 0 },

    { "judge_api_key_env", LLO_CONF_STR, llo_conf_off(judge_api_key_env),
      "", 0, 0, "an environment variable's name", 0 },

    { "judge_sample_percent", LLO_CONF_NUM,
      llo_conf_off(judge_sample_percent), "10", 0, 100, "0..100", 0 },

    { "judge_match", LLO_CONF_STR, llo_conf_off(judge_match),
      "", 0, 0, "provider=, model=, key=, team= or api= filters", 0 },

    { "judge_max_score", LLO_CONF_NUM, llo_conf_off(judge_max_score),
      "5", 1, 5, "1..5", 0 },

    { "judge_flagged_only", LLO_CONF_FLAG, llo_conf_off(judge_flagged_only),
      "off", 0, 0, "on or off", 0 },

    { "judge_concurrency", LLO_CONF_NUM, llo_conf_off(judge_concurrency),
      "4", 1, 16, "1..16", 0 },

    { "judge_timeout", LLO_CONF_MSEC, llo_conf_off(judge_timeout),
      "30s", 100, 600000, "100ms..10m, e.g. 30s", 0 },

    { "judge_max_attempts", LLO_CONF_NUM, llo_conf_off(judge_max_attempts),
      "5", 1, 20, "1..20", 0 },

    { "judge_daily_budget", LLO_CONF_USD, llo_conf_off(judge_daily_budget),
      "10.00", 0, 10000, "0..10000 USD, e.g. 10.00", 0 },

    { "judge_prices", LLO_CONF_STR, llo_conf_off(judge_prices),
      "/usr/share/llm-observer/llm_prices.conf", 0, 0,
      "a file of llm_observer_price lines", 0 },

    /* /metrics (llm-evaluator run); empty: none */
    { "http_listen", LLO_CONF_STR, llo_conf_off(http_listen),
      "127.0.0.1:9188", 0, 0, "an address and port, e.g. 127.0.0.1:9188",
      1 },

    /* the models that always get their own series in /metrics */
    { "metrics_models", LLO_CONF_STR, llo_conf_off(metrics_models),
      "", 0, 0, "model names, separated by spaces", 1 },

    { "metrics_max_models", LLO_CONF_NUM, llo_conf_off(metrics_max_models),
      "50", 0, 10000, "0..10000", 1 },

    /* the bearer token of /alerts/history (and the API to come) */
    { "api_token_file", LLO_CONF_STR, llo_conf_off(api_token_file),
      "", 0, 0, "a path", 0 },

    /* empty: no pid file */
    { "pid_file", LLO_CONF_STR, llo_conf_off(pid_file),
      "", 0, 0, "a path", 1 },

    { NULL, 0, 0, NULL, 0, 0, NULL, 0 }
};

_Static_assert(sizeof(llo_conf_cmds) / sizeof(llo_conf_cmd_t)
               <= sizeof(((llo_conf_ctx_t *) 0)->set_on) / sizeof(int),
               "llo_conf_ctx_t.set_on has a slot per key");


int
llo_conf_load(llo_conf_t *conf, const char *file, char **overrides,
    int noverrides, char *err, size_t errlen)
{
    int                    i, rc;
    FILE                  *f;
    char                  *line;
    size_t                 cap;
    ssize_t                n;
    llo_conf_ctx_t         ctx;
    const llo_conf_cmd_t  *cmd;

    memset(conf, 0, sizeof(llo_conf_t));
    memset(&ctx, 0, sizeof(llo_conf_ctx_t));
    ctx.err = err;
    ctx.errlen = errlen;
    ctx.file = "default";

    for (cmd = llo_conf_cmds; cmd->name; cmd++) {
        if (llo_conf_set(conf, &ctx, cmd, cmd->dflt) != 0) {
            llo_conf_free(conf);
            return -1;
        }
    }

    if (file != NULL) {
        f = fopen(file, "r");
        if (f == NULL) {
            snprintf(err, errlen, "cannot open configuration file \"%s\": "
                     "%s", file, strerror(errno));
            llo_conf_free(conf);
            return -1;
        }

        ctx.file = file;
        line = NULL;
        cap = 0;
        rc = 0;

        while ((n = getline(&line, &cap, f)) != -1) {
            ctx.line++;

            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
                line[--n] = '\0';
            }

            if (llo_conf_line(conf, &ctx, line) != 0) {
                rc = -1;
                break;
            }
        }

        if (rc == 0 && ferror(f)) {
            snprintf(err, errlen, "%s: read failed: %s", file,
                     strerror(errno));
            rc = -1;
        }

        free(line);
        fclose(f);

        if (rc != 0) {
            llo_conf_free(conf);
            return -1;
        }
    }

    /* an override may repeat a key of the file: that is its purpose */
    memset(ctx.set_on, 0, sizeof(ctx.set_on));
    ctx.file = "-o";

    for (i = 0; i < noverrides; i++) {
        ctx.line = i + 1;

        /* parsing cuts the line up; the overrides are read again on reload */
        line = strdup(overrides[i]);
        if (line == NULL) {
            snprintf(err, errlen, "out of memory");
            llo_conf_free(conf);
            return -1;
        }

        rc = llo_conf_line(conf, &ctx, line);
        free(line);

        if (rc != 0) {
            llo_conf_free(conf);
            return -1;
        }

        memset(ctx.set_on, 0, sizeof(ctx.set_on));
    }

    if (!conf->sql_dir_set) {
        llo_conf_sql_dir(conf);
    }

    return 0;
}


/*
 * key = value      value runs to the end of the line or to a "#" that
 * key = "value"    follows whitespace; quoted, it may hold anything, with
 * # comment        \" and \\ escaped
 */

static int
llo_conf_line(llo_conf_t *conf, llo_conf_ctx_t *ctx, char *p)
{
    int                    i;
    char                  *key, *end, *value, *q;
    const llo_conf_cmd_t  *cmd;

    while (isspace((unsigned char) *p)) {
        p++;
    }

    if (*p == '\0' || *p == '#') {
        return 0;
    }

    key = p;

    while (isalnum((unsigned char) *p) || *p == '_') {
        p++;
    }

    end = p;

    while (isspace((unsigned char) *p)) {
        p++;
    }

    if (end == key || *p != '=') {
        snprintf(ctx->err, ctx->errlen, "%s:%d: expected \"key = value\", "
                 "got \"%s\"", ctx->file, ctx->line, key);
        return -1;
    }

    *end = '\0';
    p++;

    for (i = 0, cmd = llo_conf_cmds; cmd->name; cmd++, i++) {
        if (strcmp(cmd->name, key) == 0) {
            break;
        }
    }

    if (cmd->name == NULL) {
        snprintf(ctx->err, ctx->errlen, "%s:%d: unknown key \"%s\"",
                 ctx->file, ctx->line, key);
        return -1;
    }

    if (ctx->set_on[i]) {
        snprintf(ctx->err, ctx->errlen, "%s:%d: duplicate key \"%s\" "
                 "(already set on line %d)", ctx->file, ctx->line, key,
                 ctx->set_on[i]);
        return -1;
    }

    ctx->set_on[i] = ctx->line;

    while (isspace((unsigned char) *p)) {
        p++;
    }

    if (*p == '"') {
        value = ++p;
        q = p;

        while (*p && *p != '"') {
            if (*p == '\\' && (p[1] == '"' || p[1] == '\\')) {
                p++;
            }
            *q++ = *p++;
        }

        if (*p != '"') {
            snprintf(ctx->err, ctx->errlen, "%s:%d: unterminated quoted "
                     "value for %s", ctx->file, ctx->line, key);
            return -1;
        }

        p++;

        while (isspace((unsigned char) *p)) {
            p++;
        }

        if (*p != '\0' && *p != '#') {
            snprintf(ctx->err, ctx->errlen, "%s:%d: unexpected \"%s\" after "
                     "the quoted value of %s", ctx->file, ctx->line, p, key);
            return -1;
        }

        *q = '\0';

    } else {
        value = p;

        for ( /* void */ ; *p; p++) {
            if (*p == '#' && p > value && isspace((unsigned char) p[-1])) {
                break;
            }
        }

        while (p > value && isspace((unsigned char) p[-1])) {
            p--;
        }

        *p = '\0';
    }

    return llo_conf_set(conf, ctx, cmd, value);
}


static int
llo_conf_set(llo_conf_t *conf, llo_conf_ctx_t *ctx, const llo_conf_cmd_t *cmd,
    const char *value)
{
    int       level;
    char     *s, **sp;
    int64_t   n;

    switch (cmd->type) {

    case LLO_CONF_STR:
        if (cmd->min && value[0] == '\0') {
            goto invalid;
        }

        s = strdup(value);
        if (s == NULL) {
            snprintf(ctx->err, ctx->errlen, "out of memory");
            return -1;
        }

        sp = (char **) ((char *) conf + cmd->offset);
        free(*sp);
        *sp = s;

        if (sp == &conf->sql_dir && ctx->line != 0) {
            conf->sql_dir_set = 1;
        }

        return 0;

    case LLO_CONF_NUM:
    case LLO_CONF_MSEC:
        if (llo_conf_parse_num(value, cmd->type == LLO_CONF_MSEC, &n) != 0
            || n < cmd->min || n > cmd->max)
        {
            goto invalid;
        }

        *(int64_t *) ((char *) conf + cmd->offset) = n;
        return 0;

    case LLO_CONF_LEVEL:
        level = llo_log_level_parse(value);
        if (level == -1) {
            goto invalid;
        }

        *(int64_t *) ((char *) conf + cmd->offset) = level;
        return 0;

    case LLO_CONF_FLAG:
        if (strcmp(value, "on") != 0 && strcmp(value, "off") != 0) {
            goto invalid;
        }

        *(int64_t *) ((char *) conf + cmd->offset) = value[1] == 'n';
        return 0;

    case LLO_CONF_REDACT:
        level = llo_redact_mode(value);
        if (level == -1) {
            goto invalid;
        }

        *(int64_t *) ((char *) conf + cmd->offset) = level;
        return 0;

    case LLO_CONF_USD:
        /* the price list's decimals: no binary fraction touches money */
        if (llo_price_parse(value, strlen(value), &n) != NULL
            || n > cmd->max * 1000000)
        {
            goto invalid;
        }

        *(int64_t *) ((char *) conf + cmd->offset) = n;
        return 0;
    }

invalid:

    snprintf(ctx->err, ctx->errlen, "%s:%d: invalid value \"%s\" for %s "
             "(expected %s)", ctx->file, ctx->line, value, cmd->name,
             cmd->expect);

    return -1;
}


/* "1000"; with msec also "200ms", "2s", "5m", "1h" (bare: milliseconds) */

static int
llo_conf_parse_num(const char *s, int msec, int64_t *out)
{
    int64_t      n, mult;
    const char  *p;

    n = 0;

    for (p = s; *p >= '0' && *p <= '9'; p++) {
        if (n > INT64_MAX / 10 / 3600000) {
            return -1;
        }
        n = n * 10 + (*p - '0');
    }

    if (p == s) {
        return -1;
    }

    mult = 1;

    if (*p != '\0') {
        if (!msec) {
            return -1;
        }

        if (strcmp(p, "ms") == 0) {
            mult = 1;

        } else if (strcmp(p, "s") == 0) {
            mult = 1000;

        } else if (strcmp(p, "m") == 0) {
            mult = 60000;

        } else if (strcmp(p, "h") == 0) {
            mult = 3600000;

        } else {
            return -1;
        }
    }

    *out = n * mult;

    return 0;
}


/*
 * The installed directory when it is there, else ./sql (a source tree),
 * else ../sql beside the binary (build/llm-evaluator run from elsewhere).
 */

static void
llo_conf_sql_dir(llo_conf_t *conf)
{
    char         exe[4096], *slash, *s;
    ssize_t      n;
    struct stat  st;

    if (stat(conf->sql_dir, &st) == 0 && S_ISDIR(st.st_mode)) {
        return;
    }

    s = NULL;

    if (stat("sql", &st) == 0 && S_ISDIR(st.st_mode)) {
        s = strdup("./sql");

    } else {
        n = readlink("/proc/self/exe", exe, sizeof(exe) - 8);

        if (n > 0) {
            exe[n] = '\0';
            slash = strrchr(exe, '/');

            if (slash != NULL) {
                strcpy(slash, "/../sql");

                if (stat(exe, &st) == 0 && S_ISDIR(st.st_mode)) {
                    s = strdup(exe);
                }
            }
        }
    }

    if (s != NULL) {
        free(conf->sql_dir);
        conf->sql_dir = s;
    }
}


void
llo_conf_free(llo_conf_t *conf)
{
    const llo_conf_cmd_t  *cmd;

    for (cmd = llo_conf_cmds; cmd->name; cmd++) {
        if (cmd->type == LLO_CONF_STR) {
            free(*(char **) ((char *) conf + cmd->offset));
            *(char **) ((char *) conf + cmd->offset) = NULL;
        }
    }
}


int
llo_conf_keep_restart(llo_conf_t *nc, llo_conf_t *old, const char **names,
    int max)
{
    int                    n;
    char                  *s, **a, **b;
    int64_t               *x, *y, v;
    const llo_conf_cmd_t  *cmd;

    n = 0;

    for (cmd = llo_conf_cmds; cmd->name; cmd++) {
        if (!cmd->restart) {
            continue;
        }

        if (cmd->type == LLO_CONF_STR) {
            a = (char **) ((char *) nc + cmd->offset);
            b = (char **) ((char *) old + cmd->offset);

            if (strcmp(*a, *b) == 0) {
                continue;
            }

            s = *a;
            *a = *b;
            *b = s;

        } else {
            x = (int64_t *) ((char *) nc + cmd->offset);
            y = (int64_t *) ((char *) old + cmd->offset);

            if (*x == *y) {
                continue;
            }

            v = *x;
            *x = *y;
            *y = v;
        }

        if (n < max) {
            names[n] = cmd->name;
        }

        n++;
    }

    return n;
}


void
llo_conf_dump(llo_conf_t *conf, int fd)
{
    char                   buf[8192];
    int64_t                v;
    const char            *s;
    const llo_conf_cmd_t  *cmd;

    static const char     *levels[] = { "error", "warn", "info", "debug" };

    for (cmd = llo_conf_cmds; cmd->name; cmd++) {
        switch (cmd->type) {

        case LLO_CONF_STR:
            s = *(char **) ((char *) conf + cmd->offset);
            snprintf(buf, sizeof(buf), "%s = \"%s\"\n", cmd->name, s);
            break;

        case LLO_CONF_NUM:
            snprintf(buf, sizeof(buf), "%s = %lld\n", cmd->name,
                     (long long) *(int64_t *) ((char *) conf + cmd->offset));
            break;

        case LLO_CONF_MSEC:
            snprintf(buf, sizeof(buf), "%s = %lldms\n", cmd->name,
                     (long long) *(int64_t *) ((char *) conf + cmd->offset));
            break;

        case LLO_CONF_LEVEL:
            snprintf(buf, sizeof(buf), "%s = %s\n", cmd->name,
                     levels[*(int64_t *) ((char *) conf + cmd->offset)]);
            break;

        case LLO_CONF_FLAG:
            snprintf(buf, sizeof(buf), "%s = %s\n", cmd->name,
                     *(int64_t *) ((char *) conf + cmd->offset)
                     ? "on" : "off");
            break;

        case LLO_CONF_REDACT:
            snprintf(buf, sizeof(buf), "%s = %s\n", cmd->name,
                     llo_redact_mode_name((int) *(int64_t *) ((char *) conf
                                                            + cmd->offset)));
            break;

        case LLO_CONF_USD:
            v = *(int64_t *) ((char *) conf + cmd->offset);
            snprintf(buf, sizeof(buf), "%s = %lld.%06lld\n", cmd->name,
                     (long long) (v / 1000000), (long long) (v % 1000000));
            break;
        }

        if (write(fd, buf, strlen(buf)) == -1) {
            return;
        }
    }
}


char *
llo_conf_secret(const char *path, const char *key, char *err, size_t errlen)
{
    FILE    *f;
    char    *secret, buf[4096];
    size_t   n, start;

    f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open %s \"%s\": %s", key, path,
                 strerror(errno));
        return NULL;
    }

    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';

    /* one line; its end and surrounding blanks are no part of it */
    while (n > 0 && isspace((unsigned char) buf[n - 1])) {
        buf[--n] = '\0';
    }

    start = strspn(buf, " \t");

    if (buf[start] == '\0' || strchr(buf + start, '\n') != NULL) {
        snprintf(err, errlen, "%s \"%s\" must hold one line, the secret",
                 key, path);
        memset(buf, 0, sizeof(buf));
        return NULL;
    }

    secret = strdup(buf + start);
    memset(buf, 0, sizeof(buf));

    if (secret == NULL) {
        snprintf(err, errlen, "out of memory");
    }

    return secret;
}
