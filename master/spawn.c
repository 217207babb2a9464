/*
 * spawn.c - forks workers into their slots and supervises them.
 *
 * The master blocks its signals and takes them synchronously with
 * sigtimedwait(), handling them in a fixed order each round: reap dead
 * children, then stop.  A worker that dies is respawned on the same
 * sockets; one that dies within a second of starting waits longer each
 * time (back-off up to 30 s) so a crash loop cannot eat the CPU.
 */
#include "master.h"

#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "tlsprobe.h"
#include "util.h"
#include "../worker/worker.h"

#define SPAWN_STOP_GRACE_MS     5000
#define SPAWN_QUICK_DEATH_MS    1000
#define SPAWN_MAX_BACKOFF_MS    30000

int
spawn_worker(struct master *m, int i)
{
    struct slot *s = &m->slots[i];
    pid_t pid = fork();

    if (pid == -1) {
        log_warn("fork for worker %d", i);
        return -1;
    }
    if (pid == 0) {
        struct worker w = { 0 };
        char role[32];
        sigset_t none;

        snprintf(role, sizeof(role), "worker %d", i);
        log_set_role(role);
        close(m->death_pipe[1]);
        for (int j = 0; j < m->nslots; j++)
            if (j != i)
                for (int k = 0; k < m->slots[j].nfds; k++)
                    close(m->slots[j].fds[k]);
        signal(SIGPIPE, SIG_IGN);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        w.slot = i;
        w.nlisten = s->nfds;
        memcpy(w.listen_fds, s->fds, sizeof(w.listen_fds));
        w.death_fd = m->death_pipe[0];
        w.cfg = m->cfg;
        w.stats = m->stats;
        worker_main(&w);
    }
    s->pid = pid;
    s->started_ms = mono_ms();
    s->respawn_at_ms = 0;
    return 0;
}

static void
spawn_reap(struct master *m)
{
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == m->probe_pid) {
            m->probe_pid = 0;
            continue;
        }
        for (int i = 0; i < m->nslots; i++) {
            struct slot *s = &m->slots[i];
            int64_t now = mono_ms(), delay = 0;

            if (s->pid != pid)
                continue;
            s->pid = 0;
            if (WIFSIGNALED(status))
                log_warnx("worker %d (pid %d) killed by signal %d", i,
                    (int)pid, WTERMSIG(status));
            else
                log_warnx("worker %d (pid %d) exited with status %d", i,
                    (int)pid, WEXITSTATUS(status));
            if (now - s->started_ms < SPAWN_QUICK_DEATH_MS) {
                delay = 250LL << (s->quick_deaths < 7 ? s->quick_deaths : 7);
                if (delay > SPAWN_MAX_BACKOFF_MS)
                    delay = SPAWN_MAX_BACKOFF_MS;
                s->quick_deaths++;
            } else {
                s->quick_deaths = 0;
            }
            s->respawn_at_ms = now + delay;
        }
    }
}

static void
spawn_due(struct master *m)
{
    int64_t now = mono_ms();

    if (m->cfg->tls_emulation && m->probe_pid == 0 &&
        now >= m->probe_next_ms) {
        int pid = tlsprobe_spawn(m->cfg, m->stats);

        if (pid > 0)
            m->probe_pid = pid;
        else
            log_warn("fork for the TLS probe");
        m->probe_next_ms = now + (int64_t)m->cfg->tls_emulation_interval *
            1000;
    }

    for (int i = 0; i < m->nslots; i++) {
        struct slot *s = &m->slots[i];

        if (s->pid == 0 && s->respawn_at_ms != 0 && s->respawn_at_ms <= now) {
            if (spawn_worker(m, i) == 0)
                log_info("worker %d respawned (pid %d)", i, (int)s->pid);
            else
                s->respawn_at_ms = now + 1000;
        }
    }
}

/* TERM every worker, wait for them, KILL the stragglers. */
static void
spawn_stop_all(struct master *m)
{
    int64_t deadline = mono_ms() + SPAWN_STOP_GRACE_MS;
    int left;

    for (int i = 0; i < m->nslots; i++)
        if (m->slots[i].pid > 0)
            kill(m->slots[i].pid, SIGTERM);
    if (m->probe_pid > 0) {
        kill(m->probe_pid, SIGKILL);
        waitpid(m->probe_pid, NULL, 0);
        m->probe_pid = 0;
    }
    do {
        left = 0;
        for (int i = 0; i < m->nslots; i++) {
            struct slot *s = &m->slots[i];

            if (s->pid > 0 && waitpid(s->pid, NULL, WNOHANG) == s->pid)
                s->pid = 0;
            left += s->pid > 0;
        }
        if (left > 0)
            usleep(20000);
    } while (left > 0 && mono_ms() < deadline);
    for (int i = 0; i < m->nslots; i++)
        if (m->slots[i].pid > 0) {
            kill(m->slots[i].pid, SIGKILL);
            waitpid(m->slots[i].pid, NULL, 0);
            m->slots[i].pid = 0;
        }
}

int
spawn_loop(struct master *m)
{
    struct timespec tick = { .tv_sec = 0, .tv_nsec = 250 * 1000 * 1000 };
    sigset_t set;
    char line[2048];

    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    for (;;) {
        int sig = sigtimedwait(&set, NULL, &tick);

        /* Fixed order: reap, then stop, then the rest. */
        spawn_reap(m);
        if (sig == SIGTERM || sig == SIGINT) {
            log_info("signal %d: stopping", sig);
            spawn_stop_all(m);
            stats_format(m->stats, line, sizeof(line));
            log_info("stats: %s", line);
            log_info("stopped");
            return 0;
        }
        if (sig == SIGHUP || sig == SIGUSR1 || sig == SIGUSR2)
            log_warnx("signal %d: reload, log reopen and upgrade are not "
                "implemented yet; ignored", sig);
        spawn_due(m);
    }
}
