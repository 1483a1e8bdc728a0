/*
 * llm-evaluator judge: a second model grades a call's response.  Plain
 * C, no libpq types; yajl for JSON, libcurl (in llo_judge_http.c) for
 * HTTP.
 *
 *   llo_judge_request()    the body of an OpenAI-compatible
 *                          POST /v1/chat/completions asking for a verdict
 *   llo_judge_parse()      the answer's verdict, or why it is not one
 *   llo_judge_retry_ms()   whether and when to ask again
 *   llo_judge_client_*()   the HTTP calls, on libcurl's multi interface,
 *                          driven by the evaluator's loop: nothing blocks
 *
 * The evaluated prompt and response are data, never instructions to the
 * judge: the system message says so, and they are fenced in the user
 * message between markers that carry a random nonce of 16 hex digits,
 *
 *   <<<PROMPT-9f86d081884c7d65            <<<RESPONSE-9f86d081884c7d65
 *   ...                                   ...
 *   PROMPT-9f86d081884c7d65>>>            RESPONSE-9f86d081884c7d65>>>
 *
 * chosen again until neither text contains it, so no text can close its
 * fence early.  Each text is cut at text_max bytes on a UTF-8 boundary,
 * "[truncated]" added inside the fence; invalid UTF-8 becomes U+FFFD.
 *
 * The verdict asked for, by a strict JSON schema (response_format), is
 *
 *   {"overall": 1..5, "instruction_following": 1..5,
 *    "truthfulness": 1..5, "safety": 1..5, "reason": "..."}
 *
 * and llo_judge_parse() holds the answer to the same: JSON integers in
 * 1..5 (not 3.5, not "3"), every key once, no other key.  A reason over
 * LLO_JUDGE_REASON_MAX bytes is cut, not refused: the scores are sound,
 * and a retry would pay for another long reason.
 */

#ifndef _LLO_JUDGE_H_INCLUDED_
#define _LLO_JUDGE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "llo_eval_copy.h"
#include "llo_eval_loop.h"


#define LLO_JUDGE_TEXT_MAX          (32 * 1024)
#define LLO_JUDGE_BODY_MAX          (1024 * 1024)
#define LLO_JUDGE_REASON_MAX        1000
#define LLO_JUDGE_MODEL_MAX         128
#define LLO_JUDGE_ERR_LEN           512
#define LLO_JUDGE_RETRY_AFTER_LEN   64
#define LLO_JUDGE_CONCURRENT_MAX    16

/* llo_judge_retry_ms() */
#define LLO_JUDGE_BACKOFF_MS        500
#define LLO_JUDGE_BACKOFF_MAX_MS    60000
#define LLO_JUDGE_RETRY_AFTER_MAX   300         /* seconds */


typedef struct {
    int                 overall;        /* 1..5 each */
    int                 instruction_following;
    int                 truthfulness;
    int                 safety;
    char                reason[LLO_JUDGE_REASON_MAX + 1];
    size_t              reason_len;
    unsigned            reason_cut:1;   /* it was longer */

    /* the answer's own; filled even when the verdict is not valid */
    char                model[LLO_JUDGE_MODEL_MAX + 1];
    int64_t             prompt_tokens;      /* 0: not given */
    int64_t             completion_tokens;
} llo_judge_result_t;


/*
 * Append to buf the request body for model to judge response (rlen bytes)
 * to prompt (plen bytes), each cut at text_max bytes (0:
 * LLO_JUDGE_TEXT_MAX).  Returns 0, or -1 if yajl fails (it cannot with
 * the UTF-8 this makes; buf is then as it was).  Memory: as
 * llo_buf_reserve().
 */
int llo_judge_request(llo_buf_t *buf, const char *model, const char *prompt,
    size_t plen, const char *response, size_t rlen, size_t text_max);

/*
 * The verdict in a chat completion's body (len bytes, any status): 0 with
 * r filled, or -1 with the cause in err, "overall: 7 is out of range
 * 1..5", "content is not JSON: ...", "judge error
 * rate_limit_exceeded: ..." for an error body.  r's model and token
 * counts are filled whenever the body has them.
 */
int llo_judge_parse(const char *body, size_t len, llo_judge_result_t *r,
    char *err, size_t errlen);

/*
 * After attempt number attempt (1: the first) ended with http_status (0:
 * no answer: timeout, refused, reset), the ms to wait before the next, or
 * -1: do not retry.  Retried: 0, 429, 500, 502, 503, 504; any other
 * status is final, a 2xx too (an invalid verdict is the caller's call).
 *
 * The wait: 500 ms doubling per attempt up to 60 s, with full jitter,
 * the upper half of that drawn by rnd (any 32 random bits); never less
 * than retry_after (NULL or "": none), delta-seconds or an HTTP-date
 * against now (epoch seconds), itself capped at 300 s.  A Retry-After
 * that is neither is ignored.  How many attempts: the caller's limit.
 */
int64_t llo_judge_retry_ms(unsigned attempt, long http_status,
    const char *retry_after, time_t now, uint32_t rnd);


/* -- the HTTP client ------------------------------------------------------ */


typedef struct {
    const char         *base_url;       /* "http://127.0.0.1:8080/v1" */
    const char         *model;
    const char         *api_key;        /* NULL or "": no Authorization */
    int64_t             timeout_ms;     /* a whole call, connect included */
    size_t              max_concurrent; /* 1..LLO_JUDGE_CONCURRENT_MAX */
    size_t              text_max;       /* 0: LLO_JUDGE_TEXT_MAX */
} llo_judge_conf_t;


typedef struct {
    long                status;         /* HTTP; 0: no answer */
    int                 ok;             /* result holds a valid verdict */
    unsigned            timed_out:1;    /* timeout_ms ran out */
    char                curl_error[LLO_JUDGE_ERR_LEN];  /* "": none */
    char                cause[LLO_JUDGE_ERR_LEN];       /* "" when ok */
    char                retry_after[LLO_JUDGE_RETRY_AFTER_LEN];
    int64_t             elapsed_ms;
    llo_judge_result_t  result;         /* the verdict when ok; the
                                           model and tokens whenever the
                                           answer had them */
} llo_judge_outcome_t;


typedef struct llo_judge_client_s  llo_judge_client_t;

/*
 * A call finished.  o and what it points to live until done returns.
 * done may submit (the slot of this call is free again) but not free the
 * client.
 */
typedef void (*llo_judge_done_pt)(void *data, uint64_t job_id,
    const llo_judge_outcome_t *o);


/*
 * A client whose calls run in loop, at most conf->max_concurrent at
 * once.  conf's strings are copied; the API key is sent as "Authorization:
 * Bearer" and never logged.  NULL with err on a bad conf or no memory.
 */
llo_judge_client_t *llo_judge_client_new(llo_loop_t *loop,
    const llo_judge_conf_t *conf, llo_judge_done_pt done, void *data,
    char *err, size_t errlen);

/*
 * Start one POST to base_url + "/chat/completions" for job_id; done is
 * called when it ends, however it ends, and never from here.  -1 when
 * max_concurrent calls are in flight or libcurl refuses the call.
 */
int llo_judge_submit(llo_judge_client_t *c, uint64_t job_id,
    const char *prompt, size_t plen, const char *response, size_t rlen);

size_t llo_judge_inflight(const llo_judge_client_t *c);

/* abort the calls in flight (done is not called for them) and free */
void llo_judge_client_free(llo_judge_client_t *c);


#endif /* _LLO_JUDGE_H_INCLUDED_ */
