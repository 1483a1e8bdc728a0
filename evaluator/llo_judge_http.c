/*
 * llm-evaluator judge: the HTTP client; see llo_judge.h.
 *
 * libcurl's multi interface with its socket and timer callbacks, driven
 * by the evaluator's loop: curl says which sockets it wants watched and
 * when it wants to be woken, the loop watches them next to the ring's
 * timer and PostgreSQL's, and curl_multi_socket_action() does the work
 * that is ready.  No thread, no curl_easy_perform(), no curl_multi_wait():
 * a slow judge never holds up the drain, and the daemon keeps one place
 * where it waits (ppoll) and one place where signals end the wait.
 *
 *   submit -> curl_multi_add_handle -> timer(0) -> socket_action(TIMEOUT)
 *          -> socket callback: llo_loop_fd(fd, POLLIN|POLLOUT)
 *          -> fd ready -> socket_action(fd) ... -> CURLMSG_DONE -> done()
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "llo_eval_log.h"
#include "llo_judge.h"


#define LLO_JUDGE_PATH  "/chat/completions"


typedef struct llo_judge_call_s  llo_judge_call_t;

struct llo_judge_call_s {
    llo_judge_client_t *client;
    llo_judge_call_t   *next;           /* in the free list */
    CURL               *easy;
    uint64_t            job_id;
    int64_t             started;        /* llo_now_ms() */
    llo_buf_t           request;
    llo_buf_t           answer;
    unsigned            oversize:1;     /* answer cut at the cap */
    char                retry_after[LLO_JUDGE_RETRY_AFTER_LEN];
    char                curl_error[CURL_ERROR_SIZE];
};


struct llo_judge_client_s {
    llo_loop_t         *loop;
    CURLM              *multi;
    llo_timer_t         timer;          /* curl's, CURLMOPT_TIMERFUNCTION */
    struct curl_slist  *headers;

    char               *url;
    char               *model;
    int64_t             timeout_ms;
    size_t              text_max;

    llo_judge_done_pt   done;
    void               *data;

    llo_judge_call_t   *calls;          /* max_concurrent of them */
    llo_judge_call_t   *free;
    size_t              max_concurrent;
    size_t              inflight;
};


static int llo_judge_socket(CURL *easy, curl_socket_t s, int what,
    void *userp, void *socketp);
static int llo_judge_timer_set(CURLM *multi, long timeout_ms, void *userp);
static void llo_judge_timer(llo_loop_t *loop, llo_timer_t *t);
static void llo_judge_fd(llo_loop_t *loop, int fd, int revents, void *data);
static void llo_judge_action(llo_judge_client_t *c, curl_socket_t s,
    int flags);
static void llo_judge_finish(llo_judge_client_t *c, llo_judge_call_t *call,
    CURLcode result);
static size_t llo_judge_write(char *ptr, size_t size, size_t n, void *data);
static size_t llo_judge_header(char *ptr, size_t size, size_t n,
    void *data);


static int  llo_judge_curl_ready;


llo_judge_client_t *
llo_judge_client_new(llo_loop_t *loop, const llo_judge_conf_t *conf,
    llo_judge_done_pt done, void *data, char *err, size_t errlen)
{
    char                *auth;
    size_t               i, len;
    CURLcode             rc;
    llo_judge_client_t  *c;

    if (conf->base_url == NULL || conf->base_url[0] == '\0'
        || conf->model == NULL || conf->model[0] == '\0')
    {
        snprintf(err, errlen, "the judge needs a base_url and a model");
        return NULL;
    }

    if (conf->max_concurrent < 1
        || conf->max_concurrent > LLO_JUDGE_CONCURRENT_MAX)
    {
        snprintf(err, errlen, "invalid max_concurrent %zu (expected 1..%d)",
                 conf->max_concurrent, LLO_JUDGE_CONCURRENT_MAX);
        return NULL;
    }

    if (conf->timeout_ms < 1) {
        snprintf(err, errlen, "invalid timeout_ms %lld (expected 1 or more)",
                 (long long) conf->timeout_ms);
        return NULL;
    }

    /* not thread-safe, and the daemon has one thread: once is enough */

    if (!llo_judge_curl_ready) {
        rc = curl_global_init(CURL_GLOBAL_DEFAULT);
        if (rc != CURLE_OK) {
            snprintf(err, errlen, "curl_global_init() failed: %s",
                     curl_easy_strerror(rc));
            return NULL;
        }

        llo_judge_curl_ready = 1;
    }

    c = calloc(1, sizeof(llo_judge_client_t));
    if (c == NULL) {
        goto nomem;
    }

    c->loop = loop;
    c->done = done;
    c->data = data;
    c->timeout_ms = conf->timeout_ms;
    c->text_max = conf->text_max;
    c->max_concurrent = conf->max_concurrent;

    len = strlen(conf->base_url);

    while (len > 0 && conf->base_url[len - 1] == '/') {
        len--;
    }

    c->url = malloc(len + sizeof(LLO_JUDGE_PATH));
    c->model = strdup(conf->model);
    c->calls = calloc(conf->max_concurrent, sizeof(llo_judge_call_t));

    if (c->url == NULL || c->model == NULL || c->calls == NULL) {
        goto nomem;
    }

    memcpy(c->url, conf->base_url, len);
    memcpy(c->url + len, LLO_JUDGE_PATH, sizeof(LLO_JUDGE_PATH));

    for (i = conf->max_concurrent; i-- > 0; ) {
        c->calls[i].client = c;
        c->calls[i].next = c->free;
        c->free = &c->calls[i];
    }

    /* an empty Expect: curl would wait a second for "100 Continue" */

    c->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (c->headers == NULL
        || curl_slist_append(c->headers, "Expect:") == NULL)
    {
        goto nomem;
    }

    if (conf->api_key && conf->api_key[0] != '\0') {
        len = sizeof("Authorization: Bearer ") + strlen(conf->api_key);

        auth = malloc(len);
        if (auth == NULL) {
            goto nomem;
        }

        snprintf(auth, len, "Authorization: Bearer %s", conf->api_key);

        if (curl_slist_append(c->headers, auth) == NULL) {
            explicit_bzero(auth, len);
            free(auth);
            goto nomem;
        }

        explicit_bzero(auth, len);
        free(auth);
    }

    c->multi = curl_multi_init();
    if (c->multi == NULL) {
        goto nomem;
    }

    if (llo_loop_timer(loop, &c->timer, "judge", llo_judge_timer, c) != 0) {
        snprintf(err, errlen, "the event loop has no room for the judge's "
                 "timer");
        llo_judge_client_free(c);
        return NULL;
    }

    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, llo_judge_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, llo_judge_timer_set);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);

    /* one connection a call at most, kept alive for the next */
    curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                      (long) conf->max_concurrent);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS,
                      (long) conf->max_concurrent);

    return c;

nomem:

    snprintf(err, errlen, "out of memory making the judge's client");
    llo_judge_client_free(c);

    return NULL;
}


int
llo_judge_submit(llo_judge_client_t *c, uint64_t job_id, const char *prompt,
    size_t plen, const char *response, size_t rlen)
{
    CURL              *easy;
    llo_judge_call_t  *call;

    call = c->free;
    if (call == NULL) {
        return -1;
    }

    call->request.len = 0;
    call->answer.len = 0;

    if (llo_judge_request(&call->request, c->model, prompt, plen, response,
                          rlen, c->text_max)
        != 0)
    {
        llo_log_limited(LLO_LOG_ERROR, "judge: cannot make the request of "
                        "job %llu", (unsigned long long) job_id);
        return -1;
    }

    easy = curl_easy_init();
    if (easy == NULL) {
        llo_log_limited(LLO_LOG_ERROR, "judge: curl_easy_init() failed");
        return -1;
    }

    call->easy = easy;
    call->job_id = job_id;
    call->oversize = 0;
    call->retry_after[0] = '\0';
    call->curl_error[0] = '\0';

    curl_easy_setopt(easy, CURLOPT_URL, c->url);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "llm-evaluator");
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, call->request.data);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t) call->request.len);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long) c->timeout_ms);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, call->curl_error);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, llo_judge_write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, call);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, llo_judge_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, call);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, call);

    if (curl_multi_add_handle(c->multi, easy) != CURLM_OK) {
        llo_log_limited(LLO_LOG_ERROR, "judge: curl_multi_add_handle() "
                        "failed");
        curl_easy_cleanup(easy);
        call->easy = NULL;
        return -1;
    }

    c->free = call->next;
    call->next = NULL;
    call->started = llo_now_ms();
    c->inflight++;

    return 0;
}


size_t
llo_judge_inflight(const llo_judge_client_t *c)
{
    return c->inflight;
}


void
llo_judge_client_free(llo_judge_client_t *c)
{
    size_t              i;
    struct curl_slist  *h;

    if (c == NULL) {
        return;
    }

    for (i = 0; c->calls && i < c->max_concurrent; i++) {
        if (c->calls[i].easy) {
            curl_multi_remove_handle(c->multi, c->calls[i].easy);
            curl_easy_cleanup(c->calls[i].easy);
        }

        llo_buf_free(&c->calls[i].request);
        llo_buf_free(&c->calls[i].answer);
    }

    /* curl_multi_remove_handle() has had curl remove each call's fds */

    if (c->multi) {
        curl_multi_cleanup(c->multi);
    }

    llo_loop_timer_del(c->loop, &c->timer);

    /* the key is in the Authorization header: no copy left in memory */

    for (h = c->headers; h; h = h->next) {
        explicit_bzero(h->data, strlen(h->data));
    }

    curl_slist_free_all(c->headers);
    free(c->calls);
    free(c->model);
    free(c->url);
    free(c);
}


/* -- libcurl's callbacks and the loop's----------------------------------- */


/* CURLMOPT_SOCKETFUNCTION: what curl wants watched on s */

static int
llo_judge_socket(CURL *easy, curl_socket_t s, int what, void *userp,
    void *socketp)
{
    int                  events;
    llo_judge_client_t  *c;

    c = userp;

    if (what == CURL_POLL_REMOVE) {
        llo_loop_fd_del(c->loop, s);
        return 0;
    }

    events = 0;

    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) {
        events |= POLLIN;
    }

    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) {
        events |= POLLOUT;
    }

    if (llo_loop_fd(c->loop, s, events, llo_judge_fd, c) != 0) {
        llo_log_limited(LLO_LOG_ERROR, "judge: the event loop has no room "
                        "for another fd (%d in use)", LLO_LOOP_FDS);
        return -1;
    }

    return 0;
}


/* CURLMOPT_TIMERFUNCTION: when curl wants to be woken; -1: never */

static int
llo_judge_timer_set(CURLM *multi, long timeout_ms, void *userp)
{
    llo_judge_client_t  *c;

    c = userp;

    if (timeout_ms < 0) {
        llo_timer_stop(&c->timer);

    } else {
        llo_timer_in(&c->timer, timeout_ms);
    }

    return 0;
}


static void
llo_judge_timer(llo_loop_t *loop, llo_timer_t *t)
{
    llo_judge_action(t->data, CURL_SOCKET_TIMEOUT, 0);
}


static void
llo_judge_fd(llo_loop_t *loop, int fd, int revents, void *data)
{
    int  flags;

    flags = 0;

    /* a hang-up is read as one, so that curl sees the end of the stream */

    if (revents & (POLLIN | POLLHUP)) {
        flags |= CURL_CSELECT_IN;
    }

    if (revents & POLLOUT) {
        flags |= CURL_CSELECT_OUT;
    }

    if (revents & (POLLERR | POLLNVAL)) {
        flags |= CURL_CSELECT_ERR;
    }

    llo_judge_action(data, fd, flags);
}


static void
llo_judge_action(llo_judge_client_t *c, curl_socket_t s, int flags)
{
    int                running, left;
    CURLMsg           *msg;
    CURLMcode          rc;
    llo_judge_call_t  *call;

    rc = curl_multi_socket_action(c->multi, s, flags, &running);
    if (rc != CURLM_OK) {
        llo_log_limited(LLO_LOG_ERROR, "judge: curl_multi_socket_action() "
                        "failed: %s", curl_multi_strerror(rc));
    }

    while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }

        call = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &call);

        if (call) {
            llo_judge_finish(c, call, msg->data.result);
        }
    }
}


/*
 * A call ended: its slot is freed before done() runs, so that done() can
 * submit the next one (a retry, the queue's head).
 */

static void
llo_judge_finish(llo_judge_client_t *c, llo_judge_call_t *call,
    CURLcode result)
{
    int                  n;
    long                 status;
    uint64_t             job_id;
    llo_judge_outcome_t  o;

    memset(&o, 0, sizeof(llo_judge_outcome_t));

    status = 0;
    curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status);

    o.status = status;
    o.elapsed_ms = llo_now_ms() - call->started;
    o.timed_out = (result == CURLE_OPERATION_TIMEDOUT);
    snprintf(o.retry_after, sizeof(o.retry_after), "%s", call->retry_after);

    if (call->oversize) {
        snprintf(o.cause, sizeof(o.cause), "answer over %d bytes",
                 LLO_JUDGE_BODY_MAX);

    } else if (result != CURLE_OK) {
        snprintf(o.curl_error, sizeof(o.curl_error), "%s",
                 call->curl_error[0] ? call->curl_error
                                     : curl_easy_strerror(result));
        snprintf(o.cause, sizeof(o.cause), "%s", o.curl_error);

        /* an answer cut short is no answer */
        o.status = 0;

    } else {
        n = (status >= 200 && status < 300)
            ? 0 : snprintf(o.cause, sizeof(o.cause), "HTTP %ld: ", status);

        if (llo_judge_parse(call->answer.data, call->answer.len, &o.result,
                            o.cause + n, sizeof(o.cause) - n)
            == 0)
        {
            if (n) {
                snprintf(o.cause + n, sizeof(o.cause) - n, "a verdict");

            } else {
                o.ok = 1;
            }
        }
    }

    job_id = call->job_id;

    curl_multi_remove_handle(c->multi, call->easy);
    curl_easy_cleanup(call->easy);
    call->easy = NULL;

    call->next = c->free;
    c->free = call;
    c->inflight--;

    c->done(c->data, job_id, &o);
}


/* CURLOPT_WRITEFUNCTION: the answer, up to LLO_JUDGE_BODY_MAX */

static size_t
llo_judge_write(char *ptr, size_t size, size_t n, void *data)
{
    llo_judge_call_t  *call;

    call = data;
    n *= size;

    if (call->answer.len + n > LLO_JUDGE_BODY_MAX) {
        call->oversize = 1;

        /* less than n: curl ends the call with CURLE_WRITE_ERROR */
        return 0;
    }

    llo_buf_add(&call->answer, ptr, n);

    return n;
}


/* CURLOPT_HEADERFUNCTION: Retry-After, of the last response if several */

static size_t
llo_judge_header(char *ptr, size_t size, size_t n, void *data)
{
    size_t             len, name;
    llo_judge_call_t  *call;

    call = data;
    len = size * n;
    name = sizeof("Retry-After:") - 1;

    if (len >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
        call->retry_after[0] = '\0';
        return len;
    }

    if (len < name || strncasecmp(ptr, "Retry-After:", name) != 0) {
        return len;
    }

    ptr += name;
    len -= name;

    while (len > 0 && (*ptr == ' ' || *ptr == '\t')) {
        ptr++;
        len--;
    }

    while (len > 0 && (ptr[len - 1] == '\r' || ptr[len - 1] == '\n'
                       || ptr[len - 1] == ' ' || ptr[len - 1] == '\t'))
    {
        len--;
    }

    if (len >= sizeof(call->retry_after)) {
        len = sizeof(call->retry_after) - 1;
    }

    memcpy(call->retry_after, ptr, len);
    call->retry_after[len] = '\0';

    return size * n;
}
