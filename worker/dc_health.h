/*
 * dc_health.h - what the workers know about each DC address: whether it
 * answered lately and how fast, kept in the shared region's dc_addrs[]
 * (common/stats.h) so that every worker learns from every other's
 * connects; and the order a dial tries a DC's addresses in because of it.
 *
 * The order, in this priority:
 *   1. an address that failed recently (within its back-off) goes last;
 *   2. the preferred family (prefer_ipv6) before the other;
 *   3. an address whose back-off just ended, once, first (the trial that
 *      finds it back; with dc_probe_interval on, a probe does that);
 *   4. faster before slower, by speed class (a factor of two apart);
 *      addresses never measured after measured ones;
 *   5. the configured order.
 */
#ifndef TELEMT_DC_HEALTH_H
#define TELEMT_DC_HEALTH_H

#include <stdint.h>

#include "net.h"
#include "stats.h"

/* The failures in a row past which the back-off stops doubling. */
#define DC_HEALTH_BACKOFF_DOUBLINGS     4
/* A slot no dial or probe used for this long may be given to another
 * address when the table is full. */
#define DC_HEALTH_IDLE_MS               (3600 * 1000)
/* The speed class of an address never measured. */
#define DC_HEALTH_CLASS_UNKNOWN         64

enum dc_health_state {
    DC_HEALTH_UP,                       /* answered last time (or unknown) */
    DC_HEALTH_TRIAL,                    /* failed, back-off over: retry */
    DC_HEALTH_DOWN                      /* failed, within its back-off */
};

/* One candidate of a dial, as the ordering sees it. */
struct dc_health_cand {
    const struct net_addr *a;           /* the caller's, not copied */
    int slot;                           /* in dc_addrs[]; -1 = none */
    int state;                          /* enum dc_health_state */
    int64_t avg_us;                     /* 0 = never measured */
    int order;                          /* position in the config */
};

/* Pure: the back-off after fails failures in a row, base_ms doubling. */
int64_t dc_health_backoff_ms(int64_t base_ms, uint32_t fails);
/*
 * Pure: the state of an address with fails failures in a row, tried
 * last until retry_ms, at now.  With probing on, a failed address stays
 * down until a probe finds it up: clients never pay for the trial.
 */
int dc_health_state(uint32_t fails, int64_t retry_ms, int64_t now,
    int probing);
/* Pure: the speed class of an average connect time (log2 of ms). */
int dc_health_speed_class(int64_t avg_us);
/* Pure: sort c[0..n) into dialling order (above); family first first. */
void dc_health_order(struct dc_health_cand *c, int n, int first);

/* The worker's region (NULL: no health kept, dials in config order). */
void dc_health_init(struct stats_region *s);
struct stats_region *dc_health_region(void);
/*
 * Fill in c[0..n)'s slot (claimed if new, for DC index dc), state and
 * speed at now, taking the one trial of an address whose back-off has
 * ended (one dial in all the workers gets it; the others see it down),
 * then sort them.  Returns how many were put last as down.
 */
int dc_health_prepare(struct dc_health_cand *c, int n, int dc, int first,
    int64_t now, int64_t backoff_ms, int probing);
/*
 * Record a connect to address sa, in slot (-1: nothing) at now: ok and
 * its time us, or a failure with its errno (one of our own -- no fd, no
 * memory, a bind refused -- says nothing about the address and is not
 * counted against it).  Nothing if the slot is no longer sa's.
 */
void dc_health_record(int slot, const struct sockaddr *sa, int ok,
    int64_t us, int err, int64_t now, int64_t backoff_ms, int probe);
/* 1 if the slot's key is address sa. */
int dc_health_match(const struct stats_dc_addr *d, const struct sockaddr *sa);
/* The slot of address sa, claiming one for dc if new; -1 if full. */
int dc_health_slot(struct stats_region *s, const struct sockaddr *sa, int dc,
    int64_t now);

#endif
