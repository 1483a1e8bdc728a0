/*
 * llm-evaluator: a decoded record as one row of a COPY text stream.
 */

#ifndef _LLO_EVAL_COPY_H_INCLUDED_
#define _LLO_EVAL_COPY_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "llo_record.h"


typedef struct {
    char               *data;
    size_t              len;
    size_t              cap;
} llo_buf_t;


/* make room for n more bytes; exits the process when memory runs out */
void llo_buf_reserve(llo_buf_t *b, size_t n);
void llo_buf_add(llo_buf_t *b, const void *p, size_t n);
void llo_buf_free(llo_buf_t *b);

/* printf onto the end of b (up to 4 KiB a call) */
void llo_buf_printf(llo_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Append s as a COPY text field: backslash, tab, newline and CR escaped,
 * NUL bytes dropped and invalid UTF-8 replaced by U+FFFD, since a text
 * column rejects both and one bad byte would fail the whole batch.
 */
void llo_copy_text(llo_buf_t *b, const char *s, size_t len);

/*
 * The length of the well-formed UTF-8 sequence s starts with (1..4; an
 * ASCII byte, NUL too, is 1), or 0 when s (len > 0 bytes) starts with an
 * ill-formed one.  For the texts that go where only UTF-8 is accepted:
 * a COPY text column, a JSON string.
 */
size_t llo_utf8_seq(const char *s, size_t len);

/* "id, ts, request_id, ..., redacted": the columns llo_copy_row() writes */
const char *llo_copy_columns(void);

/*
 * Append the row of a LLO_KIND_CALL record, and set *month to the
 * year * 100 + month (UTC) of its ts, for the partition it goes to.
 * redact (an llo_redact_mode_e) replaces what the PII detectors find in
 * the prompt and response texts by typed markers, and the last column,
 * redacted, says what was replaced.  A record without a usable ts has no
 * row: -1, err says why.
 */
int llo_copy_row(llo_buf_t *b, const llo_rec_t *rec, uint64_t instance,
    uint64_t seq, int redact, int *month, char *err, size_t errlen);


/*
 * Append "id<TAB>ts" of the row llo_copy_row() makes of rec, for the
 * tables keyed by a call (llm_evaluations); -1 when it has no row.
 */
int llo_copy_key(llo_buf_t *b, const llo_rec_t *rec, uint64_t instance,
    uint64_t seq);


#endif /* _LLO_EVAL_COPY_H_INCLUDED_ */
