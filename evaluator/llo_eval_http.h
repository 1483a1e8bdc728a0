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

/* a request: its path, and for POST its body (else NULL, 0) */
typedef void (*llo_http_handler_pt)(void *data, const char *path,
    const char *body, size_t len, llo_http_reply_t *reply);


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
