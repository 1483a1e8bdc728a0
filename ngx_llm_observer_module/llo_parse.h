/*
 * llm-observer request and response extraction.
 *
 * Plain C, no nginx types.  The module feeds the bytes it sees pass (it
 * never holds them back); the parsers copy what they need.  Nothing here
 * can fail the request: every problem ends up as a message in
 * parse_error, with the byte offset where it was found.
 *
 * Responses:
 *   - JSON bodies are parsed incrementally with yajl;
 *   - SSE streams are split into events at any byte boundary; each
 *     event's JSON goes through a skimmer that recognises the common
 *     OpenAI chunk shape by a learned byte template (memcmp-class work),
 *     and through yajl when it does not recognise the shape.  Both paths
 *     fill the same fields: t/unit/test_parse.c proves they agree.
 *   - gzip bodies are inflated for observation only.
 */

#ifndef _LLO_PARSE_H_INCLUDED_
#define _LLO_PARSE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define LLO_MAX_DEPTH           64
#define LLO_SSE_MAX_EVENT       (1024 * 1024)
#define LLO_SMALL_STR           128
#define LLO_MSG_STR             2048
#define LLO_ERR_LEN             192

#define LLO_BODY_JSON           1
#define LLO_BODY_SSE            2
#define LLO_BODY_OTHER          3

#define LLO_SKIM_OFF            0
#define LLO_SKIM_ON             1

/* prompt pieces kept for the token estimate, in bytes */
#define LLO_COUNT_MAX           (16 * 1024 * 1024)


typedef struct {
    char                data[LLO_SMALL_STR];
    size_t              len;
    unsigned            set:1;
} llo_sstr_t;


/* a provider's error message: OpenAI's rate-limit ones run past 200 */

typedef struct {
    char                data[LLO_MSG_STR];
    size_t              len;
    unsigned            set:1;
    unsigned            truncated:1;
} llo_mstr_t;


typedef struct {
    char               *data;
    size_t              len;
    size_t              cap;            /* max_text */
    size_t              alloc;          /* grows up to cap as text comes */
    unsigned            truncated:1;
} llo_text_t;


/*
 * counts the tokens of one piece of text (the module passes its
 * tokenizer); the request parser calls it from llo_req_estimate()
 */
typedef uint64_t (*llo_count_pt)(void *data, const uint8_t *s, size_t len);

/* receives each piece of response text as it is decoded, untruncated */
typedef void (*llo_text_pt)(void *data, const uint8_t *s, size_t len);


/* what a request body said */

typedef struct {
    llo_sstr_t          model;
    int                 stream;         /* -1 unknown, 0, 1 */
    int                 include_usage;  /* -1 unknown, 0, 1 */
    int64_t             max_tokens;     /* -1 absent; max_tokens,
                                           max_completion_tokens,
                                           max_output_tokens,
                                           generationConfig.maxOutputTokens */
    llo_text_t          text;           /* message contents, '\n'-joined */
    uint64_t            bytes;
    uint32_t            messages;       /* chat messages / input items /
                                           Gemini contents */
    unsigned            stream_options:1;   /* top-level key present */
    unsigned            count_trunc:1;  /* pieces beyond LLO_COUNT_MAX:
                                           the estimate is a bound */
    llo_sstr_t          response_format;    /* after llo_req_finish():
                                               see below */
    char                error[LLO_ERR_LEN];
} llo_req_t;

/*
 * response_format: what output the request asked for, words separated by
 * a space, unset when it asked for none of them:
 *
 *   json_object        JSON (OpenAI's response_format / text.format
 *                      json_object, Gemini's responseMimeType
 *                      application/json without a schema)
 *   json_schema[:k,..] JSON of a schema (json_schema; Gemini's mime type
 *                      with responseSchema or responseJsonSchema;
 *                      Anthropic's output_format), with the schema's
 *                      top-level required keys in the order sent: those
 *                      that fit in the field, and none holding a comma,
 *                      a space or a control character
 *   tools              the request declared tools (or functions)
 *
 * e.g. "json_schema:city,temperature_c tools".
 */


/* what a response body said */

typedef struct {
    llo_sstr_t          id;
    llo_sstr_t          model;
    llo_sstr_t          finish_reason;
    llo_sstr_t          error_type;
    llo_mstr_t          error_message;
    int64_t             prompt_tokens;          /* -1: not sent */
    int64_t             completion_tokens;
    int64_t             total_tokens;
    int64_t             cached_tokens;      /* OpenAI cached, Anthropic
                                               cache_read, Gemini
                                               cachedContentTokenCount */
    int64_t             cache_creation_tokens;  /* Anthropic */
    int64_t             reasoning_tokens;
    llo_text_t          text;
    uint64_t            bytes;          /* body bytes after decoding */
    uint64_t            wire_bytes;     /* body bytes as received */
    uint32_t            events;         /* SSE events with data */
    uint32_t            skimmed;        /* of which the skimmer took */
    uint64_t            finish_end;     /* SSE: decoded offset just past
                                           the event that carried the
                                           first finish reason, else 0 */
    unsigned            usage:1;
    unsigned            done:1;         /* the provider's end: [DONE],
                                           message_stop, response.completed
                                           (.incomplete, .failed), a Gemini
                                           finishReason; or the JSON closed */
    unsigned            tool_calls:1;   /* the answer called a tool */
    char                error[LLO_ERR_LEN];
} llo_resp_t;


typedef struct llo_req_parser_s   llo_req_parser_t;
typedef struct llo_resp_parser_s  llo_resp_parser_t;


/*
 * api is LLO_API_* (llo_api.h): it selects the paths looked for.  LLO_API_UNKNOWN
 * parsers count bytes only.
 */
llo_req_parser_t *llo_req_create(int api, size_t max_text);
void llo_req_feed(llo_req_parser_t *p, const uint8_t *data, size_t len);
void llo_req_finish(llo_req_parser_t *p);
llo_req_t *llo_req_result(llo_req_parser_t *p);
void llo_req_destroy(llo_req_parser_t *p);

/*
 * The prompt's tokens, after llo_req_finish(): each kept piece counted
 * by count, plus the API's documented framing (OpenAI chat: tiktoken's
 * 3 per message, 1 per name, 3 to prime the reply).  Past LLO_COUNT_MAX
 * (count_trunc) each byte of the pieces not kept counts as one token, so
 * the estimate is then an upper bound, never short.  -1 when the body
 * did not parse or holds nothing to count.
 */
int64_t llo_req_estimate(llo_req_parser_t *p, llo_count_pt count,
    void *data);

/* no estimate will be asked for: the prompt's strings are not kept */
void llo_req_no_count(llo_req_parser_t *p);

/*
 * api is LLO_API_*; body is LLO_BODY_*; gzip: the body is
 * Content-Encoding: gzip
 */
llo_resp_parser_t *llo_resp_create(int api, int body, int gzip,
    size_t max_text, int skim);

/*
 * SSE: the decoded offset just past the blank line of the event being
 * dispatched (inside a text handler), or of the last one dispatched
 */
uint64_t llo_resp_ev_end(llo_resp_parser_t *p);

/* every piece of assistant text, before max_text cuts it */
void llo_resp_on_text(llo_resp_parser_t *p, llo_text_pt handler,
    void *data);
void llo_resp_feed(llo_resp_parser_t *p, const uint8_t *data, size_t len);
void llo_resp_finish(llo_resp_parser_t *p);
llo_resp_t *llo_resp_result(llo_resp_parser_t *p);
void llo_resp_destroy(llo_resp_parser_t *p);

/*
 * *buf (of *cap bytes, realloc'ed) made to hold need bytes, doubling from
 * 256; 0, or -1 with *buf unchanged.  Shared by the stream code here and
 * in llo_strip.c.
 */
int llo_grow(uint8_t **buf, size_t *cap, size_t need);

/*
 * The same for an array: parr is the address of the array's pointer (of
 * any element type), *cap counts elements of size bytes; it doubles from
 * first.  0, or -1 with the array unchanged.  The evaluator's growing
 * arrays use it.
 */
int llo_grow_array(void *parr, size_t *cap, size_t need, size_t size,
    size_t first);

/* s holds v[0..len), cut to fit at a UTF-8 boundary, NUL-terminated */
void llo_sstr_set(llo_sstr_t *s, const void *v, size_t len);

/* the longest prefix of s[0..len) not ending inside a UTF-8 sequence */
size_t llo_utf8_cut(const char *s, size_t len);


#endif /* _LLO_PARSE_H_INCLUDED_ */
