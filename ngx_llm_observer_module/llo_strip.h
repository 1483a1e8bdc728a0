/*
 * llm-observer: removing the usage-only chunk from an OpenAI stream.
 *
 * With llm_observer_stream_usage on, the module asks the provider for
 * usage (stream_options.include_usage) on a streaming request whose
 * client did not.  The provider then changes the stream in two ways:
 * every chunk gets a "usage":null member, and one more event follows the
 * one with the finish reason:
 *
 *   data: {"id":...,"choices":[{...}],"usage":null}\n\n      (each chunk)
 *   data: {"id":...,"choices":[],"usage":{...}}\n\n         (the last)
 *
 * The client must get exactly the bytes it would have got without that
 * request, so both are undone:
 *
 *   1. ',"usage":null' is cut wherever it appears (it cannot appear
 *      inside a JSON string, where a quote is escaped); only a tail of a
 *      buffer that could be the start of it is held, at most 12 bytes;
 *   2. from the end of the finish event on (llo_resp_t.finish_end, an
 *      offset in the stream as received) each event is held until its
 *      blank line, and the one with "choices":[] and a "usage" object is
 *      dropped.  Content deltas come before it and are never held.
 *
 * Plain C, no nginx types.
 */

#ifndef _LLO_STRIP_H_INCLUDED_
#define _LLO_STRIP_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/* an event after the finish reason larger than this is let through */
#define LLO_STRIP_HOLD_MAX      (256 * 1024)


#define LLO_STRIP_NULL          ",\"usage\":null"
#define LLO_STRIP_NULL_LEN      (sizeof(LLO_STRIP_NULL) - 1)


typedef struct {
    /* 1: ',"usage":null' */
    uint8_t             pend[LLO_STRIP_NULL_LEN];   /* a partial match */
    size_t              pend_len;
    uint64_t            in_off;         /* stream bytes fed so far */
    uint64_t            arm_at;         /* where 2 starts, 0: not yet */
    uint32_t            nulls;          /* members cut */

    /* 2: the usage event */
    uint8_t            *hold;           /* the event so far */
    size_t              hold_len;
    size_t              hold_cap;
    uint8_t            *scratch;        /* 1's output, when 2 is on */
    size_t              scratch_cap;
    size_t              line_len;       /* bytes since the last '\n' */
    uint8_t             last;           /* the byte before */
    uint32_t            dropped;        /* usage events cut out */
    unsigned            armed:1;
    unsigned            passing:1;      /* 2 gave up: events pass */
} llo_strip_t;


/* the most bytes llo_strip_feed() of n bytes, or finish (n = 0), gives */
#define llo_strip_room(s, n)  ((n) + (s)->hold_len + (s)->pend_len)

/*
 * Process in[0..n), the next bytes of the stream; what the client gets is
 * written to out (llo_strip_room() bytes).  Returns how many.  Set
 * s->arm_at (the finish event's end) before feeding the bytes past it.
 * Never fails: without memory to hold an event, events pass from then
 * on (the usage event included).
 */
size_t llo_strip_feed(llo_strip_t *s, const uint8_t *in, size_t n,
    uint8_t *out);

/* the end of the stream: what is still held goes out (an unended event
 * is not a usage event the client would not have had) */
size_t llo_strip_finish(llo_strip_t *s, uint8_t *out);

void llo_strip_free(llo_strip_t *s);


#endif /* _LLO_STRIP_H_INCLUDED_ */
