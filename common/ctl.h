/*
 * ctl.h - the master's control channel to each child: a SOCK_SEQPACKET
 * socketpair made at fork, one fixed-size message per packet with at
 * most one descriptor attached (SCM_RIGHTS).  The master owns its end;
 * a child reads the messages and never trusts a descriptor it did not
 * expect.  The one message a child sends is the admin process's users
 * API write (CTL_USERS), which the master treats as hostile text.
 */
#ifndef TELEMT_CTL_H
#define TELEMT_CTL_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

enum ctl_type {
    CTL_CONFIG = 1,             /* fd: sealed memfd with the config text */
    CTL_HANDOFF = 2,            /* to a worker: an upgrade; stop accepting,
                                 * hand connections to fd (-1: none, drain
                                 * them); arg = upgrade_drain_timeout */
    CTL_OFFER = 3,              /* new master -> old: fd is one of our
                                 * workers' hand-over sockets; arg = our
                                 * HANDOFF_VERSION */
    CTL_USERS = 4,              /* admin -> master: fd is a users API
                                 * write (users_edit.c); arg its number */
    CTL_USERS_DONE = 5,         /* master -> admin: its answer; arg the
                                 * request's number, generation the one
                                 * that carries the change, fd "STATUS
                                 * CODE\nMESSAGE" */
    CTL_ME = 6,                 /* master -> worker: fd is a sealed memfd
                                 * with the ME inputs (me_inputs.h);
                                 * arg unused */
};

struct ctl_msg {
    uint32_t type;              /* enum ctl_type */
    uint32_t arg;               /* type-specific; 0 if unused */
    uint64_t generation;        /* the master's reload generation */
};

/* A close-on-exec SOCK_SEQPACKET pair; 0, or -1 with errno. */
int ctl_pair(int sv[2]);
/* Send m with fd attached (-1: none) without blocking; 0, or -1. */
int ctl_send(int fd, const struct ctl_msg *m, int passfd);
/*
 * Take one message: 1 with *m filled (and *passfd the attached
 * descriptor, close-on-exec, or -1), 0 on EOF, -1 on error or when
 * nothing is waiting (errno EAGAIN).  A packet of the wrong size is an
 * error (EPROTO); extra descriptors are closed.
 */
int ctl_recv(int fd, struct ctl_msg *m, int *passfd);
/*
 * The descriptors a received message carries: the first max into fds,
 * the rest closed.  Returns how many there were (more than max: some
 * were closed).
 */
int ctl_msg_fds(struct msghdr *mh, int *fds, int max);
/* A sealed memfd holding the len bytes of text (any bytes, NUL too);
 * -1 on failure. */
int ctl_text_fd(const char *text, size_t len);
/*
 * Read a memfd made by ctl_text_fd() into a NUL-terminated malloc()ed
 * string; NULL if it is not a sealed regular file of at most max bytes
 * holding no NUL, or out of memory.
 */
char *ctl_fd_text(int fd, size_t max);
/* The same for binary contents (NUL allowed): *len bytes, malloc()ed. */
uint8_t *ctl_fd_bytes(int fd, size_t max, size_t *len);

#endif
