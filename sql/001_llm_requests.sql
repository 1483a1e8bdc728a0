-- llm-observer: one row per observed LLM API call.
--
-- Applied by "llm-evaluator migrate" inside a transaction together with its
-- row in llm_schema_migrations: no BEGIN/COMMIT here.
--
-- Partitioned by month on ts; llm-evaluator creates the partitions
-- (llm_requests_yYYYYmMM, bounds in UTC) before it writes into them.

CREATE TABLE llm_requests (
    id                  uuid                NOT NULL,
    ts                  timestamptz         NOT NULL,
    request_id          text,
    provider            text,
    endpoint            text,
    host                text,
    request_model       text,
    response_model      text,
    response_id         text,
    stream              boolean,
    status              integer,
    upstream_status     integer,
    finish_reason       text,
    prompt_tokens       integer,
    completion_tokens   integer,
    total_tokens        integer,
    cached_tokens       integer,
    reasoning_tokens    integer,
    max_tokens          integer,
    token_source        text,
    latency_ms          double precision,
    ttft_ms             double precision,
    bytes_in            bigint,
    bytes_out           bigint,
    client_addr         inet,
    prompt_text         text,
    response_text       text,
    prompt_truncated    boolean             NOT NULL DEFAULT false,
    response_truncated  boolean             NOT NULL DEFAULT false,
    client_aborted      boolean             NOT NULL DEFAULT false,
    incomplete          boolean             NOT NULL DEFAULT false,
    parse_error         text,
    error_type          text,
    error_message       text,
    ingested_at         timestamptz         NOT NULL DEFAULT now(),

    PRIMARY KEY (id, ts)
) PARTITION BY RANGE (ts);

-- rows arrive in nearly ts order, so a BRIN index serves time ranges at a
-- fraction of a btree's insert cost (about 10% more ingest, measured with
-- bench/ingest.sh)
CREATE INDEX llm_requests_ts_brin
    ON llm_requests USING brin (ts);
CREATE INDEX llm_requests_request_model_ts_idx
    ON llm_requests (request_model, ts);
CREATE INDEX llm_requests_response_model_ts_idx
    ON llm_requests (response_model, ts);

COMMENT ON TABLE llm_requests IS
    'One row per LLM API call observed by the nginx llm_observer module; '
    'partitioned by month of ts (UTC), partitions made by llm-evaluator';

COMMENT ON COLUMN llm_requests.id IS
    'Ring instance (8 bytes, big-endian) then record sequence number '
    '(8 bytes, big-endian): unique per record, so a record delivered twice '
    'is stored once';
COMMENT ON COLUMN llm_requests.ts IS
    'When nginx started handling the request';
COMMENT ON COLUMN llm_requests.request_id IS
    'nginx $request_id of the call, when the nginx configuration uses it';
COMMENT ON COLUMN llm_requests.provider IS
    'API flavour the call was parsed as, e.g. openai, anthropic';
COMMENT ON COLUMN llm_requests.endpoint IS
    'API endpoint, e.g. /v1/chat/completions';
COMMENT ON COLUMN llm_requests.host IS
    'Host header of the request';
COMMENT ON COLUMN llm_requests.request_model IS
    'Model named in the request body';
COMMENT ON COLUMN llm_requests.response_model IS
    'Model named in the response, often a dated version of request_model';
COMMENT ON COLUMN llm_requests.response_id IS
    'Response id given by the provider (e.g. chatcmpl-...)';
COMMENT ON COLUMN llm_requests.stream IS
    'The response was streamed (server-sent events)';
COMMENT ON COLUMN llm_requests.status IS
    'HTTP status sent to the client';
COMMENT ON COLUMN llm_requests.upstream_status IS
    'HTTP status received from the upstream';
COMMENT ON COLUMN llm_requests.finish_reason IS
    'Why generation stopped: stop, length, tool_calls, ...';
COMMENT ON COLUMN llm_requests.prompt_tokens IS
    'Input tokens; NULL when neither reported nor estimated';
COMMENT ON COLUMN llm_requests.completion_tokens IS
    'Output tokens; NULL when neither reported nor estimated';
COMMENT ON COLUMN llm_requests.total_tokens IS
    'Total tokens as reported';
COMMENT ON COLUMN llm_requests.cached_tokens IS
    'Input tokens served from the provider''s prompt cache';
COMMENT ON COLUMN llm_requests.reasoning_tokens IS
    'Output tokens spent on reasoning';
COMMENT ON COLUMN llm_requests.max_tokens IS
    'Output token limit asked for in the request';
COMMENT ON COLUMN llm_requests.token_source IS
    'Where the token counts come from: the provider''s usage report or an '
    'estimate';
COMMENT ON COLUMN llm_requests.latency_ms IS
    'Milliseconds from request start to the last byte of the response';
COMMENT ON COLUMN llm_requests.ttft_ms IS
    'Milliseconds from request start to the first response byte; NULL when '
    'none came';
COMMENT ON COLUMN llm_requests.bytes_in IS
    'Request bytes received from the client';
COMMENT ON COLUMN llm_requests.bytes_out IS
    'Response bytes sent to the client';
COMMENT ON COLUMN llm_requests.client_addr IS
    'Client address; NULL when it is not an IP address (unix sockets)';
COMMENT ON COLUMN llm_requests.prompt_text IS
    'Captured prompt, possibly truncated (see prompt_truncated); NUL bytes '
    'removed and invalid UTF-8 replaced by U+FFFD';
COMMENT ON COLUMN llm_requests.response_text IS
    'Captured response text, possibly truncated (see response_truncated); '
    'NUL bytes removed and invalid UTF-8 replaced by U+FFFD';
COMMENT ON COLUMN llm_requests.prompt_truncated IS
    'prompt_text was cut at the capture limit';
COMMENT ON COLUMN llm_requests.response_truncated IS
    'response_text was cut at the capture limit';
COMMENT ON COLUMN llm_requests.client_aborted IS
    'The client closed the connection before the response ended';
COMMENT ON COLUMN llm_requests.incomplete IS
    'A streamed response ended without its end-of-stream event';
COMMENT ON COLUMN llm_requests.parse_error IS
    'Why the request or response body could not be parsed, if it could not';
COMMENT ON COLUMN llm_requests.error_type IS
    'Error type reported by the provider';
COMMENT ON COLUMN llm_requests.error_message IS
    'Error message reported by the provider';
COMMENT ON COLUMN llm_requests.ingested_at IS
    'When llm-evaluator wrote the row';
