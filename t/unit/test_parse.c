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
 * The fixtures of t/fixtures/providers (OpenAI, Anthropic, Gemini; see
 * their README) are fed the same ways, and must give the facts of their
 * .meta files, text included, through res.text and llo_resp_on_text().
 *
 * LLO_BENCH=1 runs a micro-benchmark instead of the tests.
 */

#include <check.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yajl/yajl_parse.h>
#include <zlib.h>

#include "check_main.h"
#include "llo_parse.h"
#include "llo_api.h"


#ifndef LLO_FIXTURES
#define LLO_FIXTURES            "t/unit/fixtures"
#endif

#ifndef LLO_PROVIDERS
#define LLO_PROVIDERS           "t/fixtures/providers"
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
    int                 api;
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
    size_t              finish_end;     /* of the first finish */
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
static void llo_t_on_text(void *data, const uint8_t *s, size_t len);
static void llo_t_resp_run(const uint8_t *data, size_t len, int body,
    int gzip, size_t max_text, int skim, size_t split, size_t step,
    llo_resp_t *out);
static void llo_t_resp_run_api(int api, const uint8_t *data, size_t len,
    int body, int gzip, size_t max_text, int skim, size_t split, size_t step,
    llo_t_buf_t *on, llo_resp_t *out);
static void llo_t_resp_free(llo_resp_t *r);
static void llo_t_req_run(int api, const uint8_t *data, size_t len,
    size_t max_text, size_t split, size_t step, llo_req_t *out);
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
static size_t llo_t_finish_end(const uint8_t *data, size_t len);
static void llo_t_expected(const llo_t_fixture_t *fx, const uint8_t *data,
    size_t len, llo_resp_t *r);
static void llo_t_check_splits(int api, const uint8_t *data, size_t len,
    int body, int gzip, size_t max_text, int skim, const llo_resp_t *want,
    int flags, const char *what);
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
static int llo_t_has(const uint8_t *d, size_t len, const char *s);
static uint64_t llo_t_count_bytes(void *data, const uint8_t *s, size_t len);
static uint64_t llo_t_count_words(void *data, const uint8_t *s, size_t len);
static double llo_t_now(void);
static void llo_t_bench(void);


static const llo_t_fixture_t  llo_t_fixtures[] = {

    { "chat_nonstream.json", LLO_BODY_JSON, LLO_API_CHAT,
      "chatcmpl-C3LmQ8rXh2VdN5kT0aJpW7yF4sEo1", "o4-mini-2025-04-16",
      "stop", NULL, NULL, 1342, 412, 1754, 1152, 384, 1, 1, 0, 0,
      "The capital of France is **Paris**.\n\n- Population: ~2.1 million "
      "(city proper)\n- Known for: the Eiffel Tower, the Louvre, café "
      "culture ☕\n- In Chinese: 巴黎 🇫🇷\n\nAs the saying goes, \"Paris "
      "is always a good idea.\"" },

    { "completions_legacy.json", LLO_BODY_JSON, LLO_API_COMPLETIONS,
      "cmpl-9Kx2fW0aQpL7mZr3TbVn8YcE", "gpt-3.5-turbo-instruct",
      "length", NULL, NULL, 5, 7, 12, -1, -1, 1, 1, 0, 0,
      "\n\nThis is indeed a test" },

    { "error_model_not_found.json", LLO_BODY_JSON, LLO_API_CHAT,
      NULL, NULL, NULL, "invalid_request_error",
      "The model `gpt-5-turbo` does not exist or you do not have access "
      "to it.", -1, -1, -1, -1, -1, 0, 1, 0, 0, "" },

    /* a message longer than LLO_SMALL_STR, kept whole */
    { "error_rate_limit.json", LLO_BODY_JSON, LLO_API_CHAT,
      NULL, NULL, NULL, "tokens",
      "Rate limit reached for gpt-4o in organization "
      "org-Xq7ZpL2mN8vR4tK1wY6bJ3cD on tokens per min (TPM): Limit 30000, "
      "Used 29812, Requested 1454. Please try again in 2.532s. Visit "
      "https://platform.openai.com/account/rate-limits to learn more.",
      -1, -1, -1, -1, -1, 0, 1, 0, 0, "" },

    { "chat_stream.sse", LLO_BODY_SSE, LLO_API_CHAT,
      LLO_T_CHAT_ID, LLO_T_MODEL, "stop", NULL, NULL,
      1187, 31, 1218, 1024, 0, 1, 1, 24, 19, LLO_T_STREAM_TEXT },

    { "chat_stream_crlf.sse", LLO_BODY_SSE, LLO_API_CHAT,
      LLO_T_CHAT_ID, LLO_T_MODEL, "stop", NULL, NULL,
      1187, 31, 1218, 1024, 0, 1, 1, 24, 19, LLO_T_STREAM_TEXT },

    /* "most" of the 21 content deltas must take the fast path */
    { "chat_stream_obf.sse", LLO_BODY_SSE, LLO_API_CHAT,
      LLO_T_CHAT_ID, LLO_T_MODEL, "stop", NULL, NULL,
      1187, 31, 1218, 1024, 0, 1, 1, 24, 11, LLO_T_STREAM_TEXT },

    { "chat_stream_nousage.sse", LLO_BODY_SSE, LLO_API_CHAT,
      LLO_T_CHAT_ID, LLO_T_MODEL, "stop", NULL, NULL,
      -1, -1, -1, -1, -1, 0, 1, 8, 0, "Hello, world! 你好，世界" },

    { "chat_stream_error.sse", LLO_BODY_SSE, LLO_API_CHAT,
      LLO_T_CHAT_ID, LLO_T_MODEL, NULL, "server_error",
      "The server had an error while processing your request. Sorry "
      "about that!", -1, -1, -1, -1, -1, 0, 0, 6, 0, "Hello, world!" },

    { "chat_stream_comments.sse", LLO_BODY_SSE, LLO_API_CHAT,
      LLO_T_CHAT_ID, LLO_T_MODEL, "stop", NULL, NULL,
      -1, -1, -1, -1, -1, 0, 1, 5, 0, "Hello, world" },

    { "chat_stream_multiline.sse", LLO_BODY_SSE, LLO_API_CHAT,
      "chatcmpl-ml7Q", LLO_T_MODEL, "length", NULL, NULL,
      12, 2, 14, -1, -1, 1, 1, 3, 0, "multi-line" },

    { "completions_stream.sse", LLO_BODY_SSE, LLO_API_COMPLETIONS,
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


/* every piece llo_resp_on_text() hands over, appended */

static void
llo_t_on_text(void *data, const uint8_t *s, size_t len)
{
    ck_assert_uint_gt(len, 0);
    llo_t_buf_add(data, s, len);
}


/* an OpenAI chat stream or body, as most tests here feed */

static void
llo_t_resp_run(const uint8_t *data, size_t len, int body, int gzip,
    size_t max_text, int skim, size_t split, size_t step, llo_resp_t *out)
{
    llo_t_resp_run_api(LLO_API_CHAT, data, len, body, gzip, max_text, skim,
                       split, step, NULL, out);
}


/* on: when not NULL, gets the pieces of llo_resp_on_text() */

static void
llo_t_resp_run_api(int api, const uint8_t *data, size_t len, int body,
    int gzip, size_t max_text, int skim, size_t split, size_t step,
    llo_t_buf_t *on, llo_resp_t *out)
{
    llo_resp_t         *r;
    llo_resp_parser_t  *p;

    p = llo_resp_create(api, body, gzip, max_text, skim);
    ck_assert_ptr_nonnull(p);

    if (on) {
        on->len = 0;
        llo_t_buf_add(on, "", 0);
        llo_resp_on_text(p, llo_t_on_text, on);
    }

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
llo_t_req_run(int api, const uint8_t *data, size_t len, size_t max_text,
    size_t split, size_t step, llo_req_t *out)
{
    llo_req_t         *r;
    llo_req_parser_t  *p;

    p = llo_req_create(api, max_text);
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
    llo_t_num_diff(cache_creation_tokens);
    llo_t_num_diff(reasoning_tokens);
    llo_t_num_diff(finish_end);
    llo_t_num_diff(events);
    llo_t_num_diff(usage);
    llo_t_num_diff(done);
    llo_t_num_diff(tool_calls);
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
    if (llo_t_sstr_diff("model", &a->model, &b->model, why, size)
        || llo_t_sstr_diff("response_format", &a->response_format,
                           &b->response_format, why, size))
    {
        return -1;
    }

    llo_t_num_diff(stream);
    llo_t_num_diff(include_usage);
    llo_t_num_diff(max_tokens);
    llo_t_num_diff(messages);
    llo_t_num_diff(stream_options);
    llo_t_num_diff(count_trunc);
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


/*
 * SSE: the end of the blank line after the first event with a
 * "finish_reason" string, found without the parser; 0 for none.
 */

static size_t
llo_t_finish_end(const uint8_t *data, size_t len)
{
    size_t          pos, ev, n;
    const uint8_t  *nl;

    ev = 0;

    for (pos = 0; pos < len; pos += n + 1) {
        nl = memchr(data + pos, '\n', len - pos);
        n = nl ? (size_t) (nl - (data + pos)) : len - pos;

        if (n == 0 || (n == 1 && data[pos] == '\r')) {
            if (llo_t_has(data + ev, pos - ev, "\"finish_reason\":\"")) {
                return pos + n + 1;
            }

            ev = pos + n + 1;
        }
    }

    if (ev < len && llo_t_has(data + ev, len - ev, "\"finish_reason\":\"")) {
        return len;
    }

    return 0;
}


static void
llo_t_expected(const llo_t_fixture_t *fx, const uint8_t *data, size_t len,
    llo_resp_t *r)
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
    r->cache_creation_tokens = -1;
    r->reasoning_tokens = fx->reasoning;
    r->finish_end = fx->body == LLO_BODY_SSE ? llo_t_finish_end(data, len)
                                             : 0;
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
llo_t_check_splits(int api, const uint8_t *data, size_t len, int body,
    int gzip, size_t max_text, int skim, const llo_resp_t *want, int flags,
    const char *what)
{
    size_t      split;
    char        why[LLO_T_WHY];
    llo_resp_t  got;

    llo_t_resp_run_api(api, data, len, body, gzip, max_text, skim, len, 0,
                       NULL, &got);
    ck_assert_msg(llo_t_resp_diff(&got, want, flags, why, sizeof(why)) == 0,
                  "%s, skim %d, one piece: %s", what, skim, why);
    llo_t_resp_free(&got);

    llo_t_resp_run_api(api, data, len, body, gzip, max_text, skim, 0, 1, NULL,
                       &got);
    ck_assert_msg(llo_t_resp_diff(&got, want, flags, why, sizeof(why)) == 0,
                  "%s, skim %d, byte by byte: %s", what, skim, why);
    llo_t_resp_free(&got);

    for (split = 0; split <= len; split++) {
        llo_t_resp_run_api(api, data, len, body, gzip, max_text, skim, split,
                           0, NULL, &got);
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
    llo_t_expected(fx, data, len, &want);

    for (skim = LLO_SKIM_OFF; skim <= LLO_SKIM_ON; skim++) {
        llo_t_resp_run_api(fx->api, data, len, fx->body, 0, LLO_T_MAX_TEXT,
                           skim, len, 0, NULL, &got);

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
    llo_t_expected(fx, data, len, &want);

    for (skim = LLO_SKIM_OFF; skim <= LLO_SKIM_ON; skim++) {

        /* the hand-written values, skimmed aside ... */
        llo_t_check_splits(fx->api, data, len, fx->body, 0, LLO_T_MAX_TEXT,
                           skim, &want, LLO_T_CMP_BYTES | LLO_T_CMP_WIRE,
                           fx->file);

        /* ... and the one-piece result, skimmed included */
        llo_t_resp_run_api(fx->api, data, len, fx->body, 0, LLO_T_MAX_TEXT,
                           skim, len, 0, NULL, &one);
        llo_t_check_splits(fx->api, data, len, fx->body, 0, LLO_T_MAX_TEXT,
                           skim, &one, LLO_T_CMP_ALL, fx->file);
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

    llo_t_expected(fx, data, len, &want);
    want.wire_bytes = zlen;

    for (skim = LLO_SKIM_OFF; skim <= LLO_SKIM_ON; skim++) {
        llo_t_check_splits(fx->api, z, zlen, fx->body, 1, LLO_T_MAX_TEXT,
                           skim, &want, LLO_T_CMP_BYTES | LLO_T_CMP_WIRE,
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
            llo_t_resp_run_api(fx->api, data, len, LLO_BODY_SSE, 0,
                               LLO_T_MAX_TEXT, LLO_SKIM_ON, step, step, NULL,
                               &on);
            llo_t_resp_run_api(fx->api, data, len, LLO_BODY_SSE, 0,
                               LLO_T_MAX_TEXT, LLO_SKIM_OFF, step, step, NULL,
                               &off);

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

        if (g->finish[0] && g->finish_end == 0) {
            g->finish_end = g->body.len;
        }
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

    /* an event the body ends in ends with the body */
    if (g->finish_end > g->body.len) {
        g->finish_end = g->body.len;
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
    r->cache_creation_tokens = -1;
    r->reasoning_tokens = g->tok[4];
    r->finish_end = g->finish_end;
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
            llo_t_expected(fx, data, len, &want);
            want.text.len = llo_t_boundary(fx->text, tlen, cap);
            want.text.truncated = tlen > cap;

            llo_t_resp_run_api(fx->api, data, len, fx->body, 0, cap, skim,
                               len, 0, NULL, &got);
            ck_assert_msg(llo_t_resp_diff(&got, &want,
                                          LLO_T_CMP_BYTES | LLO_T_CMP_WIRE,
                                          why, sizeof(why)) == 0,
                          "%s, skim %d, max_text %zu: %s", fx->file, skim,
                          cap, why);
            llo_t_resp_free(&got);

            llo_t_resp_run_api(fx->api, data, len, fx->body, 0, cap, skim,
                               cap * 7 % len, 13, NULL, &got);
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
            llo_t_resp_run_api(fx->api, data, len, fx->body, 0, cap,
                               LLO_SKIM_ON, len, 0, NULL, &got);
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
    r->messages = 6;
    r->stream_options = 1;
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

    llo_t_req_run(LLO_API_CHAT, data, len, LLO_T_MAX_TEXT, 0, 1, &got);
    ck_assert_msg(llo_t_req_diff(&got, &want, why, sizeof(why)) == 0,
                  "byte by byte: %s", why);
    free(got.text.data);

    for (split = 0; split <= len; split++) {
        llo_t_req_run(LLO_API_CHAT, data, len, LLO_T_MAX_TEXT, split, 0, &got);
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

        llo_t_req_run(LLO_API_CHAT, data, len, cap, len, 0, &got);
        ck_assert_msg(llo_t_req_diff(&got, &want, why, sizeof(why)) == 0,
                      "max_text %zu: %s", cap, why);
        free(got.text.data);

        llo_t_req_run(LLO_API_CHAT, data, len, cap, cap % len, 11, &got);
        ck_assert_msg(llo_t_req_diff(&got, &want, why, sizeof(why)) == 0,
                      "max_text %zu, pieces: %s", cap, why);
        free(got.text.data);
    }

    pos = strstr(text, "🚀") - text;

    for (cap = pos + 1; cap < pos + 4; cap++) {
        llo_t_req_run(LLO_API_CHAT, data, len, cap, len, 0, &got);
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

    llo_t_req_run(LLO_API_COMPLETIONS, (const uint8_t *) body, len, 1024,
                  len, 0, &got);
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

    llo_t_req_run(LLO_API_EMBEDDINGS, (const uint8_t *) body, len, 1024, 3,
                  5, &got);
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

    llo_t_req_run(LLO_API_CHAT, (const uint8_t *) body, len, 0, len, 0, &got);
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

    llo_t_req_run(LLO_API_CHAT, (const uint8_t *) body, len, 64, len, 0, &one);
    at = llo_t_error_at(one.error, "invalid JSON at byte ");
    ck_assert_msg(at >= 24 && at <= 26, "error at %llu: %s", at, one.error);
    ck_assert_msg(strstr(one.error, " of request: ") != NULL, "%s",
                  one.error);
    ck_assert_str_eq(one.model.data, "gpt-4o");
    ck_assert_int_eq(one.stream, -1);

    for (split = 0; split <= len; split++) {
        llo_t_req_run(LLO_API_CHAT, (const uint8_t *) body, len, 64, split,
                      0, &got);
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
        llo_t_req_run(LLO_API_CHAT, data, cut, 64, cut / 2, 0, &got);
        snprintf(err, sizeof(err), "request JSON ends early at byte %zu",
                 cut);
        ck_assert_str_eq(got.error, err);
        free(got.text.data);
    }

    free(data);

    /* empty */
    llo_t_req_run(LLO_API_CHAT, (const uint8_t *) "", 0, 64, 0, 0, &got);
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

    llo_t_req_run(LLO_API_CHAT, (const uint8_t *) body, len, 64, 50, 1, &got);
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


/* -- SHA-256, for the text_sha256 of the provider fixtures ---------------- */


static const uint32_t  llo_t_k256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};


#define llo_t_ror(x, n)  (((x) >> (n)) | ((x) << (32 - (n))))


static void
llo_t_sha256_block(uint32_t *h, const uint8_t *b)
{
    int       i;
    uint32_t  w[64], v[8], t1, t2;

    for (i = 0; i < 16; i++) {
        w[i] = (uint32_t) b[4 * i] << 24 | (uint32_t) b[4 * i + 1] << 16
               | (uint32_t) b[4 * i + 2] << 8 | b[4 * i + 3];
    }

    for (i = 16; i < 64; i++) {
        w[i] = w[i - 16] + w[i - 7]
               + (llo_t_ror(w[i - 15], 7) ^ llo_t_ror(w[i - 15], 18)
                  ^ (w[i - 15] >> 3))
               + (llo_t_ror(w[i - 2], 17) ^ llo_t_ror(w[i - 2], 19)
                  ^ (w[i - 2] >> 10));
    }

    memcpy(v, h, sizeof(v));

    for (i = 0; i < 64; i++) {
        t1 = v[7] + (llo_t_ror(v[4], 6) ^ llo_t_ror(v[4], 11)
                     ^ llo_t_ror(v[4], 25))
             + ((v[4] & v[5]) ^ (~v[4] & v[6])) + llo_t_k256[i] + w[i];
        t2 = (llo_t_ror(v[0], 2) ^ llo_t_ror(v[0], 13) ^ llo_t_ror(v[0], 22))
             + ((v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]));

        memmove(v + 1, v, 7 * sizeof(uint32_t));
        v[4] += t1;
        v[0] = t1 + t2;
    }

    for (i = 0; i < 8; i++) {
        h[i] += v[i];
    }
}


static void
llo_t_sha256(const void *data, size_t len, char hex[65])
{
    int             i;
    size_t          n;
    uint8_t         last[128];
    uint32_t        h[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                             0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
    uint64_t        bits;
    const uint8_t  *d;

    d = data;

    for (n = len; n >= 64; n -= 64, d += 64) {
        llo_t_sha256_block(h, d);
    }

    memset(last, 0, sizeof(last));
    memcpy(last, d, n);
    last[n] = 0x80;

    bits = (uint64_t) len * 8;
    n = n < 56 ? 64 : 128;

    for (i = 0; i < 8; i++) {
        last[n - 1 - i] = (uint8_t) (bits >> (8 * i));
    }

    llo_t_sha256_block(h, last);

    if (n == 128) {
        llo_t_sha256_block(h, last + 64);
    }

    for (i = 0; i < 8; i++) {
        snprintf(hex + 8 * i, 9, "%08x", h[i]);
    }
}


/* -- provider fixtures (t/fixtures/providers, see its README) ------------ */


#define LLO_T_META_KEYS         48
#define LLO_T_META_VAL          2200


typedef struct {
    int                 n;
    char                key[LLO_T_META_KEYS][48];
    char                val[LLO_T_META_KEYS][LLO_T_META_VAL];
} llo_t_meta_t;


typedef struct {
    const char         *name;
    llo_t_meta_t       *meta;
    uint8_t            *body;
    size_t              len;
    uint8_t            *req;
    size_t              req_len;
    int                 api;
    int                 provider;
    int                 kind;           /* LLO_BODY_* */
} llo_t_prov_t;


/* a fixture the directory lacks fails the test: none is skipped */

static const char  *llo_t_providers[] = {
    "openai_chat_stream_usage",
    "openai_chat_stream_nousage",
    "openai_chat_nonstream",
    "openai_chat_json_schema",
    "openai_completions",
    "openai_embeddings",
    "openai_error",
    "openai_responses",
    "openai_responses_stream",
    "openai_responses_stream_tool",
    "openai_responses_stream_incomplete",
    "anthropic_messages",
    "anthropic_messages_stream",
    "anthropic_messages_stream_tool",
    "anthropic_messages_stream_overloaded",
    "anthropic_error",
    "gemini_generate",
    "gemini_generate_json",
    "gemini_stream_sse",
    "gemini_stream_json",
    "gemini_error",
    "mistral_chat_stream",
    "groq_chat_stream",
    "groq_chat_nonstream",
    "deepseek_chat_stream",
    "deepseek_reasoner_nonstream",
    "vllm_chat_stream_usage",
    "vllm_chat_nonstream",
    "ollama_chat_stream_nousage",
    "azure_chat_stream",
};

#define LLO_T_NPROVIDERS                                                      \
    (int) (sizeof(llo_t_providers) / sizeof(llo_t_providers[0]))


static int
llo_t_has(const uint8_t *d, size_t len, const char *s)
{
    size_t  i, n;

    n = strlen(s);

    for (i = 0; i + n <= len; i++) {
        if (memcmp(d + i, s, n) == 0) {
            return 1;
        }
    }

    return 0;
}


static const char *
llo_t_meta_get(const llo_t_meta_t *m, const char *key)
{
    int  i;

    for (i = 0; i < m->n; i++) {
        if (strcmp(m->key[i], key) == 0) {
            return m->val[i];
        }
    }

    return NULL;
}


static int64_t
llo_t_meta_int(const llo_t_meta_t *m, const char *key, int64_t dflt)
{
    const char  *v;

    v = llo_t_meta_get(m, key);

    return v ? strtoll(v, NULL, 10) : dflt;
}


static int
llo_t_api_by_name(const char *name)
{
    int  api;

    for (api = LLO_API_UNKNOWN; api <= LLO_API_GEMINI; api++) {
        if (strcmp(llo_api_name(api), name) == 0) {
            return api;
        }
    }

    ck_abort_msg("unknown api \"%s\"", name);

    return -1;
}


static int
llo_t_provider_by_name(const char *name)
{
    int  prov;

    for (prov = LLO_PROV_UNKNOWN; prov < LLO_PROV_N; prov++) {
        if (strcmp(llo_provider_name(prov), name) == 0) {
            return prov;
        }
    }

    ck_abort_msg("unknown provider \"%s\"", name);

    return -1;
}


static uint8_t *
llo_t_read_path(const char *path, size_t *len)
{
    long      n;
    FILE     *f;
    uint8_t  *data;

    f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open fixture \"%s\"", path);

    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    ck_assert_int_ge(n, 0);
    rewind(f);

    data = malloc(n + 1);
    ck_assert_ptr_nonnull(data);
    ck_assert_uint_eq(fread(data, 1, n, f), (size_t) n);
    data[n] = '\0';
    fclose(f);

    *len = n;

    return data;
}


static void
llo_t_prov_load(const char *name, llo_t_prov_t *pv)
{
    char     path[1024], *line, *eq, *nl;
    size_t   n;
    uint8_t  *meta;

    memset(pv, 0, sizeof(llo_t_prov_t));
    pv->name = name;

    pv->meta = calloc(1, sizeof(llo_t_meta_t));
    ck_assert_ptr_nonnull(pv->meta);

    snprintf(path, sizeof(path), "%s/%s.meta", LLO_PROVIDERS, name);
    meta = llo_t_read_path(path, &n);

    for (line = (char *) meta; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        ck_assert_msg(nl != NULL, "%s: last line without a newline", path);
        *nl = '\0';

        eq = strchr(line, '=');
        ck_assert_msg(eq != NULL, "%s: \"%s\" is not key=value", path, line);
        ck_assert_int_lt(pv->meta->n, LLO_T_META_KEYS);
        ck_assert_uint_lt((size_t) (eq - line), 48);
        ck_assert_uint_lt(strlen(eq + 1), LLO_T_META_VAL);

        *eq = '\0';
        strcpy(pv->meta->key[pv->meta->n], line);
        strcpy(pv->meta->val[pv->meta->n], eq + 1);
        pv->meta->n++;
    }

    free(meta);

    snprintf(path, sizeof(path), "%s/%s.body", LLO_PROVIDERS, name);
    pv->body = llo_t_read_path(path, &pv->len);

    snprintf(path, sizeof(path), "%s/%s.request", LLO_PROVIDERS, name);
    pv->req = llo_t_read_path(path, &pv->req_len);

    pv->api = llo_t_api_by_name(llo_t_meta_get(pv->meta, "api"));
    pv->provider =
        llo_t_provider_by_name(llo_t_meta_get(pv->meta, "provider"));
    pv->kind = strncmp(llo_t_meta_get(pv->meta, "content_type"),
                       "text/event-stream", 17) == 0
               ? LLO_BODY_SSE : LLO_BODY_JSON;
}


static void
llo_t_prov_free(llo_t_prov_t *pv)
{
    free(pv->meta);
    free(pv->body);
    free(pv->req);
}


/*
 * A result against the fixture's facts.  on: every piece of text the
 * parser handed over; finish_end: what it must be, or -1 for the meta's.
 */

static int
llo_t_prov_diff(const llo_t_prov_t *pv, const llo_resp_t *r,
    const llo_t_buf_t *on, int64_t finish_end, char *why, size_t size)
{
    int                 i, usage;
    char                sha[65];
    size_t              tlen;
    int64_t             got, exp;
    llo_sstr_t          s;
    llo_mstr_t          ms;
    const char         *want;
    const llo_t_meta_t *m;

    static const struct {
        const char  *key;
        size_t       off;
    } counts[] = {
        { "prompt_tokens", offsetof(llo_resp_t, prompt_tokens) },
        { "completion_tokens", offsetof(llo_resp_t, completion_tokens) },
        { "total_tokens", offsetof(llo_resp_t, total_tokens) },
        { "cached_tokens", offsetof(llo_resp_t, cached_tokens) },
        { "cache_creation_tokens",
          offsetof(llo_resp_t, cache_creation_tokens) },
        { "reasoning_tokens", offsetof(llo_resp_t, reasoning_tokens) },
    };

    m = pv->meta;

    llo_t_sstr(&s, llo_t_meta_get(m, "response_id"));
    if (llo_t_sstr_diff("id", &r->id, &s, why, size)) {
        return -1;
    }

    llo_t_sstr(&s, llo_t_meta_get(m, "model"));
    if (llo_t_sstr_diff("model", &r->model, &s, why, size)) {
        return -1;
    }

    llo_t_sstr(&s, llo_t_meta_get(m, "finish_reason"));
    if (llo_t_sstr_diff("finish_reason", &r->finish_reason, &s, why, size)) {
        return -1;
    }

    llo_t_sstr(&s, llo_t_meta_get(m, "error_type"));
    if (llo_t_sstr_diff("error_type", &r->error_type, &s, why, size)) {
        return -1;
    }

    llo_t_mstr(&ms, llo_t_meta_get(m, "error_message"));
    if (llo_t_mstr_diff("error_message", &r->error_message, &ms, why,
                        size))
    {
        return -1;
    }

    usage = 0;

    for (i = 0; i < (int) (sizeof(counts) / sizeof(counts[0])); i++) {
        got = *(const int64_t *) ((const char *) r + counts[i].off);
        exp = llo_t_meta_int(m, counts[i].key, -1);
        usage |= exp >= 0;

        if (got != exp) {
            snprintf(why, size, "%s: %lld != %lld", counts[i].key,
                     (long long) got, (long long) exp);
            return -1;
        }
    }

    if (r->usage != (unsigned) usage) {
        snprintf(why, size, "usage: %u != %d", (unsigned) r->usage, usage);
        return -1;
    }

    if ((int64_t) r->done != llo_t_meta_int(m, "done", -1)) {
        snprintf(why, size, "done: %u", (unsigned) r->done);
        return -1;
    }

    if ((int64_t) r->tool_calls != llo_t_meta_int(m, "tool_calls", 0)) {
        snprintf(why, size, "tool_calls: %u", (unsigned) r->tool_calls);
        return -1;
    }

    if (finish_end < 0) {
        finish_end = llo_t_meta_int(m, "finish_end", 0);
    }

    if ((int64_t) r->finish_end != finish_end) {
        snprintf(why, size, "finish_end: %llu != %lld",
                 (unsigned long long) r->finish_end, (long long) finish_end);
        return -1;
    }

    if (r->error[0] != '\0') {
        snprintf(why, size, "parse error: %s", r->error);
        return -1;
    }

    tlen = (size_t) llo_t_meta_int(m, "text_len", -1);
    want = llo_t_meta_get(m, "text_sha256");

    /* what llo_resp_on_text() gave: all of the text, cut or not */

    llo_t_sha256(on->data, on->len, sha);

    if (on->len != tlen || strcmp(sha, want) != 0) {
        snprintf(why, size, "on_text: %zu bytes \"%.*s\", sha256 %s; want "
                 "%zu bytes, %s", on->len, (int) on->len, on->data, sha,
                 tlen, want);
        return -1;
    }

    /* res.text: the same, or its first bytes cut on a boundary */

    if (r->text.len > on->len
        || (r->text.len && memcmp(r->text.data, on->data, r->text.len) != 0)
        || (r->text.truncated
            ? r->text.len != llo_utf8_cut((char *) on->data, r->text.cap)
            : r->text.len != on->len))
    {
        snprintf(why, size, "text (%zu bytes, truncated %u) \"%.*s\" is not "
                 "the on_text \"%.*s\" cut at %zu", r->text.len,
                 (unsigned) r->text.truncated, (int) r->text.len,
                 r->text.data, (int) on->len, on->data, r->text.cap);
        return -1;
    }

    return 0;
}


/*
 * Each provider fixture, skim off and on: one piece, two pieces split at
 * every byte, byte by byte, and pieces of several sizes.  Each must give
 * the facts of its .meta, all of its text through llo_resp_on_text(), and
 * exactly what one piece gives; skim on and off must agree.
 */

START_TEST(test_provider_facts)
{
    int            skim, k;
    char           why[LLO_T_WHY];
    size_t         split;
    llo_resp_t     one[2], got;
    llo_t_buf_t    on;
    llo_t_prov_t   pv;

    static const size_t  steps[][2] = {
        { 0, 2 }, { 1, 3 }, { 2, 5 }, { 3, 7 }, { 5, 13 }, { 10, 64 },
        { 100, 1000 }, { 4096, 4096 }
    };

    memset(&on, 0, sizeof(llo_t_buf_t));
    llo_t_prov_load(llo_t_providers[_i], &pv);

    for (skim = LLO_SKIM_OFF; skim <= LLO_SKIM_ON; skim++) {
        llo_t_resp_run_api(pv.api, pv.body, pv.len, pv.kind, 0,
                           LLO_T_MAX_TEXT, skim, pv.len, 0, &on, &one[skim]);
        ck_assert_msg(llo_t_prov_diff(&pv, &one[skim], &on, -1, why,
                                      sizeof(why)) == 0,
                      "%s, skim %d, one piece: %s", pv.name, skim, why);
        ck_assert_uint_eq(one[skim].bytes, pv.len);
        ck_assert_uint_eq(one[skim].wire_bytes, pv.len);

        llo_t_resp_run_api(pv.api, pv.body, pv.len, pv.kind, 0,
                           LLO_T_MAX_TEXT, skim, 0, 1, &on, &got);
        ck_assert_msg(llo_t_prov_diff(&pv, &got, &on, -1, why, sizeof(why))
                      == 0 && llo_t_resp_diff(&got, &one[skim],
                                              LLO_T_CMP_ALL, why,
                                              sizeof(why)) == 0,
                      "%s, skim %d, byte by byte: %s", pv.name, skim, why);
        llo_t_resp_free(&got);

        for (split = 0; split <= pv.len; split++) {
            llo_t_resp_run_api(pv.api, pv.body, pv.len, pv.kind, 0,
                               LLO_T_MAX_TEXT, skim, split, 0, &on, &got);
            ck_assert_msg(llo_t_prov_diff(&pv, &got, &on, -1, why,
                                          sizeof(why)) == 0
                          && llo_t_resp_diff(&got, &one[skim],
                                             LLO_T_CMP_ALL, why,
                                             sizeof(why)) == 0,
                          "%s, skim %d, split at %zu of %zu: %s", pv.name,
                          skim, split, pv.len, why);
            llo_t_resp_free(&got);
        }

        for (k = 0; k < (int) (sizeof(steps) / sizeof(steps[0])); k++) {
            llo_t_resp_run_api(pv.api, pv.body, pv.len, pv.kind, 0,
                               LLO_T_MAX_TEXT, skim, steps[k][0],
                               steps[k][1], &on, &got);
            ck_assert_msg(llo_t_prov_diff(&pv, &got, &on, -1, why,
                                          sizeof(why)) == 0
                          && llo_t_resp_diff(&got, &one[skim],
                                             LLO_T_CMP_ALL, why,
                                             sizeof(why)) == 0,
                          "%s, skim %d, %zu then pieces of %zu: %s", pv.name,
                          skim, steps[k][0], steps[k][1], why);
            llo_t_resp_free(&got);
        }
    }

    ck_assert_msg(llo_t_resp_diff(&one[0], &one[1],
                                  LLO_T_CMP_BYTES | LLO_T_CMP_WIRE, why,
                                  sizeof(why)) == 0,
                  "%s: skim on != skim off: %s", pv.name, why);

    /*
     * the fast path is for OpenAI chat streams only; Azure writes its
     * keys in alphabetical order, "choices" before "id" and "model", and
     * a template is learned only from id, model, then the text: yajl
     * reads every event of it
     */
    if (pv.api != LLO_API_CHAT || pv.kind != LLO_BODY_SSE
        || pv.provider == LLO_PROV_AZURE)
    {
        ck_assert_uint_eq(one[1].skimmed, 0);

    } else {
        ck_assert_msg(one[1].skimmed * 2 > one[1].events, "%s: skimmed %u "
                      "of %u events", pv.name, one[1].skimmed,
                      one[1].events);
    }

    llo_t_resp_free(&one[0]);
    llo_t_resp_free(&one[1]);
    free(on.data);
    llo_t_prov_free(&pv);
}
END_TEST


START_TEST(test_provider_gzip)
{
    int            skim;
    char           why[LLO_T_WHY];
    size_t         zlen, split;
    uint8_t       *z;
    llo_resp_t     got;
    llo_t_buf_t    on;
    llo_t_prov_t   pv;

    memset(&on, 0, sizeof(llo_t_buf_t));
    llo_t_prov_load(llo_t_providers[_i], &pv);
    z = llo_t_gzip(pv.body, pv.len, &zlen);

    for (skim = LLO_SKIM_OFF; skim <= LLO_SKIM_ON; skim++) {
        for (split = 0; split <= zlen; split += 1 + zlen / 50) {
            llo_t_resp_run_api(pv.api, z, zlen, pv.kind, 1, LLO_T_MAX_TEXT,
                               skim, split, split % 9, &on, &got);
            ck_assert_msg(llo_t_prov_diff(&pv, &got, &on, -1, why,
                                          sizeof(why)) == 0,
                          "%s, gzip, skim %d, split at %zu: %s", pv.name,
                          skim, split, why);
            ck_assert_uint_eq(got.bytes, pv.len);
            ck_assert_uint_eq(got.wire_bytes, zlen);
            llo_t_resp_free(&got);
        }
    }

    free(z);
    free(on.data);
    llo_t_prov_free(&pv);
}
END_TEST


/* res.text is cut at max_text; llo_resp_on_text() still gets all of it */

START_TEST(test_provider_truncate)
{
    int            skim, k;
    char           why[LLO_T_WHY];
    size_t         tlen, cap[7];
    llo_resp_t     got;
    llo_t_buf_t    on;
    llo_t_prov_t   pv;

    memset(&on, 0, sizeof(llo_t_buf_t));
    llo_t_prov_load(llo_t_providers[_i], &pv);
    tlen = (size_t) llo_t_meta_int(pv.meta, "text_len", 0);

    cap[0] = 0;
    cap[1] = 1;
    cap[2] = 5;
    cap[3] = tlen / 2;
    cap[4] = tlen ? tlen - 1 : 0;
    cap[5] = tlen;
    cap[6] = tlen + 1;

    for (skim = LLO_SKIM_OFF; skim <= LLO_SKIM_ON; skim++) {
        for (k = 0; k < 7; k++) {
            llo_t_resp_run_api(pv.api, pv.body, pv.len, pv.kind, 0, cap[k],
                               skim, cap[k] * 3 % (pv.len + 1), 17, &on,
                               &got);
            ck_assert_msg(llo_t_prov_diff(&pv, &got, &on, -1, why,
                                          sizeof(why)) == 0,
                          "%s, skim %d, max_text %zu: %s", pv.name, skim,
                          cap[k], why);
            ck_assert_uint_eq(got.text.truncated, tlen > cap[k]);
            ck_assert_uint_eq(got.text.len,
                              tlen > cap[k]
                              ? llo_utf8_cut((char *) on.data, cap[k])
                              : tlen);
            llo_t_resp_free(&got);
        }
    }

    free(on.data);
    llo_t_prov_free(&pv);
}
END_TEST


START_TEST(test_provider_request)
{
    int            k;
    char           why[LLO_T_WHY];
    size_t         split;
    int64_t        est, e;
    llo_req_t      one, got;
    llo_sstr_t     model, rf;
    llo_t_prov_t   pv;
    llo_req_parser_t  *p;

    llo_t_prov_load(llo_t_providers[_i], &pv);

    llo_t_req_run(pv.api, pv.req, pv.req_len, LLO_T_MAX_TEXT, pv.req_len, 0,
                  &one);

    ck_assert_msg(one.error[0] == '\0', "%s: %s", pv.name, one.error);
    llo_t_sstr(&model, llo_t_meta_get(pv.meta, "request_model"));
    ck_assert_msg(llo_t_sstr_diff("model", &one.model, &model, why,
                                  sizeof(why)) == 0, "%s: %s", pv.name, why);
    ck_assert_int_eq(one.stream, llo_t_meta_int(pv.meta, "request_stream",
                                                -1));
    ck_assert_int_eq(one.max_tokens,
                     llo_t_meta_int(pv.meta, "request_max_tokens", -1));
    ck_assert_int_eq(one.messages,
                     llo_t_meta_int(pv.meta, "request_messages", -1));
    ck_assert_int_eq(one.stream_options,
                     llo_t_meta_int(pv.meta, "request_stream_options", -1));
    ck_assert_int_eq(one.include_usage,
                     llo_t_meta_int(pv.meta, "request_include_usage", -1));
    llo_t_sstr(&rf, llo_t_meta_get(pv.meta, "request_response_format"));
    ck_assert_msg(llo_t_sstr_diff("response_format", &one.response_format,
                                  &rf, why, sizeof(why)) == 0, "%s: %s",
                  pv.name, why);
    ck_assert_uint_eq(one.bytes, pv.req_len);
    ck_assert_uint_eq(one.count_trunc, 0);

    for (split = 0; split <= pv.req_len; split++) {
        llo_t_req_run(pv.api, pv.req, pv.req_len, LLO_T_MAX_TEXT, split,
                      split % 5, &got);
        ck_assert_msg(llo_t_req_diff(&got, &one, why, sizeof(why)) == 0,
                      "%s, split at %zu: %s", pv.name, split, why);
        free(got.text.data);
    }

    /* something to count in every one, the same however it came */

    est = -1;

    for (k = 0; k < 3; k++) {
        p = llo_req_create(pv.api, LLO_T_MAX_TEXT);
        ck_assert_ptr_nonnull(p);
        llo_t_feed(p, 1, pv.req, pv.req_len, k * 7, k);
        llo_req_finish(p);
        e = llo_req_estimate(p, llo_t_count_bytes, NULL);
        llo_req_destroy(p);

        ck_assert_msg(e > 0, "%s: estimate %lld", pv.name, (long long) e);
        ck_assert_msg(est < 0 || e == est, "%s: estimate %lld, then %lld",
                      pv.name, (long long) est, (long long) e);
        est = e;
    }

    free(one.text.data);
    llo_t_prov_free(&pv);
}
END_TEST


/*
 * The fixture's URI names its provider and API (the query is not given):
 * for "auto" the provider of the meta's "auto" when it has one (a dialect
 * served on OpenAI's path), and as configured, the fixture's own.  The
 * model Gemini's and Azure's URIs name is taken from them.
 */

START_TEST(test_provider_uri)
{
    int            api, prov, auto_prov;
    size_t         n;
    llo_sstr_t     model;
    const char    *uri, *m, *end, *name;
    llo_t_prov_t   pv;

    llo_t_prov_load(llo_t_providers[_i], &pv);

    uri = llo_t_meta_get(pv.meta, "uri");
    n = strcspn(uri, "?");

    name = llo_t_meta_get(pv.meta, "auto");
    auto_prov = name ? llo_t_provider_by_name(name) : pv.provider;

    m = NULL;
    end = NULL;

    if (pv.provider == LLO_PROV_GEMINI) {
        m = strstr(uri, "models/") + 7;
        end = strchr(m, ':');

    } else if (pv.provider == LLO_PROV_AZURE) {
        m = strstr(uri, "/deployments/") + 13;
        end = strchr(m, '/');
    }

    memset(&model, 0, sizeof(llo_sstr_t));
    api = llo_api_detect((const uint8_t *) uri, n, &prov, &model);

    ck_assert_msg(api == pv.api && prov == auto_prov, "%s: \"%.*s\" is "
                  "%s/%s", pv.name, (int) n, uri, llo_provider_name(prov),
                  llo_api_name(api));
    ck_assert_str_eq(llo_api_name(api), llo_t_meta_get(pv.meta, "api"));
    ck_assert_str_eq(llo_provider_name(prov),
                     name ? name : llo_t_meta_get(pv.meta, "provider"));

    if (m != NULL && prov == pv.provider) {
        ck_assert_uint_eq(model.set, 1);
        ck_assert_uint_eq(model.len, (size_t) (end - m));
        ck_assert_mem_eq(model.data, m, model.len);

    } else {
        ck_assert_uint_eq(model.set, 0);
    }

    memset(&model, 0, sizeof(llo_sstr_t));
    ck_assert_int_eq(llo_api_for(pv.provider, (const uint8_t *) uri, n,
                                 &model), pv.api);
    ck_assert_uint_eq(model.set, m != NULL);

    if (m != NULL) {
        ck_assert_uint_eq(model.len, (size_t) (end - m));
        ck_assert_mem_eq(model.data, m, model.len);
    }

    llo_t_prov_free(&pv);
}
END_TEST


/*
 * A responses stream without its event: lines: the JSON "type" says the
 * same.  Each removed line moves finish_end back; the terminal event is
 * the last, so it is the new body's length.
 */

START_TEST(test_responses_no_event_lines)
{
    int            i, skim;
    char           why[LLO_T_WHY];
    size_t         pos, n, split;
    uint8_t       *nl;
    llo_resp_t     got;
    llo_t_buf_t    body, on;
    llo_t_prov_t   pv;

    static const char  *names[] = {
        "openai_responses_stream", "openai_responses_stream_tool",
        "openai_responses_stream_incomplete"
    };

    memset(&on, 0, sizeof(llo_t_buf_t));

    for (i = 0; i < 3; i++) {
        llo_t_prov_load(names[i], &pv);
        memset(&body, 0, sizeof(llo_t_buf_t));

        for (pos = 0; pos < pv.len; pos += n) {
            nl = memchr(pv.body + pos, '\n', pv.len - pos);
            n = nl ? (size_t) (nl - (pv.body + pos)) + 1 : pv.len - pos;

            if (n < 6 || memcmp(pv.body + pos, "event:", 6) != 0) {
                llo_t_buf_add(&body, pv.body + pos, n);
            }
        }

        ck_assert_uint_lt(body.len, pv.len);

        for (skim = LLO_SKIM_OFF; skim <= LLO_SKIM_ON; skim++) {
            for (split = 0; split <= body.len; split += 97) {
                llo_t_resp_run_api(LLO_API_RESPONSES, body.data, body.len,
                                   LLO_BODY_SSE, 0, LLO_T_MAX_TEXT, skim,
                                   split, 0, &on, &got);
                ck_assert_msg(llo_t_prov_diff(&pv, &got, &on, body.len, why,
                                              sizeof(why)) == 0,
                              "%s without event: lines, split at %zu: %s",
                              names[i], split, why);
                llo_t_resp_free(&got);
            }
        }

        free(body.data);
        llo_t_prov_free(&pv);
    }

    free(on.data);
}
END_TEST


/* a body, every split, both skims: all must give "want" (first run) */

static void
llo_t_inline(int api, int kind, const char *body, llo_resp_t *want,
    llo_t_buf_t *on)
{
    int          skim;
    char         why[LLO_T_WHY];
    size_t       len, split;
    llo_resp_t   got;
    llo_t_buf_t  on2;

    len = strlen(body);
    memset(&on2, 0, sizeof(llo_t_buf_t));

    llo_t_resp_run_api(api, (const uint8_t *) body, len, kind, 0,
                       LLO_T_MAX_TEXT, LLO_SKIM_OFF, len, 0, on, want);

    ck_assert_msg(want->text.len == on->len
                  && memcmp(want->text.data, on->data, on->len) == 0,
                  "on_text \"%.*s\" != text \"%.*s\"", (int) on->len,
                  on->data, (int) want->text.len, want->text.data);

    for (skim = LLO_SKIM_OFF; skim <= LLO_SKIM_ON; skim++) {
        for (split = 0; split <= len; split++) {
            llo_t_resp_run_api(api, (const uint8_t *) body, len, kind, 0,
                               LLO_T_MAX_TEXT, skim, split, split % 4, &on2,
                               &got);
            ck_assert_msg(llo_t_resp_diff(&got, want, LLO_T_CMP_BYTES
                                          | LLO_T_CMP_WIRE, why, sizeof(why))
                          == 0, "skim %d, split at %zu: %s", skim, split,
                          why);
            ck_assert_uint_eq(on2.len, on->len);
            ck_assert_mem_eq(on2.data, on->data, on->len);
            llo_t_resp_free(&got);
        }
    }

    free(on2.data);
}


#define llo_t_text_is(r, s)                                                   \
    ck_assert_msg((r).text.len == strlen(s)                                   \
                  && memcmp((r).text.data, s, strlen(s)) == 0,                \
                  "text \"%.*s\", want \"%s\"", (int) (r).text.len,           \
                  (r).text.data, s)


/*
 * Responses events: the event: line decides over the JSON "type"; only
 * output_text deltas are text; an "error" event's code and message are
 * the error; other events' top-level "code" is not.
 */

START_TEST(test_responses_events)
{
    size_t        len;
    llo_resp_t    r;
    llo_t_buf_t   on;
    const char   *body;

    memset(&on, 0, sizeof(llo_t_buf_t));

    body =
        "event: response.output_text.delta\n"
        "data: {\"type\":\"response.refusal.delta\",\"delta\":\"A\"}\n\n"
        "event: response.refusal.delta\n"
        "data: {\"type\":\"response.output_text.delta\",\"delta\":\"x\"}\n\n"
        "data: {\"type\":\"response.output_text.delta\",\"delta\":\"B\"}\n\n"
        "data: {\"delta\":\"C\",\"type\":\"response.output_text.delta\"}\n\n"
        "data: {\"delta\":\"x\",\"type\":\"response.reasoning_text.delta\"}"
        "\n\n"
        "event: response.function_call_arguments.delta\n"
        "data: {\"type\":\"response.function_call_arguments.delta\","
        "\"delta\":\"{\\\"a\\\":1}\"}\n\n"
        "event: response.code_interpreter_call_code.done\n"
        "data: {\"type\":\"response.code_interpreter_call_code.done\","
        "\"code\":\"print(1)\",\"item_id\":\"ci_1\"}\n\n"
        "event: response.created\n"
        "data: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\","
        "\"status\":\"in_progress\",\"model\":\"gpt-4o\",\"usage\":null}}\n\n"
        "event: error\n"
        "data: {\"type\":\"error\",\"code\":\"rate_limit_exceeded\","
        "\"message\":\"Too many requests\",\"param\":null,"
        "\"sequence_number\":9}\n\n";

    llo_t_inline(LLO_API_RESPONSES, LLO_BODY_SSE, body, &r, &on);
    llo_t_text_is(r, "ABC");
    ck_assert_str_eq(r.id.data, "resp_1");
    ck_assert_str_eq(r.model.data, "gpt-4o");
    ck_assert_uint_eq(r.finish_reason.set, 0);
    ck_assert_uint_eq(r.finish_end, 0);
    ck_assert_uint_eq(r.done, 0);
    ck_assert_str_eq(r.error_type.data, "rate_limit_exceeded");
    ck_assert_str_eq(r.error_message.data, "Too many requests");
    ck_assert_uint_eq(r.events, 9);
    llo_t_resp_free(&r);

    /* failed: the text is not taken again from the response's output */

    body =
        "event: response.created\n"
        "data: {\"type\":\"response.created\",\"sequence_number\":0,"
        "\"response\":{\"id\":\"resp_2\",\"status\":\"in_progress\","
        "\"model\":\"gpt-4o\",\"error\":null,\"usage\":null}}\n\n"
        "event: response.output_text.delta\n"
        "data: {\"type\":\"response.output_text.delta\","
        "\"sequence_number\":1,\"delta\":\"Hi\"}\n\n"
        "event: response.failed\n"
        "data: {\"type\":\"response.failed\",\"sequence_number\":2,"
        "\"response\":{\"id\":\"resp_2\",\"status\":\"failed\","
        "\"model\":\"gpt-4o\",\"error\":{\"code\":\"server_error\","
        "\"message\":\"The model failed.\"},\"output\":[{\"type\":"
        "\"message\",\"content\":[{\"type\":\"output_text\",\"text\":"
        "\"Hi\"}]}],\"usage\":null}}\n\n";
    len = strlen(body);

    llo_t_inline(LLO_API_RESPONSES, LLO_BODY_SSE, body, &r, &on);
    llo_t_text_is(r, "Hi");
    ck_assert_str_eq(r.finish_reason.data, "failed");
    ck_assert_uint_eq(r.finish_end, len);
    ck_assert_uint_eq(r.done, 1);
    ck_assert_str_eq(r.error_type.data, "server_error");
    ck_assert_str_eq(r.error_message.data, "The model failed.");
    ck_assert_uint_eq(r.usage, 0);
    llo_t_resp_free(&r);

    /* an error event of the newer shape; a "type" beats a "code" */

    body =
        "event: error\n"
        "data: {\"type\":\"error\",\"error\":{\"code\":"
        "\"context_length_exceeded\",\"type\":\"invalid_request_error\","
        "\"message\":\"Your input exceeds the context window.\","
        "\"param\":\"input\"},\"sequence_number\":2}\n\n";

    llo_t_inline(LLO_API_RESPONSES, LLO_BODY_SSE, body, &r, &on);
    ck_assert_str_eq(r.error_type.data, "invalid_request_error");
    ck_assert_str_eq(r.error_message.data,
                     "Your input exceeds the context window.");
    ck_assert_uint_eq(r.done, 0);
    llo_t_resp_free(&r);

    /* JSON: the type may follow the text; reasoning text is not text */

    body =
        "{\"id\":\"resp_3\",\"status\":\"incomplete\",\"incomplete_details\":"
        "{\"reason\":\"max_output_tokens\"},\"model\":\"o3\",\"output\":["
        "{\"type\":\"reasoning\",\"content\":[{\"type\":\"reasoning_text\","
        "\"text\":\"think\"}],\"summary\":[{\"type\":\"summary_text\","
        "\"text\":\"sum\"}]},{\"type\":\"message\",\"content\":[{\"text\":"
        "\"late type\",\"annotations\":[],\"type\":\"output_text\"},"
        "{\"type\":\"refusal\",\"refusal\":\"no\"},{\"text\":\"no type\"}]}"
        "],\"text\":{\"format\":{\"type\":\"text\"}}}";

    llo_t_inline(LLO_API_RESPONSES, LLO_BODY_JSON, body, &r, &on);
    llo_t_text_is(r, "late type");
    ck_assert_str_eq(r.finish_reason.data, "max_output_tokens");
    ck_assert_uint_eq(r.done, 1);
    ck_assert_uint_eq(r.finish_end, 0);
    llo_t_resp_free(&r);

    /* the reason wins whichever comes first */

    body = "{\"incomplete_details\":{\"reason\":\"content_filter\"},"
           "\"status\":\"incomplete\"}";

    llo_t_inline(LLO_API_RESPONSES, LLO_BODY_JSON, body, &r, &on);
    ck_assert_str_eq(r.finish_reason.data, "content_filter");
    llo_t_resp_free(&r);

    body = "{\"status\":\"failed\",\"error\":{\"code\":\"server_error\","
           "\"message\":\"x\"},\"incomplete_details\":null}";

    llo_t_inline(LLO_API_RESPONSES, LLO_BODY_JSON, body, &r, &on);
    ck_assert_str_eq(r.finish_reason.data, "failed");
    ck_assert_str_eq(r.error_type.data, "server_error");
    llo_t_resp_free(&r);

    /* an HTTP error body: its "type", not the "code" after it */

    body = "{\n    \"error\": {\n        \"message\": \"The model `o9` "
           "does not exist.\",\n        \"type\": \"invalid_request_error\","
           "\n        \"param\": null,\n        \"code\": "
           "\"model_not_found\"\n    }\n}\n";

    llo_t_inline(LLO_API_RESPONSES, LLO_BODY_JSON, body, &r, &on);
    ck_assert_str_eq(r.error_type.data, "invalid_request_error");
    ck_assert_str_eq(r.error_message.data, "The model `o9` does not exist.");
    ck_assert_uint_eq(r.finish_reason.set, 0);
    llo_t_resp_free(&r);

    free(on.data);
}
END_TEST


/*
 * Anthropic: message_delta's counts replace message_start's, never add;
 * only "text" blocks and "text_delta" deltas are text, whatever the
 * order of their keys.
 */

START_TEST(test_anthropic_cumulative)
{
    size_t        end;
    llo_resp_t    r;
    llo_t_buf_t   on, body;

    memset(&on, 0, sizeof(llo_t_buf_t));
    memset(&body, 0, sizeof(llo_t_buf_t));

    llo_t_buf_str(&body,
        "event: message_start\n"
        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\","
        "\"model\":\"claude-x\",\"content\":[],\"usage\":{\"input_tokens\":10,"
        "\"cache_creation_input_tokens\":5,\"cache_read_input_tokens\":100,"
        "\"output_tokens\":1}}}\n\n"
        "event: content_block_start\n"
        "data: {\"type\":\"content_block_start\",\"index\":0,"
        "\"content_block\":{\"type\":\"text\",\"text\":\"Pre\"}}\n\n"
        "event: content_block_delta\n"
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
        "{\"text\":\"-late\",\"type\":\"text_delta\"}}\n\n"
        "event: content_block_delta\n"
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
        "{\"type\":\"thinking_delta\",\"thinking\":\"hmm\"}}\n\n"
        "event: content_block_delta\n"
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
        "{\"text\":\"no\",\"type\":\"other_delta\"}}\n\n"
        "event: content_block_start\n"
        "data: {\"type\":\"content_block_start\",\"index\":1,"
        "\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":"
        "\"n\",\"input\":{\"text\":\"no\"}}}\n\n"
        "event: message_delta\n"
        "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":null},"
        "\"usage\":{\"output_tokens\":10}}\n\n"
        "event: message_delta\n"
        "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
        "\"max_tokens\",\"stop_sequence\":null},\"usage\":{\"input_tokens\":"
        "12,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":"
        "105,\"output_tokens\":25}}\n\n");
    end = body.len;

    llo_t_inline(LLO_API_MESSAGES, LLO_BODY_SSE, (char *) body.data, &r,
                 &on);
    llo_t_text_is(r, "Pre-late");
    ck_assert_int_eq(r.prompt_tokens, 12 + 0 + 105);
    ck_assert_int_eq(r.cached_tokens, 105);
    ck_assert_int_eq(r.cache_creation_tokens, 0);
    ck_assert_int_eq(r.completion_tokens, 25);
    ck_assert_int_eq(r.total_tokens, 117 + 25);
    ck_assert_int_eq(r.reasoning_tokens, -1);
    ck_assert_str_eq(r.finish_reason.data, "max_tokens");
    ck_assert_uint_eq(r.finish_end, end);
    ck_assert_uint_eq(r.done, 0);
    llo_t_resp_free(&r);

    /* done only with message_stop; it may come without an event: line */

    llo_t_buf_str(&body, "data: {\"type\":\"message_stop\"}\n\n");

    llo_t_inline(LLO_API_MESSAGES, LLO_BODY_SSE, (char *) body.data, &r,
                 &on);
    ck_assert_uint_eq(r.done, 1);
    ck_assert_uint_eq(r.finish_end, end);
    llo_t_resp_free(&r);

    /* JSON: the block's type may come after its text */

    llo_t_inline(LLO_API_MESSAGES, LLO_BODY_JSON,
                 "{\"id\":\"msg_2\",\"content\":[{\"text\":\"A\",\"type\":"
                 "\"text\"},{\"type\":\"thinking\",\"thinking\":\"x\"},"
                 "{\"type\":\"tool_use\",\"input\":{\"text\":\"no\"}},"
                 "{\"text\":\"no\",\"type\":\"redacted\"},{\"type\":\"text\","
                 "\"text\":\"B\"}],\"usage\":{\"output_tokens\":7}}", &r, &on);
    llo_t_text_is(r, "AB");
    ck_assert_int_eq(r.prompt_tokens, -1);
    ck_assert_int_eq(r.completion_tokens, 7);
    ck_assert_int_eq(r.total_tokens, -1);
    ck_assert_uint_eq(r.usage, 1);
    llo_t_resp_free(&r);

    free(body.data);
    free(on.data);
}
END_TEST


/*
 * Gemini: every chunk repeats the counts so far; thought parts are not
 * text, whether "thought" comes before or after "text".
 */

START_TEST(test_gemini_cumulative)
{
    int           k;
    size_t        end;
    llo_resp_t    r;
    llo_t_buf_t   on, body, json;

    static const char  *chunks[] = {
        "{\"candidates\": [{\"content\": {\"parts\": [{\"thought\": true,"
        "\"text\": \"T1\"}],\"role\": \"model\"},\"index\": 0}],"
        "\"usageMetadata\": {\"promptTokenCount\": 10,\"totalTokenCount\": "
        "20,\"thoughtsTokenCount\": 10},\"modelVersion\": \"gemini-x\","
        "\"responseId\": \"r1\"}",

        "{\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"A\"},"
        "{\"text\": \"T2\",\"thought\": true},{\"text\": \"B\",\"thought\": "
        "false}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": "
        "{\"promptTokenCount\": 10,\"candidatesTokenCount\": 3,"
        "\"totalTokenCount\": 23,\"thoughtsTokenCount\": 10},"
        "\"modelVersion\": \"gemini-x\",\"responseId\": \"r1\"}",

        "{\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"C\"}],"
        "\"role\": \"model\"},\"finishReason\": \"MAX_TOKENS\",\"index\": 0}],"
        "\"usageMetadata\": {\"promptTokenCount\": 10,"
        "\"candidatesTokenCount\": 5,\"totalTokenCount\": 25,"
        "\"cachedContentTokenCount\": 4,\"thoughtsTokenCount\": 10},"
        "\"modelVersion\": \"gemini-x\",\"responseId\": \"r1\"}",
    };

    memset(&on, 0, sizeof(llo_t_buf_t));
    memset(&body, 0, sizeof(llo_t_buf_t));
    memset(&json, 0, sizeof(llo_t_buf_t));

    /* without the last chunk: no finish reason, not done */

    for (k = 0; k < 2; k++) {
        llo_t_buf_str(&body, "data: ");
        llo_t_buf_str(&body, chunks[k]);
        llo_t_buf_str(&body, "\r\n\r\n");
    }

    llo_t_inline(LLO_API_GEMINI, LLO_BODY_SSE, (char *) body.data, &r, &on);
    llo_t_text_is(r, "AB");
    ck_assert_int_eq(r.completion_tokens, 13);
    ck_assert_uint_eq(r.done, 0);
    ck_assert_uint_eq(r.finish_end, 0);
    llo_t_resp_free(&r);

    llo_t_buf_str(&body, "data: ");
    llo_t_buf_str(&body, chunks[2]);
    llo_t_buf_str(&body, "\r\n\r\n");
    end = body.len;

    llo_t_inline(LLO_API_GEMINI, LLO_BODY_SSE, (char *) body.data, &r, &on);
    llo_t_text_is(r, "ABC");
    ck_assert_int_eq(r.prompt_tokens, 10);
    ck_assert_int_eq(r.cached_tokens, 4);
    ck_assert_int_eq(r.completion_tokens, 5 + 10);
    ck_assert_int_eq(r.reasoning_tokens, 10);
    ck_assert_int_eq(r.total_tokens, 25);
    ck_assert_str_eq(r.finish_reason.data, "MAX_TOKENS");
    ck_assert_str_eq(r.id.data, "r1");
    ck_assert_uint_eq(r.done, 1);
    ck_assert_uint_eq(r.finish_end, end);
    llo_t_resp_free(&r);

    /* the same as one JSON array: done when it closes */

    llo_t_buf_str(&json, "[");

    for (k = 0; k < 3; k++) {
        llo_t_buf_str(&json, chunks[k]);
        llo_t_buf_str(&json, k < 2 ? "\n,\r\n" : "\n]");
    }

    llo_t_inline(LLO_API_GEMINI, LLO_BODY_JSON, (char *) json.data, &r, &on);
    llo_t_text_is(r, "ABC");
    ck_assert_int_eq(r.completion_tokens, 15);
    ck_assert_int_eq(r.total_tokens, 25);
    ck_assert_uint_eq(r.done, 1);
    ck_assert_uint_eq(r.finish_end, 0);
    llo_t_resp_free(&r);

    /* a model that does not think: no reasoning count */

    llo_t_inline(LLO_API_GEMINI, LLO_BODY_JSON,
                 "{\"candidates\": [{\"content\": {\"parts\": [{\"text\": "
                 "\"ok\"}]},\"finishReason\": \"STOP\"}],\"usageMetadata\": "
                 "{\"promptTokenCount\": 3,\"candidatesTokenCount\": 1,"
                 "\"totalTokenCount\": 4}}", &r, &on);
    ck_assert_int_eq(r.completion_tokens, 1);
    ck_assert_int_eq(r.reasoning_tokens, -1);
    ck_assert_int_eq(r.cached_tokens, -1);
    llo_t_resp_free(&r);

    free(json.data);
    free(body.data);
    free(on.data);
}
END_TEST


/* the finish event is the last and the body ends without its blank line */

/*
 * Whether the answer called a tool, in each API, streamed or not, and
 * with the skimmer on: a chat stream's tool call chunks come after text
 * chunks the skimmer has learned, and must still reach yajl.
 */

START_TEST(test_tool_calls)
{
    int           k, skim;
    size_t        len, split;
    llo_resp_t    r;
    const char   *body;

    static const struct {
        int          api;
        int          body;
        const char  *data;
        int          tool_calls;
    } cases[] = {
        { LLO_API_CHAT, LLO_BODY_JSON, "{\"choices\":[{\"message\":{\"role\":"
          "\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\","
          "\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
          "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},"
          "\"finish_reason\":\"tool_calls\"}]}", 1 },
        { LLO_API_CHAT, LLO_BODY_JSON, "{\"choices\":[{\"message\":{\"role\":"
          "\"assistant\",\"function_call\":{\"name\":\"f\",\"arguments\":"
          "\"{}\"}}}]}", 1 },
        { LLO_API_CHAT, LLO_BODY_JSON, "{\"choices\":[{\"message\":{\"role\":"
          "\"assistant\",\"content\":\"get_weather\",\"tool_calls\":[]}}]}",
          0 },
        { LLO_API_CHAT, LLO_BODY_SSE,
          "data: {\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,"
          "\"delta\":{\"content\":\"Let me\"}}]}\n\n"
          "data: {\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,"
          "\"delta\":{\"content\":\" check.\"}}]}\n\n"
          "data: {\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,"
          "\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\","
          "\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
          "\"arguments\":\"\"}}]}}]}\n\n"
          "data: {\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,"
          "\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
          "{\"arguments\":\"{\\\"city\\\":1}\"}}]}}]}\n\n"
          "data: [DONE]\n\n", 1 },
        { LLO_API_CHAT, LLO_BODY_SSE,
          "data: {\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,"
          "\"delta\":{\"content\":\"No tools\"}}]}\n\n"
          "data: [DONE]\n\n", 0 },
        { LLO_API_RESPONSES, LLO_BODY_JSON, "{\"id\":\"r\",\"output\":"
          "[{\"type\":\"function_call\",\"call_id\":\"call_1\",\"name\":\"f\","
          "\"arguments\":\"{}\"}],\"status\":\"completed\"}", 1 },
        { LLO_API_MESSAGES, LLO_BODY_JSON, "{\"id\":\"msg\",\"type\":"
          "\"message\",\"content\":[{\"type\":\"text\",\"text\":\"Sure.\"},"
          "{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"f\","
          "\"input\":{}}]}", 1 },
        { LLO_API_MESSAGES, LLO_BODY_JSON, "{\"id\":\"msg\",\"type\":"
          "\"message\",\"content\":[{\"type\":\"text\",\"text\":\"Sure.\"}]}",
          0 },
        { LLO_API_GEMINI, LLO_BODY_JSON, "{\"candidates\":[{\"content\":"
          "{\"parts\":[{\"functionCall\":{\"name\":\"f\",\"args\":{}}}]}}]}",
          1 },
        { LLO_API_GEMINI, LLO_BODY_JSON, "{\"candidates\":[{\"content\":"
          "{\"parts\":[{\"text\":\"functionCall\"}]}}]}", 0 },
        { 0, 0, NULL, 0 }
    };

    for (k = 0; cases[k].data; k++) {
        body = cases[k].data;
        len = strlen(body);

        for (skim = 0; skim < 2; skim++) {
            for (split = 0; split <= len; split += 7) {
                llo_t_resp_run_api(cases[k].api, (const uint8_t *) body, len,
                                   cases[k].body, 0, 4096, skim, split,
                                   split % 3, NULL, &r);
                ck_assert_msg(r.error[0] == '\0', "%s: %s", body, r.error);
                ck_assert_msg(r.tool_calls == (unsigned) cases[k].tool_calls,
                              "%s (skim %d, split %zu): tool_calls %u",
                              body, skim, split, (unsigned) r.tool_calls);
                llo_t_resp_free(&r);
            }
        }
    }
}
END_TEST


START_TEST(test_finish_end_unterminated)
{
    size_t        len;
    llo_resp_t    r;
    llo_t_buf_t   on;
    const char   *body;

    memset(&on, 0, sizeof(llo_t_buf_t));

    body = LLO_T_EV("\"content\":\"A\"")
           "data: {\"choices\":[{\"index\":0,\"delta\":{},"
           "\"finish_reason\":\"length\"}]}";
    len = strlen(body);

    llo_t_inline(LLO_API_CHAT, LLO_BODY_SSE, body, &r, &on);
    ck_assert_str_eq(r.finish_reason.data, "length");
    ck_assert_uint_eq(r.finish_end, len);
    ck_assert_uint_eq(r.done, 0);
    llo_t_resp_free(&r);

    /* a later finish does not move it */

    body = "data: {\"choices\":[{\"finish_reason\":\"stop\"}]}\r\n\r\n"
           "data: {\"choices\":[{\"finish_reason\":\"length\"}]}\r\n\r\n";

    llo_t_inline(LLO_API_CHAT, LLO_BODY_SSE, body, &r, &on);
    ck_assert_str_eq(r.finish_reason.data, "length");
    ck_assert_uint_eq(r.finish_end, strstr(body, "data: {\"choices\":[{"
                                           "\"finish_reason\":\"length")
                                    - body);
    llo_t_resp_free(&r);

    free(on.data);
}
END_TEST


/* LLO_API_UNKNOWN: bytes are counted, nothing is parsed, nothing fails */

START_TEST(test_unknown_api)
{
    int            api, body, gzip;
    size_t         len, zlen, split;
    uint8_t       *data, *z;
    llo_req_t      req;
    llo_resp_t     r;
    llo_t_buf_t    on;
    llo_req_parser_t  *p;

    memset(&on, 0, sizeof(llo_t_buf_t));
    data = llo_t_read("chat_stream.sse", &len);
    z = llo_t_gzip(data, len, &zlen);

    for (api = LLO_API_UNKNOWN; api <= 99; api += 99) {
        for (body = LLO_BODY_JSON; body <= LLO_BODY_OTHER; body++) {
            for (gzip = 0; gzip <= 1; gzip++) {
                for (split = 0; split < len; split += len / 7) {
                    llo_t_resp_run_api(api, gzip ? z : data, gzip ? zlen : len,
                                       body, gzip, LLO_T_MAX_TEXT,
                                       LLO_SKIM_ON, split, split % 3, &on,
                                       &r);
                    ck_assert_str_eq(r.error, "");
                    ck_assert_uint_eq(r.bytes, len);
                    ck_assert_uint_eq(r.wire_bytes, gzip ? zlen : len);
                    ck_assert_uint_eq(r.events, 0);
                    ck_assert_uint_eq(r.text.len, 0);
                    ck_assert_uint_eq(on.len, 0);
                    ck_assert_uint_eq(r.id.set, 0);
                    ck_assert_uint_eq(r.usage, 0);
                    ck_assert_uint_eq(r.done, 0);
                    ck_assert_int_eq(r.prompt_tokens, -1);
                    llo_t_resp_free(&r);
                }
            }
        }

        /* not JSON, and empty: still no error */

        llo_t_resp_run_api(api, (const uint8_t *) "<html>", 6, LLO_BODY_JSON,
                           0, 64, LLO_SKIM_ON, 3, 0, NULL, &r);
        ck_assert_str_eq(r.error, "");
        ck_assert_uint_eq(r.bytes, 6);
        llo_t_resp_free(&r);

        llo_t_req_run(api, (const uint8_t *) "{\"model\":\"gpt-4o\",", 18, 64,
                      5, 0, &req);
        ck_assert_str_eq(req.error, "");
        ck_assert_uint_eq(req.bytes, 18);
        ck_assert_uint_eq(req.model.set, 0);
        ck_assert_int_eq(req.stream, -1);
        free(req.text.data);

        llo_t_req_run(api, (const uint8_t *) "", 0, 64, 0, 0, &req);
        ck_assert_str_eq(req.error, "");
        free(req.text.data);

        p = llo_req_create(api, 64);
        ck_assert_ptr_nonnull(p);
        llo_req_feed(p, (const uint8_t *) "{\"prompt\":\"hi\"}", 15);
        llo_req_finish(p);
        ck_assert_int_eq(llo_req_estimate(p, llo_t_count_bytes, NULL), -1);
        llo_req_destroy(p);
    }

    free(on.data);
    free(z);
    free(data);
}
END_TEST


/* -- requests per API, and the estimate ------------------------------------ */


static uint64_t
llo_t_count_bytes(void *data, const uint8_t *s, size_t len)
{
    if (data) {
        (*(int *) data)++;
    }

    return len;
}


/* words: runs of bytes other than spaces */

static uint64_t
llo_t_count_words(void *data, const uint8_t *s, size_t len)
{
    size_t    i;
    uint64_t  n;

    n = 0;

    for (i = 0; i < len; i++) {
        if (s[i] != ' ' && (i == 0 || s[i - 1] == ' ')) {
            n++;
        }
    }

    return n;
}


/* the estimate of a body fed at every split, which must not change */

static int64_t
llo_t_estimate(int api, const char *body, llo_count_pt count)
{
    int64_t            e, one;
    size_t             len, split;
    llo_req_parser_t  *p;

    len = strlen(body);
    one = 0;

    for (split = 0; split <= len; split++) {
        p = llo_req_create(api, 16);
        ck_assert_ptr_nonnull(p);

        llo_t_feed(p, 1, (const uint8_t *) body, len, split, split % 3);
        llo_req_finish(p);
        e = llo_req_estimate(p, count, NULL);
        llo_req_destroy(p);

        ck_assert_msg(split == 0 || e == one, "%s: split at %zu: estimate "
                      "%lld, %lld in one piece", body, split, (long long) e,
                      (long long) one);
        one = e;
    }

    return one;
}


START_TEST(test_request_apis)
{
    size_t       len;
    llo_req_t    r;
    const char  *body;

    /* responses */
    body = "{\"model\":\"gpt-4.1\",\"instructions\":\"Be brief.\",\"input\":"
           "[{\"role\":\"user\",\"content\":\"Hi\"},{\"type\":\"message\","
           "\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\","
           "\"text\":\"Hello!\"}]},{\"type\":\"function_call_output\","
           "\"call_id\":\"c1\",\"output\":\"42\"}],\"max_output_tokens\":300,"
           "\"max_tokens\":5,\"stream\":true,\"stream_options\":"
           "{\"include_obfuscation\":false}}";
    len = strlen(body);

    llo_t_req_run(LLO_API_RESPONSES, (const uint8_t *) body, len, 1024, 7, 3,
                  &r);
    ck_assert_str_eq(r.error, "");
    ck_assert_str_eq(r.model.data, "gpt-4.1");
    ck_assert_int_eq(r.stream, 1);
    ck_assert_int_eq(r.max_tokens, 300);
    ck_assert_uint_eq(r.messages, 3);
    ck_assert_uint_eq(r.stream_options, 1);
    ck_assert_int_eq(r.include_usage, -1);
    llo_t_text_is(r, "Be brief.\nHi\nHello!");
    free(r.text.data);

    /* anthropic */
    body = "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":1024,\"system\":"
           "\"S\",\"messages\":[{\"role\":\"user\",\"content\":\"Q\"},"
           "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":"
           "\"A\"},{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"n\","
           "\"input\":{\"text\":\"no\"}}]}],\"stream\":false}";
    len = strlen(body);

    llo_t_req_run(LLO_API_MESSAGES, (const uint8_t *) body, len, 1024, 9, 0,
                  &r);
    ck_assert_str_eq(r.error, "");
    ck_assert_str_eq(r.model.data, "claude-sonnet-4-5");
    ck_assert_int_eq(r.stream, 0);
    ck_assert_int_eq(r.max_tokens, 1024);
    ck_assert_uint_eq(r.messages, 2);
    ck_assert_uint_eq(r.stream_options, 0);
    llo_t_text_is(r, "S\nQ\nA");
    free(r.text.data);

    /* gemini, with proto field names; no model, no stream in the body */
    body = "{\"system_instruction\":{\"parts\":[{\"text\":\"Sys\"}]},"
           "\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"U1\"},"
           "{\"inline_data\":{\"mime_type\":\"image/png\",\"data\":\"AAAA\"}}"
           "]},{\"role\":\"model\",\"parts\":[{\"text\":\"M1\"}]}],"
           "\"generation_config\":{\"max_output_tokens\":77},\"model\":"
           "\"ignored\",\"stream\":true}";
    len = strlen(body);

    llo_t_req_run(LLO_API_GEMINI, (const uint8_t *) body, len, 1024, 11, 2,
                  &r);
    ck_assert_str_eq(r.error, "");
    ck_assert_uint_eq(r.model.set, 0);
    ck_assert_int_eq(r.stream, -1);
    ck_assert_int_eq(r.max_tokens, 77);
    ck_assert_uint_eq(r.messages, 2);
    llo_t_text_is(r, "Sys\nU1\nM1");
    free(r.text.data);

    /* chat: stream_options present even when null; max_tokens as well */
    body = "{\"model\":\"m\",\"messages\":[],\"stream_options\":null,"
           "\"max_tokens\":12}";
    len = strlen(body);

    llo_t_req_run(LLO_API_CHAT, (const uint8_t *) body, len, 1024, len, 0,
                  &r);
    ck_assert_uint_eq(r.stream_options, 1);
    ck_assert_int_eq(r.include_usage, -1);
    ck_assert_int_eq(r.max_tokens, 12);
    ck_assert_uint_eq(r.messages, 0);
    free(r.text.data);

    /* a nested "stream_options" is not the top-level key */
    body = "{\"model\":\"m\",\"metadata\":{\"stream_options\":{}}}";
    len = strlen(body);

    llo_t_req_run(LLO_API_CHAT, (const uint8_t *) body, len, 1024, len, 0,
                  &r);
    ck_assert_uint_eq(r.stream_options, 0);
    free(r.text.data);

    /* completions with token ids: no text */
    body = "{\"model\":\"davinci-002\",\"prompt\":[1212,318,257,1332],"
           "\"max_tokens\":5}";
    len = strlen(body);

    llo_t_req_run(LLO_API_COMPLETIONS, (const uint8_t *) body, len, 1024, 4,
                  4, &r);
    ck_assert_str_eq(r.error, "");
    ck_assert_uint_eq(r.text.len, 0);
    ck_assert_int_eq(r.max_tokens, 5);
    free(r.text.data);
}
END_TEST


/*
 * What output each API's request asked for (response_format), the same
 * however the body is split; nothing for a request that asked for text.
 */

START_TEST(test_request_format)
{
    int          k;
    char         why[LLO_T_WHY];
    size_t       len, split;
    llo_req_t    r, one;
    llo_sstr_t   want;

    static const struct {
        int          api;
        const char  *body;
        const char  *want;
    } cases[] = {
        { LLO_API_CHAT, "{\"model\":\"m\",\"messages\":[],"
          "\"response_format\":{\"type\":\"json_object\"}}",
          "json_object" },
        /* the keys before the type, and a nested "required" not read */
        { LLO_API_CHAT, "{\"response_format\":{\"json_schema\":{\"name\":"
          "\"w\",\"strict\":true,\"schema\":{\"type\":\"object\","
          "\"properties\":{\"city\":{\"type\":\"object\",\"required\":"
          "[\"zip\"]},\"temperature_c\":{\"type\":\"number\"}},"
          "\"required\":[\"city\",\"temperature_c\"]}},\"type\":"
          "\"json_schema\"},\"model\":\"m\"}",
          "json_schema:city,temperature_c" },
        { LLO_API_CHAT, "{\"response_format\":{\"type\":\"json_schema\","
          "\"json_schema\":{\"name\":\"x\",\"schema\":{}}},\"tools\":"
          "[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}",
          "json_schema tools" },
        { LLO_API_CHAT, "{\"functions\":[{\"name\":\"f\",\"parameters\":"
          "{\"required\":[\"a\"]}}],\"messages\":[]}", "tools" },
        { LLO_API_CHAT, "{\"response_format\":{\"type\":\"text\"},"
          "\"tools\":[]}", NULL },
        /* keys a list cannot hold are left out */
        { LLO_API_CHAT, "{\"response_format\":{\"type\":\"json_schema\","
          "\"json_schema\":{\"schema\":{\"required\":[\"a,b\",\"c d\","
          "\"\",\"e\\nf\",\"ok\",7]}}}}", "json_schema:ok" },
        { LLO_API_RESPONSES, "{\"model\":\"gpt-4.1\",\"input\":\"Hi\","
          "\"text\":{\"format\":{\"type\":\"json_schema\",\"name\":"
          "\"r\",\"schema\":{\"type\":\"object\",\"required\":"
          "[\"answer\"]}}},\"tools\":[{\"type\":\"web_search\"}]}",
          "json_schema:answer tools" },
        { LLO_API_RESPONSES, "{\"text\":{\"format\":{\"type\":"
          "\"json_object\"}},\"input\":\"Hi\"}", "json_object" },
        { LLO_API_RESPONSES, "{\"text\":{\"format\":{\"type\":\"text\"},"
          "\"verbosity\":\"low\"},\"input\":\"Hi\"}", NULL },
        { LLO_API_MESSAGES, "{\"model\":\"c\",\"output_format\":{\"type\":"
          "\"json_schema\",\"schema\":{\"required\":[\"name\"]}},"
          "\"messages\":[]}", "json_schema:name" },
        { LLO_API_MESSAGES, "{\"tools\":[{\"name\":\"t\",\"input_schema\":"
          "{\"required\":[\"x\"]}}],\"messages\":[]}", "tools" },
        /* Gemini: a MIME type, with or without a schema, both spellings */
        { LLO_API_GEMINI, "{\"contents\":[],\"generationConfig\":"
          "{\"responseMimeType\":\"application/json\"}}", "json_object" },
        { LLO_API_GEMINI, "{\"generationConfig\":{\"responseSchema\":"
          "{\"type\":\"OBJECT\",\"required\":[\"recipe\",\"minutes\"]},"
          "\"responseMimeType\":\"application/json\"}}",
          "json_schema:recipe,minutes" },
        { LLO_API_GEMINI, "{\"generation_config\":{\"response_mime_type\":"
          "\"application/json\",\"response_json_schema\":{\"required\":"
          "[\"a\"]}},\"tools\":[{\"functionDeclarations\":[]}]}",
          "json_schema:a tools" },
        { LLO_API_GEMINI, "{\"generationConfig\":{\"responseMimeType\":"
          "\"text/x.enum\",\"responseSchema\":{\"type\":\"STRING\"}}}",
          NULL },
        { LLO_API_EMBEDDINGS, "{\"input\":\"x\",\"response_format\":"
          "{\"type\":\"json_object\"}}", NULL },
        { 0, NULL, NULL }
    };

    for (k = 0; cases[k].body; k++) {
        len = strlen(cases[k].body);
        llo_t_sstr(&want, cases[k].want);

        llo_t_req_run(cases[k].api, (const uint8_t *) cases[k].body, len,
                      1024, len, 0, &one);
        ck_assert_msg(one.error[0] == '\0', "%s: %s", cases[k].body,
                      one.error);
        ck_assert_msg(llo_t_sstr_diff("response_format", &one.response_format,
                                      &want, why, sizeof(why)) == 0,
                      "%s: %s", cases[k].body, why);

        for (split = 0; split < len; split += 3) {
            llo_t_req_run(cases[k].api, (const uint8_t *) cases[k].body, len,
                          1024, split, split % 4, &r);
            ck_assert_msg(llo_t_req_diff(&r, &one, why, sizeof(why)) == 0,
                          "%s, split at %zu: %s", cases[k].body, split, why);
            free(r.text.data);
        }

        free(one.text.data);
    }
}
END_TEST


/* the required keys are the first that fit in the field, in order */

START_TEST(test_request_format_long)
{
    int          i;
    char         body[4096], want[LLO_SMALL_STR];
    size_t       n, w;
    llo_req_t    r;

    n = (size_t) snprintf(body, sizeof(body), "{\"tools\":[{}],"
                          "\"response_format\":{\"type\":\"json_schema\","
                          "\"json_schema\":{\"schema\":{\"required\":[");
    w = (size_t) snprintf(want, sizeof(want), "json_schema:");

    for (i = 0; i < 40; i++) {
        n += (size_t) snprintf(body + n, sizeof(body) - n, "%s\"key_%02d\"",
                               i ? "," : "", i);
    }

    /* 108 bytes of keys: 15 of 6 bytes and their commas, not a 16th */
    for (i = 0; i < 15; i++) {
        w += (size_t) snprintf(want + w, sizeof(want) - w, "%skey_%02d",
                               i ? "," : "", i);
    }

    (void) snprintf(body + n, sizeof(body) - n, ",\"k\"]}}}}");
    (void) snprintf(want + w, sizeof(want) - w, " tools");

    llo_t_req_run(LLO_API_CHAT, (const uint8_t *) body, strlen(body), 1024,
                  strlen(body), 0, &r);
    ck_assert_str_eq(r.error, "");
    ck_assert_str_eq(r.response_format.data, want);
    ck_assert_uint_lt(r.response_format.len, LLO_SMALL_STR);
    free(r.text.data);
}
END_TEST


/*
 * llo_req_estimate() against sums done by hand, with two counters: bytes
 * and words.  The rules are those documented at llo_req_value().
 */

START_TEST(test_request_estimate)
{
    int          calls;
    int64_t      e;
    const char  *body;
    llo_req_parser_t  *p;

    /* chat, the cookbook: 3 per message + its strings + 1 per name, + 3 */
    body = "{\"model\":\"m\",\"messages\":["
           "{\"role\":\"system\",\"content\":\"You are terse.\"},"
           "{\"role\":\"user\",\"name\":\"bob\",\"content\":[{\"type\":"
           "\"text\",\"text\":\"Hi there\"},{\"type\":\"image_url\","
           "\"image_url\":{\"url\":\"http://x/y.png\"}},{\"type\":\"text\","
           "\"text\":\"again\"}]},"
           "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":"
           "\"c\",\"type\":\"function\",\"function\":{\"name\":\"f\","
           "\"arguments\":\"{}\"}}]},"
           "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"42\"}"
           "]}";

    /* (3+6+14) + (3+4+3+1+8+5) + (3+9) + (3+4+6+2) + 3 */
    ck_assert_int_eq(llo_t_estimate(LLO_API_CHAT, body, llo_t_count_bytes),
                     23 + 24 + 12 + 15 + 3);
    /* (3+1+3) + (3+1+1+1+2+1) + (3+1) + (3+1+1+1) + 3 */
    ck_assert_int_eq(llo_t_estimate(LLO_API_CHAT, body, llo_t_count_words),
                     7 + 9 + 4 + 6 + 3);

    /* responses: instructions and a string input, each a message */
    body = "{\"model\":\"m\",\"instructions\":\"Be brief.\",\"input\":"
           "\"Why is the sky blue?\"}";
    ck_assert_int_eq(llo_t_estimate(LLO_API_RESPONSES, body,
                                    llo_t_count_bytes),
                     (3 + 9) + (3 + 4 + 20) + 3);
    ck_assert_int_eq(llo_t_estimate(LLO_API_RESPONSES, body,
                                    llo_t_count_words),
                     (3 + 2) + (3 + 1 + 5) + 3);

    /* responses: input items, as chat messages (role and content) */
    body = "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":"
           "\"Hi\"},{\"type\":\"message\",\"role\":\"assistant\",\"content\":"
           "[{\"type\":\"output_text\",\"text\":\"Hello!\"}]},{\"type\":"
           "\"function_call_output\",\"call_id\":\"c1\",\"output\":\"42\"}]}";
    ck_assert_int_eq(llo_t_estimate(LLO_API_RESPONSES, body,
                                    llo_t_count_bytes),
                     (3 + 4 + 2) + (3 + 9 + 6) + 3 + 3);

    /* completions and embeddings: strings, and token ids one each */
    ck_assert_int_eq(llo_t_estimate(LLO_API_COMPLETIONS,
                                    "{\"prompt\":[\"Say this\",\"is a test\"]}",
                                    llo_t_count_bytes), 8 + 9);
    ck_assert_int_eq(llo_t_estimate(LLO_API_COMPLETIONS,
                                    "{\"prompt\":[1,2,3]}",
                                    llo_t_count_bytes), 3);
    ck_assert_int_eq(llo_t_estimate(LLO_API_COMPLETIONS,
                                    "{\"prompt\":[[1,2],[3]],\"n\":4}",
                                    llo_t_count_bytes), 3);
    ck_assert_int_eq(llo_t_estimate(LLO_API_EMBEDDINGS,
                                    "{\"input\":\"hello world\"}",
                                    llo_t_count_words), 2);
    ck_assert_int_eq(llo_t_estimate(LLO_API_EMBEDDINGS,
                                    "{\"input\":[[1,2],[3,4,5]],"
                                    "\"dimensions\":8}",
                                    llo_t_count_bytes), 5);
    ck_assert_int_eq(llo_t_estimate(LLO_API_EMBEDDINGS,
                                    "{\"input\":[\"a\",\"bc\"]}",
                                    llo_t_count_bytes), 3);

    /* anthropic: system and contents, no framing, roles not counted */
    body = "{\"system\":[{\"type\":\"text\",\"text\":\"Sys one\"},{\"type\":"
           "\"text\",\"text\":\"two\"}],\"messages\":[{\"role\":\"user\","
           "\"content\":\"Q?\"},{\"role\":\"assistant\",\"content\":[{\"type\":"
           "\"text\",\"text\":\"A!\"},{\"type\":\"tool_use\",\"id\":\"t\","
           "\"name\":\"n\",\"input\":{}}]}]}";
    ck_assert_int_eq(llo_t_estimate(LLO_API_MESSAGES, body,
                                    llo_t_count_bytes), 7 + 3 + 2 + 2);

    /* gemini: parts' text, no framing */
    body = "{\"systemInstruction\":{\"parts\":[{\"text\":\"Sys\"}]},"
           "\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Hello\"},"
           "{\"text\":\"World!\"}]}]}";
    ck_assert_int_eq(llo_t_estimate(LLO_API_GEMINI, body, llo_t_count_bytes),
                     3 + 5 + 6);

    /* nothing to count, or not JSON: -1 */
    ck_assert_int_eq(llo_t_estimate(LLO_API_CHAT, "{\"model\":\"m\"}",
                                    llo_t_count_bytes), -1);
    ck_assert_int_eq(llo_t_estimate(LLO_API_MESSAGES,
                                    "{\"messages\":[{\"role\":\"user\","
                                    "\"content\":[{\"type\":\"image\","
                                    "\"source\":{}}]}]}",
                                    llo_t_count_bytes), -1);
    ck_assert_int_eq(llo_t_estimate(LLO_API_CHAT,
                                    "{\"messages\":[{\"role\":\"user\"},,]}",
                                    llo_t_count_bytes), -1);
    ck_assert_int_eq(llo_t_estimate(LLO_API_CHAT,
                                    "{\"messages\":[{\"role\":\"user\"}",
                                    llo_t_count_bytes), -1);
    ck_assert_int_eq(llo_t_estimate(LLO_API_CHAT, "", llo_t_count_bytes),
                     -1);

    /* empty strings are not handed to the counter */
    p = llo_req_create(LLO_API_CHAT, 16);
    ck_assert_ptr_nonnull(p);
    body = "{\"messages\":[{\"role\":\"user\",\"content\":\"\"}]}";
    llo_req_feed(p, (const uint8_t *) body, strlen(body));
    llo_req_finish(p);
    calls = 0;
    e = llo_req_estimate(p, llo_t_count_bytes, &calls);
    ck_assert_int_eq(e, 3 + 4 + 3);
    ck_assert_int_eq(calls, 1);
    llo_req_destroy(p);
}
END_TEST


/*
 * A chat body: the messages of head, then a user message of big 'a's,
 * then a user message "hello world"; malloc'ed, its length in *len.
 */

static char *
llo_t_big_chat(const char *head, size_t big, size_t *len)
{
    char    *body;
    size_t   n;

    body = malloc(big + strlen(head) + 256);
    ck_assert_ptr_nonnull(body);

    n = sprintf(body, "{\"messages\":[%s{\"role\":\"user\","
                "\"content\":\"", head);
    memset(body + n, 'a', big);
    n += big;
    n += sprintf(body + n, "\"},{\"role\":\"user\",\"content\":"
                 "\"hello world\"}]}");

    *len = n;

    return body;
}


/* pieces beyond LLO_COUNT_MAX bytes are not kept, and that is said */

START_TEST(test_request_count_trunc)
{
    int        k;
    char      *body;
    size_t     big, len;
    int64_t    e;
    llo_req_t *r;
    llo_req_parser_t  *p;

    for (k = 0; k < 2; k++) {

        /* first piece "user", then the big one; the second "user" fits,
         * and "hello world" fits only when k == 1 */
        big = LLO_COUNT_MAX - 8 - (k ? 11 : 10);

        body = llo_t_big_chat("", big, &len);

        p = llo_req_create(LLO_API_CHAT, 1024);
        ck_assert_ptr_nonnull(p);
        llo_t_feed(p, 1, (const uint8_t *) body, len, 1000, 1 << 20);
        llo_req_finish(p);

        r = llo_req_result(p);
        e = llo_req_estimate(p, llo_t_count_bytes, NULL);

        ck_assert_str_eq(r->error, "");
        ck_assert_uint_eq(r->count_trunc, k == 0);
        ck_assert_uint_eq(r->messages, 2);
        ck_assert_uint_eq(r->text.truncated, 1);
        /* a dropped piece counts a token per byte: the same as the
         * byte counter, whether "hello world" was kept or not */
        ck_assert_int_eq(e, (int64_t) (3 + 4 + big + 3 + 4 + 11 + 3));

        llo_req_destroy(p);
        free(body);
    }
}
END_TEST


/* a token per 4 bytes, rounded up: fewer tokens than bytes, as BPE */

static uint64_t
llo_t_count_quarter(void *data, const uint8_t *s, size_t len)
{
    return (len + 3) / 4;
}


/*
 * A prompt past LLO_COUNT_MAX: the pieces kept are counted, each byte of
 * the others is a token, so the estimate bounds the real count from
 * above (a limit reserving it cannot be passed by a huge prompt).
 */

START_TEST(test_request_count_bound)
{
    char      *body;
    size_t     big, len;
    int64_t    e;
    llo_req_t *r;
    llo_req_parser_t  *p;

    big = LLO_COUNT_MAX + 1;

    body = llo_t_big_chat("{\"role\":\"system\",\"content\":\"be brief\"},",
                          big, &len);

    p = llo_req_create(LLO_API_CHAT, 1024);
    ck_assert_ptr_nonnull(p);
    llo_req_feed(p, (const uint8_t *) body, len);
    llo_req_finish(p);

    r = llo_req_result(p);
    e = llo_req_estimate(p, llo_t_count_quarter, NULL);

    ck_assert_str_eq(r->error, "");
    ck_assert_uint_eq(r->count_trunc, 1);

    /* kept: "system" 2, "be brief" 2, "user" 1; dropped: the big piece,
     * then "user" and "hello world" (nothing is kept after the cap) */
    ck_assert_int_eq(e, (int64_t) (3 + 2 + 2 + 3 + 1 + big + 3 + 4 + 11
                                   + 3));
    ck_assert_int_gt(e, (int64_t) big);

    llo_req_destroy(p);
    free(body);
}
END_TEST


/* -- providers and APIs from URIs ------------------------------------------ */


START_TEST(test_api_detect)
{
    int          api, prov;
    size_t       i;
    llo_sstr_t   model;

    static const struct {
        const char  *uri;
        int          prov;
        int          api;
        const char  *model;         /* NULL: left as it was */
    } cases[] = {
        { "/v1/chat/completions", LLO_PROV_OPENAI, LLO_API_CHAT, NULL },
        { "/openai/v1/chat/completions", LLO_PROV_OPENAI, LLO_API_CHAT,
          NULL },
        { "/v1beta/openai/chat/completions", LLO_PROV_OPENAI, LLO_API_CHAT,
          NULL },
        { "/v1/completions", LLO_PROV_OPENAI, LLO_API_COMPLETIONS, NULL },
        { "/v1/responses", LLO_PROV_OPENAI, LLO_API_RESPONSES, NULL },
        { "/proxy/v1/responses", LLO_PROV_OPENAI, LLO_API_RESPONSES, NULL },
        { "/v1/embeddings", LLO_PROV_OPENAI, LLO_API_EMBEDDINGS, NULL },
        { "/v1/messages", LLO_PROV_ANTHROPIC, LLO_API_MESSAGES, NULL },
        { "/anthropic/v1/messages", LLO_PROV_ANTHROPIC, LLO_API_MESSAGES,
          NULL },
        { "/v1beta/models/gemini-2.5-flash:generateContent",
          LLO_PROV_GEMINI, LLO_API_GEMINI, "gemini-2.5-flash" },
        { "/v1beta/models/gemini-2.5-pro:streamGenerateContent",
          LLO_PROV_GEMINI, LLO_API_GEMINI, "gemini-2.5-pro" },
        { "/v1/projects/p1/locations/us-central1/publishers/google/models/"
          "gemini-2.0-flash-001:streamGenerateContent", LLO_PROV_GEMINI,
          LLO_API_GEMINI, "gemini-2.0-flash-001" },
        { "/v1beta/tunedModels/my-tuned-7:generateContent", LLO_PROV_GEMINI,
          LLO_API_GEMINI, "my-tuned-7" },
        { "models/gemini-pro:generateContent", LLO_PROV_GEMINI,
          LLO_API_GEMINI, "gemini-pro" },
        { "/v1beta/models/gemini%2D2.5:generateContent", LLO_PROV_GEMINI,
          LLO_API_GEMINI, "gemini%2D2.5" },
        { "/openai/deployments/gpt-4o-prod/chat/completions",
          LLO_PROV_AZURE, LLO_API_CHAT, "gpt-4o-prod" },
        { "/eu/openai/deployments/emb-3/embeddings", LLO_PROV_AZURE,
          LLO_API_EMBEDDINGS, "emb-3" },
        { "/openai/deployments/d/completions", LLO_PROV_AZURE,
          LLO_API_COMPLETIONS, "d" },
        { "/openai/deployments//chat/completions", LLO_PROV_OPENAI,
          LLO_API_CHAT, NULL },
        { "/v1/deployments/d/chat/completions", LLO_PROV_OPENAI,
          LLO_API_CHAT, NULL },
        { "/openai/deployments/d/x/chat/completions", LLO_PROV_OPENAI,
          LLO_API_CHAT, NULL },

        { "/v1/messages/count_tokens", LLO_PROV_UNKNOWN, LLO_API_UNKNOWN,
          NULL },
        { "/v1/messages/batches", LLO_PROV_UNKNOWN, LLO_API_UNKNOWN, NULL },
        { "/v1/threads/thread_abc123/messages", LLO_PROV_UNKNOWN,
          LLO_API_UNKNOWN, NULL },
        { "/v1beta/models/gemini-2.5-flash:countTokens", LLO_PROV_UNKNOWN,
          LLO_API_UNKNOWN, NULL },
        { "/v1beta/models/gemini-2.5-flash:embedContent", LLO_PROV_UNKNOWN,
          LLO_API_UNKNOWN, NULL },
        { "/v1beta/models/:generateContent", LLO_PROV_UNKNOWN,
          LLO_API_UNKNOWN, NULL },
        { "/v1beta/mymodels/x:generateContent", LLO_PROV_UNKNOWN,
          LLO_API_UNKNOWN, NULL },
        { ":generateContent", LLO_PROV_UNKNOWN, LLO_API_UNKNOWN, NULL },
        { "/v1/models", LLO_PROV_UNKNOWN, LLO_API_UNKNOWN, NULL },
        { "/v1/models/gpt-4o", LLO_PROV_UNKNOWN, LLO_API_UNKNOWN, NULL },
        { "/v1/responses/resp_123", LLO_PROV_UNKNOWN, LLO_API_UNKNOWN,
          NULL },
        { "/v1/chat/completions/", LLO_PROV_UNKNOWN, LLO_API_UNKNOWN, NULL },
        { "/v1/chat/completionsx", LLO_PROV_UNKNOWN, LLO_API_UNKNOWN, NULL },
        { "/", LLO_PROV_UNKNOWN, LLO_API_UNKNOWN, NULL },
        { "", LLO_PROV_UNKNOWN, LLO_API_UNKNOWN, NULL },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        llo_t_sstr(&model, "keep");
        prov = -1;

        api = llo_api_detect((const uint8_t *) cases[i].uri,
                             strlen(cases[i].uri), &prov, &model);

        ck_assert_msg(api == cases[i].api && prov == cases[i].prov,
                      "\"%s\": %s/%s, want %s/%s", cases[i].uri,
                      llo_provider_name(prov), llo_api_name(api),
                      llo_provider_name(cases[i].prov),
                      llo_api_name(cases[i].api));
        ck_assert_str_eq(model.data, cases[i].model ? cases[i].model
                                                    : "keep");

        /* no provider, no model wanted */
        ck_assert_int_eq(llo_api_detect((const uint8_t *) cases[i].uri,
                                        strlen(cases[i].uri), NULL, NULL),
                         cases[i].api);
    }

    /* a model name longer than an llo_sstr_t is cut */
    {
        char  uri[400];

        snprintf(uri, sizeof(uri), "/v1beta/models/%0300d:generateContent",
                 7);
        ck_assert_int_eq(llo_api_detect((const uint8_t *) uri, strlen(uri),
                                        &prov, &model), LLO_API_GEMINI);
        ck_assert_uint_eq(model.len, LLO_SMALL_STR - 1);
    }
}
END_TEST


START_TEST(test_api_for)
{
    size_t       i;
    llo_sstr_t   model;

    static const struct {
        int          prov;
        const char  *uri;
        int          api;
        const char  *model;
    } cases[] = {
        { LLO_PROV_OPENAI, "/v1/chat/completions", LLO_API_CHAT, NULL },
        { LLO_PROV_OPENAI, "/v1/completions", LLO_API_COMPLETIONS, NULL },
        { LLO_PROV_OPENAI, "/v1/responses", LLO_API_RESPONSES, NULL },
        { LLO_PROV_OPENAI, "/v1/embeddings", LLO_API_EMBEDDINGS, NULL },
        { LLO_PROV_OPENAI, "/my/llm", LLO_API_CHAT, NULL },
        { LLO_PROV_OPENAI, "/v1/messages", LLO_API_CHAT, NULL },
        { LLO_PROV_ANTHROPIC, "/v1/messages", LLO_API_MESSAGES, NULL },
        { LLO_PROV_ANTHROPIC, "/claude", LLO_API_MESSAGES, NULL },
        { LLO_PROV_ANTHROPIC, "/v1/messages/count_tokens", LLO_API_UNKNOWN,
          NULL },
        { LLO_PROV_ANTHROPIC, "/v1/messages/batches", LLO_API_UNKNOWN,
          NULL },
        { LLO_PROV_ANTHROPIC, "/v1/messages/batches/msgbatch_01/results",
          LLO_API_UNKNOWN, NULL },
        { LLO_PROV_GEMINI, "/v1beta/models/gemini-2.5-pro:generateContent",
          LLO_API_GEMINI, "gemini-2.5-pro" },
        { LLO_PROV_GEMINI, "/gemini/proxy", LLO_API_GEMINI, NULL },
        { LLO_PROV_UNKNOWN, "/v1/messages", LLO_API_MESSAGES, NULL },
        { LLO_PROV_UNKNOWN, "/v1beta/models/g:generateContent",
          LLO_API_GEMINI, "g" },
        { LLO_PROV_UNKNOWN, "/x", LLO_API_UNKNOWN, NULL },
        { LLO_PROV_MISTRAL, "/v1/chat/completions", LLO_API_CHAT, NULL },
        { LLO_PROV_GROQ, "/openai/v1/chat/completions", LLO_API_CHAT,
          NULL },
        { LLO_PROV_DEEPSEEK, "/beta/completions", LLO_API_COMPLETIONS,
          NULL },
        { LLO_PROV_VLLM, "/my/llm", LLO_API_CHAT, NULL },
        { LLO_PROV_OLLAMA, "/v1/embeddings", LLO_API_EMBEDDINGS, NULL },
        { LLO_PROV_AZURE, "/openai/deployments/gpt-4o/chat/completions",
          LLO_API_CHAT, "gpt-4o" },
        { LLO_PROV_AZURE, "/openai/deployments/emb/embeddings",
          LLO_API_EMBEDDINGS, "emb" },
        { LLO_PROV_AZURE, "/openai/v1/chat/completions", LLO_API_CHAT,
          NULL },
        { LLO_PROV_AZURE, "/openai/responses", LLO_API_RESPONSES, NULL },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        llo_t_sstr(&model, "keep");

        ck_assert_msg(llo_api_for(cases[i].prov,
                                  (const uint8_t *) cases[i].uri,
                                  strlen(cases[i].uri), &model)
                      == cases[i].api, "%s \"%s\"",
                      llo_provider_name(cases[i].prov), cases[i].uri);
        ck_assert_str_eq(model.data, cases[i].model ? cases[i].model
                                                    : "keep");
    }
}
END_TEST


START_TEST(test_api_names)
{
    ck_assert_str_eq(llo_provider_name(LLO_PROV_UNKNOWN), "unknown");
    ck_assert_str_eq(llo_provider_name(LLO_PROV_OPENAI), "openai");
    ck_assert_str_eq(llo_provider_name(LLO_PROV_ANTHROPIC), "anthropic");
    ck_assert_str_eq(llo_provider_name(LLO_PROV_GEMINI), "gemini");
    ck_assert_str_eq(llo_provider_name(LLO_PROV_MISTRAL), "mistral");
    ck_assert_str_eq(llo_provider_name(LLO_PROV_GROQ), "groq");
    ck_assert_str_eq(llo_provider_name(LLO_PROV_DEEPSEEK), "deepseek");
    ck_assert_str_eq(llo_provider_name(LLO_PROV_VLLM), "vllm");
    ck_assert_str_eq(llo_provider_name(LLO_PROV_OLLAMA), "ollama");
    ck_assert_str_eq(llo_provider_name(LLO_PROV_AZURE), "azure");
    ck_assert_str_eq(llo_provider_name(LLO_PROV_N), "unknown");
    ck_assert_str_eq(llo_provider_name(-1), "unknown");

    ck_assert_str_eq(llo_api_name(LLO_API_UNKNOWN), "unknown");
    ck_assert_str_eq(llo_api_name(LLO_API_CHAT), "chat");
    ck_assert_str_eq(llo_api_name(LLO_API_COMPLETIONS), "completions");
    ck_assert_str_eq(llo_api_name(LLO_API_RESPONSES), "responses");
    ck_assert_str_eq(llo_api_name(LLO_API_EMBEDDINGS), "embeddings");
    ck_assert_str_eq(llo_api_name(LLO_API_MESSAGES), "messages");
    ck_assert_str_eq(llo_api_name(LLO_API_GEMINI), "generate");
    ck_assert_str_eq(llo_api_name(7), "unknown");
    ck_assert_str_eq(llo_api_name(-1), "unknown");
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

            p = llo_resp_create(LLO_API_CHAT, LLO_BODY_SSE, 0, 65536,
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

    tc = tcase_create("providers");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_provider_facts, 0, LLO_T_NPROVIDERS);
    tcase_add_loop_test(tc, test_provider_gzip, 0, LLO_T_NPROVIDERS);
    tcase_add_loop_test(tc, test_provider_truncate, 0, LLO_T_NPROVIDERS);
    tcase_add_loop_test(tc, test_provider_request, 0, LLO_T_NPROVIDERS);
    tcase_add_loop_test(tc, test_provider_uri, 0, LLO_T_NPROVIDERS);
    tcase_add_test(tc, test_responses_no_event_lines);
    tcase_add_test(tc, test_responses_events);
    tcase_add_test(tc, test_anthropic_cumulative);
    tcase_add_test(tc, test_gemini_cumulative);
    tcase_add_test(tc, test_finish_end_unterminated);
    tcase_add_test(tc, test_tool_calls);
    tcase_add_test(tc, test_unknown_api);
    suite_add_tcase(s, tc);

    tc = tcase_create("request apis");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_request_apis);
    tcase_add_test(tc, test_request_format);
    tcase_add_test(tc, test_request_format_long);
    tcase_add_test(tc, test_request_estimate);
    tcase_add_test(tc, test_request_count_trunc);
    tcase_add_test(tc, test_request_count_bound);
    suite_add_tcase(s, tc);

    tc = tcase_create("apis");
    tcase_add_test(tc, test_api_detect);
    tcase_add_test(tc, test_api_for);
    tcase_add_test(tc, test_api_names);
    suite_add_tcase(s, tc);

    return s;
}


int
main(void)
{
    int       failed;
    char     *bench;

    bench = getenv("LLO_BENCH");

    if (bench && strcmp(bench, "1") == 0) {
        llo_t_bench();
        return 0;
    }

    failed = llo_t_run_suite(llo_t_suite());

    return llo_t_exit(failed);
}
