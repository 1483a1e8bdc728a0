/*
 * Unit tests for the PII detectors and the redactor (evaluator/llo_pii.c):
 * each detector's marker, several and overlapping matches, the checks
 * that keep numbers that fail Luhn or mod 97 as they are, UTF-8 in and
 * out, the modes, the output bound, and the scan's spans.
 */

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check_main.h"
#include "llo_pii.h"


#define LLO_T_CANARY  "\xa5\x5a\xa5\x5a"


/*
 * Redact in with mode into a buffer of exactly llo_redact_bound() bytes
 * and a canary after it; the output, NUL-terminated, malloc'ed.
 */

static char *
llo_t_redact(int mode, const char *in, size_t len, llo_redact_count_t *c)
{
    char    *out, *s;
    size_t   bound, n;

    bound = llo_redact_bound(len);
    out = malloc(bound + 4);
    ck_assert_ptr_nonnull(out);
    memcpy(out + bound, LLO_T_CANARY, 4);

    n = (size_t) -1;
    ck_assert_int_eq(llo_redact(mode, in, len, out, &n, c), 0);
    ck_assert_uint_le(n, bound);
    ck_assert_msg(memcmp(out + bound, LLO_T_CANARY, 4) == 0,
                  "wrote past the bound of %zu bytes", bound);

    s = malloc(n + 1);
    ck_assert_ptr_nonnull(s);
    memcpy(s, out, n);
    s[n] = '\0';
    free(out);

    return s;
}


/* in (a C string) redacted with mode is want */

static void
llo_t_is(int mode, const char *in, const char *want)
{
    char                *got;
    llo_redact_count_t   c;

    got = llo_t_redact(mode, in, strlen(in), &c);
    ck_assert_msg(strcmp(got, want) == 0, "\"%s\"\n got: \"%s\"\nwant: "
                  "\"%s\"", in, got, want);
    free(got);
}


/* s[0..len) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF) */

static int
llo_t_utf8_valid(const unsigned char *s, size_t len)
{
    size_t    i, n, k;
    uint32_t  cp, min;

    for (i = 0; i < len; i += n) {
        if (s[i] < 0x80) {
            n = 1;
            continue;
        }

        if ((s[i] & 0xe0) == 0xc0) {
            n = 2;
            cp = s[i] & 0x1f;
            min = 0x80;

        } else if ((s[i] & 0xf0) == 0xe0) {
            n = 3;
            cp = s[i] & 0x0f;
            min = 0x800;

        } else if ((s[i] & 0xf8) == 0xf0) {
            n = 4;
            cp = s[i] & 0x07;
            min = 0x10000;

        } else {
            return 0;
        }

        if (i + n > len) {
            return 0;
        }

        for (k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return 0;
            }

            cp = (cp << 6) | (s[i + k] & 0x3f);
        }

        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return 0;
        }
    }

    return 1;
}


START_TEST(test_markers)
{
    int                  k;
    char                *got;
    llo_redact_count_t   c;

    static const struct {
        const char  *in;
        const char  *want;
        int          kind;
    } cases[] = {
        { "write to jane.doe@example.co.uk today", "write to [EMAIL] today",
          LLO_PII_EMAIL },
        { "call +1 (415) 555-0132 now", "call [PHONE] now", LLO_PII_PHONE },
        { "call 030 1234 5678", "call [PHONE]", LLO_PII_PHONE },
        { "card 4111 1111 1111 1111 expires", "card [CARD] expires",
          LLO_PII_CARD },
        { "IBAN DE89 3704 0044 0532 0130 00.", "IBAN [IBAN].",
          LLO_PII_IBAN },
        { "key sk-proj-abcdefghijklmnopqrstuvwxyz0123 here",
          "key [SECRET] here", LLO_PII_SECRET },
        { "AKIAIOSFODNN7EXAMPLE", "[SECRET]", LLO_PII_SECRET },
        { "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl"
          "0w5N_XgL0n3I9PlFUP0THsR8U.", "token [JWT].", LLO_PII_JWT },
        /* the whole block, not the header alone */
        { "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA+x/9==\n"
          "-----END RSA PRIVATE KEY-----\nthat was it",
          "key:\n[PRIVATE_KEY]\nthat was it", LLO_PII_PRIVATE_KEY },
        /* cut short, without its END: up to where base64 stops */
        { "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkq+/0=\nAbc9",
          "[PRIVATE_KEY]", LLO_PII_PRIVATE_KEY },
        { NULL, NULL, 0 }
    };

    for (k = 0; cases[k].in; k++) {
        got = llo_t_redact(LLO_REDACT_ALL, cases[k].in, strlen(cases[k].in),
                           &c);
        ck_assert_msg(strcmp(got, cases[k].want) == 0, "\"%s\"\n got: "
                      "\"%s\"\nwant: \"%s\"", cases[k].in, got,
                      cases[k].want);
        ck_assert_uint_eq(c.total, 1);
        ck_assert_msg(c.n[cases[k].kind] == 1, "\"%s\": not counted as %s",
                      cases[k].in, llo_pii_name(cases[k].kind));
        free(got);
    }
}
END_TEST


START_TEST(test_several)
{
    char                *got;
    const char          *in;
    llo_redact_count_t   c;

    in = "Mail ann@example.com or bob@example.org, call +44 20 7946 0958, "
         "pay 5555 5555 5555 4444 or 4111-1111-1111-1111; ann@example.com "
         "again.";
    got = llo_t_redact(LLO_REDACT_ALL, in, strlen(in), &c);
    ck_assert_str_eq(got, "Mail [EMAIL] or [EMAIL], call [PHONE], pay [CARD] "
                     "or [CARD]; [EMAIL] again.");
    ck_assert_uint_eq(c.n[LLO_PII_EMAIL], 3);
    ck_assert_uint_eq(c.n[LLO_PII_PHONE], 1);
    ck_assert_uint_eq(c.n[LLO_PII_CARD], 2);
    ck_assert_uint_eq(c.n[LLO_PII_IBAN], 0);
    ck_assert_uint_eq(c.total, 6);
    free(got);
}
END_TEST


START_TEST(test_adjacent_overlapping)
{
    char                *got;
    const char          *in;
    llo_redact_count_t   c;

    /* touching, not overlapping: two markers */
    llo_t_is(LLO_REDACT_ALL, "x@example.com-----BEGIN PRIVATE KEY-----",
             "[EMAIL][PRIVATE_KEY]");
    llo_t_is(LLO_REDACT_ALL, "4111111111111111,DE89370400440532013000",
             "[CARD],[IBAN]");

    /* a phone number inside an IBAN: the IBAN starts first and wins */
    in = "to GB82 WEST 1234 5698 7654 32 please";
    got = llo_t_redact(LLO_REDACT_PII, in, strlen(in), &c);
    ck_assert_str_eq(got, "to [IBAN] please");
    ck_assert_uint_eq(c.n[LLO_PII_IBAN], 1);
    ck_assert_uint_eq(c.n[LLO_PII_PHONE], 0);
    ck_assert_uint_eq(c.total, 1);
    free(got);

    /* ... and one running past its end: one marker over both */
    in = "to GB82 WEST 1234 5698 7654 32-5 ok";
    got = llo_t_redact(LLO_REDACT_PII, in, strlen(in), &c);
    ck_assert_str_eq(got, "to [IBAN] ok");
    ck_assert_uint_eq(c.total, 1);
    free(got);

    /* the same start: the longest wins (an email that begins as a key) */
    llo_t_is(LLO_REDACT_ALL, "sk-proj-abcdefghijklmnopqrstuvwxyz0123@ex.com",
             "[EMAIL]");
    llo_t_is(LLO_REDACT_SECRETS,
             "sk-proj-abcdefghijklmnopqrstuvwxyz0123@ex.com",
             "[SECRET]@ex.com");
}
END_TEST


/* what the checks refuse stays as it is */

START_TEST(test_no_false_positive)
{
    static const char  *same[] = {
        "card 4111 1111 1111 1112 expires",                 /* not Luhn */
        "IBAN DE89 3704 0044 0532 0130 01",                 /* mod 97 */
        "released on 2024-01-15, version 1.2.3",
        "the server is at 192.168.100.200",
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkq",
        "the address is user at example dot com",
        "A plain answer with no personal data in it at all.",
        NULL
    };

    int  k;

    for (k = 0; same[k]; k++) {
        llo_t_is(LLO_REDACT_ALL, same[k], same[k]);
    }
}
END_TEST


START_TEST(test_utf8)
{
    char                *got;
    const char          *in;
    llo_redact_count_t   c;

    /* valid in, valid out: matches are ASCII, their bounds characters' */
    in = "Grüße an jürgen@example.de 😀, Карта 4111 1111 1111 1111 — 日本";
    got = llo_t_redact(LLO_REDACT_ALL, in, strlen(in), &c);
    ck_assert_str_eq(got, "Grüße an jü[EMAIL] 😀, Карта [CARD] — 日本");
    ck_assert(llo_t_utf8_valid((unsigned char *) got, strlen(got)));
    ck_assert_uint_eq(c.total, 2);
    free(got);

    /* invalid in: no error, the bad bytes kept, matches still found */
    llo_t_is(LLO_REDACT_ALL, "\xff\xfe bad a@example.com \xc3 and \xe2\x82",
             "\xff\xfe bad [EMAIL] \xc3 and \xe2\x82");
    llo_t_is(LLO_REDACT_ALL, "\xc3\x28\xa0\xa1", "\xc3\x28\xa0\xa1");
}
END_TEST


START_TEST(test_empty_and_modes)
{
    char                 out[8];
    size_t               n;
    const char          *in;
    llo_redact_count_t   c;

    n = 99;
    ck_assert_int_eq(llo_redact(LLO_REDACT_ALL, "", 0, out, &n, &c), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(c.total, 0);
    ck_assert_int_eq(llo_redact(LLO_REDACT_ALL, NULL, 0, out, &n, NULL), 0);
    ck_assert_uint_eq(n, 0);

    in = "ann@example.com sk-ant-abcdefghijklmnopqrstuvwxyz 4111111111111111";

    llo_t_is(LLO_REDACT_OFF, in, in);
    llo_t_is(LLO_REDACT_SECRETS, in, "ann@example.com [SECRET] "
             "4111111111111111");
    llo_t_is(LLO_REDACT_PII, in, "[EMAIL] sk-ant-abcdefghijklmnopqrstuvwxyz "
             "[CARD]");
    llo_t_is(LLO_REDACT_ALL, in, "[EMAIL] [SECRET] [CARD]");

    ck_assert_int_eq(llo_redact(7, in, strlen(in), out, &n, &c), -1);

    ck_assert_int_eq(llo_redact_mode("off"), LLO_REDACT_OFF);
    ck_assert_int_eq(llo_redact_mode("pii"), LLO_REDACT_PII);
    ck_assert_int_eq(llo_redact_mode("secrets"), LLO_REDACT_SECRETS);
    ck_assert_int_eq(llo_redact_mode("all"), LLO_REDACT_ALL);
    ck_assert_int_eq(llo_redact_mode("PII"), -1);
    ck_assert_int_eq(llo_redact_mode(""), -1);
    ck_assert_int_eq(llo_redact_mode("none"), -1);
    ck_assert_str_eq(llo_redact_mode_name(LLO_REDACT_SECRETS), "secrets");
    ck_assert_ptr_null(llo_redact_mode_name(4));
}
END_TEST


/* the shortest emails grow the text most: the bound still holds */

START_TEST(test_bound)
{
    char                *in, *got;
    size_t               i, n;
    llo_redact_count_t   c;

    n = 7 * 300;
    in = malloc(n + 1);
    ck_assert_ptr_nonnull(in);

    for (i = 0; i < n; i += 7) {
        memcpy(in + i, "a@b.cd,", 7);
    }
    in[n] = '\0';

    got = llo_t_redact(LLO_REDACT_ALL, in, n, &c);
    ck_assert_uint_eq(c.n[LLO_PII_EMAIL], 300);
    ck_assert_uint_eq(strlen(got), 8 * 300);
    ck_assert_int_eq(strncmp(got, "[EMAIL],[EMAIL],", 16), 0);
    free(got);
    free(in);
}
END_TEST


/* the scan: each match's detector and span, and stopping early */

typedef struct {
    int                 kind[8];
    size_t              start[8];
    size_t              end[8];
    int                 n;
    int                 stop_at;
} llo_t_seen_t;


static int
llo_t_seen(void *data, int kind, size_t start, size_t end)
{
    llo_t_seen_t  *s;

    s = data;
    ck_assert_int_lt(s->n, 8);
    s->kind[s->n] = kind;
    s->start[s->n] = start;
    s->end[s->n] = end;
    s->n++;

    return s->n == s->stop_at;
}


START_TEST(test_scan)
{
    const char    *in;
    llo_t_seen_t   s;

    /* detector by detector: the card before the emails' second */
    in = "a@ex.com 4111 1111 1111 1111 b@ex.org";

    memset(&s, 0, sizeof(s));
    ck_assert_int_eq(llo_pii_scan(in, strlen(in), LLO_PII_ALL, llo_t_seen,
                                  &s), 0);
    ck_assert_int_eq(s.n, 3);
    ck_assert_int_eq(s.kind[0], LLO_PII_EMAIL);
    ck_assert_uint_eq(s.start[0], 0);
    ck_assert_uint_eq(s.end[0], 8);
    ck_assert_int_eq(s.kind[1], LLO_PII_EMAIL);
    ck_assert_uint_eq(s.start[1], 29);
    ck_assert_uint_eq(s.end[1], 37);
    ck_assert_int_eq(s.kind[2], LLO_PII_CARD);
    ck_assert_uint_eq(s.start[2], 9);
    ck_assert_uint_eq(s.end[2], 28);

    /* the mask chooses; nonzero from the callback stops */
    memset(&s, 0, sizeof(s));
    ck_assert_int_eq(llo_pii_scan(in, strlen(in), 1u << LLO_PII_CARD,
                                  llo_t_seen, &s), 0);
    ck_assert_int_eq(s.n, 1);
    ck_assert_int_eq(s.kind[0], LLO_PII_CARD);

    memset(&s, 0, sizeof(s));
    s.stop_at = 1;
    ck_assert_int_eq(llo_pii_scan(in, strlen(in), LLO_PII_ALL, llo_t_seen,
                                  &s), 1);
    ck_assert_int_eq(s.n, 1);

    ck_assert_int_eq(llo_pii_kind("private_key"), LLO_PII_PRIVATE_KEY);
    ck_assert_int_eq(llo_pii_kind("dna"), -1);
    ck_assert_str_eq(llo_pii_name(LLO_PII_IBAN), "iban");
    ck_assert_ptr_null(llo_pii_name(LLO_PII_N));
}
END_TEST


/*
 * LLO_BENCH=1: mode all over ~1 KB answers, one core, with and without
 * something to replace; MB/s (not a test: the figures go to
 * docs/BENCHMARKS.md).
 */

static void
llo_b_redact(const char *what, const char *text)
{
    char                *out;
    size_t               i, n, len, olen, sum;
    double               s;
    struct timespec      t0, t1;
    llo_redact_count_t   c;

    len = strlen(text);
    out = malloc(llo_redact_bound(len));
    if (out == NULL) {
        return;
    }

    n = 100000;
    sum = 0;

    clock_gettime(CLOCK_MONOTONIC, &t0);

    for (i = 0; i < n; i++) {
        if (llo_redact(LLO_REDACT_ALL, text, len, out, &olen, &c) != 0) {
            fprintf(stderr, "bench: llo_redact failed\n");
            break;
        }

        sum += c.total;
    }

    clock_gettime(CLOCK_MONOTONIC, &t1);

    s = (double) (t1.tv_sec - t0.tv_sec)
        + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;

    printf("bench: redact all, %zu-byte answers %s: %.1f MB/s (%.2f us "
           "each; %zu markers)\n", len, what, (double) len * n / s / 1e6,
           s * 1e6 / n, sum / n);

    free(out);
}


static void
llo_b_texts(void)
{
    char    clean[1100], dirty[1400];
    size_t  i, n;

    static const char  *words[] = { "the", "model", "answers", "with",
        "a", "clear", "and", "useful", "explanation", "of", "how",
        "nginx", "proxies", "streams", "to", "clients", "quickly" };

    for (i = 0, n = 0; n + 16 < 1024; i++) {
        n += (size_t) snprintf(clean + n, sizeof(clean) - n, "%s ",
                               words[(i * 7 + i / 17) % 17]);
    }

    /* the same length, with an email, a phone number, a card and a key */
    (void) snprintf(dirty, sizeof(dirty), "Write to ann@example.com "
                          "or call +1 (415) 555-0132; card 4111 1111 1111 "
                          "1111, key sk-proj-abcdefghijklmnopqrstuvwxyz0123. "
                          "%s", clean);
    dirty[strlen(clean)] = '\0';

    llo_b_redact("with nothing to replace", clean);
    llo_b_redact("with 4 markers", dirty);
}


int
main(void)
{
    int     failed;
    Suite  *s;
    TCase  *tc;

    s = suite_create("redact");

    tc = tcase_create("redact");
    tcase_add_test(tc, test_markers);
    tcase_add_test(tc, test_several);
    tcase_add_test(tc, test_adjacent_overlapping);
    tcase_add_test(tc, test_no_false_positive);
    tcase_add_test(tc, test_utf8);
    tcase_add_test(tc, test_empty_and_modes);
    tcase_add_test(tc, test_bound);
    tcase_add_test(tc, test_scan);
    suite_add_tcase(s, tc);

    failed = llo_t_run_suite(s);

    if (getenv("LLO_BENCH") != NULL && strcmp(getenv("LLO_BENCH"), "1") == 0)
    {
        llo_b_texts();
    }

    return llo_t_exit(failed);
}
