/*
 * llm-evaluator drain: committed ring records -> one COPY batch ->
 * PostgreSQL COMMIT -> only then llo_ring_release().
 */

#ifndef _LLO_EVAL_DRAIN_H_INCLUDED_
#define _LLO_EVAL_DRAIN_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/types.h>

#include "llo_ring.h"
#include "llo_eval_conf.h"
#include "llo_eval_copy.h"
#include "llo_eval_pg.h"
#include "llo_eval_sink.h"


typedef enum {
    LLO_DRAIN_EMPTY = 0,    /* the ring is empty now */
    LLO_DRAIN_MORE,         /* the batch was full: go again at once */
    LLO_DRAIN_BUSY,         /* stopped at a record still being written */
    LLO_DRAIN_FAILED        /* the database failed; nothing released */
} llo_drain_rc_e;


#define LLO_DRAIN_SINKS  8


typedef struct {
    llo_ring_t          ring;
    char               *path;
    dev_t               dev;
    ino_t               ino;
    unsigned            attached:1;

    /* the batch being built: COPY text and, per row, where it starts */
    llo_buf_t           copy;
    size_t             *row_off;
    llo_row_t          *rows;           /* each row's record */
    size_t              nrows;
    size_t              rows_cap;
    int                *months;
    size_t              nmonths;
    size_t              months_cap;
    /* what the batch writes besides its rows (llo_eval_sink.h) */
    llo_sink_t         *sinks[LLO_DRAIN_SINKS];
    size_t              nsinks;
    llo_row_sink_t     *row_sinks[LLO_DRAIN_SINKS];
    size_t              nrow_sinks;
    pthread_t           prepare_thread;
    int                 prepare_rc;
    unsigned            preparing:1;    /* the thread runs */

    /* since start */
    uint64_t            records;        /* taken from the ring */
    uint64_t            inserted;
    uint64_t            duplicates;     /* already in the table */
    uint64_t            bad;            /* undecodable or rejected */
    uint64_t            skipped;        /* of a kind not stored */
    uint64_t            batches;
} llo_drain_t;


/*
 * Attach to the ring at path as its one consumer: a second evaluator
 * on the same ring fails here with the pid of the first.
 */
int llo_drain_attach(llo_drain_t *d, const char *path, char *err,
    size_t errlen);
void llo_drain_detach(llo_drain_t *d);
void llo_drain_free(llo_drain_t *d);

/* the ring file at d->path is no longer the one mapped (nginx made a new) */
int llo_drain_replaced(llo_drain_t *d);

/*
 * Register a sink (the caller keeps it): from the next batch on, the
 * records of its kind go to it and it writes in the batch's transaction.
 * -1 when LLO_DRAIN_SINKS are registered already or a sink takes that
 * kind.
 */
int llo_drain_add_sink(llo_drain_t *d, llo_sink_t *sink);

/*
 * Register a row sink (the caller keeps it): from the next batch on, it
 * is told every row and writes its part with them.  -1 when
 * LLO_DRAIN_SINKS are registered already.
 */
int llo_drain_add_row_sink(llo_drain_t *d, llo_row_sink_t *sink);

/*
 * Read up to conf->batch_size records from the read position, write
 * their rows and each sink's part in one transaction, and release them
 * after the COMMIT.
 * Undecodable records and rows PostgreSQL rejects as data are logged,
 * counted and released with the rest, so they cannot wedge the ring.
 */
llo_drain_rc_e llo_drain_batch(llo_drain_t *d, llo_pg_t *pg,
    const llo_conf_t *conf, char *err, size_t errlen);

/*
 * Committed records from the read position up to the first one still
 * being written; *busy tells whether there was one.
 */
uint64_t llo_drain_waiting(llo_ring_t *ring, int *busy);


#endif /* _LLO_EVAL_DRAIN_H_INCLUDED_ */
