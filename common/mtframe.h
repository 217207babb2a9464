/*
 * mtframe.h - the client transport framings (docs/protocol.md 4:
 * abridged, intermediate, padded intermediate) as ME mode needs them: a
 * reader that cuts the client's decrypted stream into packets with their
 * quick-ack bit, and writers for the packets and quick acks we send
 * back.  Pure: no I/O.
 */
#ifndef TELEMT_MTFRAME_H
#define TELEMT_MTFRAME_H

#include <stddef.h>
#include <stdint.h>

/* A packet longer than this is refused (the official server's bound). */
#define MTFRAME_MAX             1044480
/* Frame header plus padding we may add when writing: at most 4 + 3. */
#define MTFRAME_HDR_MAX         4
#define MTFRAME_PAD_MAX         3

struct mtframe_reader {
    uint32_t tag;                       /* TAG_ABRIDGED, ... (proto.h) */
    uint8_t hdr[4];
    size_t hdr_have;                    /* header bytes collected */
    size_t hdr_need;                    /* 1 or 4 (abridged grows to 4) */
    size_t total;                       /* bytes of this frame on the wire */
    size_t len;                         /* of them, the packet's */
    int quickack;
    uint8_t *pkt;                       /* owned; grows up to one packet */
    size_t cap, have;
};

enum mtframe_status {
    MTFRAME_MORE = 0,                   /* all input used, no packet yet */
    MTFRAME_PACKET = 1,                 /* one packet complete */
    MTFRAME_BAD = -1,                   /* bad length: close the client */
    MTFRAME_NOMEM = -2
};

void mtframe_reader_init(struct mtframe_reader *r, uint32_t tag);
void mtframe_reader_free(struct mtframe_reader *r);
/*
 * Take bytes from in[0..n) until one packet is complete or the input is
 * used up; *used says how many were taken.  On MTFRAME_PACKET, *pkt and
 * *len are the packet (valid until the next call; padded frames are
 * truncated to a multiple of 4) and *quickack its quick-ack bit.  A zero
 * length frame is MTFRAME_BAD.  Call again with the rest of the input.
 */
enum mtframe_status mtframe_read(struct mtframe_reader *r, const uint8_t *in,
    size_t n, size_t *used, const uint8_t **pkt, size_t *len, int *quickack);
/* 1 if nothing of a frame is buffered (a packet boundary). */
int mtframe_reader_idle(const struct mtframe_reader *r);

/*
 * The header for an n-byte packet to a client of this tag, padding pad
 * bytes (padded only, 0..3; the caller appends them after the packet):
 * written to out, its length returned (1, 4 or 4).  n must be a multiple
 * of 4 for abridged and intermediate.
 */
size_t mtframe_header(uint32_t tag, size_t n, size_t pad,
    uint8_t out[MTFRAME_HDR_MAX]);
/* A quick ack with the ME's confirm bytes, for this tag: 4 bytes. */
void mtframe_quickack(uint32_t tag, const uint8_t confirm[4], uint8_t out[4]);

#endif
