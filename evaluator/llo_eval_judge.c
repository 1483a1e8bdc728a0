/*
 * llm-evaluator's LLM judge, the queue side: see llo_eval_judge.h.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yajl/yajl_gen.h>

#include "llo_parse.h"
#include "llo_eval_judge.h"
#include "llo_eval_log.h"


#define LLO_JUDGE_TICK_MS       500
#define LLO_JUDGE_PRICES_MAX    4096


static void llo_judge_reset(void *data);
static int llo_judge_prepare(void *data, const llo_row_t *rows, size_t n);
static size_t llo_judge_pending(void *data);
static int llo_judge_apply(void *data, llo_pg_t *pg, size_t lo, size_t hi,
    int all_new, char *err, size_t errlen);
static void llo_judge_drop(void *data, size_t row, const char *why);
static void llo_judge_committed(void *data);
static int llo_judge_chosen(llo_judge_t *j, const llo_rec_t *rec,
    uint64_t instance, uint64_t seq, size_t row);
static void llo_judge_tick(llo_loop_t *loop, llo_timer_t *t);
static int llo_judge_budget(llo_judge_t *j);
static void llo_judge_done(void *data, uint64_t job,
    const llo_judge_outcome_t *o);
static int llo_judge_store(llo_judge_t *j, llo_judge_slot_t *s,
    const llo_judge_outcome_t *o, int64_t *cost);
static void llo_judge_retry(llo_judge_t *j, llo_judge_slot_t *s,
    const llo_judge_outcome_t *o);
static int llo_judge_prices(llo_judge_t *j, const char *path, char *err,
    size_t errlen);
static char *llo_judge_key(const llo_conf_t *conf, char *err,
    size_t errlen);
static int64_t llo_judge_nano(const char *s);
static int64_t llo_judge_cost(llo_judge_t *j, const llo_judge_result_t *r,
    char *usd, size_t len);


/* -- configure ------------------------------------------------------------ */


int
llo_judge_configure(llo_judge_t *j, const llo_conf_t *conf, char *err,
    size_t errlen)
{
    char                 *key;
    llo_judge_t           nj;
    llo_rules_filter_t   *filter;

    if (conf->judge_url[0] == '\0') {
        j->conf = conf;
        return 0;
    }

    if (strncmp(conf->judge_url, "http://", 7) != 0
        && strncmp(conf->judge_url, "https://", 8) != 0)
    {
        snprintf(err, errlen, "invalid judge_url \"%s\" (expected an "
                 "http:// or https:// base URL)", conf->judge_url);
        return -1;
    }

    filter = NULL;

    if (conf->judge_match[0] != '\0') {
        filter = llo_rules_filter_parse(conf->judge_match, err, errlen);
        if (filter == NULL) {
            return -1;
        }
    }

    memset(&nj, 0, sizeof(llo_judge_t));

    if (conf->judge_prices[0] != '\0'
        && llo_judge_prices(&nj, conf->judge_prices, err, errlen) != 0)
    {
        llo_rules_filter_free(filter);
        return -1;
    }

    key = llo_judge_key(conf, err, errlen);
    if (key == NULL && err[0] != '\0') {
        llo_rules_filter_free(filter);
        free(nj.prices);
        return -1;
    }

    /* all of it loaded: the new settings replace the old */
    if (j->filter != NULL) {
        llo_rules_filter_free(j->filter);
    }

    free(j->prices);

    if (j->api_key != NULL) {
        memset(j->api_key, 0, strlen(j->api_key));
        free(j->api_key);
    }

    j->conf = conf;
    j->filter = filter;
    j->prices = nj.prices;
    j->nprices = nj.nprices;
    j->api_key = key;
    snprintf(j->evaluator, sizeof(j->evaluator), "judge:%s",
             conf->judge_model);

    /* the client is made again with the new settings once it is idle */
    j->renew = j->client != NULL;

    return 0;
}


/*
 * The key from judge_api_key_file, else the environment variable named
 * by judge_api_key_env; NULL with err[0] == '\0' when neither is set (a
 * judge on loopback may need none), NULL with err when one fails.
 */

static char *
llo_judge_key(const llo_conf_t *conf, char *err, size_t errlen)
{
    char        *key;
    const char  *v;

    err[0] = '\0';

    if (conf->judge_api_key_file[0] != '\0') {
        return llo_conf_secret(conf->judge_api_key_file, "judge_api_key_file",
                               err, errlen);
    } else if (conf->judge_api_key_env[0] != '\0') {
        v = getenv(conf->judge_api_key_env);

        if (v == NULL || *v == '\0') {
            snprintf(err, errlen, "judge_api_key_env: the environment "
                     "variable %s is not set", conf->judge_api_key_env);
            return NULL;
        }

    } else {
        return NULL;
    }

    key = strdup(v);

    if (key == NULL) {
        snprintf(err, errlen, "out of memory");
    }

    return key;
}


/*
 * The price list nginx reads (conf.d/llm_prices.conf): its
 * "llm_observer_price MODEL input=... output=...;" lines, comments and
 * blank lines; errors name file:line.
 */

static int
llo_judge_prices(llo_judge_t *j, const char *path, char *err, size_t errlen)
{
    int           line, rc;
    FILE         *f;
    char         *buf, *p, *w, *save;
    size_t        cap, pcap;
    ssize_t       len;
    llo_price_t  *price;
    char          why[256];

    f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open judge_prices \"%s\": %s", path,
                 strerror(errno));
        return -1;
    }

    buf = NULL;
    cap = 0;
    pcap = 0;
    line = 0;
    rc = 0;

    while ((len = getline(&buf, &cap, f)) != -1) {
        line++;

        p = buf + strspn(buf, " \t");
        p[strcspn(p, "#")] = '\0';

        w = strtok_r(p, " \t\r\n;", &save);

        if (w == NULL) {
            continue;
        }

        if (strcmp(w, "llm_observer_price") != 0) {
            snprintf(err, errlen, "%s:%d: unexpected \"%s\", expected "
                     "\"llm_observer_price\"", path, line, w);
            rc = -1;
            break;
        }

        if (j->nprices == LLO_JUDGE_PRICES_MAX
            || llo_grow_array(&j->prices, &pcap, j->nprices + 1,
                              sizeof(llo_price_t), 64) != 0)
        {
            snprintf(err, errlen, "%s:%d: too many prices", path, line);
            rc = -1;
            break;
        }

        price = &j->prices[j->nprices];
        llo_price_init(price);

        w = strtok_r(NULL, " \t\r\n;", &save);

        if (w == NULL
            || llo_price_model(price, w, strlen(w), why, sizeof(why)) != 0)
        {
            snprintf(err, errlen, "%s:%d: %s", path, line,
                     w ? why : "a model is missing");
            rc = -1;
            break;
        }

        while ((w = strtok_r(NULL, " \t\r\n;", &save)) != NULL) {
            if (llo_price_param(price, w, strlen(w), why, sizeof(why))
                != 0)
            {
                break;
            }
        }

        if (w != NULL || llo_price_check(price, why, sizeof(why)) != 0) {
            snprintf(err, errlen, "%s:%d: %s", path, line, why);
            rc = -1;
            break;
        }

        j->nprices++;
    }

    free(buf);
    fclose(f);

    if (rc != 0) {
        free(j->prices);
        j->prices = NULL;
        j->nprices = 0;
    }

    return rc;
}


/* -- choose: a row sink ---------------------------------------------------- */


void
llo_judge_sink(llo_judge_t *j, llo_verdicts_t *verdicts,
    llo_row_sink_t *sink)
{
    memset(sink, 0, sizeof(llo_row_sink_t));

    j->verdicts = verdicts;

    sink->name = "judge queue";
    sink->data = j;
    sink->reset = llo_judge_reset;
    sink->prepare = llo_judge_prepare;
    sink->pending = llo_judge_pending;
    sink->apply = llo_judge_apply;
    sink->drop = llo_judge_drop;
    sink->committed = llo_judge_committed;
}


static void
llo_judge_reset(void *data)
{
    llo_judge_t  *j = data;

    j->chosen.len = 0;
    j->nrows = 0;
}


/*
 * On the drain's thread, after the verdicts' sink (registered before it)
 * has scored the same rows.
 */

static int
llo_judge_prepare(void *data, const llo_row_t *rows, size_t n)
{
    llo_judge_t  *j = data;

    size_t  row;

    if (llo_grow_array(&j->row_off, &j->rows_cap, n, sizeof(size_t), 1024)
        != 0)
    {
        return -1;
    }

    for (row = 0; row < n; row++) {
        j->row_off[row] = j->chosen.len;

        if (j->conf == NULL || j->conf->judge_url[0] == '\0'
            || !llo_judge_chosen(j, &rows[row].rec, rows[row].instance,
                                 rows[row].seq, row))
        {
            continue;
        }

        /* "id<TAB>ts\n", as the verdicts', for the arrays of apply() */
        if (llo_copy_key(&j->chosen, &rows[row].rec, rows[row].instance,
                         rows[row].seq)
            == 0)
        {
            llo_buf_add(&j->chosen, "\n", 1);
        }
    }

    j->nrows = n;

    return 0;
}


/*
 * judge_sample_percent by the record's sequence number, mixed: the same
 * calls are chosen when a batch is read again.
 */

static int
llo_judge_chosen(llo_judge_t *j, const llo_rec_t *rec, uint64_t instance,
    uint64_t seq, size_t row)
{
    uint64_t                  h;
    llo_rules_call_t          call;
    const llo_conf_t         *conf;
    const llo_verdict_row_t  *v;

    conf = j->conf;

    h = seq ^ instance;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    h ^= h >> 31;

    if ((int64_t) (h % 100) >= conf->judge_sample_percent) {
        return 0;
    }

    /* the rules' verdict: no rules, no verdict, score 5 */
    v = j->verdicts != NULL && row < j->verdicts->nrows
        ? &j->verdicts->rows[row] : NULL;

    if (v != NULL && v->scored) {
        if (v->score > conf->judge_max_score) {
            return 0;
        }

    } else if (conf->judge_max_score < 5) {
        return 0;
    }

    if (conf->judge_flagged_only && (v == NULL || !v->flagged)) {
        return 0;
    }

    if (j->filter != NULL) {
        llo_verdict_call(rec, &call);

        if (!llo_rules_filter_matches(j->filter, &call)) {
            return 0;
        }
    }

    /* nothing to judge without an answer */
    return llo_rec_has_str(rec, LLO_S_RESPONSE_TEXT)
           && llo_rec_get_str(rec, LLO_S_RESPONSE_TEXT)->len > 0;
}


static size_t
llo_judge_pending(void *data)
{
    llo_judge_t  *j = data;

    return j->chosen.len;
}


/*
 * The chosen calls of rows [lo, hi) into the queue, unless the judge has
 * judged them already (a batch read again after it did).
 */

static int
llo_judge_apply(void *data, llo_pg_t *pg, size_t lo, size_t hi,
    int all_new, char *err, size_t errlen)
{
    llo_judge_t  *j = data;

    char        *text;
    size_t       start, end;
    PGresult    *res;
    const char  *params[2];

    start = j->row_off[lo];
    end = hi < j->nrows ? j->row_off[hi] : j->chosen.len;

    if (start == end) {
        return 0;
    }

    text = strndup(j->chosen.data + start, end - start);
    if (text == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    params[0] = text;
    params[1] = j->evaluator;

    res = PQexecParams(pg->conn,
        "INSERT INTO llm_judge_queue (id, ts) "
        "SELECT split_part(l, E'\\t', 1)::uuid, "
        "split_part(l, E'\\t', 2)::timestamptz "
        "FROM unnest(string_to_array(rtrim($1, E'\\n'), E'\\n')) AS l "
        "WHERE NOT EXISTS (SELECT 1 FROM llm_evaluations e "
        "WHERE e.id = split_part(l, E'\\t', 1)::uuid "
        "AND e.ts = split_part(l, E'\\t', 2)::timestamptz "
        "AND e.evaluator = $2) "
        "ON CONFLICT DO NOTHING", 2, NULL, params, NULL, NULL, 0);

    free(text);

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        return llo_pg_fail(pg, res, "INSERT INTO llm_judge_queue", err,
                           errlen);
    }

    PQclear(res);

    return 0;
}


static void
llo_judge_drop(void *data, size_t row, const char *why)
{
    /* a row left out, or stored without its parts: its call is not
     * judged (it is logged and counted with the rows) */
}


static void
llo_judge_committed(void *data)
{
    llo_judge_t  *j = data;

    const char  *p, *end;

    end = j->chosen.data + j->chosen.len;

    for (p = j->chosen.data; p != NULL && p < end; p++) {
        p = memchr(p, '\n', (size_t) (end - p));

        if (p == NULL) {
            break;
        }

        j->queued++;
    }

    /* new work: the timer looks at once */
    if (j->chosen.len > 0 && j->loop != NULL) {
        llo_timer_in(&j->timer, 0);
    }
}


/* -- work ---------------------------------------------------------------- */


int
llo_judge_start(llo_judge_t *j, llo_loop_t *loop, llo_pg_t *pg, char *err,
    size_t errlen)
{
    j->loop = loop;
    j->pg = pg;
    j->spent = -1;

    if (llo_loop_timer(loop, &j->timer, "judge", llo_judge_tick, j) != 0) {
        snprintf(err, errlen, "no timer left for the judge");
        return -1;
    }

    llo_timer_in(&j->timer, 0);

    return 0;
}


static void
llo_judge_tick(llo_loop_t *loop, llo_timer_t *t)
{
    llo_judge_t  *j = t->data;

    int                i, k, n, nfree;
    char               limit[16], err[LLO_JUDGE_ERR_LEN], *ids;
    size_t             len;
    PGresult          *res;
    llo_judge_conf_t   jc;
    llo_judge_slot_t  *s;
    const char        *params[2];

    llo_timer_in(t, LLO_JUDGE_TICK_MS);

    if (j->conf == NULL || j->conf->judge_url[0] == '\0'
        || j->pg->conn == NULL)
    {
        return;
    }

    if (j->renew && llo_judge_inflight(j->client) == 0) {
        llo_judge_client_free(j->client);
        j->client = NULL;
        j->renew = 0;
    }

    if (j->client == NULL) {
        memset(&jc, 0, sizeof(llo_judge_conf_t));
        jc.base_url = j->conf->judge_url;
        jc.model = j->conf->judge_model;
        jc.api_key = j->api_key;
        jc.timeout_ms = j->conf->judge_timeout;
        jc.max_concurrent = (size_t) j->conf->judge_concurrency;

        j->client = llo_judge_client_new(loop, &jc, llo_judge_done, j, err,
                                         sizeof(err));
        if (j->client == NULL) {
            llo_log_limited(LLO_LOG_ERROR, "judge: %s", err);
            return;
        }
    }

    if (llo_judge_budget(j) != 0) {
        return;
    }

    nfree = (int) j->conf->judge_concurrency
            - (int) llo_judge_inflight(j->client);

    if (nfree <= 0 || j->renew) {
        return;
    }

    /* the calls in flight are not asked for twice */
    len = 3;

    for (i = 0; i < LLO_JUDGE_CONCURRENT_MAX; i++) {
        len += j->slots[i].used ? strlen(j->slots[i].id) + 1 : 0;
    }

    ids = malloc(len);
    if (ids == NULL) {
        return;
    }

    ids[0] = '{';
    ids[1] = '\0';

    for (i = 0; i < LLO_JUDGE_CONCURRENT_MAX; i++) {
        if (j->slots[i].used) {
            strcat(ids, ids[1] ? "," : "");
            strcat(ids, j->slots[i].id);
        }
    }

    strcat(ids, "}");
    snprintf(limit, sizeof(limit), "%d", nfree);

    params[0] = ids;
    params[1] = limit;

    res = PQexecParams(j->pg->conn,
        "SELECT q.id, q.ts, q.attempts, r.prompt_text, r.response_text "
        "FROM llm_judge_queue q JOIN llm_requests r USING (id, ts) "
        "WHERE q.failed_at IS NULL AND q.next_at <= now() "
        "AND NOT (q.id = ANY ($1::uuid[])) "
        "ORDER BY q.next_at LIMIT $2::integer", 2, NULL, params, NULL, NULL,
        0);

    free(ids);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        llo_pg_fail(j->pg, res, "judge: SELECT FROM llm_judge_queue", err,
                    sizeof(err));
        llo_log_limited(LLO_LOG_ERROR, "%s", err);
        return;
    }

    n = PQntuples(res);

    for (k = 0; k < n; k++) {
        for (i = 0; i < LLO_JUDGE_CONCURRENT_MAX && j->slots[i].used; i++) {
            /* void */
        }

        if (i == LLO_JUDGE_CONCURRENT_MAX) {
            break;
        }

        s = &j->slots[i];
        snprintf(s->id, sizeof(s->id), "%s", PQgetvalue(res, k, 0));
        snprintf(s->ts, sizeof(s->ts), "%s", PQgetvalue(res, k, 1));
        s->attempts = atoi(PQgetvalue(res, k, 2));

        /* the slot in the low bits, a count above: a late done() of an
         * older job never settles a newer one */
        s->job = (++j->next_job << 8) | (uint64_t) i;

        if (llo_judge_submit(j->client, s->job, PQgetvalue(res, k, 3),
                             (size_t) PQgetlength(res, k, 3),
                             PQgetvalue(res, k, 4),
                             (size_t) PQgetlength(res, k, 4))
            != 0)
        {
            break;
        }

        s->used = 1;
    }

    PQclear(res);
}


/*
 * The day's spend under judge_daily_budget: 0 to go on.  The spend is
 * read from the stored verdicts at start and at each new day (UTC).
 */

static int
llo_judge_budget(llo_judge_t *j)
{
    int         day;
    char        err[LLO_JUDGE_ERR_LEN];
    time_t      now;
    struct tm   tm;
    PGresult   *res;

    now = time(NULL);
    gmtime_r(&now, &tm);
    day = (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;

    if (day != j->day || j->spent < 0) {
        const char  *params[1] = { j->evaluator };

        /* the verdicts' and the answers that were none (approximately:
         * a queue row's spend is counted on the day of its last attempt) */
        res = PQexecParams(j->pg->conn,
            "SELECT (coalesce((SELECT sum(cost_usd) FROM llm_evaluations "
            "WHERE evaluator = $1 "
            "AND created_at >= date_trunc('day', now(), 'UTC')), 0) "
            "+ coalesce((SELECT sum(spent_usd) FROM llm_judge_queue "
            "WHERE last_at >= date_trunc('day', now(), 'UTC')), 0))::text",
            1, NULL, params, NULL, NULL, 0);

        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            llo_pg_fail(j->pg, res, "judge: the day's spend", err,
                        sizeof(err));
            llo_log_limited(LLO_LOG_ERROR, "%s", err);
            return -1;
        }

        j->spent = llo_judge_nano(PQgetvalue(res, 0, 0));
        j->day = day;
        j->cap_logged = 0;
        PQclear(res);
    }

    if (j->spent < j->conf->judge_daily_budget * 1000) {
        return 0;
    }

    if (!j->cap_logged) {
        j->cap_logged = 1;
        llo_log(LLO_LOG_WARN, "judge: judge_daily_budget %lld.%06lld USD "
                "reached (%.6f USD spent today, UTC): no judge calls until "
                "midnight UTC", (long long) (j->conf->judge_daily_budget
                                             / 1000000),
                (long long) (j->conf->judge_daily_budget % 1000000),
                j->spent / 1e9);
    }

    return -1;
}


/* "12.345678901" -> nano-USD */

static int64_t
llo_judge_nano(const char *s)
{
    int      d;
    int64_t  n;

    n = 0;

    for ( /* void */ ; *s >= '0' && *s <= '9'; s++) {
        n = n * 10 + (*s - '0');
    }

    n *= 1000000000;

    if (*s == '.') {
        for (s++, d = 100000000; *s >= '0' && *s <= '9' && d > 0; s++) {
            n += (*s - '0') * d;
            d /= 10;
        }
    }

    return n;
}


/* -- settle -------------------------------------------------------------- */


static void
llo_judge_done(void *data, uint64_t job, const llo_judge_outcome_t *o)
{
    llo_judge_t  *j = data;

    int64_t            cost;
    llo_judge_slot_t  *s;

    s = &j->slots[job & 0xff];

    if ((job & 0xff) >= LLO_JUDGE_CONCURRENT_MAX || !s->used
        || s->job != job)
    {
        return;
    }

    if (j->pg->conn == NULL) {
        /* the queue row stays: it is asked for again */
        llo_log_limited(LLO_LOG_WARN, "judge: call %s answered while "
                        "PostgreSQL is down; it will be judged again",
                        s->id);

    } else if (o->ok) {
        if (llo_judge_store(j, s, o, &cost) == 0) {
            j->judged++;
            j->spent += cost;
            j->cost_total += cost;
        }

    } else {
        llo_judge_retry(j, s, o);
    }

    s->used = 0;

    /* a slot is free: more work at once */
    llo_timer_in(&j->timer, 0);
}


/* the verdict and the queue row's end, in one transaction */

static int
llo_judge_store(llo_judge_t *j, llo_judge_slot_t *s,
    const llo_judge_outcome_t *o, int64_t *cost)
{
    char                       score[8], flagged[2], pt[24], ct[24];
    char                       usd[LLO_COST_FORMAT_LEN], err[1024];
    size_t                     len;
    PGresult                  *res;
    yajl_gen                   g;
    const char                *params[13];
    const unsigned char       *buf;
    const llo_judge_result_t  *r;

    char                       sub[160], *details;

    r = &o->result;
    *cost = llo_judge_cost(j, r, usd, sizeof(usd));

    snprintf(score, sizeof(score), "%d", r->overall);
    snprintf(flagged, sizeof(flagged), "%s",
             r->overall < j->conf->flag_below ? "t" : "f");
    snprintf(pt, sizeof(pt), "%lld", (long long) r->prompt_tokens);
    snprintf(ct, sizeof(ct), "%lld", (long long) r->completion_tokens);
    snprintf(sub, sizeof(sub), "{\"instruction_following\":%d,"
             "\"truthfulness\":%d,\"safety\":%d}", r->instruction_following,
             r->truthfulness, r->safety);

    /* the reason is the judge's text: yajl escapes it */
    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return -1;
    }

    yajl_gen_map_open(g);
    yajl_gen_string(g, (const unsigned char *) "reason", 6);
    yajl_gen_string(g, (const unsigned char *) r->reason, r->reason_len);
    yajl_gen_string(g, (const unsigned char *) "model", 5);
    yajl_gen_string(g, (const unsigned char *) r->model, strlen(r->model));
    yajl_gen_string(g, (const unsigned char *) "attempts", 8);
    yajl_gen_integer(g, s->attempts + 1);
    yajl_gen_map_close(g);

    if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok
        || (details = strndup((const char *) buf, len)) == NULL)
    {
        yajl_gen_free(g);
        return -1;
    }

    yajl_gen_free(g);

    params[0] = s->id;
    params[1] = s->ts;
    params[2] = j->evaluator;
    params[3] = LLO_JUDGE_PROMPT_VERSION;
    params[4] = score;
    params[5] = sub;
    params[6] = flagged;
    params[7] = details;
    params[8] = pt;
    params[9] = ct;
    params[10] = *cost >= 0 ? usd : NULL;

    res = PQexecParams(j->pg->conn,
        "WITH v AS (INSERT INTO llm_evaluations (id, ts, evaluator, "
        "version, score, sub_scores, flagged, details, prompt_tokens, "
        "completion_tokens, cost_usd) VALUES ($1::uuid, $2::timestamptz, "
        "$3, $4, $5::smallint, $6::jsonb, $7::boolean, $8::jsonb, "
        "$9::integer, $10::integer, $11::numeric) ON CONFLICT DO NOTHING) "
        "DELETE FROM llm_judge_queue WHERE id = $1::uuid "
        "AND ts = $2::timestamptz", 11, NULL, params, NULL, NULL, 0);

    free(details);

    /* one statement: its own transaction, all or nothing */
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        llo_pg_fail(j->pg, res, "judge: INSERT INTO llm_evaluations", err,
                    sizeof(err));
        llo_log_limited(LLO_LOG_ERROR, "%s; call %s will be judged again",
                        err, s->id);
        return -1;
    }

    PQclear(res);

    llo_log(LLO_LOG_DEBUG, "judge: call %s: overall %d (%s)", s->id,
            r->overall, *cost >= 0 ? usd : "no price");

    *cost = *cost > 0 ? *cost : 0;

    return 0;
}


/*
 * What the judge's answer cost by the price list, in nano-USD, usd its
 * text; -1 when the model has no price or the answer no usage.
 */

static int64_t
llo_judge_cost(llo_judge_t *j, const llo_judge_result_t *r, char *usd,
    size_t len)
{
    int64_t             cost;
    const llo_price_t  *price;

    price = llo_price_find(j->prices, j->nprices, j->conf->judge_model,
                           strlen(j->conf->judge_model));

    if (price == NULL) {
        return -1;
    }

    cost = llo_cost_nano(price, r->prompt_tokens > 0 ? r->prompt_tokens : -1,
                         0, 0,
                         r->completion_tokens > 0 ? r->completion_tokens : -1);

    if (cost >= 0) {
        llo_cost_format_nano(cost, usd, len);
    }

    return cost;
}


/*
 * No verdict: again after a backoff when the failure may pass (429, 5xx,
 * timeouts, connections) and attempts are left; else a recorded failure.
 * An answer that is no valid verdict is final: the same prompt at
 * temperature 0 gives the same answer.
 */

static void
llo_judge_retry(llo_judge_t *j, llo_judge_slot_t *s,
    const llo_judge_outcome_t *o)
{
    int          attempts;
    char         delay[32], status[16], err[1024], usd[LLO_COST_FORMAT_LEN];
    int64_t      ms, cost;
    PGresult    *res;
    const char  *why, *params[6];

    attempts = s->attempts + 1;
    why = o->cause[0] ? o->cause : o->curl_error[0] ? o->curl_error
          : "no verdict";

    ms = o->status >= 200 && o->status <= 299
         ? -1 : llo_judge_retry_ms((unsigned) attempts, o->status,
                                   o->retry_after, time(NULL),
                                   (uint32_t) random());

    if (attempts >= j->conf->judge_max_attempts) {
        ms = -1;
    }

    snprintf(delay, sizeof(delay), "%lld", (long long) (ms < 0 ? 0 : ms));
    snprintf(status, sizeof(status), "%ld", o->status);

    params[0] = s->id;
    params[1] = s->ts;
    params[2] = status;
    params[3] = why;
    params[4] = ms < 0 ? NULL : delay;

    /* an answer that was no verdict was paid for all the same */
    cost = llo_judge_cost(j, &o->result, usd, sizeof(usd));
    params[5] = cost > 0 ? usd : "0";

    res = PQexecParams(j->pg->conn,
        "UPDATE llm_judge_queue SET attempts = attempts + 1, "
        "last_at = now(), last_status = $3::integer, last_error = $4, "
        "spent_usd = spent_usd + $6::numeric, "
        "next_at = now() + coalesce($5::bigint, 0) * interval '1 ms', "
        "failed_at = CASE WHEN $5 IS NULL THEN now() END "
        "WHERE id = $1::uuid AND ts = $2::timestamptz", 6, NULL, params,
        NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        llo_pg_fail(j->pg, res, "judge: UPDATE llm_judge_queue", err,
                    sizeof(err));
        llo_log_limited(LLO_LOG_ERROR, "%s", err);
        return;
    }

    PQclear(res);

    j->spent += cost > 0 ? cost : 0;
    j->cost_total += cost > 0 ? cost : 0;

    if (ms < 0) {
        j->failed++;
        llo_log(LLO_LOG_WARN, "judge: call %s not judged after %d "
                "attempt%s: %s (HTTP %ld)", s->id, attempts,
                attempts == 1 ? "" : "s", why, o->status);

    } else {
        j->retried++;
        llo_log(LLO_LOG_INFO, "judge: call %s: %s (HTTP %ld); again in "
                "%lld ms", s->id, why, o->status, (long long) ms);
    }
}


void
llo_judge_free(llo_judge_t *j)
{
    if (j->client != NULL) {
        llo_judge_client_free(j->client);
        j->client = NULL;
    }

    if (j->filter != NULL) {
        llo_rules_filter_free(j->filter);
        j->filter = NULL;
    }

    if (j->api_key != NULL) {
        memset(j->api_key, 0, strlen(j->api_key));
        free(j->api_key);
        j->api_key = NULL;
    }

    free(j->prices);
    free(j->row_off);
    llo_buf_free(&j->chosen);
    j->prices = NULL;
    j->row_off = NULL;
}
