#!/usr/bin/env python3
"""tls13_send.py - the real TLS 1.3 server of t_tls_shape: OpenSSL (through
Python's ssl module) accepts one connection on 127.0.0.1:PORT, sends the
whole of FILE in one write, then close_notify, and exits.

openssl s_server was the reference before, but it stops after its first
16 KiB read of stdin now and then (seen here 2 runs in 5, on an idle
machine), which a test cannot use.

Usage: tls13_send.py CERT KEY PORT FILE
"""
import socket
import ssl
import sys


def main():
    cert, key, port, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
        sys.argv[4]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(cert, key)
    with open(path, "rb") as f:
        data = f.read()
    with socket.create_server(("127.0.0.1", port)) as srv:
        srv.settimeout(30)
        conn, _ = srv.accept()
        conn.settimeout(30)
        with ctx.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(data)
            try:
                tls.unwrap()
            except (OSError, ssl.SSLError):
                pass


if __name__ == "__main__":
    main()
