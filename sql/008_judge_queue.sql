-- llm-observer: the LLM judge's queue (issue 10).
--
-- Applied by "llm-evaluator migrate" inside a transaction together with its
-- row in llm_schema_migrations: no BEGIN/COMMIT here.
--
-- The calls chosen for the judge (judge_* in llm-evaluator.conf) are put
-- here in the transaction that stores them.  The evaluator works the queue
-- in its event loop; a verdict is inserted into llm_evaluations and its
-- queue row deleted in one transaction, so a crash at any point neither
-- forgets a call nor stores a second verdict.  A call that failed
-- judge_max_attempts times, or whose answer was no valid verdict, stays
-- here with failed_at and why: a recorded failure, never a score.

CREATE TABLE llm_judge_queue (
    id                  uuid                NOT NULL,
    ts                  timestamptz         NOT NULL,
    enqueued_at         timestamptz         NOT NULL DEFAULT now(),
    attempts            integer             NOT NULL DEFAULT 0,
    next_at             timestamptz         NOT NULL DEFAULT now(),
    last_at             timestamptz,
    last_status         integer,
    last_error          text,
    spent_usd           numeric(20, 9)      NOT NULL DEFAULT 0,
    failed_at           timestamptz,

    PRIMARY KEY (id, ts)
);

CREATE INDEX llm_judge_queue_next_idx
    ON llm_judge_queue (next_at) WHERE failed_at IS NULL;

COMMENT ON TABLE llm_judge_queue IS
    'Calls waiting for the LLM judge (id, ts: the call''s), and the ones '
    'it failed to judge (failed_at set)';
COMMENT ON COLUMN llm_judge_queue.attempts IS
    'Calls made to the judge for it so far';
COMMENT ON COLUMN llm_judge_queue.next_at IS
    'Not asked again before: backoff with jitter after 429, 5xx, '
    'timeouts and connection errors, Retry-After honoured';
COMMENT ON COLUMN llm_judge_queue.last_at IS
    'When the last attempt ended';
COMMENT ON COLUMN llm_judge_queue.spent_usd IS
    'What the attempts that gave no verdict cost (an invalid answer is '
    'paid for too), by the price list; counted in judge_daily_budget';
COMMENT ON COLUMN llm_judge_queue.last_status IS
    'HTTP status of the last attempt; 0: no answer (timeout, connection)';
COMMENT ON COLUMN llm_judge_queue.last_error IS
    'Why the last attempt gave no verdict';
COMMENT ON COLUMN llm_judge_queue.failed_at IS
    'Given up: the attempts ran out, or the answer was no valid verdict';
