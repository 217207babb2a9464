/*
 * inherit.h - TELEMT_INHERIT, the descriptors an old master hands to the
 * new binary it starts on USR2: "listen=3,4;shm=5;ready=6;admin=7;offer=8".  Named
 * fields in any order, each at most once; a descriptor to hand over is a
 * member of struct inherit and a row in inherit.c's field table.  Building
 * and parsing are pure (no I/O, no globals); checking that each descriptor
 * is what its field says is the master's job (master/upgrade.c).
 */
#ifndef TELEMT_INHERIT_H
#define TELEMT_INHERIT_H

#include <stddef.h>

#define INHERIT_ENV             "TELEMT_INHERIT"
#define INHERIT_MAX_LISTEN      128     /* 64 slots x IPv4 and IPv6 */
#define INHERIT_MAX_FD          (1 << 20)       /* fs.nr_open's default */
#define INHERIT_MAX_FDS         (INHERIT_MAX_LISTEN + 8)
#define INHERIT_MAX_LEN         4096    /* the value, NUL included */

struct inherit {
    int nlisten;
    int listen[INHERIT_MAX_LISTEN];     /* listening TCP sockets */
    int shm;                            /* the shared region's memfd */
    int ready;                          /* write end of the READY pipe */
    int admin;                          /* admin_listen's socket, or -1 */
    int offer;                          /* the hand-over offer socket: the
                                         * new binary offers its workers
                                         * there (SOCK_SEQPACKET), or -1 */
};

/* Empty: no listening socket, every single descriptor -1. */
void inherit_init(struct inherit *in);
/*
 * Every descriptor in in (those >= 0) into out[0..return), which holds
 * INHERIT_MAX_FDS.
 */
int inherit_fds(const struct inherit *in, int *out);
/*
 * Write in as TELEMT_INHERIT's value ("" fields left out) into out; 0, or
 * -1 if it does not fit in outlen bytes (out is then cut, NUL-terminated).
 */
int inherit_format(const struct inherit *in, char *out, size_t outlen);
/*
 * Parse s into in.  Strict: fields listen, shm and ready are required and
 * admin and offer optional, each once; values are decimal descriptors 3..2^20 with
 * no sign, space or leading zero, none twice anywhere; nothing else (an
 * unknown field, an empty value, trailing bytes) is accepted.  Returns 0,
 * or -1 with the reason in err (which never quotes s past a field name)
 * and in emptied.
 */
int inherit_parse(const char *s, struct inherit *in, char *err,
    size_t errlen);

#endif
