/**
 * native/berth-logger on its own: a shell stands in for conmon (the logger execs it with the container's
 * pipes as its stdio), so the log format, the attach protocol, stdin, the handover of a client connection
 * and rotation are checked without a daemon. Skipped when the logger is not built.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { findLogger, loggerArgs, waitForLogger } from '../../src/runtime/logger';
import { LoggerAttachConnection } from '../../src/runtime/logger-attach';
import { LogFileReader, parseLogBuffer } from '../../src/runtime/k8s-log';

const loggerPath = findLogger();
const skip = !loggerPath ? 'native/bin/berth-logger not built' : false;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('berth-logger', { skip, timeout: 60_000 }, () => {
  let dir: string;
  let n = 0;
  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-logger-')); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Start the logger around `sh -c script`, the attach socket listening before the script runs (it waits for `go`). */
  async function start(script: string, o: { stdin?: boolean; once?: boolean; maxSize?: number; maxFiles?: number } = {}) {
    const d = path.join(dir, String(++n));
    fs.mkdirSync(d);
    const files = { logPath: path.join(d, 'ctr.log'), socketPath: path.join(d, 's', 'logger'), pidFile: path.join(d, 'logger.pid') };
    const args = loggerArgs({ loggerPath: loggerPath!, ...files, openStdin: !!o.stdin, stdinOnce: !!o.once, maxSize: o.maxSize ?? 0, maxFiles: o.maxFiles ?? 1, logOffset: 0 });
    const go = path.join(d, 'go');
    const child = spawn(loggerPath!, [...args, '--', '/bin/sh', '-c', `while [ ! -e ${go} ]; do sleep 0.01; done; ${script}`], { stdio: 'ignore' });
    const end = Date.now() + 5000;
    while (!fs.existsSync(files.socketPath) && Date.now() < end) await sleep(5);
    return { ...files, child, go: () => fs.writeFileSync(go, ''), done: () => waitForLogger(files.pidFile, 10_000) };
  }

  function collect(conn: LoggerAttachConnection): Promise<{ stdout: string; stderr: string }> {
    const out = { stdout: '', stderr: '' };
    conn.on('output', (s: 'stdout' | 'stderr', b: Buffer) => { out[s] += b.toString('latin1'); });
    return new Promise((resolve) => conn.on('end', () => resolve(out)));
  }

  test('log records and attached output per stream, a partial last line, exit after EOF', async () => {
    const l = await start('i=0; while [ $i -lt 3000 ]; do echo "o$i"; [ $((i % 10)) = 0 ] && echo "e$i" >&2; i=$((i+1)); done; printf tail');
    const conn = await LoggerAttachConnection.connect(l.socketPath);
    const got = collect(conn);
    l.go();
    const { stdout, stderr } = await got;
    await l.done();
    const wantOut = Array.from({ length: 3000 }, (_, i) => `o${i}\n`).join('') + 'tail';
    const wantErr = Array.from({ length: 300 }, (_, i) => `e${i * 10}\n`).join('');
    assert.equal(stdout, wantOut);
    assert.equal(stderr, wantErr);
    const recs = parseLogBuffer(fs.readFileSync(l.logPath));
    assert.equal(recs.filter((r) => r.stream === 'stdout').map((r) => r.data.toString()).join(''), wantOut);
    assert.equal(recs.filter((r) => r.stream === 'stderr').map((r) => r.data.toString()).join(''), wantErr);
    // (the streams' records may interleave in any order; within a stream they keep theirs)
    assert.match(fs.readFileSync(l.logPath, 'utf8').trimEnd().split('\n').filter((x) => x.includes(' stdout ')).pop()!, / stdout P tail$/);
    assert.ok(!fs.existsSync(l.socketPath), 'the socket is removed at exit');
  });

  test('stdin frames reach the container; with -o the client half-close ends its stdin', async () => {
    const l = await start('cat; echo after-eof >&2', { stdin: true, once: true });
    const conn = await LoggerAttachConnection.connect(l.socketPath);
    const got = collect(conn);
    l.go();
    const big = Buffer.alloc(2 * 1024 * 1024 + 3, 'stdin-data\n');
    conn.writeStdin(Buffer.from('hello\n'));
    conn.writeStdin(big);
    conn.closeStdin();
    const { stdout, stderr } = await got;
    await l.done();
    assert.equal(stdout.length, 6 + big.length);
    assert.ok(stdout === 'hello\n' + big.toString('latin1'));
    assert.equal(stderr, 'after-eof\n');
  });

  test('handover: the output goes straight to the client connection, in docker frames', async () => {
    const l = await start('echo out1; echo err1 >&2; head -c 300000 /dev/zero | tr "\\0" a');
    const sockPath = path.join(dir, `client-${n}.sock`);
    const served = new Promise<net.Socket>((resolve) => {
      const srv = net.createServer((s) => { srv.close(); resolve(s); }).listen(sockPath);
    });
    const client = net.connect(sockPath);
    const frames: Buffer[] = [];
    client.on('data', (b: Buffer) => frames.push(b));
    const clientDone = new Promise<void>((resolve) => client.on('end', () => resolve()));
    const server = await served;
    const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
    const conn = await LoggerAttachConnection.connect(l.socketPath);
    const viaBerthd = collect(conn);
    assert.equal(await conn.handover(fd, true, true), true);
    l.go();
    const rest = await viaBerthd;
    assert.deepEqual(rest, { stdout: '', stderr: '' }, 'nothing comes through the attach connection');
    server.end(); // what berthd does when the attach connection ends
    await clientDone;
    await l.done();
    // demultiplex: [stream, 0, 0, 0, len BE]
    const all = Buffer.concat(frames);
    const out = { 1: '', 2: '' } as Record<number, string>;
    for (let off = 0; off < all.length;) {
      const len = all.readUInt32BE(off + 4);
      assert.ok(len <= 32 * 1024, `frame of ${len} bytes`);
      out[all[off]] += all.subarray(off + 8, off + 8 + len).toString('latin1');
      off += 8 + len;
    }
    assert.equal(out[1], 'out1\n' + 'a'.repeat(300000));
    assert.equal(out[2], 'err1\n');
  });

  test('rotation: max-size and max-file keep the newest records', async () => {
    const l = await start('i=0; while [ $i -lt 5000 ]; do echo "line $i"; i=$((i+1)); done', { maxSize: 20_000, maxFiles: 3 });
    l.go();
    await sleep(50);
    await l.done();
    const sizes = ['', '.1', '.2'].map((s) => fs.statSync(l.logPath + s).size);
    for (const s of sizes) assert.ok(s > 0 && s <= 20_000, `sizes ${sizes}`);
    assert.ok(!fs.existsSync(l.logPath + '.3'));
    const reader = new LogFileReader(l.logPath);
    const recs = await reader.next();
    await reader.close();
    assert.equal(recs[recs.length - 1].data.toString(), 'line 4999\n');
  });
});
