/*
 * net.h - socket helpers shared by master, workers and test tools:
 * SO_REUSEPORT listeners, address parsing, connect and I/O with deadlines,
 * client socket options.  Every blocking step takes an absolute deadline
 * on the monotonic clock (mono_ms()), so no read can hang forever.
 */
#ifndef TELEMT_NET_H
#define TELEMT_NET_H

#include <sys/socket.h>

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

/* I/O outcomes besides a byte count. */
#define NET_EOF         0
#define NET_ERR        -1
#define NET_TIMEOUT    -2
#define NET_INTR       -3       /* a signal let in by the wait set came */

#define NET_DIAL_MAX    8       /* addresses net_dial() tries */

/*
 * Parse "A.B.C.D:port", "[v6]:port" or "name:port" into host (without
 * brackets) and port.  Returns 0, or -1 if malformed.
 */
int net_split_hostport(const char *s, char *host, size_t hostlen,
    int *port);
/* Resolve a numeric address (no DNS) into ss; -1 if not a literal. */
int net_parse_literal(const char *host, int port,
    struct sockaddr_storage *ss, socklen_t *len);
/* Both in one: a numeric "A.B.C.D:port" or "[v6]:port"; -1 if not. */
int net_parse_addr(const char *s, struct sockaddr_storage *ss,
    socklen_t *len);
struct net_addr {
    struct sockaddr_storage ss;
    socklen_t len;
};

/*
 * Append the addresses of host:port (an IP literal, or a name resolved
 * with getaddrinfo, which may block) to out[n..max).  Returns the new n;
 * n unchanged if nothing resolved.
 */
int net_resolve(const char *host, int port, struct net_addr *out, int n,
    int max);
/* Stable-sort addrs so that family first comes first. */
void net_order(struct net_addr *addrs, int n, int first);
/*
 * Connect to the first of addrs[0..n) that answers, family first tried
 * first, each with timeout_s.  Returns the fd or -1; desc receives the
 * address used (or the last one tried; left alone if n is 0).
 */
int net_connect_any(struct net_addr *addrs, int n, int first,
    int timeout_s, char *desc, size_t desclen);
/*
 * Resolve host:port and connect to the first address that answers,
 * within timeout_s in all (the lookup included): each address gets an
 * equal share of the time left.  Returns the fd or -1; desc as above.
 */
int net_dial(const char *host, int port, int first, int timeout_s,
    char *desc, size_t desclen);
struct net_cidr {
    int family;                         /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    int prefix;
};

/* Parse "10.0.0.0/8", "2001:db8::/32" or a bare address; 0 or -1. */
int net_parse_cidr(const char *s, struct net_cidr *out);
/* 1 if sa (IPv4, IPv6 or IPv4-mapped IPv6) lies in the network. */
int net_cidr_match(const struct net_cidr *n, const struct sockaddr *sa);
/* 1 if sa is a loopback address (127.0.0.0/8, ::1). */
int net_is_loopback(const struct sockaddr *sa);
/* Format an address as "1.2.3.4:5" or "[::1]:5". */
void net_format(const struct sockaddr *sa, char *out, size_t outlen);
/*
 * A non-blocking, close-on-exec listening socket with SO_REUSEADDR and
 * SO_REUSEPORT (IPV6_V6ONLY for IPv6).  Returns the fd, or -1 with errno.
 */
int net_listen(const struct sockaddr *sa, socklen_t len, int backlog);
/*
 * The same without SO_REUSEPORT: while it is open no other socket can
 * bind the address (the admin endpoint's, which carries bearer tokens).
 */
int net_listen_one(const struct sockaddr *sa, socklen_t len, int backlog);
/*
 * Connect a non-blocking socket to sa before deadline_ms.  Returns the
 * connected fd, or NET_ERR / NET_TIMEOUT (errno set for NET_ERR).
 */
int net_connect(const struct sockaddr *sa, socklen_t len,
    int64_t deadline_ms);
/*
 * A non-blocking, close-on-exec TCP socket of family for an outgoing
 * connection: bound to interface ifname (SO_BINDTODEVICE) and to source
 * address src (an IP literal of that family, any port) when they are not
 * "".  The fd, or NET_ERR with errno and *why ("bind to 10.0.0.1").
 */
int net_socket_from(int family, const char *ifname, const char *src,
    const char **why);
/* The same on a non-blocking socket fd the caller made (and bound);
 * fd is closed on failure. */
int net_connect_fd(int fd, const struct sockaddr *sa, socklen_t len,
    int64_t deadline_ms);
/*
 * Wait until fd is readable (or has an error or EOF to tell): 0, or
 * NET_TIMEOUT, NET_INTR (as net_read_atleast()), NET_ERR.  For a reader
 * that knows a read now would find nothing: an answer a round trip away.
 */
int net_wait_readable(int fd, int64_t deadline_ms, const sigset_t *wake);
/*
 * Read into buf until at least min bytes (and at most cap) are there, or
 * until the deadline.  Returns the count read (>= min), NET_EOF if the
 * peer closed first (*got tells how much arrived), NET_TIMEOUT or NET_ERR;
 * NET_INTR if wake (the signal mask during waits; NULL: keep the thread's)
 * let a signal in.
 */
int net_read_atleast(int fd, uint8_t *buf, size_t min, size_t cap,
    int64_t deadline_ms, const sigset_t *wake, size_t *got);
/* Write all len bytes before the deadline: 0, NET_TIMEOUT or NET_ERR. */
int net_write_all(int fd, const uint8_t *buf, size_t len,
    int64_t deadline_ms);
/* a then b, as net_write_all() would write them one after the other, in
 * as few sendmsg() calls as the socket takes. */
int net_write2_all(int fd, const uint8_t *a, size_t alen, const uint8_t *b,
    size_t blen, int64_t deadline_ms);
/*
 * Client socket options: TCP keepalive every keepalive_s seconds (0 =
 * off), TCP_USER_TIMEOUT ack_timeout_s (0 = off), TCP_NODELAY.
 */
void net_client_opts(int fd, int keepalive_s, int ack_timeout_s);
/* TCP keepalive every keepalive_s seconds (0: leave it off). */
void net_keepalive(int fd, int keepalive_s);
#define NET_KEEPALIVE_PROBES    3       /* unanswered probes: dead */
/*
 * Only SO_KEEPALIVE (keepalive_s > 0), for an accepted socket whose
 * listener holds the timings (master/listen.c).
 */
void net_keepalive_on(int fd, int keepalive_s);
/* Make the last close of fd send a reset, not a FIN (SO_LINGER 0). */
void net_reset_on_close(int fd);
/*
 * Write len bytes as pieces of at most seg bytes, each in a TCP segment of
 * its own: a piece is written only once the one before it has left (so
 * the kernel cannot merge them), with TCP_NODELAY.  Segments the kernel
 * retransmits after a loss may still be merged.  seg 0 (or >= len) is
 * net_write_all().  0, NET_TIMEOUT or NET_ERR.
 */
int net_write_segments(int fd, const uint8_t *buf, size_t len, size_t seg,
    int64_t deadline_ms);

#endif
