import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LogFileReader, parseLogBuffer, payloadChunks } from '../../src/runtime/k8s-log';
import { readLogChunks } from '../../src/engine/containers-logs';

const T1 = '2026-11-29T03:30:01.123456789Z';
const T2 = '2026-11-29T03:30:02.5Z';
const LOG = [
  `${T1} stdout F hello world`,
  `${T1} stdout P part one `,
  `${T1} stdout F and two`,
  `${T2} stderr F oops`,
  `${T2} stdout F`,
  `${T2} stdout F last`,
  'garbage line',
  '',
].join('\n');

test('parseLogBuffer gives records with the bytes the container wrote', () => {
  const recs = parseLogBuffer(Buffer.from(LOG));
  assert.deepEqual(recs.map((r) => [r.stream, r.data.toString()]), [
    ['stdout', 'hello world\n'], ['stdout', 'part one '], ['stdout', 'and two\n'], ['stderr', 'oops\n'], ['stdout', '\n'], ['stdout', 'last\n'],
  ]);
  assert.equal(recs[0].time, T1);
  assert.equal(recs[0].timeNs, BigInt(Date.parse('2026-11-29T03:30:01Z')) * 1_000_000n + 123456789n);
  assert.equal(recs[3].timeNs, BigInt(Date.parse('2026-11-29T03:30:02Z')) * 1_000_000n + 500000000n);
});

test('parseLogBuffer adds the newline back to a final F line without one', () => {
  const recs = parseLogBuffer(Buffer.from(`${T1} stdout F tail`));
  assert.equal(recs[0].data.toString(), 'tail\n');
});

test('payloadChunks merges runs of one stream and filters streams', () => {
  const all = payloadChunks(Buffer.from(LOG), { stdout: true, stderr: true });
  assert.deepEqual(all.map((c) => [c.stream, c.data.toString()]), [
    ['stdout', 'hello world\npart one and two\n'], ['stderr', 'oops\n'], ['stdout', '\nlast\n'],
  ]);
  const out = payloadChunks(Buffer.from(LOG), { stdout: true, stderr: false });
  assert.deepEqual(out.map((c) => c.data.toString()), ['hello world\npart one and two\n\nlast\n']);
  assert.deepEqual(payloadChunks(Buffer.from(LOG), { stdout: false, stderr: true }).map((c) => c.data.toString()), ['oops\n']);
});

test('LogFileReader returns only complete lines and keeps the rest for the next call', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-k8slog-'));
  try {
    const file = path.join(dir, 'ctr.log');
    fs.writeFileSync(file, `${T1} stdout F one\n${T1} stdout F tw`);
    const r = new LogFileReader(file);
    assert.deepEqual((await r.next()).map((x) => x.data.toString()), ['one\n']);
    assert.deepEqual(await r.next(), []);
    fs.appendFileSync(file, `o\n${T2} stderr F three\n`);
    assert.deepEqual((await r.next()).map((x) => x.data.toString()), ['two\n', 'three\n']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('readLogChunks streams big logs byte-exact, and honours tail and timestamps', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-k8slog-'));
  try {
    const file = path.join(dir, 'ctr.log');
    const lines: string[] = [];
    let expected = '';
    for (let i = 0; i < 200_000; i++) {
      lines.push(`${T1} stdout F line ${i} ünïcode`);
      expected += `line ${i} ünïcode\n`;
    }
    fs.writeFileSync(file, lines.join('\n') + '\n');
    const base = { follow: false, stdout: true, stderr: true, sinceNs: 0n, untilNs: 0n };
    const parts: Buffer[] = [];
    for await (const c of readLogChunks(file, base, () => false)) parts.push(c.data);
    assert.ok(parts.length < 20, `few large chunks, got ${parts.length}`);
    assert.equal(Buffer.concat(parts).toString(), expected);
    const tail: string[] = [];
    for await (const c of readLogChunks(file, { ...base, tail: 2, timestamps: true }, () => false)) tail.push(c.data.toString());
    assert.deepEqual(tail, ['2026-11-29T03:30:01.123456789Z line 199998 ünïcode\n', '2026-11-29T03:30:01.123456789Z line 199999 ünïcode\n']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
