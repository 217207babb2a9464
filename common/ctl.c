/*
 * ctl.c - control messages between the master and its children (see
 * ctl.h).  Pure plumbing: no policy, no logging; callers decide what a
 * failure means.
 */
#include "ctl.h"

#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#define CTL_SEALS   (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

int
ctl_pair(int sv[2])
{
    return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv);
}

int
ctl_send(int fd, const struct ctl_msg *m, int passfd)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    struct iovec iov = { .iov_base = unconst(m), .iov_len = sizeof(*m) };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    ssize_t n;

    if (passfd >= 0) {
        memset(&u, 0, sizeof(u));
        mh.msg_control = u.buf;
        mh.msg_controllen = sizeof(u.buf);
        u.h.cmsg_level = SOL_SOCKET;
        u.h.cmsg_type = SCM_RIGHTS;
        u.h.cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(&u.h), &passfd, sizeof(int));
    }
    do
        n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (n == -1 && errno == EINTR);
    if (n == (ssize_t)sizeof(*m))
        return 0;
    if (n >= 0)
        errno = EMSGSIZE;
    return -1;
}

int
ctl_msg_fds(struct msghdr *mh, int *fds, int max)
{
    int n = 0;

    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c != NULL;
        c = CMSG_NXTHDR(mh, c)) {
        size_t k;

        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int got;

            memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (n < max)
                fds[n] = got;
            else
                close(got);
            n++;
        }
    }
    return n;
}

int
ctl_recv(int fd, struct ctl_msg *m, int *passfd)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(4 * sizeof(int))];
    } u;
    struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = u.buf, .msg_controllen = sizeof(u.buf),
    };
    ssize_t n;
    int bad = 0;

    *passfd = -1;
    do
        n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    while (n == -1 && errno == EINTR);
    if (n <= 0)
        return n == 0 ? 0 : -1;
    (void)ctl_msg_fds(&mh, passfd, 1);
    if (n != (ssize_t)sizeof(*m) || (mh.msg_flags & (MSG_TRUNC |
        MSG_CTRUNC)))
        bad = 1;
    if (bad) {
        if (*passfd >= 0)
            close(*passfd);
        *passfd = -1;
        errno = EPROTO;
        return -1;
    }
    return 1;
}

int
ctl_text_fd(const char *text, size_t len)
{
    int fd = memfd_create("telemt-config", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    size_t off = 0;

    if (fd == -1)
        return -1;
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);

        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0)
            goto fail;
        off += (size_t)n;
    }
    if (fcntl(fd, F_ADD_SEALS, CTL_SEALS) == -1)
        goto fail;
    return fd;
fail:
    close(fd);
    return -1;
}

uint8_t *
ctl_fd_bytes(int fd, size_t max, size_t *len)
{
    struct stat st;
    uint8_t *p;
    size_t got = 0;
    int seals = fcntl(fd, F_GET_SEALS);

    /* Sealed: nobody can change it between our size check and read. */
    if (seals == -1 || (seals & CTL_SEALS) != CTL_SEALS ||
        fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
        (size_t)st.st_size > max)
        return NULL;
    /* One byte more: ctl_fd_text() ends it with a NUL. */
    if ((p = malloc((size_t)st.st_size + 1)) == NULL)
        return NULL;
    while (got < (size_t)st.st_size) {
        ssize_t n = pread(fd, p + got, (size_t)st.st_size - got,
            (off_t)got);

        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got != (size_t)st.st_size) {
        free(p);
        return NULL;
    }
    *len = got;
    return p;
}

char *
ctl_fd_text(int fd, size_t max)
{
    size_t len;
    char *text = (char *)ctl_fd_bytes(fd, max, &len);

    if (text == NULL)
        return NULL;
    text[len] = '\0';
    if (strlen(text) != len) {
        free(text);
        return NULL;
    }
    return text;
}
