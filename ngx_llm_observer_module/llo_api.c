/*
 * llm-observer providers and APIs: see llo_api.h.
 *
 * The tables first (what each path of each API means), then how URIs are
 * recognised, how counts are made of parts, how streams the module cuts
 * are ended, the error bodies of the module's refusals, and last the
 * descriptors that tie them together.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "llo_api.h"


static int llo_ends(const uint8_t *s, size_t len, const char *suffix);
static int llo_contains(const uint8_t *s, size_t len, const char *what);
static int llo_suffix_uri(const llo_api_t *a, const uint8_t *uri,
    size_t len, llo_sstr_t *model);
static int llo_messages_uri(const llo_api_t *a, const uint8_t *uri,
    size_t len, llo_sstr_t *model);
static int llo_gemini_uri(const llo_api_t *a, const uint8_t *uri,
    size_t len, llo_sstr_t *model);
static int llo_azure_uri(const llo_api_t *a, const uint8_t *uri,
    size_t len, llo_sstr_t *model);
static int llo_openai_api_for(const llo_provider_t *p, const uint8_t *uri,
    size_t len, llo_sstr_t *model);
static int llo_azure_api_for(const llo_provider_t *p, const uint8_t *uri,
    size_t len, llo_sstr_t *model);
static int llo_anthropic_api_for(const llo_provider_t *p,
    const uint8_t *uri, size_t len, llo_sstr_t *model);
static int llo_gemini_api_for(const llo_provider_t *p, const uint8_t *uri,
    size_t len, llo_sstr_t *model);
static void llo_anthropic_derive(const llo_usage_parts_t *u, llo_resp_t *r);
static void llo_gemini_derive(const llo_usage_parts_t *u, llo_resp_t *r);
static size_t llo_chat_cut_end(char *buf, size_t size, const llo_cut_t *c);
static size_t llo_messages_cut_end(char *buf, size_t size,
    const llo_cut_t *c);
static size_t llo_openai_error(char *buf, size_t size, int status,
    const char *type, const char *code, const char *msg, size_t len);
static size_t llo_anthropic_error(char *buf, size_t size, int status,
    const char *type, const char *code, const char *msg, size_t len);
static size_t llo_gemini_error(char *buf, size_t size, int status,
    const char *type, const char *code, const char *msg, size_t len);
static size_t llo_print(char *buf, size_t size, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
static const char *llo_status_name(int status, const char *const *names);


/* -- what each path means ---------------------------------------------- */


#define llo_pm(s, f)     { s, sizeof(s) - 1, f, NULL, 0 }
#define llo_pa(s, f, a)  { s, sizeof(s) - 1, f, a, 0 }
#define llo_pw(s, f)     { s, sizeof(s) - 1, f, NULL, 1 }

/* streamGenerateContent without alt=sse is one JSON array of responses */
#define llo_pg(s, f)     llo_pm(s, f), llo_pm("[]." s, f)
#define llo_pga(s, f, a) llo_pa(s, f, a), llo_pa("[]." s, f, a)

#define llo_pm_end       { NULL, 0, LLO_F_NONE, NULL, 0 }


/*
 * OpenAI chat completions.  The completions and error paths are here too:
 * an OpenAI endpoint the URI does not name is parsed as chat.
 *
 * The OpenAI-compatible dialects' own usage fields are read here too,
 * whichever provider is configured: OpenAI never sends them.  DeepSeek
 * reports its cache as usage.prompt_cache_hit_tokens (prompt_tokens is
 * hits + misses; prompt_tokens_details.cached_tokens, when it is also
 * sent, is the same number); Groq's streams carry their usage only in
 * x_groq.usage of the last chunk.  Both are counts sent once, in the
 * same document as the rest of the usage.  Their reasoning text
 * (DeepSeek's and vLLM's reasoning_content) is not answer text.
 *
 * In every API a tool call is seen by a string each call has (here its
 * function's name; a stream sends it in the call's first delta); the
 * calls' arguments are not kept.
 */

static const llo_path_map_t  llo_resp_chat[] = {
    llo_pm("id", LLO_F_ID),
    llo_pm("model", LLO_F_MODEL),
    llo_pm("choices[].finish_reason", LLO_F_FINISH),
    llo_pm("choices[].delta.content", LLO_F_TEXT),
    llo_pm("choices[].message.content", LLO_F_TEXT),
    llo_pm("choices[].text", LLO_F_TEXT),
    llo_pm("usage.prompt_tokens", LLO_F_PT),
    llo_pm("usage.completion_tokens", LLO_F_CT),
    llo_pm("usage.total_tokens", LLO_F_TT),
    llo_pm("usage.prompt_tokens_details.cached_tokens", LLO_F_CACHED),
    llo_pm("usage.completion_tokens_details.reasoning_tokens",
           LLO_F_REASONING),
    llo_pm("usage.prompt_cache_hit_tokens", LLO_F_CACHED),
    llo_pm("x_groq.usage.prompt_tokens", LLO_F_PT),
    llo_pm("x_groq.usage.completion_tokens", LLO_F_CT),
    llo_pm("x_groq.usage.total_tokens", LLO_F_TT),
    llo_pm("choices[].message.tool_calls[].function.name", LLO_F_TOOL_CALL),
    llo_pm("choices[].delta.tool_calls[].function.name", LLO_F_TOOL_CALL),
    llo_pm("choices[].message.function_call.name", LLO_F_TOOL_CALL),
    llo_pm("choices[].delta.function_call.name", LLO_F_TOOL_CALL),
    llo_pm("error.type", LLO_F_ERR_TYPE),
    llo_pm("error.message", LLO_F_ERR_MSG),
    llo_pm("error", LLO_F_ERR_MSG),
    llo_pm_end
};

static const llo_path_map_t  llo_resp_completions[] = {
    llo_pm("id", LLO_F_ID),
    llo_pm("model", LLO_F_MODEL),
    llo_pm("choices[].finish_reason", LLO_F_FINISH),
    llo_pm("choices[].text", LLO_F_TEXT),
    llo_pm("usage.prompt_tokens", LLO_F_PT),
    llo_pm("usage.completion_tokens", LLO_F_CT),
    llo_pm("usage.total_tokens", LLO_F_TT),
    llo_pm("usage.prompt_tokens_details.cached_tokens", LLO_F_CACHED),
    llo_pm("usage.completion_tokens_details.reasoning_tokens",
           LLO_F_REASONING),
    llo_pm("error.type", LLO_F_ERR_TYPE),
    llo_pm("error.message", LLO_F_ERR_MSG),
    llo_pm("error", LLO_F_ERR_MSG),
    llo_pm_end
};

/* data[].embedding[] is thousands of numbers: nothing here matches them */

static const llo_path_map_t  llo_resp_embeddings[] = {
    llo_pm("model", LLO_F_MODEL),
    llo_pm("usage.prompt_tokens", LLO_F_PT),
    llo_pm("usage.total_tokens", LLO_F_TT),
    llo_pm("error.type", LLO_F_ERR_TYPE),
    llo_pm("error.message", LLO_F_ERR_MSG),
    llo_pm("error", LLO_F_ERR_MSG),
    llo_pm_end
};

/*
 * OpenAI responses.  The body is the response object; a stream's events
 * carry it under "response" (created, in_progress, and the terminal
 * completed / incomplete / failed, whose output[] repeats the text the
 * deltas brought: "response.output[]" text is deliberately not here, only
 * its tool calls, which no delta names as such).  Text is
 * the "delta" of response.output_text.delta events only, and the type
 * comes from the event: line, or from "type" when there is none.
 */

static const llo_path_map_t  llo_resp_responses[] = {
    llo_pm("id", LLO_F_ID),
    llo_pm("model", LLO_F_MODEL),
    llo_pm("status", LLO_F_STATUS),
    llo_pm("incomplete_details.reason", LLO_F_FINISH),
    llo_pm("output[].content[].text", LLO_F_TEXT_IF_TYPE),
    llo_pa("output[].content[].type", LLO_F_GATE_TYPE, "output_text"),
    llo_pm("usage.input_tokens", LLO_F_PT),
    llo_pm("usage.output_tokens", LLO_F_CT),
    llo_pm("usage.total_tokens", LLO_F_TT),
    llo_pm("usage.input_tokens_details.cached_tokens", LLO_F_CACHED),
    llo_pm("usage.output_tokens_details.reasoning_tokens", LLO_F_REASONING),
    llo_pm("output[].call_id", LLO_F_TOOL_CALL),
    llo_pm("error.type", LLO_F_ERR_TYPE),
    llo_pm("error.code", LLO_F_ERR_CODE),
    llo_pm("error.message", LLO_F_ERR_MSG),

    llo_pa("type", LLO_F_EV_TYPE, "response.output_text.delta"),
    llo_pm("delta", LLO_F_TEXT_IF_TYPE),
    llo_pm("response.id", LLO_F_ID),
    llo_pm("response.model", LLO_F_MODEL),
    llo_pm("response.status", LLO_F_EV_STATUS),
    llo_pm("response.incomplete_details.reason", LLO_F_EV_REASON),
    llo_pm("response.usage.input_tokens", LLO_F_PT),
    llo_pm("response.usage.output_tokens", LLO_F_CT),
    llo_pm("response.usage.total_tokens", LLO_F_TT),
    llo_pm("response.usage.input_tokens_details.cached_tokens",
           LLO_F_CACHED),
    llo_pm("response.usage.output_tokens_details.reasoning_tokens",
           LLO_F_REASONING),
    llo_pm("response.error.code", LLO_F_ERR_CODE),
    llo_pm("response.error.message", LLO_F_ERR_MSG),
    llo_pm("response.output[].call_id", LLO_F_TOOL_CALL),
    llo_pm("item.call_id", LLO_F_TOOL_CALL),

    /* an "error" event: {"type":"error","code":...,"message":...}; other
     * events have a top-level "code" too (code interpreter) */
    llo_pm("code", LLO_F_EV_CODE),
    llo_pm("message", LLO_F_EV_MSG),
    llo_pm_end
};

/*
 * Anthropic messages.  The body is the message; a stream sends it in
 * message_start (no content yet), then content_block_start/_delta (text
 * only in "text" blocks and "text_delta" deltas: thinking, tool input and
 * signatures are not answer text), then message_delta with the stop
 * reason and usage counts that replace the earlier ones.  A content block
 * with an id is a tool call (tool_use, server_tool_use): text blocks have
 * none.
 */

static const llo_path_map_t  llo_resp_messages[] = {
    llo_pm("id", LLO_F_ID),
    llo_pm("model", LLO_F_MODEL),
    llo_pm("stop_reason", LLO_F_FINISH),
    llo_pm("content[].text", LLO_F_TEXT_IF_TYPE),
    llo_pa("content[].type", LLO_F_GATE_TYPE, "text"),
    llo_pm("usage.input_tokens", LLO_F_A_IN),
    llo_pm("usage.cache_creation_input_tokens", LLO_F_A_CC),
    llo_pm("usage.cache_read_input_tokens", LLO_F_A_CR),
    llo_pm("usage.output_tokens", LLO_F_CT),
    llo_pm("content[].id", LLO_F_TOOL_CALL),
    llo_pm("error.type", LLO_F_ERR_TYPE),
    llo_pm("error.message", LLO_F_ERR_MSG),

    llo_pm("type", LLO_F_EV_TYPE),
    llo_pm("message.id", LLO_F_ID),
    llo_pm("message.model", LLO_F_MODEL),
    llo_pm("message.content[].text", LLO_F_TEXT_IF_TYPE),
    llo_pa("message.content[].type", LLO_F_GATE_TYPE, "text"),
    llo_pm("message.usage.input_tokens", LLO_F_A_IN),
    llo_pm("message.usage.cache_creation_input_tokens", LLO_F_A_CC),
    llo_pm("message.usage.cache_read_input_tokens", LLO_F_A_CR),
    llo_pm("message.usage.output_tokens", LLO_F_CT),
    llo_pm("message.content[].id", LLO_F_TOOL_CALL),
    llo_pm("content_block.id", LLO_F_TOOL_CALL),
    llo_pm("content_block.text", LLO_F_TEXT_IF_TYPE),
    llo_pa("content_block.type", LLO_F_GATE_TYPE, "text"),
    llo_pm("delta.text", LLO_F_TEXT_IF_TYPE),
    llo_pa("delta.type", LLO_F_GATE_TYPE, "text_delta"),
    llo_pm("delta.stop_reason", LLO_F_FINISH),
    llo_pm_end
};

/*
 * Gemini generateContent and streamGenerateContent: each SSE event, and
 * each element of the JSON array streamGenerateContent sends without
 * alt=sse, is a whole response; usageMetadata is cumulative.
 */

static const llo_path_map_t  llo_resp_gemini[] = {
    llo_pg("responseId", LLO_F_ID),
    llo_pg("modelVersion", LLO_F_MODEL),
    llo_pg("candidates[].finishReason", LLO_F_FINISH),
    llo_pg("candidates[].content.parts[].text", LLO_F_TEXT_UNLESS_THOUGHT),
    llo_pg("candidates[].content.parts[].thought", LLO_F_GATE_THOUGHT),
    llo_pg("usageMetadata.promptTokenCount", LLO_F_PT),
    llo_pg("usageMetadata.cachedContentTokenCount", LLO_F_CACHED),
    llo_pg("usageMetadata.candidatesTokenCount", LLO_F_G_CAND),
    llo_pg("usageMetadata.thoughtsTokenCount", LLO_F_G_THOUGHTS),
    llo_pg("usageMetadata.totalTokenCount", LLO_F_TT),
    llo_pg("candidates[].content.parts[].functionCall.name",
           LLO_F_TOOL_CALL),
    llo_pg("error.status", LLO_F_ERR_TYPE),
    llo_pg("error.message", LLO_F_ERR_MSG),
    llo_pm_end
};


/* the keys every JSON request may have; Gemini's differ (see below) */

#define llo_req_common                                                        \
    llo_pm("model", LLO_F_REQ_MODEL),                                         \
    llo_pm("stream", LLO_F_REQ_STREAM),                                       \
    llo_pm("stream_options", LLO_F_REQ_OPTIONS),                              \
    llo_pm("stream_options.include_usage", LLO_F_REQ_USAGE)

/*
 * Every string of a message is counted (tiktoken's cookbook).  Each API
 * also says what output its requests ask for (llo_req_t's
 * response_format): JSON, a JSON schema's top-level required keys (not
 * those of its properties), tools.
 */

static const llo_path_map_t  llo_req_chat[] = {
    llo_req_common,
    llo_pm("max_tokens", LLO_F_REQ_MAX),
    llo_pm("max_completion_tokens", LLO_F_REQ_MAX),
    llo_pm("response_format.type", LLO_F_REQ_FORMAT),
    llo_pm("response_format.json_schema.schema.required[]",
           LLO_F_REQ_REQUIRED),
    llo_pm("tools[]", LLO_F_REQ_TOOL),
    llo_pm("functions[]", LLO_F_REQ_TOOL),
    llo_pm("messages[]", LLO_F_REQ_MSG),
    llo_pm("messages[].content", LLO_F_REQ_TEXT),
    llo_pm("messages[].content[].text", LLO_F_REQ_TEXT),
    llo_pm("messages[].name", LLO_F_REQ_NAME),
    llo_pw("messages[].", LLO_F_REQ_COUNT),
    llo_pm_end
};

static const llo_path_map_t  llo_req_completions[] = {
    llo_req_common,
    llo_pm("max_tokens", LLO_F_REQ_MAX),
    llo_pm("prompt", LLO_F_REQ_PROMPT),
    llo_pm("prompt[]", LLO_F_REQ_PROMPT),
    llo_pm("prompt[][]", LLO_F_REQ_PROMPT),
    llo_pm_end
};

static const llo_path_map_t  llo_req_embeddings[] = {
    llo_req_common,
    llo_pm("input", LLO_F_REQ_PROMPT),
    llo_pm("input[]", LLO_F_REQ_PROMPT),
    llo_pm("input[][]", LLO_F_REQ_PROMPT),
    llo_pm_end
};

static const llo_path_map_t  llo_req_responses[] = {
    llo_req_common,
    llo_pm("max_output_tokens", LLO_F_REQ_MAX),
    llo_pm("text.format.type", LLO_F_REQ_FORMAT),
    llo_pm("text.format.schema.required[]", LLO_F_REQ_REQUIRED),
    llo_pm("tools[]", LLO_F_REQ_TOOL),
    llo_pm("instructions", LLO_F_REQ_INSTR),
    llo_pm("input", LLO_F_REQ_INPUT),
    llo_pm("input[]", LLO_F_REQ_MSG),
    llo_pm("input[].role", LLO_F_REQ_COUNT),
    llo_pm("input[].content", LLO_F_REQ_TEXT),
    llo_pm("input[].content[].text", LLO_F_REQ_TEXT),
    llo_pm_end
};

/* output_format: Anthropic's structured outputs */

static const llo_path_map_t  llo_req_messages[] = {
    llo_req_common,
    llo_pm("max_tokens", LLO_F_REQ_MAX),
    llo_pm("output_format.type", LLO_F_REQ_FORMAT),
    llo_pm("output_format.schema.required[]", LLO_F_REQ_REQUIRED),
    llo_pm("tools[]", LLO_F_REQ_TOOL),
    llo_pm("system", LLO_F_REQ_TEXT),
    llo_pm("system[].text", LLO_F_REQ_TEXT),
    llo_pm("messages[]", LLO_F_REQ_MSG),
    llo_pm("messages[].content", LLO_F_REQ_TEXT),
    llo_pm("messages[].content[].text", LLO_F_REQ_TEXT),
    llo_pm_end
};

/*
 * The model and streaming are in Gemini's URI, not its body; its JSON
 * parser takes proto field names too, and Google's own examples use both
 * spellings: llo_pgc() gives a key of generationConfig in all four.  A
 * schema is responseSchema (OpenAPI's subset) or responseJsonSchema.
 */

#define llo_pgc(camel, proto, f)                                              \
    llo_pm("generationConfig." camel, f),                                     \
    llo_pm("generationConfig." proto, f),                                     \
    llo_pm("generation_config." camel, f),                                    \
    llo_pm("generation_config." proto, f)

static const llo_path_map_t  llo_req_gemini[] = {
    llo_pm("contents[]", LLO_F_REQ_MSG),
    llo_pm("contents[].parts[].text", LLO_F_REQ_TEXT),
    llo_pm("systemInstruction.parts[].text", LLO_F_REQ_TEXT),
    llo_pm("system_instruction.parts[].text", LLO_F_REQ_TEXT),
    llo_pgc("maxOutputTokens", "max_output_tokens", LLO_F_REQ_MAX),
    llo_pgc("responseMimeType", "response_mime_type", LLO_F_REQ_MIME),
    llo_pgc("responseSchema", "response_schema", LLO_F_REQ_SCHEMA),
    llo_pgc("responseSchema.required[]", "response_schema.required[]",
            LLO_F_REQ_REQUIRED),
    llo_pgc("responseJsonSchema", "response_json_schema", LLO_F_REQ_SCHEMA),
    llo_pgc("responseJsonSchema.required[]",
            "response_json_schema.required[]", LLO_F_REQ_REQUIRED),
    llo_pm("tools[]", LLO_F_REQ_TOOL),
    llo_pm_end
};


/* -- URIs ---------------------------------------------------------------- */


static int
llo_ends(const uint8_t *s, size_t len, const char *suffix)
{
    size_t  n;

    n = strlen(suffix);

    return len >= n && memcmp(s + len - n, suffix, n) == 0;
}


static int
llo_contains(const uint8_t *s, size_t len, const char *what)
{
    size_t  i, n;

    n = strlen(what);

    for (i = 0; i + n <= len; i++) {
        if (memcmp(s + i, what, n) == 0) {
            return 1;
        }
    }

    return 0;
}


/* OpenAI's: the path ends with the API's own ("/chat/completions") */

static int
llo_suffix_uri(const llo_api_t *a, const uint8_t *uri, size_t len,
    llo_sstr_t *model)
{
    return llo_ends(uri, len, a->suffix);
}


/* "/messages", but not OpenAI's assistants' /threads/<id>/messages */

static int
llo_messages_uri(const llo_api_t *a, const uint8_t *uri, size_t len,
    llo_sstr_t *model)
{
    size_t  k;

    if (!llo_ends(uri, len, a->suffix)) {
        return 0;
    }

    k = len - strlen(a->suffix);

    while (k > 0 && uri[k - 1] != '/') {
        k--;
    }

    return !llo_ends(uri, k, "/threads/");
}


/*
 * ".../models/<model>:generateContent" or ":streamGenerateContent" (also
 * tunedModels/, and Vertex AI's .../publishers/google/models/<model>:...).
 * The model segment is kept as sent, percent-escapes and all.
 */

static int
llo_gemini_uri(const llo_api_t *a, const uint8_t *uri, size_t len,
    llo_sstr_t *model)
{
    size_t  colon, start;

    if (llo_ends(uri, len, ":generateContent")) {
        colon = len - (sizeof(":generateContent") - 1);

    } else if (llo_ends(uri, len, ":streamGenerateContent")) {
        colon = len - (sizeof(":streamGenerateContent") - 1);

    } else {
        return 0;
    }

    start = colon;

    while (start > 0 && uri[start - 1] != '/') {
        start--;
    }

    if (start == colon
        || (!(llo_ends(uri, start, "models/")
              && (start == 7 || uri[start - 8] == '/'))
            && !(llo_ends(uri, start, "tunedModels/")
                 && (start == 12 || uri[start - 13] == '/'))))
    {
        return 0;
    }

    if (model) {
        llo_sstr_set(model, uri + start, colon - start);
    }

    return 1;
}


/*
 * Azure OpenAI: ".../openai/deployments/<deployment>/chat/completions"
 * (?api-version=... is the query).  The deployment names the model the
 * call goes to; the body usually has no "model".
 */

static int
llo_azure_uri(const llo_api_t *a, const uint8_t *uri, size_t len,
    llo_sstr_t *model)
{
    size_t  start, end;

    if (a == NULL || a->suffix == NULL || !llo_ends(uri, len, a->suffix)) {
        return 0;
    }

    end = len - strlen(a->suffix);
    start = end;

    while (start > 0 && uri[start - 1] != '/') {
        start--;
    }

    if (start == end || !llo_ends(uri, start, "/openai/deployments/")) {
        return 0;
    }

    if (model) {
        llo_sstr_set(model, uri + start, end - start);
    }

    return 1;
}


/* OpenAI and its dialects: the endpoint by its suffix, chat when none */

static int
llo_openai_api_for(const llo_provider_t *p, const uint8_t *uri, size_t len,
    llo_sstr_t *model)
{
    int               api;
    const llo_api_t  *a;

    for (api = LLO_API_UNKNOWN + 1; api < LLO_API_N; api++) {
        a = llo_api_get(api);

        if (a->provider == LLO_PROV_OPENAI && a->uri(a, uri, len, model)) {
            return api;
        }
    }

    return LLO_API_CHAT;
}


static int
llo_azure_api_for(const llo_provider_t *p, const uint8_t *uri, size_t len,
    llo_sstr_t *model)
{
    int  api;

    api = llo_openai_api_for(p, uri, len, model);

    (void) llo_azure_uri(llo_api_get(api), uri, len, model);

    return api;
}


/* Anthropic's count_tokens and batches answer in other shapes */

static int
llo_anthropic_api_for(const llo_provider_t *p, const uint8_t *uri,
    size_t len, llo_sstr_t *model)
{
    if (llo_ends(uri, len, "/count_tokens")
        || llo_contains(uri, len, "/messages/batches"))
    {
        return LLO_API_UNKNOWN;
    }

    return LLO_API_MESSAGES;
}


static int
llo_gemini_api_for(const llo_provider_t *p, const uint8_t *uri, size_t len,
    llo_sstr_t *model)
{
    const llo_api_t  *a;

    a = llo_api_get(LLO_API_GEMINI);

    (void) a->uri(a, uri, len, model);

    return LLO_API_GEMINI;
}


/* -- counts made of parts ------------------------------------------------ */


/*
 * Anthropic: the prompt is input + cache creation + cache read
 * (input_tokens counts only what came after the last cache breakpoint).
 */

static void
llo_anthropic_derive(const llo_usage_parts_t *u, llo_resp_t *r)
{
    if (u->input >= 0 || u->cache_creation >= 0 || u->cache_read >= 0) {
        r->prompt_tokens = (u->input > 0 ? u->input : 0)
                           + (u->cache_creation > 0 ? u->cache_creation : 0)
                           + (u->cache_read > 0 ? u->cache_read : 0);
    }

    r->cached_tokens = u->cache_read;
    r->cache_creation_tokens = u->cache_creation;

    if (r->prompt_tokens >= 0 && r->completion_tokens >= 0) {
        r->total_tokens = r->prompt_tokens + r->completion_tokens;
    }
}


/* Gemini: the completion is candidates + thoughts, as OpenAI's completion
 * includes its reasoning */

static void
llo_gemini_derive(const llo_usage_parts_t *u, llo_resp_t *r)
{
    if (u->candidates >= 0 || u->thoughts >= 0) {
        r->completion_tokens = (u->candidates > 0 ? u->candidates : 0)
                               + (u->thoughts > 0 ? u->thoughts : 0);
    }

    r->reasoning_tokens = u->thoughts;
}


/* -- the end of a stream the module cuts ------------------------------- */


/* snprintf into size bytes; what it wrote, cut or not */

static size_t
llo_print(char *buf, size_t size, const char *fmt, ...)
{
    int      n;
    va_list  args;

    if (size == 0) {
        return 0;
    }

    va_start(args, fmt);
    n = vsnprintf(buf, size, fmt, args);
    va_end(args);

    if (n < 0) {
        return 0;
    }

    return (size_t) n < size ? (size_t) n : size - 1;
}


/* the last chunk a provider sends when max_tokens ran out, and [DONE] */

static size_t
llo_chat_cut_end(char *buf, size_t size, const llo_cut_t *c)
{
    return llo_print(buf, size,
                     "data: {\"id\":\"%.*s\",\"object\":"
                     "\"chat.completion.chunk\",\"created\":%lld,"
                     "\"model\":\"%.*s\",\"choices\":[{\"index\":0,"
                     "\"delta\":{},\"logprobs\":null,"
                     "\"finish_reason\":\"length\"}]}\n\n"
                     "data: [DONE]\n\n",
                     (int) c->id_len, c->id,
                     (long long) c->created,
                     (int) c->model_len, c->model);
}


static size_t
llo_messages_cut_end(char *buf, size_t size, const llo_cut_t *c)
{
    return llo_print(buf, size,
                     "event: message_delta\n"
                     "data: {\"type\":\"message_delta\",\"delta\":"
                     "{\"stop_reason\":\"max_tokens\","
                     "\"stop_sequence\":null},\"usage\":"
                     "{\"output_tokens\":%lld}}\n\n"
                     "event: message_stop\n"
                     "data: {\"type\":\"message_stop\"}\n\n",
                     (long long) c->completion);
}


/* -- the module's refusals, in each provider's error shape -------------- */


static size_t
llo_openai_error(char *buf, size_t size, int status, const char *type,
    const char *code, const char *msg, size_t len)
{
    return llo_print(buf, size,
                     "{\"error\":{\"message\":\"%.*s\",\"type\":"
                     "\"%s\",\"param\":null,\"code\":\"%s\"}}\n",
                     (int) len, msg, type, code);
}


/* Anthropic's error type and Gemini's status for 401, 403, and 429 */

static const char *const  llo_anthropic_types[] = {
    "authentication_error", "permission_error", "rate_limit_error"
};

static const char *const  llo_gemini_statuses[] = {
    "UNAUTHENTICATED", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED"
};


static const char *
llo_status_name(int status, const char *const *names)
{
    return names[status == 401 ? 0 : status == 403 ? 1 : 2];
}


static size_t
llo_anthropic_error(char *buf, size_t size, int status, const char *type,
    const char *code, const char *msg, size_t len)
{
    return llo_print(buf, size,
                     "{\"type\":\"error\",\"error\":{\"type\":"
                     "\"%s\",\"message\":\"%.*s\"}}\n",
                     llo_status_name(status, llo_anthropic_types),
                     (int) len, msg);
}


static size_t
llo_gemini_error(char *buf, size_t size, int status, const char *type,
    const char *code, const char *msg, size_t len)
{
    return llo_print(buf, size,
                     "{\"error\":{\"code\":%d,\"message\":"
                     "\"%.*s\",\"status\":\"%s\"}}\n",
                     status, (int) len, msg,
                     llo_status_name(status, llo_gemini_statuses));
}


/* -- the descriptors ----------------------------------------------------- */


static const char *const  llo_responses_end[] = {
    "response.completed", "response.incomplete", "response.failed", NULL
};

static const char *const  llo_messages_end[] = {
    "message_stop", NULL
};


/*
 * Indexed by LLO_API_*; "auto" tries them in this order (chat before
 * completions: "/chat/completions" ends with "/completions" too).
 * Designated initializers: most fields are empty for most APIs.
 */

static const llo_api_t  llo_apis[LLO_API_N] = {

    { .api = LLO_API_UNKNOWN, .name = "unknown" },

    { .api = LLO_API_CHAT, .name = "chat", .provider = LLO_PROV_OPENAI,
      .suffix = "/chat/completions", .uri = llo_suffix_uri,
      .req = llo_req_chat, .resp = llo_resp_chat,
      .cut_end = llo_chat_cut_end, .cut_reason = "length",
      .framing = 1, .skim = 1, .completion = 1, .stream_options = 1 },

    { .api = LLO_API_COMPLETIONS, .name = "completions",
      .provider = LLO_PROV_OPENAI, .suffix = "/completions",
      .uri = llo_suffix_uri,
      .req = llo_req_completions, .resp = llo_resp_completions,
      .completion = 1 },

    { .api = LLO_API_RESPONSES, .name = "responses",
      .provider = LLO_PROV_OPENAI, .suffix = "/responses",
      .uri = llo_suffix_uri,
      .req = llo_req_responses, .resp = llo_resp_responses,
      .end_events = llo_responses_end, .error_event = "error",
      .text_event = "response.output_text.delta",
      .framing = 1, .gates = 1, .completion = 1 },

    { .api = LLO_API_EMBEDDINGS, .name = "embeddings",
      .provider = LLO_PROV_OPENAI, .suffix = "/embeddings",
      .uri = llo_suffix_uri,
      .req = llo_req_embeddings, .resp = llo_resp_embeddings },

    { .api = LLO_API_MESSAGES, .name = "messages",
      .provider = LLO_PROV_ANTHROPIC, .suffix = "/messages",
      .uri = llo_messages_uri,
      .req = llo_req_messages, .resp = llo_resp_messages,
      .derive = llo_anthropic_derive, .end_events = llo_messages_end,
      .cut_end = llo_messages_cut_end, .cut_reason = "max_tokens",
      .gates = 1, .completion = 1 },

    { .api = LLO_API_GEMINI, .name = "generate",
      .provider = LLO_PROV_GEMINI, .uri = llo_gemini_uri,
      .stream_uri = ":streamGenerate",
      .req = llo_req_gemini, .resp = llo_resp_gemini,
      .derive = llo_gemini_derive,
      .gates = 1, .end_on_finish = 1, .completion = 1 },
};


/* the providers that speak OpenAI's API as it is, with Bearer keys */
#define LLO_OPENAI_DIALECT(p, n)                                             \
    { .provider = LLO_PROV_##p, .name = n,                                   \
      .speaks = LLO_PROV_OPENAI, .api_for = llo_openai_api_for,              \
      .error_body = llo_openai_error, .key_header = "Authorization" }


/*
 * Indexed by LLO_PROV_*.  Only OpenAI's and Azure's models are counted
 * exactly by tiktoken; the dialects serve Mistral, Llama, DeepSeek, Qwen
 * and others, whose tokenizers differ.  llm_observer_stream_usage asks
 * OpenAI, and Azure as it did when auto took Azure's URIs for OpenAI's;
 * not the others, whose streams it has not been tried on: Mistral, Groq
 * and DeepSeek send usage with the last chunk anyway, vLLM and Ollama
 * when their client asks.
 */

static const llo_provider_t  llo_providers[LLO_PROV_N] = {

    { .provider = LLO_PROV_UNKNOWN, .name = "unknown",
      .error_body = llo_openai_error },

    { .provider = LLO_PROV_OPENAI, .name = "openai",
      .speaks = LLO_PROV_OPENAI, .api_for = llo_openai_api_for,
      .error_body = llo_openai_error, .key_header = "Authorization",
      .tiktoken = 1, .stream_usage = 1 },

    { .provider = LLO_PROV_ANTHROPIC, .name = "anthropic",
      .speaks = LLO_PROV_ANTHROPIC, .api_for = llo_anthropic_api_for,
      .error_body = llo_anthropic_error, .key_header = "x-api-key" },

    { .provider = LLO_PROV_GEMINI, .name = "gemini",
      .speaks = LLO_PROV_GEMINI, .api_for = llo_gemini_api_for,
      .error_body = llo_gemini_error, .key_header = "x-goog-api-key" },

    LLO_OPENAI_DIALECT(MISTRAL, "mistral"),

    LLO_OPENAI_DIALECT(GROQ, "groq"),

    LLO_OPENAI_DIALECT(DEEPSEEK, "deepseek"),

    LLO_OPENAI_DIALECT(VLLM, "vllm"),

    LLO_OPENAI_DIALECT(OLLAMA, "ollama"),

    { .provider = LLO_PROV_AZURE, .name = "azure",
      .speaks = LLO_PROV_OPENAI, .api_for = llo_azure_api_for,
      .claim = llo_azure_uri, .error_body = llo_openai_error,
      .key_header = "api-key", .tiktoken = 1, .stream_usage = 1 },
};


const llo_api_t *
llo_api_get(int api)
{
    if (api <= LLO_API_UNKNOWN || api >= LLO_API_N) {
        return NULL;
    }

    return &llo_apis[api];
}


const llo_provider_t *
llo_provider_get(int provider)
{
    if (provider < 0 || provider >= LLO_PROV_N) {
        provider = LLO_PROV_UNKNOWN;
    }

    return &llo_providers[provider];
}


const char *
llo_provider_name(int provider)
{
    return llo_provider_get(provider)->name;
}


const char *
llo_api_name(int api)
{
    if (api < 0 || api >= LLO_API_N) {
        api = LLO_API_UNKNOWN;
    }

    return llo_apis[api].name;
}


int
llo_api_detect(const uint8_t *uri, size_t len, int *provider,
    llo_sstr_t *model)
{
    int                    api, prov, i;
    const llo_api_t       *a;
    const llo_provider_t  *p;

    api = LLO_API_UNKNOWN;
    prov = LLO_PROV_UNKNOWN;

    for (i = LLO_API_UNKNOWN + 1; i < LLO_API_N; i++) {
        a = &llo_apis[i];

        if (a->uri(a, uri, len, model)) {
            api = i;
            prov = a->provider;

            /* a URI form of a dialect's own: Azure's deployments */

            for (p = &llo_providers[1]; p < &llo_providers[LLO_PROV_N]; p++) {
                if (p->claim && p->speaks == prov
                    && p->claim(a, uri, len, model))
                {
                    prov = p->provider;
                    break;
                }
            }

            break;
        }
    }

    if (provider) {
        *provider = prov;
    }

    return api;
}


int
llo_api_for(int provider, const uint8_t *uri, size_t len, llo_sstr_t *model)
{
    const llo_provider_t  *p;

    p = llo_provider_get(provider);

    if (p->api_for == NULL) {
        return llo_api_detect(uri, len, NULL, model);
    }

    return p->api_for(p, uri, len, model);
}
