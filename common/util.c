/*
 * util.c - monotonic clock, hex coding, signalfd set-up, the fd limit.
 */
#include "util.h"

#include <sys/resource.h>
#include <sys/signalfd.h>

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "log.h"

struct timespec
mono_deadline(int64_t ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int
mono_cond_init(pthread_cond_t *c)
{
    pthread_condattr_t ca;
    int err = pthread_condattr_init(&ca);

    if (err != 0)
        return err;
    err = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (err == 0)
        err = pthread_cond_init(c, &ca);
    (void)pthread_condattr_destroy(&ca);
    return err;
}

int64_t
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int
signalfd_block_all(const int *sigs, int n)
{
    sigset_t all, mine;
    int fd;

    sigfillset(&all);
    if (pthread_sigmask(SIG_BLOCK, &all, NULL) != 0)
        fatalx("pthread_sigmask failed");
    sigemptyset(&mine);
    for (int i = 0; i < n; i++)
        sigaddset(&mine, sigs[i]);
    fd = signalfd(-1, &mine, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd == -1)
        fatal("signalfd");
    return fd;
}

static int
hex_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int
hex_decode(const char *hex, uint8_t *out, size_t outlen)
{
    if (strlen(hex) != outlen * 2)
        return -1;
    for (size_t i = 0; i < outlen; i++) {
        int hi = hex_nibble(hex[2 * i]), lo = hex_nibble(hex[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

void
hex_encode(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

int
nofile_raise_to_hard(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    if (rl.rlim_cur == rl.rlim_max)
        return 0;
    rl.rlim_cur = rl.rlim_max;
    return setrlimit(RLIMIT_NOFILE, &rl);
}
