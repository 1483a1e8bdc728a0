/*
 * ngx_http_llm_observer_module: what its files share (configuration,
 * request context, the functions one file gives another).
 */

#ifndef _NGX_HTTP_LLM_OBSERVER_MODULE_H_INCLUDED_
#define _NGX_HTTP_LLM_OBSERVER_MODULE_H_INCLUDED_


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
#include "llo_api.h"
#include "llo_strip.h"
#include "llo_tok.h"
#include "llo_cost.h"
#include "llo_keys.h"
#include "llo_call.h"


#define NGX_HTTP_LLM_OBSERVER_RING      "/dev/shm/llm_observer.ring"
#define NGX_HTTP_LLM_OBSERVER_RING_SIZE (64 * 1024 * 1024)
#define NGX_HTTP_LLM_OBSERVER_ERR_LEN   (2 * LLO_ERR_LEN + 64)
#define NGX_HTTP_LLM_OBSERVER_MAX_TEXT  (16 * 1024 * 1024)

/* response text kept before the tokenizer runs: a response whose usage
 * arrives is then never tokenized at all */
#define NGX_HTTP_LLM_OBSERVER_TOK_HOLD  (64 * 1024)

#define NGX_HTTP_LLM_OBSERVER_AUTO      0xff

/* completion tokens reserved for a request that sets no max_tokens */
#define NGX_HTTP_LLM_OBSERVER_RESERVE   256


typedef struct {
    ngx_str_t                   encoding;
    llo_tok_t                  *tok;
} ngx_http_llm_observer_tok_t;


typedef struct {
    ngx_str_t                   model;      /* without the trailing '*' */
    ngx_uint_t                  prefix;     /* written with a '*' */
    llo_tok_t                  *tok;
} ngx_http_llm_observer_model_t;


typedef struct {
    ngx_str_t                   file;
    ngx_uint_t                  line;
} ngx_http_llm_observer_where_t;


/* the llm_observer_limits zone */

typedef struct {
    ngx_slab_pool_t            *shpool;
    void                       *limits;     /* llo_limits_t */
    void                       *lmcf;       /* the conf that made it */
    ngx_str_t                   name;
} ngx_http_llm_observer_zone_t;


typedef struct {
    ngx_str_t                   path;
    uint64_t                    size;
    gid_t                       gid;
    ngx_flag_t                  used;       /* some llm_observer on */
    ngx_str_t                   conf_file;  /* where the ring was set */
    ngx_uint_t                  conf_line;
    llo_ring_t                 *ring;
    ngx_int_t                   request_id_index;
    ngx_array_t                 toks;       /* ngx_http_llm_observer_tok_t */
    ngx_array_t                 models;     /* .._model_t, conf's first,
                                               then the defaults */
    ngx_array_t                 prices;     /* llo_price_t */
    ngx_array_t                 keys;       /* llo_key_t */
    ngx_array_t                 key_where;  /* ngx_http_llm_observer_where_t,
                                               one per key */
    llo_keys_t                  keytab;
    ngx_shm_zone_t             *zone;       /* llm_observer_limits */
    ngx_flag_t                  auth;       /* some llm_observer_auth on */
} ngx_http_llm_observer_main_conf_t;


/* a server{} with llm_observer_auth on in some location: its request
 * lines are masked from the start (ngx_http_llm_observer_mask_line) */

typedef struct {
    ngx_flag_t                  auth;
} ngx_http_llm_observer_srv_conf_t;


typedef struct {
    ngx_flag_t                  enable;
    size_t                      max_text;
    ngx_uint_t                  provider;   /* LLO_PROV_* or AUTO */
    ngx_flag_t                  stream_usage;
    ngx_flag_t                  auth;
    ngx_uint_t                  limit_stream;   /* 1: cut */
} ngx_http_llm_observer_loc_conf_t;


typedef struct {
    llo_req_parser_t           *req;
    llo_resp_parser_t          *resp;
    uint64_t                    seq;
    int64_t                     first_byte_us;
    ngx_uint_t                  status;
    int                         api;        /* LLO_API_* */
    int                         provider;   /* LLO_PROV_* */
    const llo_api_t            *a;          /* api's, NULL: unknown */
    const llo_provider_t       *prov;       /* provider's */
    llo_sstr_t                  uri_model;  /* Gemini names it there */
    llo_tok_t                  *tok;
    llo_tok_stream_t           *count;      /* response text, counted */
    int64_t                     prompt_estimate;
    int64_t                     completion_count;
    llo_strip_t                 strip;
    const llo_key_t            *key;
    const char                 *refused;    /* why the module answered */
    int64_t                     reserved;   /* tokens, when admitted */
    llo_limit_result_t          limit;
    int64_t                     cut_allow;  /* completion tokens the key
                                               has left, -1: no limit */
    int64_t                     cut_count;
    uint64_t                    cut_at;     /* stream offset to end at */
    uint64_t                    wire;       /* response bytes seen */
    llo_call_t                  outcome;    /* once outcome_final */
    unsigned                    outcome_final:1;
    unsigned                    auth_state:2;
    unsigned                    body_wait:1;
    unsigned                    body_read:1;
    unsigned                    admitted:1; /* counted by the limits */
    unsigned                    cut_on:1;
    unsigned                    count_trunc:1;  /* counted from cut text */
    unsigned                    cut_done:1;
    unsigned                    tok_chosen:1;
    unsigned                    tok_exact:1;
    unsigned                    uri_stream:1;
    unsigned                    usage_added:1;
    unsigned                    strip_on:1;
    unsigned                    flushed:1;
    unsigned                    resp_done:1;
    unsigned                    req_done:1;
    unsigned                    in_file:1;
    unsigned                    gzip:1;
    unsigned                    sse:1;
} ngx_http_llm_observer_ctx_t;



/* ngx_http_llm_observer_module.c */
llo_tok_t *ngx_http_llm_observer_find_tok(
    ngx_http_llm_observer_main_conf_t *lmcf, ngx_str_t *encoding);
ngx_http_llm_observer_ctx_t *ngx_http_llm_observer_get_ctx(
    ngx_http_request_t *r);
int64_t ngx_http_llm_observer_now_us(void);

/* ngx_http_llm_observer_filter.c */
void ngx_http_llm_observer_filter_init(ngx_conf_t *cf);
extern ngx_http_output_body_filter_pt  ngx_http_llm_observer_next_body_filter;

/* ngx_http_llm_observer_stream.c */
void ngx_http_llm_observer_add_usage(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx);
ngx_int_t ngx_http_llm_observer_strip(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx, ngx_chain_t *in);
ngx_int_t ngx_http_llm_observer_cut(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx, ngx_chain_t *in);

/* ngx_http_llm_observer_log.c */
ngx_int_t ngx_http_llm_observer_log_handler(ngx_http_request_t *r);
llo_call_t *ngx_http_llm_observer_outcome(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx);

/* ngx_http_llm_observer_variables.c */
ngx_int_t ngx_http_llm_observer_add_variables(ngx_conf_t *cf);

/* ngx_http_llm_observer_keys.c */
char *ngx_http_llm_observer_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_llm_observer_limits(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_llm_observer_keys_init(ngx_conf_t *cf,
    ngx_http_llm_observer_main_conf_t *lmcf);
ngx_int_t ngx_http_llm_observer_access_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_llm_observer_mask_line(ngx_http_request_t *r);
ngx_int_t ngx_http_llm_observer_mask_log(ngx_http_request_t *r);
ngx_int_t ngx_http_llm_observer_limit_headers(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx);
void ngx_http_llm_observer_reconcile(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx, llo_call_t *c);
void ngx_http_llm_observer_audit_keys(ngx_cycle_t *cycle,
    ngx_http_llm_observer_main_conf_t *lmcf);


extern ngx_module_t  ngx_http_llm_observer_module;


#endif /* _NGX_HTTP_LLM_OBSERVER_MODULE_H_INCLUDED_ */
