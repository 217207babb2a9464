/*
 * log.h - the logging contract shared by every process.
 *
 * One line per event, written with a single write(2) so lines from threads
 * and processes never interleave.  Each line carries the role ("master",
 * "worker 3") and pid.  *_warn() appends strerror(errno); *_warnx() does not.
 * fatal()/fatalx() exit 1 (environmental failure); panic() aborts (our bug).
 */
#ifndef TELEMT_LOG_H
#define TELEMT_LOG_H

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>

enum log_level {
    LOG_LVL_ERROR = 0,
    LOG_LVL_WARN,
    LOG_LVL_INFO,
    LOG_LVL_DEBUG
};

/*
 * Where lines go: stderr (the default, and with -f), a file opened for
 * append (log_file), or syslog (a daemon without log_file; journald picks
 * it up).  log_to_file() returns 0, or -1 with errno: it never follows a
 * symbolic link, never blocks on a FIFO and takes only a regular file
 * with a single link (ELOOP, ENXIO, EMLINK, EINVAL otherwise).
 */
int log_to_file(const char *path);
void log_to_syslog(void);
/*
 * Reopen the log file (SIGUSR1, after rotation) under the same rules; 0,
 * or -1 with errno, and then lines keep going to the old descriptor.
 */
int log_reopen(void);
/* The descriptor lines go to when logging to a file, else -1 (fchown). */
int log_file_fd(void);
/* Set the role shown in every line ("master", "worker 2"); copies it. */
void log_set_role(const char *role);
/* Set the threshold; messages above it are dropped. */
void log_set_level(enum log_level level);
/* Current threshold (cheap; callers may test it before costly formatting). */
enum log_level log_get_level(void);
/* Parse "error", "warn", "info", "debug"; -1 if none of them. */
int log_level_parse(const char *name);

/*
 * A budget for lines a peer can trigger at will (refused clients): at
 * most burst lines per window_ms.  log_rl_take() says whether one more
 * may be written now and, when it may, puts in *dropped how many were
 * held back since the last one written (for "N more suppressed").  The
 * caller serialises calls on one struct; pure arithmetic on now_ms.
 */
struct log_rl {
    int64_t window_start;               /* ms; 0 = none yet */
    unsigned used;                      /* lines written in this window */
    unsigned dropped;                   /* held back since the last one */
};
int log_rl_take(struct log_rl *rl, unsigned burst, int64_t window_ms,
    int64_t now_ms, unsigned *dropped);
/* The budget of lines a peer can cause: LOG_RL_BURST a LOG_RL_WINDOW_MS. */
#define LOG_RL_BURST        5
#define LOG_RL_WINDOW_MS    60000
/*
 * A warning through budget rl (serialised by lock): written if the
 * budget allows, with "(N similar lines suppressed)" when some were held
 * back since the last one.
 */
void log_warnx_limited(struct log_rl *rl, pthread_mutex_t *lock,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

void log_errorx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void panic(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#endif
