/*
 * llm-evaluator verdicts: see llo_eval_verdicts.h.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llo_parse.h"
#include "llo_eval_log.h"
#include "llo_eval_pg.h"
#include "llo_eval_verdicts.h"
#include "llo_rules_cache.h"


static void llo_verdicts_reset(void *data);
static int llo_verdicts_prepare(void *data, const llo_row_t *rows,
    size_t n);
static void llo_verdicts_add(llo_verdicts_t *vs, const llo_rec_t *rec,
    uint64_t instance, uint64_t seq, size_t row);
static size_t llo_verdicts_pending(void *data);
static int llo_verdicts_apply(void *data, llo_pg_t *pg, size_t lo,
    size_t hi, int all_new, char *err, size_t errlen);
static void llo_verdicts_drop(void *data, size_t row, const char *why);
static void llo_verdicts_committed(void *data);
static void llo_verdict_out(void *data, const char *s, size_t len);
static void llo_verdict_str(const llo_rec_t *rec, int id,
    llo_rules_str_t *s);


void
llo_verdicts_sink(llo_verdicts_t *vs, llo_row_sink_t *sink)
{
    memset(sink, 0, sizeof(llo_row_sink_t));

    sink->name = "verdicts";
    sink->data = vs;
    sink->reset = llo_verdicts_reset;
    sink->prepare = llo_verdicts_prepare;
    sink->pending = llo_verdicts_pending;
    sink->apply = llo_verdicts_apply;
    sink->drop = llo_verdicts_drop;
    sink->committed = llo_verdicts_committed;
}


void
llo_verdicts_free(llo_verdicts_t *vs)
{
    llo_buf_free(&vs->copy);
    free(vs->rows);
    vs->rows = NULL;
    vs->nrows = 0;
    vs->rows_cap = 0;
}


static void
llo_verdicts_reset(void *data)
{
    llo_verdicts_t  *vs = data;

    vs->copy.len = 0;
    vs->nrows = 0;
}


/* every row of the batch scored, on the drain's thread */

static int
llo_verdicts_prepare(void *data, const llo_row_t *rows, size_t n)
{
    llo_verdicts_t  *vs = data;

    size_t  i;

    if (llo_grow_array(&vs->rows, &vs->rows_cap, n,
                       sizeof(llo_verdict_row_t), 1024)
        != 0)
    {
        return -1;
    }

    for (i = 0; i < n; i++) {
        llo_verdicts_add(vs, &rows[i].rec, rows[i].instance, rows[i].seq, i);
    }

    return 0;
}


/*
 * Row after row, so rows[row] is the next one; without rules (none
 * configured) a row has no verdict, an empty stretch of the COPY text.
 */

static void
llo_verdicts_add(llo_verdicts_t *vs, const llo_rec_t *rec, uint64_t instance,
    uint64_t seq, size_t row)
{
    uint64_t            hits, misses;
    llo_verdict_t       v;
    llo_rules_call_t    call;
    llo_verdict_row_t  *vr;

    vr = &vs->rows[row];
    vr->off = vs->copy.len;
    vr->score = 0;
    vr->label = NULL;
    vr->scored = 0;
    vr->flagged = 0;
    vr->dropped = 0;
    vs->nrows = row + 1;

    if (vs->rules == NULL) {
        return;
    }

    /* the drain made the row of this record, so it has a key */
    if (llo_copy_key(&vs->copy, rec, instance, seq) != 0) {
        vs->copy.len = vr->off;
        return;
    }

    llo_verdict_call(rec, &call);

    hits = vs->cache != NULL ? vs->cache->hits : 0;
    misses = vs->cache != NULL ? vs->cache->misses : 0;

    llo_verdict_row(&vs->copy, vs->rules, vs->cache, &call, vs->flag_below,
                    &v);

    if (vs->cache != NULL) {
        vs->cache_hits += vs->cache->hits - hits;
        vs->cache_misses += vs->cache->misses - misses;
    }

    vr->score = v.score;
    vr->label = v.label;
    vr->scored = 1;
    vr->flagged = v.flagged;
}


static size_t
llo_verdicts_pending(void *data)
{
    llo_verdicts_t  *vs = data;

    return vs->copy.len;
}


static int
llo_verdicts_apply(void *data, llo_pg_t *pg, size_t lo, size_t hi,
    int all_new, char *err, size_t errlen)
{
    llo_verdicts_t  *vs = data;
    size_t           start, end;
    uint64_t         n;

    start = vs->rows[lo].off;
    end = hi < vs->nrows ? vs->rows[hi].off : vs->copy.len;

    if (start == end) {
        return 0;
    }

    /* new calls have no verdict yet: straight in, the cheapest way */
    return llo_pg_verdicts(pg, vs->copy.data + start, end - start,
                           all_new ? LLO_PG_VERDICTS_NEW
                                   : LLO_PG_VERDICTS_FIRST,
                           &n, err, errlen);
}


static void
llo_verdicts_drop(void *data, size_t row, const char *why)
{
    llo_verdicts_t  *vs = data;

    if (row < vs->nrows) {
        vs->rows[row].dropped = 1;
    }
}


static void
llo_verdicts_committed(void *data)
{
    llo_verdicts_t     *vs = data;
    size_t              i, end;
    llo_verdict_row_t  *vr;

    for (i = 0; i < vs->nrows; i++) {
        vr = &vs->rows[i];
        end = i + 1 < vs->nrows ? vs->rows[i + 1].off : vs->copy.len;

        if (end == vr->off) {
            continue;
        }

        if (vr->dropped) {
            vs->dropped++;
            continue;
        }

        vs->scored++;
        vs->flagged += vr->flagged;
    }
}


void
llo_verdict_call(const llo_rec_t *rec, llo_rules_call_t *call)
{
    int64_t            flags;
    const llo_str_t   *s;

    memset(call, 0, sizeof(llo_rules_call_t));

    llo_verdict_str(rec, LLO_S_PROVIDER, &call->provider);
    llo_verdict_str(rec, LLO_S_API, &call->api);
    llo_verdict_str(rec, LLO_S_KEY_NAME, &call->key);
    llo_verdict_str(rec, LLO_S_KEY_TEAM, &call->team);
    llo_verdict_str(rec, LLO_S_PROMPT_TEXT, &call->prompt);
    llo_verdict_str(rec, LLO_S_RESPONSE_TEXT, &call->response);
    llo_verdict_str(rec, LLO_S_FINISH_REASON, &call->finish_reason);
    llo_verdict_str(rec, LLO_S_ERROR_TYPE, &call->error_type);
    llo_verdict_str(rec, LLO_S_RESPONSE_FORMAT, &call->response_format);

    llo_verdict_model(rec, &call->model);

    call->status = llo_rec_has_num(rec, LLO_N_STATUS)
                   ? rec->num[LLO_N_STATUS] : -1;
    call->max_tokens = llo_rec_has_num(rec, LLO_N_MAX_TOKENS)
                       ? rec->num[LLO_N_MAX_TOKENS] : -1;
    call->completion_tokens = llo_rec_has_num(rec, LLO_N_COMPLETION_TOKENS)
                              ? rec->num[LLO_N_COMPLETION_TOKENS] : -1;
    call->ttft_ms = llo_rec_has_num(rec, LLO_N_TTFT_US)
                    ? rec->num[LLO_N_TTFT_US] / 1000 : -1;
    call->latency_ms = llo_rec_has_num(rec, LLO_N_LATENCY_US)
                       ? rec->num[LLO_N_LATENCY_US] / 1000 : -1;

    flags = llo_rec_has_num(rec, LLO_N_FLAGS) ? rec->num[LLO_N_FLAGS] : 0;

    call->incomplete = (flags & LLO_FLAG_INCOMPLETE) != 0;
    call->cut = (flags & LLO_FLAG_CUT) != 0;
    call->response_truncated = (flags & LLO_FLAG_RESP_TRUNC) != 0;

    s = llo_rec_get_str(rec, LLO_S_REFUSED);
    call->refused = llo_rec_has_str(rec, LLO_S_REFUSED) && s->len > 0;
}


/* the model that answered, else the one asked for */

void
llo_verdict_model(const llo_rec_t *rec, llo_rules_str_t *s)
{
    llo_verdict_str(rec, LLO_S_RESPONSE_MODEL, s);

    if (s->len == 0) {
        llo_verdict_str(rec, LLO_S_REQUEST_MODEL, s);
    }
}


static void
llo_verdict_str(const llo_rec_t *rec, int id, llo_rules_str_t *s)
{
    const llo_str_t  *r;

    if (!llo_rec_has_str(rec, id)) {
        s->data = NULL;
        s->len = 0;
        return;
    }

    r = llo_rec_get_str(rec, id);
    s->data = r->data;
    s->len = r->len;
}


void
llo_verdict_row(llo_buf_t *b, const llo_rules_t *rules,
    llo_rules_cache_t *cache, const llo_rules_call_t *call, int flag_below,
    llo_verdict_t *v)
{
    int   n;
    char  tmp[64];

    llo_rules_score(rules, cache, call, flag_below, v);

    /* evaluator, version, score */
    llo_buf_add(b, "\trules\t", 7);
    llo_buf_add(b, llo_rules_version(rules), 16);
    n = snprintf(tmp, sizeof(tmp), "\t%d\t", v->score);
    llo_buf_add(b, tmp, (size_t) n);

    /* label, flagged; rule names need no COPY escaping */
    if (v->label != NULL) {
        llo_buf_add(b, v->label, strlen(v->label));

    } else {
        llo_buf_add(b, "\\N", 2);
    }

    llo_buf_add(b, v->flagged ? "\tt\t" : "\tf\t", 3);

    /* details: JSON whose only backslash-free strings are names */
    llo_rules_details(rules, v, llo_verdict_out, b);
    llo_buf_add(b, "\n", 1);
}


static void
llo_verdict_out(void *data, const char *s, size_t len)
{
    llo_buf_add(data, s, len);
}
