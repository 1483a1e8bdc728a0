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


typedef enum {
    /* numbers: 0 .. LLO_NUM_MAX - 1 */
    LLO_N_KIND = 0,             /* LLO_KIND_* */
    LLO_N_TS_US,                /* request start, unix time, microseconds */
    LLO_N_STREAM,
    LLO_N_STATUS,
    LLO_N_PROMPT_TOKENS,
    LLO_N_COMPLETION_TOKENS,
    LLO_N_TOTAL_TOKENS,
    LLO_N_CACHED_TOKENS,
    LLO_N_REASONING_TOKENS,
    LLO_N_LATENCY_US,
    LLO_N_TTFT_US,
    LLO_N_BYTES_IN,
    LLO_N_BYTES_OUT,
    LLO_N_FLAGS,                /* LLO_FLAG_* */
    LLO_N_MAX_TOKENS,
    LLO_N_UPSTREAM_STATUS,
    LLO_N_PROMPT_ESTIMATE,      /* prompt tokens counted before forwarding */
    LLO_N_CACHE_CREATION_TOKENS,
    LLO_N_COST_NANO,            /* cost of the call, nano-USD */
    LLO_NUM_MAX,

    /* strings: 64 .. 64 + LLO_STR_MAX - 1 */
    LLO_S_REQUEST_ID = 64,
    LLO_S_PROVIDER,
    LLO_S_ENDPOINT,
    LLO_S_REQUEST_MODEL,
    LLO_S_RESPONSE_MODEL,
    LLO_S_FINISH_REASON,
    LLO_S_TOKEN_SOURCE,
    LLO_S_CLIENT_ADDR,
    LLO_S_PROMPT_TEXT,
    LLO_S_RESPONSE_TEXT,
    LLO_S_PARSE_ERROR,
    LLO_S_HOST,
    LLO_S_ERROR_TYPE,
    LLO_S_ERROR_MESSAGE,
    LLO_S_RESPONSE_ID,
    LLO_S_API,                  /* chat, responses, messages, ... */
    LLO_S_ENCODING,             /* the tokenizer's encoding, when used */
    LLO_S_KEY_NAME,             /* the API key's name= (never the key) */
    LLO_S_KEY_TEAM,
    LLO_S_REFUSED,              /* why the module refused the call */
    LLO_S_KEY_SET,              /* LLO_KIND_KEYS: the key set, a line
                                   per key (llo_key_describe()) */
    LLO_STR_END
} llo_field_e;

#define LLO_STR_BASE            64
#define LLO_STR_MAX             (LLO_STR_END - LLO_STR_BASE)

#define LLO_KIND_CALL           1
#define LLO_KIND_KEYS           2       /* the keys of a (re)loaded conf */

#define LLO_FLAG_PROMPT_TRUNC   0x01
#define LLO_FLAG_RESP_TRUNC     0x02
#define LLO_FLAG_CLIENT_ABORT   0x04
#define LLO_FLAG_INCOMPLETE     0x08    /* stream ended without its end */
#define LLO_FLAG_GZIP           0x10
#define LLO_FLAG_USAGE_ADDED    0x20    /* stream_options.include_usage
                                           was added to the request */
#define LLO_FLAG_COUNT_TRUNC    0x40    /* a token count covers only part
                                           of the text */
#define LLO_FLAG_CUT            0x80    /* llm_observer_limit_stream cut
                                           ended the stream */


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
