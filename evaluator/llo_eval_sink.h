/*
 * llm-evaluator sinks: what a batch writes besides its llm_requests rows,
 * in the same transaction.
 *
 * The drain owns the transaction (llo_eval_drain.c):
 *
 *   reset() each sink -> read the batch from the ring, giving each record
 *   of a sink's kind to its add() -> BEGIN -> COPY the rows -> apply()
 *   each sink -> COMMIT -> release the ring -> committed() each sink
 *
 * A sink that fails rolls the whole batch back, and its records are read
 * again with the rest.  When PostgreSQL refuses the batch's data, each
 * sink is tried alone, and reject() leaves its records out if that is
 * refused too; the rows are then found by halves, without the sinks.
 *
 * The key sets of llm_observer_key (llo_eval_keys.c) are such a sink.
 *
 * A row sink writes something for each llm_requests row of the batch
 * (the rules' verdicts, llo_eval_verdicts.c; the judge's queue): it is
 * given the batch's rows to prepare its part on a thread while the rows
 * are copied, and it writes its part for the same rows [lo, hi) as the
 * rows' COPY, in their transaction, so it follows them through the
 * halving.  A lone row that fails with its part is tried without it:
 * the row is kept, its part dropped, so a verdict never loses a row.
 *
 * A sink knows the PostgreSQL layer; the PostgreSQL layer knows no sink.
 */

#ifndef _LLO_EVAL_SINK_H_INCLUDED_
#define _LLO_EVAL_SINK_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "llo_record.h"
#include "llo_eval_pg.h"


typedef struct {
    const char         *name;
    int                 kind;           /* the LLO_KIND_* it takes */
    void               *data;           /* given to each call below */

    /* a new batch: forget the last one's records */
    void              (*reset)(void *data);

    /* a record of its kind; 0, or -1 with err: it is bad, left out */
    int               (*add)(void *data, const llo_rec_t *rec,
                             uint64_t instance, uint64_t seq, char *err,
                             size_t errlen);

    /* bytes it holds for this batch (bounds the batch), 0: nothing */
    size_t            (*pending)(void *data);

    /* its part, inside the batch's transaction; 0, or -1 with err and
     * pg->data_error when its data is at fault */
    int               (*apply)(void *data, llo_pg_t *pg, char *err,
                               size_t errlen);

    /* its records were refused as data (why): leave them out */
    void              (*reject)(void *data, const char *why);

    /* the batch is committed */
    void              (*committed)(void *data);

    /* records of this batch left out by apply() or reject() */
    uint64_t          (*rejected)(void *data);
} llo_sink_t;


/* a row of the batch as the drain read it from the ring */

typedef struct {
    llo_rec_t           rec;            /* points into the ring */
    uint64_t            instance;
    uint64_t            seq;
} llo_row_t;


typedef struct {
    const char         *name;
    void               *data;

    void              (*reset)(void *data);

    /*
     * The batch's rows, all of them, on a thread of the drain's while the
     * rows themselves are written to PostgreSQL: what it computes (the
     * verdicts) costs no time of the transaction.  It may use nothing the
     * main thread uses meanwhile (PostgreSQL, the log).  0, or -1 when
     * memory ran out.
     */
    int               (*prepare)(void *data, const llo_row_t *rows,
                                 size_t n);

    /* bytes it holds for this batch */
    size_t            (*pending)(void *data);

    /*
     * Its part for rows [lo, hi), in their transaction, after them;
     * all_new: every one of those rows was new to llm_requests (none was
     * stored by an earlier delivery of the batch).  0, or -1 with err and
     * pg->data_error when its data is at fault.
     */
    int               (*apply)(void *data, llo_pg_t *pg, size_t lo,
                               size_t hi, int all_new, char *err,
                               size_t errlen);

    /* row i goes without this sink's part (why): the row itself was
     * rejected, or stored only without the part */
    void              (*drop)(void *data, size_t row, const char *why);

    /* the batch is committed: the rows not dropped have their part */
    void              (*committed)(void *data);
} llo_row_sink_t;


#endif /* _LLO_EVAL_SINK_H_INCLUDED_ */
