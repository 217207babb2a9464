/*
 * threads.h - the worker's connection threads: each accepts its own
 * client and serves it, then waits for the next; kept for a moment when
 * idle, and made to give back stack pages they no longer need.
 */
#ifndef TELEMT_THREADS_H
#define TELEMT_THREADS_H

#include <sys/socket.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define THREADS_PARK_MAX        64      /* idle threads kept per worker */
#define THREADS_PARK_MS         2000    /* how long a spare one waits */
#define THREADS_TRIM_AFTER_MS   100     /* waiting this long: trim stack */
#define THREADS_MAX_LISTEN      2
#define THREADS_ROOM            528     /* admit()'s room: a struct conn */

/* What an accepted client becomes: fn(arg) on the accepting thread. */
struct threads_job {
    void (*fn)(void *);
    void *arg;
};

/* What the worker decides for the threads (worker.c). */
struct threads_ops {
    /*
     * fd was accepted from peer: 0 with the job that serves it in *job,
     * or -1 if it was closed (the worker counted why).  Runs while the
     * thread still counts as accepting, so a stop that waits for the
     * accepting threads to leave sees the client listed.  room is
     * THREADS_ROOM bytes of the thread's stack, max-aligned, that stay
     * its own until the job returns (for the job's own state: an idle
     * client's heap would otherwise hold it).
     */
    int (*admit)(void *ctx, int fd, const struct sockaddr *peer,
        struct threads_job *job, void *room);
    /* A spare thread could not start (err): said at most once a minute. */
    void (*spare_failed)(void *ctx, int err);
};

struct threads_waiter;

struct threads {
    pthread_attr_t attr;            /* detached, thread_stack_size */
    pthread_mutex_t lock;           /* guards everything below */
    pthread_cond_t left;            /* threads_stop(): a waiter left */
    const struct threads_ops *ops;
    void *ctx;
    int lfd[THREADS_MAX_LISTEN];    /* the worker's listening sockets */
    int nlisten;
    _Atomic int last;               /* the listener tried first */
    /* One epoll set per waiting thread, each holding every listener with
     * EPOLLEXCLUSIVE: a client wakes one waiter, not all of them. */
    int ep[THREADS_PARK_MAX];
    int ep_free[THREADS_PARK_MAX];  /* indexes of ep[] nobody waits on */
    int nep_free;
    struct threads_waiter *waiting; /* threads between jobs */
    int nwaiting;
    _Atomic int stopping;           /* threads_stop(): accept no more */
    int short_of_spares;            /* a spare failed; nobody may accept */
    int short_fd;                   /* eventfd: short_of_spares was set */
    /* accept() out of descriptors: since when, how often, said? */
    _Atomic int starving;           /* starved_since_ms != 0 */
    int64_t starved_since_ms, starved_warned_ms;
    uint64_t starved_tries;
    int starved_logged;
};

/*
 * Set up the pool on the listening sockets lfd[0..n) (non-blocking) and
 * start its first accepting thread; -1 if it cannot.  ops->admit() turns
 * each accepted client into the job its thread runs.
 */
int threads_init(struct threads *t, size_t stack_size, const int *lfd,
    int n, const struct threads_ops *ops, void *ctx);
/*
 * Run fn(arg) on a new thread, which then accepts clients like the rest.
 * Returns 0, or an errno value from pthread_create (fn not run).
 */
int threads_run(struct threads *t, void (*fn)(void *), void *arg);
/*
 * Accept no more: wake every waiting thread and return once none is
 * between jobs any more (each client accepted so far has been admitted),
 * so the caller may close the listening sockets.  Main thread only.
 */
void threads_stop(struct threads *t);
/*
 * 1 if no thread waits for clients because a spare could not start: the
 * caller accepts for them (starting a thread per client, as it can)
 * until one does.  0 otherwise.  t->short_fd turns readable when this
 * may have become 1; the call reads it empty.
 */
int threads_short(struct threads *t);
/*
 * accept() on a listener failed with err: out of descriptors or memory
 * pauses the caller (the client stays queued and the socket readable)
 * and is said once per spell and at most once a minute; other errors but
 * EAGAIN, EINTR and ECONNABORTED are logged.  accept() worked again:
 * err 0 (says how long it did not).
 */
void threads_accept_failed(struct threads *t, int err);
/*
 * A buffer of len bytes for the calling thread's innermost work (the
 * relay's, the fake TLS answer): on a pool thread the lowest len bytes
 * of its stack, page-aligned, which no frame reaches while
 * THREADS_FRAMES_MIN is left above them (the thread's descriptor and TLS
 * not counted); unlike a buffer in a frame they do not split the frames
 * of an idle connection over pages 32 KiB apart, and unlike the heap
 * they leave no holes.  Elsewhere, or on too small a stack, malloc().
 * NULL only if that fails.  A canary just above a stack buffer stands in
 * for the guard page it took: threads_buf_check() panics if a frame ran
 * into it.  A stack trim (threads_trim_stack(), which gives the pages
 * back) disarms it; threads_buf_rearm() arms it again once the buffer is
 * in use again.  threads_buf_free() gives the buffer back, checked.
 */
void *threads_buf(size_t len);
void threads_buf_check(const void *p);
void threads_buf_rearm(const void *p);
void threads_buf_free(void *p);
#define THREADS_FRAMES_MIN      (64 * 1024)
/*
 * Give back the pages of the calling thread's stack below its current
 * frame (less a margin for the frames this call makes).  For a thread
 * about to wait a long time after running deeper than it will now.
 */
void threads_trim_stack(void);

#endif
