/*
 * threads.h - the worker's connection threads: created on demand, kept
 * for a moment after their connection ends so the next one can reuse
 * them, and made to give back stack pages they no longer need.
 */
#ifndef TELEMT_THREADS_H
#define TELEMT_THREADS_H

#include <pthread.h>
#include <stddef.h>

#define THREADS_PARK_MAX        64      /* idle threads kept per worker */
#define THREADS_PARK_MS         2000    /* how long one waits for work */
#define THREADS_TRIM_AFTER_MS   100     /* parked this long: trim stack */

struct threads {
    pthread_attr_t attr;            /* detached, thread_stack_size */
    pthread_mutex_t lock;           /* guards parked and nparked */
    struct parked *parked;          /* idle threads, last parked first */
    int nparked;
};

/* Set up the pool; -1 if the attributes cannot take stack_size. */
int threads_init(struct threads *t, size_t stack_size);
/*
 * Run fn(arg) on a parked thread, or on a new one if none waits.
 * Returns 0, or an errno value from pthread_create (fn not run).
 */
int threads_run(struct threads *t, void (*fn)(void *), void *arg);
/*
 * Give back the pages of the calling thread's stack below its current
 * frame (less a margin for the frames this call makes).  For a thread
 * about to wait a long time after running deeper than it will now.
 */
void threads_trim_stack(void);

#endif
