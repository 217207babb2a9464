/*
 * clockstep.c - LD_PRELOAD shim for t_fault_clock.sh: steps the wall
 * clock of one process tree, which CLOCK_REALTIME itself cannot be (it
 * is system-wide, not per namespace).  The file named by $CLOCKSTEP_FILE
 * holds an offset in seconds ("3600", "-3600"; missing or unreadable =
 * 0), re-read at most every 100 ms, added to what clock_gettime() of the
 * realtime clocks, gettimeofday() and time() return.  CLOCK_MONOTONIC
 * and CLOCK_BOOTTIME are left alone, as a real step leaves them.
 */
#define _GNU_SOURCE
#include <sys/time.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef int (*gettime_fn)(clockid_t, struct timespec *);
typedef int (*gettimeofday_fn)(struct timeval *, void *);

#define REREAD_NS   100000000LL

static _Atomic long long offset_s;
static _Atomic long long read_at_ns;        /* monotonic; 0 = never */

static gettime_fn
next_gettime(void)
{
    static _Atomic(gettime_fn) next;
    gettime_fn f = atomic_load(&next);

    if (f == NULL) {
        f = (gettime_fn)dlsym(RTLD_NEXT, "clock_gettime");
        atomic_store(&next, f);
    }
    return f;
}

/* The offset now, from the file when the last look is 100 ms old. */
static long long
offset(void)
{
    gettime_fn gt = next_gettime();
    struct timespec ts;
    long long now, last;
    const char *path;
    char buf[32];
    ssize_t n;
    int fd;

    if (gt == NULL || gt(CLOCK_MONOTONIC, &ts) != 0)
        return atomic_load(&offset_s);
    now = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    last = atomic_load(&read_at_ns);
    /* One thread re-reads; the others use the value it had. */
    if ((last != 0 && now - last < REREAD_NS) ||
        !atomic_compare_exchange_strong(&read_at_ns, &last, now))
        return atomic_load(&offset_s);
    path = getenv("CLOCKSTEP_FILE");
    fd = path != NULL ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0) {
        atomic_store(&offset_s, 0);
        return 0;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n > 0) {
        buf[n] = '\0';
        atomic_store(&offset_s, strtoll(buf, NULL, 10));
    }
    return atomic_load(&offset_s);
}

static int
is_wall(clockid_t id)
{
    return id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE ||
        id == CLOCK_REALTIME_ALARM || id == CLOCK_TAI;
}

int
clock_gettime(clockid_t id, struct timespec *ts)
{
    gettime_fn gt = next_gettime();
    int r;

    if (gt == NULL)
        return -1;
    r = gt(id, ts);
    if (r == 0 && is_wall(id))
        ts->tv_sec += (time_t)offset();
    return r;
}

int
gettimeofday(struct timeval *tv, void *tz)
{
    static _Atomic(gettimeofday_fn) next;
    gettimeofday_fn f = atomic_load(&next);
    int r;

    if (f == NULL) {
        f = (gettimeofday_fn)dlsym(RTLD_NEXT, "gettimeofday");
        atomic_store(&next, f);
    }
    if (f == NULL)
        return -1;
    r = f(tv, tz);
    if (r == 0)
        tv->tv_sec += (time_t)offset();
    return r;
}

time_t
time(time_t *out)
{
    struct timespec ts;
    time_t t;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return (time_t)-1;
    t = ts.tv_sec;
    if (out != NULL)
        *out = t;
    return t;
}
