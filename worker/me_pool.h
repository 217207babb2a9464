/*
 * me_pool.h - a worker's connections to Telegram's middle-end proxies
 * (ME, docs/protocol.md 8) and the clients multiplexed over them.
 *
 * Per DC cluster of the ME list the pool keeps between
 * me_min_connections and me_max_connections ME connections, opened when
 * the cluster's first client comes.  Each ME connection has one thread
 * that dials, shakes hands and then reads: it answers pings, sends its
 * own, and queues what the ME sends for each client by its ext_conn_id.
 * A client's own thread sends its packets (me_client_send()) and takes
 * its queue (me_client_take()) when the client's eventfd says there is
 * something.  When an ME connection dies or is retired (a new list no
 * longer has its address) its clients move to another one of the
 * cluster: MTProto sessions do not depend on the transport connection.
 */
#ifndef TELEMT_ME_POOL_H
#define TELEMT_ME_POOL_H

#include <sys/queue.h>
#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "me_inputs.h"

struct worker;
struct me_pool;
struct me_client;

/* What the ME sent for one client, in arrival order. */
enum me_item_kind { ME_ITEM_DATA, ME_ITEM_ACK, ME_ITEM_CLOSE };

struct me_item {
    STAILQ_ENTRY(me_item) link;
    int kind;                           /* enum me_item_kind */
    size_t len;                         /* DATA: bytes; ACK: 4 */
    uint8_t data[];
};
STAILQ_HEAD(me_items, me_item);

/* The pool of w (created by worker_main() before the first client). */
struct me_pool *me_pool_new(struct worker *w);
/*
 * New inputs from the master (CTL_ME; takes *in's contents over): the
 * secret and lists for new ME connections; connections to addresses the
 * new lists no longer hold are retired once their clients have moved.
 */
void me_pool_set_inputs(struct me_pool *p, struct me_inputs *in);
/*
 * The worker's config changed (a reload): new bounds and timeouts.  The
 * pool reads cfg through the snapshot it is given here, held.
 */
void me_pool_set_config(struct me_pool *p, const struct config *cfg);

/*
 * A client of DC index dc (signed): its cluster, and a live ME
 * connection of it, waited for at most wait_ms (the cluster's first
 * client waits for its handshake).  NULL with *why set if there is no
 * list, no cluster, or no connection came up in time ("no ME list", "no
 * ME reachable for cluster 2"); the caller falls back or closes.  efd is
 * the client's eventfd (its thread keeps owning it), written whenever
 * something is queued for it.
 */
struct me_client *me_client_open(struct me_pool *p, int dc, int efd,
    int wait_ms, const char **why);
/* Its ext_conn_id (random, constant for the connection). */
uint64_t me_client_id(const struct me_client *c);
/* The cluster it was put in (dc, or the list's default). */
int me_client_cluster(const struct me_client *c);
/*
 * Send one RPC_PROXY_REQ payload of n bytes.  buf holds it at buf +
 * ME_SEND_HEAD and has room for ME_SEND_TAIL more bytes after it (the
 * pool frames, pads and encrypts in place).  Waits up to wait_ms for a
 * live connection of the cluster if its own died.  0, or -1 (no
 * connection came up in time: close the client).
 */
#define ME_SEND_HEAD    8
#define ME_SEND_TAIL    (4 + 12)
int me_client_send(struct me_client *c, uint8_t *buf, size_t n, int wait_ms);
/*
 * Move what is queued for c to *out (appended) and return the bytes it
 * held; *closed is set once the ME closed it (RPC_CLOSE_EXT), or the
 * pool closed it for an overflowing queue (*overflow set too).
 */
size_t me_client_take(struct me_client *c, struct me_items *out,
    int *closed, int *overflow);
/* Bytes waiting in c's queue (for back-pressure). */
size_t me_client_queued(struct me_client *c);
/* Free items taken with me_client_take(). */
void me_items_free(struct me_items *items);
/*
 * The client is gone: tell its ME connection (RPC_CLOSE_CONN) unless
 * the ME closed it, forget it, free it.
 */
void me_client_close(struct me_client *c);

#endif
