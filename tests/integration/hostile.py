#!/usr/bin/python3
"""hostile.py HOST PORT SUBCOMMAND [ARGS] - the attacks of t_hostile.sh and
t_peraddr.sh.

Every subcommand talks raw TCP to HOST:PORT (the proxy, or the mask host
itself for comparison; from $HOSTILE_BIND if set) and prints one line of
key=value results that the scenario asserts on.  The ClientHellos are
real OpenSSL ones (Python's ssl module over a memory BIO), so the proxy
refuses them (no digest) and relays them to the mask host, which
answers them as the real site.

  hold N SECONDS     N masked connections (a hello each, the mask host's
                     ServerHello read), held silent for SECONDS
  evict-first N      N+1 connections that stop after 3 bytes of a hello;
                     the first must not see an EOF (evicted, it is
                     masked), then sends the rest and must get the mask
                     host's ServerHello
  masked-answer      one hello; did the mask host answer it?
  close-mirror URL   an HTTPS request with "Connection: close" through a
                     real TLS session; after the server's EOF the socket
                     stays open and silent, and the proxy's active count
                     (the admin JSON at URL) must drop to 0
  trickle SECONDS    a masked connection that sends one byte every 0.5 s
                     of a record nginx waits for: when did it end?
  flood BYTES        a masked connection that sends a record header and
                     BYTES of a record nginx waits for: did it end?
  idle SECONDS       a masked connection silent after the ServerHello:
                     when did it end?
"""

import json
import os
import select
import socket
import ssl
import sys
import time
import urllib.request

DOMAIN = "www.example.com"


def client_hello():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=DOMAIN)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def connect(host, port):
    """HOSTILE_BIND=ADDR in the environment: connect from ADDR."""
    src = os.environ.get("HOSTILE_BIND")
    s = socket.create_connection((host, port), timeout=10,
                                 source_address=(src, 0) if src else None)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def wait_end(s, seconds):
    """Read until EOF/reset or SECONDS: (end, bytes, seconds taken)."""
    t0 = time.monotonic()
    got = 0
    while True:
        left = seconds - (time.monotonic() - t0)
        if left <= 0:
            return "open", got, time.monotonic() - t0
        r, _, _ = select.select([s], [], [], left)
        if not r:
            continue
        try:
            b = s.recv(65536)
        except ConnectionResetError:
            return "reset", got, time.monotonic() - t0
        if not b:
            return "eof", got, time.monotonic() - t0
        got += len(b)


def read_answer(s, seconds=5):
    """The first bytes the server sends within SECONDS (b"" if none, None
    on a reset)."""
    r, _, _ = select.select([s], [], [], seconds)
    if not r:
        return b""
    try:
        return s.recv(65536)
    except ConnectionResetError:
        return None


def cmd_hold(host, port, n, seconds):
    socks, answered = [], 0
    for _ in range(int(n)):
        s = connect(host, port)
        s.sendall(client_hello())
        if (read_answer(s) or b"")[:1] == b"\x16":
            answered += 1
        socks.append(s)
    print("held=%d answered=%d" % (len(socks), answered), flush=True)
    time.sleep(float(seconds))
    for s in socks:
        s.close()


def cmd_evict_first(host, port, n):
    hello = client_hello()
    socks = []
    for _ in range(int(n) + 1):
        s = connect(host, port)
        s.sendall(hello[:3])
        socks.append(s)
        time.sleep(0.3)
    end, _, _ = wait_end(socks[0], 2.0)
    answer = b""
    if end == "open":
        socks[0].sendall(hello[3:])
        answer = read_answer(socks[0]) or b""
    print("first_end=%s answer_type=%s answer_len=%d" % (
        end, answer[:1].hex() or "-", len(answer)))
    for s in socks:
        s.close()


def cmd_masked_answer(host, port):
    s = connect(host, port)
    t0 = time.monotonic()
    s.sendall(client_hello())
    answer = read_answer(s)
    if answer is None:
        answer, end = b"", "reset"
    else:
        end, _, _ = wait_end(s, 0.5)
    print("answer_type=%s answer_len=%d seconds=%.2f end=%s" % (
        answer[:1].hex() or "-", len(answer), time.monotonic() - t0, end))
    s.close()


def proxy_active(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)["counters"]["conn_active"]


def cmd_close_mirror(host, port, url):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = connect(host, port)
    s = ctx.wrap_socket(raw, server_hostname=DOMAIN)
    raw = socket.fromfd(s.fileno(), socket.AF_INET, socket.SOCK_STREAM)
    s.sendall(("GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
               % DOMAIN).encode())
    body = b""
    while True:
        try:
            b = s.recv(65536)
        except (ssl.SSLError, ConnectionResetError):
            break
        if not b:
            break
        body += b
    t0 = time.monotonic()
    active = -1
    while time.monotonic() - t0 < 5:
        active = proxy_active(url)
        if active == 0:
            break
        time.sleep(0.1)
    gone = time.monotonic() - t0
    # The server closed: a write now must meet a reset, as from the
    # server itself (nothing absorbs it).
    try:
        raw.send(b"x")
        time.sleep(0.3)
        raw.send(b"y")
        after = "accepted"
    except (BrokenPipeError, ConnectionResetError):
        after = "reset"
    print("status=%s active=%d gone_after=%.2f write_after_close=%s" % (
        body[9:12].decode(errors="replace") or "-", active, gone, after))
    raw.close()


# A record header whose 16 KiB body never completes: nginx waits for it.
LONG_RECORD = b"\x17\x03\x03\x40\x00"


def cmd_trickle(host, port, seconds):
    s = connect(host, port)
    s.sendall(client_hello())
    read_answer(s)
    s.sendall(LONG_RECORD)
    t0 = time.monotonic()
    end = "open"
    while time.monotonic() - t0 < float(seconds):
        try:
            s.send(b"\x00")
        except (BrokenPipeError, ConnectionResetError):
            end = "reset"
            break
        e, _, _ = wait_end(s, 0.5)
        if e != "open":
            end = e
            break
    print("end=%s seconds=%.2f" % (end, time.monotonic() - t0))
    s.close()


def cmd_flood(host, port, nbytes):
    s = connect(host, port)
    s.sendall(client_hello())
    read_answer(s)
    t0 = time.monotonic()
    end = "open"
    try:
        s.sendall(LONG_RECORD + b"\x00" * int(nbytes))
    except (BrokenPipeError, ConnectionResetError):
        end = "reset"
    if end == "open":
        end, _, _ = wait_end(s, 5)
    print("sent=%d end=%s seconds=%.2f" % (int(nbytes), end,
                                           time.monotonic() - t0))
    s.close()


def cmd_idle(host, port, seconds):
    s = connect(host, port)
    s.sendall(client_hello())
    read_answer(s)
    end, _, took = wait_end(s, float(seconds))
    print("end=%s seconds=%.2f" % (end, took))
    s.close()


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    host, port, cmd, args = sys.argv[1], int(sys.argv[2]), sys.argv[3], \
        sys.argv[4:]
    fn = {
        "hold": cmd_hold, "evict-first": cmd_evict_first,
        "masked-answer": cmd_masked_answer, "close-mirror": cmd_close_mirror,
        "trickle": cmd_trickle, "flood": cmd_flood, "idle": cmd_idle,
    }.get(cmd)
    if fn is None:
        sys.exit("unknown subcommand " + cmd)
    fn(host, port, *args)


if __name__ == "__main__":
    main()
