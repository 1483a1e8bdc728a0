/*
 * Unit tests for the provider and API descriptors (llo_api.c): that the
 * tables are whole (each entry where its number says, every hook a
 * caller relies on filled in), the exact bytes of the module's refusals
 * in each provider's error shape and of the end of a stream the module
 * cuts, what a short buffer gets, and that a cut stream's end reads back,
 * through the parser, as the provider's own end with the cut's reason.
 */

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "llo_api.h"


#define LLO_T_BUF               1024


START_TEST(test_api_table)
{
    int               api;
    const llo_api_t  *a;

    ck_assert_ptr_null(llo_api_get(LLO_API_UNKNOWN));
    ck_assert_ptr_null(llo_api_get(LLO_API_N));
    ck_assert_ptr_null(llo_api_get(-1));

    for (api = LLO_API_UNKNOWN + 1; api < LLO_API_N; api++) {
        a = llo_api_get(api);

        ck_assert_ptr_nonnull(a);
        ck_assert_int_eq(a->api, api);
        ck_assert_str_eq(a->name, llo_api_name(api));
        ck_assert_msg(a->uri && a->req && a->resp, "%s: a hook is missing",
                      a->name);
        ck_assert_msg(a->provider > LLO_PROV_UNKNOWN
                      && a->provider < LLO_PROV_N, "%s: provider %d",
                      a->name, a->provider);

        /* a cut stream is recorded with the reason its end says */
        ck_assert_msg((a->cut_end == NULL) == (a->cut_reason == NULL),
                      "%s: cut_end and cut_reason", a->name);

        /* only embeddings make no completion */
        ck_assert_int_eq(a->completion, api != LLO_API_EMBEDDINGS);
    }
}
END_TEST


START_TEST(test_provider_table)
{
    int                    prov, other, api;
    const llo_provider_t  *p;

    ck_assert_ptr_eq(llo_provider_get(LLO_PROV_N),
                     llo_provider_get(LLO_PROV_UNKNOWN));
    ck_assert_ptr_eq(llo_provider_get(-1),
                     llo_provider_get(LLO_PROV_UNKNOWN));
    ck_assert_ptr_nonnull(llo_provider_get(LLO_PROV_UNKNOWN)->error_body);

    for (prov = LLO_PROV_UNKNOWN + 1; prov < LLO_PROV_N; prov++) {
        p = llo_provider_get(prov);

        ck_assert_int_eq(p->provider, prov);
        ck_assert_msg(p->api_for && p->error_body && p->key_header,
                      "%s: a hook is missing", p->name);

        /* a dialect speaks another's APIs; only a dialect claims URIs */
        ck_assert_msg(p->speaks > LLO_PROV_UNKNOWN && p->speaks < LLO_PROV_N
                      && llo_provider_get(p->speaks)->speaks == p->speaks,
                      "%s speaks %d", p->name, p->speaks);
        ck_assert_msg(p->claim == NULL || p->speaks != prov,
                      "%s claims URIs of its own APIs", p->name);

        /* llm_observer_provider takes each name once */
        for (other = LLO_PROV_UNKNOWN; other < prov; other++) {
            ck_assert_str_ne(p->name, llo_provider_name(other));
        }

        ck_assert_str_ne(p->name, "auto");

        /* a configured provider reads a URI it knows nothing of somehow,
         * or not at all: never as an API that does not exist */
        api = llo_api_for(prov, (const uint8_t *) "/x", 2, NULL);
        ck_assert_int_ge(api, LLO_API_UNKNOWN);
        ck_assert_int_lt(api, LLO_API_N);
    }
}
END_TEST


START_TEST(test_error_bodies)
{
    size_t       i, n;
    char         buf[LLO_T_BUF];
    const char  *msg = "Incorrect API key \\\"k\\\".";

    static const struct {
        int          prov;
        int          status;
        const char  *body;
    } cases[] = {
        { LLO_PROV_OPENAI, 401,
          "{\"error\":{\"message\":\"Incorrect API key \\\"k\\\".\","
          "\"type\":\"invalid_request_error\",\"param\":null,"
          "\"code\":\"invalid_api_key\"}}\n" },
        { LLO_PROV_UNKNOWN, 429,
          "{\"error\":{\"message\":\"Incorrect API key \\\"k\\\".\","
          "\"type\":\"invalid_request_error\",\"param\":null,"
          "\"code\":\"invalid_api_key\"}}\n" },
        { LLO_PROV_ANTHROPIC, 401,
          "{\"type\":\"error\",\"error\":{\"type\":\"authentication_error\","
          "\"message\":\"Incorrect API key \\\"k\\\".\"}}\n" },
        { LLO_PROV_ANTHROPIC, 403,
          "{\"type\":\"error\",\"error\":{\"type\":\"permission_error\","
          "\"message\":\"Incorrect API key \\\"k\\\".\"}}\n" },
        { LLO_PROV_ANTHROPIC, 429,
          "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\","
          "\"message\":\"Incorrect API key \\\"k\\\".\"}}\n" },
        { LLO_PROV_GEMINI, 401,
          "{\"error\":{\"code\":401,\"message\":\"Incorrect API key "
          "\\\"k\\\".\",\"status\":\"UNAUTHENTICATED\"}}\n" },
        { LLO_PROV_GEMINI, 403,
          "{\"error\":{\"code\":403,\"message\":\"Incorrect API key "
          "\\\"k\\\".\",\"status\":\"PERMISSION_DENIED\"}}\n" },
        { LLO_PROV_GEMINI, 429,
          "{\"error\":{\"code\":429,\"message\":\"Incorrect API key "
          "\\\"k\\\".\",\"status\":\"RESOURCE_EXHAUSTED\"}}\n" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(buf, 'x', sizeof(buf));

        n = llo_provider_get(cases[i].prov)->error_body(buf, sizeof(buf),
                                                cases[i].status,
                                                "invalid_request_error",
                                                "invalid_api_key", msg,
                                                strlen(msg));

        ck_assert_msg(n == strlen(cases[i].body)
                      && memcmp(buf, cases[i].body, n) == 0,
                      "%s %d: \"%.*s\"", llo_provider_name(cases[i].prov),
                      cases[i].status, (int) n, buf);
    }

    /* a short buffer gets what fits, and its length */

    n = llo_provider_get(LLO_PROV_GEMINI)->error_body(buf, 11, 429, "t",
                                                      "c", msg, strlen(msg));
    ck_assert_uint_eq(n, 10);
    ck_assert_str_eq(buf, "{\"error\":{");

    n = llo_provider_get(LLO_PROV_GEMINI)->error_body(buf, 0, 429, "t", "c",
                                                      msg, strlen(msg));
    ck_assert_uint_eq(n, 0);
}
END_TEST


/* the end of a cut stream, after some text, read back by the parser */

static void
llo_t_cut(int api, const char *head, const llo_cut_t *c, const char *want,
    const char *reason)
{
    char                buf[LLO_T_BUF];
    size_t              n, h;
    llo_resp_t         *r;
    const llo_api_t    *a;
    llo_resp_parser_t  *p;

    a = llo_api_get(api);

    h = strlen(head);
    memcpy(buf, head, h);
    n = a->cut_end(buf + h, sizeof(buf) - h, c);

    ck_assert_msg(n == strlen(want) && memcmp(buf + h, want, n) == 0,
                  "%s: \"%.*s\"", a->name, (int) n, buf + h);
    ck_assert_str_eq(a->cut_reason, reason);

    p = llo_resp_create(api, LLO_BODY_SSE, 0, LLO_T_BUF, LLO_SKIM_ON);
    ck_assert_ptr_nonnull(p);

    llo_resp_feed(p, (const uint8_t *) buf, h + n);
    llo_resp_finish(p);
    r = llo_resp_result(p);

    ck_assert_msg(r->done, "%s: the cut end is not the stream's end",
                  a->name);
    ck_assert_str_eq(r->finish_reason.data, reason);
    ck_assert_str_eq(r->error, "");

    if (api == LLO_API_MESSAGES) {
        ck_assert_int_eq(r->completion_tokens, c->completion);
    }

    llo_resp_destroy(p);
}


START_TEST(test_cut_ends)
{
    llo_cut_t  c;

    c.id = "chatcmpl-\\\"x\\\"";
    c.id_len = strlen(c.id);
    c.model = "gpt-4o-mini";
    c.model_len = strlen(c.model);
    c.completion = 5;
    c.created = 1759230512;

    llo_t_cut(LLO_API_CHAT,
              "data: {\"id\":\"chatcmpl-\\\"x\\\"\",\"object\":\"chat."
              "completion.chunk\",\"created\":1759230512,\"model\":\"gpt-4o-"
              "mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":"
              "\"Hello\"},\"finish_reason\":null}]}\n\n", &c,
              "data: {\"id\":\"chatcmpl-\\\"x\\\"\",\"object\":\"chat."
              "completion.chunk\",\"created\":1759230512,\"model\":\"gpt-4o-"
              "mini\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":"
              "null,\"finish_reason\":\"length\"}]}\n\ndata: [DONE]\n\n",
              "length");

    llo_t_cut(LLO_API_MESSAGES,
              "event: message_start\ndata: {\"type\":\"message_start\","
              "\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":"
              "\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],"
              "\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n", &c,
              "event: message_delta\ndata: {\"type\":\"message_delta\","
              "\"delta\":{\"stop_reason\":\"max_tokens\",\"stop_sequence\":"
              "null},\"usage\":{\"output_tokens\":5}}\n\nevent: message_stop"
              "\ndata: {\"type\":\"message_stop\"}\n\n",
              "max_tokens");
}
END_TEST


int
main(void)
{
    int       failed;
    Suite    *s;
    TCase    *tc;

    s = suite_create("api");
    tc = tcase_create("api");

    tcase_add_test(tc, test_api_table);
    tcase_add_test(tc, test_provider_table);
    tcase_add_test(tc, test_error_bodies);
    tcase_add_test(tc, test_cut_ends);
    suite_add_tcase(s, tc);

    failed = llo_t_run_suite(s);

    return llo_t_exit(failed);
}
