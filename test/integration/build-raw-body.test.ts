import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { encodeChunked } from '../helpers/chunked-encode';
import { startBuildFixture, type BuildFixture } from './build-fixture';

let fx: BuildFixture;
before(async () => { fx = await startBuildFixture(); });
after(async () => { await fx?.close(); });

async function tarOf(dir: string): Promise<Buffer> {
  const r = await promisify(execFile)('tar', ['-C', dir, '-cf', '-', ...(await fs.readdir(dir))], { encoding: 'buffer', maxBuffer: 64 << 20 });
  return r.stdout;
}

/**
 * Opens one connection, writes `writes` in order (each after the server read the previous: a pause between),
 * waiting after a write for `waitFor` in the response when given; resolves with everything the server sent
 * once it closes the connection.
 */
function exchange(writes: (Buffer | { waitFor: string })[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(fx.socket);
    let got = '';
    let waiting: { text: string; go(): void } | undefined;
    sock.on('data', (d) => {
      got += d.toString('latin1');
      if (waiting && got.includes(waiting.text)) { const w = waiting; waiting = undefined; w.go(); }
    });
    sock.on('error', reject);
    sock.on('close', () => resolve(got));
    const next = async () => {
      for (const w of writes) {
        if (Buffer.isBuffer(w)) {
          sock.write(w);
          await new Promise((r) => setTimeout(r, 5));
        } else if (!got.includes(w.waitFor)) {
          await new Promise<void>((go) => { waiting = { text: w.waitFor, go }; });
        }
      }
    };
    sock.on('connect', () => { next().catch(reject); });
  });
}

/** Splits `buf` at the given offsets. */
function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...cuts, buf.length]) { out.push(buf.subarray(prev, c)); prev = c; }
  return out;
}

async function buildTmpEntries(): Promise<string[]> {
  return (await fs.readdir(path.join(fx.dataRoot, 'tmp'))).filter((n) => n.startsWith('build-'));
}

test('a chunked context read from the socket: after a keep-alive request, body in the header read, odd splits, extensions, trailers', async () => {
  const ctxDir = await fx.context({ Dockerfile: 'FROM scratch\nCOPY a.txt big.bin /\n', 'a.txt': 'A\n', 'big.bin': 'x'.repeat(200_000) });
  const tar = await tarOf(ctxDir);
  const wire = encodeChunked(tar, [21_000, 1, 777, 65_536], { ext: true, trailers: ['X-Check: 1'] });
  const head = Buffer.from('POST /v1.47/build?t=raw:1 HTTP/1.1\r\nHost: berth\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n');
  // the headers and the start of the body in one write: the HTTP parser has read past the headers
  const [first, ...rest] = splitAt(wire, [1000, 1003, 30_001, 120_000, wire.length - 3]);
  const out = await exchange([
    Buffer.from('GET /_ping HTTP/1.1\r\nHost: berth\r\n\r\n'), { waitFor: 'OK' },
    Buffer.concat([head, first]), ...rest,
  ]);
  const responses = out.split('HTTP/1.1 ');
  assert.equal(responses.length, 3, out);
  assert.match(responses[1], /^200 /);
  assert.match(responses[2], /^200 /);
  assert.match(responses[2], /\r\nConnection: close\r\n/i);
  assert.match(responses[2], /\r\nApi-Version: /i);
  assert.match(responses[2], /Successfully built [0-9a-f]{12}/);
  assert.match(responses[2], /Successfully tagged raw:1/);
  // the chunked response ends properly
  assert.ok(responses[2].endsWith('0\r\n\r\n'), JSON.stringify(responses[2].slice(-40)));
  const img = await fx.request('GET', '/images/raw:1/json');
  assert.equal(img.status, 200);
  assert.deepEqual(await buildTmpEntries(), []);

  // the same context again: cached, and the bytes were the same
  const again = await exchange([Buffer.concat([head, wire])]);
  assert.match(again, /Using cache/);
  assert.match(again, /Successfully built [0-9a-f]{12}/);
});

test('a client that goes away while the build still writes ends that build, not the daemon', async () => {
  // three slow COPY steps: the daemon is still writing progress after the client closed
  const ctxDir = await fx.context({
    Dockerfile: 'FROM scratch\nCOPY a.bin /a\nCOPY a.bin /b\nCOPY a.bin /c\nLABEL done=1\n',
    'a.bin': 'z'.repeat(8 << 20),
  });
  const tar = await tarOf(ctxDir);
  const head = Buffer.from(`POST /v1.47/build?t=gone:1 HTTP/1.1\r\nHost: berth\r\nContent-Length: ${tar.length}\r\n\r\n`);
  await new Promise<void>((resolve, reject) => {
    const sock = net.connect(fx.socket, () => sock.end(Buffer.concat([head, tar])));
    sock.on('data', (d) => { if (d.toString('latin1').includes('Step 2/')) { sock.destroy(); resolve(); } });
    sock.on('error', reject);
  });
  await new Promise((r) => setTimeout(r, 1500));
  // still serving (an uncaught EPIPE used to end the process): a whole build
  const again = await fx.build(await fx.context({ Dockerfile: 'FROM scratch\nLABEL after=1\n' }), { t: 'after:1' });
  assert.equal(again.error, undefined, again.text);
  assert.match(again.text, /Successfully tagged after:1/);
});

test('a Content-Length context read from the socket', async () => {
  const ctxDir = await fx.context({ Dockerfile: 'FROM scratch\nCOPY a.txt /\n', 'a.txt': 'len\n' });
  const tar = await tarOf(ctxDir);
  const head = Buffer.from(`POST /build?t=raw:len HTTP/1.1\r\nHost: berth\r\nContent-Length: ${tar.length}\r\n\r\n`);
  const out = await exchange([Buffer.concat([head, tar.subarray(0, 700)]), tar.subarray(700)]);
  assert.match(out, /^HTTP\/1.1 200 /);
  assert.match(out, /Successfully tagged raw:len/);
});

test('malformed chunked bodies are a 400 and leave nothing behind', async () => {
  const head = Buffer.from('POST /v1.47/build HTTP/1.1\r\nHost: berth\r\nTransfer-Encoding: chunked\r\n\r\n');
  const bad = await exchange([Buffer.concat([head, Buffer.from('zz\r\nabc')])]);
  assert.match(bad, /^HTTP\/1.1 400 /);
  assert.match(bad, /malformed chunked request body: invalid chunk size/);
  // malformed in the middle of the tar, in a later read
  const ctxDir = await fx.context({ Dockerfile: 'FROM scratch\n', 'a.txt': 'x'.repeat(5000) });
  const tar = await tarOf(ctxDir);
  const good = encodeChunked(tar.subarray(0, 1536), [512]);
  const mid = await exchange([head, good.subarray(0, good.length - 5), Buffer.from('7;x\r\nabcdefgQQ\r\n')]);
  assert.match(mid, /^HTTP\/1.1 400 /);
  assert.match(mid, /missing CRLF after chunk data/);
  // cut off: the client goes away in the middle
  await new Promise<void>((resolve) => {
    const s = net.connect(fx.socket, () => s.end(Buffer.concat([head, good.subarray(0, 600)])));
    s.resume();
    s.on('close', () => resolve());
  });
  for (let i = 0; i < 50 && (await buildTmpEntries()).length; i++) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(await buildTmpEntries(), []);
  // the server still works
  assert.equal((await fx.request('GET', '/images/raw:1/json')).status, 200);
});
