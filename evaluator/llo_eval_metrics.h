/*
 * llm-evaluator's /metrics: the Prometheus text format (0.0.4) of the
 * counters of llo_eval_stats.h (the ring's read live from its header),
 * the evaluator's health, its build and the standard process_* metrics.
 * Every family has # HELP and # TYPE, and names carry their unit.
 */

#ifndef _LLO_EVAL_METRICS_H_INCLUDED_
#define _LLO_EVAL_METRICS_H_INCLUDED_


#include <stdint.h>

#include "llo_eval_copy.h"
#include "llo_eval_callmetrics.h"
#include "llo_eval_drain.h"
#include "llo_eval_http.h"
#include "llo_eval_judge.h"
#include "llo_eval_pg.h"
#include "llo_eval_verdicts.h"


/* how long the batches that committed took, seconds */

#define LLO_BATCH_BUCKETS  10

typedef struct {
    uint64_t            bucket[LLO_BATCH_BUCKETS];     /* not cumulative */
    uint64_t            count;
    double              sum;
} llo_batch_hist_t;

void llo_metrics_batch(llo_batch_hist_t *h, double seconds);


/* what /metrics reads: the daemon's parts, set once by main */

typedef struct {
    const char         *version;
    llo_drain_t        *drain;
    llo_pg_t           *pg;
    llo_verdicts_t     *verdicts;
    llo_judge_t        *judge;
    const int64_t      *last_commit_ms;     /* wall clock, 0: none yet */
    const uint64_t     *db_errors;          /* batches PostgreSQL failed */
    llo_cm_t           *calls;              /* the calls' own metrics */
    const llo_batch_hist_t  *batches;
} llo_metrics_t;


void llo_metrics_render(const llo_metrics_t *m, llo_buf_t *b);

/* the /metrics route's handler, data: an llo_metrics_t */
void llo_metrics_handler(void *data, const llo_http_request_t *req,
    llo_http_reply_t *reply);


#endif /* _LLO_EVAL_METRICS_H_INCLUDED_ */
