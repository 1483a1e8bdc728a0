/*
 * llm-evaluator configuration: "key = value" lines, read through one
 * table of (name, type, default, bounds).
 */

#ifndef _LLO_EVAL_CONF_H_INCLUDED_
#define _LLO_EVAL_CONF_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define LLO_CONF_DEFAULT_FILE  "/etc/llm-observer/llm-evaluator.conf"
#define LLO_CONF_MAX_OVERRIDES 64


typedef struct {
    char               *ring_path;
    char               *pg_conninfo;
    char               *log_file;
    char               *sql_dir;
    char               *pid_file;
    char               *rules_file;
    char               *api_token_file;
    char               *http_listen;
    char               *metrics_models;
    char               *judge_url;
    char               *judge_model;
    char               *judge_api_key_file;
    char               *judge_api_key_env;
    char               *judge_match;
    char               *judge_prices;
    int64_t             batch_size;
    int64_t             flush_interval;         /* ms */
    int64_t             torn_timeout;           /* ms */
    int64_t             partition_months_ahead;
    int64_t             log_level;              /* LLO_LOG_* */
    int64_t             flag_below;             /* flagged: score < it */
    int64_t             rules_cache;            /* entries, 0: none */
    int64_t             redact;                 /* llo_redact_mode_e */
    int64_t             metrics_max_models;
    int64_t             judge_sample_percent;
    int64_t             judge_max_score;
    int64_t             judge_flagged_only;
    int64_t             judge_concurrency;
    int64_t             judge_timeout;          /* ms */
    int64_t             judge_max_attempts;
    int64_t             judge_daily_budget;     /* micro-USD */

    unsigned            sql_dir_set:1;
} llo_conf_t;


/*
 * Fill conf with the defaults, then read file (NULL: none), then apply
 * the "key=value" overrides in order.  Returns 0, or -1 with err holding
 * "file:line: what was wrong"; conf then holds nothing to free.
 */
int llo_conf_load(llo_conf_t *conf, const char *file, char **overrides,
    int noverrides, char *err, size_t errlen);

void llo_conf_free(llo_conf_t *conf);

/*
 * The one line of a secret's file (a key, a token), its surrounding
 * blanks off; NULL with err naming key and path.  Never logged.
 */
char *llo_conf_secret(const char *path, const char *key, char *err,
    size_t errlen);

/* print the effective configuration, one "key = value" a line */
void llo_conf_dump(llo_conf_t *conf, int fd);

/*
 * SIGHUP: the keys that take effect only on restart (pid_file) keep
 * their old value in nc (the new one goes to old, freed with it).  The
 * names of those that differed go to names (up to max); returns their
 * number.
 */
int llo_conf_keep_restart(llo_conf_t *nc, llo_conf_t *old,
    const char **names, int max);


#endif /* _LLO_EVAL_CONF_H_INCLUDED_ */
