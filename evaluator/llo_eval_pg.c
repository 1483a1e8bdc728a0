/*
 * llm-evaluator PostgreSQL side: see llo_eval_pg.h.
 */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llo_parse.h"
#include "llo_eval_copy.h"
#include "llo_eval_log.h"
#include "llo_eval_pg.h"


/* pg_advisory_lock() key serialising concurrent "migrate" runs */
#define LLO_PG_MIGRATE_LOCK  "7596553626384183661"

/* COPY data goes out in pieces so libpq does not buffer a second copy */
#define LLO_PG_COPY_CHUNK    (256 * 1024)


static int llo_pg_copy(llo_pg_t *pg, const char *sql, const char *data,
    size_t len, char *err, size_t errlen);
static int llo_pg_insert(llo_pg_t *pg, const char *sql, const char *what,
    uint64_t *inserted, char *err, size_t errlen);
static int llo_pg_exec(llo_pg_t *pg, const char *sql, char *err,
    size_t errlen);
static void llo_pg_drain_results(llo_pg_t *pg);
static int llo_pg_month_next(int m);
static void llo_pg_notice(void *arg, const char *message);
static int llo_pg_migrations(const char *sql_dir, char ***files, size_t *n,
    char *err, size_t errlen);
static int llo_pg_sql_files(const char *dir, char ***names, size_t *n,
    char *err, size_t errlen);
static void llo_pg_free_names(char **names, size_t n);
static int llo_pg_applied(llo_pg_t *pg, char ***versions, size_t *n,
    char *err, size_t errlen);
static int llo_pg_has(char **names, size_t n, const char *name);
static char *llo_pg_read_file(const char *path, char *err, size_t errlen);


int
llo_pg_connect(llo_pg_t *pg, const char *conninfo, char *err, size_t errlen)
{
    char         *msg;
    size_t        len;
    const char   *keys[5], *values[5];

    llo_pg_close(pg);

    /* conninfo comes last so that what the administrator wrote wins */
    keys[0] = "fallback_application_name"; values[0] = "llm-evaluator";
    keys[1] = "connect_timeout";           values[1] = "10";
    keys[2] = "client_encoding";           values[2] = "UTF8";
    keys[3] = "dbname";                    values[3] = conninfo;
    keys[4] = NULL;                        values[4] = NULL;

    pg->conn = PQconnectdbParams(keys, values, 1);

    if (pg->conn == NULL) {
        snprintf(err, errlen, "cannot connect to PostgreSQL: out of memory");
        return -1;
    }

    if (PQstatus(pg->conn) != CONNECTION_OK) {
        msg = PQerrorMessage(pg->conn);
        len = strlen(msg);

        while (len && (msg[len - 1] == '\n' || msg[len - 1] == ' ')) {
            len--;
        }

        snprintf(err, errlen, "cannot connect to PostgreSQL: %.*s",
                 (int) len, msg);
        llo_pg_close(pg);
        return -1;
    }

    /* "relation already exists, skipping" and friends are not news */
    PQsetNoticeProcessor(pg->conn, llo_pg_notice, NULL);

    return 0;
}


void
llo_pg_close(llo_pg_t *pg)
{
    if (pg->conn != NULL) {
        PQfinish(pg->conn);
        pg->conn = NULL;
    }

    pg->stage = 0;
}


void
llo_pg_free(llo_pg_t *pg)
{
    llo_pg_close(pg);
    free(pg->months);
    pg->months = NULL;
    pg->nmonths = 0;
    pg->months_cap = 0;
}


static void
llo_pg_notice(void *arg, const char *message)
{
    size_t  len;

    len = strlen(message);

    while (len && message[len - 1] == '\n') {
        len--;
    }

    llo_log(LLO_LOG_DEBUG, "postgresql: %.*s", (int) len, message);
}


static int
llo_pg_exec(llo_pg_t *pg, const char *sql, char *err, size_t errlen)
{
    PGresult  *res;

    res = PQexec(pg->conn, sql);

    if (PQresultStatus(res) != PGRES_COMMAND_OK
        && PQresultStatus(res) != PGRES_TUPLES_OK)
    {
        return llo_pg_fail(pg, res, sql, err, errlen);
    }

    PQclear(res);

    return 0;
}


int
llo_pg_commit(llo_pg_t *pg, char *err, size_t errlen)
{
    PGresult  *res;

    res = PQexec(pg->conn, "COMMIT");

    /* a COMMIT of a failed transaction "succeeds" as ROLLBACK */
    if (PQresultStatus(res) != PGRES_COMMAND_OK
        || strcmp(PQcmdStatus(res), "COMMIT") != 0)
    {
        return llo_pg_fail(pg, res, "COMMIT", err, errlen);
    }

    PQclear(res);

    return 0;
}


void
llo_pg_rollback(llo_pg_t *pg)
{
    if (PQstatus(pg->conn) == CONNECTION_OK
        && PQtransactionStatus(pg->conn) != PQTRANS_IDLE)
    {
        PQclear(PQexec(pg->conn, "ROLLBACK"));
    }
}


/* months are YYYYMM */

static int
llo_pg_month_next(int m)
{
    return (m % 100 == 12) ? (m / 100 + 1) * 100 + 1 : m + 1;
}


int
llo_pg_fail(llo_pg_t *pg, PGresult *res, const char *what, char *err,
    size_t errlen)
{
    char        *msg;
    size_t       len;
    const char  *state;

    msg = res ? PQresultErrorMessage(res) : NULL;

    if (msg == NULL || msg[0] == '\0') {
        msg = PQerrorMessage(pg->conn);
    }

    len = strlen(msg);

    while (len && (msg[len - 1] == '\n' || msg[len - 1] == ' ')) {
        len--;
    }

    state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

    /*
     * 22 data exception, 23 integrity violation, 54 program limit: the
     * rows are at fault, and retrying them as they are will fail again
     */
    pg->data_error = state != NULL && PQstatus(pg->conn) == CONNECTION_OK
                     && (strncmp(state, "22", 2) == 0
                         || strncmp(state, "23", 2) == 0
                         || strncmp(state, "54", 2) == 0);

    snprintf(err, errlen, "%.200s%s failed: %s%s%s%.*s", what,
             strlen(what) > 200 ? "..." : "",
             state ? "SQLSTATE " : "", state ? state : "", state ? ": " : "",
             (int) len, msg);

    PQclear(res);

    return -1;
}


int
llo_pg_begin(llo_pg_t *pg, char *err, size_t errlen)
{
    pg->data_error = 0;

    /* outside the transaction: a rollback would take them away again */
    if (!pg->stage) {
        if (llo_pg_exec(pg, "CREATE TEMP TABLE IF NOT EXISTS "
                        "llm_requests_stage (LIKE llm_requests "
                        "INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
                        err, errlen) != 0
            || llo_pg_exec(pg, "CREATE TEMP TABLE IF NOT EXISTS "
                           "llm_evaluations_stage (LIKE llm_evaluations "
                           "INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
                           err, errlen) != 0)
        {
            return -1;
        }

        pg->stage = 1;
    }

    return llo_pg_exec(pg, "BEGIN", err, errlen);
}


int
llo_pg_rows(llo_pg_t *pg, const char *data, size_t len, uint64_t *inserted,
    char *err, size_t errlen)
{
    char  sql[1536];

    *inserted = 0;

    snprintf(sql, sizeof(sql), "COPY llm_requests_stage (%s) FROM STDIN",
             llo_copy_columns());

    if (llo_pg_copy(pg, sql, data, len, err, errlen) != 0) {
        return -1;
    }

    snprintf(sql, sizeof(sql), "INSERT INTO llm_requests (%s) SELECT %s "
             "FROM llm_requests_stage ON CONFLICT (id, ts) DO NOTHING",
             llo_copy_columns(), llo_copy_columns());

    return llo_pg_insert(pg, sql, "INSERT INTO llm_requests", inserted, err,
                         errlen);
}


int
llo_pg_verdicts(llo_pg_t *pg, const char *data, size_t len,
    llo_pg_verdicts_e how, uint64_t *inserted, char *err, size_t errlen)
{
    size_t  i;

    *inserted = 0;

    /* no stage, no conflict check: about half the cost of the others */
    if (how == LLO_PG_VERDICTS_NEW) {
        if (llo_pg_copy(pg, "COPY llm_evaluations (" LLO_PG_VERDICT_COLUMNS
                        ") FROM STDIN", data, len, err, errlen)
            != 0)
        {
            return -1;
        }

        for (i = 0; i < len; i++) {
            *inserted += data[i] == '\n';
        }

        return 0;
    }

    if (llo_pg_copy(pg, "COPY llm_evaluations_stage (" LLO_PG_VERDICT_COLUMNS
                    ") FROM STDIN", data, len, err, errlen)
        != 0)
    {
        return -1;
    }

    if (how == LLO_PG_VERDICTS_VERSION) {
        return llo_pg_insert(pg, "INSERT INTO llm_evaluations ("
                             LLO_PG_VERDICT_COLUMNS ") SELECT "
                             LLO_PG_VERDICT_COLUMNS " FROM "
                             "llm_evaluations_stage ON CONFLICT DO NOTHING",
                             "INSERT INTO llm_evaluations", inserted, err,
                             errlen);
    }

    /*
     * One verdict of an evaluator per call at ingest, whatever its
     * version: a batch delivered again after a SIGHUP changed the rules
     * does not score its calls a second time.  ON CONFLICT for two
     * evaluators writing the same verdict at once.
     */
    return llo_pg_insert(pg, "INSERT INTO llm_evaluations ("
                         LLO_PG_VERDICT_COLUMNS ") SELECT "
                         LLO_PG_VERDICT_COLUMNS " FROM llm_evaluations_stage s "
                         "WHERE NOT EXISTS (SELECT 1 FROM llm_evaluations e "
                         "WHERE e.id = s.id AND e.ts = s.ts "
                         "AND e.evaluator = s.evaluator) "
                         "ON CONFLICT DO NOTHING",
                         "INSERT INTO llm_evaluations", inserted, err,
                         errlen);
}


/*
 * Keyset pages of 1000 calls (ts, id): a cursor would hold a transaction
 * open for as long as the caller takes.
 */

#define LLO_PG_CALLS_PAGE  1000

int
llo_pg_calls_since(llo_pg_t *pg, int64_t seconds, llo_pg_call_pt cb,
    void *data, char *err, size_t errlen)
{
    int          i, n;
    char         secs[32], *last_ts, *last_id;
    PGresult    *res;
    const char  *params[3];

    static const char  sql[] =
        "SELECT r.id, r.ts, r.provider, r.api, "
        "coalesce(r.response_model, r.request_model), r.key_name, "
        "r.key_team, r.prompt_text, r.response_text, r.finish_reason, "
        "r.error_type, r.status, r.max_tokens, r.completion_tokens, "
        "r.ttft_ms, r.latency_ms, r.incomplete, r.cut, r.refused, "
        "r.response_format, r.response_truncated, "
        "e.version, e.score, e.label, e.flagged, "
        "(SELECT string_agg(f->>'rule', ' ') "
        "FROM jsonb_array_elements(e.details->'fired') f) "
        "FROM llm_requests r LEFT JOIN LATERAL (SELECT * "
        "FROM llm_evaluations v WHERE v.id = r.id AND v.ts = r.ts "
        "AND v.evaluator = 'rules' ORDER BY v.created_at DESC LIMIT 1) e "
        "ON true "
        "WHERE r.ts >= now() - make_interval(secs => $1::double precision) "
        "AND ($2::timestamptz IS NULL OR (r.ts, r.id) > ($2, $3::uuid)) "
        "ORDER BY r.ts, r.id LIMIT 1000";

    snprintf(secs, sizeof(secs), "%lld", (long long) seconds);

    params[0] = secs;
    params[1] = NULL;
    params[2] = NULL;
    last_ts = NULL;
    last_id = NULL;

    for ( ;; ) {
        res = PQexecParams(pg->conn, sql, 3, NULL, params, NULL, NULL, 0);

        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            free(last_ts);
            free(last_id);
            return llo_pg_fail(pg, res, "SELECT the calls", err, errlen);
        }

        n = PQntuples(res);

        for (i = 0; i < n; i++) {
            if (cb(data, res, i) != 0) {
                n = 0;
                break;
            }
        }

        free(last_ts);
        free(last_id);
        last_ts = NULL;
        last_id = NULL;

        if (n == LLO_PG_CALLS_PAGE) {
            last_ts = strdup(PQgetvalue(res, n - 1, LLO_PG_CALL_TS));
            last_id = strdup(PQgetvalue(res, n - 1, LLO_PG_CALL_ID));
        }

        PQclear(res);

        if (last_ts == NULL || last_id == NULL) {
            break;
        }

        params[1] = last_ts;
        params[2] = last_id;
    }

    free(last_ts);
    free(last_id);

    return 0;
}


/* an INSERT ... SELECT: *inserted its rows */

static int
llo_pg_insert(llo_pg_t *pg, const char *sql, const char *what,
    uint64_t *inserted, char *err, size_t errlen)
{
    PGresult  *res;

    res = PQexec(pg->conn, sql);

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        return llo_pg_fail(pg, res, what, err, errlen);
    }

    *inserted = strtoull(PQcmdTuples(res), NULL, 10);
    PQclear(res);

    return 0;
}


/* COPY ... FROM STDIN of len bytes of COPY text, in chunks */

static int
llo_pg_copy(llo_pg_t *pg, const char *sql, const char *data, size_t len,
    char *err, size_t errlen)
{
    int        rc;
    size_t     off, n;
    PGresult  *res;

    res = PQexec(pg->conn, sql);

    if (PQresultStatus(res) != PGRES_COPY_IN) {
        return llo_pg_fail(pg, res, "COPY", err, errlen);
    }

    PQclear(res);

    for (off = 0; off < len; off += n) {
        n = len - off < LLO_PG_COPY_CHUNK ? len - off : LLO_PG_COPY_CHUNK;

        if (PQputCopyData(pg->conn, data + off, (int) n) <= 0) {
            llo_pg_fail(pg, NULL, "PQputCopyData()", err, errlen);
            (void) PQputCopyEnd(pg->conn, "PQputCopyData() failed");
            llo_pg_drain_results(pg);
            return -1;
        }
    }

    if (PQputCopyEnd(pg->conn, NULL) <= 0) {
        llo_pg_fail(pg, NULL, "PQputCopyEnd()", err, errlen);
        llo_pg_drain_results(pg);
        return -1;
    }

    rc = 0;

    while ((res = PQgetResult(pg->conn)) != NULL) {
        if (rc == 0 && PQresultStatus(res) != PGRES_COMMAND_OK) {
            llo_pg_fail(pg, res, "COPY", err, errlen);
            rc = -1;
            continue;
        }

        PQclear(res);
    }

    return rc;
}


/* after a failed COPY: read what the server says until it is done */

static void
llo_pg_drain_results(llo_pg_t *pg)
{
    PGresult  *res;

    while ((res = PQgetResult(pg->conn)) != NULL) {
        PQclear(res);
    }
}


int
llo_pg_partitions(llo_pg_t *pg, const int *months, size_t n, char *err,
    size_t errlen)
{
    int                 m, y, next, t;
    char                sql[512];
    size_t              i, k;
    static const char  *tables[] = { "llm_requests", "llm_evaluations" };

    for (i = 0; i < n; i++) {
        m = months[i];

        for (k = 0; k < pg->nmonths; k++) {
            if (pg->months[k] == m) {
                break;
            }
        }

        if (k < pg->nmonths) {
            continue;
        }

        y = m / 100;
        next = llo_pg_month_next(m);

        /*
         * Bounds in UTC, like the ts text the rows are copied with.  The
         * verdicts of a month's calls go to the same month.
         */
        for (t = 0; t < 2; t++) {
            snprintf(sql, sizeof(sql),
                     "CREATE TABLE IF NOT EXISTS %s_y%04dm%02d "
                     "PARTITION OF %s FOR VALUES "
                     "FROM ('%04d-%02d-01 00:00:00+00') "
                     "TO ('%04d-%02d-01 00:00:00+00')",
                     tables[t], y, m % 100, tables[t], y, m % 100,
                     next / 100, next % 100);

            if (llo_pg_exec(pg, sql, err, errlen) != 0) {
                return -1;
            }
        }

        llo_log(LLO_LOG_DEBUG, "partition llm_requests_y%04dm%02d is there",
                y, m % 100);

        if (llo_grow_array(&pg->months, &pg->months_cap, pg->nmonths + 1,
                           sizeof(int), 16)
            != 0)
        {
            snprintf(err, errlen, "out of memory");
            return -1;
        }

        pg->months[pg->nmonths++] = m;
    }

    return 0;
}


int
llo_pg_partitions_ahead(llo_pg_t *pg, int ahead, char *err, size_t errlen)
{
    int        i, m, months[128];
    time_t     now;
    struct tm  tm;

    now = time(NULL);
    gmtime_r(&now, &tm);

    m = (tm.tm_year + 1900) * 100 + tm.tm_mon + 1;

    for (i = 0; i <= ahead && i < 128; i++) {
        months[i] = m;
        m = llo_pg_month_next(m);
    }

    return llo_pg_partitions(pg, months, (size_t) i, err, errlen);
}


void
llo_pg_forget_partitions(llo_pg_t *pg)
{
    pg->nmonths = 0;
}


static int
llo_pg_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char * const *) a, *(char * const *) b);
}


/* NNN_name.sql, sorted; the names lose their ".sql" */

static int
llo_pg_sql_files(const char *dir, char ***names, size_t *n, char *err,
    size_t errlen)
{
    DIR            *d;
    char          **a, *s;
    size_t          len, i, cap;
    struct dirent  *de;

    *names = NULL;
    *n = 0;

    d = opendir(dir);
    if (d == NULL) {
        snprintf(err, errlen, "cannot open sql_dir \"%s\": %s", dir,
                 strerror(errno));
        return -1;
    }

    a = NULL;
    cap = 0;
    len = 0;

    while ((de = readdir(d)) != NULL) {
        s = de->d_name;

        for (i = 0; s[i] >= '0' && s[i] <= '9'; i++) { /* void */ }

        len = strlen(s);

        if (i == 0 || s[i] != '_' || len < 5
            || strcmp(s + len - 4, ".sql") != 0)
        {
            continue;
        }

        if (llo_grow_array(&a, &cap, *n + 1, sizeof(char *), 16) != 0) {
            goto nomem;
        }

        a[*n] = strndup(s, len - 4);

        if (a[*n] == NULL) {
            goto nomem;
        }

        (*n)++;
    }

    closedir(d);

    if (*n) {
        qsort(a, *n, sizeof(char *), llo_pg_name_cmp);
    }

    *names = a;

    return 0;

nomem:

    closedir(d);
    llo_pg_free_names(a, *n);
    *n = 0;
    snprintf(err, errlen, "out of memory");

    return -1;
}


static void
llo_pg_free_names(char **names, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        free(names[i]);
    }

    free(names);
}


/* the recorded versions; none when the tracking table does not exist */

static int
llo_pg_applied(llo_pg_t *pg, char ***versions, size_t *n, char *err,
    size_t errlen)
{
    int        i, rows;
    char     **a;
    PGresult  *res;

    *versions = NULL;
    *n = 0;

    res = PQexec(pg->conn, "SELECT version FROM llm_schema_migrations");

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {

        /* undefined_table: nothing was ever migrated */
        if (PQresultErrorField(res, PG_DIAG_SQLSTATE) != NULL
            && strcmp(PQresultErrorField(res, PG_DIAG_SQLSTATE), "42P01")
               == 0)
        {
            PQclear(res);
            return 0;
        }

        return llo_pg_fail(pg, res, "SELECT FROM llm_schema_migrations",
                           err, errlen);
    }

    rows = PQntuples(res);
    a = calloc(rows + 1, sizeof(char *));

    if (a == NULL) {
        PQclear(res);
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    for (i = 0; i < rows; i++) {
        a[i] = strdup(PQgetvalue(res, i, 0));

        if (a[i] == NULL) {
            PQclear(res);
            llo_pg_free_names(a, i);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }

    PQclear(res);

    *versions = a;
    *n = rows;

    return 0;
}


static int
llo_pg_has(char **names, size_t n, const char *name)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (strcmp(names[i], name) == 0) {
            return 1;
        }
    }

    return 0;
}


/* the migrations of sql_dir, sorted; an empty one is an error */

static int
llo_pg_migrations(const char *sql_dir, char ***files, size_t *n, char *err,
    size_t errlen)
{
    if (llo_pg_sql_files(sql_dir, files, n, err, errlen) != 0) {
        return -1;
    }

    if (*n == 0) {
        snprintf(err, errlen, "sql_dir \"%s\" holds no NNN_name.sql "
                 "migrations", sql_dir);
        return -1;
    }

    return 0;
}


int
llo_pg_pending(llo_pg_t *pg, const char *sql_dir, char *list, size_t listlen,
    char *err, size_t errlen)
{
    int      pending;
    char   **files, **done;
    size_t   nfiles, ndone, i, off;

    if (llo_pg_migrations(sql_dir, &files, &nfiles, err, errlen) != 0) {
        return -1;
    }

    if (llo_pg_applied(pg, &done, &ndone, err, errlen) != 0) {
        llo_pg_free_names(files, nfiles);
        return -1;
    }

    pending = 0;
    off = 0;
    list[0] = '\0';

    for (i = 0; i < nfiles; i++) {
        if (llo_pg_has(done, ndone, files[i])) {
            continue;
        }

        pending++;

        if (off < listlen) {
            off += snprintf(list + off, listlen - off, "%s%s",
                            off ? ", " : "", files[i]);
        }
    }

    llo_pg_free_names(files, nfiles);
    llo_pg_free_names(done, ndone);

    return pending;
}


int
llo_pg_migrate(llo_pg_t *pg, const char *sql_dir, char *err, size_t errlen)
{
    int          applied;
    char       **files, **done, *sql, path[4096];
    size_t       nfiles, ndone, i;
    PGresult    *res;
    const char  *params[1];

    if (llo_pg_migrations(sql_dir, &files, &nfiles, err, errlen) != 0) {
        return -1;
    }

    done = NULL;
    ndone = 0;
    applied = -1;

    /* two "migrate" runs at once would both see the same pending list */
    if (llo_pg_exec(pg, "SELECT pg_advisory_lock(" LLO_PG_MIGRATE_LOCK ")",
                    err, errlen) != 0)
    {
        goto done;
    }

    if (llo_pg_exec(pg, "CREATE TABLE IF NOT EXISTS llm_schema_migrations ("
                    "version text PRIMARY KEY, "
                    "applied_at timestamptz NOT NULL DEFAULT now())",
                    err, errlen) != 0)
    {
        goto unlock;
    }

    if (llo_pg_applied(pg, &done, &ndone, err, errlen) != 0) {
        goto unlock;
    }

    applied = 0;

    for (i = 0; i < nfiles; i++) {
        if (llo_pg_has(done, ndone, files[i])) {
            continue;
        }

        snprintf(path, sizeof(path), "%s/%s.sql", sql_dir, files[i]);

        sql = llo_pg_read_file(path, err, errlen);
        if (sql == NULL) {
            applied = -1;
            break;
        }

        if (llo_pg_exec(pg, "BEGIN", err, errlen) != 0) {
            free(sql);
            applied = -1;
            break;
        }

        res = PQexec(pg->conn, sql);
        free(sql);

        if (PQresultStatus(res) != PGRES_COMMAND_OK
            && PQresultStatus(res) != PGRES_TUPLES_OK)
        {
            llo_pg_fail(pg, res, path, err, errlen);
            goto rollback;
        }

        PQclear(res);

        params[0] = files[i];
        res = PQexecParams(pg->conn, "INSERT INTO llm_schema_migrations "
                           "(version) VALUES ($1)", 1, NULL, params, NULL,
                           NULL, 0);

        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            llo_pg_fail(pg, res, "INSERT INTO llm_schema_migrations", err,
                        errlen);
            goto rollback;
        }

        PQclear(res);

        if (llo_pg_commit(pg, err, errlen) != 0) {
            goto rollback;
        }

        printf("applied %s\n", files[i]);
        fflush(stdout);
        applied++;
        continue;

    rollback:

        llo_pg_rollback(pg);

        applied = -1;
        break;
    }

unlock:

    if (PQstatus(pg->conn) == CONNECTION_OK) {
        PQclear(PQexec(pg->conn, "SELECT pg_advisory_unlock("
                       LLO_PG_MIGRATE_LOCK ")"));
    }

done:

    llo_pg_free_names(files, nfiles);
    llo_pg_free_names(done, ndone);

    return applied;
}


static char *
llo_pg_read_file(const char *path, char *err, size_t errlen)
{
    FILE    *f;
    char    *buf;
    long     size;
    size_t   n;

    f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open \"%s\": %s", path,
                 strerror(errno));
        return NULL;
    }

    if (fseek(f, 0, SEEK_END) == -1 || (size = ftell(f)) == -1
        || fseek(f, 0, SEEK_SET) == -1)
    {
        snprintf(err, errlen, "cannot read \"%s\": %s", path,
                 strerror(errno));
        fclose(f);
        return NULL;
    }

    buf = malloc(size + 1);
    if (buf == NULL) {
        snprintf(err, errlen, "out of memory reading \"%s\"", path);
        fclose(f);
        return NULL;
    }

    n = fread(buf, 1, size, f);

    if (n != (size_t) size) {
        snprintf(err, errlen, "cannot read \"%s\": %s", path,
                 ferror(f) ? strerror(errno) : "short read");
        free(buf);
        fclose(f);
        return NULL;
    }

    buf[n] = '\0';
    fclose(f);

    return buf;
}
