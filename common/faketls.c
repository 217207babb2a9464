/*
 * faketls.c - the pure part of fake TLS (docs/protocol.md 5.1-5.4): sniffing
 * and parsing a ClientHello record (and telling it from an obfuscated2
 * header that happens to start like one), checking its HMAC digest, and
 * building the ServerHello + ChangeCipherSpec + ApplicationData answer.
 *
 * The hello comes from anyone on the internet, so every read goes through
 * a bounded span and every length field is checked before it is used.
 */
#include "faketls.h"

#include <string.h>

#include <openssl/evp.h>

#include "crypto.h"
#include "obfs2.h"
#include "proto.h"

#define HELLO_HS_TYPE           0x01    /* handshake type ClientHello */
#define EXT_SERVER_NAME         0x0000
#define EXT_ALPN                0x0010
#define SNI_HOST_NAME           0x00
#define CIPHER_DEFAULT          0x1301  /* TLS_AES_128_GCM_SHA256 */
#define CIPHER_LAST             0x1303
#define MAX_SESSION_ID          32

/* A bounded view of the hello: reads never leave [p, p + n). */
struct span {
    const uint8_t *p;
    size_t n;
};

/* Split the first k bytes of s off into out. */
static int
take(struct span *s, size_t k, struct span *out)
{
    if (k > s->n)
        return -1;
    out->p = s->p;
    out->n = k;
    s->p += k;
    s->n -= k;
    return 0;
}

/* A big-endian unsigned integer of width bytes (1..3). */
static int
take_uint(struct span *s, size_t width, size_t *v)
{
    struct span b;

    if (take(s, width, &b) < 0)
        return -1;
    *v = 0;
    for (size_t i = 0; i < width; i++)
        *v = *v << 8 | b.p[i];
    return 0;
}

/* A block prefixed by its length in width bytes. */
static int
take_block(struct span *s, size_t width, struct span *out)
{
    size_t k;

    if (take_uint(s, width, &k) < 0)
        return -1;
    return take(s, k, out);
}

enum faketls_sniff
faketls_sniff(const uint8_t *buf, size_t len, size_t *need)
{
    size_t body;

    *need = 0;
    /* Decide on as few bytes as we have, so a non-TLS client is handed
     * on (obfuscated2 or masking) without waiting for more. */
    if ((len > 0 && buf[0] != TLS_REC_HANDSHAKE) || (len > 1 && buf[1] != 0x03) ||
        (len > 2 && buf[2] != 0x01 && buf[2] != 0x03))
        return FAKETLS_NOT_TLS;
    if (len < 5) {
        *need = 5;
        return FAKETLS_NEED_MORE;
    }
    body = (size_t)buf[3] << 8 | buf[4];
    if (body < FAKETLS_MIN_HELLO || body > FAKETLS_MAX_HELLO)
        return FAKETLS_BAD_LENGTH;
    *need = 5 + body;
    return len >= *need ? FAKETLS_COMPLETE : FAKETLS_NEED_MORE;
}

enum faketls_next
faketls_classify(const uint8_t *buf, size_t len, int obfs2, int hello,
    size_t *need)
{
    enum faketls_sniff s = faketls_sniff(buf, len, need);
    int header = obfs2 && len >= OBFS2_HEADER_LEN &&
        !obfs2_prefix_impossible(buf, OBFS2_HEADER_LEN);

    if (s == FAKETLS_NOT_TLS)
        return FAKETLS_NOT_RECORD;
    /* A whole record first: a real hello is then never taken for a
     * header, however its first 64 bytes decrypt. */
    if (s == FAKETLS_COMPLETE && hello)
        return FAKETLS_HELLO;
    if (header)
        return FAKETLS_OBFS2;
    if (s != FAKETLS_NEED_MORE)
        return FAKETLS_REFUSE;
    /* A hello is at least 105 bytes, so stopping at 64 on the way to it
     * shows a prober nothing: it has to send more either way. */
    if (obfs2 && len < OBFS2_HEADER_LEN && *need > OBFS2_HEADER_LEN &&
        !obfs2_prefix_impossible(buf, len))
        *need = OBFS2_HEADER_LEN;
    return FAKETLS_READ;
}

/* GREASE (RFC 8701) values look like 0x?a?a with both bytes equal. */
static int
is_grease(size_t v)
{
    return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

static uint16_t
pick_cipher(struct span suites)
{
    size_t v;

    while (take_uint(&suites, 2, &v) == 0)
        if (!is_grease(v) && v >= CIPHER_DEFAULT && v <= CIPHER_LAST)
            return (uint16_t)v;
    return CIPHER_DEFAULT;
}

/*
 * server_name (RFC 6066): list length, then exactly one host_name entry.
 * Clients only ever send one, so anything else is treated as malformed
 * rather than guessed at.
 */
static int
parse_sni(struct span ext, struct faketls_hello *h)
{
    struct span list, name;
    size_t type;

    if (take_block(&ext, 2, &list) < 0 || ext.n != 0)
        return -1;
    if (take_uint(&list, 1, &type) < 0 || type != SNI_HOST_NAME ||
        take_block(&list, 2, &name) < 0 || list.n != 0)
        return -1;
    if (name.n == 0 || name.n > FAKETLS_MAX_SNI ||
        memchr(name.p, '\0', name.n) != NULL)
        return -1;
    memcpy(h->sni, name.p, name.n);
    h->sni[name.n] = '\0';
    h->has_sni = 1;
    return 0;
}

/*
 * application_layer_protocol_negotiation (RFC 7301): which of the two
 * names a server may pick are offered.  Only the answer's length
 * depends on it, so a list we cannot read counts as offering neither
 * rather than refusing the hello.
 */
static void
parse_alpn(struct span ext, struct faketls_hello *h)
{
    struct span list, name;

    h->alpn |= FAKETLS_OFFERS_ALPN;
    if (take_block(&ext, 2, &list) < 0 || ext.n != 0)
        return;
    while (list.n > 0) {
        if (take_block(&list, 1, &name) < 0)
            return;
        if (name.n == 2 && memcmp(name.p, "h2", 2) == 0)
            h->alpn |= FAKETLS_OFFERS_H2;
        else if (name.n == 8 && memcmp(name.p, "http/1.1", 8) == 0)
            h->alpn |= FAKETLS_OFFERS_HTTP11;
    }
}

static int
parse_extensions(struct span exts, struct faketls_hello *h)
{
    struct span data;
    size_t type;

    while (exts.n > 0) {
        if (take_uint(&exts, 2, &type) < 0 ||
            take_block(&exts, 2, &data) < 0)
            return -1;
        if (type == EXT_ALPN && !(h->alpn & FAKETLS_OFFERS_ALPN))
            parse_alpn(data, h);
        if (type != EXT_SERVER_NAME)
            continue;
        /* A second server_name could make us answer for one name while
         * a middlebox saw another. */
        if (h->has_sni || parse_sni(data, h) < 0)
            return -1;
    }
    return 0;
}

static int
parse_hello(const uint8_t *rec, size_t len, struct faketls_hello *h)
{
    struct span s, body, field, suites;
    size_t v;

    if (faketls_sniff(rec, len, &v) != FAKETLS_COMPLETE || v != len)
        return -1;
    s.p = rec + 5;
    s.n = len - 5;
    /* The handshake message must fill the record exactly. */
    if (take_uint(&s, 1, &v) < 0 || v != HELLO_HS_TYPE ||
        take_block(&s, 3, &body) < 0 || s.n != 0)
        return -1;
    /* legacy_version is left unchecked: clients vary and it proves
     * nothing. */
    if (take(&body, 2, &field) < 0 || take(&body, 32, &field) < 0)
        return -1;
    memcpy(h->random, field.p, 32);
    if (take_block(&body, 1, &field) < 0 || field.n > MAX_SESSION_ID)
        return -1;
    memcpy(h->session_id, field.p, field.n);
    h->session_id_len = field.n;
    if (take_block(&body, 2, &suites) < 0 || suites.n % 2 != 0)
        return -1;
    if (take_block(&body, 1, &field) < 0)
        return -1;
    /* A hello may end right after compression methods. */
    if (body.n > 0) {
        if (take_block(&body, 2, &field) < 0 || body.n != 0 ||
            parse_extensions(field, h) < 0)
            return -1;
    }
    h->cipher = pick_cipher(suites);
    h->record_len = len;
    return 0;
}

int
faketls_parse_hello(const uint8_t *rec, size_t len, struct faketls_hello *h)
{
    memset(h, 0, sizeof(*h));
    if (parse_hello(rec, len, h) == 0)
        return 0;
    /* Leave nothing half-parsed behind for a careless caller. */
    memset(h, 0, sizeof(*h));
    return -1;
}

int
faketls_verify(const uint8_t *rec, size_t len, const uint8_t secret[16],
    uint32_t *ts)
{
    uint8_t head[FAKETLS_RANDOM_OFF + 32], mac[32];
    const uint8_t *got;
    uint32_t t = 0;

    if (len < sizeof(head))
        return 0;
    got = rec + FAKETLS_RANDOM_OFF;
    /* Only the 43-byte head is copied to zero the random: the record can
     * be 16 KB and this runs once per configured secret. */
    memcpy(head, rec, FAKETLS_RANDOM_OFF);
    memset(head + FAKETLS_RANDOM_OFF, 0, 32);
    hmac_sha256_2(secret, 16, head, sizeof(head), rec + sizeof(head),
        len - sizeof(head), mac);
    if (!ct_equal(mac, got, 28))
        return 0;
    for (int i = 3; i >= 0; i--)
        t = t << 8 | (uint8_t)(mac[28 + i] ^ got[28 + i]);
    *ts = t;
    return 1;
}

static uint8_t *
put(uint8_t *p, const void *src, size_t n)
{
    memcpy(p, src, n);
    return p + n;
}

static uint8_t *
put_be(uint8_t *p, size_t v, size_t width)
{
    for (size_t i = 0; i < width; i++)
        p[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
    return p + width;
}

/* Fixed pieces of the answer (docs/protocol.md 5.4). */
static const uint8_t KEY_SHARE_HEAD[] = {
    0x00, 0x33, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20
};
static const uint8_t SUPPORTED_VERSIONS[] = {
    0x00, 0x2b, 0x00, 0x02, 0x03, 0x04
};
static const uint8_t CCS_RECORD[] = { TLS_REC_CCS, 0x03, 0x03, 0x00, 0x01, 0x01 };
static const uint8_t TLS12[] = { 0x03, 0x03 };

#define EXT_LEN     (sizeof(KEY_SHARE_HEAD) + 32 + sizeof(SUPPORTED_VERSIONS))

size_t
faketls_build_answer(const struct faketls_hello *h,
    const uint8_t secret[16], const uint8_t key_share[32],
    const uint8_t *cert, size_t cert_len, uint8_t *out, size_t outcap)
{
    size_t sid = h->session_id_len, hs_body, total;
    uint8_t *p = out, mac[32];

    if (sid > MAX_SESSION_ID || cert_len > 0xffff)
        return 0;
    /* version, random, session id, cipher, compression, extensions */
    hs_body = 2 + 32 + 1 + sid + 2 + 1 + 2 + EXT_LEN;
    total = 5 + 4 + hs_body + sizeof(CCS_RECORD) + 5 + cert_len;
    if (outcap < total)
        return 0;

    *p++ = TLS_REC_HANDSHAKE;
    p = put(p, TLS12, 2);
    p = put_be(p, 4 + hs_body, 2);
    *p++ = 0x02;
    p = put_be(p, hs_body, 3);
    p = put(p, TLS12, 2);
    memset(p, 0, 32);                   /* server random, filled below */
    p += 32;
    *p++ = (uint8_t)sid;
    p = put(p, h->session_id, sid);
    p = put_be(p, h->cipher, 2);
    *p++ = 0x00;
    p = put_be(p, EXT_LEN, 2);
    p = put(p, KEY_SHARE_HEAD, sizeof(KEY_SHARE_HEAD));
    p = put(p, key_share, 32);
    p = put(p, SUPPORTED_VERSIONS, sizeof(SUPPORTED_VERSIONS));
    p = put(p, CCS_RECORD, sizeof(CCS_RECORD));
    *p++ = TLS_REC_APPDATA;
    p = put(p, TLS12, 2);
    p = put_be(p, cert_len, 2);
    if (cert_len > 0)
        memcpy(p, cert, cert_len);

    hmac_sha256_2(secret, 16, h->random, 32, out, total, mac);
    memcpy(out + FAKETLS_RANDOM_OFF, mac, 32);
    return total;
}

const uint8_t faketls_alert_unrecognized_name[FAKETLS_ALERT_LEN] = {
    TLS_REC_ALERT, 0x03, 0x03, 0x00, 0x02,
    0x02,                               /* fatal */
    0x70                                /* unrecognized_name */
};

/* Bytes the ALPN extension takes in EncryptedExtensions for a choice:
 * type, length, list length, name length, name. */
static size_t
alpn_ext_len(enum faketls_alpn a)
{
    switch (a) {
    case FAKETLS_ALPN_H2:
        return 7 + 2;
    case FAKETLS_ALPN_HTTP11:
        return 7 + 8;
    default:
        return 0;
    }
}

size_t
faketls_flight_len(size_t flight, enum faketls_alpn learnt, unsigned alpn)
{
    enum faketls_alpn pick = FAKETLS_ALPN_NONE;
    size_t probe = alpn_ext_len(learnt);

    if (learnt == FAKETLS_ALPN_UNKNOWN || flight <= probe)
        return flight;
    /* A host that chose h2 over http/1.1 is taken to serve both; one
     * that chose http/1.1 only that; one that chose none, no ALPN. */
    if (learnt == FAKETLS_ALPN_H2 && (alpn & FAKETLS_OFFERS_H2))
        pick = FAKETLS_ALPN_H2;
    else if (learnt != FAKETLS_ALPN_NONE && (alpn & FAKETLS_OFFERS_HTTP11))
        pick = FAKETLS_ALPN_HTTP11;
    return flight - probe + alpn_ext_len(pick);
}

static const char *const alpn_names[] = {
    [FAKETLS_ALPN_UNKNOWN] = "unknown",
    [FAKETLS_ALPN_NONE] = "none",
    [FAKETLS_ALPN_H2] = "h2",
    [FAKETLS_ALPN_HTTP11] = "http/1.1",
};

const char *
faketls_alpn_name(enum faketls_alpn a)
{
    return (unsigned)a < sizeof(alpn_names) / sizeof(alpn_names[0]) ?
        alpn_names[a] : "unknown";
}

int
faketls_alpn_parse(const char *name)
{
    for (size_t i = 0; i < sizeof(alpn_names) / sizeof(alpn_names[0]); i++)
        if (strcmp(name, alpn_names[i]) == 0)
            return (int)i;
    return -1;
}

int
faketls_x25519_public(uint8_t out[32])
{
    uint8_t priv[32];
    EVP_PKEY *key = NULL;
    size_t n = 32;
    int rc = -1;

    /* The private half is thrown away: no real TLS session follows, the
     * key only has to be a point a censor's parser would accept.  Its
     * bytes come from random_bytes(), not libcrypto's per-thread DRBG. */
    if (random_bytes(priv, sizeof(priv)) == 0)
        key = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv,
            sizeof(priv));
    if (key != NULL && EVP_PKEY_get_raw_public_key(key, out, &n) == 1 &&
        n == 32)
        rc = 0;
    EVP_PKEY_free(key);
    OPENSSL_cleanse(priv, sizeof(priv));
    return rc;
}
