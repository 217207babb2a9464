/*
 * proto.h - MTProxy wire constants from docs/protocol.md (no .c).
 */
#ifndef TELEMT_PROTO_H
#define TELEMT_PROTO_H

#include <stdint.h>

#define OBFS2_HEADER_LEN        64
#define SECRET_LEN              16

/* Protocol tags at header offset 56, read as uint32 LE (byte-symmetric). */
#define TAG_ABRIDGED            0xefefefefu
#define TAG_INTERMEDIATE        0xeeeeeeeeu
#define TAG_PADDED              0xddddddddu

/* Telegram's built-in DCs are 1..5; 203 is a special (CDN-like) id. */
#define DC_MAX_BUILTIN          5
#define DC_SPECIAL_203          203

/* TLS record content types (docs/protocol.md 5); the record layer's
 * sizes are in tlsrec.h. */
#define TLS_REC_CCS             0x14
#define TLS_REC_ALERT           0x15
#define TLS_REC_HANDSHAKE       0x16
#define TLS_REC_APPDATA         0x17

#endif
