/*
 * Unit tests for the record encoding (llo_record.c): what the module
 * appends to the ring and the evaluator decodes.
 */

#include <check.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "llo_record.h"


#define LLO_T_ERRLEN  256


static void llo_t_fill_all(llo_rec_t *rec);
static void llo_t_assert_equal(const llo_rec_t *a, const llo_rec_t *b);
static uint8_t *llo_t_put(uint8_t *p, int id, const void *v, uint32_t len);


/* strings with NUL and high bytes, so nothing relies on C strings */
static const char  llo_t_bin[] = "a\0b\xff\x80z";


static void
llo_t_fill_all(llo_rec_t *rec)
{
    int          i;
    static char  text[LLO_STR_MAX][32];

    memset(rec, 0, sizeof(llo_rec_t));

    for (i = 0; i < LLO_NUM_MAX; i++) {
        llo_rec_num(rec, i, (int64_t) (i + 1) * -1000003LL);
    }

    /* the extremes and zero survive the round trip */
    llo_rec_num(rec, LLO_N_TS_US, INT64_MAX);
    llo_rec_num(rec, LLO_N_LATENCY_US, INT64_MIN);
    llo_rec_num(rec, LLO_N_STREAM, 0);
    llo_rec_num(rec, LLO_N_FLAGS, LLO_FLAG_PROMPT_TRUNC | LLO_FLAG_GZIP);

    for (i = 0; i < LLO_STR_MAX; i++) {
        snprintf(text[i], sizeof(text[i]), "value of string %d", i);
        llo_rec_str(rec, LLO_STR_BASE + i, text[i], strlen(text[i]));
    }

    llo_rec_str(rec, LLO_S_PROMPT_TEXT, llo_t_bin, sizeof(llo_t_bin));
}


static void
llo_t_assert_equal(const llo_rec_t *a, const llo_rec_t *b)
{
    int               i;
    const llo_str_t  *sa, *sb;

    ck_assert_uint_eq(a->num_set, b->num_set);
    ck_assert_uint_eq(a->str_set, b->str_set);

    for (i = 0; i < LLO_NUM_MAX; i++) {
        if (llo_rec_has_num(a, i)) {
            ck_assert_msg(a->num[i] == b->num[i],
                          "number %s: %lld != %lld", llo_field_name(i),
                          (long long) a->num[i], (long long) b->num[i]);
        }
    }

    for (i = LLO_STR_BASE; i < LLO_STR_END; i++) {
        if (!llo_rec_has_str(a, i)) {
            continue;
        }

        sa = llo_rec_get_str(a, i);
        sb = llo_rec_get_str(b, i);

        ck_assert_msg(sa->len == sb->len, "string %s: length %u != %u",
                      llo_field_name(i), sa->len, sb->len);
        ck_assert_msg(sa->len == 0 || memcmp(sa->data, sb->data, sa->len) == 0,
                      "string %s differs", llo_field_name(i));
    }
}


/* a field written by hand, to build inputs the encoder never produces */

static uint8_t *
llo_t_put(uint8_t *p, int id, const void *v, uint32_t len)
{
    *p++ = (uint8_t) id;
    *p++ = (uint8_t) len;
    *p++ = (uint8_t) (len >> 8);
    *p++ = (uint8_t) (len >> 16);
    *p++ = (uint8_t) (len >> 24);

    memcpy(p, v, len);

    return p + len;
}


START_TEST(test_round_trip_all_fields)
{
    size_t     size, n;
    uint8_t   *buf, *again;
    llo_rec_t  in, out, out2;
    char       err[LLO_T_ERRLEN];

    llo_t_fill_all(&in);

    ck_assert_uint_eq(in.num_set, (1ULL << LLO_NUM_MAX) - 1);
    ck_assert_uint_eq(in.str_set, (1ULL << LLO_STR_MAX) - 1);

    size = llo_rec_size(&in);
    buf = malloc(size);
    ck_assert_ptr_nonnull(buf);

    n = llo_rec_encode(&in, buf);
    ck_assert_uint_eq(n, size);

    err[0] = '\0';
    ck_assert_msg(llo_rec_decode(&out, buf, n, err, sizeof(err)) == 0,
                  "decode failed: %s", err);
    llo_t_assert_equal(&in, &out);

    /* strings point into the buffer, not copies */
    ck_assert(llo_rec_get_str(&out, LLO_S_HOST)->data >= (char *) buf);
    ck_assert(llo_rec_get_str(&out, LLO_S_HOST)->data < (char *) buf + n);

    /* re-encoding what was decoded gives the same bytes */
    again = malloc(size);
    ck_assert_ptr_nonnull(again);
    ck_assert_uint_eq(llo_rec_encode(&out, again), n);
    ck_assert_mem_eq(again, buf, n);

    /* decoding over a used record forgets what it held */
    out2 = out;
    ck_assert_int_eq(llo_rec_decode(&out2, buf, 0, err, sizeof(err)), 0);
    ck_assert_uint_eq(out2.num_set, 0);
    ck_assert_uint_eq(out2.str_set, 0);

    free(again);
    free(buf);
}
END_TEST


START_TEST(test_each_field_alone)
{
    int        id, other;
    size_t     n;
    uint8_t    buf[64];
    llo_rec_t  in, out;
    char       err[LLO_T_ERRLEN];

    /* every field on its own: the ids do not overlap and the others stay
     * absent (NULL in the database, not 0 or "") */

    for (id = 0; id < LLO_STR_END; id++) {
        if (id >= LLO_NUM_MAX && id < LLO_STR_BASE) {
            continue;
        }

        memset(&in, 0, sizeof(llo_rec_t));

        if (id < LLO_NUM_MAX) {
            llo_rec_num(&in, id, -1 - id);

        } else {
            llo_rec_str(&in, id, "xyz", 3);
        }

        n = llo_rec_encode(&in, buf);
        ck_assert_uint_eq(n, llo_rec_size(&in));
        ck_assert_uint_eq(n, id < LLO_NUM_MAX ? 5 + 8 : 5 + 3);
        ck_assert_uint_eq(buf[0], id);

        ck_assert_int_eq(llo_rec_decode(&out, buf, n, err, sizeof(err)), 0);
        llo_t_assert_equal(&in, &out);

        for (other = 0; other < LLO_STR_END; other++) {
            if (other == id) {
                continue;
            }

            if (other < LLO_NUM_MAX) {
                ck_assert_msg(!llo_rec_has_num(&out, other),
                              "%s present with only %s set",
                              llo_field_name(other), llo_field_name(id));

            } else if (other >= LLO_STR_BASE) {
                ck_assert_msg(!llo_rec_has_str(&out, other),
                              "%s present with only %s set",
                              llo_field_name(other), llo_field_name(id));
            }
        }
    }
}
END_TEST


START_TEST(test_absent_fields)
{
    size_t     n;
    uint8_t    buf[256];
    llo_rec_t  in, out;
    char       err[LLO_T_ERRLEN];

    memset(&in, 0, sizeof(llo_rec_t));

    ck_assert_uint_eq(llo_rec_size(&in), 0);
    ck_assert_uint_eq(llo_rec_encode(&in, buf), 0);
    ck_assert_int_eq(llo_rec_decode(&out, buf, 0, err, sizeof(err)), 0);
    ck_assert_uint_eq(out.num_set, 0);
    ck_assert_uint_eq(out.str_set, 0);

    llo_rec_num(&in, LLO_N_KIND, LLO_KIND_CALL);
    llo_rec_num(&in, LLO_N_COMPLETION_TOKENS, 0);
    llo_rec_str(&in, LLO_S_PROVIDER, "openai", 6);

    n = llo_rec_encode(&in, buf);
    ck_assert_uint_eq(n, 13 + 13 + 11);
    ck_assert_int_eq(llo_rec_decode(&out, buf, n, err, sizeof(err)), 0);

    ck_assert(llo_rec_has_num(&out, LLO_N_KIND));
    ck_assert_int_eq(out.num[LLO_N_KIND], LLO_KIND_CALL);

    /* a zero is present, which is not the same as absent */
    ck_assert(llo_rec_has_num(&out, LLO_N_COMPLETION_TOKENS));
    ck_assert_int_eq(out.num[LLO_N_COMPLETION_TOKENS], 0);

    ck_assert(!llo_rec_has_num(&out, LLO_N_PROMPT_TOKENS));
    ck_assert(!llo_rec_has_num(&out, LLO_N_UPSTREAM_STATUS));
    ck_assert(!llo_rec_has_str(&out, LLO_S_REQUEST_ID));
    ck_assert(!llo_rec_has_str(&out, LLO_S_RESPONSE_ID));

    ck_assert(llo_rec_has_str(&out, LLO_S_PROVIDER));
    ck_assert_uint_eq(llo_rec_get_str(&out, LLO_S_PROVIDER)->len, 6);
    ck_assert_mem_eq(llo_rec_get_str(&out, LLO_S_PROVIDER)->data, "openai",
                     6);

    ck_assert_uint_eq(out.num_set,
                      (1ULL << LLO_N_KIND) | (1ULL << LLO_N_COMPLETION_TOKENS));
    ck_assert_uint_eq(out.str_set, 1ULL << (LLO_S_PROVIDER - LLO_STR_BASE));
}
END_TEST


START_TEST(test_unknown_ids_skipped)
{
    int64_t    v;
    size_t     n;
    uint8_t    buf[512], *p, le[8];
    llo_rec_t  out;
    char       err[LLO_T_ERRLEN];

    /* a newer module may send fields this evaluator does not know: ids
     * between the number and string ranges, after the strings, any
     * length, including lengths a number could never have */

    v = 42;
    memcpy(le, &v, 8);

    p = buf;
    p = llo_t_put(p, LLO_NUM_MAX, "abc", 3);
    p = llo_t_put(p, LLO_N_STATUS, le, 8);
    p = llo_t_put(p, LLO_STR_BASE - 1, "", 0);
    p = llo_t_put(p, 40, "0123456789abcdef0123", 20);
    p = llo_t_put(p, LLO_S_HOST, "example.com", 11);
    p = llo_t_put(p, LLO_STR_END, "future", 6);
    p = llo_t_put(p, 200, le, 8);
    p = llo_t_put(p, 255, "z", 1);
    n = (size_t) (p - buf);

    err[0] = '\0';
    ck_assert_msg(llo_rec_decode(&out, buf, n, err, sizeof(err)) == 0,
                  "decode failed: %s", err);

    ck_assert_uint_eq(out.num_set, 1ULL << LLO_N_STATUS);
    ck_assert_int_eq(out.num[LLO_N_STATUS], 42);
    ck_assert_uint_eq(out.str_set, 1ULL << (LLO_S_HOST - LLO_STR_BASE));
    ck_assert_uint_eq(llo_rec_get_str(&out, LLO_S_HOST)->len, 11);
    ck_assert_mem_eq(llo_rec_get_str(&out, LLO_S_HOST)->data, "example.com",
                     11);
}
END_TEST


START_TEST(test_truncated)
{
    char       err[LLO_T_ERRLEN], want[64];
    size_t     n, len, start, bounds[LLO_NUM_MAX + LLO_STR_MAX + 1];
    uint8_t   *buf;
    uint32_t   flen;
    llo_rec_t  in, out;
    int        nb, k;

    /* every prefix of a valid record: one that ends between fields is a
     * valid shorter record; one that cuts a field fails and names the
     * byte offset where the cut field starts */

    llo_t_fill_all(&in);

    n = llo_rec_size(&in);
    buf = malloc(n);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(llo_rec_encode(&in, buf), n);

    nb = 0;
    start = 0;

    while (start < n) {
        bounds[nb++] = start;
        flen = (uint32_t) buf[start + 1] | (uint32_t) buf[start + 2] << 8
               | (uint32_t) buf[start + 3] << 16
               | (uint32_t) buf[start + 4] << 24;
        start += 5 + flen;
    }

    ck_assert_uint_eq(start, n);
    ck_assert_int_eq(nb, LLO_NUM_MAX + LLO_STR_MAX);
    bounds[nb] = n;

    k = 0;

    for (len = 0; len < n; len++) {
        while (bounds[k + 1] <= len) {
            k++;
        }

        strcpy(err, "(untouched)");

        if (len == bounds[k]) {
            ck_assert_msg(llo_rec_decode(&out, buf, len, err, sizeof(err))
                          == 0, "prefix %zu: %s", len, err);
            continue;
        }

        ck_assert_msg(llo_rec_decode(&out, buf, len, err, sizeof(err)) == -1,
                      "prefix %zu of %zu decoded", len, n);

        snprintf(want, sizeof(want), "at byte %zu ", bounds[k]);
        ck_assert_msg(strstr(err, want) != NULL,
                      "prefix %zu: \"%s\" does not say \"%s\"", len, err,
                      want);
    }

    free(buf);
}
END_TEST


START_TEST(test_malformed)
{
    size_t     n;
    uint8_t    buf[64], *p;
    llo_rec_t  out;
    char       err[LLO_T_ERRLEN];

    /* a number must be 8 bytes */
    p = llo_t_put(buf, LLO_N_KIND, "\1\0\0\0\0\0\0\0", 8);
    p = llo_t_put(p, LLO_N_STATUS, "\310\0\0\0", 4);
    n = (size_t) (p - buf);

    ck_assert_int_eq(llo_rec_decode(&out, buf, n, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "at byte 13 ") != NULL
                  && strstr(err, "length 4") != NULL, "%s", err);

    /* a length far past the end, with the top bit set */
    buf[0] = LLO_S_HOST;
    buf[1] = 0xff;
    buf[2] = 0xff;
    buf[3] = 0xff;
    buf[4] = 0xff;
    memset(buf + 5, 'x', 10);

    ck_assert_int_eq(llo_rec_decode(&out, buf, 15, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "at byte 0 ") != NULL
                  && strstr(err, "4294967295") != NULL, "%s", err);

    /* the error message is cut to errlen, and still terminated */
    memset(err, 'Q', sizeof(err));
    ck_assert_int_eq(llo_rec_decode(&out, buf, 15, err, 8), -1);
    ck_assert_uint_eq(strlen(err), 7);
}
END_TEST


START_TEST(test_zero_length_strings)
{
    size_t     n;
    uint8_t    buf[64];
    llo_rec_t  in, out;
    char       err[LLO_T_ERRLEN];

    /* an empty string is present and empty, not absent; it may come
     * with a NULL pointer (an empty ngx_str_t) */

    memset(&in, 0, sizeof(llo_rec_t));
    llo_rec_str(&in, LLO_S_FINISH_REASON, "", 0);
    llo_rec_str(&in, LLO_S_RESPONSE_TEXT, NULL, 0);
    llo_rec_str(&in, LLO_S_ERROR_TYPE, "e", 1);

    ck_assert_uint_eq(llo_rec_size(&in), 5 + 5 + 6);

    n = llo_rec_encode(&in, buf);
    ck_assert_uint_eq(n, 16);

    ck_assert_int_eq(llo_rec_decode(&out, buf, n, err, sizeof(err)), 0);
    ck_assert(llo_rec_has_str(&out, LLO_S_FINISH_REASON));
    ck_assert_uint_eq(llo_rec_get_str(&out, LLO_S_FINISH_REASON)->len, 0);
    ck_assert(llo_rec_has_str(&out, LLO_S_RESPONSE_TEXT));
    ck_assert_uint_eq(llo_rec_get_str(&out, LLO_S_RESPONSE_TEXT)->len, 0);
    ck_assert(llo_rec_has_str(&out, LLO_S_ERROR_TYPE));
    ck_assert_uint_eq(llo_rec_get_str(&out, LLO_S_ERROR_TYPE)->len, 1);
    ck_assert(!llo_rec_has_str(&out, LLO_S_PROMPT_TEXT));

    /* a zero-length field as the last bytes of the buffer */
    memset(&in, 0, sizeof(llo_rec_t));
    llo_rec_str(&in, LLO_S_RESPONSE_ID, "", 0);
    n = llo_rec_encode(&in, buf);
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(llo_rec_decode(&out, buf, n, err, sizeof(err)), 0);
    ck_assert(llo_rec_has_str(&out, LLO_S_RESPONSE_ID));
}
END_TEST


START_TEST(test_rec_str_bounds)
{
    llo_rec_t  rec;

    memset(&rec, 0, sizeof(llo_rec_t));

    /* ids outside the string range are ignored, not written elsewhere */
    llo_rec_str(&rec, LLO_N_KIND, "x", 1);
    llo_rec_str(&rec, LLO_STR_BASE - 1, "x", 1);
    llo_rec_str(&rec, LLO_STR_END, "x", 1);
    llo_rec_str(&rec, -1, "x", 1);
    ck_assert_uint_eq(rec.str_set, 0);
    ck_assert_uint_eq(rec.num_set, 0);
    ck_assert_uint_eq(llo_rec_size(&rec), 0);

#if SIZE_MAX > UINT32_MAX
    /* a length that does not fit the u32 on the wire is clamped */
    llo_rec_str(&rec, LLO_S_PROMPT_TEXT, llo_t_bin,
                (size_t) UINT32_MAX + 100);
    ck_assert_uint_eq(llo_rec_get_str(&rec, LLO_S_PROMPT_TEXT)->len,
                      UINT32_MAX);
    ck_assert_uint_eq(llo_rec_size(&rec), 5 + (size_t) UINT32_MAX);
#endif
}
END_TEST


START_TEST(test_field_name)
{
    int          i, j;
    const char  *name, *s;

    ck_assert_str_eq(llo_field_name(LLO_N_KIND), "kind");
    ck_assert_str_eq(llo_field_name(LLO_N_PROMPT_TOKENS), "prompt_tokens");
    ck_assert_str_eq(llo_field_name(LLO_N_UPSTREAM_STATUS),
                     "upstream_status");
    ck_assert_str_eq(llo_field_name(LLO_S_REQUEST_ID), "request_id");
    ck_assert_str_eq(llo_field_name(LLO_S_PROMPT_TEXT), "prompt_text");
    ck_assert_str_eq(llo_field_name(LLO_S_RESPONSE_ID), "response_id");

    ck_assert_ptr_null(llo_field_name(-1));
    ck_assert_ptr_null(llo_field_name(LLO_NUM_MAX));
    ck_assert_ptr_null(llo_field_name(LLO_STR_BASE - 1));
    ck_assert_ptr_null(llo_field_name(LLO_STR_END));
    ck_assert_ptr_null(llo_field_name(255));
    ck_assert_ptr_null(llo_field_name(100000));

    /* every known id has a name usable as a column: lowercase,
     * non-empty, and no two alike */

    for (i = 0; i < LLO_STR_END; i++) {
        if (i >= LLO_NUM_MAX && i < LLO_STR_BASE) {
            continue;
        }

        name = llo_field_name(i);
        ck_assert_msg(name != NULL, "field %d has no name", i);
        ck_assert_msg(name[0] >= 'a' && name[0] <= 'z', "field %d: \"%s\"",
                      i, name);

        for (s = name; *s; s++) {
            ck_assert_msg((*s >= 'a' && *s <= 'z') || *s == '_'
                          || (*s >= '0' && *s <= '9'),
                          "field %d: \"%s\"", i, name);
        }

        for (j = 0; j < i; j++) {
            if (j >= LLO_NUM_MAX && j < LLO_STR_BASE) {
                continue;
            }

            ck_assert_msg(strcmp(name, llo_field_name(j)) != 0,
                          "fields %d and %d are both \"%s\"", j, i, name);
        }
    }
}
END_TEST


/* -- the field table against sql/ ------------------------------------------ */


#define LLO_T_SQL_COLS  128

typedef struct {
    char                name[64];
    char                type[64];
    char                where[128];     /* file:line */
} llo_t_sql_col_t;


static llo_t_sql_col_t  llo_t_sql[LLO_T_SQL_COLS];
static int              llo_t_nsql;


/* the columns llm_requests has in the database and no record fills:
 * PostgreSQL's default, and what the evaluator adds (llo_copy_row()) */
static const char  *llo_t_db_only[] = { "ingested_at", "redacted", NULL };


static int
llo_t_cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}


/*
 * "    name   type [NOT NULL] [DEFAULT ...],": the name and the type, the
 * type cut at NOT, DEFAULT, NULL, PRIMARY or the line's end
 */

static void
llo_t_sql_column(const char *line, const char *file, int lineno)
{
    char              word[64], *p;
    const char       *q;
    llo_t_sql_col_t  *c;
    static const char  *stops[] = { " NOT ", " DEFAULT ", " NULL",
                                     " PRIMARY ", NULL };
    int               i;

    ck_assert_int_lt(llo_t_nsql, LLO_T_SQL_COLS);
    c = &llo_t_sql[llo_t_nsql];

    ck_assert_msg(sscanf(line, " %63s", word) == 1, "%s:%d: no column name",
                  file, lineno);
    snprintf(c->name, sizeof(c->name), "%s", word);
    snprintf(c->where, sizeof(c->where), "%s:%d", file, lineno);

    q = strstr(line, word) + strlen(word);
    while (*q == ' ') {
        q++;
    }

    snprintf(c->type, sizeof(c->type), "%s", q);

    for (i = 0; stops[i]; i++) {
        p = strstr(c->type, stops[i]);
        if (p) {
            *p = '\0';
        }
    }

    for (p = c->type + strlen(c->type);
         p > c->type && (p[-1] == ',' || p[-1] == ';' || p[-1] == ' '
                         || p[-1] == '\n');
         p--)
    {
        p[-1] = '\0';
    }

    llo_t_nsql++;
}


/*
 * The columns of llm_requests as sql/ makes them, in file order: the
 * CREATE TABLE, then each ALTER TABLE's ADD COLUMN.  Any other change to
 * the table's columns (DROP, RENAME, ALTER COLUMN ... TYPE) fails the
 * test: teach it here.
 */

static void
llo_t_read_sql(void)
{
    int             i, n, lineno, in_create, in_alter;
    char            path[512], line[1024], *files[64];
    FILE           *f;
    DIR            *d;
    struct dirent  *e;

    llo_t_nsql = 0;

    d = opendir(LLO_T_SQL_DIR);
    ck_assert_msg(d != NULL, "cannot open %s", LLO_T_SQL_DIR);

    n = 0;

    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);

        if (len > 4 && strcmp(e->d_name + len - 4, ".sql") == 0) {
            ck_assert_int_lt(n, 64);
            files[n++] = strdup(e->d_name);
        }
    }

    closedir(d);
    qsort(files, n, sizeof(char *), llo_t_cmp_names);
    ck_assert_int_gt(n, 0);

    for (i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s", LLO_T_SQL_DIR, files[i]);
        f = fopen(path, "r");
        ck_assert_msg(f != NULL, "cannot open %s", path);

        in_create = 0;
        in_alter = 0;
        lineno = 0;

        while (fgets(line, sizeof(line), f)) {
            lineno++;

            if (strncmp(line, "--", 2) == 0) {
                continue;
            }

            if (strncmp(line, "CREATE TABLE llm_requests (", 27) == 0) {
                in_create = 1;
                continue;
            }

            if (strncmp(line, "ALTER TABLE llm_requests", 24) == 0) {
                in_alter = 1;
                continue;
            }

            if (in_create) {
                if (line[0] == ')') {
                    in_create = 0;

                } else if (strspn(line, " \n") != strlen(line)
                           && strstr(line, "PRIMARY KEY") != line + 4)
                {
                    llo_t_sql_column(line, files[i], lineno);
                }

                continue;
            }

            if (in_alter) {
                ck_assert_msg(strncmp(line, "    ADD COLUMN ", 15) == 0,
                              "%s:%d: a change to llm_requests this test "
                              "does not know: %s", files[i], lineno, line);
                llo_t_sql_column(line + 14, files[i], lineno);

                if (strchr(line, ';')) {
                    in_alter = 0;
                }
            }
        }

        fclose(f);
        free(files[i]);
    }
}


static const char *
llo_t_sql_type(llo_col_type_e type)
{
    switch (type) {
    case LLO_COL_UUID:   return "uuid";
    case LLO_COL_TS:     return "timestamptz";
    case LLO_COL_TEXT:   return "text";
    case LLO_COL_INT:    return "integer";
    case LLO_COL_BIGINT: return "bigint";
    case LLO_COL_BOOL:   return "boolean";
    case LLO_COL_FLAG:   return "boolean";
    case LLO_COL_MS:     return "double precision";
    case LLO_COL_NANO:   return "numeric(20, 9)";
    case LLO_COL_INET:   return "inet";
    default:             return "?";
    }
}


/*
 * Every column the field table writes exists in sql/ with the type its
 * COPY text is made for, and every column of sql/ is written (but the
 * database's own): a field added on one side only fails here.
 */

START_TEST(test_columns_match_sql)
{
    int                  i, found, db_only, ncols;
    const char         **o;
    const llo_column_t  *col;

    llo_t_read_sql();
    ck_assert_int_gt(llo_t_nsql, 10);

    ncols = 0;

    for (col = llo_columns; col->name; col++) {
        if (col->type == LLO_COL_NONE) {
            continue;
        }

        ncols++;
        found = 0;

        for (i = 0; i < llo_t_nsql; i++) {
            if (strcmp(llo_t_sql[i].name, col->name) == 0) {
                found = 1;
                ck_assert_msg(strcmp(llo_t_sql[i].type,
                                     llo_t_sql_type(col->type)) == 0,
                              "column %s is %s in %s, the field table "
                              "writes %s", col->name, llo_t_sql[i].type,
                              llo_t_sql[i].where,
                              llo_t_sql_type(col->type));
            }
        }

        ck_assert_msg(found == 1, "column %s of the field table is %s in "
                      "sql/", col->name,
                      found ? "defined twice" : "not defined");
    }

    for (i = 0; i < llo_t_nsql; i++) {
        found = 0;

        for (col = llo_columns; col->name; col++) {
            found |= col->type != LLO_COL_NONE
                     && strcmp(col->name, llo_t_sql[i].name) == 0;
        }

        db_only = 0;

        for (o = llo_t_db_only; *o; o++) {
            db_only |= strcmp(*o, llo_t_sql[i].name) == 0;
        }

        ck_assert_msg(found || db_only, "column %s (%s) is in no field of "
                      "llo_record.h", llo_t_sql[i].name, llo_t_sql[i].where);
    }

    ck_assert_int_eq(ncols + (int) (sizeof(llo_t_db_only)
                                    / sizeof(llo_t_db_only[0])) - 1,
                     llo_t_nsql);
}
END_TEST


START_TEST(test_format_id)
{
    char  buf[LLO_ID_LEN + 2];

    memset(buf, 'X', sizeof(buf));
    llo_format_id(0x0123456789abcdefULL, 0xfedcba9876543210ULL, buf);
    ck_assert_str_eq(buf, "01234567-89ab-cdef-fedc-ba9876543210");
    ck_assert_uint_eq(strlen(buf), LLO_ID_LEN);
    ck_assert_int_eq(buf[LLO_ID_LEN + 1], 'X');

    llo_format_id(0, 1, buf);
    ck_assert_str_eq(buf, "00000000-0000-0000-0000-000000000001");

    llo_format_id(UINT64_MAX, UINT64_MAX, buf);
    ck_assert_str_eq(buf, "ffffffff-ffff-ffff-ffff-ffffffffffff");
}
END_TEST


int
main(void)
{
    int       failed;
    Suite    *s;
    TCase    *tc;

    s = suite_create("record");
    tc = tcase_create("record");

    tcase_add_test(tc, test_round_trip_all_fields);
    tcase_add_test(tc, test_each_field_alone);
    tcase_add_test(tc, test_absent_fields);
    tcase_add_test(tc, test_unknown_ids_skipped);
    tcase_add_test(tc, test_truncated);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_zero_length_strings);
    tcase_add_test(tc, test_rec_str_bounds);
    tcase_add_test(tc, test_field_name);
    tcase_add_test(tc, test_format_id);
    tcase_add_test(tc, test_columns_match_sql);
    suite_add_tcase(s, tc);

    failed = llo_t_run_suite(s);

    return llo_t_exit(failed);
}
