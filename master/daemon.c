/*
 * daemon.c - the classic double duty of a forking service: detach, and
 * tell whoever started us that we are ready only when we are (the parent
 * exits 0 then, which is what systemd's Type=forking waits for), and keep
 * a pid file that appears only once the workers run.
 *
 * The pid file's directory may belong to the workers' user (systemd's
 * RuntimeDirectory=), so whatever is found there may have been planted:
 * no name in it is followed if it is a symbolic link, opened so that a
 * FIFO could block, or written unless we just created it ourselves.
 */
#include "daemon.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

int
daemon_start(void)
{
    int p[2], null;
    char c;
    pid_t pid;

    if (pipe2(p, O_CLOEXEC) == -1)
        fatal("pipe");
    pid = fork();
    if (pid == -1)
        fatal("fork");
    if (pid > 0) {
        close(p[1]);
        _exit(read(p[0], &c, 1) == 1 ? 0 : 1);
    }
    close(p[0]);
    if (setsid() == -1)
        fatal("setsid");
    if (chdir("/") == -1)
        fatal("chdir(/)");
    null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null == -1)
        fatal("open(/dev/null)");
    dup2(null, STDIN_FILENO);
    dup2(null, STDOUT_FILENO);
    close(null);
    return p[1];
}

void
daemon_ready(int fd)
{
    if (fd < 0)
        return;
    (void)!write(fd, "1", 1);
    close(fd);
}

void
daemon_close_stderr(void)
{
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

    if (null != -1) {
        dup2(null, STDERR_FILENO);
        close(null);
    }
}

pid_t
pidfile_alive(const char *path)
{
    char buf[32], *end;
    struct stat st;
    ssize_t n;
    long pid;
    int fd;

    fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
        O_CLOEXEC);
    if (fd == -1) {
        if (errno != ENOENT)
            log_warn("open(%s); taking it for a stale pid file", path);
        return 0;
    }
    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
        log_warnx("%s is not a regular file; taking it for a stale pid "
            "file", path);
        close(fd);
        return 0;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    errno = 0;
    pid = strtol(buf, &end, 10);
    if (errno != 0 || end == buf || (*end != '\n' && *end != '\0') ||
        pid <= 0 || pid > INT_MAX)
        return 0;
    if (kill((pid_t)pid, 0) == -1 && errno == ESRCH)
        return 0;
    return (pid_t)pid;
}

/* Create tmp for writing: only a new file of ours; -1 with errno. */
static int
pidfile_create(const char *tmp)
{
    return open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK |
        O_NOCTTY | O_CLOEXEC, 0644);
}

int
pidfile_write(const char *path)
{
    char tmp[PATH_BUF_LEN], line[32];
    int fd, n, saved;

    snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid());
    fd = pidfile_create(tmp);
    if (fd == -1 && errno == EEXIST) {
        /* Left by a process that had our pid, or planted: unlink()
         * removes the name (a link is not followed); then try once. */
        log_warnx("pid file: removing %s, which was in the way", tmp);
        if (unlink(tmp) == 0)
            fd = pidfile_create(tmp);
    }
    if (fd == -1)
        return -1;
    n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
    if (write(fd, line, (size_t)n) != n) {
        saved = errno;
        close(fd);
        goto fail;
    }
    if (close(fd) != 0 || rename(tmp, path) == -1) {
        saved = errno;
        goto fail;
    }
    return 0;
fail:
    unlink(tmp);
    errno = saved;
    return -1;
}
