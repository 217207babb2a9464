/*
 * daemon.h - detaching from the terminal and the pid file.
 */
#ifndef TELEMT_DAEMON_H
#define TELEMT_DAEMON_H

#include <sys/types.h>

/*
 * Fork; the parent waits on a pipe and exits 0 once the child calls
 * daemon_ready() (1, with the child's error on stderr, if the child exits
 * first).  The child starts a new session, moves to / and points stdin
 * and stdout at /dev/null; stderr stays until logging moves away from it.
 * Returns the pipe's write end, in the child.
 */
int daemon_start(void);
/* Tell the waiting parent (or an upgrading old master) we are ready. */
void daemon_ready(int fd);
/* Detach stderr too (after logging went to syslog or a file). */
void daemon_close_stderr(void);
/*
 * The pid recorded in path if that process is alive, else 0.  A symbolic
 * link, a FIFO or anything but a regular file there counts as stale (and
 * is never followed or waited on).
 */
pid_t pidfile_alive(const char *path);
/*
 * Write our pid to path atomically: a temp file next to it, created with
 * O_EXCL|O_NOFOLLOW (so never through a planted link), renamed over path.
 * 0, or -1 with errno.
 */
int pidfile_write(const char *path);

#endif
