#!/usr/bin/env python3
"""resetdc.py - a fake DC that resets every connection after N bytes.

Used by t_fault_dc.sh: it reads N bytes of what the proxy sends, then
closes with SO_LINGER 0 so the kernel sends an RST (a DC crashing or a
middlebox killing the flow mid-stream).  Prints "listening" once bound and
"reset after N" per connection.  Usage: resetdc.py PORT N
"""
import socket
import struct
import sys
import threading

LOCK = threading.Lock()       # one whole line per connection


def serve(c, limit):
    got = 0
    try:
        while got < limit:
            b = c.recv(min(65536, limit - got))
            if not b:
                break
            got += len(b)
    except OSError:
        pass
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    with LOCK:
        print("reset after", got, flush=True)


def main():
    port, limit = int(sys.argv[1]), int(sys.argv[2])
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(64)
    print("listening", flush=True)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c, limit), daemon=True).start()


main()
