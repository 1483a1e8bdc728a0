/*
 * llm-evaluator's per-call metrics: see llo_eval_callmetrics.h.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llo_parse.h"
#include "llo_eval_callmetrics.h"
#include "llo_eval_log.h"


/* seconds: from a cached 50 ms answer to a long reasoning stream */
static const double  llo_cm_seconds[] = {
    0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 90, 120
};

#define LLO_CM_NSECONDS  (sizeof(llo_cm_seconds) / sizeof(double))
#define LLO_CM_NSCORES   5


/*
 * A family's series: the label text ("provider=\"openai\",...") and a
 * fixed number of values, in an open-addressing table.
 */

typedef struct {
    char               *labels;         /* NULL: a free slot */
    uint64_t           *v;
} llo_cm_series_t;

typedef struct {
    llo_cm_series_t    *slots;
    size_t              size;           /* a power of 2 */
    size_t              n;
    size_t              nv;             /* values per series */
} llo_cm_family_t;


/*
 * What one row adds, taken from its record on the drain's thread: the
 * record points into the ring, which is zeroed once released, before the
 * counts are added at COMMIT.
 */

typedef struct {
    uint64_t            instance;
    uint64_t            seq;
    const char         *model;          /* capped: a model, or "other" */
    char                provider[32];
    char                key[64];
    char                refused[16];
    int64_t             status;
    int64_t             tokens[4];      /* prompt, completion, cached,
                                           reasoning; -1: none */
    int64_t             cost;           /* nano-USD, -1: none */
    int64_t             latency_us;     /* -1: none */
    int64_t             ttft_us;
    int64_t             ts_us;
    unsigned            isnew:1;        /* new to llm_requests */
} llo_cm_row_t;


enum {
    LLO_CM_REQUESTS = 0,
    LLO_CM_TOKENS,                  /* prompt, completion, cached, reasoning */
    LLO_CM_COST,                    /* nano-USD */
    LLO_CM_DURATION,                /* buckets, count, sum in us */
    LLO_CM_TTFT,
    LLO_CM_LIMITED,
    LLO_CM_EVALUATIONS,
    LLO_CM_SCORES,                  /* buckets 1..5, count, sum */
    LLO_CM_LOW,
    LLO_CM_FAMILIES
};


struct llo_cm_s {
    llo_cm_family_t     f[LLO_CM_FAMILIES];

    char              **models;         /* metrics_models, then seen */
    size_t              nconf;
    size_t              nmodels;
    size_t              max_seen;

    llo_verdicts_t     *verdicts;
    llo_cm_row_t       *rows;
    size_t              nrows;
    size_t              rows_cap;

    int64_t             last_ts_us;     /* of the newest row stored */
};


static const struct {
    const char         *name;
    const char         *type;
    const char         *help;
    size_t              nv;
} llo_cm_families[LLO_CM_FAMILIES] = {
    { "llm_gateway_requests_total", "counter",
      "LLM API calls observed by nginx and stored", 1 },
    { "llm_gateway_token_usage_total", "counter",
      "Tokens of the calls, by type (prompt includes cached; completion "
      "includes reasoning)", 4 },
    { "llm_gateway_cost_usd_total", "counter",
      "What the calls cost by the price list, USD", 1 },
    { "llm_gateway_request_duration_seconds", "histogram",
      "Time from the request to the end of the response",
      LLO_CM_NSECONDS + 2 },
    { "llm_gateway_time_to_first_token_seconds", "histogram",
      "Time from the request to the first byte of the answer's text",
      LLO_CM_NSECONDS + 2 },
    { "llm_gateway_rate_limited_total", "counter",
      "Calls the module refused itself, by the limit or check that refused "
      "them", 1 },
    { "llm_evaluator_evaluations_total", "counter",
      "Verdicts at ingest: stored with their call, or dropped", 1 },
    { "llm_evaluator_evaluation_score", "histogram",
      "Scores of the verdicts stored at ingest", LLO_CM_NSCORES + 2 },
    { "llm_evaluator_low_quality_total", "counter",
      "Flagged verdicts, by the label of the rule that named them", 1 },
};


static int llo_cm_family_init(llo_cm_family_t *f, size_t nv);
static uint64_t *llo_cm_series(llo_cm_family_t *f, const char *labels);
static size_t llo_cm_label(char *buf, size_t len, const char *name,
    const llo_str_t *value, int first);
static const char *llo_cm_model(llo_cm_t *cm, const llo_rec_t *rec);
static void llo_cm_count(llo_cm_t *cm, const llo_cm_row_t *r,
    const llo_verdict_row_t *v);
static void llo_cm_hist(uint64_t *v, const double *bounds, size_t n,
    int64_t us);
static void llo_cm_str(const llo_rec_t *rec, int id, llo_str_t *s);
static void llo_cm_take(llo_cm_row_t *r, const llo_rec_t *rec);
static void llo_cm_copy(const llo_rec_t *rec, int id, char *buf,
    size_t len);

static void llo_cm_reset(void *data);
static int llo_cm_prepare(void *data, const llo_row_t *rows, size_t n);
static size_t llo_cm_pending(void *data);
static int llo_cm_apply(void *data, llo_pg_t *pg, size_t lo, size_t hi,
    int all_new, char *err, size_t errlen);
static void llo_cm_drop(void *data, size_t row, const char *why);
static void llo_cm_committed(void *data);


llo_cm_t *
llo_cm_new(const char *models, size_t max_models)
{
    char       *copy, *w, *save;
    size_t      i, n;
    llo_cm_t   *cm;

    cm = calloc(1, sizeof(llo_cm_t));
    if (cm == NULL) {
        return NULL;
    }

    for (i = 0; i < LLO_CM_FAMILIES; i++) {
        if (llo_cm_family_init(&cm->f[i], llo_cm_families[i].nv) != 0) {
            llo_cm_free(cm);
            return NULL;
        }
    }

    copy = strdup(models);
    n = strlen(models) / 2 + 1 + max_models;
    cm->models = calloc(n, sizeof(char *));

    if (copy == NULL || cm->models == NULL) {
        free(copy);
        llo_cm_free(cm);
        return NULL;
    }

    for (w = strtok_r(copy, " \t,", &save); w != NULL;
         w = strtok_r(NULL, " \t,", &save))
    {
        cm->models[cm->nmodels] = strdup(w);

        if (cm->models[cm->nmodels] == NULL) {
            free(copy);
            llo_cm_free(cm);
            return NULL;
        }

        cm->nmodels++;
    }

    free(copy);
    cm->nconf = cm->nmodels;
    cm->max_seen = max_models;

    return cm;
}


void
llo_cm_free(llo_cm_t *cm)
{
    size_t  i, k;

    if (cm == NULL) {
        return;
    }

    for (i = 0; i < LLO_CM_FAMILIES; i++) {
        for (k = 0; k < cm->f[i].size; k++) {
            free(cm->f[i].slots[k].labels);
            free(cm->f[i].slots[k].v);
        }

        free(cm->f[i].slots);
    }

    for (i = 0; cm->models != NULL && i < cm->nmodels; i++) {
        free(cm->models[i]);
    }

    free(cm->models);
    free(cm->rows);
    free(cm);
}


void
llo_cm_sink(llo_cm_t *cm, llo_verdicts_t *verdicts, llo_row_sink_t *sink)
{
    memset(sink, 0, sizeof(llo_row_sink_t));

    cm->verdicts = verdicts;

    sink->name = "call metrics";
    sink->data = cm;
    sink->reset = llo_cm_reset;
    sink->prepare = llo_cm_prepare;
    sink->pending = llo_cm_pending;
    sink->apply = llo_cm_apply;
    sink->drop = llo_cm_drop;
    sink->committed = llo_cm_committed;
}


/* -- the row sink ---------------------------------------------------------- */


static void
llo_cm_reset(void *data)
{
    llo_cm_t  *cm = data;

    cm->nrows = 0;
}


static int
llo_cm_prepare(void *data, const llo_row_t *rows, size_t n)
{
    llo_cm_t  *cm = data;

    size_t  i;

    if (llo_grow_array(&cm->rows, &cm->rows_cap, n, sizeof(llo_cm_row_t),
                       1024)
        != 0)
    {
        return -1;
    }

    for (i = 0; i < n; i++) {
        cm->rows[i].instance = rows[i].instance;
        cm->rows[i].seq = rows[i].seq;
        cm->rows[i].model = llo_cm_model(cm, &rows[i].rec);
        cm->rows[i].isnew = 0;
        llo_cm_take(&cm->rows[i], &rows[i].rec);
    }

    cm->nrows = n;

    return 0;
}


/* a byte a row: it writes nothing, but must be told which rows were new */

static size_t
llo_cm_pending(void *data)
{
    return ((llo_cm_t *) data)->nrows;
}


/*
 * Rows [lo, hi) are in, in this transaction.  Usually all were new; when
 * not (a batch delivered again), PostgreSQL says which were: the rows
 * this transaction wrote have its xid as xmin.
 */

static int
llo_cm_apply(void *data, llo_pg_t *pg, size_t lo, size_t hi, int all_new,
    char *err, size_t errlen)
{
    llo_cm_t  *cm = data;

    int          k, n;
    char         id[LLO_ID_LEN + 1];
    size_t       i;
    PGresult    *res;
    const char  *v;

    if (all_new) {
        for (i = lo; i < hi; i++) {
            cm->rows[i].isnew = 1;
        }

        return 0;
    }

    res = PQexec(pg->conn, "SELECT s.id FROM llm_requests_stage s "
                 "JOIN llm_requests r USING (id, ts) "
                 "WHERE r.xmin = pg_current_xact_id()::xid");

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        return llo_pg_fail(pg, res, "SELECT the new rows", err, errlen);
    }

    n = PQntuples(res);

    /* a redelivery is rare: rows times answers costs nothing then */
    for (i = lo; i < hi && n > 0; i++) {
        llo_format_id(cm->rows[i].instance, cm->rows[i].seq, id);

        for (k = 0; k < n; k++) {
            v = PQgetvalue(res, k, 0);

            if (strcmp(v, id) == 0) {
                cm->rows[i].isnew = 1;
                break;
            }
        }
    }

    PQclear(res);

    return 0;
}


static void
llo_cm_drop(void *data, size_t row, const char *why)
{
    llo_cm_t  *cm = data;

    if (row < cm->nrows) {
        cm->rows[row].isnew = 0;
    }
}


static void
llo_cm_committed(void *data)
{
    llo_cm_t  *cm = data;

    size_t                    i;
    const llo_verdict_row_t  *v;

    for (i = 0; i < cm->nrows; i++) {
        if (!cm->rows[i].isnew) {
            continue;
        }

        v = cm->verdicts != NULL && i < cm->verdicts->nrows
            ? &cm->verdicts->rows[i] : NULL;

        llo_cm_count(cm, &cm->rows[i], v);
    }
}


/* -- counting -------------------------------------------------------------- */


/* what the counts need of a record, copied out of the ring */

static void
llo_cm_take(llo_cm_row_t *r, const llo_rec_t *rec)
{
    int               i;

    static const int  tokens[4] = {
        LLO_N_PROMPT_TOKENS, LLO_N_COMPLETION_TOKENS, LLO_N_CACHED_TOKENS,
        LLO_N_REASONING_TOKENS
    };

#define llo_cm_num(id)  (llo_rec_has_num(rec, id) ? rec->num[id] : -1)

    llo_cm_copy(rec, LLO_S_PROVIDER, r->provider, sizeof(r->provider));
    llo_cm_copy(rec, LLO_S_KEY_NAME, r->key, sizeof(r->key));
    llo_cm_copy(rec, LLO_S_REFUSED, r->refused, sizeof(r->refused));

    r->status = llo_cm_num(LLO_N_STATUS);

    for (i = 0; i < 4; i++) {
        r->tokens[i] = llo_cm_num(tokens[i]);
    }

    r->cost = llo_cm_num(LLO_N_COST_NANO);
    r->latency_us = llo_cm_num(LLO_N_LATENCY_US);
    r->ttft_us = llo_cm_num(LLO_N_TTFT_US);
    r->ts_us = llo_cm_num(LLO_N_TS_US);

#undef llo_cm_num
}


static void
llo_cm_copy(const llo_rec_t *rec, int id, char *buf, size_t len)
{
    llo_str_t  s;

    llo_cm_str(rec, id, &s);

    if (s.len >= len) {
        s.len = (uint32_t) (len - 1);
    }

    memcpy(buf, s.data, s.len);
    buf[s.len] = '\0';
}


static void
llo_cm_count(llo_cm_t *cm, const llo_cm_row_t *r, const llo_verdict_row_t *v)
{
    int               i;
    char              labels[1024], sc[8];
    size_t            n;
    int64_t           status;
    uint64_t         *x;
    llo_str_t         provider, key, refused, model, s;

    provider.data = r->provider;
    provider.len = (uint32_t) strlen(r->provider);
    key.data = r->key;
    key.len = (uint32_t) strlen(r->key);
    refused.data = r->refused;
    refused.len = (uint32_t) strlen(r->refused);
    model.data = r->model;
    model.len = (uint32_t) strlen(r->model);

    status = r->status > 0 ? r->status : 0;

    /* provider, model, key: the labels most families share */
    n = llo_cm_label(labels, sizeof(labels), "provider", &provider, 1);
    n += llo_cm_label(labels + n, sizeof(labels) - n, "model", &model, 0);
    n += llo_cm_label(labels + n, sizeof(labels) - n, "key", &key, 0);

    snprintf(sc, sizeof(sc), "%dxx", status >= 100 && status <= 599
             ? (int) (status / 100) : 0);
    s.data = sc;
    s.len = (uint32_t) strlen(sc);
    llo_cm_label(labels + n, sizeof(labels) - n, "status_class", &s, 0);

    if ((x = llo_cm_series(&cm->f[LLO_CM_REQUESTS], labels)) != NULL) {
        x[0]++;
    }

    labels[n] = '\0';

    if ((x = llo_cm_series(&cm->f[LLO_CM_TOKENS], labels)) != NULL) {
        for (i = 0; i < 4; i++) {
            x[i] += r->tokens[i] > 0 ? (uint64_t) r->tokens[i] : 0;
        }
    }

    if (r->cost > 0
        && (x = llo_cm_series(&cm->f[LLO_CM_COST], labels)) != NULL)
    {
        x[0] += (uint64_t) r->cost;
    }

    /* provider, model */
    n = llo_cm_label(labels, sizeof(labels), "provider", &provider, 1);
    llo_cm_label(labels + n, sizeof(labels) - n, "model", &model, 0);

    if (r->latency_us >= 0 && refused.len == 0
        && (x = llo_cm_series(&cm->f[LLO_CM_DURATION], labels)) != NULL)
    {
        llo_cm_hist(x, llo_cm_seconds, LLO_CM_NSECONDS, r->latency_us);
    }

    if (r->ttft_us >= 0
        && (x = llo_cm_series(&cm->f[LLO_CM_TTFT], labels)) != NULL)
    {
        llo_cm_hist(x, llo_cm_seconds, LLO_CM_NSECONDS, r->ttft_us);
    }

    /* key, limit: what refused the call (the key checks are "auth") */
    if (refused.len > 0) {
        if (refused.len >= 4
            && memcmp(refused.data + refused.len - 4, "_key", 4) == 0)
        {
            refused.data = "auth";
            refused.len = 4;
        }

        n = llo_cm_label(labels, sizeof(labels), "key", &key, 1);
        llo_cm_label(labels + n, sizeof(labels) - n, "limit", &refused, 0);

        if ((x = llo_cm_series(&cm->f[LLO_CM_LIMITED], labels)) != NULL) {
            x[0]++;
        }
    }

    if (r->ts_us > cm->last_ts_us) {
        cm->last_ts_us = r->ts_us;
    }

    if (v == NULL || !v->scored) {
        return;
    }

    /* the rules' verdict */
    s.data = v->dropped ? "dropped" : "stored";
    s.len = (uint32_t) strlen(s.data);
    n = llo_cm_label(labels, sizeof(labels), "evaluator",
                     &(llo_str_t) { "rules", 5 }, 1);
    llo_cm_label(labels + n, sizeof(labels) - n, "status", &s, 0);

    if ((x = llo_cm_series(&cm->f[LLO_CM_EVALUATIONS], labels)) != NULL) {
        x[0]++;
    }

    if (v->dropped) {
        return;
    }

    n = llo_cm_label(labels, sizeof(labels), "evaluator",
                     &(llo_str_t) { "rules", 5 }, 1);
    llo_cm_label(labels + n, sizeof(labels) - n, "model", &model, 0);

    if ((x = llo_cm_series(&cm->f[LLO_CM_SCORES], labels)) != NULL) {
        x[v->score - 1 < LLO_CM_NSCORES ? v->score - 1 : 0]++;
        x[LLO_CM_NSCORES]++;
        x[LLO_CM_NSCORES + 1] += (uint64_t) v->score;
    }

    if (v->flagged) {
        s.data = v->label != NULL ? v->label : "";
        s.len = (uint32_t) strlen(s.data);
        n = llo_cm_label(labels, sizeof(labels), "model", &model, 1);
        llo_cm_label(labels + n, sizeof(labels) - n, "label", &s, 0);

        if ((x = llo_cm_series(&cm->f[LLO_CM_LOW], labels)) != NULL) {
            x[0]++;
        }
    }
}


/* a histogram's values: a count per bucket (not cumulative), count, sum */

static void
llo_cm_hist(uint64_t *v, const double *bounds, size_t n, int64_t us)
{
    size_t  i;
    double  sec;

    us = us > 0 ? us : 0;
    sec = us / 1e6;

    for (i = 0; i < n && sec > bounds[i]; i++) {
        /* void */
    }

    if (i < n) {
        v[i]++;
    }

    v[n]++;
    v[n + 1] += (uint64_t) us;
}


/*
 * The model as a label: one of metrics_models, or one of the first
 * max_seen others, else "other".  The response's model names it, else
 * the request's.
 */

static const char *
llo_cm_model(llo_cm_t *cm, const llo_rec_t *rec)
{
    char             *m;
    size_t            i;
    llo_rules_str_t   s;

    llo_verdict_model(rec, &s);

    if (s.len == 0) {
        return "";
    }

    for (i = 0; i < cm->nmodels; i++) {
        if (strlen(cm->models[i]) == s.len
            && memcmp(cm->models[i], s.data, s.len) == 0)
        {
            return cm->models[i];
        }
    }

    if (cm->nmodels - cm->nconf >= cm->max_seen || s.len > 128) {
        return "other";
    }

    m = strndup(s.data, s.len);
    if (m == NULL) {
        return "other";
    }

    cm->models[cm->nmodels++] = m;

    return m;
}


static void
llo_cm_str(const llo_rec_t *rec, int id, llo_str_t *s)
{
    if (llo_rec_has_str(rec, id)) {
        *s = *llo_rec_get_str(rec, id);

    } else {
        s->data = "";
        s->len = 0;
    }
}


/*
 * name="value" into buf, after a comma unless first; the value escaped as
 * the text format wants (\\, \", \n); returns the length written.
 */

static size_t
llo_cm_label(char *buf, size_t len, const char *name, const llo_str_t *value,
    int first)
{
    size_t  n, i;

    n = (size_t) snprintf(buf, len, "%s%s=\"", first ? "" : ",", name);

    for (i = 0; i < value->len && n + 4 < len; i++) {
        switch (value->data[i]) {
        case '\\': buf[n++] = '\\'; buf[n++] = '\\'; break;
        case '"':  buf[n++] = '\\'; buf[n++] = '"'; break;
        case '\n': buf[n++] = '\\'; buf[n++] = 'n'; break;
        default:   buf[n++] = value->data[i];
        }
    }

    if (n + 2 > len) {
        n = len - 2;
    }

    buf[n++] = '"';
    buf[n] = '\0';

    return n;
}


/* -- the series tables ----------------------------------------------------- */


static int
llo_cm_family_init(llo_cm_family_t *f, size_t nv)
{
    f->size = 64;
    f->nv = nv;
    f->n = 0;
    f->slots = calloc(f->size, sizeof(llo_cm_series_t));

    return f->slots != NULL ? 0 : -1;
}


static uint64_t
llo_cm_hash(const char *s)
{
    uint64_t  h;

    for (h = 1469598103934665603ULL; *s; s++) {
        h = (h ^ (unsigned char) *s) * 1099511628211ULL;
    }

    return h;
}


/* the values of the series of labels, made on first use; NULL: memory */

static uint64_t *
llo_cm_series(llo_cm_family_t *f, const char *labels)
{
    size_t            i, k, size;
    llo_cm_series_t  *slots, *sl;

    if (f->n * 2 >= f->size) {
        size = f->size * 2;
        slots = calloc(size, sizeof(llo_cm_series_t));

        if (slots == NULL) {
            return NULL;
        }

        for (i = 0; i < f->size; i++) {
            if (f->slots[i].labels == NULL) {
                continue;
            }

            for (k = llo_cm_hash(f->slots[i].labels) & (size - 1);
                 slots[k].labels != NULL; k = (k + 1) & (size - 1))
            {
                /* void */
            }

            slots[k] = f->slots[i];
        }

        free(f->slots);
        f->slots = slots;
        f->size = size;
    }

    for (k = llo_cm_hash(labels) & (f->size - 1); f->slots[k].labels != NULL;
         k = (k + 1) & (f->size - 1))
    {
        if (strcmp(f->slots[k].labels, labels) == 0) {
            return f->slots[k].v;
        }
    }

    sl = &f->slots[k];
    sl->labels = strdup(labels);
    sl->v = calloc(f->nv, sizeof(uint64_t));

    if (sl->labels == NULL || sl->v == NULL) {
        free(sl->labels);
        free(sl->v);
        sl->labels = NULL;
        sl->v = NULL;
        return NULL;
    }

    f->n++;

    return sl->v;
}


/* -- rendering ------------------------------------------------------------- */


static void
llo_cm_render_hist(llo_buf_t *b, const char *name, const char *labels,
    const uint64_t *v, const double *bounds, size_t n, double unit)
{
    size_t    i;
    uint64_t  cum;

    cum = 0;

    for (i = 0; i < n; i++) {
        cum += v[i];
        llo_buf_printf(b, "%s_bucket{%s,le=\"%g\"} %llu\n", name, labels,
                   bounds[i], (unsigned long long) cum);
    }

    llo_buf_printf(b, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, labels,
               (unsigned long long) v[n]);
    llo_buf_printf(b, "%s_sum{%s} %.17g\n", name, labels, v[n + 1] * unit);
    llo_buf_printf(b, "%s_count{%s} %llu\n", name, labels,
               (unsigned long long) v[n]);
}


void
llo_cm_render(llo_cm_t *cm, llo_buf_t *b)
{
    size_t                  i, k;
    llo_cm_family_t        *f;
    const llo_cm_series_t  *sl;

    static const char      *types[4] = {
        "prompt", "completion", "cached", "reasoning"
    };
    static const double     scores[LLO_CM_NSCORES] = { 1, 2, 3, 4, 5 };

    for (i = 0; i < LLO_CM_FAMILIES; i++) {
        f = &cm->f[i];

        llo_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", llo_cm_families[i].name,
                   llo_cm_families[i].help, llo_cm_families[i].name,
                   llo_cm_families[i].type);

        for (k = 0; k < f->size; k++) {
            sl = &f->slots[k];

            if (sl->labels == NULL) {
                continue;
            }

            switch (i) {

            case LLO_CM_TOKENS:
                for (int t = 0; t < 4; t++) {
                    llo_buf_printf(b, "%s{%s,type=\"%s\"} %llu\n",
                               llo_cm_families[i].name, sl->labels, types[t],
                               (unsigned long long) sl->v[t]);
                }
                break;

            case LLO_CM_COST:
                llo_buf_printf(b, "%s{%s} %llu.%09llu\n", llo_cm_families[i].name,
                           sl->labels,
                           (unsigned long long) (sl->v[0] / 1000000000),
                           (unsigned long long) (sl->v[0] % 1000000000));
                break;

            case LLO_CM_DURATION:
            case LLO_CM_TTFT:
                llo_cm_render_hist(b, llo_cm_families[i].name, sl->labels,
                                   sl->v, llo_cm_seconds, LLO_CM_NSECONDS,
                                   1e-6);
                break;

            case LLO_CM_SCORES:
                llo_cm_render_hist(b, llo_cm_families[i].name, sl->labels,
                                   sl->v, scores, LLO_CM_NSCORES, 1);
                break;

            default:
                llo_buf_printf(b, "%s{%s} %llu\n", llo_cm_families[i].name,
                           sl->labels, (unsigned long long) sl->v[0]);
            }
        }
    }

    llo_buf_printf(b, "# HELP llm_evaluator_ingest_lag_seconds Now less the "
               "time of the newest call stored; 0: none stored since the "
               "start\n# TYPE llm_evaluator_ingest_lag_seconds gauge\n");
    llo_buf_printf(b, "llm_evaluator_ingest_lag_seconds %.6f\n",
               cm->last_ts_us > 0
               ? (double) llo_wall_ms() / 1e3 - cm->last_ts_us / 1e6 : 0.0);
}
