/*
 * llm-evaluator keygen: a new API key and its llm_observer_key line.
 */

#ifndef _LLO_EVAL_KEYGEN_H_INCLUDED_
#define _LLO_EVAL_KEYGEN_H_INCLUDED_


/* argv after "keygen"; prints to stdout, errors to stderr; exit code */
int llo_keygen(int argc, char **argv);


#endif /* _LLO_EVAL_KEYGEN_H_INCLUDED_ */
