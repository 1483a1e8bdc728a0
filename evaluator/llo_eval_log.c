/*
 * llm-evaluator logging: see llo_eval_log.h.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "llo_eval_log.h"


#define LLO_LOG_LINE        4096
#define LLO_LOG_LIMIT_MS    60000
#define LLO_LOG_LIMIT_SLOTS 32


typedef struct {
    const char         *fmt;
    int64_t             last_ms;
    uint64_t            suppressed;
} llo_log_limit_t;


static void llo_log_write(int level, uint64_t suppressed, const char *fmt,
    va_list args);


static int              llo_log_fd = STDERR_FILENO;
static int              llo_log_level = LLO_LOG_INFO;
static llo_log_limit_t  llo_log_limits[LLO_LOG_LIMIT_SLOTS];

static const char      *llo_log_levels[] = {
    "error", "warn", "info", "debug"
};


int
llo_log_open(const char *path, char *err, size_t errlen)
{
    int  fd;

    if (path == NULL || path[0] == '\0' || strcmp(path, "stderr") == 0) {
        fd = STDERR_FILENO;

    } else {
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (fd == -1) {
            snprintf(err, errlen, "open(\"%s\") failed: %s", path,
                     strerror(errno));
            return -1;
        }
    }

    if (llo_log_fd != STDERR_FILENO && llo_log_fd != fd) {
        (void) close(llo_log_fd);
    }

    llo_log_fd = fd;

    return 0;
}


void
llo_log_set_level(int level)
{
    llo_log_level = level;
}


void
llo_log_close(void)
{
    if (llo_log_fd != STDERR_FILENO) {
        (void) close(llo_log_fd);
        llo_log_fd = STDERR_FILENO;
    }
}


int
llo_log_level_parse(const char *name)
{
    int  i;

    for (i = 0; i <= LLO_LOG_DEBUG; i++) {
        if (strcmp(name, llo_log_levels[i]) == 0) {
            return i;
        }
    }

    return -1;
}


void
llo_log(int level, const char *fmt, ...)
{
    va_list  args;

    if (level > llo_log_level) {
        return;
    }

    va_start(args, fmt);
    llo_log_write(level, 0, fmt, args);
    va_end(args);
}


void
llo_log_limited(int level, const char *fmt, ...)
{
    int               i, oldest;
    int64_t           now;
    va_list           args;
    uint64_t          suppressed;
    llo_log_limit_t  *l;

    if (level > llo_log_level) {
        return;
    }

    now = llo_now_ms();
    oldest = 0;
    l = NULL;

    /* the format string's address identifies the call site */

    for (i = 0; i < LLO_LOG_LIMIT_SLOTS; i++) {
        if (llo_log_limits[i].fmt == fmt) {
            l = &llo_log_limits[i];
            break;
        }

        if (llo_log_limits[i].last_ms < llo_log_limits[oldest].last_ms) {
            oldest = i;
        }
    }

    if (l == NULL) {
        l = &llo_log_limits[oldest];
        l->fmt = fmt;
        l->last_ms = now - LLO_LOG_LIMIT_MS;
        l->suppressed = 0;
    }

    if (now - l->last_ms < LLO_LOG_LIMIT_MS) {
        l->suppressed++;
        return;
    }

    suppressed = l->suppressed;
    l->suppressed = 0;
    l->last_ms = now;

    va_start(args, fmt);
    llo_log_write(level, suppressed, fmt, args);
    va_end(args);
}


static void
llo_log_write(int level, uint64_t suppressed, const char *fmt, va_list args)
{
    int        n, off;
    char       line[LLO_LOG_LINE], zone[8], *p, *q, *end;
    time_t     sec;
    int64_t    ms;
    struct tm  tm;

    ms = llo_wall_ms();
    sec = (time_t) (ms / 1000);
    localtime_r(&sec, &tm);

    /* strftime's %z has no colon; ISO 8601 extended format wants one */
    if (strftime(zone, sizeof(zone), "%z", &tm) != 5) {
        strcpy(zone, "+0000");
    }

    off = snprintf(line, sizeof(line),
                   "%04d-%02d-%02dT%02d:%02d:%02d.%03d%.3s:%s [%s] %d: ",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                   tm.tm_min, tm.tm_sec, (int) (ms % 1000), zone, zone + 3,
                   llo_log_levels[level], (int) getpid());

    n = vsnprintf(line + off, sizeof(line) - off - 1, fmt, args);
    if (n < 0) {
        n = 0;
    }

    if (n > (int) sizeof(line) - off - 2) {
        n = sizeof(line) - off - 2;
    }

    /* one event, one line: PostgreSQL's messages come with "\n\t" */
    for (p = line + off, q = p, end = p + n; p < end; p++) {
        if (*p == '\n' || *p == '\r' || *p == '\t') {
            if (q > line + off && q[-1] != ' ') {
                *q++ = ' ';
            }
            continue;
        }
        *q++ = *p;
    }

    off = q - line;

    if (suppressed) {
        n = snprintf(line + off, sizeof(line) - off - 1,
                     " (%llu similar messages suppressed)",
                     (unsigned long long) suppressed);
        off += n > 0 ? n : 0;

        if (off > (int) sizeof(line) - 2) {
            off = sizeof(line) - 2;
        }
    }

    line[off++] = '\n';

    /* one write per line keeps lines whole when the file is shared */
    if (write(llo_log_fd, line, off) == -1 && llo_log_fd != STDERR_FILENO) {
        (void) write(STDERR_FILENO, line, off);
    }
}


int64_t
llo_now_ms(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


int64_t
llo_wall_ms(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_REALTIME, &ts);

    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
