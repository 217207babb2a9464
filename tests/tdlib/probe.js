'use strict';
/*
 * probe.js - drive TDLib, Telegram's official client library, through
 * telemt.  Used by tests/integration/t_tdlib.sh.
 *
 *   node probe.js --fingerprints
 *       print the fingerprints (hex) of the RSA public keys built into this
 *       libtdjson, one a line: the fake DC must offer one TDLib knows.
 *   node probe.js --port P --secret HEX --log FAKEDC_LOG --db DIR
 *                 [--wait-for REGEX] [--timeout S] [--records FILE]
 *       a fresh TDLib (dummy api_id, no account, its database in DIR) with
 *       only an MTProto proxy at 127.0.0.1:P and that secret; waits until a
 *       line added to FAKEDC_LOG matches REGEX, then closes TDLib.
 *       --records: TDLib reaches the proxy through a tap here that writes
 *       the TLS records the proxy sent, "conn=N type=T len=L" a line (for
 *       ee secrets: what the client was shown and accepted).
 *
 * The proxy is added before TDLib gets its parameters, so it never tries a
 * DC directly; the scenario runs in a network namespace with loopback only
 * anyway, so whatever else TDLib tries (config over HTTPS, DNS) fails at
 * once.  TDLib's own log goes to DIR/tdlib.log.
 *
 * Exit: 0 the line appeared, 1 it did not, 2 usage or TDLib error.
 */

const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');

function usage(msg) {
    process.stderr.write(`probe: ${msg}\n`);
    process.exit(2);
}

function parseArgs(argv) {
    const a = { waitFor: 'constructor=d712e4be', timeout: 30 };
    for (let i = 0; i < argv.length; i++) {
        const k = argv[i];
        const v = () => {
            if (i + 1 >= argv.length)
                usage(`${k} needs a value`);
            return argv[++i];
        };
        switch (k) {
        case '--fingerprints': a.fingerprints = true; break;
        case '--port': a.port = Number(v()); break;
        case '--secret': a.secret = v(); break;
        case '--log': a.log = v(); break;
        case '--db': a.db = v(); break;
        case '--wait-for': a.waitFor = v(); break;
        case '--timeout': a.timeout = Number(v()); break;
        case '--records': a.records = v(); break;
        default: usage(`unknown argument ${k}`);
        }
    }
    if (a.fingerprints)
        return a;
    if (!(a.port > 0 && a.port < 65536) ||
        !/^[0-9a-f]+$/i.test(a.secret || '') || !a.log || !a.db ||
        !(a.timeout > 0))
        usage('need --port, --secret HEX, --log FILE, --db DIR');
    return a;
}

/* An MTProto TL "bytes" field: length prefix, data, zero padding to 4. */
function tlBytes(b) {
    const n = b.length;
    const head = n < 254 ? Buffer.from([n]) :
        Buffer.from([254, n & 255, (n >> 8) & 255, n >> 16]);
    const out = Buffer.concat([head, b]);
    return Buffer.concat([out, Buffer.alloc((4 - out.length % 4) % 4)]);
}

/*
 * The fingerprint of an RSA key as MTProto defines it: the low 64 bits
 * (last 8 bytes, little endian) of SHA1 over n and e as TL bytes.  The keys
 * are the PEM blocks inside the library file.
 */
function fingerprints(so) {
    const text = fs.readFileSync(so).toString('latin1');
    const re = new RegExp('-----BEGIN RSA PUBLIC KEY-----[A-Za-z0-9+/=\\s]+' +
        '-----END RSA PUBLIC KEY-----', 'g');
    const out = [];
    for (const m of text.matchAll(re)) {
        let jwk;
        try {
            jwk = crypto.createPublicKey({
                key: m[0], format: 'pem', type: 'pkcs1' })
                .export({ format: 'jwk' });
        } catch (e) {
            continue;           /* a PEM block split by the compiler */
        }
        const n = Buffer.from(jwk.n, 'base64url');
        const e = Buffer.from(jwk.e, 'base64url');
        const h = crypto.createHash('sha1')
            .update(Buffer.concat([tlBytes(n), tlBytes(e)])).digest();
        const fp = h.subarray(12).readBigUInt64LE();
        out.push(fp.toString(16).padStart(16, '0'));
    }
    return [...new Set(out)];
}

function logLines(file) {
    try {
        return fs.readFileSync(file, 'latin1').split('\n').filter((l) => l);
    } catch (e) {
        return [];
    }
}

/*
 * A loopback TCP relay to 127.0.0.1:port that parses what comes back as
 * TLS records (5-byte header: type, version, length) and logs each one to
 * the file.  Resolves to the port it listens on.
 */
function tap(port, file) {
    const net = require('node:net');
    let conns = 0;
    const server = net.createServer((down) => {
        const id = ++conns;
        const up = net.connect(port, '127.0.0.1');
        let buf = Buffer.alloc(0);
        let broken = false;
        up.on('data', (d) => {
            down.write(d);
            buf = Buffer.concat([buf, d]);
            while (!broken && buf.length >= 5) {
                const type = buf[0], len = buf.readUInt16BE(3);
                if (type < 20 || type > 23 || buf[1] !== 3) {
                    fs.appendFileSync(file, `conn=${id} not-tls\n`);
                    broken = true;
                    break;
                }
                if (buf.length < 5 + len)
                    break;
                fs.appendFileSync(file,
                    `conn=${id} type=${type} len=${len}\n`);
                buf = buf.subarray(5 + len);
            }
            if (broken)
                buf = Buffer.alloc(0);
        });
        down.on('data', (d) => up.write(d));
        up.on('error', () => down.destroy());
        down.on('error', () => up.destroy());
        up.on('close', () => down.destroy());
        down.on('close', () => up.destroy());
    });
    server.unref();
    return new Promise((resolve, reject) => {
        server.on('error', reject);
        server.listen(0, '127.0.0.1', () => resolve(server.address().port));
    });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* promise, or a rejection after s seconds. */
function within(s, promise) {
    let t;
    const late = new Promise((_, reject) => {
        t = setTimeout(() => reject(new Error(`no answer in ${s} s`)),
            s * 1000);
    });
    return Promise.race([promise, late]).finally(() => clearTimeout(t));
}

async function probe(a, tdl) {
    const db = path.resolve(a.db);
    fs.mkdirSync(db, { recursive: true });
    tdl.execute({ _: 'setLogStream', log_stream: {
        _: 'logStreamFile', path: path.join(db, 'tdlib.log'),
        max_file_size: 64 << 20, redirect_stderr: false } });
    tdl.execute({ _: 'setLogVerbosityLevel', new_verbosity_level: 4 });

    const before = logLines(a.log).length;
    let port = a.port;
    if (a.records) {
        fs.writeFileSync(a.records, '');
        port = await tap(a.port, a.records);
    }
    const client = tdl.createBareClient();
    let failed = null;
    client.on('error', (e) => { failed = failed || String(e); });
    client.on('update', (u) => {
        if (u._ === 'updateConnectionState')
            process.stderr.write(`probe: ${u.state._}\n`);
    });
    /*
     * The proxy first: TDLib holds it until its parameters arrive and then
     * applies it before any request needs the network.
     */
    const added = client.invoke({
        _: 'addProxy', enable: true, proxy: {
            _: 'proxy', server: '127.0.0.1', port,
            type: { _: 'proxyTypeMtproto',
                secret: a.secret.toLowerCase() } } });
    const params = client.invoke({
        _: 'setTdlibParameters', use_test_dc: false,
        database_directory: db, files_directory: path.join(db, 'files'),
        database_encryption_key: '', use_file_database: false,
        use_chat_info_database: false, use_message_database: false,
        use_secret_chats: false, api_id: 1,
        api_hash: '0123456789abcdef0123456789abcdef',
        system_language_code: 'en', device_model: 'telemt-test',
        system_version: 'test', application_version: '1.0' });
    const [proxy] = await within(20, Promise.all([added, params]));
    process.stderr.write(`probe: proxy ${proxy.id} enabled\n`);

    const re = new RegExp(a.waitFor);
    const deadline = Date.now() + a.timeout * 1000;
    let found = null;
    while (Date.now() < deadline && !found && !failed) {
        found = logLines(a.log).slice(before).find((l) => re.test(l)) || null;
        if (!found)
            await sleep(100);
    }
    try {
        await Promise.race([client.close(), sleep(10000)]);
    } catch (e) {
        /* closing is best effort */
    }
    if (failed)
        process.stderr.write(`probe: TDLib error: ${failed}\n`);
    process.stdout.write(`probe: ${found || 'no matching line'}\n`);
    return found ? 0 : failed ? 2 : 1;
}

async function main() {
    const a = parseArgs(process.argv.slice(2));
    /*
     * The platform package of prebuilt-tdlib, named directly: npm leaves
     * prebuilt-tdlib's other platforms out of the lock file and npm ci
     * then refuses it.
     */
    const getTdjson = () => path.join(path.dirname(
        require.resolve('@prebuilt-tdlib/linux-x64-glibc/package.json')),
        'libtdjson.so');
    if (a.fingerprints) {
        for (const f of fingerprints(getTdjson()))
            process.stdout.write(`${f}\n`);
        return 0;
    }
    const tdl = require('tdl');
    tdl.configure({ tdjson: getTdjson(), verbosityLevel: 'default' });
    return probe(a, tdl);
}

main().then((rc) => process.exit(rc), (e) => {
    process.stderr.write(`probe: ${e && e.stack || e}\n`);
    process.exit(2);
});
