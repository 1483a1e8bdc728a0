-- llm-observer: the alerts Alertmanager sent (issue 11).
--
-- Applied by "llm-evaluator migrate" inside a transaction together with its
-- row in llm_schema_migrations: no BEGIN/COMMIT here.
--
-- Alertmanager's webhook receiver "evaluator" (conf.d/alertmanager/)
-- POSTs every notification to llm-evaluator's /alerts; each alert of it
-- is a row here.  A notification sent again (Alertmanager resends a
-- group every repeat_interval, and retries) is stored once: the key is
-- the alert's fingerprint, the start of the episode and its status, so
-- an alert's firing and its resolution are two rows of its history.

CREATE TABLE llm_alerts (
    fingerprint         text                NOT NULL,
    starts_at           timestamptz         NOT NULL,
    status              text                NOT NULL,
    ends_at             timestamptz,
    name                text                NOT NULL,
    severity            text,
    labels              jsonb               NOT NULL,
    annotations         jsonb               NOT NULL,
    generator_url       text,
    receiver            text,
    group_key           text,
    received_at         timestamptz         NOT NULL DEFAULT now(),

    PRIMARY KEY (fingerprint, starts_at, status),

    CONSTRAINT llm_alerts_status_check CHECK (status IN ('firing', 'resolved'))
);

CREATE INDEX llm_alerts_received_at_idx
    ON llm_alerts (received_at);
CREATE INDEX llm_alerts_name_starts_idx
    ON llm_alerts (name, starts_at);

COMMENT ON TABLE llm_alerts IS
    'Alert notifications from Alertmanager''s webhook, one row per alert '
    'and status of an episode';
COMMENT ON COLUMN llm_alerts.fingerprint IS
    'Alertmanager''s fingerprint of the alert''s labels';
COMMENT ON COLUMN llm_alerts.starts_at IS
    'When the alert began to fire (this episode)';
COMMENT ON COLUMN llm_alerts.status IS
    'firing or resolved';
COMMENT ON COLUMN llm_alerts.ends_at IS
    'When it was resolved; NULL while it fires';
COMMENT ON COLUMN llm_alerts.name IS
    'The alertname label';
COMMENT ON COLUMN llm_alerts.severity IS
    'The severity label, when it has one';
COMMENT ON COLUMN llm_alerts.labels IS
    'Every label of the alert';
COMMENT ON COLUMN llm_alerts.annotations IS
    'Its annotations (summary, ...)';
COMMENT ON COLUMN llm_alerts.generator_url IS
    'The Prometheus expression browser URL of its rule';
COMMENT ON COLUMN llm_alerts.receiver IS
    'The Alertmanager receiver that sent it';
COMMENT ON COLUMN llm_alerts.group_key IS
    'Alertmanager''s key of the notification''s group';
COMMENT ON COLUMN llm_alerts.received_at IS
    'When the evaluator first received it';
