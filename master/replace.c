/*
 * replace.c - the master's one way to rewrite a file it keeps (quota
 * usage, users_file): a new file beside it, written and synced, renamed
 * over it, the directory synced.  A reader sees the old file or the new
 * one, never half of one; neither name is opened through a symbolic
 * link.
 */
#include "master.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "util.h"

int
replace_file_at(int dfd, const char *name, const char *data, size_t len)
{
    char tmp[PATH_BUF_LEN];
    int fd, ok, saved;

    snprintf(tmp, sizeof(tmp), ".%s.new", name);
    (void)unlinkat(dfd, tmp, 0);        /* left by a crash */
    fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
        O_CLOEXEC, 0600);
    if (fd == -1)
        return -1;
    ok = write(fd, data, len) == (ssize_t)len && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    ok = ok && renameat(dfd, tmp, dfd, name) == 0;
    if (!ok) {
        saved = errno;
        (void)unlinkat(dfd, tmp, 0);
        errno = saved;
        return -1;
    }
    (void)fsync(dfd);
    return 0;
}
