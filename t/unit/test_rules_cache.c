/*
 * Unit tests for the rules cache (evaluator/llo_rules_cache.c): a call
 * scored with the cache gets exactly the verdict it gets without, for
 * the same text under other circumstances too (status, latency, filters),
 * hits are counted, and a new rules version starts afresh.
 */

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "llo_rules.h"
#include "llo_rules_cache.h"


static char  llo_t_err[LLO_RULES_ERR_LEN];


static const char  llo_t_rules_text[] =
    "rule refusal { kind refusal; languages en; severity warning; weight 2;"
    "  priority 50; }\n"
    "rule pii { kind pii_leak; severity critical; max_score 1;"
    "  priority 90; }\n"
    "rule slow { kind latency_slo; total_ms 1000; severity info;"
    "  weight 1; priority 10; }\n"
    "rule gpt_only_rep { kind repetition; match model=gpt-4o*;"
    "  severity warning; priority 20; }\n"
    "rule upstream { kind upstream_error; severity critical; weight 3;"
    "  priority 80; }\n";


static void
llo_t_call(llo_rules_call_t *c, const char *model, const char *response,
    int64_t status, int64_t latency_ms)
{
    memset(c, 0, sizeof(llo_rules_call_t));
    c->provider.data = "openai";
    c->provider.len = 6;
    c->api.data = "chat";
    c->api.len = 4;
    c->model.data = model;
    c->model.len = strlen(model);
    c->prompt.data = "Tell me something";
    c->prompt.len = 17;
    c->response.data = response;
    c->response.len = strlen(response);
    c->status = status;
    c->max_tokens = -1;
    c->completion_tokens = -1;
    c->ttft_ms = -1;
    c->latency_ms = latency_ms;
}


/* the verdicts with and without the cache are the same */

static void
llo_t_same(const llo_rules_t *r, llo_rules_cache_t *cache,
    const llo_rules_call_t *c)
{
    llo_verdict_t  a, b;

    llo_rules_score(r, NULL, c, 3, &a);
    llo_rules_score(r, cache, c, 3, &b);

    ck_assert_int_eq(a.score, b.score);
    ck_assert_int_eq(a.flagged, b.flagged);
    ck_assert_uint_eq(a.fired, b.fired);
    ck_assert_mem_eq(a.fired_bits, b.fired_bits, sizeof(a.fired_bits));

    if (a.label == NULL) {
        ck_assert_ptr_null(b.label);

    } else {
        ck_assert_str_eq(a.label, b.label);
    }
}


START_TEST(test_cache_same_verdicts)
{
    size_t              i;
    llo_rules_t        *r;
    llo_rules_call_t    c;
    llo_rules_cache_t  *cache;

    static const char  *texts[] = {
        "Sure, here it is.",
        "I can't help with that.",
        "Mail me at jane.doe@example.com today.",
        "again again again again again again again again again again",
    };

    r = llo_rules_parse(llo_t_rules_text, strlen(llo_t_rules_text),
                        "r.conf", llo_t_err, sizeof(llo_t_err));
    ck_assert_msg(r != NULL, "%s", llo_t_err);

    /* room enough that no two of the 8 texts share a slot */
    cache = llo_rules_cache_new(1 << 16);
    ck_assert_ptr_nonnull(cache);

    /* each text twice over in each circumstance: the second time a hit */
    for (i = 0; i < 4; i++) {
        llo_t_call(&c, "gpt-4o", texts[i], 200, 100);
        llo_t_same(r, cache, &c);
        llo_t_same(r, cache, &c);

        /* slow: the latency rule is no text rule, read every time */
        llo_t_call(&c, "gpt-4o", texts[i], 200, 5000);
        llo_t_same(r, cache, &c);

        /* an error: the answer rules must not fire from a cached 200 */
        llo_t_call(&c, "gpt-4o", texts[i], 500, 100);
        llo_t_same(r, cache, &c);
        llo_t_same(r, cache, &c);

        /* another model: the repetition rule's filter leaves it out,
         * then a gpt-4o call of the same text must still read it */
        llo_t_call(&c, "claude-3", texts[i], 200, 100);
        llo_t_same(r, cache, &c);
        llo_t_call(&c, "gpt-4o", texts[i], 200, 100);
        llo_t_same(r, cache, &c);
    }

    /* per text: 200 (miss, hit, hit), 500 (miss, hit), 200 x2 (hits) */
    ck_assert_uint_eq(cache->misses, 4 * 2);
    ck_assert_uint_eq(cache->hits, 4 * 5);

    llo_rules_cache_free(cache);
    llo_rules_free(r);
}
END_TEST


START_TEST(test_cache_texts_apart)
{
    llo_rules_t        *r;
    llo_verdict_t       v;
    llo_rules_call_t    c;
    llo_rules_cache_t  *cache;

    r = llo_rules_parse(llo_t_rules_text, strlen(llo_t_rules_text),
                        "r.conf", llo_t_err, sizeof(llo_t_err));
    ck_assert_msg(r != NULL, "%s", llo_t_err);

    cache = llo_rules_cache_new(1);
    ck_assert_ptr_nonnull(cache);
    ck_assert_uint_eq(cache->mask, 0);

    /* one slot: each new text evicts the last, and is read afresh */
    llo_t_call(&c, "gpt-4o", "I can't help with that.", 200, 100);
    llo_rules_score(r, cache, &c, 3, &v);
    ck_assert_str_eq(v.label, "refusal");

    llo_t_call(&c, "gpt-4o", "Happy to help.", 200, 100);
    llo_rules_score(r, cache, &c, 3, &v);
    ck_assert_ptr_null(v.label);

    /* the same bytes split otherwise between prompt and response */
    c.prompt.data = "Tell me something I can't";
    c.prompt.len = strlen(c.prompt.data);
    c.response.data = " help with that.";
    c.response.len = strlen(c.response.data);
    llo_rules_score(r, cache, &c, 3, &v);
    ck_assert_ptr_null(v.label);

    ck_assert_uint_eq(cache->hits, 0);
    ck_assert_uint_eq(cache->misses, 3);

    llo_rules_cache_free(cache);
    llo_rules_free(r);
}
END_TEST


START_TEST(test_cache_new_version)
{
    llo_rules_t        *a, *b;
    llo_verdict_t       v;
    llo_rules_call_t    c;
    llo_rules_cache_t  *cache;

    static const char   other[] =
        "rule refusal { kind refusal; phrases \"happy\"; severity warning;"
        "  weight 2; priority 50; }\n";

    a = llo_rules_parse(llo_t_rules_text, strlen(llo_t_rules_text),
                        "a.conf", llo_t_err, sizeof(llo_t_err));
    ck_assert_msg(a != NULL, "%s", llo_t_err);
    b = llo_rules_parse(other, strlen(other), "b.conf", llo_t_err,
                        sizeof(llo_t_err));
    ck_assert_msg(b != NULL, "%s", llo_t_err);

    cache = llo_rules_cache_new(64);
    ck_assert_ptr_nonnull(cache);

    llo_t_call(&c, "gpt-4o", "Happy to help.", 200, 100);
    llo_rules_score(a, cache, &c, 3, &v);
    ck_assert_int_eq(v.score, 5);

    /* rule 0 is "refusal" in both, but the new one fires on this text */
    llo_rules_score(b, cache, &c, 3, &v);
    ck_assert_int_eq(v.score, 3);
    ck_assert_str_eq(v.label, "refusal");
    ck_assert_uint_eq(cache->hits, 0);

    llo_rules_score(b, cache, &c, 3, &v);
    ck_assert_int_eq(v.score, 3);
    ck_assert_uint_eq(cache->hits, 1);

    llo_rules_cache_free(cache);
    llo_rules_free(a);
    llo_rules_free(b);
}
END_TEST


int
main(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("rules_cache");

    tc = tcase_create("cache");
    tcase_add_test(tc, test_cache_same_verdicts);
    tcase_add_test(tc, test_cache_texts_apart);
    tcase_add_test(tc, test_cache_new_version);
    suite_add_tcase(s, tc);

    return llo_t_exit(llo_t_run_suite(s));
}
