/*
 * privs.c - resolves the configured user and group once in the master and
 * drops children to them, checking that the drop stuck (a setuid that
 * silently fails would leave a worker as root), and hands them the log
 * file the master opened (by its descriptor, never by name).
 */
#include "privs.h"

#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

int
privs_resolve(const struct config *cfg, struct privs *p, char *err,
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
