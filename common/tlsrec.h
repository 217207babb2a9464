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
#define TLSREC_MAX_OUT          16384   /* payload per record we send */
#define TLSREC_MAX_IN           16640   /* payload per record we accept */

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

#endif
