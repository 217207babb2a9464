/*
 * me_proto.c - the ME RPC protocol (see me_proto.h, docs/protocol.md 8).
 *
 * MD5, SHA-1 and AES-256-CBC come straight from libcrypto's EVP calls:
 * the KDF runs once per ME connection and the CBC contexts live as long
 * as it does, so crypto.h's per-connection CTR streams are no model here.
 */
#include "me_proto.h"

#include <netinet/in.h>

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "net.h"
#include "proto.h"

static void
put64(uint8_t *p, uint64_t v)
{
    me_put32(p, (uint32_t)v);
    me_put32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t
get64(const uint8_t *p)
{
    return (uint64_t)me_get32(p) | (uint64_t)me_get32(p + 4) << 32;
}

/* ---- CRC ------------------------------------------------------------- */

static uint32_t crc_tab[2][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void
crc_init(void)
{
    static const uint32_t poly[2] = { 0xedb88320u, 0x82f63b78u };

    for (int k = 0; k < 2; k++)
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;

            for (int j = 0; j < 8; j++)
                c = c & 1 ? poly[k] ^ (c >> 1) : c >> 1;
            crc_tab[k][i] = c;
        }
}

static uint32_t
crc_run(int k, const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;

    pthread_once(&crc_once, crc_init);
    while (n-- > 0)
        c = crc_tab[k][(c ^ *p++) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

uint32_t
me_crc32(const uint8_t *p, size_t n)
{
    return crc_run(0, p, n);
}

uint32_t
me_crc32c(const uint8_t *p, size_t n)
{
    return crc_run(1, p, n);
}

/* ---- frames ---------------------------------------------------------- */

size_t
me_frame_build(uint8_t *out, int32_t seq, const uint8_t *payload, size_t n,
    int crc32c)
{
    size_t len = ME_FRAME_OVERHEAD + n;

    me_put32(out, (uint32_t)len);
    me_put32(out + 4, (uint32_t)seq);
    memmove(out + 8, payload, n);
    me_put32(out + 8 + n, crc32c ? me_crc32c(out, 8 + n) : me_crc32(out, 8 + n));
    return len;
}

size_t
me_pad_len(size_t len)
{
    return (ME_CBC_BLOCK - len % ME_CBC_BLOCK) % ME_CBC_BLOCK;
}

void
me_pad_fill(uint8_t *out, size_t k)
{
    for (size_t i = 0; i + 4 <= k; i += 4)
        me_put32(out + i, ME_FILLER);
}

static void me_reader_drop(struct me_reader *r);

void
me_reader_init(struct me_reader *r, int32_t first_seq)
{
    memset(r, 0, sizeof(*r));
    r->seq = first_seq;
}

void
me_reader_free(struct me_reader *r)
{
    free(r->buf);
    r->buf = NULL;
    r->cap = r->have = 0;
}

int
me_reader_feed(struct me_reader *r, const uint8_t *p, size_t n)
{
    me_reader_drop(r);
    if (n == 0)
        return 0;
    if (r->have + n > r->cap) {
        size_t cap = r->cap < 4096 ? 4096 : r->cap;
        uint8_t *nb;

        while (cap < r->have + n)
            cap *= 2;
        if ((nb = realloc(r->buf, cap)) == NULL)
            return ME_READ_NOMEM;
        r->buf = nb;
        r->cap = cap;
    }
    memcpy(r->buf + r->have, p, n);
    r->have += n;
    return 0;
}

/* Drop the frame handed out last and the fillers after it. */
static void
me_reader_drop(struct me_reader *r)
{
    size_t off = r->used;

    while (r->have - off >= 4 && me_get32(r->buf + off) == ME_FILLER)
        off += 4;
    if (off > 0) {
        memmove(r->buf, r->buf + off, r->have - off);
        r->have -= off;
    }
    r->used = 0;
}

enum me_read_status
me_reader_next(struct me_reader *r, const uint8_t **payload, size_t *len)
{
    size_t flen;
    uint32_t crc;

    me_reader_drop(r);
    if (r->have < 4)
        return ME_READ_MORE;
    flen = me_get32(r->buf);
    if (flen < ME_FRAME_MIN || flen > ME_FRAME_MAX || flen % 4 != 0)
        return ME_READ_BAD_LEN;
    if (r->have < flen)
        return ME_READ_MORE;
    if ((int32_t)me_get32(r->buf + 4) != r->seq)
        return ME_READ_BAD_SEQ;
    crc = r->crc32c ? me_crc32c(r->buf, flen - 4) :
        me_crc32(r->buf, flen - 4);
    if (crc != me_get32(r->buf + flen - 4))
        return ME_READ_BAD_CRC;
    r->seq++;
    r->used = flen;
    *payload = r->buf + 8;
    *len = flen - ME_FRAME_OVERHEAD;
    return ME_READ_FRAME;
}

const char *
me_read_status_name(enum me_read_status s)
{
    switch (s) {
    case ME_READ_MORE:
        return "more";
    case ME_READ_FRAME:
        return "frame";
    case ME_READ_BAD_LEN:
        return "bad_length";
    case ME_READ_BAD_SEQ:
        return "bad_seq";
    case ME_READ_BAD_CRC:
        return "bad_crc";
    case ME_READ_NOMEM:
        return "out_of_memory";
    }
    return "unknown";
}

/* ---- nonce and handshake --------------------------------------------- */

void
me_nonce_build(uint8_t out[ME_NONCE_LEN], const uint8_t key_select[4],
    uint32_t ts, const uint8_t nonce[16])
{
    me_put32(out, ME_RPC_NONCE);
    memcpy(out + 4, key_select, 4);
    me_put32(out + 8, ME_CRYPTO_AES);
    me_put32(out + 12, ts);
    memcpy(out + 16, nonce, 16);
}

int
me_nonce_parse(const uint8_t *p, size_t n, uint8_t key_select[4],
    uint32_t *ts, uint8_t nonce[16])
{
    if (n < ME_NONCE_LEN || me_get32(p) != ME_RPC_NONCE ||
        me_get32(p + 8) != ME_CRYPTO_AES)
        return -1;
    memcpy(key_select, p + 4, 4);
    *ts = me_get32(p + 12);
    memcpy(nonce, p + 16, 16);
    return 0;
}

void
me_handshake_build(uint8_t out[ME_HANDSHAKE_LEN], uint32_t flags,
    const uint8_t sender_pid[ME_PID_LEN], const uint8_t peer_pid[ME_PID_LEN])
{
    me_put32(out, ME_RPC_HANDSHAKE);
    me_put32(out + 4, flags);
    memcpy(out + 8, sender_pid, ME_PID_LEN);
    memcpy(out + 20, peer_pid, ME_PID_LEN);
}

int
me_handshake_parse(const uint8_t *p, size_t n, uint32_t *flags,
    uint8_t sender_pid[ME_PID_LEN], uint8_t peer_pid[ME_PID_LEN],
    int32_t *err)
{
    if (n >= 8 && me_get32(p) == ME_RPC_HANDSHAKE_ERROR) {
        *err = (int32_t)me_get32(p + 4);
        return 1;
    }
    if (n < ME_HANDSHAKE_LEN || me_get32(p) != ME_RPC_HANDSHAKE)
        return -1;
    *flags = me_get32(p + 4);
    memcpy(sender_pid, p + 8, ME_PID_LEN);
    memcpy(peer_pid, p + 20, ME_PID_LEN);
    return 0;
}

/* ---- keys ------------------------------------------------------------ */

int
me_addrs_from(struct me_addrs *a, const struct sockaddr *local,
    const struct sockaddr *remote)
{
    memset(a, 0, sizeof(*a));
    if (local->sa_family != remote->sa_family)
        return -1;
    if (local->sa_family == AF_INET) {
        const struct sockaddr_in *l = (const struct sockaddr_in *)local;
        const struct sockaddr_in *r = (const struct sockaddr_in *)remote;

        memcpy(a->clt_ip4, &l->sin_addr, 4);
        memcpy(a->srv_ip4, &r->sin_addr, 4);
        a->clt_port = ntohs(l->sin_port);
        a->srv_port = ntohs(r->sin_port);
        return 0;
    }
    if (local->sa_family == AF_INET6) {
        const struct sockaddr_in6 *l = (const struct sockaddr_in6 *)local;
        const struct sockaddr_in6 *r = (const struct sockaddr_in6 *)remote;

        a->v6 = 1;
        memcpy(a->clt_ip6, &l->sin6_addr, 16);
        memcpy(a->srv_ip6, &r->sin6_addr, 16);
        a->clt_port = ntohs(l->sin6_port);
        a->srv_port = ntohs(r->sin6_port);
        return 0;
    }
    return -1;
}

/* An IPv4 address as the KDF writes it: the host-order value, LE. */
static void
put_ip4(uint8_t *out, const uint8_t ip[4])
{
    for (int i = 0; i < 4; i++)
        out[i] = ip[3 - i];
}

size_t
me_kdf_string(uint8_t *out, const uint8_t nonce_srv[16],
    const uint8_t nonce_clt[16], uint32_t clt_ts, const struct me_addrs *a,
    int client, const uint8_t *secret, size_t secret_len)
{
    static const uint8_t zero[4];
    size_t n = 0;

    memcpy(out + n, nonce_srv, 16);
    n += 16;
    memcpy(out + n, nonce_clt, 16);
    n += 16;
    me_put32(out + n, clt_ts);
    n += 4;
    if (a->v6)
        memcpy(out + n, zero, 4);
    else
        put_ip4(out + n, a->srv_ip4);
    n += 4;
    out[n++] = (uint8_t)a->clt_port;
    out[n++] = (uint8_t)(a->clt_port >> 8);
    memcpy(out + n, client ? "CLIENT" : "SERVER", 6);
    n += 6;
    if (a->v6)
        memcpy(out + n, zero, 4);
    else
        put_ip4(out + n, a->clt_ip4);
    n += 4;
    out[n++] = (uint8_t)a->srv_port;
    out[n++] = (uint8_t)(a->srv_port >> 8);
    memcpy(out + n, secret, secret_len);
    n += secret_len;
    memcpy(out + n, nonce_srv, 16);
    n += 16;
    if (a->v6) {
        memcpy(out + n, a->clt_ip6, 16);
        n += 16;
        memcpy(out + n, a->srv_ip6, 16);
        n += 16;
    }
    memcpy(out + n, nonce_clt, 16);
    n += 16;
    return n;
}

void
me_kdf(const uint8_t nonce_srv[16], const uint8_t nonce_clt[16],
    uint32_t clt_ts, const struct me_addrs *a, int client,
    const uint8_t *secret, size_t secret_len, uint8_t key[32],
    uint8_t iv[16])
{
    uint8_t s[16 + 16 + 4 + 4 + 2 + 6 + 4 + 2 + ME_SECRET_MAX + 16 + 32 + 16];
    uint8_t md5[16], sha1[20];
    size_t n;

    if (secret_len > ME_SECRET_MAX)
        secret_len = ME_SECRET_MAX;
    n = me_kdf_string(s, nonce_srv, nonce_clt, clt_ts, a, client, secret,
        secret_len);
    (void)EVP_Digest(s + 1, n - 1, md5, NULL, EVP_md5(), NULL);
    (void)EVP_Digest(s, n, sha1, NULL, EVP_sha1(), NULL);
    memcpy(key, md5, 12);
    memcpy(key + 12, sha1, 20);
    (void)EVP_Digest(s + 2, n - 2, iv, NULL, EVP_md5(), NULL);
    OPENSSL_cleanse(s, sizeof(s));
}

/* ---- AES-256-CBC ------------------------------------------------------ */

struct me_cbc {
    EVP_CIPHER_CTX *ctx;
};

struct me_cbc *
me_cbc_new(const uint8_t key[32], const uint8_t iv[16], int encrypt)
{
    struct me_cbc *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    if ((c->ctx = EVP_CIPHER_CTX_new()) == NULL ||
        EVP_CipherInit_ex(c->ctx, EVP_aes_256_cbc(), NULL, key, iv,
        encrypt) != 1 || EVP_CIPHER_CTX_set_padding(c->ctx, 0) != 1) {
        me_cbc_free(c);
        return NULL;
    }
    return c;
}

int
me_cbc_apply(struct me_cbc *c, const uint8_t *in, uint8_t *out, size_t n)
{
    int outl = 0;

    if (n % ME_CBC_BLOCK != 0 || n > (size_t)0x7fffffff)
        return -1;
    if (n == 0)
        return 0;
    if (EVP_CipherUpdate(c->ctx, out, &outl, in, (int)n) != 1 ||
        (size_t)outl != n)
        return -1;
    return 0;
}

void
me_cbc_free(struct me_cbc *c)
{
    if (c == NULL)
        return;
    EVP_CIPHER_CTX_free(c->ctx);
    free(c);
}

/* ---- RPC_PROXY_REQ and answers ---------------------------------------- */

uint32_t
me_proxy_flags(uint32_t tag, int quickack, int has_tag, const uint8_t *pkt,
    size_t n)
{
    static const uint8_t zero[8];
    uint32_t f = ME_FLAG_MAGIC | ME_FLAG_EXTMODE2;

    if (tag == TAG_ABRIDGED)
        f |= ME_FLAG_ABRIDGED;
    else if (tag == TAG_PADDED)
        f |= ME_FLAG_INTERMEDIATE | ME_FLAG_PAD;
    else
        f |= ME_FLAG_INTERMEDIATE;
    if (has_tag)
        f |= ME_FLAG_HAS_AD_TAG;
    if (quickack)
        f |= ME_FLAG_QUICKACK;
    if (n >= 8 && memcmp(pkt, zero, 8) == 0)
        f |= ME_FLAG_NOT_ENCRYPTED;
    return f;
}

/* An address as 16 bytes of IPv6 (IPv4 mapped) and its port. */
static void
put_addr(uint8_t *out, const struct sockaddr *sa)
{
    memset(out, 0, 20);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

        out[10] = out[11] = 0xff;
        memcpy(out + 12, &s4->sin_addr, 4);
        me_put32(out + 16, ntohs(s4->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

        memcpy(out, &s6->sin6_addr, 16);
        me_put32(out + 16, ntohs(s6->sin6_port));
    }
}

size_t
me_proxy_req_build(uint8_t *out, uint32_t flags, uint64_t conn_id,
    const struct sockaddr *client, const struct sockaddr *proxy,
    const uint8_t *ad_tag, const uint8_t *pkt, size_t n)
{
    size_t off = ME_PROXY_REQ_HDR;

    me_put32(out, ME_RPC_PROXY_REQ);
    me_put32(out + 4, flags);
    put64(out + 8, conn_id);
    put_addr(out + 16, client);
    put_addr(out + 36, proxy);
    if (ad_tag != NULL) {
        me_put32(out + 56, 24);
        me_put32(out + 60, ME_TL_PROXY_TAG);
        out[64] = ME_AD_TAG_LEN;
        memcpy(out + 65, ad_tag, ME_AD_TAG_LEN);
        out[81] = out[82] = out[83] = 0;
        off = ME_PROXY_REQ_TAG_HDR;
    }
    memmove(out + off, pkt, n);
    return off + n;
}

int
me_msg_parse(const uint8_t *p, size_t n, struct me_msg *m)
{
    memset(m, 0, sizeof(*m));
    if (n < 4)
        return -1;
    m->type = me_get32(p);
    switch (m->type) {
    case ME_RPC_PROXY_ANS:
        if (n < 16)
            return -1;
        m->flags = me_get32(p + 4);
        m->conn_id = get64(p + 8);
        m->data = p + 16;
        m->len = n - 16;
        return 0;
    case ME_RPC_SIMPLE_ACK:
        if (n < 16)
            return -1;
        m->conn_id = get64(p + 4);
        memcpy(m->confirm, p + 12, 4);
        return 0;
    case ME_RPC_CLOSE_EXT:
    case ME_RPC_CLOSE_CONN:
        if (n < 12)
            return -1;
        m->conn_id = get64(p + 4);
        return 0;
    case ME_RPC_PING:
    case ME_RPC_PONG:
        if (n < 12)
            return -1;
        m->ping_id = get64(p + 4);
        return 0;
    default:
        return -1;
    }
}

size_t
me_ctl_build(uint8_t out[12], uint32_t type, uint64_t id)
{
    me_put32(out, type);
    put64(out + 4, id);
    return 12;
}

/* ---- proxy-multi.conf ------------------------------------------------- */

struct lx {
    const char *p, *end;
    int line;
};

/* The next token (a word, or ";"), skipping blanks and comments; its
 * length, 0 at the end. */
static size_t
lx_next(struct lx *x, const char **tok, int *line)
{
    for (;;) {
        while (x->p < x->end && isspace((unsigned char)*x->p)) {
            if (*x->p == '\n')
                x->line++;
            x->p++;
        }
        if (x->p < x->end && *x->p == '#') {
            while (x->p < x->end && *x->p != '\n')
                x->p++;
            continue;
        }
        break;
    }
    *tok = x->p;
    *line = x->line;
    if (x->p >= x->end)
        return 0;
    if (*x->p == ';') {
        x->p++;
        return 1;
    }
    while (x->p < x->end && !isspace((unsigned char)*x->p) && *x->p != ';' &&
        *x->p != '#')
        x->p++;
    return (size_t)(x->p - *tok);
}

static int
list_fail(char *err, size_t errlen, int line, const char *what, size_t n,
    const char *tok)
{
    if (n > 0)
        snprintf(err, errlen, "line %d: %s: '%.*s'", line, what,
            (int)(n > 64 ? 64 : n), tok);
    else
        snprintf(err, errlen, "line %d: %s", line, what);
    return -1;
}

/* The limits' messages, spelled from the constants. */
#define ME_STR_(x)      #x
#define ME_STR(x)       ME_STR_(x)
#define ME_LIST_MAX_TEXT_WHAT "the list is larger than 1 MiB"
_Static_assert(ME_LIST_MAX_TEXT == 1 << 20, "ME_LIST_MAX_TEXT_WHAT says 1 MiB");
#define ME_LIST_MAX_ENTRIES_WHAT "more than " ME_STR(ME_LIST_MAX_ENTRIES) \
    " addresses"

/* An integer token within lo..hi. */
static int
tok_int(const char *t, size_t n, long lo, long hi, long *out)
{
    char buf[24], *e;
    long v;

    if (n == 0 || n >= sizeof(buf) || memchr(t, '\0', n) != NULL)
        return -1;
    memcpy(buf, t, n);
    buf[n] = '\0';
    v = strtol(buf, &e, 10);
    if (*e != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* "a.b.c.d:port" or "[v6]:port" of the wanted family. */
static int
tok_addr(const char *t, size_t n, int v6, struct me_entry *e)
{
    char buf[96], host[INET6_ADDRSTRLEN + 2];
    int port;
    socklen_t len;

    /* A NUL inside the token would cut it short and hide garbage. */
    if (n >= sizeof(buf) || memchr(t, '\0', n) != NULL)
        return -1;
    memcpy(buf, t, n);
    buf[n] = '\0';
    if (net_split_hostport(buf, host, sizeof(host), &port) != 0 ||
        port < 1 || port > 65535 ||
        net_parse_literal(host, port, &e->addr, &len) != 0)
        return -1;
    if ((e->addr.ss_family == AF_INET6) != (v6 != 0))
        return -1;
    e->addrlen = len;
    return 0;
}

int
me_list_parse(const char *text, size_t len, int v6, struct me_list *out,
    char *err, size_t errlen)
{
    struct lx x = { .p = text, .end = text + len, .line = 1 };
    struct me_entry *v = NULL;
    int n = 0, nfor = 0, line;

    memset(out, 0, sizeof(*out));
    out->default_dc = 2;
    if (len > ME_LIST_MAX_TEXT)
        return list_fail(err, errlen, 1, ME_LIST_MAX_TEXT_WHAT, 0, NULL);
    for (;;) {
        const char *kw, *a1, *a2, *semi;
        size_t kn = lx_next(&x, &kw, &line), n1, n2 = 0, ns;
        long dc = 0, ignored;
        struct me_entry e;

        if (kn == 0)
            break;
        if (memchr(kw, '\0', kn) != NULL)
            goto bad_word;
        n1 = lx_next(&x, &a1, &line);
#define IS(word) (kn == sizeof(word) - 1 && memcmp(kw, word, kn) == 0)
        if (IS("proxy_for")) {
            if (tok_int(a1, n1, -32768, 32767, &dc) != 0) {
                free(v);
                return list_fail(err, errlen, line, "not a DC number "
                    "(-32768..32767)", n1, a1);
            }
            n2 = lx_next(&x, &a2, &line);
            if (tok_addr(a2, n2, v6, &e) != 0) {
                free(v);
                return list_fail(err, errlen, line, v6 ?
                    "not an \"[IPv6]:port\" address" :
                    "not an \"IPv4:port\" address", n2, a2);
            }
        } else if (IS("proxy")) {
            if (tok_addr(a1, n1, v6, &e) != 0) {
                free(v);
                return list_fail(err, errlen, line, v6 ?
                    "not an \"[IPv6]:port\" address" :
                    "not an \"IPv4:port\" address", n1, a1);
            }
        } else if (IS("default")) {
            if (tok_int(a1, n1, -32768, 32767, &dc) != 0) {
                free(v);
                return list_fail(err, errlen, line, "not a DC number", n1,
                    a1);
            }
            out->default_dc = (int)dc;
        } else if (IS("timeout") || IS("min_connections") ||
            IS("max_connections")) {
            if (tok_int(a1, n1, 0, 1000000000L, &ignored) != 0) {
                free(v);
                return list_fail(err, errlen, line, "not a number", n1, a1);
            }
        } else {
bad_word:
            free(v);
            return list_fail(err, errlen, line, "unknown statement", kn, kw);
        }
#undef IS
        ns = lx_next(&x, &semi, &line);
        if (ns != 1 || *semi != ';') {
            free(v);
            return list_fail(err, errlen, line, "expected ';'", ns, semi);
        }
        if (kw[0] != 'p')
            continue;                   /* default, timeout, ... */
        if (n == ME_LIST_MAX_ENTRIES) {
            free(v);
            return list_fail(err, errlen, line, ME_LIST_MAX_ENTRIES_WHAT, 0,
                NULL);
        }
        if (n % 64 == 0) {
            struct me_entry *nv = realloc(v, sizeof(*v) * (size_t)(n + 64));

            if (nv == NULL) {
                free(v);
                return list_fail(err, errlen, line, "out of memory", 0,
                    NULL);
            }
            v = nv;
        }
        e.dc = (int)dc;
        v[n++] = e;
        if (kn == sizeof("proxy_for") - 1)
            nfor++;
    }
    if (nfor == 0) {
        free(v);
        return list_fail(err, errlen, x.line, "no proxy_for line", 0, NULL);
    }
    out->e = v;
    out->n = n;
    return 0;
}

void
me_list_free(struct me_list *l)
{
    free(l->e);
    l->e = NULL;
    l->n = 0;
}

int
me_list_equal(const struct me_list *a, const struct me_list *b)
{
    if (a->n != b->n || a->default_dc != b->default_dc)
        return 0;
    for (int i = 0; i < a->n; i++)
        if (a->e[i].dc != b->e[i].dc || a->e[i].addrlen != b->e[i].addrlen ||
            memcmp(&a->e[i].addr, &b->e[i].addr, a->e[i].addrlen) != 0)
            return 0;
    return 1;
}
