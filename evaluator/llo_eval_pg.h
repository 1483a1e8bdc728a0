/*
 * llm-evaluator PostgreSQL side: connection, migrations, monthly
 * partitions, and the one-transaction COPY of a batch.
 */

#ifndef _LLO_EVAL_PG_H_INCLUDED_
#define _LLO_EVAL_PG_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

/* Debian keeps it under postgresql/ unless pkg-config's -I is given */
#if __has_include(<libpq-fe.h>)
#include <libpq-fe.h>
#else
#include <postgresql/libpq-fe.h>
#endif


typedef struct {
    PGconn             *conn;

    /* months (year * 100 + month) whose partition is known to exist */
    int                *months;
    size_t              nmonths;
    size_t              months_cap;

    unsigned            stage:1;        /* the temp table exists */
    unsigned            data_error:1;   /* the last failure was the data's */
} llo_pg_t;


/* the key sets of a batch: llo_eval_keys.h */


int llo_pg_connect(llo_pg_t *pg, const char *conninfo, char *err,
    size_t errlen);
void llo_pg_close(llo_pg_t *pg);
void llo_pg_free(llo_pg_t *pg);

/*
 * The migrations in sql_dir (NNN_name.sql) not yet recorded in
 * llm_schema_migrations: returns how many, their names joined by ", " in
 * list, or -1 with err.
 */
int llo_pg_pending(llo_pg_t *pg, const char *sql_dir, char *list,
    size_t listlen, char *err, size_t errlen);

/*
 * Apply the pending migrations in order, each in its own transaction
 * with its tracking row, and print "applied NAME" for each on stdout.
 * Returns how many were applied, or -1 with err.
 */
int llo_pg_migrate(llo_pg_t *pg, const char *sql_dir, char *err,
    size_t errlen);

/* make sure the partitions for these months exist */
int llo_pg_partitions(llo_pg_t *pg, const int *months, size_t n, char *err,
    size_t errlen);

/* the current month and the next "ahead" ones */
int llo_pg_partitions_ahead(llo_pg_t *pg, int ahead, char *err,
    size_t errlen);

/* forget the known months: a partition may have been dropped */
void llo_pg_forget_partitions(llo_pg_t *pg);

/*
 * The batch's transaction, as the drain runs it: llo_pg_begin() (the
 * session's stage table made first, outside it), llo_pg_rows() once,
 * whatever else the batch writes (its sinks), llo_pg_commit(); on any
 * failure llo_pg_rollback().  Each returns 0, or -1 with err, and then
 * pg->data_error tells whether the data was at fault (a data or
 * constraint error on a live connection) rather than the connection or
 * the server.
 *
 * llo_pg_rows(): COPY the rows (COPY text format, the columns of
 * llo_copy_columns()) into the stage table and move them into
 * llm_requests, skipping ids already there; *inserted is the number of
 * new rows.
 */
int llo_pg_begin(llo_pg_t *pg, char *err, size_t errlen);
int llo_pg_rows(llo_pg_t *pg, const char *data, size_t len,
    uint64_t *inserted, char *err, size_t errlen);

/*
 * llo_pg_verdicts(): COPY verdicts (COPY text, LLO_PG_VERDICT_COLUMNS)
 * into llm_evaluations; *inserted is the number of new verdicts.  How:
 *
 *   LLO_PG_VERDICTS_NEW      straight in: their calls are new in this
 *                            transaction, so they have none yet
 *   LLO_PG_VERDICTS_FIRST    each unless its call has a verdict of the
 *                            same evaluator (ingest, a batch delivered
 *                            again)
 *   LLO_PG_VERDICTS_VERSION  each unless its call has one of the same
 *                            version (rescore)
 */
#define LLO_PG_VERDICT_COLUMNS                                               \
    "id, ts, evaluator, version, score, label, flagged, details"

typedef enum {
    LLO_PG_VERDICTS_NEW = 0,
    LLO_PG_VERDICTS_FIRST,
    LLO_PG_VERDICTS_VERSION
} llo_pg_verdicts_e;

int llo_pg_verdicts(llo_pg_t *pg, const char *data, size_t len,
    llo_pg_verdicts_e how, uint64_t *inserted, char *err, size_t errlen);


/*
 * The stored calls of the last "seconds", oldest first, with their
 * latest rules verdict: cb(data, res, row) for each row of each page of
 * res, whose columns are LLO_PG_CALL_*; a cb that returns -1 stops it.
 * Text as PostgreSQL gives it (ts with its offset, booleans t/f).
 */
enum {
    LLO_PG_CALL_ID = 0,
    LLO_PG_CALL_TS,
    LLO_PG_CALL_PROVIDER,
    LLO_PG_CALL_API,
    LLO_PG_CALL_MODEL,
    LLO_PG_CALL_KEY,
    LLO_PG_CALL_TEAM,
    LLO_PG_CALL_PROMPT,
    LLO_PG_CALL_RESPONSE,
    LLO_PG_CALL_FINISH,
    LLO_PG_CALL_ERROR_TYPE,
    LLO_PG_CALL_STATUS,
    LLO_PG_CALL_MAX_TOKENS,
    LLO_PG_CALL_COMPLETION,
    LLO_PG_CALL_TTFT,
    LLO_PG_CALL_LATENCY,
    LLO_PG_CALL_INCOMPLETE,
    LLO_PG_CALL_CUT,
    LLO_PG_CALL_REFUSED,
    LLO_PG_CALL_RESPONSE_FORMAT,
    LLO_PG_CALL_RESPONSE_TRUNCATED,
    LLO_PG_CALL_V_VERSION,          /* the stored verdict's, NULL: none */
    LLO_PG_CALL_V_SCORE,
    LLO_PG_CALL_V_LABEL,
    LLO_PG_CALL_V_FLAGGED,
    LLO_PG_CALL_V_FIRED,            /* its fired rules, space-separated */
    LLO_PG_CALL_COLUMNS
};

typedef int (*llo_pg_call_pt)(void *data, PGresult *res, int row);

int llo_pg_calls_since(llo_pg_t *pg, int64_t seconds, llo_pg_call_pt cb,
    void *data, char *err, size_t errlen);
int llo_pg_commit(llo_pg_t *pg, char *err, size_t errlen);
void llo_pg_rollback(llo_pg_t *pg);

/*
 * Fill err from res (which may be NULL) or the connection, set
 * pg->data_error by the SQLSTATE, clear res; returns -1.
 */
int llo_pg_fail(llo_pg_t *pg, PGresult *res, const char *what, char *err,
    size_t errlen);


#endif /* _LLO_EVAL_PG_H_INCLUDED_ */
