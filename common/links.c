/*
 * links.c - builds client-side secrets and tg:// / t.me proxy links, for
 * the --links flag and the admin API's /api/v1/users.  Pure string work.
 */
#include "links.h"

#include <string.h>

#include "util.h"

int
links_secret(enum link_mode mode, const uint8_t secret[16],
    const char *domain, char *out, size_t outlen)
{
    size_t dlen = mode == LINK_TLS ? strlen(domain) : 0;
    size_t need = 2 + 32 + 2 * dlen + 1;

    if (outlen < need)
        return -1;
    switch (mode) {
    case LINK_CLASSIC:
        hex_encode(secret, 16, out);
        break;
    case LINK_SECURE:
        memcpy(out, "dd", 2);
        hex_encode(secret, 16, out + 2);
        break;
    case LINK_TLS:
        memcpy(out, "ee", 2);
        hex_encode(secret, 16, out + 2);
        hex_encode((const uint8_t *)domain, dlen, out + 34);
        break;
    }
    return 0;
}

/* Percent-encode a query value: everything but RFC 3986 unreserved.
 * Returns 0, or -1 if out is too small. */
static int
url_encode(const char *in, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (; *in != '\0'; in++) {
        unsigned char c = (unsigned char)*in;

        if (o + 4 > outlen)
            return -1;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
            c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return 0;
}

const char *
links_host(const struct config *cfg)
{
    if (cfg->public_host[0] != '\0')
        return cfg->public_host;
    if (cfg->listen_ipv4[0] != '\0' && strcmp(cfg->listen_ipv4, "0.0.0.0"))
        return cfg->listen_ipv4;
    if (cfg->listen_ipv6[0] != '\0' && strcmp(cfg->listen_ipv6, "::"))
        return cfg->listen_ipv6;
    return NULL;
}

int
links_each(const struct config *cfg, int user, links_fn *fn, void *arg)
{
    static const char *const names[] = { "classic", "secure", "tls" };
    const bool on[] = { cfg->mode_classic, cfg->mode_secure, cfg->mode_tls };
    const char *host = links_host(cfg);
    char server[LINKS_URL_MAX], secret[LINKS_URL_MAX];
    struct proxy_link l;

    if (host == NULL)
        return LINKS_NO_HOST;
    if (url_encode(host, server, sizeof(server)) != 0)
        return LINKS_TOO_LONG;
    for (int m = LINK_CLASSIC; m <= LINK_TLS; m++) {
        /* Fake TLS: one link per accepted domain (its SNI). */
        int ndom = m == LINK_TLS ? cfg->ntls_domains : 1;

        if (!on[m])
            continue;
        for (int d = 0; d < ndom; d++) {
            l.mode = names[m];
            l.domain = m == LINK_TLS ? cfg->tls_domains[d] : "";
            if (links_secret((enum link_mode)m, cfg->users[user].secret,
                l.domain, secret, sizeof(secret)) != 0 ||
                (size_t)snprintf(l.tg, sizeof(l.tg), "tg://proxy?server=%s"
                "&port=%d&secret=%s", server, cfg->public_port, secret) >=
                sizeof(l.tg) ||
                (size_t)snprintf(l.tme, sizeof(l.tme), "https://t.me/proxy?"
                "server=%s&port=%d&secret=%s", server, cfg->public_port,
                secret) >= sizeof(l.tme))
                return LINKS_TOO_LONG;
            fn(arg, &l);
        }
    }
    return 0;
}

/* links_print()'s links_fn: two lines per link. */
struct print_arg {
    FILE *out;
    const char *user;
};

static void
print_link(void *arg, const struct proxy_link *l)
{
    const struct print_arg *p = arg;

    fprintf(p->out, "%s %s %s\n", p->user, l->mode, l->tg);
    fprintf(p->out, "%s %s %s\n", p->user, l->mode, l->tme);
}

int
links_print(const struct config *cfg, FILE *out, char *err, size_t errlen)
{
    for (int u = 0; u < cfg->nusers; u++) {
        struct print_arg p = { out, cfg->users[u].name };

        switch (links_each(cfg, u, print_link, &p)) {
        case 0:
            break;
        case LINKS_NO_HOST:
            snprintf(err, errlen, "%s: set public_host to the address "
                "clients should dial; the listen address is a wildcard",
                cfg->path);
            return -1;
        default:
            snprintf(err, errlen, "%s: public_host or tls_domain too long "
                "for a link", cfg->path);
            return -1;
        }
    }
    return 0;
}
