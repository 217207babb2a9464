/*
 * socks5.c - SOCKS5 client messages (RFC 1928, RFC 1929 auth) built and
 * parsed without I/O; see socks5.h.  Every parser takes the server's
 * bytes as hostile: versions, lengths and address types are checked.
 */
#include "socks5.h"

#include <netinet/in.h>

#include <string.h>

size_t
socks5_greeting(uint8_t *out, int with_auth)
{
    /* One method only: credentials given must be used, never skipped
     * because the server would also take none. */
    out[0] = SOCKS5_VERSION;
    out[1] = 1;
    out[2] = with_auth ? SOCKS5_METHOD_USERPASS : SOCKS5_METHOD_NONE;
    return 3;
}

int
socks5_parse_method(const uint8_t in[2], int want)
{
    if (in[0] != SOCKS5_VERSION)
        return SOCKS5_BAD;
    if (in[1] == SOCKS5_METHOD_REFUSED)
        return SOCKS5_REFUSED;
    return in[1] == want ? 0 : SOCKS5_BAD;
}

size_t
socks5_auth_request(uint8_t *out, const char *user, const char *pass)
{
    size_t ul = strlen(user), pl = strlen(pass);

    if (ul == 0 || ul > SOCKS5_CRED_MAX || pl == 0 || pl > SOCKS5_CRED_MAX)
        return 0;
    out[0] = SOCKS5_AUTH_VERSION;
    out[1] = (uint8_t)ul;
    memcpy(out + 2, user, ul);
    out[2 + ul] = (uint8_t)pl;
    memcpy(out + 3 + ul, pass, pl);
    return 3 + ul + pl;
}

int
socks5_parse_auth(const uint8_t in[2])
{
    if (in[0] != SOCKS5_AUTH_VERSION)
        return SOCKS5_BAD;
    return in[1] == 0 ? 0 : SOCKS5_REFUSED;
}

size_t
socks5_connect_request(uint8_t *out, const struct sockaddr *sa)
{
    out[0] = SOCKS5_VERSION;
    out[1] = SOCKS5_CMD_CONNECT;
    out[2] = 0;                         /* reserved */
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

        out[3] = SOCKS5_ATYP_IPV4;
        memcpy(out + 4, &in->sin_addr, 4);
        memcpy(out + 8, &in->sin_port, 2);      /* network order both */
        return 10;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

        out[3] = SOCKS5_ATYP_IPV6;
        memcpy(out + 4, &in6->sin6_addr, 16);
        memcpy(out + 20, &in6->sin6_port, 2);
        return 22;
    }
    return 0;
}

int
socks5_reply_length(const uint8_t head[SOCKS5_REPLY_HEAD])
{
    if (head[0] != SOCKS5_VERSION)      /* RSV: not checked, servers differ */
        return SOCKS5_BAD;
    switch (head[3]) {
    case SOCKS5_ATYP_IPV4:
        return 4 + 4 + 2;
    case SOCKS5_ATYP_IPV6:
        return 4 + 16 + 2;
    case SOCKS5_ATYP_NAME:
        if (head[4] == 0)
            return SOCKS5_BAD;
        return 4 + 1 + head[4] + 2;
    default:
        return SOCKS5_BAD;
    }
}

/* *bound from an IPv4 or IPv6 BND.ADDR/BND.PORT; family 0 if unset. */
static void
socks5_bound(const uint8_t *in, int atyp, struct sockaddr_storage *bound,
    socklen_t *boundlen)
{
    static const uint8_t zero[16];

    memset(bound, 0, sizeof(*bound));
    *boundlen = 0;
    if (atyp == SOCKS5_ATYP_IPV4 && memcmp(in + 4, zero, 4) != 0 &&
        memcmp(in + 8, zero, 2) != 0) {
        struct sockaddr_in *sin = (struct sockaddr_in *)bound;

        sin->sin_family = AF_INET;
        memcpy(&sin->sin_addr, in + 4, 4);
        memcpy(&sin->sin_port, in + 8, 2);
        *boundlen = sizeof(*sin);
    } else if (atyp == SOCKS5_ATYP_IPV6 && memcmp(in + 4, zero, 16) != 0 &&
        memcmp(in + 20, zero, 2) != 0) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)bound;

        sin6->sin6_family = AF_INET6;
        memcpy(&sin6->sin6_addr, in + 4, 16);
        memcpy(&sin6->sin6_port, in + 20, 2);
        *boundlen = sizeof(*sin6);
    }
}

int
socks5_parse_reply(const uint8_t *in, size_t len, int *rep,
    struct sockaddr_storage *bound, socklen_t *boundlen)
{
    int want;

    if (len < SOCKS5_REPLY_HEAD)
        return SOCKS5_BAD;
    want = socks5_reply_length(in);
    if (want < 0 || (size_t)want != len)
        return SOCKS5_BAD;
    *rep = in[1];
    if (in[1] != SOCKS5_REP_OK)
        return SOCKS5_REFUSED;
    socks5_bound(in, in[3], bound, boundlen);
    return 0;
}

const char *
socks5_reply_str(int rep)
{
    /* RFC 1928 section 6. */
    static const char *const why[] = {
        "succeeded", "general SOCKS server failure",
        "connection not allowed by ruleset", "network unreachable",
        "host unreachable", "connection refused", "TTL expired",
        "command not supported", "address type not supported",
    };

    if (rep >= 0 && rep < (int)(sizeof(why) / sizeof(why[0])))
        return why[rep];
    return "unassigned reply code";
}

int
socks5_rep_is_target(int rep)
{
    return rep >= 0x03 && rep <= 0x06;
}
