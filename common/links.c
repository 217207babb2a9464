/*
 * links.c - builds client-side secrets and tg:// / t.me proxy links for
 * the --links flag (and later the admin API).  Pure string work.
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

/* Percent-encode a query value: everything but RFC 3986 unreserved. */
static void
url_encode(const char *in, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (; *in != '\0' && o + 4 < outlen; in++) {
        unsigned char c = (unsigned char)*in;

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
}

int
links_print(const struct config *cfg, FILE *out, char *err, size_t errlen)
{
    static const char *const names[] = { "classic", "secure", "tls" };
    const bool on[] = { cfg->mode_classic, cfg->mode_secure, cfg->mode_tls };
    const char *host = cfg->public_host;
    char server[1024], secret[600];

    if (host[0] == '\0') {
        if (cfg->listen_ipv4[0] != '\0' &&
            strcmp(cfg->listen_ipv4, "0.0.0.0") != 0)
            host = cfg->listen_ipv4;
        else if (cfg->listen_ipv6[0] != '\0' &&
            strcmp(cfg->listen_ipv6, "::") != 0)
            host = cfg->listen_ipv6;
        else {
            snprintf(err, errlen, "%s: set public_host to the address "
                "clients should dial; the listen address is a wildcard",
                cfg->path);
            return -1;
        }
    }
    url_encode(host, server, sizeof(server));
    for (int u = 0; u < cfg->nusers; u++) {
        for (int m = LINK_CLASSIC; m <= LINK_TLS; m++) {
            /* Fake TLS: one link per accepted domain (its SNI). */
            int ndom = m == LINK_TLS ? cfg->ntls_domains : 1;

            if (!on[m])
                continue;
            for (int d = 0; d < ndom; d++) {
                if (links_secret((enum link_mode)m, cfg->users[u].secret,
                    m == LINK_TLS ? cfg->tls_domains[d] : "", secret,
                    sizeof(secret)) != 0) {
                    snprintf(err, errlen, "%s: tls_domain too long for a "
                        "link", cfg->path);
                    return -1;
                }
                fprintf(out, "%s %s tg://proxy?server=%s&port=%d"
                    "&secret=%s\n", cfg->users[u].name, names[m], server,
                    cfg->public_port, secret);
                fprintf(out, "%s %s https://t.me/proxy?server=%s&port=%d"
                    "&secret=%s\n", cfg->users[u].name, names[m], server,
                    cfg->public_port, secret);
            }
        }
    }
    return 0;
}
