/*
 * ngx_http_llm_observer_module: API keys declared in nginx conf, per-key
 * limits shared by all workers, and the refusals, in the provider's own
 * error shape.
 *
 *   llm_observer_key sha256:<hex> name=alice [team=..] [models=..] [rpm=N]
 *                    [tpm=N] [tpd=N] [budget=<usd>/day|/month]
 *                    [expires=YYYY-MM-DD];
 *   llm_observer_auth on;
 *   llm_observer_limits zone=llm_keys:1m;
 *
 * The key a client presents is hashed (SHA-256) and the digest looked up
 * (llo_keys.h): no secret is ever compared, stored, logged or recorded.
 * The access phase handler reads the request body first (the model and
 * the prompt's tokens are in it), so a call that the key may not make is
 * answered here, before anything is sent upstream.
 *
 * The client's key never leaves nginx: every header and argument that
 * can carry one is taken out of the request before it is forwarded, and
 * key= values are masked in the request line from the post-read phase
 * on (and in $request_uri in the location), so no log line holds one.
 */

#include "ngx_http_llm_observer_module.h"


#define NGX_HTTP_LLM_AUTH_START     0
#define NGX_HTTP_LLM_AUTH_BODY      1
#define NGX_HTTP_LLM_AUTH_DONE      2

/* the request headers a client's key comes in */
#define NGX_HTTP_LLM_HDR_NONE       0
#define NGX_HTTP_LLM_HDR_AUTH       1       /* Authorization */
#define NGX_HTTP_LLM_HDR_X_API_KEY  2       /* x-api-key */
#define NGX_HTTP_LLM_HDR_X_GOOG     3       /* x-goog-api-key */

/* a presented key longer than this is refused without being hashed */
#define NGX_HTTP_LLM_KEY_MAX        4096


static ngx_int_t ngx_http_llm_observer_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static int ngx_http_llm_observer_keep(void *data, const uint8_t digest[32]);
static void ngx_http_llm_observer_body_read(ngx_http_request_t *r);
static ngx_int_t ngx_http_llm_observer_presented(ngx_http_request_t *r,
    ngx_str_t *key);
static ngx_int_t ngx_http_llm_observer_key_header(ngx_table_elt_t *h);
static ngx_int_t ngx_http_llm_observer_drop_keys(ngx_http_request_t *r);
static ngx_int_t ngx_http_llm_observer_drop_key_headers(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_llm_observer_drop_key_args(ngx_http_request_t *r);
static ngx_int_t ngx_http_llm_observer_mask(ngx_http_request_t *r,
    ngx_str_t *s);
static ngx_int_t ngx_http_llm_observer_admit(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx);
static void ngx_http_llm_observer_cut_allow(ngx_http_llm_observer_ctx_t *ctx,
    int64_t reserve);
static ngx_int_t ngx_http_llm_observer_refuse(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx, ngx_uint_t status, const char *refused,
    const char *type, const char *code, u_char *msg, size_t len);
static ngx_int_t ngx_http_llm_observer_add_header(ngx_http_request_t *r,
    const char *name, u_char *value, size_t len);


/* -- configuration ------------------------------------------------------ */


char *
ngx_http_llm_observer_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_llm_observer_main_conf_t  *lmcf = conf;

    int                             plain;
    char                          **args;
    size_t                         *lens;
    ngx_str_t                      *value;
    llo_key_t                      *k;
    ngx_uint_t                      i, n;
    ngx_http_llm_observer_where_t  *w;
    char                            err[512];

    value = cf->args->elts;
    n = cf->args->nelts - 1;

    args = ngx_palloc(cf->temp_pool, n * sizeof(char *));
    lens = ngx_palloc(cf->temp_pool, n * sizeof(size_t));
    k = ngx_array_push(&lmcf->keys);
    w = ngx_array_push(&lmcf->key_where);

    if (args == NULL || lens == NULL || k == NULL || w == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < n; i++) {
        args[i] = (char *) value[i + 1].data;
        lens[i] = value[i + 1].len;
    }

    if (llo_key_parse(k, args, lens, n, &plain, err, sizeof(err)) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s in \"%V\" directive",
                           err, &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (plain) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "key \"%s\" is written in clear in \"%V\" "
                           "directive; write its sha256: digest instead "
                           "(llm-evaluator keygen prints both)",
                           k->name, &cmd->name);
    }

    w->file = cf->conf_file->file.name;
    w->line = cf->conf_file->line;

    return NGX_CONF_OK;
}


/* llm_observer_limits zone=<name>:<size> */

char *
ngx_http_llm_observer_limits(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_llm_observer_main_conf_t  *lmcf = conf;

    u_char                        *p;
    ssize_t                        size;
    ngx_str_t                     *value, name, s;
    ngx_shm_zone_t                *shm_zone;
    ngx_http_llm_observer_zone_t  *z;

    if (lmcf->zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strncmp(value[1].data, "zone=", 5) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"%V\" directive, "
                           "expected zone=<name>:<size>", &value[1],
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    name.data = value[1].data + 5;
    p = (u_char *) ngx_strchr(name.data, ':');

    if (p == NULL || p == name.data) {
        goto invalid;
    }

    name.len = p - name.data;
    s.data = p + 1;
    s.len = value[1].data + value[1].len - s.data;

    size = ngx_parse_size(&s);

    if (size == NGX_ERROR || size < (ssize_t) (8 * ngx_pagesize)) {
        goto invalid;
    }

    z = ngx_pcalloc(cf->pool, sizeof(ngx_http_llm_observer_zone_t));
    if (z == NULL) {
        return NGX_CONF_ERROR;
    }

    shm_zone = ngx_shared_memory_add(cf, &name, size,
                                     &ngx_http_llm_observer_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is already used", &name);
        return NGX_CONF_ERROR;
    }

    z->lmcf = lmcf;
    z->name = name;

    shm_zone->init = ngx_http_llm_observer_init_zone;
    shm_zone->data = z;

    lmcf->zone = shm_zone;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive, expected "
                       "zone=<name>:<size>, size at least %uzk", &value[1],
                       &cmd->name, 8 * ngx_pagesize / 1024);
    return NGX_CONF_ERROR;
}


/* the lookup table of the keys, once they are all read */

char *
ngx_http_llm_observer_keys_init(ngx_conf_t *cf,
    ngx_http_llm_observer_main_conf_t *lmcf)
{
    uint32_t                        n, i, j, first, dup, *slots;
    llo_key_t                      *k;
    ngx_http_llm_observer_where_t  *w;

    n = lmcf->keys.nelts;
    k = lmcf->keys.elts;
    w = lmcf->key_where.elts;

    slots = ngx_pcalloc(cf->pool, llo_keys_slots(n) * sizeof(uint32_t));
    if (slots == NULL) {
        return NGX_CONF_ERROR;
    }

    if (llo_keys_build(&lmcf->keytab, k, n, slots, llo_keys_slots(n),
                       &first, &dup)
        != 0)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "duplicate key digest in \"llm_observer_key\" "
                      "directive in %V:%ui, already declared as \"%s\" "
                      "in %V:%ui", &w[dup].file, w[dup].line, k[first].name,
                      &w[first].file, w[first].line);
        return NGX_CONF_ERROR;
    }

    /* the audit knows a key by the first 8 hex digits of its digest:
     * two keys sharing them would make the evaluator refuse the set */

    for (i = 0; i < n; i++) {
        for (j = i + 1; j < n; j++) {
            if (ngx_memcmp(k[i].digest, k[j].digest, 4) == 0) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "key \"%s\" in %V:%ui has the same first 8 "
                              "hex digits of its digest as \"%s\" in "
                              "%V:%ui; make a new key for one of them",
                              k[j].name, &w[j].file, w[j].line, k[i].name,
                              &w[i].file, w[i].line);
                return NGX_CONF_ERROR;
            }
        }
    }

    return NGX_CONF_OK;
}


/*
 * The zone keeps its counters across reloads (same name and size): the
 * entries of keys still configured are kept, the others dropped, so a
 * removed key that comes back starts afresh.  A zone of another layout
 * (an older module) is not reused.
 */

static ngx_int_t
ngx_http_llm_observer_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_llm_observer_zone_t  *oz = data;

    size_t                              size, avail;
    uint32_t                            slots, need;
    ngx_http_llm_observer_zone_t       *z;
    ngx_http_llm_observer_main_conf_t  *lmcf;

    z = shm_zone->data;
    lmcf = z->lmcf;

    need = llo_limits_slots(lmcf->keys.nelts);

    if (oz && oz->limits
        && llo_limits_valid(oz->limits, shm_zone->shm.size)
        && ((llo_limits_t *) oz->limits)->slots >= need)
    {
        z->shpool = oz->shpool;
        z->limits = oz->limits;

        ngx_shmtx_lock(&z->shpool->mutex);
        llo_limits_retain(z->limits, ngx_http_llm_observer_keep, lmcf);
        ngx_shmtx_unlock(&z->shpool->mutex);

        return NGX_OK;
    }

    z->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        z->limits = z->shpool->data;
        return NGX_OK;
    }

    /* as many entries as the zone holds, leaving the slab allocator its
     * pages; a reload that adds keys then rarely needs a bigger zone */

    avail = shm_zone->shm.size - 4 * ngx_pagesize;
    slots = (avail - sizeof(llo_limits_t)) / sizeof(llo_limit_entry_t);

    while (slots > need && llo_limits_size(slots) > avail) {
        slots--;
    }

    if (slots < need) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "llm_observer_limits zone \"%V\" is too small for %ui "
                      "keys: make it at least %uzk", &z->name,
                      lmcf->keys.nelts,
                      (llo_limits_size(need) + 4 * ngx_pagesize) / 1024 + 1);
        return NGX_ERROR;
    }

    size = llo_limits_size(slots);

    z->limits = ngx_slab_alloc(z->shpool, size);
    if (z->limits == NULL) {
        return NGX_ERROR;
    }

    llo_limits_init(z->limits, slots);
    z->shpool->data = z->limits;

    return NGX_OK;
}


static int
ngx_http_llm_observer_keep(void *data, const uint8_t digest[32])
{
    ngx_http_llm_observer_main_conf_t  *lmcf = data;

    return llo_keys_find(&lmcf->keytab, digest) != NULL;
}


/*
 * The key set goes into the ring on a start or reload that changes it
 * (the hash of the last one recorded is in the ring's header), for the
 * evaluator's llm_key_events: names, first 8 hex digits of the digests
 * and the limits, never a digest or a key.  A set that became empty is
 * recorded too, so removing the last key is audited; an empty set in a
 * ring that never had one is not.
 */

void
ngx_http_llm_observer_audit_keys(ngx_cycle_t *cycle,
    ngx_http_llm_observer_main_conf_t *lmcf)
{
    u_char     *buf, *p, *q;
    size_t      size;
    uint64_t    seq, hash;
    llo_rec_t   rec;
    llo_key_t  *k;
    ngx_uint_t  i;

    k = lmcf->keys.elts;

    size = lmcf->keys.nelts * LLO_KEY_DESCRIBE_MAX + 1;

    buf = ngx_alloc(size, cycle->log);
    if (buf == NULL) {
        return;
    }

    p = buf;

    for (i = 0; i < lmcf->keys.nelts; i++) {
        p += llo_key_describe(&k[i], (char *) p, LLO_KEY_DESCRIBE_MAX);
        *p++ = '\n';
    }

    /* FNV-1a; never 0, which means "nothing recorded yet" */

    hash = 0xcbf29ce484222325ULL;

    for (q = buf; q < p; q++) {
        hash = (hash ^ *q) * 0x100000001b3ULL;
    }

    hash |= 1;

    if (lmcf->ring->hdr->keyset_hash == hash
        || (lmcf->ring->hdr->keyset_hash == 0 && lmcf->keys.nelts == 0))
    {
        ngx_free(buf);
        return;
    }

    ngx_memzero(&rec, sizeof(llo_rec_t));

    llo_rec_num(&rec, LLO_N_KIND, LLO_KIND_KEYS);
    llo_rec_num(&rec, LLO_N_TS_US, ngx_http_llm_observer_now_us());
    llo_rec_str(&rec, LLO_S_HOST, cycle->hostname.data, cycle->hostname.len);
    llo_rec_str(&rec, LLO_S_KEY_SET, buf, p - buf);

    seq = llo_ring_next_seq(lmcf->ring);
    size = llo_rec_size(&rec);

    p = llo_ring_reserve(lmcf->ring, &seq, size);

    if (p != NULL) {
        (void) llo_rec_encode(&rec, p);
        llo_ring_commit(lmcf->ring, p);
        lmcf->ring->hdr->keyset_hash = hash;

    } else {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "llm_observer: ring \"%V\" is full, the key set of "
                      "this configuration was not recorded", &lmcf->path);
    }

    ngx_free(buf);
}


/* -- the access phase ----------------------------------------------------- */


ngx_int_t
ngx_http_llm_observer_access_handler(ngx_http_request_t *r)
{
    u_char                             *msg;
    size_t                              len;
    uint8_t                             digest[32];
    ngx_int_t                           rc;
    ngx_str_t                           key;
    llo_req_t                          *rq;
    llo_sstr_t                         *model;
    ngx_http_llm_observer_ctx_t        *ctx;
    ngx_http_llm_observer_loc_conf_t   *lcf;
    ngx_http_llm_observer_main_conf_t  *lmcf;
    u_char                              buf[512];

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_llm_observer_module);

    if (!lcf->auth || r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_llm_observer_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llm_observer_module);

    switch (ctx->auth_state) {

    case NGX_HTTP_LLM_AUTH_DONE:
        return NGX_DECLINED;

    case NGX_HTTP_LLM_AUTH_BODY:
        if (!ctx->body_read) {
            return NGX_DONE;
        }

        break;

    default:

        ngx_str_null(&key);

        rc = ngx_http_llm_observer_presented(r, &key);

        /* whatever is presented, and wherever: none of it goes upstream
         * or into a log */

        if (rc == NGX_ERROR || ngx_http_llm_observer_drop_keys(r) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc != NGX_OK) {
            msg = (u_char *) "You didn't provide an API key. Provide it in "
                  "an Authorization header using Bearer auth "
                  "(Authorization: Bearer YOUR_KEY), or in x-api-key.";
            return ngx_http_llm_observer_refuse(r, ctx,
                                                NGX_HTTP_UNAUTHORIZED,
                                                "missing_key",
                                                "invalid_request_error",
                                                "invalid_api_key", msg,
                                                ngx_strlen(msg));
        }

        if (key.len > NGX_HTTP_LLM_KEY_MAX
            || llo_key_digest(key.data, key.len, digest) != 0
            || (ctx->key = llo_keys_find(&lmcf->keytab, digest)) == NULL)
        {
            msg = (u_char *) "Incorrect API key provided.";
            return ngx_http_llm_observer_refuse(r, ctx,
                                                NGX_HTTP_UNAUTHORIZED,
                                                "unknown_key",
                                                "invalid_request_error",
                                                "invalid_api_key", msg,
                                                ngx_strlen(msg));
        }

        if (llo_key_expired(ctx->key, ngx_http_llm_observer_now_us())) {
            len = ngx_snprintf(buf, sizeof(buf), "The API key \"%s\" has "
                               "expired.", ctx->key->name) - buf;
            return ngx_http_llm_observer_refuse(r, ctx,
                                                NGX_HTTP_UNAUTHORIZED,
                                                "expired_key",
                                                "invalid_request_error",
                                                "invalid_api_key", buf, len);
        }

        /* the model and the prompt are in the body: read it before
         * anything goes upstream (the request body filter parses it) */

        ctx->auth_state = NGX_HTTP_LLM_AUTH_BODY;

        rc = ngx_http_read_client_request_body(r,
                                             ngx_http_llm_observer_body_read);

        if (rc == NGX_ERROR || rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        if (!ctx->body_read) {
            ctx->body_wait = 1;
            return NGX_DONE;
        }
    }

    ctx->auth_state = NGX_HTTP_LLM_AUTH_DONE;

    rq = ctx->req ? llo_req_result(ctx->req) : NULL;
    model = (rq && rq->model.set) ? &rq->model
            : ctx->uri_model.set ? &ctx->uri_model : NULL;

    if (ctx->key->nmodels
        && (model == NULL
            || !llo_key_model_ok(ctx->key, model->data, model->len)))
    {
        if (model) {
            len = ngx_snprintf(buf, sizeof(buf), "The API key \"%s\" may "
                               "not use the model `%*s`.", ctx->key->name,
                               model->len, model->data) - buf;

        } else {
            len = ngx_snprintf(buf, sizeof(buf), "The API key \"%s\" may "
                               "only use some models, and the request "
                               "names none.", ctx->key->name) - buf;
        }

        return ngx_http_llm_observer_refuse(r, ctx, NGX_HTTP_FORBIDDEN,
                                            "model", "invalid_request_error",
                                            "model_not_allowed", buf, len);
    }

    if (lmcf->zone == NULL) {
        return NGX_DECLINED;
    }

    return ngx_http_llm_observer_admit(r, ctx);
}


static void
ngx_http_llm_observer_body_read(ngx_http_request_t *r)
{
    ngx_http_llm_observer_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_llm_observer_module);

    ctx->body_read = 1;

    /* ngx_http_read_client_request_body() counted the request */
    r->main->count--;

    if (ctx->body_wait) {
        ctx->body_wait = 0;
        ngx_http_core_run_phases(r);
    }
}


/*
 * The key as OpenAI (Authorization: Bearer), Anthropic (x-api-key) and
 * Gemini (x-goog-api-key, ?key=) clients send it: the first of these, in
 * this order, that is not empty.  NGX_DECLINED when there is none.
 */

static ngx_int_t
ngx_http_llm_observer_presented(ngx_http_request_t *r, ngx_str_t *key)
{
    u_char           *dst, *src;
    ngx_str_t         v, found[NGX_HTTP_LLM_HDR_X_GOOG + 1];
    ngx_uint_t        i, n;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    h = r->headers_in.authorization;

    if (h != NULL) {
        v = h->value;

        if (v.len > 7 && ngx_strncasecmp(v.data, (u_char *) "Bearer ", 7)
                         == 0)
        {
            v.data += 7;
            v.len -= 7;

            while (v.len && v.data[0] == ' ') {
                v.data++;
                v.len--;
            }

            while (v.len && v.data[v.len - 1] == ' ') {
                v.len--;
            }

            if (v.len) {
                *key = v;
                return NGX_OK;
            }
        }
    }

    /* the first x-api-key, the first x-goog-api-key */

    ngx_memzero(found, sizeof(found));

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].value.len == 0) {
            continue;
        }

        n = ngx_http_llm_observer_key_header(&h[i]);

        if (n != NGX_HTTP_LLM_HDR_AUTH && found[n].len == 0) {
            found[n] = h[i].value;
        }
    }

    for (n = NGX_HTTP_LLM_HDR_X_API_KEY; n <= NGX_HTTP_LLM_HDR_X_GOOG; n++) {
        if (found[n].len) {
            *key = found[n];
            return NGX_OK;
        }
    }

    if (ngx_http_arg(r, (u_char *) "key", 3, &v) == NGX_OK && v.len) {
        dst = ngx_pnalloc(r->pool, v.len);
        if (dst == NULL) {
            return NGX_ERROR;
        }

        key->data = dst;
        src = v.data;
        ngx_unescape_uri(&dst, &src, v.len, 0);
        key->len = dst - key->data;

        return key->len ? NGX_OK : NGX_DECLINED;
    }

    return NGX_DECLINED;
}


/*
 * The NGX_HTTP_LLM_HDR_* of a header that carries a client's key
 * (Authorization whatever its scheme: the client authenticates to nginx,
 * never to the provider), NGX_HTTP_LLM_HDR_NONE for any other.
 */

static ngx_int_t
ngx_http_llm_observer_key_header(ngx_table_elt_t *h)
{
    switch (h->key.len) {

    case 13:
        if (ngx_strncasecmp(h->key.data, (u_char *) "Authorization", 13)
            == 0)
        {
            return NGX_HTTP_LLM_HDR_AUTH;
        }
        break;

    case 9:
        if (ngx_strncasecmp(h->key.data, (u_char *) "x-api-key", 9) == 0) {
            return NGX_HTTP_LLM_HDR_X_API_KEY;
        }
        break;

    case 14:
        if (ngx_strncasecmp(h->key.data, (u_char *) "x-goog-api-key", 14)
            == 0)
        {
            return NGX_HTTP_LLM_HDR_X_GOOG;
        }
        break;
    }

    return NGX_HTTP_LLM_HDR_NONE;
}


/*
 * The client's key, in every form it may have been presented, is taken
 * out of the request before anything is forwarded: the key headers from
 * the request headers (so no proxy_pass, fastcgi_pass, ... sends them,
 * whatever proxy_set_header lines exist for others, and $http_x_api_key
 * and the like are empty from here on), every key= from $args (the
 * upstream URI is then built from $uri and $args, not from the request
 * line), and masked (key=***) in $request_uri and the request line.
 */

static ngx_int_t
ngx_http_llm_observer_drop_keys(ngx_http_request_t *r)
{
    if (ngx_http_llm_observer_drop_key_headers(r) != NGX_OK
        || ngx_http_llm_observer_drop_key_args(r) != NGX_OK
        || ngx_http_llm_observer_mask(r, &r->unparsed_uri) != NGX_OK
        || ngx_http_llm_observer_mask(r, &r->request_line) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* $args without key=: proxy_pass then builds the URI from $uri and it */

static ngx_int_t
ngx_http_llm_observer_drop_key_args(ngx_http_request_t *r)
{
    u_char  *p;
    size_t   len;

    if (r->args.len == 0) {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, r->args.len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    len = llo_args_drop_key((char *) r->args.data, r->args.len, (char *) p);

    if (len != r->args.len) {
        r->args.data = p;
        r->args.len = len;
        r->valid_unparsed_uri = 0;

        /* nothing left: as if the request had no query ($args logs "-") */
        if (len == 0) {
            ngx_str_null(&r->args);
        }
    }

    return NGX_OK;
}


/*
 * Elements cannot be taken out of an ngx_list_t: the request headers are
 * copied into a new list without the key headers.  Pointers such as
 * r->headers_in.host still point to the old elements, which stay as they
 * were in the request's pool.
 */

static ngx_int_t
ngx_http_llm_observer_drop_key_headers(ngx_http_request_t *r)
{
    ngx_uint_t        i, n, drop;
    ngx_list_t        old;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *nh;

    n = 0;
    drop = 0;

    part = &r->headers_in.headers.part;

    for ( /* void */ ; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            n++;
            drop += ngx_http_llm_observer_key_header(&h[i])
                    != NGX_HTTP_LLM_HDR_NONE;
        }
    }

    if (drop == 0) {
        return NGX_OK;
    }

    old = r->headers_in.headers;

    if (ngx_list_init(&r->headers_in.headers, r->pool,
                      n - drop ? n - drop : 1, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (part = &old.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (ngx_http_llm_observer_key_header(&h[i])
                != NGX_HTTP_LLM_HDR_NONE)
            {
                continue;
            }

            nh = ngx_list_push(&r->headers_in.headers);
            if (nh == NULL) {
                return NGX_ERROR;
            }

            *nh = h[i];
        }
    }

    r->headers_in.authorization = NULL;

    return NGX_OK;
}


/* s with its key= values masked, in a copy when there is one to mask */

static ngx_int_t
ngx_http_llm_observer_mask(ngx_http_request_t *r, ngx_str_t *s)
{
    u_char  *p;

    if (s->data == NULL || !llo_query_has_key((char *) s->data, s->len)) {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, LLO_MASK_MAX(s->len));
    if (p == NULL) {
        return NGX_ERROR;
    }

    s->len = llo_query_mask_key((char *) s->data, s->len, (char *) p);
    s->data = p;

    return NGX_OK;
}


/*
 * Post-read phase, in a server{} where some location has
 * llm_observer_auth on: the request line ($request, and every error.log
 * line about the request) is masked before anything can log it, whatever
 * location the request ends in: a call refused by client_max_body_size or
 * limit_req never reaches the access phase.  The request line is never
 * forwarded, so the upstream gets what it would have got.
 */

ngx_int_t
ngx_http_llm_observer_mask_line(ngx_http_request_t *r)
{
    ngx_http_llm_observer_srv_conf_t  *lscf;

    lscf = ngx_http_get_module_srv_conf(r, ngx_http_llm_observer_module);

    if (lscf->auth
        && ngx_http_llm_observer_mask(r, &r->request_line) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DECLINED;
}


/*
 * First of the log handlers: a call in a location with llm_observer_auth
 * on that ended before the access phase (client_max_body_size, limit_req,
 * return) still has the key in $request_uri and $args; nothing is
 * forwarded any more, so it is taken out for the access log.
 */

ngx_int_t
ngx_http_llm_observer_mask_log(ngx_http_request_t *r)
{
    ngx_http_llm_observer_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_llm_observer_module);

    if (lcf->auth) {
        (void) ngx_http_llm_observer_drop_key_args(r);
        (void) ngx_http_llm_observer_mask(r, &r->unparsed_uri);
        (void) ngx_http_llm_observer_mask(r, &r->request_line);
    }

    return NGX_OK;
}


/* the limits: tokens reserved (prompt + max_tokens) before forwarding */

static ngx_int_t
ngx_http_llm_observer_admit(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx)
{
    int                             rc;
    size_t                          len;
    int64_t                         reserve, now;
    llo_req_t                      *rq;
    llo_limit_entry_t                  *e;
    ngx_table_elt_t                    *h;
    ngx_http_llm_observer_zone_t       *z;
    ngx_http_llm_observer_loc_conf_t   *lcf;
    ngx_http_llm_observer_main_conf_t  *lmcf;
    const char                     *what, *type, *code;
    char                            wait[LLO_DURATION_MAX];
    u_char                          buf[512];

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llm_observer_module);
    z = lmcf->zone->data;

    rq = ctx->req ? llo_req_result(ctx->req) : NULL;


    reserve = ctx->prompt_estimate > 0 ? ctx->prompt_estimate : 0;

    if (ctx->a == NULL || ctx->a->completion) {
        reserve += (rq && rq->max_tokens >= 0)
                   ? rq->max_tokens : NGX_HTTP_LLM_OBSERVER_RESERVE;
    }

    now = ngx_http_llm_observer_now_us();

    ngx_shmtx_lock(&z->shpool->mutex);

    e = llo_limits_get(z->limits, ctx->key->digest, 1);

    rc = e ? llo_limit_check(e, ctx->key, now, reserve, &ctx->limit) : -1;

    ngx_shmtx_unlock(&z->shpool->mutex);

    if (rc == -1) {
        /* no room in the zone: the limits cannot be kept for this key */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "llm_observer_limits zone \"%V\" is full, call of "
                      "key \"%s\" refused", &z->name, ctx->key->name);
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    if (rc == LLO_LIMIT_OK) {
        ctx->admitted = 1;
        ctx->reserved = reserve;

        lcf = ngx_http_get_module_loc_conf(r, ngx_http_llm_observer_module);

        if (lcf->limit_stream) {
            ngx_http_llm_observer_cut_allow(ctx, reserve);
        }

        return NGX_DECLINED;
    }

    switch (rc) {

    case LLO_LIMIT_RPM:
        what = "rpm";
        type = "requests";
        code = "rate_limit_exceeded";
        len = ngx_snprintf(buf, sizeof(buf), "Rate limit reached for "
                           "requests per minute (rpm) of key \"%s\": "
                           "Limit %L.", ctx->key->name, ctx->key->rpm) - buf;
        break;

    case LLO_LIMIT_TPM:
        what = "tpm";
        type = "tokens";
        code = "rate_limit_exceeded";
        len = ngx_snprintf(buf, sizeof(buf), "%s for tokens per minute "
                           "(tpm) of key \"%s\": Limit %L, Requested %L.",
                           ctx->limit.retry_after_us == LLO_LIMIT_NEVER
                           ? "Request too large" : "Rate limit reached",
                           ctx->key->name, ctx->key->tpm, reserve) - buf;
        break;

    case LLO_LIMIT_TPD:
        what = "tpd";
        type = "tokens";
        code = "rate_limit_exceeded";
        len = ngx_snprintf(buf, sizeof(buf), "%s for tokens per day (tpd) "
                           "of key \"%s\": Limit %L, Requested %L.",
                           ctx->limit.retry_after_us == LLO_LIMIT_NEVER
                           ? "Request too large" : "Rate limit reached",
                           ctx->key->name, ctx->key->tpd, reserve) - buf;
        break;

    default: /* LLO_LIMIT_BUDGET */
        what = "budget";
        type = "insufficient_quota";
        code = "insufficient_quota";
        len = ngx_snprintf(buf, sizeof(buf), "You exceeded the %s budget "
                           "of key \"%s\".",
                           ctx->key->budget_period == LLO_BUDGET_MONTH
                           ? "monthly" : "daily", ctx->key->name) - buf;
        break;
    }

    if (ctx->limit.retry_after_us > 0) {
        llo_duration_format(ctx->limit.retry_after_us, wait, sizeof(wait));
        len = ngx_snprintf(buf + len, sizeof(buf) - len, " Please try "
                           "again in %s.", wait) - buf;

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Retry-After");
        h->value.data = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (h->value.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /* whole seconds, rounded up: early is refused again */
        h->value.len = ngx_sprintf(h->value.data, "%L",
                                   (ctx->limit.retry_after_us + 999999)
                                   / 1000000)
                       - h->value.data;
    }

    if (ngx_http_llm_observer_limit_headers(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_llm_observer_refuse(r, ctx, NGX_HTTP_TOO_MANY_REQUESTS,
                                        what, type, code, buf, len);
}


/*
 * llm_observer_limit_stream cut: the completion tokens the call may take,
 * its own reservation (max_tokens, or the default) and what the key's tpm
 * and tpd had left after it; none without a token limit.
 */

static void
ngx_http_llm_observer_cut_allow(ngx_http_llm_observer_ctx_t *ctx,
    int64_t reserve)
{
    int64_t              left, completion;
    llo_limit_result_t  *l;

    l = &ctx->limit;
    left = -1;

    if (l->limit_tokens > 0) {
        left = l->remaining_tokens;
    }

    if (l->remaining_tpd >= 0 && (left < 0 || l->remaining_tpd < left)) {
        left = l->remaining_tpd;
    }

    if (left < 0) {
        return;
    }

    completion = reserve - (ctx->prompt_estimate > 0 ? ctx->prompt_estimate
                                                     : 0);

    ctx->cut_allow = completion + left;
}


/*
 * The refusal, in the error shape of the provider the call was meant
 * for; the call is recorded like any other, with why it was refused.
 */

static ngx_int_t
ngx_http_llm_observer_refuse(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx, ngx_uint_t status, const char *refused,
    const char *type, const char *code, u_char *msg, size_t len)
{
    u_char       *esc;
    size_t        size;
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    ctx->refused = refused;
    ctx->auth_state = NGX_HTTP_LLM_AUTH_DONE;

    if (!ctx->body_read && ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    /* the message may quote a model name from the request */

    size = len + ngx_escape_json(NULL, msg, len);

    esc = ngx_pnalloc(r->pool, size);
    b = ngx_create_temp_buf(r->pool, size + 256);
    if (esc == NULL || b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    (void) ngx_escape_json(esc, msg, len);
    msg = esc;
    len = size;

    b->last += ctx->prov->error_body((char *) b->pos, b->end - b->pos,
                                     (int) status, type, code, (char *) msg,
                                     len);
    b->last_buf = 1;
    b->last_in_chain = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    out.buf = b;
    out.next = NULL;

    rc = ngx_http_send_header(r);

    if (rc != NGX_ERROR && rc <= NGX_OK && !r->header_only) {
        rc = ngx_http_output_filter(r, &out);
    }

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


/* OpenAI's x-ratelimit-* headers, for the limits the key has */

ngx_int_t
ngx_http_llm_observer_limit_headers(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx)
{
    u_char               *p;
    llo_limit_result_t   *l;
    u_char                buf[3 * NGX_INT64_LEN + 3 * LLO_DURATION_MAX];

    l = &ctx->limit;
    p = buf;

#define ngx_http_llm_header(name, v)                                         \
    if (ngx_http_llm_observer_add_header(r, name, p,                         \
                                         ngx_sprintf(p, "%L", v) - p)        \
        != NGX_OK)                                                           \
    {                                                                        \
        return NGX_ERROR;                                                    \
    }

#define ngx_http_llm_reset(name, us)                                         \
    if (ngx_http_llm_observer_add_header(r, name, p,                         \
                                         llo_duration_format(us, (char *) p, \
                                                         LLO_DURATION_MAX))  \
        != NGX_OK)                                                           \
    {                                                                        \
        return NGX_ERROR;                                                    \
    }

    if (l->limit_requests > 0) {
        ngx_http_llm_header("x-ratelimit-limit-requests", l->limit_requests);
        ngx_http_llm_header("x-ratelimit-remaining-requests",
                            l->remaining_requests);
        ngx_http_llm_reset("x-ratelimit-reset-requests",
                           l->reset_requests_us);
    }

    if (l->limit_tokens > 0) {
        ngx_http_llm_header("x-ratelimit-limit-tokens", l->limit_tokens);
        ngx_http_llm_header("x-ratelimit-remaining-tokens",
                            l->remaining_tokens);
        ngx_http_llm_reset("x-ratelimit-reset-tokens", l->reset_tokens_us);
    }

#undef ngx_http_llm_header
#undef ngx_http_llm_reset

    return NGX_OK;
}


static ngx_int_t
ngx_http_llm_observer_add_header(ngx_http_request_t *r, const char *name,
    u_char *value, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->value.data = ngx_pnalloc(r->pool, len);
    if (h->value.data == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value.len = len;
    ngx_memcpy(h->value.data, value, len);

    return NGX_OK;
}


/*
 * The call ended: its reservation is replaced by the tokens it used and
 * its cost goes to the budget.  A call that never reached the provider
 * used nothing.
 */

void
ngx_http_llm_observer_reconcile(ngx_http_request_t *r,
    ngx_http_llm_observer_ctx_t *ctx, llo_call_t *c)
{
    int64_t                             used;
    llo_limit_entry_t                  *e;
    ngx_http_llm_observer_zone_t       *z;
    ngx_http_llm_observer_main_conf_t  *lmcf;

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llm_observer_module);

    if (lmcf->zone == NULL) {
        return;
    }

    z = lmcf->zone->data;

    used = c->total >= 0 ? c->total
           : (c->prompt > 0 ? c->prompt : 0)
             + (c->completion > 0 ? c->completion : 0);

    ngx_shmtx_lock(&z->shpool->mutex);

    e = llo_limits_get(z->limits, ctx->key->digest, 0);

    if (e != NULL) {
        llo_limit_reconcile(e, ctx->key, ngx_http_llm_observer_now_us(),
                            ctx->reserved, used,
                            c->cost_nano > 0 ? (c->cost_nano + 999) / 1000
                                             : 0);
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    ctx->admitted = 0;
}
