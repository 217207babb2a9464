/*
 * access.c - the admin endpoint's token and Host checks (see access.h).
 * Pure string work on what the request carries; admin.c calls it with
 * the config lock held.
 */
#include "access.h"

#include <arpa/inet.h>

#include <string.h>
#include <strings.h>

int
admin_token_equal(const char *got, size_t glen, const char *want,
    size_t wlen)
{
    volatile unsigned char acc = (unsigned char)(glen != wlen);

    /* Every byte of want is looked at, whatever got is, so the time
     * tells nothing about how much of a guess was right. */
    for (size_t i = 0; i < wlen; i++)
        acc |= (unsigned char)((i < glen ? got[i] : 0) ^ want[i]);
    return acc == 0;
}

int
admin_bearer_ok(const char *h, const char *token)
{
    size_t n;

    if (h == NULL || token == NULL || token[0] == '\0')
        return 0;
    while (*h == ' ' || *h == '\t')
        h++;
    if (strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t'))
        return 0;
    h += 6;
    while (*h == ' ' || *h == '\t')
        h++;
    n = strlen(h);
    while (n > 0 && (h[n - 1] == ' ' || h[n - 1] == '\t'))
        n--;
    return admin_token_equal(h, n, token, strlen(token));
}

/* An address's family and bytes, from a name as split_host() leaves it. */
struct ipname {
    int family;                         /* 0: not an IP literal */
    unsigned char a[16];
};

/*
 * Split "name", "name:port", "[v6]" or "[v6]:port" into name (brackets
 * dropped) and whether it was bracketed; 0, or -1 if malformed.
 */
static int
split_host(const char *s, char *name, size_t namelen, int *bracketed)
{
    const char *end, *port;
    size_t n;

    *bracketed = s[0] == '[';
    if (*bracketed) {
        if ((end = strchr(s, ']')) == NULL)
            return -1;
        s++;
        port = end + 1;
    } else {
        end = strchr(s, ':');
        port = end;
        if (end == NULL)
            end = port = s + strlen(s);
    }
    n = (size_t)(end - s);
    if (n == 0 || n >= namelen)
        return -1;
    memcpy(name, s, n);
    name[n] = '\0';
    if (*port != '\0') {
        size_t digits;

        if (*port != ':')
            return -1;
        port++;
        digits = strspn(port, "0123456789");
        if (digits == 0 || digits > 5 || port[digits] != '\0')
            return -1;
    }
    for (const char *p = name; *p != '\0'; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '/' ||
            *p == '@' || *p == '[' || *p == ']' ||
            (!*bracketed && *p == ':'))
            return -1;
    return 0;
}

static void
ip_of(const char *name, int bracketed, struct ipname *ip)
{
    ip->family = 0;
    if (bracketed) {
        if (inet_pton(AF_INET6, name, ip->a) == 1)
            ip->family = AF_INET6;
    } else if (inet_pton(AF_INET, name, ip->a) == 1) {
        ip->family = AF_INET;
    }
}

static int
ip_same(const struct ipname *x, const struct ipname *y)
{
    return x->family != 0 && x->family == y->family &&
        memcmp(x->a, y->a, x->family == AF_INET ? 4 : 16) == 0;
}

int
admin_host_ok(const char *host, const char *listen)
{
    static const unsigned char any6[16];
    char name[256], lname[64];
    struct ipname ip, lip, loop4 = { AF_INET, { 127, 0, 0, 1 } },
        loop6 = { AF_INET6, { [15] = 1 } };
    int br, lbr;

    if (host == NULL || split_host(host, name, sizeof(name), &br) != 0)
        return 0;
    if (!br && strcasecmp(name, "localhost") == 0)
        return 1;
    ip_of(name, br, &ip);
    if (br && ip.family == 0)
        return 0;                       /* brackets hold only IPv6 */
    if (ip_same(&ip, &loop4) || ip_same(&ip, &loop6))
        return 1;
    if (listen == NULL || split_host(listen, lname, sizeof(lname), &lbr) != 0)
        return 0;
    ip_of(lname, lbr, &lip);
    if (lip.family == 0)
        return !br && strcasecmp(name, lname) == 0;
    if ((lip.family == AF_INET && memcmp(lip.a, "\0\0\0\0", 4) == 0) ||
        (lip.family == AF_INET6 && memcmp(lip.a, any6, 16) == 0))
        return ip.family != 0;          /* a rebinding sends a name */
    return ip_same(&ip, &lip);
}
