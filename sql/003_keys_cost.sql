-- llm-observer: API keys, refusals and cost (issue 4).
--
-- Applied by "llm-evaluator migrate" inside a transaction together with its
-- row in llm_schema_migrations: no BEGIN/COMMIT here.

ALTER TABLE llm_requests
    ADD COLUMN cost_usd     numeric(20, 9),
    ADD COLUMN key_name     text,
    ADD COLUMN key_team     text,
    ADD COLUMN refused      text,
    ADD COLUMN cut          boolean NOT NULL DEFAULT false;

CREATE INDEX llm_requests_key_name_ts_idx
    ON llm_requests (key_name, ts);

COMMENT ON COLUMN llm_requests.cost_usd IS
    'Cost of the call in USD from llm_observer_price and the exact counts '
    '(cached and cache-written tokens at their own prices); NULL without a '
    'price for the model';
COMMENT ON COLUMN llm_requests.key_name IS
    'name= of the llm_observer_key the client presented (never the key)';
COMMENT ON COLUMN llm_requests.key_team IS
    'team= of that key';
COMMENT ON COLUMN llm_requests.refused IS
    'Why the module answered itself instead of forwarding: missing_key, '
    'unknown_key, expired_key, model (not allowed for the key), rpm, tpm, '
    'tpd, budget; NULL for a forwarded call';
COMMENT ON COLUMN llm_requests.cut IS
    'llm_observer_limit_stream cut ended the stream for the client in the '
    'provider''s format (finish reason length) when the key''s tokens ran '
    'out';
