#!/usr/bin/python3
"""tlsrecs.py - the TLS records a server sent, read from a tcpdump capture.

  tlsrecs.py FILE.pcap PORT [--from-client] [--hex]

Reassembles every TCP connection in the capture (classic pcap, the
format `tcpdump -w` writes; Ethernet, Linux cooked v1/v2, BSD loopback
or raw IP framing; IPv4 and IPv6) and walks the bytes sent from PORT
(with --from-client: sent to PORT) as TLS records.  One line per
connection, in the order the connections started:

  conn CLIENT_PORT bytes=N records=TYPE:LEN,TYPE:LEN,... [tail=K] [fin]

TYPE is the record's content type in decimal (22 handshake, 20
ChangeCipherSpec, 21 alert, 23 ApplicationData) and LEN its length
field; tail=K counts bytes after the last complete record (a capture
that ended mid-record, or bytes that are not TLS); fin says that the
sender's FIN is in the capture with every byte before it (so a test can
wait for a capture to be complete).  --hex adds hex=...,
all the bytes of that direction.  Exit status 0, or 2
when the file is not a capture this script reads.
"""

import struct
import sys


def pcap_packets(data):
    """(linktype, [frame bytes]) of a classic pcap file."""
    if len(data) < 24:
        raise ValueError("shorter than a pcap header")
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        raise ValueError("not a classic pcap file (pcapng is not read)")
    linktype = struct.unpack(end + "I", data[20:24])[0] & 0x0FFFFFFF
    frames, off = [], 24
    while off + 16 <= len(data):
        incl = struct.unpack(end + "I", data[off + 8:off + 12])[0]
        off += 16
        frames.append(data[off:off + incl])
        off += incl
    return linktype, frames


def ip_payload(linktype, frame):
    """(protocol, src, dst, payload) of the IP packet in a frame, or None."""
    if linktype == 1:                   # Ethernet
        if len(frame) < 14:
            return None
        etype, frame = struct.unpack(">H", frame[12:14])[0], frame[14:]
    elif linktype == 113:               # Linux cooked v1
        if len(frame) < 16:
            return None
        etype, frame = struct.unpack(">H", frame[14:16])[0], frame[16:]
    elif linktype == 276:               # Linux cooked v2
        if len(frame) < 20:
            return None
        etype, frame = struct.unpack(">H", frame[0:2])[0], frame[20:]
    elif linktype == 0:                 # BSD loopback
        if len(frame) < 4:
            return None
        fam = struct.unpack("=I", frame[:4])[0]
        etype, frame = (0x0800 if fam == 2 else 0x86DD), frame[4:]
    elif linktype in (12, 101):         # raw IP
        if not frame:
            return None
        etype = 0x0800 if frame[0] >> 4 == 4 else 0x86DD
    else:
        raise ValueError("link type %d is not read" % linktype)
    if etype == 0x0800 and len(frame) >= 20:
        ihl = (frame[0] & 0x0F) * 4
        total = struct.unpack(">H", frame[2:4])[0]
        return frame[9], frame[12:16], frame[16:20], frame[ihl:total]
    if etype == 0x86DD and len(frame) >= 40:
        plen = struct.unpack(">H", frame[4:6])[0]
        return frame[6], frame[8:24], frame[24:40], frame[40:40 + plen]
    return None


def segments(path):
    """Every TCP segment: (sport, dport, seq, flags, payload)."""
    with open(path, "rb") as f:
        linktype, frames = pcap_packets(f.read())
    for frame in frames:
        ip = ip_payload(linktype, frame)
        if ip is None or ip[0] != 6 or len(ip[3]) < 20:
            continue
        tcp = ip[3]
        sport, dport, seq = struct.unpack(">HHI", tcp[:8])
        hlen = (tcp[12] >> 4) * 4
        yield sport, dport, seq, tcp[13], tcp[hlen:]


def streams(path, port, from_client):
    """([client ports in the order they began], {client port: bytes sent
    one way}, {client port: offset of the sender's FIN})."""
    isn, parts, order, fins = {}, {}, [], {}
    for sport, dport, seq, flags, data in segments(path):
        if from_client:
            if dport != port:
                continue
            client = sport
        else:
            if sport != port:
                continue
            client = dport
        if flags & 0x02:                # SYN: the stream starts after it
            if client not in isn:
                order.append(client)
            isn[client] = (seq + 1) & 0xFFFFFFFF
            parts[client] = {}
            continue
        if client not in isn:
            continue
        rel = (seq - isn[client]) & 0xFFFFFFFF
        if flags & 0x01:
            fins[client] = rel + len(data)
        if not data:
            continue
        # A retransmission of the same start keeps the longer copy.
        if len(data) > len(parts[client].get(rel, b"")):
            parts[client][rel] = data
    out = {}
    for client in order:
        buf = bytearray()
        for rel in sorted(parts[client]):
            data = parts[client][rel]
            if rel > len(buf):
                break                   # a hole: the capture lost bytes
            buf += data[len(buf) - rel:]
        out[client] = bytes(buf)
    return order, out, fins


def records(buf):
    """([(type, length)], bytes after the last complete record)."""
    recs, off = [], 0
    while off + 5 <= len(buf):
        rtype = buf[off]
        rlen = struct.unpack(">H", buf[off + 3:off + 5])[0]
        if off + 5 + rlen > len(buf):
            break
        recs.append((rtype, rlen))
        off += 5 + rlen
    return recs, len(buf) - off


def main():
    flags = ("--from-client", "--hex")
    args = [a for a in sys.argv[1:] if a not in flags]
    if len(args) != 2:
        sys.stderr.write(__doc__)
        return 2
    try:
        order, out, fins = streams(args[0], int(args[1]),
                             "--from-client" in sys.argv[1:])
    except (OSError, ValueError) as e:
        sys.stderr.write("tlsrecs.py: %s: %s\n" % (args[0], e))
        return 2
    for client in order:
        recs, tail = records(out[client])
        line = "conn %d bytes=%d records=%s" % (
            client, len(out[client]),
            ",".join("%d:%d" % r for r in recs))
        if tail:
            line += " tail=%d" % tail
        if fins.get(client) == len(out[client]):
            line += " fin"
        if "--hex" in sys.argv[1:]:
            line += " hex=%s" % out[client].hex()
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
