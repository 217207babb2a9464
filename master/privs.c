/*
 * privs.c - resolves the configured user and group once in the master and
 * drops children to them, checking that the drop stuck (a setuid that
 * silently fails would leave a worker as root), and hands them the log
 * file the master opened (by its descriptor, never by name).
 */
#include "privs.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "net.h"

/* The user and group of privs_resolve(). */
static int
privs_ids(const struct config *cfg, struct privs *p, char *err,
    size_t errlen)
{
    memset(p, 0, sizeof(*p));
    if (geteuid() != 0) {
        if (cfg->user[0] != '\0' || cfg->group[0] != '\0')
            log_warnx("not started as root: user and group are ignored");
        return 0;
    }
    if (cfg->user[0] == '\0') {
        if (cfg->group[0] != '\0' || !cfg->allow_root) {
            snprintf(err, errlen, "%s: refusing to run the workers as root: "
                "set user (e.g. \"nobody\"), or allow_root = true",
                cfg->path);
            return -1;
        }
        return 0;
    }
    {
        struct passwd *pw = getpwnam(cfg->user);

        if (pw == NULL) {
            snprintf(err, errlen, "%s: user: no user named '%s'",
                cfg->path, cfg->user);
            return -1;
        }
        p->uid = pw->pw_uid;
        p->gid = pw->pw_gid;
    }
    if (cfg->group[0] != '\0') {
        struct group *gr = getgrnam(cfg->group);

        if (gr == NULL) {
            snprintf(err, errlen, "%s: group: no group named '%s'",
                cfg->path, cfg->group);
            return -1;
        }
        p->gid = gr->gr_gid;
    }
    if (p->uid == 0 && !cfg->allow_root) {
        snprintf(err, errlen, "%s: user '%s' is root; set allow_root = true "
            "if you mean it", cfg->path, cfg->user);
        return -1;
    }
    p->drop = 1;
    return 0;
}

/*
 * In a child dropped to p: a socket of family from src on dc_bind_
 * interface, as every outgoing connection of a worker will make it.
 * Binding a device needs no privilege since Linux 5.7 (CAP_NET_RAW
 * before), a source address must be one of this machine's: both are
 * found out here, at start, rather than at the first client.
 */
static void
privs_try_outbound(const struct config *cfg, int family, const char *key,
    const char *src, int out)
{
    const char *why;
    char msg[CONFIG_ERR_LEN];
    int fd, n;

    fd = net_socket_from(family, cfg->dc_bind_interface, src, &why);
    if (fd >= 0) {
        close(fd);
        return;
    }
    if (strcmp(why, "SO_BINDTODEVICE") == 0)
        n = snprintf(msg, sizeof(msg), "%s: dc_bind_interface: cannot bind "
            "sockets to '%s' as the workers' user: %s%s", cfg->path,
            cfg->dc_bind_interface, strerror(errno), errno == EPERM ?
            " (this kernel wants CAP_NET_RAW for SO_BINDTODEVICE; Linux "
            "5.7 and later do not)" : errno == ENODEV ? " (no such "
            "interface)" : "");
    else
        n = snprintf(msg, sizeof(msg), "%s: %s: cannot bind to '%s'%s%s: "
            "%s", cfg->path, key, src, cfg->dc_bind_interface[0] != '\0' ?
            " on " : "", cfg->dc_bind_interface, strerror(errno));
    if (n > 0)
        (void)write(out, msg, (size_t)n < sizeof(msg) ? (size_t)n :
            sizeof(msg) - 1);
    _exit(1);
}

/* Check dc_bind_* as the workers will use them; 0 or -1 with err. */
static int
privs_check_outbound(const struct config *cfg, const struct privs *p,
    char *err, size_t errlen)
{
    struct sigaction dfl, saved;
    int pfd[2], status = 0, werr = 0;
    ssize_t n;
    pid_t pid, w;

    if (cfg->dc_bind_interface[0] == '\0' && cfg->dc_bind_ipv4[0] == '\0' &&
        cfg->dc_bind_ipv6[0] == '\0')
        return 0;
    if (pipe(pfd) == -1) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    /*
     * SIG_IGN on SIGCHLD survives exec: a launcher that ignores it would
     * have the kernel reap the check, and waitpid() fail with ECHILD.
     * Default for the length of the check, then as it was.
     */
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    if (sigaction(SIGCHLD, &dfl, &saved) == -1) {
        snprintf(err, errlen, "sigaction(SIGCHLD): %s", strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        return -1;
    }
    if ((pid = fork()) == -1) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        (void)sigaction(SIGCHLD, &saved, NULL);
        close(pfd[0]);
        close(pfd[1]);
        return -1;
    }
    if (pid == 0) {
        close(pfd[0]);
        privs_drop(p);
        if (cfg->dc_bind_ipv4[0] != '\0' || cfg->dc_bind_ipv6[0] == '\0')
            privs_try_outbound(cfg, AF_INET, "dc_bind_ipv4",
                cfg->dc_bind_ipv4, pfd[1]);
        if (cfg->dc_bind_ipv6[0] != '\0')
            privs_try_outbound(cfg, AF_INET6, "dc_bind_ipv6",
                cfg->dc_bind_ipv6, pfd[1]);
        _exit(0);
    }
    close(pfd[1]);
    n = read(pfd[0], err, errlen > 0 ? errlen - 1 : 0);
    close(pfd[0]);
    while ((w = waitpid(pid, &status, 0)) == -1 && errno == EINTR)
        ;
    if (w == -1)
        werr = errno;
    (void)sigaction(SIGCHLD, &saved, NULL);
    /* Without the child's status the check did not pass. */
    if (w != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (n > 0)
        err[n] = '\0';
    else if (w == -1)
        snprintf(err, errlen, "%s: cannot check dc_bind_* as the workers' "
            "user: waitpid: %s", cfg->path, strerror(werr));
    else if (WIFSIGNALED(status))
        snprintf(err, errlen, "%s: cannot check dc_bind_* as the workers' "
            "user (the check was killed by signal %d)", cfg->path,
            WTERMSIG(status));
    else
        snprintf(err, errlen, "%s: cannot check dc_bind_* as the workers' "
            "user (the check exited with status %d)", cfg->path,
            WIFEXITED(status) ? WEXITSTATUS(status) : status);
    return -1;
}

int
privs_resolve(const struct config *cfg, struct privs *p, char *err,
    size_t errlen)
{
    if (privs_ids(cfg, p, err, errlen) != 0)
        return -1;
    return privs_check_outbound(cfg, p, err, errlen);
}

void
privs_drop(const struct privs *p)
{
    if (!p->drop)
        return;
    if (setgroups(1, &p->gid) == -1)
        fatal("setgroups(%u)", (unsigned)p->gid);
    if (setresgid(p->gid, p->gid, p->gid) == -1)
        fatal("setresgid(%u)", (unsigned)p->gid);
    if (setresuid(p->uid, p->uid, p->uid) == -1)
        fatal("setresuid(%u)", (unsigned)p->uid);
    /* Verify: none of the ids may be what it was, nor root again. */
    if (getuid() != p->uid || geteuid() != p->uid || getgid() != p->gid ||
        getegid() != p->gid || (p->uid != 0 && setuid(0) != -1))
        fatalx("privileges did not drop to uid %u gid %u",
            (unsigned)p->uid, (unsigned)p->gid);
}

void
privs_raise_nofile(const struct config *cfg)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
        return;
    if (cfg->max_open_files > 0) {
        rlim_t want = (rlim_t)cfg->max_open_files;

        /* Root may raise the hard limit too; others only up to it. */
        if (want > rl.rlim_max && geteuid() == 0)
            rl.rlim_max = want;
        rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
    } else {
        rl.rlim_cur = rl.rlim_max;
    }
    if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
        log_warn("setrlimit(RLIMIT_NOFILE, %llu)",
            (unsigned long long)rl.rlim_cur);
}

void
privs_give_log(const struct privs *p, const char *path)
{
    int fd = log_file_fd();
    struct stat st;

    if (!p->drop || fd == -1)
        return;
    /* The descriptor log.c checked, never the name: a name can be
     * swapped for a symbolic link to any file between two calls. */
    if (fstat(fd, &st) == -1) {
        log_warn("fstat(%s)", path);
        return;
    }
    if ((st.st_uid != p->uid || st.st_gid != p->gid) &&
        fchown(fd, p->uid, p->gid) == -1)
        log_warn("fchown(%s, %u, %u)", path, (unsigned)p->uid,
            (unsigned)p->gid);
}
