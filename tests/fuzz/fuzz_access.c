/*
 * fuzz_access.c - libFuzzer target for the admin endpoint's checks on
 * what an HTTP client sends: admin_host_ok() on the Host header and
 * admin_bearer_ok() on Authorization.  Input: four fields cut at '\n':
 * Host, admin_listen, Authorization, admin_token (a missing one is NULL).
 * Besides ASan's view of every read, the answers must not depend on what
 * the checks promise to ignore: letter case, a ":port" on the Host, the
 * blanks around a token.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FIELDS  4
#define MAXLEN  1024

static void
upper(const char *s, char *out)
{
    size_t i;

    for (i = 0; s[i] != '\0'; i++)
        out[i] = (char)toupper((unsigned char)s[i]);
    out[i] = '\0';
}

static void
check_host(const char *host, const char *listen)
{
    char buf[MAXLEN + 16];
    int ok = admin_host_ok(host, listen);

    if (host == NULL) {
        if (ok)
            abort();
        return;
    }
    /* Names and IPv6 hex are compared without regard to case. */
    upper(host, buf);
    if (admin_host_ok(buf, listen) != ok)
        abort();
    /* Any port number is taken, so adding one to a portless name
     * changes nothing (a name that already has one gets a second,
     * which is refused). */
    if (strchr(host, ':') == NULL && host[0] != '[') {
        snprintf(buf, sizeof(buf), "%s:8080", host);
        if (admin_host_ok(buf, listen) != ok)
            abort();
    }
    /* Loopback by name or number is always ours. */
    if (!admin_host_ok("localhost", listen) ||
        !admin_host_ok("127.0.0.1:1", listen) ||
        !admin_host_ok("[::1]", listen))
        abort();
}

static void
check_bearer(const char *hdr, const char *token)
{
    char buf[MAXLEN + 16];
    size_t n;
    int ok = admin_bearer_ok(hdr, token);

    if (ok && (hdr == NULL || token == NULL || token[0] == '\0'))
        abort();
    if (token == NULL || token[0] == '\0')
        return;
    n = strlen(token);
    /* The token itself, however the header is spaced and cased, passes
     * unless the token has blanks at its ends (they are trimmed off the
     * header's side only). */
    snprintf(buf, sizeof(buf), " \tbEaReR \t%s\t ", token);
    if (admin_bearer_ok(buf, token) !=
        (token[0] != ' ' && token[0] != '\t' &&
        token[n - 1] != ' ' && token[n - 1] != '\t'))
        abort();
    /* One byte more or less is refused. */
    snprintf(buf, sizeof(buf), "Bearer %sx", token);
    if (admin_bearer_ok(buf, token))
        abort();
    if (n > 1) {
        snprintf(buf, sizeof(buf), "Bearer %.*s", (int)(n - 1), token);
        if (admin_bearer_ok(buf, token))
            abort();
    }
    if (!admin_token_equal(token, n, token, n) ||
        admin_token_equal(token, n - 1, token, n))
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *f[FIELDS] = { NULL }, *copy, *p, *nl;
    int i;

    /* Header values are C strings by the time the checks see them. */
    if (size > MAXLEN || memchr(data, 0, size) != NULL ||
        (copy = malloc(size + 1)) == NULL)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    for (i = 0, p = copy; i < FIELDS && p != NULL; i++) {
        f[i] = p;
        if ((nl = strchr(p, '\n')) != NULL)
            *nl++ = '\0';
        p = nl;
    }
    check_host(f[0], f[1]);
    check_bearer(f[2], f[3]);
    free(copy);
    return 0;
}
