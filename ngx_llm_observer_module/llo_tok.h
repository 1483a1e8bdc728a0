/*
 * llm-observer tokenizer: OpenAI's tiktoken byte-pair encoding in plain C.
 *
 * No nginx types: linked by the nginx module, the evaluator and the unit
 * tests.  For valid UTF-8 the ids are those of tiktoken (the Rust core in
 * the Python and npm packages) for cl100k_base and o200k_base:
 * t/unit/test_tok.c checks them against what the npm package gives for a
 * multilingual corpus and a sweep of every code point.
 *
 * How a text becomes tokens, as in tiktoken:
 *
 *   text --split pattern (PCRE2, UTF, JIT)--> pieces --BPE--> token ids
 *
 * The split pattern of each encoding is built in, as tiktoken writes it,
 * and translated for PCRE2: \s becomes the Unicode White_Space list
 * (PCRE2's \s also matches U+180E, which the Rust regex crate's does not),
 * and \p{L}, \p{N}, ... get the characters Unicode 16.0 (the Rust crate's
 * tables) assigns them and PCRE2's older tables lack (see llo_tok.c).
 * A piece that is a token is that token; otherwise its bytes are merged
 * pair by pair, always the pair whose merge has the lowest rank, the
 * leftmost of equals.
 *
 * Invalid UTF-8 (tiktoken never sees it: Python and JS strings cannot hold
 * it) never matches the pattern (PCRE2_MATCH_INVALID_UTF): each run of
 * bytes between two matches is one piece, byte-pair encoded as it is.  So
 * every input has an encoding, decoding it gives the input back byte for
 * byte, and valid text around the bad bytes is split as if the bad bytes
 * were the end of one text and the start of another.
 *
 * Special tokens ("<|endoftext|>", ...): llo_tok_count() and
 * llo_tok_encode(.., allow_special = 0, ..) treat their text as ordinary
 * text, like tiktoken's encode_ordinary(); with allow_special = 1 every
 * one of them is recognised, like encode(text, allowed_special="all"),
 * and the text between two of them is encoded as a text of its own.
 *
 * Memory: the rank table is one arena of token bytes, an offset array and
 * an open-addressing hash (3.3 MB for cl100k_base, 6.4 MB for o200k_base,
 * the JIT-compiled pattern 10-20 KB more), allocated once at load and
 * never written afterwards, so workers forked after the load share it
 * copy-on-write.  A llo_tok_t also holds a PCRE2 match data and scratch
 * space that every call writes: it is not thread-safe; use one per thread
 * (a forked process has its own copy).
 *
 * Nothing crashes or loops, whatever the input: splitting is linear in the
 * text, a piece is merged in O(n log n).  Two cases give ids other than
 * tiktoken's, each counted in llo_tok_inexact():
 *   - a piece over 1 MiB (a megabyte without a space, digit or punctuation
 *     change; no traffic has one) is merged in 1 MiB slices, so the merge
 *     needs at most 24 MiB;
 *   - PCRE2 failing on a text (not known to happen: the match limit is
 *     lifted, as the patterns never backtrack more than linearly) or no
 *     memory for a merge: the rest is cut into raw-byte pieces.
 * Decoding gives the input back in every case.
 */

#ifndef _LLO_TOK_H_INCLUDED_
#define _LLO_TOK_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>


/* a piece the stream holds longer than this is counted as if it ended */
#define LLO_TOK_STREAM_CAP      (1024 * 1024)


typedef struct llo_tok_s  llo_tok_t;


/*
 * encoding: "cl100k_base" or "o200k_base"; path: its .tiktoken file
 * ("<base64 token> <rank>\n" per line, ranks 0, 1, 2, ...).  On failure
 * returns NULL and err holds "<path>:<line>: <what is wrong>" (bad base64,
 * a missing or non-numeric rank, a duplicate rank or token, a rank out of
 * order, a truncated line, the wrong number of tokens for the encoding)
 * or "<path>: <strerror>".
 */
llo_tok_t *llo_tok_load(const char *encoding, const char *path, char *err,
    size_t errlen);
void llo_tok_free(llo_tok_t *t);

const char *llo_tok_encoding(const llo_tok_t *t);

/* the split pattern, exactly as tiktoken has it (for tests) */
const char *llo_tok_pattern(const llo_tok_t *t);

/* 1 if PCRE2 JIT-compiled the pattern, 0 if the interpreter runs it */
int llo_tok_jit(const llo_tok_t *t);

/* tests: run the interpreter even where JIT works (on = 0) */
void llo_tok_set_jit(llo_tok_t *t, int on);

/* tests: merge pieces longer than n bytes (n <= 256) with the heap */
void llo_tok_set_small(llo_tok_t *t, size_t n);

/*
 * The body of the PCRE2 class that stands for tiktoken's \p{prop} (L, Lu,
 * Ll, Lt, Lm, Lo, M, N) or \s (White_Space): PCRE2's own class plus what
 * Unicode 16.0 (tiktoken's Rust regex) has that it lacks.  Returns its
 * length as snprintf() does, or -1 for another prop.  For tests.
 */
int llo_tok_class(const char *prop, char *buf, size_t size);

/* times the ids may have left tiktoken's (see above); 0 in practice */
uint64_t llo_tok_inexact(const llo_tok_t *t);

/* special tokens: n; the i-th one's text and id (i < n) */
size_t llo_tok_nspecial(const llo_tok_t *t);
const char *llo_tok_special(const llo_tok_t *t, size_t i, uint32_t *id);

/*
 * Ordinary text: special-token text counts as text (tiktoken's
 * encode_ordinary).  Allocates nothing but for a piece over 256 bytes
 * (24 bytes a byte, kept for the next call up to 1 MiB).
 */
uint64_t llo_tok_count(llo_tok_t *t, const uint8_t *s, size_t len);

/*
 * The ids into a malloc'd array (*ids, caller frees; non-NULL also for
 * an empty text); allow_special: every special token is recognised
 * (allowed_special="all").  Returns the number of ids, or -1 if out of
 * memory (*ids NULL).
 */
ssize_t llo_tok_encode(llo_tok_t *t, const uint8_t *s, size_t len,
    int allow_special, uint32_t **ids);

/*
 * The bytes of ids (special tokens give their text) into a malloc'd
 * *out of *outlen bytes, caller frees.  Returns 0, or -1 for an id that
 * is no token or out of memory.
 */
int llo_tok_decode(llo_tok_t *t, const uint32_t *ids, size_t n,
    uint8_t **out, size_t *outlen);


/*
 * Streaming count of a text that arrives in pieces (an LLM response's
 * deltas): llo_tok_stream_finish() returns llo_tok_count() of the
 * concatenation of everything fed, however it was cut, bytes split
 * mid-character included.
 *
 * hold: the stream keeps up to hold bytes without tokenizing anything, so
 * a response whose usage then arrives can be dropped having cost a copy.
 * Past that it tokenizes what is final and keeps the rest (normally a few
 * bytes): all split pieces but the last two are final (see llo_tok.c for
 * why that holds for both patterns), and a tail that may be the start of
 * a character is kept.  Work is linear in the bytes fed.
 *
 * Memory: the stream holds at most about twice LLO_TOK_STREAM_CAP (or
 * hold, if larger) plus the last delta.  The last two pieces, when longer
 * than the cap (1 MiB without a space, a digit or a punctuation mark,
 * say), are counted as if the text ended there: the count may then differ
 * from the whole text's by a token or two at each such cut, and
 * llo_tok_stream_inexact() says so.  Out of memory does the same (it
 * counts what is held and the delta as texts of their own).
 *
 * A stream uses its llo_tok_t (not thread-safe, as above).
 */
typedef struct llo_tok_stream_s  llo_tok_stream_t;

/* NULL if out of memory */
llo_tok_stream_t *llo_tok_stream_create(llo_tok_t *t, size_t hold);
void llo_tok_stream_feed(llo_tok_stream_t *s, const uint8_t *p, size_t n);

/* count of everything fed; the stream is then empty and can be reused */
uint64_t llo_tok_stream_finish(llo_tok_stream_t *s);
void llo_tok_stream_destroy(llo_tok_stream_t *s);

/* 1 if a cut at the cap (or out of memory) may have changed the count */
int llo_tok_stream_inexact(const llo_tok_stream_t *s);

/* bytes held now (for tests and memory accounting) */
size_t llo_tok_stream_held(const llo_tok_stream_t *s);

/* tests: a smaller cap than LLO_TOK_STREAM_CAP */
void llo_tok_stream_set_cap(llo_tok_stream_t *s, size_t cap);


#endif /* _LLO_TOK_H_INCLUDED_ */
