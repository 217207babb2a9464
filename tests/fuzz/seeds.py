#!/usr/bin/env python3
"""seeds.py - writes the fuzz targets' seed corpora into tests/fuzz/corpus/:
valid inputs (obfuscated2 headers from /work/shared/vectors.txt or the
repo's copy, fake-TLS hello parameters, framed TLS records, a mask host's
flight, the test configs), so each fuzzer starts past the first checks.
Run from the repo root (handoff_rec's seeds need cc: the record is an
in-memory struct); the output is committed."""
import glob, os, re, shutil, struct, subprocess, sys, tempfile

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus')

def put(target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)

def rec(typ, payload, ver=b'\x03\x03'):
    return bytes([typ]) + ver + struct.pack('>H', len(payload)) + payload

# obfs2: secret || header on the wire, from the shared vectors.
secret = bytes.fromhex('00112233445566778899aabbccddeeff')
vec = sys.argv[1] if len(sys.argv) > 1 else '/work/shared/vectors.txt'
if os.path.exists(vec):
    lines = open(vec).read().split('\n')
    n = 0
    for i, l in enumerate(lines):
        if l.startswith('header on the wire'):
            h = bytes.fromhex(lines[i + 1].strip() + lines[i + 2].strip())
            put('obfs2', 'vector%d' % n, secret + h)
            n += 1
put('obfs2', 'tls_prefix', secret + b'\x16\x03\x01\x02\x00' + bytes(59))

# faketls, even mode: size (2 bytes), secret, SNI -> a signed hello.
for i, (size, sni) in enumerate([(256, b'example.com'), (0, b''),
                                 (1200, b'a' * 253), (3000, b'x.y')]):
    put('faketls', 'build%d' % i, b'\x00' + struct.pack('>H', size) +
        secret + sni)
# odd mode: a raw record (minimal hello body, no extensions).
body = (b'\x03\x03' + bytes(32) + b'\x20' + bytes(32) +
        b'\x00\x04\x13\x01\x13\x02' + b'\x01\x00' + b'\x00\x00')
body += bytes(120 - len(body))
hs = b'\x01' + struct.pack('>I', len(body))[1:] + body
put('faketls', 'raw0', b'\x01' + secret + rec(0x16, hs, b'\x03\x01'))

# tlsrec: CCS, ApplicationData, alert, in a few cuts.
put('tlsrec', 'ccs_data', b'\x03' + rec(0x14, b'\x01') + rec(0x17, b'hello'))
put('tlsrec', 'two', b'\x00' + rec(0x17, bytes(300)) + rec(0x17, b'x'))
put('tlsrec', 'alert', b'\x07' + rec(0x17, b'ab') + rec(0x15, b'\x01\x00'))
put('tlsrec', 'payload', b'\x1f' + bytes(range(256)))

# tlsprobe: ServerHello, CCS, encrypted flight.
put('tlsprobe', 'flight', rec(0x16, bytes(90)) + rec(0x14, b'\x01') +
    rec(0x17, bytes(2000)) + rec(0x17, bytes(300)))
put('tlsprobe', 'alert', rec(0x15, b'\x02\x28'))
put('tlsprobe', 'partial', rec(0x16, bytes(90)) + rec(0x17, bytes(50))[:20])

# config: the unit tests' configs, good and bad, and the shipped one.
for p in sorted(glob.glob('tests/data/good/*') + glob.glob('tests/data/bad/*')
                + ['etc/telemt.conf']):
    if os.path.isfile(p) and not p.endswith('.err'):
        data = open(p, 'rb').read()
        if len(data) <= 65536 and b'\0' not in data:
            put('config', os.path.basename(os.path.dirname(p)) + '_' +
                os.path.basename(p), data)

# inherit: what the old master builds, and near misses.
for i, v in enumerate([b'listen=3,4;shm=5;ready=6;admin=7;offer=8',
                       b'ready=9;listen=10;shm=11',
                       b'listen=' + b','.join(b'%d' % fd for fd in
                                              range(20, 148)) +
                       b';shm=5;ready=6',
                       b'listen=3;shm=03;ready=4', b'listen=3;shm=3;ready=4']):
    put('inherit', 'value%d' % i, v)

# access: Host, admin_listen, Authorization, admin_token (one a line).
for i, v in enumerate([b'127.0.0.1:9090\n127.0.0.1:9090\nBearer s3cret\ns3cret',
                       b'[::1]:9090\n[::]:9090\nbearer\t tok \ntok',
                       b'10.0.0.1\n0.0.0.0:9090\nBasic xyz\nxyz',
                       b'evil.example:80\nadmin.lan:9090\nBearer \nx',
                       b'admin.lan\nadmin.lan:9090\nBearer a b\na b',
                       b'[fe80::1]:1\n[fe80::1]:9090']):
    put('access', 'req%d' % i, v)

# json_in: users API bodies as panels send them.
for name, v in [
        ('add', b'{"username": "bob", "secret": '
                b'"00112233445566778899aabbccddeeff", "max_tcp_conns": 20}'),
        ('escapes', b'{"enabled": false, "expiration": null, '
                    b'"u": "caf\\u00e9 \\ud83d\\ude00"}'),
        ('empty', b'{}'),
        ('patch', b'{"data_quota_bytes": 53687091200, '
                  b'"expiration": "2027-03-01T00:00:00Z"}')]:
    put('json_in', name, v)

# handoff_rec: records as an old worker sends them, written by a C
# program so that the layout is the compiler's; byte 0 odd makes the
# harness set magic, version and size.
prog = r"""
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include "handoff_rec.h"
static unsigned char b[sizeof(struct handoff_rec) + 64];
static void put(const char *name, size_t up, size_t down, unsigned kind,
    unsigned parts, int family)
{
    struct handoff_rec *r = (struct handoff_rec *)b;
    FILE *f = fopen(name, "wb");
    memset(b, 0, sizeof(b));
    r->magic = HANDOFF_MAGIC; r->version = 1;
    r->size = (unsigned)(sizeof(*r) + up + down);
    r->kind = kind; r->parts = parts; r->dc = 2;
    if (kind == HANDOFF_DC) strcpy(r->user, "alice");
    r->peer.ss_family = (sa_family_t)family;
    r->tls_hdr_have = 3; r->tls_left = 100;
    r->up_len = (unsigned)up; r->down_len = (unsigned)down;
    r->down_eof = up == 0; r->down_done = up == 0 && down == 0;
    memset(r->pending, 0x5a, up + down);
    b[0] |= 1;
    fwrite(b, 1, r->size, f);
    fclose(f);
}
int main(void)
{
    put("dc_tls", 10, 20, HANDOFF_DC, 0x1f, AF_INET);
    put("dc_fast", 0, 0, HANDOFF_DC, 0x05, AF_INET6);
    put("mask", 0, 7, HANDOFF_MASK, 0, AF_INET);
    return 0;
}
"""
d = os.path.join(out, 'handoff_rec')
os.makedirs(d, exist_ok=True)
with tempfile.TemporaryDirectory() as tmp:
    src = os.path.join(tmp, 'seed.c')
    with open(src, 'w') as f:
        f.write(prog)
    subprocess.check_call(['cc', '-std=c11', '-D_GNU_SOURCE', '-Icommon',
                           '-o', os.path.join(tmp, 'seed'), src])
    subprocess.check_call([os.path.join(tmp, 'seed')], cwd=d)

# me_list: the documented list (IPv4), an IPv6 one, and broken ones.
put('me_list', 'doc', b'\x00# force_probability 10 10\ndefault 2;\n'
    b'proxy_for 1 149.154.175.50:8888;\nproxy_for -1 149.154.175.50:8888;\n'
    b'proxy_for 203 91.105.192.110:443;\ntimeout 300;\n')
put('me_list', 'v6', b'\x01proxy_for 2 [2001:b28:f23d:f001::d]:8888;\n')
put('me_list', 'broken', b'\x00proxy_for 2 1.2.3.4:8888\nproxy 5;')
put('me_list', 'mixed', b'\x00proxy_for 2 1.2.3.4:8888; # c\nproxy_for 4 '
    b'5.6.7.8:443;proxy 9.9.9.9:1;\nproxy_for 2 1.2.3.5:8888;\n'
    b'min_connections 2; max_connections 8;\ndefault 4;')

# me_reader: a frame seq -2 with CRC32 (the vectors' nonce), and a
# client stream of intermediate frames.
def me_frame(seq, payload):
    import zlib
    head = struct.pack('<Ii', 12 + len(payload), seq) + payload
    return head + struct.pack('<I', zlib.crc32(head) & 0xffffffff)
put('me_reader', 'nonce', b'\x00' + me_frame(-2, bytes.fromhex(
    'aa87cb7a0d80536a0100000000f153650fb60534b895c6356e7bb3521fd3445e')))
put('me_reader', 'two', b'\x06' + me_frame(-2, b'\x0d\xda\x03\x44' +
    bytes(20)) + b'\x04\x00\x00\x00' + me_frame(-1, b'\xdf\xa2\x30\x57' +
    bytes(8)))
put('me_reader', 'frames', b'\x05' + struct.pack('<I', 8) + bytes(8) +
    struct.pack('<I', 0x80000004) + b'abcd')
# Byte 0 = 0x0c: abridged, cuts of 4: short, quick-ack and long forms.
put('me_reader', 'abridged', b'\x0c' + b'\x02' + bytes(8) + b'\x82' +
    b'abcdefgh' + b'\x7f\x80\x00\x00' + bytes(512))
# Byte 0 = 0x04: intermediate, cuts of 2; one frame with quick ack.
put('me_reader', 'intermediate', b'\x04' + struct.pack('<I', 4) + b'abcd' +
    struct.pack('<I', 0x80000008) + bytes(8))
# Byte 0 = 0x01: CRC32C frames (as after the handshake) from seq -2.
def crc32c(b):
    c = 0xffffffff
    for x in b:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ 0x82f63b78 if c & 1 else c >> 1
    return c ^ 0xffffffff
def me_frame_c(seq, payload):
    head = struct.pack('<Ii', 12 + len(payload), seq) + payload
    return head + struct.pack('<I', crc32c(head))
put('me_reader', 'crc32c', b'\x01' + me_frame_c(-2, b'\x9b\x40\xac\x3b' +
    bytes(12)) + me_frame_c(-1, b'\xa2\x34\xb6\x5e' + bytes(8)) +
    b'\x04\x00\x00\x00' * 3)

# proxyproto: v1 and v2 headers (TLVs, LOCAL, IPv6) with client bytes after.
put('proxyproto', 'v1_tcp4', b'PROXY TCP4 192.0.2.7 127.0.0.1 40001 443\r\n'
    b'\x16\x03\x01')
put('proxyproto', 'v1_tcp6', b'PROXY TCP6 2001:db8::7 ::1 1 8443\r\n')
put('proxyproto', 'v1_unknown', b'PROXY UNKNOWN\r\n')
pp2 = b'\r\n\r\n\x00\r\nQUIT\n'
put('proxyproto', 'v2_inet', pp2 + b'\x21\x11\x00\x0c' +
    bytes([192, 0, 2, 7, 127, 0, 0, 1]) + b'\x9c\x41\x01\xbb' + b'\xef')
put('proxyproto', 'v2_inet6_tlv', pp2 + b'\x21\x21\x00\x2b' + bytes(15) +
    b'\x07' + bytes(15) + b'\x01' + b'\x12\x34\x01\xbb' +
    b'\x04\x00\x04abcd')
put('proxyproto', 'v2_local', pp2 + b'\x20\x00\x00\x00')
# socks5: method answer, RFC 1929 answer, then a CONNECT reply (IPv4 with
# a bound address, IPv6, a host name, a refusal).
put('socks5', 'ipv4', b'\x05\x00\x01\x00' +
    b'\x05\x00\x00\x01\x7f\x00\x00\x03\x91\xa2')
put('socks5', 'ipv6', b'\x05\x02\x01\x00' + b'\x05\x00\x00\x04' +
    bytes(15) + b'\x01\x1f\x90')
put('socks5', 'name', b'\x05\x00\x01\x01' + b'\x05\x00\x00\x03\x09' +
    b'localhost\x04\x38')
put('socks5', 'refused', b'\x05\xff\x01\x00' + b'\x05\x05\x00\x01' +
    bytes(6))
