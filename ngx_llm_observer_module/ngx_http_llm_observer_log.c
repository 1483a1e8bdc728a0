/*
 * ngx_http_llm_observer_module: the log phase.  The call's outcome
 * (llo_call.h) is computed once and read by the record, the variables and
 * the limits' reconciliation; the record is encoded straight into the
 * ring (llo_ring.h), with the nginx facts only the glue knows.
 */

#include "ngx_http_llm_observer_module.h"


static void ngx_http_llm_observer_flush(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx);
static void ngx_http_llm_observer_call_in(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx, llo_call_in_t *in);
static llo_call_t *ngx_http_llm_observer_outcome_of(
    ngx_http_llm_observer_ctx_t *ctx, llo_call_in_t *in);
static void ngx_http_llm_observer_count_completion(
    ngx_http_llm_observer_ctx_t *ctx);


/* per worker: a full ring is reported at most once a minute */
static time_t  ngx_http_llm_observer_drop_logged;


ngx_int_t
ngx_http_llm_observer_log_handler(ngx_http_request_t *r)
{
    ngx_http_llm_observer_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_llm_observer_module);

    if (ctx == NULL && r == r->main) {
        /* a call refused before any filter ran, e.g. a 413 */
        ctx = ngx_http_llm_observer_get_ctx(r);
    }

    if (ctx != NULL && !ctx->flushed) {
        ngx_http_llm_observer_flush(r, ctx);
    }

    return NGX_OK;
}


static void
ngx_http_llm_observer_flush(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx)
{
    u_char                             *buf;
    size_t                              size;
    int64_t                             now, start;
    llo_rec_t                           rec;
    ngx_uint_t                          status;
    llo_call_t                         *c;
    llo_call_in_t                       in;
    ngx_http_variable_value_t          *vv;
    ngx_http_upstream_state_t          *us;
    ngx_http_llm_observer_main_conf_t  *lmcf;
    char                                err[NGX_HTTP_LLM_OBSERVER_ERR_LEN];

    ctx->flushed = 1;

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llm_observer_module);

    now = ngx_http_llm_observer_now_us();
    start = (int64_t) r->start_sec * 1000000 + (int64_t) r->start_msec * 1000;

    ngx_memzero(&rec, sizeof(llo_rec_t));

    llo_rec_num(&rec, LLO_N_KIND, LLO_KIND_CALL);
    llo_rec_num(&rec, LLO_N_TS_US, start);
    llo_rec_num(&rec, LLO_N_LATENCY_US, now > start ? now - start : 0);

    if (ctx->first_byte_us) {
        llo_rec_num(&rec, LLO_N_TTFT_US, ctx->first_byte_us > start
                                         ? ctx->first_byte_us - start : 0);
    }

    status = r->err_status ? r->err_status : r->headers_out.status;

    if (status == 0 && r->connection->error) {
        status = NGX_HTTP_CLIENT_CLOSED_REQUEST;
    }

    llo_rec_num(&rec, LLO_N_STATUS, (int64_t) status);

    if (r->upstream_states && r->upstream_states->nelts) {
        us = r->upstream_states->elts;
        us = &us[r->upstream_states->nelts - 1];

        if (us->status) {
            llo_rec_num(&rec, LLO_N_UPSTREAM_STATUS, (int64_t) us->status);
        }
    }

    llo_rec_num(&rec, LLO_N_BYTES_IN, (int64_t) r->request_length);
    llo_rec_num(&rec, LLO_N_BYTES_OUT, (int64_t) r->connection->sent);

    llo_rec_str(&rec, LLO_S_ENDPOINT, r->uri.data, r->uri.len);
    llo_rec_str(&rec, LLO_S_CLIENT_ADDR, r->connection->addr_text.data,
                r->connection->addr_text.len);

    if (r->headers_in.server.len) {
        llo_rec_str(&rec, LLO_S_HOST, r->headers_in.server.data,
                    r->headers_in.server.len);
    }

    /* $request_id costs a RAND_bytes(): taken only if something (a log
     * format, proxy_set_header X-Request-ID) already made it */
    vv = &r->variables[lmcf->request_id_index];
    if (vv->valid && !vv->not_found) {
        llo_rec_str(&rec, LLO_S_REQUEST_ID, vv->data, vv->len);
    }

    /* the parsers are finished here if the request or the response
     * never reached its end (a client gone, an upstream cut short) */

    if (ctx->req && !ctx->req_done) {
        llo_req_finish(ctx->req);
        ctx->req_done = 1;
    }

    if (ctx->resp && !ctx->resp_done) {
        if (!ctx->in_file) {
            llo_resp_finish(ctx->resp);
        }

        ctx->resp_done = 1;
    }

    ngx_http_llm_observer_call_in(r, ctx, &in);

    c = ngx_http_llm_observer_outcome_of(ctx, &in);
    in.client_abort = r->connection->error
                      || status == NGX_HTTP_CLIENT_CLOSED_REQUEST;

    llo_call_record(&in, c, &rec, err, sizeof(err));

    if (ctx->admitted) {
        ngx_http_llm_observer_reconcile(r, ctx, c);
    }

    /* the record is encoded straight into its place in the ring */

    size = llo_rec_size(&rec);

    buf = llo_ring_reserve(lmcf->ring, &ctx->seq, size);

    if (buf != NULL) {
        (void) llo_rec_encode(&rec, buf);
        llo_ring_commit(lmcf->ring, buf);

    } else if (ngx_time() - ngx_http_llm_observer_drop_logged >= 60) {
        ngx_http_llm_observer_drop_logged = ngx_time();

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "llm_observer: ring \"%V\" is full, record of %uz "
                      "bytes dropped (%uL dropped so far); is the "
                      "evaluator running?", &lmcf->path, size,
                      (uint64_t) lmcf->ring->hdr->drops);
    }
}


/*
 * The call's outcome (llo_call.h), computed once: after the response has
 * ended it is kept, and the variables, the record and the limits read
 * that one.  Before, a variable gets what is known so far.
 */

llo_call_t *
ngx_http_llm_observer_outcome(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx)
{
    llo_call_in_t  in;

    if (ctx->outcome_final) {
        return &ctx->outcome;
    }

    ngx_http_llm_observer_call_in(r, ctx, &in);

    return ngx_http_llm_observer_outcome_of(ctx, &in);
}


/* the same from what the caller has gathered already (the log phase) */

static llo_call_t *
ngx_http_llm_observer_outcome_of(ngx_http_llm_observer_ctx_t *ctx,
    llo_call_in_t *in)
{
    if (ctx->outcome_final) {
        return &ctx->outcome;
    }

    if (llo_call_needs_count(in) && ctx->completion_count < 0) {
        ngx_http_llm_observer_count_completion(ctx);
        in->completion_count = ctx->completion_count;
        in->completion_trunc = ctx->count_trunc;
    }

    llo_call_outcome(in, &ctx->outcome);

    ctx->outcome_final = in->resp_ended;

    return &ctx->outcome;
}


/* what the call saw, for llo_call.c: the parsers' results and the
 * module's decisions */

static void
ngx_http_llm_observer_call_in(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx, llo_call_in_t *in)
{
    ngx_uint_t                          status;
    ngx_http_llm_observer_main_conf_t  *lmcf;

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llm_observer_module);

    ngx_memzero(in, sizeof(llo_call_in_t));

    status = ctx->status ? ctx->status : r->headers_out.status;

    in->provider = ctx->provider;
    in->api = ctx->api;
    in->status = (unsigned) status;
    in->rq = ctx->req ? llo_req_result(ctx->req) : NULL;
    in->rs = ctx->resp ? llo_resp_result(ctx->resp) : NULL;
    in->uri_model = &ctx->uri_model;
    in->prompt_estimate = ctx->prompt_estimate;
    in->completion_count = ctx->completion_count;
    in->encoding = ctx->tok ? llo_tok_encoding(ctx->tok) : NULL;
    in->prices = lmcf->prices.elts;
    in->nprices = lmcf->prices.nelts;
    in->key = ctx->key;
    in->refused = ctx->refused;
    in->tok_exact = ctx->tok_exact;
    in->completion_trunc = ctx->count_trunc;
    in->resp_ended = ctx->resp_done;
    in->sse = ctx->sse;
    in->uri_stream = ctx->uri_stream;
    in->in_file = ctx->in_file;
    in->gzip = ctx->gzip;
    in->usage_added = ctx->usage_added;
    in->cut = ctx->cut_done;
}


/*
 * The completion counted from the text received: a stream's text was
 * counted as it came (finished here, once), a JSON body's text now.
 */

static void
ngx_http_llm_observer_count_completion(ngx_http_llm_observer_ctx_t *ctx)
{
    llo_resp_t  *rs;

    rs = llo_resp_result(ctx->resp);

    if (ctx->count) {
        ctx->completion_count = llo_tok_stream_finish(ctx->count);

    } else if (!ctx->sse) {
        ctx->completion_count = llo_tok_count(ctx->tok,
                                              (const uint8_t *) rs->text.data,
                                              rs->text.len);
        ctx->count_trunc = rs->text.truncated;

    } else {
        ctx->completion_count = 0;
    }
}
