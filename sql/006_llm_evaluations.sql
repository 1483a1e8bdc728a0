-- llm-observer: the verdicts on each call (issue 10).
--
-- Applied by "llm-evaluator migrate" inside a transaction together with its
-- row in llm_schema_migrations: no BEGIN/COMMIT here.
--
-- llm-evaluator scores every call it stores with the rules file
-- (docs/scoring.md) and writes the verdict in the transaction that writes
-- the call's llm_requests row: a row never exists without its verdict,
-- and a batch delivered again (a crash before its COMMIT) gives neither a
-- second row nor a second verdict.  "llm-evaluator rescore" adds the
-- verdicts of a newer rules version beside the old ones; the LLM judge
-- adds its own, evaluator 'judge:<model>'.
--
-- (id, ts) are the call's, so "JOIN llm_requests USING (id, ts)" reaches
-- its row, and a verdict lives in the partition of its call's month
-- (llm_evaluations_yYYYYmMM, made by llm-evaluator with llm_requests').
--
-- No foreign key to llm_requests: the evaluator writes a verdict only in
-- the transaction that writes its call, and a foreign key's check per
-- verdict cost about 14 us of PostgreSQL time (2.8 s for 200,000 verdicts
-- in bench/ingest.sh), a quarter of the ingest.  Calls go by partition
-- (retention), and their month's verdicts with them.

CREATE TABLE llm_evaluations (
    id                  uuid                NOT NULL,
    ts                  timestamptz         NOT NULL,
    evaluator           text                NOT NULL,
    version             text                NOT NULL,
    score               smallint            NOT NULL,
    sub_scores          jsonb,
    label               text,
    flagged             boolean             NOT NULL,
    details             jsonb,
    prompt_tokens       integer,
    completion_tokens   integer,
    cost_usd            numeric(20, 9),
    created_at          timestamptz         NOT NULL DEFAULT now(),

    PRIMARY KEY (id, ts, evaluator, version),

    CONSTRAINT llm_evaluations_score_check CHECK (score BETWEEN 1 AND 5)
) PARTITION BY RANGE (ts);

CREATE INDEX llm_evaluations_ts_brin
    ON llm_evaluations USING brin (ts);
CREATE INDEX llm_evaluations_flagged_ts_idx
    ON llm_evaluations (ts) WHERE flagged;

COMMENT ON TABLE llm_evaluations IS
    'Verdicts on the calls of llm_requests: one per call of the rules '
    'evaluator at ingest, in the same transaction as the call''s row; '
    'partitioned by month of the call''s ts';

COMMENT ON COLUMN llm_evaluations.id IS
    'The call''s llm_requests.id';
COMMENT ON COLUMN llm_evaluations.ts IS
    'The call''s llm_requests.ts';
COMMENT ON COLUMN llm_evaluations.evaluator IS
    'Who scored it: rules (the rules file), or judge:<model> (the LLM '
    'judge)';
COMMENT ON COLUMN llm_evaluations.version IS
    'rules: the rules file''s version, 16 hex digits of a hash of its '
    'words (llm-evaluator rules check prints it); judge: its prompt''s';
COMMENT ON COLUMN llm_evaluations.score IS
    '1 (worst) to 5: for rules, 5 less the weights of the rules that '
    'fired, at least 1, at most the lowest max_score among them';
COMMENT ON COLUMN llm_evaluations.sub_scores IS
    'judge: its scores by aspect (instruction_following, truthfulness, '
    'safety); NULL for rules';
COMMENT ON COLUMN llm_evaluations.label IS
    'rules: the name of the highest-priority rule that fired, NULL when '
    'none did';
COMMENT ON COLUMN llm_evaluations.flagged IS
    'score is below the evaluator''s flag_below threshold';
COMMENT ON COLUMN llm_evaluations.details IS
    'rules: {"fired": [{"rule", "kind", "severity", "weight"}, ...]} in '
    'file order; judge: its reason';
COMMENT ON COLUMN llm_evaluations.prompt_tokens IS
    'judge: the tokens of its own prompt; NULL for rules';
COMMENT ON COLUMN llm_evaluations.completion_tokens IS
    'judge: the tokens of its answer; NULL for rules';
COMMENT ON COLUMN llm_evaluations.cost_usd IS
    'judge: what its call cost by the price list; NULL for rules';
COMMENT ON COLUMN llm_evaluations.created_at IS
    'When the verdict was written';
