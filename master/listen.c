/*
 * listen.c - opens one SO_REUSEPORT listening socket per worker slot and
 * per configured address.  The master keeps them for its whole life, so
 * a worker that dies leaves its queue to its successor.
 */
#include "master.h"

#include <sys/socket.h>

#include <errno.h>

#include "log.h"
#include "net.h"

void
listen_open(struct master *m)
{
    const char *addrs[MASTER_MAX_LISTEN] = {
        m->cfg->listen_ipv4, m->cfg->listen_ipv6,
    };

    for (int i = 0; i < m->nslots; i++) {
        struct slot *s = &m->slots[i];

        for (int a = 0; a < MASTER_MAX_LISTEN; a++) {
            struct sockaddr_storage ss;
            socklen_t len;
            char desc[80];
            int fd;

            if (addrs[a][0] == '\0')
                continue;
            if (net_parse_literal(addrs[a], m->cfg->port, &ss, &len) != 0)
                fatalx("%s: listen address '%s' is not an IP literal",
                    m->cfg->path, addrs[a]);
            net_format((struct sockaddr *)&ss, desc, sizeof(desc));
            fd = net_listen((struct sockaddr *)&ss, len, m->cfg->backlog);
            if (fd == -1)
                fatal("listen on %s", desc);
            s->fds[s->nfds++] = fd;
            if (i == 0)
                log_info("listening on %s (%d workers)", desc, m->nslots);
        }
    }
}
