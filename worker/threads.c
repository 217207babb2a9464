/*
 * threads.c - the worker's connection threads, each its own acceptor.
 *
 * One blocking thread per connection is the design; handing a client
 * from an accepting thread to a serving one is not free, though: on a
 * virtual machine a cross-CPU wake-up costs tens of microseconds, more
 * than the rest of a fake TLS handshake but its key share.  So there is
 * no accept loop: a thread between jobs waits for a client on the
 * listening sockets itself, and the thread that accepts a client is the
 * thread that serves it.  Each waiting thread has an epoll set of its
 * own holding every listener with EPOLLEXCLUSIVE, so the kernel wakes
 * one of them per client, not all; accept() is tried before the wait,
 * so under load a thread finishing one client takes the next queued one
 * without sleeping.  A thread that takes a client when nobody else waits
 * starts a spare first, so some thread always accepts.
 *
 * Creating and ending a thread per connection would cost more than a
 * handshake (clone(), and glibc's madvise() of a dead thread's stack,
 * which has the kernel flush the TLB on every CPU of the process), so
 * up to THREADS_PARK_MAX threads wait at once; past THREADS_PARK_MS
 * without a client a waiting thread ends, unless it is the last one.
 */
#include "threads.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include <errno.h>
#include <stddef.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "relay.h"
#include "util.h"

struct threads_waiter {
    pthread_t tid;
    struct threads_waiter *prev, *next;
};

struct start {
    struct threads *pool;
    struct threads_job job;
};

/* How long accepts pause when the process is out of descriptors. */
#define THREADS_STARVED_PAUSE_MS 100
#define THREADS_STARVED_LOG_MS  60000

static void *threads_main(void *arg);

/* The bottom of the calling thread's usable stack, learnt once at its start
 * (pthread_getattr_np() asks the kernel for the CPU affinity too). */
static _Thread_local uintptr_t stack_lo;
static _Thread_local uintptr_t frames_top;  /* threads_main()'s frame; 0:
                                             * not a pool thread */
/* Above the stack buffer of threads_buf() (NULL: none armed), and that
 * buffer's length. */
static _Thread_local uint64_t *canary;
static _Thread_local size_t scratch_len;
static uint64_t canary_value;
/*
 * accept() before the wait, or the wait first: whichever the queue made
 * right last time.  A try that finds none is a syscall for nothing (at
 * low load, every time); a wait that returns at once says clients queue.
 */
static _Thread_local int accept_first = 1;
#define THREADS_QUEUED_US       20

static void
threads_learn_stack(void)
{
    pthread_attr_t a;
    void *lo;
    size_t size;

    if (pthread_getattr_np(pthread_self(), &a) != 0)
        return;
    if (pthread_attr_getstack(&a, &lo, &size) == 0)
        stack_lo = (uintptr_t)lo;
    pthread_attr_destroy(&a);
}

/* The stack buffer of threads_buf(), and its canary armed; NULL if the
 * thread's stack cannot hold len bytes that way. */
static void *
threads_scratch(size_t len)
{
    uintptr_t end = stack_lo + len;

    /* Not another thread's stack (a process's main one grows on demand). */
    if (stack_lo == 0 || frames_top < end + sizeof(*canary) ||
        frames_top - end - sizeof(*canary) < THREADS_FRAMES_MIN)
        return NULL;
    end = (end + sizeof(*canary) - 1) & ~(uintptr_t)(sizeof(*canary) - 1);
    canary = (uint64_t *)end;
    *canary = canary_value;
    scratch_len = len;
    return (void *)stack_lo;
}

/* 1 if p is the calling thread's stack buffer. */
static int
threads_is_scratch(const void *p)
{
    return p != NULL && frames_top != 0 && (uintptr_t)p == stack_lo;
}

void *
threads_buf(size_t len)
{
    void *p = threads_scratch(len);

    return p != NULL ? p : malloc(len);
}

void
threads_buf_check(const void *p)
{
    if (threads_is_scratch(p) && canary != NULL && *canary != canary_value)
        panic("a connection thread's frames ran into its relay buffers "
            "(thread_stack_size too small for them?)");
}

void
threads_buf_rearm(const void *p)
{
    if (threads_is_scratch(p) && canary == NULL)
        (void)threads_scratch(scratch_len);
}

void
threads_buf_free(void *p)
{
    if (!threads_is_scratch(p)) {
        free(p);
        return;
    }
    threads_buf_check(p);
    canary = NULL;
}

int
threads_run(struct threads *t, void (*fn)(void *), void *arg)
{
    struct start *s = malloc(sizeof(*s));
    pthread_t tid;
    int err;

    if (s == NULL)
        return ENOMEM;
    *s = (struct start){ .pool = t, .job = { .fn = fn, .arg = arg } };
    err = pthread_create(&tid, &t->attr, threads_main, s);
    if (err != 0)
        free(s);
    return err;
}

int
threads_init(struct threads *t, size_t stack_size, const int *lfd, int n,
    const struct threads_ops *ops, void *ctx)
{
    int err;

    *t = (struct threads){ .ops = ops, .ctx = ctx, .nlisten = n };
    canary_value = 0x7e1e3d7e1e3d7e1eull ^ (uint64_t)(uintptr_t)t;
    if (n > THREADS_MAX_LISTEN)
        return -1;
    for (int i = 0; i < n; i++)
        t->lfd[i] = lfd[i];
    for (int i = 0; i < THREADS_PARK_MAX; i++) {
        t->ep[i] = -1;
        t->ep_free[i] = THREADS_PARK_MAX - 1 - i;
    }
    t->nep_free = THREADS_PARK_MAX;
    if ((t->short_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
        return -1;
    if (pthread_mutex_init(&t->lock, NULL) != 0 ||
        pthread_cond_init(&t->left, NULL) != 0)
        return -1;
    if (pthread_attr_init(&t->attr) != 0 ||
        pthread_attr_setdetachstate(&t->attr, PTHREAD_CREATE_DETACHED) != 0 ||
        pthread_attr_setstacksize(&t->attr, stack_size) != 0)
        return -1;
    /* The first acceptor; a worker without listeners needs none. */
    if (n > 0 && (err = threads_run(t, NULL, NULL)) != 0) {
        errno = err;
        return -1;
    }
    return 0;
}

void
threads_trim_stack(void)
{
    static const size_t margin = 256;   /* this frame and madvise()'s */
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t here = (uintptr_t)&page, end;

    if (stack_lo == 0)
        threads_learn_stack();
    if (stack_lo == 0 || here <= stack_lo + margin + page)
        return;
    end = (here - margin) & ~(page - 1);
    if (end > stack_lo)
        (void)madvise((void *)stack_lo, end - stack_lo, MADV_DONTNEED);
    /* Its page is gone: threads_buf_rearm() arms it again. */
    if (canary != NULL && (uintptr_t)canary < end)
        canary = NULL;
}

void
threads_accept_failed(struct threads *t, int err)
{
    int64_t now;

    if (err == 0) {
        if (!atomic_load_explicit(&t->starving, memory_order_relaxed))
            return;
        pthread_mutex_lock(&t->lock);
        if (t->starved_since_ms != 0 && t->starved_logged)
            log_info("accept works again after %lld ms (%llu attempt(s) "
                "paused)", (long long)(mono_ms() - t->starved_since_ms),
                (unsigned long long)t->starved_tries);
        t->starved_since_ms = 0;
        t->starved_logged = 0;
        atomic_store(&t->starving, 0);
        pthread_mutex_unlock(&t->lock);
        return;
    }
    if (err == EAGAIN || err == EINTR || err == ECONNABORTED)
        return;
    if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
        errno = err;
        log_warn("accept");
        return;
    }
    /*
     * Out of descriptors (or memory): the client stays in the backlog and
     * the socket stays readable, so without a pause the wait would spin.
     * One line for the whole spell, not one per attempt (it may last for
     * hours), and at most one a minute: at the limit, spells come and go
     * with each close.
     */
    now = mono_ms();
    pthread_mutex_lock(&t->lock);
    if (t->starved_since_ms == 0) {
        t->starved_since_ms = now;
        t->starved_tries = 0;
        t->starved_logged = t->starved_warned_ms == 0 ||
            now - t->starved_warned_ms >= THREADS_STARVED_LOG_MS;
        if (t->starved_logged) {
            errno = err;
            log_warn("accept (pausing accepts %d ms at a time until it "
                "works again; said at most once a minute)",
                THREADS_STARVED_PAUSE_MS);
            t->starved_warned_ms = now;
        }
        atomic_store(&t->starving, 1);
    }
    t->starved_tries++;
    pthread_mutex_unlock(&t->lock);
    usleep(THREADS_STARVED_PAUSE_MS * 1000);
}

/* The epoll set of slot i, made on first use; -1 if it cannot be. */
static int
threads_ep(struct threads *t, int i)
{
    int ep = t->ep[i];

    if (ep >= 0)
        return ep;
    if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
        return -1;
    for (int k = 0; k < t->nlisten; k++) {
        struct epoll_event ev = {
            .events = EPOLLIN | EPOLLEXCLUSIVE, .data.u32 = (uint32_t)k,
        };

        if (epoll_ctl(ep, EPOLL_CTL_ADD, t->lfd[k], &ev) == -1) {
            close(ep);
            return -1;
        }
    }
    return t->ep[i] = ep;
}

/* Nobody accepts: tell the main thread (threads_short()); lock held. */
static void
threads_set_short(struct threads *t)
{
    uint64_t one = 1;

    t->short_of_spares = 1;
    (void)!write(t->short_fd, &one, sizeof(one));
}

/* Leave the waiting threads; t->lock held.  The number still waiting. */
static int
threads_leave(struct threads *t, struct threads_waiter *me, int slot)
{
    if (me->prev != NULL)
        me->prev->next = me->next;
    else
        t->waiting = me->next;
    if (me->next != NULL)
        me->next->prev = me->prev;
    t->nwaiting--;
    t->ep_free[t->nep_free++] = slot;
    if (t->stopping) {
        struct timespec zero = { 0, 0 };
        sigset_t s;

        /* threads_stop() signalled us, perhaps after our last wait. */
        sigemptyset(&s);
        sigaddset(&s, RELAY_WAKE_SIG);
        (void)sigtimedwait(&s, NULL, &zero);
        if (t->nwaiting == 0)
            pthread_cond_broadcast(&t->left);
    }
    return t->nwaiting;
}

/*
 * Between jobs: accept the next client and make its job (0), or -1 when
 * the thread should end (stopping, enough others wait, or it cannot).
 */
/* Not inlined: its frame would stay under every job's for nothing (an
 * idle connection's stack is two pages, with little to spare). */
static __attribute__((noinline)) int
threads_next(struct threads *t, struct threads_job *j, void *room)
{
    struct threads_waiter me = { .tid = pthread_self() };
    struct epoll_event ev[THREADS_MAX_LISTEN];
    int skip = !accept_first;
    int slot, ep, spare, err, trimmed = 0, timeout = THREADS_TRIM_AFTER_MS;
    sigset_t wake;

    sigfillset(&wake);
    sigdelset(&wake, RELAY_WAKE_SIG);
    pthread_mutex_lock(&t->lock);
    if (t->stopping || t->nep_free == 0 || t->nlisten == 0) {
        pthread_mutex_unlock(&t->lock);
        return -1;
    }
    if ((ep = threads_ep(t, slot = t->ep_free[t->nep_free - 1])) == -1) {
        /* Out of descriptors, say: if nobody else waits, the main
         * thread must accept. */
        log_warn("cannot set up a connection thread's wait for clients");
        if (t->nwaiting == 0)
            threads_set_short(t);
        pthread_mutex_unlock(&t->lock);
        return -1;
    }
    t->nep_free--;
    /* Listed while on this frame: every way out leaves (threads_leave()). */
    me.next = t->waiting;
    if (me.next != NULL)
        me.next->prev = &me;
    /* cppcheck-suppress autoVariables ; unlisted before we return */
    t->waiting = &me;
    t->nwaiting++;
    t->short_of_spares = 0;
    pthread_mutex_unlock(&t->lock);

    for (;;) {
        int k = atomic_load_explicit(&t->last,
            memory_order_relaxed), fd, n;
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int64_t waited;

        /* A flood of refused clients must not keep us from a stop. */
        if (atomic_load(&t->stopping)) {
            pthread_mutex_lock(&t->lock);
            break;
        }
        if (skip) {
            /* As if the accept had found none: to the wait. */
            skip = 0;
            fd = -1;
            errno = EAGAIN;
        } else {
            fd = accept4(t->lfd[k], (struct sockaddr *)&ss, &len,
                SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd == -1 && errno == EAGAIN)
                accept_first = 0;
        }
        if (fd >= 0) {
            threads_accept_failed(t, 0);
            if (t->ops->admit(t->ctx, fd, (struct sockaddr *)&ss, j,
                room) != 0)
                continue;
            pthread_mutex_lock(&t->lock);
            spare = threads_leave(t, &me, slot) > 0 || t->stopping;
            pthread_mutex_unlock(&t->lock);
            /* Nobody accepts while we serve: a spare first. */
            if (!spare && (err = threads_run(t, NULL, NULL)) != 0) {
                pthread_mutex_lock(&t->lock);
                if (t->nwaiting == 0)
                    threads_set_short(t);
                pthread_mutex_unlock(&t->lock);
                t->ops->spare_failed(t->ctx, err);
            }
            return 0;
        }
        err = errno;
        threads_accept_failed(t, err);
        if (err != EAGAIN)
            continue;               /* the loop's top sees a stop */
        waited = mono_us();
        n = epoll_pwait(ep, ev, t->nlisten, timeout, &wake);
        if (n > 0) {
            atomic_store_explicit(&t->last,
                (int)ev[0].data.u32, memory_order_relaxed);
            /* A client queued before we looked (no sleep): there may be
             * more next time too; else the next wait comes first. */
            accept_first = mono_us() - waited < THREADS_QUEUED_US;
            continue;
        }
        err = errno;
        pthread_mutex_lock(&t->lock);
        if (t->stopping)
            break;
        if (n == -1 && err != EINTR) {
            errno = err;
            log_warn("epoll_pwait on the listening sockets");
            if (t->nwaiting == 1)
                threads_set_short(t);   /* the main thread takes over */
            break;
        }
        if (n == 0 && trimmed && t->nwaiting > 1)
            break;                  /* enough others wait */
        pthread_mutex_unlock(&t->lock);
        if (n == 0 && !trimmed) {
            /* Still idle: the stack below goes back. */
            threads_trim_stack();
            trimmed = 1;
            timeout = THREADS_PARK_MS - THREADS_TRIM_AFTER_MS;
        } else if (n == 0) {
            timeout = -1;           /* the last one waits for good */
        }
    }
    /* t->lock held */
    (void)threads_leave(t, &me, slot);
    pthread_mutex_unlock(&t->lock);
    return -1;
}

static void *
threads_main(void *arg)
{
    struct start s = *(struct start *)arg;
    struct threads_job j = s.job;
    _Alignas(max_align_t) unsigned char room[THREADS_ROOM];

    free(arg);
    threads_learn_stack();
    frames_top = (uintptr_t)room;
    do
        if (j.fn != NULL)
            j.fn(j.arg);
    while (threads_next(s.pool, &j, room) == 0);
    return NULL;
}

void
threads_stop(struct threads *t)
{
    pthread_mutex_lock(&t->lock);
    t->stopping = 1;
    for (struct threads_waiter *w = t->waiting; w != NULL; w = w->next)
        (void)pthread_kill(w->tid, RELAY_WAKE_SIG);
    while (t->nwaiting > 0)
        pthread_cond_wait(&t->left, &t->lock);
    for (int i = 0; i < THREADS_PARK_MAX; i++)
        if (t->ep[i] >= 0) {
            close(t->ep[i]);
            t->ep[i] = -1;
        }
    pthread_mutex_unlock(&t->lock);
}

int
threads_short(struct threads *t)
{
    uint64_t n;
    int r;

    (void)!read(t->short_fd, &n, sizeof(n));
    pthread_mutex_lock(&t->lock);
    r = t->short_of_spares && t->nwaiting == 0 && !t->stopping;
    pthread_mutex_unlock(&t->lock);
    return r;
}
