/*
 * Unit tests for the evaluator's own code, linked from build/libllo_eval.a:
 * the configuration parser (every error message), the COPY text (every
 * byte value, invalid UTF-8, NUL), the drain's transaction with its
 * sinks and the batch-halving on rejected rows, and the event loop.
 *
 * The drain runs against this file's llo_pg_begin/rows/commit/rollback/
 * partitions: the linker takes them before llo_eval_pg.o, so the batch
 * logic is tested on its own (the integration tests run it against a real
 * PostgreSQL).
 */

#define _GNU_SOURCE

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "check_main.h"
#include "llo_record.h"
#include "llo_ring.h"
#include "llo_eval_conf.h"
#include "llo_pii.h"
#include "llo_eval_callmetrics.h"
#include "llo_eval_copy.h"
#include "llo_eval_drain.h"
#include "llo_eval_log.h"
#include "llo_eval_loop.h"
#include "llo_eval_pg.h"


static char  llo_t_dir[] = "/tmp/llo-test-eval-XXXXXX";


/* -- configuration --------------------------------------------------------- */


static char *
llo_t_file(const char *name, const char *text)
{
    FILE        *f;
    static char  path[512];

    snprintf(path, sizeof(path), "%s/%s", llo_t_dir, name);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);

    return path;
}


static const struct {
    const char  *text;
    const char  *err;       /* after "<file>:" */
} llo_t_conf_errors[] = {
    { "batch_size = abc\n",
      "1: invalid value \"abc\" for batch_size (expected 1..100000)" },
    { "batch_size = 0\n",
      "1: invalid value \"0\" for batch_size (expected 1..100000)" },
    { "batch_size = 100001\n",
      "1: invalid value \"100001\" for batch_size (expected 1..100000)" },
    { "# a comment\n\nnope = 1\n", "3: unknown key \"nope\"" },
    { "batch_size = 10\nbatch_size = 20\n",
      "2: duplicate key \"batch_size\" (already set on line 1)" },
    { "batch_size 10\n",
      "1: expected \"key = value\", got \"batch_size 10\"" },
    { "= 10\n", "1: expected \"key = value\", got \"= 10\"" },
    { "log_file = \"/tmp/x\n",
      "1: unterminated quoted value for log_file" },
    { "log_file = \"/tmp/x\" y\n",
      "1: unexpected \"y\" after the quoted value of log_file" },
    { "flush_interval = 0\n",
      "1: invalid value \"0\" for flush_interval (expected 1ms..1h, e.g. "
      "200ms or 1s)" },
    { "flush_interval = 2h\n",
      "1: invalid value \"2h\" for flush_interval (expected 1ms..1h, e.g. "
      "200ms or 1s)" },
    { "torn_timeout = soon\n",
      "1: invalid value \"soon\" for torn_timeout (expected 1ms..1h, e.g. "
      "500ms or 2s)" },
    { "log_level = loud\n",
      "1: invalid value \"loud\" for log_level (expected error, warn, info "
      "or debug)" },
    { "partition_months_ahead = 121\n",
      "1: invalid value \"121\" for partition_months_ahead (expected "
      "0..120)" },
    { "ring_path =\n",
      "1: invalid value \"\" for ring_path (expected a path)" },
    { NULL, NULL }
};


START_TEST(test_conf_errors)
{
    int         i;
    char        err[1024], want[1024], *path;
    llo_conf_t  conf;

    for (i = 0; llo_t_conf_errors[i].text; i++) {
        path = llo_t_file("bad.conf", llo_t_conf_errors[i].text);
        err[0] = '\0';

        ck_assert_int_eq(llo_conf_load(&conf, path, NULL, 0, err,
                                       sizeof(err)), -1);

        snprintf(want, sizeof(want), "%s:%s", path, llo_t_conf_errors[i].err);
        ck_assert_msg(strcmp(err, want) == 0, "\"%s\":\n got \"%s\"\n want "
                      "\"%s\"", llo_t_conf_errors[i].text, err, want);
    }

    snprintf(want, sizeof(want), "%s/none.conf", llo_t_dir);
    ck_assert_int_eq(llo_conf_load(&conf, want, NULL, 0, err, sizeof(err)),
                     -1);
    ck_assert_msg(strstr(err, "cannot open configuration file") == err
                  && strstr(err, "No such file or directory") != NULL,
                  "%s", err);
}
END_TEST


START_TEST(test_conf_values)
{
    char        err[1024], *path;
    char       *over[] = { "batch_size=7", "log_level = debug" };
    char       *bad[] = { "batch_size=x" };
    llo_conf_t  conf;

    path = llo_t_file("good.conf",
                      "# the evaluator\n"
                      "ring_path = /dev/shm/x.ring   # a comment\n"
                      "batch_size = 1000\n"
                      "flush_interval = 1s\n"
                      "pg_conninfo = \"host=/tmp dbname=llo # not a "
                      "comment\"\n");

    ck_assert_int_eq(llo_conf_load(&conf, path, NULL, 0, err, sizeof(err)),
                     0);
    ck_assert_str_eq(conf.ring_path, "/dev/shm/x.ring");
    ck_assert_int_eq(conf.batch_size, 1000);
    ck_assert_int_eq(conf.flush_interval, 1000);
    ck_assert_int_eq(conf.torn_timeout, 2000);
    ck_assert_str_eq(conf.pg_conninfo, "host=/tmp dbname=llo # not a "
                     "comment");
    llo_conf_free(&conf);

    /* -o wins over the file, and may repeat its keys */
    ck_assert_int_eq(llo_conf_load(&conf, path, over, 2, err, sizeof(err)),
                     0);
    ck_assert_int_eq(conf.batch_size, 7);
    ck_assert_int_eq(conf.log_level, LLO_LOG_DEBUG);
    llo_conf_free(&conf);

    ck_assert_int_eq(llo_conf_load(&conf, path, bad, 1, err, sizeof(err)),
                     -1);
    ck_assert_str_eq(err, "-o:1: invalid value \"x\" for batch_size "
                     "(expected 1..100000)");

    /* no file: the defaults */
    ck_assert_int_eq(llo_conf_load(&conf, NULL, NULL, 0, err, sizeof(err)),
                     0);
    ck_assert_str_eq(conf.ring_path, "/dev/shm/llm_observer.ring");
    ck_assert_int_eq(conf.batch_size, 5000);
    ck_assert_int_eq(conf.flush_interval, 200);
    llo_conf_free(&conf);
}
END_TEST


/* SIGHUP keeps what needs a restart, and says which */

START_TEST(test_conf_restart)
{
    int          n;
    char         err[1024];
    char        *a[] = { "pid_file=/run/a.pid", "batch_size=10" };
    char        *b[] = { "pid_file=/run/b.pid", "batch_size=20" };
    llo_conf_t   old, nc;
    const char  *names[4];

    ck_assert_int_eq(llo_conf_load(&old, NULL, a, 2, err, sizeof(err)), 0);
    ck_assert_int_eq(llo_conf_load(&nc, NULL, b, 2, err, sizeof(err)), 0);

    n = llo_conf_keep_restart(&nc, &old, names, 4);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(names[0], "pid_file");
    ck_assert_str_eq(nc.pid_file, "/run/a.pid");
    ck_assert_int_eq(nc.batch_size, 20);

    /* the new value goes with the old configuration, freed with it */
    ck_assert_str_eq(old.pid_file, "/run/b.pid");

    llo_conf_free(&old);
    llo_conf_free(&nc);
}
END_TEST

/* -- COPY text ------------------------------------------------------------- */


static char *
llo_t_copy(const char *s, size_t len)
{
    llo_buf_t    b;
    static char  out[4096];

    memset(&b, 0, sizeof(llo_buf_t));
    llo_copy_text(&b, s, len);
    ck_assert_uint_lt(b.len, sizeof(out));
    memcpy(out, b.data, b.len);
    out[b.len] = '\0';
    llo_buf_free(&b);

    return out;
}


/* every byte value alone: ASCII as is (escaped where COPY needs it), NUL
 * dropped, every other byte alone is invalid UTF-8: U+FFFD */

START_TEST(test_copy_every_byte)
{
    int    c;
    char   in[1], want[8];
    char  *out;

    for (c = 0; c < 256; c++) {
        in[0] = (char) c;
        out = llo_t_copy(in, 1);

        switch (c) {
        case 0:    strcpy(want, ""); break;
        case '\\': strcpy(want, "\\\\"); break;
        case '\t': strcpy(want, "\\t"); break;
        case '\n': strcpy(want, "\\n"); break;
        case '\r': strcpy(want, "\\r"); break;
        default:
            if (c < 0x80) {
                want[0] = (char) c;
                want[1] = '\0';

            } else {
                strcpy(want, "\xef\xbf\xbd");
            }
        }

        ck_assert_msg(strcmp(out, want) == 0, "byte 0x%02x", c);
    }
}
END_TEST


static const struct {
    const char  *in;
    size_t       len;
    const char  *out;
} llo_t_utf8[] = {
    /* well-formed: kept */
    { "caf\xc3\xa9", 5, "caf\xc3\xa9" },
    { "\xe2\x82\xac", 3, "\xe2\x82\xac" },
    { "\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80" },
    { "\xf4\x8f\xbf\xbf", 4, "\xf4\x8f\xbf\xbf" },          /* U+10FFFF */
    /* overlong, surrogate, past U+10FFFF: each byte replaced */
    { "\xc0\x80", 2, "\xef\xbf\xbd\xef\xbf\xbd" },
    { "\xe0\x80\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
    { "\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
    { "\xf4\x90\x80\x80", 4,
      "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
    /* cut short at the end, and by an ASCII byte */
    { "a\xe2\x82", 3, "a\xef\xbf\xbd\xef\xbf\xbd" },
    { "\xe2x\xac", 3, "\xef\xbf\xbdx\xef\xbf\xbd" },
    /* NUL inside text */
    { "a\0b", 3, "ab" },
    { "\\N", 2, "\\\\N" },
    { NULL, 0, NULL }
};


START_TEST(test_copy_utf8)
{
    int  i;

    for (i = 0; llo_t_utf8[i].in; i++) {
        ck_assert_msg(strcmp(llo_t_copy(llo_t_utf8[i].in, llo_t_utf8[i].len),
                             llo_t_utf8[i].out) == 0, "case %d", i);
    }
}
END_TEST


/* a row: absent fields \N, numbers as COPY text, the flags as booleans */

START_TEST(test_copy_row)
{
    int         month;
    char        err[256], *line, *col[128], *p;
    size_t      n;
    llo_buf_t   b;
    llo_rec_t   rec;
    const llo_column_t  *c;

    memset(&rec, 0, sizeof(llo_rec_t));
    memset(&b, 0, sizeof(llo_buf_t));

    /* no ts: refused */
    ck_assert_int_eq(llo_copy_row(&b, &rec, 1, 2, 0, &month, err, sizeof(err)),
                     -1);
    ck_assert_str_eq(err, "no ts");

    llo_rec_num(&rec, LLO_N_TS_US, -1);
    ck_assert_int_eq(llo_copy_row(&b, &rec, 1, 2, 0, &month, err, sizeof(err)),
                     -1);
    ck_assert_str_eq(err, "ts -1 us is out of range");

    /* 2026-12-03 10:20:30.000123 UTC */
    llo_rec_num(&rec, LLO_N_TS_US, 1796293230000123LL);
    llo_rec_num(&rec, LLO_N_STATUS, 200);
    llo_rec_num(&rec, LLO_N_PROMPT_TOKENS, 5000000000LL);  /* past int4 */
    llo_rec_num(&rec, LLO_N_BYTES_IN, 5000000000LL);
    llo_rec_num(&rec, LLO_N_LATENCY_US, 1234567);
    llo_rec_num(&rec, LLO_N_COST_NANO, -1500000001LL);
    llo_rec_num(&rec, LLO_N_STREAM, 1);
    llo_rec_num(&rec, LLO_N_FLAGS, LLO_FLAG_COUNT_TRUNC | LLO_FLAG_CUT);
    llo_rec_str(&rec, LLO_S_CLIENT_ADDR, "not an address", 14);
    llo_rec_str(&rec, LLO_S_REQUEST_MODEL, "gpt\t4o", 6);

    ck_assert_int_eq(llo_copy_row(&b, &rec, 0x1122334455667788ULL, 9, 0,
                                  &month, err, sizeof(err)), 0);
    ck_assert_int_eq(month, 202612);

    llo_buf_add(&b, "", 1);
    line = b.data;
    ck_assert_uint_eq(line[strlen(line) - 1], '\n');
    line[strlen(line) - 1] = '\0';

    for (n = 0, p = strtok(line, "\t"); p; p = strtok(NULL, "\t")) {
        col[n++] = p;
    }

    /* every column of the table, in the table's order */
    for (n = 0, c = llo_columns; c->name; c++) {
        if (c->type == LLO_COL_NONE) {
            continue;
        }

#define llo_t_col(column, want)                                              \
        if (strcmp(c->name, column) == 0) {                                  \
            ck_assert_msg(strcmp(col[n], want) == 0, "%s: \"%s\", want "     \
                          "\"%s\"", column, col[n], want);                   \
        }

        llo_t_col("id", "11223344-5566-7788-0000-000000000009");
        llo_t_col("ts", "2026-12-03 10:20:30.000123+00");
        llo_t_col("status", "200");
        llo_t_col("prompt_tokens", "\\N");
        llo_t_col("bytes_in", "5000000000");
        llo_t_col("latency_ms", "1234.567");
        llo_t_col("cost_usd", "-1.500000001");
        llo_t_col("stream", "t");
        llo_t_col("client_addr", "\\N");
        llo_t_col("request_model", "gpt\\t4o");
        llo_t_col("response_model", "\\N");
        llo_t_col("count_truncated", "t");
        llo_t_col("cut", "t");
        llo_t_col("incomplete", "f");

#undef llo_t_col

        n++;
    }

    llo_buf_free(&b);
}
END_TEST


/* field i (0: id) of a COPY text row; "" past its end */

static const char *
llo_t_field(const char *row, int i, char *buf, size_t len)
{
    size_t       n;
    const char  *p, *end;

    for (p = row; i > 0 && p != NULL; i--) {
        p = strchr(p, '\t');
        p = p ? p + 1 : NULL;
    }

    if (p == NULL) {
        return "";
    }

    end = p + strcspn(p, "\t\n");
    n = (size_t) (end - p) < len - 1 ? (size_t) (end - p) : len - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';

    return buf;
}


/* the index of a column in llo_copy_columns() */

static int
llo_t_column(const char *name)
{
    int          i;
    size_t       n;
    const char  *p;

    n = strlen(name);

    for (i = 0, p = llo_copy_columns(); *p; i++) {
        if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0')) {
            return i;
        }

        p += strcspn(p, ",");
        p += strspn(p, ", ");
    }

    return -1;
}


/* redact: the stored texts lose what the detectors find, and say so */

START_TEST(test_copy_redact)
{
    int         month, pc, rc, dc;
    char        err[256], buf[512];
    llo_buf_t   b;
    llo_rec_t   rec;

    static const char  prompt[] = "Mail jane.doe@example.com, please.";
    static const char  resp[] = "Call +1 415 555 0100 or jane.doe@example.com;"
                                " key sk-proj-abcdefghijklmnopqrstuvwx1234";

    pc = llo_t_column("prompt_text");
    rc = llo_t_column("response_text");
    dc = llo_t_column("redacted");
    ck_assert_int_gt(pc, 0);
    ck_assert_int_gt(rc, 0);
    ck_assert_int_gt(dc, rc);

    memset(&rec, 0, sizeof(llo_rec_t));
    llo_rec_num(&rec, LLO_N_TS_US, 1796293230000123LL);
    llo_rec_str(&rec, LLO_S_PROMPT_TEXT, prompt, strlen(prompt));
    llo_rec_str(&rec, LLO_S_RESPONSE_TEXT, resp, strlen(resp));

    memset(&b, 0, sizeof(llo_buf_t));

    /* off: as observed, redacted NULL */
    ck_assert_int_eq(llo_copy_row(&b, &rec, 1, 2, LLO_REDACT_OFF, &month, err,
                                  sizeof(err)), 0);
    llo_buf_add(&b, "", 1);
    ck_assert_str_eq(llo_t_field(b.data, pc, buf, sizeof(buf)), prompt);
    ck_assert_str_eq(llo_t_field(b.data, dc, buf, sizeof(buf)), "\\N");

    /* all */
    b.len = 0;
    ck_assert_int_eq(llo_copy_row(&b, &rec, 1, 2, LLO_REDACT_ALL, &month, err,
                                  sizeof(err)), 0);
    llo_buf_add(&b, "", 1);
    ck_assert_str_eq(llo_t_field(b.data, pc, buf, sizeof(buf)),
                     "Mail [EMAIL], please.");
    ck_assert_str_eq(llo_t_field(b.data, rc, buf, sizeof(buf)),
                     "Call [PHONE] or [EMAIL]; key [SECRET]");
    ck_assert_str_eq(llo_t_field(b.data, dc, buf, sizeof(buf)),
                     "email=2 phone=1 secret=1");

    /* secrets only: the email stays */
    b.len = 0;
    ck_assert_int_eq(llo_copy_row(&b, &rec, 1, 2, LLO_REDACT_SECRETS, &month,
                                  err, sizeof(err)), 0);
    llo_buf_add(&b, "", 1);
    ck_assert_str_eq(llo_t_field(b.data, pc, buf, sizeof(buf)), prompt);
    ck_assert_str_eq(llo_t_field(b.data, dc, buf, sizeof(buf)), "secret=1");

    /* nothing to replace */
    llo_rec_str(&rec, LLO_S_RESPONSE_TEXT, "Fine.", 5);
    llo_rec_str(&rec, LLO_S_PROMPT_TEXT, "Hi", 2);
    b.len = 0;
    ck_assert_int_eq(llo_copy_row(&b, &rec, 1, 2, LLO_REDACT_PII, &month, err,
                                  sizeof(err)), 0);
    llo_buf_add(&b, "", 1);
    ck_assert_str_eq(llo_t_field(b.data, dc, buf, sizeof(buf)), "none");

    llo_buf_free(&b);
}
END_TEST


/*
 * The calls' metrics: counted only at COMMIT and only for new rows, the
 * model label capped (metrics_models, then the first others, then
 * "other"), label values escaped, the text promtool-shaped.
 */

START_TEST(test_call_metrics)
{
    int              i;
    char            *text;
    llo_cm_t        *cm;
    llo_buf_t        b;
    llo_row_t        rows[4];
    llo_row_sink_t   sink;

    static const char  *models[4] = {
        "gpt-4o", "claude-3", "gemini-2", "weird\"model\\x"
    };

    cm = llo_cm_new("gpt-4o", 2);
    ck_assert_ptr_nonnull(cm);
    llo_cm_sink(cm, NULL, &sink);

    memset(rows, 0, sizeof(rows));

    for (i = 0; i < 4; i++) {
        llo_rec_num(&rows[i].rec, LLO_N_TS_US, 1796293230000123LL + i);
        llo_rec_num(&rows[i].rec, LLO_N_STATUS, 200);
        llo_rec_num(&rows[i].rec, LLO_N_LATENCY_US, 300000);
        llo_rec_num(&rows[i].rec, LLO_N_COMPLETION_TOKENS, 10);
        llo_rec_num(&rows[i].rec, LLO_N_COST_NANO, 1500000001LL);
        llo_rec_str(&rows[i].rec, LLO_S_PROVIDER, "openai", 6);
        llo_rec_str(&rows[i].rec, LLO_S_RESPONSE_MODEL, models[i],
                    strlen(models[i]));
        rows[i].seq = (uint64_t) i + 1;
    }

    llo_rec_str(&rows[3].rec, LLO_S_REFUSED, "unknown_key", 11);
    llo_rec_num(&rows[3].rec, LLO_N_STATUS, 401);

    sink.reset(sink.data);
    ck_assert_int_eq(sink.prepare(sink.data, rows, 4), 0);

    /* not yet committed: nothing counted */
    memset(&b, 0, sizeof(llo_buf_t));
    llo_cm_render(cm, &b);
    llo_buf_add(&b, "", 1);
    ck_assert_ptr_null(strstr(b.data, "llm_gateway_requests_total{"));

    /* rows 0..2 new, row 3 dropped */
    ck_assert_int_eq(sink.apply(sink.data, NULL, 0, 4, 1, NULL, 0), 0);
    sink.drop(sink.data, 2, "test");
    sink.committed(sink.data);

    b.len = 0;
    llo_cm_render(cm, &b);
    llo_buf_add(&b, "", 1);
    text = b.data;

    ck_assert_msg(strstr(text, "llm_gateway_requests_total{provider=\"openai\","
                         "model=\"gpt-4o\",key=\"\",status_class=\"2xx\"} 1\n")
                  != NULL, "%s", text);
    ck_assert_ptr_nonnull(strstr(text, "model=\"claude-3\",key=\"\","
                                       "status_class=\"2xx\"} 1\n"));
    /* gemini-2 (dropped, not counted) took the last own series, so the
     * fourth model is "other" */
    ck_assert_ptr_null(strstr(text, "gemini-2\",key=\"\",status_class"));
    ck_assert_msg(strstr(text, "model=\"other\",key=\"\",status_class="
                         "\"4xx\"} 1\n") != NULL, "%s", text);
    ck_assert_ptr_null(strstr(text, "weird"));
    ck_assert_ptr_nonnull(strstr(text, "llm_gateway_rate_limited_total{"
                                       "key=\"\",limit=\"auth\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "llm_gateway_cost_usd_total{provider="
                                       "\"openai\",model=\"gpt-4o\",key=\"\"} "
                                       "1.500000001\n"));
    ck_assert_ptr_nonnull(strstr(text, "llm_gateway_request_duration_seconds_"
                                       "bucket{provider=\"openai\",model=\""
                                       "gpt-4o\",le=\"0.25\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(text, "llm_gateway_request_duration_seconds_"
                                       "bucket{provider=\"openai\",model=\""
                                       "gpt-4o\",le=\"0.5\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "# TYPE llm_gateway_request_duration_"
                                       "seconds histogram\n"));

    /* the same batch read again: the next commit counts it again only if
     * its rows are new, which apply() says */
    sink.reset(sink.data);
    ck_assert_int_eq(sink.prepare(sink.data, rows, 1), 0);
    sink.committed(sink.data);
    b.len = 0;
    llo_cm_render(cm, &b);
    llo_buf_add(&b, "", 1);
    ck_assert_ptr_nonnull(strstr(b.data, "model=\"gpt-4o\",key=\"\","
                                         "status_class=\"2xx\"} 1\n"));

    llo_cm_free(cm);

    /* a label value as the text format escapes it */
    cm = llo_cm_new("", 5);
    ck_assert_ptr_nonnull(cm);
    llo_cm_sink(cm, NULL, &sink);
    sink.reset(sink.data);
    ck_assert_int_eq(sink.prepare(sink.data, &rows[3], 1), 0);
    ck_assert_int_eq(sink.apply(sink.data, NULL, 0, 1, 1, NULL, 0), 0);
    sink.committed(sink.data);
    b.len = 0;
    llo_cm_render(cm, &b);
    llo_buf_add(&b, "", 1);
    ck_assert_msg(strstr(b.data, "model=\"weird\\\"model\\\\x\"") != NULL,
                  "%s", b.data);

    llo_buf_free(&b);
    llo_cm_free(cm);
}
END_TEST


/* -- the drain, against a PostgreSQL of this file ------------------------ */


typedef struct {
    int         begins;
    int         commits;
    int         rollbacks;
    int         down;           /* the next llo_pg_rows() fails so */
    int         in_txn;
    uint64_t    rows;           /* committed */
    uint64_t    pending_rows;   /* of the open transaction */
} llo_t_pg_t;

static llo_t_pg_t  llo_t_pg;


int
llo_pg_begin(llo_pg_t *pg, char *err, size_t errlen)
{
    pg->data_error = 0;
    ck_assert_int_eq(llo_t_pg.in_txn, 0);
    llo_t_pg.in_txn = 1;
    llo_t_pg.begins++;
    llo_t_pg.pending_rows = 0;

    return 0;
}


/* a row whose request_model is "BAD" is refused as data, as PostgreSQL
 * refuses a row that breaks a constraint: the whole statement fails */

int
llo_pg_rows(llo_pg_t *pg, const char *data, size_t len, uint64_t *inserted,
    char *err, size_t errlen)
{
    size_t  i, n;

    ck_assert_int_eq(llo_t_pg.in_txn, 1);
    *inserted = 0;

    if (llo_t_pg.down) {
        llo_t_pg.down--;
        pg->data_error = 0;
        snprintf(err, errlen, "server closed the connection");
        return -1;
    }

    if (memmem(data, len, "\tBAD\t", 5) != NULL) {
        pg->data_error = 1;
        snprintf(err, errlen, "SQLSTATE 23514: a bad row");
        return -1;
    }

    for (i = 0, n = 0; i < len; i++) {
        n += data[i] == '\n';
    }

    llo_t_pg.pending_rows = n;
    *inserted = n;

    return 0;
}


int
llo_pg_commit(llo_pg_t *pg, char *err, size_t errlen)
{
    ck_assert_int_eq(llo_t_pg.in_txn, 1);
    llo_t_pg.in_txn = 0;
    llo_t_pg.commits++;
    llo_t_pg.rows += llo_t_pg.pending_rows;

    return 0;
}


void
llo_pg_rollback(llo_pg_t *pg)
{
    if (llo_t_pg.in_txn) {
        llo_t_pg.in_txn = 0;
        llo_t_pg.rollbacks++;
    }
}


int
llo_pg_partitions(llo_pg_t *pg, const int *months, size_t n, char *err,
    size_t errlen)
{
    return 0;
}


void
llo_pg_forget_partitions(llo_pg_t *pg)
{
}


int
llo_pg_verdicts(llo_pg_t *pg, const char *data, size_t len,
    llo_pg_verdicts_e how, uint64_t *inserted, char *err, size_t errlen)
{
    *inserted = 0;

    return 0;
}


int
llo_pg_fail(llo_pg_t *pg, PGresult *res, const char *what, char *err,
    size_t errlen)
{
    snprintf(err, errlen, "%s failed", what);
    PQclear(res);

    return -1;
}


/* a sink that counts what the drain does with it */

typedef struct {
    int         added;
    int         applied;        /* inside a transaction */
    int         committed;
    int         rejected_calls;
    int         fail_data;      /* apply() refuses its data */
    uint64_t    rejected;
} llo_t_sink_t;


static void
llo_t_sink_reset(void *data)
{
    ((llo_t_sink_t *) data)->added = 0;
    ((llo_t_sink_t *) data)->rejected = 0;
}


static int
llo_t_sink_add(void *data, const llo_rec_t *rec, uint64_t instance,
    uint64_t seq, char *err, size_t errlen)
{
    ((llo_t_sink_t *) data)->added++;
    return 0;
}


static size_t
llo_t_sink_pending(void *data)
{
    return (size_t) ((llo_t_sink_t *) data)->added * 10;
}


static int
llo_t_sink_apply(void *data, llo_pg_t *pg, char *err, size_t errlen)
{
    llo_t_sink_t  *s = data;

    ck_assert_int_eq(llo_t_pg.in_txn, 1);

    if (s->fail_data) {
        pg->data_error = 1;
        snprintf(err, errlen, "SQLSTATE 23505: the sink's own fault");
        return -1;
    }

    s->applied++;

    return 0;
}


static void
llo_t_sink_reject(void *data, const char *why)
{
    llo_t_sink_t  *s = data;

    s->rejected_calls++;
    s->rejected = (uint64_t) s->added;
}


static void
llo_t_sink_committed(void *data)
{
    ((llo_t_sink_t *) data)->committed++;
}


static uint64_t
llo_t_sink_rejected(void *data)
{
    return ((llo_t_sink_t *) data)->rejected;
}


static void
llo_t_append(llo_ring_t *ring, int kind, const char *model)
{
    uint8_t    buf[512];
    size_t     n;
    llo_rec_t  rec;

    memset(&rec, 0, sizeof(llo_rec_t));
    llo_rec_num(&rec, LLO_N_KIND, kind);
    llo_rec_num(&rec, LLO_N_TS_US, 1796293230000123LL);
    llo_rec_str(&rec, LLO_S_REQUEST_MODEL, model, strlen(model));
    llo_rec_str(&rec, LLO_S_RESPONSE_MODEL, "m", 1);

    ck_assert_uint_le(llo_rec_size(&rec), sizeof(buf));
    n = llo_rec_encode(&rec, buf);
    ck_assert_uint_ne(llo_ring_append(ring, buf, n), 0);
}


/*
 * What every drain test starts from: an empty ring of 1 MiB named name
 * (path filled), a drain, a PostgreSQL of this file with nothing done,
 * and a configuration of batches of 1000.
 */

static void
llo_t_drain_setup(const char *name, char *path, size_t len, llo_ring_t *ring,
    llo_drain_t *d, llo_pg_t *pg, llo_conf_t *conf)
{
    char  err[1024];

    snprintf(path, len, "%s/%s.ring", llo_t_dir, name);
    ck_assert_int_eq(llo_ring_open(ring, path, 1 << 20, 1, 0600,
                                   (uid_t) -1, (gid_t) -1, err, sizeof(err)),
                     0);

    memset(d, 0, sizeof(llo_drain_t));
    memset(pg, 0, sizeof(llo_pg_t));
    memset(&llo_t_pg, 0, sizeof(llo_t_pg));
    memset(conf, 0, sizeof(llo_conf_t));
    conf->batch_size = 1000;
    conf->torn_timeout = 1000;
}


/*
 * 64 calls, 3 of them refused by the database, 2 key-set-like records
 * for the sink: the rows at fault are found by halves, the others are
 * committed once, the sink's part is committed with the batch, and a
 * connection failure releases nothing and doubles nothing.
 */

START_TEST(test_drain_halving)
{
    int            i;
    char           err[1024], path[512];
    llo_pg_t       pg;
    llo_conf_t     conf;
    llo_ring_t     ring;
    llo_sink_t     sink;
    llo_drain_t    d;
    llo_t_sink_t   ts;
    uint64_t       rpos;

    llo_t_drain_setup("halving", path, sizeof(path), &ring, &d, &pg, &conf);

    for (i = 0; i < 64; i++) {
        llo_t_append(&ring, LLO_KIND_CALL,
                     (i == 5 || i == 33 || i == 34) ? "BAD" : "gpt-4o");

        if (i == 10 || i == 50) {
            llo_t_append(&ring, LLO_KIND_KEYS, "-");
        }
    }

    memset(&ts, 0, sizeof(llo_t_sink_t));

    memset(&sink, 0, sizeof(llo_sink_t));
    sink.name = "test";
    sink.kind = LLO_KIND_KEYS;
    sink.data = &ts;
    sink.reset = llo_t_sink_reset;
    sink.add = llo_t_sink_add;
    sink.pending = llo_t_sink_pending;
    sink.apply = llo_t_sink_apply;
    sink.reject = llo_t_sink_reject;
    sink.committed = llo_t_sink_committed;
    sink.rejected = llo_t_sink_rejected;

    ck_assert_int_eq(llo_drain_add_sink(&d, &sink), 0);
    ck_assert_int_eq(llo_drain_add_sink(&d, &sink), -1);
    ck_assert_int_eq(llo_drain_attach(&d, path, err, sizeof(err)), 0);

    /* the connection fails: nothing released, nothing counted */

    rpos = llo_ring_rpos(&d.ring);
    llo_t_pg.down = 1;

    ck_assert_int_eq(llo_drain_batch(&d, &pg, &conf, err, sizeof(err)),
                     LLO_DRAIN_FAILED);
    ck_assert_uint_eq(llo_ring_rpos(&d.ring), rpos);
    ck_assert_uint_eq(d.records, 0);
    ck_assert_int_eq(llo_t_pg.commits, 0);
    ck_assert_int_eq(ts.committed, 0);

    /* again: the batch fails as data, then the sink alone passes and the
     * rows are split down to the three at fault */

    memset(&llo_t_pg, 0, sizeof(llo_t_pg));

    ck_assert_int_eq(llo_drain_batch(&d, &pg, &conf, err, sizeof(err)),
                     LLO_DRAIN_EMPTY);

    ck_assert_uint_eq(d.records, 66);
    ck_assert_uint_eq(d.inserted, 61);
    ck_assert_uint_eq(d.bad, 3);
    ck_assert_uint_eq(d.duplicates, 0);
    ck_assert_uint_eq(llo_t_pg.rows, 61);
    ck_assert_int_eq(ts.added, 2);
    ck_assert_int_eq(ts.applied, 1);            /* alone, after the fall */
    ck_assert_int_eq(ts.committed, 1);
    ck_assert_int_eq(ts.rejected_calls, 0);
    ck_assert_uint_gt(llo_ring_rpos(&d.ring), rpos);
    ck_assert_int_eq(llo_t_pg.in_txn, 0);

    /* a few bad rows cost about 2 log2(n) transactions each, not n */
    ck_assert_int_le(llo_t_pg.begins, 2 + 3 * 2 * 6);
    ck_assert_int_eq(llo_t_pg.begins, llo_t_pg.commits + llo_t_pg.rollbacks);

    /* nothing is read twice */
    ck_assert_int_eq(llo_drain_batch(&d, &pg, &conf, err, sizeof(err)),
                     LLO_DRAIN_EMPTY);
    ck_assert_uint_eq(d.records, 66);

    /* a sink whose data is refused even alone: its records are left out,
     * the rows still go in */

    llo_t_append(&ring, LLO_KIND_CALL, "gpt-4o");
    llo_t_append(&ring, LLO_KIND_KEYS, "-");
    ts.fail_data = 1;
    memset(&llo_t_pg, 0, sizeof(llo_t_pg));

    ck_assert_int_eq(llo_drain_batch(&d, &pg, &conf, err, sizeof(err)),
                     LLO_DRAIN_EMPTY);
    ck_assert_int_eq(ts.rejected_calls, 1);
    ck_assert_uint_eq(d.inserted, 62);
    ck_assert_uint_eq(d.bad, 4);

    llo_drain_free(&d);
    llo_ring_close(&ring);
    (void) unlink(path);
}
END_TEST


/*
 * A row sink that writes a line per row, and whose lines are refused as
 * data when one of them is a "VBAD" row's: like a verdict that breaks a
 * constraint while its row is fine.
 */

typedef struct {
    char        model[128][8];
    size_t      nrows;
    int         dropped[128];
    int         ndropped;
    int         committed;
    int         prepared;       /* times */
    int         all_new;        /* applies told all their rows were new */
    uint64_t    applied;        /* rows applied in transactions */
} llo_t_rsink_t;


static void
llo_t_rsink_reset(void *data)
{
    llo_t_rsink_t  *s = data;

    s->nrows = 0;
    s->ndropped = 0;
    memset(s->dropped, 0, sizeof(s->dropped));
}


static int
llo_t_rsink_prepare(void *data, const llo_row_t *rows, size_t n)
{
    llo_t_rsink_t     *s = data;
    size_t             row;
    const llo_str_t   *m;

    ck_assert_uint_le(n, 128);

    for (row = 0; row < n; row++) {
        m = llo_rec_get_str(&rows[row].rec, LLO_S_REQUEST_MODEL);
        snprintf(s->model[row], 8, "%.*s", (int) m->len, m->data);
    }

    s->nrows = n;
    s->prepared++;

    return 0;
}


static size_t
llo_t_rsink_pending(void *data)
{
    return ((llo_t_rsink_t *) data)->nrows * 8;
}


static int
llo_t_rsink_apply(void *data, llo_pg_t *pg, size_t lo, size_t hi,
    int all_new, char *err, size_t errlen)
{
    llo_t_rsink_t  *s = data;
    size_t          i;

    ck_assert_uint_lt(lo, hi);
    ck_assert_uint_le(hi, s->nrows);

    for (i = lo; i < hi; i++) {
        /* a row already left out is never written again */
        ck_assert_int_eq(s->dropped[i], 0);

        if (strcmp(s->model[i], "VBAD") == 0) {
            pg->data_error = 1;
            snprintf(err, errlen, "SQLSTATE 23514: a bad verdict");
            return -1;
        }
    }

    s->applied += hi - lo;
    s->all_new += all_new;

    return 0;
}


static void
llo_t_rsink_drop(void *data, size_t row, const char *why)
{
    llo_t_rsink_t  *s = data;

    ck_assert_uint_lt(row, s->nrows);
    ck_assert_int_eq(s->dropped[row], 0);
    s->dropped[row] = 1;
    s->ndropped++;
}


static void
llo_t_rsink_committed(void *data)
{
    ((llo_t_rsink_t *) data)->committed++;
}


/*
 * 100 calls: 2 rows refused by the database, 3 whose row sink part is:
 * every good row is stored once, with its part when that is good; a row
 * whose part is refused is stored without it; the refused rows' parts are
 * dropped too.
 */

START_TEST(test_drain_row_sink)
{
    int             i;
    char            err[1024], path[512];
    llo_pg_t        pg;
    llo_conf_t      conf;
    llo_ring_t      ring;
    llo_drain_t     d;
    llo_row_sink_t  sink;
    llo_t_rsink_t   rs;

    llo_t_drain_setup("rowsink", path, sizeof(path), &ring, &d, &pg, &conf);

    for (i = 0; i < 100; i++) {
        llo_t_append(&ring, LLO_KIND_CALL,
                     (i == 7 || i == 60) ? "BAD"
                     : (i == 8 || i == 40 || i == 99) ? "VBAD" : "gpt-4o");
    }

    memset(&rs, 0, sizeof(llo_t_rsink_t));

    memset(&sink, 0, sizeof(llo_row_sink_t));
    sink.name = "test rows";
    sink.data = &rs;
    sink.reset = llo_t_rsink_reset;
    sink.prepare = llo_t_rsink_prepare;
    sink.pending = llo_t_rsink_pending;
    sink.apply = llo_t_rsink_apply;
    sink.drop = llo_t_rsink_drop;
    sink.committed = llo_t_rsink_committed;

    ck_assert_int_eq(llo_drain_add_row_sink(&d, &sink), 0);
    ck_assert_int_eq(llo_drain_attach(&d, path, err, sizeof(err)), 0);

    ck_assert_int_eq(llo_drain_batch(&d, &pg, &conf, err, sizeof(err)),
                     LLO_DRAIN_EMPTY);

    ck_assert_uint_eq(d.records, 100);
    ck_assert_uint_eq(d.inserted, 98);
    ck_assert_uint_eq(llo_t_pg.rows, 98);
    ck_assert_uint_eq(d.bad, 2);
    ck_assert_int_eq(rs.committed, 1);
    ck_assert_int_eq(rs.prepared, 1);
    ck_assert_int_gt(rs.all_new, 0);
    ck_assert_int_eq(rs.ndropped, 5);
    ck_assert_int_eq(rs.dropped[7] + rs.dropped[60], 2);
    ck_assert_int_eq(rs.dropped[8] + rs.dropped[40] + rs.dropped[99], 3);
    ck_assert_int_eq(llo_t_pg.in_txn, 0);
    ck_assert_int_eq(llo_t_pg.begins, llo_t_pg.commits + llo_t_pg.rollbacks);

    llo_drain_free(&d);
    llo_ring_close(&ring);
    (void) unlink(path);
}
END_TEST


/* -- the event loop -------------------------------------------------------- */


static int  llo_t_order[8];
static int  llo_t_norder;

static volatile sig_atomic_t  llo_t_flag;


static void
llo_t_timer(llo_loop_t *loop, llo_timer_t *t)
{
    llo_t_order[llo_t_norder++] = (int) (intptr_t) t->data;
}


static void
llo_t_fd(llo_loop_t *loop, int fd, int revents, void *data)
{
    char  c;

    ck_assert(revents & POLLIN);
    ck_assert_int_eq(read(fd, &c, 1), 1);
    *(char *) data = c;
}


static void
llo_t_signal(int signo)
{
    llo_t_flag = 1;
}


START_TEST(test_loop)
{
    int          fds[2];
    char         got;
    pid_t        pid;
    int64_t      t0;
    llo_loop_t   loop;
    llo_timer_t  a, b, c;
    struct sigaction  sa;

    llo_loop_init(&loop);

    ck_assert_int_eq(llo_loop_timer(&loop, &a, "a", llo_t_timer,
                                    (void *) 1), 0);
    ck_assert_int_eq(llo_loop_timer(&loop, &b, "b", llo_t_timer,
                                    (void *) 2), 0);
    ck_assert_int_eq(llo_loop_timer(&loop, &c, "c", llo_t_timer,
                                    (void *) 3), 0);

    /* nothing armed: max_ms bounds the wait, nothing runs */
    t0 = llo_now_ms();
    ck_assert_int_eq(llo_loop_once(&loop, 30), 0);
    ck_assert_int_ge(llo_now_ms() - t0, 25);

    /* due ones run, in registration order; a later one waits */
    llo_t_norder = 0;
    llo_timer_in(&c, 0);
    llo_timer_in(&a, 0);
    llo_timer_in(&b, 40);

    ck_assert_int_eq(llo_loop_once(&loop, -1), 2);
    ck_assert_int_eq(llo_t_norder, 2);
    ck_assert_int_eq(llo_t_order[0], 1);
    ck_assert_int_eq(llo_t_order[1], 3);
    ck_assert(!llo_timer_armed(&a) && !llo_timer_armed(&c));
    ck_assert(llo_timer_armed(&b));

    t0 = llo_now_ms();
    ck_assert_int_eq(llo_loop_once(&loop, -1), 1);
    ck_assert_int_ge(llo_now_ms() - t0, 30);
    ck_assert_int_eq(llo_t_order[2], 2);

    /* an fd that becomes readable ends the wait before a far timer */
    ck_assert_int_eq(pipe(fds), 0);
    got = 0;
    ck_assert_int_eq(llo_loop_fd(&loop, fds[0], POLLIN, llo_t_fd, &got), 0);
    llo_timer_in(&a, 10000);
    ck_assert_int_eq(write(fds[1], "x", 1), 1);

    t0 = llo_now_ms();
    ck_assert_int_eq(llo_loop_once(&loop, -1), 1);
    ck_assert_int_eq(got, 'x');
    ck_assert_int_lt(llo_now_ms() - t0, 5000);
    llo_loop_fd_del(&loop, fds[0]);

    /* a watched signal ends the wait: its handler only set the flag */
    memset(&sa, 0, sizeof(struct sigaction));
    sa.sa_handler = llo_t_signal;
    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
    ck_assert_int_eq(llo_loop_signal(&loop, SIGUSR1, &llo_t_flag), 0);

    pid = fork();
    ck_assert_int_ge(pid, 0);

    if (pid == 0) {
        usleep(50000);
        kill(getppid(), SIGUSR1);
        _exit(0);
    }

    t0 = llo_now_ms();
    ck_assert_int_eq(llo_loop_once(&loop, -1), 0);
    ck_assert_int_eq(llo_t_flag, 1);
    ck_assert_int_lt(llo_now_ms() - t0, 5000);
    (void) waitpid(pid, NULL, 0);

    /* a flag already set: no wait at all */
    t0 = llo_now_ms();
    ck_assert_int_eq(llo_loop_once(&loop, -1), 0);
    ck_assert_int_lt(llo_now_ms() - t0, 1000);

    close(fds[0]);
    close(fds[1]);
}
END_TEST


/* a handler that removes another fd: every ready fd runs once, at most */

typedef struct {
    llo_loop_t         *loop;
    int                 del;            /* the fd to remove, -1: none */
    int                 runs;
} llo_t_fdrun_t;


static void
llo_t_fd_del(llo_loop_t *loop, int fd, int revents, void *data)
{
    llo_t_fdrun_t  *r;

    r = data;
    r->runs++;

    if (r->del != -1) {
        llo_loop_fd_del(loop, r->del);
    }
}


START_TEST(test_loop_del)
{
    int            i, p[3][2];
    llo_loop_t     loop;
    llo_timer_t    a;
    llo_t_fdrun_t  r[3];

    llo_loop_init(&loop);

    for (i = 0; i < 3; i++) {
        ck_assert_int_eq(pipe(p[i]), 0);
        ck_assert_int_eq(write(p[i][1], "x", 1), 1);
        r[i].loop = &loop;
        r[i].del = -1;
        r[i].runs = 0;
        ck_assert_int_eq(llo_loop_fd(&loop, p[i][0], POLLIN, llo_t_fd_del,
                                     &r[i]), 0);
    }

    /* the last runs first and removes the first: the last moves there */
    r[2].del = p[0][0];

    ck_assert_int_eq(llo_loop_once(&loop, 1000), 2);
    ck_assert_int_eq(r[0].runs, 0);
    ck_assert_int_eq(r[1].runs, 1);
    ck_assert_int_eq(r[2].runs, 1);
    ck_assert_uint_eq(loop.nfds, 2);

    /* a timer unregistered, armed or not, never runs again */
    llo_t_norder = 0;
    llo_loop_fd_del(&loop, p[1][0]);
    llo_loop_fd_del(&loop, p[2][0]);
    ck_assert_int_eq(llo_loop_timer(&loop, &a, "a", llo_t_timer,
                                    (void *) 1), 0);
    llo_timer_in(&a, 0);
    llo_loop_timer_del(&loop, &a);
    ck_assert_uint_eq(loop.ntimers, 0);
    ck_assert(!llo_timer_armed(&a));
    ck_assert_int_eq(llo_loop_once(&loop, 20), 0);
    ck_assert_int_eq(llo_t_norder, 0);

    for (i = 0; i < 3; i++) {
        close(p[i][0]);
        close(p[i][1]);
    }
}
END_TEST


int
main(void)
{
    int     failed;
    char    err[256];
    Suite  *s;
    TCase  *tc;

    if (mkdtemp(llo_t_dir) == NULL) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }

    /* the drain's logs of the rows at fault go nowhere */
    if (getenv("LLO_T_LOG") == NULL) {
        (void) llo_log_open("/dev/null", err, sizeof(err));
    }

    s = suite_create("eval");

    tc = tcase_create("conf");
    tcase_add_test(tc, test_conf_errors);
    tcase_add_test(tc, test_conf_values);
    tcase_add_test(tc, test_conf_restart);
    suite_add_tcase(s, tc);

    tc = tcase_create("copy");
    tcase_add_test(tc, test_copy_every_byte);
    tcase_add_test(tc, test_copy_utf8);
    tcase_add_test(tc, test_copy_row);
    tcase_add_test(tc, test_copy_redact);
    tcase_add_test(tc, test_call_metrics);
    suite_add_tcase(s, tc);

    tc = tcase_create("drain");
    tcase_add_test(tc, test_drain_halving);
    tcase_add_test(tc, test_drain_row_sink);
    suite_add_tcase(s, tc);

    tc = tcase_create("loop");
    tcase_add_test(tc, test_loop);
    tcase_add_test(tc, test_loop_del);
    suite_add_tcase(s, tc);

    failed = llo_t_run_suite(s);

    (void) rmdir(llo_t_dir);

    return llo_t_exit(failed);
}
