/*
 * llm-evaluator logging: one levelled function, ISO time and pid on
 * every line, to stderr or a file.
 */

#ifndef _LLO_EVAL_LOG_H_INCLUDED_
#define _LLO_EVAL_LOG_H_INCLUDED_


#include <stdint.h>


#define LLO_LOG_ERROR   0
#define LLO_LOG_WARN    1
#define LLO_LOG_INFO    2
#define LLO_LOG_DEBUG   3


/*
 * Open path ("stderr" or NULL: standard error) for appending and make it
 * the log.  On failure the previous log stays and -1 is returned with
 * err filled, so a bad log_file on reload loses no messages.
 */
int llo_log_open(const char *path, char *err, size_t errlen);
void llo_log_set_level(int level);
void llo_log_close(void);

void llo_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * As llo_log(), but a message with the same format is written at most
 * once a minute; the next one written says how many were suppressed.
 * For errors that repeat once per record or per retry.
 */
void llo_log_limited(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "error", "warn", "info", "debug" -> level, or -1 */
int llo_log_level_parse(const char *name);

/* monotonic and wall clocks in milliseconds */
int64_t llo_now_ms(void);
int64_t llo_wall_ms(void);


#endif /* _LLO_EVAL_LOG_H_INCLUDED_ */
