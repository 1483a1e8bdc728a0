/*
 * Unit tests for request and response extraction (llo_parse.c).
 *
 * Every fixture in t/unit/fixtures is a body in a provider's real wire
 * format.  Each is fed as one piece, split in two at every byte, byte by
 * byte and gzip-compressed; every way must give the same llo_resp_t, and
 * that one must equal the values written here by hand.  The skimmer must
 * give what yajl gives, on the fixtures and on a thousand random
 * streams.
 *
 * LLO_BENCH=1 runs a micro-benchmark instead of the tests.
 */

#include <check.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yajl/yajl_parse.h>
#include <zlib.h>

#include "llo_parse.h"


#ifndef LLO_FIXTURES
#define LLO_FIXTURES            "t/unit/fixtures"
#endif

#define LLO_T_MAX_TEXT          65536
#define LLO_T_WHY               512

/* what llo_t_resp_diff() compares besides the extracted facts */
#define LLO_T_CMP_SKIMMED       0x01
#define LLO_T_CMP_WIRE          0x02
#define LLO_T_CMP_BYTES         0x04
#define LLO_T_CMP_ALL           0x07

#define LLO_T_MODEL             "gpt-4o-mini-2024-07-18"
#define LLO_T_CHAT_ID           "chatcmpl-C3Lk9vQ2mZpX7aTf0bYw4RsNd1Ue8"

#define LLO_T_STREAM_TEXT                                                     \
    "Hello, world! 你好，世界 🚀 Quote: \"hi\" path C:\\tmp\n\tTabbed café " \
    "smile 😀 naïve 1/2 中文 done. 😀😀\n\nBye über"

#define LLO_T_REQ_TEXT                                                        \
    "You are a terse assistant. Answer in one sentence.\n"                   \
    "What is in this image? Réponds en français.\n"                          \
    "Also: \"quoted\" \\ and 🚀 emoji\n"                                      \
    "{\"temp_c\":21}\n"                                                       \
    "Un chemin en bois traverse une prairie verte.\n"                        \
    "Et le ciel ? 天空呢？"

/* one event of the common chunk shape, and a usage chunk */

#define LLO_T_EV(delta)                                                       \
    "data: {\"id\":\"" LLO_T_CHAT_ID "\",\"object\":"                         \
    "\"chat.completion.chunk\",\"created\":1754910375,\"model\":\""           \
    LLO_T_MODEL "\",\"choices\":[{\"index\":0,\"delta\":{" delta "},"         \
    "\"logprobs\":null,\"finish_reason\":null}]}\n\n"

#define LLO_T_EV_USAGE                                                        \
    "data: {\"id\":\"" LLO_T_CHAT_ID "\",\"object\":"                         \
    "\"chat.completion.chunk\",\"created\":1754910375,\"model\":\""           \
    LLO_T_MODEL "\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,"           \
    "\"completion_tokens\":3,\"total_tokens\":12}}\n\n"


typedef struct {
    uint8_t            *data;
    size_t              len;
    size_t              cap;
} llo_t_buf_t;


/* a fixture and what a correct parser extracts from it */

typedef struct {
    const char         *file;
    int                 body;
    const char         *id;             /* NULL: never set */
    const char         *model;
    const char         *finish;
    const char         *err_type;
    const char         *err_msg;
    int64_t             pt;
    int64_t             ct;
    int64_t             tt;
    int64_t             cached;
    int64_t             reasoning;
    unsigned            usage;
    unsigned            done;
    uint32_t            events;
    uint32_t            skim_min;       /* skimmed events at least */
    const char         *text;
} llo_t_fixture_t;


/* what the random stream generator sent, as yajl must read it */

typedef struct {
    llo_t_buf_t         body;
    llo_t_buf_t         text;
    char                id[64];         /* the stream's id now */
    char                model[64];
    char                sent_id[64];    /* the last one sent as a string */
    char                sent_model[64];
    char                finish[16];
    int64_t             tok[5];
    unsigned            usage;
    unsigned            done;
    uint32_t            events;
} llo_t_gen_t;


/* the shapes of a random stream's events */

typedef enum {
    LLO_T_COMMON = 0,
    LLO_T_ROLE,                 /* role chunk: "role", content, "refusal" */
    LLO_T_AFTER,                /* a field after the content */
    LLO_T_REASONING,            /* "reasoning_content" before it */
    LLO_T_TWO,                  /* a second choice */
    LLO_T_TOOLS,                /* tool_calls delta, no content */
    LLO_T_FINISH_TEXT,          /* content and a finish_reason */
    LLO_T_FINISH,               /* empty delta and a finish_reason */
    LLO_T_USAGE,                /* usage chunk in the middle */
    LLO_T_NUM_ID,               /* "id":1, not taken */
    LLO_T_NUM_MODEL,            /* "model":4, not taken */
    LLO_T_SPACE,                /* "content": "..." */
    LLO_T_EXTRA,                /* a top-level field before choices */
    LLO_T_NULL,                 /* "content":null */
    LLO_T_COMMENT,              /* ": keep-alive" before the event */
    LLO_T_NSHAPES
} llo_t_shape_e;


/* a malformed JSON body, and where it goes wrong */

typedef struct {
    const char         *body;
    const char         *mark;           /* the bad byte begins this */
} llo_t_bad_t;


static uint8_t *llo_t_read(const char *name, size_t *len);
static uint8_t *llo_t_gzip(const uint8_t *data, size_t len, size_t *out);
static void llo_t_buf_add(llo_t_buf_t *b, const void *s, size_t n);
static void llo_t_buf_str(llo_t_buf_t *b, const char *s);
static void llo_t_buf_fmt(llo_t_buf_t *b, const char *fmt, ...);
static void llo_t_feed(void *p, int req, const uint8_t *data, size_t len,
    size_t split, size_t step);
static void llo_t_resp_run(const uint8_t *data, size_t len, int body,
    int gzip, size_t max_text, int skim, size_t split, size_t step,
    llo_resp_t *out);
static void llo_t_resp_free(llo_resp_t *r);
static void llo_t_req_run(const uint8_t *data, size_t len, size_t max_text,
    size_t split, size_t step, llo_req_t *out);
static int llo_t_sstr_diff(const char *name, const llo_sstr_t *a,
    const llo_sstr_t *b, char *why, size_t size);
static int llo_t_mstr_diff(const char *name, const llo_mstr_t *a,
    const llo_mstr_t *b, char *why, size_t size);
static int llo_t_resp_diff(const llo_resp_t *a, const llo_resp_t *b,
    int flags, char *why, size_t size);
static int llo_t_req_diff(const llo_req_t *a, const llo_req_t *b, char *why,
    size_t size);
static void llo_t_sstr(llo_sstr_t *s, const char *v);
static void llo_t_mstr(llo_mstr_t *s, const char *v);
static void llo_t_expected(const llo_t_fixture_t *fx, size_t len,
    llo_resp_t *r);
static void llo_t_check_splits(const uint8_t *data, size_t len, int body,
    int gzip, size_t max_text, int skim, const llo_resp_t *want, int flags,
    const char *what);
static unsigned long long llo_t_error_at(const char *error,
    const char *prefix);
static uint32_t llo_t_rand(void);
static uint32_t llo_t_rn(uint32_t n);
static void llo_t_utf8(llo_t_buf_t *b, uint32_t cp);
static void llo_t_gen_string(llo_t_buf_t *wire, llo_t_buf_t *text);
static void llo_t_gen_stream(llo_t_gen_t *g);
static void llo_t_gen_expected(const llo_t_gen_t *g, llo_resp_t *r);
static size_t llo_t_boundary(const char *s, size_t len, size_t cap);
static void llo_t_req_expected(llo_req_t *r, size_t len);
static char *llo_t_nested(int depth, const char *tail);
static char *llo_t_big_stream(size_t big, int lines, const char *end,
    size_t *len);
static double llo_t_now(void);
static void llo_t_bench(void);


static const llo_t_fixture_t  llo_t_fixtures[] = {

    { "chat_nonstream.json", LLO_BODY_JSON,
      "chatcmpl-C3LmQ8rXh2VdN5kT0aJpW7yF4sEo1", "o4-mini-2025-04-16",
      "stop", NULL, NULL, 1342, 412, 1754, 1152, 384, 1, 1, 0, 0,
      "The capital of France is **Paris**.\n\n- Population: ~2.1 million "
      "(city proper)\n- Known for: the Eiffel Tower, the Louvre, café "
      "culture ☕\n- In Chinese: 巴黎 🇫🇷\n\nAs the saying goes, \"Paris "
      "is always a good idea.\"" },

    { "completions_legacy.json", LLO_BODY_JSON,
      "cmpl-9Kx2fW0aQpL7mZr3TbVn8YcE", "gpt-3.5-turbo-instruct",
      "length", NULL, NULL, 5, 7, 12, -1, -1, 1, 1, 0, 0,
      "\n\nThis is indeed a test" },

    { "error_model_not_found.json", LLO_BODY_JSON,
      NULL, NULL, NULL, "invalid_request_error",
      "The model `gpt-5-turbo` does not exist or you do not have access "
      "to it.", -1, -1, -1, -1, -1, 0, 1, 0, 0, "" },

    /* a message longer than LLO_SMALL_STR, kept whole */
    { "error_rate_limit.json", LLO_BODY_JSON,
      NULL, NULL, NULL, "tokens",
      "Rate limit reached for gpt-4o in organization "
      "org-Xq7ZpL2mN8vR4tK1wY6bJ3cD on tokens per min (TPM): Limit 30000, "
      "Used 29812, Requested 1454. Please try again in 2.532s. Visit "
      "https://platform.openai.com/account/rate-limits to learn more.",
      -1, -1, -1, -1, -1, 0, 1, 0, 0, "" },

    { "chat_stream.sse", LLO_BODY_SSE,
      LLO_T_CHAT_ID, LLO_T_MODEL, "stop", NULL, NULL,
      1187, 31, 1218, 1024, 0, 1, 1, 24, 19, LLO_T_STREAM_TEXT },

    { "chat_stream_crlf.sse", LLO_BODY_SSE,
      LLO_T_CHAT_ID, LLO_T_MODEL, "stop", NULL, NULL,
      1187, 31, 1218, 1024, 0, 1, 1, 24, 19, LLO_T_STREAM_TEXT },

    /* "most" of the 21 content deltas must take the fast path */
    { "chat_stream_obf.sse", LLO_BODY_SSE,
      LLO_T_CHAT_ID, LLO_T_MODEL, "stop", NULL, NULL,
      1187, 31, 1218, 1024, 0, 1, 1, 24, 11, LLO_T_STREAM_TEXT },

    { "chat_stream_nousage.sse", LLO_BODY_SSE,
      LLO_T_CHAT_ID, LLO_T_MODEL, "stop", NULL, NULL,
      -1, -1, -1, -1, -1, 0, 1, 8, 0, "Hello, world! 你好，世界" },

    { "chat_stream_error.sse", LLO_BODY_SSE,
      LLO_T_CHAT_ID, LLO_T_MODEL, NULL, "server_error",
      "The server had an error while processing your request. Sorry "
      "about that!", -1, -1, -1, -1, -1, 0, 0, 6, 0, "Hello, world!" },

    { "chat_stream_comments.sse", LLO_BODY_SSE,
      LLO_T_CHAT_ID, LLO_T_MODEL, "stop", NULL, NULL,
      -1, -1, -1, -1, -1, 0, 1, 5, 0, "Hello, world" },

    { "chat_stream_multiline.sse", LLO_BODY_SSE,
      "chatcmpl-ml7Q", LLO_T_MODEL, "length", NULL, NULL,
      12, 2, 14, -1, -1, 1, 1, 3, 0, "multi-line" },

    { "completions_stream.sse", LLO_BODY_SSE,
      "cmpl-9Kx2fW0aQpL7mZr3TbVn8YcE", "gpt-3.5-turbo-instruct", "length",
      NULL, NULL, -1, -1, -1, -1, -1, 0, 1, 6, 0,
      "\n\nThis is indeed a test" },
};

#define LLO_T_NFIXTURES                                                       \
    (int) (sizeof(llo_t_fixtures) / sizeof(llo_t_fixtures[0]))


/* in percent: what streams look like; half the random streams get
 * weights of their own, so that rarer sequences of shapes come up too */
static const int  llo_t_shape_weight[LLO_T_NSHAPES] = {
    63, 4, 4, 3, 4, 4, 4, 3, 2, 2, 1, 1, 2, 1, 2
};


static const llo_t_bad_t  llo_t_bad_json[] = {
    { "{\"id\":\"chatcmpl-x\",\"model\":\"gpt-4o\",\"usage\":{\"prompt_tokens\""
      ":5,,\"completion_tokens\":2}}", ",\"completion" },
    { "{\"choices\":[{\"message\":{\"content\":tru}}]}", "}}]}" },
    { "{\"model\" 1}", "1}" },
    { "{\"model\":\"x\\qy\"}", "qy" },
    { "{\"model\":\"a\x01z\"}", "\x01" },
    { "{\"usage\":{\"prompt_tokens\":-}}", "}}" },
    { "{\"model\":\"gpt-4o\"}}", "}" },
    { "<html><body>502 Bad Gateway</body></html>", "<html" },
};


static uint64_t  llo_t_seed = 0x9e3779b97f4a7c15ULL;


/* -- helpers --------------------------------------------------------------- */


static uint8_t *
llo_t_read(const char *name, size_t *len)
{
    long      n;
    FILE     *f;
    char      path[1024];
    uint8_t  *data;

    snprintf(path, sizeof(path), "%s/%s", LLO_FIXTURES, name);

    f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open fixture \"%s\"", path);

    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    ck_assert_int_ge(n, 0);
    rewind(f);

    data = malloc(n + 1);
    ck_assert_ptr_nonnull(data);
    ck_assert_uint_eq(fread(data, 1, n, f), (size_t) n);
    fclose(f);

    *len = n;

    return data;
}


static uint8_t *
llo_t_gzip(const uint8_t *data, size_t len, size_t *out)
{
    uint8_t   *z;
    size_t     cap;
    z_stream   zs;

    memset(&zs, 0, sizeof(z_stream));

    ck_assert_int_eq(deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED,
                                  16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
                     Z_OK);

    cap = deflateBound(&zs, len) + 64;
    z = malloc(cap);
    ck_assert_ptr_nonnull(z);

    zs.next_in = (Bytef *) data;
    zs.avail_in = (uInt) len;
    zs.next_out = z;
    zs.avail_out = (uInt) cap;

    ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);

    *out = zs.total_out;
    deflateEnd(&zs);

    return z;
}


static void
llo_t_buf_add(llo_t_buf_t *b, const void *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->data = realloc(b->data, b->cap);

        /* no ck_assert: the benchmark uses these outside a test */
        if (b->data == NULL) {
            abort();
        }
    }

    if (n) {
        memcpy(b->data + b->len, s, n);
    }

    b->len += n;
    b->data[b->len] = '\0';
}


static void
llo_t_buf_str(llo_t_buf_t *b, const char *s)
{
    llo_t_buf_add(b, s, strlen(s));
}


static void
llo_t_buf_fmt(llo_t_buf_t *b, const char *fmt, ...)
{
    int      n;
    char     tmp[512];
    va_list  args;

    va_start(args, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, args);
    va_end(args);

    if (n < 0 || (size_t) n >= sizeof(tmp)) {
        abort();
    }

    llo_t_buf_add(b, tmp, n);
}


/*
 * Feed data[0..split) as one piece, then the rest in pieces of step bytes
 * (0: the rest as one piece).  Empty pieces are fed too: the module sees
 * empty buffers (flush, last_buf) and they must change nothing.
 */

static void
llo_t_feed(void *p, int req, const uint8_t *data, size_t len, size_t split,
    size_t step)
{
    size_t  pos, n;

    if (split > len) {
        split = len;
    }

    if (req) {
        llo_req_feed(p, data, split);

    } else {
        llo_resp_feed(p, data, split);
    }

    for (pos = split; pos < len; pos += n) {
        n = (step == 0 || len - pos < step) ? len - pos : step;

        if (req) {
            llo_req_feed(p, data + pos, n);

        } else {
            llo_resp_feed(p, data + pos, n);
        }
    }
}


/* a copy of the text that outlives its parser */

static char *
llo_t_text_copy(const llo_text_t *t, size_t max_text)
{
    char  *text;

    ck_assert_uint_le(t->len, max_text);

    text = malloc(t->len + 1);
    ck_assert_ptr_nonnull(text);

    if (t->len) {
        memcpy(text, t->data, t->len);
    }

    return text;
}


static void
llo_t_resp_run(const uint8_t *data, size_t len, int body, int gzip,
    size_t max_text, int skim, size_t split, size_t step, llo_resp_t *out)
{
    llo_resp_t         *r;
    llo_resp_parser_t  *p;

    p = llo_resp_create(body, gzip, max_text, skim);
    ck_assert_ptr_nonnull(p);

    llo_t_feed(p, 0, data, len, split, step);
    llo_resp_finish(p);

    r = llo_resp_result(p);

    *out = *r;
    out->text.data = llo_t_text_copy(&r->text, max_text);

    llo_resp_destroy(p);
}


static void
llo_t_resp_free(llo_resp_t *r)
{
    free(r->text.data);
    r->text.data = NULL;
}


static void
llo_t_req_run(const uint8_t *data, size_t len, size_t max_text, size_t split,
    size_t step, llo_req_t *out)
{
    llo_req_t         *r;
    llo_req_parser_t  *p;

    p = llo_req_create(max_text);
    ck_assert_ptr_nonnull(p);

    llo_t_feed(p, 1, data, len, split, step);
    llo_req_finish(p);

    r = llo_req_result(p);

    *out = *r;
    out->text.data = llo_t_text_copy(&r->text, max_text);

    llo_req_destroy(p);
}


static int
llo_t_sstr_diff(const char *name, const llo_sstr_t *a, const llo_sstr_t *b,
    char *why, size_t size)
{
    if (a->set != b->set || a->len != b->len
        || memcmp(a->data, b->data, a->len) != 0
        || a->data[a->len] != '\0')
    {
        snprintf(why, size, "%s: \"%.*s\" (set %u) != \"%.*s\" (set %u)",
                 name, (int) a->len, a->data, (unsigned) a->set,
                 (int) b->len, b->data, (unsigned) b->set);
        return -1;
    }

    return 0;
}


static int
llo_t_mstr_diff(const char *name, const llo_mstr_t *a, const llo_mstr_t *b,
    char *why, size_t size)
{
    if (a->set != b->set || a->len != b->len
        || a->truncated != b->truncated
        || memcmp(a->data, b->data, a->len) != 0
        || a->data[a->len] != '\0')
    {
        snprintf(why, size, "%s: \"%.*s\" (%zu bytes, set %u, truncated "
                 "%u) != \"%.*s\" (%zu bytes, set %u, truncated %u)", name,
                 (int) a->len, a->data, a->len, (unsigned) a->set,
                 (unsigned) a->truncated, (int) b->len, b->data, b->len,
                 (unsigned) b->set, (unsigned) b->truncated);
        return -1;
    }

    return 0;
}


#define llo_t_num_diff(f)                                                     \
    if (a->f != b->f) {                                                       \
        snprintf(why, size, #f ": %lld != %lld", (long long) a->f,            \
                 (long long) b->f);                                           \
        return -1;                                                            \
    }


static int
llo_t_resp_diff(const llo_resp_t *a, const llo_resp_t *b, int flags,
    char *why, size_t size)
{
    if (llo_t_sstr_diff("id", &a->id, &b->id, why, size)
        || llo_t_sstr_diff("model", &a->model, &b->model, why, size)
        || llo_t_sstr_diff("finish_reason", &a->finish_reason,
                           &b->finish_reason, why, size)
        || llo_t_sstr_diff("error_type", &a->error_type, &b->error_type,
                           why, size)
        || llo_t_mstr_diff("error_message", &a->error_message,
                           &b->error_message, why, size))
    {
        return -1;
    }

    llo_t_num_diff(prompt_tokens);
    llo_t_num_diff(completion_tokens);
    llo_t_num_diff(total_tokens);
    llo_t_num_diff(cached_tokens);
    llo_t_num_diff(reasoning_tokens);
    llo_t_num_diff(events);
    llo_t_num_diff(usage);
    llo_t_num_diff(done);
    llo_t_num_diff(text.truncated);

    if (flags & LLO_T_CMP_SKIMMED) {
        llo_t_num_diff(skimmed);
    }

    if (flags & LLO_T_CMP_BYTES) {
        llo_t_num_diff(bytes);
    }

    if (flags & LLO_T_CMP_WIRE) {
        llo_t_num_diff(wire_bytes);
    }

    if (a->text.len != b->text.len
        || memcmp(a->text.data, b->text.data, a->text.len) != 0)
    {
        snprintf(why, size, "text (%zu bytes) \"%.*s\" != (%zu bytes) "
                 "\"%.*s\"", a->text.len, (int) a->text.len, a->text.data,
                 b->text.len, (int) b->text.len, b->text.data);
        return -1;
    }

    if (strcmp(a->error, b->error) != 0) {
        snprintf(why, size, "error \"%s\" != \"%s\"", a->error, b->error);
        return -1;
    }

    return 0;
}


static int
llo_t_req_diff(const llo_req_t *a, const llo_req_t *b, char *why,
    size_t size)
{
    if (llo_t_sstr_diff("model", &a->model, &b->model, why, size)) {
        return -1;
    }

    llo_t_num_diff(stream);
    llo_t_num_diff(include_usage);
    llo_t_num_diff(max_tokens);
    llo_t_num_diff(bytes);
    llo_t_num_diff(text.truncated);

    if (a->text.len != b->text.len
        || memcmp(a->text.data, b->text.data, a->text.len) != 0)
    {
        snprintf(why, size, "text \"%.*s\" != \"%.*s\"", (int) a->text.len,
                 a->text.data, (int) b->text.len, b->text.data);
        return -1;
    }

    if (strcmp(a->error, b->error) != 0) {
        snprintf(why, size, "error \"%s\" != \"%s\"", a->error, b->error);
        return -1;
    }

    return 0;
}


static void
llo_t_sstr(llo_sstr_t *s, const char *v)
{
    memset(s, 0, sizeof(llo_sstr_t));

    if (v == NULL) {
        return;
    }

    ck_assert_uint_lt(strlen(v), LLO_SMALL_STR);

    s->len = strlen(v);
    memcpy(s->data, v, s->len);
    s->set = 1;
}


static void
llo_t_mstr(llo_mstr_t *s, const char *v)
{
    memset(s, 0, sizeof(llo_mstr_t));

    if (v == NULL) {
        return;
    }

    ck_assert_uint_lt(strlen(v), LLO_MSG_STR);

    s->len = strlen(v);
    memcpy(s->data, v, s->len);
    s->set = 1;
}


static void
llo_t_expected(const llo_t_fixture_t *fx, size_t len, llo_resp_t *r)
{
    memset(r, 0, sizeof(llo_resp_t));

    llo_t_sstr(&r->id, fx->id);
    llo_t_sstr(&r->model, fx->model);
    llo_t_sstr(&r->finish_reason, fx->finish);
    llo_t_sstr(&r->error_type, fx->err_type);
    llo_t_mstr(&r->error_message, fx->err_msg);

    r->prompt_tokens = fx->pt;
    r->completion_tokens = fx->ct;
    r->total_tokens = fx->tt;
    r->cached_tokens = fx->cached;
    r->reasoning_tokens = fx->reasoning;
    r->usage = fx->usage;
    r->done = fx->done;
    r->events = fx->events;
    r->bytes = len;
    r->wire_bytes = len;
    r->text.data = (char *) fx->text;
    r->text.len = strlen(fx->text);
}


/*
 * One piece, two pieces split at every byte, and byte by byte: each must
 * give exactly "want" (compared as flags says).
 */

static void
llo_t_check_splits(const uint8_t *data, size_t len, int body, int gzip,
    size_t max_text, int skim, const llo_resp_t *want, int flags,
    const char *what)
{
    size_t      split;
    char        why[LLO_T_WHY];
    llo_resp_t  got;

    llo_t_resp_run(data, len, body, gzip, max_text, skim, len, 0, &got);
    ck_assert_msg(llo_t_resp_diff(&got, want, flags, why, sizeof(why)) == 0,
                  "%s, skim %d, one piece: %s", what, skim, why);
    llo_t_resp_free(&got);

    llo_t_resp_run(data, len, body, gzip, max_text, skim, 0, 1, &got);
    ck_assert_msg(llo_t_resp_diff(&got, want, flags, why, sizeof(why)) == 0,
                  "%s, skim %d, byte by byte: %s", what, skim, why);
    llo_t_resp_free(&got);

    for (split = 0; split <= len; split++) {
        llo_t_resp_run(data, len, body, gzip, max_text, skim, split, 0,
                       &got);
        ck_assert_msg(llo_t_resp_diff(&got, want, flags, why, sizeof(why))
                      == 0, "%s, skim %d, split at %zu of %zu: %s", what,
                      skim, split, len, why);
        llo_t_resp_free(&got);
    }
}


/* the N of "<prefix>N..." in an error string; aborts if it is not there */

static unsigned long long
llo_t_error_at(const char *error, const char *prefix)
{
    ck_assert_msg(strncmp(error, prefix, strlen(prefix)) == 0,
                  "error \"%s\" does not begin \"%s\"", error, prefix);

    return strtoull(error + strlen(prefix), NULL, 10);
}


/* -- the fixtures ---------------------------------------------------------- */


START_TEST(test_fixture_expected)
{
    int                     skim;
    char                    why[LLO_T_WHY];
    size_t                  len;
    uint8_t                *data;
    llo_resp_t              want, got;
    const llo_t_fixture_t  *fx;

    fx = &llo_t_fixtures[_i];
    data = llo_t_read(fx->file, &len);
    llo_t_expected(fx, len, &want);

    for (skim = LLO_SKIM_OFF; skim <= LLO_SKIM_ON; skim++) {
        llo_t_resp_run(data, len, fx->body, 0, LLO_T_MAX_TEXT, skim, len, 0,
                       &got);

        ck_assert_msg(llo_t_resp_diff(&got, &want,
                                      LLO_T_CMP_BYTES | LLO_T_CMP_WIRE,
                                      why, sizeof(why)) == 0,
                      "%s, skim %d: %s", fx->file, skim, why);

        if (skim == LLO_SKIM_OFF) {
            ck_assert_uint_eq(got.skimmed, 0);

        } else {
            ck_assert_msg(got.skimmed >= fx->skim_min,
                          "%s: skimmed %u of %u events, want >= %u",
                          fx->file, got.skimmed, got.events, fx->skim_min);
        }

        llo_t_resp_free(&got);
    }

    free(data);
}
END_TEST


START_TEST(test_fixture_splits)
{
    int                     skim;
    size_t                  len;
    uint8_t                *data;
    llo_resp_t              want, one;
    const llo_t_fixture_t  *fx;

    fx = &llo_t_fixtures[_i];
    data = llo_t_read(fx->file, &len);
    llo_t_expected(fx, len, &want);

    for (skim = LLO_SKIM_OFF; skim <= LLO_SKIM_ON; skim++) {

        /* the hand-written values, skimmed aside ... */
        llo_t_check_splits(data, len, fx->body, 0, LLO_T_MAX_TEXT, skim,
                           &want, LLO_T_CMP_BYTES | LLO_T_CMP_WIRE,
                           fx->file);

        /* ... and the one-piece result, skimmed included */
        llo_t_resp_run(data, len, fx->body, 0, LLO_T_MAX_TEXT, skim, len, 0,
                       &one);
        llo_t_check_splits(data, len, fx->body, 0, LLO_T_MAX_TEXT, skim,
                           &one, LLO_T_CMP_ALL, fx->file);
        llo_t_resp_free(&one);
    }

    free(data);
}
END_TEST


START_TEST(test_fixture_gzip)
{
    int                     skim;
    size_t                  len, zlen;
    uint8_t                *data, *z;
    llo_resp_t              want;
    const llo_t_fixture_t  *fx;

    fx = &llo_t_fixtures[_i];
    data = llo_t_read(fx->file, &len);
    z = llo_t_gzip(data, len, &zlen);

    llo_t_expected(fx, len, &want);
    want.wire_bytes = zlen;

    for (skim = LLO_SKIM_OFF; skim <= LLO_SKIM_ON; skim++) {
        llo_t_check_splits(z, zlen, fx->body, 1, LLO_T_MAX_TEXT, skim,
                           &want, LLO_T_CMP_BYTES | LLO_T_CMP_WIRE,
                           fx->file);
    }

    free(z);
    free(data);
}
END_TEST


/* -- the skimmer ----------------------------------------------------------- */


START_TEST(test_skim_parity_fixtures)
{
    int                     i;
    char                    why[LLO_T_WHY];
    size_t                  len, step;
    uint8_t                *data;
    llo_resp_t              on, off;
    const llo_t_fixture_t  *fx;

    for (i = 0; i < LLO_T_NFIXTURES; i++) {
        fx = &llo_t_fixtures[i];

        if (fx->body != LLO_BODY_SSE) {
            continue;
        }

        data = llo_t_read(fx->file, &len);

        for (step = 0; step < 70; step += 7) {
            llo_t_resp_run(data, len, LLO_BODY_SSE, 0, LLO_T_MAX_TEXT,
                           LLO_SKIM_ON, step, step, &on);
            llo_t_resp_run(data, len, LLO_BODY_SSE, 0, LLO_T_MAX_TEXT,
                           LLO_SKIM_OFF, step, step, &off);

            ck_assert_msg(llo_t_resp_diff(&on, &off,
                                          LLO_T_CMP_BYTES | LLO_T_CMP_WIRE,
                                          why, sizeof(why)) == 0,
                          "%s, pieces of %zu: skim on != off: %s",
                          fx->file, step, why);

            llo_t_resp_free(&on);
            llo_t_resp_free(&off);
        }

        free(data);
    }
}
END_TEST


START_TEST(test_skim_fast_path_ran)
{
    size_t       len, i;
    uint8_t     *data;
    llo_resp_t   r;
    const char  *files[] = { "chat_stream.sse", "chat_stream_crlf.sse",
                             "chat_stream_obf.sse" };

    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        data = llo_t_read(files[i], &len);

        llo_t_resp_run(data, len, LLO_BODY_SSE, 0, LLO_T_MAX_TEXT,
                       LLO_SKIM_ON, len, 0, &r);

        /* 21 content deltas: the first one after the role chunk and the
         * one with a surrogate pair escape must go to yajl */
        ck_assert_msg(r.skimmed > 0, "%s: nothing skimmed", files[i]);
        ck_assert_msg(r.skimmed >= 11, "%s: only %u of 21 content events "
                      "skimmed", files[i], r.skimmed);

        llo_t_resp_free(&r);
        free(data);
    }
}
END_TEST


/* xorshift64*: the same streams on every run and every machine */

static uint32_t
llo_t_rand(void)
{
    llo_t_seed ^= llo_t_seed >> 12;
    llo_t_seed ^= llo_t_seed << 25;
    llo_t_seed ^= llo_t_seed >> 27;

    return (uint32_t) ((llo_t_seed * 0x2545f4914f6cdd1dULL) >> 32);
}


static uint32_t
llo_t_rn(uint32_t n)
{
    return llo_t_rand() % n;
}


static void
llo_t_utf8(llo_t_buf_t *b, uint32_t cp)
{
    uint8_t  u[4];

    if (cp < 0x80) {
        u[0] = (uint8_t) cp;
        llo_t_buf_add(b, u, 1);

    } else if (cp < 0x800) {
        u[0] = (uint8_t) (0xc0 | (cp >> 6));
        u[1] = (uint8_t) (0x80 | (cp & 0x3f));
        llo_t_buf_add(b, u, 2);

    } else if (cp < 0x10000) {
        u[0] = (uint8_t) (0xe0 | (cp >> 12));
        u[1] = (uint8_t) (0x80 | ((cp >> 6) & 0x3f));
        u[2] = (uint8_t) (0x80 | (cp & 0x3f));
        llo_t_buf_add(b, u, 3);

    } else {
        u[0] = (uint8_t) (0xf0 | (cp >> 18));
        u[1] = (uint8_t) (0x80 | ((cp >> 12) & 0x3f));
        u[2] = (uint8_t) (0x80 | ((cp >> 6) & 0x3f));
        u[3] = (uint8_t) (0x80 | (cp & 0x3f));
        llo_t_buf_add(b, u, 4);
    }
}


/*
 * A random JSON string body: "wire" gets it as sent, "text" as yajl
 * decodes it.  Raw invalid UTF-8 is included: neither path validates.
 */

static void
llo_t_gen_string(llo_t_buf_t *wire, llo_t_buf_t *text)
{
    uint8_t      c;
    uint32_t     i, n, cp, hi, lo;
    const char  *fmt;

    static const char  *words[] = { "Hello", " world", ",", " the", " ",
                                    "a", " 42", "{x:1}", " <b>", "C++",
                                    " ~`!@#$%^&*()", " ok." };
    static const char  *esc[][2] = {
        { "\\\"", "\"" }, { "\\\\", "\\" }, { "\\/", "/" },
        { "\\b", "\b" }, { "\\f", "\f" }, { "\\n", "\n" },
        { "\\r", "\r" }, { "\\t", "\t" }
    };
    static const char  *raw[] = { "é", "中文", "😀", "\x7f", "Ω" };
    static const char  *bad[] = { "\xff", "\x80", "\xc3", "\xe4\xb8",
                                  "\xf0\x9f\x98" };

    n = llo_t_rn(7);

    for (i = 0; i < n; i++) {
        switch (llo_t_rn(24)) {

        case 0: case 1: case 2: case 3: case 4: case 5: case 6: case 7:
            cp = llo_t_rn(12);
            llo_t_buf_str(wire, words[cp]);
            llo_t_buf_str(text, words[cp]);
            break;

        case 8: case 9: case 10:
            cp = llo_t_rn(5);
            llo_t_buf_str(wire, raw[cp]);
            llo_t_buf_str(text, raw[cp]);
            break;

        case 11: case 12: case 13:
            cp = llo_t_rn(8);
            llo_t_buf_str(wire, esc[cp][0]);
            llo_t_buf_str(text, esc[cp][1]);
            break;

        case 14: case 15:
            do {
                cp = 1 + llo_t_rn(0xffff);
            } while (cp >= 0xd800 && cp <= 0xdfff);

            fmt = llo_t_rn(2) ? "\\u%04x" : "\\u%04X";
            llo_t_buf_fmt(wire, fmt, cp);
            llo_t_utf8(text, cp);
            break;

        case 16: case 17:
            cp = 0x10000 + llo_t_rn(0x100000);
            hi = 0xd800 + ((cp - 0x10000) >> 10);
            lo = 0xdc00 + ((cp - 0x10000) & 0x3ff);
            llo_t_buf_fmt(wire, "\\u%04x\\u%04X", hi, lo);
            llo_t_utf8(text, cp);
            break;

        case 18:
            cp = llo_t_rn(5);
            llo_t_buf_str(wire, bad[cp]);
            llo_t_buf_str(text, bad[cp]);
            break;

        case 19:
            /* \u0000 and other controls: yajl writes the byte */
            cp = llo_t_rn(0x20);
            c = (uint8_t) cp;
            llo_t_buf_fmt(wire, "\\u%04x", cp);
            llo_t_buf_add(text, &c, 1);
            break;

        default:
            llo_t_buf_str(wire, "x");
            llo_t_buf_str(text, "x");
            break;
        }
    }
}


/*
 * A random stream: mostly the common chunk shape, with the shape changes
 * real providers make, an id that changes now and then, with or without
 * "usage":null and "obfuscation", \n or \r\n.
 */

static void
llo_t_gen_stream(llo_t_gen_t *g)
{
    int             obf, unull, k, nev, i, trail, w, total, new_id;
    int             weight[LLO_T_NSHAPES];
    size_t          cut;
    int64_t         pt, ct;
    const char     *nl, *fin, *p;
    llo_t_buf_t     ev, s1, t1;
    llo_t_shape_e   sh;

    static const char  *models[] = { LLO_T_MODEL, "gpt-4o-2024-08-06",
                                     "deepseek-chat", "llama-3.1-8b" };
    static const char  *finishes[] = { "stop", "length", "tool_calls",
                                       "content_filter" };

    memset(g, 0, sizeof(llo_t_gen_t));
    memset(&ev, 0, sizeof(llo_t_buf_t));
    memset(&s1, 0, sizeof(llo_t_buf_t));
    memset(&t1, 0, sizeof(llo_t_buf_t));

    for (i = 0; i < 5; i++) {
        g->tok[i] = -1;
    }

    llo_t_buf_add(&g->body, "", 0);
    llo_t_buf_add(&g->text, "", 0);

    if (llo_t_rn(2)) {
        memcpy(weight, llo_t_shape_weight, sizeof(weight));
        new_id = 3;

    } else {
        /* few shapes in play: repetitive streams, as real ones are */
        for (sh = LLO_T_COMMON; sh < LLO_T_NSHAPES; sh++) {
            weight[sh] = llo_t_rn(3) ? 0 : (int) llo_t_rn(10);
        }

        weight[LLO_T_COMMON]++;
        new_id = llo_t_rn(40);
    }

    total = 0;

    for (sh = LLO_T_COMMON; sh < LLO_T_NSHAPES; sh++) {
        total += weight[sh];
    }

    obf = llo_t_rn(2);
    unull = llo_t_rn(2);
    nl = llo_t_rn(4) ? "\n" : "\r\n";
    nev = 1 + llo_t_rn(40);

    snprintf(g->id, sizeof(g->id), "chatcmpl-%08x", llo_t_rand());
    snprintf(g->model, sizeof(g->model), "%s", models[llo_t_rn(4)]);

    for (k = 0; k < nev; k++) {
        ev.len = 0;
        s1.len = 0;
        t1.len = 0;

        w = llo_t_rn(total);

        for (sh = LLO_T_COMMON; w >= weight[sh]; sh++) {
            w -= weight[sh];
        }

        /* a new id from here on, in an event of any shape that sends it */

        if (sh != LLO_T_NUM_ID && (int) llo_t_rn(100) < new_id) {
            snprintf(g->id, sizeof(g->id), "chatcmpl-%08x", llo_t_rand());
        }

        /* few distinct numbers, so that a template learned from one is
         * met again */

        if (sh == LLO_T_NUM_ID) {
            llo_t_buf_fmt(&ev, "{\"id\":%u,", llo_t_rn(3));

        } else {
            llo_t_buf_fmt(&ev, "{\"id\":\"%s\",", g->id);
            memcpy(g->sent_id, g->id, sizeof(g->id));
        }

        llo_t_buf_str(&ev, "\"object\":\"chat.completion.chunk\","
                      "\"created\":1754910375,");

        if (sh == LLO_T_NUM_MODEL) {
            llo_t_buf_str(&ev, "\"model\":4,");

        } else {
            llo_t_buf_fmt(&ev, "\"model\":\"%s\",", g->model);
            memcpy(g->sent_model, g->model, sizeof(g->model));
        }

        llo_t_buf_str(&ev, "\"system_fingerprint\":\"fp_560af6e559\",");

        if (sh == LLO_T_EXTRA) {
            llo_t_buf_str(&ev, "\"x_groq\":{\"id\":\"req_01k2\"},");
        }

        llo_t_buf_str(&ev, "\"choices\":[");

        fin = "null";

        if (sh == LLO_T_FINISH_TEXT || sh == LLO_T_FINISH) {
            fin = finishes[llo_t_rn(4)];
            snprintf(g->finish, sizeof(g->finish), "%s", fin);
        }

        switch (sh) {

        case LLO_T_TOOLS:
            llo_t_gen_string(&s1, &t1);
            llo_t_buf_fmt(&ev, "{\"index\":0,\"delta\":{\"tool_calls\":"
                          "[{\"index\":0,\"function\":{\"arguments\":\"");
            llo_t_buf_add(&ev, s1.data, s1.len);
            llo_t_buf_str(&ev, "\"}}]},\"logprobs\":null,"
                          "\"finish_reason\":null}");
            break;

        case LLO_T_FINISH:
            llo_t_buf_fmt(&ev, "{\"index\":0,\"delta\":{},\"logprobs\":null,"
                          "\"finish_reason\":\"%s\"}", fin);
            break;

        case LLO_T_USAGE:
            break;

        case LLO_T_NULL:
            llo_t_buf_str(&ev, "{\"index\":0,\"delta\":{\"content\":null},"
                          "\"logprobs\":null,\"finish_reason\":null}");
            break;

        default:
            llo_t_buf_str(&ev, "{\"index\":0,\"delta\":{");

            if (sh == LLO_T_ROLE) {
                llo_t_buf_str(&ev, "\"role\":\"assistant\",");

            } else if (sh == LLO_T_REASONING) {
                llo_t_gen_string(&s1, &t1);
                llo_t_buf_str(&ev, "\"reasoning_content\":\"");
                llo_t_buf_add(&ev, s1.data, s1.len);
                llo_t_buf_str(&ev, "\",");
            }

            s1.len = 0;
            llo_t_gen_string(&s1, &g->text);

            llo_t_buf_str(&ev, sh == LLO_T_SPACE ? "\"content\": \""
                                                 : "\"content\":\"");
            llo_t_buf_add(&ev, s1.data, s1.len);
            llo_t_buf_str(&ev, "\"");

            if (sh == LLO_T_ROLE || sh == LLO_T_AFTER) {
                llo_t_buf_str(&ev, ",\"refusal\":null");
            }

            llo_t_buf_str(&ev, "},\"logprobs\":null,\"finish_reason\":");

            if (sh == LLO_T_FINISH_TEXT) {
                llo_t_buf_fmt(&ev, "\"%s\"}", fin);

            } else {
                llo_t_buf_str(&ev, "null}");
            }

            if (sh == LLO_T_TWO) {
                s1.len = 0;
                llo_t_gen_string(&s1, &g->text);
                llo_t_buf_str(&ev, ",{\"index\":1,\"delta\":{\"content\":\"");
                llo_t_buf_add(&ev, s1.data, s1.len);
                llo_t_buf_str(&ev, "\"},\"logprobs\":null,"
                              "\"finish_reason\":null}");
            }

            break;
        }

        llo_t_buf_str(&ev, "]");

        if (sh == LLO_T_USAGE) {
            pt = llo_t_rn(5000);
            ct = llo_t_rn(2000);
            g->tok[0] = pt;
            g->tok[1] = ct;
            g->tok[2] = pt + ct;
            g->usage = 1;

            llo_t_buf_fmt(&ev, ",\"usage\":{\"prompt_tokens\":%lld,"
                          "\"completion_tokens\":%lld,\"total_tokens\":%lld",
                          (long long) pt, (long long) ct,
                          (long long) (pt + ct));

            /* the details are optional: absent, the old values stay */

            if (llo_t_rn(2)) {
                g->tok[3] = llo_t_rn(4) * 128;
                g->tok[4] = llo_t_rn(1000);
                llo_t_buf_fmt(&ev, ",\"prompt_tokens_details\":"
                              "{\"cached_tokens\":%lld,\"audio_tokens\":0},"
                              "\"completion_tokens_details\":"
                              "{\"reasoning_tokens\":%lld}",
                              (long long) g->tok[3], (long long) g->tok[4]);
            }

            llo_t_buf_str(&ev, "}");

        } else if (unull) {
            llo_t_buf_str(&ev, ",\"usage\":null");
        }

        if (obf) {
            llo_t_buf_str(&ev, ",\"obfuscation\":\"");

            for (i = 1 + llo_t_rn(24); i > 0; i--) {
                llo_t_buf_add(&ev, &"abcdefghijKLMNOPQRST0123456789"
                                   [llo_t_rn(30)], 1);
            }

            llo_t_buf_str(&ev, "\"");
        }

        llo_t_buf_str(&ev, "}");

        if (sh == LLO_T_COMMENT) {
            llo_t_buf_fmt(&g->body, ": keep-alive%s%s", nl, nl);
        }

        if (llo_t_rn(20) == 0) {
            /* the same JSON over two data: lines, joined with '\n' */
            p = memchr(ev.data, ',', ev.len);
            cut = p - (char *) ev.data + 1;

            llo_t_buf_str(&g->body, "data: ");
            llo_t_buf_add(&g->body, ev.data, cut);
            llo_t_buf_fmt(&g->body, "%sdata:", nl);
            llo_t_buf_add(&g->body, ev.data + cut, ev.len - cut);

        } else {
            llo_t_buf_str(&g->body, llo_t_rn(8) ? "data: " : "data:");
            llo_t_buf_add(&g->body, ev.data, ev.len);
        }

        llo_t_buf_fmt(&g->body, "%s%s", nl, nl);
        g->events++;
    }

    if (llo_t_rn(4)) {
        llo_t_buf_fmt(&g->body, "data: [DONE]%s%s", nl, nl);
        g->done = 1;
    }

    /* sometimes the body ends without its blank line or last newline */

    trail = llo_t_rn(6);

    if (trail < 2) {
        g->body.len -= (trail + 1) * strlen(nl);
    }

    free(ev.data);
    free(s1.data);
    free(t1.data);
}


static void
llo_t_gen_expected(const llo_t_gen_t *g, llo_resp_t *r)
{
    memset(r, 0, sizeof(llo_resp_t));

    llo_t_sstr(&r->id, g->sent_id[0] ? g->sent_id : NULL);
    llo_t_sstr(&r->model, g->sent_model[0] ? g->sent_model : NULL);

    if (g->finish[0]) {
        llo_t_sstr(&r->finish_reason, g->finish);
    }

    r->prompt_tokens = g->tok[0];
    r->completion_tokens = g->tok[1];
    r->total_tokens = g->tok[2];
    r->cached_tokens = g->tok[3];
    r->reasoning_tokens = g->tok[4];
    r->usage = g->usage;
    r->done = g->done;
    r->events = g->events;
    r->bytes = g->body.len;
    r->wire_bytes = g->body.len;
    r->text.data = (char *) g->text.data;
    r->text.len = g->text.len;
}


START_TEST(test_skim_random)
{
    int          n;
    char         why[LLO_T_WHY];
    size_t       max_text, split, step;
    uint64_t     skimmed, events;
    llo_resp_t   want, on, off, one;
    llo_t_gen_t  g;

    skimmed = 0;
    events = 0;

    for (n = 0; n < 1000; n++) {
        llo_t_gen_stream(&g);
        llo_t_gen_expected(&g, &want);

        max_text = LLO_T_MAX_TEXT;

        if (llo_t_rn(4) == 0) {
            max_text = llo_t_rn(g.text.len + 8);

            if (g.text.len > max_text) {
                want.text.len = llo_utf8_cut((char *) g.text.data,
                                             max_text);
                want.text.truncated = 1;
            }
        }

        split = llo_t_rn(g.body.len + 1);
        step = 1 + llo_t_rn(600);

        llo_t_resp_run(g.body.data, g.body.len, LLO_BODY_SSE, 0, max_text,
                       LLO_SKIM_ON, split, step, &on);
        llo_t_resp_run(g.body.data, g.body.len, LLO_BODY_SSE, 0, max_text,
                       LLO_SKIM_OFF, split, step, &off);
        llo_t_resp_run(g.body.data, g.body.len, LLO_BODY_SSE, 0, max_text,
                       LLO_SKIM_ON, g.body.len, 0, &one);

        ck_assert_msg(llo_t_resp_diff(&on, &off,
                                      LLO_T_CMP_BYTES | LLO_T_CMP_WIRE,
                                      why, sizeof(why)) == 0,
                      "stream %d: skim on != off: %s\n%.3000s", n, why,
                      g.body.data);

        ck_assert_msg(llo_t_resp_diff(&off, &want,
                                      LLO_T_CMP_BYTES | LLO_T_CMP_WIRE,
                                      why, sizeof(why)) == 0,
                      "stream %d: yajl != generator: %s\n%.3000s", n, why,
                      g.body.data);

        ck_assert_msg(llo_t_resp_diff(&on, &one, LLO_T_CMP_ALL, why,
                                      sizeof(why)) == 0,
                      "stream %d: pieces != one piece: %s", n, why);

        ck_assert_uint_eq(off.skimmed, 0);

        skimmed += on.skimmed;
        events += on.events;

        llo_t_resp_free(&on);
        llo_t_resp_free(&off);
        llo_t_resp_free(&one);
        free(g.body.data);
        free(g.text.data);
    }

    /* the fast path really ran on these streams */
    ck_assert_msg(skimmed * 8 > events, "skimmed %llu of %llu events",
                  (unsigned long long) skimmed, (unsigned long long) events);
}
END_TEST


/*
 * An id (or model) that is not a string is not taken by yajl; a template
 * learned from such an event must not bring back the id it had then.
 */

START_TEST(test_skim_numeric_id)
{
    char         why[LLO_T_WHY];
    size_t       len;
    llo_resp_t   on, off;
    const char  *body =
        "data: {\"id\":\"s0\",\"model\":\"m\",\"choices\":[]}\n\n"
        "data: {\"id\":7,\"model\":\"m\",\"choices\":[{\"index\":0,"
        "\"delta\":{\"content\":\"a\"}}]}\n\n"
        "data: {\"id\":\"s1\",\"model\":\"m\",\"choices\":[]}\n\n"
        "data: {\"id\":7,\"model\":\"m\",\"choices\":[{\"index\":0,"
        "\"delta\":{\"content\":\"b\"}}]}\n\n";

    len = strlen(body);

    llo_t_resp_run((const uint8_t *) body, len, LLO_BODY_SSE, 0,
                   LLO_T_MAX_TEXT, LLO_SKIM_ON, len, 0, &on);
    llo_t_resp_run((const uint8_t *) body, len, LLO_BODY_SSE, 0,
                   LLO_T_MAX_TEXT, LLO_SKIM_OFF, len, 0, &off);

    ck_assert_str_eq(off.id.data, "s1");
    ck_assert_msg(llo_t_resp_diff(&on, &off, LLO_T_CMP_BYTES, why,
                                  sizeof(why)) == 0,
                  "skim on != off: %s", why);

    llo_t_resp_free(&on);
    llo_t_resp_free(&off);
}
END_TEST


/* -- max_text -------------------------------------------------------------- */


/* the longest prefix of s[0..cap) that ends on a character boundary */

static size_t
llo_t_boundary(const char *s, size_t len, size_t cap)
{
    if (cap >= len) {
        return len;
    }

    while (cap > 0 && ((uint8_t) s[cap] & 0xc0) == 0x80) {
        cap--;
    }

    return cap;
}


START_TEST(test_truncate_response)
{
    int                     skim;
    char                    why[LLO_T_WHY];
    size_t                  len, tlen, cap, pos;
    uint8_t                *data;
    llo_resp_t              want, got;
    const llo_t_fixture_t  *fx;

    fx = &llo_t_fixtures[_i];
    data = llo_t_read(fx->file, &len);
    tlen = strlen(fx->text);

    for (skim = LLO_SKIM_OFF; skim <= LLO_SKIM_ON; skim++) {
        for (cap = 0; cap <= tlen + 2; cap++) {
            llo_t_expected(fx, len, &want);
            want.text.len = llo_t_boundary(fx->text, tlen, cap);
            want.text.truncated = tlen > cap;

            llo_t_resp_run(data, len, fx->body, 0, cap, skim, len, 0, &got);
            ck_assert_msg(llo_t_resp_diff(&got, &want,
                                          LLO_T_CMP_BYTES | LLO_T_CMP_WIRE,
                                          why, sizeof(why)) == 0,
                          "%s, skim %d, max_text %zu: %s", fx->file, skim,
                          cap, why);
            llo_t_resp_free(&got);

            llo_t_resp_run(data, len, fx->body, 0, cap, skim, cap * 7 % len,
                           13, &got);
            ck_assert_msg(llo_t_resp_diff(&got, &want,
                                          LLO_T_CMP_BYTES | LLO_T_CMP_WIRE,
                                          why, sizeof(why)) == 0,
                          "%s, skim %d, max_text %zu, pieces: %s", fx->file,
                          skim, cap, why);
            llo_t_resp_free(&got);
        }
    }

    /* a cut inside the 4-byte rocket drops all of it */

    if (strcmp(fx->text, LLO_T_STREAM_TEXT) == 0) {
        pos = strstr(fx->text, "🚀") - fx->text;

        for (cap = pos + 1; cap <= pos + 4; cap++) {
            llo_t_resp_run(data, len, fx->body, 0, cap, LLO_SKIM_ON, len, 0,
                           &got);
            ck_assert_uint_eq(got.text.len, cap == pos + 4 ? pos + 4 : pos);
            ck_assert_uint_eq(got.text.truncated, 1);
            ck_assert_mem_eq(got.text.data, fx->text, got.text.len);
            llo_t_resp_free(&got);
        }
    }

    free(data);
}
END_TEST


/* -- requests -------------------------------------------------------------- */


static void
llo_t_req_expected(llo_req_t *r, size_t len)
{
    memset(r, 0, sizeof(llo_req_t));

    llo_t_sstr(&r->model, "gpt-4o-mini");
    r->stream = 1;
    r->include_usage = 1;
    r->max_tokens = 256;
    r->bytes = len;
    r->text.data = (char *) LLO_T_REQ_TEXT;
    r->text.len = strlen(LLO_T_REQ_TEXT);
}


START_TEST(test_request_fixture)
{
    char       why[LLO_T_WHY];
    size_t     len, split;
    uint8_t   *data;
    llo_req_t  want, got;

    data = llo_t_read("request_chat.json", &len);
    llo_t_req_expected(&want, len);

    llo_t_req_run(data, len, LLO_T_MAX_TEXT, 0, 1, &got);
    ck_assert_msg(llo_t_req_diff(&got, &want, why, sizeof(why)) == 0,
                  "byte by byte: %s", why);
    free(got.text.data);

    for (split = 0; split <= len; split++) {
        llo_t_req_run(data, len, LLO_T_MAX_TEXT, split, 0, &got);
        ck_assert_msg(llo_t_req_diff(&got, &want, why, sizeof(why)) == 0,
                      "split at %zu: %s", split, why);
        free(got.text.data);
    }

    free(data);
}
END_TEST


START_TEST(test_request_truncate)
{
    char         why[LLO_T_WHY];
    size_t       len, tlen, cap, pos;
    uint8_t     *data;
    llo_req_t    want, got;
    const char  *text;

    data = llo_t_read("request_chat.json", &len);
    text = LLO_T_REQ_TEXT;
    tlen = strlen(text);

    for (cap = 0; cap <= tlen + 2; cap++) {
        llo_t_req_expected(&want, len);
        want.text.len = llo_t_boundary(text, tlen, cap);
        want.text.truncated = tlen > cap;

        llo_t_req_run(data, len, cap, len, 0, &got);
        ck_assert_msg(llo_t_req_diff(&got, &want, why, sizeof(why)) == 0,
                      "max_text %zu: %s", cap, why);
        free(got.text.data);

        llo_t_req_run(data, len, cap, cap % len, 11, &got);
        ck_assert_msg(llo_t_req_diff(&got, &want, why, sizeof(why)) == 0,
                      "max_text %zu, pieces: %s", cap, why);
        free(got.text.data);
    }

    pos = strstr(text, "🚀") - text;

    for (cap = pos + 1; cap < pos + 4; cap++) {
        llo_t_req_run(data, len, cap, len, 0, &got);
        ck_assert_uint_eq(got.text.len, pos);
        ck_assert_uint_eq(got.text.truncated, 1);
        free(got.text.data);
    }

    free(data);
}
END_TEST


START_TEST(test_request_other_shapes)
{
    size_t       len;
    llo_req_t    got;
    const char  *body;

    /* legacy completions: prompt as an array, max_tokens, stream false */
    body = "{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt\":[\"Say this\","
           "\"is a test\"],\"max_tokens\":7,\"stream\":false}";
    len = strlen(body);

    llo_t_req_run((const uint8_t *) body, len, 1024, len, 0, &got);
    ck_assert_str_eq(got.model.data, "gpt-3.5-turbo-instruct");
    ck_assert_int_eq(got.stream, 0);
    ck_assert_int_eq(got.include_usage, -1);
    ck_assert_int_eq(got.max_tokens, 7);
    ck_assert_uint_eq(got.text.len, strlen("Say this\nis a test"));
    ck_assert_mem_eq(got.text.data, "Say this\nis a test", got.text.len);
    ck_assert_str_eq(got.error, "");
    free(got.text.data);

    /* embeddings; max_tokens as a float or negative is not a count */
    body = "{\"input\":\"The food was delicious\",\"model\":"
           "\"text-embedding-3-small\",\"max_tokens\":1.5,"
           "\"stream_options\":{\"include_usage\":false}}";
    len = strlen(body);

    llo_t_req_run((const uint8_t *) body, len, 1024, 3, 5, &got);
    ck_assert_int_eq(got.stream, -1);
    ck_assert_int_eq(got.include_usage, 0);
    ck_assert_int_eq(got.max_tokens, -1);
    ck_assert_uint_eq(got.text.len, strlen("The food was delicious"));
    ck_assert_str_eq(got.error, "");
    free(got.text.data);

    /* a model name longer than LLO_SMALL_STR is cut on a boundary */
    body = "{\"model\":\"éééééééééééééééééééééééééééééééééééééééééééééééééé"
           "éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé"
           "ééééé\"}";
    len = strlen(body);

    llo_t_req_run((const uint8_t *) body, len, 0, len, 0, &got);
    ck_assert_uint_eq(got.model.len, 126);
    ck_assert_uint_eq(got.model.data[126], '\0');
    ck_assert_uint_eq(got.text.len, 0);
    ck_assert_str_eq(got.error, "");
    free(got.text.data);
}
END_TEST


START_TEST(test_request_errors)
{
    int                 i;
    char                *body, err[64];
    size_t              len, cut, split, last;
    uint8_t            *data;
    llo_req_t           got, one;
    unsigned long long  at;

    /* malformed: the second comma, at byte 27 */
    body = "{\"model\":\"gpt-4o\",\"n\":1,,\"stream\":true}";
    len = strlen(body);

    llo_t_req_run((const uint8_t *) body, len, 64, len, 0, &one);
    at = llo_t_error_at(one.error, "invalid JSON at byte ");
    ck_assert_msg(at >= 24 && at <= 26, "error at %llu: %s", at, one.error);
    ck_assert_msg(strstr(one.error, " of request: ") != NULL, "%s",
                  one.error);
    ck_assert_str_eq(one.model.data, "gpt-4o");
    ck_assert_int_eq(one.stream, -1);

    for (split = 0; split <= len; split++) {
        llo_t_req_run((const uint8_t *) body, len, 64, split, 0, &got);
        ck_assert_str_eq(got.error, one.error);
        ck_assert_uint_eq(got.bytes, len);
        free(got.text.data);
    }

    free(one.text.data);

    /* truncated anywhere before its last brace */
    data = llo_t_read("request_chat.json", &len);

    last = len;

    while (data[last - 1] != '}') {
        last--;
    }

    for (cut = 1; cut < last; cut++) {
        llo_t_req_run(data, cut, 64, cut / 2, 0, &got);
        snprintf(err, sizeof(err), "request JSON ends early at byte %zu",
                 cut);
        ck_assert_str_eq(got.error, err);
        free(got.text.data);
    }

    free(data);

    /* empty */
    llo_t_req_run((const uint8_t *) "", 0, 64, 0, 0, &got);
    ck_assert_str_eq(got.error, "empty request body");
    ck_assert_int_eq(got.stream, -1);
    ck_assert_int_eq(got.max_tokens, -1);
    free(got.text.data);

    /* nested deeper than LLO_MAX_DEPTH */
    len = 6 + 2 * 70 + 1;
    body = malloc(len + 1);
    ck_assert_ptr_nonnull(body);
    memcpy(body, "{\"a\":", 5);

    for (i = 0; i < 70; i++) {
        body[5 + i] = '[';
        body[5 + 70 + i] = ']';
    }

    memcpy(body + 5 + 140, "}", 2);
    len = strlen(body);

    llo_t_req_run((const uint8_t *) body, len, 64, 50, 1, &got);
    at = llo_t_error_at(got.error, "JSON nested deeper than 64 at byte ");
    ck_assert_msg(at >= 68 && at <= 69, "%s", got.error);
    ck_assert_msg(strstr(got.error, "of request") != NULL, "%s", got.error);
    free(got.text.data);
    free(body);
}
END_TEST


/* -- bad input ------------------------------------------------------------- */


START_TEST(test_gzip_corrupt)
{
    char        *prefix;
    size_t       len, zlen, split, i;
    uint8_t     *data, *z;
    llo_resp_t   plain, got, one;

    prefix = "gzip data error at byte ";
    data = llo_t_read("chat_stream.sse", &len);
    z = llo_t_gzip(data, len, &zlen);

    llo_t_resp_run(data, len, LLO_BODY_SSE, 0, LLO_T_MAX_TEXT, LLO_SKIM_ON,
                   len, 0, &plain);

    /* a broken header: nothing comes out, at any split */
    z[0] ^= 0xff;
    llo_t_resp_run(z, zlen, LLO_BODY_SSE, 1, LLO_T_MAX_TEXT, LLO_SKIM_ON,
                   zlen, 0, &one);
    (void) llo_t_error_at(one.error, prefix);
    ck_assert_msg(strstr(one.error, "incorrect header check") != NULL, "%s",
                  one.error);
    ck_assert_uint_eq(one.bytes, 0);
    ck_assert_uint_eq(one.events, 0);
    ck_assert_uint_eq(one.wire_bytes, zlen);

    for (split = 0; split <= zlen; split++) {
        llo_t_resp_run(z, zlen, LLO_BODY_SSE, 1, LLO_T_MAX_TEXT,
                       LLO_SKIM_ON, split, split % 3, &got);
        ck_assert_str_eq(got.error, one.error);
        llo_t_resp_free(&got);
    }

    llo_t_resp_free(&one);
    z[0] ^= 0xff;

    /* a broken CRC: the body inflates whole, then the error; what was
     * inflated is observed however the gzip bytes were split */
    z[zlen - 8] ^= 0x01;

    for (split = 0; split <= zlen; split += 7) {
        llo_t_resp_run(z, zlen, LLO_BODY_SSE, 1, LLO_T_MAX_TEXT,
                       LLO_SKIM_ON, split, 0, &got);
        (void) llo_t_error_at(got.error, prefix);
        ck_assert_msg(strstr(got.error, "incorrect data check") != NULL,
                      "%s", got.error);
        ck_assert_msg(got.bytes == len && got.events == plain.events
                      && got.text.len == plain.text.len,
                      "split at %zu of %zu: %llu of %zu bytes, %u of %u "
                      "events observed: the output of the inflate() call "
                      "that found the bad CRC was dropped", split, zlen,
                      (unsigned long long) got.bytes, len, got.events,
                      plain.events);
        llo_t_resp_free(&got);
    }

    z[zlen - 8] ^= 0x01;

    /* any flipped bit of the deflate data: an error or the right body,
     * never a crash (run this under -fsanitize=address) */
    for (i = 10; i < zlen - 8; i++) {
        z[i] ^= 0x10;
        llo_t_resp_run(z, zlen, LLO_BODY_SSE, 1, LLO_T_MAX_TEXT,
                       LLO_SKIM_ON, i, 64, &got);

        if (got.error[0] == '\0') {
            ck_assert_uint_eq(got.text.len, plain.text.len);
        }

        llo_t_resp_free(&got);
        z[i] ^= 0x10;
    }

    llo_t_resp_free(&plain);
    free(z);
    free(data);
}
END_TEST


START_TEST(test_bad_json)
{
    char                  why[LLO_T_WHY];
    size_t                len, bad, split;
    llo_resp_t            one, got;
    const uint8_t        *body;
    unsigned long long    at;
    const llo_t_bad_t    *b;

    b = &llo_t_bad_json[_i];
    body = (const uint8_t *) b->body;
    len = strlen(b->body);
    bad = strstr(b->body, b->mark) - b->body;

    if (b->mark[0] == '}' && b->mark[1] == '\0') {
        bad = len - 1;
    }

    llo_t_resp_run(body, len, LLO_BODY_JSON, 0, 64, LLO_SKIM_ON, len, 0,
                   &one);

    at = llo_t_error_at(one.error, "invalid JSON at byte ");
    ck_assert_msg(at + 2 >= bad && at <= bad + 2,
                  "bad byte %zu, error \"%s\"", bad, one.error);
    ck_assert_msg(strstr(one.error, " of response: ") != NULL, "%s",
                  one.error);
    ck_assert_uint_eq(one.done, 0);
    ck_assert_uint_eq(one.wire_bytes, len);

    for (split = 0; split <= len; split++) {
        llo_t_resp_run(body, len, LLO_BODY_JSON, 0, 64, LLO_SKIM_ON, split,
                       0, &got);
        ck_assert_msg(llo_t_resp_diff(&got, &one, LLO_T_CMP_WIRE, why,
                                      sizeof(why)) == 0,
                      "split at %zu: %s", split, why);
        llo_t_resp_free(&got);
    }

    llo_t_resp_run(body, len, LLO_BODY_JSON, 0, 64, LLO_SKIM_ON, 0, 1, &got);
    ck_assert_msg(llo_t_resp_diff(&got, &one, LLO_T_CMP_WIRE, why,
                                  sizeof(why)) == 0,
                  "byte by byte: %s", why);
    llo_t_resp_free(&got);

    llo_t_resp_free(&one);
}
END_TEST


/*
 * "bytes" is the decoded body size: like llo_req_t.bytes it must not
 * depend on whether the bytes after a JSON error came in the same buffer.
 */

START_TEST(test_bytes_after_error)
{
    size_t       len, split;
    llo_resp_t   got;
    const char  *body;

    body = llo_t_bad_json[0].body;
    len = strlen(body);

    for (split = 0; split <= len; split++) {
        llo_t_resp_run((const uint8_t *) body, len, LLO_BODY_JSON, 0, 64,
                       LLO_SKIM_ON, split, 0, &got);
        ck_assert_msg(got.bytes == len, "split at %zu: bytes %llu, body "
                      "%zu: bytes after a JSON error are not counted when "
                      "they come in a later buffer", split,
                      (unsigned long long) got.bytes, len);
        llo_t_resp_free(&got);
    }
}
END_TEST


START_TEST(test_truncated_json)
{
    char         err[64];
    size_t       len, cut, last;
    uint8_t     *data;
    llo_resp_t   got;

    data = llo_t_read("chat_nonstream.json", &len);

    last = len;

    while (data[last - 1] != '}') {
        last--;
    }

    for (cut = 1; cut < last; cut++) {
        llo_t_resp_run(data, cut, LLO_BODY_JSON, 0, LLO_T_MAX_TEXT,
                       LLO_SKIM_ON, cut / 3, 0, &got);
        snprintf(err, sizeof(err), "response JSON ends early at byte %zu",
                 cut);
        ck_assert_str_eq(got.error, err);
        ck_assert_uint_eq(got.done, 0);
        llo_t_resp_free(&got);
    }

    /* what came before the cut is kept */
    cut = strstr((char *) data, "\"usage\"") - (char *) data;
    llo_t_resp_run(data, cut, LLO_BODY_JSON, 0, LLO_T_MAX_TEXT, LLO_SKIM_ON,
                   cut, 0, &got);
    ck_assert_str_eq(got.finish_reason.data, "stop");
    ck_assert_uint_eq(got.usage, 0);
    ck_assert_int_eq(got.prompt_tokens, -1);
    llo_t_resp_free(&got);

    free(data);
}
END_TEST


START_TEST(test_empty_bodies)
{
    llo_resp_t  got;

    llo_t_resp_run((const uint8_t *) "", 0, LLO_BODY_JSON, 0, 64,
                   LLO_SKIM_ON, 0, 0, &got);
    ck_assert_str_eq(got.error, "empty JSON response");
    ck_assert_uint_eq(got.done, 0);
    llo_t_resp_free(&got);

    llo_t_resp_run((const uint8_t *) " \r\n", 3, LLO_BODY_JSON, 0, 64,
                   LLO_SKIM_ON, 1, 1, &got);
    ck_assert_str_eq(got.error, "response JSON ends early at byte 3");
    llo_t_resp_free(&got);

    /* an empty gzip body decodes to an empty JSON body */
    llo_t_resp_run((const uint8_t *) "", 0, LLO_BODY_JSON, 1, 64,
                   LLO_SKIM_ON, 0, 0, &got);
    ck_assert_str_eq(got.error, "empty JSON response");
    llo_t_resp_free(&got);

    /* an empty stream is no error, and not done */
    llo_t_resp_run((const uint8_t *) "", 0, LLO_BODY_SSE, 0, 64,
                   LLO_SKIM_ON, 0, 0, &got);
    ck_assert_str_eq(got.error, "");
    ck_assert_uint_eq(got.events, 0);
    ck_assert_uint_eq(got.done, 0);
    llo_t_resp_free(&got);

    /* bodies that are neither are only counted */
    llo_t_resp_run((const uint8_t *) "<html/>", 7, LLO_BODY_OTHER, 0, 64,
                   LLO_SKIM_ON, 3, 0, &got);
    ck_assert_str_eq(got.error, "");
    ck_assert_uint_eq(got.bytes, 7);
    ck_assert_uint_eq(got.wire_bytes, 7);
    llo_t_resp_free(&got);
}
END_TEST


/*
 * Error messages up to LLO_MSG_STR - 1 bytes are kept whole; longer ones
 * are cut on a character boundary and say so.
 */

START_TEST(test_long_error_message)
{
    int          skim;
    char        *body, *msg;
    size_t       len, n, k, want, split;
    llo_resp_t   got;

    static const struct {
        size_t       len;           /* message bytes */
        const char  *unit;          /* made of this */
    } cases[] = {
        { LLO_MSG_STR - 1, "a" },
        { LLO_MSG_STR, "a" },
        { 3000, "é" },
        { 3000, "😀" },
        { LLO_MSG_STR + 1, "中" },
    };

    for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        n = cases[k].len;
        msg = malloc(n + 1);
        ck_assert_ptr_nonnull(msg);

        for (len = 0; len + strlen(cases[k].unit) <= n;
             len += strlen(cases[k].unit))
        {
            memcpy(msg + len, cases[k].unit, strlen(cases[k].unit));
        }

        n = len;
        msg[n] = '\0';
        want = n < LLO_MSG_STR ? n : llo_t_boundary(msg, n, LLO_MSG_STR - 1);

        body = malloc(n + 1024);
        ck_assert_ptr_nonnull(body);

        /* as a JSON body, and as an SSE error event after some text */

        for (skim = -1; skim <= LLO_SKIM_ON; skim++) {
            if (skim < 0) {
                len = snprintf(body, n + 1024, "{\"error\":{\"message\":"
                               "\"%s\",\"type\":\"server_error\"}}", msg);

            } else {
                len = snprintf(body, n + 1024, LLO_T_EV("\"content\":\"A\"")
                               LLO_T_EV("\"content\":\"B\"")
                               "data: {\"error\":{\"message\":\"%s\","
                               "\"type\":\"server_error\"}}\n\n", msg);
            }

            ck_assert_uint_lt(len, n + 1024);

            for (split = 0; split <= len; split += 97) {
                llo_t_resp_run((const uint8_t *) body, len,
                               skim < 0 ? LLO_BODY_JSON : LLO_BODY_SSE, 0,
                               64, skim < 0 ? LLO_SKIM_ON : skim, split, 0,
                               &got);

                ck_assert_str_eq(got.error, "");
                ck_assert_str_eq(got.error_type.data, "server_error");
                ck_assert_msg(got.error_message.len == want,
                              "%zu-byte message of \"%s\": kept %zu, want "
                              "%zu", n, cases[k].unit,
                              got.error_message.len, want);
                ck_assert_mem_eq(got.error_message.data, msg, want);
                ck_assert_uint_eq(got.error_message.data[want], '\0');
                ck_assert_uint_eq(got.error_message.set, 1);
                ck_assert_uint_eq(got.error_message.truncated, want < n);

                llo_t_resp_free(&got);
            }
        }

        free(body);
        free(msg);
    }
}
END_TEST


START_TEST(test_sse_bad_event)
{
    int                  skim;
    char                 why[LLO_T_WHY];
    size_t               len, bad, split;
    llo_resp_t           one, got, off;
    const char          *body;
    unsigned long long   at;

    body = LLO_T_EV("\"role\":\"assistant\",\"content\":\"\"")
           LLO_T_EV("\"content\":\"A\"")
           "data: {\"id\":\"" LLO_T_CHAT_ID "\",\"object\":\"chat.completion"
           ".chunk\",\"created\":17549x0375,\"model\":\"" LLO_T_MODEL "\","
           "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"C\"}}]}\n\n"
           LLO_T_EV("\"content\":\"D\"")
           LLO_T_EV("\"content\":\"E\"")
           LLO_T_EV_USAGE
           "data: [DONE]\n\n";
    len = strlen(body);
    bad = strstr(body, "x0375") - body;

    llo_t_resp_run((const uint8_t *) body, len, LLO_BODY_SSE, 0, 64,
                   LLO_SKIM_OFF, len, 0, &off);

    at = llo_t_error_at(off.error, "SSE event 3: invalid JSON at byte ");
    ck_assert_msg(at + 2 >= bad && at <= bad + 2, "bad byte %zu: \"%s\"",
                  bad, off.error);
    ck_assert_msg(strstr(off.error, " of response: ") != NULL, "%s",
                  off.error);

    /* the stream goes on after the bad event */
    ck_assert_uint_eq(off.events, 6);
    ck_assert_uint_eq(off.text.len, 3);
    ck_assert_mem_eq(off.text.data, "ADE", 3);
    ck_assert_uint_eq(off.usage, 1);
    ck_assert_int_eq(off.total_tokens, 12);
    ck_assert_uint_eq(off.done, 1);

    for (skim = LLO_SKIM_OFF; skim <= LLO_SKIM_ON; skim++) {
        llo_t_resp_run((const uint8_t *) body, len, LLO_BODY_SSE, 0, 64,
                       skim, len, 0, &one);

        ck_assert_msg(llo_t_resp_diff(&one, &off, LLO_T_CMP_ALL & ~
                                      LLO_T_CMP_SKIMMED, why, sizeof(why))
                      == 0, "skim %d: %s", skim, why);

        for (split = 0; split <= len; split++) {
            llo_t_resp_run((const uint8_t *) body, len, LLO_BODY_SSE, 0, 64,
                           skim, split, 0, &got);
            ck_assert_msg(llo_t_resp_diff(&got, &one, LLO_T_CMP_ALL, why,
                                          sizeof(why)) == 0,
                          "skim %d, split at %zu: %s", skim, split, why);
            llo_t_resp_free(&got);
        }

        llo_t_resp_free(&one);
    }

    llo_t_resp_free(&off);
}
END_TEST


START_TEST(test_invalid_utf8)
{
    int          skim;
    char         why[LLO_T_WHY];
    size_t       len, split;
    llo_resp_t   got, off;
    const char  *body, *text;

    /* JSON: kept byte for byte, never validated */
    body = "{\"id\":\"x\xff\",\"model\":\"m\xc3\",\"choices\":[{\"message\":"
           "{\"content\":\"a\xff\xfe" "b\x80" "c\xe4\xb8\"}}]}";
    text = "a\xff\xfe" "b\x80" "c\xe4\xb8";
    len = strlen(body);

    for (split = 0; split <= len; split++) {
        llo_t_resp_run((const uint8_t *) body, len, LLO_BODY_JSON, 0, 64,
                       LLO_SKIM_ON, split, 0, &got);
        ck_assert_str_eq(got.error, "");
        ck_assert_str_eq(got.id.data, "x\xff");
        ck_assert_str_eq(got.model.data, "m\xc3");
        ck_assert_uint_eq(got.text.len, strlen(text));
        ck_assert_mem_eq(got.text.data, text, strlen(text));
        llo_t_resp_free(&got);
    }

    /* SSE: both paths keep the same bytes */
    body = LLO_T_EV("\"content\":\"ok\"")
           LLO_T_EV("\"content\":\"\xff\xfe\"")
           LLO_T_EV("\"content\":\"\x80\"")
           LLO_T_EV("\"content\":\"\xe4\xb8\"")
           LLO_T_EV("\"content\":\"\xf0\x9f\x98\"")
           LLO_T_EV("\"content\":\"\xc0\xaf\xed\xa0\x80\"")
           "data: [DONE]\n\n";
    text = "ok\xff\xfe\x80\xe4\xb8\xf0\x9f\x98\xc0\xaf\xed\xa0\x80";
    len = strlen(body);

    llo_t_resp_run((const uint8_t *) body, len, LLO_BODY_SSE, 0, 64,
                   LLO_SKIM_OFF, len, 0, &off);
    ck_assert_str_eq(off.error, "");
    ck_assert_uint_eq(off.text.len, strlen(text));
    ck_assert_mem_eq(off.text.data, text, strlen(text));

    for (skim = LLO_SKIM_OFF; skim <= LLO_SKIM_ON; skim++) {
        for (split = 0; split <= len; split += 3) {
            llo_t_resp_run((const uint8_t *) body, len, LLO_BODY_SSE, 0, 64,
                           skim, split, 0, &got);
            ck_assert_msg(llo_t_resp_diff(&got, &off, LLO_T_CMP_BYTES
                                          | LLO_T_CMP_WIRE, why, sizeof(why))
                          == 0, "skim %d, split %zu: %s", skim, split, why);

            if (skim == LLO_SKIM_ON) {
                ck_assert_uint_eq(got.skimmed, 5);
            }

            llo_t_resp_free(&got);
        }

        /* and cut them the same way */
        for (split = 0; split <= strlen(text) + 1; split++) {
            llo_t_resp_run((const uint8_t *) body, len, LLO_BODY_SSE, 0,
                           split, skim, len, 0, &got);
            ck_assert_uint_eq(got.text.len,
                              split < strlen(text)
                              ? llo_utf8_cut(text, split) : strlen(text));
            ck_assert_mem_eq(got.text.data, text, got.text.len);
            llo_t_resp_free(&got);
        }
    }

    llo_t_resp_free(&off);
}
END_TEST


/* {"a":[[[...]]]}: a map and then arrays, "depth" containers in all */

static char *
llo_t_nested(int depth, const char *tail)
{
    int      i;
    char    *s, *p;
    size_t   n;

    n = 5 + 2 * depth + strlen(tail) + 1;
    s = malloc(n);
    ck_assert_ptr_nonnull(s);

    p = s;
    memcpy(p, "{\"a\":", 5);
    p += 5;

    for (i = 1; i < depth; i++) {
        *p++ = '[';
    }

    for (i = 1; i < depth; i++) {
        *p++ = ']';
    }

    *p++ = '}';
    memcpy(p, tail, strlen(tail) + 1);

    return s;
}


START_TEST(test_nesting)
{
    int                  skim;
    char                *body, *sse;
    size_t               len, split, n;
    llo_resp_t           got, one;
    unsigned long long   at;

    /* 64 levels are fine */
    body = llo_t_nested(LLO_MAX_DEPTH, "");
    len = strlen(body);

    llo_t_resp_run((const uint8_t *) body, len, LLO_BODY_JSON, 0, 64,
                   LLO_SKIM_ON, 7, 0, &got);
    ck_assert_str_eq(got.error, "");
    ck_assert_uint_eq(got.done, 1);
    llo_t_resp_free(&got);
    free(body);

    /* 65 are not: the error names the byte of the 65th */
    body = llo_t_nested(LLO_MAX_DEPTH + 1, "");
    len = strlen(body);

    llo_t_resp_run((const uint8_t *) body, len, LLO_BODY_JSON, 0, 64,
                   LLO_SKIM_ON, len, 0, &one);
    at = llo_t_error_at(one.error, "JSON nested deeper than 64 at byte ");
    ck_assert_msg(at >= 4 + LLO_MAX_DEPTH && at <= 5 + LLO_MAX_DEPTH,
                  "%s", one.error);
    ck_assert_msg(strstr(one.error, "of response") != NULL, "%s", one.error);

    for (split = 0; split <= len; split++) {
        llo_t_resp_run((const uint8_t *) body, len, LLO_BODY_JSON, 0, 64,
                       LLO_SKIM_ON, split, 0, &got);
        ck_assert_str_eq(got.error, one.error);
        llo_t_resp_free(&got);
    }

    llo_t_resp_free(&one);
    free(body);

    /* in an SSE event: that event only */
    body = llo_t_nested(200, "");
    n = strlen(body) + 256;
    sse = malloc(n);
    ck_assert_ptr_nonnull(sse);
    snprintf(sse, n, "data: %s\n\n" LLO_T_EV("\"content\":\"Z\"")
             "data: [DONE]\n\n", body);
    len = strlen(sse);

    for (skim = LLO_SKIM_OFF; skim <= LLO_SKIM_ON; skim++) {
        llo_t_resp_run((const uint8_t *) sse, len, LLO_BODY_SSE, 0, 64,
                       skim, 100, 9, &got);
        at = llo_t_error_at(got.error, "SSE event 1: JSON nested deeper "
                            "than 64 at byte ");
        ck_assert_msg(at >= 10 + LLO_MAX_DEPTH && at <= 11 + LLO_MAX_DEPTH,
                      "%s", got.error);
        ck_assert_uint_eq(got.events, 2);
        ck_assert_uint_eq(got.text.len, 1);
        ck_assert_uint_eq(got.done, 1);
        llo_t_resp_free(&got);
    }

    free(sse);
    free(body);
}
END_TEST


/* a stream with one data: line of "big" bytes between two small events */

static char *
llo_t_big_stream(size_t big, int lines, const char *end, size_t *len)
{
    int          i;
    char        *s, *p;
    size_t       n;
    const char  *head, *tail;

    head = LLO_T_EV("\"content\":\"A\"")
           "data: {\"id\":\"big\",\"choices\":[{\"delta\":{\"content\":\"";
    tail = "\"}}]}\n";

    n = strlen(head) + big + lines * 8 + strlen(tail) + strlen(end) + 1;
    s = malloc(n);
    ck_assert_ptr_nonnull(s);

    p = s;
    memcpy(p, head, strlen(head));
    p += strlen(head);

    for (i = 0; i < lines; i++) {
        if (i) {
            memcpy(p, "\ndata: ", 7);
            p += 7;
        }

        memset(p, 'x', big / lines);
        p += big / lines;
    }

    memcpy(p, tail, strlen(tail));
    p += strlen(tail);
    memcpy(p, end, strlen(end) + 1);
    p += strlen(end);

    *len = p - s;

    return s;
}


START_TEST(test_sse_long_line)
{
    int                  skim, k;
    char                *body;
    size_t               len, start, steps[4];
    llo_resp_t           got;
    unsigned long long   at;

    body = llo_t_big_stream(LLO_SSE_MAX_EVENT + LLO_SSE_MAX_EVENT / 2, 1,
                            "\n" LLO_T_EV("\"content\":\"B\"") LLO_T_EV_USAGE
                            "data: [DONE]\n\n", &len);
    start = strstr(body, "data: {\"id\":\"big\"") - body;

    /* 4 KB pieces (what nginx passes), one piece, and a cut just after
     * the long line's start */
    steps[0] = 4096;
    steps[1] = 0;
    steps[2] = 65536;
    steps[3] = 1;

    for (skim = LLO_SKIM_OFF; skim <= LLO_SKIM_ON; skim++) {
        for (k = 0; k < 4; k++) {
            llo_t_resp_run((const uint8_t *) body, len, LLO_BODY_SSE, 0, 64,
                           skim, k == 3 ? start + 10 : steps[k],
                           k == 3 ? 0 : steps[k], &got);

            ck_assert_msg(got.error[0] != '\0', "skim %d, %s: a %zu-byte "
                          "line passed without an error (%u events)", skim,
                          k == 1 ? "one piece"
                          : k == 3 ? "split 10 bytes into the line"
                          : k == 0 ? "4 KB pieces" : "64 KB pieces",
                          (size_t) (strstr(body + start, "\n") - body
                                    - start), got.events);

            at = llo_t_error_at(got.error, "SSE line longer than 1048576 "
                                "bytes at byte ");
            ck_assert_msg(at == start, "pieces %zu: %s (line at %zu)",
                          steps[k], got.error, start);
            ck_assert_uint_eq(got.events, 3);
            ck_assert_uint_eq(got.text.len, 2);
            ck_assert_mem_eq(got.text.data, "AB", 2);
            ck_assert_uint_eq(got.usage, 1);
            ck_assert_uint_eq(got.done, 1);
            llo_t_resp_free(&got);
        }
    }

    free(body);
}
END_TEST


START_TEST(test_sse_big_event)
{
    int                  skim, k;
    char                *body;
    size_t               len, start, steps[3];
    llo_resp_t           got;
    unsigned long long   at;

    /* three data: lines of 400 KB: each line fits, the event does not */
    body = llo_t_big_stream(3 * 400 * 1024, 3,
                            "\n" LLO_T_EV("\"content\":\"B\"") LLO_T_EV_USAGE
                            "data: [DONE]\n\n", &len);
    start = strstr(body, "data: {\"id\":\"big\"") - body + 6;

    steps[0] = 4096;
    steps[1] = 0;
    steps[2] = 1000;

    for (skim = LLO_SKIM_OFF; skim <= LLO_SKIM_ON; skim++) {
        for (k = 0; k < 3; k++) {
            llo_t_resp_run((const uint8_t *) body, len, LLO_BODY_SSE, 0, 64,
                           skim, steps[k], steps[k], &got);

            at = llo_t_error_at(got.error, "SSE event larger than 1048576 "
                                "bytes at byte ");
            ck_assert_msg(at == start, "%s (event at %zu)", got.error, start);
            ck_assert_uint_eq(got.events, 3);
            ck_assert_mem_eq(got.text.data, "AB", 2);
            ck_assert_uint_eq(got.usage, 1);
            ck_assert_uint_eq(got.done, 1);
            llo_t_resp_free(&got);
        }
    }

    free(body);
}
END_TEST


/*
 * A stream that ends inside an event too big to keep: the rest of that
 * event was dropped, so it must not be parsed at the end either, just as
 * the blank line that closes it would not have parsed it.
 */

START_TEST(test_sse_big_event_at_end)
{
    int          k;
    char        *body;
    size_t       len;
    llo_resp_t   got, closed;

    /* ends: data line, newline; the blank line makes it "closed" */
    body = llo_t_big_stream(3 * 400 * 1024, 3, "\n", &len);

    llo_t_resp_run((const uint8_t *) body, len, LLO_BODY_SSE, 0, 64,
                   LLO_SKIM_ON, 4096, 4096, &closed);
    ck_assert_uint_eq(closed.events, 1);

    for (k = 1; k <= 2; k++) {

        /* without the blank line, and without the last newline too */
        llo_t_resp_run((const uint8_t *) body, len - k, LLO_BODY_SSE, 0,
                       64, LLO_SKIM_ON, 4096, 4096, &got);

        ck_assert_str_eq(got.error, closed.error);
        ck_assert_msg(got.events == closed.events, "%d bytes short: %u "
                      "events, %u when closed", k, got.events,
                      closed.events);

        llo_t_resp_free(&got);
    }

    llo_t_resp_free(&closed);
    free(body);
}
END_TEST


/* -- llo_utf8_cut ---------------------------------------------------------- */


START_TEST(test_utf8_cut)
{
    size_t       i, len;
    const char  *s;

    static const struct {
        const char  *s;
        size_t       len;
        size_t       cut;
    } cases[] = {
        { "", 0, 0 },
        { "a", 1, 1 },
        { "abc", 3, 3 },
        { "é", 2, 2 },
        { "é", 1, 0 },
        { "aé", 2, 1 },
        { "中", 3, 3 },
        { "中", 2, 0 },
        { "中", 1, 0 },
        { "a中", 3, 1 },
        { "a中", 2, 1 },
        { "😀", 4, 4 },
        { "😀", 3, 0 },
        { "😀", 2, 0 },
        { "😀", 1, 0 },
        { "ab😀", 5, 2 },
        { "ab😀", 4, 2 },
        { "ab😀", 3, 2 },
        { "😀😀", 7, 4 },
        { "éé", 4, 4 },
        { "éé", 3, 2 },
        /* not UTF-8: stray continuation bytes are not ours to drop */
        { "\x80\x80", 2, 2 },
        { "a\x80", 2, 2 },
        { "a\x80\x80\x80\x80", 5, 5 },
        { "\xf0\x9f\x98\x80\x80", 5, 5 },
        /* a lead byte that cannot start anything at the end goes */
        { "a\xff", 2, 1 },
        { "a\xc3", 2, 1 },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_msg(llo_utf8_cut(cases[i].s, cases[i].len)
                      == cases[i].cut, "case %zu: cut(\"%s\", %zu) = %zu, "
                      "want %zu", i, cases[i].s, cases[i].len,
                      llo_utf8_cut(cases[i].s, cases[i].len), cases[i].cut);
    }

    /* every prefix of valid text ends on a character boundary */
    s = LLO_T_STREAM_TEXT LLO_T_REQ_TEXT;
    len = strlen(s);

    for (i = 0; i <= len; i++) {
        ck_assert_uint_eq(llo_utf8_cut(s, i), llo_t_boundary(s, len, i));
    }
}
END_TEST


/* -- the micro-benchmark (LLO_BENCH=1) ------------------------------------- */


static double
llo_t_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


/*
 * A 200-event stream of the common OpenAI shape (role chunk, content
 * deltas with "usage":null and "obfuscation", finish, usage), fed in 4 KB
 * pieces as nginx passes them, parsed 2000 times each way.  "yajl only"
 * is the floor for a yajl-per-event design: the events pre-split, one
 * yajl handle per event, no callbacks.
 */

static void
llo_t_bench(void)
{
    int                 i, k, mode, iters, nev;
    char                obf[40];
    size_t              len, n, pos, off[256], elen[256];
    double              t, mbs[3];
    uint32_t            events, skimmed;
    llo_t_buf_t         body;
    yajl_handle         h;
    yajl_callbacks      none;
    llo_resp_parser_t  *p;

    static const char  *words[] = { "The", " quick", " brown", " fox",
                                    " jumps", " over", " the", " lazy",
                                    " dog", ".", " 你好", " café", "\\n",
                                    " \\\"q\\\"", " 🚀" };
    static const char  *names[] = { "skim on", "skim off (llo yajl)",
                                    "yajl only, per event" };

    memset(&body, 0, sizeof(llo_t_buf_t));
    memset(&none, 0, sizeof(yajl_callbacks));

    iters = 2000;
    nev = 200;

    for (i = 0; i < nev; i++) {
        for (k = 0, n = 10 + llo_t_rn(24); k < (int) n; k++) {
            obf[k] = "abcdefghijKLMNOPQRST0123456789"[llo_t_rn(30)];
        }

        obf[n] = '\0';

        llo_t_buf_str(&body, "data: ");
        off[i] = body.len;

        llo_t_buf_str(&body, "{\"id\":\"" LLO_T_CHAT_ID "\",\"object\":"
                      "\"chat.completion.chunk\",\"created\":1754910375,"
                      "\"model\":\"" LLO_T_MODEL "\",\"choices\":[");

        if (i == 0) {
            llo_t_buf_str(&body, "{\"index\":0,\"delta\":{\"role\":"
                          "\"assistant\",\"content\":\"\",\"refusal\":null},"
                          "\"logprobs\":null,\"finish_reason\":null}],"
                          "\"usage\":null");

        } else if (i == nev - 2) {
            llo_t_buf_str(&body, "{\"index\":0,\"delta\":{},\"logprobs\":"
                          "null,\"finish_reason\":\"stop\"}],\"usage\":null");

        } else if (i == nev - 1) {
            llo_t_buf_str(&body, "],\"usage\":{\"prompt_tokens\":1187,"
                          "\"completion_tokens\":198,\"total_tokens\":1385,"
                          "\"prompt_tokens_details\":{\"cached_tokens\":"
                          "1024,\"audio_tokens\":0},"
                          "\"completion_tokens_details\":"
                          "{\"reasoning_tokens\":0,\"audio_tokens\":0}}");

        } else {
            llo_t_buf_fmt(&body, "{\"index\":0,\"delta\":{\"content\":"
                          "\"%s\"},\"logprobs\":null,\"finish_reason\":"
                          "null}],\"usage\":null", words[i % 15]);
        }

        llo_t_buf_fmt(&body, ",\"obfuscation\":\"%s\"}", obf);
        elen[i] = body.len - off[i];
        llo_t_buf_str(&body, "\n\n");
    }

    llo_t_buf_str(&body, "data: [DONE]\n\n");
    len = body.len;

    printf("benchmark: %zu-byte stream, %d events, 4096-byte pieces, "
           "%d runs each\n", len, nev, iters);

    for (mode = 0; mode < 3; mode++) {
        events = 0;
        skimmed = 0;
        t = llo_t_now();

        for (i = 0; i < iters; i++) {

            if (mode == 2) {
                for (k = 0; k < nev; k++) {
                    h = yajl_alloc(&none, NULL, NULL);
                    yajl_config(h, yajl_dont_validate_strings, 1);

                    if (yajl_parse(h, body.data + off[k], elen[k])
                        == yajl_status_ok
                        && yajl_complete_parse(h) == yajl_status_ok)
                    {
                        events++;
                    }

                    yajl_free(h);
                }

                continue;
            }

            p = llo_resp_create(LLO_BODY_SSE, 0, 65536,
                                mode == 0 ? LLO_SKIM_ON : LLO_SKIM_OFF);

            for (pos = 0; pos < len; pos += n) {
                n = len - pos < 4096 ? len - pos : 4096;
                llo_resp_feed(p, body.data + pos, n);
            }

            llo_resp_finish(p);
            events += llo_resp_result(p)->events;
            skimmed += llo_resp_result(p)->skimmed;
            llo_resp_destroy(p);
        }

        t = llo_t_now() - t;
        mbs[mode] = (double) len * iters / t / 1e6;

        printf("  %-22s %8.1f MB/s  %6.2f us/stream  events %u, "
               "skimmed %u\n", names[mode], mbs[mode], t / iters * 1e6,
               events / iters, skimmed / iters);
    }

    printf("  skim on is %.1fx skim off\n", mbs[0] / mbs[1]);

    free(body.data);
}


/* -- the runner ------------------------------------------------------------ */


static Suite *
llo_t_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("llo_parse");

    tc = tcase_create("fixtures");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_fixture_expected, 0, LLO_T_NFIXTURES);
    tcase_add_loop_test(tc, test_fixture_splits, 0, LLO_T_NFIXTURES);
    tcase_add_loop_test(tc, test_fixture_gzip, 0, LLO_T_NFIXTURES);
    tcase_add_loop_test(tc, test_truncate_response, 0, LLO_T_NFIXTURES);
    suite_add_tcase(s, tc);

    tc = tcase_create("skim");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_skim_parity_fixtures);
    tcase_add_test(tc, test_skim_fast_path_ran);
    tcase_add_test(tc, test_skim_random);
    tcase_add_test(tc, test_skim_numeric_id);
    suite_add_tcase(s, tc);

    tc = tcase_create("request");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_request_fixture);
    tcase_add_test(tc, test_request_truncate);
    tcase_add_test(tc, test_request_other_shapes);
    tcase_add_test(tc, test_request_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("bad input");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_gzip_corrupt);
    tcase_add_loop_test(tc, test_bad_json, 0,
                        sizeof(llo_t_bad_json) / sizeof(llo_t_bad_json[0]));
    tcase_add_test(tc, test_bytes_after_error);
    tcase_add_test(tc, test_truncated_json);
    tcase_add_test(tc, test_empty_bodies);
    tcase_add_test(tc, test_long_error_message);
    tcase_add_test(tc, test_sse_bad_event);
    tcase_add_test(tc, test_invalid_utf8);
    tcase_add_test(tc, test_nesting);
    tcase_add_test(tc, test_sse_long_line);
    tcase_add_test(tc, test_sse_big_event);
    tcase_add_test(tc, test_sse_big_event_at_end);
    suite_add_tcase(s, tc);

    tc = tcase_create("utf8");
    tcase_add_test(tc, test_utf8_cut);
    suite_add_tcase(s, tc);

    return s;
}


int
main(void)
{
    int       failed;
    char     *bench;
    SRunner  *sr;

    bench = getenv("LLO_BENCH");

    if (bench && strcmp(bench, "1") == 0) {
        llo_t_bench();
        return 0;
    }

    sr = srunner_create(llo_t_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
