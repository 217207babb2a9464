#!/usr/bin/python3
"""probe.py - a raw TCP probe for the integration tests.

Connects to HOST:PORT, sends the given bytes (all at once, or one byte at
a time with --drip), optionally half-closes (shutdown SHUT_WR), and reads
until the peer closes (eof), resets (reset), --timeout seconds pass since
the connect (timeout), or, with --quiet, the peer stays silent that long
after its last byte (quiet).  The bytes received go to --out (default:
stdout).  One summary line goes to stdout when --out is given, else to
stderr:

  probe: sent=N received=M end=eof|reset|timeout|quiet seconds=S
         first_byte=S|- [send_error=E] [records=T/LEN,... appdata=N]

seconds counts from the connect to the end; first_byte from the connect
to the first byte received.  A reset reported by send() (then recv()
only sees an EOF) counts as end=reset.  --records walks the received bytes as TLS
records: type/length of every complete one, and appdata = the payload
total of the ApplicationData (0x17) records after the first handshake
(0x16) record.  Exit status 0 unless the connect failed (1) or the
usage is wrong (2).
"""

import argparse
import binascii
import errno
import os
import select
import socket
import sys
import time


def parse_args():
    ap = argparse.ArgumentParser(description="raw TCP probe")
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--send-hex", metavar="HEX", help="bytes to send, in hex")
    g.add_argument("--send-file", metavar="F", help="send the bytes of F")
    g.add_argument("--send-random", metavar="N", type=int,
                   help="send N random bytes")
    ap.add_argument("--half-close", action="store_true",
                    help="shutdown(SHUT_WR) once everything is sent")
    ap.add_argument("--timeout", metavar="S", type=float, default=10.0,
                    help="give up S seconds after the connect (default 10)")
    ap.add_argument("--quiet", metavar="S", type=float, default=None,
                    help="stop once the peer was silent S s after a byte")
    ap.add_argument("--drip", metavar="S", type=float, default=None,
                    help="send one byte every S seconds")
    ap.add_argument("--records", action="store_true",
                    help="summarise the received bytes as TLS records")
    ap.add_argument("--out", metavar="FILE",
                    help="write the received bytes to FILE (default stdout)")
    return ap.parse_args()


def payload(a):
    if a.send_hex is not None:
        try:
            return binascii.unhexlify("".join(a.send_hex.split()))
        except (binascii.Error, ValueError) as e:
            sys.exit("probe: bad --send-hex: %s" % e)
    if a.send_file is not None:
        with open(a.send_file, "rb") as f:
            return f.read()
    if a.send_random is not None:
        return os.urandom(a.send_random)
    return b""


def tls_records(data):
    """(list of 'type/len', appdata total after the first 0x16 record)"""
    out, appdata, hello, off = [], 0, False, 0
    while off + 5 <= len(data):
        rtype = data[off]
        rlen = data[off + 3] << 8 | data[off + 4]
        if off + 5 + rlen > len(data):
            out.append("%02x/%d+partial" % (rtype, rlen))
            break
        out.append("%02x/%d" % (rtype, rlen))
        if rtype == 0x16:
            hello = True
        elif rtype == 0x17 and hello:
            appdata += rlen
        off += 5 + rlen
    return out, appdata


def main():
    a = parse_args()
    data = payload(a)
    fam = socket.AF_INET6 if ":" in a.host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(max(a.timeout, 0.1))
    try:
        s.connect((a.host, a.port))
    except OSError as e:
        print("probe: connect to %s:%d failed: %s" % (a.host, a.port, e),
              file=sys.stderr)
        return 1
    t0 = time.monotonic()
    deadline = t0 + a.timeout
    s.setblocking(False)

    sent, got, end, send_error = 0, bytearray(), None, None
    first_byte = None
    last_rx = None
    next_drip = t0
    wr_shut = False

    while end is None:
        now = time.monotonic()
        if now >= deadline:
            end = "timeout"
            break
        if a.quiet is not None and last_rx is not None and \
                now - last_rx >= a.quiet:
            end = "quiet"
            break
        # What to send now.
        want_write = False
        if send_error is None and sent < len(data):
            if a.drip is None or now >= next_drip:
                want_write = True
        elif send_error is None and a.half_close and not wr_shut:
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError as e:
                send_error = errno.errorcode.get(e.errno, str(e.errno))
            wr_shut = True
        wait = deadline - now
        if a.quiet is not None and last_rx is not None:
            wait = min(wait, last_rx + a.quiet - now)
        if a.drip is not None and send_error is None and sent < len(data) \
                and not want_write:
            wait = min(wait, next_drip - now)
        wait = max(wait, 0.0)
        r, w, _ = select.select([s], [s] if want_write else [], [], wait)
        if w:
            chunk = data[sent:sent + 1] if a.drip is not None \
                else data[sent:]
            try:
                n = s.send(chunk)
                sent += n
                next_drip = time.monotonic() + (a.drip or 0)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError as e:
                send_error = errno.errorcode.get(e.errno, str(e.errno))
        if r:
            try:
                b = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except ConnectionResetError:
                end = "reset"
                break
            except OSError as e:
                end = "error:" + errno.errorcode.get(e.errno, str(e.errno))
                break
            if not b:
                end = "eof"
                break
            if first_byte is None:
                first_byte = time.monotonic() - t0
            last_rx = time.monotonic()
            got += b
    secs = time.monotonic() - t0
    s.close()
    # A reset that a send() reported first leaves recv() only an EOF.
    if end == "eof" and send_error == "ECONNRESET":
        end = "reset"

    if a.out is not None:
        with open(a.out, "wb") as f:
            f.write(got)
        summary_to = sys.stdout
    else:
        sys.stdout.buffer.write(got)
        sys.stdout.flush()
        summary_to = sys.stderr
    line = "probe: sent=%d received=%d end=%s seconds=%.3f first_byte=%s" % (
        sent, len(got), end, secs,
        "-" if first_byte is None else "%.3f" % first_byte)
    if send_error is not None:
        line += " send_error=%s" % send_error
    if a.records:
        recs, appdata = tls_records(bytes(got))
        line += " records=%s appdata=%d" % (",".join(recs) or "-", appdata)
    print(line, file=summary_to)
    return 0


if __name__ == "__main__":
    sys.exit(main())
