/*
 * srcguard.h - what each client address (an IPv6 /64 counting as one) is
 * doing now, shared by every worker through the region: its connections
 * in the handshake, its secret searches running, and a decaying score of
 * its failed ones.  Once an address has failed a few times lately, its
 * searches (no user's secret matched) run a few at a time and each
 * failure makes it wait before its next one, longer the more it fails,
 * so a prober's CPU per address is bounded by the cap on searches at
 * once and the wait.  The wait is capped below handshake_timeout: a client that
 * shows a valid secret is only ever delayed, whatever its address did.
 *
 * The table is lock-free (plain atomics; a worker may die anywhere) and
 * advisory: an address that finds no free entry in its probe window is
 * simply not guarded, and counts of an entry recycled under a holder are
 * clamped, never negative.
 */
#ifndef TELEMT_SRCGUARD_H
#define TELEMT_SRCGUARD_H

#include <sys/socket.h>

#include <stdatomic.h>
#include <stdint.h>

#define SRCGUARD_SLOTS          8192    /* power of two */
#define SRCGUARD_PROBE          16      /* entries tried per address */
#define SRCGUARD_FREE_FAILS     4       /* failures before any wait */
#define SRCGUARD_HALF_LIFE_MS   60000   /* a failure's weight halves */
#define SRCGUARD_BASE_DELAY_MS  25      /* wait at FREE_FAILS + 1 */

struct srcguard_entry {
    _Atomic uint64_t key;               /* srcguard_key(); 0 = free */
    _Atomic int64_t seen_ms;            /* last use, monotonic */
    _Atomic int32_t hs;                 /* connections in the handshake */
    _Atomic int32_t searching;          /* secret searches running */
    _Atomic uint64_t score;             /* failures x16 << 44 | ms */
    _Atomic int64_t wait_until_ms;      /* no new search before */
};

struct srcguard_table {
    struct srcguard_entry e[SRCGUARD_SLOTS];
};

/* An address's key: IPv4 /32 or IPv6 /64; never 0. */
uint64_t srcguard_key(const struct sockaddr *sa);
/*
 * The entry for key, claiming a free or idle one; NULL if every entry
 * in its window is busy (the address then goes unguarded).
 */
struct srcguard_entry *srcguard_get(struct srcguard_table *t, uint64_t key,
    int64_t now_ms);
/* One more connection of key in the handshake; how many it has now. */
int srcguard_hs_enter(struct srcguard_entry *e, uint64_t key);
void srcguard_hs_leave(struct srcguard_entry *e, uint64_t key);
/*
 * Start a secret search for key if the address's wait is over and either
 * it has not failed more than SRCGUARD_FREE_FAILS times lately or fewer
 * than cap run: 1 (call srcguard_search_end() later), or 0 and *retry_ms
 * says how long until it may be worth trying again.
 */
int srcguard_search_begin(struct srcguard_entry *e, uint64_t key, int cap,
    int64_t now_ms, int64_t *retry_ms);
/*
 * End it; a failed search raises the address's score and, past
 * SRCGUARD_FREE_FAILS, sets its wait (at most max_delay_ms).
 */
void srcguard_search_end(struct srcguard_entry *e, uint64_t key, int failed,
    int64_t now_ms, int max_delay_ms);
/* The address's failure score now, in failures (decayed). */
double srcguard_score(const struct srcguard_entry *e, int64_t now_ms);
/* The wait a score implies, in ms, at most max_delay_ms. */
int64_t srcguard_delay_ms(double score, int max_delay_ms);

#endif
