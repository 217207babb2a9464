/*
 * keys.c - X25519 key shares for the fake TLS answer, made ahead of need.
 *
 * A key share is one X25519 scalar multiplication (~34 us here), the
 * largest part of a fake TLS handshake, and making one leaves ~2 KiB of
 * libcrypto's per-thread state in the thread that made it, for as long
 * as that thread lives: with a thread per connection, every idle client
 * would carry it.  So one thread per worker keeps KEYS_POOL shares ready
 * (made while the worker has time to spare) and a handshake takes one;
 * only when a burst empties the pool does a connection thread make its
 * own.  Each share is handed out once and wiped from the pool.  The
 * maker sleeps while the pool is above KEYS_LOW and then fills it up,
 * so a handshake does not wake it (a futex call and two context
 * switches) for every share it takes.
 */
#include "keys.h"

#include <string.h>

#include <openssl/crypto.h>

#include "faketls.h"
#include "log.h"

static void *
keys_maker(void *arg)
{
    struct keys *k = arg;
    uint8_t share[32];

    for (;;) {
        pthread_mutex_lock(&k->lock);
        if (k->n == KEYS_POOL) {
            k->sleeping = 1;
            while (k->n > KEYS_LOW)
                pthread_cond_wait(&k->low, &k->lock);
            k->sleeping = 0;
        }
        pthread_mutex_unlock(&k->lock);
        if (faketls_x25519_public(share) != 0) {
            log_warnx("cannot make an X25519 key share; the pool stops");
            return NULL;
        }
        pthread_mutex_lock(&k->lock);
        if (k->n < KEYS_POOL)
            memcpy(k->share[k->n++], share, sizeof(share));
        pthread_mutex_unlock(&k->lock);
    }
}

int
keys_start(struct keys *k)
{
    pthread_attr_t a;
    pthread_t t;
    int ok;

    k->n = 0;
    k->sleeping = 0;
    if (pthread_mutex_init(&k->lock, NULL) != 0 ||
        pthread_cond_init(&k->low, NULL) != 0 ||
        pthread_attr_init(&a) != 0)
        return -1;
    ok = pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED) == 0 &&
        pthread_attr_setstacksize(&a, 131072) == 0 &&
        pthread_create(&t, &a, keys_maker, k) == 0;
    pthread_attr_destroy(&a);
    return ok ? 0 : -1;
}

int
keys_take(struct keys *k, uint8_t out[32])
{
    pthread_mutex_lock(&k->lock);
    if (k->n > 0) {
        k->n--;
        memcpy(out, k->share[k->n], 32);
        OPENSSL_cleanse(k->share[k->n], 32);
        if (k->sleeping && k->n == KEYS_LOW)
            pthread_cond_signal(&k->low);
        pthread_mutex_unlock(&k->lock);
        return 0;
    }
    pthread_mutex_unlock(&k->lock);
    return faketls_x25519_public(out);
}
