/*
 * replay.h - the replay table: a fixed-capacity set of handshake
 * fingerprints with timestamps, living in the shared region so that every
 * worker sees every handshake (docs/protocol.md 6).
 *
 * Lock-striped: a fingerprint picks one stripe by hash; a stripe is a
 * small hash index over a ring of entries kept in insertion order, so the
 * oldest entry is evicted when a stripe is full, and entries older than
 * the window no longer count.  Stripe locks are process-shared robust
 * mutexes held for a few hundred nanoseconds: a worker that dies holding
 * one does not wedge the others.
 */
#ifndef TELEMT_REPLAY_H
#define TELEMT_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#define REPLAY_FP_LEN           16

struct replay_table;

/* Bytes of shared memory a table of capacity entries needs. */
size_t replay_size(uint32_t capacity);
/*
 * Lay out a table in mem (replay_size(capacity) bytes, zeroed, shared
 * between processes) with the given window in seconds.  Returns the
 * table, or NULL if capacity is 0 or the mutexes cannot be set up.
 */
struct replay_table *replay_init(void *mem, uint32_t capacity,
    uint32_t window_s);
/*
 * Check fp and remember it, atomically: returns 1 if fp was remembered
 * within the last window seconds before now_s (a replay; nothing
 * changes), 0 if it was not (it is now remembered with time now_s), -1 if
 * the stripe lock failed.  now_s is any clock shared by every process
 * (CLOCK_MONOTONIC seconds in telemt), never going backwards.
 */
int replay_check_insert(struct replay_table *t, const uint8_t fp[REPLAY_FP_LEN],
    int64_t now_s);
/*
 * Adopt a table laid out by replay_init() in a region mapped by another
 * process (a new binary after an upgrade): checks magic, version and
 * layout against len.  Returns the table or NULL.  Never re-initialises.
 */
struct replay_table *replay_attach(void *mem, size_t len);
/* Entries currently remembered (counting expired ones not yet evicted). */
uint64_t replay_count(const struct replay_table *t);

#endif
