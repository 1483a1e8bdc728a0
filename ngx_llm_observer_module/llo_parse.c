/*
 * llm-observer request and response extraction: see llo_parse.h.
 *
 * One JSON walker serves every API: yajl reports each value with its path
 * ("choices[].delta.content"), and a table per API says what the path
 * means (the API's llo_api_t, llo_api.c, which also says which of what
 * follows it uses).  Three things a path alone cannot say are handled
 * around it:
 *
 *   - whether a string is answer text can depend on a sibling key that
 *     may come after it ("type":"output_text", Gemini's "thought":true):
 *     the string waits, copied, until its object closes (a gate);
 *   - what an SSE event means can depend on its name ("event:" line) or
 *     its top-level "type": that is settled when the event ends;
 *   - some providers send counts in parts (Anthropic's input is three
 *     numbers, Gemini's output two): the parts are kept and the sums
 *     made again (the API's derive) each time one arrives, so a repeated
 *     (cumulative) count overwrites and is never added twice.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>
#include <zlib.h>

#include "llo_api.h"


/* paths we look for are short; a longer one only has to stay long */
#define LLO_PATH_MAX            512
#define LLO_KEY_MAX             48
#define LLO_GZ_CHUNK            16384
#define LLO_TMPL_MAX            2048

#define LLO_J_MAP               1
#define LLO_J_ARRAY             2

#define LLO_V_NULL              0
#define LLO_V_BOOL              1
#define LLO_V_NUMBER            2
#define LLO_V_STRING            3
#define LLO_V_MAP               4       /* a container starts here */
#define LLO_V_ARRAY             5

/* what output a request asks for (llo_req_t's response_format) */
#define LLO_RF_NONE             0
#define LLO_RF_OBJECT           1
#define LLO_RF_SCHEMA           2

/* the required keys' room: the field less "json_schema:" and " tools" */
#define LLO_RF_KEYS             (LLO_SMALL_STR - sizeof("json_schema:")      \
                                 - sizeof(" tools") + 1)


/* where yajl is in the document, as "choices[].delta.content" */

typedef struct {
    char                path[LLO_PATH_MAX];
    size_t              len;
    int                 depth;
    uint8_t             type[LLO_MAX_DEPTH];
    size_t              base[LLO_MAX_DEPTH];
} llo_path_t;


typedef struct llo_json_s  llo_json_t;

typedef void (*llo_value_pt)(llo_json_t *j, const llo_path_map_t *m,
    int type, const uint8_t *v, size_t len);
typedef void (*llo_close_pt)(llo_json_t *j, int depth);

struct llo_json_s {
    llo_path_t          path;
    const llo_path_map_t *map;
    llo_value_pt        value;
    llo_close_pt        close;          /* a container at depth ends */
    void               *data;
    yajl_handle         yajl;
    int                 too_deep;
    unsigned            containers:1;   /* report container starts too */

    /* template learning, used by the SSE event parser */
    yajl_handle         learn_yajl;
    int                 learn_seen;     /* interesting values so far */
    uint64_t            learn_mask;     /* which fields, one bit each */
    size_t              learn_key_end;
    size_t              learn_text_end;
};


typedef struct {
    uint8_t             prefix[LLO_TMPL_MAX];
    size_t              prefix_len;
    uint8_t             suffix[LLO_TMPL_MAX];
    size_t              suffix_len;
    size_t              obf;            /* suffix length before
                                           ,"obfuscation":" or 0 */
    llo_sstr_t          id;
    llo_sstr_t          model;
    unsigned            valid:1;
} llo_tmpl_t;


/* a string kept for the estimate: cbuf[off .. off + len) */

typedef struct {
    size_t              off;
    size_t              len;
} llo_piece_t;


struct llo_req_parser_s {
    llo_req_t           res;
    llo_json_t          json;
    const llo_api_t    *a;              /* NULL: bytes only */
    unsigned            failed:1;
    unsigned            parsed:1;       /* the whole body was JSON */
    unsigned            no_count:1;     /* no estimate will be asked for */

    /* the estimate: framing + ids + the count of each piece */
    int64_t             framing;
    int64_t             ids;            /* token ids sent as numbers */
    uint64_t            framed;         /* messages with framing */
    uint8_t            *cbuf;
    size_t              clen;
    size_t              ccap;
    llo_piece_t        *pieces;
    size_t              npieces;
    size_t              pcap;
    uint64_t            dropped;        /* bytes of the pieces not kept */

    /* the output asked for, made into res.response_format at the end */
    int                 rf_type;        /* LLO_RF_* */
    unsigned            rf_json_mime:1; /* Gemini: application/json */
    unsigned            rf_schema:1;    /* Gemini: a response schema */
    unsigned            rf_tools:1;
    unsigned            rf_keys_full:1; /* a key did not fit: no more */
    char                rf_keys[LLO_RF_KEYS];   /* "k1,k2" */
    size_t              rf_keys_len;
};


struct llo_resp_parser_s {
    llo_resp_t          res;
    const llo_api_t    *a;              /* NULL: bytes only (LLO_BODY_OTHER,
                                           nothing is parsed) */
    int                 body;
    int                 skim;
    unsigned            failed:1;       /* stop feeding the parser */
    unsigned            body_failed:1;  /* stop parsing, keep counting */
    unsigned            err_type_strong:1;  /* from a "type", not a code */
    unsigned            finish_strong:1;    /* from a reason, not a status */

    llo_text_pt         on_text;
    void               *on_text_data;

    /* counts that arrive in parts */
    llo_usage_parts_t   parts;

    /* each open object's gate: -1 not yet known, 0 closed, 1 open; and
     * the text waiting for one */
    int8_t              gate[LLO_MAX_DEPTH + 1];
    unsigned            gate_fixed:1;   /* the event: line set gate[1] */
    unsigned            pend_dfl:1;     /* no gate by the end: text? */
    int                 pend_depth;     /* 0: nothing waits */
    uint8_t            *pend;
    size_t              pend_len;
    size_t              pend_cap;

    /* the SSE event being parsed */
    llo_sstr_t          ev_name;        /* its event: line */
    llo_sstr_t          ev_type;        /* its top-level "type" */
    llo_sstr_t          ev_status;
    llo_sstr_t          ev_reason;
    llo_sstr_t          ev_code;
    llo_mstr_t          ev_msg;
    uint64_t            ev_end;         /* just past its blank line */

    /* gzip */
    z_stream           *zs;
    uint8_t            *zout;

    /* JSON */
    llo_json_t          json;

    /* SSE */
    uint8_t            *line;
    size_t              line_len;
    size_t              line_cap;
    uint8_t            *ev;
    size_t              ev_len;
    size_t              ev_cap;
    const uint8_t      *ev_in;          /* data still in the fed buffer */
    size_t              ev_in_len;
    uint64_t            ev_offset;
    unsigned            ev_data:1;
    unsigned            ev_skip:1;      /* event too big: skip to its end */
    unsigned            line_skip:1;    /* line too long: skip to its end */
    uint8_t            *scratch;
    size_t              scratch_cap;
    llo_tmpl_t         *tmpl;           /* SSE only, made when learned */
};


static void llo_json_init(llo_json_t *j, const llo_path_map_t *map,
    llo_value_pt value, void *data);
static yajl_handle llo_json_yajl(llo_json_t *j);
static int llo_json_error(llo_json_t *j, yajl_status st, const uint8_t *data,
    size_t len, const char *what, uint64_t offset, char *err, size_t errlen);
static void llo_text_append(llo_text_t *t, const void *s, size_t n, int sep);
static int llo_text_init(llo_text_t *t, size_t cap);
static int llo_sstr_is(const llo_sstr_t *s, const char *lit);
static void llo_mstr_set(llo_mstr_t *s, const void *v, size_t len);
static int llo_int(const uint8_t *v, size_t len, int64_t *out);
static void llo_req_piece(llo_req_parser_t *p, const void *s, size_t len);
static void llo_req_text(llo_req_parser_t *p, const uint8_t *v, size_t len);
static void llo_req_value(llo_json_t *j, const llo_path_map_t *m, int type,
    const uint8_t *v, size_t len);
static void llo_req_required(llo_req_parser_t *p, const uint8_t *v,
    size_t len);
static void llo_req_format(llo_req_parser_t *p);
static void llo_resp_text(llo_resp_parser_t *p, const uint8_t *s, size_t n);
static void llo_resp_gated(llo_resp_parser_t *p, int depth, int dfl,
    const uint8_t *v, size_t len);
static void llo_resp_close(llo_json_t *j, int depth);
static void llo_resp_value(llo_json_t *j, const llo_path_map_t *m, int type,
    const uint8_t *v, size_t len);
static void llo_resp_event_end(llo_resp_parser_t *p);
static void llo_resp_body(llo_resp_parser_t *p, const uint8_t *data,
    size_t len);
static void llo_sse_feed(llo_resp_parser_t *p, const uint8_t *data,
    size_t len);
static void llo_sse_line(llo_resp_parser_t *p, const uint8_t *line,
    size_t len, int in_place, uint64_t offset, uint64_t end);
static void llo_sse_dispatch(llo_resp_parser_t *p);
static int llo_sse_keep(llo_resp_parser_t *p);
static int llo_skim_event(llo_resp_parser_t *p, const uint8_t *d, size_t n);
static void llo_yajl_event(llo_resp_parser_t *p, const uint8_t *d, size_t n);


/* the skimmer's learning keeps one bit per field */
typedef char  llo_field_bits_fit[LLO_F_MAX <= 64 ? 1 : -1];


/* -- small helpers -------------------------------------------------------- */


size_t
llo_utf8_cut(const char *s, size_t len)
{
    size_t   i, need;
    uint8_t  c;

    if (len == 0) {
        return 0;
    }

    /* find the start of the last sequence: at most 3 continuation bytes */

    i = len;

    while (i > 0 && len - i < 4) {
        c = (uint8_t) s[i - 1];

        if ((c & 0xc0) != 0x80) {
            break;
        }

        i--;
    }

    if (i == 0) {
        return len;
    }

    c = (uint8_t) s[i - 1];

    if (c < 0x80) {
        return len;
    }

    need = (c >= 0xf0) ? 4 : (c >= 0xe0) ? 3 : (c >= 0xc0) ? 2 : 1;

    if (len - (i - 1) < need) {
        return i - 1;
    }

    return len;
}


static int
llo_text_init(llo_text_t *t, size_t cap)
{
    t->cap = cap;
    t->len = 0;
    t->truncated = 0;

    /* most texts are far below max_text: start small, grow on demand */
    t->alloc = cap < 512 ? (cap ? cap : 1) : 512;
    t->data = malloc(t->alloc);

    return t->data == NULL ? -1 : 0;
}


static int
llo_text_room(llo_text_t *t, size_t need)
{
    char    *p;
    size_t   n;

    if (need <= t->alloc) {
        return 0;
    }

    n = t->alloc;

    while (n < need) {
        n *= 2;
    }

    if (n > t->cap) {
        n = t->cap;
    }

    p = realloc(t->data, n);
    if (p == NULL) {
        return -1;
    }

    t->data = p;
    t->alloc = n;

    return 0;
}


static void
llo_text_append(llo_text_t *t, const void *s, size_t n, int sep)
{
    size_t  room;

    if (t->truncated) {
        return;
    }

    if (sep && t->len > 0) {
        if (t->len == t->cap || llo_text_room(t, t->len + 1) != 0) {
            t->truncated = 1;
            return;
        }

        t->data[t->len++] = '\n';
    }

    room = t->cap - t->len;

    if (n <= room) {
        if (llo_text_room(t, t->len + n) != 0) {
            t->truncated = 1;
            return;
        }

        memcpy(t->data + t->len, s, n);
        t->len += n;
        return;
    }

    /* cut at a character boundary of what was kept in total */

    if (llo_text_room(t, t->cap) != 0) {
        t->truncated = 1;
        return;
    }

    memcpy(t->data + t->len, s, room);
    t->len = llo_utf8_cut(t->data, t->cap);
    t->truncated = 1;
}


void
llo_sstr_set(llo_sstr_t *s, const void *v, size_t len)
{
    if (len >= LLO_SMALL_STR) {
        len = llo_utf8_cut(v, LLO_SMALL_STR - 1);
    }

    memcpy(s->data, v, len);
    s->data[len] = '\0';
    s->len = len;
    s->set = 1;
}


static int
llo_sstr_is(const llo_sstr_t *s, const char *lit)
{
    return s->set && s->len == strlen(lit)
           && memcmp(s->data, lit, s->len) == 0;
}


static void
llo_mstr_set(llo_mstr_t *s, const void *v, size_t len)
{
    s->truncated = 0;

    if (len >= LLO_MSG_STR) {
        len = llo_utf8_cut(v, LLO_MSG_STR - 1);
        s->truncated = 1;
    }

    memcpy(s->data, v, len);
    s->data[len] = '\0';
    s->len = len;
    s->set = 1;
}


static int
llo_int(const uint8_t *v, size_t len, int64_t *out)
{
    size_t   i;
    int64_t  n;

    if (len == 0 || len > 18) {
        return -1;
    }

    n = 0;

    for (i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9') {
            return -1;
        }
        n = n * 10 + (v[i] - '0');
    }

    *out = n;

    return 0;
}


int
llo_grow(uint8_t **buf, size_t *cap, size_t need)
{
    return llo_grow_array(buf, cap, need, 1, 256);
}


int
llo_grow_array(void *parr, size_t *cap, size_t need, size_t size,
    size_t first)
{
    void    *p;
    size_t   n;

    if (need <= *cap) {
        return 0;
    }

    n = *cap ? *cap : first;

    while (n < need) {
        n *= 2;
    }

    if (n > SIZE_MAX / size) {
        return -1;
    }

    /* through memcpy: parr may point to any pointer type */
    memcpy(&p, parr, sizeof(void *));

    p = realloc(p, n * size);
    if (p == NULL) {
        return -1;
    }

    memcpy(parr, &p, sizeof(void *));
    *cap = n;

    return 0;
}


/* -- yajl with a path ------------------------------------------------------ */


static void
llo_json_value(llo_json_t *j, int type, const uint8_t *v, size_t len)
{
    size_t                 k;
    const llo_path_map_t  *m;

    for (m = j->map; m->path; m++) {

        if (!m->wild) {
            if (m->len == j->path.len
                && memcmp(m->path, j->path.path, m->len) == 0)
            {
                j->value(j, m, type, v, len);
                return;
            }

            continue;
        }

        /* "messages[]." and one key more, however named */

        if (j->path.len <= m->len
            || memcmp(m->path, j->path.path, m->len) != 0)
        {
            continue;
        }

        for (k = m->len; k < j->path.len; k++) {
            if (j->path.path[k] == '.' || j->path.path[k] == '[') {
                break;
            }
        }

        if (k == j->path.len) {
            j->value(j, m, type, v, len);
            return;
        }
    }
}


static int
llo_cb_null(void *ctx)
{
    llo_json_value(ctx, LLO_V_NULL, NULL, 0);
    return 1;
}


static int
llo_cb_bool(void *ctx, int v)
{
    llo_json_value(ctx, LLO_V_BOOL, (const uint8_t *) (v ? "1" : "0"), 1);
    return 1;
}


static int
llo_cb_number(void *ctx, const char *v, size_t len)
{
    llo_json_value(ctx, LLO_V_NUMBER, (const uint8_t *) v, len);
    return 1;
}


static int
llo_cb_string(void *ctx, const unsigned char *v, size_t len)
{
    llo_json_value(ctx, LLO_V_STRING, v, len);
    return 1;
}


static int
llo_json_push(llo_json_t *j, int type)
{
    llo_path_t  *p;

    p = &j->path;

    if (j->containers) {
        llo_json_value(j, type == LLO_J_MAP ? LLO_V_MAP : LLO_V_ARRAY,
                       NULL, 0);
    }

    if (p->depth == LLO_MAX_DEPTH) {
        j->too_deep = 1;
        return 0;
    }

    p->type[p->depth] = (uint8_t) type;
    p->base[p->depth] = p->len;
    p->depth++;

    if (type == LLO_J_ARRAY && p->len + 2 <= LLO_PATH_MAX) {
        memcpy(p->path + p->len, "[]", 2);
        p->len += 2;
    }

    return 1;
}


static int
llo_json_pop(llo_json_t *j)
{
    llo_path_t  *p;

    p = &j->path;

    if (p->depth > 0) {
        if (j->close) {
            j->close(j, p->depth);
        }

        p->depth--;
        p->len = p->base[p->depth];
    }

    return 1;
}


static int
llo_cb_start_map(void *ctx)
{
    return llo_json_push(ctx, LLO_J_MAP);
}


static int
llo_cb_start_array(void *ctx)
{
    return llo_json_push(ctx, LLO_J_ARRAY);
}


static int
llo_cb_end(void *ctx)
{
    return llo_json_pop(ctx);
}


static int
llo_cb_key(void *ctx, const unsigned char *key, size_t len)
{
    llo_json_t  *j;
    llo_path_t  *p;

    j = ctx;
    p = &j->path;
    p->len = p->base[p->depth - 1];

    /* too deep to matter: the path stays longer than any we look for */
    if (p->len + 1 + LLO_KEY_MAX > LLO_PATH_MAX) {
        return 1;
    }

    if (p->len > 0) {
        p->path[p->len++] = '.';
    }

    /* keys we look for are short; a long one is a segment nothing matches */

    if (len > LLO_KEY_MAX) {
        p->path[p->len++] = '#';
        return 1;
    }

    memcpy(p->path + p->len, key, len);
    p->len += len;

    if (j->learn_yajl && len == 7 && memcmp(key, "content", 7) == 0) {
        j->learn_key_end = yajl_get_bytes_consumed(j->learn_yajl);
    }

    return 1;
}


static const yajl_callbacks  llo_yajl_callbacks = {
    llo_cb_null,
    llo_cb_bool,
    NULL,
    NULL,
    llo_cb_number,
    llo_cb_string,
    llo_cb_start_map,
    llo_cb_key,
    llo_cb_end,
    llo_cb_start_array,
    llo_cb_end
};


static void
llo_json_init(llo_json_t *j, const llo_path_map_t *map, llo_value_pt value,
    void *data)
{
    memset(j, 0, sizeof(llo_json_t));
    j->map = map;
    j->value = value;
    j->data = data;
}


static yajl_handle
llo_json_yajl(llo_json_t *j)
{
    yajl_handle  h;

    j->path.len = 0;
    j->path.depth = 0;
    j->too_deep = 0;

    h = yajl_alloc(&llo_yajl_callbacks, NULL, j);
    if (h == NULL) {
        return NULL;
    }

    /* strings are copied, not validated: the skimmer does not validate
     * them either, so both paths agree; the evaluator repairs UTF-8 */
    yajl_config(h, yajl_dont_validate_strings, 1);

    return h;
}


static int
llo_json_error(llo_json_t *j, yajl_status st, const uint8_t *data,
    size_t len, const char *what, uint64_t offset, char *err, size_t errlen)
{
    size_t          n;
    unsigned char  *msg;

    if (st == yajl_status_ok) {
        return 0;
    }

    if (j->too_deep) {
        snprintf(err, errlen, "JSON nested deeper than %d at byte %llu of "
                 "%s", LLO_MAX_DEPTH,
                 (unsigned long long) (offset
                                       + yajl_get_bytes_consumed(j->yajl)),
                 what);
        return -1;
    }

    msg = yajl_get_error(j->yajl, 0, data, len);

    n = msg ? strlen((char *) msg) : 0;
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) {
        n--;
    }

    snprintf(err, errlen, "invalid JSON at byte %llu of %s: %.*s",
             (unsigned long long) (offset + yajl_get_bytes_consumed(j->yajl)),
             what, (int) n, msg ? (char *) msg : "");

    if (msg) {
        yajl_free_error(j->yajl, msg);
    }

    return -1;
}


/* -- requests ------------------------------------------------------------ */


/*
 * Keep a string for llo_req_estimate(), whole.  Once the pieces would
 * pass LLO_COUNT_MAX bytes no more are kept, only their length: the
 * estimate counts each byte not kept as a token (a BPE token covers at
 * least one byte), so it stays an upper bound that a token limit can
 * reserve, and count_trunc says so.
 */

static void
llo_req_piece(llo_req_parser_t *p, const void *s, size_t len)
{
    size_t        n;
    llo_piece_t  *pc;

    /* an empty string has no tokens */
    if (len == 0 || p->no_count) {
        return;
    }

    if (p->res.count_trunc
        || len > LLO_COUNT_MAX - p->clen
        || llo_grow(&p->cbuf, &p->ccap, p->clen + len) != 0)
    {
        p->res.count_trunc = 1;
        p->dropped += len;
        return;
    }

    if (p->npieces == p->pcap) {
        n = p->pcap ? p->pcap * 2 : 16;
        pc = realloc(p->pieces, n * sizeof(llo_piece_t));

        if (pc == NULL) {
            p->res.count_trunc = 1;
            p->dropped += len;
            return;
        }

        p->pieces = pc;
        p->pcap = n;
    }

    memcpy(p->cbuf + p->clen, s, len);

    p->pieces[p->npieces].off = p->clen;
    p->pieces[p->npieces].len = len;
    p->npieces++;
    p->clen += len;
}


/* prompt text: in res.text, '\n'-joined and cut; and kept for counting */

static void
llo_req_text(llo_req_parser_t *p, const uint8_t *v, size_t len)
{
    llo_text_append(&p->res.text, v, len, 1);
    llo_req_piece(p, v, len);
}


/*
 * What the estimate adds to the pieces' counts (llo_req_estimate()):
 *
 *   chat         OpenAI's cookbook (num_tokens_from_messages): each
 *                message 3, plus every string value of its keys (role,
 *                content, name, tool_call_id, ..., and the "text" of
 *                content parts), plus 1 when it has a "name"; 3 more to
 *                prime the reply.
 *   responses    "instructions" is a message of its own: 3 + its tokens;
 *                "input" as a string is one user message: 3 +
 *                tokens("user") + its tokens; each "input" item is a
 *                message: 3 + its role + its content (a string, or the
 *                "text" of its parts); 3 more to prime the reply.
 *   completions  the tokens of "prompt" (a string or strings); token ids
 *                sent as numbers count one each.
 *   embeddings   the same for "input" (also arrays of arrays of ids).
 *   messages     Anthropic: the tokens of "system" (a string or the
 *                "text" of its blocks) and of each message's content (a
 *                string or the "text" of its blocks); no framing.
 *   generate     Gemini: the tokens of contents[].parts[].text and
 *                systemInstruction.parts[].text; no framing.
 *
 * Tools, images, and tool calls the model made are not counted.
 */

static void
llo_req_value(llo_json_t *j, const llo_path_map_t *m, int type,
    const uint8_t *v, size_t len)
{
    int64_t            n;
    llo_req_t         *r;
    llo_req_parser_t  *p;

    p = j->data;
    r = &p->res;

    switch (m->field) {

    case LLO_F_REQ_MODEL:
        if (type == LLO_V_STRING) {
            llo_sstr_set(&r->model, v, len);
        }
        break;

    case LLO_F_REQ_STREAM:
        if (type == LLO_V_BOOL) {
            r->stream = v[0] == '1';
        }
        break;

    case LLO_F_REQ_USAGE:
        if (type == LLO_V_BOOL) {
            r->include_usage = v[0] == '1';
        }
        break;

    case LLO_F_REQ_OPTIONS:
        r->stream_options = 1;
        break;

    case LLO_F_REQ_MAX:
        if (type == LLO_V_NUMBER && llo_int(v, len, &n) == 0) {
            r->max_tokens = n;
        }
        break;

    case LLO_F_REQ_MSG:
        if (type != LLO_V_MAP) {
            break;
        }

        r->messages++;

        if (p->a->framing) {
            p->framing += 3;
            p->framed++;
        }

        break;

    case LLO_F_REQ_TEXT:
        if (type == LLO_V_STRING) {
            llo_req_text(p, v, len);
        }
        break;

    case LLO_F_REQ_COUNT:
        if (type == LLO_V_STRING) {
            llo_req_piece(p, v, len);
        }
        break;

    case LLO_F_REQ_NAME:
        if (type == LLO_V_STRING) {
            p->framing += 1;
            llo_req_piece(p, v, len);
        }
        break;

    case LLO_F_REQ_PROMPT:
        if (type == LLO_V_STRING) {
            llo_req_text(p, v, len);

        } else if (type == LLO_V_NUMBER && llo_int(v, len, &n) == 0) {
            p->ids++;
        }

        break;

    case LLO_F_REQ_INSTR:
        if (type == LLO_V_STRING) {
            p->framing += 3;
            p->framed++;
            llo_req_text(p, v, len);
        }
        break;

    case LLO_F_REQ_INPUT:
        if (type == LLO_V_STRING) {
            r->messages++;
            p->framing += 3;
            p->framed++;
            llo_req_piece(p, "user", 4);
            llo_req_text(p, v, len);
        }
        break;

    case LLO_F_REQ_FORMAT:
        if (type == LLO_V_STRING) {
            p->rf_type = (len == 11 && memcmp(v, "json_object", 11) == 0)
                         ? LLO_RF_OBJECT
                         : (len == 11 && memcmp(v, "json_schema", 11) == 0)
                         ? LLO_RF_SCHEMA : LLO_RF_NONE;
        }
        break;

    case LLO_F_REQ_MIME:
        if (type == LLO_V_STRING) {
            p->rf_json_mime = len == 16
                              && memcmp(v, "application/json", 16) == 0;
        }
        break;

    case LLO_F_REQ_SCHEMA:
        if (type == LLO_V_MAP) {
            p->rf_schema = 1;
        }
        break;

    case LLO_F_REQ_REQUIRED:
        if (type == LLO_V_STRING) {
            llo_req_required(p, v, len);
        }
        break;

    case LLO_F_REQ_TOOL:
        if (type == LLO_V_MAP) {
            p->rf_tools = 1;
        }
        break;

    default:
        break;
    }
}


/*
 * A required key of the output schema, kept while the keys fit; a key a
 * comma-separated list could not hold as it is (a comma, a space, a
 * control character) is left out, so every key listed is a real one.
 */

static void
llo_req_required(llo_req_parser_t *p, const uint8_t *v, size_t len)
{
    size_t  i, need;

    for (i = 0; i < len; i++) {
        if (v[i] == ',' || v[i] == ' ' || v[i] < 0x20 || v[i] == 0x7f) {
            return;
        }
    }

    if (len == 0 || p->rf_keys_full) {
        return;
    }

    need = p->rf_keys_len + (p->rf_keys_len ? 1 : 0) + len;

    /* the first keys that fit, in order: not a shorter one after them */
    if (need >= LLO_RF_KEYS) {
        p->rf_keys_full = 1;
        return;
    }

    if (p->rf_keys_len) {
        p->rf_keys[p->rf_keys_len++] = ',';
    }

    memcpy(p->rf_keys + p->rf_keys_len, v, len);
    p->rf_keys_len += len;
}


/* res.response_format, as llo_parse.h describes it */

static void
llo_req_format(llo_req_parser_t *p)
{
    int     type;
    char    buf[LLO_SMALL_STR];
    size_t  n;

    type = p->rf_type;

    /* Gemini says JSON by a MIME type, and a schema by its presence */
    if (type == LLO_RF_NONE && p->rf_json_mime) {
        type = p->rf_schema ? LLO_RF_SCHEMA : LLO_RF_OBJECT;
    }

    n = 0;

    if (type == LLO_RF_OBJECT) {
        n = (size_t) snprintf(buf, sizeof(buf), "json_object");

    } else if (type == LLO_RF_SCHEMA) {
        n = (size_t) snprintf(buf, sizeof(buf), "json_schema%s%.*s",
                              p->rf_keys_len ? ":" : "",
                              (int) p->rf_keys_len, p->rf_keys);
    }

    if (p->rf_tools) {
        n += (size_t) snprintf(buf + n, sizeof(buf) - n, "%stools",
                               n ? " " : "");
    }

    if (n > 0) {
        llo_sstr_set(&p->res.response_format, buf, n);
    }
}


llo_req_parser_t *
llo_req_create(int api, size_t max_text)
{
    llo_req_parser_t  *p;

    p = calloc(1, sizeof(llo_req_parser_t));
    if (p == NULL) {
        return NULL;
    }

    p->res.stream = -1;
    p->res.include_usage = -1;
    p->res.max_tokens = -1;

    if (llo_text_init(&p->res.text, max_text) != 0) {
        free(p);
        return NULL;
    }

    p->a = llo_api_get(api);

    if (p->a == NULL) {
        /* bytes only */
        p->failed = 1;
        return p;
    }

    llo_json_init(&p->json, p->a->req, llo_req_value, p);
    p->json.containers = 1;

    p->json.yajl = llo_json_yajl(&p->json);
    if (p->json.yajl == NULL) {
        llo_req_destroy(p);
        return NULL;
    }

    return p;
}


void
llo_req_feed(llo_req_parser_t *p, const uint8_t *data, size_t len)
{
    yajl_status  st;

    if (p->failed || len == 0) {
        p->res.bytes += len;
        return;
    }

    st = yajl_parse(p->json.yajl, data, len);

    if (llo_json_error(&p->json, st, data, len, "request", p->res.bytes,
                       p->res.error, LLO_ERR_LEN))
    {
        p->failed = 1;
    }

    p->res.bytes += len;
}


void
llo_req_finish(llo_req_parser_t *p)
{
    yajl_status  st;

    if (p->failed) {
        return;
    }

    p->failed = 1;

    if (p->res.bytes == 0) {
        snprintf(p->res.error, LLO_ERR_LEN, "empty request body");
        return;
    }

    st = yajl_complete_parse(p->json.yajl);

    if (st != yajl_status_ok) {
        snprintf(p->res.error, LLO_ERR_LEN, "request JSON ends early at "
                 "byte %llu", (unsigned long long) p->res.bytes);
        return;
    }

    p->parsed = 1;

    llo_req_format(p);
}


void
llo_req_no_count(llo_req_parser_t *p)
{
    p->no_count = 1;
}


llo_req_t *
llo_req_result(llo_req_parser_t *p)
{
    return &p->res;
}


int64_t
llo_req_estimate(llo_req_parser_t *p, llo_count_pt count, void *data)
{
    size_t   i;
    int64_t  n;

    if (!p->parsed || p->no_count
        || (p->npieces == 0 && p->framing == 0 && p->ids == 0
            && p->dropped == 0))
    {
        return -1;
    }

    n = p->framing + p->ids + (p->framed ? 3 : 0) + (int64_t) p->dropped;

    for (i = 0; i < p->npieces; i++) {
        n += (int64_t) count(data, p->cbuf + p->pieces[i].off,
                             p->pieces[i].len);
    }

    return n;
}


void
llo_req_destroy(llo_req_parser_t *p)
{
    if (p == NULL) {
        return;
    }

    if (p->json.yajl) {
        yajl_free(p->json.yajl);
    }

    free(p->cbuf);
    free(p->pieces);
    free(p->res.text.data);
    free(p);
}


/* -- responses ----------------------------------------------------------- */


/* every piece of answer text goes here, from yajl and from the skimmer */

static void
llo_resp_text(llo_resp_parser_t *p, const uint8_t *s, size_t n)
{
    if (n == 0) {
        return;
    }

    if (p->on_text) {
        p->on_text(p->on_text_data, s, n);
    }

    llo_text_append(&p->res.text, s, n, 0);
}


/*
 * A string that is answer text only if its object's gate opens.  The gate
 * (a "type", Gemini's "thought") may come before the string or after it;
 * after, the string waits, copied, until the object closes.  Only one can
 * wait: gated strings are leaves, and none of the tables has one inside
 * the object of another.
 */

static void
llo_resp_gated(llo_resp_parser_t *p, int depth, int dfl, const uint8_t *v,
    size_t len)
{
    if (p->gate[depth] >= 0) {
        if (p->gate[depth]) {
            llo_resp_text(p, v, len);
        }

        return;
    }

    if (p->pend_depth && p->pend_dfl) {
        llo_resp_text(p, p->pend, p->pend_len);
    }

    p->pend_depth = 0;

    if (llo_grow(&p->pend, &p->pend_cap, len) != 0) {
        return;
    }

    if (len) {
        memcpy(p->pend, v, len);
    }

    p->pend_len = len;
    p->pend_depth = depth;
    p->pend_dfl = dfl;
}


static void
llo_resp_close(llo_json_t *j, int depth)
{
    int                 text;
    llo_resp_parser_t  *p;

    p = j->data;

    if (p->pend_depth == depth) {
        text = p->gate[depth] >= 0 ? p->gate[depth] : p->pend_dfl;
        p->pend_depth = 0;

        if (text) {
            llo_resp_text(p, p->pend, p->pend_len);
        }
    }

    p->gate[depth] = -1;
}


static void
llo_resp_value(llo_json_t *j, const llo_path_map_t *m, int type,
    const uint8_t *v, size_t len)
{
    int                 depth;
    int64_t             n, *dst;
    llo_resp_t         *r;
    llo_path_field_e    f;
    llo_resp_parser_t  *p;

    p = j->data;
    r = &p->res;
    f = m->field;
    depth = j->path.depth;

    if (type == LLO_V_NULL) {
        return;
    }

    if (j->learn_yajl) {
        j->learn_seen++;

        /* an id or model that is not a string was not taken: such an
         * event must not become a template that restores the old one */
        j->learn_mask |= 1ULL << (type == LLO_V_STRING ? f : LLO_F_NONE);

        if (f == LLO_F_TEXT && type == LLO_V_STRING && j->learn_seen == 3
            && j->learn_mask == ((1ULL << LLO_F_ID) | (1ULL << LLO_F_MODEL)
                                 | (1ULL << LLO_F_TEXT))
            && j->learn_key_end
            && j->path.len == sizeof("choices[].delta.content") - 1
            && memcmp(j->path.path, "choices[].delta", 15) == 0)
        {
            j->learn_text_end = yajl_get_bytes_consumed(j->learn_yajl);
        }
    }

    /* the gates first: they take other types than strings */

    switch (f) {

    case LLO_F_GATE_TYPE:
        p->gate[depth] = type == LLO_V_STRING && len == strlen(m->accept)
                         && memcmp(v, m->accept, len) == 0;
        return;

    case LLO_F_GATE_THOUGHT:
        p->gate[depth] = !(type == LLO_V_BOOL && v[0] == '1');
        return;

    default:
        break;
    }

    dst = NULL;

    if (type == LLO_V_STRING) {

        switch (f) {

        case LLO_F_ID:
            llo_sstr_set(&r->id, v, len);
            return;

        case LLO_F_MODEL:
            llo_sstr_set(&r->model, v, len);
            return;

        case LLO_F_FINISH:
            llo_sstr_set(&r->finish_reason, v, len);
            p->finish_strong = 1;
            return;

        case LLO_F_STATUS:
            if (!p->finish_strong) {
                llo_sstr_set(&r->finish_reason, v, len);
            }
            return;

        case LLO_F_TEXT:
            llo_resp_text(p, v, len);
            return;

        case LLO_F_TEXT_IF_TYPE:
            llo_resp_gated(p, depth, 0, v, len);
            return;

        case LLO_F_TEXT_UNLESS_THOUGHT:
            llo_resp_gated(p, depth, 1, v, len);
            return;

        case LLO_F_ERR_TYPE:
            llo_sstr_set(&r->error_type, v, len);
            p->err_type_strong = 1;
            return;

        case LLO_F_ERR_CODE:
            if (!p->err_type_strong) {
                llo_sstr_set(&r->error_type, v, len);
            }
            return;

        case LLO_F_ERR_MSG:
            llo_mstr_set(&r->error_message, v, len);
            return;

        case LLO_F_TOOL_CALL:
            r->tool_calls = 1;
            return;

        default:
            break;
        }

        /* what an SSE event's type decides, when the event ends */

        if (p->body != LLO_BODY_SSE) {
            return;
        }

        switch (f) {

        case LLO_F_EV_TYPE:
            llo_sstr_set(&p->ev_type, v, len);

            if (m->accept && !p->gate_fixed) {
                p->gate[depth] = len == strlen(m->accept)
                                 && memcmp(v, m->accept, len) == 0;
            }

            return;

        case LLO_F_EV_STATUS:
            llo_sstr_set(&p->ev_status, v, len);
            return;

        case LLO_F_EV_REASON:
            llo_sstr_set(&p->ev_reason, v, len);
            return;

        case LLO_F_EV_CODE:
            llo_sstr_set(&p->ev_code, v, len);
            return;

        case LLO_F_EV_MSG:
            llo_mstr_set(&p->ev_msg, v, len);
            return;

        default:
            return;
        }
    }

    switch (f) {

    case LLO_F_PT:
        dst = &r->prompt_tokens;
        break;

    case LLO_F_CT:
        dst = &r->completion_tokens;
        break;

    case LLO_F_TT:
        dst = &r->total_tokens;
        break;

    case LLO_F_CACHED:
        dst = &r->cached_tokens;
        break;

    case LLO_F_REASONING:
        dst = &r->reasoning_tokens;
        break;

    case LLO_F_A_IN:
        dst = &p->parts.input;
        break;

    case LLO_F_A_CC:
        dst = &p->parts.cache_creation;
        break;

    case LLO_F_A_CR:
        dst = &p->parts.cache_read;
        break;

    case LLO_F_G_CAND:
        dst = &p->parts.candidates;
        break;

    case LLO_F_G_THOUGHTS:
        dst = &p->parts.thoughts;
        break;

    default:
        return;
    }

    /* a count sent again replaces the old one: streams repeat totals */

    if (type == LLO_V_NUMBER && llo_int(v, len, &n) == 0) {
        *dst = n;
        r->usage = 1;

        /* the sums made of parts, again after any part changed */
        if (p->a->derive) {
            p->a->derive(&p->parts, r);
        }
    }
}


/*
 * An SSE event has been parsed: what its type decides, by the API's
 * end_events and error_event.  The type is the event: line's, or the
 * top-level "type" when there is no such line.  An ending event's reason
 * or status (Responses' response.incomplete) is the finish reason.
 */

static void
llo_resp_event_end(llo_resp_parser_t *p)
{
    llo_resp_t          *r;
    llo_sstr_t          *t;
    const char *const   *e;

    r = &p->res;
    t = p->ev_name.set ? &p->ev_name : &p->ev_type;

    if (!t->set) {
        return;
    }

    if (p->a->error_event && llo_sstr_is(t, p->a->error_event)) {
        if (p->ev_code.set && !p->err_type_strong) {
            r->error_type = p->ev_code;
        }

        if (p->ev_msg.set) {
            llo_mstr_set(&r->error_message, p->ev_msg.data, p->ev_msg.len);
            r->error_message.truncated = p->ev_msg.truncated;
        }

        return;
    }

    for (e = p->a->end_events; e && *e; e++) {
        if (!llo_sstr_is(t, *e)) {
            continue;
        }

        r->done = 1;

        if (p->ev_reason.set) {
            r->finish_reason = p->ev_reason;

        } else if (p->ev_status.set) {
            r->finish_reason = p->ev_status;
        }

        return;
    }
}


llo_resp_parser_t *
llo_resp_create(int api, int body, int gzip, size_t max_text, int skim)
{
    llo_resp_parser_t  *p;

    p = calloc(1, sizeof(llo_resp_parser_t));
    if (p == NULL) {
        return NULL;
    }

    p->a = llo_api_get(api);

    if (p->a == NULL) {
        /* bytes only: decoded, so that "bytes" means the same for all */
        body = LLO_BODY_OTHER;
    }

    p->body = body;
    p->skim = skim == LLO_SKIM_ON && p->a && p->a->skim;
    p->res.prompt_tokens = -1;
    p->res.completion_tokens = -1;
    p->res.total_tokens = -1;
    p->res.cached_tokens = -1;
    p->res.cache_creation_tokens = -1;
    p->res.reasoning_tokens = -1;
    p->parts.input = -1;
    p->parts.cache_creation = -1;
    p->parts.cache_read = -1;
    p->parts.candidates = -1;
    p->parts.thoughts = -1;
    memset(p->gate, 0xff, sizeof(p->gate));

    if (llo_text_init(&p->res.text, max_text) != 0) {
        free(p);
        return NULL;
    }

    llo_json_init(&p->json, p->a ? p->a->resp : NULL, llo_resp_value, p);

    if (p->a && p->a->gates) {
        p->json.close = llo_resp_close;
    }

    if (body == LLO_BODY_JSON) {
        p->json.yajl = llo_json_yajl(&p->json);
        if (p->json.yajl == NULL) {
            goto failed;
        }
    }

    if (gzip) {
        p->zs = calloc(1, sizeof(z_stream));
        p->zout = malloc(LLO_GZ_CHUNK);

        if (p->zs == NULL || p->zout == NULL
            || inflateInit2(p->zs, 16 + MAX_WBITS) != Z_OK)
        {
            free(p->zs);
            p->zs = NULL;
            goto failed;
        }
    }

    return p;

failed:

    llo_resp_destroy(p);
    return NULL;
}


void
llo_resp_on_text(llo_resp_parser_t *p, llo_text_pt handler, void *data)
{
    p->on_text = handler;
    p->on_text_data = data;
}


void
llo_resp_feed(llo_resp_parser_t *p, const uint8_t *data, size_t len)
{
    int  rc;

    p->res.wire_bytes += len;

    if (p->failed || len == 0) {
        return;
    }

    if (p->zs == NULL) {
        llo_resp_body(p, data, len);
        return;
    }

    p->zs->next_in = (Bytef *) data;
    p->zs->avail_in = (uInt) len;

    do {
        p->zs->next_out = p->zout;
        p->zs->avail_out = LLO_GZ_CHUNK;

        rc = inflate(p->zs, Z_NO_FLUSH);

        /* what was inflated before a data error is body all the same:
         * how much that is must not depend on how the input was split */
        llo_resp_body(p, p->zout, LLO_GZ_CHUNK - p->zs->avail_out);

        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
            if (p->res.error[0] == '\0') {
                snprintf(p->res.error, LLO_ERR_LEN, "gzip data error at "
                         "byte %llu of response: %s",
                         (unsigned long long) (p->res.wire_bytes - len
                                               + (len - p->zs->avail_in)),
                         p->zs->msg ? p->zs->msg : "inflate failed");
            }

            p->failed = 1;
            return;
        }

        if (rc == Z_STREAM_END) {
            break;
        }

    } while (p->zs->avail_out == 0 && !p->failed);
}


static void
llo_resp_body(llo_resp_parser_t *p, const uint8_t *data, size_t len)
{
    yajl_status  st;

    if (len == 0 || p->failed) {
        return;
    }

    if (p->body_failed) {
        p->res.bytes += len;
        return;
    }

    switch (p->body) {

    case LLO_BODY_JSON:
        st = yajl_parse(p->json.yajl, data, len);

        if (llo_json_error(&p->json, st, data, len, "response",
                           p->res.bytes, p->res.error, LLO_ERR_LEN))
        {
            p->body_failed = 1;
        }

        break;

    case LLO_BODY_SSE:
        llo_sse_feed(p, data, len);
        break;

    default:
        break;
    }

    p->res.bytes += len;
}


void
llo_resp_finish(llo_resp_parser_t *p)
{
    yajl_status  st;

    if (p->failed || p->body_failed) {
        p->failed = 1;
        return;
    }

    if (p->body == LLO_BODY_JSON) {
        if (p->res.bytes == 0) {
            snprintf(p->res.error, LLO_ERR_LEN, "empty JSON response");

        } else {
            st = yajl_complete_parse(p->json.yajl);

            if (st == yajl_status_ok) {
                p->res.done = 1;

            } else {
                snprintf(p->res.error, LLO_ERR_LEN, "response JSON ends "
                         "early at byte %llu",
                         (unsigned long long) p->res.bytes);
            }
        }

    } else if (p->body == LLO_BODY_SSE) {

        /* a last line without its newline, and an unterminated event */
        if (p->line_len) {
            llo_sse_line(p, p->line, p->line_len, 0,
                         p->res.bytes - p->line_len, p->res.bytes);
            p->line_len = 0;
        }

        if (p->ev_data && !p->ev_skip) {
            p->ev_end = p->res.bytes;
            llo_sse_dispatch(p);
        }
    }

    p->failed = 1;
}


uint64_t
llo_resp_ev_end(llo_resp_parser_t *p)
{
    return p->ev_end;
}


llo_resp_t *
llo_resp_result(llo_resp_parser_t *p)
{
    return &p->res;
}


void
llo_resp_destroy(llo_resp_parser_t *p)
{
    if (p == NULL) {
        return;
    }

    if (p->json.yajl) {
        yajl_free(p->json.yajl);
    }

    if (p->zs) {
        inflateEnd(p->zs);
        free(p->zs);
    }

    free(p->zout);
    free(p->line);
    free(p->ev);
    free(p->scratch);
    free(p->tmpl);
    free(p->pend);
    free(p->res.text.data);
    free(p);
}


/* -- SSE ----------------------------------------------------------------- */


static void
llo_sse_feed(llo_resp_parser_t *p, const uint8_t *data, size_t len)
{
    size_t          n;
    uint64_t        base;
    const uint8_t  *pos, *end, *nl;

    pos = data;
    end = data + len;
    base = p->res.bytes;

    while (pos < end) {
        nl = memchr(pos, '\n', end - pos);
        n = (nl ? nl : end) - pos;

        if (p->line_skip) {
            /* the rest of a line too long to keep */
            if (nl == NULL) {
                break;
            }

            p->line_skip = 0;
            pos = nl + 1;
            continue;
        }

        /* the limit holds however the line arrives: whole in this
         * buffer, or in pieces */

        if (p->line_len + n > LLO_SSE_MAX_EVENT) {
            if (!p->ev_skip && p->res.error[0] == '\0') {
                snprintf(p->res.error, LLO_ERR_LEN, "SSE line longer "
                         "than %d bytes at byte %llu of response",
                         LLO_SSE_MAX_EVENT, (unsigned long long)
                         (base + (pos - data) - p->line_len));
            }

            p->ev_skip = 1;
            p->line_len = 0;

            if (nl == NULL) {
                p->line_skip = 1;
                break;
            }

            pos = nl + 1;
            continue;
        }

        if (nl == NULL) {
            /* keep the partial line for the next buffer */

            if (llo_grow(&p->line, &p->line_cap, p->line_len + n) == 0) {
                memcpy(p->line + p->line_len, pos, n);
                p->line_len += n;
            }

            break;
        }

        if (p->line_len) {
            if (llo_grow(&p->line, &p->line_cap, p->line_len + n) == 0) {
                memcpy(p->line + p->line_len, pos, n);
                p->line_len += n;
                llo_sse_line(p, p->line, p->line_len, 0,
                             base + (nl - data) - p->line_len,
                             base + (nl - data) + 1);
            }

            p->line_len = 0;

        } else {
            llo_sse_line(p, pos, nl - pos, 1, base + (pos - data),
                         base + (nl - data) + 1);
        }

        pos = nl + 1;
    }

    /* event data still pointing into this buffer must be copied now */
    if (p->ev_in) {
        (void) llo_sse_keep(p);
    }
}


static int
llo_sse_keep(llo_resp_parser_t *p)
{
    if (llo_grow(&p->ev, &p->ev_cap, p->ev_in_len) != 0) {
        p->ev_in = NULL;
        p->ev_skip = 1;
        return -1;
    }

    memcpy(p->ev, p->ev_in, p->ev_in_len);
    p->ev_len = p->ev_in_len;
    p->ev_in = NULL;

    return 0;
}


/*
 * One line of the stream, at decoded bytes [offset, end) counting its
 * newline.  A blank line ends the event: the blank line's end is where
 * the event ends, for finish_end.
 */

static void
llo_sse_line(llo_resp_parser_t *p, const uint8_t *line, size_t len,
    int in_place, uint64_t offset, uint64_t end)
{
    size_t          n;
    const uint8_t  *v;

    if (len && line[len - 1] == '\r') {
        len--;
    }

    if (len == 0) {
        if (p->ev_data && !p->ev_skip) {
            p->ev_end = end;
            llo_sse_dispatch(p);
        }

        p->ev_data = 0;
        p->ev_skip = 0;
        p->ev_in = NULL;
        p->ev_len = 0;
        p->ev_name.set = 0;
        return;
    }

    if (p->ev_skip) {
        return;
    }

    if (len < 5 || memcmp(line, "data:", 5) != 0) {

        /* the event's name: Anthropic's and OpenAI responses' events say
         * what they are here; comments, id: and retry: carry nothing */

        if (len >= 6 && memcmp(line, "event:", 6) == 0) {
            v = line + 6;
            n = len - 6;

            if (n && *v == ' ') {
                v++;
                n--;
            }

            llo_sstr_set(&p->ev_name, v, n);
        }

        return;
    }

    v = line + 5;
    n = len - 5;

    if (n && *v == ' ') {
        v++;
        n--;
    }

    if (!p->ev_data) {
        p->ev_data = 1;
        p->ev_offset = offset + (v - line);

        if (in_place) {
            p->ev_in = v;
            p->ev_in_len = n;
            return;
        }

        if (llo_grow(&p->ev, &p->ev_cap, n) == 0) {
            memcpy(p->ev, v, n);
            p->ev_len = n;
        }

        return;
    }

    /* a second data: line joins the first with a newline */

    if (p->ev_in && llo_sse_keep(p) != 0) {
        return;
    }

    if (p->ev_len + 1 + n > LLO_SSE_MAX_EVENT) {
        if (p->res.error[0] == '\0') {
            snprintf(p->res.error, LLO_ERR_LEN, "SSE event larger than %d "
                     "bytes at byte %llu of response", LLO_SSE_MAX_EVENT,
                     (unsigned long long) p->ev_offset);
        }
        p->ev_skip = 1;
        return;
    }

    if (llo_grow(&p->ev, &p->ev_cap, p->ev_len + 1 + n) == 0) {
        p->ev[p->ev_len++] = '\n';
        memcpy(p->ev + p->ev_len, v, n);
        p->ev_len += n;
    }
}


static void
llo_sse_dispatch(llo_resp_parser_t *p)
{
    size_t          n;
    unsigned        had;
    const uint8_t  *d;

    if (p->ev_in) {
        d = p->ev_in;
        n = p->ev_in_len;

    } else {
        d = p->ev;
        n = p->ev_len;
    }

    p->ev_data = 0;
    p->ev_in = NULL;
    p->ev_len = 0;

    if (n == 6 && memcmp(d, "[DONE]", 6) == 0) {
        p->res.done = 1;
        return;
    }

    p->res.events++;

    /* a template never matches an event with a finish reason: one with
     * a finish reason is never learned, and the reason is in the suffix */

    if (p->skim && llo_skim_event(p, d, n) == 0) {
        p->res.skimmed++;
        return;
    }

    had = p->res.finish_reason.set;

    llo_yajl_event(p, d, n);

    if (!had && p->res.finish_reason.set) {
        p->res.finish_end = p->ev_end;

        /* Gemini has no end marker: its last event has the reason */
        if (p->a->end_on_finish) {
            p->res.done = 1;
        }
    }
}


/*
 * The skimmer.  Most events of an OpenAI stream differ from the previous
 * one only in the text of choices[0].delta.content (and in a random
 * "obfuscation" string at the end).  When yajl has parsed an event whose
 * only fields of interest are id, model and that text, in that order, the
 * bytes before the text and after it are kept as a template.  A later
 * event with the same prefix, a well-formed string, and the same suffix
 * is the same JSON document with another text, so it yields exactly what
 * yajl would: that is checked by t/unit/test_parse.c on every fixture.
 * Anything else goes to yajl.
 */

static int
llo_skim_event(llo_resp_parser_t *p, const uint8_t *d, size_t n)
{
    size_t          k, o, room;
    uint8_t        *out;
    uint32_t        cp;
    llo_tmpl_t     *t;
    const uint8_t  *s, *end, *e;

    t = p->tmpl;

    if (t == NULL || !t->valid
        || n < t->prefix_len + 1 + (t->obf ? t->obf + 18 : t->suffix_len)
        || memcmp(d, t->prefix, t->prefix_len) != 0)
    {
        return -1;
    }

    s = d + t->prefix_len;
    end = d + n;

    room = n - t->prefix_len;

    if (llo_grow(&p->scratch, &p->scratch_cap, room) != 0) {
        return -1;
    }

    out = p->scratch;
    o = 0;

    /* decode the string the way yajl does; bail out where yajl's own
     * quirks (surrogates, \u0000) or errors would be involved */

    for ( ;; ) {
        if (s == end) {
            return -1;
        }

        e = s;

        while (e < end && *e != '"' && *e != '\\' && *e >= 0x20) {
            e++;
        }

        memcpy(out + o, s, e - s);
        o += e - s;
        s = e;

        if (s == end || *s < 0x20) {
            return -1;
        }

        if (*s == '"') {
            s++;
            break;
        }

        /* a backslash */

        if (end - s < 2) {
            return -1;
        }

        switch (s[1]) {
        case '"': out[o++] = '"'; s += 2; continue;
        case '\\': out[o++] = '\\'; s += 2; continue;
        case '/': out[o++] = '/'; s += 2; continue;
        case 'b': out[o++] = '\b'; s += 2; continue;
        case 'f': out[o++] = '\f'; s += 2; continue;
        case 'n': out[o++] = '\n'; s += 2; continue;
        case 'r': out[o++] = '\r'; s += 2; continue;
        case 't': out[o++] = '\t'; s += 2; continue;
        case 'u': break;
        default: return -1;
        }

        if (end - s < 6) {
            return -1;
        }

        cp = 0;

        for (k = 2; k < 6; k++) {
            cp <<= 4;

            if (s[k] >= '0' && s[k] <= '9') {
                cp |= s[k] - '0';

            } else if ((s[k] | 0x20) >= 'a' && (s[k] | 0x20) <= 'f') {
                cp |= (s[k] | 0x20) - 'a' + 10;

            } else {
                return -1;
            }
        }

        if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff)) {
            return -1;
        }

        if (cp < 0x80) {
            out[o++] = (uint8_t) cp;

        } else if (cp < 0x800) {
            out[o++] = (uint8_t) (0xc0 | (cp >> 6));
            out[o++] = (uint8_t) (0x80 | (cp & 0x3f));

        } else {
            out[o++] = (uint8_t) (0xe0 | (cp >> 12));
            out[o++] = (uint8_t) (0x80 | ((cp >> 6) & 0x3f));
            out[o++] = (uint8_t) (0x80 | (cp & 0x3f));
        }

        s += 6;
    }

    /* the rest must be the learned suffix */

    if ((size_t) (end - s) == t->suffix_len
        && memcmp(s, t->suffix, t->suffix_len) == 0)
    {
        goto matched;
    }

    if (t->obf == 0 || (size_t) (end - s) < t->obf + 18
        || memcmp(s, t->suffix, t->obf + 16) != 0)
    {
        return -1;
    }

    /* ,"obfuscation":"<random, plain characters>"} */

    s += t->obf + 16;

    while (s < end && *s != '"' && *s != '\\' && *s >= 0x20) {
        s++;
    }

    if (end - s != 2 || s[0] != '"' || s[1] != '}') {
        return -1;
    }

matched:

    if (t->id.set) {
        p->res.id = t->id;
    }

    if (t->model.set) {
        p->res.model = t->model;
    }

    llo_resp_text(p, out, o);

    return 0;
}


static void
llo_yajl_event(llo_resp_parser_t *p, const uint8_t *d, size_t n)
{
    size_t        q, k;
    llo_json_t   *j;
    llo_tmpl_t   *t;
    yajl_status   st;
    char          err[LLO_ERR_LEN];
    static const char  obf[] = ",\"obfuscation\":\"";

    j = &p->json;

    j->yajl = llo_json_yajl(j);
    if (j->yajl == NULL) {
        return;
    }

    j->learn_yajl = p->skim ? j->yajl : NULL;
    j->learn_seen = 0;
    j->learn_mask = 0;
    j->learn_key_end = 0;
    j->learn_text_end = 0;

    /* what the previous event left, if it did not parse */
    memset(p->gate, 0xff, sizeof(p->gate));
    p->pend_depth = 0;
    p->gate_fixed = 0;
    p->ev_type.set = 0;
    p->ev_status.set = 0;
    p->ev_reason.set = 0;
    p->ev_code.set = 0;
    p->ev_msg.set = 0;

    if (p->a->text_event && p->ev_name.set) {
        p->gate[1] = llo_sstr_is(&p->ev_name, p->a->text_event);
        p->gate_fixed = 1;
    }

    st = yajl_parse(j->yajl, d, n);
    if (st == yajl_status_ok) {
        st = yajl_complete_parse(j->yajl);
    }

    if (st == yajl_status_ok) {
        llo_resp_event_end(p);
    }

    if (llo_json_error(j, st, d, n, "response", p->ev_offset, err,
                       sizeof(err)))
    {
        if (p->res.error[0] == '\0') {
            snprintf(p->res.error, LLO_ERR_LEN, "SSE event %u: %.160s",
                     p->res.events, err);
        }

        goto done;
    }

    /* learn: id, model, then the text, and nothing of interest after */

    if (!p->skim || j->learn_seen != 3 || j->learn_text_end == 0) {
        goto done;
    }

    q = j->learn_key_end;

    while (q < n && d[q] != '"') {
        q++;
    }

    if (q + 1 > LLO_TMPL_MAX || q >= j->learn_text_end
        || n - j->learn_text_end > LLO_TMPL_MAX)
    {
        goto done;
    }

    if (p->tmpl == NULL) {
        p->tmpl = calloc(1, sizeof(llo_tmpl_t));
        if (p->tmpl == NULL) {
            goto done;
        }
    }

    t = p->tmpl;

    t->prefix_len = q + 1;
    memcpy(t->prefix, d, t->prefix_len);
    t->suffix_len = n - j->learn_text_end;
    memcpy(t->suffix, d + j->learn_text_end, t->suffix_len);
    t->id = p->res.id;
    t->model = p->res.model;
    t->obf = 0;

    /* ,"obfuscation":"<plain characters>"} may end the suffix */

    for (q = 1; q + sizeof(obf) - 1 + 2 <= t->suffix_len; q++) {
        if (memcmp(t->suffix + q, obf, sizeof(obf) - 1) == 0) {
            k = q + sizeof(obf) - 1;

            while (k < t->suffix_len && t->suffix[k] != '"'
                   && t->suffix[k] != '\\' && t->suffix[k] >= 0x20)
            {
                k++;
            }

            if (k + 2 == t->suffix_len && t->suffix[k] == '"'
                && t->suffix[k + 1] == '}')
            {
                t->obf = q;
            }

            break;
        }
    }

    t->valid = 1;

done:

    yajl_free(j->yajl);
    j->yajl = NULL;
    j->learn_yajl = NULL;
}
