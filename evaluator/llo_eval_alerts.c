/*
 * llm-evaluator's POST /alerts: see llo_eval_alerts.h.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "llo_eval_alerts.h"
#include "llo_eval_log.h"


/* a wide query must not hold the evaluator's loop */
#define LLO_ALERTS_TIMEOUT  "5s"


static int llo_alerts_connect(llo_alerts_t *a, char *err, size_t errlen);
static const char *llo_alerts_str(yajl_val o, const char *key);
static void llo_alerts_error(llo_http_reply_t *reply, int status,
    const char *why);


/*
 * Alertmanager's webhook payload (version "4"): an object with
 * "receiver", "status", "groupKey" and "alerts", each alert an object
 * with "status" (firing or resolved), "labels" (alertname among them),
 * "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint".
 */

int
llo_alerts_check(const char *body, size_t len, size_t *n, char *err,
    size_t errlen)
{
    char         *text, why[256];
    size_t        i;
    yajl_val      root, alerts, al, labels, v;
    const char   *s;

    static const char  *alerts_path[] = { "alerts", NULL };

    *n = 0;

    text = strndup(body != NULL ? body : "", len);
    if (text == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    why[0] = '\0';
    root = yajl_tree_parse(text, why, sizeof(why));
    free(text);

    if (root == NULL) {
        why[strcspn(why, "\n")] = '\0';
        snprintf(err, errlen, "the body is not JSON: %s", why);
        return -1;
    }

    alerts = YAJL_IS_OBJECT(root)
             ? yajl_tree_get(root, alerts_path, yajl_t_any) : NULL;

    if (alerts == NULL || !YAJL_IS_ARRAY(alerts)) {
        snprintf(err, errlen, "alerts: an array is required (an "
                 "Alertmanager webhook payload)");
        goto failed;
    }

    for (i = 0; i < alerts->u.array.len; i++) {
        al = alerts->u.array.values[i];

        if (!YAJL_IS_OBJECT(al)) {
            snprintf(err, errlen, "alerts[%zu]: not an object", i);
            goto failed;
        }

        s = llo_alerts_str(al, "status");

        if (s == NULL || (strcmp(s, "firing") != 0
                          && strcmp(s, "resolved") != 0))
        {
            snprintf(err, errlen, "alerts[%zu].status: %s%s%s is not firing "
                     "or resolved", i, s ? "\"" : "", s ? s : "missing",
                     s ? "\"" : "");
            goto failed;
        }

        s = llo_alerts_str(al, "fingerprint");

        if (s == NULL || s[0] == '\0' || strlen(s) > 64) {
            snprintf(err, errlen, "alerts[%zu].fingerprint: a string of 1 "
                     "to 64 characters is required", i);
            goto failed;
        }

        if (llo_alerts_str(al, "startsAt") == NULL) {
            snprintf(err, errlen, "alerts[%zu].startsAt: required", i);
            goto failed;
        }

        {
            const char  *lp[] = { "labels", NULL };
            const char  *np[] = { "alertname", NULL };

            labels = yajl_tree_get(al, lp, yajl_t_object);
            v = labels ? yajl_tree_get(labels, np, yajl_t_string) : NULL;
        }

        if (v == NULL) {
            snprintf(err, errlen, "alerts[%zu].labels.alertname: required",
                     i);
            goto failed;
        }
    }

    *n = alerts->u.array.len;
    yajl_tree_free(root);

    return 0;

failed:

    yajl_tree_free(root);

    return -1;
}


static const char *
llo_alerts_str(yajl_val o, const char *key)
{
    yajl_val     v;
    const char  *path[2];

    path[0] = key;
    path[1] = NULL;

    v = yajl_tree_get(o, path, yajl_t_string);

    return v ? YAJL_GET_STRING(v) : NULL;
}


void
llo_alerts_handler(void *data, const char *path, const char *body,
    size_t len, llo_http_reply_t *reply)
{
    llo_alerts_t  *a = data;

    char         err[1024], *text;
    size_t       n;
    PGresult    *res;
    const char  *params[1];

    reply->content_type = "application/json";

    if (llo_alerts_check(body, len, &n, err, sizeof(err)) != 0) {
        a->rejected++;
        llo_alerts_error(reply, 400, err);
        return;
    }

    if (a->pg.conn == NULL && llo_alerts_connect(a, err, sizeof(err)) != 0) {
        llo_log_limited(LLO_LOG_ERROR, "POST /alerts: %s", err);
        reply->status = 503;
        llo_buf_printf(reply->body, "{\"error\":\"PostgreSQL is not "
                        "reachable; send it again\"}\n");
        return;
    }

    text = strndup(body, len);
    if (text == NULL) {
        reply->status = 503;
        llo_buf_printf(reply->body, "{\"error\":\"out of memory\"}\n");
        return;
    }

    params[0] = text;

    /* Alertmanager's zero time for "not ended" is NULL here */
    res = PQexecParams(a->pg.conn,
        "INSERT INTO llm_alerts (fingerprint, starts_at, status, ends_at, "
        "name, severity, labels, annotations, generator_url, receiver, "
        "group_key) "
        "SELECT x->>'fingerprint', (x->>'startsAt')::timestamptz, "
        "x->>'status', CASE WHEN (x->>'endsAt') IS NULL "
        "OR (x->>'endsAt') LIKE '0001-%' THEN NULL "
        "ELSE (x->>'endsAt')::timestamptz END, "
        "x->'labels'->>'alertname', x->'labels'->>'severity', x->'labels', "
        "coalesce(x->'annotations', '{}'::jsonb), x->>'generatorURL', "
        "p->>'receiver', p->>'groupKey' "
        "FROM (SELECT $1::jsonb AS p) q, jsonb_array_elements(q.p->'alerts') x "
        "ON CONFLICT DO NOTHING", 1, NULL, params, NULL, NULL, 0);

    free(text);

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        llo_pg_fail(&a->pg, res, "INSERT INTO llm_alerts", err, sizeof(err));

        if (a->pg.data_error) {
            a->rejected++;
            llo_alerts_error(reply, 400, err);
            return;
        }

        /* the connection: again next time, and Alertmanager retries */
        llo_log_limited(LLO_LOG_ERROR, "POST /alerts: %s", err);
        llo_pg_close(&a->pg);
        reply->status = 503;
        llo_buf_printf(reply->body, "{\"error\":\"PostgreSQL failed; send "
                        "it again\"}\n");
        return;
    }

    a->received += n;
    n = strtoull(PQcmdTuples(res), NULL, 10);
    a->stored += n;
    PQclear(res);

    llo_buf_printf(reply->body, "{\"stored\":%zu}\n", n);
}


/* {"error":"why"} */

static void
llo_alerts_error(llo_http_reply_t *reply, int status, const char *why)
{
    reply->status = status;
    llo_buf_printf(reply->body, "{\"error\":\"");
    llo_http_json(reply->body, why, strlen(why));
    llo_buf_printf(reply->body, "\"}\n");
}


static int
llo_alerts_connect(llo_alerts_t *a, char *err, size_t errlen)
{
    PGresult  *res;

    if (llo_pg_connect(&a->pg, a->conninfo, err, errlen) != 0) {
        return -1;
    }

    res = PQexec(a->pg.conn, "SET statement_timeout = '"
                 LLO_ALERTS_TIMEOUT "'");

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        llo_pg_fail(&a->pg, res, "SET statement_timeout", err, errlen);
        llo_pg_close(&a->pg);
        return -1;
    }

    PQclear(res);

    return 0;
}


void
llo_alerts_free(llo_alerts_t *a)
{
    llo_pg_free(&a->pg);
}
