/*
 * llm-evaluator's /metrics: see llo_eval_metrics.h.
 */

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>

#include "llo_eval_log.h"
#include "llo_eval_metrics.h"
#include "llo_eval_stats.h"


static void llo_metrics_table(llo_buf_t *b, const llo_stat_t *table,
    const void *base);
static void llo_metrics_family(llo_buf_t *b, const char *name,
    const char *type, const char *help);
static void llo_metrics_value(llo_buf_t *b, const char *name,
    const char *labels, double v);
static void llo_metrics_process(llo_buf_t *b);
static size_t llo_metrics_len(int n, size_t size);
static void llo_metrics_judge(llo_buf_t *b, const llo_judge_t *j);
static void llo_metrics_batches(llo_buf_t *b, const llo_batch_hist_t *h);


static const double  llo_batch_bounds[LLO_BATCH_BUCKETS] = {
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
};


void
llo_metrics_batch(llo_batch_hist_t *h, double seconds)
{
    size_t  i;

    for (i = 0; i < LLO_BATCH_BUCKETS && seconds > llo_batch_bounds[i]; i++)
    {
        /* void */
    }

    if (i < LLO_BATCH_BUCKETS) {
        h->bucket[i]++;
    }

    h->count++;
    h->sum += seconds;
}


void
llo_metrics_handler(void *data, const llo_http_request_t *req,
    llo_http_reply_t *reply)
{
    reply->content_type = "text/plain; version=0.0.4; charset=utf-8";
    llo_metrics_render(data, reply->body);
}


void
llo_metrics_render(const llo_metrics_t *m, llo_buf_t *b)
{
    char              labels[128];
    llo_ring_stats_t  rs;

    /* the ring's own counters, live from its header: nginx's too */
    if (m->drain->attached) {
        llo_ring_stats_read(&m->drain->ring, &rs);
        llo_metrics_table(b, llo_ring_stat_table, &rs);
    }

    if (m->calls != NULL) {
        llo_cm_render(m->calls, b);
    }

    llo_metrics_table(b, llo_drain_stat_table, m->drain);
    llo_metrics_table(b, llo_verdict_stat_table, m->verdicts);
    llo_metrics_table(b, llo_judge_stat_table, m->judge);

    llo_metrics_judge(b, m->judge);
    llo_metrics_batches(b, m->batches);

    llo_metrics_family(b, "llm_evaluator_db_up", "gauge",
                       "1 while the evaluator is connected to PostgreSQL");
    llo_metrics_value(b, "llm_evaluator_db_up", NULL,
                      m->pg->conn != NULL ? 1 : 0);

    llo_metrics_family(b, "llm_evaluator_db_write_errors_total", "counter",
                       "Batches PostgreSQL failed to take (left in the "
                       "ring, tried again)");
    llo_metrics_value(b, "llm_evaluator_db_write_errors_total", NULL,
                      (double) *m->db_errors);

    llo_metrics_family(b, "llm_evaluator_last_flush_timestamp_seconds",
                       "gauge", "When a batch was last committed, unix "
                       "time; 0: none since the start");
    llo_metrics_value(b, "llm_evaluator_last_flush_timestamp_seconds", NULL,
                      *m->last_commit_ms / 1000.0);

    llo_metrics_family(b, "llm_evaluator_ring_attached", "gauge",
                       "1 while the evaluator has the ring mapped");
    llo_metrics_value(b, "llm_evaluator_ring_attached", NULL,
                      m->drain->attached ? 1 : 0);

    snprintf(labels, sizeof(labels), "version=\"%s\"", m->version);
    llo_metrics_family(b, "llm_evaluator_build_info", "gauge",
                       "The evaluator's version, as a label; always 1");
    llo_metrics_value(b, "llm_evaluator_build_info", labels, 1);

    llo_metrics_process(b);
}


static void
llo_metrics_table(llo_buf_t *b, const llo_stat_t *table, const void *base)
{
    const llo_stat_t  *st;

    for (st = table; st->name; st++) {
        if (st->metric == NULL) {
            continue;
        }

        llo_metrics_family(b, st->metric,
                           st->type == LLO_STAT_COUNTER ? "counter" : "gauge",
                           st->help);
        llo_metrics_value(b, st->metric, NULL,
                          (double) *(const uint64_t *) ((const char *) base
                                                        + st->offset));
    }
}


static void
llo_metrics_family(llo_buf_t *b, const char *name, const char *type,
    const char *help)
{
    int   n;
    char  tmp[512];

    n = snprintf(tmp, sizeof(tmp), "# HELP %s %s\n# TYPE %s %s\n", name,
                 help, name, type);
    llo_buf_add(b, tmp, llo_metrics_len(n, sizeof(tmp)));
}


static void
llo_metrics_value(llo_buf_t *b, const char *name, const char *labels,
    double v)
{
    int   n;
    char  tmp[512];

    /* %.17g: integers up to 2^53 print exactly, no exponent below 1e17 */
    n = snprintf(tmp, sizeof(tmp), "%s%s%s%s %.17g\n", name,
                 labels ? "{" : "", labels ? labels : "", labels ? "}" : "",
                 v);
    llo_buf_add(b, tmp, llo_metrics_len(n, sizeof(tmp)));
}


/*
 * The process_* metrics every Prometheus client library exports, from
 * /proc/self as they do: CPU, memory, file descriptors, start time.
 */

static void
llo_metrics_process(llo_buf_t *b)
{
    int             fds;
    FILE           *f;
    DIR            *d;
    char            buf[1024], *p;
    long            tick, page;
    double          boot, start;
    struct rlimit   rl;
    unsigned long   utime, stime, vsize;
    long            rss;
    unsigned long long  starttime;

    tick = sysconf(_SC_CLK_TCK);
    page = sysconf(_SC_PAGESIZE);

    f = fopen("/proc/self/stat", "r");
    if (f == NULL) {
        return;
    }

    p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
    fclose(f);

    /* after the name: state ppid ... utime(14) stime(15) ... starttime(22)
     * vsize(23) rss(24), counted from the field after ')' as 3 */
    if (p == NULL
        || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu "
                  "%*d %*d %*d %*d %*d %*d %llu %lu %ld", &utime, &stime,
                  &starttime, &vsize, &rss) != 5)
    {
        return;
    }

    boot = 0;
    f = fopen("/proc/stat", "r");

    while (f != NULL && fgets(buf, sizeof(buf), f) != NULL) {
        if (strncmp(buf, "btime ", 6) == 0) {
            boot = strtod(buf + 6, NULL);
            break;
        }
    }

    if (f != NULL) {
        fclose(f);
    }

    start = boot + (double) starttime / (double) tick;

    fds = 0;
    d = opendir("/proc/self/fd");

    while (d != NULL && readdir(d) != NULL) {
        fds++;
    }

    if (d != NULL) {
        closedir(d);
        fds -= 3;       /* ".", ".." and the directory's own fd */
    }

    llo_metrics_family(b, "process_cpu_seconds_total", "counter",
                       "Total user and system CPU time spent in seconds");
    llo_metrics_value(b, "process_cpu_seconds_total", NULL,
                      (double) (utime + stime) / (double) tick);

    llo_metrics_family(b, "process_resident_memory_bytes", "gauge",
                       "Resident memory size in bytes");
    llo_metrics_value(b, "process_resident_memory_bytes", NULL,
                      (double) rss * (double) page);

    llo_metrics_family(b, "process_virtual_memory_bytes", "gauge",
                       "Virtual memory size in bytes");
    llo_metrics_value(b, "process_virtual_memory_bytes", NULL,
                      (double) vsize);

    llo_metrics_family(b, "process_start_time_seconds", "gauge",
                       "Start time of the process since unix epoch in "
                       "seconds");
    llo_metrics_value(b, "process_start_time_seconds", NULL, start);

    llo_metrics_family(b, "process_open_fds", "gauge",
                       "Number of open file descriptors");
    llo_metrics_value(b, "process_open_fds", NULL, fds);

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        llo_metrics_family(b, "process_max_fds", "gauge",
                           "Maximum number of open file descriptors");
        llo_metrics_value(b, "process_max_fds", NULL,
                          rl.rlim_cur == RLIM_INFINITY
                          ? 1e9 : (double) rl.rlim_cur);
    }
}


/* the judge's calls by how they ended, and what they cost */

static void
llo_metrics_judge(llo_buf_t *b, const llo_judge_t *j)
{
    llo_metrics_family(b, "llm_evaluator_judge_requests_total", "counter",
                       "Calls to the LLM judge by how they ended: verdict, "
                       "retry (to be made again), failed (no verdict, final)");
    llo_metrics_value(b, "llm_evaluator_judge_requests_total",
                      "status=\"verdict\"", (double) j->judged);
    llo_metrics_value(b, "llm_evaluator_judge_requests_total",
                      "status=\"retry\"", (double) j->retried);
    llo_metrics_value(b, "llm_evaluator_judge_requests_total",
                      "status=\"failed\"", (double) j->failed);

    llo_metrics_family(b, "llm_evaluator_judge_cost_usd_total", "counter",
                       "What the judge's answers cost by the price list, "
                       "USD, since the start");
    llo_metrics_value(b, "llm_evaluator_judge_cost_usd_total", NULL,
                      (double) j->cost_total / 1e9);
}


static void
llo_metrics_batches(llo_buf_t *b, const llo_batch_hist_t *h)
{
    int       n;
    char      tmp[512];
    size_t    i;
    uint64_t  cum;

    static const char  name[] = "llm_evaluator_batch_duration_seconds";

    llo_metrics_family(b, name, "histogram",
                       "How long the batches that committed took, from the "
                       "ring to COMMIT");
    cum = 0;

    for (i = 0; h != NULL && i < LLO_BATCH_BUCKETS; i++) {
        cum += h->bucket[i];
        n = snprintf(tmp, sizeof(tmp), "%s_bucket{le=\"%g\"} %llu\n", name,
                     llo_batch_bounds[i], (unsigned long long) cum);
        llo_buf_add(b, tmp, llo_metrics_len(n, sizeof(tmp)));
    }

    n = snprintf(tmp, sizeof(tmp), "%s_bucket{le=\"+Inf\"} %llu\n"
                 "%s_sum %.17g\n%s_count %llu\n", name,
                 (unsigned long long) (h ? h->count : 0), name,
                 h ? h->sum : 0.0, name,
                 (unsigned long long) (h ? h->count : 0));
    llo_buf_add(b, tmp, llo_metrics_len(n, sizeof(tmp)));
}


/* what snprintf() wrote of n bytes into size: never past the buffer */

static size_t
llo_metrics_len(int n, size_t size)
{
    return n < 0 ? 0 : (size_t) n < size ? (size_t) n : size - 1;
}
