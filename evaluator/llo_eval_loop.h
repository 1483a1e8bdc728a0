/*
 * llm-evaluator event loop: timers and file descriptors, in the shape of
 * Redis's ae and PgBouncer's main_loop_once(), over ppoll().
 *
 *   llo_loop_once():  signals blocked -> a watched flag set? return ->
 *                     ppoll(fds, until the nearest timer, signals
 *                     unblocked) -> handlers of the ready fds -> handlers
 *                     of the timers that are due
 *
 * Signal handlers only set flags (sig_atomic_t) the loop watches: a
 * signal that arrives before the wait ends it at once, one that arrives
 * during a handler is seen at the next llo_loop_once().  Signals are
 * blocked only around the check and the wait, so a handler's blocking
 * call (libpq) can still be ended by a second SIGTERM's default action.
 *
 * Timers and fds are the caller's structures, registered once; a timer
 * is armed for a time and disarmed before its handler runs, which arms
 * it again if it wants to run again.  Times are llo_now_ms() (monotonic).
 */

#ifndef _LLO_EVAL_LOOP_H_INCLUDED_
#define _LLO_EVAL_LOOP_H_INCLUDED_


#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>


#define LLO_LOOP_TIMERS     16
#define LLO_LOOP_FDS        64
#define LLO_LOOP_FLAGS      4

typedef struct llo_loop_s   llo_loop_t;
typedef struct llo_timer_s  llo_timer_t;

typedef void (*llo_timer_pt)(llo_loop_t *loop, llo_timer_t *t);
typedef void (*llo_fd_pt)(llo_loop_t *loop, int fd, int revents,
    void *data);


struct llo_timer_s {
    const char         *name;
    int64_t             when;           /* llo_now_ms(); -1: not armed */
    llo_timer_pt        handler;
    void               *data;
};


typedef struct {
    llo_fd_pt           handler;
    void               *data;
} llo_fd_t;


struct llo_loop_s {
    llo_timer_t        *timers[LLO_LOOP_TIMERS];
    size_t              ntimers;

    struct pollfd       pfd[LLO_LOOP_FDS];
    llo_fd_t            fds[LLO_LOOP_FDS];
    size_t              nfds;

    /* set by signal handlers: any of them ends a wait */
    volatile sig_atomic_t  *flags[LLO_LOOP_FLAGS];
    size_t              nflags;
    sigset_t            signals;        /* blocked around the wait */
};


void llo_loop_init(llo_loop_t *loop);

/* a signal whose handler sets *flag: the wait ends when it comes */
int llo_loop_signal(llo_loop_t *loop, int signo,
    volatile sig_atomic_t *flag);

/* register t (disarmed); -1 when LLO_LOOP_TIMERS are registered */
int llo_loop_timer(llo_loop_t *loop, llo_timer_t *t, const char *name,
    llo_timer_pt handler, void *data);

/*
 * Unregister t, so that the memory holding it can be freed: a part that
 * is made and freed at run time (a client) owns a timer only for a while.
 * From a timer's handler too: a due timer that this moves down the list
 * runs at the next llo_loop_once() instead of this one.
 */
void llo_loop_timer_del(llo_loop_t *loop, llo_timer_t *t);

/* arm t to run ms from now (0: at the next llo_loop_once()) */
void llo_timer_in(llo_timer_t *t, int64_t ms);
void llo_timer_stop(llo_timer_t *t);
#define llo_timer_armed(t)  ((t)->when >= 0)

/*
 * Watch fd for events (POLLIN, POLLOUT); a second call changes them.
 * Handlers may add and remove fds, their own or others'.
 */
int llo_loop_fd(llo_loop_t *loop, int fd, int events, llo_fd_pt handler,
    void *data);
void llo_loop_fd_del(llo_loop_t *loop, int fd);

/*
 * Wait for the nearest timer, a ready fd or a watched signal, at most
 * max_ms (-1: no bound but the timers; with no timer armed and no fd,
 * that is until a signal), then run what is due.  Returns the number of
 * handlers run, 0 when the wait ended on a signal or max_ms.
 */
int llo_loop_once(llo_loop_t *loop, int64_t max_ms);


#endif /* _LLO_EVAL_LOOP_H_INCLUDED_ */
