-- llm-observer: what count_truncated and provider mean now (issues 8, 9).
--
-- Applied by "llm-evaluator migrate" inside a transaction together with its
-- row in llm_schema_migrations: no BEGIN/COMMIT here.
--
-- count_truncated now also says that prompt_tokens_estimate is an upper
-- bound: past the 16 MiB of prompt text the module keeps for counting,
-- each byte not counted counts as one token (a BPE token covers at least
-- one byte), so a tokens-per-minute limit reserving it cannot be passed
-- by a huge prompt.  The flag is set whatever the counts' source.

COMMENT ON COLUMN llm_requests.count_truncated IS
    'A local token count covers only part of the text: a prompt past the '
    '16 MiB kept for counting (prompt_tokens_estimate is then an upper '
    'bound, one token per byte not counted), or a completion counted from '
    'text cut at llm_observer_max_text (a lower bound)';

-- llm_observer_provider names the OpenAI-compatible dialects and Azure
-- (llo_api.c); auto records Azure's /openai/deployments/ URIs as azure.
COMMENT ON COLUMN llm_requests.provider IS
    'Provider the call was parsed as: openai, anthropic, gemini, azure '
    '(auto, by its URI), mistral, groq, deepseek, vllm, ollama (set by '
    'llm_observer_provider), or unknown (bytes and timings only)';
