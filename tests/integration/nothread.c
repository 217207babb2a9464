/*
 * nothread.c - LD_PRELOAD shim for t_fault_thread.sh: while the file named
 * by $NOTHREAD_FLAG exists, pthread_create() fails with EAGAIN, as it does
 * when RLIMIT_NPROC, threads-max or memory for stacks run out.  Otherwise
 * it calls the next pthread_create (libc's, or a sanitizer's interceptor).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

typedef int (*create_fn)(pthread_t *, const pthread_attr_t *,
    void *(*)(void *), void *);

int
pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *),
    void *arg)
{
    static create_fn next;
    const char *flag = getenv("NOTHREAD_FLAG");

    if (flag != NULL && access(flag, F_OK) == 0)
        return EAGAIN;
    if (next == NULL)
        next = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
    if (next == NULL)
        return ENOSYS;
    return next(t, a, fn, arg);
}
