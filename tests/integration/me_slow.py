"""me_slow.py - a client that asks for a stream and never reads it.

Used by t_me.sh: connects to the proxy as a classic intermediate client
of SECRET (obfuscated2, docs/protocol.md 2), sends the "TMT1" SOURCE
command of tests/tools/pattern.h for --bytes bytes, then reads nothing
holds the connection for --hold seconds.  Needs python3-cryptography
(Debian's, /usr/bin/python3).
"""

import argparse
import hashlib
import os
import socket
import struct
import time

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def header(secret, dc):
    """A 64-byte obfuscated2 header and the client->proxy cipher."""
    while True:
        h = bytearray(os.urandom(64))
        if h[0] == 0xef or h[0:4] in (b"HEAD", b"POST", b"GET ", b"OPTI",
                                      b"\x16\x03\x01\x02", b"\xdd\xdd\xdd\xdd",
                                      b"\xee\xee\xee\xee") or h[4:8] == bytes(4):
            continue
        break
    h[56:60] = b"\xee\xee\xee\xee"
    h[60:62] = struct.pack("<h", dc)
    key = hashlib.sha256(bytes(h[8:40]) + secret).digest()
    enc = Cipher(algorithms.AES(key), modes.CTR(bytes(h[40:56]))).encryptor()
    wire = enc.update(bytes(h))
    return bytes(h[:56]) + wire[56:], enc


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--bytes", type=int, default=64 << 20)
    ap.add_argument("--hold", type=float, default=30)
    args = ap.parse_args()

    s = socket.create_connection(("127.0.0.1", args.port), timeout=5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    hdr, enc = header(bytes.fromhex(args.secret), 2)
    cmd = (b"TMT1" + b"SOURCE\0\0" + struct.pack("<QQ", args.bytes, 7) +
           bytes(4))
    s.sendall(hdr + enc.update(struct.pack("<I", len(cmd)) + cmd))
    # Hold the connection without reading; the proxy's verdict is read
    # from its counters and log by the caller.
    time.sleep(args.hold)
    s.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
