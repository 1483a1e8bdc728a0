/*
 * llm-observer record: what the module appends to the ring for each
 * observed call, and what the evaluator decodes.
 *
 * Encoding: a sequence of fields, each
 *
 *   +------+-------------+----------------+
 *   | id u8| len u32 LE  | value[len]     |
 *   +------+-------------+----------------+
 *
 * numbers are int64 LE (len 8), strings are bytes (not NUL-terminated).
 * An absent field is NULL in the database.  A decoder skips ids it does
 * not know, so fields can be added without a new ring version.
 */

#ifndef _LLO_RECORD_H_INCLUDED_
#define _LLO_RECORD_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/*
 * The fields, once (as nginx's ngx_http_log_vars[]): the enum, the names
 * the decoder gives, the evaluator's COPY columns and the unit test that
 * holds them against sql/ are all made from these lists.
 *
 *   X(id, column, column type)
 *
 * id names LLO_N_<id> or LLO_S_<id>; column is the llm_requests column
 * (and the field's name); the column type says how the evaluator writes
 * the value (LLO_COL_<type>), NONE for a field that is no column.  Add a
 * field at the end of its list: the ids are on the wire.
 */

#define LLO_NUM_FIELDS(X)                                                    \
    X(KIND,                  "kind",                    NONE)                \
    X(TS_US,                 "ts",                      TS)                  \
    X(STREAM,                "stream",                  BOOL)                \
    X(STATUS,                "status",                  INT)                 \
    X(PROMPT_TOKENS,         "prompt_tokens",           INT)                 \
    X(COMPLETION_TOKENS,     "completion_tokens",       INT)                 \
    X(TOTAL_TOKENS,          "total_tokens",            INT)                 \
    X(CACHED_TOKENS,         "cached_tokens",           INT)                 \
    X(REASONING_TOKENS,      "reasoning_tokens",        INT)                 \
    X(LATENCY_US,            "latency_ms",              MS)                  \
    X(TTFT_US,               "ttft_ms",                 MS)                  \
    X(BYTES_IN,              "bytes_in",                BIGINT)              \
    X(BYTES_OUT,             "bytes_out",               BIGINT)              \
    X(FLAGS,                 "flags",                   NONE)                \
    X(MAX_TOKENS,            "max_tokens",              INT)                 \
    X(UPSTREAM_STATUS,       "upstream_status",         INT)                 \
    X(PROMPT_ESTIMATE,       "prompt_tokens_estimate",  INT)                 \
    X(CACHE_CREATION_TOKENS, "cache_creation_tokens",   INT)                 \
    X(COST_NANO,             "cost_usd",                NANO)

/*
 * KIND: LLO_KIND_*; TS_US: the request's start, unix time, microseconds;
 * FLAGS: LLO_FLAG_*; PROMPT_ESTIMATE: the prompt's tokens counted before
 * forwarding; COST_NANO: the call's cost in nano-USD.
 */

#define LLO_STR_FIELDS(X)                                                    \
    X(REQUEST_ID,            "request_id",              TEXT)                \
    X(PROVIDER,              "provider",                TEXT)                \
    X(ENDPOINT,              "endpoint",                TEXT)                \
    X(REQUEST_MODEL,         "request_model",           TEXT)                \
    X(RESPONSE_MODEL,        "response_model",          TEXT)                \
    X(FINISH_REASON,         "finish_reason",           TEXT)                \
    X(TOKEN_SOURCE,          "token_source",            TEXT)                \
    X(CLIENT_ADDR,           "client_addr",             INET)                \
    X(PROMPT_TEXT,           "prompt_text",             TEXT)                \
    X(RESPONSE_TEXT,         "response_text",           TEXT)                \
    X(PARSE_ERROR,           "parse_error",             TEXT)                \
    X(HOST,                  "host",                    TEXT)                \
    X(ERROR_TYPE,            "error_type",              TEXT)                \
    X(ERROR_MESSAGE,         "error_message",           TEXT)                \
    X(RESPONSE_ID,           "response_id",             TEXT)                \
    X(API,                   "api",                     TEXT)                \
    X(ENCODING,              "tokenizer",               TEXT)                \
    X(KEY_NAME,              "key_name",                TEXT)                \
    X(KEY_TEAM,              "key_team",                TEXT)                \
    X(REFUSED,               "refused",                 TEXT)                \
    X(KEY_SET,               "key_set",                 NONE)                \
    X(RESPONSE_FORMAT,       "response_format",         TEXT)

/*
 * API: chat, responses, messages, ...; ENCODING: the tokenizer's
 * encoding, when used; KEY_NAME: the API key's name= (never the key);
 * REFUSED: why the module refused the call; KEY_SET: LLO_KIND_KEYS only,
 * the key set, a line per key (llo_key_describe()); RESPONSE_FORMAT: the
 * output the request asked for (llo_req_t's, see llo_parse.h).
 */

/*
 *   X(id, bit, column, column type): the bits of LLO_N_FLAGS, LLO_FLAG_<id>,
 *   each a boolean column (FLAG) or none (NONE)
 */
#define LLO_FLAG_FIELDS(X)                                                   \
    X(PROMPT_TRUNC,          0x01,  "prompt_truncated",     FLAG)            \
    X(RESP_TRUNC,            0x02,  "response_truncated",   FLAG)            \
    X(CLIENT_ABORT,          0x04,  "client_aborted",       FLAG)            \
    X(INCOMPLETE,            0x08,  "incomplete",           FLAG)            \
    X(GZIP,                  0x10,  "gzip",                 NONE)            \
    X(USAGE_ADDED,           0x20,  "usage_added",          FLAG)            \
    X(COUNT_TRUNC,           0x40,  "count_truncated",      FLAG)            \
    X(CUT,                   0x80,  "cut",                  FLAG)            \
    X(TOOL_CALLS,            0x100, "tool_calls",           FLAG)

/*
 * INCOMPLETE: a stream ended without its end; USAGE_ADDED:
 * stream_options.include_usage was added to the request; COUNT_TRUNC: a
 * local count covers only part of the text (a prompt's is then an upper
 * bound); CUT: llm_observer_limit_stream cut ended the stream;
 * TOOL_CALLS: the answer called a tool (llo_resp_t's tool_calls).
 */


#define LLO_FIELD_NUM_ENUM(id, column, type)   LLO_N_##id,
#define LLO_FIELD_STR_ENUM(id, column, type)   LLO_S_##id,
#define LLO_FIELD_FLAG_ENUM(id, bit, column, type)  LLO_FLAG_##id = bit,

typedef enum {
    /* numbers: 0 .. LLO_NUM_MAX - 1 */
    LLO_NUM_FIELDS(LLO_FIELD_NUM_ENUM)
    LLO_NUM_MAX,

    /* strings: LLO_STR_BASE .. LLO_STR_END - 1 */
    LLO_S_BEFORE_FIRST = 63,
    LLO_STR_FIELDS(LLO_FIELD_STR_ENUM)
    LLO_STR_END
} llo_field_e;

enum {
    LLO_FLAG_FIELDS(LLO_FIELD_FLAG_ENUM)
    LLO_FLAG_NONE = 0
};

#define LLO_STR_BASE            64
#define LLO_STR_MAX             (LLO_STR_END - LLO_STR_BASE)

#define LLO_KIND_CALL           1
#define LLO_KIND_KEYS           2       /* the keys of a (re)loaded conf */


/* how llm_requests holds a value (the evaluator's COPY text) */

typedef enum {
    LLO_COL_NONE = 0,       /* not a column */
    LLO_COL_UUID,           /* the record id */
    LLO_COL_TS,
    LLO_COL_TEXT,
    LLO_COL_INT,            /* int4: NULL when absent or out of range */
    LLO_COL_BIGINT,
    LLO_COL_BOOL,
    LLO_COL_MS,             /* microseconds in, milliseconds out */
    LLO_COL_NANO,           /* nano-USD in, USD out (numeric, 9 places) */
    LLO_COL_INET,           /* NULL unless an IPv4 or IPv6 address */
    LLO_COL_FLAG            /* a bit of LLO_N_FLAGS, never NULL */
} llo_col_type_e;


typedef struct {
    const char         *name;
    llo_col_type_e      type;
    int                 field;          /* LLO_N_* / LLO_S_* */
    int64_t             flag;           /* LLO_COL_FLAG: its bit */
} llo_column_t;


/*
 * The fields and flags as llm_requests columns, in COPY order: the id,
 * the numbers, the strings, the flags; ended by a NULL name.  Skip those
 * of type LLO_COL_NONE: they are no column.
 */
extern const llo_column_t  llo_columns[];

typedef struct {
    const char         *data;
    uint32_t            len;
} llo_str_t;


typedef struct {
    uint64_t            num_set;        /* bit per number field */
    uint64_t            str_set;        /* bit per string field */
    int64_t             num[LLO_NUM_MAX];
    llo_str_t           str[LLO_STR_MAX];
} llo_rec_t;


#define llo_rec_num(rec, id, v)                                              \
    do { (rec)->num[id] = (v); (rec)->num_set |= 1ULL << (id); } while (0)

#define llo_rec_has_num(rec, id)  (((rec)->num_set >> (id)) & 1)
#define llo_rec_has_str(rec, id)  (((rec)->str_set >> ((id) - LLO_STR_BASE)) & 1)
#define llo_rec_get_str(rec, id)  (&(rec)->str[(id) - LLO_STR_BASE])

void llo_rec_str(llo_rec_t *rec, int id, const void *data, size_t len);

/* bytes llo_rec_encode() needs */
size_t llo_rec_size(const llo_rec_t *rec);

/* encode into buf (at least llo_rec_size() bytes); returns bytes written */
size_t llo_rec_encode(const llo_rec_t *rec, uint8_t *buf);

/*
 * Decode; strings point into buf.  Returns 0, or -1 with err naming the
 * byte offset of the first malformed field.
 */
int llo_rec_decode(llo_rec_t *rec, const uint8_t *buf, size_t len,
    char *err, size_t errlen);

/*
 * The record id as a UUID-shaped string: instance then seq, big endian
 * hex, "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"; buf holds LLO_ID_LEN + 1.
 */
#define LLO_ID_LEN  36
void llo_format_id(uint64_t instance, uint64_t seq, char *buf);

/* the field name as used in the database column, or NULL */
const char *llo_field_name(int id);


#endif /* _LLO_RECORD_H_INCLUDED_ */
