#!/usr/bin/env python3
"""socks5_bnd.py - a minimal SOCKS5 server (RFC 1928, no auth, CONNECT to
IPv4/IPv6 only) for t_upstream.sh that, unlike microsocks, answers with
the address it really connects from (BND.ADDR, BND.PORT), as the ME key
derivation through an upstream needs.  Loopback targets only.

    socks5_bnd.py PORT      listen on 127.0.0.1:PORT until killed
"""
import ipaddress
import socket
import struct
import sys
import threading


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("peer closed")
        buf += chunk
    return buf


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    for s in (dst, src):
        try:
            s.shutdown(socket.SHUT_WR if s is dst else socket.SHUT_RD)
        except OSError:
            pass


def reply(c, code, bound=None):
    if bound is None:
        c.sendall(bytes([5, code, 0, 1, 0, 0, 0, 0, 0, 0]))
        return
    ip = ipaddress.ip_address(bound[0])
    atyp = 1 if ip.version == 4 else 4
    c.sendall(bytes([5, code, 0, atyp]) + ip.packed +
              struct.pack(">H", bound[1]))


def serve(c):
    out = None
    try:
        ver, n = recv_exact(c, 2)
        methods = recv_exact(c, n)
        if ver != 5 or 0 not in methods:
            c.sendall(b"\x05\xff")
            return
        c.sendall(b"\x05\x00")
        ver, cmd, _, atyp = recv_exact(c, 4)
        if atyp == 1:
            addr = ipaddress.ip_address(recv_exact(c, 4))
        elif atyp == 4:
            addr = ipaddress.ip_address(recv_exact(c, 16))
        else:
            reply(c, 8)
            return
        port = struct.unpack(">H", recv_exact(c, 2))[0]
        if ver != 5 or cmd != 1:
            reply(c, 7)
            return
        if not addr.is_loopback:
            reply(c, 2)                 # tests stay on loopback
            return
        fam = socket.AF_INET if addr.version == 4 else socket.AF_INET6
        out = socket.socket(fam, socket.SOCK_STREAM)
        try:
            out.connect((str(addr), port))
        except OSError:
            reply(c, 5)
            return
        reply(c, 0, out.getsockname()[:2])
        t = threading.Thread(target=pump, args=(out, c), daemon=True)
        t.start()
        pump(c, out)
        t.join()
    except (EOFError, OSError):
        pass
    finally:
        if out is not None:
            out.close()
        c.close()


def main():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", int(sys.argv[1])))
    srv.listen(128)
    print("socks5_bnd: listening", flush=True)
    while True:
        c, _ = srv.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


if __name__ == "__main__":
    main()
