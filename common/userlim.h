/*
 * userlim.h - a user's limits, held across every worker in the shared
 * region: who may connect (enabled, expiration, data_quota_bytes,
 * max_tcp_conns, max_unique_ips), the quota's accounting and its monthly
 * period, and the token buckets of rate_limit_up_bps/down_bps that all
 * of a user's connections share.
 *
 * The admission checks and the taking of a place are one step under the
 * user's admit_lock, so max_tcp_conns and max_unique_ips hold exactly
 * across workers.  The master publishes the limits of the config it
 * runs (userlim_publish()), so a reload changes them for connections
 * already open too.
 */
#ifndef TELEMT_USERLIM_H
#define TELEMT_USERLIM_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "stats.h"

/* USER_OK, or why a user is refused; USER_<REASON> - 1 is its counter. */
enum user_verdict {
    USER_OK = 0,
#define X(name, reason, help) USER_##reason,
    STATS_USER_REFUSALS(X)
#undef X
};

/* The rate buckets, by direction. */
#define USERLIM_UP      0               /* client -> DC */
#define USERLIM_DOWN    1               /* DC -> client */

/* The name of a refusal ("quota"); "ok" for USER_OK. */
const char *userlim_name(enum user_verdict v);

/*
 * Whether user cu (region slot u) may go on at unix time now: USER_OK, or
 * USER_DISABLED, USER_EXPIRED or USER_QUOTA (its open connections are
 * cut for these).
 */
enum user_verdict userlim_state(const struct stats_region *r, int u,
    const struct config_user *cu, int64_t now);

/*
 * A new connection of user cu (slot u) from the address with hash h
 * (stats_ip_hash()), in the worker of region row `row`: USER_OK with its
 * place taken (the user's connection count and the address noted), or
 * the refusal, counted per user and in total.  now: unix time; mono_s:
 * CLOCK_MONOTONIC seconds; window: unique_ips_window.
 */
enum user_verdict userlim_admit(struct stats_region *r, int row, int u,
    const struct config_user *cu, uint32_t h, int64_t now, int64_t mono_s,
    int64_t window);
/* A place taken without checks (a connection handed over to us). */
void userlim_enter(struct stats_region *r, int row, int u);
/* Give back a place of userlim_admit() or userlim_enter(). */
void userlim_leave(struct stats_region *r, int row, int u);

/* Bytes slot u may still relay this quota period; UINT64_MAX: no quota. */
uint64_t userlim_quota_left(const struct stats_region *r, int u);
/* Charge n relayed bytes to slot u's quota. */
void userlim_charge(struct stats_region *r, int u, uint64_t n);

/*
 * How many bytes direction dir of slot u should read at most at once
 * under its rate limit: about RATE_SLICE_MS worth, so a user's
 * connections take turns in small steps; max when not limited.
 */
size_t userlim_rate_slice(const struct stats_region *r, int u, int dir,
    size_t max);
/* 1 if direction dir of slot u has a rate limit. */
int userlim_rate_on(const struct stats_region *r, int u, int dir);
/*
 * Pay for n bytes read in direction dir of slot u at CLOCK_MONOTONIC
 * now_ns: the ns that direction must wait before it reads again (0 if
 * none or not limited).  One bucket per user and direction, shared by all
 * its connections: each pays in turn, so each gets its share.
 */
int64_t userlim_rate_charge(struct stats_region *r, int u, int dir,
    uint64_t n, int64_t now_ns);

/*
 * Master: publish cu's quota and rate limits for slot u, and begin a new
 * quota period (usage 0) when its quota_reset_day has come round since
 * the period the region holds.  Returns the bytes the finished period
 * had used if one was reset, else -1.
 */
int64_t userlim_publish(struct stats_region *r, int u,
    const struct config_user *cu, int64_t now);
/*
 * The start (unix time) of the quota period that holds now: the latest
 * day-th of a month, 00:00 UTC, not after now; 0 when day is 0 (the
 * quota never resets).
 */
int64_t userlim_period_start(int day, int64_t now);

#endif
