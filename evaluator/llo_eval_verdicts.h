/*
 * llm-evaluator verdicts: every call of a batch scored by the rules, in
 * memory, and its verdict written to llm_evaluations in the transaction
 * of its row (a row sink, llo_eval_sink.h).
 */

#ifndef _LLO_EVAL_VERDICTS_H_INCLUDED_
#define _LLO_EVAL_VERDICTS_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "llo_record.h"
#include "llo_rules.h"
#include "llo_eval_copy.h"
#include "llo_eval_sink.h"


typedef struct {
    size_t              off;            /* where its COPY text starts */
    int                 score;
    const char         *label;          /* the rules', NULL: none fired */
    unsigned            scored:1;       /* it has a verdict */
    unsigned            flagged:1;
    unsigned            dropped:1;
} llo_verdict_row_t;


typedef struct {
    llo_rules_t        *rules;          /* the caller's; NULL: none */
    llo_rules_cache_t  *cache;          /* the caller's; NULL: none */
    int                 flag_below;

    /* the batch */
    llo_buf_t           copy;
    llo_verdict_row_t  *rows;
    size_t              nrows;
    size_t              rows_cap;

    /* since start */
    uint64_t            scored;         /* committed with their call */
    uint64_t            flagged;
    uint64_t            dropped;        /* refused by PostgreSQL */
    uint64_t            cache_hits;     /* of cache, while it scored */
    uint64_t            cache_misses;
} llo_verdicts_t;


/* the row sink writing vs's verdicts */
void llo_verdicts_sink(llo_verdicts_t *vs, llo_row_sink_t *sink);

void llo_verdicts_free(llo_verdicts_t *vs);

/*
 * What the rules see of a decoded call record: points into rec's
 * strings, so it lives as long as rec.
 */
void llo_verdict_call(const llo_rec_t *rec, llo_rules_call_t *call);

/* the model a call is known by: the response's, else the request's */
void llo_verdict_model(const llo_rec_t *rec, llo_rules_str_t *s);

/*
 * Append the COPY text of call's verdict by rules (LLO_PG_VERDICT_COLUMNS
 * after "id<TAB>ts", which the caller wrote) and fill v.
 */
void llo_verdict_row(llo_buf_t *b, const llo_rules_t *rules,
    llo_rules_cache_t *cache, const llo_rules_call_t *call, int flag_below,
    llo_verdict_t *v);


#endif /* _LLO_EVAL_VERDICTS_H_INCLUDED_ */
