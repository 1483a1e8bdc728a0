/*
 * Unit tests for the call's outcome (llo_call.c): where the counts come
 * from, when the response's text must be counted, the bound flag, the
 * cost, and the record's fields that follow from the call.
 */

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "llo_call.h"


static llo_req_t      llo_t_rq;
static llo_resp_t     llo_t_rs;
static llo_call_in_t  llo_t_in;


/* a successful chat call, parsed, with a tokenizer, no usage sent */

static void
llo_t_setup(void)
{
    memset(&llo_t_rq, 0, sizeof(llo_req_t));
    memset(&llo_t_rs, 0, sizeof(llo_resp_t));
    memset(&llo_t_in, 0, sizeof(llo_call_in_t));

    llo_t_rq.stream = 0;
    llo_t_rq.max_tokens = -1;
    memcpy(llo_t_rq.model.data, "gpt-4o-mini", 11);
    llo_t_rq.model.len = 11;
    llo_t_rq.model.set = 1;

    llo_t_rs.prompt_tokens = -1;
    llo_t_rs.completion_tokens = -1;
    llo_t_rs.total_tokens = -1;
    llo_t_rs.cached_tokens = -1;
    llo_t_rs.cache_creation_tokens = -1;
    llo_t_rs.reasoning_tokens = -1;
    llo_t_rs.done = 1;

    llo_t_in.provider = LLO_PROV_OPENAI;
    llo_t_in.api = LLO_API_CHAT;
    llo_t_in.status = 200;
    llo_t_in.rq = &llo_t_rq;
    llo_t_in.rs = &llo_t_rs;
    llo_t_in.prompt_estimate = 12;
    llo_t_in.completion_count = -1;
    llo_t_in.encoding = "o200k_base";
    llo_t_in.tok_exact = 1;
    llo_t_in.resp_ended = 1;
}


START_TEST(test_provider_counts)
{
    llo_call_t  c;

    llo_t_setup();
    llo_t_rs.usage = 1;
    llo_t_rs.prompt_tokens = 10;
    llo_t_rs.completion_tokens = 5;
    llo_t_rs.total_tokens = 15;

    ck_assert_int_eq(llo_call_needs_count(&llo_t_in), 0);

    llo_call_outcome(&llo_t_in, &c);
    ck_assert_int_eq(c.prompt, 10);
    ck_assert_int_eq(c.completion, 5);
    ck_assert_int_eq(c.total, 15);
    ck_assert_str_eq(c.source, "provider");
    ck_assert_int_eq(c.trunc, 0);
    ck_assert_int_eq(c.cost_nano, -1);      /* no prices */
}
END_TEST


START_TEST(test_local_counts)
{
    llo_call_t  c;

    llo_t_setup();

    /* no usage: the text must be counted, then the counts are local */
    ck_assert_int_eq(llo_call_needs_count(&llo_t_in), 1);

    llo_t_in.completion_count = 7;
    llo_call_outcome(&llo_t_in, &c);
    ck_assert_int_eq(c.prompt, 12);
    ck_assert_int_eq(c.completion, 7);
    ck_assert_int_eq(c.total, 19);
    ck_assert_str_eq(c.source, "tokenizer");

    /* another provider's model counted with a tiktoken encoding */
    llo_t_in.tok_exact = 0;
    llo_call_outcome(&llo_t_in, &c);
    ck_assert_str_eq(c.source, "estimate");

    /* a stream cut short: counted even though the provider sent one */
    llo_t_setup();
    llo_t_in.sse = 1;
    llo_t_rs.done = 0;
    llo_t_rs.completion_tokens = 1;         /* Anthropic's message_start */
    ck_assert_int_eq(llo_call_needs_count(&llo_t_in), 1);

    /* embeddings have no completion: total = prompt */
    llo_t_setup();
    llo_t_in.api = LLO_API_EMBEDDINGS;
    ck_assert_int_eq(llo_call_needs_count(&llo_t_in), 0);
    llo_call_outcome(&llo_t_in, &c);
    ck_assert_int_eq(c.prompt, 12);
    ck_assert_int_eq(c.total, 12);
}
END_TEST


START_TEST(test_no_local_counts)
{
    llo_call_t  c;

    /* an error, a response still coming, no tokenizer: nothing local */

    llo_t_setup();
    llo_t_in.status = 429;
    ck_assert_int_eq(llo_call_needs_count(&llo_t_in), 0);
    llo_call_outcome(&llo_t_in, &c);
    ck_assert_int_eq(c.prompt, -1);
    ck_assert_str_eq(c.source, "none");

    llo_t_setup();
    llo_t_in.resp_ended = 0;
    ck_assert_int_eq(llo_call_needs_count(&llo_t_in), 0);

    llo_t_setup();
    llo_t_in.encoding = NULL;
    ck_assert_int_eq(llo_call_needs_count(&llo_t_in), 0);
    llo_call_outcome(&llo_t_in, &c);
    ck_assert_int_eq(c.total, -1);
}
END_TEST


/* count_truncated: a prompt past the cap whatever the source; a
 * completion counted from cut text */

START_TEST(test_trunc)
{
    llo_call_t  c;

    llo_t_setup();
    llo_t_rs.usage = 1;
    llo_t_rs.prompt_tokens = 10;
    llo_t_rs.completion_tokens = 5;
    llo_t_rq.count_trunc = 1;

    llo_call_outcome(&llo_t_in, &c);
    ck_assert_int_eq(c.trunc, 1);
    ck_assert_str_eq(c.source, "provider");

    /* a refused call has an estimate, no response */
    llo_t_in.rs = NULL;
    llo_t_in.status = 429;
    llo_call_outcome(&llo_t_in, &c);
    ck_assert_int_eq(c.trunc, 1);

    llo_t_setup();
    llo_t_in.completion_count = 3;
    llo_t_in.completion_trunc = 1;
    llo_call_outcome(&llo_t_in, &c);
    ck_assert_int_eq(c.trunc, 1);
}
END_TEST


/* priced by the model that answered, else the one asked for */

START_TEST(test_cost)
{
    llo_call_t    c;
    llo_price_t   p[2];

    /* micro-USD per 1M tokens, as llm_observer_price gives them */
    memset(p, 0, sizeof(p));
    snprintf(p[0].model, sizeof(p[0].model), "gpt-4o");
    p[0].len = 6;
    p[0].prefix = 1;
    p[0].input = 2500000;
    p[0].output = 10000000;
    p[0].cached_input = -1;
    p[0].cache_write = -1;

    snprintf(p[1].model, sizeof(p[1].model), "gpt-4o-mini");
    p[1].len = 11;
    p[1].input = 150000;
    p[1].output = 600000;
    p[1].cached_input = -1;
    p[1].cache_write = -1;

    llo_t_setup();
    llo_t_in.prices = p;
    llo_t_in.nprices = 2;
    llo_t_rs.usage = 1;
    llo_t_rs.prompt_tokens = 1000000;
    llo_t_rs.completion_tokens = 1000000;

    /* the request's model: 0.15 + 0.60 USD */
    llo_call_outcome(&llo_t_in, &c);
    ck_assert_int_eq(c.cost_nano, 750000000LL);

    /* the response's dated model matches the prefix entry first */
    memcpy(llo_t_rs.model.data, "gpt-4o-2024-08-06", 17);
    llo_t_rs.model.len = 17;
    llo_t_rs.model.set = 1;
    llo_call_outcome(&llo_t_in, &c);
    ck_assert_int_eq(c.cost_nano, 12500000000LL);
}
END_TEST


/* the record: what the call says, parse errors joined, the cut's reason */

START_TEST(test_record)
{
    char         err[256];
    llo_rec_t    rec;
    llo_call_t   c;
    llo_key_t    key;
    const llo_str_t  *s;

    llo_t_setup();
    llo_t_in.sse = 1;
    llo_t_in.cut = 1;
    llo_t_in.api = LLO_API_MESSAGES;
    llo_t_in.refused = NULL;
    llo_t_rs.done = 0;
    memcpy(llo_t_rs.finish_reason.data, "end_turn", 8);
    llo_t_rs.finish_reason.len = 8;
    llo_t_rs.finish_reason.set = 1;
    snprintf(llo_t_rq.error, LLO_ERR_LEN, "request JSON ends early");
    snprintf(llo_t_rs.error, LLO_ERR_LEN, "bad SSE at byte 7");

    memset(&key, 0, sizeof(llo_key_t));
    snprintf(key.name, sizeof(key.name), "alice");
    llo_t_in.key = &key;

    llo_t_in.completion_count = 4;
    llo_call_outcome(&llo_t_in, &c);

    memset(&rec, 0, sizeof(llo_rec_t));
    llo_call_record(&llo_t_in, &c, &rec, err, sizeof(err));

    /* the module ended the stream: its own reason, not incomplete */
    s = llo_rec_get_str(&rec, LLO_S_FINISH_REASON);
    ck_assert_int_eq(s->len, 10);
    ck_assert_int_eq(memcmp(s->data, "max_tokens", 10), 0);
    ck_assert_int_eq(rec.num[LLO_N_FLAGS] & LLO_FLAG_INCOMPLETE, 0);
    ck_assert(rec.num[LLO_N_FLAGS] & LLO_FLAG_CUT);
    ck_assert_int_eq(rec.num[LLO_N_STREAM], 1);
    ck_assert_int_eq(rec.num[LLO_N_COMPLETION_TOKENS], 4);
    ck_assert_int_eq(rec.num[LLO_N_PROMPT_ESTIMATE], 12);

    ck_assert_str_eq(err, "request JSON ends early; bad SSE at byte 7");
    s = llo_rec_get_str(&rec, LLO_S_PARSE_ERROR);
    ck_assert_ptr_eq(s->data, err);

    s = llo_rec_get_str(&rec, LLO_S_KEY_NAME);
    ck_assert_int_eq(memcmp(s->data, "alice", 5), 0);
    ck_assert(!llo_rec_has_str(&rec, LLO_S_KEY_TEAM));

    s = llo_rec_get_str(&rec, LLO_S_PROVIDER);
    ck_assert_int_eq(memcmp(s->data, "openai", 6), 0);

    /* the output asked for: a field only when the request asked */
    ck_assert(!llo_rec_has_str(&rec, LLO_S_RESPONSE_FORMAT));
    llo_sstr_set(&llo_t_rq.response_format, "json_object tools", 17);
    memset(&rec, 0, sizeof(llo_rec_t));
    llo_call_record(&llo_t_in, &c, &rec, err, sizeof(err));
    s = llo_rec_get_str(&rec, LLO_S_RESPONSE_FORMAT);
    ck_assert_uint_eq(s->len, 17);
    ck_assert_int_eq(memcmp(s->data, "json_object tools", 17), 0);
    llo_t_rq.response_format.set = 0;

    /* the answer's tool calls: a flag */
    ck_assert_int_eq(rec.num[LLO_N_FLAGS] & LLO_FLAG_TOOL_CALLS, 0);
    llo_t_rs.tool_calls = 1;
    memset(&rec, 0, sizeof(llo_rec_t));
    llo_call_record(&llo_t_in, &c, &rec, err, sizeof(err));
    ck_assert(rec.num[LLO_N_FLAGS] & LLO_FLAG_TOOL_CALLS);
    llo_t_rs.tool_calls = 0;

    /* a stream that ended without its end, not cut: incomplete */
    llo_t_in.cut = 0;
    llo_t_rq.error[0] = '\0';
    llo_t_rs.error[0] = '\0';
    memset(&rec, 0, sizeof(llo_rec_t));
    llo_call_record(&llo_t_in, &c, &rec, err, sizeof(err));
    ck_assert(rec.num[LLO_N_FLAGS] & LLO_FLAG_INCOMPLETE);
    ck_assert(!llo_rec_has_str(&rec, LLO_S_PARSE_ERROR));
    s = llo_rec_get_str(&rec, LLO_S_FINISH_REASON);
    ck_assert_int_eq(memcmp(s->data, "end_turn", 8), 0);

    /* a body spooled to a temp file: said why it was not read */
    llo_t_in.in_file = 1;
    llo_t_rs.bytes = 65536;
    memset(&rec, 0, sizeof(llo_rec_t));
    llo_call_record(&llo_t_in, &c, &rec, err, sizeof(err));
    ck_assert_msg(strstr(err, "temp file at byte 65536") != NULL, "%s", err);
}
END_TEST


int
main(void)
{
    int     failed;
    Suite  *s;
    TCase  *tc;

    s = suite_create("call");

    tc = tcase_create("outcome");
    tcase_add_test(tc, test_provider_counts);
    tcase_add_test(tc, test_local_counts);
    tcase_add_test(tc, test_no_local_counts);
    tcase_add_test(tc, test_trunc);
    tcase_add_test(tc, test_cost);
    suite_add_tcase(s, tc);

    tc = tcase_create("record");
    tcase_add_test(tc, test_record);
    suite_add_tcase(s, tc);

    failed = llo_t_run_suite(s);

    return llo_t_exit(failed);
}
