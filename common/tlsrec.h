/*
 * tlsrec.h - the fake TLS record layer as a byte-stream state machine
 * (docs/protocol.md 5.5).  The reader strips record framing from whatever
 * pieces the socket delivers; the writer frames payload.  Pure: no I/O.
 */
#ifndef TELEMT_TLSREC_H
#define TELEMT_TLSREC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TLSREC_HEADER           5
/*
 * Record lengths as a TLS 1.3 server's look on the wire (RFC 8446 5.2):
 * a full fragment is 2^14 bytes of plaintext, one inner content type
 * byte and a 16-byte AEAD tag, 16,401 bytes; the least that carries one
 * byte of data is 18.  A peer may add padding up to 2^14 + 256 in all,
 * the most we accept.
 */
#define TLSREC_PLAINTEXT_MAX    16384
#define TLSREC_AEAD_OVERHEAD    17      /* content type + tag */
#define TLSREC_MAX_OUT          (TLSREC_PLAINTEXT_MAX + TLSREC_AEAD_OVERHEAD)
#define TLSREC_MIN_OUT          (1 + TLSREC_AEAD_OVERHEAD)
#define TLSREC_MAX_IN           (TLSREC_PLAINTEXT_MAX + 256)

struct tlsrec_reader {
    uint8_t hdr[TLSREC_HEADER];
    size_t hdr_have;                    /* header bytes collected */
    size_t left;                        /* payload bytes left in record */
    uint8_t type;                       /* of the current record */
};

enum tlsrec_status {
    TLSREC_OK = 0,
    TLSREC_ALERT = 1,                   /* peer sent an alert: treat as EOF */
    TLSREC_ERROR = -1                   /* protocol error: close */
};

/*
 * Feed len bytes from the wire; ApplicationData payload is written to out
 * (out may equal in: output never overtakes input) and its length to
 * *outlen.  ChangeCipherSpec records (length 1, byte 01) are skipped;
 * ApplicationData must be version 03 03 with length 1..TLSREC_MAX_IN; an
 * alert (0x15) ends the stream; any other type is an error.  After
 * ALERT or ERROR the reader must not be fed again.
 */
enum tlsrec_status tlsrec_unwrap(struct tlsrec_reader *r, const uint8_t *in,
    size_t len, uint8_t *out, size_t *outlen);
/* Write the 5-byte ApplicationData header for a payload of n bytes. */
void tlsrec_header(uint8_t out[TLSREC_HEADER], size_t n);
/*
 * The record-size rule for what we send (README "TLS shaping"): of have
 * payload bytes waiting, how many go into the next record.  All of them
 * up to TLSREC_MAX_OUT, as OpenSSL and nginx frame what the application
 * hands them (measured: full 16,401-byte records from the first byte of
 * a bulk stream, no ramp-up).  Fewer than TLSREC_MIN_OUT would make a
 * record no TLS 1.3 server sends, so while may_wait is set those wait
 * for more (0 is returned); without it they go as they are.
 */
size_t tlsrec_out_len(size_t have, int may_wait);

#endif
