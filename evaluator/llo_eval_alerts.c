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
static int llo_alerts_authorized(llo_alerts_t *a,
    const llo_http_request_t *req);


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
llo_alerts_handler(void *data, const llo_http_request_t *req,
    llo_http_reply_t *reply)
{
    llo_alerts_t  *a = data;

    char         err[1024], *text;
    size_t       n, len;
    PGresult    *res;
    const char  *body, *params[1];

    body = req->body;
    len = req->len;

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

    if (a->token != NULL) {
        memset(a->token, 0, strlen(a->token));
        free(a->token);
        a->token = NULL;
    }
}


/*
 * GET /alerts/history?page=&page_size=&severity=&status=: the stored
 * notifications, newest first, as JSON, behind the bearer token of
 * api_token_file.  Every parameter is checked here and bound, never
 * written into the SQL.
 */

void
llo_alerts_history(void *data, const llo_http_request_t *req,
    llo_http_reply_t *reply)
{
    llo_alerts_t  *a = data;

    char         err[1024], bad[64], page[16], size[16];
    long         n;
    PGresult    *res;
    const char  *severity, *status, *params[4];

    static const char *const  allowed[] = {
        "page", "page_size", "severity", "status", NULL
    };

    reply->content_type = "application/json";

    if (!llo_alerts_authorized(a, req)) {
        llo_alerts_error(reply, 401, "a bearer token is required "
                         "(Authorization: Bearer, api_token_file)");
        return;
    }

    if (llo_http_args_only(req, allowed, bad, sizeof(bad)) != 0) {
        snprintf(err, sizeof(err), "unknown parameter \"%s\" (page, "
                 "page_size, severity, status)", bad);
        llo_alerts_error(reply, 400, err);
        return;
    }

    if (llo_http_int_arg(req, "page", 1, 1, 100000, &n, err, sizeof(err))
        != 0)
    {
        llo_alerts_error(reply, 400, err);
        return;
    }

    snprintf(page, sizeof(page), "%ld", n);

    if (llo_http_int_arg(req, "page_size", 50, 1, 500, &n, err, sizeof(err))
        != 0)
    {
        llo_alerts_error(reply, 400, err);
        return;
    }

    snprintf(size, sizeof(size), "%ld", n);

    severity = llo_http_arg(req, "severity");

    if (severity != NULL && (severity[0] == '\0' || strlen(severity) > 32
                             || strspn(severity, "abcdefghijklmnopqrstuvwxyz")
                                != strlen(severity)))
    {
        llo_alerts_error(reply, 400, "severity: lowercase letters, e.g. "
                         "critical");
        return;
    }

    status = llo_http_arg(req, "status");

    if (status != NULL && strcmp(status, "firing") != 0
        && strcmp(status, "resolved") != 0)
    {
        llo_alerts_error(reply, 400, "status: firing or resolved");
        return;
    }

    if (a->pg.conn == NULL && llo_alerts_connect(a, err, sizeof(err)) != 0) {
        llo_alerts_error(reply, 503, "PostgreSQL is not reachable");
        return;
    }

    params[0] = page;
    params[1] = size;
    params[2] = severity;
    params[3] = status;

    res = PQexecParams(a->pg.conn,
        "WITH f AS (SELECT * FROM llm_alerts "
        "WHERE ($3::text IS NULL OR severity = $3) "
        "AND ($4::text IS NULL OR status = $4)), "
        "p AS (SELECT * FROM f ORDER BY received_at DESC, fingerprint, "
        "status LIMIT $2::integer OFFSET ($1::integer - 1) * $2::integer) "
        "SELECT json_build_object('page', $1::integer, 'page_size', "
        "$2::integer, 'total', (SELECT count(*) FROM f), 'alerts', "
        "coalesce((SELECT json_agg(json_build_object('fingerprint', "
        "fingerprint, 'name', name, 'severity', severity, 'status', status, "
        "'starts_at', starts_at, 'ends_at', ends_at, 'labels', labels, "
        "'annotations', annotations, 'received_at', received_at) "
        "ORDER BY received_at DESC, fingerprint, status) FROM p), "
        "'[]'::json))::text", 4, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        llo_pg_fail(&a->pg, res, "alerts history", err, sizeof(err));
        llo_log_limited(LLO_LOG_ERROR, "GET /alerts/history: %s", err);

        if (!a->pg.data_error) {
            llo_pg_close(&a->pg);
        }

        llo_alerts_error(reply, 503, "PostgreSQL failed");
        return;
    }

    llo_buf_add(reply->body, PQgetvalue(res, 0, 0),
                (size_t) PQgetlength(res, 0, 0));
    llo_buf_add(reply->body, "\n", 1);
    PQclear(res);
}


/*
 * "Bearer <token>" equal to api_token's, compared in time that does not
 * depend on where they differ; no token configured: nobody.
 */

static int
llo_alerts_authorized(llo_alerts_t *a, const llo_http_request_t *req)
{
    size_t          i, n;
    const char     *h;
    unsigned char   diff;

    h = llo_http_header(req, "Authorization");

    if (a->token == NULL || h == NULL || strncmp(h, "Bearer ", 7) != 0) {
        return 0;
    }

    h += 7;
    n = strlen(a->token);

    if (strlen(h) != n) {
        return 0;
    }

    for (i = 0, diff = 0; i < n; i++) {
        diff |= (unsigned char) (h[i] ^ a->token[i]);
    }

    return diff == 0;
}
