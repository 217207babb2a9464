/*
 * users_api.h - the users API's routes (admin.c's table names them):
 * GET /api/v1/users/NAME, and the writes, which go to the master
 * (users_edit.c) and are answered once the change is live.
 */
#ifndef TELEMT_USERS_API_H
#define TELEMT_USERS_API_H

#include "abuf.h"
#include "admin_req.h"
#include "admin_snap.h"
#include "ctl.h"

/* The admin process's control socket, once, before any request. */
void users_api_init(int ctl_fd);
/* The main thread took a CTL_USERS_DONE (fd: its text) off the socket. */
void users_api_done(const struct ctl_msg *m, int fd);

unsigned users_api_get(struct abuf *b, const struct admin_snap *s,
    const struct admin_req *q);
unsigned users_api_add(struct abuf *b, const struct admin_snap *s,
    const struct admin_req *q);
unsigned users_api_patch(struct abuf *b, const struct admin_snap *s,
    const struct admin_req *q);
unsigned users_api_delete(struct abuf *b, const struct admin_snap *s,
    const struct admin_req *q);
unsigned users_api_disable(struct abuf *b, const struct admin_snap *s,
    const struct admin_req *q);
unsigned users_api_enable(struct abuf *b, const struct admin_snap *s,
    const struct admin_req *q);
unsigned users_api_rotate(struct abuf *b, const struct admin_snap *s,
    const struct admin_req *q);
unsigned users_api_reset_quota(struct abuf *b, const struct admin_snap *s,
    const struct admin_req *q);

/*
 * admin.c, for the writes (which run without its config lock): render
 * with fn from a fresh snapshot under the lock; the generation of the
 * config this process serves.
 */
unsigned admin_with_snap(struct abuf *b, unsigned (*fn)(struct abuf *b,
    const struct admin_snap *s, void *arg), void *arg);
uint64_t admin_generation(void);
/* 1 if every running worker's row in the region has generation gen. */
int admin_workers_at(uint64_t gen);

#endif
