-- wrk: POST a small OpenAI chat completion request
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
-- the key the /keys/ location admits (bench/run.sh); ignored elsewhere
wrk.headers["Authorization"] = "Bearer llo-bench-key"
wrk.body = os.getenv("LLO_BENCH_BODY") or
  '{"model":"gpt-4o-mini","stream":false,"messages":[{"role":"user",' ..
  '"content":"Write one sentence about the sea."}]}'
