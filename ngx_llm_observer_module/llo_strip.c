/*
 * llm-observer: removing the usage-only chunk from an OpenAI stream; see
 * llo_strip.h.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* memmem() */
#endif

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "llo_parse.h"             /* llo_grow() */
#include "llo_strip.h"


static size_t llo_strip_nulls(llo_strip_t *s, const uint8_t *in, size_t n,
    uint8_t *out);
static size_t llo_strip_events(llo_strip_t *s, const uint8_t *in, size_t n,
    uint8_t *out);
static int llo_strip_usage_event(const uint8_t *ev, size_t len);
static int llo_strip_key(const uint8_t *ev, size_t len, const char *key,
    size_t klen, const char *value);
static int llo_strip_hold(llo_strip_t *s, const uint8_t *p, size_t n);


size_t
llo_strip_feed(llo_strip_t *s, const uint8_t *in, size_t n, uint8_t *out)
{
    size_t  k, o, m;

    o = 0;

    /* up to the end of the finish event: only the null members go */

    if (!s->armed) {
        k = n;

        if (s->arm_at && s->in_off + n >= s->arm_at) {
            k = s->arm_at > s->in_off ? s->arm_at - s->in_off : 0;
            s->armed = 1;
        }

        o = llo_strip_nulls(s, in, k, out);
        s->in_off += k;
        in += k;
        n -= k;

        if (!s->armed || n == 0) {
            return o;
        }
    }

    s->in_off += n;

    if (s->passing) {
        return o + llo_strip_nulls(s, in, n, out + o);
    }

    if (llo_grow(&s->scratch, &s->scratch_cap, n + s->pend_len)
        != 0)
    {
        /* no room to hold: events pass from here on */
        s->passing = 1;
        m = s->hold_len;
        memcpy(out + o, s->hold, m);
        s->hold_len = 0;
        return o + m + llo_strip_nulls(s, in, n, out + o + m);
    }

    m = llo_strip_nulls(s, in, n, s->scratch);

    return o + llo_strip_events(s, s->scratch, m, out + o);
}


/* step 1: ',"usage":null' cut; a tail that may start one is kept */

static size_t
llo_strip_nulls(llo_strip_t *s, const uint8_t *in, size_t n, uint8_t *out)
{
    size_t          o, need, m, t;
    const uint8_t  *q, *end;

    o = 0;

    if (s->pend_len) {
        need = LLO_STRIP_NULL_LEN - s->pend_len;
        m = n < need ? n : need;

        if (memcmp(in, LLO_STRIP_NULL + s->pend_len, m) == 0) {
            if (m < need) {
                memcpy(s->pend + s->pend_len, in, m);
                s->pend_len += m;
                return 0;
            }

            s->pend_len = 0;
            s->nulls++;
            in += m;
            n -= m;

        } else {
            /* the pattern has one ',' only, at its start: no match can
             * begin inside what was kept */
            memcpy(out, s->pend, s->pend_len);
            o = s->pend_len;
            s->pend_len = 0;
        }
    }

    end = in + n;

    while (in < end) {
        q = memmem(in, end - in, LLO_STRIP_NULL, LLO_STRIP_NULL_LEN);

        if (q != NULL) {
            memcpy(out + o, in, q - in);
            o += q - in;
            in = q + LLO_STRIP_NULL_LEN;
            s->nulls++;
            continue;
        }

        /* the last ',' near the end may start the pattern */

        t = (size_t) (end - in);
        q = end;

        while (q > in && end - q < (ptrdiff_t) LLO_STRIP_NULL_LEN - 1) {
            q--;

            if (*q == ',') {
                if (memcmp(q, LLO_STRIP_NULL, end - q) == 0) {
                    t = q - in;
                }

                break;
            }
        }

        memcpy(out + o, in, t);
        o += t;

        s->pend_len = (end - in) - t;
        memcpy(s->pend, in + t, s->pend_len);

        break;
    }

    return o;
}


/* step 2, from the end of the finish event on */

static size_t
llo_strip_events(llo_strip_t *s, const uint8_t *in, size_t n, uint8_t *out)
{
    size_t          o;
    const uint8_t  *p, *end, *start;

    o = 0;

    p = in;
    end = in + n;
    start = in;

    while (p < end) {
        if (*p != '\n') {
            s->line_len++;
            s->last = *p++;
            continue;
        }

        p++;

        /* an empty line, or one holding only '\r', ends the event */

        if (s->line_len == 0 || (s->line_len == 1 && s->last == '\r')) {
            if (llo_strip_hold(s, start, p - start) != 0) {
                goto pass;
            }

            start = p;

            if (llo_strip_usage_event(s->hold, s->hold_len)) {
                s->dropped++;

            } else {
                memcpy(out + o, s->hold, s->hold_len);
                o += s->hold_len;
            }

            s->hold_len = 0;
        }

        s->line_len = 0;
        s->last = '\n';
    }

    if (llo_strip_hold(s, start, end - start) != 0) {
        goto pass;
    }

    return o;

pass:

    /* what is held, then the rest, unchanged */

    memcpy(out + o, s->hold, s->hold_len);
    o += s->hold_len;
    s->hold_len = 0;

    memcpy(out + o, start, end - start);
    o += end - start;

    s->passing = 1;

    return o;
}


size_t
llo_strip_finish(llo_strip_t *s, uint8_t *out)
{
    size_t  n;

    /* the kept tail of step 1 came after everything held by step 2 */

    memcpy(out, s->hold, s->hold_len);
    n = s->hold_len;
    memcpy(out + n, s->pend, s->pend_len);
    n += s->pend_len;

    s->hold_len = 0;
    s->pend_len = 0;
    s->passing = 1;

    return n;
}


void
llo_strip_free(llo_strip_t *s)
{
    free(s->hold);
    free(s->scratch);
    s->scratch = NULL;
    s->scratch_cap = 0;
    s->hold = NULL;
    s->hold_len = 0;
    s->hold_cap = 0;
}


static int
llo_strip_hold(llo_strip_t *s, const uint8_t *p, size_t n)
{
    if (n == 0) {
        return 0;
    }

    if (s->hold_len + n > LLO_STRIP_HOLD_MAX
        || llo_grow(&s->hold, &s->hold_cap, s->hold_len + n) != 0)
    {
        return -1;
    }

    memcpy(s->hold + s->hold_len, p, n);
    s->hold_len += n;

    return 0;
}


/*
 * The usage-only chunk: a data event whose choices array is empty and
 * which carries a usage object.  Content and finish chunks always have
 * a choice; Azure's prompt-filter chunk has no choice but no usage, and
 * comes first anyway.  OpenAI writes compact JSON; compatible servers
 * may put blanks around the colon, so those are allowed.
 */

static int
llo_strip_usage_event(const uint8_t *ev, size_t len)
{
    if (len < 5 || memcmp(ev, "data:", 5) != 0) {
        return 0;
    }

    return llo_strip_key(ev, len, "\"choices\"", 9, "[]")
           && llo_strip_key(ev, len, "\"usage\"", 7, "{");
}


/* key, blanks, ':', blanks, then value's characters with blanks between */

static int
llo_strip_key(const uint8_t *ev, size_t len, const char *key, size_t klen,
    const char *value)
{
    const char     *v;
    const uint8_t  *p, *end;

    end = ev + len;
    p = ev;

    while ((p = memmem(p, end - p, key, klen)) != NULL) {
        p += klen;

        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }

        if (p == end || *p != ':') {
            continue;
        }

        p++;

        for (v = value; *v; v++) {
            while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'
                               || *p == '\n'))
            {
                p++;
            }

            if (p == end || *p != (uint8_t) *v) {
                break;
            }

            p++;
        }

        if (*v == '\0') {
            return 1;
        }
    }

    return 0;
}
