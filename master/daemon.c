/*
 * daemon.c - the classic double duty of a forking service: detach, and
 * tell whoever started us that we are ready only when we are (the parent
 * exits 0 then, which is what systemd's Type=forking waits for), and keep
 * a pid file that appears only once the workers run.
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

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
    FILE *f = fopen(path, "r");
    long pid = 0;

    if (f == NULL)
        return 0;
    if (fscanf(f, "%ld", &pid) != 1)
        pid = 0;
    fclose(f);
    if (pid <= 0 || (kill((pid_t)pid, 0) == -1 && errno == ESRCH))
        return 0;
    return (pid_t)pid;
}

int
pidfile_write(const char *path)
{
    char tmp[1100];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid());
    if ((f = fopen(tmp, "w")) == NULL)
        return -1;
    fprintf(f, "%ld\n", (long)getpid());
    if (fclose(f) != 0 || rename(tmp, path) == -1) {
        int saved = errno;

        unlink(tmp);
        errno = saved;
        return -1;
    }
    return 0;
}
