/*
 * keys.h - X25519 key shares for the fake TLS answer, made ahead of need
 * by one background thread per worker.
 */
#ifndef TELEMT_KEYS_H
#define TELEMT_KEYS_H

#include <pthread.h>
#include <stdint.h>

#define KEYS_POOL       256     /* key shares kept ready */
#define KEYS_LOW        128     /* the maker wakes when down to this */

struct keys {
    pthread_mutex_t lock;
    pthread_cond_t low;             /* the maker waits here while full */
    uint8_t share[KEYS_POOL][32];
    int n;                          /* ready shares: share[0..n) */
    int sleeping;                   /* the maker waits for KEYS_LOW */
};

/* Set up the pool and start its maker thread; -1 if it cannot start. */
int keys_start(struct keys *k);
/*
 * A fresh public key share, never handed out twice: a ready one, or one
 * made now by the caller when a burst has emptied the pool.  0, or -1 if
 * libcrypto failed.
 */
int keys_take(struct keys *k, uint8_t out[32]);

#endif
