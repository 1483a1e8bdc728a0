-- llm-observer: provider formats and local token counts (issue 3).
--
-- Applied by "llm-evaluator migrate" inside a transaction together with its
-- row in llm_schema_migrations: no BEGIN/COMMIT here.  ADD COLUMN without a
-- volatile default only touches the catalogue, so it is instant on a full
-- table.

ALTER TABLE llm_requests
    ADD COLUMN api                      text,
    ADD COLUMN cache_creation_tokens    integer,
    ADD COLUMN prompt_tokens_estimate   integer,
    ADD COLUMN tokenizer                text,
    ADD COLUMN usage_added              boolean NOT NULL DEFAULT false,
    ADD COLUMN count_truncated          boolean NOT NULL DEFAULT false;

COMMENT ON COLUMN llm_requests.provider IS
    'Provider the call was parsed as: openai, anthropic, gemini, or unknown '
    '(bytes and timings only)';
COMMENT ON COLUMN llm_requests.api IS
    'API shape of the endpoint: chat, completions, responses, embeddings '
    '(OpenAI), messages (Anthropic), generate (Gemini), unknown';
COMMENT ON COLUMN llm_requests.prompt_tokens IS
    'Prompt tokens: the provider''s count (Anthropic: input + cache creation '
    '+ cache read; Gemini: promptTokenCount, which includes cached tokens), '
    'else the local count before forwarding (see token_source)';
COMMENT ON COLUMN llm_requests.completion_tokens IS
    'Completion tokens, reasoning included: the provider''s count, else the '
    'local tokenizer''s count of the text received (see token_source)';
COMMENT ON COLUMN llm_requests.cached_tokens IS
    'Prompt tokens read from the provider''s prompt cache (OpenAI '
    'cached_tokens, Anthropic cache_read_input_tokens, Gemini '
    'cachedContentTokenCount); part of prompt_tokens';
COMMENT ON COLUMN llm_requests.cache_creation_tokens IS
    'Anthropic cache_creation_input_tokens: prompt tokens written to the '
    'cache; part of prompt_tokens';
COMMENT ON COLUMN llm_requests.prompt_tokens_estimate IS
    'Prompt tokens counted by the module before forwarding (tiktoken '
    'encoding, OpenAI chat framing); exact for OpenAI models with a known '
    'encoding, an estimate for other providers';
COMMENT ON COLUMN llm_requests.token_source IS
    'Where the counts come from: provider (usage in the response), '
    'tokenizer (exact local count: an OpenAI model with its own encoding), '
    'estimate (local count with another model''s encoding), none';
COMMENT ON COLUMN llm_requests.tokenizer IS
    'Encoding the local counts used (cl100k_base, o200k_base), when used';
COMMENT ON COLUMN llm_requests.usage_added IS
    'llm_observer_stream_usage added stream_options.include_usage to the '
    'request and removed the usage chunk from what the client received';
COMMENT ON COLUMN llm_requests.count_truncated IS
    'A local token count covers only part of the text (over the size the '
    'module keeps)';
