/*
 * threads.c - the worker's connection threads.
 *
 * One blocking thread per connection is the design; creating and ending
 * one per connection is not free, though: on 2 cores clone() and, at
 * exit, glibc's madvise() of the dead thread's stack (which has the
 * kernel flush the TLB on every CPU the process runs on) cost more than
 * a fake TLS handshake.  So a thread whose connection ended parks for up
 * to THREADS_PARK_MS, and threads_run() hands the next connection to the
 * most recently parked thread (its stack is the warmest).  At most
 * THREADS_PARK_MAX wait at once; the rest end as before.
 */
#include "threads.h"

#include <sys/mman.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

struct parked {
    pthread_cond_t cv;
    void (*fn)(void *);             /* set by threads_run(): the next job */
    void *arg;
    struct parked *next;
};

struct job {
    struct threads *pool;
    void (*fn)(void *);
    void *arg;
};

int
threads_init(struct threads *t, size_t stack_size)
{
    t->parked = NULL;
    t->nparked = 0;
    if (pthread_mutex_init(&t->lock, NULL) != 0)
        return -1;
    if (pthread_attr_init(&t->attr) != 0 ||
        pthread_attr_setdetachstate(&t->attr, PTHREAD_CREATE_DETACHED) != 0 ||
        pthread_attr_setstacksize(&t->attr, stack_size) != 0)
        return -1;
    return 0;
}

void
threads_trim_stack(void)
{
    static const size_t margin = 2048;  /* this frame and madvise()'s */
    pthread_attr_t a;
    void *lo;
    size_t size, page = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t here = (uintptr_t)&a, end;

    if (pthread_getattr_np(pthread_self(), &a) != 0)
        return;
    if (pthread_attr_getstack(&a, &lo, &size) == 0 &&
        here > (uintptr_t)lo + margin + page) {
        end = (here - margin) & ~(uintptr_t)(page - 1);
        if (end > (uintptr_t)lo)
            (void)madvise(lo, end - (uintptr_t)lo, MADV_DONTNEED);
    }
    pthread_attr_destroy(&a);
}

/* Wait on the pool for a next job; 0 with it in j, -1 to end the thread. */
static int
threads_park(struct threads *t, struct parked *me, struct job *j)
{
    int trimmed = 0, timed_out = 0;
    struct timespec until;

    pthread_mutex_lock(&t->lock);
    if (t->nparked >= THREADS_PARK_MAX) {
        pthread_mutex_unlock(&t->lock);
        return -1;
    }
    me->fn = NULL;
    me->next = t->parked;
    t->parked = me;
    t->nparked++;
    until = mono_deadline(THREADS_TRIM_AFTER_MS);
    while (me->fn == NULL && !timed_out) {
        if (pthread_cond_timedwait(&me->cv, &t->lock, &until) != ETIMEDOUT)
            continue;
        if (me->fn != NULL)
            break;
        if (trimmed) {
            timed_out = 1;
            break;
        }
        /* Still idle: the stack below goes back (outside the lock). */
        pthread_mutex_unlock(&t->lock);
        threads_trim_stack();
        pthread_mutex_lock(&t->lock);
        trimmed = 1;
        until = mono_deadline(THREADS_PARK_MS - THREADS_TRIM_AFTER_MS);
    }
    if (me->fn == NULL) {
        /* Nobody took us: leave the list. */
        for (struct parked **p = &t->parked; *p != NULL; p = &(*p)->next)
            if (*p == me) {
                *p = me->next;
                t->nparked--;
                break;
            }
        pthread_mutex_unlock(&t->lock);
        return -1;
    }
    j->fn = me->fn;
    j->arg = me->arg;
    pthread_mutex_unlock(&t->lock);
    return 0;
}

static void *
threads_main(void *arg)
{
    struct job j = *(struct job *)arg;
    struct parked me = { .fn = NULL };
    int can_park;

    free(arg);
    can_park = mono_cond_init(&me.cv) == 0;
    do
        j.fn(j.arg);
    while (can_park && threads_park(j.pool, &me, &j) == 0);
    if (can_park)
        pthread_cond_destroy(&me.cv);
    return NULL;
}

int
threads_run(struct threads *t, void (*fn)(void *), void *arg)
{
    struct job *j;
    pthread_t tid;
    int err;

    pthread_mutex_lock(&t->lock);
    if (t->parked != NULL) {
        struct parked *p = t->parked;

        /* Taken off the list here, so no second job can land on it. */
        t->parked = p->next;
        t->nparked--;
        p->fn = fn;
        p->arg = arg;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&t->lock);
        return 0;
    }
    pthread_mutex_unlock(&t->lock);
    j = malloc(sizeof(*j));
    if (j == NULL)
        return ENOMEM;
    *j = (struct job){ .pool = t, .fn = fn, .arg = arg };
    err = pthread_create(&tid, &t->attr, threads_main, j);
    if (err != 0)
        free(j);
    return err;
}
