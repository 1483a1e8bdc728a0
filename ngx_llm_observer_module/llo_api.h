/*
 * llm-observer: what each provider and each API means, in one table.
 *
 * Plain C, no nginx types.  As nginx's upstream protocols fill in the
 * callbacks of an ngx_http_upstream_t, each API fills in an llo_api_t:
 * how its URI is recognised, the paths its request and response parsers
 * look for (llo_parse.c walks them), how its counts are made of the parts
 * sent, how its stream ends and how a stream the module cuts is ended.
 * Each provider fills in an llo_provider_t: its name, which API a URI
 * means when it is configured, a URI form only it uses, the shape of its
 * error bodies, where its clients present the key, and whether tiktoken
 * counts its models exactly.
 *
 * The OpenAI-compatible servers (Mistral, Groq, DeepSeek, vLLM, Ollama,
 * Azure OpenAI) are dialects: they speak OpenAI's APIs, so they share its
 * llo_api_t; their own usage fields are in OpenAI's maps (a field OpenAI
 * never sends costs nothing there), and what else differs is in their
 * llo_provider_t.  A new provider is one entry in llo_api.c.
 */

#ifndef _LLO_API_H_INCLUDED_
#define _LLO_API_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "llo_parse.h"


/* the providers, as stored in the record (llo_provider_name()) */
#define LLO_PROV_UNKNOWN        0
#define LLO_PROV_OPENAI         1
#define LLO_PROV_ANTHROPIC      2
#define LLO_PROV_GEMINI         3
#define LLO_PROV_MISTRAL        4
#define LLO_PROV_GROQ           5
#define LLO_PROV_DEEPSEEK       6
#define LLO_PROV_VLLM           7
#define LLO_PROV_OLLAMA         8
#define LLO_PROV_AZURE          9
#define LLO_PROV_N              10

/* the API shape of an endpoint: what the parsers look for */
#define LLO_API_UNKNOWN         0       /* bytes and timings only */
#define LLO_API_CHAT            1       /* OpenAI /v1/chat/completions */
#define LLO_API_COMPLETIONS     2       /* OpenAI /v1/completions */
#define LLO_API_RESPONSES       3       /* OpenAI /v1/responses */
#define LLO_API_EMBEDDINGS      4       /* OpenAI /v1/embeddings */
#define LLO_API_MESSAGES        5       /* Anthropic /v1/messages */
#define LLO_API_GEMINI          6       /* Gemini ...:generateContent,
                                           ...:streamGenerateContent */
#define LLO_API_N               7


/* what a JSON path means to the parsers */

typedef enum {
    LLO_F_NONE = 0,
    LLO_F_ID,
    LLO_F_MODEL,
    LLO_F_FINISH,
    LLO_F_TEXT,
    LLO_F_PT,
    LLO_F_CT,
    LLO_F_TT,
    LLO_F_CACHED,
    LLO_F_REASONING,
    LLO_F_ERR_TYPE,
    LLO_F_ERR_MSG,

    LLO_F_ERR_CODE,             /* error_type, unless a "type" gave one */
    LLO_F_STATUS,               /* finish_reason, unless a reason gave one */
    LLO_F_TEXT_IF_TYPE,         /* text if the object's gate opens */
    LLO_F_TEXT_UNLESS_THOUGHT,  /* text unless the object is a thought */
    LLO_F_GATE_TYPE,            /* the object's "type": opens on accept */
    LLO_F_GATE_THOUGHT,         /* Gemini "thought": true closes */
    LLO_F_EV_TYPE,              /* an SSE event's top-level "type" */
    LLO_F_EV_STATUS,            /* kept until the event's type is known */
    LLO_F_EV_REASON,
    LLO_F_EV_CODE,
    LLO_F_EV_MSG,
    LLO_F_A_IN,                 /* Anthropic input_tokens */
    LLO_F_A_CC,                 /* cache_creation_input_tokens */
    LLO_F_A_CR,                 /* cache_read_input_tokens */
    LLO_F_G_CAND,               /* Gemini candidatesTokenCount */
    LLO_F_G_THOUGHTS,           /* thoughtsTokenCount */
    LLO_F_TOOL_CALL,            /* the answer calls a tool */

    LLO_F_REQ_MODEL,
    LLO_F_REQ_STREAM,
    LLO_F_REQ_USAGE,
    LLO_F_REQ_OPTIONS,          /* the key is there, whatever its value */
    LLO_F_REQ_MAX,
    LLO_F_REQ_TEXT,             /* prompt text, and counted */
    LLO_F_REQ_COUNT,            /* counted only (role, tool_call_id) */
    LLO_F_REQ_NAME,             /* counted, and 1 of framing */
    LLO_F_REQ_MSG,              /* a message (an object) starts */
    LLO_F_REQ_PROMPT,           /* a prompt string or a token id */
    LLO_F_REQ_INSTR,            /* Responses "instructions" */
    LLO_F_REQ_INPUT,            /* Responses "input" as a string */
    LLO_F_REQ_FORMAT,           /* the output format's "type" */
    LLO_F_REQ_MIME,             /* Gemini responseMimeType */
    LLO_F_REQ_SCHEMA,           /* Gemini: a response schema starts */
    LLO_F_REQ_REQUIRED,         /* a required key of the output schema */
    LLO_F_REQ_TOOL,             /* a declared tool (an object) starts */

    LLO_F_MAX
} llo_path_field_e;


typedef struct {
    const char         *path;
    size_t              len;
    llo_path_field_e    field;
    const char         *accept;         /* the "type" that opens a gate */
    unsigned            wild:1;         /* "a[]." matches "a[].<any key>" */
} llo_path_map_t;


/* counts some providers send in parts; -1: not sent */

typedef struct {
    int64_t             input;          /* Anthropic input_tokens */
    int64_t             cache_creation; /* cache_creation_input_tokens */
    int64_t             cache_read;     /* cache_read_input_tokens */
    int64_t             candidates;     /* Gemini candidatesTokenCount */
    int64_t             thoughts;       /* thoughtsTokenCount */
} llo_usage_parts_t;


/* what a stream the module cuts short ends with (id, model JSON-escaped) */

typedef struct {
    const char         *id;
    size_t              id_len;
    const char         *model;
    size_t              model_len;
    int64_t             completion;     /* tokens sent before the cut */
    int64_t             created;        /* unix seconds */
} llo_cut_t;


typedef struct llo_api_s       llo_api_t;
typedef struct llo_provider_s  llo_provider_t;

/* 1 when uri[0..len) is this API's; a model it names goes to *model */
typedef int (*llo_uri_pt)(const llo_api_t *a, const uint8_t *uri,
    size_t len, llo_sstr_t *model);

/* the counts of r made again from the parts, after a part arrived */
typedef void (*llo_derive_pt)(const llo_usage_parts_t *u, llo_resp_t *r);

/* the end of a cut stream written at buf (size bytes); its length */
typedef size_t (*llo_cut_end_pt)(char *buf, size_t size, const llo_cut_t *c);

/* an error body (msg JSON-escaped) written at buf; its length */
typedef size_t (*llo_error_body_pt)(char *buf, size_t size, int status,
    const char *type, const char *code, const char *msg, size_t len);

/* the API of a URI when the provider is configured */
typedef int (*llo_api_for_pt)(const llo_provider_t *p, const uint8_t *uri,
    size_t len, llo_sstr_t *model);


struct llo_api_s {
    int                     api;            /* LLO_API_* */
    const char             *name;           /* the record's "api" */
    int                     provider;       /* the one "auto" gives it */
    const char             *suffix;         /* its URI path ends so */
    llo_uri_pt              uri;            /* recognises its URIs */
    const char             *stream_uri;     /* in the URI: it streams */

    const llo_path_map_t   *req;            /* request paths */
    const llo_path_map_t   *resp;           /* response and event paths */
    llo_derive_pt           derive;         /* NULL: counts as sent */

    const char *const      *end_events;     /* SSE event types: its end */
    const char             *error_event;    /* SSE event type: an error */
    const char             *text_event;     /* an event: line whose data
                                               alone carries text */
    llo_cut_end_pt          cut_end;        /* NULL: never cut */
    const char             *cut_reason;     /* finish reason of a cut */

    unsigned                framing:1;      /* tiktoken's chat framing */
    unsigned                gates:1;        /* text decided by a sibling */
    unsigned                skim:1;         /* the chunk skimmer applies */
    unsigned                end_on_finish:1;    /* no end marker: the
                                                   finish reason ends it */
    unsigned                completion:1;   /* it generates tokens */
    unsigned                stream_options:1;   /* takes stream_options.
                                                   include_usage */
};


struct llo_provider_s {
    int                     provider;       /* LLO_PROV_* */
    const char             *name;           /* the record's "provider" and
                                               llm_observer_provider's */
    int                     speaks;         /* whose APIs: its own, or
                                               OpenAI's for a dialect */
    llo_api_for_pt          api_for;        /* configured: URI to API */
    llo_uri_pt              claim;          /* auto: a URI form only it
                                               uses, among the APIs of
                                               the provider it speaks */
    llo_error_body_pt       error_body;     /* the module's refusals */
    const char             *key_header;     /* where its own clients send
                                               the key */
    unsigned                tiktoken:1;     /* its models count exactly */
    unsigned                stream_usage:1; /* llm_observer_stream_usage may
                                               add include_usage */
};


/* NULL for LLO_API_UNKNOWN or a number out of range */
const llo_api_t *llo_api_get(int api);

/* never NULL: out of range is the "unknown" provider */
const llo_provider_t *llo_provider_get(int provider);

/*
 * The provider and API of a request URI (path only, no query), for
 * "auto": /v1/chat/completions, /v1/completions, /v1/responses,
 * /v1/embeddings (openai), /v1/messages (anthropic), models/<m>:
 * generateContent and :streamGenerateContent (gemini, model from the
 * URI into *model when model is not NULL), and among OpenAI's, the
 * /openai/deployments/<d>/... form (azure, model <d>).  Any prefix before
 * these is allowed (/openai/v1/...); LLO_API_UNKNOWN otherwise.
 */
int llo_api_detect(const uint8_t *uri, size_t len, int *provider,
    llo_sstr_t *model);

/* the API of an endpoint when the provider is fixed by configuration */
int llo_api_for(int provider, const uint8_t *uri, size_t len,
    llo_sstr_t *model);

const char *llo_provider_name(int provider);
const char *llo_api_name(int api);


#endif /* _LLO_API_H_INCLUDED_ */
