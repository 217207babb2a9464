/*
 * privs.h - who the children run as.  The master keeps root (as nginx's
 * does) so that it can write /run/telemt.pid, reopen root-owned logs and
 * upgrade itself; every child that touches the network (workers, admin,
 * the TLS probe) drops to user/group right after fork.
 */
#ifndef TELEMT_PRIVS_H
#define TELEMT_PRIVS_H

#include <sys/types.h>

#include "config.h"

struct privs {
    int drop;                           /* 1: children setuid/setgid */
    uid_t uid;
    gid_t gid;
};

/*
 * Resolve user/group for this process (before fork, while NSS works).
 * Refuses (returns -1 with a message in err) to let children run as root
 * unless allow_root, and a user that does not exist.  Not root: user and
 * group are ignored with a warning.  Then checks, in a child dropped to
 * them, that dc_bind_interface and dc_bind_ipv4/6 can be bound.
 */
int privs_resolve(const struct config *cfg, struct privs *p, char *err,
    size_t errlen);
/* In a child: drop to p (setgroups, setgid, setuid) and verify; exits on
 * failure. */
void privs_drop(const struct privs *p);
/*
 * In the master, after log_to_file() or log_reopen(): give the log file
 * just opened (by its descriptor) to p's user and group, so that children
 * can reopen it on SIGUSR1.  Logs a warning if that fails.
 */
void privs_give_log(const struct privs *p, const char *path);
/* Raise RLIMIT_NOFILE to max_open_files (0: the hard limit). */
void privs_raise_nofile(const struct config *cfg);

#endif
