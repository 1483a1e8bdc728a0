/*
 * llm-evaluator's POST /alerts: Alertmanager's webhook (version 4
 * payload) into llm_alerts (sql/010), one row per alert and status of an
 * episode, a notification sent again stored once.
 *
 * It uses a PostgreSQL connection of its own, never the ingest one, with
 * a statement timeout: a slow database answers Alertmanager 503 (which
 * retries) and never holds a batch.  A payload that is not Alertmanager's
 * is a 400 that says what is wrong, before PostgreSQL sees it.
 */

#ifndef _LLO_EVAL_ALERTS_H_INCLUDED_
#define _LLO_EVAL_ALERTS_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "llo_eval_http.h"
#include "llo_eval_pg.h"


typedef struct {
    const char         *conninfo;       /* the configuration's */
    char               *token;          /* api_token_file's, NULL: none */
    llo_pg_t            pg;             /* its own connection */

    uint64_t            received;       /* alerts in valid payloads */
    uint64_t            stored;         /* new rows */
    uint64_t            rejected;       /* payloads refused (4xx) */
} llo_alerts_t;


/* POST /alerts, data: an llo_alerts_t */
void llo_alerts_handler(void *data, const llo_http_request_t *req,
    llo_http_reply_t *reply);

/* GET /alerts/history, behind the bearer token of api_token_file */
void llo_alerts_history(void *data, const llo_http_request_t *req,
    llo_http_reply_t *reply);

/*
 * Check an Alertmanager webhook payload: 0 with the number of its alerts
 * in *n, or -1 with err naming the field at fault ("alerts[2].status:
 * \"maybe\" is not firing or resolved").
 */
int llo_alerts_check(const char *body, size_t len, size_t *n, char *err,
    size_t errlen);

void llo_alerts_free(llo_alerts_t *a);


#endif /* _LLO_EVAL_ALERTS_H_INCLUDED_ */
