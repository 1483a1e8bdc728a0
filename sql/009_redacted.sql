-- llm-observer: redaction of the stored texts (issue 10).
--
-- Applied by "llm-evaluator migrate" inside a transaction together with its
-- row in llm_schema_migrations: no BEGIN/COMMIT here.
--
-- With "redact = pii | secrets | all" in llm-evaluator.conf the evaluator
-- replaces what the pii_leak detectors find in prompt_text and
-- response_text by typed markers ([EMAIL], [PHONE], [CARD], [IBAN],
-- [SECRET], [JWT], [PRIVATE_KEY]) before it stores them.  The rules and
-- their verdicts saw the texts unredacted; this column says what the
-- stored texts lost.

ALTER TABLE llm_requests
    ADD COLUMN redacted     text;

COMMENT ON COLUMN llm_requests.redacted IS
    'NULL: stored as observed (redact off); else the markers that replaced '
    'what the PII detectors found in prompt_text and response_text, e.g. '
    '"email=1 phone=2", or "none"; "failed": the redactor could not run '
    'and the two texts are NULL rather than stored unredacted';
