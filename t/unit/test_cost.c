/*
 * Unit tests for the price list and the cost of a call (llo_cost.c):
 * the llm_observer_price arguments and their errors, which entry a model
 * gets, the cost of each kind of token against hand arithmetic, rounding,
 * overflow, unknown counts, the USD string; and every line of the shipped
 * conf.d/llm_prices.conf (LLO_PRICES_CONF overrides the path).
 */

#include <check.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "llo_cost.h"


#define LLO_T_ERR_LEN           256
#define LLO_T_PRICES_MAX        256
#define LLO_T_ARGS_MAX          16


/* one directive's arguments, NULL ended; fails the test on an error */

static void
llo_t_price(llo_price_t *p, const char *model, ...)
{
    char         err[LLO_T_ERR_LEN];
    va_list      ap;
    const char  *a;

    llo_price_init(p);

    ck_assert_msg(llo_price_model(p, model, strlen(model), err, sizeof(err))
                  == 0, "%s: %s", model, err);

    va_start(ap, model);

    while ((a = va_arg(ap, const char *)) != NULL) {
        ck_assert_msg(llo_price_param(p, a, strlen(a), err, sizeof(err))
                      == 0, "%s %s: %s", model, a, err);
    }

    va_end(ap);

    ck_assert_msg(llo_price_check(p, err, sizeof(err)) == 0, "%s: %s",
                  model, err);
}


/* -- prices ---------------------------------------------------------------- */

START_TEST(test_price_good)
{
    size_t       i;
    int64_t      v;
    const char  *why;

    static const struct {
        const char  *s;
        int64_t      micro;
    } t[] = {
        { "2.5",            2500000 },
        { "2.50",           2500000 },
        { "0.075",          75000 },
        { "15",             15000000 },
        { "0",              0 },
        { "0.0",            0 },
        { "0.000001",       1 },
        { "0.01875",        18750 },
        { "123.456789",     123456789 },
        { "007",            7000000 },
        { "10000",          INT64_C(10000000000) },
        { "10000.000000",   INT64_C(10000000000) },
        { "9999.999999",    INT64_C(9999999999) },
    };

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        v = -7;
        why = llo_price_parse(t[i].s, strlen(t[i].s), &v);

        ck_assert_msg(why == NULL, "\"%s\": %s", t[i].s, why);
        ck_assert_msg(v == t[i].micro, "\"%s\" gave %lld, want %lld",
                      t[i].s, (long long) v, (long long) t[i].micro);
    }

    /* only len bytes are read: the argument need not end in a NUL */

    why = llo_price_parse("1.25xyz", 4, &v);
    ck_assert_ptr_null(why);
    ck_assert_int_eq(v, 1250000);
}
END_TEST


/* every bad value, through llo_price_param(), with the whole message */

START_TEST(test_price_bad)
{
    char         err[LLO_T_ERR_LEN], arg[64], want[LLO_T_ERR_LEN];
    size_t       i;
    llo_price_t  p;

    static const struct {
        const char  *value;
        const char  *why;
    } t[] = {
        { "",               "a price in USD per 1M tokens, like 2.50" },
        { "abc",            "a price in USD per 1M tokens, like 2.50" },
        { "-1",             "a price cannot be negative" },
        { "-0",             "a price cannot be negative" },
        { "+1",             "a price in USD per 1M tokens, like 2.50" },
        { " 1",             "a price in USD per 1M tokens, like 2.50" },
        { "1 ",             "a price in USD per 1M tokens, like 2.50" },
        { ".5",             "a price in USD per 1M tokens, like 2.50" },
        { "5.",             "a price in USD per 1M tokens, like 2.50" },
        { "1.2.3",          "a price in USD per 1M tokens, like 2.50" },
        { "1,5",            "a price in USD per 1M tokens, like 2.50" },
        { "0x10",           "a price in USD per 1M tokens, like 2.50" },
        { "inf",            "a price in USD per 1M tokens, like 2.50" },
        { "nan",            "a price in USD per 1M tokens, like 2.50" },
        { "$2.50",          "a price in USD per 1M tokens, like 2.50" },
        { "e5",             "a price in USD per 1M tokens, like 2.50" },
        { "1e3",            "a plain decimal is needed, without an "
                            "exponent" },
        { "2.5E-1",         "a plain decimal is needed, without an "
                            "exponent" },
        { "0.0000001",      "at most 6 decimals" },
        { "2.5000000",      "at most 6 decimals" },
        { "10000.000001",   "more than 10000 USD per 1M tokens" },
        { "10001",          "more than 10000 USD per 1M tokens" },
        { "99999999999999999999999",
                            "more than 10000 USD per 1M tokens" },
    };

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        snprintf(arg, sizeof(arg), "input=%s", t[i].value);
        llo_price_init(&p);

        ck_assert_int_eq(llo_price_param(&p, arg, strlen(arg), err,
                                         sizeof(err)), -1);

        snprintf(want, sizeof(want), "invalid value \"%s\": %s", arg,
                 t[i].why);

        ck_assert_str_eq(err, want);
        ck_assert_int_eq(p.input, -1);
    }

    llo_price_init(&p);
    ck_assert_int_eq(llo_price_param(&p, "input=abc", 9, err, sizeof(err)),
                     -1);
    ck_assert_str_eq(err, "invalid value \"input=abc\": a price in USD per "
                     "1M tokens, like 2.50");
}
END_TEST


START_TEST(test_param_errors)
{
    char         err[LLO_T_ERR_LEN], small[16];
    llo_price_t  p;

    llo_price_init(&p);

    ck_assert_int_eq(llo_price_param(&p, "foo=1", 5, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "unknown parameter \"foo=1\"");

    /* names are case-sensitive, as nginx's own parameters */
    ck_assert_int_eq(llo_price_param(&p, "Input=1", 7, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "unknown parameter \"Input=1\"");

    ck_assert_int_eq(llo_price_param(&p, "=1", 2, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "unknown parameter \"=1\"");

    ck_assert_int_eq(llo_price_param(&p, "input", 5, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "invalid parameter \"input\": a name=value pair "
                     "like input=2.50");

    ck_assert_int_eq(llo_price_param(&p, "input=2", 7, err, sizeof(err)), 0);
    ck_assert_int_eq(llo_price_param(&p, "input=3", 7, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "duplicate parameter \"input=3\"");
    ck_assert_int_eq(p.input, 2000000);

    ck_assert_int_eq(llo_price_param(&p, "cached_input=0.5", 16, err,
                                     sizeof(err)), 0);
    ck_assert_int_eq(llo_price_param(&p, "cached_input=0.5", 16, err,
                                     sizeof(err)), -1);
    ck_assert_str_eq(err, "duplicate parameter \"cached_input=0.5\"");

    ck_assert_int_eq(llo_price_param(&p, "cache_write=2.5", 15, err,
                                     sizeof(err)), 0);
    ck_assert_int_eq(llo_price_param(&p, "cache_write=1", 13, err,
                                     sizeof(err)), -1);
    ck_assert_str_eq(err, "duplicate parameter \"cache_write=1\"");

    ck_assert_int_eq(p.cached_input, 500000);
    ck_assert_int_eq(p.cache_write, 2500000);

    /* input and output are both required */

    ck_assert_int_eq(llo_price_model(&p, "gpt-4o*", 7, err, sizeof(err)), 0);
    ck_assert_int_eq(llo_price_check(&p, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "missing parameter \"output=\" for \"gpt-4o*\"");

    llo_price_init(&p);
    ck_assert_int_eq(llo_price_model(&p, "gpt-4o", 6, err, sizeof(err)), 0);
    ck_assert_int_eq(llo_price_param(&p, "output=8", 8, err, sizeof(err)), 0);
    ck_assert_int_eq(llo_price_check(&p, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "missing parameter \"input=\" for \"gpt-4o\"");

    ck_assert_int_eq(llo_price_param(&p, "input=0", 7, err, sizeof(err)), 0);
    ck_assert_int_eq(llo_price_check(&p, err, sizeof(err)), 0);

    /* an argument that is not NUL terminated; an error cut to errlen */

    llo_price_init(&p);
    ck_assert_int_eq(llo_price_param(&p, "output=2.5XYZ", 10, err,
                                     sizeof(err)), 0);
    ck_assert_int_eq(p.output, 2500000);

    ck_assert_int_eq(llo_price_param(&p, "bogus=1", 7, small, sizeof(small)),
                     -1);
    ck_assert_str_eq(small, "unknown paramet");
}
END_TEST


START_TEST(test_model)
{
    char         err[LLO_T_ERR_LEN], name[LLO_PRICE_MODEL_MAX + 2];
    llo_price_t  p;

    llo_price_init(&p);

    ck_assert_int_eq(llo_price_model(&p, "gpt-4o", 6, err, sizeof(err)), 0);
    ck_assert_str_eq(p.model, "gpt-4o");
    ck_assert_uint_eq(p.len, 6);
    ck_assert_int_eq(p.prefix, 0);

    ck_assert_int_eq(llo_price_model(&p, "gpt-4o*", 7, err, sizeof(err)), 0);
    ck_assert_str_eq(p.model, "gpt-4o");
    ck_assert_uint_eq(p.len, 6);
    ck_assert_int_eq(p.prefix, 1);

    /* the catch-all */
    ck_assert_int_eq(llo_price_model(&p, "*", 1, err, sizeof(err)), 0);
    ck_assert_str_eq(p.model, "");
    ck_assert_uint_eq(p.len, 0);
    ck_assert_int_eq(p.prefix, 1);

    ck_assert_int_eq(llo_price_model(&p, "", 0, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "empty model name");

    ck_assert_int_eq(llo_price_model(&p, "gpt-*o", 6, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "invalid model \"gpt-*o\": a \"*\" is allowed only "
                     "at the end, for a prefix");

    ck_assert_int_eq(llo_price_model(&p, "**", 2, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "invalid model \"**\": a \"*\" is allowed only at "
                     "the end, for a prefix");

    ck_assert_int_eq(llo_price_model(&p, "gpt 4o", 6, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "invalid model \"gpt 4o\": blanks and control "
                     "characters are not allowed");

    ck_assert_int_eq(llo_price_model(&p, "gpt\t4o", 6, err, sizeof(err)), -1);
    ck_assert_int_eq(llo_price_model(&p, "gpt\x7f", 4, err, sizeof(err)), -1);

    /* 127 bytes fit, with or without the '*'; 128 do not */

    memset(name, 'm', sizeof(name));

    ck_assert_int_eq(llo_price_model(&p, name, 127, err, sizeof(err)), 0);
    ck_assert_uint_eq(p.len, 127);
    ck_assert_uint_eq(strlen(p.model), 127);

    name[127] = '*';
    ck_assert_int_eq(llo_price_model(&p, name, 128, err, sizeof(err)), 0);
    ck_assert_uint_eq(p.len, 127);
    ck_assert_int_eq(p.prefix, 1);

    name[127] = 'm';
    ck_assert_int_eq(llo_price_model(&p, name, 128, err, sizeof(err)), -1);
    ck_assert_msg(strncmp(err, "invalid model \"mmm", 17) == 0
                  && strstr(err, "\": longer than 127 bytes") != NULL,
                  "%s", err);
}
END_TEST


/* -- finding a model's price ---------------------------------------------- */

START_TEST(test_find)
{
    size_t              i, n;
    llo_price_t         t[7], r[7];
    const llo_price_t  *e;

    static const struct {
        const char  *model;
        int64_t      input;         /* 0: no entry, without the catch-all */
        int64_t      input_all;     /* with it */
    } q[] = {
        /* exact beats a prefix of the same name */
        { "gpt-4o",                     4000000, 4000000 },
        /* exact beats a longer prefix */
        { "gpt-4o-mini-2024-07-18",     5000000, 5000000 },
        /* longest prefix wins */
        { "gpt-4o-mini-2024-09-09",     3000000, 3000000 },
        { "gpt-4o-mini",                3000000, 3000000 },
        { "gpt-4o-2024-08-06",          2000000, 2000000 },
        { "gpt-4",                      1000000, 1000000 },
        { "gpt-",                       1000000, 1000000 },
        /* no match: a shorter name, other names, an exact-only entry */
        { "gpt",                        0,       7000000 },
        { "claude-sonnet-4-5",          0,       7000000 },
        { "o3-mini",                    0,       7000000 },
        { "",                           0,       7000000 },
        { "GPT-4o",                     0,       7000000 },
        { "o3",                         6000000, 6000000 },
    };

    /* prefixes first, the exact entries last: order must not matter */

    llo_t_price(&t[0], "gpt-*", "input=1", "output=1", NULL);
    llo_t_price(&t[1], "gpt-4o*", "input=2", "output=2", NULL);
    llo_t_price(&t[2], "gpt-4o-mini*", "input=3", "output=3", NULL);
    llo_t_price(&t[3], "gpt-4o", "input=4", "output=4", NULL);
    llo_t_price(&t[4], "gpt-4o-mini-2024-07-18", "input=5", "output=5",
                NULL);
    llo_t_price(&t[5], "o3", "input=6", "output=6", NULL);
    llo_t_price(&t[6], "*", "input=7", "output=7", NULL);

    n = 7;

    for (i = 0; i < n; i++) {
        r[i] = t[n - 1 - i];
    }

    for (i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
        /* without the catch-all, in both orders */

        e = llo_price_find(t, n - 1, q[i].model, strlen(q[i].model));

        if (q[i].input == 0) {
            ck_assert_msg(e == NULL, "%s: found %s", q[i].model,
                          e ? e->model : "");

        } else {
            ck_assert_msg(e != NULL && e->input == q[i].input,
                          "%s: wrong entry", q[i].model);
        }

        e = llo_price_find(r + 1, n - 1, q[i].model, strlen(q[i].model));

        if (q[i].input == 0) {
            ck_assert_ptr_null(e);

        } else {
            ck_assert_msg(e != NULL && e->input == q[i].input,
                          "%s: wrong entry, reversed", q[i].model);
        }

        /* with it */

        e = llo_price_find(t, n, q[i].model, strlen(q[i].model));
        ck_assert_msg(e != NULL && e->input == q[i].input_all,
                      "%s: wrong entry with \"*\"", q[i].model);

        e = llo_price_find(r, n, q[i].model, strlen(q[i].model));
        ck_assert_msg(e != NULL && e->input == q[i].input_all,
                      "%s: wrong entry with \"*\", reversed", q[i].model);
    }

    /* only len bytes of the model are looked at */

    e = llo_price_find(t, n, "gpt-4o-mini", 6);
    ck_assert_ptr_eq(e, &t[3]);

    ck_assert_ptr_null(llo_price_find(t, 0, "gpt-4o", 6));
    ck_assert_ptr_null(llo_price_find(NULL, 0, "gpt-4o", 6));
}
END_TEST


/* -- cost ---------------------------------------------------------------- */

START_TEST(test_cost_forms)
{
    llo_price_t  gpt, claude, plain, gemini;

    /* OpenAI style: cached_input, no cache_write */

    llo_t_price(&gpt, "gpt-4o", "input=2.50", "output=10", "cached_input=1.25",
                NULL);

    /*
     * prompt 1000 of which 200 cached, cache writes unknown, 500 out:
     *   800 * 2.50 / 1e6 USD = 0.002    = 2,000,000 nano-USD
     *   200 * 1.25 / 1e6     = 0.00025  =   250,000
     *   500 * 10   / 1e6     = 0.005    = 5,000,000
     *                                     7,250,000
     */
    ck_assert_int_eq(llo_cost_nano(&gpt, 1000, 200, -1, 500), 7250000);

    /* no cache at all: 1000 * 2.50 + 500 * 10 = 0.0025 + 0.005 USD */
    ck_assert_int_eq(llo_cost_nano(&gpt, 1000, 0, 0, 500), 7500000);

    /* cache writes without a cache_write price cost the input price:
     * 700 * 2.50 + 100 * 1.25 + 200 * 2.50 = 1750 + 125 + 500 (/1e6 USD)
     * = 0.002375 USD */
    ck_assert_int_eq(llo_cost_nano(&gpt, 1000, 100, 200, 0), 2375000);

    /* Anthropic style: both cache prices; the prompt count includes the
     * cache reads and writes, as llo_resp_t reports it */

    llo_t_price(&claude, "claude-sonnet-4-5*", "input=3", "output=15",
                "cache_write=3.75", "cached_input=0.30", NULL);

    /*
     * prompt 10000 = 2000 uncached + 6000 read + 2000 written, 300 out:
     *   2000 * 3    / 1e6 = 0.006   = 6,000,000
     *   6000 * 0.30 / 1e6 = 0.0018  = 1,800,000
     *   2000 * 3.75 / 1e6 = 0.0075  = 7,500,000
     *    300 * 15   / 1e6 = 0.0045  = 4,500,000
     *                                19,800,000
     */
    ck_assert_int_eq(llo_cost_nano(&claude, 10000, 6000, 2000, 300),
                     19800000);

    /* input and output only: cached and written tokens at input;
     * 1000 * 2 + 10 * 8 = 2000 + 80 (/1e6 USD) = 0.00208 USD */

    llo_t_price(&plain, "m", "input=2", "output=8", NULL);
    ck_assert_int_eq(llo_cost_nano(&plain, 1000, 400, 100, 10), 2080000);

    /* Gemini style: thinking tokens are already in the completion count
     * (candidates 200 + thoughts 800 = 1000), charged once at output;
     *   1500 * 1.25 + 10000 * 0.125 + 1000 * 10 = 1875 + 1250 + 10000
     *   (/1e6 USD) = 0.013125 USD */

    llo_t_price(&gemini, "gemini-2.5-pro", "input=1.25", "output=10",
                "cached_input=0.125", NULL);
    ck_assert_int_eq(llo_cost_nano(&gemini, 11500, 10000, -1, 1000),
                     13125000);

    /* an embedding: input only, output=0 */

    llo_t_price(&plain, "text-embedding-3-small", "input=0.02", "output=0",
                NULL);

    /* 8 tokens * 0.02 / 1e6 = 1.6e-7 USD = 160 nano-USD: micro-USD would
     * have said 0 */
    ck_assert_int_eq(llo_cost_nano(&plain, 8, -1, -1, -1), 160);

    /* a cheap cached token: 1 * 0.005 / 1e6 = 5e-9 USD */

    llo_t_price(&plain, "gpt-5-nano", "input=0.05", "output=0.40",
                "cached_input=0.005", NULL);
    ck_assert_int_eq(llo_cost_nano(&plain, 1, 1, 0, 0), 5);
}
END_TEST


START_TEST(test_cost_rounding)
{
    llo_price_t  p;

    /* the smallest price: 1 micro-USD per 1M tokens, 1 pico-USD a token */

    llo_t_price(&p, "m", "input=0.000001", "output=0.000001", NULL);

    ck_assert_int_eq(llo_cost_nano(&p, 499, 0, 0, 0), 0);      /* 0.499 */
    ck_assert_int_eq(llo_cost_nano(&p, 500, 0, 0, 0), 1);      /* 0.5 up */
    ck_assert_int_eq(llo_cost_nano(&p, 1499, 0, 0, 0), 1);     /* 1.499 */
    ck_assert_int_eq(llo_cost_nano(&p, 1500, 0, 0, 0), 2);     /* 1.5 up */
    ck_assert_int_eq(llo_cost_nano(&p, 2500, 0, 0, 0), 3);     /* not even */

    /* rounded once, at the end: 0.4 + 0.4 nano-USD is 1, not 0 + 0 */
    ck_assert_int_eq(llo_cost_nano(&p, 400, 0, 0, 400), 1);

    /* 0.01875 USD/1M (18750 micro): 18.75 nano-USD a token;
     * 2 tokens = 37.5 -> 38, 3 tokens = 56.25 -> 56 */

    llo_t_price(&p, "m", "input=0.01875", "output=0.01875", NULL);

    ck_assert_int_eq(llo_cost_nano(&p, 2, 0, 0, 0), 38);
    ck_assert_int_eq(llo_cost_nano(&p, 3, 0, 0, 0), 56);

    /* 1 + 1 tokens: 18.75 + 18.75 = 37.5 -> 38 (each alone: 19 + 19) */
    ck_assert_int_eq(llo_cost_nano(&p, 1, 0, 0, 1), 38);

    /* 0.1 USD/1M and 1 token is exactly 100 nano-USD */

    llo_t_price(&p, "m", "input=0.10", "output=0.40", NULL);
    ck_assert_int_eq(llo_cost_nano(&p, 1, 0, 0, 0), 100);
    ck_assert_int_eq(llo_cost_nano(&p, 0, 0, 0, 1), 400);
}
END_TEST


START_TEST(test_cost_overflow)
{
    llo_price_t  p;

    /* 1e12 tokens at 10000 USD/1M = 1e10 USD = 1e19 nano-USD, more than
     * INT64_MAX (9.22e18): saturated, not wrapped */

    llo_t_price(&p, "m", "input=10000", "output=10000",
                "cached_input=10000", "cache_write=10000", NULL);

    ck_assert_int_eq(llo_cost_nano(&p, INT64_C(1000000000000), 0, 0, 0),
                     LLO_COST_MAX);
    ck_assert_int_eq(llo_cost_nano(&p, INT64_MAX, INT64_MAX, INT64_MAX,
                                   INT64_MAX), LLO_COST_MAX);
    ck_assert_int_eq(llo_cost_nano(&p, 0, 0, 0, INT64_MAX), LLO_COST_MAX);

    /* each term fits, the sum does not: 5e18 + 5e18 nano-USD */
    ck_assert_int_eq(llo_cost_nano(&p, INT64_C(500000000000), 0, 0,
                                   INT64_C(500000000000)), LLO_COST_MAX);

    /* just below the limit, exact: 1e12 tokens at 9000 USD/1M
     *   = 9e9 USD = 9,000,000,000,000,000,000 nano-USD,
     * plus 1 output token at 10000 USD/1M = 0.01 USD = 10,000,000 */

    llo_t_price(&p, "m", "input=9000", "output=10000", NULL);
    ck_assert_int_eq(llo_cost_nano(&p, INT64_C(1000000000000), 0, 0, 1),
                     INT64_C(9000000000010000000));

    /* the largest count at the smallest price, exact:
     * 9223372036854775807 pico-USD = 9223372036854775.807 nano -> ...776 */

    llo_t_price(&p, "m", "input=0.000001", "output=0", NULL);
    ck_assert_int_eq(llo_cost_nano(&p, INT64_MAX, 0, 0, 0),
                     INT64_C(9223372036854776));

    /* more cached and written than the whole prompt, with counts near
     * the limit: nothing uncached, no wrap in the subtraction */

    llo_t_price(&p, "m", "input=2", "output=8", "cached_input=0.000001",
                "cache_write=0.000001", NULL);
    ck_assert_int_eq(llo_cost_nano(&p, 10, INT64_MAX, INT64_MAX, 0),
                     INT64_C(18446744073709552));

    /* a price set by hand above what the parser takes is held to it */

    p.input = INT64_MAX;
    ck_assert_int_eq(llo_cost_nano(&p, 1, 0, 0, 0), 10000000);
}
END_TEST


START_TEST(test_cost_unknown)
{
    llo_price_t  p;

    llo_t_price(&p, "gpt-4o", "input=2.50", "output=10", "cached_input=1.25",
                NULL);

    /* nothing known */
    ck_assert_int_eq(llo_cost_nano(&p, -1, -1, -1, -1), -1);
    ck_assert_int_eq(llo_cost_nano(&p, INT64_MIN, -5, -1, -1), -1);

    /* known zeros are a cost of zero, not unknown */
    ck_assert_int_eq(llo_cost_nano(&p, 0, 0, 0, 0), 0);
    ck_assert_int_eq(llo_cost_nano(&p, -1, -1, -1, 0), 0);

    /* the prompt unknown: 100 * 10 / 1e6 USD = 0.001 */
    ck_assert_int_eq(llo_cost_nano(&p, -1, -1, -1, 100), 1000000);

    /* the completion unknown: 1000 * 2.50 / 1e6 = 0.0025 */
    ck_assert_int_eq(llo_cost_nano(&p, 1000, -1, -1, -1), 2500000);

    /* only a cached count (prompt unknown): 300 * 1.25 / 1e6 = 0.000375 */
    ck_assert_int_eq(llo_cost_nano(&p, -1, 300, -1, -1), 375000);

    /* more cached than the prompt: nothing uncached, 300 at 1.25 */
    ck_assert_int_eq(llo_cost_nano(&p, 100, 300, -1, -1), 375000);
}
END_TEST


START_TEST(test_format)
{
    char    buf[LLO_COST_FORMAT_LEN], small[12];
    size_t  i, n;

    static const struct {
        int64_t      nano;
        const char  *s;
    } t[] = {
        { 0,                    "0.000000000" },
        { 1,                    "0.000000001" },
        { 160,                  "0.000000160" },
        { 1234,                 "0.000001234" },
        { 7250000,              "0.007250000" },
        { 999999999,            "0.999999999" },
        { 1000000000,           "1.000000000" },
        { INT64_C(123456789012), "123.456789012" },
        { INT64_MAX,            "9223372036.854775807" },
        { -1,                   "-0.000000001" },
        { INT64_MIN,            "-9223372036.854775808" },
    };

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        n = llo_cost_format_nano(t[i].nano, buf, sizeof(buf));

        ck_assert_str_eq(buf, t[i].s);
        ck_assert_uint_eq(n, strlen(t[i].s));
    }

    /* "0.000000000" is 11 bytes: it needs 12 with the NUL */

    ck_assert_uint_eq(llo_cost_format_nano(0, small, 12), 11);
    ck_assert_str_eq(small, "0.000000000");

    ck_assert_uint_eq(llo_cost_format_nano(0, small, 11), 0);
    ck_assert_str_eq(small, "");

    ck_assert_uint_eq(llo_cost_format_nano(5, small, 0), 0);
}
END_TEST


/* -- the shipped price list ---------------------------------------------- */

typedef struct {
    llo_price_t         price;
    unsigned            line;
} llo_t_entry_t;


static char *
llo_t_read(const char *path)
{
    long   size;
    char  *buf;
    FILE  *f;

    f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s (run from the repository root, "
                  "or set LLO_PRICES_CONF)", path);

    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    ck_assert_int_ge(size, 0);
    rewind(f);

    buf = malloc(size + 1);
    ck_assert_ptr_nonnull(buf);

    ck_assert_uint_eq(fread(buf, 1, size, f), (size_t) size);
    buf[size] = '\0';

    fclose(f);

    return buf;
}


/*
 * nginx syntax as the file uses it: '#' comments, blanks between
 * arguments, ';' ending a directive.  Quotes, braces and variables are
 * refused, so the file stays simple enough for this reading to be right.
 */

static size_t
llo_t_parse_conf(const char *path, char *text, llo_t_entry_t *out,
    size_t max)
{
    char         err[LLO_T_ERR_LEN], *p, *arg[LLO_T_ARGS_MAX];
    size_t       n, i, na, len[LLO_T_ARGS_MAX];
    unsigned     line, start;
    llo_price_t  *e;

    n = 0;
    na = 0;
    line = 1;
    start = 0;

    for (p = text; *p; ) {
        if (*p == '#') {
            while (*p && *p != '\n') {
                p++;
            }

            continue;
        }

        if (*p == '\n') {
            line++;
            p++;
            continue;
        }

        if (*p == ' ' || *p == '\t' || *p == '\r') {
            p++;
            continue;
        }

        ck_assert_msg(strchr("\"'{}$\\", *p) == NULL,
                      "%s:%u: unexpected '%c'", path, line, *p);

        if (*p != ';') {
            ck_assert_msg(na < LLO_T_ARGS_MAX, "%s:%u: too many arguments",
                          path, line);

            if (na == 0) {
                start = line;
            }

            arg[na] = p;

            while (*p && !strchr(" \t\r\n;#", *p)) {
                p++;
            }

            len[na] = p - arg[na];
            na++;
            continue;
        }

        p++;

        ck_assert_msg(na > 0, "%s:%u: empty directive", path, line);
        ck_assert_msg(len[0] == 18
                      && memcmp(arg[0], "llm_observer_price", 18) == 0,
                      "%s:%u: unexpected directive \"%.*s\"", path, start,
                      (int) len[0], arg[0]);
        ck_assert_msg(na >= 4, "%s:%u: too few arguments", path, start);
        ck_assert_msg(n < max, "%s: more than %zu prices", path, max);

        e = &out[n].price;
        out[n].line = start;

        llo_price_init(e);

        ck_assert_msg(llo_price_model(e, arg[1], len[1], err, sizeof(err))
                      == 0, "%s:%u: %s", path, start, err);

        for (i = 2; i < na; i++) {
            ck_assert_msg(llo_price_param(e, arg[i], len[i], err,
                                          sizeof(err)) == 0,
                          "%s:%u: %s", path, start, err);
        }

        ck_assert_msg(llo_price_check(e, err, sizeof(err)) == 0,
                      "%s:%u: %s", path, start, err);

        n++;
        na = 0;
    }

    ck_assert_msg(na == 0, "%s:%u: a directive without its ';'", path,
                  start);

    return n;
}


START_TEST(test_shipped_prices)
{
    char                *text;
    size_t               n, i, j;
    llo_price_t          prices[LLO_T_PRICES_MAX];
    const char          *path;
    llo_t_entry_t       *ent;
    const llo_price_t   *e;

    static const struct {
        const char  *model;
        int64_t      input;         /* micro-USD per 1M, 0: none */
        int64_t      output;
    } q[] = {
        { "gpt-4o",                         2500000,  10000000 },
        { "gpt-4o-2024-08-06",              2500000,  10000000 },
        { "gpt-4o-2024-05-13",              5000000,  15000000 },
        { "gpt-4o-mini-2024-07-18",         150000,   600000 },
        { "gpt-4.1-2025-04-14",             2000000,  8000000 },
        { "gpt-4.1-mini-2025-04-14",        400000,   1600000 },
        { "gpt-4.1-nano-2025-04-14",        100000,   400000 },
        { "o3-2025-04-16",                  2000000,  8000000 },
        { "o4-mini-2025-04-16",             1100000,  4400000 },
        { "gpt-5-2025-08-07",               1250000,  10000000 },
        { "gpt-5-mini-2025-08-07",          250000,   2000000 },
        { "gpt-5-nano",                     50000,    400000 },
        { "text-embedding-3-large",         130000,   0 },
        { "claude-opus-4-8",                5000000,  25000000 },
        { "claude-opus-4-5-20251101",       5000000,  25000000 },
        { "claude-opus-4-1-20250805",       15000000, 75000000 },
        { "claude-opus-4-20250514",         15000000, 75000000 },
        { "claude-opus-4-0",                15000000, 75000000 },
        { "claude-sonnet-4-6",              3000000,  15000000 },
        { "claude-sonnet-4-5-20250929",     3000000,  15000000 },
        { "claude-sonnet-4-20250514",       3000000,  15000000 },
        { "claude-3-7-sonnet-20250219",     3000000,  15000000 },
        { "claude-3-5-sonnet-20241022",     3000000,  15000000 },
        { "claude-haiku-4-5-20251001",      1000000,  5000000 },
        { "claude-3-5-haiku-20241022",      800000,   4000000 },
        { "gemini-2.5-pro",                 1250000,  10000000 },
        { "gemini-2.5-flash",               300000,   2500000 },
        { "gemini-2.5-flash-preview-09-2025", 300000, 2500000 },
        { "gemini-2.5-flash-lite",          100000,   400000 },
        { "gemini-2.0-flash-001",           100000,   400000 },

        /* names the prefixes must not catch: other prices */
        { "gpt-5.4",                        0, 0 },
        { "gpt-5.5-pro",                    0, 0 },
        { "o3-mini",                        0, 0 },
        { "o3-pro-2025-06-10",              0, 0 },
        { "gpt-4o-realtime-preview",        0, 0 },
        { "claude-sonnet-5-5",              0, 0 },
        { "claude-opus-5",                  0, 0 },
        { "gemini-2.5-flash-image",         0, 0 },
        { "gemini-2.0-flash-lite",          0, 0 },
    };

    path = getenv("LLO_PRICES_CONF");
    if (path == NULL) {
        path = "conf.d/llm_prices.conf";
    }

    text = llo_t_read(path);

    ent = calloc(LLO_T_PRICES_MAX, sizeof(llo_t_entry_t));
    ck_assert_ptr_nonnull(ent);

    n = llo_t_parse_conf(path, text, ent, LLO_T_PRICES_MAX);

    ck_assert_msg(n >= 40, "%s: only %zu prices", path, n);

    for (i = 0; i < n; i++) {
        prices[i] = ent[i].price;
    }

    /* the same name twice would make one of them dead */

    for (i = 0; i < n; i++) {
        for (j = i + 1; j < n; j++) {
            ck_assert_msg(prices[i].prefix != prices[j].prefix
                          || strcmp(prices[i].model, prices[j].model) != 0,
                          "%s:%u: \"%s%s\" again at line %u", path,
                          ent[j].line, prices[i].model,
                          prices[i].prefix ? "*" : "", ent[i].line);
        }

        /* nothing priced as absurdly cheap by a slip of the decimals */
        ck_assert_msg(prices[i].output == 0
                      || prices[i].output >= prices[i].input,
                      "%s:%u: output cheaper than input", path, ent[i].line);
        ck_assert_msg(prices[i].cached_input <= prices[i].input,
                      "%s:%u: cached input dearer than input", path,
                      ent[i].line);
    }

    for (i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
        e = llo_price_find(prices, n, q[i].model, strlen(q[i].model));

        if (q[i].input == 0) {
            ck_assert_msg(e == NULL, "%s is priced as \"%s%s\"", q[i].model,
                          e ? e->model : "", e && e->prefix ? "*" : "");
            continue;
        }

        ck_assert_msg(e != NULL, "%s has no price", q[i].model);
        ck_assert_msg(e->input == q[i].input && e->output == q[i].output,
                      "%s is priced as \"%s%s\": %lld / %lld", q[i].model,
                      e->model, e->prefix ? "*" : "", (long long) e->input,
                      (long long) e->output);
    }

    /* the Anthropic call of test_cost_forms, with the shipped prices */

    e = llo_price_find(prices, n, "claude-sonnet-4-5-20250929", 26);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(llo_cost_nano(e, 10000, 6000, 2000, 300), 19800000);

    free(ent);
    free(text);
}
END_TEST


int
main(void)
{
    int       failed;
    Suite    *s;
    TCase    *tc;

    s = suite_create("cost");
    tc = tcase_create("cost");

    tcase_add_test(tc, test_price_good);
    tcase_add_test(tc, test_price_bad);
    tcase_add_test(tc, test_param_errors);
    tcase_add_test(tc, test_model);
    tcase_add_test(tc, test_find);
    tcase_add_test(tc, test_cost_forms);
    tcase_add_test(tc, test_cost_rounding);
    tcase_add_test(tc, test_cost_overflow);
    tcase_add_test(tc, test_cost_unknown);
    tcase_add_test(tc, test_format);
    tcase_add_test(tc, test_shipped_prices);
    suite_add_tcase(s, tc);

    failed = llo_t_run_suite(s);

    return llo_t_exit(failed);
}
