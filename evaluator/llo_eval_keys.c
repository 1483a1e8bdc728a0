/*
 * llm-evaluator key audit: see llo_eval_keys.h.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llo_keys.h"
#include "llo_parse.h"
#include "llo_eval_keys.h"
#include "llo_eval_log.h"


/* 10000-01-01: the first ts a timestamptz text of 4 year digits misses */
#define LLO_KEYSET_TS_US_MAX    253402300800000000LL

/* a hostname is at most 253 bytes; more is not one, and would not fit
 * in the btree of llm_keys' primary key if it were long enough */
#define LLO_KEYSET_HOST_MAX     255


/*
 * One statement per set, so that each sees the sets before it.  Every
 * part hangs on "rec": when the record's llm_key_sets row is there
 * already, rec is empty and nothing else happens.  The data-modifying
 * parts all see llm_keys as it was before the statement; "gone" and
 * "put" touch different rows (keys not in the new set, keys in it).
 *
 *   $1 record id, $2 ts, $3 host, $4 the set, $5 the number of keys
 */

static const char  llo_keyset_sql[] =
    "WITH rec AS ("
    " INSERT INTO llm_key_sets (id, ts, host, keys)"
    " VALUES ($1::uuid, $2::timestamptz, $3::text, $5::integer)"
    " ON CONFLICT (id) DO NOTHING"
    " RETURNING id, ts, host"
    "), new AS ("
    " SELECT split_part(l, E'\\t', 2) AS key_prefix,"
    " split_part(l, E'\\t', 1) AS key_name, l AS line"
    " FROM rec, unnest(string_to_array($4::text, E'\\n')) AS l"
    " WHERE l <> ''"
    "), old AS ("
    " SELECT k.key_prefix, k.key_name, k.line"
    " FROM llm_keys k JOIN rec ON k.host = rec.host"
    "), diff AS ("
    " SELECT CASE WHEN o.line IS NULL THEN 'added'"
    " WHEN n.line IS NULL THEN 'removed'"
    " ELSE 'changed' END AS event,"
    " coalesce(n.key_name, o.key_name) AS key_name,"
    " coalesce(n.key_prefix, o.key_prefix) AS key_prefix,"
    " o.line AS before, n.line AS after"
    " FROM new n FULL JOIN old o ON n.key_prefix = o.key_prefix"
    " WHERE n.line IS DISTINCT FROM o.line"
    "), ev AS ("
    " INSERT INTO llm_key_events (record_id, ts, host, event, key_name,"
    " key_prefix, before, after)"
    " SELECT rec.id, rec.ts, rec.host, d.event, d.key_name, d.key_prefix,"
    " d.before, d.after"
    " FROM rec, diff d"
    " RETURNING event"
    "), gone AS ("
    " DELETE FROM llm_keys k USING rec"
    " WHERE k.host = rec.host"
    " AND NOT EXISTS (SELECT 1 FROM new n"
    " WHERE n.key_prefix = k.key_prefix)"
    "), put AS ("
    " INSERT INTO llm_keys (host, key_prefix, key_name, line, updated_at)"
    " SELECT rec.host, n.key_prefix, n.key_name, n.line, rec.ts"
    " FROM rec, new n"
    " ON CONFLICT (host, key_prefix) DO UPDATE"
    " SET key_name = EXCLUDED.key_name, line = EXCLUDED.line,"
    " updated_at = EXCLUDED.updated_at"
    " WHERE llm_keys.line IS DISTINCT FROM EXCLUDED.line"
    ")"
    " SELECT (SELECT count(*) FROM rec),"
    " count(*) FILTER (WHERE event = 'added'),"
    " count(*) FILTER (WHERE event = 'removed'),"
    " count(*) FILTER (WHERE event = 'changed')"
    " FROM ev";


static int llo_keysets_check(llo_keysets_t *ks, const char *s, size_t len,
    uint32_t *keys, char *err, size_t errlen);
static int llo_keysets_prefix_cmp(const void *a, const void *b);
static size_t llo_keysets_text(llo_buf_t *b, const char *s, size_t len);
static int llo_keysets_exec(llo_pg_t *pg, const char *sql, char *err,
    size_t errlen);
static void llo_keysets_nomem(size_t size);


void
llo_keysets_reset(llo_keysets_t *ks)
{
    ks->text.len = 0;
    ks->nsets = 0;
    ks->rejected = 0;
}


void
llo_keysets_free(llo_keysets_t *ks)
{
    llo_buf_free(&ks->text);
    free(ks->sets);
    free(ks->prefixes);
    ks->sets = NULL;
    ks->prefixes = NULL;
    ks->nsets = 0;
    ks->sets_cap = 0;
    ks->prefixes_cap = 0;
}


int
llo_keysets_add(llo_keysets_t *ks, const llo_rec_t *rec, uint64_t instance,
    uint64_t seq, char *err, size_t errlen)
{
    size_t            i;
    time_t            sec;
    int64_t           v;
    uint32_t          keys;
    struct tm         tm;
    llo_keyset_t     *set;
    const llo_str_t  *host, *s;

    if (!llo_rec_has_num(rec, LLO_N_TS_US)) {
        snprintf(err, errlen, "key set without a ts");
        return -1;
    }

    v = rec->num[LLO_N_TS_US];
    sec = (time_t) (v / 1000000);

    if (v < 0 || v >= LLO_KEYSET_TS_US_MAX || gmtime_r(&sec, &tm) == NULL) {
        snprintf(err, errlen, "key set ts %lld us is out of range",
                 (long long) v);
        return -1;
    }

    if (!llo_rec_has_str(rec, LLO_S_HOST)) {
        snprintf(err, errlen, "key set without a host");
        return -1;
    }

    host = llo_rec_get_str(rec, LLO_S_HOST);

    if (host->len == 0 || host->len > LLO_KEYSET_HOST_MAX) {
        snprintf(err, errlen, "key set host of %u bytes (expected 1..%d)",
                 host->len, LLO_KEYSET_HOST_MAX);
        return -1;
    }

    for (i = 0; i < host->len; i++) {
        if ((unsigned char) host->data[i] < 0x20 || host->data[i] == 0x7f) {
            snprintf(err, errlen, "key set host has a control character "
                     "at byte %zu", i);
            return -1;
        }
    }

    /* an absent set is not an empty one: no keys is "" */
    if (!llo_rec_has_str(rec, LLO_S_KEY_SET)) {
        snprintf(err, errlen, "key set record of host \"%.*s\" without "
                 "its key_set field", (int) host->len, host->data);
        return -1;
    }

    s = llo_rec_get_str(rec, LLO_S_KEY_SET);

    if (llo_keysets_check(ks, s->data, s->len, &keys, err, errlen) != 0) {
        return -1;
    }

    if (llo_grow_array(&ks->sets, &ks->sets_cap, ks->nsets + 1,
                       sizeof(llo_keyset_t), 16)
        != 0)
    {
        llo_keysets_nomem((ks->nsets + 1) * sizeof(llo_keyset_t));
    }

    set = &ks->sets[ks->nsets++];
    memset(set, 0, sizeof(llo_keyset_t));

    set->seq = seq;
    set->keys = keys;
    llo_format_id(instance, seq, set->id);

    /* an explicit offset: the session's TimeZone does not matter */
    snprintf(set->ts, sizeof(set->ts),
             "%04d-%02d-%02d %02d:%02d:%02d.%06d+00",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int) (v % 1000000));

    set->host = llo_keysets_text(&ks->text, host->data, host->len);
    set->set = llo_keysets_text(&ks->text, s->data, s->len);

    return 0;
}


/*
 * The set must be whole lines of at least LLO_KEYSET_FIELDS fields with
 * a name and an 8 hex digit prefix, no prefix twice: a key is known by
 * its prefix, and two keys with one prefix cannot be told apart (nor
 * stored: it is llm_keys' primary key with the host).
 */

static int
llo_keysets_check(llo_keysets_t *ks, const char *s, size_t len,
    uint32_t *keys, char *err, size_t errlen)
{
    char      why[256];
    size_t    i, start, end;
    uint32_t  n, prefix;

    *keys = 0;

    if (len == 0) {
        return 0;
    }

    if (s[len - 1] != '\n') {
        snprintf(err, errlen, "key set of %zu bytes does not end in a "
                 "newline: cut short?", len);
        return -1;
    }

    n = 0;

    for (start = 0; start < len; start = end + 1) {
        end = start;

        while (s[end] != '\n') {
            end++;
        }

        n++;

        if (end == start) {
            snprintf(err, errlen, "key set line %u is empty", n);
            return -1;
        }

        if (llo_key_line_parse(s + start, end - start, &prefix, why,
                               sizeof(why))
            != 0)
        {
            snprintf(err, errlen, "key set line %u%s", n, why);
            return -1;
        }

        if (llo_grow_array(&ks->prefixes, &ks->prefixes_cap, n,
                           sizeof(llo_keyset_prefix_t), 256)
            != 0)
        {
            llo_keysets_nomem(n * sizeof(llo_keyset_prefix_t));
        }

        ks->prefixes[n - 1].prefix = prefix;
        ks->prefixes[n - 1].line = n;
    }

    qsort(ks->prefixes, n, sizeof(llo_keyset_prefix_t),
          llo_keysets_prefix_cmp);

    for (i = 1; i < n; i++) {
        if (ks->prefixes[i].prefix == ks->prefixes[i - 1].prefix) {
            snprintf(err, errlen, "key set lines %u and %u have the same "
                     "key prefix %08x: the audit cannot tell the two keys "
                     "apart", ks->prefixes[i - 1].line, ks->prefixes[i].line,
                     ks->prefixes[i].prefix);
            return -1;
        }
    }

    *keys = n;

    return 0;
}


static int
llo_keysets_prefix_cmp(const void *a, const void *b)
{
    const llo_keyset_prefix_t  *x = a, *y = b;

    if (x->prefix != y->prefix) {
        return x->prefix < y->prefix ? -1 : 1;
    }

    return x->line < y->line ? -1 : (x->line > y->line);
}


/* as llo_buf_reserve(): a set dropped for want of memory would be lost */

static void
llo_keysets_nomem(size_t size)
{
    llo_log(LLO_LOG_ERROR, "out of memory growing the key sets to %zu "
            "bytes", size);
    exit(EXIT_FAILURE);
}


/*
 * Append s as a '\0'-terminated parameter and return its offset.
 * llo_copy_text() is the one place that knows what a text column takes
 * (no NUL, valid UTF-8); its COPY escapes are undone here, since a
 * parameter takes the text as it is.
 */

static size_t
llo_keysets_text(llo_buf_t *b, const char *s, size_t len)
{
    char    *p, *q, *end;
    size_t   start;

    start = b->len;

    llo_copy_text(b, s, len);

    p = b->data + start;
    q = p;
    end = b->data + b->len;

    while (p < end) {
        if (*p != '\\' || p + 1 == end) {
            *q++ = *p++;
            continue;
        }

        p++;

        switch (*p) {
        case 't': *q++ = '\t'; break;
        case 'n': *q++ = '\n'; break;
        case 'r': *q++ = '\r'; break;
        default: *q++ = *p; break;
        }

        p++;
    }

    b->len = q - b->data;
    llo_buf_add(b, "", 1);

    return start;
}


int
llo_keysets_apply(llo_keysets_t *ks, llo_pg_t *pg, char *err, size_t errlen)
{
    char           why[512], what[64], keys[16];
    size_t         i;
    PGresult      *res;
    llo_keyset_t  *set;
    const char    *params[5];

    ks->rejected = 0;

    for (i = 0; i < ks->nsets; i++) {
        set = &ks->sets[i];

        set->state = LLO_KEYSET_PENDING;
        set->added = 0;
        set->removed = 0;
        set->changed = 0;

        /* a set refused as data must not roll back the batch with it */
        if (llo_keysets_exec(pg, "SAVEPOINT llo_keyset", err, errlen) != 0) {
            return -1;
        }

        snprintf(keys, sizeof(keys), "%u", set->keys);

        params[0] = set->id;
        params[1] = set->ts;
        params[2] = ks->text.data + set->host;
        params[3] = ks->text.data + set->set;
        params[4] = keys;

        res = PQexecParams(pg->conn, llo_keyset_sql, 5, NULL, params, NULL,
                           NULL, 0);

        if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
            set->state = strcmp(PQgetvalue(res, 0, 0), "0") == 0
                         ? LLO_KEYSET_DUPLICATE : LLO_KEYSET_APPLIED;
            set->added = strtoul(PQgetvalue(res, 0, 1), NULL, 10);
            set->removed = strtoul(PQgetvalue(res, 0, 2), NULL, 10);
            set->changed = strtoul(PQgetvalue(res, 0, 3), NULL, 10);
            PQclear(res);

            if (llo_keysets_exec(pg, "RELEASE SAVEPOINT llo_keyset", err,
                                 errlen)
                != 0)
            {
                return -1;
            }

            continue;
        }

        snprintf(what, sizeof(what), "key set of record seq %llu",
                 (unsigned long long) set->seq);

        llo_pg_fail(pg, res, what, why, sizeof(why));

        if (!pg->data_error) {
            snprintf(err, errlen, "%s", why);
            return -1;
        }

        pg->data_error = 0;

        if (llo_keysets_exec(pg, "ROLLBACK TO SAVEPOINT llo_keyset", err,
                             errlen)
            != 0)
        {
            return -1;
        }

        set->state = LLO_KEYSET_REJECTED;
        ks->rejected++;

        llo_log_limited(LLO_LOG_ERROR, "record seq %llu (key set of host "
                        "\"%s\") rejected by PostgreSQL: %s; skipped",
                        (unsigned long long) set->seq,
                        ks->text.data + set->host, why);
    }

    return 0;
}


static int
llo_keysets_exec(llo_pg_t *pg, const char *sql, char *err, size_t errlen)
{
    PGresult  *res;

    res = PQexec(pg->conn, sql);

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        llo_pg_fail(pg, res, sql, err, errlen);

        /* whatever its class, the call rows are not at fault */
        pg->data_error = 0;

        return -1;
    }

    PQclear(res);

    return 0;
}


void
llo_keysets_reject(llo_keysets_t *ks, const char *why)
{
    size_t         i;
    llo_keyset_t  *set;

    ks->rejected = ks->nsets;

    for (i = 0; i < ks->nsets; i++) {
        set = &ks->sets[i];
        set->state = LLO_KEYSET_REJECTED;

        llo_log_limited(LLO_LOG_ERROR, "record seq %llu (key set of host "
                        "\"%s\") rejected by PostgreSQL: %s; skipped",
                        (unsigned long long) set->seq,
                        ks->text.data + set->host, why);
    }
}


void
llo_keysets_committed(llo_keysets_t *ks)
{
    size_t         i;
    llo_keyset_t  *set;

    for (i = 0; i < ks->nsets; i++) {
        set = &ks->sets[i];

        if (set->state == LLO_KEYSET_DUPLICATE) {
            llo_log(LLO_LOG_DEBUG, "record seq %llu: key set of host \"%s\" "
                    "was applied before; skipped",
                    (unsigned long long) set->seq,
                    ks->text.data + set->host);
            continue;
        }

        if (set->state != LLO_KEYSET_APPLIED) {
            continue;
        }

        llo_log(LLO_LOG_INFO, "key set of host \"%s\" loaded at %s (record "
                "seq %llu): %u keys, %u added, %u removed, %u changed",
                ks->text.data + set->host, set->ts,
                (unsigned long long) set->seq, set->keys, set->added,
                set->removed, set->changed);
    }
}


/* -- the sink ------------------------------------------------------------- */


static void
llo_keysets_sink_reset(void *data)
{
    llo_keysets_reset(data);
}


static int
llo_keysets_sink_add(void *data, const llo_rec_t *rec, uint64_t instance,
    uint64_t seq, char *err, size_t errlen)
{
    return llo_keysets_add(data, rec, instance, seq, err, errlen);
}


static size_t
llo_keysets_sink_pending(void *data)
{
    llo_keysets_t  *ks = data;

    return ks->nsets ? ks->text.len : 0;
}


static int
llo_keysets_sink_apply(void *data, llo_pg_t *pg, char *err, size_t errlen)
{
    return llo_keysets_apply(data, pg, err, errlen);
}


static void
llo_keysets_sink_reject(void *data, const char *why)
{
    llo_keysets_reject(data, why);
}


static void
llo_keysets_sink_committed(void *data)
{
    llo_keysets_committed(data);
}


static uint64_t
llo_keysets_sink_rejected(void *data)
{
    llo_keysets_t  *ks = data;

    return ks->rejected;
}


void
llo_keysets_sink(llo_keysets_t *ks, llo_sink_t *sink)
{
    sink->name = "key sets";
    sink->kind = LLO_KIND_KEYS;
    sink->data = ks;
    sink->reset = llo_keysets_sink_reset;
    sink->add = llo_keysets_sink_add;
    sink->pending = llo_keysets_sink_pending;
    sink->apply = llo_keysets_sink_apply;
    sink->reject = llo_keysets_sink_reject;
    sink->committed = llo_keysets_sink_committed;
    sink->rejected = llo_keysets_sink_rejected;
}
