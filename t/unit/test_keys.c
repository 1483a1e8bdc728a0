/*
 * Unit tests for the API keys (llo_keys.c): llm_observer_key lines, the
 * lookup of a presented key by its SHA-256, and the per-key limits kept
 * in a shared block (GCRA for rpm and tpm, UTC days and months for tpd
 * and budget).
 */

#define _GNU_SOURCE                 /* timegm(), memmem() */

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check_main.h"
#include "llo_keys.h"


#define LLO_T_MIN       60000000LL
#define LLO_T_SEC       1000000LL

#define LLO_T_ABC       "ba7816bf8f01cfea414140de5dae2223" \
                        "b00361a396177a9cb410ff61f20015ad"

#define LLO_T_MAXARGS   16


typedef struct {
    char               *args[LLO_T_MAXARGS];
    size_t              lens[LLO_T_MAXARGS];
    size_t              n;
} llo_t_line_t;


static llo_t_line_t  llo_t_line;
static char          llo_t_err[512];


/* split a line on blanks into llo_t_line (the strings stay in line) */

static llo_t_line_t *
llo_t_split(char *line)
{
    char  *p;

    llo_t_line.n = 0;

    for (p = strtok(line, " "); p; p = strtok(NULL, " ")) {
        llo_t_line.args[llo_t_line.n] = p;
        llo_t_line.lens[llo_t_line.n] = strlen(p);
        llo_t_line.n++;
    }

    return &llo_t_line;
}


static int
llo_t_parse(llo_key_t *k, const char *text, int *plain)
{
    int            p;
    char           buf[8192];
    llo_t_line_t  *l;

    snprintf(buf, sizeof(buf), "%s", text);
    l = llo_t_split(buf);
    llo_t_err[0] = '\0';

    return llo_key_parse(k, l->args, l->lens, l->n, plain ? plain : &p,
                         llo_t_err, sizeof(llo_t_err));
}


/* unix microseconds of a UTC time */

static int64_t
llo_t_time(int y, int mo, int d, int h, int mi, int s)
{
    struct tm  tm;

    memset(&tm, 0, sizeof(struct tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;

    return (int64_t) timegm(&tm) * LLO_T_SEC;
}


static void
llo_t_hex(const uint8_t *d, char *out)
{
    int  i;

    for (i = 0; i < 32; i++) {
        sprintf(out + 2 * i, "%02x", d[i]);
    }
}


/* a key line for the digest of a presented key */

static void
llo_t_key(llo_key_t *k, const char *presented, const char *params)
{
    char     line[1024], hex[65];
    uint8_t  d[32];

    ck_assert_int_eq(llo_key_digest((const uint8_t *) presented,
                                    strlen(presented), d), 0);
    llo_t_hex(d, hex);
    snprintf(line, sizeof(line), "sha256:%s %s", hex, params);

    ck_assert_msg(llo_t_parse(k, line, NULL) == 0, "%s: %s", line,
                  llo_t_err);
}


static void *
llo_t_limits(uint32_t slots)
{
    void  *mem;

    mem = malloc(llo_limits_size(slots));
    ck_assert_ptr_nonnull(mem);
    llo_limits_init(mem, slots);

    return mem;
}


START_TEST(test_digest_vector)
{
    char     hex[65];
    uint8_t  d[32];

    ck_assert_int_eq(llo_key_digest((const uint8_t *) "abc", 3, d), 0);
    llo_t_hex(d, hex);
    ck_assert_str_eq(hex, LLO_T_ABC);
}
END_TEST


START_TEST(test_parse_all)
{
    int        plain;
    llo_key_t  k;

    ck_assert_msg(llo_t_parse(&k, "sha256:" LLO_T_ABC " name=svc-a.prod_1"
                              " team=search models=gpt-4o,o3*,* rpm=60"
                              " tpm=90000 tpd=2000000 budget=12.5/month"
                              " expires=2026-06-30", &plain) == 0,
                  "%s", llo_t_err);

    ck_assert_int_eq(plain, 0);
    ck_assert_uint_eq(k.digest[0], 0xba);
    ck_assert_uint_eq(k.digest[31], 0xad);
    ck_assert_str_eq(k.name, "svc-a.prod_1");
    ck_assert_str_eq(k.team, "search");
    ck_assert_uint_eq(k.nmodels, 3);
    ck_assert_str_eq(k.models[0].name, "gpt-4o");
    ck_assert_uint_eq(k.models[0].len, 6);
    ck_assert_uint_eq(k.models[0].prefix, 0);
    ck_assert_str_eq(k.models[1].name, "o3");
    ck_assert_uint_eq(k.models[1].prefix, 1);
    ck_assert_uint_eq(k.models[2].len, 0);
    ck_assert_uint_eq(k.models[2].prefix, 1);
    ck_assert_int_eq(k.rpm, 60);
    ck_assert_int_eq(k.tpm, 90000);
    ck_assert_int_eq(k.tpd, 2000000);
    ck_assert_int_eq(k.budget, 12500000);
    ck_assert_int_eq(k.budget_period, LLO_BUDGET_MONTH);
    ck_assert_int_eq(k.expires, llo_t_time(2026, 7, 1, 0, 0, 0) / LLO_T_SEC);

    /* only a name: nothing else limited */

    ck_assert(llo_t_parse(&k, "sha256:" LLO_T_ABC " name=x", &plain) == 0);
    ck_assert_str_eq(k.team, "");
    ck_assert_uint_eq(k.nmodels, 0);
    ck_assert_int_eq(k.rpm, 0);
    ck_assert_int_eq(k.tpm, 0);
    ck_assert_int_eq(k.tpd, 0);
    ck_assert_int_eq(k.budget, 0);
    ck_assert_int_eq(k.expires, 0);

    ck_assert(llo_t_parse(&k, "sha256:" LLO_T_ABC " name=x budget=5/day",
                          NULL) == 0);
    ck_assert_int_eq(k.budget, 5000000);
    ck_assert_int_eq(k.budget_period, LLO_BUDGET_DAY);

    ck_assert(llo_t_parse(&k, "sha256:" LLO_T_ABC " name=x"
                          " budget=0.000001/day", NULL) == 0);
    ck_assert_int_eq(k.budget, 1);

    ck_assert(llo_t_parse(&k, "sha256:" LLO_T_ABC " name=x"
                          " budget=1000000000/month", NULL) == 0);
    ck_assert_int_eq(k.budget, 1000000000000000LL);

    ck_assert(llo_t_parse(&k, "sha256:" LLO_T_ABC " name=x rpm=1000000000"
                          " tpd=1000000000000000", NULL) == 0);
    ck_assert_int_eq(k.rpm, 1000000000);
    ck_assert_int_eq(k.tpd, 1000000000000000LL);

    /* a leap day */
    ck_assert(llo_t_parse(&k, "sha256:" LLO_T_ABC " name=x"
                          " expires=2028-02-29", NULL) == 0);
    ck_assert_int_eq(k.expires, llo_t_time(2028, 3, 1, 0, 0, 0) / LLO_T_SEC);

    /* 64 characters is the longest name */
    ck_assert(llo_t_parse(&k, "sha256:" LLO_T_ABC " name="
                          "abcdefghijklmnopqrstuvwxyz"
                          "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                          "0123456789.-", NULL) == 0);
    ck_assert_uint_eq(strlen(k.name), 64);
}
END_TEST


START_TEST(test_parse_hex_case)
{
    llo_key_t  a, b;

    ck_assert(llo_t_parse(&a, "sha256:" LLO_T_ABC " name=a", NULL) == 0);
    ck_assert(llo_t_parse(&b, "sha256:BA7816BF8F01CFEA414140DE5DAE2223"
                          "B00361A396177A9CB410FF61F20015AD name=b", NULL)
              == 0);
    ck_assert(memcmp(a.digest, b.digest, 32) == 0);

    ck_assert(llo_t_parse(&b, "sha256:Ba7816bF8f01cfea414140de5dae2223"
                          "b00361a396177a9cb410ff61f20015aD name=b", NULL)
              == 0);
    ck_assert(memcmp(a.digest, b.digest, 32) == 0);
}
END_TEST


START_TEST(test_parse_plain)
{
    int        plain;
    uint8_t    d[32];
    llo_key_t  k;

    ck_assert(llo_t_parse(&k, "plain:abc name=legacy", &plain) == 0);
    ck_assert_int_eq(plain, 1);

    ck_assert_int_eq(llo_key_digest((const uint8_t *) "abc", 3, d), 0);
    ck_assert(memcmp(k.digest, d, 32) == 0);

    ck_assert(llo_t_parse(&k, "plain:sk-test-1 name=legacy", &plain) == 0);
    ck_assert_int_eq(plain, 1);
    ck_assert_int_eq(llo_key_digest((const uint8_t *) "sk-test-1", 9, d), 0);
    ck_assert(memcmp(k.digest, d, 32) == 0);

    /* a sha256: line resets the flag */
    plain = 7;
    ck_assert(llo_t_parse(&k, "sha256:" LLO_T_ABC " name=a", &plain) == 0);
    ck_assert_int_eq(plain, 0);
}
END_TEST


typedef struct {
    const char         *line;
    const char         *err;
} llo_t_bad_t;


static const llo_t_bad_t  llo_t_bad[] = {

    { "sha256:xyz name=a",
      "invalid digest \"sha256:xyz\": expected sha256: and 64 hex digits" },
    { "sha256:" LLO_T_ABC "0 name=a",
      "invalid digest \"sha256:" LLO_T_ABC "0\": expected sha256: and 64 hex"
      " digits" },
    { "sha256:ga7816bf8f01cfea414140de5dae2223"
      "b00361a396177a9cb410ff61f20015ad name=a",
      "invalid digest \"sha256:ga7816bf8f01cfea414140de5dae2223"
      "b00361a396177a9cb410ff61f20015ad\": expected sha256: and 64 hex"
      " digits" },
    { "sha256: name=a",
      "invalid digest \"sha256:\": expected sha256: and 64 hex digits" },

    /* the key itself is never repeated */
    { "sk-proj-secret name=a",
      "a key must be given as sha256:<hex>, or plain:<key> to accept a"
      " plaintext key" },
    { "SHA256:" LLO_T_ABC " name=a",
      "a key must be given as sha256:<hex>, or plain:<key> to accept a"
      " plaintext key" },
    { "name=a",
      "a key must be given as sha256:<hex>, or plain:<key> to accept a"
      " plaintext key" },
    { "plain: name=a",
      "empty key in \"plain:\"" },
    { "",
      "missing key" },

    { "sha256:" LLO_T_ABC,
      "missing name=" },
    { "sha256:" LLO_T_ABC " team=t rpm=5",
      "missing name=" },
    { "sha256:" LLO_T_ABC " name=a foo=1",
      "unknown parameter \"foo=1\"" },
    { "sha256:" LLO_T_ABC " name=a rpm",
      "unknown parameter \"rpm\"" },
    { "sha256:" LLO_T_ABC " name=a RPM=5",
      "unknown parameter \"RPM=5\"" },

    { "sha256:" LLO_T_ABC " name=a rpm=5 rpm=7",
      "duplicate parameter \"rpm=7\"" },
    { "sha256:" LLO_T_ABC " name=a name=b",
      "duplicate parameter \"name=b\"" },
    { "sha256:" LLO_T_ABC " name=a team=x team=x",
      "duplicate parameter \"team=x\"" },
    { "sha256:" LLO_T_ABC " name=a models=a models=b",
      "duplicate parameter \"models=b\"" },
    { "sha256:" LLO_T_ABC " name=a tpm=1 tpm=1",
      "duplicate parameter \"tpm=1\"" },
    { "sha256:" LLO_T_ABC " name=a tpd=1 tpd=1",
      "duplicate parameter \"tpd=1\"" },
    { "sha256:" LLO_T_ABC " name=a budget=1/day budget=1/day",
      "duplicate parameter \"budget=1/day\"" },
    { "sha256:" LLO_T_ABC " name=a expires=2026-01-01 expires=2026-01-02",
      "duplicate parameter \"expires=2026-01-02\"" },

    { "sha256:" LLO_T_ABC " name=a rpm=-3",
      "invalid value \"rpm=-3\"" },
    { "sha256:" LLO_T_ABC " name=a rpm=",
      "invalid value \"rpm=\"" },
    { "sha256:" LLO_T_ABC " name=a tpm=1k",
      "invalid value \"tpm=1k\"" },
    { "sha256:" LLO_T_ABC " name=a tpd=+5",
      "invalid value \"tpd=+5\"" },
    { "sha256:" LLO_T_ABC " name=a rpm=0",
      "invalid value \"rpm=0\": leave rpm out for no limit" },
    { "sha256:" LLO_T_ABC " name=a tpd=0",
      "invalid value \"tpd=0\": leave tpd out for no limit" },
    { "sha256:" LLO_T_ABC " name=a rpm=1000000001",
      "invalid value \"rpm=1000000001\": at most 1000000000" },
    { "sha256:" LLO_T_ABC " name=a tpm=99999999999999999999999",
      "invalid value \"tpm=99999999999999999999999\": at most 1000000000" },
    { "sha256:" LLO_T_ABC " name=a tpd=1000000000000001",
      "invalid value \"tpd=1000000000000001\": at most 1000000000000000" },

    { "sha256:" LLO_T_ABC " name=a budget=5",
      "invalid value \"budget=5\": expected <usd>/day or <usd>/month" },
    { "sha256:" LLO_T_ABC " name=a budget=5/week",
      "invalid value \"budget=5/week\": expected <usd>/day or <usd>/month" },
    { "sha256:" LLO_T_ABC " name=a budget=$5/day",
      "invalid value \"budget=$5/day\": expected <usd>/day or <usd>/month" },
    { "sha256:" LLO_T_ABC " name=a budget=.5/day",
      "invalid value \"budget=.5/day\": expected <usd>/day or <usd>/month" },
    { "sha256:" LLO_T_ABC " name=a budget=5./day",
      "invalid value \"budget=5./day\": expected <usd>/day or <usd>/month" },
    { "sha256:" LLO_T_ABC " name=a budget=0.0000001/day",
      "invalid value \"budget=0.0000001/day\": expected <usd>/day or"
      " <usd>/month" },
    { "sha256:" LLO_T_ABC " name=a budget=-1/day",
      "invalid value \"budget=-1/day\": expected <usd>/day or <usd>/month" },
    { "sha256:" LLO_T_ABC " name=a budget=1000000001/day",
      "invalid value \"budget=1000000001/day\": expected <usd>/day or"
      " <usd>/month" },
    { "sha256:" LLO_T_ABC " name=a budget=0.00/day",
      "invalid value \"budget=0.00/day\": leave budget out for no limit" },

    { "sha256:" LLO_T_ABC " name=a expires=2026-13-01",
      "invalid value \"expires=2026-13-01\": expected YYYY-MM-DD" },
    { "sha256:" LLO_T_ABC " name=a expires=2026-02-29",
      "invalid value \"expires=2026-02-29\": expected YYYY-MM-DD" },
    { "sha256:" LLO_T_ABC " name=a expires=2026-04-31",
      "invalid value \"expires=2026-04-31\": expected YYYY-MM-DD" },
    { "sha256:" LLO_T_ABC " name=a expires=2026-00-10",
      "invalid value \"expires=2026-00-10\": expected YYYY-MM-DD" },
    { "sha256:" LLO_T_ABC " name=a expires=2026-1-1",
      "invalid value \"expires=2026-1-1\": expected YYYY-MM-DD" },
    { "sha256:" LLO_T_ABC " name=a expires=1969-12-31",
      "invalid value \"expires=1969-12-31\": expected YYYY-MM-DD" },
    { "sha256:" LLO_T_ABC " name=a expires=2026/01/01",
      "invalid value \"expires=2026/01/01\": expected YYYY-MM-DD" },

    { "sha256:" LLO_T_ABC " name=",
      "invalid value \"name=\": expected 1 to 64 of A-Z a-z 0-9 . _ -" },
    { "sha256:" LLO_T_ABC " name=a/b",
      "invalid value \"name=a/b\": expected 1 to 64 of A-Z a-z 0-9 . _ -" },
    { "sha256:" LLO_T_ABC " name=a team=é",
      "invalid value \"team=é\": expected 1 to 64 of A-Z a-z 0-9 . _ -" },
    { "sha256:" LLO_T_ABC " name="
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_",
      "invalid value \"name="
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_\":"
      " expected 1 to 64 of A-Z a-z 0-9 . _ -" },

    { "sha256:" LLO_T_ABC " name=a models=",
      "invalid value \"models=\": expected model names or prefixes ending in"
      " '*', separated by ','" },
    { "sha256:" LLO_T_ABC " name=a models=a,,b",
      "invalid value \"models=a,,b\": expected model names or prefixes"
      " ending in '*', separated by ','" },
    { "sha256:" LLO_T_ABC " name=a models=a,",
      "invalid value \"models=a,\": expected model names or prefixes"
      " ending in '*', separated by ','" },
    { "sha256:" LLO_T_ABC " name=a models=gpt*4",
      "invalid value \"models=gpt*4\": expected model names or prefixes"
      " ending in '*', separated by ','" },
    { "sha256:" LLO_T_ABC " name=a models=gpt**",
      "invalid value \"models=gpt**\": expected model names or prefixes"
      " ending in '*', separated by ','" },

    { NULL, NULL }
};


START_TEST(test_parse_errors)
{
    int                 plain, rc;
    llo_key_t           k;
    const llo_t_bad_t  *b;

    for (b = llo_t_bad; b->line; b++) {
        plain = 0;
        rc = llo_t_parse(&k, b->line, &plain);

        ck_assert_msg(rc == -1, "accepted: %s", b->line);
        ck_assert_msg(strcmp(llo_t_err, b->err) == 0,
                      "%s:\n  got      %s\n  expected %s", b->line,
                      llo_t_err, b->err);
    }
}
END_TEST


START_TEST(test_parse_models_bounds)
{
    int        i;
    char       line[8192], *p;
    llo_key_t  k;

    /* 32 models of 128 bytes each (the '*' counts) */

    p = line + sprintf(line, "sha256:%s name=a models=", LLO_T_ABC);

    for (i = 0; i < LLO_KEY_MODELS_MAX; i++) {
        memset(p, 'a' + i % 26, 127);
        p[127] = i % 2 ? '*' : 'z';
        p[128] = ',';
        p += 129;
    }

    p[-1] = '\0';

    ck_assert_msg(llo_t_parse(&k, line, NULL) == 0, "%s", llo_t_err);
    ck_assert_uint_eq(k.nmodels, 32);
    ck_assert_uint_eq(k.models[0].len, 128);
    ck_assert_uint_eq(k.models[1].len, 127);
    ck_assert_uint_eq(k.models[1].prefix, 1);

    /* one more */

    strcpy(p - 1, ",x");
    ck_assert(llo_t_parse(&k, line, NULL) == -1);
    ck_assert_msg(strstr(llo_t_err, "\": at most 32 models") != NULL, "%s",
                  llo_t_err);

    /* only the start of a long value is quoted, so the reason shows */
    ck_assert_str_eq(llo_t_err + 15 + 100,
                     "...\": at most 32 models");
    ck_assert(strncmp(llo_t_err, "invalid value \"models=aaa", 25) == 0);

    /* one byte too long */

    p = line + sprintf(line, "sha256:%s name=a models=x,", LLO_T_ABC);
    memset(p, 'm', 129);
    p[129] = '\0';

    ck_assert(llo_t_parse(&k, line, NULL) == -1);
    ck_assert_msg(strstr(llo_t_err, "\": a model is at most 128 bytes")
                  != NULL, "%s", llo_t_err);
}
END_TEST


START_TEST(test_model_ok)
{
    llo_key_t  k;

    ck_assert(llo_t_parse(&k, "sha256:" LLO_T_ABC " name=a", NULL) == 0);
    ck_assert(llo_key_model_ok(&k, "anything", 8));
    ck_assert(llo_key_model_ok(&k, "", 0));

    ck_assert(llo_t_parse(&k, "sha256:" LLO_T_ABC " name=a"
                          " models=gpt-4o,o3*,meta-llama/Llama-3-70b,"
                          "anthropic.claude-v2:1", NULL) == 0);

    ck_assert(llo_key_model_ok(&k, "gpt-4o", 6));
    ck_assert(!llo_key_model_ok(&k, "gpt-4o-mini", 11));
    ck_assert(!llo_key_model_ok(&k, "gpt-4", 5));
    ck_assert(llo_key_model_ok(&k, "o3", 2));
    ck_assert(llo_key_model_ok(&k, "o3-mini", 7));
    ck_assert(!llo_key_model_ok(&k, "o", 1));
    ck_assert(!llo_key_model_ok(&k, "O3", 2));
    ck_assert(llo_key_model_ok(&k, "meta-llama/Llama-3-70b", 22));
    ck_assert(llo_key_model_ok(&k, "anthropic.claude-v2:1", 21));
    ck_assert(!llo_key_model_ok(&k, "", 0));

    /* the length is what counts, not a '\0' */
    ck_assert(llo_key_model_ok(&k, "gpt-4o-mini", 6));

    ck_assert(llo_t_parse(&k, "sha256:" LLO_T_ABC " name=a models=*", NULL)
              == 0);
    ck_assert(llo_key_model_ok(&k, "whatever", 8));
    ck_assert(llo_key_model_ok(&k, "", 0));
}
END_TEST


START_TEST(test_expired)
{
    int64_t    end;
    llo_key_t  k;

    ck_assert(llo_t_parse(&k, "sha256:" LLO_T_ABC " name=a", NULL) == 0);
    ck_assert(!llo_key_expired(&k, llo_t_time(2999, 1, 1, 0, 0, 0)));

    ck_assert(llo_t_parse(&k, "sha256:" LLO_T_ABC " name=a"
                          " expires=2026-12-31", NULL) == 0);

    end = llo_t_time(2027, 1, 1, 0, 0, 0);

    ck_assert(!llo_key_expired(&k, llo_t_time(2026, 12, 31, 0, 0, 0)));
    ck_assert(!llo_key_expired(&k, end - 1));
    ck_assert(llo_key_expired(&k, end));
    ck_assert(llo_key_expired(&k, end + LLO_T_MIN));
}
END_TEST


START_TEST(test_describe)
{
    int        i;
    char       buf[LLO_KEY_DESCRIBE_MAX], line[8192], *p;
    size_t     n;
    llo_key_t  k;

    ck_assert(llo_t_parse(&k, "sha256:" LLO_T_ABC " name=svc team=search"
                          " models=gpt-4o,o3* rpm=60 tpm=90000 tpd=2000000"
                          " budget=5/day expires=2026-06-30", NULL) == 0);

    n = llo_key_describe(&k, buf, sizeof(buf));
    ck_assert_str_eq(buf, "svc\tba7816bf\tsearch\tgpt-4o,o3*\t60\t90000"
                     "\t2000000\t5.00/day\t2026-06-30");
    ck_assert_uint_eq(n, strlen(buf));
    ck_assert(strstr(buf, "ba7816bf8") == NULL);

    ck_assert(llo_t_parse(&k, "sha256:" LLO_T_ABC " name=bare", NULL) == 0);
    llo_key_describe(&k, buf, sizeof(buf));
    ck_assert_str_eq(buf, "bare\tba7816bf\t\t\t\t\t\t\t");

    ck_assert(llo_t_parse(&k, "sha256:" LLO_T_ABC " name=b"
                          " budget=0.125/month", NULL) == 0);
    llo_key_describe(&k, buf, sizeof(buf));
    ck_assert_str_eq(buf, "b\tba7816bf\t\t\t\t\t\t0.125/month\t");

    ck_assert(llo_t_parse(&k, "sha256:" LLO_T_ABC " name=b"
                          " budget=12.345678/day", NULL) == 0);
    llo_key_describe(&k, buf, sizeof(buf));
    ck_assert_str_eq(buf, "b\tba7816bf\t\t\t\t\t\t12.345678/day\t");

    ck_assert(llo_t_parse(&k, "sha256:" LLO_T_ABC " name=b"
                          " budget=0.1/day", NULL) == 0);
    llo_key_describe(&k, buf, sizeof(buf));
    ck_assert_str_eq(buf, "b\tba7816bf\t\t\t\t\t\t0.10/day\t");

    /* cut short: the length of the whole line, a '\0' within len */

    ck_assert(llo_t_parse(&k, "sha256:" LLO_T_ABC " name=svc team=search"
                          " rpm=60", NULL) == 0);
    n = llo_key_describe(&k, buf, 8);
    ck_assert_str_eq(buf, "svc\tba7");
    ck_assert_uint_eq(n, strlen("svc\tba7816bf\tsearch\t\t60\t\t\t\t"));
    ck_assert_uint_eq(llo_key_describe(&k, NULL, 0), n);

    /* the biggest key fits LLO_KEY_DESCRIBE_MAX */

    p = line + sprintf(line, "sha256:%s name=", LLO_T_ABC);
    memset(p, 'n', 64);
    p += 64;
    p += sprintf(p, " team=");
    memset(p, 't', 64);
    p += 64;
    p += sprintf(p, " models=");

    for (i = 0; i < LLO_KEY_MODELS_MAX; i++) {
        memset(p, 'm', 127);
        p[127] = '*';
        p[128] = ',';
        p += 129;
    }

    sprintf(p - 1, " rpm=1000000000 tpm=1000000000 tpd=1000000000000000"
            " budget=999999999.999999/month expires=9999-12-31");

    ck_assert_msg(llo_t_parse(&k, line, NULL) == 0, "%s", llo_t_err);

    n = llo_key_describe(&k, buf, sizeof(buf));
    ck_assert_uint_lt(n, sizeof(buf));
    ck_assert_uint_eq(n, strlen(buf));
    ck_assert(strstr(buf, "\t999999999.999999/month\t9999-12-31") != NULL);
}
END_TEST


START_TEST(test_lookup)
{
    int          i;
    char         presented[32];
    uint8_t      d[32];
    uint32_t     first, dup, nslots, *slots;
    llo_key_t   *keys;
    llo_keys_t   t;

    const llo_key_t  *f;

    keys = calloc(1000, sizeof(llo_key_t));
    ck_assert_ptr_nonnull(keys);

    llo_t_key(&keys[0], "sk-test-1", "name=one");
    llo_t_key(&keys[1], "sk-test-2", "name=two");
    ck_assert(llo_t_parse(&keys[2], "sha256:" LLO_T_ABC " name=abc", NULL)
              == 0);

    for (i = 3; i < 1000; i++) {
        snprintf(presented, sizeof(presented), "sk-many-%d", i);
        llo_t_key(&keys[i], presented, "name=many");
    }

    nslots = llo_keys_slots(1000);
    ck_assert_uint_gt(nslots, 1000);
    slots = malloc(nslots * sizeof(uint32_t));

    ck_assert_int_eq(llo_keys_build(&t, keys, 1000, slots, nslots, &first,
                                    &dup), 0);

    ck_assert_int_eq(llo_key_digest((const uint8_t *) "sk-test-1", 9, d), 0);
    f = llo_keys_find(&t, d);
    ck_assert_ptr_eq(f, &keys[0]);
    ck_assert_str_eq(f->name, "one");

    ck_assert_int_eq(llo_key_digest((const uint8_t *) "sk-test-2", 9, d), 0);
    ck_assert_ptr_eq(llo_keys_find(&t, d), &keys[1]);

    ck_assert_int_eq(llo_key_digest((const uint8_t *) "abc", 3, d), 0);
    ck_assert_ptr_eq(llo_keys_find(&t, d), &keys[2]);

    for (i = 3; i < 1000; i++) {
        snprintf(presented, sizeof(presented), "sk-many-%d", i);
        ck_assert_int_eq(llo_key_digest((const uint8_t *) presented,
                                        strlen(presented), d), 0);
        ck_assert_ptr_eq(llo_keys_find(&t, d), &keys[i]);
    }

    /* near misses */

    ck_assert_int_eq(llo_key_digest((const uint8_t *) "sk-test-3", 9, d), 0);
    ck_assert_ptr_null(llo_keys_find(&t, d));
    ck_assert_int_eq(llo_key_digest((const uint8_t *) "sk-test-1 ", 10, d),
                     0);
    ck_assert_ptr_null(llo_keys_find(&t, d));
    ck_assert_int_eq(llo_key_digest((const uint8_t *) "", 0, d), 0);
    ck_assert_ptr_null(llo_keys_find(&t, d));

    /* a digest that differs in its last byte only */
    memcpy(d, keys[0].digest, 32);
    d[31] ^= 1;
    ck_assert_ptr_null(llo_keys_find(&t, d));

    /* no keys */
    ck_assert_int_eq(llo_keys_build(&t, keys, 0, slots, 1, &first, &dup), 0);
    ck_assert_ptr_null(llo_keys_find(&t, keys[0].digest));

    ck_assert_int_eq(llo_keys_build(&t, keys, 10, slots, 10, &first, &dup),
                     -2);

    free(slots);
    free(keys);
}
END_TEST


START_TEST(test_lookup_duplicates)
{
    uint32_t    first, dup, slots[16];
    llo_key_t   keys[5];
    llo_keys_t  t;

    llo_t_key(&keys[0], "sk-test-1", "name=one");
    llo_t_key(&keys[1], "sk-test-2", "name=two");
    llo_t_key(&keys[2], "sk-test-3", "name=three");

    /* the same key, once as a digest, once in clear */
    ck_assert(llo_t_parse(&keys[3], "plain:sk-test-2 name=again", NULL)
              == 0);
    llo_t_key(&keys[4], "sk-test-1", "name=again");

    first = dup = 99;
    ck_assert_int_eq(llo_keys_build(&t, keys, 5, slots,
                                    llo_keys_slots(5), &first, &dup), -1);
    ck_assert_uint_eq(first, 1);
    ck_assert_uint_eq(dup, 3);
    ck_assert_str_eq(keys[first].name, "two");
}
END_TEST


START_TEST(test_limits_layout)
{
    size_t   size;
    uint8_t  *mem, *other;

    size = llo_limits_size(64);
    ck_assert_uint_eq(size, 64 + 64 * sizeof(llo_limit_entry_t));
    ck_assert_uint_eq(llo_limits_size(0), 0);
    ck_assert_uint_ge(llo_limits_slots(10), 21);

    mem = malloc(size);
    memset(mem, 0xa5, size);
    ck_assert(!llo_limits_valid(mem, size));

    llo_limits_init(mem, 64);
    ck_assert(llo_limits_valid(mem, size));
    ck_assert(llo_limits_valid(mem, size + 100));
    ck_assert(!llo_limits_valid(mem, size - 1));
    ck_assert(!llo_limits_valid(mem, 32));
    ck_assert(!llo_limits_valid(NULL, size));

    other = malloc(size);

    /* zeroed memory: a zone nobody initialised */
    memset(other, 0, size);
    ck_assert(!llo_limits_valid(other, size));

    /* another layout: version, entry size, magic */
    memcpy(other, mem, size);
    ((llo_limits_t *) other)->version++;
    ck_assert(!llo_limits_valid(other, size));

    memcpy(other, mem, size);
    ((llo_limits_t *) other)->entry_size += 8;
    ck_assert(!llo_limits_valid(other, size));

    memcpy(other, mem, size);
    other[0] ^= 1;
    ck_assert(!llo_limits_valid(other, size));

    /* a slot count the block cannot hold */
    memcpy(other, mem, size);
    ((llo_limits_t *) other)->slots = 65;
    ck_assert(!llo_limits_valid(other, size));

    memcpy(other, mem, size);
    ((llo_limits_t *) other)->slots = 0;
    ck_assert(!llo_limits_valid(other, size));

    memcpy(other, mem, size);
    ((llo_limits_t *) other)->used = 65;
    ck_assert(!llo_limits_valid(other, size));

    /* a ring header is not a limits table */
    memcpy(other, "LLORING\0", 8);
    ck_assert(!llo_limits_valid(other, size));

    free(other);
    free(mem);
}
END_TEST


START_TEST(test_limits_get_full)
{
    int                 i;
    void               *mem;
    uint8_t             d[32];
    llo_limits_t       *h;
    llo_limit_entry_t  *e, *es[8];

    mem = llo_t_limits(8);
    h = mem;

    for (i = 0; i < 8; i++) {
        memset(d, 0, 32);
        d[0] = (uint8_t) i;
        d[31] = 0x77;

        ck_assert_ptr_null(llo_limits_get(mem, d, 0));
        es[i] = llo_limits_get(mem, d, 1);
        ck_assert_ptr_nonnull(es[i]);
        ck_assert(memcmp(es[i]->digest, d, 32) == 0);
        es[i]->tpd_used = 100 + i;
    }

    ck_assert_uint_eq(h->used, 8);

    memset(d, 0, 32);
    d[0] = 200;
    ck_assert_ptr_null(llo_limits_get(mem, d, 1));
    ck_assert_ptr_null(llo_limits_get(mem, d, 1));
    ck_assert_ptr_null(llo_limits_get(mem, d, 0));
    ck_assert_uint_eq(h->full, 2);
    ck_assert_uint_eq(h->used, 8);

    /* all still there, found with or without create */

    for (i = 0; i < 8; i++) {
        memset(d, 0, 32);
        d[0] = (uint8_t) i;
        d[31] = 0x77;

        e = llo_limits_get(mem, d, i % 2);
        ck_assert_ptr_eq(e, es[i]);
        ck_assert_int_eq(e->tpd_used, 100 + i);
    }

    ck_assert_uint_eq(h->used, 8);
    ck_assert(llo_limits_valid(mem, llo_limits_size(8)));

    free(mem);
}
END_TEST


/* a digest with the given hash (its first 8 bytes) and id */

static void
llo_t_digest(uint8_t d[32], uint64_t hash, int id)
{
    memset(d, 0, 32);
    memcpy(d, &hash, sizeof(uint64_t));
    d[8] = (uint8_t) id;
    d[9] = (uint8_t) (id >> 8);
}


/* keep() for retain: the digests whose 9th byte is in the set */

static int
llo_t_keep(void *data, const uint8_t digest[32])
{
    const uint8_t  *set;

    set = data;

    return set[digest[8]];
}


START_TEST(test_limits_retain)
{
    int                 i, round;
    void               *mem;
    uint8_t             d[32], set[256];
    uint32_t            slots;
    llo_limits_t       *h;
    llo_limit_entry_t  *e;

    /*
     * Every entry's home is one of the last 3 slots: one cluster that
     * wraps round the end of the table, which is where deleting without
     * tombstones goes wrong if it does.
     */

    for (slots = 1; slots <= 40; slots++) {
        for (round = 0; round < 20; round++) {
            mem = llo_t_limits(slots);
            h = mem;

            for (i = 0; i < (int) slots; i++) {
                llo_t_digest(d, slots + slots - 1 - (i + round) % 3, i);
                e = llo_limits_get(mem, d, 1);
                ck_assert_ptr_nonnull(e);
                e->tpd_used = 1000 + i;
                e->budget_used = i;
            }

            ck_assert_uint_eq(h->used, slots);

            for (i = 0; i < 256; i++) {
                set[i] = (uint8_t) ((i * 31 + round * 17) % 5 < 2);
            }

            llo_limits_retain(mem, llo_t_keep, set);

            for (i = 0; i < (int) slots; i++) {
                llo_t_digest(d, slots + slots - 1 - (i + round) % 3, i);
                e = llo_limits_get(mem, d, 0);

                if (set[i]) {
                    ck_assert_msg(e != NULL, "slots %u round %d key %d lost",
                                  slots, round, i);
                    ck_assert_int_eq(e->tpd_used, 1000 + i);
                    ck_assert_int_eq(e->budget_used, i);

                } else {
                    ck_assert_msg(e == NULL, "slots %u round %d key %d kept",
                                  slots, round, i);
                }
            }

            /* the count is right, and the freed slots can be used again */

            for (i = 0; i < (int) slots; i++) {
                if (set[i]) {
                    continue;
                }

                ck_assert_uint_lt(h->used, slots);
                llo_t_digest(d, i * 7, 300 + i);
                ck_assert_ptr_nonnull(llo_limits_get(mem, d, 1));
            }

            ck_assert_uint_eq(h->used, slots);

            free(mem);
        }
    }
}
END_TEST


START_TEST(test_limits_random)
{
    int                 i, op, id, n;
    void               *mem;
    uint8_t             d[32], set[256], present[256];
    uint32_t            slots, seed;
    uint64_t            hash[256];
    llo_limits_t       *h;
    llo_limit_entry_t  *e;

    /* random creations and retains, checked against a plain set */

    for (slots = 1; slots <= 64; slots += 9) {
        seed = slots;
        mem = llo_t_limits(slots);
        h = mem;
        memset(present, 0, sizeof(present));

        for (i = 0; i < 256; i++) {
            seed = seed * 1103515245 + 12345;
            hash[i] = (seed >> 8) % (slots * 3);
        }

        for (op = 0; op < 3000; op++) {
            seed = seed * 1103515245 + 12345;

            if ((seed >> 16) % 8 != 0) {
                id = (seed >> 4) % 256;
                llo_t_digest(d, hash[id], id);
                e = llo_limits_get(mem, d, 1);

                if (present[id]) {
                    ck_assert_ptr_nonnull(e);
                    ck_assert_int_eq(e->tpd_used, id);

                } else if (h->used < slots || e != NULL) {
                    ck_assert_ptr_nonnull(e);
                    e->tpd_used = id;
                    present[id] = 1;
                }

            } else {
                for (i = 0; i < 256; i++) {
                    seed = seed * 1103515245 + 12345;
                    set[i] = (uint8_t) ((seed >> 16) % 3 != 0);
                    present[i] &= set[i];
                }

                llo_limits_retain(mem, llo_t_keep, set);
            }

            /* Check's asserts are slow: only a failure reaches one */

            n = 0;

            for (i = 0; i < 256; i++) {
                llo_t_digest(d, hash[i], i);
                e = llo_limits_get(mem, d, 0);

                if ((e != NULL) != present[i]
                    || (e != NULL && e->tpd_used != i))
                {
                    ck_abort_msg("slots %u op %d id %d", slots, op, i);
                }

                n += e != NULL;
            }

            if (h->used != (uint32_t) n) {
                ck_abort_msg("slots %u op %d: used %u, not %d", slots, op,
                             h->used, n);
            }
        }

        free(mem);
    }
}
END_TEST


START_TEST(test_limits_retain_real)
{
    int                 i;
    void               *mem;
    char                presented[32];
    uint8_t             d[32], set[256];
    llo_key_t           k;
    llo_limit_entry_t  *e;
    llo_limit_result_t  res;

    /* real digests, a realistic table; a key with counters survives */

    mem = llo_t_limits(llo_limits_slots(100));

    llo_t_key(&k, "sk-keep", "name=keep rpm=10");
    e = llo_limits_get(mem, k.digest, 1);

    for (i = 0; i < 10; i++) {
        ck_assert_int_eq(llo_limit_check(e, &k, 1000 * LLO_T_SEC, 0, &res),
                         LLO_LIMIT_OK);
    }

    for (i = 0; i < 99; i++) {
        snprintf(presented, sizeof(presented), "sk-%d", i);
        ck_assert_int_eq(llo_key_digest((const uint8_t *) presented,
                                        strlen(presented), d), 0);
        ck_assert_ptr_nonnull(llo_limits_get(mem, d, 1));
    }

    memset(set, 0, sizeof(set));
    set[k.digest[8]] = 1;

    llo_limits_retain(mem, llo_t_keep, set);

    e = llo_limits_get(mem, k.digest, 0);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(llo_limit_check(e, &k, 1000 * LLO_T_SEC, 0, &res),
                     LLO_LIMIT_RPM);

    ck_assert_uint_le(((llo_limits_t *) mem)->used, 3);

    free(mem);
}
END_TEST


static void
llo_t_entry(llo_limit_entry_t *e)
{
    memset(e, 0, sizeof(llo_limit_entry_t));
}


START_TEST(test_gcra_rpm)
{
    int64_t             now, rpm, ei;
    llo_key_t           k;
    llo_limit_entry_t   e, before;
    llo_limit_result_t  res;

    static const int64_t  rpms[] = { 1, 7, 60, 1000, 0 };
    const int64_t        *r;

    for (r = rpms; *r; r++) {
        rpm = *r;
        ei = (LLO_T_MIN + rpm - 1) / rpm;

        memset(&k, 0, sizeof(llo_key_t));
        k.rpm = rpm;
        llo_t_entry(&e);

        now = llo_t_time(2026, 3, 10, 12, 0, 0);

        for (int i = 0; i < rpm; i++) {
            ck_assert_msg(llo_limit_check(&e, &k, now, 0, &res)
                          == LLO_LIMIT_OK, "rpm %lld: request %d refused",
                          (long long) rpm, i);
            ck_assert_int_eq(res.limit_requests, rpm);
            ck_assert_int_eq(res.remaining_requests, rpm - 1 - i);
            ck_assert_int_eq(res.reset_requests_us,
                             ((i + 1) * LLO_T_MIN + rpm - 1) / rpm);
            ck_assert_int_eq(res.limit_tokens, 0);
            ck_assert_int_eq(res.remaining_tpd, -1);
            ck_assert_int_eq(res.remaining_budget, -1);
        }

        /* the next one: refused, for 60/rpm s, and nothing changes */

        before = e;
        ck_assert_int_eq(llo_limit_check(&e, &k, now, 0, &res),
                         LLO_LIMIT_RPM);
        ck_assert_int_eq(res.limit, LLO_LIMIT_RPM);
        ck_assert_int_eq(res.retry_after_us, ei);
        ck_assert_int_eq(res.remaining_requests, 0);
        ck_assert_int_eq(res.reset_requests_us, LLO_T_MIN);
        ck_assert(memcmp(&e, &before, sizeof(e)) == 0);

        /* 1 us early: still refused, 1 us to go */

        ck_assert_int_eq(llo_limit_check(&e, &k, now + ei - 1, 0, &res),
                         LLO_LIMIT_RPM);
        ck_assert_int_eq(res.retry_after_us, 1);
        ck_assert(memcmp(&e, &before, sizeof(e)) == 0);

        /* after 60/rpm s one more, and only one */

        ck_assert_int_eq(llo_limit_check(&e, &k, now + ei, 0, &res),
                         LLO_LIMIT_OK);
        ck_assert_int_eq(res.remaining_requests, 0);
        ck_assert_int_eq(llo_limit_check(&e, &k, now + ei, 0, &res),
                         LLO_LIMIT_RPM);

        /* a minute idle after the last: full again */

        now += ei + LLO_T_MIN;

        for (int i = 0; i < rpm; i++) {
            ck_assert_int_eq(llo_limit_check(&e, &k, now, 0, &res),
                             LLO_LIMIT_OK);
        }

        ck_assert_int_eq(llo_limit_check(&e, &k, now, 0, &res),
                         LLO_LIMIT_RPM);
    }
}
END_TEST


START_TEST(test_gcra_steady)
{
    int                 i, ok;
    int64_t             now;
    llo_key_t           k;
    llo_limit_entry_t   e;
    llo_limit_result_t  res;

    /* at exactly the rate, forever: every request passes */

    memset(&k, 0, sizeof(llo_key_t));
    k.rpm = 7;
    llo_t_entry(&e);

    now = llo_t_time(2026, 3, 10, 12, 0, 0);

    for (i = 0; i < 7; i++) {
        ck_assert_int_eq(llo_limit_check(&e, &k, now, 0, &res),
                         LLO_LIMIT_OK);
    }

    /* 60/7 s is not a whole number of us: 7 requests a minute, exactly */

    ok = 0;

    for (i = 1; i <= 7 * 60; i++) {
        now += LLO_T_SEC;

        if (llo_limit_check(&e, &k, now, 0, &res) == LLO_LIMIT_OK) {
            ok++;
        }
    }

    ck_assert_int_eq(ok, 7 * 7);
}
END_TEST


START_TEST(test_gcra_clock_behind)
{
    int64_t             now;
    llo_key_t           k;
    llo_limit_entry_t   e;
    llo_limit_result_t  res;

    /* a worker whose cached time is behind the last caller's */

    memset(&k, 0, sizeof(llo_key_t));
    k.rpm = 2;
    llo_t_entry(&e);

    now = llo_t_time(2026, 3, 10, 12, 0, 0);

    ck_assert_int_eq(llo_limit_check(&e, &k, now, 0, &res), LLO_LIMIT_OK);
    ck_assert_int_eq(llo_limit_check(&e, &k, now - 5000, 0, &res),
                     LLO_LIMIT_OK);
    ck_assert_int_eq(llo_limit_check(&e, &k, now - 5000, 0, &res),
                     LLO_LIMIT_RPM);
    ck_assert_int_eq(e.last_us, now);

    /* the wait is counted from the caller's now */
    ck_assert_int_eq(res.retry_after_us, 30 * LLO_T_SEC + 5000);
}
END_TEST


START_TEST(test_tpm_reconcile)
{
    int64_t             now;
    llo_key_t           k;
    llo_limit_entry_t   e, before;
    llo_limit_result_t  res;

    memset(&k, 0, sizeof(llo_key_t));
    k.tpm = 1000;
    llo_t_entry(&e);

    now = llo_t_time(2026, 3, 10, 12, 0, 0);

    ck_assert_int_eq(llo_limit_check(&e, &k, now, 800, &res), LLO_LIMIT_OK);
    ck_assert_int_eq(res.limit_tokens, 1000);
    ck_assert_int_eq(res.remaining_tokens, 200);
    ck_assert_int_eq(res.reset_tokens_us, 48 * LLO_T_SEC);
    ck_assert_int_eq(res.limit_requests, 0);

    /* 300 more do not fit: 100 too many, paid back in 6 s */

    before = e;
    ck_assert_int_eq(llo_limit_check(&e, &k, now, 300, &res), LLO_LIMIT_TPM);
    ck_assert_int_eq(res.retry_after_us, 6 * LLO_T_SEC);
    ck_assert_int_eq(res.remaining_tokens, 200);
    ck_assert(memcmp(&e, &before, sizeof(e)) == 0);

    /* the first used 100 of its 800: the 300 fit now */

    llo_limit_reconcile(&e, &k, now, 800, 100, 0);
    ck_assert_int_eq(e.tpd_used, 100);

    ck_assert_int_eq(llo_limit_check(&e, &k, now, 300, &res), LLO_LIMIT_OK);
    ck_assert_int_eq(res.remaining_tokens, 600);

    /* that one used 900 of its 300: 1000 in all, nothing left */

    llo_limit_reconcile(&e, &k, now, 300, 900, 0);
    ck_assert_int_eq(e.tpd_used, 1000);

    ck_assert_int_eq(llo_limit_check(&e, &k, now, 0, &res), LLO_LIMIT_OK);
    ck_assert_int_eq(res.remaining_tokens, 0);
    ck_assert_int_eq(res.reset_tokens_us, LLO_T_MIN);

    ck_assert_int_eq(llo_limit_check(&e, &k, now, 1, &res), LLO_LIMIT_TPM);
    ck_assert_int_eq(res.retry_after_us, 60000);

    /* over-use beyond the limit is owed too: 1500 used, 500 more owed */

    llo_limit_reconcile(&e, &k, now, 0, 500, 0);
    ck_assert_int_eq(llo_limit_check(&e, &k, now, 1, &res), LLO_LIMIT_TPM);
    ck_assert_int_eq(res.retry_after_us, 30 * LLO_T_SEC + 60000);
    ck_assert_int_eq(res.remaining_tokens, 0);
    ck_assert_int_eq(res.reset_tokens_us, 90 * LLO_T_SEC);

    /* 30 s later: 1000 owed, the bucket is full; 6 s more for 100 */

    now += 30 * LLO_T_SEC;
    ck_assert_int_eq(llo_limit_check(&e, &k, now, 100, &res),
                     LLO_LIMIT_TPM);
    ck_assert_int_eq(res.retry_after_us, 6 * LLO_T_SEC);

    now += 6 * LLO_T_SEC;
    ck_assert_int_eq(llo_limit_check(&e, &k, now, 100, &res), LLO_LIMIT_OK);
    ck_assert_int_eq(res.remaining_tokens, 0);
}
END_TEST


START_TEST(test_tpm_reconcile_late)
{
    int64_t             now;
    llo_key_t           k;
    llo_limit_entry_t   e;
    llo_limit_result_t  res;

    memset(&k, 0, sizeof(llo_key_t));
    k.tpm = 1000;
    k.rpm = 10;
    llo_t_entry(&e);

    now = llo_t_time(2026, 3, 10, 12, 0, 30);

    /* reserved 1000, the request ran two minutes and used 10 */

    ck_assert_int_eq(llo_limit_check(&e, &k, now, 1000, &res),
                     LLO_LIMIT_OK);
    ck_assert_int_eq(res.remaining_tokens, 0);

    now += 2 * LLO_T_MIN;
    llo_limit_reconcile(&e, &k, now, 1000, 10, 0);

    ck_assert_int_ge(e.tpm_debt, 0);
    ck_assert_int_ge(e.rpm_debt, 0);
    ck_assert_int_eq(e.tpm_debt, 0);
    ck_assert_int_eq(e.tpd_used, 10);

    ck_assert_int_eq(llo_limit_check(&e, &k, now, 1000, &res),
                     LLO_LIMIT_OK);
    ck_assert_int_eq(res.remaining_tokens, 0);
    ck_assert_int_eq(res.remaining_requests, 9);

    /* reserved 1000 at :00.5, reconciled 30 s later: half paid back */

    now += LLO_T_MIN;
    ck_assert_int_eq(llo_limit_check(&e, &k, now, 1000, &res),
                     LLO_LIMIT_OK);
    now += 30 * LLO_T_SEC;
    llo_limit_reconcile(&e, &k, now, 1000, 0, 0);
    ck_assert_int_eq(e.tpm_debt, 0);

    ck_assert_int_eq(llo_limit_check(&e, &k, now, 1000, &res),
                     LLO_LIMIT_OK);

    /* a reconcile without a limit, or of zeros, leaves nothing below 0 */

    llo_limit_reconcile(&e, &k, now, 5000, 0, -7);
    ck_assert_int_eq(e.tpm_debt, 0);
    ck_assert_int_eq(e.budget_used, 0);
    ck_assert_int_ge(e.tpd_used, 0);
}
END_TEST


START_TEST(test_too_large)
{
    int64_t             now;
    llo_key_t           k;
    llo_limit_entry_t   e, before;
    llo_limit_result_t  res;

    memset(&k, 0, sizeof(llo_key_t));
    k.rpm = 1;
    k.tpm = 1000;
    k.tpd = 5000;
    llo_t_entry(&e);

    now = llo_t_time(2026, 3, 10, 12, 0, 0);

    before = e;
    ck_assert_int_eq(llo_limit_check(&e, &k, now, 1001, &res),
                     LLO_LIMIT_TPM);
    ck_assert_int_eq(res.retry_after_us, LLO_LIMIT_NEVER);
    ck_assert(memcmp(&e, &before, sizeof(e)) == 0);

    /* never wins over a refusal with a wait */
    ck_assert_int_eq(llo_limit_check(&e, &k, now, 1000, &res),
                     LLO_LIMIT_OK);
    ck_assert_int_eq(llo_limit_check(&e, &k, now, 1001, &res),
                     LLO_LIMIT_TPM);
    ck_assert_int_eq(res.retry_after_us, LLO_LIMIT_NEVER);

    k.tpm = 0;
    ck_assert_int_eq(llo_limit_check(&e, &k, now, 5001, &res),
                     LLO_LIMIT_TPD);
    ck_assert_int_eq(res.retry_after_us, LLO_LIMIT_NEVER);

    /* absurd reservations are clamped, not overflowed */
    k.tpm = 1000000000;
    k.tpd = 0;
    k.rpm = 0;
    ck_assert_int_eq(llo_limit_check(&e, &k, now, INT64_MAX, &res),
                     LLO_LIMIT_TPM);
    ck_assert_int_eq(res.retry_after_us, LLO_LIMIT_NEVER);
    /* the 1000 reserved under the old limit are still owed */
    ck_assert_int_eq(llo_limit_check(&e, &k, now, -5, &res), LLO_LIMIT_OK);
    ck_assert_int_eq(res.remaining_tokens, 1000000000 - 1000);

    llo_limit_reconcile(&e, &k, now, 0, INT64_MAX, INT64_MAX);
    llo_limit_reconcile(&e, &k, now, 0, INT64_MAX, INT64_MAX);
    ck_assert_int_ge(e.tpm_debt, 0);
    ck_assert_int_ge(e.budget_used, 0);
    ck_assert_int_eq(llo_limit_check(&e, &k, now, 1, &res), LLO_LIMIT_TPM);
    ck_assert_int_gt(res.retry_after_us, 0);
    ck_assert_int_eq(res.remaining_tokens, 0);
}
END_TEST


START_TEST(test_longest_wait)
{
    int64_t             now;
    llo_key_t           k;
    llo_limit_entry_t   e;
    llo_limit_result_t  res;

    memset(&k, 0, sizeof(llo_key_t));
    k.rpm = 1;
    k.tpm = 600;
    llo_t_entry(&e);

    now = llo_t_time(2026, 3, 10, 12, 0, 0);

    ck_assert_int_eq(llo_limit_check(&e, &k, now, 600, &res), LLO_LIMIT_OK);

    /* rpm: 60 s to wait; tpm, for 60 tokens: 6 s; rpm is named */

    ck_assert_int_eq(llo_limit_check(&e, &k, now, 60, &res), LLO_LIMIT_RPM);
    ck_assert_int_eq(res.retry_after_us, LLO_T_MIN);

    /* it used 1200: 50 s later rpm needs 10 s more, tpm 70 s */

    llo_limit_reconcile(&e, &k, now, 600, 1200, 0);

    now += 50 * LLO_T_SEC;
    ck_assert_int_eq(llo_limit_check(&e, &k, now, 600, &res),
                     LLO_LIMIT_TPM);
    ck_assert_int_eq(res.retry_after_us, 70 * LLO_T_SEC);

    now += 70 * LLO_T_SEC;
    ck_assert_int_eq(llo_limit_check(&e, &k, now, 600, &res), LLO_LIMIT_OK);
}
END_TEST


START_TEST(test_tpd_day)
{
    int64_t             now, midnight;
    llo_key_t           k;
    llo_limit_entry_t   e, before;
    llo_limit_result_t  res;

    memset(&k, 0, sizeof(llo_key_t));
    k.tpd = 1000;
    llo_t_entry(&e);

    midnight = llo_t_time(2026, 3, 11, 0, 0, 0);
    now = midnight - 60 * LLO_T_MIN;

    ck_assert_int_eq(llo_limit_check(&e, &k, now, 600, &res), LLO_LIMIT_OK);
    ck_assert_int_eq(res.remaining_tpd, 400);
    llo_limit_reconcile(&e, &k, now, 600, 700, 0);

    ck_assert_int_eq(llo_limit_check(&e, &k, now, 300, &res), LLO_LIMIT_OK);
    ck_assert_int_eq(res.remaining_tpd, 0);

    now = midnight - LLO_T_SEC / 2;
    before = e;
    ck_assert_int_eq(llo_limit_check(&e, &k, now, 1, &res), LLO_LIMIT_TPD);
    ck_assert_int_eq(res.retry_after_us, LLO_T_SEC / 2);
    ck_assert_int_eq(res.remaining_tpd, 0);
    ck_assert(memcmp(&e, &before, sizeof(e)) == 0);

    /* 00:00:00 UTC: a new day */

    ck_assert_int_eq(llo_limit_check(&e, &k, midnight, 1000, &res),
                     LLO_LIMIT_OK);
    ck_assert_int_eq(res.remaining_tpd, 0);

    /* a worker still at 23:59:59.9 does not go back to yesterday */

    ck_assert_int_eq(llo_limit_check(&e, &k, midnight - 100000, 1, &res),
                     LLO_LIMIT_TPD);
    ck_assert_int_eq(res.retry_after_us, LLO_T_MIN * 60 * 24 + 100000);

    /* yesterday's request that reserved 300 and used 10 ends today: the
     * difference lands on today, which loses 290 but never goes below 0 */

    llo_limit_reconcile(&e, &k, midnight + LLO_T_SEC, 300, 10, 0);
    ck_assert_int_eq(e.tpd_used, 710);

    llo_limit_reconcile(&e, &k, midnight + LLO_T_SEC, 3000, 0, 0);
    ck_assert_int_eq(e.tpd_used, 0);

    /* a reconcile on a day nobody has checked yet starts it */

    llo_limit_reconcile(&e, &k, midnight + 25 * 60 * LLO_T_MIN, 100, 150,
                        0);
    ck_assert_int_eq(e.tpd_used, 50);
    ck_assert_int_eq(e.tpd_day, midnight / (86400 * LLO_T_SEC) + 1);
}
END_TEST


START_TEST(test_budget_day)
{
    int64_t             now, midnight;
    llo_key_t           k;
    llo_limit_entry_t   e, before;
    llo_limit_result_t  res;

    ck_assert(llo_t_parse(&k, "sha256:" LLO_T_ABC " name=a budget=1/day",
                          NULL) == 0);
    llo_t_entry(&e);

    midnight = llo_t_time(2026, 3, 11, 0, 0, 0);
    now = midnight - 2 * 60 * LLO_T_MIN;

    ck_assert_int_eq(llo_limit_check(&e, &k, now, 10, &res), LLO_LIMIT_OK);
    ck_assert_int_eq(res.remaining_budget, 1000000);
    llo_limit_reconcile(&e, &k, now, 10, 10, 400000);

    ck_assert_int_eq(llo_limit_check(&e, &k, now, 10, &res), LLO_LIMIT_OK);
    ck_assert_int_eq(res.remaining_budget, 600000);

    /* the request in flight overshoots: 1.20 spent of 1.00 */
    llo_limit_reconcile(&e, &k, now, 10, 10, 800000);
    ck_assert_int_eq(e.budget_used, 1200000);

    before = e;
    ck_assert_int_eq(llo_limit_check(&e, &k, now, 10, &res),
                     LLO_LIMIT_BUDGET);
    ck_assert_int_eq(res.retry_after_us, 2 * 60 * LLO_T_MIN);
    ck_assert_int_eq(res.remaining_budget, 0);
    ck_assert(memcmp(&e, &before, sizeof(e)) == 0);

    ck_assert_int_eq(llo_limit_check(&e, &k, midnight - 1, 10, &res),
                     LLO_LIMIT_BUDGET);
    ck_assert_int_eq(res.retry_after_us, 1);

    ck_assert_int_eq(llo_limit_check(&e, &k, midnight, 10, &res),
                     LLO_LIMIT_OK);
    ck_assert_int_eq(res.remaining_budget, 1000000);

    /* exactly the budget spent: refused */
    llo_limit_reconcile(&e, &k, midnight, 10, 10, 1000000);
    ck_assert_int_eq(llo_limit_check(&e, &k, midnight, 10, &res),
                     LLO_LIMIT_BUDGET);

    /* a reload turns it into a monthly budget: counted afresh */
    k.budget_period = LLO_BUDGET_MONTH;
    ck_assert_int_eq(llo_limit_check(&e, &k, midnight, 10, &res),
                     LLO_LIMIT_OK);
    ck_assert_int_eq(res.remaining_budget, 1000000);
}
END_TEST


START_TEST(test_budget_month)
{
    int64_t             now;
    llo_key_t           k;
    llo_limit_entry_t   e;
    llo_limit_result_t  res;

    ck_assert(llo_t_parse(&k, "sha256:" LLO_T_ABC " name=a"
                          " budget=50/month", NULL) == 0);
    llo_t_entry(&e);

    now = llo_t_time(2026, 1, 1, 0, 0, 0);
    ck_assert_int_eq(llo_limit_check(&e, &k, now, 1, &res), LLO_LIMIT_OK);
    llo_limit_reconcile(&e, &k, now, 1, 1, 30000000);

    /* days later, still January: the spend is kept */

    now = llo_t_time(2026, 1, 20, 12, 0, 0);
    ck_assert_int_eq(llo_limit_check(&e, &k, now, 1, &res), LLO_LIMIT_OK);
    ck_assert_int_eq(res.remaining_budget, 20000000);
    llo_limit_reconcile(&e, &k, now, 1, 1, 20000000);

    now = llo_t_time(2026, 1, 31, 23, 59, 59);
    ck_assert_int_eq(llo_limit_check(&e, &k, now, 1, &res),
                     LLO_LIMIT_BUDGET);
    ck_assert_int_eq(res.retry_after_us, LLO_T_SEC);

    now = llo_t_time(2026, 1, 25, 0, 0, 0);
    ck_assert_int_eq(llo_limit_check(&e, &k, now, 1, &res),
                     LLO_LIMIT_BUDGET);
    ck_assert_int_eq(res.retry_after_us, 7 * 86400 * LLO_T_SEC);

    now = llo_t_time(2026, 2, 1, 0, 0, 0);
    ck_assert_int_eq(llo_limit_check(&e, &k, now, 1, &res), LLO_LIMIT_OK);
    ck_assert_int_eq(res.remaining_budget, 50000000);

    /* February 2026 has 28 days; then December to January */

    llo_limit_reconcile(&e, &k, now, 1, 1, 60000000);
    now = llo_t_time(2026, 2, 28, 23, 0, 0);
    ck_assert_int_eq(llo_limit_check(&e, &k, now, 1, &res),
                     LLO_LIMIT_BUDGET);
    ck_assert_int_eq(res.retry_after_us, 60 * LLO_T_MIN);

    now = llo_t_time(2026, 12, 31, 0, 0, 0);
    ck_assert_int_eq(llo_limit_check(&e, &k, now, 1, &res), LLO_LIMIT_OK);
    llo_limit_reconcile(&e, &k, now, 1, 1, 50000000);
    ck_assert_int_eq(llo_limit_check(&e, &k, now, 1, &res),
                     LLO_LIMIT_BUDGET);
    ck_assert_int_eq(res.retry_after_us, 86400 * LLO_T_SEC);

    now = llo_t_time(2027, 1, 1, 0, 0, 0);
    ck_assert_int_eq(llo_limit_check(&e, &k, now, 1, &res), LLO_LIMIT_OK);

    /* a leap February */

    llo_limit_reconcile(&e, &k, now, 1, 1, 50000000);
    now = llo_t_time(2028, 2, 15, 0, 0, 0);
    ck_assert_int_eq(llo_limit_check(&e, &k, now, 1, &res), LLO_LIMIT_OK);
    llo_limit_reconcile(&e, &k, now, 1, 1, 50000000);
    ck_assert_int_eq(llo_limit_check(&e, &k, now, 1, &res),
                     LLO_LIMIT_BUDGET);
    ck_assert_int_eq(res.retry_after_us, 15 * 86400 * LLO_T_SEC);
}
END_TEST


START_TEST(test_limit_in_shared_block)
{
    int                 i;
    void               *mem;
    int64_t             now;
    llo_key_t           k;
    llo_limit_entry_t  *e;
    llo_limit_result_t  res;

    /* what the module does: entry by digest, check, reconcile */

    mem = llo_t_limits(llo_limits_slots(4));
    llo_t_key(&k, "sk-test-1", "name=one rpm=3 tpm=100 tpd=150"
              " budget=0.01/day");

    now = llo_t_time(2026, 3, 10, 12, 0, 0);

    for (i = 0; i < 3; i++) {
        e = llo_limits_get(mem, k.digest, 1);
        ck_assert_int_eq(llo_limit_check(e, &k, now, 30, &res),
                         LLO_LIMIT_OK);
        llo_limit_reconcile(e, &k, now, 30, 20, 1000);
    }

    ck_assert_int_eq(res.remaining_requests, 0);
    ck_assert_int_eq(res.remaining_tokens, 30);

    e = llo_limits_get(mem, k.digest, 0);
    ck_assert_int_eq(e->tpd_used, 60);
    ck_assert_int_eq(e->budget_used, 3000);
    ck_assert_uint_eq(((llo_limits_t *) mem)->used, 1);

    ck_assert_int_eq(llo_limit_check(e, &k, now, 30, &res), LLO_LIMIT_RPM);
    ck_assert_int_eq(res.retry_after_us, 20 * LLO_T_SEC);

    free(mem);
}
END_TEST


typedef struct {
    int64_t             us;
    const char         *text;
} llo_t_dur_t;


static const llo_t_dur_t  llo_t_durs[] = {
    { -5, "0s" },
    { 0, "0s" },
    { 1, "1ms" },
    { 999, "1ms" },
    { 1000, "1ms" },
    { 1001, "2ms" },
    { 12000, "12ms" },
    { 999000, "999ms" },
    { 999001, "1s" },
    { 1000000, "1s" },
    { 1000001, "1.001s" },
    { 2828000, "2.828s" },
    { 8640000, "8.64s" },
    { 59500000, "59.5s" },
    { 59999999, "1m0s" },
    { 60000000, "1m0s" },
    { 61000000, "1m1s" },
    { 360000000, "6m0s" },
    { 681600000, "11m21.6s" },
    { 3600000000LL, "1h0m0s" },
    { 3723000000LL, "1h2m3s" },
    { 86400000000LL, "24h0m0s" },
    { INT64_MAX, "2562047788h0m54.776s" },
    { 0, NULL }
};


START_TEST(test_duration)
{
    char                buf[LLO_DURATION_MAX];
    size_t              n;
    const llo_t_dur_t  *t;

    for (t = llo_t_durs; t->text; t++) {
        n = llo_duration_format(t->us, buf, sizeof(buf));
        ck_assert_msg(strcmp(buf, t->text) == 0, "%lld us: \"%s\", not "
                      "\"%s\"", (long long) t->us, buf, t->text);
        ck_assert_uint_eq(n, strlen(t->text));
    }

    n = llo_duration_format(3723000000LL, buf, 4);
    ck_assert_str_eq(buf, "1h2");
    ck_assert_uint_eq(n, 6);
    ck_assert_uint_eq(llo_duration_format(1, NULL, 0), 3);
}
END_TEST


/* llo_key_describe()'s line read back: what the audit relies on */

START_TEST(test_line_parse)
{
    int        i;
    char       buf[LLO_KEY_DESCRIBE_MAX], err[256];
    uint32_t   prefix;
    llo_key_t  k;

    static const struct {
        const char  *line;
        const char  *err;
    }  bad[] = {
        { "\tba7816bf\t\t\t\t\t\t\t", " has no name" },
        { "svc\tba7816b\t\t\t\t\t\t\t",
          ": key prefix \"ba7816b\" is not 8 lowercase hex digits" },
        { "svc\tBA7816BF\t\t\t\t\t\t\t",
          ": key prefix \"BA7816BF\" is not 8 lowercase hex digits" },
        { "svc\tba7816bg\t\t\t\t\t\t\t",
          ": key prefix \"ba7816bg\" is not 8 lowercase hex digits" },
        { "svc\tba7816bf\t\t\t", " has 5 fields (expected 9)" },
        { "svc", " has 1 fields (expected 9)" },
        { "", " has no name" },
        { NULL, NULL }
    };

    ck_assert(llo_t_parse(&k, "sha256:" LLO_T_ABC " name=svc team=search"
                          " models=gpt-4o,o3* rpm=60 budget=5/day", NULL)
              == 0);
    llo_key_describe(&k, buf, sizeof(buf));
    ck_assert_int_eq(llo_key_line_parse(buf, strlen(buf), &prefix, err,
                                        sizeof(err)), 0);
    ck_assert_uint_eq(prefix, 0xba7816bf);

    /* a newer module's extra fields are allowed */
    strcat(buf, "\tnew");
    ck_assert_int_eq(llo_key_line_parse(buf, strlen(buf), &prefix, err,
                                        sizeof(err)), 0);

    for (i = 0; bad[i].line; i++) {
        err[0] = '\0';
        ck_assert_int_eq(llo_key_line_parse(bad[i].line,
                                            strlen(bad[i].line), &prefix,
                                            err, sizeof(err)), -1);
        ck_assert_str_eq(err, bad[i].err);
    }
}
END_TEST

/* -- the key in a query ---------------------------------------------------- */


static const struct {
    const char  *in;
    const char  *out;
} llo_t_drop[] = {
    { "", "" },
    { "key=abc", "" },
    { "key", "" },
    { "KEY=abc", "" },
    { "Key=abc&alt=sse", "alt=sse" },
    { "alt=sse&key=abc", "alt=sse" },
    { "a=1&key=abc&b=2", "a=1&b=2" },
    { "key=1&key=2&kEy=3", "" },
    { "a=1&&key=x&&b=2", "a=1&b=2" },
    { "keys=1&akey=2&key_=3", "keys=1&akey=2&key_=3" },
    { "ke=1&ky=2", "ke=1&ky=2" },
    { "a=key=1", "a=key=1" },
    { "&", "" },
    { NULL, NULL }
};


START_TEST(test_args_drop_key)
{
    int     i;
    char    out[256];
    size_t  n;

    for (i = 0; llo_t_drop[i].in; i++) {
        n = llo_args_drop_key(llo_t_drop[i].in, strlen(llo_t_drop[i].in),
                              out);
        ck_assert_uint_le(n, strlen(llo_t_drop[i].in));
        out[n] = '\0';
        ck_assert_msg(strcmp(out, llo_t_drop[i].out) == 0,
                      "drop \"%s\": \"%s\", expected \"%s\"",
                      llo_t_drop[i].in, out, llo_t_drop[i].out);
    }
}
END_TEST


static const struct {
    const char  *in;
    const char  *out;
} llo_t_mask[] = {
    /* URIs */
    { "/v1beta/models/g:generateContent?key=AIzaSECRET",
      "/v1beta/models/g:generateContent?key=***" },
    { "/p?alt=sse&key=s1&x=y", "/p?alt=sse&key=***&x=y" },
    { "/p?KEY=s1&Key=s2", "/p?KEY=***&Key=***" },
    { "/p?key=", "/p?key=***" },
    { "/p?key", "/p?key" },
    { "/p?key=***", "/p?key=***" },
    { "/p?keys=s&akey=s", "/p?keys=s&akey=s" },
    { "/p", "/p" },
    { "/key=s", "/key=s" },
    { "/p?a=1&&key=s&", "/p?a=1&&key=***&" },
    { "/p?x=?key=s", "/p?x=?key=s" },
    /* request lines: the protocol stays */
    { "POST /p?key=s HTTP/1.1", "POST /p?key=*** HTTP/1.1" },
    { "GET /p?a=b&key=s HTTP/2.0", "GET /p?a=b&key=*** HTTP/2.0" },
    { "GET /p?key=s", "GET /p?key=***" },
    { "GET /p HTTP/1.1", "GET /p HTTP/1.1" },
    { "GET /p?key=s%20t HTTP/1.0", "GET /p?key=*** HTTP/1.0" },
    { NULL, NULL }
};


START_TEST(test_query_mask_key)
{
    int     i;
    char    out[256], again[256];
    size_t  n, m, len;

    for (i = 0; llo_t_mask[i].in; i++) {
        len = strlen(llo_t_mask[i].in);
        n = llo_query_mask_key(llo_t_mask[i].in, len, out);
        ck_assert_uint_le(n, LLO_MASK_MAX(len));
        out[n] = '\0';
        ck_assert_msg(strcmp(out, llo_t_mask[i].out) == 0,
                      "mask \"%s\": \"%s\", expected \"%s\"",
                      llo_t_mask[i].in, out, llo_t_mask[i].out);

        /* llo_query_has_key() says whether masking changes anything,
         * and masking twice is masking once */
        ck_assert_int_eq(llo_query_has_key(llo_t_mask[i].in, len),
                         strcmp(llo_t_mask[i].in, llo_t_mask[i].out) != 0);
        ck_assert_int_eq(llo_query_has_key(out, n), 0);
        m = llo_query_mask_key(out, n, again);
        ck_assert_uint_eq(m, n);
        ck_assert_int_eq(memcmp(again, out, n), 0);
    }
}
END_TEST


/* the worst growth: many one-byte keys; never past LLO_MASK_MAX */

START_TEST(test_query_mask_bound)
{
    char    in[4096], *out;
    size_t  n, len;

    len = 0;
    in[len++] = '?';

    while (len + 6 < sizeof(in)) {
        memcpy(in + len, "key=s&", 6);
        len += 6;
    }

    out = malloc(LLO_MASK_MAX(len));
    ck_assert_ptr_nonnull(out);

    n = llo_query_mask_key(in, len, out);
    ck_assert_uint_le(n, LLO_MASK_MAX(len));
    ck_assert_uint_eq(n, len + 2 * ((len - 1) / 6));
    ck_assert_ptr_null(memmem(out, n, "key=s", 5));

    free(out);
}
END_TEST


int
main(void)
{
    int       failed;
    Suite    *s;
    TCase    *tc;

    s = suite_create("keys");

    tc = tcase_create("parse");
    tcase_add_test(tc, test_digest_vector);
    tcase_add_test(tc, test_parse_all);
    tcase_add_test(tc, test_parse_hex_case);
    tcase_add_test(tc, test_parse_plain);
    tcase_add_test(tc, test_parse_errors);
    tcase_add_test(tc, test_parse_models_bounds);
    tcase_add_test(tc, test_model_ok);
    tcase_add_test(tc, test_expired);
    tcase_add_test(tc, test_describe);
    tcase_add_test(tc, test_line_parse);
    suite_add_tcase(s, tc);

    tc = tcase_create("query");
    tcase_add_test(tc, test_args_drop_key);
    tcase_add_test(tc, test_query_mask_key);
    tcase_add_test(tc, test_query_mask_bound);
    suite_add_tcase(s, tc);

    tc = tcase_create("lookup");
    tcase_add_test(tc, test_lookup);
    tcase_add_test(tc, test_lookup_duplicates);
    suite_add_tcase(s, tc);

    tc = tcase_create("table");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_limits_layout);
    tcase_add_test(tc, test_limits_get_full);
    tcase_add_test(tc, test_limits_retain);
    tcase_add_test(tc, test_limits_random);
    tcase_add_test(tc, test_limits_retain_real);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_add_test(tc, test_gcra_rpm);
    tcase_add_test(tc, test_gcra_steady);
    tcase_add_test(tc, test_gcra_clock_behind);
    tcase_add_test(tc, test_tpm_reconcile);
    tcase_add_test(tc, test_tpm_reconcile_late);
    tcase_add_test(tc, test_too_large);
    tcase_add_test(tc, test_longest_wait);
    tcase_add_test(tc, test_tpd_day);
    tcase_add_test(tc, test_budget_day);
    tcase_add_test(tc, test_budget_month);
    tcase_add_test(tc, test_limit_in_shared_block);
    tcase_add_test(tc, test_duration);
    suite_add_tcase(s, tc);

    failed = llo_t_run_suite(s);

    return llo_t_exit(failed);
}
