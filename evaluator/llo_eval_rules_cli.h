/*
 * llm-evaluator's rules commands: what a team runs before it deploys a
 * rule change (docs/scoring.md).
 *
 *   rules check FILE               the file's rules and version, or
 *                                  file:line and why
 *   rules test FILE RECORDS        each call of a JSON-lines file scored:
 *                                  every rule's verdict and the score
 *   rules test FILE --since D      the calls stored in the last D scored,
 *                                  against the verdicts stored for them
 *   rescore --since D              the calls stored in the last D scored
 *                                  with rules_file, the new verdicts added
 *                                  beside the old (a new version only)
 */

#ifndef _LLO_EVAL_RULES_CLI_H_INCLUDED_
#define _LLO_EVAL_RULES_CLI_H_INCLUDED_


#include <stdint.h>

#include "llo_rules.h"
#include "llo_eval_conf.h"


/*
 * "rules ..." with its arguments (after "rules"); conf is the evaluator's
 * configuration, loaded by the caller only when an argument is --since
 * (NULL otherwise).  Returns the exit code.
 */
int llo_rules_cmd(int argc, char **argv, const llo_conf_t *conf);

/* "rescore --since D" with its arguments (after "rescore") */
int llo_rescore_cmd(int argc, char **argv, const llo_conf_t *conf);

/* a duration: N followed by s, m, h, d or w; -1 when it is not one */
int64_t llo_duration_s(const char *s);

/*
 * Fill call from one JSON object of the records file (its fields are
 * those of llo_rules_call_t, documented in docs/scoring.md); call's
 * strings point into the object, so it lives as long as it.  -1 with err
 * for an unknown field or a value of the wrong type.
 */
int llo_rules_record(void *yajl_object, llo_rules_call_t *call, char *err,
    size_t errlen);


#endif /* _LLO_EVAL_RULES_CLI_H_INCLUDED_ */
