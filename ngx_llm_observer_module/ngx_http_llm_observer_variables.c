/*
 * ngx_http_llm_observer_module: the $llm_* variables, read from the ctx
 * and the call's outcome.
 */

#include "ngx_http_llm_observer_module.h"


static ngx_int_t ngx_http_llm_observer_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


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


ngx_int_t
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
