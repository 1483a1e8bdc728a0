/*
 * ngx_http_llm_observer_module: the filters.  The request body is read as
 * it passes through the request body filter chain (the prompt counted
 * before it is forwarded), the response in the header and body filters;
 * a location without llm_observer gets no ctx, and its requests pass
 * straight through.  What changes bytes is in
 * ngx_http_llm_observer_stream.c.
 */

#include "ngx_http_llm_observer_module.h"


static ngx_int_t ngx_http_llm_observer_request_body_filter(
    ngx_http_request_t *r, ngx_chain_t *in);
static void ngx_http_llm_observer_prompt(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx);
static uint64_t ngx_http_llm_observer_count(void *data, const uint8_t *s,
    size_t len);
static void ngx_http_llm_observer_choose_tok(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx);
static void ngx_http_llm_observer_text(void *data, const uint8_t *s,
    size_t len);
static ngx_int_t ngx_http_llm_observer_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_llm_observer_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);


static ngx_http_request_body_filter_pt   ngx_http_next_request_body_filter;
static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;

/* the stream rewriting (ngx_http_llm_observer_stream.c) passes on too */
ngx_http_output_body_filter_pt           ngx_http_llm_observer_next_body_filter;


static ngx_int_t
ngx_http_llm_observer_request_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in)
{
    ngx_int_t                           rc;
    ngx_buf_t                          *b;
    ngx_chain_t                        *cl;
    llo_req_t                          *rq;
    ngx_http_llm_observer_ctx_t        *ctx;
    ngx_http_llm_observer_loc_conf_t   *lcf;
    ngx_http_llm_observer_main_conf_t  *lmcf;

    ctx = ngx_http_llm_observer_get_ctx(r);

    if (ctx == NULL || ctx->req_done) {
        return ngx_http_next_request_body_filter(r, in);
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_llm_observer_module);

    if (ctx->req == NULL) {
        ctx->req = llo_req_create(ctx->api, lcf->max_text);
        if (ctx->req == NULL) {
            ctx->req_done = 1;
            return ngx_http_next_request_body_filter(r, in);
        }

        lmcf = ngx_http_get_module_main_conf(r, ngx_http_llm_observer_module);

        if (lmcf->toks.nelts == 0) {
            llo_req_no_count(ctx->req);
        }
    }

    /* the body is still in memory here: the save filter writes it out
     * to a temp file only after the whole chain has run */

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b) && b->last > b->pos) {
            llo_req_feed(ctx->req, b->pos, b->last - b->pos);
        }

        if (b->last_buf) {
            llo_req_finish(ctx->req);
            ctx->req_done = 1;
            break;
        }
    }

    if (!ctx->req_done) {
        return ngx_http_next_request_body_filter(r, in);
    }

    /* the whole body has been seen: count the prompt before it is sent */

    ngx_http_llm_observer_prompt(r, ctx);

    rq = llo_req_result(ctx->req);

    if (!lcf->stream_usage
        || ctx->a == NULL || !ctx->a->stream_options
        || !ctx->prov->stream_usage
        || rq->error[0] != '\0'
        || rq->stream != 1
        || rq->stream_options
        || r->request_body_no_buffering)
    {
        return ngx_http_next_request_body_filter(r, in);
    }

    /* the body is complete in rb->bufs once the save filter has run */

    rc = ngx_http_next_request_body_filter(r, in);

    if (rc == NGX_OK) {
        ngx_http_llm_observer_add_usage(r, ctx);
    }

    return rc;
}


/*
 * The prompt's tokens, counted once the body is complete and before it is
 * forwarded ($llm_prompt_tokens_estimate, and the record): tiktoken with
 * the encoding of the request's model.
 */

static void
ngx_http_llm_observer_prompt(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx)
{
    ngx_http_llm_observer_choose_tok(r, ctx);

    if (ctx->tok == NULL) {
        return;
    }

    ctx->prompt_estimate = llo_req_estimate(ctx->req,
                                            ngx_http_llm_observer_count,
                                            ctx->tok);
}


static uint64_t
ngx_http_llm_observer_count(void *data, const uint8_t *s, size_t len)
{
    return llo_tok_count(data, s, len);
}


/*
 * The encoding for the call's model: the first llm_observer_tokenizer_model
 * that matches (the conf's own, then tiktoken's table).  The count is
 * exact ("tokenizer") only for an OpenAI model; any other model gets an
 * estimate with the matching encoding, or with o200k_base (cl100k_base)
 * when nothing matches.
 */

static void
ngx_http_llm_observer_choose_tok(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx)
{
    size_t                              len;
    ngx_str_t                           name;
    ngx_uint_t                          i;
    llo_req_t                          *rq;
    llo_sstr_t                         *model;
    ngx_http_llm_observer_model_t      *m;
    ngx_http_llm_observer_main_conf_t  *lmcf;

    if (ctx->tok_chosen) {
        return;
    }

    ctx->tok_chosen = 1;

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llm_observer_module);

    if (lmcf->toks.nelts == 0 || ctx->a == NULL) {
        return;
    }

    rq = ctx->req ? llo_req_result(ctx->req) : NULL;

    model = (rq && rq->model.set) ? &rq->model
            : ctx->uri_model.set ? &ctx->uri_model : NULL;

    if (model != NULL) {
        m = lmcf->models.elts;

        for (i = 0; i < lmcf->models.nelts; i++) {
            len = m[i].model.len;

            if (m[i].prefix ? model->len >= len
                              && ngx_strncmp(model->data, m[i].model.data,
                                             len) == 0
                            : model->len == len
                              && ngx_strncmp(model->data, m[i].model.data,
                                             len) == 0)
            {
                ctx->tok = m[i].tok;
                ctx->tok_exact = ctx->prov->tiktoken;
                return;
            }
        }
    }

    ngx_str_set(&name, "o200k_base");
    ctx->tok = ngx_http_llm_observer_find_tok(lmcf, &name);

    if (ctx->tok == NULL) {
        ngx_str_set(&name, "cl100k_base");
        ctx->tok = ngx_http_llm_observer_find_tok(lmcf, &name);
    }

    if (ctx->tok == NULL) {
        ctx->tok = ((ngx_http_llm_observer_tok_t *) lmcf->toks.elts)[0].tok;
    }
}


/* response text on its way to the tokenizer, in case no usage comes */

static void
ngx_http_llm_observer_text(void *data, const uint8_t *s, size_t len)
{
    ngx_http_llm_observer_ctx_t  *ctx = data;

    /* text after the cut never reaches the client: not counted */
    if (ctx->cut_at) {
        return;
    }

    if (ctx->cut_on) {
        /* a delta alone has at least the tokens it has in the text */
        ctx->cut_count += llo_tok_count(ctx->tok, s, len);

        if (ctx->cut_count > ctx->cut_allow) {
            ctx->cut_at = llo_resp_ev_end(ctx->resp);
        }
    }

    if (ctx->count == NULL) {
        ctx->count = llo_tok_stream_create(ctx->tok,
                                           NGX_HTTP_LLM_OBSERVER_TOK_HOLD);
        if (ctx->count == NULL) {
            return;
        }
    }

    llo_tok_stream_feed(ctx->count, s, len);
}


static ngx_int_t
ngx_http_llm_observer_header_filter(ngx_http_request_t *r)
{
    int                                body;
    ngx_str_t                         *ct;
    ngx_table_elt_t                   *ce;
    ngx_http_llm_observer_ctx_t       *ctx;
    ngx_http_llm_observer_loc_conf_t  *lcf;

    ctx = ngx_http_llm_observer_get_ctx(r);

    if (ctx == NULL || ctx->resp != NULL) {
        return ngx_http_next_header_filter(r);
    }

    ctx->status = r->headers_out.status;

    if (ctx->admitted
        && ngx_http_llm_observer_limit_headers(r, ctx) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ct = &r->headers_out.content_type;

    if (r->header_only || r->method == NGX_HTTP_HEAD) {
        body = LLO_BODY_OTHER;

    } else if (ct->len >= 17
               && ngx_strncasecmp(ct->data, (u_char *) "text/event-stream",
                                  17) == 0)
    {
        body = LLO_BODY_SSE;

    } else if ((ct->len >= 16
                && ngx_strncasecmp(ct->data, (u_char *) "application/json",
                                   16) == 0)
               || ngx_strlcasestrn(ct->data, ct->data + ct->len,
                                   (u_char *) "+json", 5 - 1) != NULL)
    {
        body = LLO_BODY_JSON;

    } else {
        body = LLO_BODY_OTHER;
    }

    ce = r->headers_out.content_encoding;

    if (ce && ce->hash && ce->value.len == 4
        && ngx_strncasecmp(ce->value.data, (u_char *) "gzip", 4) == 0)
    {
        ctx->gzip = 1;

    } else if (ce && ce->hash && ce->value.len
               && !(ce->value.len == 8
                    && ngx_strncasecmp(ce->value.data, (u_char *) "identity",
                                       8) == 0))
    {
        /* br, deflate, zstd: bytes and timings only */
        body = LLO_BODY_OTHER;
    }

    ctx->sse = (body == LLO_BODY_SSE);

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_llm_observer_module);

    ctx->resp = llo_resp_create(ctx->api, body, ctx->gzip, lcf->max_text,
                                LLO_SKIM_ON);

    ngx_http_llm_observer_choose_tok(r, ctx);

    /* a stream's text is counted as it passes; a whole body's, only if it
     * has no usage, from the text the record keeps */

    if (ctx->resp && ctx->tok && ctx->sse) {
        llo_resp_on_text(ctx->resp, ngx_http_llm_observer_text, ctx);
    }

    /* the usage chunk asked for is cut from a plain SSE 200; a gzipped
     * stream cannot be cut without recompressing it, and passes as is */

    if (ctx->usage_added && ctx->resp && ctx->sse && !ctx->gzip
        && r->headers_out.status == NGX_HTTP_OK)
    {
        ctx->strip_on = 1;
        ngx_http_clear_content_length(r);
        ngx_http_clear_accept_ranges(r);

    } else if (ctx->cut_allow >= 0 && ctx->resp && ctx->sse && !ctx->gzip
               && ctx->tok && r->headers_out.status == NGX_HTTP_OK
               && ctx->a && ctx->a->cut_end)
    {
        ctx->cut_on = 1;
        ngx_http_clear_content_length(r);
        ngx_http_clear_accept_ranges(r);
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_llm_observer_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_buf_t                    *b;
    ngx_chain_t                  *cl;
    ngx_http_llm_observer_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_llm_observer_module);

    if (ctx != NULL && ctx->cut_done) {
        return ngx_http_llm_observer_cut(r, ctx, in);
    }

    if (ctx == NULL || ctx->resp == NULL || ctx->resp_done
        || r != r->main)
    {
        return ngx_http_llm_observer_next_body_filter(r, in);
    }

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            if (b->last > b->pos) {
                if (ctx->first_byte_us == 0) {
                    ctx->first_byte_us = ngx_http_llm_observer_now_us();
                }

                if (!ctx->in_file) {
                    llo_resp_feed(ctx->resp, b->pos, b->last - b->pos);
                }

                ctx->wire += b->last - b->pos;
            }

        } else if (b->in_file && b->file_last > b->file_pos) {
            /* reading the upstream's temp file would block the worker */
            if (ctx->first_byte_us == 0) {
                ctx->first_byte_us = ngx_http_llm_observer_now_us();
            }

            ctx->in_file = 1;
        }

        if (b->last_buf) {
            if (!ctx->in_file) {
                llo_resp_finish(ctx->resp);
            }

            ctx->resp_done = 1;
            break;
        }
    }

    if (ctx->strip_on) {
        return ngx_http_llm_observer_strip(r, ctx, in);
    }

    if (ctx->cut_at) {
        return ngx_http_llm_observer_cut(r, ctx, in);
    }

    return ngx_http_llm_observer_next_body_filter(r, in);
}


/* the filters, in front of the ones installed before them */

void
ngx_http_llm_observer_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_request_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter =
                                     ngx_http_llm_observer_request_body_filter;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_llm_observer_header_filter;

    ngx_http_llm_observer_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_llm_observer_body_filter;
}
