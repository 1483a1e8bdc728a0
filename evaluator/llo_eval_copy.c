/*
 * llm-evaluator COPY rows: see llo_eval_copy.h.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>

#include "llo_pii.h"
#include "llo_eval_copy.h"
#include "llo_eval_log.h"


/* 10000-01-01: the first ts PostgreSQL's partition names cannot hold */
#define LLO_TS_US_MAX  253402300800000000LL


static char  llo_copy_column_list[1024];


static int llo_copy_redacted(llo_buf_t *b, int mode, const llo_str_t *s,
    llo_redact_count_t *counts);
static void llo_copy_redaction(llo_buf_t *b, int mode,
    const llo_redact_count_t *c, int failed);


void
llo_buf_reserve(llo_buf_t *b, size_t n)
{
    char    *p;
    size_t   cap;

    if (b->cap - b->len >= n) {
        return;
    }

    cap = b->cap ? b->cap : 65536;

    while (cap - b->len < n) {
        cap *= 2;
    }

    p = realloc(b->data, cap);
    if (p == NULL) {
        llo_log(LLO_LOG_ERROR, "out of memory growing a buffer to %zu bytes",
                cap);
        exit(EXIT_FAILURE);
    }

    b->data = p;
    b->cap = cap;
}


void
llo_buf_add(llo_buf_t *b, const void *p, size_t n)
{
    llo_buf_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}


void
llo_buf_printf(llo_buf_t *b, const char *fmt, ...)
{
    int      n;
    char     tmp[4096];
    va_list  ap;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);

    if (n > 0) {
        llo_buf_add(b, tmp, (size_t) n < sizeof(tmp) ? (size_t) n
                                                      : sizeof(tmp) - 1);
    }
}


void
llo_buf_free(llo_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}


void
llo_copy_text(llo_buf_t *b, const char *s, size_t len)
{
    char           *d;
    size_t          i, n;
    unsigned char   c;

    /* worst case: every byte an invalid one, 3 bytes of U+FFFD each */
    llo_buf_reserve(b, len * 3);

    d = b->data + b->len;
    i = 0;

    while (i < len) {
        c = (unsigned char) s[i];

        if (c < 0x80) {
            switch (c) {
            case '\\': *d++ = '\\'; *d++ = '\\'; break;
            case '\t': *d++ = '\\'; *d++ = 't'; break;
            case '\n': *d++ = '\\'; *d++ = 'n'; break;
            case '\r': *d++ = '\\'; *d++ = 'r'; break;
            case '\0': break;
            default: *d++ = (char) c; break;
            }

            i++;
            continue;
        }

        n = llo_utf8_seq(s + i, len - i);

        if (n) {
            memcpy(d, s + i, n);
            d += n;
            i += n;
            continue;
        }

        *d++ = (char) 0xef;
        *d++ = (char) 0xbf;
        *d++ = (char) 0xbd;
        i++;
    }

    b->len = d - b->data;
}


/*
 * The well-formed sequences of Unicode table 3-7: no overlong forms, no
 * surrogates, nothing above U+10FFFF.
 */

size_t
llo_utf8_seq(const char *s, size_t len)
{
    size_t          n;
    unsigned char   c, c1;

    c = (unsigned char) s[0];

    if (c < 0x80) {
        return 1;
    }

    n = 0;
    c1 = len > 1 ? (unsigned char) s[1] : 0;

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;

    } else if (c == 0xe0) {
        n = (c1 >= 0xa0 && c1 <= 0xbf) ? 3 : 0;

    } else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) {
        n = 3;

    } else if (c == 0xed) {
        n = (c1 >= 0x80 && c1 <= 0x9f) ? 3 : 0;

    } else if (c == 0xf0) {
        n = (c1 >= 0x90 && c1 <= 0xbf) ? 4 : 0;

    } else if (c >= 0xf1 && c <= 0xf3) {
        n = 4;

    } else if (c == 0xf4) {
        n = (c1 >= 0x80 && c1 <= 0x8f) ? 4 : 0;
    }

    if (n && n <= len
        && ((unsigned char) s[1] & 0xc0) == 0x80
        && (n < 3 || ((unsigned char) s[2] & 0xc0) == 0x80)
        && (n < 4 || ((unsigned char) s[3] & 0xc0) == 0x80))
    {
        return n;
    }

    return 0;
}


const char *
llo_copy_columns(void)
{
    size_t                len;
    const llo_column_t   *col;

    if (llo_copy_column_list[0] != '\0') {
        return llo_copy_column_list;
    }

    len = 0;

    for (col = llo_columns; col->name; col++) {
        if (col->type != LLO_COL_NONE) {
            len += snprintf(llo_copy_column_list + len,
                            sizeof(llo_copy_column_list) - len, "%s%s",
                            len ? ", " : "", col->name);
        }
    }

    /* the evaluator's own, after the record's */
    (void) snprintf(llo_copy_column_list + len,
                    sizeof(llo_copy_column_list) - len, ", redacted");

    return llo_copy_column_list;
}


/* an explicit offset: the session's TimeZone does not matter */

static void
llo_copy_ts(llo_buf_t *b, int64_t us, const struct tm *tm)
{
    int   n;
    char  tmp[64];

    n = snprintf(tmp, sizeof(tmp), "%04d-%02d-%02d %02d:%02d:%02d.%06d+00",
                 tm->tm_year + 1900, tm->tm_mon + 1, tm->tm_mday,
                 tm->tm_hour, tm->tm_min, tm->tm_sec, (int) (us % 1000000));
    llo_buf_add(b, tmp, (size_t) n);
}


int
llo_copy_key(llo_buf_t *b, const llo_rec_t *rec, uint64_t instance,
    uint64_t seq)
{
    char       tmp[LLO_ID_LEN + 1];
    time_t     sec;
    int64_t    v;
    struct tm  tm;

    v = rec->num[LLO_N_TS_US];

    if (!llo_rec_has_num(rec, LLO_N_TS_US) || v < 0 || v >= LLO_TS_US_MAX) {
        return -1;
    }

    sec = (time_t) (v / 1000000);

    if (gmtime_r(&sec, &tm) == NULL) {
        return -1;
    }

    llo_format_id(instance, seq, tmp);
    llo_buf_add(b, tmp, LLO_ID_LEN);
    llo_buf_add(b, "\t", 1);
    llo_copy_ts(b, v, &tm);

    return 0;
}


int
llo_copy_row(llo_buf_t *b, const llo_rec_t *rec, uint64_t instance,
    uint64_t seq, int redact, int *month, char *err, size_t errlen)
{
    int                   n, first, failed;
    char                  tmp[64];
    time_t                sec;
    int64_t               v;
    struct tm             tm;
    unsigned char         addr[16];
    const llo_str_t      *s;
    const llo_column_t   *col;
    llo_redact_count_t    counts;

    failed = 0;
    memset(&counts, 0, sizeof(llo_redact_count_t));

    if (!llo_rec_has_num(rec, LLO_N_TS_US)) {
        snprintf(err, errlen, "no ts");
        return -1;
    }

    v = rec->num[LLO_N_TS_US];

    if (v < 0 || v >= LLO_TS_US_MAX) {
        snprintf(err, errlen, "ts %lld us is out of range", (long long) v);
        return -1;
    }

    sec = (time_t) (v / 1000000);

    if (gmtime_r(&sec, &tm) == NULL) {
        snprintf(err, errlen, "ts %lld us is out of range", (long long) v);
        return -1;
    }

    *month = (tm.tm_year + 1900) * 100 + tm.tm_mon + 1;

    first = 1;

    for (col = llo_columns; col->name; col++) {

        if (col->type == LLO_COL_NONE) {
            continue;
        }

        if (!first) {
            llo_buf_add(b, "\t", 1);
        }

        first = 0;

        switch (col->type) {

        case LLO_COL_NONE:
            continue;

        case LLO_COL_UUID:
            /* the same text as nginx's $llm_request_id */
            llo_format_id(instance, seq, tmp);
            llo_buf_add(b, tmp, LLO_ID_LEN);
            continue;

        case LLO_COL_TS:
            llo_copy_ts(b, v, &tm);
            continue;

        case LLO_COL_TEXT:
            if (!llo_rec_has_str(rec, col->field)) {
                break;
            }

            s = llo_rec_get_str(rec, col->field);

            if (redact != LLO_REDACT_OFF
                && (col->field == LLO_S_PROMPT_TEXT
                    || col->field == LLO_S_RESPONSE_TEXT))
            {
                if (llo_copy_redacted(b, redact, s, &counts) != 0) {
                    failed = 1;
                    break;
                }

                continue;
            }

            llo_copy_text(b, s->data, s->len);
            continue;

        case LLO_COL_INET:
            if (!llo_rec_has_str(rec, col->field)) {
                break;
            }

            s = llo_rec_get_str(rec, col->field);

            if (s->len == 0 || s->len >= sizeof(tmp)) {
                break;
            }

            memcpy(tmp, s->data, s->len);
            tmp[s->len] = '\0';

            if (inet_pton(AF_INET, tmp, addr) != 1
                && inet_pton(AF_INET6, tmp, addr) != 1)
            {
                break;
            }

            llo_buf_add(b, tmp, s->len);
            continue;

        case LLO_COL_FLAG:
            v = llo_rec_has_num(rec, LLO_N_FLAGS) ? rec->num[LLO_N_FLAGS] : 0;
            llo_buf_add(b, (v & col->flag) ? "t" : "f", 1);
            continue;

        case LLO_COL_BOOL:
            if (!llo_rec_has_num(rec, col->field)) {
                break;
            }

            llo_buf_add(b, rec->num[col->field] ? "t" : "f", 1);
            continue;

        case LLO_COL_INT:
        case LLO_COL_BIGINT:
            if (!llo_rec_has_num(rec, col->field)) {
                break;
            }

            v = rec->num[col->field];

            /* one absurd value must not fail the batch it is in */
            if (col->type == LLO_COL_INT && (v < INT32_MIN || v > INT32_MAX))
            {
                break;
            }

            n = snprintf(tmp, sizeof(tmp), "%lld", (long long) v);
            llo_buf_add(b, tmp, n);
            continue;

        case LLO_COL_NANO:
            if (!llo_rec_has_num(rec, col->field)) {
                break;
            }

            v = rec->num[col->field];
            n = snprintf(tmp, sizeof(tmp), "%s%lld.%09lld",
                         v < 0 ? "-" : "",
                         (long long) (v < 0 ? -(v / 1000000000)
                                            : v / 1000000000),
                         (long long) (v < 0 ? -(v % 1000000000)
                                            : v % 1000000000));
            llo_buf_add(b, tmp, n);
            continue;

        case LLO_COL_MS:
            if (!llo_rec_has_num(rec, col->field)) {
                break;
            }

            /* exact decimal: us / 1000 without a detour through double */
            v = rec->num[col->field];
            n = snprintf(tmp, sizeof(tmp), "%s%lld.%03lld",
                         v < 0 ? "-" : "",
                         (long long) (v < 0 ? -(v / 1000) : v / 1000),
                         (long long) (v < 0 ? -(v % 1000) : v % 1000));
            llo_buf_add(b, tmp, n);
            continue;
        }

        llo_buf_add(b, "\\N", 2);
    }

    llo_copy_redaction(b, redact, &counts, failed);
    llo_buf_add(b, "\n", 1);

    return 0;
}


/*
 * A text through the redactor, then as a COPY field.  The redactor's
 * output buffer is kept from call to call (the evaluator is one thread).
 */

static int
llo_copy_redacted(llo_buf_t *b, int mode, const llo_str_t *s,
    llo_redact_count_t *counts)
{
    size_t                   i, len;
    llo_redact_count_t       c;

    static llo_buf_t         out;

    out.len = 0;
    llo_buf_reserve(&out, llo_redact_bound(s->len));

    if (llo_redact(mode, s->data, s->len, out.data, &len, &c) != 0) {
        return -1;
    }

    for (i = 0; i < LLO_PII_N; i++) {
        counts->n[i] += c.n[i];
    }

    counts->total += c.total;
    llo_copy_text(b, out.data, len);

    return 0;
}


/*
 * The redacted column: NULL with redaction off; else what was replaced,
 * "email=1 phone=2", or "none"; "failed" when the redactor could not run
 * (the texts are then NULL: never stored unredacted).
 */

static void
llo_copy_redaction(llo_buf_t *b, int mode, const llo_redact_count_t *c,
    int failed)
{
    int    n;
    char   tmp[64];
    size_t i, first;

    llo_buf_add(b, "\t", 1);

    if (mode == LLO_REDACT_OFF) {
        llo_buf_add(b, "\\N", 2);
        return;
    }

    if (failed) {
        llo_buf_add(b, "failed", 6);
        return;
    }

    if (c->total == 0) {
        llo_buf_add(b, "none", 4);
        return;
    }

    first = 1;

    for (i = 0; i < LLO_PII_N; i++) {
        if (c->n[i] == 0) {
            continue;
        }

        n = snprintf(tmp, sizeof(tmp), "%s%s=%u", first ? "" : " ",
                     llo_pii_name((int) i), c->n[i]);
        llo_buf_add(b, tmp, (size_t) n);
        first = 0;
    }
}
