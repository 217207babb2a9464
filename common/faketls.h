/*
 * faketls.h - fake TLS (ee secrets), the pure part: recognise and parse a
 * ClientHello record, verify its digest against a secret, and build the
 * server's answer (docs/protocol.md 5.1-5.4).  No I/O, no globals, no clock:
 * every input is bounded and every length field is checked.
 */
#ifndef TELEMT_FAKETLS_H
#define TELEMT_FAKETLS_H

#include <stddef.h>
#include <stdint.h>

#define FAKETLS_RANDOM_OFF      11      /* client random at [11,43) */
#define FAKETLS_MIN_HELLO       100     /* record payload bounds (L) */
#define FAKETLS_MAX_HELLO       16384
#define FAKETLS_MAX_SNI         253
#define FAKETLS_ANSWER_FIXED    138     /* most answer bytes besides the
                                           cert (a 32-byte session id) */
#define FAKETLS_ALERT_LEN       7

/*
 * What a TLS server sends when it serves no such name: one fatal
 * unrecognized_name (112) alert record, then a close.  Byte for byte
 * what nginx 1.22 / OpenSSL 3.0 with ssl_reject_handshake on send to
 * every hello whose SNI is not a server_name, TLS 1.2 or 1.3, SNI or
 * none (measured on loopback; tests/integration/t_tls_shape.sh compares
 * the two).
 */
extern const uint8_t faketls_alert_unrecognized_name[FAKETLS_ALERT_LEN];

/* The ALPN protocols a hello offers (struct faketls_hello.alpn). */
#define FAKETLS_OFFERS_ALPN     0x01    /* the extension is there */
#define FAKETLS_OFFERS_H2       0x02
#define FAKETLS_OFFERS_HTTP11   0x04

/*
 * How the mask host answered ALPN to the profile probe, whose hello
 * offers h2 and http/1.1 (tls_emulation; 0: not learnt).
 */
enum faketls_alpn {
    FAKETLS_ALPN_UNKNOWN = 0,
    FAKETLS_ALPN_NONE,                  /* no ALPN in its answer */
    FAKETLS_ALPN_H2,
    FAKETLS_ALPN_HTTP11
};

enum faketls_sniff {
    FAKETLS_NEED_MORE,                  /* *need says how many bytes */
    FAKETLS_NOT_TLS,                    /* not a TLS handshake record */
    FAKETLS_BAD_LENGTH,                 /* record length out of bounds */
    FAKETLS_COMPLETE                    /* *need bytes hold the record */
};

struct faketls_hello {
    size_t record_len;                  /* 5 + L */
    uint8_t random[32];                 /* as received */
    uint8_t session_id[32];
    size_t session_id_len;              /* 0..32 */
    int has_sni;
    char sni[FAKETLS_MAX_SNI + 1];      /* NUL-terminated host_name */
    uint16_t cipher;                    /* suite to answer with */
    unsigned alpn;                      /* FAKETLS_OFFERS_* */
};

/*
 * Look at the first len bytes a client sent.  "16 03 01" or "16 03 03"
 * with a record length L in FAKETLS_MIN_HELLO..FAKETLS_MAX_HELLO is a
 * hello: COMPLETE once 5 + L bytes are there, else NEED_MORE with *need.
 */
enum faketls_sniff faketls_sniff(const uint8_t *buf, size_t len,
    size_t *need);
/*
 * The next step for a start that looks like a TLS record (faketls_sniff
 * did not say NOT_TLS) when it may also be an obfuscated2 header: the
 * first 8 bytes of a header are random, and Telegram clients avoid only
 * "16 03 01 02" there (obfs2_prefix_impossible()).
 */
enum faketls_next {
    FAKETLS_READ,                       /* read until *need bytes */
    FAKETLS_HELLO,                      /* verify [0, *need) as a hello */
    FAKETLS_OBFS2,                      /* match [0, 64) as a header */
    FAKETLS_NOT_RECORD,                 /* not a TLS record at all */
    FAKETLS_REFUSE                      /* neither can come any more */
};

/*
 * Decide on the first len bytes.  obfs2 = 1 while a header match is
 * still to be tried (classic or secure on, not tried yet; try it at most
 * once), hello = 1 while the record, once complete, is still to be
 * verified.  A complete record is verified first; a header that could be
 * one is matched as soon as 64 bytes are there, so an obfuscated2 client
 * never waits for a record length it did not mean, and a record of
 * impossible length is refused at once when fewer than 64 bytes came, as
 * without obfuscated2.  The caller clears obfs2 or hello after acting on
 * OBFS2 or HELLO and asks again.
 */
enum faketls_next faketls_classify(const uint8_t *buf, size_t len,
    int obfs2, int hello, size_t *need);
/*
 * Parse a complete hello record rec[0..len), len = 5 + L: handshake type
 * 1, lengths consistent, session id, cipher suites (picks the first
 * non-GREASE 0x1301..0x1303, else 0x1301), extensions (server_name).
 * Returns 0, or -1 if anything is malformed.
 */
int faketls_parse_hello(const uint8_t *rec, size_t len,
    struct faketls_hello *h);
/*
 * Check the digest with one secret: HMAC-SHA256(secret, rec with the
 * random zeroed) against the random's first 28 bytes, in constant time.
 * Returns 1 and the client's timestamp in *ts on a match, else 0.
 */
int faketls_verify(const uint8_t *rec, size_t len, const uint8_t secret[16],
    uint32_t *ts);
/*
 * Build ServerHello + ChangeCipherSpec + one ApplicationData record of
 * cert_len bytes (taken from cert) into out, with the server random set
 * to HMAC(secret, client random || answer with zeroed random).  key_share
 * is the 32-byte x25519 public key to send.  Returns the length written,
 * or 0 if outcap is too small.
 */
size_t faketls_build_answer(const struct faketls_hello *h,
    const uint8_t secret[16], const uint8_t key_share[32],
    const uint8_t *cert, size_t cert_len, uint8_t *out, size_t outcap);
/*
 * The length of the encrypted flight to send a hello that offers alpn
 * (FAKETLS_OFFERS_*), from the mask host's flight of flight bytes that
 * answered the probe with learnt.  In TLS 1.3 the server's ALPN choice
 * is inside EncryptedExtensions, so all a censor sees of it is the
 * flight's length: the choice the mask host would make for this hello
 * (h2 if both offer it, else http/1.1 if both do, else none) in place of
 * the one it made for the probe, 7 + the name's length bytes each.
 * FAKETLS_ALPN_UNKNOWN leaves flight as it is.
 */
size_t faketls_flight_len(size_t flight, enum faketls_alpn learnt,
    unsigned alpn);
/* "h2", "http/1.1", "none" or "unknown"; and back (-1: none of them). */
const char *faketls_alpn_name(enum faketls_alpn a);
int faketls_alpn_parse(const char *name);
/* A fresh random x25519 public key (a real curve point); 0 or -1. */
int faketls_x25519_public(uint8_t out[32]);

#endif
