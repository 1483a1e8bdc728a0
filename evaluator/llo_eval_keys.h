/*
 * llm-evaluator key audit: the LLO_KIND_KEYS records of a batch (one per
 * nginx start or reload, the whole key set of the configuration) applied
 * to llm_key_sets, llm_keys and llm_key_events (sql/004_key_events.sql).
 *
 * A record's key set is LLO_S_KEY_SET: a line per key, each ending in
 * '\n', fields separated by TAB:
 *
 *   name, key prefix (8 hex), team, models, rpm, tpm, tpd, budget, expires
 *
 * Sets are applied in ring order, in the transaction of the batch they
 * came in, each diffed against its host's set as of the record before.
 * A record is applied once: its llm_key_sets row is inserted first, and
 * a record whose row is there already changes nothing.  So a batch read
 * again after a failed COMMIT (nothing of it was kept) is applied as if
 * for the first time, and one read again after a COMMIT whose release
 * was lost is no change at all.
 */

#ifndef _LLO_EVAL_KEYS_H_INCLUDED_
#define _LLO_EVAL_KEYS_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "llo_record.h"
#include "llo_eval_copy.h"
#include "llo_eval_pg.h"
#include "llo_eval_sink.h"


typedef enum {
    LLO_KEYSET_PENDING = 0,
    LLO_KEYSET_APPLIED,         /* new: its events and llm_keys written */
    LLO_KEYSET_DUPLICATE,       /* applied before: nothing to do */
    LLO_KEYSET_REJECTED         /* PostgreSQL refused it as data */
} llo_keyset_state_e;


typedef struct {
    uint64_t            seq;
    char                id[LLO_ID_LEN + 1];
    char                ts[96];         /* timestamptz text, UTC; room for
                                           any int in each tm field */
    size_t              host;           /* offsets of '\0'-terminated */
    size_t              set;            /*   strings in llo_keysets_t.text */
    uint32_t            keys;

    /* of the last llo_keysets_apply() */
    llo_keyset_state_e  state;
    uint32_t            added;
    uint32_t            removed;
    uint32_t            changed;
} llo_keyset_t;


typedef struct {
    uint32_t            prefix;
    uint32_t            line;
} llo_keyset_prefix_t;


typedef struct {
    llo_buf_t            text;
    llo_keyset_t        *sets;
    size_t               nsets;
    size_t               sets_cap;

    /* scratch for the check that no two keys of a set share a prefix */
    llo_keyset_prefix_t *prefixes;
    size_t               prefixes_cap;

    uint64_t             rejected;      /* by the last llo_keysets_apply() */
} llo_keysets_t;


/* forget the sets of the previous batch */
void llo_keysets_reset(llo_keysets_t *ks);
void llo_keysets_free(llo_keysets_t *ks);

/*
 * Check a LLO_KIND_KEYS record and add its set.  A record that breaks
 * the format (no ts, no host, a malformed line, two keys with the same
 * prefix) is not added: -1, err says what and where.  Applying a set
 * that is not the whole set would report keys as removed that are not.
 * Exits the process when memory runs out, as llo_buf_reserve().
 */
int llo_keysets_add(llo_keysets_t *ks, const llo_rec_t *rec,
    uint64_t instance, uint64_t seq, char *err, size_t errlen);

/*
 * In pg's open transaction, before its COMMIT: apply the sets in order.
 * A set PostgreSQL refuses as data is rolled back to its savepoint,
 * logged and counted in ks->rejected, so it takes neither the other sets
 * nor the batch's calls down with it.  Returns 0, or -1 with err when
 * the transaction cannot go on (pg->data_error is then 0: the call rows
 * are not at fault).
 */
int llo_keysets_apply(llo_keysets_t *ks, llo_pg_t *pg, char *err,
    size_t errlen);

/*
 * The transaction that had them failed as data past their savepoints
 * (at COMMIT: a deferred constraint): reject them all, logged with why.
 */
void llo_keysets_reject(llo_keysets_t *ks, const char *why);

/* after the COMMIT: log what the sets changed */
void llo_keysets_committed(llo_keysets_t *ks);

/* ks as the drain's sink of LLO_KIND_KEYS records (llo_eval_sink.h) */
void llo_keysets_sink(llo_keysets_t *ks, llo_sink_t *sink);


#endif /* _LLO_EVAL_KEYS_H_INCLUDED_ */
