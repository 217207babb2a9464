/*
 * stats.c - creates the shared region and implements the few operations
 * on it that are more than one atomic add: user slots by name, DC slots,
 * histograms, recent unique IPs, clearing a dead worker, the log line.
 * The region belongs to the master; workers add to it; admin only reads.
 */
#include "stats.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <netinet/in.h>

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net.h"
#include "util.h"

_Static_assert(sizeof(_Atomic uint64_t) == 8, "64-bit atomic counters");
_Static_assert(STATS_MAX_WORKERS >= 2 * 64,
    "a row for every worker of two generations of 64");
_Static_assert(sizeof(struct stats_region) < 16u << 20, "region size");

#define RELAXED memory_order_relaxed

struct stats_region *
stats_create(uint32_t replay_capacity, uint32_t replay_window, int *fdp)
{
    size_t head = (sizeof(struct stats_region) + 63) & ~(size_t)63;
    size_t size = head + replay_size(replay_capacity);
    struct stats_region *s;
    int fd, saved;

    /* A memfd rather than anonymous memory: a new binary can inherit it. */
    fd = memfd_create(STATS_REGION_NAME, MFD_CLOEXEC);
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
    if (fdp != NULL && s != MAP_FAILED)
        *fdp = fd;
    else
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
    atomic_store(&s->start_time, (int64_t)time(NULL));
    atomic_store(&s->start_mono_ms, mono_ms());
    if (replay_init((char *)s + head, replay_capacity, replay_window) ==
        NULL) {
        munmap(s, size);
        if (fdp != NULL)
            close(*fdp);
        errno = EINVAL;
        return NULL;
    }
    return s;
}

struct stats_region *
stats_attach(int fd, uint32_t replay_capacity)
{
    size_t head = (sizeof(struct stats_region) + 63) & ~(size_t)63;
    size_t size = head + replay_size(replay_capacity);
    struct stats_region *s;
    struct stat st;

    if (fstat(fd, &st) == -1 || (size_t)st.st_size != size)
        return NULL;
    s = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (s == MAP_FAILED)
        return NULL;
    if (s->magic != STATS_MAGIC || s->version != STATS_VERSION ||
        s->header_size != sizeof(*s) || s->size != size ||
        s->replay_off != head ||
        replay_attach((char *)s + head, size - head) == NULL) {
        munmap(s, size);
        return NULL;
    }
    return s;
}

struct replay_table *
stats_replay(struct stats_region *s)
{
    return (struct replay_table *)((char *)s + s->replay_off);
}

int
stats_protect_readonly(struct stats_region *s)
{
    return mprotect(s, s->size, PROT_READ);
}

void
stats_destroy(struct stats_region *s)
{
    if (s != NULL)
        munmap(s, s->size);
}

int
stats_user_slot(struct stats_region *s, const char *name)
{
    int free_slot = -1;

    for (int i = 0; i < STATS_MAX_USERS; i++) {
        if (strcmp(s->users[i].name, name) == 0)
            return i;
        if (free_slot < 0 && s->users[i].name[0] == '\0')
            free_slot = i;
    }
    if (free_slot < 0) {
        /* Full: reuse a slot whose user left the config. */
        for (int i = 0; i < STATS_MAX_USERS && free_slot < 0; i++)
            if (!atomic_load(&s->users[i].configured))
                free_slot = i;
        if (free_slot < 0)
            return -1;
        memset(&s->users[free_slot], 0, sizeof(s->users[free_slot]));
    }
    snprintf(s->users[free_slot].name, STATS_USER_NAME, "%s", name);
    return free_slot;
}

int
stats_user_find(const struct stats_region *s, const char *name)
{
    for (int i = 0; i < STATS_MAX_USERS; i++)
        if (strcmp(s->users[i].name, name) == 0)
            return i;
    return -1;
}

int
stats_dc_slot(int dc)
{
    if (dc >= 1 && dc <= 5)
        return dc - 1;
    if (dc <= -1 && dc >= -5)
        return 4 - dc;
    if (dc == 203)
        return 10;
    return STATS_DC_OTHER;
}

int
stats_upstream_slot(struct stats_region *s, const char *name)
{
    /*
     * Slots are never freed, so every claimer takes the lowest free one:
     * two workers naming the same address race for the same slot, and
     * the loser finds the winner's name on its next scan.  A slot left
     * half-named (its claimer killed between the two stores, or a
     * hostile writer) is waited for a few hundred scans, then taken as
     * "no slot": the caller goes on uncounted.
     */
    for (int tries = 0; tries < 300; tries++) {
        int naming = 0, free_slot = -1;
        uint32_t expect = 0;

        for (int i = 0; i < STATS_MAX_UPSTREAMS; i++) {
            struct stats_upstream *u = &s->upstreams[i];
            uint32_t st = atomic_load(&u->state);

            if (st == 2 && strcmp(u->name, name) == 0)
                return i;
            if (st == 1)
                naming = 1;
            if (st == 0 && free_slot < 0)
                free_slot = i;
        }
        if (naming) {                   /* maybe this very address */
            sched_yield();
            continue;
        }
        if (free_slot < 0)
            return -1;
        if (atomic_compare_exchange_strong(&s->upstreams[free_slot].state,
            &expect, 1)) {
            snprintf(s->upstreams[free_slot].name, STATS_UPSTREAM_NAME, "%s",
                name);
            atomic_store(&s->upstreams[free_slot].state, 2);
            return free_slot;
        }
    }
    return -1;
}

unsigned
stats_upstream_down(const struct stats_region *s, int u)
{
    unsigned n = 0;

    for (int row = 0; row < STATS_MAX_WORKERS; row++)
        if (atomic_load_explicit(&s->upstreams[u].down[row], RELAXED) != 0 &&
            atomic_load_explicit(&s->workers[row].pid, RELAXED) != 0)
            n++;
    return n;
}

int
stats_dc_index(int slot)
{
    if (slot >= 0 && slot <= 4)
        return slot + 1;
    if (slot >= 5 && slot <= 9)
        return 4 - slot;
    return slot == 10 ? 203 : 0;
}

void
stats_observe(struct stats_region *s, enum stats_hist_id id, int64_t us)
{
    static const int64_t bounds[] = STATS_HIST_BOUNDS_US;
    struct stats_hist *h = &s->hist[id];
    int b = 0;

    if (us < 0)
        us = 0;
    while (b < STATS_HIST_NBOUNDS && us > bounds[b])
        b++;
    atomic_fetch_add_explicit(&h->bucket[b], 1, RELAXED);
    atomic_fetch_add_explicit(&h->sum_us, (uint64_t)us, RELAXED);
    atomic_fetch_add_explicit(&h->count, 1, RELAXED);
}

uint32_t
stats_ip_hash(const struct sockaddr *sa)
{
    /* The per-address guard's key (IPv4, or IPv6 by /64), folded. */
    uint64_t k = srcguard_key(sa) * 0x9e3779b97f4a7c15ull;
    uint32_t h = (uint32_t)(k >> 32) ^ (uint32_t)k;

    return h ? h : 1;
}

void
stats_user_connected(struct stats_region *s, int u)
{
    atomic_fetch_add_explicit(&s->users[u].connections, 1, RELAXED);
    atomic_store_explicit(&s->users[u].last_seen, (int64_t)time(NULL),
        RELAXED);
}

void
stats_dc_failed(struct stats_region *s, int dc)
{
    atomic_fetch_add_explicit(&s->dcs[stats_dc_slot(dc)].connect_failures,
        1, RELAXED);
    STATS_ADD(s, dc_connect_fail, 1);
}

void
stats_dc_connected(struct stats_region *s, int dc, int64_t us)
{
    struct stats_dc *d = &s->dcs[stats_dc_slot(dc)];

    atomic_fetch_add_explicit(&d->connections, 1, RELAXED);
    atomic_fetch_add_explicit(&d->connect_us_sum, (uint64_t)us, RELAXED);
    STATS_ADD(s, dc_connect_ok, 1);
    stats_observe(s, STATS_HIST_dc_connect_seconds, us);
}

/* An ips[] entry's age at now; entries hold the low 32 bits of time.
 * One stamped a moment "later" by another thread's clock read is new. */
static int64_t
ip_age(uint64_t v, int64_t now)
{
    int32_t d = (int32_t)((uint32_t)now - (uint32_t)v);

    return d > 0 ? d : 0;
}

void
stats_ip_seen(struct stats_region *s, int u, uint32_t h, int64_t now,
    int64_t window)
{
    _Atomic uint64_t *ips = s->users[u].ips;
    int free_at = -1, oldest = 0;
    int64_t oldest_age = -1;

    for (int i = 0, k = (int)(h % STATS_IP_SLOTS); i < STATS_IP_SLOTS;
        i++, k = (k + 1) % STATS_IP_SLOTS) {
        uint64_t v = atomic_load_explicit(&ips[k], RELAXED);

        if (v != 0 && (uint32_t)(v >> 32) == h) {
            free_at = k;
            break;
        }
        if (free_at < 0 && (v == 0 || ip_age(v, now) >= window))
            free_at = k;
        if (v != 0 && ip_age(v, now) > oldest_age) {
            oldest_age = ip_age(v, now);
            oldest = k;
        }
    }
    atomic_store_explicit(&ips[free_at >= 0 ? free_at : oldest],
        (uint64_t)h << 32 | (uint32_t)now, RELAXED);
}

int
stats_ip_recent(const struct stats_region *s, int u, uint32_t h,
    int64_t now, int64_t window)
{
    for (int i = 0; i < STATS_IP_SLOTS; i++) {
        uint64_t v = atomic_load_explicit(&s->users[u].ips[i], RELAXED);

        if (v != 0 && (uint32_t)(v >> 32) == h)
            return ip_age(v, now) < window;
    }
    return 0;
}

unsigned
stats_ips_recent(const struct stats_region *s, int u, int64_t now,
    int64_t window)
{
    unsigned n = 0;

    for (int i = 0; i < STATS_IP_SLOTS; i++) {
        uint64_t v = atomic_load_explicit(&s->users[u].ips[i], RELAXED);

        if (v != 0 && ip_age(v, now) < window)
            n++;
    }
    return n;
}

uint64_t
stats_user_active(const struct stats_region *s, int u)
{
    uint64_t n = 0;

    for (int w = 0; w < STATS_MAX_WORKERS; w++)
        n += atomic_load_explicit(&s->user_active[w][u], RELAXED);
    return n;
}

int
stats_worker_claim(struct stats_region *s, int slot, uint64_t gen)
{
    int32_t me = (int32_t)getpid();

    /* Two masters share the region during an upgrade: claim by CAS. */
    for (int row = 0; row < STATS_MAX_WORKERS; row++) {
        int32_t expect = 0;

        if (atomic_compare_exchange_strong(&s->workers[row].pid, &expect,
            me)) {
            struct stats_worker *w = &s->workers[row];

            atomic_store(&w->slot, slot);
            atomic_store(&w->generation, gen);
            atomic_store(&w->active, 0);
            atomic_store(&w->total, 0);
            atomic_store(&w->started_at, (int64_t)time(NULL));
            atomic_store(&w->heartbeat_ms, 0);
            atomic_store(&w->state, STATS_WORKER_EMPTY);
            for (int u = 0; u < STATS_MAX_USERS; u++)
                atomic_store_explicit(&s->user_active[row][u], 0, RELAXED);
            for (int u = 0; u < STATS_MAX_UPSTREAMS; u++)
                atomic_store_explicit(&s->upstreams[u].down[row], 0, RELAXED);
            return row;
        }
    }
    return -1;
}

void
stats_worker_start(struct stats_region *s, int row, int pid)
{
    atomic_store(&s->workers[row].pid, pid);
    atomic_store(&s->workers[row].state, STATS_WORKER_RUNNING);
}

void
stats_worker_gone(struct stats_region *s, int row)
{
    struct stats_worker *w = &s->workers[row];

    atomic_store(&w->state, STATS_WORKER_EMPTY);
    atomic_store(&w->active, 0);
    for (int u = 0; u < STATS_MAX_USERS; u++)
        atomic_store_explicit(&s->user_active[row][u], 0, RELAXED);
    for (int u = 0; u < STATS_MAX_UPSTREAMS; u++)
        atomic_store_explicit(&s->upstreams[u].down[row], 0, RELAXED);
    atomic_store(&w->pid, 0);           /* last: frees the row */
}

void
stats_format(const struct stats_region *s, char *out, size_t outlen)
{
    size_t n = 0;
    uint64_t active = 0;
    int r;

    out[0] = '\0';
    for (int w = 0; w < STATS_MAX_WORKERS; w++)
        active += atomic_load(&s->workers[w].active);
#define EMIT(fmt, ...)                                                    \
    if (n < outlen) {                                                     \
        r = snprintf(out + n, outlen - n, fmt, __VA_ARGS__);              \
        if (r > 0)                                                        \
            n += (size_t)r;                                               \
    }
#define X(name, help)                                                     \
    EMIT("%s%s=%llu", n ? " " : "", #name, (unsigned long long)           \
        atomic_load_explicit(&s->c.name, RELAXED))
    STATS_COUNTERS(X)
#undef X
#define X(name, verdict, help)                                            \
    EMIT(" hs_%s=%llu", #name, (unsigned long long)atomic_load_explicit(  \
        &s->hs[STATS_HS_##name], RELAXED))
    STATS_HS_OUTCOMES(X)
#undef X
#define X(name, reason, help)                                             \
    EMIT(" user_%s=%llu", #name, (unsigned long long)atomic_load_explicit( \
        &s->user_refused[STATS_UR_##name], RELAXED))
    STATS_USER_REFUSALS(X)
#undef X
    EMIT(" conn_active=%llu", (unsigned long long)active);
#undef EMIT
}

void
stats_print_counters(FILE *out)
{
    fputs("| counter | meaning |\n| --- | --- |\n", out);
#define X(name, help) fprintf(out, "| `%s` | %s |\n", #name, help);
    STATS_COUNTERS(X)
#undef X
#define X(name, verdict, help) fprintf(out, "| `hs_%s` | %s |\n", #name, help);
    STATS_HS_OUTCOMES(X)
#undef X
#define X(name, reason, help) fprintf(out, "| `user_%s` | %s |\n", #name, help);
    STATS_USER_REFUSALS(X)
#undef X
    fprintf(out, "| `conn_active` | %s |\n", STATS_CONN_ACTIVE_HELP);
#define X(name, help) \
    fprintf(out, "| `upstream_%s` | per upstream: %s |\n", #name, help);
    STATS_UPSTREAM_FIELDS(X)
#undef X
    fprintf(out, "| `upstream_backed_off` | per upstream: worker processes "
        "holding it backed off now |\n");
}

void
stats_dc_addr_key(const struct sockaddr *sa, uint64_t key[STATS_DC_ADDR_KEY])
{
    uint8_t a[16] = { 0 };
    uint16_t port = 0;

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

        memcpy(a, &in->sin_addr, 4);
        port = in->sin_port;
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

        memcpy(a, &in6->sin6_addr, 16);
        port = in6->sin6_port;
    }
    key[0] = (uint64_t)sa->sa_family << 16 | port;
    memcpy(&key[1], a, 8);
    memcpy(&key[2], a + 8, 8);
}

void
stats_dc_addr_format(const uint64_t key[STATS_DC_ADDR_KEY], char *out,
    size_t outlen)
{
    struct sockaddr_storage ss;
    uint8_t a[16];
    int family = (int)(key[0] >> 16);
    uint16_t port = (uint16_t)key[0];

    memcpy(a, &key[1], 8);
    memcpy(a + 8, &key[2], 8);
    memset(&ss, 0, sizeof(ss));
    ss.ss_family = (sa_family_t)family;
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;

        memcpy(&in->sin_addr, a, 4);
        in->sin_port = port;
    } else if (family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

        memcpy(&in6->sin6_addr, a, 16);
        in6->sin6_port = port;
    }
    net_format((const struct sockaddr *)&ss, out, outlen);
}
