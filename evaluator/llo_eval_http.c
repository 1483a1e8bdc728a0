/*
 * llm-evaluator's HTTP listener: see llo_eval_http.h.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <microhttpd.h>

#include "llo_eval_http.h"
#include "llo_eval_log.h"


#define LLO_HTTP_CONNECTIONS     64
#define LLO_HTTP_TIMEOUT_S       10
#define LLO_HTTP_TICK_MS         1000


struct llo_http_s {
    struct MHD_Daemon          *mhd;
    llo_loop_t                 *loop;
    int                         fd;         /* MHD's epoll fd */
    llo_timer_t                 timer;
    const llo_http_route_t     *routes;
    llo_buf_t                   body;
};


static enum MHD_Result llo_http_access(void *cls,
    struct MHD_Connection *c, const char *url, const char *method,
    const char *version, const char *upload, size_t *upload_size,
    void **con_cls);
static void llo_http_ready(llo_loop_t *loop, int fd, int revents,
    void *data);
static void llo_http_tick(llo_loop_t *loop, llo_timer_t *t);
static void llo_http_run(llo_http_t *h);
static int llo_http_parse(const char *addr, struct sockaddr_storage *ss,
    socklen_t *len, char *err, size_t errlen);
static enum MHD_Result llo_http_send(llo_http_t *h,
    struct MHD_Connection *c, const llo_http_reply_t *reply,
    const char *allow_of);
static void llo_http_done(void *cls, struct MHD_Connection *c,
    void **con_cls, enum MHD_RequestTerminationCode toe);


int
llo_http_addr_check(const char *addr, char *err, size_t errlen)
{
    socklen_t                len;
    struct sockaddr_storage  ss;

    return llo_http_parse(addr, &ss, &len, err, errlen);
}


llo_http_t *
llo_http_start(llo_loop_t *loop, const char *addr,
    const llo_http_route_t *routes, char *err, size_t errlen)
{
    socklen_t                 len;
    llo_http_t               *h;
    unsigned int              flags;
    struct sockaddr_storage   ss;
    const union MHD_DaemonInfo  *info;

    if (llo_http_parse(addr, &ss, &len, err, errlen) != 0) {
        return NULL;
    }

    h = calloc(1, sizeof(llo_http_t));
    if (h == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    h->loop = loop;
    h->routes = routes;

    /* no thread of MHD's own: the loop polls its epoll fd */
    flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;

    if (ss.ss_family == AF_INET6) {
        flags |= MHD_USE_IPv6;
    }

    h->mhd = MHD_start_daemon(flags, 0, NULL, NULL, llo_http_access, h,
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &ss,
                              MHD_OPTION_CONNECTION_LIMIT,
                              (unsigned int) LLO_HTTP_CONNECTIONS,
                              MHD_OPTION_CONNECTION_TIMEOUT,
                              (unsigned int) LLO_HTTP_TIMEOUT_S,
                              MHD_OPTION_NOTIFY_COMPLETED, llo_http_done,
                              NULL,
                              MHD_OPTION_END);

    if (h->mhd == NULL) {
        snprintf(err, errlen, "cannot listen on http_listen \"%s\" (in use, "
                 "or not an address of this host)", addr);
        free(h);
        return NULL;
    }

    info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);

    if (info == NULL
        || llo_loop_fd(loop, info->epoll_fd, POLLIN, llo_http_ready, h) != 0
        || llo_loop_timer(loop, &h->timer, "http", llo_http_tick, h) != 0)
    {
        snprintf(err, errlen, "http_listen \"%s\": no room in the event "
                 "loop", addr);
        MHD_stop_daemon(h->mhd);
        free(h);
        return NULL;
    }

    h->fd = info->epoll_fd;
    llo_timer_in(&h->timer, LLO_HTTP_TICK_MS);

    llo_log(LLO_LOG_INFO, "listening on http://%s", addr);

    return h;
}


void
llo_http_stop(llo_http_t *h)
{
    if (h == NULL) {
        return;
    }

    llo_loop_fd_del(h->loop, h->fd);
    llo_loop_timer_del(h->loop, &h->timer);
    MHD_stop_daemon(h->mhd);
    llo_buf_free(&h->body);
    free(h);
}


static void
llo_http_ready(llo_loop_t *loop, int fd, int revents, void *data)
{
    llo_http_run(data);
}


static void
llo_http_tick(llo_loop_t *loop, llo_timer_t *t)
{
    llo_http_run(t->data);
}


/*
 * MHD reads a connection's data in pieces and registers its sockets
 * edge-triggered: what it has not read yet raises no new edge, so it
 * says by MHD_get_timeout() when it wants to run again (0: at once), and
 * its idle-connection timeouts need a run too.
 */

static void
llo_http_run(llo_http_t *h)
{
    MHD_UNSIGNED_LONG_LONG  ms;

    (void) MHD_run(h->mhd);

    if (MHD_get_timeout(h->mhd, &ms) != MHD_YES || ms > LLO_HTTP_TICK_MS) {
        ms = LLO_HTTP_TICK_MS;
    }

    llo_timer_in(&h->timer, (int64_t) ms);
}


/* a request's body as it comes, per connection */

typedef struct {
    llo_buf_t           body;
    unsigned            too_large:1;
} llo_http_req_t;


static enum MHD_Result
llo_http_access(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **con_cls)
{
    llo_http_t  *h = cls;

    int                      post, allowed;
    llo_http_req_t          *req;
    llo_http_reply_t         reply;
    llo_http_request_t       hr;
    const llo_http_route_t  *r, *route;

    post = strcmp(method, "POST") == 0;

    /* a POST's body arrives in pieces before the last call */
    if (post) {
        req = *con_cls;

        if (req == NULL) {
            req = calloc(1, sizeof(llo_http_req_t));
            if (req == NULL) {
                return MHD_NO;
            }

            *con_cls = req;
            return MHD_YES;
        }

        if (*upload_size > 0) {
            if (req->body.len + *upload_size > LLO_HTTP_BODY_MAX) {
                req->too_large = 1;

            } else if (!req->too_large) {
                llo_buf_add(&req->body, upload, *upload_size);
            }

            *upload_size = 0;
            return MHD_YES;
        }

    } else {
        req = NULL;
    }

    h->body.len = 0;
    reply.body = &h->body;
    reply.status = MHD_HTTP_OK;
    reply.content_type = "text/plain; charset=utf-8";

    route = NULL;
    allowed = 0;

    for (r = h->routes; r->path != NULL; r++) {
        if (strcmp(r->path, url) != 0) {
            continue;
        }

        allowed = 1;

        if (strcmp(r->method, method) == 0
            || (strcmp(r->method, "GET") == 0 && strcmp(method, "HEAD") == 0))
        {
            route = r;
            break;
        }
    }

    if (route == NULL) {
        reply.status = allowed ? MHD_HTTP_METHOD_NOT_ALLOWED
                               : MHD_HTTP_NOT_FOUND;
        llo_buf_add(&h->body, allowed ? "method not allowed\n" : "not found\n",
                    allowed ? 19 : 10);

    } else if (req != NULL && req->too_large) {
        reply.status = MHD_HTTP_CONTENT_TOO_LARGE;
        llo_buf_printf(&h->body, "body over %d bytes\n", LLO_HTTP_BODY_MAX);

    } else {
        hr.path = url;
        hr.body = req ? req->body.data : NULL;
        hr.len = req ? req->body.len : 0;
        hr.conn = c;
        route->handler(route->data, &hr, &reply);
    }

    return llo_http_send(h, c, &reply, allowed && route == NULL ? url : NULL);
}


static enum MHD_Result
llo_http_send(llo_http_t *h, struct MHD_Connection *c,
    const llo_http_reply_t *reply, const char *allow_of)
{
    char                     allow[64];
    size_t                   n;
    enum MHD_Result          rc;
    struct MHD_Response     *res;
    const llo_http_route_t  *r;

    res = MHD_create_response_from_buffer(h->body.len,
                                          h->body.len ? h->body.data : "",
                                          MHD_RESPMEM_MUST_COPY);
    if (res == NULL) {
        return MHD_NO;
    }

    (void) MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE,
                                   reply->content_type);

    /* 405: the methods the path has */
    if (allow_of != NULL) {
        allow[0] = '\0';
        n = 0;

        for (r = h->routes; r->path != NULL; r++) {
            if (strcmp(r->path, allow_of) == 0 && n + 16 < sizeof(allow)) {
                n += (size_t) snprintf(allow + n, sizeof(allow) - n, "%s%s%s",
                                       n ? ", " : "", r->method,
                                       strcmp(r->method, "GET") == 0
                                       ? ", HEAD" : "");
            }
        }

        (void) MHD_add_response_header(res, MHD_HTTP_HEADER_ALLOW, allow);
    }

    rc = MHD_queue_response(c, (unsigned int) reply->status, res);
    MHD_destroy_response(res);

    return rc;
}


static void
llo_http_done(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
    llo_http_req_t  *req = *con_cls;

    if (req != NULL) {
        llo_buf_free(&req->body);
        free(req);
        *con_cls = NULL;
    }
}


const char *
llo_http_arg(const llo_http_request_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND,
                                       name);
}


const char *
llo_http_header(const llo_http_request_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}


typedef struct {
    const char *const  *allowed;
    char               *bad;
    size_t              badlen;
    int                 found;
} llo_http_args_t;


static enum MHD_Result
llo_http_arg_check(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
    llo_http_args_t    *a = cls;
    const char *const  *p;

    for (p = a->allowed; *p != NULL; p++) {
        if (strcmp(*p, key) == 0) {
            return MHD_YES;
        }
    }

    snprintf(a->bad, a->badlen, "%s", key);
    a->found = 1;

    return MHD_NO;
}


int
llo_http_args_only(const llo_http_request_t *req,
    const char *const *allowed, char *bad, size_t badlen)
{
    llo_http_args_t  a;

    a.allowed = allowed;
    a.bad = bad;
    a.badlen = badlen;
    a.found = 0;

    (void) MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND,
                                     llo_http_arg_check, &a);

    return a.found ? -1 : 0;
}


int
llo_http_int_arg(const llo_http_request_t *req, const char *name, long dflt,
    long min, long max, long *out, char *err, size_t errlen)
{
    char        *end;
    long         n;
    const char  *v;

    v = llo_http_arg(req, name);

    if (v == NULL) {
        *out = dflt;
        return 0;
    }

    n = -1;

    if (*v >= '0' && *v <= '9' && strlen(v) <= 9) {
        n = strtol(v, &end, 10);
        n = *end == '\0' ? n : -1;
    }

    if (n < min || n > max) {
        snprintf(err, errlen, "%s: an integer %ld..%ld", name, min, max);
        return -1;
    }

    *out = n;

    return 0;
}


/* s as the inside of a JSON string: quotes, backslashes, controls */

void
llo_http_json(llo_buf_t *b, const char *s, size_t len)
{
    char    tmp[8];
    size_t  i;

    for (i = 0; i < len; i++) {
        unsigned char  c = (unsigned char) s[i];

        if (c == '"' || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char) c;
            llo_buf_add(b, tmp, 2);

        } else if (c < 0x20) {
            snprintf(tmp, sizeof(tmp), "\\u%04x", c);
            llo_buf_add(b, tmp, 6);

        } else {
            llo_buf_add(b, &s[i], 1);
        }
    }
}


/* "host:port", "[v6]:port", ":port" */

static int
llo_http_parse(const char *addr, struct sockaddr_storage *ss,
    socklen_t *len, char *err, size_t errlen)
{
    char                  host[64], *end;
    long                  port;
    size_t                n;
    const char           *colon;
    struct sockaddr_in   *in4;
    struct sockaddr_in6  *in6;

    memset(ss, 0, sizeof(struct sockaddr_storage));

    colon = strrchr(addr, ':');

    if (colon == NULL) {
        goto invalid;
    }

    errno = 0;
    port = strtol(colon + 1, &end, 10);

    if (colon[1] == '\0' || *end != '\0' || errno != 0 || port < 1
        || port > 65535)
    {
        goto invalid;
    }

    n = (size_t) (colon - addr);

    if (n >= sizeof(host)) {
        goto invalid;
    }

    memcpy(host, addr, n);
    host[n] = '\0';

    if (n > 2 && host[0] == '[' && host[n - 1] == ']') {
        host[n - 1] = '\0';
        in6 = (struct sockaddr_in6 *) ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t) port);

        if (inet_pton(AF_INET6, host + 1, &in6->sin6_addr) != 1) {
            goto invalid;
        }

        *len = sizeof(struct sockaddr_in6);
        return 0;
    }

    in4 = (struct sockaddr_in *) ss;
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t) port);

    if (n == 0) {
        in4->sin_addr.s_addr = htonl(INADDR_ANY);

    } else if (inet_pton(AF_INET, host, &in4->sin_addr) != 1) {
        goto invalid;
    }

    *len = sizeof(struct sockaddr_in);
    return 0;

invalid:

    snprintf(err, errlen, "invalid http_listen \"%s\" (expected an address "
             "and port: 127.0.0.1:9188, [::1]:9188 or :9188)", addr);

    return -1;
}
