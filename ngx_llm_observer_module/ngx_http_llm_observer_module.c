/*
 * ngx_http_llm_observer_module: observes LLM API calls proxied by nginx.
 *
 * The request body is read as it passes through the request body filter
 * chain, the response in the header and body filters; no byte is held
 * back or changed.  At the log phase one record per call is appended to a
 * shared-memory ring (llo_ring.h) that the evaluator drains.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <grp.h>
#include <sys/vfs.h>
#include <sys/mman.h>
#include <linux/magic.h>

#include "llo_ring.h"
#include "llo_record.h"
#include "llo_parse.h"


#define NGX_HTTP_LLM_OBSERVER_RING      "/dev/shm/llm_observer.ring"
#define NGX_HTTP_LLM_OBSERVER_RING_SIZE (64 * 1024 * 1024)
#define NGX_HTTP_LLM_OBSERVER_ERR_LEN   (2 * LLO_ERR_LEN + 64)
#define NGX_HTTP_LLM_OBSERVER_MAX_TEXT  (16 * 1024 * 1024)


typedef struct {
    ngx_str_t                   path;
    uint64_t                    size;
    gid_t                       gid;
    ngx_flag_t                  used;       /* some llm_observer on */
    ngx_str_t                   conf_file;  /* where the ring was set */
    ngx_uint_t                  conf_line;
    llo_ring_t                 *ring;
    ngx_int_t                   request_id_index;
} ngx_http_llm_observer_main_conf_t;


typedef struct {
    ngx_flag_t                  enable;
    size_t                      max_text;
} ngx_http_llm_observer_loc_conf_t;


typedef struct {
    llo_req_parser_t           *req;
    llo_resp_parser_t          *resp;
    uint64_t                    seq;
    int64_t                     first_byte_us;
    ngx_uint_t                  status;
    unsigned                    flushed:1;
    unsigned                    resp_done:1;
    unsigned                    req_done:1;
    unsigned                    in_file:1;
    unsigned                    gzip:1;
    unsigned                    sse:1;
} ngx_http_llm_observer_ctx_t;


static ngx_http_llm_observer_ctx_t *ngx_http_llm_observer_get_ctx(
    ngx_http_request_t *r);
static void ngx_http_llm_observer_cleanup(void *data);
static ngx_int_t ngx_http_llm_observer_request_body_filter(
    ngx_http_request_t *r, ngx_chain_t *in);
static ngx_int_t ngx_http_llm_observer_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_llm_observer_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_llm_observer_log_handler(ngx_http_request_t *r);
static void ngx_http_llm_observer_flush(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx);
static int64_t ngx_http_llm_observer_now_us(void);
static ngx_str_t *ngx_http_llm_observer_provider(ngx_http_request_t *r);
static ngx_int_t ngx_http_llm_observer_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_llm_observer_add_variables(ngx_conf_t *cf);
static void *ngx_http_llm_observer_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_llm_observer_init_main_conf(ngx_conf_t *cf,
    void *conf);
static void *ngx_http_llm_observer_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_llm_observer_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_http_llm_observer(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_llm_observer_ring(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_llm_observer_max_text(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static void ngx_http_llm_observer_ring_cleanup(void *data);
static ngx_int_t ngx_http_llm_observer_open_ring(ngx_conf_t *cf,
    ngx_http_llm_observer_main_conf_t *lmcf);
static ngx_int_t ngx_http_llm_observer_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_llm_observer_init_process(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_llm_observer_init(ngx_conf_t *cf);


static ngx_command_t  ngx_http_llm_observer_commands[] = {

    { ngx_string("llm_observer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_llm_observer,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_llm_observer_loc_conf_t, enable),
      NULL },

    { ngx_string("llm_observer_ring"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_llm_observer_ring,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("llm_observer_max_text"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_llm_observer_max_text,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_llm_observer_loc_conf_t, max_text),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_llm_observer_module_ctx = {
    ngx_http_llm_observer_add_variables,    /* preconfiguration */
    ngx_http_llm_observer_init,             /* postconfiguration */

    ngx_http_llm_observer_create_main_conf, /* create main configuration */
    ngx_http_llm_observer_init_main_conf,   /* init main configuration */

    NULL,                                   /* create server configuration */
    NULL,                                   /* merge server configuration */

    ngx_http_llm_observer_create_loc_conf,  /* create location configuration */
    ngx_http_llm_observer_merge_loc_conf    /* merge location configuration */
};


ngx_module_t  ngx_http_llm_observer_module = {
    NGX_MODULE_V1,
    &ngx_http_llm_observer_module_ctx,      /* module context */
    ngx_http_llm_observer_commands,         /* module directives */
    NGX_HTTP_MODULE,                        /* module type */
    NULL,                                   /* init master */
    ngx_http_llm_observer_init_module,      /* init module */
    ngx_http_llm_observer_init_process,     /* init process */
    NULL,                                   /* init thread */
    NULL,                                   /* exit thread */
    NULL,                                   /* exit process */
    NULL,                                   /* exit master */
    NGX_MODULE_V1_PADDING
};


enum {
    NGX_HTTP_LLM_VAR_MODEL = 0,
    NGX_HTTP_LLM_VAR_PROMPT_TOKENS,
    NGX_HTTP_LLM_VAR_COMPLETION_TOKENS,
    NGX_HTTP_LLM_VAR_TOTAL_TOKENS,
    NGX_HTTP_LLM_VAR_TTFT_MS,
    NGX_HTTP_LLM_VAR_STREAM,
    NGX_HTTP_LLM_VAR_FINISH_REASON,
    NGX_HTTP_LLM_VAR_REQUEST_ID
};


static ngx_http_variable_t  ngx_http_llm_observer_vars[] = {

    { ngx_string("llm_model"), NULL, ngx_http_llm_observer_variable,
      NGX_HTTP_LLM_VAR_MODEL, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llm_prompt_tokens"), NULL, ngx_http_llm_observer_variable,
      NGX_HTTP_LLM_VAR_PROMPT_TOKENS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llm_completion_tokens"), NULL,
      ngx_http_llm_observer_variable,
      NGX_HTTP_LLM_VAR_COMPLETION_TOKENS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llm_total_tokens"), NULL, ngx_http_llm_observer_variable,
      NGX_HTTP_LLM_VAR_TOTAL_TOKENS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llm_ttft_ms"), NULL, ngx_http_llm_observer_variable,
      NGX_HTTP_LLM_VAR_TTFT_MS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llm_stream"), NULL, ngx_http_llm_observer_variable,
      NGX_HTTP_LLM_VAR_STREAM, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llm_finish_reason"), NULL, ngx_http_llm_observer_variable,
      NGX_HTTP_LLM_VAR_FINISH_REASON, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llm_request_id"), NULL, ngx_http_llm_observer_variable,
      NGX_HTTP_LLM_VAR_REQUEST_ID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_http_request_body_filter_pt   ngx_http_next_request_body_filter;
static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;

/* per worker: a full ring is reported at most once a minute */
static time_t                            ngx_http_llm_observer_drop_logged;


/*
 * The ctx is created by whichever filter sees the request first; a
 * request in a location without llm_observer on never gets one, and the
 * filters then pass straight through.
 */

static ngx_http_llm_observer_ctx_t *
ngx_http_llm_observer_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t                 *cln;
    ngx_http_llm_observer_ctx_t        *ctx;
    ngx_http_llm_observer_loc_conf_t   *lcf;
    ngx_http_llm_observer_main_conf_t  *lmcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_llm_observer_module);
    if (ctx != NULL) {
        return ctx;
    }

    if (r != r->main) {
        return NULL;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_llm_observer_module);
    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llm_observer_module);

    if (!lcf->enable || lmcf->ring == NULL) {
        return NULL;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_llm_observer_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_llm_observer_cleanup;
    cln->data = ctx;

    ctx->seq = llo_ring_next_seq(lmcf->ring);

    ngx_http_set_ctx(r, ctx, ngx_http_llm_observer_module);

    return ctx;
}


static void
ngx_http_llm_observer_cleanup(void *data)
{
    ngx_http_llm_observer_ctx_t  *ctx = data;

    llo_req_destroy(ctx->req);
    llo_resp_destroy(ctx->resp);

    ctx->req = NULL;
    ctx->resp = NULL;
}


static ngx_int_t
ngx_http_llm_observer_request_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in)
{
    ngx_buf_t                         *b;
    ngx_chain_t                       *cl;
    ngx_http_llm_observer_ctx_t       *ctx;
    ngx_http_llm_observer_loc_conf_t  *lcf;

    ctx = ngx_http_llm_observer_get_ctx(r);

    if (ctx == NULL || ctx->req_done) {
        return ngx_http_next_request_body_filter(r, in);
    }

    if (ctx->req == NULL) {
        lcf = ngx_http_get_module_loc_conf(r, ngx_http_llm_observer_module);

        ctx->req = llo_req_create(lcf->max_text);
        if (ctx->req == NULL) {
            ctx->req_done = 1;
            return ngx_http_next_request_body_filter(r, in);
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

    return ngx_http_next_request_body_filter(r, in);
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

    ctx->resp = llo_resp_create(body, ctx->gzip, lcf->max_text, LLO_SKIM_ON);

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_llm_observer_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_buf_t                    *b;
    ngx_chain_t                  *cl;
    ngx_http_llm_observer_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_llm_observer_module);

    if (ctx == NULL || ctx->resp == NULL || ctx->resp_done
        || r != r->main)
    {
        return ngx_http_next_body_filter(r, in);
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

    return ngx_http_next_body_filter(r, in);
}


static ngx_int_t
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
    u_char                             *buf, *p;
    size_t                              size;
    int64_t                             now, start, flags;
    ngx_str_t                          *provider;
    llo_rec_t                           rec;
    llo_req_t                          *rq;
    llo_resp_t                         *rs;
    ngx_uint_t                          status;
    ngx_http_variable_value_t          *vv;
    ngx_http_upstream_state_t          *us;
    ngx_http_llm_observer_main_conf_t  *lmcf;
    u_char                              err[NGX_HTTP_LLM_OBSERVER_ERR_LEN];

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

    provider = ngx_http_llm_observer_provider(r);
    llo_rec_str(&rec, LLO_S_PROVIDER, provider->data, provider->len);
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

    flags = 0;
    p = err;

    rq = NULL;

    if (ctx->req) {
        if (!ctx->req_done) {
            llo_req_finish(ctx->req);
            ctx->req_done = 1;
        }

        rq = llo_req_result(ctx->req);

        if (rq->model.set) {
            llo_rec_str(&rec, LLO_S_REQUEST_MODEL, rq->model.data,
                        rq->model.len);
        }

        if (rq->stream == 1) {
            llo_rec_num(&rec, LLO_N_STREAM, 1);

        } else if (rq->stream == 0) {
            llo_rec_num(&rec, LLO_N_STREAM, 0);
        }

        if (rq->max_tokens >= 0) {
            llo_rec_num(&rec, LLO_N_MAX_TOKENS, rq->max_tokens);
        }

        llo_rec_str(&rec, LLO_S_PROMPT_TEXT, rq->text.data, rq->text.len);

        if (rq->text.truncated) {
            flags |= LLO_FLAG_PROMPT_TRUNC;
        }

        if (rq->error[0]) {
            p = ngx_snprintf(p, err + sizeof(err) - p, "%s", rq->error);
        }
    }

    if (ctx->resp) {
        if (!ctx->resp_done) {
            if (!ctx->in_file) {
                llo_resp_finish(ctx->resp);
            }
            ctx->resp_done = 1;
        }

        rs = llo_resp_result(ctx->resp);

        if (ctx->sse) {
            llo_rec_num(&rec, LLO_N_STREAM, 1);

            if (!rs->done) {
                flags |= LLO_FLAG_INCOMPLETE;
            }

        } else if (!llo_rec_has_num(&rec, LLO_N_STREAM)) {
            /* as $llm_stream says: a response that is not SSE, to a
             * request that did not say, was not streamed */
            llo_rec_num(&rec, LLO_N_STREAM, 0);
        }

        if (rs->id.set) {
            llo_rec_str(&rec, LLO_S_RESPONSE_ID, rs->id.data, rs->id.len);
        }

        if (rs->model.set) {
            llo_rec_str(&rec, LLO_S_RESPONSE_MODEL, rs->model.data,
                        rs->model.len);
        }

        if (rs->finish_reason.set) {
            llo_rec_str(&rec, LLO_S_FINISH_REASON, rs->finish_reason.data,
                        rs->finish_reason.len);
        }

        if (rs->error_type.set) {
            llo_rec_str(&rec, LLO_S_ERROR_TYPE, rs->error_type.data,
                        rs->error_type.len);
        }

        if (rs->error_message.set) {
            llo_rec_str(&rec, LLO_S_ERROR_MESSAGE, rs->error_message.data,
                        rs->error_message.len);
        }

        if (rs->prompt_tokens >= 0) {
            llo_rec_num(&rec, LLO_N_PROMPT_TOKENS, rs->prompt_tokens);
        }

        if (rs->completion_tokens >= 0) {
            llo_rec_num(&rec, LLO_N_COMPLETION_TOKENS, rs->completion_tokens);
        }

        if (rs->total_tokens >= 0) {
            llo_rec_num(&rec, LLO_N_TOTAL_TOKENS, rs->total_tokens);
        }

        if (rs->cached_tokens >= 0) {
            llo_rec_num(&rec, LLO_N_CACHED_TOKENS, rs->cached_tokens);
        }

        if (rs->reasoning_tokens >= 0) {
            llo_rec_num(&rec, LLO_N_REASONING_TOKENS, rs->reasoning_tokens);
        }

        if (rs->usage) {
            llo_rec_str(&rec, LLO_S_TOKEN_SOURCE, "provider", 8);

        } else {
            llo_rec_str(&rec, LLO_S_TOKEN_SOURCE, "none", 4);
        }

        llo_rec_str(&rec, LLO_S_RESPONSE_TEXT, rs->text.data, rs->text.len);

        if (rs->text.truncated) {
            flags |= LLO_FLAG_RESP_TRUNC;
        }

        if (ctx->gzip) {
            flags |= LLO_FLAG_GZIP;
        }

        if (rs->error[0] || ctx->in_file) {
            if (p != err) {
                p = ngx_snprintf(p, err + sizeof(err) - p, "; ");
            }

            if (rs->error[0]) {
                p = ngx_snprintf(p, err + sizeof(err) - p, "%s", rs->error);

            } else {
                p = ngx_snprintf(p, err + sizeof(err) - p,
                                 "response body went to a temp file at "
                                 "byte %uL and was not read (set "
                                 "proxy_max_temp_file_size 0, or "
                                 "sendfile off)",
                                 (uint64_t) rs->bytes);
            }
        }
    }

    if (r->connection->error || status == NGX_HTTP_CLIENT_CLOSED_REQUEST) {
        flags |= LLO_FLAG_CLIENT_ABORT;
    }

    if (p != err) {
        llo_rec_str(&rec, LLO_S_PARSE_ERROR, err, p - err);
    }

    llo_rec_num(&rec, LLO_N_FLAGS, flags);

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


static int64_t
ngx_http_llm_observer_now_us(void)
{
    struct timeval  tv;

    ngx_gettimeofday(&tv);

    return (int64_t) tv.tv_sec * 1000000 + tv.tv_usec;
}


static ngx_str_t *
ngx_http_llm_observer_provider(ngx_http_request_t *r)
{
    ngx_uint_t        i;
    static ngx_str_t  openai = ngx_string("openai");
    static ngx_str_t  unknown = ngx_string("unknown");
    static ngx_str_t  paths[] = {
        ngx_string("/chat/completions"),
        ngx_string("/completions"),
        ngx_string("/embeddings"),
        ngx_string("/responses")
    };

    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        if (r->uri.len >= paths[i].len
            && ngx_strncmp(r->uri.data + r->uri.len - paths[i].len,
                           paths[i].data, paths[i].len) == 0)
        {
            return &openai;
        }
    }

    return &unknown;
}


static ngx_int_t
ngx_http_llm_observer_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                             *p;
    int64_t                             n;
    llo_req_t                          *rq;
    llo_resp_t                         *rs;
    llo_sstr_t                         *s;
    ngx_http_llm_observer_ctx_t        *ctx;
    ngx_http_llm_observer_main_conf_t  *lmcf;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_llm_observer_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    rq = ctx->req ? llo_req_result(ctx->req) : NULL;
    rs = ctx->resp ? llo_resp_result(ctx->resp) : NULL;

    n = -1;
    s = NULL;

    switch (data) {

    case NGX_HTTP_LLM_VAR_MODEL:
        if (rs && rs->model.set) {
            s = &rs->model;

        } else if (rq && rq->model.set) {
            s = &rq->model;
        }
        break;

    case NGX_HTTP_LLM_VAR_PROMPT_TOKENS:
        n = rs ? rs->prompt_tokens : -1;
        break;

    case NGX_HTTP_LLM_VAR_COMPLETION_TOKENS:
        n = rs ? rs->completion_tokens : -1;
        break;

    case NGX_HTTP_LLM_VAR_TOTAL_TOKENS:
        n = rs ? rs->total_tokens : -1;
        break;

    case NGX_HTTP_LLM_VAR_TTFT_MS:
        if (ctx->first_byte_us) {
            n = (ctx->first_byte_us - (int64_t) r->main->start_sec * 1000000
                 - (int64_t) r->main->start_msec * 1000) / 1000;
            n = n < 0 ? 0 : n;
        }
        break;

    case NGX_HTTP_LLM_VAR_STREAM:
        if (ctx->sse || (rq && rq->stream == 1)) {
            n = 1;

        } else if (rs || (rq && rq->stream == 0)) {
            n = 0;
        }
        break;

    case NGX_HTTP_LLM_VAR_FINISH_REASON:
        if (rs && rs->finish_reason.set) {
            s = &rs->finish_reason;
        }
        break;

    case NGX_HTTP_LLM_VAR_REQUEST_ID:
        p = ngx_pnalloc(r->pool, LLO_ID_LEN + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        lmcf = ngx_http_get_module_main_conf(r, ngx_http_llm_observer_module);

        llo_format_id(lmcf->ring->hdr->instance, ctx->seq, (char *) p);

        v->data = p;
        v->len = LLO_ID_LEN;
        v->valid = 1;
        v->no_cacheable = 0;
        v->not_found = 0;
        return NGX_OK;
    }

    if (s != NULL) {
        v->data = (u_char *) s->data;
        v->len = s->len;

    } else if (n >= 0) {
        p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        v->data = p;
        v->len = ngx_sprintf(p, "%L", n) - p;

    } else {
        v->not_found = 1;
        return NGX_OK;
    }

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_llm_observer_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_llm_observer_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static void *
ngx_http_llm_observer_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_llm_observer_main_conf_t  *lmcf;

    lmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_llm_observer_main_conf_t));
    if (lmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     lmcf->path = { 0, NULL };
     *     lmcf->ring = NULL;
     */

    lmcf->size = NGX_CONF_UNSET_SIZE;
    lmcf->gid = (gid_t) -1;
    lmcf->used = NGX_CONF_UNSET;
    lmcf->request_id_index = NGX_ERROR;

    return lmcf;
}


static char *
ngx_http_llm_observer_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_llm_observer_main_conf_t  *lmcf = conf;

    if (lmcf->path.data == NULL) {
        ngx_str_set(&lmcf->path, NGX_HTTP_LLM_OBSERVER_RING);
    }

    if (lmcf->size == (uint64_t) NGX_CONF_UNSET_SIZE) {
        lmcf->size = NGX_HTTP_LLM_OBSERVER_RING_SIZE;
    }

    ngx_conf_init_value(lmcf->used, 0);

    return NGX_CONF_OK;
}


static void *
ngx_http_llm_observer_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_llm_observer_loc_conf_t  *lcf;

    lcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_llm_observer_loc_conf_t));
    if (lcf == NULL) {
        return NULL;
    }

    lcf->enable = NGX_CONF_UNSET;
    lcf->max_text = NGX_CONF_UNSET_SIZE;

    return lcf;
}


static char *
ngx_http_llm_observer_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_llm_observer_loc_conf_t  *prev = parent;
    ngx_http_llm_observer_loc_conf_t  *conf = child;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_size_value(conf->max_text, prev->max_text, 32 * 1024);

    return NGX_CONF_OK;
}


static char *
ngx_http_llm_observer(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char                               *rv;
    ngx_http_llm_observer_loc_conf_t   *lcf = conf;
    ngx_http_llm_observer_main_conf_t  *lmcf;

    rv = ngx_conf_set_flag_slot(cf, cmd, conf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    /* the ring is created only when something will write to it */

    if (lcf->enable) {
        lmcf = ngx_http_conf_get_module_main_conf(cf,
                                                ngx_http_llm_observer_module);
        lmcf->used = 1;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_llm_observer_ring(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_llm_observer_main_conf_t  *lmcf = conf;

    u_char           *name;
    ngx_str_t        *value, s;
    uint64_t          size;
    ngx_uint_t        i;
    struct group     *grp;

    if (lmcf->path.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "empty ring path");
        return NGX_CONF_ERROR;
    }

    lmcf->path = value[1];

    if (ngx_conf_full_name(cf->cycle, &lmcf->path, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "size=", 5) == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            if (llo_parse_size((char *) s.data, s.len, &size) != 0
                || size < LLO_RING_MIN_SIZE || size > LLO_RING_MAX_SIZE
                || size % 8 != 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid value \"%V\" in \"%V\" "
                                   "directive, the ring size must be "
                                   "64k..64g, a multiple of 8",
                                   &value[i], &cmd->name);
                return NGX_CONF_ERROR;
            }

            lmcf->size = size;
            continue;
        }

        if (ngx_strncmp(value[i].data, "group=", 6) == 0) {
            name = ngx_pnalloc(cf->pool, value[i].len - 6 + 1);
            if (name == NULL) {
                return NGX_CONF_ERROR;
            }

            (void) ngx_cpystrn(name, value[i].data + 6, value[i].len - 6 + 1);

            grp = getgrnam((char *) name);
            if (grp == NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid value \"%V\" in \"%V\" "
                                   "directive, no such group",
                                   &value[i], &cmd->name);
                return NGX_CONF_ERROR;
            }

            lmcf->gid = grp->gr_gid;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"%V\" directive",
                           &value[i], &cmd->name);
        return NGX_CONF_ERROR;
    }

    lmcf->conf_file = cf->conf_file->file.name;
    lmcf->conf_line = cf->conf_file->line;

    return NGX_CONF_OK;
}


/* ngx_conf_set_size_slot with a bound, and errors that name the value */

static char *
ngx_http_llm_observer_max_text(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_llm_observer_loc_conf_t  *lcf = conf;

    ngx_str_t  *value;

    if (lcf->max_text != NGX_CONF_UNSET_SIZE) {
        return "is duplicate";
    }

    value = cf->args->elts;

    lcf->max_text = ngx_parse_size(&value[1]);

    if (lcf->max_text == (size_t) NGX_ERROR
        || lcf->max_text > NGX_HTTP_LLM_OBSERVER_MAX_TEXT)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be a size from 0 to 16m",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void
ngx_http_llm_observer_ring_cleanup(void *data)
{
    llo_ring_t  *ring = data;

    llo_ring_close(ring);
}


/*
 * The ring is mapped while the configuration is read, in the master,
 * before the workers are forked (they inherit the mapping).  A ring that
 * cannot be used fails the configuration there, so "nginx -t" reports it
 * and a reload is refused with the running configuration kept (a failing
 * init_module would make the master exit).  On reload the new cycle maps
 * the ring again; the old mapping goes with the old cycle's pool.
 */

static ngx_int_t
ngx_http_llm_observer_open_ring(ngx_conf_t *cf,
    ngx_http_llm_observer_main_conf_t *lmcf)
{
    u_char              *path;
    llo_ring_t          *ring;
    struct statfs        fs;
    ngx_pool_cleanup_t  *cln;
    char                 err[512];

    path = ngx_pnalloc(cf->pool, lmcf->path.len + 1);
    ring = ngx_pcalloc(cf->pool, sizeof(llo_ring_t));
    cln = ngx_pool_cleanup_add(cf->pool, 0);

    if (path == NULL || ring == NULL || cln == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_cpystrn(path, lmcf->path.data, lmcf->path.len + 1);

    if (llo_ring_open(ring, (char *) path, lmcf->size, 1, 0660,
                      (uid_t) -1, (gid_t) -1, err, sizeof(err))
        != 0)
    {
        if (lmcf->conf_line) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "llm_observer_ring \"%V\": %s in %V:%ui",
                          &lmcf->path, err, &lmcf->conf_file,
                          lmcf->conf_line);
        } else {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "llm_observer_ring \"%V\" (default): %s",
                          &lmcf->path, err);
        }

        return NGX_ERROR;
    }

    cln->handler = ngx_http_llm_observer_ring_cleanup;
    cln->data = ring;

    lmcf->ring = ring;

    /* on a disk file system, dirtied ring pages are written back and
     * first touches read the file: workers would wait on the disk */

    if (fstatfs(ring->fd, &fs) == 0 && fs.f_type != TMPFS_MAGIC) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "llm_observer_ring \"%V\" is not on tmpfs; put it "
                      "under /dev/shm so writing records never waits for "
                      "a disk", &lmcf->path);
    }

    return NGX_OK;
}


/*
 * A ring made by this cycle is given to the worker user (and group=) here,
 * where the core module's "user" is final.  It is not fatal: the workers
 * use the master's mapping whatever the owner; only the evaluator needs
 * the permissions, and it says so when it cannot open the file.
 */

static ngx_int_t
ngx_http_llm_observer_init_module(ngx_cycle_t *cycle)
{
    uid_t                               uid;
    gid_t                               gid;
    ngx_core_conf_t                    *ccf;
    ngx_http_llm_observer_main_conf_t  *lmcf;

    if (ngx_http_cycle_get_module_main_conf(cycle, ngx_http_module) == NULL) {
        return NGX_OK;
    }

    lmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_llm_observer_module);

    if (lmcf == NULL || lmcf->ring == NULL || !lmcf->ring->created
        || geteuid() != 0)
    {
        return NGX_OK;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    if (ccf->user == (ngx_uid_t) NGX_CONF_UNSET_UINT) {
        return NGX_OK;
    }

    uid = ccf->user;
    gid = lmcf->gid != (gid_t) -1 ? lmcf->gid : ccf->group;

    if (fchown(lmcf->ring->fd, uid, gid) == -1) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                      "llm_observer_ring \"%V\": fchown() failed; the "
                      "evaluator may not be able to open it", &lmcf->path);
    }

    return NGX_OK;
}


/*
 * A worker maps its ring pages at start rather than taking a page fault
 * in the request path the first time each page is written (fork does not
 * copy the master's page tables of a shared mapping).  Best effort: an
 * older kernel without MADV_POPULATE_WRITE just faults later.
 */

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE  23
#endif

static ngx_int_t
ngx_http_llm_observer_init_process(ngx_cycle_t *cycle)
{
    ngx_http_llm_observer_main_conf_t  *lmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        || ngx_http_cycle_get_module_main_conf(cycle, ngx_http_module) == NULL)
    {
        return NGX_OK;
    }

    lmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_llm_observer_module);

    if (lmcf != NULL && lmcf->ring != NULL) {
        (void) madvise(lmcf->ring->hdr, lmcf->ring->map_size,
                       MADV_POPULATE_WRITE);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_llm_observer_init(ngx_conf_t *cf)
{
    ngx_str_t                           name = ngx_string("request_id");
    ngx_http_handler_pt                *h;
    ngx_http_core_main_conf_t          *cmcf;
    ngx_http_llm_observer_main_conf_t  *lmcf;

    lmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_llm_observer_module);

    if (lmcf->used && ngx_http_llm_observer_open_ring(cf, lmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    lmcf->request_id_index = ngx_http_get_variable_index(cf, &name);
    if (lmcf->request_id_index == NGX_ERROR) {
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_llm_observer_log_handler;

    ngx_http_next_request_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter =
                                     ngx_http_llm_observer_request_body_filter;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_llm_observer_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_llm_observer_body_filter;

    return NGX_OK;
}
