/*
 * log.c - line-oriented logging to stderr for every process.
 *
 * Lines look like "2026-11-25T10:00:00Z worker 1[1234] info: text".  A line
 * is formatted into a stack buffer and written with one write(2) (to
 * stderr or an O_APPEND file), which keeps lines whole across threads and
 * processes; or handed to syslog(3) without the timestamp.  Never
 * allocates, so it is safe on out-of-memory paths.
 *
 * The master opens log_file as root in a directory the workers' user may
 * be able to write to, so the file is opened without following a symbolic
 * link or blocking on a FIFO, and only a regular file with one name is
 * taken (see log_open()).
 */
#include "log.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

enum log_sink { LOG_SINK_STDERR, LOG_SINK_FILE, LOG_SINK_SYSLOG };

static enum log_sink log_sink = LOG_SINK_STDERR;
static atomic_int log_fd = STDERR_FILENO;
static char log_path[1024];

static char log_role[32] = "telemt";
static atomic_int log_threshold = LOG_LVL_INFO;

static const char *const log_names[] = { "error", "warn", "info", "debug" };

/*
 * Open path for appending.  O_NOFOLLOW: a symbolic link planted in its
 * place would make root append to (and the master chown) any file;
 * O_NONBLOCK: a FIFO would block the open for ever (it has no effect on
 * a regular file).  Then only a regular file with one link is taken: a
 * second name is a hard link someone made to a file that is not a log.
 * Returns the fd, or -1 with errno (ELOOP for a symbolic link, ENXIO for
 * a FIFO nobody reads, EMLINK for a second link, EINVAL for anything
 * else that is not a regular file).
 */
static int
log_open(const char *path)
{
    struct stat st;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW |
        O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0640);

    if (fd == -1)
        return -1;
    if (fstat(fd, &st) == -1) {
        int saved = errno;

        close(fd);
        errno = saved;
        return -1;
    }
    if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
        close(fd);
        errno = S_ISREG(st.st_mode) ? EMLINK : EINVAL;
        return -1;
    }
    return fd;
}

int
log_to_file(const char *path)
{
    int fd = log_open(path);

    if (fd == -1)
        return -1;
    snprintf(log_path, sizeof(log_path), "%s", path);
    atomic_store(&log_fd, fd);
    log_sink = LOG_SINK_FILE;
    return 0;
}

void
log_to_syslog(void)
{
    openlog("telemt", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    log_sink = LOG_SINK_SYSLOG;
}

int
log_reopen(void)
{
    int fd, old;

    if (log_sink != LOG_SINK_FILE)
        return 0;
    fd = log_open(log_path);
    if (fd == -1)
        return -1;
    /* Swap, then close: a concurrent writer uses one or the other. */
    old = atomic_exchange(&log_fd, fd);
    if (old != STDERR_FILENO)
        close(old);
    return 0;
}

int
log_file_fd(void)
{
    return log_sink == LOG_SINK_FILE ? atomic_load(&log_fd) : -1;
}

void
log_set_role(const char *role)
{
    snprintf(log_role, sizeof(log_role), "%s", role);
}

void
log_set_level(enum log_level level)
{
    atomic_store(&log_threshold, (int)level);
}

enum log_level
log_get_level(void)
{
    return (enum log_level)atomic_load(&log_threshold);
}

int
log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcasecmp(name, log_names[i]) == 0)
            return i;
    return -1;
}

static void
log_emit(enum log_level level, int errnum, const char *fmt, va_list ap)
{
    char line[1024];
    struct tm tm;
    time_t now;
    size_t n;
    int r;

    static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

    if ((int)level > atomic_load(&log_threshold))
        return;
    if (log_sink == LOG_SINK_SYSLOG) {
        n = 0;
        r = snprintf(line, sizeof(line), "%s: ", log_role);
        if (r > 0)
            n = (size_t)r < sizeof(line) ? (size_t)r : sizeof(line) - 1;
        r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
        if (errnum != 0 && r >= 0) {
            char ebuf[128];

            n = strlen(line);
            snprintf(line + n, sizeof(line) - n, ": %s",
                strerror_r(errnum, ebuf, sizeof(ebuf)));
        }
        syslog(prio[level], "%s", line);
        return;
    }
    now = time(NULL);
    gmtime_r(&now, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%SZ ", &tm);
    r = snprintf(line + n, sizeof(line) - n, "%s[%ld] %s: ", log_role,
        (long)getpid(), log_names[level]);
    if (r > 0)
        n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
    r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    if (r > 0)
        n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
    if (errnum != 0 && n < sizeof(line) - 1) {
        char ebuf[128];
        const char *e = strerror_r(errnum, ebuf, sizeof(ebuf));
        r = snprintf(line + n, sizeof(line) - n, ": %s", e);
        if (r > 0)
            n += (size_t)r < sizeof(line) - n ? (size_t)r
                : sizeof(line) - n - 1;
    }
    if (n >= sizeof(line) - 1)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    (void)!write(atomic_load(&log_fd), line, n);
}

#define LOG_FN(name, level, with_errno)                                   \
void                                                                      \
name(const char *fmt, ...)                                                \
{                                                                         \
    int saved = errno;                                                    \
    va_list ap;                                                           \
    va_start(ap, fmt);                                                    \
    log_emit(level, with_errno ? saved : 0, fmt, ap);                     \
    va_end(ap);                                                           \
    errno = saved;                                                        \
}

LOG_FN(log_errorx, LOG_LVL_ERROR, 0)
LOG_FN(log_warn, LOG_LVL_WARN, 1)
LOG_FN(log_warnx, LOG_LVL_WARN, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_debug, LOG_LVL_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
    int saved = errno;
    va_list ap;

    va_start(ap, fmt);
    log_emit(LOG_LVL_ERROR, saved, fmt, ap);
    va_end(ap);
    exit(1);
}

void
fatalx(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_emit(LOG_LVL_ERROR, 0, fmt, ap);
    va_end(ap);
    exit(1);
}

void
panic(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_emit(LOG_LVL_ERROR, 0, fmt, ap);
    va_end(ap);
    abort();
}

int
log_rl_take(struct log_rl *rl, unsigned burst, int64_t window_ms,
    int64_t now_ms, unsigned *dropped)
{
    if (rl->window_start == 0 || now_ms - rl->window_start >= window_ms ||
        now_ms < rl->window_start) {
        rl->window_start = now_ms != 0 ? now_ms : 1;
        rl->used = 0;
    }
    if (rl->used >= burst) {
        rl->dropped++;
        return 0;
    }
    rl->used++;
    *dropped = rl->dropped;
    rl->dropped = 0;
    return 1;
}
