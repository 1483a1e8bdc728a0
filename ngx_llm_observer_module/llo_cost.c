/*
 * llm-observer: the cost of a call from its token counts; see llo_cost.h.
 */

#include <stdio.h>
#include <string.h>

#include "llo_cost.h"


/* an argument shown in an error is cut here: err is short anyway */
#define LLO_PRICE_SHOW          200

#define LLO_PRICE_SYNTAX        "a price in USD per 1M tokens, like 2.50"


static int64_t *llo_price_field(llo_price_t *p, const char *name,
    size_t len);
static int llo_price_err(char *err, size_t errlen, const char *what,
    const char *arg, size_t len, const char *why);
static int64_t llo_cost_rate(int64_t price, int64_t fallback);


void
llo_price_init(llo_price_t *p)
{
    memset(p, 0, sizeof(llo_price_t));

    p->input = -1;
    p->output = -1;
    p->cached_input = -1;
    p->cache_write = -1;
}


int
llo_price_model(llo_price_t *p, const char *arg, size_t len, char *err,
    size_t errlen)
{
    size_t  i, n;

    if (len == 0) {
        snprintf(err, errlen, "empty model name");
        return -1;
    }

    n = len;

    if (arg[len - 1] == '*') {
        n--;
    }

    for (i = 0; i < len; i++) {
        if ((unsigned char) arg[i] <= ' ' || arg[i] == 0x7f) {
            return llo_price_err(err, errlen, "invalid model", arg, len,
                                 "blanks and control characters are not "
                                 "allowed");
        }

        if (arg[i] == '*' && i < n) {
            return llo_price_err(err, errlen, "invalid model", arg, len,
                                 "a \"*\" is allowed only at the end, for a "
                                 "prefix");
        }
    }

    if (n >= LLO_PRICE_MODEL_MAX) {
        return llo_price_err(err, errlen, "invalid model", arg, len,
                             "longer than 127 bytes");
    }

    memcpy(p->model, arg, n);
    p->model[n] = '\0';
    p->len = n;
    p->prefix = (n < len);

    return 0;
}


int
llo_price_param(llo_price_t *p, const char *arg, size_t len, char *err,
    size_t errlen)
{
    int64_t      v, *f;
    const char  *eq, *why;

    eq = memchr(arg, '=', len);

    if (eq == NULL) {
        return llo_price_err(err, errlen, "invalid parameter", arg, len,
                             "a name=value pair like input=2.50");
    }

    f = llo_price_field(p, arg, eq - arg);

    if (f == NULL) {
        return llo_price_err(err, errlen, "unknown parameter", arg, len,
                             NULL);
    }

    if (*f != -1) {
        return llo_price_err(err, errlen, "duplicate parameter", arg, len,
                             NULL);
    }

    why = llo_price_parse(eq + 1, len - (eq + 1 - arg), &v);

    if (why != NULL) {
        return llo_price_err(err, errlen, "invalid value", arg, len, why);
    }

    *f = v;

    return 0;
}


static int64_t *
llo_price_field(llo_price_t *p, const char *name, size_t len)
{
    if (len == 5 && memcmp(name, "input", 5) == 0) {
        return &p->input;
    }

    if (len == 6 && memcmp(name, "output", 6) == 0) {
        return &p->output;
    }

    if (len == 12 && memcmp(name, "cached_input", 12) == 0) {
        return &p->cached_input;
    }

    if (len == 11 && memcmp(name, "cache_write", 11) == 0) {
        return &p->cache_write;
    }

    return NULL;
}


int
llo_price_check(const llo_price_t *p, char *err, size_t errlen)
{
    const char  *miss;

    if (p->input < 0) {
        miss = "input";

    } else if (p->output < 0) {
        miss = "output";

    } else {
        return 0;
    }

    /* every call has both: a price without one would cost it as free */

    snprintf(err, errlen, "missing parameter \"%s=\" for \"%s%s\"", miss,
             p->model, p->prefix ? "*" : "");

    return -1;
}


/*
 * Digits, then optionally '.' and 1 to 6 digits: no sign, no exponent,
 * no blanks, no ".5" or "5." (a typo more often than not).  Read into an
 * integer directly, so "0.1" is exactly 100000, which no double is.
 */

const char *
llo_price_parse(const char *s, size_t len, int64_t *micro)
{
    size_t   i, whole, frac;
    int64_t  v, scale;

    if (len == 0) {
        return LLO_PRICE_SYNTAX;
    }

    if (s[0] == '-') {
        return "a price cannot be negative";
    }

    v = 0;
    whole = 0;
    frac = 0;

    for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        /* keep reading the syntax, but stop growing past the limit */
        if (v <= LLO_PRICE_MAX_USD) {
            v = v * 10 + (s[i] - '0');
        }

        whole++;
    }

    if (i < len && s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            frac++;
        }

        if (frac == 0) {
            return LLO_PRICE_SYNTAX;
        }
    }

    if (i < len) {
        if (whole && (s[i] == 'e' || s[i] == 'E')) {
            return "a plain decimal is needed, without an exponent";
        }

        return LLO_PRICE_SYNTAX;
    }

    if (whole == 0) {
        return LLO_PRICE_SYNTAX;
    }

    if (frac > LLO_PRICE_DECIMALS) {
        return "at most 6 decimals";
    }

    if (v > LLO_PRICE_MAX_USD) {
        return "more than 10000 USD per 1M tokens";
    }

    v *= 1000000;

    if (frac) {
        scale = 100000;

        for (i = len - frac; i < len; i++) {
            v += (s[i] - '0') * scale;
            scale /= 10;
        }
    }

    if (v > LLO_PRICE_MAX) {
        return "more than 10000 USD per 1M tokens";
    }

    *micro = v;

    return NULL;
}


const llo_price_t *
llo_price_find(const llo_price_t *prices, size_t n, const char *model,
    size_t len)
{
    size_t              i;
    const llo_price_t  *e, *best;

    best = NULL;

    for (i = 0; i < n; i++) {
        e = &prices[i];

        if (!e->prefix) {
            if (e->len == len && memcmp(e->model, model, len) == 0) {
                return e;
            }

            continue;
        }

        if (e->len <= len && memcmp(e->model, model, e->len) == 0
            && (best == NULL || e->len > best->len))
        {
            best = e;
        }
    }

    return best;
}


/*
 * tokens * price (micro-USD per 1M tokens) is in pico-USD (1e-12): the
 * cost in nano-USD is the sum of those over 1000.  Each count is split
 * as q * 1000 + r: q * price is whole nano-USD, r * price (< 1e13) the
 * pico-USD left over; the left-overs are added up and rounded once.
 * Only the whole part can overflow, and it saturates.  This needs no
 * 128-bit type, which 32-bit targets of nginx do not have.
 */

int64_t
llo_cost_nano(const llo_price_t *p, int64_t prompt, int64_t cached,
    int64_t cache_creation, int64_t completion)
{
    int      i, known;
    int64_t  n[4], rate[4], q, whole, rest;

    known = (prompt >= 0) | (cached >= 0) | (cache_creation >= 0)
            | (completion >= 0);

    if (!known) {
        return -1;
    }

    prompt = prompt > 0 ? prompt : 0;
    cached = cached > 0 ? cached : 0;
    cache_creation = cache_creation > 0 ? cache_creation : 0;
    completion = completion > 0 ? completion : 0;

    /* inconsistent counts (more cached than sent) charge what was
     * reported as cached, and nothing uncached */

    n[0] = prompt;
    n[0] = cached < n[0] ? n[0] - cached : 0;
    n[0] = cache_creation < n[0] ? n[0] - cache_creation : 0;
    n[1] = cached;
    n[2] = cache_creation;
    n[3] = completion;

    rate[0] = llo_cost_rate(p->input, 0);
    rate[1] = llo_cost_rate(p->cached_input, rate[0]);
    rate[2] = llo_cost_rate(p->cache_write, rate[0]);
    rate[3] = llo_cost_rate(p->output, 0);

    whole = 0;
    rest = 0;

    for (i = 0; i < 4; i++) {
        if (n[i] == 0 || rate[i] == 0) {
            continue;
        }

        q = n[i] / 1000;

        if (q > (LLO_COST_MAX - whole) / rate[i]) {
            return LLO_COST_MAX;
        }

        whole += q * rate[i];
        rest += (n[i] % 1000) * rate[i];
    }

    q = (rest + 500) / 1000;

    if (q > LLO_COST_MAX - whole) {
        return LLO_COST_MAX;
    }

    return whole + q;
}


/* a price not given falls back; one the parser would refuse is held to
 * what it accepts, which keeps the arithmetic above in range */

static int64_t
llo_cost_rate(int64_t price, int64_t fallback)
{
    if (price < 0) {
        return fallback;
    }

    return price < LLO_PRICE_MAX ? price : LLO_PRICE_MAX;
}


size_t
llo_cost_format_nano(int64_t nano, char *buf, size_t len)
{
    int       n;
    uint64_t  u;

    /* -INT64_MIN does not fit an int64_t */
    u = nano < 0 ? (uint64_t) -(nano + 1) + 1 : (uint64_t) nano;

    n = snprintf(buf, len, "%s%llu.%09llu", nano < 0 ? "-" : "",
                 (unsigned long long) (u / 1000000000),
                 (unsigned long long) (u % 1000000000));

    if (n < 0 || (size_t) n >= len) {
        if (len) {
            buf[0] = '\0';
        }

        return 0;
    }

    return (size_t) n;
}


/* what "arg"[: why], the nginx way: lowercase, the value quoted */

static int
llo_price_err(char *err, size_t errlen, const char *what, const char *arg,
    size_t len, const char *why)
{
    int  n;

    n = len < LLO_PRICE_SHOW ? (int) len : LLO_PRICE_SHOW;

    snprintf(err, errlen, "%s \"%.*s\"%s%s", what, n, arg,
             why ? ": " : "", why ? why : "");

    return -1;
}
