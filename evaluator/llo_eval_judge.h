/*
 * llm-evaluator's LLM judge, the queue side (docs/scoring.md):
 *
 *   choose   a row sink: the calls of a batch the judge_* settings pick
 *            go into llm_judge_queue in the batch's transaction
 *   work     a timer of the event loop takes due queue rows, up to
 *            judge_concurrency at a time, and asks the judge through the
 *            libcurl multi client (llo_judge.h), which never blocks
 *   settle   a verdict goes into llm_evaluations and its queue row away
 *            in one transaction; a failure is retried with backoff, or
 *            recorded (failed_at, last_error) once it is final
 *
 * The day's spend (UTC) is read from llm_evaluations at start and kept
 * up to date: at judge_daily_budget no call is started until midnight,
 * and the log says so once.  Calls in flight then may pass it by at most
 * judge_concurrency calls.
 */

#ifndef _LLO_EVAL_JUDGE_H_INCLUDED_
#define _LLO_EVAL_JUDGE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "llo_cost.h"
#include "llo_judge.h"
#include "llo_rules.h"
#include "llo_eval_conf.h"
#include "llo_eval_loop.h"
#include "llo_eval_pg.h"
#include "llo_eval_sink.h"
#include "llo_eval_verdicts.h"


/* bump when llo_judge_request()'s prompt changes: a verdict's version */
#define LLO_JUDGE_PROMPT_VERSION  "prompt-1"


typedef struct {
    unsigned            used:1;
    uint64_t            job;
    int                 attempts;       /* before this one */
    char                id[40];
    char                ts[64];
} llo_judge_slot_t;


typedef struct {
    /* the settings in use (set by llo_judge_configure()) */
    const llo_conf_t   *conf;
    llo_rules_filter_t *filter;         /* judge_match, NULL: all */
    llo_price_t        *prices;
    size_t              nprices;
    char               *api_key;
    char                evaluator[160]; /* "judge:<model>" */

    /* choose: the batch's chosen rows, each "id<TAB>ts" text */
    llo_verdicts_t     *verdicts;       /* the rules' verdict of a row */
    llo_buf_t           chosen;
    size_t             *row_off;        /* per row, into chosen */
    size_t              nrows;
    size_t              rows_cap;

    /* work and settle */
    llo_loop_t         *loop;
    llo_pg_t           *pg;
    llo_timer_t         timer;
    llo_judge_client_t *client;
    llo_judge_slot_t    slots[LLO_JUDGE_CONCURRENT_MAX];
    uint64_t            next_job;
    int                 day;            /* yyyymmdd (UTC) of spent */
    int64_t             spent;          /* nano-USD today, -1: not read */
    unsigned            cap_logged:1;
    unsigned            renew:1;        /* settings changed: a new client */

    /* since start */
    uint64_t            queued;         /* committed with their batch */
    uint64_t            judged;
    uint64_t            retried;
    uint64_t            failed;
    int64_t             cost_total;     /* nano-USD since start */
} llo_judge_t;


/*
 * Take the judge_* settings of conf (at start and after each SIGHUP):
 * the filter, the price list, the API key.  -1 with err (file:line for
 * the price list) when they do not load; the judge then keeps what it
 * had, conf included.  With judge_url empty the judge is off: nothing is
 * chosen.  The judge keeps conf: the caller keeps it where it is.
 */
int llo_judge_configure(llo_judge_t *j, const llo_conf_t *conf, char *err,
    size_t errlen);

/* the row sink that queues the chosen calls; verdicts: the rules' sink */
void llo_judge_sink(llo_judge_t *j, llo_verdicts_t *verdicts,
    llo_row_sink_t *sink);

/* work the queue in loop, over pg's connection (NULL while it is down) */
int llo_judge_start(llo_judge_t *j, llo_loop_t *loop, llo_pg_t *pg,
    char *err, size_t errlen);

void llo_judge_free(llo_judge_t *j);


#endif /* _LLO_EVAL_JUDGE_H_INCLUDED_ */
