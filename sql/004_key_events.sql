-- llm-observer: audit of the API keys declared in nginx (issue 5).
--
-- Applied by "llm-evaluator migrate" inside a transaction together with its
-- row in llm_schema_migrations: no BEGIN/COMMIT here.
--
-- On every start and reload nginx appends one record to the ring with the
-- whole key set of the configuration (a line per key, never a digest or a
-- key).  llm-evaluator applies these records in ring order, in the
-- transaction of the batch they came in:
--
--   llm_key_sets    one row per record applied; its primary key is what
--                   makes a record delivered twice count once
--   llm_keys        the current set of each host
--   llm_key_events  what changed between a host's consecutive sets
--
-- A key is known by the first 8 hex digits of its digest, so a rename is
-- 'changed'.  The first set seen for a host makes every key 'added'.

CREATE TABLE llm_key_sets (
    id                  uuid                PRIMARY KEY,
    ts                  timestamptz         NOT NULL,
    host                text                NOT NULL,
    keys                integer             NOT NULL,
    ingested_at         timestamptz         NOT NULL DEFAULT now()
);

CREATE INDEX llm_key_sets_host_ts_idx
    ON llm_key_sets (host, ts);

CREATE TABLE llm_keys (
    host                text                NOT NULL,
    key_prefix          text                NOT NULL,
    key_name            text                NOT NULL,
    line                text                NOT NULL,
    updated_at          timestamptz         NOT NULL,

    PRIMARY KEY (host, key_prefix)
);

CREATE TABLE llm_key_events (
    record_id           uuid                NOT NULL
                                            REFERENCES llm_key_sets (id),
    ts                  timestamptz         NOT NULL,
    host                text                NOT NULL,
    event               text                NOT NULL,
    key_name            text                NOT NULL,
    key_prefix          text                NOT NULL,
    before              text,
    after               text,
    ingested_at         timestamptz         NOT NULL DEFAULT now(),

    PRIMARY KEY (record_id, key_prefix),

    CONSTRAINT llm_key_events_event_check CHECK (
        (event = 'added' AND before IS NULL AND after IS NOT NULL)
        OR (event = 'removed' AND before IS NOT NULL AND after IS NULL)
        OR (event = 'changed' AND before IS NOT NULL AND after IS NOT NULL))
);

CREATE INDEX llm_key_events_ts_idx
    ON llm_key_events (ts);
CREATE INDEX llm_key_events_key_prefix_ts_idx
    ON llm_key_events (key_prefix, ts);

COMMENT ON TABLE llm_key_sets IS
    'One row per key set nginx recorded (each start and reload of a '
    'configuration with llm_observer_ring), once llm-evaluator has applied '
    'it to llm_keys and llm_key_events';
COMMENT ON COLUMN llm_key_sets.id IS
    'Record id, as llm_requests.id: ring instance then record sequence '
    'number; a record delivered twice is applied once';
COMMENT ON COLUMN llm_key_sets.ts IS
    'When nginx loaded the configuration';
COMMENT ON COLUMN llm_key_sets.host IS
    'Hostname of the machine nginx runs on';
COMMENT ON COLUMN llm_key_sets.keys IS
    'Number of llm_observer_key lines in the configuration';
COMMENT ON COLUMN llm_key_sets.ingested_at IS
    'When llm-evaluator applied the set';

COMMENT ON TABLE llm_keys IS
    'The keys of the configuration each host loaded last (as of the last '
    'record applied): one row per host and key';
COMMENT ON COLUMN llm_keys.host IS
    'Hostname of the machine nginx runs on';
COMMENT ON COLUMN llm_keys.key_prefix IS
    'First 8 hex digits of the key''s SHA-256 digest: what identifies the '
    'key here (never the whole digest, never the key)';
COMMENT ON COLUMN llm_keys.key_name IS
    'name= of the key';
COMMENT ON COLUMN llm_keys.line IS
    'The key as nginx described it, fields separated by TAB: name, '
    'key_prefix, team, models, rpm, tpm, tpd, budget (e.g. 5.00/day), '
    'expires (YYYY-MM-DD); an unset field is empty';
COMMENT ON COLUMN llm_keys.updated_at IS
    'ts of the configuration load that gave the key this line';

COMMENT ON TABLE llm_key_events IS
    'What changed in a host''s keys from one configuration load to the '
    'next: a row per key added, removed or changed; a load that changed '
    'nothing has no row';
COMMENT ON COLUMN llm_key_events.record_id IS
    'The llm_key_sets row (the configuration load) the change came with';
COMMENT ON COLUMN llm_key_events.ts IS
    'When nginx loaded the configuration that made the change';
COMMENT ON COLUMN llm_key_events.host IS
    'Hostname of the machine nginx runs on';
COMMENT ON COLUMN llm_key_events.event IS
    'added (a key prefix the host did not have), removed, or changed (any '
    'field of the line, the name included)';
COMMENT ON COLUMN llm_key_events.key_name IS
    'name= of the key: the new one, or for removed the last one';
COMMENT ON COLUMN llm_key_events.key_prefix IS
    'First 8 hex digits of the key''s SHA-256 digest (see llm_keys)';
COMMENT ON COLUMN llm_key_events.before IS
    'The key''s line before the change (see llm_keys.line); NULL for added';
COMMENT ON COLUMN llm_key_events.after IS
    'The key''s line after the change; NULL for removed';
COMMENT ON COLUMN llm_key_events.ingested_at IS
    'When llm-evaluator wrote the row';
