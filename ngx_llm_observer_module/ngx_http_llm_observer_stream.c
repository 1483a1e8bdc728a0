/*
 * ngx_http_llm_observer_module: the bytes it changes, and only where a
 * directive asks: llm_observer_stream_usage (include_usage added to the
 * request, the usage chunk taken out of the stream again, llo_strip.h)
 * and llm_observer_limit_stream cut (the stream ended in the provider's
 * format, llo_api.h).
 */

#include "ngx_http_llm_observer_module.h"


static ngx_buf_t *ngx_http_llm_observer_cut_end(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx, u_char *head, size_t len);
static ngx_int_t ngx_http_llm_observer_strip_held(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx, ngx_chain_t ***ll);
static ngx_int_t ngx_http_llm_observer_pass(ngx_http_request_t *r,
    ngx_chain_t *out, ngx_chain_t **ll);
static ngx_int_t ngx_http_llm_observer_link(ngx_http_request_t *r,
    ngx_chain_t ***ll, ngx_buf_t *b);


/*
 * llm_observer_stream_usage: an OpenAI streaming request whose client did
 * not ask for usage gets "stream_options":{"include_usage":true} added
 * before its closing brace, so the count is the provider's; the usage
 * chunk this adds to the stream is cut out again (llo_strip.h).  Only a
 * body kept in memory is changed (one that went to a temp file is sent
 * as it is, counted by the tokenizer), and not an HTTP/2 body without a
 * length, whose length nginx sets after this filter.
 */

void
ngx_http_llm_observer_add_usage(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx)
{
    u_char                   *p, *q;
    ngx_buf_t                *b, *ins, *tail;
    ngx_chain_t              *cl, *brace, *ln;
    ngx_http_request_body_t  *rb;
    static u_char             add[] = ",\"stream_options\":"
                                      "{\"include_usage\":true}}";

    rb = r->request_body;

    if (rb == NULL || rb->temp_file || rb->bufs == NULL
        || (r->headers_in.chunked && r->http_version >= NGX_HTTP_VERSION_20))
    {
        return;
    }

    /* the last byte that is not white space must be the closing brace */

    brace = NULL;
    q = NULL;

    for (cl = rb->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file || (!ngx_buf_in_memory(b) && ngx_buf_size(b))) {
            return;
        }

        if (!ngx_buf_in_memory(b)) {
            continue;
        }

        for (p = b->last; p > b->pos; p--) {
            if (p[-1] != ' ' && p[-1] != '\t' && p[-1] != '\r'
                && p[-1] != '\n')
            {
                brace = cl;
                q = p - 1;
                break;
            }
        }
    }

    if (brace == NULL || *q != '}') {
        return;
    }

    b = brace->buf;

    ins = ngx_create_temp_buf(r->pool, sizeof(add) - 1);
    ln = ngx_alloc_chain_link(r->pool);
    if (ins == NULL || ln == NULL) {
        return;
    }

    ins->last = ngx_cpymem(ins->pos, add, sizeof(add) - 1);

    tail = NULL;

    if (q + 1 < b->last) {
        tail = ngx_calloc_buf(r->pool);
        cl = ngx_alloc_chain_link(r->pool);
        if (tail == NULL || cl == NULL) {
            return;
        }

        *tail = *b;
        tail->pos = q + 1;

        cl->buf = tail;
        cl->next = brace->next;
        brace->next = cl;

    } else {
        ins->last_buf = b->last_buf;
        ins->last_in_chain = b->last_in_chain;
    }

    b->last_buf = 0;
    b->last_in_chain = 0;
    b->last = q;

    /* the brace is replaced: "...}" becomes "...,<add>}" */

    if (b->last == b->pos) {
        brace->buf = ins;

    } else {
        ln->buf = ins;
        ln->next = brace->next;
        brace->next = ln;
    }

    r->headers_in.content_length_n += sizeof(add) - 1 - 1;
    ctx->usage_added = 1;
}


/*
 * llm_observer_stream_usage: the stream is given to the stripper
 * (llo_strip.h), which takes out the "usage":null members and, past the
 * end of the event with the finish reason (the parser has just said where
 * that is), the usage chunk.  Its output goes out in buffers of our own;
 * the upstream's buffers are marked sent, never handed on changed.  A
 * buffer in a file cannot be changed: from there on the stream passes as
 * it is.
 */

ngx_int_t
ngx_http_llm_observer_strip(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx, ngx_chain_t *in)
{
    size_t        n, o;
    ngx_buf_t    *b, *nb;
    ngx_chain_t  *cl, *out, **ll;
    llo_resp_t   *rs;

    rs = llo_resp_result(ctx->resp);

    if (rs->finish_end) {
        ctx->strip.arm_at = rs->finish_end;
    }

    out = NULL;
    ll = &out;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;
        nb = b;

        if (!ctx->strip_on) {
            goto link;
        }

        if (!ngx_buf_in_memory(b)) {

            /* what is held goes before a file buffer or the end */

            if ((b->in_file || b->last_buf)
                && ngx_http_llm_observer_strip_held(r, ctx, &ll) != NGX_OK)
            {
                return NGX_ERROR;
            }

            if (b->in_file) {
                ctx->strip_on = 0;
            }

            goto link;
        }

        n = b->last - b->pos;

        nb = ngx_create_temp_buf(r->pool, llo_strip_room(&ctx->strip, n) + 1);
        if (nb == NULL) {
            return NGX_ERROR;
        }

        o = llo_strip_feed(&ctx->strip, b->pos, n, nb->pos);

        if (b->last_buf) {
            o += llo_strip_finish(&ctx->strip, nb->pos + o);
        }

        nb->last = nb->pos + o;
        nb->flush = b->flush;
        nb->sync = b->sync;
        nb->last_buf = b->last_buf;
        nb->last_in_chain = b->last_in_chain;

        b->pos = b->last;

        if (o == 0) {
            /* nothing to send now: a special buffer, or none at all */
            nb->temporary = 0;

            if (!nb->flush && !nb->sync && !nb->last_buf
                && !nb->last_in_chain)
            {
                continue;
            }
        }

    link:

        if (ngx_http_llm_observer_link(r, &ll, nb) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return ngx_http_llm_observer_pass(r, out, ll);
}


/*
 * llm_observer_limit_stream cut: the stream ends for the client right
 * after the event that used up the key's tokens, with the provider's own
 * ending (a finish reason of length / max_tokens, then [DONE] or
 * message_stop); what the upstream sends after that is dropped, and the
 * upstream connection is let go so the provider stops generating.
 */

ngx_int_t
ngx_http_llm_observer_cut(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx, ngx_chain_t *in)
{
    size_t        n, k;
    uint64_t      w;
    ngx_buf_t    *b, *nb;
    ngx_chain_t  *cl, *out, **ll;

    out = NULL;
    ll = &out;

    /* the bytes of this chain start where the stream stood before it */

    w = ctx->wire;

    for (cl = in; cl; cl = cl->next) {
        if (ngx_buf_in_memory(cl->buf)) {
            w -= cl->buf->last - cl->buf->pos;
        }
    }

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;
        nb = b;

        if (ctx->cut_done) {
            /* after the end: nothing more goes out */
            b->pos = b->last;

            if (b->in_file) {
                b->file_pos = b->file_last;
            }

            continue;
        }

        if (!ngx_buf_in_memory(b)) {
            goto link;
        }

        n = b->last - b->pos;

        if (w + n <= ctx->cut_at && !b->last_buf) {
            w += n;
            goto link;
        }

        k = w + n <= ctx->cut_at ? n : ctx->cut_at - w;
        w += n;

        nb = ngx_http_llm_observer_cut_end(r, ctx, b->pos, k);
        if (nb == NULL) {
            return NGX_ERROR;
        }

        b->pos = b->last;
        ctx->cut_done = 1;

        if (r->upstream) {
            /* the upstream module finalizes once it has no more to read:
             * its connection is closed, not kept alive */
            r->upstream->length = 0;
            r->upstream->keepalive = 0;
        }

    link:

        if (ngx_http_llm_observer_link(r, &ll, nb) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return ngx_http_llm_observer_pass(r, out, ll);
}


/* head[0..len), then the API's ending of a stream (llo_api.h), and the end */

static ngx_buf_t *
ngx_http_llm_observer_cut_end(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx, u_char *head, size_t len)
{
    u_char      *esc;
    size_t       n, m;
    llo_cut_t    cut;
    ngx_buf_t   *b;
    llo_resp_t  *rs;

    rs = llo_resp_result(ctx->resp);

    n = rs->id.len + ngx_escape_json(NULL, (u_char *) rs->id.data,
                                     rs->id.len);
    m = rs->model.len + ngx_escape_json(NULL, (u_char *) rs->model.data,
                                        rs->model.len);

    esc = ngx_pnalloc(r->pool, n + m + 1);
    b = ngx_create_temp_buf(r->pool, len + n + m + 512);
    if (esc == NULL || b == NULL) {
        return NULL;
    }

    cut.id = (char *) esc;
    cut.id_len = n;
    cut.model = (char *) esc + n;
    cut.model_len = m;
    cut.completion = ctx->cut_count;
    cut.created = ngx_time();

    (void) ngx_escape_json(esc, (u_char *) rs->id.data, rs->id.len);
    (void) ngx_escape_json(esc + n, (u_char *) rs->model.data,
                           rs->model.len);

    b->last = ngx_cpymem(b->pos, head, len);
    b->last += ctx->a->cut_end((char *) b->last, b->end - b->last, &cut);

    b->last_buf = (r == r->main);
    b->last_in_chain = 1;
    b->flush = 1;

    return b;
}


/* what the stripper holds, as a buffer linked at *ll */

static ngx_int_t
ngx_http_llm_observer_strip_held(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx, ngx_chain_t ***ll)
{
    ngx_buf_t  *b;

    if (llo_strip_room(&ctx->strip, 0) == 0) {
        ctx->strip.passing = 1;
        return NGX_OK;
    }

    b = ngx_create_temp_buf(r->pool, llo_strip_room(&ctx->strip, 0));
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last = b->pos + llo_strip_finish(&ctx->strip, b->pos);

    return ngx_http_llm_observer_link(r, ll, b);
}


/* b linked at *ll, which then points at the new link's next */

static ngx_int_t
ngx_http_llm_observer_link(ngx_http_request_t *r, ngx_chain_t ***ll,
    ngx_buf_t *b)
{
    ngx_chain_t  *ln;

    ln = ngx_alloc_chain_link(r->pool);
    if (ln == NULL) {
        return NGX_ERROR;
    }

    ln->buf = b;
    **ll = ln;
    *ll = &ln->next;

    return NGX_OK;
}


/* the chain made so far (ending at *ll) on to the next filter, if any */

static ngx_int_t
ngx_http_llm_observer_pass(ngx_http_request_t *r, ngx_chain_t *out,
    ngx_chain_t **ll)
{
    *ll = NULL;

    if (out == NULL) {
        return NGX_OK;
    }

    return ngx_http_llm_observer_next_body_filter(r, out);
}
