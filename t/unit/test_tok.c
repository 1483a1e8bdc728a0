/*
 * Unit tests for the tokenizer (llo_tok.c).
 *
 * The reference is OpenAI's tiktoken itself: build/tiktoken/ holds the
 * rank files, split patterns and special tokens taken from the npm
 * tiktoken package, and vectors of the ids that package gives every entry
 * of t/unit/fixtures/tok_corpus.txt and of a sweep over all code points
 * (mk/tokenizer.mk makes them).  Any of them missing is a failure, not a
 * skip.  LLO_TOK_DIR in the environment overrides the compiled-in
 * directory.
 *
 * LLO_TEST_QUICK=1 (for valgrind) splits long entries at every 61st byte
 * instead of every byte, runs fewer random cases, and takes every 16th
 * entry of the code point sweep and every 16th code point of the class
 * check;
 * LLO_TEST_SEED=n changes the seed of the random cases (printed when
 * LLO_TEST_VERBOSE=1).
 */

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "check_main.h"
#include "llo_tok.h"


#ifndef LLO_TOK_DIR
#define LLO_TOK_DIR         "build/tiktoken"
#endif

#define LLO_T_ERRLEN        512
#define LLO_T_NENC          2
#define LLO_T_QUICK_STRIDE  61
#define LLO_T_QUICK_FROM    512     /* entries longer than this, if quick */
#define LLO_T_UNICODE       0x110000

/*
 * ck_assert_msg() writes to the Check runner even when it passes; in
 * loops over every entry or split point that is most of the run time
 */
#define llo_t_check(expr, ...)                                               \
    do { if (!(expr)) { ck_abort_msg(__VA_ARGS__); } } while (0)


typedef struct {
    uint8_t            *text;
    size_t              len;
    uint32_t           *ord;        /* encode_ordinary */
    size_t              nord;
    uint32_t           *all;        /* encode(text, "all") */
    size_t              nall;
} llo_t_vec_t;


typedef struct {
    const char         *name;
    llo_tok_t          *tok;
    char                err[LLO_T_ERRLEN];
    llo_t_vec_t        *vec;
    size_t              nvec;
    char                vec_err[LLO_T_ERRLEN];
    llo_t_vec_t        *sweep;
    size_t              nsweep;
    char                sweep_err[LLO_T_ERRLEN];
} llo_t_enc_t;


static const char *llo_t_data_dir(void);
static int llo_t_read(const char *path, uint8_t **buf, size_t *len);
static int llo_t_load_vectors(const char *path, llo_t_vec_t **vec,
    size_t *nvec, char *err, size_t errlen);
static int llo_t_parse_ids(char *s, uint32_t **ids, size_t *n);
static void llo_t_free_vectors(llo_t_vec_t *vec, size_t n);
static llo_t_enc_t *llo_t_enc(int i);
static void llo_t_need_vectors(llo_t_enc_t *e, int sweep);
static void llo_t_ids_equal(const char *what, const uint8_t *text,
    size_t len, const uint32_t *got, size_t ngot, const uint32_t *want,
    size_t nwant);
static void llo_t_round_trip(llo_tok_t *t, const uint8_t *s, size_t len);
static uint64_t llo_t_stream(llo_tok_t *t, const uint8_t *s, size_t len,
    const size_t *cuts, size_t ncuts, size_t hold);
static uint64_t llo_t_rand(void);
static size_t llo_t_fuzz_text(llo_t_enc_t *e, uint8_t *buf, size_t size);
static void llo_t_write(const char *path, const void *data, size_t len);
static void llo_t_expect_load_error(const char *enc, const char *path,
    const char *where, const char *what);
static void llo_t_note(const char *fmt, ...);
static int llo_t_utf8(uint32_t cp, uint8_t *b);


static llo_t_enc_t  llo_t_encs[LLO_T_NENC] = {
    { .name = "cl100k_base" },
    { .name = "o200k_base" }
};

static int          llo_t_quick;
static uint64_t     llo_t_seed = 0x9e3779b97f4a7c15ULL;
static uint64_t     llo_t_state;
static char         llo_t_dir[64];


static const char *
llo_t_data_dir(void)
{
    const char  *dir;

    dir = getenv("LLO_TOK_DIR");

    return (dir != NULL && dir[0] != '\0') ? dir : LLO_TOK_DIR;
}


static int
llo_t_read(const char *path, uint8_t **buf, size_t *len)
{
    long   size;
    FILE  *f;

    f = fopen(path, "rb");
    if (f == NULL) {
        return -1;
    }

    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        fclose(f);
        return -1;
    }

    *buf = malloc((size_t) size + 1);
    if (*buf == NULL) {
        fclose(f);
        return -1;
    }

    if (fread(*buf, 1, (size_t) size, f) != (size_t) size) {
        free(*buf);
        fclose(f);
        return -1;
    }

    (*buf)[size] = '\0';
    *len = (size_t) size;
    fclose(f);

    return 0;
}


static int
llo_t_parse_ids(char *s, uint32_t **ids, size_t *n)
{
    char           *end;
    size_t          cap;
    unsigned long   v;

    cap = 16;
    *n = 0;
    *ids = malloc(cap * sizeof(uint32_t));

    if (*ids == NULL) {
        return -1;
    }

    while (*s != '\0') {
        v = strtoul(s, &end, 10);

        if (end == s || v > UINT32_MAX) {
            return -1;
        }

        if (*n == cap) {
            cap *= 2;
            *ids = realloc(*ids, cap * sizeof(uint32_t));

            if (*ids == NULL) {
                return -1;
            }
        }

        (*ids)[(*n)++] = (uint32_t) v;
        s = end;

        while (*s == ' ') {
            s++;
        }
    }

    return 0;
}


/* "<hex> TAB <ids> TAB <ids>" lines, '#' comments (tools/tiktoken) */
static int
llo_t_load_vectors(const char *path, llo_t_vec_t **vec, size_t *nvec,
    char *err, size_t errlen)
{
    int           same;
    size_t        len, cap, n, i, hl, lineno;
    uint8_t      *buf;
    char         *line, *next, *t1, *t2;
    unsigned      hi, lo;
    llo_t_vec_t  *v, *vs;

    if (llo_t_read(path, &buf, &len) != 0) {
        snprintf(err, errlen, "%s: %s (make tok-data makes it)", path,
                 strerror(errno));
        return -1;
    }

    cap = 64;
    n = 0;
    vs = calloc(cap, sizeof(llo_t_vec_t));
    lineno = 0;

    for (line = (char *) buf; line != NULL && *line != '\0'; line = next) {
        lineno++;
        next = strchr(line, '\n');

        if (next != NULL) {
            *next++ = '\0';
        }

        if (line[0] == '#') {
            continue;
        }

        t1 = strchr(line, '\t');
        t2 = (t1 != NULL) ? strchr(t1 + 1, '\t') : NULL;

        if (t2 == NULL) {
            snprintf(err, errlen, "%s:%zu: not 3 fields", path, lineno);
            goto failed;
        }

        *t1 = '\0';
        *t2 = '\0';

        if (n == cap) {
            cap *= 2;
            vs = realloc(vs, cap * sizeof(llo_t_vec_t));
        }

        v = &vs[n++];
        memset(v, 0, sizeof(llo_t_vec_t));

        hl = strlen(line);
        v->len = hl / 2;
        v->text = malloc(v->len + 1);

        for (i = 0; i < v->len; i++) {
            if (sscanf(line + 2 * i, "%1x%1x", &hi, &lo) != 2) {
                snprintf(err, errlen, "%s:%zu: bad hex", path, lineno);
                goto failed;
            }
            v->text[i] = (uint8_t) (hi << 4 | lo);
        }

        if (strcmp(t2 + 1, "=") == 0) {
            t2[1] = '\0';
            same = 1;
        } else {
            same = 0;
        }

        if (llo_t_parse_ids(t1 + 1, &v->ord, &v->nord) != 0
            || llo_t_parse_ids(t2 + 1, &v->all, &v->nall) != 0)
        {
            snprintf(err, errlen, "%s:%zu: bad ids", path, lineno);
            goto failed;
        }

        /* "=": the ids of encode(text, "all") are the ordinary ones */
        if (same) {
            free(v->all);
            v->all = malloc((v->nord + 1) * sizeof(uint32_t));
            memcpy(v->all, v->ord, v->nord * sizeof(uint32_t));
            v->nall = v->nord;
        }
    }

    free(buf);

    if (n == 0) {
        snprintf(err, errlen, "%s: no vectors", path);
        free(vs);
        return -1;
    }

    *vec = vs;
    *nvec = n;

    return 0;

failed:

    free(buf);
    llo_t_free_vectors(vs, n);

    return -1;
}


static void
llo_t_free_vectors(llo_t_vec_t *vec, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        free(vec[i].text);
        free(vec[i].ord);
        free(vec[i].all);
    }

    free(vec);
}


/* the tokenizer of encoding i: a test fails, never skips, without it */
static llo_t_enc_t *
llo_t_enc(int i)
{
    llo_t_enc_t  *e;

    e = &llo_t_encs[i];

    ck_assert_msg(e->tok != NULL, "%s: %s", e->name, e->err);

    return e;
}


static void
llo_t_need_vectors(llo_t_enc_t *e, int sweep)
{
    if (sweep) {
        ck_assert_msg(e->sweep != NULL, "%s", e->sweep_err);
    } else {
        ck_assert_msg(e->vec != NULL, "%s", e->vec_err);
    }
}


static void
llo_t_ids_equal(const char *what, const uint8_t *text, size_t len,
    const uint32_t *got, size_t ngot, const uint32_t *want, size_t nwant)
{
    size_t  i, n;
    char    show[81];

    if (ngot == nwant && memcmp(got, want, ngot * sizeof(uint32_t)) == 0) {
        return;
    }

    for (i = 0; i < ngot && i < nwant && got[i] == want[i]; i++) {
        /* void */
    }

    n = len < 80 ? len : 80;
    memcpy(show, text, n);
    show[n] = '\0';

    ck_abort_msg("%s: \"%s\"%s (%zu bytes): %zu ids, tiktoken %zu; first "
                 "difference at %zu: %u, tiktoken %u", what, show,
                 len > 80 ? "..." : "", len, ngot, nwant, i,
                 i < ngot ? got[i] : 0, i < nwant ? want[i] : 0);
}


static void
llo_t_round_trip(llo_tok_t *t, const uint8_t *s, size_t len)
{
    int        special;
    size_t     outlen;
    ssize_t    n;
    uint8_t   *out;
    uint32_t  *ids;

    for (special = 0; special <= 1; special++) {
        n = llo_tok_encode(t, s, len, special, &ids);
        llo_t_check(n >= 0, "encode failed");

        if (!special) {
            llo_t_check((uint64_t) n == llo_tok_count(t, s, len),
                        "count %llu, encode %zd ids",
                        (unsigned long long) llo_tok_count(t, s, len), n);
        }

        llo_t_check(llo_tok_decode(t, ids, (size_t) n, &out, &outlen) == 0,
                    "decode failed");
        llo_t_check(outlen == len && memcmp(out, s, len) == 0,
                    "round trip: %zu bytes in, %zu out", len, outlen);

        free(out);
        free(ids);
    }
}


/* feed s cut at cuts[] (ascending), then finish */
static uint64_t
llo_t_stream(llo_tok_t *t, const uint8_t *s, size_t len, const size_t *cuts,
    size_t ncuts, size_t hold)
{
    size_t             i, from;
    uint64_t           n;
    llo_tok_stream_t  *st;

    st = llo_tok_stream_create(t, hold);
    ck_assert_ptr_nonnull(st);

    from = 0;

    for (i = 0; i < ncuts; i++) {
        llo_tok_stream_feed(st, s + from, cuts[i] - from);
        from = cuts[i];
    }

    llo_tok_stream_feed(st, s + from, len - from);
    n = llo_tok_stream_finish(st);

    llo_t_check(!llo_tok_stream_inexact(st), "exact stream says inexact");
    llo_tok_stream_destroy(st);

    return n;
}


static uint64_t
llo_t_rand(void)
{
    uint64_t  x;

    x = llo_t_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    llo_t_state = x;

    return x * 0x2545f4914f6cdd1dULL;
}


/*
 * A text for the invalid UTF-8 fuzz: random bytes, bytes biased to UTF-8
 * lead and continuation bytes among what splits differently, or a corpus
 * entry with bytes flipped, dropped or cut mid-character.
 */
static size_t
llo_t_fuzz_text(llo_t_enc_t *e, uint8_t *buf, size_t size)
{
    size_t              n, i, k;
    const llo_t_vec_t  *v;

    static const uint8_t  biased[] = {
        0x80, 0x8f, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xc3, 0xdf, 0xe0,
        0xe2, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, ' ', ' ', '\n', '\r',
        '\t', 'a', 'Z', '1', '\'', 's', '/', '<', '|', '.'
    };

    n = llo_t_rand() % (size < 600 ? size : 600);

    switch (llo_t_rand() % 3) {

    case 0:
        for (i = 0; i < n; i++) {
            buf[i] = (uint8_t) llo_t_rand();
        }
        return n;

    case 1:
        for (i = 0; i < n; i++) {
            buf[i] = biased[llo_t_rand() % sizeof(biased)];
        }
        return n;

    default:
        v = &e->vec[llo_t_rand() % e->nvec];
        n = v->len < size ? v->len : size;
        memcpy(buf, v->text, n);

        for (k = llo_t_rand() % 4; n > 0 && k > 0; k--) {
            i = llo_t_rand() % n;

            switch (llo_t_rand() % 3) {
            case 0:
                buf[i] = (uint8_t) llo_t_rand();
                break;
            case 1:
                memmove(buf + i, buf + i + 1, n - i - 1);
                n--;
                break;
            default:
                n = i;
                break;
            }
        }
        return n;
    }
}


static void
llo_t_write(const char *path, const void *data, size_t len)
{
    FILE  *f;

    f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}


/* the load fails with "<where>: ...<what>..." */
static void
llo_t_expect_load_error(const char *enc, const char *path,
    const char *where, const char *what)
{
    size_t      wl;
    llo_tok_t  *t;
    char        err[LLO_T_ERRLEN];

    err[0] = '\0';
    t = llo_tok_load(enc, path, err, sizeof(err));

    ck_assert_msg(t == NULL, "%s loaded", path);

    wl = strlen(where);

    ck_assert_msg(strncmp(err, where, wl) == 0 && err[wl] == ':'
                  && strstr(err, what) != NULL,
                  "error \"%s\", expected \"%s: ...%s...\"", err, where,
                  what);
}


static void
llo_t_note(const char *fmt, ...)
{
    va_list      ap;
    const char  *v;

    v = getenv("LLO_TEST_VERBOSE");

    if (v == NULL || strcmp(v, "1") != 0) {
        return;
    }

    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}


static int
llo_t_utf8(uint32_t cp, uint8_t *b)
{
    if (cp < 0x80) {
        b[0] = (uint8_t) cp;
        return 1;
    }

    if (cp < 0x800) {
        b[0] = (uint8_t) (0xc0 | cp >> 6);
        b[1] = (uint8_t) (0x80 | (cp & 0x3f));
        return 2;
    }

    if (cp < 0x10000) {
        b[0] = (uint8_t) (0xe0 | cp >> 12);
        b[1] = (uint8_t) (0x80 | (cp >> 6 & 0x3f));
        b[2] = (uint8_t) (0x80 | (cp & 0x3f));
        return 3;
    }

    b[0] = (uint8_t) (0xf0 | cp >> 18);
    b[1] = (uint8_t) (0x80 | (cp >> 12 & 0x3f));
    b[2] = (uint8_t) (0x80 | (cp >> 6 & 0x3f));
    b[3] = (uint8_t) (0x80 | (cp & 0x3f));
    return 4;
}


/* -- what tiktoken defines ----------------------------------------------- */

START_TEST(test_pattern_and_specials)
{
    size_t        len, i, n;
    uint8_t      *buf;
    uint32_t      id;
    const char   *text;
    llo_t_enc_t  *e;
    char          path[512], line[128], *p;

    e = llo_t_enc(_i);

    /* the built-in pattern is the package's, byte for byte */
    snprintf(path, sizeof(path), "%s/%s.pat", llo_t_data_dir(), e->name);
    ck_assert_msg(llo_t_read(path, &buf, &len) == 0, "%s: %s", path,
                  strerror(errno));
    ck_assert_str_eq((char *) buf, llo_tok_pattern(e->tok));
    free(buf);

    /* and so are the special tokens, in id order */
    snprintf(path, sizeof(path), "%s/%s.special", llo_t_data_dir(),
             e->name);
    ck_assert_msg(llo_t_read(path, &buf, &len) == 0, "%s: %s", path,
                  strerror(errno));

    n = llo_tok_nspecial(e->tok);
    p = (char *) buf;

    for (i = 0; i < n; i++) {
        text = llo_tok_special(e->tok, i, &id);
        ck_assert_ptr_nonnull(text);
        snprintf(line, sizeof(line), "%s %u\n", text, id);
        ck_assert_msg(strncmp(p, line, strlen(line)) == 0,
                      "special %zu: \"%s\" not in %s", i, line, path);
        p += strlen(line);
    }

    ck_assert_str_eq(p, "");
    ck_assert_ptr_null(llo_tok_special(e->tok, n, &id));
    ck_assert_str_eq(llo_tok_encoding(e->tok), e->name);

    free(buf);

    llo_t_note("%s: pcre2 %s\n", e->name,
               llo_tok_jit(e->tok) ? "JIT" : "interpreter");
}
END_TEST


/*
 * Every class the patterns use holds, at every code point, what it holds
 * in Unicode 16.0, the tables of tiktoken's Rust regex, whatever the
 * Unicode version of the PCRE2 we run with.
 */
START_TEST(test_unicode_classes)
{
    int                 n, ec, got;
    char                line[128], name[32], body[4096], pat[4200];
    char                ver[32];
    FILE               *f;
    size_t              eo, p, np, wrong;
    uint8_t             b[4], *want;
    uint32_t            lo, hi, cp;
    pcre2_code         *re;
    pcre2_match_data   *md;

    static const char  *props[] = { "L", "Lu", "Ll", "Lt", "Lm", "Lo", "M",
                                    "N", "White_Space" };

    snprintf(line, sizeof(line), "%s/ucd-16.txt", llo_t_data_dir());
    f = fopen(line, "r");
    ck_assert_msg(f != NULL, "%s: %s (make tok-data makes it)", line,
                  strerror(errno));

    np = sizeof(props) / sizeof(props[0]);
    want = calloc(np, LLO_T_UNICODE);
    ck_assert_ptr_nonnull(want);

    while (fgets(line, sizeof(line), f) != NULL) {
        if (line[0] == '#') {
            continue;
        }

        ck_assert_int_eq(sscanf(line, "%31s %x %x", name, &lo, &hi), 3);
        ck_assert_uint_lt(hi, LLO_T_UNICODE);

        for (p = 0; p < np; p++) {
            if (strcmp(name, props[p]) == 0) {
                memset(want + p * LLO_T_UNICODE + lo, 1, hi - lo + 1);
            }
        }
    }

    fclose(f);

    md = pcre2_match_data_create(1, NULL);
    pcre2_config(PCRE2_CONFIG_UNICODE_VERSION, ver);

    for (p = 0; p < np; p++) {
        n = llo_tok_class(props[p], body, sizeof(body));
        ck_assert_int_gt(n, 0);
        ck_assert_int_lt(n, (int) sizeof(body));
        snprintf(pat, sizeof(pat), "[%s]", body);

        re = pcre2_compile((PCRE2_SPTR) pat, PCRE2_ZERO_TERMINATED,
                           PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
        ck_assert_ptr_nonnull(re);
        (void) pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);

        wrong = 0;

        for (cp = 0; cp < LLO_T_UNICODE; cp += llo_t_quick ? 16 : 1) {
            if (cp >= 0xd800 && cp <= 0xdfff) {
                continue;
            }

            n = llo_t_utf8(cp, b);
            got = pcre2_match(re, b, (size_t) n, 0, PCRE2_ANCHORED, md, NULL)
                  > 0;

            if (got != want[p * LLO_T_UNICODE + cp] && wrong++ < 5) {
                fprintf(stderr, "U+%04X: %s \\p{%s} in Unicode 16.0, %s "
                        "here\n", cp, got ? "not" : "in", props[p],
                        got ? "in" : "not");
            }
        }

        pcre2_code_free(re);

        ck_assert_msg(wrong == 0, "\\p{%s}: %zu code points differ from "
                      "Unicode 16.0 (PCRE2 has Unicode %s: make tok-ucd)",
                      props[p], wrong, ver);
    }

    pcre2_match_data_free(md);
    free(want);
}
END_TEST


/* -- parity with tiktoken ------------------------------------------------ */

START_TEST(test_parity_ordinary)
{
    size_t        i;
    ssize_t       n;
    uint32_t     *ids;
    llo_t_vec_t  *v;
    llo_t_enc_t  *e;

    e = llo_t_enc(_i);
    llo_t_need_vectors(e, 0);

    for (i = 0; i < e->nvec; i++) {
        v = &e->vec[i];

        n = llo_tok_encode(e->tok, v->text, v->len, 0, &ids);
        ck_assert_int_ge(n, 0);
        llo_t_ids_equal("encode_ordinary", v->text, v->len, ids, (size_t) n,
                        v->ord, v->nord);
        free(ids);

        llo_t_check(llo_tok_count(e->tok, v->text, v->len) == v->nord,
                    "entry %zu: count %llu, tiktoken %zu", i,
                    (unsigned long long) llo_tok_count(e->tok, v->text,
                                                       v->len), v->nord);
    }

    ck_assert_uint_eq(llo_tok_inexact(e->tok), 0);
    llo_t_note("%s: %zu entries identical\n", e->name, e->nvec);
}
END_TEST


START_TEST(test_parity_special)
{
    size_t        i;
    ssize_t       n;
    uint32_t     *ids;
    llo_t_vec_t  *v;
    llo_t_enc_t  *e;

    e = llo_t_enc(_i);
    llo_t_need_vectors(e, 0);

    for (i = 0; i < e->nvec; i++) {
        v = &e->vec[i];

        n = llo_tok_encode(e->tok, v->text, v->len, 1, &ids);
        ck_assert_int_ge(n, 0);
        llo_t_ids_equal("encode all special", v->text, v->len, ids,
                        (size_t) n, v->all, v->nall);
        free(ids);
    }
}
END_TEST


START_TEST(test_parity_sweep)
{
    size_t        i;
    ssize_t       n;
    uint32_t     *ids;
    llo_t_vec_t  *v;
    llo_t_enc_t  *e;

    e = llo_t_enc(_i);
    llo_t_need_vectors(e, 1);

    for (i = 0; i < e->nsweep; i += llo_t_quick ? 16 : 1) {
        v = &e->sweep[i];

        n = llo_tok_encode(e->tok, v->text, v->len, 0, &ids);
        ck_assert_int_ge(n, 0);
        llo_t_ids_equal("code point sweep", v->text, v->len, ids,
                        (size_t) n, v->ord, v->nord);
        free(ids);
    }

    llo_t_note("%s: sweep of %zu entries identical\n", e->name, e->nsweep);
}
END_TEST


START_TEST(test_special_tokens)
{
    size_t        n;
    ssize_t       k;
    uint32_t     *ids, id;
    const char   *text;
    llo_t_enc_t  *e;

    e = llo_t_enc(_i);

    for (n = 0; (text = llo_tok_special(e->tok, n, &id)) != NULL; n++) {

        /* recognised: one id */
        k = llo_tok_encode(e->tok, (const uint8_t *) text, strlen(text), 1,
                           &ids);
        ck_assert_int_eq(k, 1);
        ck_assert_uint_eq(ids[0], id);
        free(ids);

        /* ordinary: text, never the special id */
        k = llo_tok_encode(e->tok, (const uint8_t *) text, strlen(text), 0,
                           &ids);
        ck_assert_int_gt(k, 1);

        while (k-- > 0) {
            ck_assert_uint_ne(ids[k], id);
        }

        free(ids);
        ck_assert_uint_gt(llo_tok_count(e->tok, (const uint8_t *) text,
                                        strlen(text)), 1);

        llo_t_round_trip(e->tok, (const uint8_t *) text, strlen(text));
    }

    ck_assert_uint_ge(n, 2);
}
END_TEST


/* -- encode, decode ------------------------------------------------------ */

START_TEST(test_empty)
{
    ssize_t       n;
    size_t        outlen;
    uint8_t      *out;
    uint32_t     *ids;
    llo_t_enc_t  *e;

    e = llo_t_enc(_i);

    ck_assert_uint_eq(llo_tok_count(e->tok, (const uint8_t *) "", 0), 0);

    n = llo_tok_encode(e->tok, (const uint8_t *) "", 0, 1, &ids);
    ck_assert_int_eq(n, 0);
    ck_assert_ptr_nonnull(ids);
    free(ids);

    ck_assert_int_eq(llo_tok_decode(e->tok, NULL, 0, &out, &outlen), 0);
    ck_assert_uint_eq(outlen, 0);
    free(out);
}
END_TEST


START_TEST(test_decode_errors)
{
    size_t        outlen;
    uint8_t      *out;
    uint32_t      bad[3];
    llo_t_enc_t  *e;

    e = llo_t_enc(_i);

    /* past the ranks but no special token; far out; UINT32_MAX */
    bad[0] = (_i == 0) ? 100256 : 199998;
    bad[1] = 1000000;
    bad[2] = UINT32_MAX;

    ck_assert_int_eq(llo_tok_decode(e->tok, &bad[0], 1, &out, &outlen), -1);
    ck_assert_int_eq(llo_tok_decode(e->tok, &bad[1], 1, &out, &outlen), -1);
    ck_assert_int_eq(llo_tok_decode(e->tok, &bad[2], 1, &out, &outlen), -1);
    ck_assert_ptr_null(out);
}
END_TEST


START_TEST(test_round_trip_corpus)
{
    size_t        i;
    llo_t_enc_t  *e;

    e = llo_t_enc(_i);
    llo_t_need_vectors(e, 0);

    for (i = 0; i < e->nvec; i++) {
        llo_t_round_trip(e->tok, e->vec[i].text, e->vec[i].len);
    }
}
END_TEST


START_TEST(test_invalid_utf8_fuzz)
{
    size_t        i, j, v, len, runs, ncuts, c, cuts[8];
    uint8_t       buf[4096];
    uint64_t      whole;
    llo_t_enc_t  *e;

    e = llo_t_enc(_i);
    llo_t_need_vectors(e, 0);

    llo_t_state = llo_t_seed ^ (uint64_t) (_i + 1);
    runs = llo_t_quick ? 2000 : 30000;

    for (i = 0; i < runs; i++) {
        len = llo_t_fuzz_text(e, buf, sizeof(buf));

        /* any bytes: ids that decode to exactly those bytes */
        llo_t_round_trip(e->tok, buf, len);

        /* and the stream agrees, cut anywhere, mid-character too */
        whole = llo_tok_count(e->tok, buf, len);
        ncuts = llo_t_rand() % 8;

        for (c = 0; c < ncuts; c++) {
            cuts[c] = len ? llo_t_rand() % (len + 1) : 0;
        }

        /* insertion sort: the cuts must ascend */
        for (c = 1; c < ncuts; c++) {
            for (v = cuts[c], j = c; j > 0 && cuts[j - 1] > v; j--) {
                cuts[j] = cuts[j - 1];
            }
            cuts[j] = v;
        }

        llo_t_check(llo_t_stream(e->tok, buf, len, cuts, ncuts,
                                 llo_t_rand() % 3 ? 0 : 64) == whole,
                    "fuzz case %zu (%zu bytes): stream differs", i, len);
    }

    ck_assert_uint_eq(llo_tok_inexact(e->tok), 0);
}
END_TEST


START_TEST(test_invalid_utf8_defined)
{
    ssize_t       n;
    uint32_t     *ids;
    llo_t_enc_t  *e;

    static const uint8_t  bad[] = "abc\xff" "def";
    static const uint8_t  cut[] = "abc\xe2\x80";

    e = llo_t_enc(_i);

    /* invalid bytes end a piece like the end of the text: "abc" and "def"
     * are encoded as they are alone, and the byte between is its own */
    n = llo_tok_encode(e->tok, bad, sizeof(bad) - 1, 0, &ids);
    ck_assert_int_eq(n, 3);
    ck_assert_uint_eq(llo_tok_count(e->tok, bad, 3), 1);
    free(ids);

    /* a character cut short is raw bytes */
    n = llo_tok_encode(e->tok, cut, sizeof(cut) - 1, 0, &ids);
    ck_assert_int_ge(n, 2);
    free(ids);

    llo_t_round_trip(e->tok, cut, sizeof(cut) - 1);
}
END_TEST


START_TEST(test_long_inputs)
{
    size_t        i, k, len;
    uint8_t      *buf;
    uint64_t      n;
    llo_t_enc_t  *e;

    static const char  *fill[] = { "a", " ", "\n", "7", "-", "\xe4\xb8\xad",
                                   "\xff", "ab ", " \n" };

    e = llo_t_enc(_i);

    /* one piece of a megabyte: merged in O(n log n) (about 0.2 s), split
     * without a PCRE2 error (no match limit is reached) */
    len = (llo_t_quick ? 256 : 1024) * 1024;
    buf = malloc(len);
    ck_assert_ptr_nonnull(buf);

    for (k = 0; k < sizeof(fill) / sizeof(fill[0]); k++) {
        for (i = 0; i < len; i++) {
            buf[i] = (uint8_t) fill[k][i % strlen(fill[k])];
        }

        n = llo_tok_count(e->tok, buf, len);
        ck_assert_uint_gt(n, 0);
        ck_assert_uint_lt(n, len + 1);
        llo_t_round_trip(e->tok, buf, len);
        llo_t_note("%s: %zu bytes of \"%s\": %llu tokens\n", e->name, len,
                   fill[k], (unsigned long long) n);
    }

    ck_assert_uint_eq(llo_tok_inexact(e->tok), 0);
    free(buf);

    /* over a megabyte a piece is merged in slices, and says so */
    len = 3 * 1024 * 1024 + 7;
    buf = malloc(len);
    ck_assert_ptr_nonnull(buf);
    memset(buf, 'a', len);

    ck_assert_uint_gt(llo_tok_count(e->tok, buf, len), 0);
    ck_assert_uint_eq(llo_tok_inexact(e->tok), 1);
    llo_t_round_trip(e->tok, buf, len);

    free(buf);
}
END_TEST


/* -- streaming ----------------------------------------------------------- */

START_TEST(test_stream_every_split)
{
    size_t        i, cut, step, splits;
    uint64_t      whole, got;
    llo_t_vec_t  *v;
    llo_t_enc_t  *e;

    e = llo_t_enc(_i);
    llo_t_need_vectors(e, 0);

    splits = 0;

    for (i = 0; i < e->nvec; i++) {
        v = &e->vec[i];
        whole = v->nord;
        step = (llo_t_quick && v->len > LLO_T_QUICK_FROM)
               ? LLO_T_QUICK_STRIDE : 1;

        for (cut = 0; cut <= v->len; cut += step) {
            got = llo_t_stream(e->tok, v->text, v->len, &cut, 1, 0);
            splits++;

            llo_t_check(got == whole, "entry %zu (%zu bytes) cut at %zu: "
                        "stream %llu, whole %llu", i, v->len, cut,
                        (unsigned long long) got,
                        (unsigned long long) whole);
        }
    }

    llo_t_note("%s: %zu single splits\n", e->name, splits);
}
END_TEST


/*
 * Every string of up to four symbols of an alphabet that has each class
 * the patterns tell apart, cut at every byte: the rule of the last two
 * pieces on every short configuration, not only on those in the corpus.
 */
START_TEST(test_stream_exhaustive)
{
    size_t        len, cut, k, d, n, runs;
    uint8_t       buf[64];
    uint64_t      whole, got;
    llo_t_enc_t  *e;
    size_t        sym[4];

    static const char  *alpha[] = {
        " ", "\n", "\r", "a", "B", "1", "'", "s", "!", "/",
        "\xc7\x85",                 /* U+01C5, Lt */
        "\xcc\x81",                 /* U+0301, a mark */
        "\xc2\xa0",                 /* U+00A0, a space */
        "\xe4\xb8\xad"              /* U+4E2D, Lo */
    };

    e = llo_t_enc(_i);

    n = sizeof(alpha) / sizeof(alpha[0]);
    runs = 0;

    for (d = 1; d <= (llo_t_quick ? 3 : 4); d++) {
        memset(sym, 0, sizeof(sym));

        for ( ;; ) {
            len = 0;

            for (k = 0; k < d; k++) {
                memcpy(buf + len, alpha[sym[k]], strlen(alpha[sym[k]]));
                len += strlen(alpha[sym[k]]);
            }

            whole = llo_tok_count(e->tok, buf, len);

            for (cut = 0; cut <= len; cut++) {
                got = llo_t_stream(e->tok, buf, len, &cut, 1, 0);
                runs++;

                llo_t_check(got == whole, "\"%.*s\" cut at %zu: stream "
                            "%llu, whole %llu", (int) len, buf, cut,
                            (unsigned long long) got,
                            (unsigned long long) whole);
            }

            /* the next string: count in base n */
            for (k = 0; k < d && ++sym[k] == n; k++) {
                sym[k] = 0;
            }

            if (k == d) {
                break;
            }
        }
    }

    llo_t_note("%s: %zu exhaustive stream runs\n", e->name, runs);
}
END_TEST


START_TEST(test_stream_random_cuts)
{
    size_t             r, runs, len, cap, ncuts, c, j, off, pick, hold;
    uint8_t           *buf;
    uint64_t           whole, got;
    llo_t_vec_t       *v;
    llo_t_enc_t       *e;
    llo_tok_stream_t  *st;
    size_t            *cuts;

    static const size_t  holds[] = { 0, 0, 1, 3, 16, 100, 4096, 1 << 20 };

    e = llo_t_enc(_i);
    llo_t_need_vectors(e, 0);

    llo_t_state = llo_t_seed ^ (uint64_t) (0x100 + _i);
    runs = llo_t_quick ? 300 : 4000;
    cap = 64 * 1024;
    buf = malloc(cap);
    cuts = malloc(cap * sizeof(size_t));
    ck_assert_ptr_nonnull(buf);
    ck_assert_ptr_nonnull(cuts);

    /* one stream for all runs: finish() leaves it ready for the next */
    st = NULL;

    for (r = 0; r < runs; r++) {

        /* one to five entries back to back */
        len = 0;

        for (pick = 1 + llo_t_rand() % 5; pick > 0; pick--) {
            v = &e->vec[llo_t_rand() % e->nvec];

            if (len + v->len > cap) {
                break;
            }

            memcpy(buf + len, v->text, v->len);
            len += v->len;
        }

        /* cut into random pieces, or byte by byte */
        if (llo_t_rand() % 8 == 0) {
            ncuts = len ? len - 1 : 0;

            for (c = 0; c < ncuts; c++) {
                cuts[c] = c + 1;
            }

        } else {
            ncuts = llo_t_rand() % 40;
            off = 0;

            for (c = 0; c < ncuts; c++) {
                off += (len - off) ? llo_t_rand() % (len - off + 1) / 2 : 0;
                cuts[c] = off;
            }
        }

        whole = llo_tok_count(e->tok, buf, len);
        hold = holds[llo_t_rand() % (sizeof(holds) / sizeof(holds[0]))];

        if (st == NULL || llo_t_rand() % 2) {
            llo_tok_stream_destroy(st);
            st = llo_tok_stream_create(e->tok, hold);
            ck_assert_ptr_nonnull(st);
        }

        off = 0;

        for (j = 0; j < ncuts; j++) {
            llo_tok_stream_feed(st, buf + off, cuts[j] - off);
            off = cuts[j];
        }

        llo_tok_stream_feed(st, buf + off, len - off);
        got = llo_tok_stream_finish(st);

        llo_t_check(got == whole, "run %zu (%zu bytes, %zu cuts): stream "
                    "%llu, whole %llu", r, len, ncuts,
                    (unsigned long long) got, (unsigned long long) whole);
        llo_t_check(!llo_tok_stream_inexact(st), "run %zu inexact", r);
        llo_t_check(llo_tok_stream_held(st) == 0, "finish left bytes");
    }

    llo_tok_stream_destroy(st);
    free(cuts);
    free(buf);
}
END_TEST


START_TEST(test_stream_hold)
{
    size_t             i;
    llo_t_enc_t       *e;
    llo_tok_stream_t  *st;

    static const char  text[] = "The quick brown fox jumps over the lazy "
                                "dog. ";

    e = llo_t_enc(_i);

    /* under hold: nothing tokenized, everything kept */
    st = llo_tok_stream_create(e->tok, 4096);
    ck_assert_ptr_nonnull(st);

    for (i = 0; i < 40; i++) {
        llo_tok_stream_feed(st, (const uint8_t *) text, sizeof(text) - 1);
    }

    ck_assert_uint_eq(llo_tok_stream_held(st), 40 * (sizeof(text) - 1));

    /* over it: what is final goes, a few bytes stay */
    for (i = 0; i < 100; i++) {
        llo_tok_stream_feed(st, (const uint8_t *) text, sizeof(text) - 1);
    }

    ck_assert_uint_le(llo_tok_stream_held(st), 4096 + sizeof(text));

    /* usage arrived: dropped without counting */
    llo_tok_stream_destroy(st);

    /* hold 0: after each delta at most the last pieces are held */
    st = llo_tok_stream_create(e->tok, 0);
    ck_assert_ptr_nonnull(st);

    for (i = 0; i < 1000; i++) {
        llo_tok_stream_feed(st, (const uint8_t *) text + i % 10, 3);
        ck_assert_uint_lt(llo_tok_stream_held(st), 64);
    }

    llo_tok_stream_finish(st);
    ck_assert_uint_eq(llo_tok_stream_held(st), 0);
    llo_tok_stream_destroy(st);
}
END_TEST


START_TEST(test_stream_cap)
{
    size_t             i, len, max;
    uint8_t           *buf;
    uint64_t           whole, got;
    llo_t_enc_t       *e;
    llo_tok_stream_t  *st;

    e = llo_t_enc(_i);

    /* 256 KiB of letters is one piece: with a 16 KiB cap it is counted in
     * slices, memory stays near the cap, and the flag says so */
    len = 256 * 1024;
    buf = malloc(len);
    ck_assert_ptr_nonnull(buf);

    for (i = 0; i < len; i++) {
        buf[i] = (uint8_t) "abcdefghijklmnop"[(i * 7 + i / 13) % 16];
    }

    whole = llo_tok_count(e->tok, buf, len);

    st = llo_tok_stream_create(e->tok, 0);
    ck_assert_ptr_nonnull(st);
    llo_tok_stream_set_cap(st, 16 * 1024);

    max = 0;

    for (i = 0; i < len; i += 100) {
        llo_tok_stream_feed(st, buf + i, len - i < 100 ? len - i : 100);

        if (llo_tok_stream_held(st) > max) {
            max = llo_tok_stream_held(st);
        }
    }

    got = llo_tok_stream_finish(st);

    ck_assert(llo_tok_stream_inexact(st));
    ck_assert_uint_le(max, 2 * 16 * 1024 + 200);

    /* a cut costs at most a token or two */
    ck_assert_uint_le(got > whole ? got - whole : whole - got, 2 * 16 + 2);
    llo_t_note("%s: capped stream %llu, whole %llu, held at most %zu\n",
               e->name, (unsigned long long) got,
               (unsigned long long) whole, max);

    /* the flag goes with the next text */
    llo_tok_stream_feed(st, (const uint8_t *) "ok", 2);
    ck_assert(!llo_tok_stream_inexact(st));
    ck_assert_uint_eq(llo_tok_stream_finish(st), 1);

    llo_tok_stream_destroy(st);
    free(buf);
}
END_TEST


/* -- loading ------------------------------------------------------------- */

START_TEST(test_load_errors)
{
    int           lines;
    size_t        len, i, cut;
    uint8_t      *buf, *copy;
    char          path[512], real[512], where[600];

    snprintf(real, sizeof(real), "%s/cl100k_base.tiktoken",
             llo_t_data_dir());
    ck_assert_msg(llo_t_read(real, &buf, &len) == 0, "%s: %s", real,
                  strerror(errno));

    snprintf(path, sizeof(path), "%s/bad.tiktoken", llo_t_dir);

#define llo_t_case(content, line, what)                                      \
    llo_t_write(path, content, sizeof(content) - 1);                         \
    snprintf(where, sizeof(where), "%s:%d", path, line);                     \
    llo_t_expect_load_error("cl100k_base", path, where, what)

    llo_t_case("IQ== 0\nIg== 1\n!!!! 2\n", 3, "bad base64 \"!!!!\"");
    llo_t_case("IQ== 0\nIg== 1\nIw 2\n", 3, "bad base64");
    llo_t_case("IQ== 0\nIR== 1\n", 2, "bad base64");
    llo_t_case("IQ== 0\nIg== x1\n", 2, "rank \"x1\" is not a number");
    llo_t_case("IQ== 0\nIg== \n", 2, "is not a number");
    llo_t_case("IQ== 0\nIg== 99999999999\n", 2, "is not a number");
    llo_t_case("IQ==\n", 1, "missing rank");
    llo_t_case("IQ== 0\nIg== 0\n", 2, "duplicate rank 0");
    llo_t_case("IQ== 0\nIg== 2\n", 2, "rank 2 out of order");
    llo_t_case("IQ== 0\nIQ== 1\n", 2, "duplicate token");
    llo_t_case("IQ== 0\nIg== 1", 2, "no newline");
    llo_t_case("", 1, "after 0 tokens");

    /* the real file cut mid-line and at a line end */
    copy = malloc(len + 8);
    ck_assert_ptr_nonnull(copy);

    cut = len / 2;
    lines = 0;

    for (i = 0; i < cut; i++) {
        lines += (buf[i] == '\n');
    }

    while (buf[cut - 1] == '\n') {
        cut--;
    }

    llo_t_write(path, buf, cut);
    snprintf(where, sizeof(where), "%s:%d", path, lines + 1);
    llo_t_expect_load_error("cl100k_base", path, where, "no newline");

    for (i = 0, lines = 0; lines < 1000; i++) {
        lines += (buf[i] == '\n');
    }

    llo_t_write(path, buf, i);
    snprintf(where, sizeof(where), "%s:1001", path);
    llo_t_expect_load_error("cl100k_base", path, where,
                            "after 1000 tokens (cl100k_base has 100256)");

    /* no token for the byte '!': line 1, "IQ== 0", becomes bytes 0-8 */
    ck_assert(memcmp(buf, "IQ== 0\n", 7) == 0);
    memcpy(copy, "AAECAwQFBgcI 0\n", 15);
    memcpy(copy + 15, buf + 7, len - 7);
    llo_t_write(path, copy, len + 8);
    snprintf(where, sizeof(where), "%s", path);
    llo_t_expect_load_error("cl100k_base", path, where,
                            "byte 0x21 has no token");

    /* the other encoding's file, and an unknown encoding */
    snprintf(where, sizeof(where), "%s:100257", real);
    llo_t_expect_load_error("o200k_base", real, where, "unexpected end of "
                            "file after 100256 tokens (o200k_base has "
                            "199998)");

    snprintf(path, sizeof(path), "%s/o200k_base.tiktoken", llo_t_data_dir());
    snprintf(where, sizeof(where), "%s:100257", path);
    llo_t_expect_load_error("cl100k_base", path, where,
                            "more than the 100256 tokens of cl100k_base");

    llo_t_expect_load_error("p50k_base", real, real, "unknown encoding");

    snprintf(path, sizeof(path), "%s/missing.tiktoken", llo_t_dir);
    llo_t_expect_load_error("cl100k_base", path, path,
                            "No such file or directory");
    llo_t_expect_load_error("cl100k_base", llo_t_dir, llo_t_dir,
                            "not a regular file");

#undef llo_t_case

    free(copy);
    free(buf);
}
END_TEST


START_TEST(test_heap_merge)
{
    size_t        i;
    ssize_t       n;
    uint32_t     *ids;
    llo_t_vec_t  *v;
    llo_t_enc_t  *e;

    e = llo_t_enc(_i);
    llo_t_need_vectors(e, 0);

    /* the merge of long pieces gives the ids of tiktoken's on short ones */
    llo_tok_set_small(e->tok, 2);

    for (i = 0; i < e->nvec; i++) {
        v = &e->vec[i];

        n = llo_tok_encode(e->tok, v->text, v->len, 1, &ids);
        ck_assert_int_ge(n, 0);
        llo_t_ids_equal("heap merge", v->text, v->len, ids, (size_t) n,
                        v->all, v->nall);
        free(ids);
    }
}
END_TEST


START_TEST(test_interpreter)
{
    size_t        i;
    ssize_t       n;
    uint32_t     *ids;
    llo_t_vec_t  *v;
    llo_t_enc_t  *e;

    e = llo_t_enc(_i);
    llo_t_need_vectors(e, 0);

    /* what runs where PCRE2 has no JIT gives the same ids */
    llo_tok_set_jit(e->tok, 0);
    ck_assert_int_eq(llo_tok_jit(e->tok), 0);

    for (i = 0; i < e->nvec; i++) {
        v = &e->vec[i];

        n = llo_tok_encode(e->tok, v->text, v->len, 1, &ids);
        ck_assert_int_ge(n, 0);
        llo_t_ids_equal("interpreter", v->text, v->len, ids, (size_t) n,
                        v->all, v->nall);
        free(ids);
    }
}
END_TEST


int
main(void)
{
    int           failed, i;
    const char   *s;
    char          path[512];
    Suite        *su;
    TCase        *tc;
    DIR          *d;
    llo_t_enc_t  *e;

    s = getenv("LLO_TEST_QUICK");
    llo_t_quick = (s != NULL && strcmp(s, "1") == 0);

    s = getenv("LLO_TEST_SEED");
    if (s != NULL) {
        llo_t_seed = strtoull(s, NULL, 0) | 1;
    }

    llo_t_note("seed %llu\n", (unsigned long long) llo_t_seed);

    strcpy(llo_t_dir, "/tmp/llo-test-tok.XXXXXX");

    if (mkdtemp(llo_t_dir) == NULL) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }

    /* loaded once: every test's process inherits them, as nginx workers
     * inherit the master's */
    for (i = 0; i < LLO_T_NENC; i++) {
        e = &llo_t_encs[i];

        snprintf(path, sizeof(path), "%s/%s.tiktoken", llo_t_data_dir(),
                 e->name);
        e->tok = llo_tok_load(e->name, path, e->err, sizeof(e->err));

        snprintf(path, sizeof(path), "%s/vectors-%s.txt", llo_t_data_dir(),
                 e->name);
        (void) llo_t_load_vectors(path, &e->vec, &e->nvec, e->vec_err,
                                  sizeof(e->vec_err));

        snprintf(path, sizeof(path), "%s/vectors-%s-sweep.txt",
                 llo_t_data_dir(), e->name);
        (void) llo_t_load_vectors(path, &e->sweep, &e->nsweep, e->sweep_err,
                                  sizeof(e->sweep_err));
    }

    su = suite_create("tok");

    tc = tcase_create("tiktoken");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_pattern_and_specials, 0, LLO_T_NENC);
    tcase_add_loop_test(tc, test_parity_ordinary, 0, LLO_T_NENC);
    tcase_add_loop_test(tc, test_parity_special, 0, LLO_T_NENC);
    tcase_add_loop_test(tc, test_parity_sweep, 0, LLO_T_NENC);
    tcase_add_loop_test(tc, test_special_tokens, 0, LLO_T_NENC);
    tcase_add_loop_test(tc, test_interpreter, 0, LLO_T_NENC);
    tcase_add_loop_test(tc, test_heap_merge, 0, LLO_T_NENC);
    tcase_add_test(tc, test_unicode_classes);
    suite_add_tcase(su, tc);

    tc = tcase_create("bytes");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_empty, 0, LLO_T_NENC);
    tcase_add_loop_test(tc, test_decode_errors, 0, LLO_T_NENC);
    tcase_add_loop_test(tc, test_round_trip_corpus, 0, LLO_T_NENC);
    tcase_add_loop_test(tc, test_invalid_utf8_defined, 0, LLO_T_NENC);
    tcase_add_loop_test(tc, test_invalid_utf8_fuzz, 0, LLO_T_NENC);
    tcase_add_loop_test(tc, test_long_inputs, 0, LLO_T_NENC);
    suite_add_tcase(su, tc);

    tc = tcase_create("stream");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_stream_every_split, 0, LLO_T_NENC);
    tcase_add_loop_test(tc, test_stream_exhaustive, 0, LLO_T_NENC);
    tcase_add_loop_test(tc, test_stream_random_cuts, 0, LLO_T_NENC);
    tcase_add_loop_test(tc, test_stream_hold, 0, LLO_T_NENC);
    tcase_add_loop_test(tc, test_stream_cap, 0, LLO_T_NENC);
    suite_add_tcase(su, tc);

    tc = tcase_create("load");
    tcase_add_test(tc, test_load_errors);
    suite_add_tcase(su, tc);

    failed = llo_t_run_suite(su);

    for (i = 0; i < LLO_T_NENC; i++) {
        e = &llo_t_encs[i];
        llo_tok_free(e->tok);
        llo_t_free_vectors(e->vec, e->nvec);
        llo_t_free_vectors(e->sweep, e->nsweep);
    }

    snprintf(path, sizeof(path), "%s/bad.tiktoken", llo_t_dir);
    (void) unlink(path);

    d = opendir(llo_t_dir);
    if (d != NULL) {
        closedir(d);
        (void) rmdir(llo_t_dir);
    }

    return llo_t_exit(failed);
}
