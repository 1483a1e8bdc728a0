/*
 * llm-evaluator's rules commands: see llo_eval_rules_cli.h.
 */

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "llo_eval_copy.h"
#include "llo_eval_pg.h"
#include "llo_eval_rules_cli.h"
#include "llo_eval_verdicts.h"


#define LLO_CLI_CHANGES_SHOWN   20
#define LLO_CLI_RESCORE_BATCH   1000


/* the fields of a record of "rules test FILE RECORDS" */

typedef enum {
    LLO_REC_STR = 0,
    LLO_REC_INT,
    LLO_REC_BOOL
} llo_rec_field_type_e;


typedef struct {
    const char             *name;
    llo_rec_field_type_e    type;
    size_t                  offset;     /* in llo_rules_call_t */
} llo_rec_field_t;


#define llo_call_off(f)  offsetof(llo_rules_call_t, f)

static const llo_rec_field_t  llo_rec_fields[] = {
    { "provider", LLO_REC_STR, llo_call_off(provider) },
    { "api", LLO_REC_STR, llo_call_off(api) },
    { "model", LLO_REC_STR, llo_call_off(model) },
    { "key", LLO_REC_STR, llo_call_off(key) },
    { "team", LLO_REC_STR, llo_call_off(team) },
    { "prompt", LLO_REC_STR, llo_call_off(prompt) },
    { "response", LLO_REC_STR, llo_call_off(response) },
    { "finish_reason", LLO_REC_STR, llo_call_off(finish_reason) },
    { "error_type", LLO_REC_STR, llo_call_off(error_type) },
    { "response_format", LLO_REC_STR, llo_call_off(response_format) },
    { "status", LLO_REC_INT, llo_call_off(status) },
    { "max_tokens", LLO_REC_INT, llo_call_off(max_tokens) },
    { "completion_tokens", LLO_REC_INT, llo_call_off(completion_tokens) },
    { "ttft_ms", LLO_REC_INT, llo_call_off(ttft_ms) },
    { "latency_ms", LLO_REC_INT, llo_call_off(latency_ms) },
    { "incomplete", LLO_REC_BOOL, 0 },
    { "cut", LLO_REC_BOOL, 1 },
    { "refused", LLO_REC_BOOL, 2 },
    { "response_truncated", LLO_REC_BOOL, 3 },
    { NULL, 0, 0 }
};


/* what "rules test --since" and "rescore" carry from call to call */

typedef struct {
    const llo_rules_t  *rules;
    int                 flag_below;

    uint64_t            calls;
    uint64_t            changed;
    uint64_t            lower;
    uint64_t            higher;
    uint64_t            unscored;       /* no verdict stored */
    uint64_t            same_version;   /* stored by these very rules */
    uint64_t            old_scores[6];
    uint64_t            new_scores[6];
    uint64_t            old_flagged;
    uint64_t            new_flagged;
    uint64_t           *old_fired;      /* per rule of rules */
    uint64_t           *new_fired;

    /* rescore */
    llo_pg_t           *pg;
    llo_buf_t           copy;
    size_t              pending;
    uint64_t            scored;
    uint64_t            inserted;
    char                err[1024];
} llo_cli_run_t;


static int llo_rules_check(const char *file);
static int llo_rules_test_file(const char *file, const char *records);
static int llo_rules_test_since(const char *file, const char *since,
    const llo_conf_t *conf);
static void llo_rules_print(const llo_rules_t *rules,
    const llo_verdict_t *v);
static llo_rules_t *llo_cli_open(const char *file, const char *since,
    const llo_conf_t *conf, llo_cli_run_t *run, llo_pg_t *pg,
    int64_t *secs);
static void llo_cli_close(llo_cli_run_t *run, llo_pg_t *pg,
    llo_rules_t *rules);
static void llo_cli_call(PGresult *res, int row, llo_rules_call_t *call);
static int llo_cli_compare(void *data, PGresult *res, int row);
static int llo_cli_rescore(void *data, PGresult *res, int row);
static int llo_cli_flush(llo_cli_run_t *run);
static int llo_cli_run_init(llo_cli_run_t *run, const llo_rules_t *rules,
    int flag_below);
static void llo_cli_run_free(llo_cli_run_t *run);


static const char  llo_rules_usage[] =
    "usage: llm-evaluator rules check FILE\n"
    "       llm-evaluator rules test FILE RECORDS\n"
    "       llm-evaluator [-c conf] rules test FILE --since DURATION\n";


int
llo_rules_cmd(int argc, char **argv, const llo_conf_t *conf)
{
    if (argc == 2 && strcmp(argv[0], "check") == 0) {
        return llo_rules_check(argv[1]);
    }

    if (argc == 3 && strcmp(argv[0], "test") == 0) {
        return llo_rules_test_file(argv[1], argv[2]);
    }

    if (argc == 4 && strcmp(argv[0], "test") == 0
        && strcmp(argv[2], "--since") == 0 && conf != NULL)
    {
        return llo_rules_test_since(argv[1], argv[3], conf);
    }

    fputs(llo_rules_usage, stderr);

    return 1;
}


int64_t
llo_duration_s(const char *s)
{
    char     *end;
    int64_t   n, unit;

    errno = 0;
    n = strtoll(s, &end, 10);

    if (end == s || errno != 0 || n <= 0 || end[0] == '\0' || end[1] != '\0')
    {
        return -1;
    }

    switch (end[0]) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    case 'w': unit = 7 * 86400; break;
    default: return -1;
    }

    /* a hundred years is as far back as anything goes */
    return n <= 100LL * 365 * 86400 / unit ? n * unit : -1;
}


static int
llo_rules_check(const char *file)
{
    char          err[LLO_RULES_ERR_LEN];
    size_t        i;
    llo_rules_t  *rules;

    rules = llo_rules_load(file, err, sizeof(err));
    if (rules == NULL) {
        fprintf(stderr, "llm-evaluator: %s\n", err);
        return 1;
    }

    printf("rules file \"%s\": %zu rules, version %s\n", file,
           llo_rules_count(rules), llo_rules_version(rules));

    for (i = 0; i < llo_rules_count(rules); i++) {
        printf("  %s\n", llo_rules_name(rules, i));
    }

    llo_rules_free(rules);

    return 0;
}


int
llo_rules_record(void *yajl_object, llo_rules_call_t *call, char *err,
    size_t errlen)
{
    size_t                  i;
    yajl_val                o, v;
    llo_rules_str_t        *s;
    const llo_rec_field_t  *f;

    o = yajl_object;

    memset(call, 0, sizeof(llo_rules_call_t));
    call->status = -1;
    call->max_tokens = -1;
    call->completion_tokens = -1;
    call->ttft_ms = -1;
    call->latency_ms = -1;

    if (!YAJL_IS_OBJECT(o)) {
        snprintf(err, errlen, "not a JSON object");
        return -1;
    }

    for (i = 0; i < o->u.object.len; i++) {
        v = o->u.object.values[i];

        /* "id" names the record in the report, and is no field */
        if (strcmp(o->u.object.keys[i], "id") == 0) {
            continue;
        }

        for (f = llo_rec_fields; f->name; f++) {
            if (strcmp(f->name, o->u.object.keys[i]) == 0) {
                break;
            }
        }

        if (f->name == NULL) {
            snprintf(err, errlen, "unknown field \"%s\"",
                     o->u.object.keys[i]);
            return -1;
        }

        if (YAJL_IS_NULL(v)) {
            continue;
        }

        switch (f->type) {

        case LLO_REC_STR:
            if (!YAJL_IS_STRING(v)) {
                goto wrong;
            }

            s = (llo_rules_str_t *) ((char *) call + f->offset);
            s->data = YAJL_GET_STRING(v);
            s->len = strlen(s->data);
            break;

        case LLO_REC_INT:
            if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 0) {
                goto wrong;
            }

            *(int64_t *) ((char *) call + f->offset) = YAJL_GET_INTEGER(v);
            break;

        case LLO_REC_BOOL:
            if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v)) {
                goto wrong;
            }

            /* bit-fields: the offset says which */
            if (f->offset == 0) {
                call->incomplete = YAJL_IS_TRUE(v);

            } else if (f->offset == 1) {
                call->cut = YAJL_IS_TRUE(v);

            } else if (f->offset == 2) {
                call->refused = YAJL_IS_TRUE(v);

            } else {
                call->response_truncated = YAJL_IS_TRUE(v);
            }

            break;
        }
    }

    return 0;

wrong:

    snprintf(err, errlen, "field \"%s\" must be %s", f->name,
             f->type == LLO_REC_STR ? "a string"
             : f->type == LLO_REC_INT ? "an integer >= 0" : "true or false");

    return -1;
}


static int
llo_rules_test_file(const char *file, const char *records)
{
    int                 line, rc, flagged;
    FILE               *fp;
    char               *buf, err[LLO_RULES_ERR_LEN];
    size_t              cap;
    ssize_t             n;
    uint64_t            count, scores[6];
    yajl_val            o, id;
    llo_rules_t        *rules;
    llo_verdict_t       v;
    llo_rules_call_t    call;

    static const char  *id_path[] = { "id", NULL };

    rules = llo_rules_load(file, err, sizeof(err));
    if (rules == NULL) {
        fprintf(stderr, "llm-evaluator: %s\n", err);
        return 1;
    }

    fp = strcmp(records, "-") == 0 ? stdin : fopen(records, "r");
    if (fp == NULL) {
        fprintf(stderr, "llm-evaluator: cannot open records \"%s\": %s\n",
                records, strerror(errno));
        llo_rules_free(rules);
        return 1;
    }

    printf("rules \"%s\", version %s\n", file, llo_rules_version(rules));

    buf = NULL;
    cap = 0;
    line = 0;
    rc = 0;
    count = 0;
    flagged = 0;
    memset(scores, 0, sizeof(scores));

    while ((n = getline(&buf, &cap, fp)) != -1) {
        line++;

        if (strspn(buf, " \t\r\n") == (size_t) n) {
            continue;
        }

        o = yajl_tree_parse(buf, err, sizeof(err));

        /* yajl's message goes on to quote the text over lines */
        err[strcspn(err, "\n")] = '\0';

        if (o == NULL || llo_rules_record(o, &call, err, sizeof(err)) != 0) {
            fprintf(stderr, "llm-evaluator: %s:%d: %s\n", records, line,
                    o == NULL ? (err[0] ? err : "invalid JSON") : err);
            yajl_tree_free(o);
            rc = 1;
            break;
        }

        llo_rules_score(rules, NULL, &call, 3, &v);

        id = yajl_tree_get(o, id_path, yajl_t_string);

        printf("\n%s:%d%s%s%s: score %d, %s%s%s\n", records, line,
               id ? " (" : "", id ? YAJL_GET_STRING(id) : "", id ? ")" : "",
               v.score, v.label ? "label " : "no rule fired",
               v.label ? v.label : "", v.flagged ? ", flagged" : "");

        llo_rules_print(rules, &v);

        count++;
        scores[v.score]++;
        flagged += v.flagged;

        yajl_tree_free(o);
    }

    if (rc == 0 && ferror(fp)) {
        fprintf(stderr, "llm-evaluator: cannot read \"%s\": %s\n", records,
                strerror(errno));
        rc = 1;
    }

    if (rc == 0) {
        printf("\n%llu records: score 5: %llu, 4: %llu, 3: %llu, 2: %llu, "
               "1: %llu; %d flagged (below 3)\n", (unsigned long long) count,
               (unsigned long long) scores[5], (unsigned long long) scores[4],
               (unsigned long long) scores[3], (unsigned long long) scores[2],
               (unsigned long long) scores[1], flagged);
    }

    free(buf);

    if (fp != stdin) {
        fclose(fp);
    }

    llo_rules_free(rules);

    return rc;
}


/* every rule's verdict on a call: fired, -, or not applied (match) */

static void
llo_rules_print(const llo_rules_t *rules, const llo_verdict_t *v)
{
    size_t  i;

    for (i = 0; i < llo_rules_count(rules); i++) {
        printf("  %-11s %-24s %s\n",
               llo_verdict_fired(v, i) ? "fired"
               : llo_verdict_applied(v, i) ? "-" : "not matched",
               llo_rules_name(rules, i),
               llo_rules_kind_name(llo_rules_kind(rules, i)));
    }
}


static int
llo_rules_test_since(const char *file, const char *since,
    const llo_conf_t *conf)
{
    int             rc;
    char            err[1024];
    size_t          i;
    int64_t         secs;
    llo_pg_t        pg;
    llo_rules_t    *rules;
    llo_cli_run_t   run;

    rules = llo_cli_open(file, since, conf, &run, &pg, &secs);
    if (rules == NULL) {
        return 1;
    }

    rc = 1;

    printf("rules \"%s\", version %s, on the calls of the last %s\n", file,
           llo_rules_version(rules), since);

    if (llo_pg_calls_since(&pg, secs, llo_cli_compare, &run, err,
                           sizeof(err))
        != 0)
    {
        fprintf(stderr, "llm-evaluator: %s\n", err);
        goto done;
    }

    printf("\n%llu calls: %llu would change score (%llu lower, %llu "
           "higher), %llu had no verdict, %llu were scored by this "
           "version\n", (unsigned long long) run.calls,
           (unsigned long long) run.changed, (unsigned long long) run.lower,
           (unsigned long long) run.higher,
           (unsigned long long) run.unscored,
           (unsigned long long) run.same_version);

    printf("\n  score  stored   new\n");

    for (i = 5; i >= 1; i--) {
        printf("  %zu      %-8llu %llu\n", i,
               (unsigned long long) run.old_scores[i],
               (unsigned long long) run.new_scores[i]);
    }

    printf("  flagged %-7llu %llu (below %d)\n",
           (unsigned long long) run.old_flagged,
           (unsigned long long) run.new_flagged, run.flag_below);

    printf("\n  rule                     fired: stored   new\n");

    for (i = 0; i < llo_rules_count(rules); i++) {
        printf("  %-24s        %-8llu %llu\n", llo_rules_name(rules, i),
               (unsigned long long) run.old_fired[i],
               (unsigned long long) run.new_fired[i]);
    }

    rc = 0;

done:

    llo_cli_close(&run, &pg, rules);

    return rc;
}


/* one stored call scored again, and told when its score would move */

static int
llo_cli_compare(void *data, PGresult *res, int row)
{
    llo_cli_run_t  *run = data;

    int                 old;
    char               *fired, *w, *save;
    size_t              i;
    llo_verdict_t       v;
    llo_rules_call_t    call;

    llo_cli_call(res, row, &call);
    llo_rules_score(run->rules, NULL, &call, run->flag_below, &v);

    run->calls++;
    run->new_scores[v.score]++;
    run->new_flagged += v.flagged;

    for (i = 0; i < llo_rules_count(run->rules); i++) {
        run->new_fired[i] += llo_verdict_fired(&v, i);
    }

    if (PQgetisnull(res, row, LLO_PG_CALL_V_SCORE)) {
        run->unscored++;
        return 0;
    }

    old = atoi(PQgetvalue(res, row, LLO_PG_CALL_V_SCORE));
    old = old >= 1 && old <= 5 ? old : 1;

    run->old_scores[old]++;
    run->old_flagged += PQgetvalue(res, row, LLO_PG_CALL_V_FLAGGED)[0] == 't';

    if (strcmp(PQgetvalue(res, row, LLO_PG_CALL_V_VERSION),
               llo_rules_version(run->rules)) == 0)
    {
        run->same_version++;
    }

    /* the stored verdict's rules, counted under the same names */
    fired = strdup(PQgetvalue(res, row, LLO_PG_CALL_V_FIRED));

    for (w = fired ? strtok_r(fired, " ", &save) : NULL; w != NULL;
         w = strtok_r(NULL, " ", &save))
    {
        for (i = 0; i < llo_rules_count(run->rules); i++) {
            if (strcmp(llo_rules_name(run->rules, i), w) == 0) {
                run->old_fired[i]++;
                break;
            }
        }
    }

    free(fired);

    if (old == v.score) {
        return 0;
    }

    if (run->changed++ == 0) {
        printf("\n  call                                 ts"
               "                             score\n");
    }

    if (old > v.score) {
        run->lower++;

    } else {
        run->higher++;
    }

    if (run->changed <= LLO_CLI_CHANGES_SHOWN) {
        printf("  %s %s  %d -> %d  (%s -> %s)\n",
               PQgetvalue(res, row, LLO_PG_CALL_ID),
               PQgetvalue(res, row, LLO_PG_CALL_TS), old, v.score,
               PQgetisnull(res, row, LLO_PG_CALL_V_LABEL)
               ? "-" : PQgetvalue(res, row, LLO_PG_CALL_V_LABEL),
               v.label ? v.label : "-");

    } else if (run->changed == LLO_CLI_CHANGES_SHOWN + 1) {
        printf("  ... (the first %d shown)\n", LLO_CLI_CHANGES_SHOWN);
    }

    return 0;
}


int
llo_rescore_cmd(int argc, char **argv, const llo_conf_t *conf)
{
    int             rc;
    char            err[1024];
    int64_t         secs;
    llo_pg_t        pg;
    llo_rules_t    *rules;
    llo_cli_run_t   run;

    if (argc != 2 || strcmp(argv[0], "--since") != 0) {
        fprintf(stderr, "usage: llm-evaluator [-c conf] rescore --since "
                "DURATION\n");
        return 1;
    }

    if (conf->rules_file[0] == '\0') {
        fprintf(stderr, "llm-evaluator: rescore: no rules_file in the "
                "configuration\n");
        return 1;
    }

    rules = llo_cli_open(conf->rules_file, argv[1], conf, &run, &pg, &secs);
    if (rules == NULL) {
        return 1;
    }

    rc = 1;
    run.pg = &pg;

    if (llo_pg_calls_since(&pg, secs, llo_cli_rescore, &run, err,
                           sizeof(err))
        != 0
        || llo_cli_flush(&run) != 0)
    {
        fprintf(stderr, "llm-evaluator: %s\n", run.err[0] ? run.err : err);
        goto done;
    }

    printf("rescore: %llu calls of the last %s, %llu scored with rules "
           "version %s, %llu new verdicts; %llu had one of this version\n",
           (unsigned long long) run.calls, argv[1],
           (unsigned long long) run.scored, llo_rules_version(rules),
           (unsigned long long) run.inserted,
           (unsigned long long) run.same_version);

    rc = 0;

done:

    llo_cli_close(&run, &pg, rules);

    return rc;
}


static int
llo_cli_rescore(void *data, PGresult *res, int row)
{
    llo_cli_run_t  *run = data;

    const char         *id, *ts, *version;
    llo_verdict_t       v;
    llo_rules_call_t    call;

    run->calls++;

    version = PQgetvalue(res, row, LLO_PG_CALL_V_VERSION);

    if (strcmp(version, llo_rules_version(run->rules)) == 0) {
        run->same_version++;
        return 0;
    }

    llo_cli_call(res, row, &call);

    id = PQgetvalue(res, row, LLO_PG_CALL_ID);
    ts = PQgetvalue(res, row, LLO_PG_CALL_TS);

    /* PostgreSQL's own text of a uuid and a timestamptz: COPY-safe */
    llo_buf_add(&run->copy, id, strlen(id));
    llo_buf_add(&run->copy, "\t", 1);
    llo_buf_add(&run->copy, ts, strlen(ts));
    llo_verdict_row(&run->copy, run->rules, NULL, &call, run->flag_below,
                    &v);

    run->scored++;

    if (++run->pending == LLO_CLI_RESCORE_BATCH) {
        return llo_cli_flush(run);
    }

    return 0;
}


/* the verdicts made so far, in one transaction */

static int
llo_cli_flush(llo_cli_run_t *run)
{
    uint64_t  n;

    if (run->pending == 0) {
        return 0;
    }

    if (llo_pg_begin(run->pg, run->err, sizeof(run->err)) != 0
        || llo_pg_verdicts(run->pg, run->copy.data, run->copy.len,
                           LLO_PG_VERDICTS_VERSION, &n,
                           run->err, sizeof(run->err))
           != 0
        || llo_pg_commit(run->pg, run->err, sizeof(run->err)) != 0)
    {
        llo_pg_rollback(run->pg);
        return -1;
    }

    run->inserted += n;
    run->pending = 0;
    run->copy.len = 0;

    return 0;
}


/*
 * What a command on stored calls starts with: the duration, the rules of
 * file, the run, the connection; NULL after saying why on stderr.
 */

static llo_rules_t *
llo_cli_open(const char *file, const char *since, const llo_conf_t *conf,
    llo_cli_run_t *run, llo_pg_t *pg, int64_t *secs)
{
    char          err[1024];
    llo_rules_t  *rules;

    memset(pg, 0, sizeof(llo_pg_t));
    memset(run, 0, sizeof(llo_cli_run_t));

    *secs = llo_duration_s(since);
    if (*secs < 0) {
        fprintf(stderr, "llm-evaluator: invalid duration \"%s\" (expected "
                "N followed by s, m, h, d or w, e.g. 24h)\n", since);
        return NULL;
    }

    rules = llo_rules_load(file, err, sizeof(err));
    if (rules == NULL) {
        fprintf(stderr, "llm-evaluator: %s\n", err);
        return NULL;
    }

    if (llo_cli_run_init(run, rules, (int) conf->flag_below) != 0) {
        llo_cli_close(run, pg, rules);
        return NULL;
    }

    if (llo_pg_connect(pg, conf->pg_conninfo, err, sizeof(err)) != 0) {
        fprintf(stderr, "llm-evaluator: %s\n", err);
        llo_cli_close(run, pg, rules);
        return NULL;
    }

    return rules;
}


static void
llo_cli_close(llo_cli_run_t *run, llo_pg_t *pg, llo_rules_t *rules)
{
    llo_cli_run_free(run);
    llo_pg_free(pg);
    llo_rules_free(rules);
}


/* what the rules see of a stored call */

static void
llo_cli_call(PGresult *res, int row, llo_rules_call_t *call)
{
    int                 i;
    llo_rules_str_t    *s;

    static const struct {
        int             col;
        size_t          offset;
    } strs[] = {
        { LLO_PG_CALL_PROVIDER, llo_call_off(provider) },
        { LLO_PG_CALL_API, llo_call_off(api) },
        { LLO_PG_CALL_MODEL, llo_call_off(model) },
        { LLO_PG_CALL_KEY, llo_call_off(key) },
        { LLO_PG_CALL_TEAM, llo_call_off(team) },
        { LLO_PG_CALL_PROMPT, llo_call_off(prompt) },
        { LLO_PG_CALL_RESPONSE, llo_call_off(response) },
        { LLO_PG_CALL_FINISH, llo_call_off(finish_reason) },
        { LLO_PG_CALL_ERROR_TYPE, llo_call_off(error_type) },
        { LLO_PG_CALL_RESPONSE_FORMAT, llo_call_off(response_format) },
    }, nums[] = {
        { LLO_PG_CALL_STATUS, llo_call_off(status) },
        { LLO_PG_CALL_MAX_TOKENS, llo_call_off(max_tokens) },
        { LLO_PG_CALL_COMPLETION, llo_call_off(completion_tokens) },
        { LLO_PG_CALL_TTFT, llo_call_off(ttft_ms) },
        { LLO_PG_CALL_LATENCY, llo_call_off(latency_ms) },
    };

    memset(call, 0, sizeof(llo_rules_call_t));

    for (i = 0; i < (int) (sizeof(strs) / sizeof(strs[0])); i++) {
        if (PQgetisnull(res, row, strs[i].col)) {
            continue;
        }

        s = (llo_rules_str_t *) ((char *) call + strs[i].offset);
        s->data = PQgetvalue(res, row, strs[i].col);
        s->len = (size_t) PQgetlength(res, row, strs[i].col);
    }

    /* milliseconds are stored with fractions: the rules take whole ones */
    for (i = 0; i < (int) (sizeof(nums) / sizeof(nums[0])); i++) {
        *(int64_t *) ((char *) call + nums[i].offset) =
            PQgetisnull(res, row, nums[i].col)
            ? -1 : (int64_t) strtod(PQgetvalue(res, row, nums[i].col), NULL);
    }

    call->incomplete = PQgetvalue(res, row, LLO_PG_CALL_INCOMPLETE)[0] == 't';
    call->cut = PQgetvalue(res, row, LLO_PG_CALL_CUT)[0] == 't';
    call->refused = PQgetlength(res, row, LLO_PG_CALL_REFUSED) > 0;
    call->response_truncated =
        PQgetvalue(res, row, LLO_PG_CALL_RESPONSE_TRUNCATED)[0] == 't';
}


static int
llo_cli_run_init(llo_cli_run_t *run, const llo_rules_t *rules,
    int flag_below)
{
    size_t  n;

    memset(run, 0, sizeof(llo_cli_run_t));
    run->rules = rules;
    run->flag_below = flag_below;

    n = llo_rules_count(rules) + 1;
    run->old_fired = calloc(n, sizeof(uint64_t));
    run->new_fired = calloc(n, sizeof(uint64_t));

    if (run->old_fired == NULL || run->new_fired == NULL) {
        fprintf(stderr, "llm-evaluator: out of memory\n");
        return -1;
    }

    return 0;
}


static void
llo_cli_run_free(llo_cli_run_t *run)
{
    free(run->old_fired);
    free(run->new_fired);
    llo_buf_free(&run->copy);
    run->old_fired = NULL;
    run->new_fired = NULL;
}
