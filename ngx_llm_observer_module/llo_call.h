/*
 * llm-observer: a call's outcome, computed once from what the parsers,
 * the tokenizer and the module saw.
 *
 * The counts and where they come from, the flag that a count is a
 * bound, the cost: llo_call_outcome().  The record's fields that follow
 * from the call (models, texts, flags, counts, cost, key, refusal, why
 * parsing stopped): llo_call_record().  The nginx glue adds only what
 * nginx knows (times, status, upstream status, bytes, addresses, the
 * URI, $request_id), and its variables and the limits' reconciliation
 * read the same outcome.
 *
 * Plain C, no nginx types: linked by the module and the unit tests.
 */

#ifndef _LLO_CALL_H_INCLUDED_
#define _LLO_CALL_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "llo_api.h"
#include "llo_cost.h"
#include "llo_keys.h"
#include "llo_parse.h"
#include "llo_record.h"


/* what was seen of the call */

typedef struct {
    int                  provider;          /* LLO_PROV_* */
    int                  api;               /* LLO_API_* */
    unsigned             status;            /* the status the client got */

    const llo_req_t     *rq;                /* NULL: no request parsed */
    const llo_resp_t    *rs;                /* NULL: no response parsed */
    const llo_sstr_t    *uri_model;         /* NULL: none in the URI */

    int64_t              prompt_estimate;   /* counted before forwarding,
                                               -1: not counted */
    int64_t              completion_count;  /* the response's text counted,
                                               -1: not (yet) */
    const char          *encoding;          /* the tokenizer's, NULL: none */

    const llo_price_t   *prices;            /* llm_observer_price */
    size_t               nprices;

    const llo_key_t     *key;               /* llm_observer_auth */
    const char          *refused;           /* why the module answered */

    unsigned             tok_exact:1;       /* the model's own encoding */
    unsigned             completion_trunc:1;    /* counted from cut text */
    unsigned             resp_ended:1;      /* the response has ended */
    unsigned             sse:1;
    unsigned             uri_stream:1;      /* Gemini's :streamGenerate */
    unsigned             in_file:1;         /* went to a temp file unread */
    unsigned             gzip:1;
    unsigned             usage_added:1;     /* llm_observer_stream_usage */
    unsigned             cut:1;             /* llm_observer_limit_stream */
    unsigned             client_abort:1;
} llo_call_in_t;


/* the outcome */

typedef struct {
    int64_t              prompt;            /* -1: unknown */
    int64_t              completion;
    int64_t              total;
    const char          *source;            /* provider, tokenizer,
                                               estimate, none */
    int64_t              cost_nano;         /* -1: no price or no count */
    unsigned             trunc:1;           /* a local count covers part
                                               of the text (a prompt's is
                                               then an upper bound) */
} llo_call_t;


/*
 * 1 when the outcome needs the response's text counted: a successful
 * call whose response has ended without the provider's completion count
 * (or a stream that did not end); the caller then counts it into
 * in->completion_count (and completion_trunc) before llo_call_outcome().
 */
int llo_call_needs_count(const llo_call_in_t *in);

/*
 * The provider's counts when it sent them for the whole call; otherwise,
 * for a successful call, the local ones: the prompt as counted before it
 * was forwarded, the completion from the text received.  Before the
 * response has ended it gives what is known.  The cost is priced from
 * the model that answered (else the one asked for).
 */
void llo_call_outcome(const llo_call_in_t *in, llo_call_t *out);

/*
 * The call's fields of its record, from in and its outcome c.  err
 * (errlen bytes) holds the parse_error text, which the record points to:
 * it must live until the record is encoded.
 */
void llo_call_record(const llo_call_in_t *in, const llo_call_t *c,
    llo_rec_t *rec, char *err, size_t errlen);


#endif /* _LLO_CALL_H_INCLUDED_ */
