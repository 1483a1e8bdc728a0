/*
 * llm-evaluator event loop: see llo_eval_loop.h.
 */

#define _GNU_SOURCE                     /* ppoll() */

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "llo_eval_log.h"
#include "llo_eval_loop.h"


static int llo_loop_flagged(llo_loop_t *loop);
static int64_t llo_loop_timeout(llo_loop_t *loop, int64_t now,
    int64_t max_ms);


void
llo_loop_init(llo_loop_t *loop)
{
    memset(loop, 0, sizeof(llo_loop_t));
    sigemptyset(&loop->signals);
}


int
llo_loop_signal(llo_loop_t *loop, int signo, volatile sig_atomic_t *flag)
{
    size_t  i;

    for (i = 0; i < loop->nflags; i++) {
        if (loop->flags[i] == flag) {
            break;
        }
    }

    if (i == loop->nflags) {
        if (loop->nflags == LLO_LOOP_FLAGS) {
            return -1;
        }

        loop->flags[loop->nflags++] = flag;
    }

    sigaddset(&loop->signals, signo);

    return 0;
}


int
llo_loop_timer(llo_loop_t *loop, llo_timer_t *t, const char *name,
    llo_timer_pt handler, void *data)
{
    if (loop->ntimers == LLO_LOOP_TIMERS) {
        return -1;
    }

    t->name = name;
    t->when = -1;
    t->handler = handler;
    t->data = data;

    loop->timers[loop->ntimers++] = t;

    return 0;
}


void
llo_loop_timer_del(llo_loop_t *loop, llo_timer_t *t)
{
    size_t  i;

    for (i = 0; i < loop->ntimers; i++) {
        if (loop->timers[i] == t) {
            loop->ntimers--;
            memmove(&loop->timers[i], &loop->timers[i + 1],
                    (loop->ntimers - i) * sizeof(llo_timer_t *));
            t->when = -1;
            return;
        }
    }
}


void
llo_timer_in(llo_timer_t *t, int64_t ms)
{
    t->when = llo_now_ms() + (ms > 0 ? ms : 0);
}


void
llo_timer_stop(llo_timer_t *t)
{
    t->when = -1;
}


int
llo_loop_fd(llo_loop_t *loop, int fd, int events, llo_fd_pt handler,
    void *data)
{
    size_t  i;

    for (i = 0; i < loop->nfds; i++) {
        if (loop->pfd[i].fd == fd) {
            break;
        }
    }

    if (i == loop->nfds) {
        if (loop->nfds == LLO_LOOP_FDS) {
            return -1;
        }

        loop->nfds++;
    }

    loop->pfd[i].fd = fd;
    loop->pfd[i].events = (short) events;
    loop->pfd[i].revents = 0;
    loop->fds[i].handler = handler;
    loop->fds[i].data = data;

    return 0;
}


void
llo_loop_fd_del(llo_loop_t *loop, int fd)
{
    size_t  i;

    for (i = 0; i < loop->nfds; i++) {
        if (loop->pfd[i].fd == fd) {
            loop->nfds--;
            loop->pfd[i] = loop->pfd[loop->nfds];
            loop->fds[i] = loop->fds[loop->nfds];

            /*
             * llo_loop_once() walks the fds down from the end, so the one
             * moved here has had its turn already: without this, a
             * handler that removes a lower fd would run it twice.  If it
             * was not handled, poll is level-triggered: the next wait
             * reports it again.
             */
            loop->pfd[i].revents = 0;
            return;
        }
    }
}


int
llo_loop_once(llo_loop_t *loop, int64_t max_ms)
{
    int               n, ran;
    size_t            i, nfds;
    int64_t           now, wait;
    sigset_t          old;
    llo_timer_t      *t;
    struct timespec   ts, *tsp;

    now = llo_now_ms();
    wait = llo_loop_timeout(loop, now, max_ms);

    tsp = NULL;

    if (wait >= 0) {
        ts.tv_sec = wait / 1000;
        ts.tv_nsec = (wait % 1000) * 1000000;
        tsp = &ts;
    }

    /* a signal between the check and the wait must still end the wait */

    if (sigprocmask(SIG_BLOCK, &loop->signals, &old) == -1) {
        return 0;
    }

    n = 0;

    if (!llo_loop_flagged(loop)) {
        n = ppoll(loop->pfd, loop->nfds, tsp, &old);

        if (n == -1 && errno != EINTR) {
            llo_log_limited(LLO_LOG_ERROR, "ppoll() failed: %s",
                            strerror(errno));
        }
    }

    (void) sigprocmask(SIG_SETMASK, &old, NULL);

    if (n == -1 || llo_loop_flagged(loop)) {
        return 0;
    }

    ran = 0;

    /* a handler may remove fds: walk a count taken before, from the end */

    nfds = loop->nfds;

    for (i = nfds; n > 0 && i-- > 0; ) {
        if (i >= loop->nfds || loop->pfd[i].revents == 0) {
            continue;
        }

        n--;
        ran++;
        loop->fds[i].handler(loop, loop->pfd[i].fd, loop->pfd[i].revents,
                             loop->fds[i].data);
    }

    now = llo_now_ms();

    for (i = 0; i < loop->ntimers; i++) {
        t = loop->timers[i];

        if (t->when < 0 || t->when > now) {
            continue;
        }

        t->when = -1;
        ran++;
        t->handler(loop, t);

        if (llo_loop_flagged(loop)) {
            break;
        }
    }

    return ran;
}


static int
llo_loop_flagged(llo_loop_t *loop)
{
    size_t  i;

    for (i = 0; i < loop->nflags; i++) {
        if (*loop->flags[i]) {
            return 1;
        }
    }

    return 0;
}


/* ms until the nearest armed timer, bounded by max_ms; -1: no bound */

static int64_t
llo_loop_timeout(llo_loop_t *loop, int64_t now, int64_t max_ms)
{
    size_t   i;
    int64_t  wait, w;

    wait = max_ms;

    for (i = 0; i < loop->ntimers; i++) {
        if (loop->timers[i]->when < 0) {
            continue;
        }

        w = loop->timers[i]->when - now;
        w = w < 0 ? 0 : w;

        if (wait < 0 || w < wait) {
            wait = w;
        }
    }

    return wait;
}
