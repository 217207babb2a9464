/*
 * upgrade.c - SIGUSR2: replace the running binary without dropping a
 * connection, as nginx does.
 *
 * Old master: rename the pid file to <pidfile>.oldbin, fork, and exec the
 * binary at the same path with
 * TELEMT_INHERIT="listen=3,4;shm=5;ready=6;offer=7" naming the listening
 * sockets, the shared region's memfd, the write end of a READY pipe and
 * one end of an offer socket (only these lose close-on-exec, in the
 * child).  The new master validates its config, adopts the sockets,
 * attaches the region, starts its workers, offers each worker's
 * hand-over socket on the offer socket (with its state-record version),
 * writes the pid file and writes "1" to the pipe.  Only then does the
 * old master stop accepting: each of its workers gets one of the offered
 * sockets and moves every live connection over (worker/handoff.c), and
 * the old master exits once they have.  With another record version (or
 * no offer) the old workers drain instead, for upgrade_drain_timeout.  If
 * the new binary exits or closes the pipe first, the old master renames
 * its pid file back and carries on.
 */
#include "master.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../worker/handoff.h"
#include "ctl.h"
#include "log.h"

#define UPGRADE_ENV             "TELEMT_INHERIT"

static void
upgrade_rename_pidfile(struct master *m, int forward)
{
    char old[1100];
    int r;

    if (!m->pidfile_ours)
        return;
    snprintf(old, sizeof(old), "%s.oldbin", m->cfg->pidfile);
    r = forward ? rename(m->cfg->pidfile, old) : rename(old,
        m->cfg->pidfile);
    if (r == -1)
        log_warn("rename of the pid file %s", forward ? "to .oldbin" :
            "back from .oldbin");
}

static int
clear_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFD);

    return fl == -1 ? -1 : fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
}

void
upgrade_start(struct master *m)
{
    char env[512];
    size_t n = 0;
    int p[2], o[2];
    pid_t pid;

    if (m->upgrade_pid > 0 || m->upgrade_fd >= 0) {
        log_warnx("SIGUSR2: an upgrade is already in progress");
        return;
    }
    if (m->old_pid > 0 && getppid() == m->old_pid) {
        log_warnx("SIGUSR2: the old binary (pid %d) still runs; let it "
            "finish first", (int)m->old_pid);
        return;
    }
    if (m->region_fd < 0) {
        log_warnx("SIGUSR2: no region descriptor to hand over");
        return;
    }
    if (pipe2(p, O_CLOEXEC) == -1) {
        log_warn("SIGUSR2: pipe");
        return;
    }
    if (ctl_pair(o) == -1) {
        log_warn("SIGUSR2: socketpair");
        close(p[0]);
        close(p[1]);
        return;
    }
    n += (size_t)snprintf(env + n, sizeof(env) - n, "listen=");
    for (int i = 0; i < m->nslots; i++)
        for (int k = 0; k < m->slots[i].nfds; k++)
            n += (size_t)snprintf(env + n, sizeof(env) - n, "%s%d",
                env[n - 1] == '=' ? "" : ",", m->slots[i].fds[k]);
    snprintf(env + n, sizeof(env) - n, ";shm=%d;ready=%d;offer=%d",
        m->region_fd, p[1], o[1]);
    upgrade_rename_pidfile(m, 1);
    pid = fork();
    if (pid == -1) {
        log_warn("SIGUSR2: fork");
        close(p[0]);
        close(p[1]);
        close(o[0]);
        close(o[1]);
        upgrade_rename_pidfile(m, 0);
        return;
    }
    if (pid == 0) {
        for (int i = 0; i < m->nslots; i++)
            for (int k = 0; k < m->slots[i].nfds; k++)
                clear_cloexec(m->slots[i].fds[k]);
        clear_cloexec(m->region_fd);
        clear_cloexec(p[1]);
        clear_cloexec(o[1]);
        setenv(UPGRADE_ENV, env, 1);
        execv(m->exe, m->argv);
        log_warn("SIGUSR2: execv(%s)", m->exe);
        _exit(127);
    }
    close(p[1]);
    close(o[1]);
    m->upgrade_pid = pid;
    m->upgrade_fd = p[0];
    m->offer_fd = o[0];
    log_info("SIGUSR2: started %s as pid %d; waiting for it to be ready",
        m->exe, (int)pid);
}

int
upgrade_poll(struct master *m)
{
    struct pollfd pf = { .fd = m->upgrade_fd, .events = POLLIN };
    char c;
    ssize_t r;

    if (poll(&pf, 1, 0) <= 0)
        return 0;
    r = read(m->upgrade_fd, &c, 1);
    if (r == -1 && (errno == EAGAIN || errno == EINTR))
        return 0;
    close(m->upgrade_fd);
    m->upgrade_fd = -1;
    if (r == 1)
        return 1;
    close(m->offer_fd);
    m->offer_fd = -1;
    /* EOF without READY: the new binary failed; we keep serving. */
    if (m->upgrade_pid > 0)
        kill(m->upgrade_pid, SIGKILL);
    upgrade_rename_pidfile(m, 0);
    log_errorx("upgrade failed: the new binary exited before it was ready; "
        "still serving with this one");
    return 0;
}

/* Parse "a,b,c" into fds; -1 if malformed. */
static int
parse_fds(const char *s, const char *end, int *fds, int *n, int max)
{
    *n = 0;
    while (s < end) {
        char *e;
        long v = strtol(s, &e, 10);

        if (e == s || v < 0 || v > 1 << 20 || *n >= max)
            return -1;
        fds[(*n)++] = (int)v;
        s = e;
        if (s < end && *s++ != ',')
            return -1;
    }
    return 0;
}

int
upgrade_inherited(int *fds, int *nfds, int maxfds, int *region_fd,
    int *ready_fd, int *offer_fd)
{
    const char *env = getenv(UPGRADE_ENV), *l, *sh, *rd, *of, *semi;

    if (env == NULL || strncmp(env, "listen=", 7) != 0)
        return -1;
    l = env + 7;
    semi = strchr(l, ';');
    sh = strstr(env, ";shm=");
    rd = strstr(env, ";ready=");
    of = strstr(env, ";offer=");
    if (semi == NULL || sh == NULL || rd == NULL || of == NULL ||
        parse_fds(l, semi, fds, nfds, maxfds) != 0)
        return -1;
    *region_fd = atoi(sh + 5);
    *ready_fd = atoi(rd + 7);
    *offer_fd = atoi(of + 7);
    unsetenv(UPGRADE_ENV);
    /* Ours now; nothing we start later may inherit them by accident. */
    for (int i = 0; i < *nfds; i++)
        if (fcntl(fds[i], F_SETFD, FD_CLOEXEC) == -1)
            return -1;
    if (fcntl(*region_fd, F_SETFD, FD_CLOEXEC) == -1 ||
        fcntl(*ready_fd, F_SETFD, FD_CLOEXEC) == -1 ||
        fcntl(*offer_fd, F_SETFD, FD_CLOEXEC) == -1)
        return -1;
    return 0;
}

void
upgrade_offer(struct master *m)
{
    int n = 0;

    for (int i = 0; i < m->nslots; i++) {
        struct ctl_msg msg = { .type = CTL_OFFER, .arg = HANDOFF_VERSION,
            .generation = (uint64_t)i };

        if (m->slots[i].give_fd < 0)
            continue;
        if (ctl_send(m->offer_fd, &msg, m->slots[i].give_fd) == -1) {
            log_warn("upgrade: offering worker %d's hand-over socket", i);
            continue;
        }
        n++;
    }
    log_info("upgrade: offered %d worker(s) to the old binary for its "
        "connections (state record version %d)", n, HANDOFF_VERSION);
    close(m->offer_fd);
    m->offer_fd = -1;
}

void
upgrade_handover(struct master *m)
{
    int give[MASTER_MAX_SLOTS], ngive = 0, other = 0, fd, handed = 0;
    struct ctl_msg msg;

    /* The offers were queued before READY was written: all here now. */
    while (m->offer_fd >= 0 && ctl_recv(m->offer_fd, &msg, &fd) == 1) {
        if (msg.type != CTL_OFFER || fd < 0 || ngive == MASTER_MAX_SLOTS ||
            msg.arg != HANDOFF_VERSION) {
            if (msg.type == CTL_OFFER && msg.arg != HANDOFF_VERSION)
                other = (int)msg.arg;
            if (fd >= 0)
                close(fd);
            continue;
        }
        give[ngive++] = fd;
    }
    if (m->offer_fd >= 0)
        close(m->offer_fd);
    m->offer_fd = -1;
    if (ngive == 0)
        log_warnx("upgrade: %s; this binary's connections drain here "
            "instead%s", other != 0 ? "the new binary's connection state "
            "record has another version" : "the new binary offered no "
            "worker to hand connections to", m->cfg->upgrade_drain_timeout >
            0 ? " (for up to upgrade_drain_timeout)" : " until they end");
    if (other != 0)
        log_warnx("upgrade: state record version %d there, %d here", other,
            HANDOFF_VERSION);
    for (int i = 0; i < m->nslots; i++) {
        struct ctl_msg h = { .type = CTL_HANDOFF,
            .arg = (uint32_t)m->cfg->upgrade_drain_timeout,
            .generation = m->generation };
        struct slot *s = &m->slots[i];

        if (s->pid <= 0 || s->ctl_fd < 0)
            continue;
        if (ctl_send(s->ctl_fd, &h, ngive > 0 ? give[i % ngive] : -1) == -1)
            log_warn("upgrade: telling worker %d to hand over", i);
        else
            handed += ngive > 0;
    }
    for (int i = 0; i < ngive; i++)
        close(give[i]);
    if (handed > 0)
        log_info("upgrade: %d worker(s) hand their connections to %d new "
            "one(s)", handed, ngive);
}
