/*
 * util.h - small helpers with no state: the monotonic clock, signal and
 * descriptor-limit set-up for start-up code, hex coding.
 */
#ifndef TELEMT_UTIL_H
#define TELEMT_UTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/*
 * The longest path a config key may hold (NUL included), and room for
 * one with what we append to it (".tmp<pid>", ".oldbin", a cache file's
 * name with the mask host in it).
 */
#define PATH_LEN        1024
#define PATH_BUF_LEN    (PATH_LEN + 512)

/*
 * p without its const, for interfaces that take void * for memory they
 * only read (struct iovec of sendmsg(), libmicrohttpd's persistent
 * buffers): said once here rather than with a cast at each call.
 */
static inline void *
unconst(const void *p)
{
    union { const void *c; void *v; } u = { .c = p };

    return u.v;
}

/* Milliseconds on the monotonic clock. */
int64_t mono_ms(void);
/* Microseconds on the monotonic clock. */
int64_t mono_us(void);
/* Nanoseconds on the monotonic clock. */
int64_t mono_ns(void);
/* CLOCK_MONOTONIC ms from now, for pthread_cond_timedwait() on a
 * condition variable made by mono_cond_init(). */
struct timespec mono_deadline(int64_t ms);
/* A condition variable whose timed waits run on CLOCK_MONOTONIC (a step
 * of the wall clock neither cuts nor stretches them); 0 or an errno. */
int mono_cond_init(pthread_cond_t *c);
/*
 * Block every signal in the calling thread (call before starting threads,
 * so they inherit the full mask) and return a non-blocking signalfd for
 * the signals listed in sigs[0..n).  Exits on failure (start-up code).
 */
int signalfd_block_all(const int *sigs, int n);
/* Raise the soft RLIMIT_NOFILE to the hard one; -1 if it cannot. */
int nofile_raise_to_hard(void);
/* Decode exactly outlen bytes from 2*outlen hex digits; -1 on bad input. */
int hex_decode(const char *hex, uint8_t *out, size_t outlen);
/* Encode len bytes as lower-case hex into out (2*len+1 bytes, NUL added). */
void hex_encode(const uint8_t *in, size_t len, char *out);

#endif
