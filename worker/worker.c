/*
 * worker.c - the worker process: its connection threads accept on the
 * slot's sockets and serve what they accept (threads.c); the main thread
 * steps in only when none can start.
 *
 * Whether a client may have a connection is decided as it is accepted
 * (conn_admit()): past max_connections it goes straight to the mask host
 * (closed at once with mask off), counted.  Every signal is blocked
 * before the first thread starts so threads inherit a full mask; the main
 * thread alone reads TERM/INT from a signalfd and the master's control
 * messages (a reload's config) from its channel.  EOF on the death pipe
 * means the master is gone, and the worker exits.
 */
#include "worker.h"

#include <sys/signalfd.h>
#include <sys/socket.h>

#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adopt.h"
#include "conn.h"
#include "ctl.h"
#include "dc_health.h"
#include "dc_probe.h"
#include "handoff.h"
#include "me_pool.h"
#include "log.h"
#include "me_inputs.h"
#include "net.h"
#include "upstream.h"
#include "util.h"
#include "xmem.h"

static int
worker_signalfd(void)
{
    static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };

    /* Before any thread starts, so that every thread inherits the mask. */
    return signalfd_block_all(sigs, (int)(sizeof(sigs) / sizeof(sigs[0])));
}

#define WORKER_THREAD_LOG_MS    60000
static _Atomic int64_t thread_warned_ms;    /* no thread could start */
static _Atomic int64_t spare_warned_ms;     /* no spare could start */

/* 1 if a line last said at *last (0: never) may be said again now, once
 * a minute; any thread. */
static int
worker_may_say(_Atomic int64_t *last)
{
    int64_t now = mono_ms(), was = atomic_load(last);

    return (was == 0 || now - was >= WORKER_THREAD_LOG_MS) &&
        atomic_compare_exchange_strong(last, &was, now);
}

/* No thread could start for a client: said once a minute, not per client
 * (it comes in storms). */
static void
worker_thread_failed(void)
{
    if (worker_may_say(&thread_warned_ms))
        log_warnx("cannot start a connection thread: resetting "
            "clients until one starts (conn_refused_thread counts "
            "them; said at most once a minute)");
}

/* A client that cannot be served: as an overloaded server's looks. */
static void
worker_refuse(struct worker *w, int fd)
{
    STATS_ADD(w->stats, conn_refused_thread, 1);
    worker_thread_failed();
    net_reset_on_close(fd);
    close(fd);
}

/* threads_ops.admit: on the connection thread that accepted fd. */
static int
worker_admit(void *ctx, int fd, const struct sockaddr *peer,
    struct threads_job *job, void *room)
{
    struct worker *w = ctx;
    int r = conn_admit(w, fd, peer, job, room, THREADS_ROOM);

    if (r < 0)
        worker_refuse(w, fd);
    return r == 0 ? 0 : -1;
}

static void
worker_spare_failed(void *ctx, int err)
{
    (void)ctx;
    if (worker_may_say(&spare_warned_ms))
        log_warnx("no spare thread to wait for clients could start (%s): "
            "the main thread accepts until one can (said at most once a "
            "minute)", strerror(err));
}

static const struct threads_ops worker_threads_ops = {
    .admit = worker_admit,
    .spare_failed = worker_spare_failed,
};

/*
 * Connection threads accept for themselves (threads.c); the main thread
 * only when none can, a thread per client, as long as that lasts.
 */
static void
worker_accept(struct worker *w, int lfd)
{
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int fd = accept4(lfd, (struct sockaddr *)&ss, &len,
            SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd == -1) {
            threads_accept_failed(&w->threads, errno);
            return;
        }
        threads_accept_failed(&w->threads, 0);
        if (conn_spawn(w, fd, (struct sockaddr *)&ss) < 0)
            worker_refuse(w, fd);
    }
}

/* Nothing to do: the signal only has to interrupt a relay's ppoll(). */
static void
worker_wake(int sig)
{
    (void)sig;
}

/*
 * Stop accepting for good: our copies of the sockets go (the master and
 * the next binary keep theirs); connections may go on until deadline_ms
 * (monotonic), when the timeout called key has passed.
 */
static void
worker_stop_accepting(struct worker *w, const char *key, int64_t deadline_ms)
{
    /* No thread may be in accept() on a socket we close. */
    threads_stop(&w->threads);
    for (int i = 0; i < w->nlisten; i++) {
        if (w->listen_fds[i] >= 0)
            close(w->listen_fds[i]);
        w->listen_fds[i] = -1;
    }
    w->draining = 1;
    w->drain_key = key;
    w->drain_started_ms = mono_ms();
    w->deadline_ms = deadline_ms;
}

/* CTL_HANDOFF: an upgrade; hand every connection to fd's worker. */
static void
worker_upgrade(struct worker *w, const struct ctl_msg *m, int fd)
{
    int n;

    if (w->draining) {
        if (fd >= 0)
            close(fd);
        return;
    }
    /* upgrade_drain_timeout 0: until they end. */
    worker_stop_accepting(w, "upgrade_drain_timeout", m->arg > 0 ?
        mono_ms() + (int64_t)m->arg * 1000 : INT64_MAX);
    n = handoff_begin(w, fd);
    if (fd >= 0)
        log_info("upgrade: handing %d connection(s) over to the new binary",
            n);
    else {
        /* None can move: each counts as a failed hand-over. */
        STATS_ADD(w->stats, conn_handoff_failed,
            (uint64_t)atomic_load(&w->active));
        log_info("upgrade: draining %d connection(s) here%s",
            atomic_load(&w->active), m->arg > 0 ? " for a while" :
            " until they end");
    }
}

/* What a worker takes from a CTL_ME memfd: both lists at their largest,
 * the secret and the headers. */
#define WORKER_ME_BUNDLE_MAX    (2 * ME_LIST_MAX_TEXT + ME_SECRET_MAX + 128)

/* CTL_ME: the master's current ME inputs replace what we had. */
static void
worker_me_inputs(struct worker *w, int fd)
{
    struct me_inputs in;
    size_t len;
    uint8_t *b = ctl_fd_bytes(fd, WORKER_ME_BUNDLE_MAX, &len);

    close(fd);
    if (b == NULL || me_inputs_decode(b, len, &in) != 0) {
        log_warnx("ME inputs from the master refused: not a sealed, "
            "well-formed bundle");
        free(b);
        return;
    }
    free(b);
    log_debug("ME inputs received: secret %zu bytes, IPv4 list %zu bytes, "
        "IPv6 list %zu bytes", in.secret_len, in.v4_len, in.v6_len);
    me_pool_set_inputs(w->me_pool, &in);    /* takes the contents */
}

/* The master's messages: read them all; EOF means it is gone. */
static void
worker_ctl(struct worker *w)
{
    struct ctl_msg m;
    int fd, r;

    while ((r = ctl_recv(w->ctl_fd, &m, &fd)) == 1) {
        if (m.type == CTL_CONFIG && fd >= 0) {
            adopt_config(w, &m, fd);
            continue;
        }
        if (m.type == CTL_HANDOFF) {
            worker_upgrade(w, &m, fd);
            continue;
        }
        if (m.type == CTL_ME && fd >= 0) {
            worker_me_inputs(w, fd);
            continue;
        }
        log_warnx("control message of type %u ignored", m.type);
        if (fd >= 0)
            close(fd);
    }
    if (r == 0) {
        log_warnx("master is gone, exiting");
        _exit(1);
    }
}

void
worker_main(struct worker *w)
{
    const struct config *cfg = w->snap->cfg;
    struct pollfd pfd[WORKER_MAX_LISTEN + 5];
    struct sigaction sa = { .sa_handler = worker_wake };
    int64_t trimmed_ms = 0, cut_ms = 0;
    int sfd, n = 0, high = 0, retrim = 0;

    sfd = worker_signalfd();
    sigemptyset(&sa.sa_mask);
    if (sigaction(RELAY_WAKE_SIG, &sa, NULL) == -1)
        fatal("sigaction");
    w->handoff_fd = -1;
    atomic_init(&w->active, 0);
    atomic_init(&w->masked, 0);
    dc_health_init(w->stats);
    if (cfg->mode_tls && keys_start(&w->keys) != 0)
        fatalx("cannot start the key share thread");
    upstream_attach(w->stats, w->row);
    if ((w->me_pool = me_pool_new(w)) == NULL)
        fatalx("cannot start the ME pool");
    w->keys_started = cfg->mode_tls;
    if (pthread_mutex_init(&w->hs_lock, NULL) != 0 ||
        pthread_mutex_init(&w->all_lock, NULL) != 0 ||
        pthread_mutex_init(&w->log_lock, NULL) != 0)
        fatalx("cannot set up the connection list locks");
    TAILQ_INIT(&w->hs_list);
    LIST_INIT(&w->all_list);
    /* Last: from here connection threads accept and serve. */
    if (threads_init(&w->threads, (size_t)cfg->thread_stack_size,
        w->listen_fds, w->nlisten, &worker_threads_ops, w) != 0)
        fatal("cannot start the connection threads");
    log_info("started, %d listening socket(s)", w->nlisten);

    pfd[0] = (struct pollfd){ .fd = w->recv_fd, .events = POLLIN };
    pfd[1] = (struct pollfd){ .fd = w->ctl_fd, .events = POLLIN };
    pfd[2] = (struct pollfd){ .fd = sfd, .events = POLLIN };
    pfd[3] = (struct pollfd){ .fd = w->death_fd, .events = POLLIN };
    pfd[4] = (struct pollfd){ .fd = w->threads.short_fd, .events = POLLIN };

    for (;;) {
        int64_t now = mono_ms();

        /* poll() below waits at most WORKER_CUT_MS. */
        atomic_store_explicit(&w->me->heartbeat_ms, now,
            memory_order_relaxed);

        if (w->draining && (atomic_load(&w->active) == 0 ||
            now >= w->deadline_ms)) {
            if (atomic_load(&w->active) > 0)
                log_warnx("%s passed: cutting %d connection(s)",
                    w->drain_key, atomic_load(&w->active));
            else
                log_info("drained in %lld ms (%llu handed over)",
                    (long long)(now - w->drain_started_ms),
                    (unsigned long long)atomic_load(&w->handed));
            /* _exit: threads may still use libcrypto; skip atexit. */
            _exit(0);
        }
        /*
         * After many connections ended, hand the memory malloc kept for
         * them back to the system: threads allocate from several arenas
         * and glibc only trims the top of each on its own.  Again in the
         * next periods: their threads free what they hold as they end,
         * some only when their wait for a next client runs out.
         */
        if (atomic_load(&w->active) > high)
            high = atomic_load(&w->active);
        if (now - trimmed_ms >= WORKER_TRIM_MS) {
            if (high - atomic_load(&w->active) >= WORKER_TRIM_CLOSED)
                retrim = WORKER_TRIM_AGAIN + 1;
            if (retrim > 0) {
                (void)malloc_trim(0);
                retrim--;
            }
            high = atomic_load(&w->active);
            trimmed_ms = now;
        }
        /* Users disabled, expired or over quota: cut within a second. */
        if (now - cut_ms >= WORKER_CUT_MS) {
            int cut = conn_cut_limited(w);

            if (cut > 0)
                log_info("cut %d connection(s) of users past a limit", cut);
            cut_ms = now;
        }
        dc_probe_tick(w, now);
        /* The listeners, only while no connection thread can take them. */
        n = 5;
        if (!w->draining && threads_short(&w->threads))
            for (int i = 0; i < w->nlisten; i++)
                pfd[n++] = (struct pollfd){
                    .fd = w->listen_fds[i], .events = POLLIN,
                };
        if (poll(pfd, (nfds_t)n, w->draining || n > 5 ? 100 :
            WORKER_CUT_MS) == -1) {
            if (errno == EINTR)
                continue;
            fatal("poll");
        }
        for (int i = 5; i < n && !w->draining; i++)
            if (pfd[i].revents & POLLIN)
                worker_accept(w, pfd[i].fd);
        if (pfd[0].revents & POLLIN)
            handoff_receive(w);
        if (pfd[1].revents & (POLLIN | POLLHUP))
            worker_ctl(w);
        if (pfd[2].revents & POLLIN) {
            struct signalfd_siginfo si;

            while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
                if (si.ssi_signo == SIGUSR1) {
                    if (log_reopen() == -1)
                        log_warn("cannot reopen the log file");
                    continue;
                }
                if (si.ssi_signo == SIGHUP || w->draining)
                    continue;       /* reloads come over ctl_fd */
                worker_stop_accepting(w, "shutdown_timeout", mono_ms() +
                    (int64_t)w->snap->cfg->shutdown_timeout * 1000);
                log_info("signal %d: draining %d connection(s) for up to "
                    "%d s", (int)si.ssi_signo, atomic_load(&w->active),
                    w->snap->cfg->shutdown_timeout);
            }
        }
        if (pfd[3].revents & (POLLIN | POLLHUP)) {
            log_warnx("master is gone, exiting");
            _exit(1);
        }
    }
}
