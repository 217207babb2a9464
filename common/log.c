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
#include "util.h"

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
static char log_path[PATH_LEN];

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

/*
 * Lines a full disk (or any failed write) swallowed in this process; the
 * first line written afterwards is preceded by a note with the count, so
 * the gap in the file is explained rather than silent.  A failed write is
 * not retried: logging must never stall or spin the caller.
 */
static atomic_ulong log_lost;
static atomic_int log_lost_errno;

static void
log_write(const char *line, size_t n, const struct tm *tm)
{
    int fd = atomic_load(&log_fd);
    unsigned long lost = atomic_exchange(&log_lost, 0);

    if (lost > 0) {
        char note[256], ebuf[128];
        size_t k = strftime(note, sizeof(note), "%Y-%m-%dT%H:%M:%SZ ", tm);
        int r = snprintf(note + k, sizeof(note) - k, "%s[%ld] warn: %lu log "
            "line(s) lost: %s\n", log_role, (long)getpid(), lost,
            strerror_r(atomic_load(&log_lost_errno), ebuf, sizeof(ebuf)));

        if (r > 0 && (size_t)r < sizeof(note) - k &&
            write(fd, note, k + (size_t)r) != (ssize_t)(k + (size_t)r)) {
            atomic_store(&log_lost_errno, errno);
            atomic_fetch_add(&log_lost, lost + 1);
            return;
        }
    }
    ssize_t w = write(fd, line, n);

    if (w != (ssize_t)n) {
        /* A short write is the disk filling up under this very line. */
        atomic_store(&log_lost_errno, w < 0 ? errno : ENOSPC);
        atomic_fetch_add(&log_lost, 1);
    }
}

static void
log_emit(enum log_level level, int errnum, const char *fmt, va_list ap)
{
    /* The master's "stats:" line at a stop, every counter, is the
     * longest (about 2.3 KiB). */
    char line[4096];
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
    log_write(line, n, &tm);
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

void
log_warnx_limited(struct log_rl *rl, pthread_mutex_t *lock,
    const char *fmt, ...)
{
    struct timespec ts;
    char msg[400];
    unsigned dropped = 0;
    int ok;
    va_list ap;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    pthread_mutex_lock(lock);
    ok = log_rl_take(rl, LOG_RL_BURST, LOG_RL_WINDOW_MS,
        (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, &dropped);
    pthread_mutex_unlock(lock);
    if (!ok)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (dropped > 0)
        log_warnx("%s (%u similar lines suppressed)", msg, dropped);
    else
        log_warnx("%s", msg);
}
