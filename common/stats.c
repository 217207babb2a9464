/*
 * stats.c - creates the shared counter region and formats it for logs.
 * Owned by the master; workers only add to it.
 */
#include "stats.h"

#include <sys/mman.h>

#include <stdio.h>

_Static_assert(sizeof(_Atomic uint64_t) == 8, "64-bit atomic counters");

struct stats_region *
stats_create(void)
{
    struct stats_region *s;

    s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE,
        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED)
        return NULL;
    s->magic = STATS_MAGIC;
    s->version = STATS_VERSION;
    s->size = sizeof(*s);
    return s;
}

void
stats_destroy(struct stats_region *s)
{
    if (s != NULL)
        munmap(s, sizeof(*s));
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
