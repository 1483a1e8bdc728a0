/*
 * llm-evaluator: moves the records the nginx module leaves in the
 * shared-memory ring into PostgreSQL.
 *
 * main() reads top to bottom: command line -> configuration -> the
 * command (run, drain, migrate, ring-stat).  "run" is the daemon: open the
 * log, signals, pid file, then the event loop whose timers attach to the
 * ring, connect to PostgreSQL and drain the ring batch by batch.
 */

#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "llo_ring.h"
#include "llo_eval_conf.h"
#include "llo_eval_drain.h"
#include "llo_eval_keygen.h"
#include "llo_eval_keys.h"
#include "llo_eval_log.h"
#include "llo_eval_loop.h"
#include "llo_eval_pg.h"
#include "llo_eval_stats.h"
#include "llo_rules.h"
#include "llo_rules_cache.h"
#include "llo_eval_verdicts.h"
#include "llo_eval_rules_cli.h"
#include "llo_eval_judge.h"
#include "llo_eval_http.h"
#include "llo_eval_metrics.h"
#include "llo_eval_callmetrics.h"
#include "llo_eval_alerts.h"


#define LLO_EVAL_VERSION        "0.1.0"

#define LLO_BACKOFF_MIN_MS      100
#define LLO_BACKOFF_MAX_MS      10000
#define LLO_ATTACH_RETRY_MS     1000
#define LLO_BUSY_RETRY_MS       10
#define LLO_MAINTAIN_MS         (3600 * 1000)
#define LLO_RING_CHECK_MS       1000
#define LLO_OUTAGE_REMIND_MS    60000


typedef struct {
    llo_conf_t          conf;
    const char         *conf_file;      /* NULL: defaults and -o only */
    char              **overrides;
    int                 noverrides;

    llo_pg_t            pg;
    llo_drain_t         drain;

    /* the drain's sinks: what a batch writes besides its rows */
    llo_keysets_t       keys;
    llo_sink_t          keys_sink;
    llo_verdicts_t      verdicts;
    llo_row_sink_t      verdicts_sink;
    llo_judge_t         judge;          /* the judge's queue, and worker */
    llo_row_sink_t      judge_sink;

    /* rules_file's, NULL: calls are stored unscored */
    llo_rules_t        *rules;
    llo_rules_cache_t  *cache;

    /* the daemon: a loop of timers (llo_eval_loop.h) */
    llo_loop_t          loop;
    llo_timer_t         attach;         /* to the ring, every second */
    llo_timer_t         connect;        /* to PostgreSQL, with backoff */
    llo_timer_t         batch;          /* a batch; at once while full */
    llo_timer_t         maintain;       /* partitions ahead, hourly */

    int64_t             outage_since;   /* wall clock ms, 0: none */
    int64_t             last_commit_ms; /* wall clock, 0: none yet */
    uint64_t            db_errors;      /* batches PostgreSQL failed */

    /* /metrics and the rest of http_listen's routes */
    llo_metrics_t       metrics;
    llo_alerts_t        alerts;         /* POST /alerts, its own connection */
    llo_http_route_t    routes[4];
    llo_http_t         *http;
    llo_cm_t           *calls;          /* per-call metrics, a row sink */
    llo_batch_hist_t    batch_hist;
    llo_row_sink_t      calls_sink;
    int64_t             backoff;
    int64_t             next_ring_check;
    int                 rc;             /* of "run": 1 after a fatal error */
    unsigned            reconnect_logged:1;
    unsigned            pid_written:1;
    unsigned            fatal:1;
} llo_eval_t;


static int llo_eval_run(llo_eval_t *ev);
static void llo_eval_attach_timer(llo_loop_t *loop, llo_timer_t *t);
static void llo_eval_connect_timer(llo_loop_t *loop, llo_timer_t *t);
static void llo_eval_drain_timer(llo_loop_t *loop, llo_timer_t *t);
static void llo_eval_maintain_timer(llo_loop_t *loop, llo_timer_t *t);
static void llo_eval_failed(llo_eval_t *ev, const char *why);
static int llo_eval_drain(llo_eval_t *ev);
static int llo_eval_migrate(llo_eval_t *ev);
static int llo_eval_ring_stat(llo_eval_t *ev);
static int llo_eval_connect(llo_eval_t *ev, char *err, size_t errlen);
static int llo_eval_attach(llo_eval_t *ev, char *err, size_t errlen);
static void llo_eval_outage(llo_eval_t *ev, const char *why);
static void llo_eval_recovered(llo_eval_t *ev);
static void llo_eval_reload(llo_eval_t *ev);
static int llo_eval_rules_load(const llo_conf_t *conf, llo_rules_t **rules,
    char *err, size_t errlen);
static int llo_eval_rules_use(llo_eval_t *ev, llo_rules_t *rules,
    char *err, size_t errlen);
static int llo_eval_log_open(llo_eval_t *ev);
static int llo_pid_write(const char *path);
static void llo_signals_init(llo_loop_t *loop);
static void llo_signal_handler(int signo);
static void llo_usage(FILE *f);
static int llo_eval_conf_read(llo_eval_t *ev);
static int llo_eval_conf_cmd(llo_eval_t *ev, const char *cmd, int argc,
    char **argv);


typedef struct {
    const char         *name;
    int               (*handler)(llo_eval_t *ev);
} llo_cmd_t;


static const llo_cmd_t  llo_commands[] = {
    { "run",        llo_eval_run },
    { "drain",      llo_eval_drain },
    { "migrate",    llo_eval_migrate },
    { "ring-stat",  llo_eval_ring_stat },
    { NULL, NULL }
};

static volatile sig_atomic_t  llo_quit;
static volatile sig_atomic_t  llo_reconfigure;


int
main(int argc, char **argv)
{
    int                 c, test, dump, rc;
    char                err[1024];
    llo_rules_t        *rules;
    const char         *cmd;
    llo_eval_t          ev;
    const llo_cmd_t    *command;

    memset(&ev, 0, sizeof(llo_eval_t));

    ev.overrides = calloc(argc, sizeof(char *));
    if (ev.overrides == NULL) {
        fprintf(stderr, "llm-evaluator: out of memory\n");
        return 1;
    }

    test = 0;
    dump = 0;
    rc = 1;

    while ((c = getopt(argc, argv, "+c:o:tTh")) != -1) {
        switch (c) {

        case 'c':
            ev.conf_file = optarg;
            break;

        case 'o':
            ev.overrides[ev.noverrides++] = optarg;
            break;

        case 't':
            test = 1;
            break;

        case 'T':
            test = 1;
            dump = 1;
            break;

        case 'h':
            llo_usage(stdout);
            rc = 0;
            goto done;

        default:
            llo_usage(stderr);
            goto done;
        }
    }

    cmd = optind < argc ? argv[optind++] : "run";

    /* keygen and rules need no configuration and take arguments of
     * their own */
    if (strcmp(cmd, "keygen") == 0) {
        rc = llo_keygen(argc - optind, argv + optind);
        goto done;
    }

    /* rules needs the configuration only to read stored calls */
    if (strcmp(cmd, "rules") == 0
        && !(argc - optind == 4 && strcmp(argv[optind + 2], "--since") == 0))
    {
        rc = llo_rules_cmd(argc - optind, argv + optind, NULL);
        goto done;
    }

    if (strcmp(cmd, "rules") == 0 || strcmp(cmd, "rescore") == 0) {
        rc = llo_eval_conf_cmd(&ev, cmd, argc - optind, argv + optind);
        goto done;
    }

    for (command = llo_commands; command->name; command++) {
        if (strcmp(command->name, cmd) == 0) {
            break;
        }
    }

    if (command->name == NULL) {
        fprintf(stderr, "llm-evaluator: unknown command \"%s\"\n", cmd);
        llo_usage(stderr);
        goto done;
    }

    if (optind < argc) {
        fprintf(stderr, "llm-evaluator: unexpected argument \"%s\"\n",
                argv[optind]);
        llo_usage(stderr);
        goto done;
    }

    if (llo_eval_conf_read(&ev) != 0) {
        goto done;
    }

    /* the rules and the judge's settings are part of the configuration:
     * -t checks them too */
    if (llo_eval_rules_load(&ev.conf, &rules, err, sizeof(err)) != 0
        || llo_eval_rules_use(&ev, rules, err, sizeof(err)) != 0
        || llo_judge_configure(&ev.judge, &ev.conf, err, sizeof(err)) != 0
        || (ev.conf.http_listen[0] != '\0'
            && llo_http_addr_check(ev.conf.http_listen, err, sizeof(err))
               != 0))
    {
        fprintf(stderr, "llm-evaluator: %s\n", err);
        goto done;
    }

    if (test) {
        if (dump) {
            llo_conf_dump(&ev.conf, STDOUT_FILENO);
        }

        fprintf(stderr, "llm-evaluator: configuration %s%s%stest is "
                "successful\n", ev.conf_file ? "file \"" : "",
                ev.conf_file ? ev.conf_file : "", ev.conf_file ? "\" " : "");
        rc = 0;
        goto done;
    }

    /* the key sets of nginx's reloads, in the batch's transaction */
    llo_keysets_sink(&ev.keys, &ev.keys_sink);
    (void) llo_drain_add_sink(&ev.drain, &ev.keys_sink);

    /* every call's verdict, in the transaction of its row */
    llo_verdicts_sink(&ev.verdicts, &ev.verdicts_sink);
    (void) llo_drain_add_row_sink(&ev.drain, &ev.verdicts_sink);

    /* after the verdicts: the judge's choice reads them */
    llo_judge_sink(&ev.judge, &ev.verdicts, &ev.judge_sink);
    (void) llo_drain_add_row_sink(&ev.drain, &ev.judge_sink);

    rc = command->handler(&ev);

done:

    llo_drain_free(&ev.drain);
    llo_keysets_free(&ev.keys);
    llo_verdicts_free(&ev.verdicts);
    llo_judge_free(&ev.judge);
    llo_http_stop(ev.http);
    llo_alerts_free(&ev.alerts);
    llo_cm_free(ev.calls);
    llo_rules_free(ev.rules);
    llo_rules_cache_free(ev.cache);
    llo_pg_free(&ev.pg);
    llo_conf_free(&ev.conf);
    llo_log_close();
    free(ev.overrides);

    return rc;
}


/* the configuration of -c and -o; its errors on stderr */

static int
llo_eval_conf_read(llo_eval_t *ev)
{
    char         err[1024];
    struct stat  st;

    /* without -c the default file is optional, so -o alone is enough */
    if (ev->conf_file == NULL && stat(LLO_CONF_DEFAULT_FILE, &st) == 0) {
        ev->conf_file = LLO_CONF_DEFAULT_FILE;
    }

    if (llo_conf_load(&ev->conf, ev->conf_file, ev->overrides,
                      ev->noverrides, err, sizeof(err))
        != 0)
    {
        fprintf(stderr, "llm-evaluator: %s\n", err);
        return -1;
    }

    return 0;
}


/* rules test --since, rescore: commands with arguments, over the conf */

static int
llo_eval_conf_cmd(llo_eval_t *ev, const char *cmd, int argc, char **argv)
{
    if (llo_eval_conf_read(ev) != 0) {
        return 1;
    }

    return strcmp(cmd, "rescore") == 0
           ? llo_rescore_cmd(argc, argv, &ev->conf)
           : llo_rules_cmd(argc, argv, &ev->conf);
}


static void
llo_usage(FILE *f)
{
    fprintf(f,
        "llm-evaluator " LLO_EVAL_VERSION "\n"
        "usage: llm-evaluator [-c file] [-o key=value]... [-t|-T] "
        "[command]\n"
        "\n"
        "commands:\n"
        "  run        drain the ring into PostgreSQL until SIGTERM "
        "(default)\n"
        "  drain      drain the ring until it is empty, then exit\n"
        "  migrate    apply the pending sql_dir migrations\n"
        "  ring-stat  print the ring's counters, one \"name value\" a "
        "line\n"
        "  keygen --name NAME [team=T] [models=M,..] [rpm=N] [tpm=N] [tpd=N]\n"
        "         [budget=USD/day|/month] [expires=YYYY-MM-DD]\n"
        "             print a new API key, once, and its llm_observer_key "
        "line\n"
        "  rules check FILE\n"
        "             check a rules file (docs/scoring.md): file:line of the "
        "first error,\n"
        "             or its rules and version\n"
        "  rules test FILE RECORDS\n"
        "             score each call of a JSON-lines file (- for stdin): "
        "every rule's\n"
        "             verdict and the score\n"
        "  rules test FILE --since DURATION\n"
        "             score the calls stored in the last DURATION (24h, 7d) "
        "and show\n"
        "             how their scores would change\n"
        "  rescore --since DURATION\n"
        "             score the calls stored in the last DURATION with "
        "rules_file; the\n"
        "             verdicts of a new version go beside the old\n"
        "\n"
        "options:\n"
        "  -c file       configuration file (default "
        LLO_CONF_DEFAULT_FILE ",\n"
        "                used when it exists)\n"
        "  -o key=value  override one setting of the file (repeatable)\n"
        "  -t            check the configuration and exit\n"
        "  -T            as -t, and print the effective configuration\n"
        "  -h            this help\n"
        "\n"
        "signals: SIGTERM/SIGINT finish the batch and exit (a second one "
        "exits now),\n"
        "         SIGHUP reloads the configuration and reopens log_file\n");
}


/* the daemon */

/*
 * The daemon: timers for the ring (attach), PostgreSQL (connect, with
 * backoff), the batches (drain) and the partitions (maintain); each arms
 * the next thing to do.  Signals only set flags, seen between loop turns.
 */

static int
llo_eval_run(llo_eval_t *ev)
{
    char  err[1024];

    if (llo_eval_log_open(ev) != 0) {
        return 1;
    }

    llo_loop_init(&ev->loop);
    llo_signals_init(&ev->loop);

    if (ev->conf.pid_file[0] != '\0') {
        if (llo_pid_write(ev->conf.pid_file) != 0) {
            return 1;
        }

        ev->pid_written = 1;
    }

    llo_log(LLO_LOG_INFO, "llm-evaluator " LLO_EVAL_VERSION " started: ring "
            "\"%s\", batch_size %lld, flush_interval %lldms",
            ev->conf.ring_path, (long long) ev->conf.batch_size,
            (long long) ev->conf.flush_interval);

    ev->backoff = LLO_BACKOFF_MIN_MS;
    ev->rc = 0;

    /* in this order when due together: the ring first, so that the
     * outage messages count what waits in it */

    (void) llo_loop_timer(&ev->loop, &ev->attach, "attach",
                          llo_eval_attach_timer, ev);
    (void) llo_loop_timer(&ev->loop, &ev->connect, "connect",
                          llo_eval_connect_timer, ev);
    (void) llo_loop_timer(&ev->loop, &ev->batch, "batch",
                          llo_eval_drain_timer, ev);
    (void) llo_loop_timer(&ev->loop, &ev->maintain, "maintain",
                          llo_eval_maintain_timer, ev);

    /* /metrics, served from this loop between batches */
    if (ev->conf.http_listen[0] != '\0') {
        ev->metrics.version = LLO_EVAL_VERSION;
        ev->metrics.drain = &ev->drain;
        ev->metrics.pg = &ev->pg;
        ev->metrics.verdicts = &ev->verdicts;
        ev->metrics.judge = &ev->judge;
        ev->metrics.last_commit_ms = &ev->last_commit_ms;
        ev->metrics.db_errors = &ev->db_errors;
        ev->metrics.batches = &ev->batch_hist;

        /* the calls' metrics: only where they are served */
        ev->calls = llo_cm_new(ev->conf.metrics_models,
                               (size_t) ev->conf.metrics_max_models);
        if (ev->calls == NULL) {
            llo_log(LLO_LOG_ERROR, "out of memory");
            return 1;
        }

        llo_cm_sink(ev->calls, &ev->verdicts, &ev->calls_sink);
        (void) llo_drain_add_row_sink(&ev->drain, &ev->calls_sink);
        ev->metrics.calls = ev->calls;

        ev->routes[0].method = "GET";
        ev->routes[0].path = "/metrics";
        ev->routes[0].handler = llo_metrics_handler;
        ev->routes[0].data = &ev->metrics;

        /* Alertmanager's webhook: the notifications into llm_alerts */
        ev->alerts.conninfo = ev->conf.pg_conninfo;
        ev->routes[1].method = "POST";
        ev->routes[1].path = "/alerts";
        ev->routes[1].handler = llo_alerts_handler;
        ev->routes[1].data = &ev->alerts;

        /* the stored alerts, behind api_token_file's bearer token */
        if (ev->conf.api_token_file[0] != '\0') {
            ev->alerts.token = llo_conf_secret(ev->conf.api_token_file,
                                               "api_token_file", err,
                                               sizeof(err));
            if (ev->alerts.token == NULL) {
                llo_log(LLO_LOG_ERROR, "%s", err);
                return 1;
            }
        }

        ev->routes[2].method = "GET";
        ev->routes[2].path = "/alerts/history";
        ev->routes[2].handler = llo_alerts_history;
        ev->routes[2].data = &ev->alerts;
        ev->routes[3].path = NULL;

        ev->http = llo_http_start(&ev->loop, ev->conf.http_listen,
                                  ev->routes, err, sizeof(err));
        if (ev->http == NULL) {
            llo_log(LLO_LOG_ERROR, "%s", err);
            return 1;
        }
    }

    /* the judge works its queue in this loop, never blocking the rest */
    if (llo_judge_start(&ev->judge, &ev->loop, &ev->pg, err, sizeof(err))
        != 0)
    {
        llo_log(LLO_LOG_ERROR, "%s", err);
        return 1;
    }

    llo_timer_in(&ev->attach, 0);
    llo_timer_in(&ev->connect, 0);

    while (!llo_quit && !ev->fatal) {

        if (llo_reconfigure) {
            llo_reconfigure = 0;
            llo_eval_reload(ev);
        }

        (void) llo_loop_once(&ev->loop, -1);
    }

    /*
     * SIGTERM while waiting: what waits in the ring now is the batch to
     * finish, one batch so the stop stays prompt (a second SIGTERM ends
     * a slow one at once, and what it did not take stays in the ring)
     */
    if (!ev->fatal && ev->pg.conn != NULL && ev->drain.attached
        && llo_drain_batch(&ev->drain, &ev->pg, &ev->conf, err, sizeof(err))
           == LLO_DRAIN_FAILED)
    {
        llo_log(LLO_LOG_ERROR, "%s; the records stay in the ring", err);
    }

    llo_log(LLO_LOG_INFO, "exiting: %llu records taken from the ring, "
            "%llu rows inserted, %llu duplicates, %llu bad, %llu skipped",
            (unsigned long long) ev->drain.records,
            (unsigned long long) ev->drain.inserted,
            (unsigned long long) ev->drain.duplicates,
            (unsigned long long) ev->drain.bad,
            (unsigned long long) ev->drain.skipped);

    if (ev->rules != NULL) {
        llo_log(LLO_LOG_INFO, "exiting: %llu verdicts, %llu flagged, "
                "%llu dropped; rules cache %llu hits, %llu misses",
                (unsigned long long) ev->verdicts.scored,
                (unsigned long long) ev->verdicts.flagged,
                (unsigned long long) ev->verdicts.dropped,
                (unsigned long long) ev->verdicts.cache_hits,
                (unsigned long long) ev->verdicts.cache_misses);
    }

    if (ev->conf.judge_url[0] != '\0') {
        llo_log(LLO_LOG_INFO, "exiting: judge %llu queued, %llu verdicts, "
                "%llu retries, %llu failures",
                (unsigned long long) ev->judge.queued,
                (unsigned long long) ev->judge.judged,
                (unsigned long long) ev->judge.retried,
                (unsigned long long) ev->judge.failed);
    }

    if (ev->pid_written && unlink(ev->conf.pid_file) == -1) {
        llo_log(LLO_LOG_WARN, "unlink(\"%s\") failed: %s", ev->conf.pid_file,
                strerror(errno));
    }

    return ev->rc;
}


static void
llo_eval_attach_timer(llo_loop_t *loop, llo_timer_t *t)
{
    llo_eval_t  *ev = t->data;

    char  err[1024];

    if (ev->drain.attached) {
        return;
    }

    if (llo_eval_attach(ev, err, sizeof(err)) != 0) {
        llo_log_limited(LLO_LOG_WARN, "%s; retrying every second", err);
        llo_timer_in(t, LLO_ATTACH_RETRY_MS);
        return;
    }

    if (ev->pg.conn != NULL) {
        llo_timer_in(&ev->batch, 0);
    }
}


static void
llo_eval_connect_timer(llo_loop_t *loop, llo_timer_t *t)
{
    llo_eval_t  *ev = t->data;

    int       busy;
    char      err[1024];
    uint64_t  waiting;

    if (ev->pg.conn != NULL) {
        return;
    }

    switch (llo_eval_connect(ev, err, sizeof(err))) {

    case 0:
        break;

    case -1:
        llo_eval_outage(ev, err);
        return;

    default:
        /* the schema is not what this build writes: retrying won't do */
        llo_log(LLO_LOG_ERROR, "%s", err);
        ev->rc = 1;
        ev->fatal = 1;
        return;
    }

    if (ev->outage_since && !ev->reconnect_logged) {
        waiting = ev->drain.attached
                  ? llo_drain_waiting(&ev->drain.ring, &busy) : 0;

        llo_log(LLO_LOG_INFO, "reconnected to PostgreSQL after %lld s, "
                "%llu records waiting",
                (long long) (llo_wall_ms() - ev->outage_since) / 1000,
                (unsigned long long) waiting);

        ev->reconnect_logged = 1;
    }

    llo_timer_in(&ev->maintain, LLO_MAINTAIN_MS);

    if (ev->drain.attached) {
        llo_timer_in(&ev->batch, 0);
    }
}


static void
llo_eval_drain_timer(llo_loop_t *loop, llo_timer_t *t)
{
    llo_eval_t  *ev = t->data;

    char             err[1024];
    int64_t          now, start;
    uint64_t         batches;
    llo_drain_rc_e   drc;

    if (!ev->drain.attached || ev->pg.conn == NULL) {
        return;
    }

    batches = ev->drain.batches;
    start = llo_now_ms();
    drc = llo_drain_batch(&ev->drain, &ev->pg, &ev->conf, err, sizeof(err));

    if (ev->drain.batches != batches) {
        ev->last_commit_ms = llo_wall_ms();
        llo_metrics_batch(&ev->batch_hist, (llo_now_ms() - start) / 1e3);
    }

    if (drc == LLO_DRAIN_FAILED) {
        ev->db_errors++;
    }

    switch (drc) {

    case LLO_DRAIN_MORE:
        llo_eval_recovered(ev);
        llo_timer_in(t, 0);
        return;

    case LLO_DRAIN_BUSY:
        llo_eval_recovered(ev);
        llo_timer_in(t, ev->conf.flush_interval < LLO_BUSY_RETRY_MS
                        ? ev->conf.flush_interval : LLO_BUSY_RETRY_MS);
        return;

    case LLO_DRAIN_EMPTY:
        llo_eval_recovered(ev);

        now = llo_now_ms();

        if (now >= ev->next_ring_check) {
            ev->next_ring_check = now + LLO_RING_CHECK_MS;

            /* nginx made a new ring (a new size); the old is drained */
            if (llo_drain_replaced(&ev->drain)) {
                llo_log(LLO_LOG_INFO, "ring \"%s\" was replaced; "
                        "attaching to the new one", ev->drain.path);
                llo_drain_detach(&ev->drain);
                llo_timer_in(&ev->attach, 0);
                return;
            }
        }

        llo_timer_in(t, ev->conf.flush_interval);
        return;

    case LLO_DRAIN_FAILED:
        break;
    }

    llo_eval_failed(ev, err);
}


static void
llo_eval_maintain_timer(llo_loop_t *loop, llo_timer_t *t)
{
    llo_eval_t  *ev = t->data;

    char  err[1024];

    if (ev->pg.conn == NULL) {
        return;
    }

    if (llo_pg_partitions_ahead(&ev->pg, ev->conf.partition_months_ahead,
                                err, sizeof(err))
        != 0)
    {
        llo_eval_failed(ev, err);
        return;
    }

    llo_timer_in(t, LLO_MAINTAIN_MS);
}


/* PostgreSQL failed: drop the connection, connect again with backoff */

static void
llo_eval_failed(llo_eval_t *ev, const char *why)
{
    llo_pg_close(&ev->pg);
    llo_timer_stop(&ev->batch);
    llo_timer_stop(&ev->maintain);
    llo_eval_outage(ev, why);
}


/*
 * 0: connected, schema current, partitions there; -1: try again later;
 * -2: the schema is not what this build writes, retrying will not help
 */

static int
llo_eval_connect(llo_eval_t *ev, char *err, size_t errlen)
{
    int   pending;
    char  list[512];

    if (llo_pg_connect(&ev->pg, ev->conf.pg_conninfo, err, errlen) != 0) {
        return -1;
    }

    pending = llo_pg_pending(&ev->pg, ev->conf.sql_dir, list, sizeof(list),
                             err, errlen);

    if (pending == -1) {
        if (PQstatus(ev->pg.conn) != CONNECTION_OK) {
            llo_pg_close(&ev->pg);
            return -1;
        }

        llo_pg_close(&ev->pg);
        return -2;
    }

    if (pending > 0) {
        snprintf(err, errlen, "%d database migration%s pending (%s): run "
                 "\"llm-evaluator%s%s migrate\" first", pending,
                 pending > 1 ? "s are" : " is", list,
                 ev->conf_file ? " -c " : "",
                 ev->conf_file ? ev->conf_file : "");
        llo_pg_close(&ev->pg);
        return -2;
    }

    if (llo_pg_partitions_ahead(&ev->pg, ev->conf.partition_months_ahead,
                                err, errlen)
        != 0)
    {
        llo_pg_close(&ev->pg);
        return -1;
    }

    return 0;
}


static int
llo_eval_attach(llo_eval_t *ev, char *err, size_t errlen)
{
    int       busy;
    uint64_t  waiting;

    if (llo_drain_attach(&ev->drain, ev->conf.ring_path, err, errlen) != 0) {
        return -1;
    }

    waiting = llo_drain_waiting(&ev->drain.ring, &busy);

    llo_log(LLO_LOG_INFO, "consuming ring \"%s\": instance %016llx, "
            "%llu bytes, %llu records waiting", ev->conf.ring_path,
            (unsigned long long) ev->drain.ring.hdr->instance,
            (unsigned long long) ev->drain.ring.hdr->capacity,
            (unsigned long long) waiting);

    return 0;
}


/*
 * log the outage once, and once a minute while it lasts; connect again
 * after 100 ms, doubling up to 10 s
 */

static void
llo_eval_outage(llo_eval_t *ev, const char *why)
{
    if (ev->outage_since == 0) {
        ev->outage_since = llo_wall_ms();
        ev->reconnect_logged = 0;

        llo_log(LLO_LOG_ERROR, "%s; records stay in the ring until "
                "PostgreSQL takes them, retrying", why);

    } else if (llo_wall_ms() - ev->outage_since >= LLO_OUTAGE_REMIND_MS) {
        /* not at the first retry: llo_log_limited() lets a first through */
        llo_log_limited(LLO_LOG_ERROR, "still failing: %s", why);
    }

    llo_timer_in(&ev->connect, ev->backoff);

    ev->backoff = ev->backoff * 2 > LLO_BACKOFF_MAX_MS
                  ? LLO_BACKOFF_MAX_MS : ev->backoff * 2;
}


static void
llo_eval_recovered(llo_eval_t *ev)
{
    if (ev->outage_since) {
        llo_log(LLO_LOG_INFO, "writing to PostgreSQL again after %lld s",
                (long long) (llo_wall_ms() - ev->outage_since) / 1000);
        ev->outage_since = 0;
        ev->reconnect_logged = 0;
    }

    ev->backoff = LLO_BACKOFF_MIN_MS;
}


/*
 * SIGHUP: a new configuration replaces the old one only when all of it
 * is valid; the log is reopened either way (logrotate sends SIGHUP too).
 */

static void
llo_eval_reload(llo_eval_t *ev)
{
    int          busy, i, n;
    char         err[1024], *s;
    uint64_t     waiting;
    llo_conf_t   nc;
    llo_rules_t *rules;
    const char  *restart[8];

    llo_log(LLO_LOG_INFO, "SIGHUP: reloading %s",
            ev->conf_file ? ev->conf_file : "the configuration");

    rules = NULL;

    if (llo_conf_load(&nc, ev->conf_file, ev->overrides, ev->noverrides,
                      err, sizeof(err))
        != 0)
    {
        goto failed;
    }

    /* a rules file that does not load keeps the old rules with the rest */
    if (llo_eval_rules_load(&nc, &rules, err, sizeof(err)) != 0) {
        llo_conf_free(&nc);
        goto failed;
    }

    /* nor do judge settings that do not load (a price list, a key) */
    if (llo_judge_configure(&ev->judge, &nc, err, sizeof(err)) != 0) {
        llo_rules_free(rules);
        llo_conf_free(&nc);
        goto failed;
    }

    if (llo_log_open(nc.log_file, err, sizeof(err)) != 0) {
        llo_log(LLO_LOG_ERROR, "%s; keeping log_file \"%s\"", err,
                ev->conf.log_file);

        s = nc.log_file;
        nc.log_file = ev->conf.log_file;
        ev->conf.log_file = s;
    }

    llo_log_set_level((int) nc.log_level);

    if (rules != NULL || ev->rules != NULL) {
        llo_log(LLO_LOG_INFO, "rules: %s", rules != NULL
                ? llo_rules_version(rules) : "none, calls stored unscored");
    }

    n = llo_conf_keep_restart(&nc, &ev->conf, restart, 8);

    for (i = 0; i < n && i < 8; i++) {
        llo_log(LLO_LOG_WARN, "%s changes take effect on restart",
                restart[i]);
    }

    if (strcmp(nc.pg_conninfo, ev->conf.pg_conninfo) != 0) {
        llo_log(LLO_LOG_INFO, "pg_conninfo changed: reconnecting");
        llo_pg_close(&ev->pg);
        llo_timer_in(&ev->connect, 0);
    }

    if (strcmp(nc.ring_path, ev->conf.ring_path) != 0) {
        waiting = ev->drain.attached
                  ? llo_drain_waiting(&ev->drain.ring, &busy) : 0;

        llo_log(waiting ? LLO_LOG_WARN : LLO_LOG_INFO, "ring_path changed to "
                "\"%s\": leaving %llu records in \"%s\"", nc.ring_path,
                (unsigned long long) waiting, ev->conf.ring_path);

        llo_drain_detach(&ev->drain);
        llo_timer_in(&ev->attach, 0);
    }

    llo_conf_free(&ev->conf);
    ev->conf = nc;

    /* the judge read nc, which now lives in ev->conf */
    ev->judge.conf = &ev->conf;

    /* /alerts connects with the new conninfo when it next needs to */
    if (ev->alerts.conninfo != NULL) {
        llo_pg_close(&ev->alerts.pg);
        ev->alerts.conninfo = ev->conf.pg_conninfo;
    }

    if (llo_eval_rules_use(ev, rules, err, sizeof(err)) != 0) {
        llo_log(LLO_LOG_ERROR, "%s; rules_cache off", err);
    }

    llo_log(LLO_LOG_INFO, "configuration reloaded");

    return;

failed:

    llo_log(LLO_LOG_ERROR, "reload failed, keeping the old configuration: "
            "%s", err);

    if (llo_log_open(ev->conf.log_file, err, sizeof(err)) != 0) {
        llo_log(LLO_LOG_ERROR, "cannot reopen log_file: %s", err);
    }
}


/* conf's rules_file, or NULL when none is set */

static int
llo_eval_rules_load(const llo_conf_t *conf, llo_rules_t **rules, char *err,
    size_t errlen)
{
    *rules = NULL;

    if (conf->rules_file[0] == '\0') {
        return 0;
    }

    *rules = llo_rules_load(conf->rules_file, err, errlen);

    return *rules != NULL ? 0 : -1;
}


/*
 * Score with rules from now on (ev->conf is already the configuration
 * they came with); the old ones are freed: a batch scores its calls again
 * whenever it is read again, so no verdict outlives its rules.  The cache
 * is made again when its size changed (a new version empties it anyway).
 */

static int
llo_eval_rules_use(llo_eval_t *ev, llo_rules_t *rules, char *err,
    size_t errlen)
{
    size_t  want;

    llo_rules_free(ev->rules);
    ev->rules = rules;
    ev->verdicts.rules = rules;
    ev->verdicts.flag_below = (int) ev->conf.flag_below;

    want = rules != NULL ? (size_t) ev->conf.rules_cache : 0;

    if (ev->cache != NULL && ev->cache->mask + 1 >= want
        && (ev->cache->mask + 1) / 2 < want)
    {
        return 0;
    }

    llo_rules_cache_free(ev->cache);
    ev->cache = NULL;
    ev->verdicts.cache = NULL;

    if (want == 0) {
        return 0;
    }

    ev->cache = llo_rules_cache_new(want);

    if (ev->cache == NULL) {
        snprintf(err, errlen, "no memory for a rules_cache of %zu entries",
                 want);
        return -1;
    }

    ev->verdicts.cache = ev->cache;

    return 0;
}


static int
llo_eval_log_open(llo_eval_t *ev)
{
    char  err[1024];

    if (llo_log_open(ev->conf.log_file, err, sizeof(err)) != 0) {
        fprintf(stderr, "llm-evaluator: log_file: %s\n", err);
        return -1;
    }

    llo_log_set_level((int) ev->conf.log_level);

    return 0;
}


/* drain until the ring is empty, then exit: for tests and for hand use */

static int
llo_eval_drain(llo_eval_t *ev)
{
    int              rc;
    char             err[1024];
    llo_drain_rc_e   drc;

    if (llo_eval_log_open(ev) != 0) {
        return 1;
    }

    llo_loop_init(&ev->loop);
    llo_signals_init(&ev->loop);

    if (llo_drain_attach(&ev->drain, ev->conf.ring_path, err, sizeof(err))
        != 0)
    {
        llo_log(LLO_LOG_ERROR, "%s", err);
        return 1;
    }

    if (llo_eval_connect(ev, err, sizeof(err)) != 0) {
        llo_log(LLO_LOG_ERROR, "%s", err);
        return 1;
    }

    rc = 0;

    while (!llo_quit) {
        drc = llo_drain_batch(&ev->drain, &ev->pg, &ev->conf, err,
                              sizeof(err));

        if (drc == LLO_DRAIN_EMPTY) {
            break;
        }

        if (drc == LLO_DRAIN_FAILED) {
            llo_log(LLO_LOG_ERROR, "%s; the records stay in the ring", err);
            rc = 1;
            break;
        }

        if (drc == LLO_DRAIN_BUSY) {
            /* llo_ring_read() skips it once torn_timeout has passed */
            (void) llo_loop_once(&ev->loop, LLO_BUSY_RETRY_MS);
        }
    }

    llo_stats_print(stdout, llo_drain_stat_table, &ev->drain);
    llo_stats_print(stdout, llo_verdict_stat_table, &ev->verdicts);
    llo_stats_print(stdout, llo_judge_stat_table, &ev->judge);

    return rc;
}


static int
llo_eval_migrate(llo_eval_t *ev)
{
    int   n;
    char  err[1024];

    if (llo_pg_connect(&ev->pg, ev->conf.pg_conninfo, err, sizeof(err))
        != 0)
    {
        fprintf(stderr, "llm-evaluator: %s\n", err);
        return 1;
    }

    n = llo_pg_migrate(&ev->pg, ev->conf.sql_dir, err, sizeof(err));

    if (n == -1) {
        fprintf(stderr, "llm-evaluator: %s\n", err);
        return 1;
    }

    if (n == 0) {
        printf("no pending migrations\n");

    } else {
        printf("%d migration%s applied\n", n, n > 1 ? "s" : "");
    }

    return 0;
}


static int
llo_eval_ring_stat(llo_eval_t *ev)
{
    char              err[1024];
    llo_ring_t        ring;
    llo_ring_stats_t  st;

    if (llo_ring_attach(&ring, ev->conf.ring_path, err, sizeof(err)) != 0) {
        fprintf(stderr, "llm-evaluator: %s\n", err);
        return 1;
    }

    llo_ring_stats_read(&ring, &st);
    llo_stats_print(stdout, llo_ring_stat_table, &st);

    llo_ring_close(&ring);

    return 0;
}


static int
llo_pid_write(const char *path)
{
    int     fd, n;
    char    buf[32];

    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1) {
        llo_log(LLO_LOG_ERROR, "open(\"%s\") failed: %s", path,
                strerror(errno));
        return -1;
    }

    n = snprintf(buf, sizeof(buf), "%d\n", (int) getpid());

    if (write(fd, buf, n) != n) {
        llo_log(LLO_LOG_ERROR, "write to \"%s\" failed: %s", path,
                strerror(errno));
        (void) close(fd);
        return -1;
    }

    if (close(fd) == -1) {
        llo_log(LLO_LOG_ERROR, "close(\"%s\") failed: %s", path,
                strerror(errno));
        return -1;
    }

    return 0;
}


static void
llo_signals_init(llo_loop_t *loop)
{
    struct sigaction  sa;

    (void) llo_loop_signal(loop, SIGTERM, &llo_quit);
    (void) llo_loop_signal(loop, SIGINT, &llo_quit);
    (void) llo_loop_signal(loop, SIGHUP, &llo_reconfigure);

    memset(&sa, 0, sizeof(struct sigaction));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = llo_signal_handler;

    /*
     * SA_RESETHAND: the first SIGTERM asks for a clean stop after the
     * batch; the second finds the default action and ends the process at
     * once, even inside a blocking libpq call.  Nothing is lost that way:
     * the uncommitted batch stays in the ring.
     */
    sa.sa_flags = SA_RESTART | SA_RESETHAND;
    (void) sigaction(SIGTERM, &sa, NULL);
    (void) sigaction(SIGINT, &sa, NULL);

    sa.sa_flags = SA_RESTART;
    (void) sigaction(SIGHUP, &sa, NULL);

    sa.sa_handler = SIG_IGN;
    (void) sigaction(SIGPIPE, &sa, NULL);
}


static void
llo_signal_handler(int signo)
{
    if (signo == SIGHUP) {
        llo_reconfigure = 1;

    } else {
        llo_quit = 1;
    }
}
