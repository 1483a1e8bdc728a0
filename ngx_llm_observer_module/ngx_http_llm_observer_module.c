/*
 * ngx_http_llm_observer_module: observes LLM API calls proxied by nginx.
 *
 * The request body is read as it passes through the request body filter
 * chain, the response in the header and body filters.  With llm_observer
 * alone no byte is held back or changed.  Bytes change only where a
 * directive asks:
 *
 *   llm_observer_stream_usage on   the upstream request gets
 *       stream_options.include_usage; the usage chunk and "usage":null
 *       members are taken out of the response again (llo_strip.c), so
 *       the client gets what it would have got without the directive
 *   llm_observer_limit_stream cut  a stream that runs past the key's
 *       tokens is ended for the client in the provider's format
 *   llm_observer_auth on           refusals are answered by the module;
 *       the client's key headers and key= never reach the upstream
 *       (ngx_http_llm_observer_keys.c)
 *
 * At the log phase one record per call is appended to a shared-memory
 * ring (llo_ring.h) that the evaluator drains.
 */

#include "ngx_http_llm_observer_module.h"


static void ngx_http_llm_observer_cleanup(void *data);
static void ngx_http_llm_observer_prompt(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx);
static void ngx_http_llm_observer_choose_tok(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx);
static uint64_t ngx_http_llm_observer_count(void *data, const uint8_t *s,
    size_t len);
static void ngx_http_llm_observer_text(void *data, const uint8_t *s,
    size_t len);
static void ngx_http_llm_observer_add_usage(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx);
static ngx_int_t ngx_http_llm_observer_strip(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx, ngx_chain_t *in);
static ngx_int_t ngx_http_llm_observer_cut(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx, ngx_chain_t *in);
static ngx_buf_t *ngx_http_llm_observer_cut_end(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx, u_char *head, size_t len);
static ngx_int_t ngx_http_llm_observer_link(ngx_http_request_t *r,
    ngx_chain_t ***ll, ngx_buf_t *b);
static ngx_int_t ngx_http_llm_observer_strip_held(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx, ngx_chain_t ***ll);
static ngx_int_t ngx_http_llm_observer_request_body_filter(
    ngx_http_request_t *r, ngx_chain_t *in);
static ngx_int_t ngx_http_llm_observer_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_llm_observer_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_llm_observer_log_handler(ngx_http_request_t *r);
static void ngx_http_llm_observer_flush(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx);
static void ngx_http_llm_observer_call_in(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx, llo_call_in_t *in);
static void ngx_http_llm_observer_count_completion(
    ngx_http_llm_observer_ctx_t *ctx);
static ngx_int_t ngx_http_llm_observer_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_llm_observer_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_llm_observer_add_variables(ngx_conf_t *cf);
static void *ngx_http_llm_observer_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_llm_observer_init_main_conf(ngx_conf_t *cf,
    void *conf);
static void *ngx_http_llm_observer_create_srv_conf(ngx_conf_t *cf);
static void *ngx_http_llm_observer_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_llm_observer_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_http_llm_observer(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_llm_observer_ring(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_llm_observer_max_text(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_llm_observer_enum(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_llm_observer_tokenizer(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_llm_observer_tokenizer_model(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_llm_observer_price(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static llo_tok_t *ngx_http_llm_observer_find_tok(
    ngx_http_llm_observer_main_conf_t *lmcf, ngx_str_t *encoding);
static void ngx_http_llm_observer_tok_cleanup(void *data);
static void ngx_http_llm_observer_ring_cleanup(void *data);
static ngx_int_t ngx_http_llm_observer_open_ring(ngx_conf_t *cf,
    ngx_http_llm_observer_main_conf_t *lmcf);
static ngx_int_t ngx_http_llm_observer_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_llm_observer_init_process(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_llm_observer_init(ngx_conf_t *cf);


static ngx_conf_enum_t  ngx_http_llm_observer_limit_streams[] = {
    { ngx_string("finish"), 0 },
    { ngx_string("cut"), 1 },
    { ngx_null_string, 0 }
};


/* "auto", then each provider of llo_api.c: filled in at preconfiguration,
 * so that a provider is added there alone */
static ngx_conf_enum_t  ngx_http_llm_observer_providers[LLO_PROV_N + 1];


/*
 * tiktoken's own model table (model.py), most specific first; a model
 * the conf does not name gets the first that matches
 */

static struct {
    const char                 *model;
    const char                 *encoding;
}  ngx_http_llm_observer_default_models[] = {
    { "gpt-4o*", "o200k_base" },
    { "chatgpt-4o*", "o200k_base" },
    { "gpt-4.1*", "o200k_base" },
    { "gpt-4.5*", "o200k_base" },
    { "gpt-5*", "o200k_base" },
    { "gpt-oss*", "o200k_base" },
    { "o1*", "o200k_base" },
    { "o3*", "o200k_base" },
    { "o4*", "o200k_base" },
    { "gpt-4*", "cl100k_base" },
    { "gpt-3.5*", "cl100k_base" },
    { "gpt-35*", "cl100k_base" },
    { "text-embedding-3*", "cl100k_base" },
    { "text-embedding-ada-002", "cl100k_base" },
    { "davinci-002", "cl100k_base" },
    { "babbage-002", "cl100k_base" },
    { NULL, NULL }
};


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

    { ngx_string("llm_observer_provider"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_llm_observer_enum,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_llm_observer_loc_conf_t, provider),
      &ngx_http_llm_observer_providers },

    { ngx_string("llm_observer_tokenizer"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_llm_observer_tokenizer,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("llm_observer_tokenizer_model"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_llm_observer_tokenizer_model,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("llm_observer_price"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_llm_observer_price,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("llm_observer_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_llm_observer_key,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("llm_observer_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_llm_observer_loc_conf_t, auth),
      NULL },

    { ngx_string("llm_observer_limits"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_llm_observer_limits,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("llm_observer_limit_stream"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_llm_observer_enum,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_llm_observer_loc_conf_t, limit_stream),
      &ngx_http_llm_observer_limit_streams },

    { ngx_string("llm_observer_stream_usage"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_llm_observer_loc_conf_t, stream_usage),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_llm_observer_module_ctx = {
    ngx_http_llm_observer_preconfiguration, /* preconfiguration */
    ngx_http_llm_observer_init,             /* postconfiguration */

    ngx_http_llm_observer_create_main_conf, /* create main configuration */
    ngx_http_llm_observer_init_main_conf,   /* init main configuration */

    ngx_http_llm_observer_create_srv_conf,  /* create server configuration */
    NULL,                                   /* merge server configuration:
                                               set by the locations' merge */

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
    NGX_HTTP_LLM_VAR_REQUEST_ID,
    NGX_HTTP_LLM_VAR_PROMPT_ESTIMATE,
    NGX_HTTP_LLM_VAR_PROVIDER,
    NGX_HTTP_LLM_VAR_TOKEN_SOURCE,
    NGX_HTTP_LLM_VAR_COST,
    NGX_HTTP_LLM_VAR_KEY_NAME,
    NGX_HTTP_LLM_VAR_KEY_TEAM,
    NGX_HTTP_LLM_VAR_COUNT_TRUNC
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

    { ngx_string("llm_prompt_tokens_estimate"), NULL,
      ngx_http_llm_observer_variable,
      NGX_HTTP_LLM_VAR_PROMPT_ESTIMATE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llm_provider"), NULL, ngx_http_llm_observer_variable,
      NGX_HTTP_LLM_VAR_PROVIDER, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llm_token_source"), NULL, ngx_http_llm_observer_variable,
      NGX_HTTP_LLM_VAR_TOKEN_SOURCE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llm_cost_usd"), NULL, ngx_http_llm_observer_variable,
      NGX_HTTP_LLM_VAR_COST, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llm_key_name"), NULL, ngx_http_llm_observer_variable,
      NGX_HTTP_LLM_VAR_KEY_NAME, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llm_key_team"), NULL, ngx_http_llm_observer_variable,
      NGX_HTTP_LLM_VAR_KEY_TEAM, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llm_count_truncated"), NULL,
      ngx_http_llm_observer_variable,
      NGX_HTTP_LLM_VAR_COUNT_TRUNC, NGX_HTTP_VAR_NOCACHEABLE, 0 },

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

ngx_http_llm_observer_ctx_t *
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
    ctx->prompt_estimate = -1;
    ctx->completion_count = -1;
    ctx->cut_allow = -1;

    if (lcf->provider == NGX_HTTP_LLM_OBSERVER_AUTO) {
        ctx->api = llo_api_detect(r->uri.data, r->uri.len, &ctx->provider,
                                  &ctx->uri_model);

    } else {
        ctx->provider = (int) lcf->provider;
        ctx->api = llo_api_for(ctx->provider, r->uri.data, r->uri.len,
                               &ctx->uri_model);
    }

    ctx->a = llo_api_get(ctx->api);
    ctx->prov = llo_provider_get(ctx->provider);

    /* Gemini says in the URI that it streams, not in the body */

    ctx->uri_stream = (ctx->a && ctx->a->stream_uri
                       && ngx_strlcasestrn(r->uri.data,
                                           r->uri.data + r->uri.len,
                                           (u_char *) ctx->a->stream_uri,
                                           ngx_strlen(ctx->a->stream_uri)
                                           - 1)
                          != NULL);

    ngx_http_set_ctx(r, ctx, ngx_http_llm_observer_module);

    return ctx;
}


static void
ngx_http_llm_observer_cleanup(void *data)
{
    ngx_http_llm_observer_ctx_t  *ctx = data;

    llo_req_destroy(ctx->req);
    llo_resp_destroy(ctx->resp);
    llo_tok_stream_destroy(ctx->count);
    llo_strip_free(&ctx->strip);

    ctx->req = NULL;
    ctx->resp = NULL;
    ctx->count = NULL;
}


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


/*
 * llm_observer_stream_usage: an OpenAI streaming request whose client did
 * not ask for usage gets "stream_options":{"include_usage":true} added
 * before its closing brace, so the count is the provider's; the usage
 * chunk this adds to the stream is cut out again (llo_strip.h).  Only a
 * body kept in memory is changed (one that went to a temp file is sent
 * as it is, counted by the tokenizer), and not an HTTP/2 body without a
 * length, whose length nginx sets after this filter.
 */

static void
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

    return ngx_http_next_body_filter(r, in);
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

static ngx_int_t
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

    *ll = NULL;

    if (out == NULL) {
        return NGX_OK;
    }

    return ngx_http_next_body_filter(r, out);
}


/*
 * llm_observer_limit_stream cut: the stream ends for the client right
 * after the event that used up the key's tokens, with the provider's own
 * ending (a finish reason of length / max_tokens, then [DONE] or
 * message_stop); what the upstream sends after that is dropped, and the
 * upstream connection is let go so the provider stops generating.
 */

static ngx_int_t
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

    *ll = NULL;

    if (out == NULL) {
        return NGX_OK;
    }

    return ngx_http_next_body_filter(r, out);
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

    c = ngx_http_llm_observer_outcome(r, ctx);

    ngx_http_llm_observer_call_in(r, ctx, &in);
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


int64_t
ngx_http_llm_observer_now_us(void)
{
    struct timeval  tv;

    ngx_gettimeofday(&tv);

    return (int64_t) tv.tv_sec * 1000000 + tv.tv_usec;
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

    if (llo_call_needs_count(&in) && ctx->completion_count < 0) {
        ngx_http_llm_observer_count_completion(ctx);
        in.completion_count = ctx->completion_count;
        in.completion_trunc = ctx->count_trunc;
    }

    llo_call_outcome(&in, &ctx->outcome);

    ctx->outcome_final = in.resp_ended;

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


static ngx_int_t
ngx_http_llm_observer_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                             *p;
    int64_t                             n;
    ngx_str_t                           str;
    llo_req_t                          *rq;
    llo_resp_t                         *rs;
    llo_sstr_t                         *s;
    llo_call_t                         *c;
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
    str.len = 0;

    switch (data) {

    case NGX_HTTP_LLM_VAR_MODEL:
        if (rs && rs->model.set) {
            s = &rs->model;

        } else if (rq && rq->model.set) {
            s = &rq->model;
        }
        break;

    case NGX_HTTP_LLM_VAR_PROMPT_TOKENS:
        n = ngx_http_llm_observer_outcome(r->main, ctx)->prompt;
        break;

    case NGX_HTTP_LLM_VAR_COMPLETION_TOKENS:
        n = ngx_http_llm_observer_outcome(r->main, ctx)->completion;
        break;

    case NGX_HTTP_LLM_VAR_TOTAL_TOKENS:
        n = ngx_http_llm_observer_outcome(r->main, ctx)->total;
        break;

    case NGX_HTTP_LLM_VAR_TOKEN_SOURCE:
        c = ngx_http_llm_observer_outcome(r->main, ctx);
        str.data = (u_char *) c->source;
        str.len = ngx_strlen(c->source);
        break;

    case NGX_HTTP_LLM_VAR_COUNT_TRUNC:
        n = ngx_http_llm_observer_outcome(r->main, ctx)->trunc;
        break;

    case NGX_HTTP_LLM_VAR_COST:
        n = ngx_http_llm_observer_outcome(r->main, ctx)->cost_nano;
        if (n < 0) {
            break;
        }

        p = ngx_pnalloc(r->pool, LLO_COST_FORMAT_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        str.data = p;
        str.len = llo_cost_format_nano(n, (char *) p, LLO_COST_FORMAT_LEN);
        n = -1;
        break;

    case NGX_HTTP_LLM_VAR_KEY_NAME:
        if (ctx->key) {
            str.data = (u_char *) ctx->key->name;
            str.len = ngx_strlen(str.data);
        }
        break;

    case NGX_HTTP_LLM_VAR_KEY_TEAM:
        if (ctx->key) {
            str.data = (u_char *) ctx->key->team;
            str.len = ngx_strlen(str.data);
        }
        break;

    case NGX_HTTP_LLM_VAR_PROVIDER:
        str.data = (u_char *) llo_provider_name(ctx->provider);
        str.len = ngx_strlen(str.data);
        break;

    case NGX_HTTP_LLM_VAR_PROMPT_ESTIMATE:
        n = ctx->prompt_estimate;
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

    } else if (str.len) {
        v->data = str.data;
        v->len = str.len;

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


/* the names llm_observer_provider takes, and the variables */

static ngx_int_t
ngx_http_llm_observer_preconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t              i;
    ngx_conf_enum_t        *e;
    const llo_provider_t   *p;

    e = ngx_http_llm_observer_providers;

    ngx_str_set(&e[0].name, "auto");
    e[0].value = NGX_HTTP_LLM_OBSERVER_AUTO;

    for (i = LLO_PROV_UNKNOWN + 1; i < LLO_PROV_N; i++) {
        p = llo_provider_get(i);

        e[i].name.data = (u_char *) p->name;
        e[i].name.len = ngx_strlen(p->name);
        e[i].value = p->provider;
    }

    return ngx_http_llm_observer_add_variables(cf);
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

    if (ngx_array_init(&lmcf->toks, cf->pool, 2,
                       sizeof(ngx_http_llm_observer_tok_t))
        != NGX_OK
        || ngx_array_init(&lmcf->prices, cf->pool, 64, sizeof(llo_price_t))
           != NGX_OK
        || ngx_array_init(&lmcf->keys, cf->pool, 16, sizeof(llo_key_t))
           != NGX_OK
        || ngx_array_init(&lmcf->key_where, cf->pool, 16,
                          sizeof(ngx_http_llm_observer_where_t))
           != NGX_OK
        || ngx_array_init(&lmcf->models, cf->pool, 32,
                          sizeof(ngx_http_llm_observer_model_t))
           != NGX_OK)
    {
        return NULL;
    }

    return lmcf;
}


static char *
ngx_http_llm_observer_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_llm_observer_main_conf_t  *lmcf = conf;

    ngx_str_t                       enc;
    ngx_uint_t                      i;
    llo_tok_t                      *tok;
    ngx_http_llm_observer_model_t  *m;

    if (lmcf->path.data == NULL) {
        ngx_str_set(&lmcf->path, NGX_HTTP_LLM_OBSERVER_RING);
    }

    if (lmcf->size == (uint64_t) NGX_CONF_UNSET_SIZE) {
        lmcf->size = NGX_HTTP_LLM_OBSERVER_RING_SIZE;
    }

    ngx_conf_init_value(lmcf->used, 0);

    /* tiktoken's model table after the conf's own entries, for the
     * encodings that were loaded */

    for (i = 0; ngx_http_llm_observer_default_models[i].model; i++) {
        enc.data = (u_char *) ngx_http_llm_observer_default_models[i].encoding;
        enc.len = ngx_strlen(enc.data);

        tok = ngx_http_llm_observer_find_tok(lmcf, &enc);
        if (tok == NULL) {
            continue;
        }

        m = ngx_array_push(&lmcf->models);
        if (m == NULL) {
            return NGX_CONF_ERROR;
        }

        m->model.data = (u_char *) ngx_http_llm_observer_default_models[i].model;
        m->model.len = ngx_strlen(m->model.data);
        m->prefix = (m->model.data[m->model.len - 1] == '*');
        m->model.len -= m->prefix;
        m->tok = tok;
    }

    return ngx_http_llm_observer_keys_init(cf, lmcf);
}


static void *
ngx_http_llm_observer_create_srv_conf(ngx_conf_t *cf)
{
    return ngx_pcalloc(cf->pool, sizeof(ngx_http_llm_observer_srv_conf_t));
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
    lcf->provider = NGX_CONF_UNSET_UINT;
    lcf->stream_usage = NGX_CONF_UNSET;
    lcf->auth = NGX_CONF_UNSET;
    lcf->limit_stream = NGX_CONF_UNSET_UINT;

    return lcf;
}


static char *
ngx_http_llm_observer_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_llm_observer_loc_conf_t  *prev = parent;
    ngx_http_llm_observer_loc_conf_t  *conf = child;

    ngx_http_llm_observer_srv_conf_t   *lscf;
    ngx_http_llm_observer_main_conf_t  *lmcf;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_size_value(conf->max_text, prev->max_text, 32 * 1024);
    ngx_conf_merge_uint_value(conf->provider, prev->provider,
                              NGX_HTTP_LLM_OBSERVER_AUTO);
    ngx_conf_merge_value(conf->stream_usage, prev->stream_usage, 0);
    ngx_conf_merge_value(conf->auth, prev->auth, 0);
    ngx_conf_merge_uint_value(conf->limit_stream, prev->limit_stream, 0);

    /* a call that is authenticated is observed: the record is the audit
     * of what the key did, refusals included */

    if (conf->auth) {
        conf->enable = 1;
        lmcf = ngx_http_conf_get_module_main_conf(cf,
                                                ngx_http_llm_observer_module);
        lmcf->used = 1;
        lmcf->auth = 1;

        /* locations are merged with cf->ctx on their server{} */
        lscf = ngx_http_conf_get_module_srv_conf(cf,
                                                ngx_http_llm_observer_module);
        lscf->auth = 1;
    }

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


/*
 * ngx_conf_set_enum_slot, with an error that names the directive and the
 * values it takes (the stock one names neither)
 */

static char *
ngx_http_llm_observer_enum(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    u_char           *q;
    ngx_str_t        *value;
    ngx_uint_t       *np, i;
    ngx_conf_enum_t  *e;
    u_char            list[256];

    np = (ngx_uint_t *) (p + cmd->offset);

    if (*np != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    e = cmd->post;

    for (i = 0; e[i].name.len != 0; i++) {
        if (e[i].name.len == value[1].len
            && ngx_strcasecmp(e[i].name.data, value[1].data) == 0)
        {
            *np = e[i].value;
            return NGX_CONF_OK;
        }
    }

    q = list;

    for (i = 0; e[i].name.len != 0; i++) {
        q = ngx_slprintf(q, list + sizeof(list), "%s\"%V\"",
                         i == 0 ? "" : e[i + 1].name.len ? ", " : " or ",
                         &e[i].name);
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive, it must "
                       "be %*s", &value[1], &cmd->name, q - list, list);

    return NGX_CONF_ERROR;
}


/*
 * llm_observer_tokenizer <encoding> <path>: the rank file is read here,
 * while the configuration is, so "nginx -t" names a missing or corrupt
 * file and its line; the workers share the table the master built.
 */

static char *
ngx_http_llm_observer_tokenizer(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_llm_observer_main_conf_t  *lmcf = conf;

    u_char                       *enc;
    ngx_str_t                    *value, path;
    llo_tok_t                    *tok;
    ngx_pool_cleanup_t           *cln;
    ngx_http_llm_observer_tok_t  *t;
    char                          err[512];

    value = cf->args->elts;

    if (ngx_http_llm_observer_find_tok(lmcf, &value[1]) != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate encoding \"%V\" in \"%V\" directive",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    path = value[2];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    enc = ngx_pnalloc(cf->pool, value[1].len + 1);
    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (enc == NULL || cln == NULL) {
        return NGX_CONF_ERROR;
    }

    (void) ngx_cpystrn(enc, value[1].data, value[1].len + 1);

    /* ngx_conf_full_name() leaves the path NUL-terminated */

    tok = llo_tok_load((char *) enc, (char *) path.data, err, sizeof(err));

    if (tok == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive: %s",
                           &value[2], &cmd->name, err);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_llm_observer_tok_cleanup;
    cln->data = tok;

    t = ngx_array_push(&lmcf->toks);
    if (t == NULL) {
        return NGX_CONF_ERROR;
    }

    t->encoding = value[1];
    t->tok = tok;

    return NGX_CONF_OK;
}


/* llm_observer_tokenizer_model <model | prefix*> <encoding> */

static char *
ngx_http_llm_observer_tokenizer_model(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_llm_observer_main_conf_t  *lmcf = conf;

    ngx_str_t                      *value;
    llo_tok_t                      *tok;
    ngx_http_llm_observer_model_t  *m;

    value = cf->args->elts;

    tok = ngx_http_llm_observer_find_tok(lmcf, &value[2]);

    if (tok == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown encoding \"%V\" in \"%V\" directive; "
                           "load it first with \"llm_observer_tokenizer %V "
                           "<file>\"", &value[2], &cmd->name, &value[2]);
        return NGX_CONF_ERROR;
    }

    if (value[1].len == 0
        || ngx_strlchr(value[1].data, value[1].data + value[1].len - 1, '*')
           != NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid model \"%V\" in \"%V\" directive, a "
                           "\"*\" may only end it", &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    m = ngx_array_push(&lmcf->models);
    if (m == NULL) {
        return NGX_CONF_ERROR;
    }

    m->model = value[1];
    m->prefix = (value[1].data[value[1].len - 1] == '*');
    m->model.len -= m->prefix;
    m->tok = tok;

    return NGX_CONF_OK;
}


/* llm_observer_price <model | prefix*> input= output= [cached_input=]
 * [cache_write=]: parsed by llo_cost.c, which names what is wrong */

static char *
ngx_http_llm_observer_price(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_llm_observer_main_conf_t  *lmcf = conf;

    ngx_str_t    *value;
    ngx_uint_t    i;
    llo_price_t  *p, *q;
    char          err[256];

    value = cf->args->elts;

    p = ngx_array_push(&lmcf->prices);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    llo_price_init(p);

    if (llo_price_model(p, (char *) value[1].data, value[1].len, err,
                        sizeof(err))
        != 0)
    {
        goto invalid;
    }

    for (i = 2; i < cf->args->nelts; i++) {
        if (llo_price_param(p, (char *) value[i].data, value[i].len, err,
                            sizeof(err))
            != 0)
        {
            goto invalid;
        }
    }

    if (llo_price_check(p, err, sizeof(err)) != 0) {
        goto invalid;
    }

    q = lmcf->prices.elts;

    for (i = 0; i + 1 < lmcf->prices.nelts; i++) {
        if (q[i].prefix == p->prefix && q[i].len == p->len
            && ngx_strncmp(q[i].model, p->model, p->len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate model \"%V\" in \"%V\" directive",
                               &value[1], &cmd->name);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s in \"%V\" directive", err,
                       &cmd->name);
    return NGX_CONF_ERROR;
}


static llo_tok_t *
ngx_http_llm_observer_find_tok(ngx_http_llm_observer_main_conf_t *lmcf,
    ngx_str_t *encoding)
{
    ngx_uint_t                    i;
    ngx_http_llm_observer_tok_t  *t;

    t = lmcf->toks.elts;

    for (i = 0; i < lmcf->toks.nelts; i++) {
        if (t[i].encoding.len == encoding->len
            && ngx_strncmp(t[i].encoding.data, encoding->data,
                           encoding->len) == 0)
        {
            return t[i].tok;
        }
    }

    return NULL;
}


static void
ngx_http_llm_observer_tok_cleanup(void *data)
{
    llo_tok_free(data);
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

    if (lmcf != NULL && lmcf->ring != NULL && !ngx_test_config) {
        ngx_http_llm_observer_audit_keys(cycle, lmcf);
    }

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

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_llm_observer_access_handler;

    if (lmcf->auth) {
        h = ngx_array_push(&cmcf->phases[NGX_HTTP_POST_READ_PHASE].handlers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        *h = ngx_http_llm_observer_mask_line;

        /* log handlers run in the order they were added, the access log's
         * (a static module) long before ours: this one goes first, so
         * that no log line can hold a ?key= */

        h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h = cmcf->phases[NGX_HTTP_LOG_PHASE].handlers.elts;
        ngx_memmove(&h[1], &h[0], (cmcf->phases[NGX_HTTP_LOG_PHASE]
                                   .handlers.nelts - 1)
                                  * sizeof(ngx_http_handler_pt));
        h[0] = ngx_http_llm_observer_mask_log;
    }

    ngx_http_next_request_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter =
                                     ngx_http_llm_observer_request_body_filter;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_llm_observer_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_llm_observer_body_filter;

    return NGX_OK;
}
