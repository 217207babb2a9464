/*
 * admin_req.h - what a route's renderer knows of its request (admin.c
 * routes; renderers live in admin.c, users_api.c, render_qr.c).
 */
#ifndef TELEMT_ADMIN_REQ_H
#define TELEMT_ADMIN_REQ_H

#include <stddef.h>

#include <microhttpd.h>

#include "stats.h"

/* A route's methods; GET takes HEAD too. */
#define ADMIN_GET       1u
#define ADMIN_POST      2u
#define ADMIN_PATCH     4u
#define ADMIN_DELETE    8u

struct admin_req {
    struct MHD_Connection *conn;        /* for query arguments */
    unsigned method;                    /* one ADMIN_* */
    char name[STATS_USER_NAME];         /* the path's "*" segment, or "" */
    const char *body;                   /* a write's body, NUL-terminated */
    size_t body_len;
};

#endif
