/*
 * loop.c - the master's loop: signals taken synchronously, and the
 * graceful stop.
 *
 * The master blocks its signals and takes them with sigtimedwait(),
 * handling them in a fixed order each round: reap dead children, then
 * stop, reload, reopen logs, upgrade; then start what is due (spawn.c).
 */
#include "master.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* How long past its deadline a stop waits before KILL. */
#define LOOP_KILL_GRACE_MS      5000

/*
 * Graceful stop: workers stop accepting and finish their connections for
 * up to shutdown_timeout; a second TERM or INT, or the deadline plus a
 * grace, ends them with KILL.  After an upgrade the workers hand their
 * connections to the new binary instead, and what they cannot hand over
 * may go on for upgrade_drain_timeout (0: until it ends).
 */
static void
loop_stop(struct master *m, const sigset_t *set, int upgraded)
{
    int t = upgraded ? m->cfg->upgrade_drain_timeout :
        m->cfg->shutdown_timeout;
    int64_t deadline = upgraded && t == 0 ? INT64_MAX :
        mono_ms() + (int64_t)t * 1000 + LOOP_KILL_GRACE_MS;
    struct timespec tick = { .tv_sec = 0, .tv_nsec = 50 * 1000 * 1000 };
    int killed = 0;

    if (upgraded) {
        upgrade_handover(m);
        if (m->admin.pid > 0)
            kill(m->admin.pid, SIGTERM);
        if (m->probe_pid > 0)
            kill(m->probe_pid, SIGTERM);
        if (m->me.pid > 0)
            kill(m->me.pid, SIGTERM);
    } else {
        spawn_signal_all(m, SIGTERM);
    }
    /* Stop accepting for good: with our copies open the kernel would go
     * on completing connections that nobody will serve.  After an upgrade
     * the new master holds copies of its own. */
    for (int i = 0; i < m->nslots; i++) {
        for (int k = 0; k < m->slots[i].nfds; k++)
            close(m->slots[i].fds[k]);
        m->slots[i].nfds = 0;
    }
    if (m->admin_fd >= 0) {
        close(m->admin_fd);
        m->admin_fd = -1;
    }
    while (spawn_children_left(m) > 0) {
        int sig = sigtimedwait(set, NULL, &tick);

        spawn_reap(m, 1);
        if (!killed && (sig == SIGTERM || sig == SIGINT ||
            mono_ms() >= deadline)) {
            log_warnx("%s: killing %d process(es)", sig > 0 ?
                "second signal" : upgraded ? "upgrade_drain_timeout passed" :
                "shutdown_timeout passed",
                spawn_children_left(m));
            spawn_signal_all(m, SIGKILL);
            killed = 1;
        }
    }
}

/* SIGUSR1: reopen our log file and have every child reopen its own. */
static void
loop_reopen(struct master *m)
{
    if (log_reopen() == -1) {
        log_warn("cannot reopen the log file %s, lines still go to the "
            "old one (only a regular file with a single link is opened, "
            "never through a symbolic link)", m->cfg->log_file);
        return;
    }
    /* Children run as the configured user: let them reopen it too. */
    if (m->cfg->log_file[0] != '\0')
        privs_give_log(&m->privs, m->cfg->log_file);
    for (int i = 0; i < m->nslots; i++)
        if (m->slots[i].pid > 0)
            kill(m->slots[i].pid, SIGUSR1);
    if (m->admin.pid > 0)
        kill(m->admin.pid, SIGUSR1);
    log_info("log file reopened");
}

static void
loop_remove_pidfile(struct master *m, const char *suffix)
{
    char path[PATH_BUF_LEN];

    if (!m->pidfile_ours)
        return;
    snprintf(path, sizeof(path), "%s%s", m->cfg->pidfile, suffix);
    if (unlink(path) == -1 && errno != ENOENT)
        log_warn("unlink(%s)", path);
}

void
master_sigset(sigset_t *set)
{
    static const int sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1,
        SIGUSR2 };

    sigemptyset(set);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaddset(set, sigs[i]);
}

int
master_loop(struct master *m)
{
    struct timespec tick = { .tv_sec = 0, .tv_nsec = 100 * 1000 * 1000 };
    sigset_t set;
    char line[4096];
    int upgraded = 0;

    master_sigset(&set);
    for (;;) {
        int sig = sigtimedwait(&set, NULL, &tick);

        /* Fixed order: reap, stop, reload, reopen, upgrade. */
        spawn_reap(m, 0);
        if (m->upgrade_fd >= 0 && upgrade_poll(m) == 1) {
            log_info("the new binary is serving; this old master stops");
            upgraded = 1;
        }
        if (upgraded) {
            log_info("upgrade done: stopping; connections move to the new "
                "binary");
        } else if (sig == SIGTERM || sig == SIGINT) {
            log_info("%s: stopping; connections may finish for up to %d s",
                sig == SIGTERM ? "SIGTERM" : "SIGINT",
                m->cfg->shutdown_timeout);
        }
        if (upgraded || sig == SIGTERM || sig == SIGINT) {
            loop_stop(m, &set, upgraded);
            quota_save(m);
            stats_format(m->stats, line, sizeof(line));
            log_info("stats: %s", line);
            loop_remove_pidfile(m, upgraded ? ".oldbin" : "");
            log_info("stopped");
            return 0;
        }
        if (sig == SIGHUP) {
            reload_run(m);
            me_fetch_reload(m);
        }
        if (sig == SIGUSR1)
            loop_reopen(m);
        if (sig == SIGUSR2)
            upgrade_start(m);
        spawn_due(m);
        quota_tick(m);
        users_edit_poll(m);
        me_fetch_tick(m);
    }
}
