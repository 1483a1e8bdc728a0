/*
 * llm-evaluator drain: see llo_eval_drain.h.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>
#include <sys/stat.h>

#include "llo_parse.h"
#include "llo_record.h"
#include "llo_eval_drain.h"
#include "llo_eval_log.h"


/*
 * A batch also ends at this much COPY text: batch_size records of up
 * to 16 MB each would otherwise be a batch of gigabytes.
 */
#define LLO_DRAIN_MAX_BYTES  (32 * 1024 * 1024)


static int llo_drain_add_row(llo_drain_t *d, size_t off,
    const llo_rec_t *rec, const llo_ring_rec_t *rr, int month);
static void llo_drain_prepare(llo_drain_t *d);
static void *llo_drain_prepare_run(void *arg);
static int llo_drain_prepared(llo_drain_t *d);
static llo_sink_t *llo_drain_sink_of(llo_drain_t *d, int kind);
static size_t llo_drain_pending(llo_drain_t *d);
static int llo_drain_txn(llo_drain_t *d, llo_pg_t *pg, size_t lo, size_t hi,
    int with_rows, llo_sink_t **sinks, size_t nsinks, uint64_t *inserted,
    char *err, size_t errlen);
static void llo_drain_drop(llo_drain_t *d, size_t row, const char *why);
static int llo_drain_rows(llo_drain_t *d, llo_pg_t *pg, uint64_t *inserted,
    uint64_t *rejected, char *err, size_t errlen);
static int llo_drain_split(llo_drain_t *d, llo_pg_t *pg, size_t lo,
    size_t hi, uint64_t *inserted, uint64_t *rejected, char *err,
    size_t errlen);
static int llo_drain_halves(llo_drain_t *d, llo_pg_t *pg, size_t lo,
    size_t hi, uint64_t *inserted, uint64_t *rejected, char *err,
    size_t errlen);


int
llo_drain_attach(llo_drain_t *d, const char *path, char *err, size_t errlen)
{
    char          *p;
    struct stat    st;
    struct flock   fl;

    if (llo_ring_attach(&d->ring, path, err, errlen) != 0) {
        return -1;
    }

    /*
     * A POSIX record lock, not flock(): nginx takes flock() on the ring
     * while it creates it, and the two kinds do not conflict on Linux.
     */

    memset(&fl, 0, sizeof(struct flock));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = 0;
    fl.l_len = 1;

    if (fcntl(d->ring.fd, F_SETLK, &fl) == -1) {
        if (errno == EACCES || errno == EAGAIN) {
            fl.l_type = F_WRLCK;
            fl.l_pid = 0;
            (void) fcntl(d->ring.fd, F_GETLK, &fl);

            snprintf(err, errlen, "ring \"%s\" already has a consumer "
                     "(pid %d)", path, (int) fl.l_pid);

        } else {
            snprintf(err, errlen, "fcntl(\"%s\", F_SETLK) failed: %s", path,
                     strerror(errno));
        }

        llo_ring_close(&d->ring);
        return -1;
    }

    if (fstat(d->ring.fd, &st) == -1) {
        snprintf(err, errlen, "fstat(\"%s\") failed: %s", path,
                 strerror(errno));
        llo_ring_close(&d->ring);
        return -1;
    }

    p = strdup(path);
    if (p == NULL) {
        snprintf(err, errlen, "out of memory");
        llo_ring_close(&d->ring);
        return -1;
    }

    free(d->path);
    d->path = p;
    d->dev = st.st_dev;
    d->ino = st.st_ino;
    d->attached = 1;

    return 0;
}


void
llo_drain_detach(llo_drain_t *d)
{
    if (d->attached) {
        llo_ring_close(&d->ring);
        d->attached = 0;
    }
}


void
llo_drain_free(llo_drain_t *d)
{
    llo_drain_detach(d);
    llo_buf_free(&d->copy);
    free(d->row_off);
    free(d->rows);
    free(d->months);
    free(d->path);
    d->row_off = NULL;
    d->rows = NULL;
    d->months = NULL;
    d->path = NULL;
}


int
llo_drain_replaced(llo_drain_t *d)
{
    struct stat  st;

    if (!d->attached || stat(d->path, &st) == -1) {
        return 0;
    }

    return st.st_dev != d->dev || st.st_ino != d->ino;
}


llo_drain_rc_e
llo_drain_batch(llo_drain_t *d, llo_pg_t *pg, const llo_conf_t *conf,
    char *err, size_t errlen)
{
    int              month;
    char             why[256];
    size_t           off, i;
    int64_t          now;
    uint64_t         rpos, cursor, n, inserted, rejected, bad, skipped;
    llo_rec_t        rec;
    llo_sink_t      *sink;
    llo_ring_rc_e    rrc;
    llo_drain_rc_e   rc;
    llo_ring_rec_t   rr;

    rpos = llo_ring_rpos(&d->ring);
    cursor = rpos;
    now = llo_now_ms();

    d->copy.len = 0;
    d->nrows = 0;
    d->nmonths = 0;

    for (i = 0; i < d->nsinks; i++) {
        d->sinks[i]->reset(d->sinks[i]->data);
    }

    for (i = 0; i < d->nrow_sinks; i++) {
        d->row_sinks[i]->reset(d->row_sinks[i]->data);
    }

    rc = LLO_DRAIN_MORE;
    bad = 0;
    skipped = 0;

    for (n = 0; n < (uint64_t) conf->batch_size; /* void */ ) {

        if (d->copy.len + llo_drain_pending(d) >= LLO_DRAIN_MAX_BYTES) {
            break;
        }

        rrc = llo_ring_read(&d->ring, &cursor, &rr, now, conf->torn_timeout);

        if (rrc == LLO_RING_EMPTY) {
            rc = LLO_DRAIN_EMPTY;
            break;
        }

        if (rrc == LLO_RING_WAIT) {
            rc = LLO_DRAIN_BUSY;
            break;
        }

        if (rrc == LLO_RING_CORRUPT) {
            llo_log_limited(LLO_LOG_ERROR, "ring \"%s\": impossible record "
                            "header before position %llu, skipped to there",
                            d->path, (unsigned long long) cursor);
            continue;
        }

        n++;
        cursor = rr.next;

        if (llo_rec_decode(&rec, rr.payload, rr.len, why, sizeof(why)) != 0)
        {
            bad++;
            llo_log_limited(LLO_LOG_ERROR, "record seq %llu: cannot decode: "
                            "%s; skipped", (unsigned long long) rr.seq, why);
            continue;
        }

        sink = llo_rec_has_num(&rec, LLO_N_KIND)
               ? llo_drain_sink_of(d, (int) rec.num[LLO_N_KIND]) : NULL;

        if (sink != NULL) {
            if (sink->add(sink->data, &rec, rr.instance, rr.seq, why,
                          sizeof(why))
                != 0)
            {
                bad++;
                llo_log_limited(LLO_LOG_ERROR, "record seq %llu: %s; "
                                "skipped", (unsigned long long) rr.seq, why);
            }

            continue;
        }

        if (!llo_rec_has_num(&rec, LLO_N_KIND)
            || rec.num[LLO_N_KIND] != LLO_KIND_CALL)
        {
            skipped++;
            llo_log_limited(LLO_LOG_DEBUG, "record seq %llu: kind %lld is "
                            "not stored; skipped",
                            (unsigned long long) rr.seq,
                            llo_rec_has_num(&rec, LLO_N_KIND)
                            ? (long long) rec.num[LLO_N_KIND] : -1LL);
            continue;
        }

        off = d->copy.len;

        if (llo_copy_row(&d->copy, &rec, rr.instance, rr.seq,
                         (int) conf->redact, &month, why,
                         sizeof(why))
            != 0)
        {
            bad++;
            llo_log_limited(LLO_LOG_ERROR, "record seq %llu: %s; skipped",
                            (unsigned long long) rr.seq, why);
            continue;
        }

        if (llo_drain_add_row(d, off, &rec, &rr, month) != 0) {
            snprintf(err, errlen, "out of memory");
            return LLO_DRAIN_FAILED;
        }
    }

    rejected = 0;
    inserted = 0;

    if (d->nrows == 0 && llo_drain_pending(d) == 0) {
        /* nothing to write, but the skipped records are done with */
        llo_ring_release(&d->ring, cursor);
        goto done;
    }

    /* the row sinks' parts made on a thread, while the rows are copied */
    llo_drain_prepare(d);

    if (llo_pg_partitions(pg, d->months, d->nmonths, err, errlen) != 0) {
        (void) llo_drain_prepared(d);
        return LLO_DRAIN_FAILED;
    }

    if (llo_drain_txn(d, pg, 0, d->nrows, 1, d->sinks, d->nsinks, &inserted,
                      err, errlen)
        != 0)
    {
        /* a partition the cache knows may have been dropped since */
        llo_pg_forget_partitions(pg);

        if (!pg->data_error) {
            (void) llo_drain_prepared(d);
            return LLO_DRAIN_FAILED;
        }

        llo_log(LLO_LOG_WARN, "batch of %zu rows rejected (%s); looking "
                "for the rows at fault", d->nrows, err);

        if (llo_drain_rows(d, pg, &inserted, &rejected, err, errlen) != 0) {
            (void) llo_drain_prepared(d);
            return LLO_DRAIN_FAILED;
        }
    }

    /* only now, with the rows committed, may producers reuse the space */
    llo_ring_release(&d->ring, cursor);

    for (i = 0; i < d->nsinks; i++) {
        d->sinks[i]->committed(d->sinks[i]->data);
    }

    for (i = 0; i < d->nrow_sinks; i++) {
        d->row_sinks[i]->committed(d->row_sinks[i]->data);
    }

    llo_log(LLO_LOG_DEBUG, "batch: %llu records, %zu rows, %llu new, "
            "released up to %llu", (unsigned long long) n, d->nrows,
            (unsigned long long) inserted, (unsigned long long) cursor);

    d->batches++;

done:

    /* counted only once released: a failed batch is read again */
    d->records += n;
    d->inserted += inserted;
    d->duplicates += d->nrows - inserted - rejected;
    d->bad += bad + rejected;

    for (i = 0; i < d->nsinks; i++) {
        d->bad += d->sinks[i]->rejected(d->sinks[i]->data);
    }

    d->skipped += skipped;

    return rc;
}


/*
 * The slow path after a data error: the rows again in halves, and the
 * halves that fail in halves again, down to the single rows PostgreSQL
 * rejects, which are logged and left out.  A few bad rows in a batch of
 * n cost about 2 log2(n) transactions each, not n.
 */

static int
llo_drain_rows(llo_drain_t *d, llo_pg_t *pg, uint64_t *inserted,
    uint64_t *rejected, char *err, size_t errlen)
{
    size_t       i, tried;
    uint64_t     n;
    llo_sink_t  *sink;

    *inserted = 0;
    *rejected = 0;
    tried = 0;

    /*
     * Each sink alone first, so that a call row at fault does not hold
     * it back (the key sets' savepoints keep them from failing the
     * calls).  Refused even so (at COMMIT: a deferred constraint): all
     * of that sink's records.
     */
    for (i = 0; i < d->nsinks; i++) {
        sink = d->sinks[i];

        if (sink->pending(sink->data) == 0) {
            continue;
        }

        tried++;

        if (llo_drain_txn(d, pg, 0, 0, 0, &sink, 1, &n, err, errlen) == 0) {
            continue;
        }

        if (!pg->data_error) {
            return -1;
        }

        sink->reject(sink->data, err);
    }

    if (d->nrows == 0) {
        return 0;
    }

    if (llo_pg_partitions(pg, d->months, d->nmonths, err, errlen) != 0) {
        return -1;
    }

    /*
     * The whole batch has just failed: start with its halves, unless a
     * sink wrote in it too, which may have been the one at fault: then
     * the rows alone first (a lone row is never taken for the culprit
     * untried).
     */
    if (tried) {
        return llo_drain_split(d, pg, 0, d->nrows, inserted, rejected, err,
                               errlen);
    }

    return llo_drain_halves(d, pg, 0, d->nrows, inserted, rejected, err,
                            errlen);
}


/* rows [lo, hi) as one transaction; its halves if a row is at fault */

static int
llo_drain_split(llo_drain_t *d, llo_pg_t *pg, size_t lo, size_t hi,
    uint64_t *inserted, uint64_t *rejected, char *err, size_t errlen)
{
    uint64_t  n;

    if (llo_drain_txn(d, pg, lo, hi, 1, NULL, 0, &n, err, errlen) == 0) {
        *inserted += n;
        return 0;
    }

    if (!pg->data_error) {
        return -1;
    }

    return llo_drain_halves(d, pg, lo, hi, inserted, rejected, err, errlen);
}


/*
 * rows [lo, hi) failed together with err: a lone row is the culprit, or
 * what a row sink wrote for it, when the row goes in without that
 */

static int
llo_drain_halves(llo_drain_t *d, llo_pg_t *pg, size_t lo, size_t hi,
    uint64_t *inserted, uint64_t *rejected, char *err, size_t errlen)
{
    char      why[512];
    size_t    mid;
    uint64_t  n;

    if (hi - lo == 1) {
        snprintf(why, sizeof(why), "%s", err);

        if (d->nrow_sinks > 0
            && llo_drain_txn(d, pg, lo, hi, 0, NULL, 0, &n, err, errlen)
               == 0)
        {
            *inserted += n;
            llo_log_limited(LLO_LOG_ERROR, "record seq %llu stored "
                            "without what the row sinks wrote for it, "
                            "rejected by PostgreSQL: %s",
                            (unsigned long long) d->rows[lo].seq, why);
            llo_drain_drop(d, lo, why);
            return 0;
        }

        if (d->nrow_sinks > 0) {
            if (!pg->data_error) {
                return -1;
            }

            /* the row's own fault, as it says alone */
            snprintf(why, sizeof(why), "%s", err);
        }

        (*rejected)++;
        llo_log_limited(LLO_LOG_ERROR, "record seq %llu rejected by "
                        "PostgreSQL: %s; skipped",
                        (unsigned long long) d->rows[lo].seq, why);
        llo_drain_drop(d, lo, why);
        return 0;
    }

    mid = lo + (hi - lo) / 2;

    if (llo_drain_split(d, pg, lo, mid, inserted, rejected, err, errlen)
        != 0)
    {
        return -1;
    }

    return llo_drain_split(d, pg, mid, hi, inserted, rejected, err, errlen);
}


/* row i of the batch goes without the row sinks' parts */

static void
llo_drain_drop(llo_drain_t *d, size_t row, const char *why)
{
    size_t  i;

    for (i = 0; i < d->nrow_sinks; i++) {
        d->row_sinks[i]->drop(d->row_sinks[i]->data, row, why);
    }
}


/*
 * One transaction: rows [lo, hi) of the batch (none when lo == hi) and,
 * with_rows, the row sinks' parts for them, then each of the sinks
 * given; COMMIT, or ROLLBACK of all of it.
 */

static int
llo_drain_txn(llo_drain_t *d, llo_pg_t *pg, size_t lo, size_t hi,
    int with_rows, llo_sink_t **sinks, size_t nsinks, uint64_t *inserted,
    char *err, size_t errlen)
{
    size_t  i, start, end;

    *inserted = 0;

    if (llo_pg_begin(pg, err, errlen) != 0) {
        goto failed;
    }

    if (lo < hi) {
        start = d->row_off[lo];
        end = hi < d->nrows ? d->row_off[hi] : d->copy.len;

        if (llo_pg_rows(pg, d->copy.data + start, end - start, inserted,
                        err, errlen)
            != 0)
        {
            goto failed;
        }

        /* the row sinks' parts are ready by now (on the first pass) */
        if (with_rows && llo_drain_prepared(d) != 0) {
            pg->data_error = 0;
            snprintf(err, errlen, "out of memory in the row sinks");
            goto failed;
        }

        for (i = 0; with_rows && i < d->nrow_sinks; i++) {
            if (d->row_sinks[i]->pending(d->row_sinks[i]->data)
                && d->row_sinks[i]->apply(d->row_sinks[i]->data, pg, lo, hi,
                                          *inserted == hi - lo, err, errlen)
                   != 0)
            {
                goto failed;
            }
        }
    }

    for (i = 0; i < nsinks; i++) {
        if (sinks[i]->pending(sinks[i]->data)
            && sinks[i]->apply(sinks[i]->data, pg, err, errlen) != 0)
        {
            goto failed;
        }
    }

    if (llo_pg_commit(pg, err, errlen) != 0) {
        goto failed;
    }

    return 0;

failed:

    *inserted = 0;
    llo_pg_rollback(pg);

    return -1;
}


int
llo_drain_add_sink(llo_drain_t *d, llo_sink_t *sink)
{
    if (d->nsinks == LLO_DRAIN_SINKS
        || llo_drain_sink_of(d, sink->kind) != NULL)
    {
        return -1;
    }

    d->sinks[d->nsinks++] = sink;

    return 0;
}


int
llo_drain_add_row_sink(llo_drain_t *d, llo_row_sink_t *sink)
{
    if (d->nrow_sinks == LLO_DRAIN_SINKS) {
        return -1;
    }

    d->row_sinks[d->nrow_sinks++] = sink;

    return 0;
}


static llo_sink_t *
llo_drain_sink_of(llo_drain_t *d, int kind)
{
    size_t  i;

    for (i = 0; i < d->nsinks; i++) {
        if (d->sinks[i]->kind == kind) {
            return d->sinks[i];
        }
    }

    return NULL;
}


/* what the sinks hold for this batch, in bytes */

static size_t
llo_drain_pending(llo_drain_t *d)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < d->nsinks; i++) {
        n += d->sinks[i]->pending(d->sinks[i]->data);
    }

    for (i = 0; i < d->nrow_sinks; i++) {
        n += d->row_sinks[i]->pending(d->row_sinks[i]->data);
    }

    return n;
}


static int
llo_drain_add_row(llo_drain_t *d, size_t off, const llo_rec_t *rec,
    const llo_ring_rec_t *rr, int month)
{
    size_t      i, cap;
    llo_row_t  *row;

    /* both arrays always have the same capacity */
    cap = d->rows_cap;

    if (llo_grow_array(&d->row_off, &cap, d->nrows + 1, sizeof(size_t),
                       1024)
        != 0
        || llo_grow_array(&d->rows, &d->rows_cap, d->nrows + 1,
                          sizeof(llo_row_t), 1024)
           != 0)
    {
        return -1;
    }

    d->row_off[d->nrows] = off;

    row = &d->rows[d->nrows];
    row->rec = *rec;
    row->instance = rr->instance;
    row->seq = rr->seq;

    d->nrows++;

    for (i = 0; i < d->nmonths; i++) {
        if (d->months[i] == month) {
            return 0;
        }
    }

    if (llo_grow_array(&d->months, &d->months_cap, d->nmonths + 1,
                       sizeof(int), 8)
        != 0)
    {
        return -1;
    }

    d->months[d->nmonths++] = month;

    return 0;
}


/*
 * The row sinks prepare their parts (score the calls) on a thread while
 * the main thread copies the rows: the two are the batch's largest costs
 * after PostgreSQL's own, and this machine's other core is otherwise
 * idle while libpq waits.  Without a thread (pthread_create failed) they
 * prepare at once.  The records point into the ring, which stays as it
 * is until the batch is released, after the join.
 */

static void
llo_drain_prepare(llo_drain_t *d)
{
    d->prepare_rc = 0;
    d->preparing = 0;

    if (d->nrow_sinks == 0 || d->nrows == 0) {
        return;
    }

    if (pthread_create(&d->prepare_thread, NULL, llo_drain_prepare_run, d)
        != 0)
    {
        (void) llo_drain_prepare_run(d);
        return;
    }

    d->preparing = 1;
}


static void *
llo_drain_prepare_run(void *arg)
{
    llo_drain_t  *d = arg;

    size_t  i;

    for (i = 0; i < d->nrow_sinks; i++) {
        if (d->row_sinks[i]->prepare(d->row_sinks[i]->data, d->rows,
                                     d->nrows)
            != 0)
        {
            d->prepare_rc = -1;
        }
    }

    return NULL;
}


/* wait for the row sinks' parts: 0, or -1 when memory ran out */

static int
llo_drain_prepared(llo_drain_t *d)
{
    if (d->preparing) {
        (void) pthread_join(d->prepare_thread, NULL);
        d->preparing = 0;
    }

    return d->prepare_rc;
}


uint64_t
llo_drain_waiting(llo_ring_t *ring, int *busy)
{
    uint64_t        n, cursor;
    llo_ring_t      walk;
    llo_ring_rc_e   rc;
    llo_ring_rec_t  rec;

    /* a copy: the walk must not disturb the consumer's torn-record wait */
    walk = *ring;
    walk.wait_pos = UINT64_MAX;

    cursor = llo_ring_rpos(&walk);
    n = 0;

    for ( ;; ) {
        rc = llo_ring_read(&walk, &cursor, &rec, 0, INT64_MAX);

        if (rc != LLO_RING_OK) {
            break;
        }

        n++;
        cursor = rec.next;
    }

    *busy = (rc == LLO_RING_WAIT);

    return n;
}
