/*
 * llm-observer: what an LLM call cost, from its token counts and a price
 * list (llm_observer_price directives, conf.d/llm_prices.conf).
 *
 *   llm_observer_price <model | prefix*> input=<usd> output=<usd>
 *                      [cached_input=<usd>] [cache_write=<usd>];
 *
 * Prices are USD per 1M tokens, written as decimals with at most 6
 * places ("2.50", "0.075"), kept as integers in micro-USD per 1M tokens
 * ("2.50" -> 2500000): no binary fraction ever touches money.
 *
 * Costs are kept in nano-USD (1e-9 USD), not micro-USD.  A token at a
 * list price of 0.005 USD/1M (gpt-5-nano cached input) costs 5 nano-USD;
 * in micro-USD a call with a few hundred cheap tokens (an embedding, a
 * cache hit) rounds to 0 or 1, and the error does not average out over
 * millions of calls: a daily total would be off by tens of percent for
 * cheap models.  In nano-USD every price with up to 3 decimals gives an
 * exact per-token cost and the one rounding per call (half up, at the
 * end) is at most 0.5 nano-USD: a sum over 20 million calls is off by
 * less than a cent.  An int64_t of nano-USD holds 9.2e9 USD: far more
 * than any one call (1e7 tokens at the largest price accepted, 10000
 * USD/1M, is 1e5 USD) or any counter of a year's spend; a cost beyond it
 * (absurd counts from a broken upstream) is saturated at LLO_COST_MAX,
 * never wrapped.
 *
 * How a call is charged (the counts are llo_resp_t's, where the prompt
 * count already includes cached and cache-written tokens, and the
 * completion count includes reasoning / thinking tokens):
 *
 *   prompt - cached - cache_creation    at input         (never below 0)
 *   cached                              at cached_input  (else input)
 *   cache_creation                      at cache_write   (else input)
 *   completion                          at output
 *
 * Tiered prices (Gemini 2.5 Pro above 200k prompt tokens, long-context
 * surcharges) are not modelled: the list gives the base tier.
 *
 * Plain C, no nginx types.
 */

#ifndef _LLO_COST_H_INCLUDED_
#define _LLO_COST_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define LLO_PRICE_MODEL_MAX     128         /* with the terminating NUL */
#define LLO_PRICE_DECIMALS      6
#define LLO_PRICE_MAX_USD       10000       /* per 1M tokens */
#define LLO_PRICE_MAX           (LLO_PRICE_MAX_USD * INT64_C(1000000))

#define LLO_COST_MAX            INT64_MAX   /* saturated */

/* "-9223372036.854775808" and its NUL */
#define LLO_COST_FORMAT_LEN     24


typedef struct {
    char                model[LLO_PRICE_MODEL_MAX];  /* without the '*' */
    size_t              len;
    int                 prefix;         /* written with a trailing '*' */
    int64_t             input;          /* micro-USD per 1M tokens, -1:
                                           not given yet */
    int64_t             output;
    int64_t             cached_input;   /* -1: not given, cached tokens
                                           then cost the input price */
    int64_t             cache_write;    /* -1: not given, cache writes
                                           then cost the input price */
} llo_price_t;


/*
 * Parsing one directive: llo_price_init(), llo_price_model() with its
 * first argument, llo_price_param() with each other one, then
 * llo_price_check().  Each returns 0, or -1 with err (errlen bytes, NUL
 * terminated, lowercase, the value quoted, nginx style) saying what is
 * wrong, e.g.
 *
 *   invalid value "input=abc": a price in USD per 1M tokens, like 2.50
 *   unknown parameter "foo=1"
 *   duplicate parameter "input=3"
 */

void llo_price_init(llo_price_t *p);

/* "gpt-4o" or "gpt-4o*" (a prefix); a '*' only at the end, no blanks or
 * control characters; "*" alone matches every model, a catch-all that
 * any other entry beats */
int llo_price_model(llo_price_t *p, const char *arg, size_t len, char *err,
    size_t errlen);

/* one "name=value": input, output, cached_input, cache_write; a price is
 * digits with an optional '.' and 1 to 6 more digits, 0 to 10000 */
int llo_price_param(llo_price_t *p, const char *arg, size_t len, char *err,
    size_t errlen);

/* after all arguments: input and output are required */
int llo_price_check(const llo_price_t *p, char *err, size_t errlen);

/* a price "2.50" alone into micro-USD per 1M tokens; returns NULL, or
 * what is wrong with it ("at most 6 decimals") */
const char *llo_price_parse(const char *s, size_t len, int64_t *micro);


/*
 * The price of a model: the entry with exactly that name first, else the
 * matching prefix entry with the longest prefix, so the order of the
 * list does not matter; NULL if none.  Names compare byte for byte (the
 * providers' model ids are lowercase).  When two entries have the same
 * name and kind, the first wins; the glue should refuse duplicates.
 */
const llo_price_t *llo_price_find(const llo_price_t *prices, size_t n,
    const char *model, size_t len);


/*
 * The cost of one call in nano-USD, rounded half up once, at the end;
 * exact integer arithmetic.  A count < 0 is unknown and counts as 0;
 * returns -1 if none of the four is known.  Saturates at LLO_COST_MAX.
 */
int64_t llo_cost_nano(const llo_price_t *p, int64_t prompt, int64_t cached,
    int64_t cache_creation, int64_t completion);

/*
 * nano-USD as a decimal USD string with 9 places, no exponent, no
 * rounding: 1234 -> "0.000001234", -1 -> "-0.000000001".  Fixed scale so
 * that it reads straight into a numeric(.., 9) column and sums exactly.
 * Writes at most len bytes with a NUL (LLO_COST_FORMAT_LEN is always
 * enough); returns the length without the NUL, or 0 if len is too small.
 */
size_t llo_cost_format_nano(int64_t nano, char *buf, size_t len);


#endif /* _LLO_COST_H_INCLUDED_ */
