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
 *
 * This file: the directives, the configuration, the ring, the request's
 * ctx and the module's init.  The rest, by concern:
 *   ngx_http_llm_observer_filter.c     the filters (observation)
 *   ngx_http_llm_observer_stream.c     the bytes a directive changes
 *   ngx_http_llm_observer_log.c        the outcome and the record
 *   ngx_http_llm_observer_variables.c  the $llm_* variables
 *   ngx_http_llm_observer_keys.c       keys, limits, refusals
 */

#include "ngx_http_llm_observer_module.h"


static void ngx_http_llm_observer_cleanup(void *data);
static ngx_int_t ngx_http_llm_observer_preconfiguration(ngx_conf_t *cf);
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


int64_t
ngx_http_llm_observer_now_us(void)
{
    struct timeval  tv;

    ngx_gettimeofday(&tv);

    return (int64_t) tv.tv_sec * 1000000 + tv.tv_usec;
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

        m->model.data =
                     (u_char *) ngx_http_llm_observer_default_models[i].model;
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


llo_tok_t *
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

    ngx_http_llm_observer_filter_init(cf);

    return NGX_OK;
}
