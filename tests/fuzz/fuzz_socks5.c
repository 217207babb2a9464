/*
 * fuzz_socks5.c - libFuzzer target for the SOCKS5 answer parsers
 * (common/socks5.c) an upstream's bytes go through.  The input is a
 * method answer (2 bytes), an RFC 1929 answer (2 bytes), then a CONNECT
 * reply: no parser may read past what it was given, a reply length must
 * be one of the RFC's, and a bound address must be IPv4 or IPv6 with a
 * length that fits it.
 */
#include <netinet/in.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "socks5.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    uint8_t *reply;
    size_t n;
    int want, rep = -1, r;

    if (size < 4 + SOCKS5_REPLY_HEAD)
        return 0;
    r = socks5_parse_method(data, data[1] & 1 ? SOCKS5_METHOD_USERPASS :
        SOCKS5_METHOD_NONE);
    if (r != 0 && r != SOCKS5_BAD && r != SOCKS5_REFUSED)
        abort();
    r = socks5_parse_auth(data + 2);
    if (r != 0 && r != SOCKS5_BAD && r != SOCKS5_REFUSED)
        abort();
    data += 4;
    size -= 4;
    /* An exact copy, so that ASan sees any read past the reply. */
    n = size > SOCKS5_REPLY_MAX ? SOCKS5_REPLY_MAX : size;
    reply = malloc(n);
    if (reply == NULL)
        abort();
    memcpy(reply, data, n);
    want = socks5_reply_length(reply);
    if (want != SOCKS5_BAD && (want < 8 || want > SOCKS5_REPLY_MAX))
        abort();
    r = socks5_parse_reply(reply, n, &rep, &ss, &len);
    if (r == 0) {
        if ((size_t)want != n)
            abort();
        if (len != 0 && !(ss.ss_family == AF_INET &&
            len == sizeof(struct sockaddr_in)) && !(ss.ss_family ==
            AF_INET6 && len == sizeof(struct sockaddr_in6)))
            abort();
    } else if (r == SOCKS5_REFUSED) {
        if (rep <= 0 || rep > 255 || socks5_reply_str(rep) == NULL)
            abort();
    } else if (r != SOCKS5_BAD) {
        abort();
    }
    free(reply);
    return 0;
}
