/*
 * stats.c - creates the shared counter region and formats it for logs.
 * Owned by the master; workers only add to it.
 */
#include "stats.h"

#include <sys/mman.h>

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

_Static_assert(sizeof(_Atomic uint64_t) == 8, "64-bit atomic counters");

struct stats_region *
stats_create(uint32_t replay_capacity, uint32_t replay_window)
{
    size_t head = (sizeof(struct stats_region) + 63) & ~(size_t)63;
    size_t size = head + replay_size(replay_capacity);
    struct stats_region *s;
    int fd, saved;

    /* A memfd rather than anonymous memory: a new binary can inherit it. */
    fd = memfd_create("telemt-region", MFD_CLOEXEC);
    if (fd == -1)
        return NULL;
    if (ftruncate(fd, (off_t)size) == -1) {
        saved = errno;
        close(fd);
        errno = saved;
        return NULL;
    }
    s = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    saved = errno;
    close(fd);
    if (s == MAP_FAILED) {
        errno = saved;
        return NULL;
    }
    s->magic = STATS_MAGIC;
    s->version = STATS_VERSION;
    s->header_size = sizeof(*s);
    s->size = size;
    s->replay_off = head;
    if (replay_init((char *)s + head, replay_capacity, replay_window) ==
        NULL) {
        munmap(s, size);
        errno = EINVAL;
        return NULL;
    }
    return s;
}

struct replay_table *
stats_replay(struct stats_region *s)
{
    return (struct replay_table *)((char *)s + s->replay_off);
}

void
stats_destroy(struct stats_region *s)
{
    if (s != NULL)
        munmap(s, s->size);
}

void
stats_format(const struct stats_region *s, char *out, size_t outlen)
{
    size_t n = 0;

    out[0] = '\0';
#define X(name, help)                                                     \
    if (n < outlen) {                                                     \
        int r = snprintf(out + n, outlen - n, "%s%s=%llu", n ? " " : "",  \
            #name, (unsigned long long)atomic_load_explicit(              \
            (_Atomic uint64_t *)&s->c.name, memory_order_relaxed));       \
        if (r > 0)                                                        \
            n += (size_t)r;                                               \
    }
    STATS_COUNTERS(X)
#undef X
}
