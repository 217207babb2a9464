#!/usr/bin/env python3
"""seeds.py - writes the fuzz targets' seed corpora into tests/fuzz/corpus/:
valid inputs (obfuscated2 headers from /work/shared/vectors.txt or the
repo's copy, fake-TLS hello parameters, framed TLS records, a mask host's
flight, the test configs), so each fuzzer starts past the first checks.
Run from the repo root; the output is committed."""
import glob, os, re, shutil, struct, sys

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
    if os.path.isfile(p):
        data = open(p, 'rb').read()
        if len(data) <= 65536 and b'\0' not in data:
            put('config', os.path.basename(os.path.dirname(p)) + '_' +
                os.path.basename(p), data)
