/*
 * llm-evaluator's HTTP listener (http_listen): libmicrohttpd driven by
 * the evaluator's event loop, no thread of its own.  MHD's epoll fd is
 * one fd of the loop and its timeouts a timer, so a handler runs between
 * batches, never beside one, and reads the counters without locks.
 *
 * Routes are a table of (method, path, handler); a handler fills a body
 * and says its status and content type.  A GET route answers HEAD too; a
 * POST route gets the request's body, at most LLO_HTTP_BODY_MAX bytes
 * (413 beyond).
 */

#ifndef _LLO_EVAL_HTTP_H_INCLUDED_
#define _LLO_EVAL_HTTP_H_INCLUDED_


#include <stddef.h>

#include "llo_eval_copy.h"
#include "llo_eval_loop.h"


#define LLO_HTTP_BODY_MAX  (1024 * 1024)


typedef struct {
    int                 status;
    const char         *content_type;
    llo_buf_t          *body;           /* the handler appends to it */
} llo_http_reply_t;

/* a request: its path, for POST its body (else NULL, 0), its connection */
typedef struct {
    const char         *path;
    const char         *body;
    size_t              len;
    void               *conn;           /* MHD's: llo_http_arg(), _header() */
} llo_http_request_t;

typedef void (*llo_http_handler_pt)(void *data,
    const llo_http_request_t *req, llo_http_reply_t *reply);

/* a query argument, or a header, of req; NULL when absent */
const char *llo_http_arg(const llo_http_request_t *req, const char *name);
const char *llo_http_header(const llo_http_request_t *req,
    const char *name);

/*
 * The query argument name as an integer in min..max, dflt when absent:
 * 0, or -1 with err ("page: an integer 1..100000").
 */
int llo_http_int_arg(const llo_http_request_t *req, const char *name,
    long dflt, long min, long max, long *out, char *err, size_t errlen);

/*
 * Every query argument of req is one of allowed (ended by NULL): 0, or
 * -1 with the first other one's name in bad.
 */
int llo_http_args_only(const llo_http_request_t *req,
    const char *const *allowed, char *bad, size_t badlen);


typedef struct {
    const char             *method;     /* "GET" or "POST" */
    const char             *path;
    llo_http_handler_pt     handler;
    void                   *data;
} llo_http_route_t;


typedef struct llo_http_s  llo_http_t;


/*
 * Listen on addr ("127.0.0.1:9188", "[::1]:9188", ":9188" for every
 * address) and serve routes (ended by a NULL path, kept by the caller)
 * from loop.  NULL with err when addr is no address or cannot be bound.
 */
llo_http_t *llo_http_start(llo_loop_t *loop, const char *addr,
    const llo_http_route_t *routes, char *err, size_t errlen);

void llo_http_stop(llo_http_t *h);

/* s as the inside of a JSON string (the quotes are the caller's) */
void llo_http_json(llo_buf_t *b, const char *s, size_t len);

/* addr as llo_http_start() takes it: 0, or -1 with err */
int llo_http_addr_check(const char *addr, char *err, size_t errlen);


#endif /* _LLO_EVAL_HTTP_H_INCLUDED_ */
