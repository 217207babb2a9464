/*
 * bench.h - what the roles of the benchmark tool (bench.c: fake DC,
 * no-crypto relay, minimal fake-TLS proxy, load client) share: the
 * 16-byte command a load connection sends after its obfuscated2 header,
 * small socket helpers and the prefork parent; the payload is
 * pattern.h's stream.
 *
 * Command (decrypted, right after the 64-byte header):
 *   [0,4)  "BNC1"
 *   [4]    op: 'E' echo, 'D' down-source, 'U' up-sink, 'B' both
 *   [5,8)  zero
 *   [8,16) pattern seed, uint64 LE
 */
#ifndef TELEMT_BENCH_H
#define TELEMT_BENCH_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

#include "pattern.h"

#define BENCH_MAGIC         "BNC1"
#define BENCH_CMD_LEN       16
#define BENCH_DC            2           /* the proxy maps it to the fake DC */
#define BENCH_BOTH_XOR      0x5555555555555555ull   /* seed of B's source */
#define BENCH_REPLY_LEN     9           /* U: u64 LE count + status byte */
#define BENCH_MAX_WORKERS   64          /* relay and mini --workers */

/* The roles; argv[0] is the role name.  Return the exit status. */
int bench_dc(int argc, char **argv);
int bench_relay(int argc, char **argv);
int bench_mini(int argc, char **argv);
int bench_load(int argc, char **argv);

/* TCP_NODELAY on a socket (errors ignored: the socket still works). */
void set_nodelay(int fd);
/* A listening socket for "HOST:PORT"; -1 (message printed) on failure. */
int bench_listen(const char *who, const char *addr);
/*
 * accept4() one non-blocking connection and set TCP_NODELAY; -1 if none
 * is waiting or on error.  Out of fds it says so and sleeps 10 ms, so a
 * level-triggered loop slows down instead of spinning.
 */
int bench_accept(const char *who, int lfd);
/* epoll_ctl() with the event mask and the data word; prints failures. */
int ep_ctl(int ep, int op, int fd, uint32_t events, uint64_t data);
/*
 * The parent of relay and mini: fork workers processes, each running
 * worker(listen_s, ready_fd), which writes one byte to ready_fd (1: it
 * listens) and never returns; then wait for SIGTERM or SIGINT (exit 0)
 * or a worker's death (exit 1) and stop them all.  Returns the status.
 */
int bench_prefork(const char *who, const char *listen_s, int workers,
    void (*worker)(const char *listen_s, int ready_fd));

#endif
