-- llm-observer: what output the request asked for, and whether the answer
-- called a tool (issue 10, invalid_json).
--
-- Applied by "llm-evaluator migrate" inside a transaction together with its
-- row in llm_schema_migrations: no BEGIN/COMMIT here.
--
-- The rule kind invalid_json checks an answer against response_format.
-- Tool calls' arguments are not in the record, so only the response text
-- is checked; tool_calls says that there were some.

ALTER TABLE llm_requests
    ADD COLUMN response_format  text,
    ADD COLUMN tool_calls       boolean NOT NULL DEFAULT false;

COMMENT ON COLUMN llm_requests.response_format IS
    'The output the request asked for, words separated by a space, NULL '
    'when none: json_object (OpenAI response_format or Responses '
    'text.format json_object; Gemini responseMimeType application/json '
    'without a schema), json_schema or json_schema:k1,k2,... (a JSON '
    'schema: OpenAI json_schema, Gemini responseSchema or '
    'responseJsonSchema, Anthropic output_format; with the schema''s '
    'top-level required keys in the order sent, the first that fit in '
    '108 bytes, leaving out any key with a comma, space or control '
    'character), tools (the request declared tools or functions); e.g. '
    '''json_schema:city,temperature_c tools''';
COMMENT ON COLUMN llm_requests.tool_calls IS
    'The answer called a tool: an OpenAI chat tool_calls (or legacy '
    'function_call) entry, a Responses API item with a call_id, an '
    'Anthropic content block with an id (tool_use, server_tool_use), a '
    'Gemini functionCall; its arguments are not recorded';
