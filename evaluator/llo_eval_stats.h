/*
 * llm-evaluator counters, described once: name, type, help, where the
 * value is and the metric's name.  "ring-stat" and "drain" print them
 * from these tables, and /metrics (llo_eval_metrics.c) serves them.
 */

#ifndef _LLO_EVAL_STATS_H_INCLUDED_
#define _LLO_EVAL_STATS_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "llo_ring.h"


typedef enum {
    LLO_STAT_COUNTER = 0,       /* only grows */
    LLO_STAT_GAUGE,             /* goes up and down */
    LLO_STAT_ID                 /* an identity, printed in hex */
} llo_stat_type_e;


typedef struct {
    const char         *name;
    llo_stat_type_e     type;
    const char         *help;
    size_t              offset;     /* of a uint64_t */
    const char         *metric;     /* its name in /metrics, NULL: none */
} llo_stat_t;


/* a ring as "ring-stat" shows it, read once */

typedef struct {
    uint64_t            capacity;
    uint64_t            used_bytes;
    uint64_t            records_waiting;
    uint64_t            busy;
    uint64_t            drops;
    uint64_t            drop_bytes;
    uint64_t            torn;
    uint64_t            torn_bytes;
    uint64_t            committed;
    uint64_t            rpos;
    uint64_t            wpos;
    uint64_t            seq;
    uint64_t            instance;
    uint64_t            created;        /* unix time */
} llo_ring_stats_t;


/* ended by a NULL name */
extern const llo_stat_t  llo_ring_stat_table[];
extern const llo_stat_t  llo_drain_stat_table[];    /* over llo_drain_t */
extern const llo_stat_t  llo_verdict_stat_table[];  /* llo_verdicts_t */
extern const llo_stat_t  llo_judge_stat_table[];    /* llo_judge_t */

void llo_ring_stats_read(llo_ring_t *ring, llo_ring_stats_t *s);

/* "name value" lines of table over base */
void llo_stats_print(FILE *f, const llo_stat_t *table, const void *base);


#endif /* _LLO_EVAL_STATS_H_INCLUDED_ */
