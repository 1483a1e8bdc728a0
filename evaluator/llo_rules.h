/*
 * llm-observer rules: the quality rules teams write, and the score they
 * give a call.  Plain C, no nginx or libpq types (PCRE2 for regex).
 *
 * The rules file reads like nginx configuration:
 *
 *   # a comment
 *   rule refusal_en {
 *       kind      refusal;
 *       phrases   "I can't help with" "I cannot assist";
 *       severity  warning;             # info | warning | critical
 *       weight    2;                   # 0..4, taken off the score
 *       priority  50;                  # the label is the highest's name
 *       max_score 3;                   # optional: the score is at most
 *       match     provider=openai model=gpt-4o*;     # optional filters
 *   }
 *
 * Errors name file:line and the word at fault.  The kinds and their
 * parameters are in docs/scoring.md; an unknown kind or parameter is an
 * error, and so is a parameter of another kind.
 *
 * Score: 5, less the weights of the rules that fired, at least 1, at most
 * the lowest max_score of those that fired.  flagged: score below the
 * threshold the caller gives.  The version of a rule set is a hash of its
 * words, so comments and layout do not change it.
 */

#ifndef _LLO_RULES_H_INCLUDED_
#define _LLO_RULES_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define LLO_RULES_ERR_LEN       512
#define LLO_RULES_MAX           256
#define LLO_RULE_NAME_MAX       64
#define LLO_RULE_MATCH_MAX      8
#define LLO_RULE_PHRASES_MAX    64


typedef enum {
    LLO_RULE_EMPTY_RESPONSE = 0,
    LLO_RULE_TOO_SHORT,
    LLO_RULE_REFUSAL,
    LLO_RULE_TRUNCATED,
    LLO_RULE_UPSTREAM_ERROR,
    LLO_RULE_REPETITION,
    LLO_RULE_LATENCY_SLO,
    LLO_RULE_REGEX,
    LLO_RULE_PII_LEAK,
    LLO_RULE_PROMPT_INJECTION,
    LLO_RULE_LANGUAGE_MISMATCH,
    LLO_RULE_INVALID_JSON,
    LLO_RULE_KINDS
} llo_rule_kind_e;


typedef enum {
    LLO_SEV_INFO = 0,
    LLO_SEV_WARNING,
    LLO_SEV_CRITICAL
} llo_rule_severity_e;


/* what a rule looks at: a call as the evaluator decoded it */

typedef struct {
    const char         *data;
    size_t              len;
} llo_rules_str_t;

typedef struct {
    llo_rules_str_t     provider;
    llo_rules_str_t     api;
    llo_rules_str_t     model;          /* the response's, else the
                                           request's */
    llo_rules_str_t     key;            /* the key's name */
    llo_rules_str_t     team;
    llo_rules_str_t     prompt;
    llo_rules_str_t     response;
    llo_rules_str_t     finish_reason;
    llo_rules_str_t     error_type;     /* the provider's error body */
    llo_rules_str_t     response_format;    /* the output the request
                                               asked for: llo_parse.h */
    int64_t             status;         /* -1: unknown */
    int64_t             max_tokens;     /* -1: not asked */
    int64_t             completion_tokens;  /* -1: unknown */
    int64_t             ttft_ms;        /* -1: unknown */
    int64_t             latency_ms;     /* -1: unknown */
    unsigned            incomplete:1;   /* a stream without its end */
    unsigned            cut:1;          /* llm_observer_limit_stream cut */
    unsigned            refused:1;      /* the module answered itself */
    unsigned            response_truncated:1;   /* the response text was
                                                   cut at
                                                   llm_observer_max_text */
} llo_rules_call_t;


typedef struct llo_rules_s  llo_rules_t;
typedef struct llo_rules_cache_s  llo_rules_cache_t;   /* llo_rules_cache.h */


/*
 * Parse the rules of text (len bytes, named file in errors).  Returns the
 * rule set, or NULL with err ("file:line: ...").
 */
llo_rules_t *llo_rules_parse(const char *text, size_t len,
    const char *file, char *err, size_t errlen);

/* the same for a file */
llo_rules_t *llo_rules_load(const char *path, char *err, size_t errlen);

void llo_rules_free(llo_rules_t *rules);

size_t llo_rules_count(const llo_rules_t *rules);

/* the version: 16 hex digits of a hash of the rules' words */
const char *llo_rules_version(const llo_rules_t *rules);


/* one call's verdict */

typedef struct {
    int                 score;          /* 1..5 */
    int                 flagged;        /* score < threshold */
    const char         *label;          /* highest priority that fired,
                                           NULL: none */
    size_t              fired;          /* how many rules fired */
    uint64_t            fired_bits[LLO_RULES_MAX / 64];  /* bit per rule */
    uint64_t            applied_bits[LLO_RULES_MAX / 64];   /* its match
                                                       filters passed */
} llo_verdict_t;

#define llo_verdict_fired(v, i)  (((v)->fired_bits[(i) / 64] >> ((i) % 64)) & 1)
#define llo_verdict_applied(v, i)                                            \
    (((v)->applied_bits[(i) / 64] >> ((i) % 64)) & 1)


/*
 * Score call with every rule that matches it; with a cache (NULL: none),
 * what the rules that read only the text found is taken from it when the
 * same text was scored before.
 */
void llo_rules_score(const llo_rules_t *rules, llo_rules_cache_t *cache,
    const llo_rules_call_t *call, int threshold, llo_verdict_t *v);

/* the name and kind of rule i, for reports */
const char *llo_rules_name(const llo_rules_t *rules, size_t i);
int llo_rules_kind(const llo_rules_t *rules, size_t i);
const char *llo_rules_kind_name(int kind);

/*
 * A filter of "match" words ("provider=openai model=gpt-4o*"), the same
 * as a rule's, for what is not a rule (the judge's choice of calls).
 * NULL with err when text is not one.
 */
typedef struct llo_rules_s  llo_rules_filter_t;

llo_rules_filter_t *llo_rules_filter_parse(const char *text, char *err,
    size_t errlen);
int llo_rules_filter_matches(const llo_rules_filter_t *f,
    const llo_rules_call_t *call);
#define llo_rules_filter_free(f)  llo_rules_free(f)

/* the rules that fired in v as JSON (docs/scoring.md), given to out */
typedef void (*llo_rules_out_pt)(void *data, const char *s, size_t len);
void llo_rules_details(const llo_rules_t *rules, const llo_verdict_t *v,
    llo_rules_out_pt out, void *data);


#endif /* _LLO_RULES_H_INCLUDED_ */
