/*
 * llm-observer: a call's outcome; see llo_call.h.
 */

#include <stdio.h>
#include <string.h>

#include "llo_call.h"


static int64_t llo_call_cost(const llo_call_in_t *in, const llo_call_t *c);
static void llo_call_error(const llo_call_in_t *in, char *err,
    size_t errlen);


/* a call that succeeded and whose response is all there is */

static int
llo_call_counted(const llo_call_in_t *in)
{
    return in->rs != NULL && in->encoding != NULL && in->resp_ended
           && in->status >= 200 && in->status <= 299;
}


/* the API generates tokens (embeddings do not) */

static int
llo_call_generates(const llo_call_in_t *in)
{
    const llo_api_t  *a;

    a = llo_api_get(in->api);

    return a == NULL || a->completion;
}


int
llo_call_needs_count(const llo_call_in_t *in)
{
    return llo_call_counted(in)
           && llo_call_generates(in)
           && (in->rs->completion_tokens < 0
               || ((in->sse || in->uri_stream) && !in->rs->done));
}


void
llo_call_outcome(const llo_call_in_t *in, llo_call_t *out)
{
    int                local;
    const llo_resp_t  *rs;

    rs = in->rs;

    out->prompt = rs ? rs->prompt_tokens : -1;
    out->completion = rs ? rs->completion_tokens : -1;
    out->total = rs ? rs->total_tokens : -1;
    out->source = (rs && rs->usage) ? "provider" : "none";

    /* a prompt past what is kept for counting: its estimate (reserved by
     * the limits, in the record) is an upper bound, whatever else */
    out->trunc = in->rq && in->rq->count_trunc && in->prompt_estimate >= 0;

    local = 0;

    if (llo_call_counted(in)) {

        if (out->prompt < 0 && in->prompt_estimate >= 0) {
            out->prompt = in->prompt_estimate;
            local = 1;
        }

        if (llo_call_needs_count(in)) {
            /* a stream whose text was never counted had none */
            out->completion = in->completion_count >= 0
                              ? in->completion_count : 0;
            out->trunc |= in->completion_trunc;
            local = 1;
        }
    }

    if (local) {
        if (!llo_call_generates(in)) {
            out->total = out->prompt;

        } else if (out->prompt >= 0) {
            out->total = out->prompt + out->completion;

        } else {
            out->total = -1;
        }

        out->source = in->tok_exact ? "tokenizer" : "estimate";
    }

    out->cost_nano = llo_call_cost(in, out);
}


/* by llm_observer_price, for the model that answered (a dated name like
 * gpt-4o-2024-08-06 matches its prefix entry), else the one asked for */

static int64_t
llo_call_cost(const llo_call_in_t *in, const llo_call_t *c)
{
    const llo_sstr_t   *m;
    const llo_price_t  *p;

    if (in->nprices == 0) {
        return -1;
    }

    p = NULL;

    if (in->rs && in->rs->model.set) {
        p = llo_price_find(in->prices, in->nprices, in->rs->model.data,
                           in->rs->model.len);
    }

    if (p == NULL) {
        m = (in->rq && in->rq->model.set) ? &in->rq->model
            : (in->uri_model && in->uri_model->set) ? in->uri_model : NULL;

        if (m == NULL) {
            return -1;
        }

        p = llo_price_find(in->prices, in->nprices, m->data, m->len);
        if (p == NULL) {
            return -1;
        }
    }

    return llo_cost_nano(p, c->prompt, in->rs ? in->rs->cached_tokens : -1,
                         in->rs ? in->rs->cache_creation_tokens : -1,
                         c->completion);
}


void
llo_call_record(const llo_call_in_t *in, const llo_call_t *c,
    llo_rec_t *rec, char *err, size_t errlen)
{
    int64_t            flags;
    const char        *name;
    const llo_api_t   *a;
    const llo_req_t   *rq;
    const llo_resp_t  *rs;

    rq = in->rq;
    rs = in->rs;
    flags = 0;

    name = llo_provider_name(in->provider);
    llo_rec_str(rec, LLO_S_PROVIDER, name, strlen(name));
    name = llo_api_name(in->api);
    llo_rec_str(rec, LLO_S_API, name, strlen(name));

    if (rq) {
        if (rq->model.set) {
            llo_rec_str(rec, LLO_S_REQUEST_MODEL, rq->model.data,
                        rq->model.len);
        }

        if (rq->stream == 1 || rq->stream == 0) {
            llo_rec_num(rec, LLO_N_STREAM, rq->stream);
        }

        if (rq->max_tokens >= 0) {
            llo_rec_num(rec, LLO_N_MAX_TOKENS, rq->max_tokens);
        }

        if (rq->response_format.set) {
            llo_rec_str(rec, LLO_S_RESPONSE_FORMAT, rq->response_format.data,
                        rq->response_format.len);
        }

        llo_rec_str(rec, LLO_S_PROMPT_TEXT, rq->text.data, rq->text.len);

        if (rq->text.truncated) {
            flags |= LLO_FLAG_PROMPT_TRUNC;
        }
    }

    if (in->uri_model && in->uri_model->set
        && !llo_rec_has_str(rec, LLO_S_REQUEST_MODEL))
    {
        llo_rec_str(rec, LLO_S_REQUEST_MODEL, in->uri_model->data,
                    in->uri_model->len);
    }

    if (in->uri_stream) {
        llo_rec_num(rec, LLO_N_STREAM, 1);
    }

    if (in->prompt_estimate >= 0) {
        llo_rec_num(rec, LLO_N_PROMPT_ESTIMATE, in->prompt_estimate);
    }

    if (in->encoding) {
        llo_rec_str(rec, LLO_S_ENCODING, in->encoding,
                    strlen(in->encoding));
    }

    if (in->usage_added) {
        flags |= LLO_FLAG_USAGE_ADDED;
    }

    if (in->cut) {
        flags |= LLO_FLAG_CUT;
    }

    if (rs) {
        if (in->sse) {
            llo_rec_num(rec, LLO_N_STREAM, 1);

            /* a stream cut by the module ended cleanly for the client */
            if (!rs->done && !in->cut) {
                flags |= LLO_FLAG_INCOMPLETE;
            }

        } else if (!llo_rec_has_num(rec, LLO_N_STREAM)) {
            /* as $llm_stream says: a response that is not SSE, to a
             * request that did not say, was not streamed */
            llo_rec_num(rec, LLO_N_STREAM, 0);
        }

        if (rs->id.set) {
            llo_rec_str(rec, LLO_S_RESPONSE_ID, rs->id.data, rs->id.len);
        }

        if (rs->model.set) {
            llo_rec_str(rec, LLO_S_RESPONSE_MODEL, rs->model.data,
                        rs->model.len);
        }

        a = llo_api_get(in->api);

        if (in->cut && a != NULL && a->cut_reason != NULL) {
            /* what the module's own ending of the stream said */
            llo_rec_str(rec, LLO_S_FINISH_REASON, a->cut_reason,
                        strlen(a->cut_reason));

        } else if (rs->finish_reason.set) {
            llo_rec_str(rec, LLO_S_FINISH_REASON, rs->finish_reason.data,
                        rs->finish_reason.len);
        }

        if (rs->error_type.set) {
            llo_rec_str(rec, LLO_S_ERROR_TYPE, rs->error_type.data,
                        rs->error_type.len);
        }

        if (rs->error_message.set) {
            llo_rec_str(rec, LLO_S_ERROR_MESSAGE, rs->error_message.data,
                        rs->error_message.len);
        }

        if (rs->cached_tokens >= 0) {
            llo_rec_num(rec, LLO_N_CACHED_TOKENS, rs->cached_tokens);
        }

        if (rs->cache_creation_tokens >= 0) {
            llo_rec_num(rec, LLO_N_CACHE_CREATION_TOKENS,
                        rs->cache_creation_tokens);
        }

        if (rs->reasoning_tokens >= 0) {
            llo_rec_num(rec, LLO_N_REASONING_TOKENS, rs->reasoning_tokens);
        }

        llo_rec_str(rec, LLO_S_RESPONSE_TEXT, rs->text.data, rs->text.len);

        if (rs->text.truncated) {
            flags |= LLO_FLAG_RESP_TRUNC;
        }

        if (rs->tool_calls) {
            flags |= LLO_FLAG_TOOL_CALLS;
        }

        if (in->gzip) {
            flags |= LLO_FLAG_GZIP;
        }
    }

    if (in->client_abort) {
        flags |= LLO_FLAG_CLIENT_ABORT;
    }

    if (c->prompt >= 0) {
        llo_rec_num(rec, LLO_N_PROMPT_TOKENS, c->prompt);
    }

    if (c->completion >= 0) {
        llo_rec_num(rec, LLO_N_COMPLETION_TOKENS, c->completion);
    }

    if (c->total >= 0) {
        llo_rec_num(rec, LLO_N_TOTAL_TOKENS, c->total);
    }

    llo_rec_str(rec, LLO_S_TOKEN_SOURCE, c->source, strlen(c->source));

    if (c->cost_nano >= 0) {
        llo_rec_num(rec, LLO_N_COST_NANO, c->cost_nano);
    }

    if (in->key) {
        llo_rec_str(rec, LLO_S_KEY_NAME, in->key->name,
                    strlen(in->key->name));

        if (in->key->team[0]) {
            llo_rec_str(rec, LLO_S_KEY_TEAM, in->key->team,
                        strlen(in->key->team));
        }
    }

    if (in->refused) {
        llo_rec_str(rec, LLO_S_REFUSED, in->refused, strlen(in->refused));
    }

    if (c->trunc) {
        flags |= LLO_FLAG_COUNT_TRUNC;
    }

    llo_call_error(in, err, errlen);

    if (err[0] != '\0') {
        llo_rec_str(rec, LLO_S_PARSE_ERROR, err, strlen(err));
    }

    llo_rec_num(rec, LLO_N_FLAGS, flags);
}


/* why parsing stopped: the request's reason, then the response's */

static void
llo_call_error(const llo_call_in_t *in, char *err, size_t errlen)
{
    size_t  n;

    err[0] = '\0';
    n = 0;

    if (in->rq && in->rq->error[0]) {
        n = (size_t) snprintf(err, errlen, "%s", in->rq->error);
    }

    if (in->rs == NULL || (in->rs->error[0] == '\0' && !in->in_file)
        || n >= errlen)
    {
        return;
    }

    if (n) {
        n += (size_t) snprintf(err + n, errlen - n, "; ");
    }

    if (n >= errlen) {
        return;
    }

    if (in->rs->error[0]) {
        (void) snprintf(err + n, errlen - n, "%s", in->rs->error);

    } else {
        (void) snprintf(err + n, errlen - n, "response body went to a temp "
                        "file at byte %llu and was not read (set "
                        "proxy_max_temp_file_size 0, or sendfile off)",
                        (unsigned long long) in->rs->bytes);
    }
}
