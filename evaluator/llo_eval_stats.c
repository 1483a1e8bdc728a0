/*
 * llm-evaluator counters: see llo_eval_stats.h.
 */

#include <stddef.h>
#include <stdio.h>

#include "llo_eval_drain.h"
#include "llo_eval_stats.h"
#include "llo_eval_verdicts.h"
#include "llo_eval_judge.h"


#define llo_ring_stat(f)   offsetof(llo_ring_stats_t, f)
#define llo_drain_stat(f)  offsetof(llo_drain_t, f)
#define llo_verdict_stat(f)  offsetof(llo_verdicts_t, f)
#define llo_judge_stat(f)  offsetof(llo_judge_t, f)


const llo_stat_t  llo_ring_stat_table[] = {
    { "capacity", LLO_STAT_GAUGE,
      "Bytes of record space in the ring", llo_ring_stat(capacity),
      "llm_observer_ring_capacity_bytes" },
    { "used_bytes", LLO_STAT_GAUGE,
      "Bytes between the read and the write position",
      llo_ring_stat(used_bytes),
      "llm_observer_ring_used_bytes" },
    { "records_waiting", LLO_STAT_GAUGE,
      "Committed records not yet taken by the evaluator",
      llo_ring_stat(records_waiting),
      "llm_observer_ring_waiting_records" },
    { "busy", LLO_STAT_GAUGE,
      "1 when the next record is still being written",
      llo_ring_stat(busy),
      "llm_observer_ring_busy" },
    { "drops", LLO_STAT_COUNTER,
      "Records nginx dropped because the ring was full",
      llo_ring_stat(drops),
      "llm_observer_ring_dropped_records_total" },
    { "drop_bytes", LLO_STAT_COUNTER,
      "Bytes of the records dropped", llo_ring_stat(drop_bytes),
      "llm_observer_ring_dropped_bytes_total" },
    { "torn", LLO_STAT_COUNTER,
      "Records never committed by their writer, skipped",
      llo_ring_stat(torn),
      "llm_observer_ring_torn_records_total" },
    { "torn_bytes", LLO_STAT_COUNTER,
      "Bytes of the torn records skipped", llo_ring_stat(torn_bytes),
      "llm_observer_ring_torn_bytes_total" },
    { "committed", LLO_STAT_COUNTER,
      "Records nginx committed to the ring", llo_ring_stat(committed),
      "llm_observer_ring_committed_records_total" },
    { "rpos", LLO_STAT_COUNTER,
      "Read position, bytes since the ring was made", llo_ring_stat(rpos),
      "llm_observer_ring_read_bytes_total" },
    { "wpos", LLO_STAT_COUNTER,
      "Write position, bytes since the ring was made", llo_ring_stat(wpos),
      "llm_observer_ring_written_bytes_total" },
    { "seq", LLO_STAT_COUNTER,
      "Sequence number of the last record reserved", llo_ring_stat(seq),
      "llm_observer_ring_reserved_records_total" },
    { "instance", LLO_STAT_ID,
      "Identity of the ring, the first half of every record id",
      llo_ring_stat(instance),
      NULL },
    { "created", LLO_STAT_GAUGE,
      "When the ring was made, unix time", llo_ring_stat(created),
      "llm_observer_ring_created_timestamp_seconds" },
    { NULL, 0, NULL, 0, NULL }
};


const llo_stat_t  llo_drain_stat_table[] = {
    { "records", LLO_STAT_COUNTER,
      "Records taken from the ring", llo_drain_stat(records),
      "llm_evaluator_records_read_total" },
    { "inserted", LLO_STAT_COUNTER,
      "Rows inserted into llm_requests", llo_drain_stat(inserted),
      "llm_evaluator_rows_written_total" },
    { "duplicates", LLO_STAT_COUNTER,
      "Records whose row was there already (read again after a failure)",
      llo_drain_stat(duplicates),
      "llm_evaluator_rows_duplicate_total" },
    { "bad", LLO_STAT_COUNTER,
      "Records undecodable or rejected by PostgreSQL, logged and left out",
      llo_drain_stat(bad),
      "llm_evaluator_records_bad_total" },
    { "skipped", LLO_STAT_COUNTER,
      "Records of a kind that is not stored", llo_drain_stat(skipped),
      "llm_evaluator_records_skipped_total" },
    { "batches", LLO_STAT_COUNTER,
      "Batches committed", llo_drain_stat(batches),
      "llm_evaluator_batches_total" },
    { NULL, 0, NULL, 0, NULL }
};


const llo_stat_t  llo_verdict_stat_table[] = {
    { "verdicts", LLO_STAT_COUNTER,
      "Calls scored by the rules, committed with their row",
      llo_verdict_stat(scored),
      "llm_evaluator_verdicts_total" },
    { "verdicts_flagged", LLO_STAT_COUNTER,
      "Of those, the verdicts scored below flag_below",
      llo_verdict_stat(flagged),
      "llm_evaluator_verdicts_flagged_total" },
    { "verdicts_dropped", LLO_STAT_COUNTER,
      "Verdicts PostgreSQL refused, their calls stored without",
      llo_verdict_stat(dropped),
      "llm_evaluator_verdicts_dropped_total" },
    { "rules_cache_hits", LLO_STAT_COUNTER,
      "Calls whose text the rules had read before (rules_cache)",
      llo_verdict_stat(cache_hits),
      "llm_evaluator_rules_cache_hits_total" },
    { "rules_cache_misses", LLO_STAT_COUNTER,
      "Calls whose text the rules read", llo_verdict_stat(cache_misses),
      "llm_evaluator_rules_cache_misses_total" },
    { NULL, 0, NULL, 0, NULL }
};


const llo_stat_t  llo_judge_stat_table[] = {
    { "judge_queued", LLO_STAT_COUNTER,
      "Calls queued for the LLM judge, committed with their batch",
      llo_judge_stat(queued),
      "llm_evaluator_judge_queued_total" },
    { "judge_verdicts", LLO_STAT_COUNTER,
      "Judge verdicts stored", llo_judge_stat(judged),
      "llm_evaluator_judge_verdicts_total" },
    { "judge_retries", LLO_STAT_COUNTER,
      "Judge calls to be made again (429, 5xx, timeouts, connections)",
      llo_judge_stat(retried),
      "llm_evaluator_judge_retries_total" },
    { "judge_failures", LLO_STAT_COUNTER,
      "Calls the judge gave no valid verdict for, recorded as failed",
      llo_judge_stat(failed),
      "llm_evaluator_judge_failures_total" },
    { NULL, 0, NULL, 0, NULL }
};


void
llo_ring_stats_read(llo_ring_t *ring, llo_ring_stats_t *s)
{
    int              busy;
    llo_ring_hdr_t  *h;

    h = ring->hdr;

#define llo_stat_load(f)  __atomic_load_n(&h->f, __ATOMIC_RELAXED)

    s->capacity = h->capacity;
    s->rpos = llo_ring_rpos(ring);
    s->wpos = llo_ring_wpos(ring);
    s->used_bytes = s->wpos - s->rpos;
    s->records_waiting = llo_drain_waiting(ring, &busy);
    s->busy = (uint64_t) busy;
    s->drops = llo_stat_load(drops);
    s->drop_bytes = llo_stat_load(drop_bytes);
    s->torn = llo_stat_load(torn);
    s->torn_bytes = llo_stat_load(torn_bytes);
    s->committed = llo_stat_load(committed);
    s->seq = llo_stat_load(seq);
    s->instance = h->instance;
    s->created = h->created > 0 ? (uint64_t) h->created : 0;

#undef llo_stat_load
}


void
llo_stats_print(FILE *f, const llo_stat_t *table, const void *base)
{
    uint64_t           v;
    const llo_stat_t  *st;

    for (st = table; st->name; st++) {
        v = *(const uint64_t *) ((const char *) base + st->offset);

        if (st->type == LLO_STAT_ID) {
            fprintf(f, "%s %016llx\n", st->name, (unsigned long long) v);

        } else {
            fprintf(f, "%s %llu\n", st->name, (unsigned long long) v);
        }
    }
}
