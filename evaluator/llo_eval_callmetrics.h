/*
 * llm-evaluator's per-call metrics: what /metrics says of the calls, by
 * provider, model and key, counted from the rows the evaluator stores:
 *
 *   llm_gateway_requests_total{provider,model,key,status_class}
 *   llm_gateway_token_usage_total{provider,model,key,type}
 *   llm_gateway_cost_usd_total{provider,model,key}
 *   llm_gateway_request_duration_seconds{provider,model}      histogram
 *   llm_gateway_time_to_first_token_seconds{provider,model}   histogram
 *   llm_gateway_rate_limited_total{key,limit}
 *   llm_evaluator_evaluations_total{evaluator,status}
 *   llm_evaluator_evaluation_score{evaluator,model}           histogram
 *   llm_evaluator_low_quality_total{model,label}
 *   llm_evaluator_ingest_lag_seconds
 *
 * A row sink (llo_eval_sink.h): it reads the batch's rows on the drain's
 * thread, and counts at COMMIT only the rows that were new to
 * llm_requests, so a batch delivered again is not counted twice.  After a
 * restart the counters start from zero, which Prometheus's rate() and
 * increase() take as a reset.
 *
 * Cardinality is bounded: key is a key name of nginx's configuration
 * (bounded by it; "" without one); model is one of metrics_models, or
 * one of the first metrics_max_models others seen, else "other".
 */

#ifndef _LLO_EVAL_CALLMETRICS_H_INCLUDED_
#define _LLO_EVAL_CALLMETRICS_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "llo_eval_copy.h"
#include "llo_eval_sink.h"
#include "llo_eval_verdicts.h"


typedef struct llo_cm_s  llo_cm_t;


/*
 * Per-call metrics; models: the metrics_models words (space-separated,
 * may be empty), max_models: how many others get their own series.
 * NULL when memory ran out.
 */
llo_cm_t *llo_cm_new(const char *models, size_t max_models);
void llo_cm_free(llo_cm_t *cm);

/* the row sink that counts; verdicts: the rules' sink (scores) */
void llo_cm_sink(llo_cm_t *cm, llo_verdicts_t *verdicts,
    llo_row_sink_t *sink);

/* append the families above in the Prometheus text format */
void llo_cm_render(llo_cm_t *cm, llo_buf_t *b);


#endif /* _LLO_EVAL_CALLMETRICS_H_INCLUDED_ */
