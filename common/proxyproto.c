/*
 * proxyproto.c - parses and builds PROXY protocol headers (see
 * proxyproto.h).  The parser reads only buf[0..len) and decides as early
 * as it can: a first byte that starts neither version is refused at
 * once, so a client that is not a load balancer costs one read.
 */
#include "proxyproto.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <string.h>

const uint8_t proxyproto_v2_sig[PROXYPROTO_V2_SIG_LEN] = {
    0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

/* v2's fixed part: the signature, then these bytes. */
#define PP_V2_VER_CMD   12              /* version << 4 | command */
#define PP_V2_FAM       13              /* family << 4 | transport */
#define PP_V2_LEN       14              /* 16-bit length of the rest */

static const char pp_v1_sig[] = "PROXY ";
#define PP_V1_SIG_LEN   (sizeof(pp_v1_sig) - 1)
#define PP_V1_TOKENS    6               /* PROXY TCPx src dst sport dport */
static const char pp_v1_unknown[] = "PROXY UNKNOWN";
#define PP_V1_UNKNOWN_LEN   (sizeof(pp_v1_unknown) - 1)

static int
pp_fail(const char **why, const char *what)
{
    *why = what;
    return -1;
}

/* A decimal port, 0..65535, no sign, no leading zero: 0 or -1. */
static int
pp_port(const char *s, uint16_t *out)
{
    unsigned long v = 0;
    size_t n = strlen(s);

    if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v > 65535)
        return -1;
    *out = (uint16_t)v;
    return 0;
}

/* One address and port of a v1 line into ss: 0 or -1. */
static int
pp_v1_addr(int family, const char *addr, const char *port,
    struct sockaddr_storage *ss)
{
    uint16_t p;

    memset(ss, 0, sizeof(*ss));
    if (pp_port(port, &p) != 0)
        return -1;
    if (family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

        s4->sin_family = AF_INET;
        s4->sin_port = htons(p);
        return inet_pton(AF_INET, addr, &s4->sin_addr) == 1 ? 0 : -1;
    }
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(p);
    return inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1 ? 0 : -1;
}

/*
 * The line's length with its CRLF, 0 if it has not ended yet, -1 if it
 * cannot be a v1 line (a byte that is not printable ASCII, a CR without
 * LF, longer than PROXYPROTO_V1_MAX).
 */
static int
pp_v1_line_end(const uint8_t *buf, size_t len, const char **why)
{
    size_t n = len < PROXYPROTO_V1_MAX ? len : PROXYPROTO_V1_MAX;

    /* cppcheck-suppress knownConditionTrueFalse ; len >= 1 here */
    for (size_t i = 0; i < n; i++) {
        if (buf[i] == '\r') {
            if (i + 1 == len)
                return 0;
            if (i + 1 >= PROXYPROTO_V1_MAX || buf[i + 1] != '\n')
                return pp_fail(why, "v1: CR without LF");
            return (int)(i + 2);
        }
        if (buf[i] < 0x20 || buf[i] > 0x7e)
            return pp_fail(why, "v1: a byte that is not printable ASCII");
    }
    if (len >= PROXYPROTO_V1_MAX)
        return pp_fail(why, "v1: longer than 107 bytes");
    return 0;
}

static int
pp_v1(const uint8_t *buf, size_t len, struct proxyproto_hdr *out,
    const char **why)
{
    char line[PROXYPROTO_V1_MAX + 1], *tok[PP_V1_TOKENS], *p;
    int end = pp_v1_line_end(buf, len, why), n = 0, family;

    if (end < 2)                        /* 0 or -1; a line has its CRLF */
        return end;
    memcpy(line, buf, (size_t)end - 2);
    line[end - 2] = '\0';
    memset(out, 0, sizeof(*out));
    out->version = 1;
    if (strncmp(line, pp_v1_unknown, PP_V1_UNKNOWN_LEN) == 0 &&
        (line[PP_V1_UNKNOWN_LEN] == '\0' ||
        line[PP_V1_UNKNOWN_LEN] == ' ')) {
        /* The rest of the line means nothing (the spec lets the sender
         * put the addresses there or not). */
        out->local = 1;
        return end;
    }
    /* Fields are separated by exactly one space, none empty. */
    for (p = line; p != NULL; n++) {
        if (n == PP_V1_TOKENS)
            return pp_fail(why, "v1: too many fields");
        tok[n] = p;
        p = strchr(p, ' ');
        if (p != NULL)
            *p++ = '\0';
    }
    if (n != PP_V1_TOKENS)
        return pp_fail(why, "v1: not PROXY TCP4|TCP6 src dst sport dport");
    for (int i = 0; i < PP_V1_TOKENS; i++)
        if (tok[i][0] == '\0')
            return pp_fail(why, "v1: an empty field");
    if (strcmp(tok[1], "TCP4") == 0)
        family = AF_INET;
    else if (strcmp(tok[1], "TCP6") == 0)
        family = AF_INET6;
    else
        return pp_fail(why, "v1: protocol not TCP4, TCP6 or UNKNOWN");
    if (pp_v1_addr(family, tok[2], tok[4], &out->src) != 0 ||
        pp_v1_addr(family, tok[3], tok[5], &out->dst) != 0)
        return pp_fail(why, "v1: bad address or port");
    return end;
}

static uint16_t
pp_be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* The TLVs after the addresses, only checked to be well formed. */
static int
pp_v2_tlvs(const uint8_t *p, size_t n)
{
    while (n > 0) {
        size_t vlen;

        if (n < 3)
            return -1;
        vlen = pp_be16(p + 1);
        if (vlen > n - 3)
            return -1;
        p += 3 + vlen;
        n -= 3 + vlen;
    }
    return 0;
}

/* An IP address block (family AF_INET or AF_INET6) into out. */
static void
pp_v2_inet(int family, const uint8_t *a, struct proxyproto_hdr *out)
{
    if (family == AF_INET) {
        struct sockaddr_in *s = (struct sockaddr_in *)&out->src;
        struct sockaddr_in *d = (struct sockaddr_in *)&out->dst;

        s->sin_family = d->sin_family = AF_INET;
        memcpy(&s->sin_addr, a, 4);
        memcpy(&d->sin_addr, a + 4, 4);
        memcpy(&s->sin_port, a + 8, 2);
        memcpy(&d->sin_port, a + 10, 2);
        return;
    }
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)&out->src;
    struct sockaddr_in6 *d = (struct sockaddr_in6 *)&out->dst;

    s->sin6_family = d->sin6_family = AF_INET6;
    memcpy(&s->sin6_addr, a, 16);
    memcpy(&d->sin6_addr, a + 16, 16);
    memcpy(&s->sin6_port, a + 32, 2);
    memcpy(&d->sin6_port, a + 34, 2);
}

static int
pp_v2(const uint8_t *buf, size_t len, struct proxyproto_hdr *out,
    const char **why)
{
    size_t n = len < PROXYPROTO_V2_SIG_LEN ? len : PROXYPROTO_V2_SIG_LEN;
    size_t plen, alen;
    int cmd, fam, proto;

    if (memcmp(buf, proxyproto_v2_sig, n) != 0)
        return pp_fail(why, "no PROXY signature");
    if (len < PROXYPROTO_V2_FIXED)
        return 0;
    if ((buf[PP_V2_VER_CMD] & 0xf0) != PROXYPROTO_V2_VERSION)
        return pp_fail(why, "v2: version is not 2");
    cmd = buf[PP_V2_VER_CMD] & 0x0f;
    if (cmd != PROXYPROTO_V2_LOCAL && cmd != PROXYPROTO_V2_PROXY)
        return pp_fail(why, "v2: command neither LOCAL nor PROXY");
    fam = buf[PP_V2_FAM] & 0xf0;
    proto = buf[PP_V2_FAM] & 0x0f;
    plen = pp_be16(buf + PP_V2_LEN);
    if (plen > PROXYPROTO_V2_MAX_LEN)
        return pp_fail(why, "v2: longer than we take");
    if (len < PROXYPROTO_V2_FIXED + plen)
        return 0;
    memset(out, 0, sizeof(*out));
    out->version = 2;
    /* LOCAL: the balancer speaking for itself; the block means nothing. */
    if (cmd == PROXYPROTO_V2_LOCAL) {
        out->local = 1;
        return (int)(PROXYPROTO_V2_FIXED + plen);
    }
    switch (fam) {
    case PROXYPROTO_AF_UNSPEC:
        alen = 0;
        break;
    case PROXYPROTO_AF_INET:
        alen = PROXYPROTO_V2_INET_LEN;
        break;
    case PROXYPROTO_AF_INET6:
        alen = PROXYPROTO_V2_INET6_LEN;
        break;
    case PROXYPROTO_AF_UNIX:
        alen = PROXYPROTO_V2_UNIX_LEN;
        break;
    default:
        return pp_fail(why, "v2: unknown address family");
    }
    if (proto > PROXYPROTO_T_DGRAM)
        return pp_fail(why, "v2: unknown transport");
    if ((fam == PROXYPROTO_AF_INET || fam == PROXYPROTO_AF_INET6) &&
        proto != PROXYPROTO_T_STREAM)
        return pp_fail(why, "v2: an IP client not over TCP");
    if (plen < alen)
        return pp_fail(why, "v2: address block shorter than its family's");
    if (pp_v2_tlvs(buf + PROXYPROTO_V2_FIXED + alen, plen - alen) != 0)
        return pp_fail(why, "v2: malformed TLV");
    if (fam == PROXYPROTO_AF_INET || fam == PROXYPROTO_AF_INET6)
        pp_v2_inet(fam == PROXYPROTO_AF_INET ? AF_INET : AF_INET6,
            buf + PROXYPROTO_V2_FIXED, out);
    else
        out->local = 1;     /* no IP client to speak of: the socket's */
    return (int)(PROXYPROTO_V2_FIXED + plen);
}

int
proxyproto_parse(const uint8_t *buf, size_t len, struct proxyproto_hdr *out,
    const char **why)
{
    size_t n = len < PP_V1_SIG_LEN ? len : PP_V1_SIG_LEN;

    *why = "";
    if (len == 0)
        return 0;
    if (buf[0] == (uint8_t)pp_v1_sig[0]) {
        if (memcmp(buf, pp_v1_sig, n) != 0)
            return pp_fail(why, "no PROXY signature");
        return pp_v1(buf, len, out, why);
    }
    return pp_v2(buf, len, out, why);
}

/* src and dst as two addresses of one family, IPv4 mapped if mixed. */
struct pp_pair {
    int family;
    uint8_t s[16], d[16];
    uint16_t sport, dport;              /* network order */
};

static int
pp_is_ip(const struct sockaddr *sa)
{
    return sa != NULL &&
        (sa->sa_family == AF_INET || sa->sa_family == AF_INET6);
}

static void
pp_as6(const struct sockaddr *sa, uint8_t a[16], uint16_t *port)
{
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

        memcpy(a, &s6->sin6_addr, 16);
        *port = s6->sin6_port;
        return;
    }
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

    memset(a, 0, 10);
    a[10] = a[11] = 0xff;
    memcpy(a + 12, &s4->sin_addr, 4);
    *port = s4->sin_port;
}

static void
pp_pair(const struct sockaddr *src, const struct sockaddr *dst,
    struct pp_pair *p)
{
    memset(p, 0, sizeof(*p));
    if (src->sa_family == AF_INET && dst->sa_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)src;
        const struct sockaddr_in *d = (const struct sockaddr_in *)dst;

        p->family = AF_INET;
        memcpy(p->s, &s->sin_addr, 4);
        memcpy(p->d, &d->sin_addr, 4);
        p->sport = s->sin_port;
        p->dport = d->sin_port;
        return;
    }
    p->family = AF_INET6;
    pp_as6(src, p->s, &p->sport);
    pp_as6(dst, p->d, &p->dport);
}

static size_t
pp_build_v1(const struct pp_pair *p, int ip, uint8_t *out, size_t cap)
{
    char line[PROXYPROTO_V1_MAX + 1];
    int n;

    if (!ip)
        n = snprintf(line, sizeof(line), "PROXY UNKNOWN\r\n");
    else {
        char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];

        if (inet_ntop(p->family, p->s, s, sizeof(s)) == NULL ||
            inet_ntop(p->family, p->d, d, sizeof(d)) == NULL)
            return 0;
        n = snprintf(line, sizeof(line), "PROXY %s %s %s %u %u\r\n",
            p->family == AF_INET ? "TCP4" : "TCP6", s, d,
            (unsigned)ntohs(p->sport), (unsigned)ntohs(p->dport));
    }
    if (n < 0 || (size_t)n >= sizeof(line) || (size_t)n > cap)
        return 0;
    memcpy(out, line, (size_t)n);
    return (size_t)n;
}

static size_t
pp_build_v2(const struct pp_pair *p, int ip, uint8_t *out, size_t cap)
{
    size_t alen = !ip ? 0 : p->family == AF_INET ?
        PROXYPROTO_V2_INET_LEN : PROXYPROTO_V2_INET6_LEN;
    uint8_t *q = out + PROXYPROTO_V2_FIXED;

    if (cap < PROXYPROTO_V2_FIXED + alen)
        return 0;
    memcpy(out, proxyproto_v2_sig, PROXYPROTO_V2_SIG_LEN);
    out[PP_V2_VER_CMD] = PROXYPROTO_V2_VERSION |
        (ip ? PROXYPROTO_V2_PROXY : PROXYPROTO_V2_LOCAL);
    out[PP_V2_FAM] = !ip ? PROXYPROTO_AF_UNSPEC | PROXYPROTO_T_UNSPEC :
        (p->family == AF_INET ? PROXYPROTO_AF_INET : PROXYPROTO_AF_INET6) |
        PROXYPROTO_T_STREAM;
    out[PP_V2_LEN] = (uint8_t)(alen >> 8);
    out[PP_V2_LEN + 1] = (uint8_t)alen;
    if (ip) {
        size_t a = alen / 2 - 2;        /* one address's length */

        memcpy(q, p->s, a);
        memcpy(q + a, p->d, a);
        memcpy(q + 2 * a, &p->sport, 2);
        memcpy(q + 2 * a + 2, &p->dport, 2);
    }
    return PROXYPROTO_V2_FIXED + alen;
}

size_t
proxyproto_build(int version, const struct sockaddr *src,
    const struct sockaddr *dst, uint8_t *out, size_t cap)
{
    struct pp_pair p;
    int ip = pp_is_ip(src) && pp_is_ip(dst);

    memset(&p, 0, sizeof(p));
    if (ip)
        pp_pair(src, dst, &p);
    if (version == 1)
        return pp_build_v1(&p, ip, out, cap);
    if (version == 2)
        return pp_build_v2(&p, ip, out, cap);
    return 0;
}
