"""telethon_probe.py - connect a real Telethon client through the proxy.

Used by t_telethon.sh with Debian's python3-telethon (/usr/bin/python3).
Starts TelegramClient.connect() through 127.0.0.1:PORT with the chosen
MTProxy connection class and stops as soon as the fake DC's log shows a new
"conn " line (the fake DC never answers, so connect() itself never
completes), or after --timeout seconds; --wait-for REGEX waits for a
line matching REGEX instead (the fake ME's "req-mtproto ... d712e4be":
the client got our answer to its first request and sent its second).  Any attempt to dial an address
other than the proxy is refused and makes the exit status 3.

Exit: 0 the fake DC logged a connection, 1 it did not, 3 forbidden dial.
"""

import argparse
import asyncio
import logging
import re
import socket
import sys
import time

FORBIDDEN = []


def guard_sockets(port):
    """Refuse every connect() except to the proxy on 127.0.0.1:port."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def allowed(address):
        return (isinstance(address, tuple) and len(address) >= 2
                and address[0] == "127.0.0.1" and address[1] == port)

    def connect(self, address):
        if not allowed(address):
            FORBIDDEN.append(address)
            raise ConnectionRefusedError("probe: dial of %r refused"
                                         % (address,))
        return real_connect(self, address)

    def connect_ex(self, address):
        if not allowed(address):
            FORBIDDEN.append(address)
            return 111
        return real_connect_ex(self, address)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex


def log_lines(path):
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read().splitlines()
    except OSError:
        return []


async def probe(args):
    from telethon import TelegramClient
    from telethon.network import connection as tc
    from telethon.sessions import StringSession

    classes = {
        "abridged": tc.ConnectionTcpMTProxyAbridged,
        "intermediate": tc.ConnectionTcpMTProxyIntermediate,
        "randomized": tc.ConnectionTcpMTProxyRandomizedIntermediate,
    }
    before = [len(log_lines(f)) for f in args.log]
    client = TelegramClient(
        StringSession(), 1, "x" * 32,
        connection=classes[args.connection],
        proxy=("127.0.0.1", args.port, args.secret),
        connection_retries=0, retry_delay=0, request_retries=0,
        auto_reconnect=False, timeout=args.timeout)
    task = asyncio.ensure_future(client.connect())
    deadline = time.monotonic() + args.timeout
    found = None
    done_at = None
    while time.monotonic() < deadline:
        new = [line for f, b in zip(args.log, before)
               for line in log_lines(f)[b:]
               if re.search(args.wait_for, line)]
        if new:
            found = new[0]
            break
        if task.done():
            # connect() gave up (e.g. the proxy closed): look a moment more.
            done_at = done_at or time.monotonic()
            if time.monotonic() - done_at > 1:
                break
        await asyncio.sleep(0.1)
    task.cancel()
    try:
        await task
    except BaseException as e:          # any outcome is fine here
        print("probe: connect() ended: %s" % (type(e).__name__,),
              file=sys.stderr)
    try:
        await asyncio.wait_for(client.disconnect(), 5)
    except BaseException:
        pass
    print("probe: %s -> %s" % (args.connection, found or "no connection"))
    return found is not None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--secret", required=True,
                    help="32 hex digits, or dd + 32 hex digits")
    ap.add_argument("--connection", required=True,
                    choices=("abridged", "intermediate", "randomized"))
    ap.add_argument("--log", required=True, action="append",
                    help="the fake DC's log file (repeatable)")
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--wait-for", default="^conn ",
                    help="regex of the log line to wait for")
    args = ap.parse_args()

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    guard_sockets(args.port)
    ok = asyncio.run(probe(args))
    if FORBIDDEN:
        print("probe: forbidden dials: %r" % (FORBIDDEN,), file=sys.stderr)
        return 3
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
