/*
 * spawn.c - forks workers and the admin process, reaps and respawns them.
 *
 * The master's loop (loop.c) calls spawn_reap() and spawn_due() each
 * round.  A worker that dies
 * is respawned on the same sockets (their queue waits for it); one that
 * dies within a second of starting waits longer each time (back-off up to
 * 30 s) so a crash loop cannot eat the CPU.  Each worker gets a control
 * channel (ctl.h) at fork: a reload hands it the new config there.
 *
 * Every child (workers, the admin process, the TLS probe, a new binary on
 * USR2) is made by spawn_fork(): it keeps only the master's descriptors
 * it names and starts with every signal blocked.
 */
#include "master.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../admin/admin.h"
#include "../worker/worker.h"

_Static_assert(MASTER_MAX_LISTEN == WORKER_MAX_LISTEN,
    "a slot's listening sockets are a worker's");
#include "ctl.h"
#include "log.h"
#include "tlsprobe.h"
#include "util.h"

#define SPAWN_QUICK_DEATH_MS    1000
#define SPAWN_MAX_BACKOFF_MS    30000

/* Room for every descriptor spawn_held() can list: each slot's, and the
 * master's own (its singles[], checked there). */
#define SPAWN_SINGLES   9
#define SPAWN_MAX_HELD  (MASTER_MAX_SLOTS * (MASTER_MAX_LISTEN + 2) + \
                         SPAWN_SINGLES)

/*
 * Every descriptor the master holds, for itself or for some child.  One
 * added to struct master is listed here too, so that a child gets it only
 * if it asks for it (spawn_fork()'s keep).  The log file is not listed:
 * every child writes to it.
 */
static int
spawn_held(const struct master *m, int *fds)
{
    int n = 0;

    for (int i = 0; i < m->nslots; i++) {
        for (int k = 0; k < m->slots[i].nfds; k++)
            fds[n++] = m->slots[i].fds[k];
        fds[n++] = m->slots[i].ctl_fd;
        fds[n++] = m->slots[i].give_fd;
    }
    {
        const int singles[] = { m->offer_fd, m->admin.ctl_fd,
            m->death_pipe[0], m->death_pipe[1], m->region_fd, m->admin_fd,
            m->upgrade_fd, m->ready_fd, m->me.fd };

        _Static_assert(sizeof(singles) / sizeof(singles[0]) ==
            SPAWN_SINGLES, "SPAWN_SINGLES counts the master's own");
        for (size_t k = 0; k < sizeof(singles) / sizeof(singles[0]); k++)
            fds[n++] = singles[k];
    }
    if (n > SPAWN_MAX_HELD)
        panic("spawn_held: %d descriptors, room for %d", n, SPAWN_MAX_HELD);
    return n;
}

pid_t
spawn_fork(struct master *m, const char *role, const int *keep, int nkeep,
    int drop)
{
    int held[SPAWN_MAX_HELD], n;
    sigset_t all, old;
    pid_t pid;

    /* Blocked across fork() and left so in the child: a signal sent to
     * it before it has set up its own handling (the master forwards USR1,
     * QUIT and TERM at any time) waits instead of killing it. */
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    pid = fork();
    if (pid != 0) {
        int saved = errno;

        sigprocmask(SIG_SETMASK, &old, NULL);
        errno = saved;
        return pid;
    }
    log_set_role(role);
    n = spawn_held(m, held);
    for (int i = 0; i < n; i++) {
        int kept = held[i] < 0;

        for (int j = 0; j < nkeep && !kept; j++)
            kept = held[i] == keep[j];
        if (!kept)
            close(held[i]);
    }
    if (drop)
        privs_drop(&m->privs);
    return 0;
}

/* Fork the admin process; 0, or -1 if fork failed. */
static int
spawn_admin(struct master *m)
{
    int ctl[2], keep[3];
    pid_t pid;

    if (ctl_pair(ctl) == -1) {
        log_warn("socketpair for the admin process");
        return -1;
    }
    keep[0] = m->admin_fd;
    keep[1] = m->death_pipe[0];
    keep[2] = ctl[1];
    pid = spawn_fork(m, "admin", keep, 3, 1);
    if (pid == -1) {
        log_warn("fork for the admin process");
        close(ctl[0]);
        close(ctl[1]);
        return -1;
    }
    if (pid == 0) {
        struct admin_ctx a = {
            .stats = m->stats, .ctl_fd = ctl[1],
            .death_fd = m->death_pipe[0], .listen_fd = m->admin_fd,
        };

        close(ctl[0]);
        /* Our copy of the master's config becomes the first snapshot. */
        a.snap = snapshot_new(m->cfg, m->stats, m->generation);
        if (a.snap == NULL)
            fatalx("cannot set up the config snapshot");
        if (stats_protect_readonly(m->stats) == -1)
            fatal("mprotect of the shared region");
        admin_main(&a);
    }
    close(ctl[1]);
    if (m->admin.ctl_fd >= 0)
        close(m->admin.ctl_fd);
    m->admin.ctl_fd = ctl[0];
    m->admin.pid = pid;
    m->admin.started_ms = mono_ms();
    m->admin.respawn_at_ms = 0;
    return 0;
}

int
spawn_worker(struct master *m, int i)
{
    struct slot *s = &m->slots[i];
    int row = stats_worker_claim(m->stats, i, m->generation);
    int ctl[2], hand[2];
    int keep[MASTER_MAX_LISTEN + 3], nkeep = 0;
    char role[32];
    pid_t pid;

    if (row < 0) {
        log_warnx("no free worker row in the shared region for slot %d", i);
        return -1;
    }
    if (ctl_pair(ctl) == -1) {
        log_warn("socketpair for worker %d", i);
        stats_worker_gone(m->stats, row);
        return -1;
    }
    if (ctl_pair(hand) == -1) {
        log_warn("socketpair for worker %d", i);
        close(ctl[0]);
        close(ctl[1]);
        stats_worker_gone(m->stats, row);
        return -1;
    }
    for (int k = 0; k < s->nfds; k++)
        keep[nkeep++] = s->fds[k];
    keep[nkeep++] = m->death_pipe[0];
    keep[nkeep++] = ctl[1];
    keep[nkeep++] = hand[1];
    snprintf(role, sizeof(role), "worker %d", i);
    pid = spawn_fork(m, role, keep, nkeep, 1);
    if (pid == -1) {
        log_warn("fork for worker %d", i);
        close(ctl[0]);
        close(ctl[1]);
        close(hand[0]);
        close(hand[1]);
        stats_worker_gone(m->stats, row);
        return -1;
    }
    if (pid == 0) {
        struct worker w = { 0 };

        /* Our ends, made for this fork: not in spawn_held()'s list. */
        close(ctl[0]);
        close(hand[0]);
        w.slot = i;
        w.row = row;
        w.nlisten = s->nfds;
        memcpy(w.listen_fds, s->fds, sizeof(w.listen_fds));
        w.death_fd = m->death_pipe[0];
        w.ctl_fd = ctl[1];
        w.recv_fd = hand[1];
        w.stats = m->stats;
        /* Our copy of the master's config becomes the first snapshot. */
        w.snap = snapshot_new(m->cfg, m->stats, m->generation);
        if (w.snap == NULL)
            fatalx("cannot set up the config snapshot");
        w.me = &m->stats->workers[row];
        worker_main(&w);
    }
    close(ctl[1]);
    close(hand[1]);
    s->ctl_fd = ctl[0];
    if (s->give_fd >= 0)
        close(s->give_fd);
    s->give_fd = hand[0];
    atomic_store(&m->stats->workers[row].restarts,
        atomic_load(&m->stats->slot_restarts[i]));
    stats_worker_start(m->stats, row, (int)pid);
    s->pid = pid;
    s->row = row;
    s->started_ms = mono_ms();
    s->respawn_at_ms = 0;
    /* Before its first client: a worker always has the current inputs. */
    me_fetch_send(m, i);
    return 0;
}

/* A child of slot s died: schedule its respawn, backing off if quick. */
static void
spawn_schedule(struct slot *s, int now_please)
{
    int64_t now = mono_ms(), delay = 0;

    s->pid = 0;
    if (!now_please && now - s->started_ms < SPAWN_QUICK_DEATH_MS) {
        delay = 250LL << (s->quick_deaths < 7 ? s->quick_deaths : 7);
        if (delay > SPAWN_MAX_BACKOFF_MS)
            delay = SPAWN_MAX_BACKOFF_MS;
        s->quick_deaths++;
    } else {
        s->quick_deaths = 0;
    }
    s->respawn_at_ms = now + delay;
}

/*
 * Bind admin_listen for the admin processes to come.  If the port is
 * taken, try again later, backing off as after a child that died at once,
 * while the workers go on.  0, or -1 (logged, next try scheduled).
 */
static int
spawn_admin_bind(struct master *m)
{
    int saved;

    m->admin_fd = listen_admin(m->cfg->admin_listen);
    if (m->admin_fd >= 0)
        return 0;
    saved = errno;
    m->admin.started_ms = mono_ms();
    spawn_schedule(&m->admin, 0);
    errno = saved;
    log_warn("admin endpoint: cannot listen on %s (next try in %lld ms)",
        m->cfg->admin_listen,
        (long long)(m->admin.respawn_at_ms - m->admin.started_ms));
    return -1;
}

void
spawn_admin_start(struct master *m)
{
    if (m->cfg->admin_listen[0] == '\0')
        return;
    if (m->admin_fd < 0 && spawn_admin_bind(m) != 0)
        return;
    if (spawn_admin(m) != 0)
        m->admin.respawn_at_ms = mono_ms() + 1000;
}

static void
spawn_log_death(const char *what, pid_t pid, int status)
{
    if (WIFSIGNALED(status))
        log_warnx("%s (pid %d) killed by signal %d", what, (int)pid,
            WTERMSIG(status));
    else if (WEXITSTATUS(status) != 0)
        log_warnx("%s (pid %d) exited with status %d", what, (int)pid,
            WEXITSTATUS(status));
    else
        log_info("%s (pid %d) exited", what, (int)pid);
}

void
spawn_reap(struct master *m, int stopping)
{
    char what[32];
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == m->probe_pid) {
            m->probe_pid = 0;
            continue;
        }
        if (pid == m->me.pid) {         /* its pipe says how it went */
            m->me.pid = 0;
            continue;
        }
        if (pid == m->upgrade_pid) {
            spawn_log_death("new binary", pid, status);
            m->upgrade_pid = 0;         /* upgrade_poll() rolls back */
            continue;
        }
        if (pid == m->admin.pid) {
            close(m->admin.ctl_fd);
            m->admin.ctl_fd = -1;
            if (!m->admin_now)
                spawn_log_death("admin", pid, status);
            spawn_schedule(&m->admin, m->admin_now);
            m->admin_now = 0;
            if (stopping)
                m->admin.respawn_at_ms = 0;
            continue;
        }
        for (int i = 0; pid != 0 && i < m->nslots; i++) {
            if (m->slots[i].pid != pid)
                continue;
            snprintf(what, sizeof(what), "worker %d", i);
            spawn_log_death(what, pid, status);
            /* Its connections died with it: clear its share of gauges. */
            stats_worker_gone(m->stats, m->slots[i].row);
            close(m->slots[i].ctl_fd);
            m->slots[i].ctl_fd = -1;
            spawn_schedule(&m->slots[i], 0);
            if (stopping)
                m->slots[i].respawn_at_ms = 0;
            else
                atomic_fetch_add(&m->stats->slot_restarts[i], 1);
        }
    }
}

void
spawn_due(struct master *m)
{
    int64_t now = mono_ms();

    if (m->cfg->tls_emulation && m->probe_pid == 0 &&
        now >= m->probe_next_ms) {
        pid_t pid = spawn_fork(m, "tlsprobe", NULL, 0, 1);

        if (pid == 0)
            tlsprobe_main(m->cfg, m->stats);
        if (pid > 0)
            m->probe_pid = pid;
        else
            log_warn("fork for the TLS probe");
        m->probe_next_ms = now + (int64_t)m->cfg->tls_emulation_interval *
            1000;
    }
    if (m->admin.pid == 0 && m->admin.respawn_at_ms != 0 &&
        m->admin.respawn_at_ms <= now && m->cfg->admin_listen[0] != '\0' &&
        (m->admin_fd >= 0 || spawn_admin_bind(m) == 0)) {
        if (spawn_admin(m) == 0)
            log_info("admin started (pid %d)", (int)m->admin.pid);
        else
            m->admin.respawn_at_ms = now + 1000;
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

int
spawn_children_left(const struct master *m)
{
    int n = (m->admin.pid > 0) + (m->probe_pid > 0) + (m->me.pid > 0);

    for (int i = 0; i < m->nslots; i++)
        n += m->slots[i].pid > 0;
    return n;
}

void
spawn_signal_all(struct master *m, int sig)
{
    for (int i = 0; i < m->nslots; i++)
        if (m->slots[i].pid > 0)
            kill(m->slots[i].pid, sig);
    if (m->admin.pid > 0)
        kill(m->admin.pid, sig);
    if (m->probe_pid > 0)
        kill(m->probe_pid, sig);
    if (m->me.pid > 0)
        kill(m->me.pid, sig);
}
