/*
 * worker.c - the worker process: accepts on its slot's sockets and hands
 * each client to a detached connection thread.
 *
 * max_connections is enforced here, before a thread exists: past it a
 * new client goes straight to the mask host (closed at once with mask
 * off), counted.  Every signal is blocked
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

/* How long accepts pause when the process is out of descriptors. */
#define WORKER_STARVED_PAUSE_MS 100

/* Since when accept() fails for want of descriptors (0: it does not). */
static int64_t starved_since_ms;
static uint64_t starved_tries;
static int starved_logged;              /* this spell was logged */
static int64_t starved_warned_ms;       /* when a spell was last logged */
#define WORKER_STARVED_LOG_MS 60000
static int64_t thread_warned_ms;        /* no thread could start: logged */

static void
worker_accept(struct worker *w, int lfd)
{
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int full, fd = accept4(lfd, (struct sockaddr *)&ss, &len,
            SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd == -1) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM) {
                /*
                 * Out of descriptors (or memory): the client stays in the
                 * backlog and the socket stays readable, so without a
                 * pause poll() would spin.  One line for the whole spell,
                 * not one per attempt (it may last for hours), and at
                 * most one a minute.
                 */
                if (starved_since_ms == 0) {
                    int64_t now = mono_ms();

                    starved_since_ms = now;
                    starved_tries = 0;
                    /* At the limit, spells come and go with each close. */
                    starved_logged = starved_warned_ms == 0 ||
                        now - starved_warned_ms >= WORKER_STARVED_LOG_MS;
                    if (starved_logged) {
                        log_warn("accept (pausing accepts %d ms at a time "
                            "until it works again; said at most once a "
                            "minute)", WORKER_STARVED_PAUSE_MS);
                        starved_warned_ms = now;
                    }
                }
                starved_tries++;
                usleep(WORKER_STARVED_PAUSE_MS * 1000);
            } else if (errno != EAGAIN && errno != EINTR &&
                errno != ECONNABORTED) {
                log_warn("accept");
            }
            return;
        }
        if (starved_since_ms != 0 && starved_logged) {
            log_info("accept works again after %lld ms (%llu attempt(s) "
                "paused)", (long long)(mono_ms() - starved_since_ms),
                (unsigned long long)starved_tries);
            starved_logged = 0;
        }
        starved_since_ms = 0;
        STATS_ADD(w->stats, conn_accepted, 1);
        atomic_fetch_add_explicit(&w->me->total, 1, memory_order_relaxed);
        /* Masked connections have their own cap (mask_run()). */
        full = atomic_load(&w->active) - atomic_load(&w->masked) >=
            w->snap->cfg->max_connections;
        if (full) {
            STATS_ADD(w->stats, conn_refused_limit, 1);
            log_debug("max_connections (%d) reached, %s the client",
                w->snap->cfg->max_connections,
                w->snap->cfg->mask ? "masking" : "closing");
        }
        if (full && !w->snap->cfg->mask) {
            close(fd);
            continue;
        }
        if ((full ? conn_spawn_masked : conn_spawn)(w, fd,
            (struct sockaddr *)&ss) != 0) {
            int64_t now = mono_ms();

            STATS_ADD(w->stats, conn_refused_thread, 1);
            /* Once a minute: it comes in storms, one per client. */
            if (thread_warned_ms == 0 ||
                now - thread_warned_ms >= WORKER_STARVED_LOG_MS) {
                log_warnx("cannot start a connection thread: resetting "
                    "clients until one starts (conn_refused_thread counts "
                    "them; said at most once a minute)");
                thread_warned_ms = now;
            }
            /* As an overloaded server's client would see it. */
            net_reset_on_close(fd);
            close(fd);
        }
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
worker_stop_accepting(struct worker *w, struct pollfd *pfd, const char *key,
    int64_t deadline_ms)
{
    for (int i = 0; i < w->nlisten; i++) {
        if (w->listen_fds[i] >= 0)
            close(w->listen_fds[i]);
        w->listen_fds[i] = -1;
        pfd[i].fd = -1;
    }
    w->draining = 1;
    w->drain_key = key;
    w->drain_started_ms = mono_ms();
    w->deadline_ms = deadline_ms;
}

/* CTL_HANDOFF: an upgrade; hand every connection to fd's worker. */
static void
worker_upgrade(struct worker *w, struct pollfd *pfd, const struct ctl_msg *m,
    int fd)
{
    int n;

    if (w->draining) {
        if (fd >= 0)
            close(fd);
        return;
    }
    /* upgrade_drain_timeout 0: until they end. */
    worker_stop_accepting(w, pfd, "upgrade_drain_timeout", m->arg > 0 ?
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
worker_ctl(struct worker *w, struct pollfd *pfd)
{
    struct ctl_msg m;
    int fd, r;

    while ((r = ctl_recv(w->ctl_fd, &m, &fd)) == 1) {
        if (m.type == CTL_CONFIG && fd >= 0) {
            adopt_config(w, &m, fd);
            continue;
        }
        if (m.type == CTL_HANDOFF) {
            worker_upgrade(w, pfd, &m, fd);
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
    struct pollfd pfd[WORKER_MAX_LISTEN + 4];
    struct sigaction sa = { .sa_handler = worker_wake };
    int64_t trimmed_ms = 0, cut_ms = 0;
    int sfd, n, high = 0;

    sfd = worker_signalfd();
    sigemptyset(&sa.sa_mask);
    if (sigaction(RELAY_WAKE_SIG, &sa, NULL) == -1)
        fatal("sigaction");
    w->handoff_fd = -1;
    atomic_init(&w->active, 0);
    atomic_init(&w->masked, 0);
    if (threads_init(&w->threads, (size_t)cfg->thread_stack_size) != 0)
        fatalx("cannot set up the connection threads");
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
    log_info("started, %d listening socket(s)", w->nlisten);

    for (n = 0; n < w->nlisten; n++)
        pfd[n] = (struct pollfd){ .fd = w->listen_fds[n], .events = POLLIN };
    pfd[n++] = (struct pollfd){ .fd = w->recv_fd, .events = POLLIN };
    pfd[n++] = (struct pollfd){ .fd = w->ctl_fd, .events = POLLIN };
    pfd[n++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
    pfd[n++] = (struct pollfd){ .fd = w->death_fd, .events = POLLIN };

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
         * and glibc only trims the top of each on its own.
         */
        if (atomic_load(&w->active) > high)
            high = atomic_load(&w->active);
        if (now - trimmed_ms >= WORKER_TRIM_MS) {
            if (high - atomic_load(&w->active) >= WORKER_TRIM_CLOSED)
                (void)malloc_trim(0);
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
        if (poll(pfd, (nfds_t)n, w->draining ? 100 : WORKER_CUT_MS) == -1) {
            if (errno == EINTR)
                continue;
            fatal("poll");
        }
        for (int i = 0; i < w->nlisten && !w->draining; i++)
            if (pfd[i].revents & POLLIN)
                worker_accept(w, pfd[i].fd);
        if (pfd[n - 4].revents & POLLIN)
            handoff_receive(w);
        if (pfd[n - 3].revents & (POLLIN | POLLHUP))
            worker_ctl(w, pfd);
        if (pfd[n - 2].revents & POLLIN) {
            struct signalfd_siginfo si;

            while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
                if (si.ssi_signo == SIGUSR1) {
                    if (log_reopen() == -1)
                        log_warn("cannot reopen the log file");
                    continue;
                }
                if (si.ssi_signo == SIGHUP || w->draining)
                    continue;       /* reloads come over ctl_fd */
                worker_stop_accepting(w, pfd, "shutdown_timeout", mono_ms() +
                    (int64_t)w->snap->cfg->shutdown_timeout * 1000);
                log_info("signal %d: draining %d connection(s) for up to "
                    "%d s", (int)si.ssi_signo, atomic_load(&w->active),
                    w->snap->cfg->shutdown_timeout);
            }
        }
        if (pfd[n - 1].revents & (POLLIN | POLLHUP)) {
            log_warnx("master is gone, exiting");
            _exit(1);
        }
    }
}
