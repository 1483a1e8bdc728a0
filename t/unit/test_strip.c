/*
 * Unit tests for the usage-chunk stripper (llo_strip.c): the client of a
 * stream whose usage was asked for by llm_observer_stream_usage gets the
 * bytes it would have got without it, however the stream is split.
 */

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "llo_strip.h"


typedef struct {
    const char         *name;
    const char         *before;     /* up to the end of the finish event */
    const char         *usage;      /* the event to cut, or "" */
    const char         *after;      /* what follows it */
} llo_t_stream_t;


static const llo_t_stream_t  llo_t_streams[] = {

    { "openai",
      "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\","
      "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},"
      "\"finish_reason\":null}],\"usage\":null}\n\n"
      "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\","
      "\"choices\":[{\"index\":0,\"delta\":{\"content\":"
      "\"a ,\\\"usage\\\":null, b\"},\"finish_reason\":null}],\"usage\":null,"
      "\"obfuscation\":\"x1\"}\n\n"
      "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\","
      "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]"
      ",\"usage\":null}\n\n",
      "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\","
      "\"created\":1,\"model\":\"gpt-4o\",\"choices\":[],\"usage\":"
      "{\"prompt_tokens\":9,\"completion_tokens\":1,\"total_tokens\":10}}"
      "\n\n",
      "data: [DONE]\n\n" },

    { "crlf",
      "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}"
      "\r\n\r\n",
      "data: {\"choices\":[],\"usage\":{\"total_tokens\":3}}\r\n\r\n",
      "data: [DONE]\r\n\r\n" },

    { "spaced",
      "data: {\"choices\": [{\"finish_reason\": \"length\"}]}\n\n",
      "data: {\"choices\": [ ], \"usage\" : {\"total_tokens\": 3}}\n\n",
      "data: [DONE]\n\n" },

    { "comments",
      "data: {\"choices\":[{\"finish_reason\":\"stop\"}]}\n\n",
      "data: {\"choices\":[],\"usage\":{\"total_tokens\":3}}\n\n",
      ": keep-alive\n\ndata: [DONE]\n\n" },

    /* a usage event not sent: nothing changes */
    { "no usage",
      "data: {\"choices\":[{\"finish_reason\":\"stop\"}]}\n\n",
      "",
      "data: [DONE]\n\n" },

    /* choices empty but no usage (a filter chunk): kept */
    { "no usage object",
      "data: {\"choices\":[{\"finish_reason\":\"stop\"}]}\n\n",
      "",
      "data: {\"choices\":[],\"prompt_filter_results\":[]}\n\n"
      "data: {\"choices\":[],\"usage\":null}\n\n"
      "data: [DONE]\n\n" },

    /* the stream ends without its last blank line */
    { "unended",
      "data: {\"choices\":[{\"finish_reason\":\"stop\"}]}\n\n",
      "data: {\"choices\":[],\"usage\":{\"total_tokens\":3}}\n\n",
      "data: [DONE]\n" },

    { NULL, NULL, NULL, NULL }
};


/* what the client gets without include_usage: no null members */

static size_t
llo_t_nonull(const char *in, char *out)
{
    size_t       n;
    const char  *p, *q;

    n = 0;

    for (p = in; (q = strstr(p, LLO_STRIP_NULL)) != NULL;
         p = q + LLO_STRIP_NULL_LEN)
    {
        memcpy(out + n, p, q - p);
        n += q - p;
    }

    strcpy(out + n, p);

    return n + strlen(p);
}


/* feed the stream in pieces cut at cut[], armed where the finish event
 * ends, as the module does */

static size_t
llo_t_run(const uint8_t *in, size_t n, size_t arm_at, const size_t *cut,
    size_t ncut, uint8_t *out)
{
    size_t        i, from, to, o;
    llo_strip_t   s;

    memset(&s, 0, sizeof(llo_strip_t));

    o = 0;
    from = 0;

    for (i = 0; i <= ncut; i++) {
        to = i < ncut ? cut[i] : n;

        /* the parser says where the finish event ends once it has seen
         * the buffer holding that end */
        if (to >= arm_at) {
            s.arm_at = arm_at;
        }

        o += llo_strip_feed(&s, in + from, to - from, out + o);
        from = to;
    }

    o += llo_strip_finish(&s, out + o);

    llo_strip_free(&s);

    return o;
}


START_TEST(test_every_split)
{
    size_t                 k, j, n, bn, o, wn, cut[2];
    char                  *in, *want, *tmp;
    uint8_t               *out;
    const llo_t_stream_t  *t;

    for (t = llo_t_streams; t->name; t++) {
        bn = strlen(t->before);
        n = bn + strlen(t->usage) + strlen(t->after);

        in = malloc(n + 1);
        want = malloc(n + 1);
        tmp = malloc(n + 1);
        out = malloc(2 * n + 1);

        snprintf(in, n + 1, "%s%s%s", t->before, t->usage, t->after);
        snprintf(tmp, n + 1, "%s%s", t->before, t->after);
        wn = llo_t_nonull(tmp, want);

        for (k = 0; k <= n; k++) {
            for (j = k; j <= n; j += (j < k + 40 ? 1 : 7)) {
                cut[0] = k;
                cut[1] = j;

                o = llo_t_run((uint8_t *) in, n, bn, cut, 2, out);

                ck_assert_msg(o == wn && memcmp(out, want, o) == 0,
                              "%s: split at %zu and %zu gave %zu bytes, "
                              "want %zu: \"%.*s\"", t->name, k, j, o, wn,
                              (int) o, out);
            }
        }

        free(in);
        free(want);
        free(tmp);
        free(out);
    }
}
END_TEST


START_TEST(test_one_byte_at_a_time)
{
    size_t        i, o, n;
    uint8_t       out[512];
    llo_strip_t   s;
    const char   *in = "data: {\"choices\":[{}]}\n\n"
                       "data: {\"choices\":[],\"usage\":{\"x\":1}}\n\n"
                       "data: [DONE]\n\n";

    memset(&s, 0, sizeof(llo_strip_t));

    n = strlen(in);
    o = 0;

    for (i = 0; i < n; i++) {
        o += llo_strip_feed(&s, (const uint8_t *) in + i, 1, out + o);
    }

    o += llo_strip_finish(&s, out + o);

    ck_assert_uint_eq(s.dropped, 0);
    ck_assert_uint_eq(o, n);
    ck_assert(memcmp(out, in, n) == 0);

    llo_strip_free(&s);
    memset(&s, 0, sizeof(llo_strip_t));

    /* armed after the first event: the usage event goes */

    s.arm_at = 24;
    o = 0;

    for (i = 0; i < n; i++) {
        o += llo_strip_feed(&s, (const uint8_t *) in + i, 1, out + o);
    }

    o += llo_strip_finish(&s, out + o);

    ck_assert_uint_eq(s.dropped, 1);
    ck_assert_uint_eq(o, 24 + 14);
    ck_assert(memcmp(out, "data: {\"choices\":[{}]}\n\ndata: [DONE]\n\n",
                     38) == 0);

    llo_strip_free(&s);
}
END_TEST


/* an event larger than the hold limit passes unchanged, and so does all
 * that follows it */

START_TEST(test_too_big_passes)
{
    size_t        n, o, i;
    uint8_t      *in, *out;
    llo_strip_t   s;

    n = LLO_STRIP_HOLD_MAX + 100;

    in = malloc(n + 64);
    out = malloc(2 * n + 128);

    memcpy(in, "\n\ndata: ", 8);
    memset(in + 8, 'x', n - 8);
    memcpy(in + n, "\n\ndata: {\"choices\":[],\"usage\":{}}\n\n", 36);
    n += 36;

    memset(&s, 0, sizeof(llo_strip_t));
    s.arm_at = 1;

    o = 0;

    for (i = 0; i < n; i += 4096) {
        o += llo_strip_feed(&s, in + i, n - i < 4096 ? n - i : 4096,
                            out + o);
    }

    o += llo_strip_finish(&s, out + o);

    ck_assert_uint_eq(o, n);
    ck_assert(memcmp(in, out, n) == 0);
    ck_assert_uint_eq(s.dropped, 0);

    llo_strip_free(&s);
    free(in);
    free(out);
}
END_TEST


int
main(void)
{
    int       failed;
    Suite    *s;
    TCase    *tc;

    s = suite_create("strip");
    tc = tcase_create("strip");
    tcase_set_timeout(tc, 60);

    tcase_add_test(tc, test_every_split);
    tcase_add_test(tc, test_one_byte_at_a_time);
    tcase_add_test(tc, test_too_big_passes);
    suite_add_tcase(s, tc);

    failed = llo_t_run_suite(s);

    return llo_t_exit(failed);
}
