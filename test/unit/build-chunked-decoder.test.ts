import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ChunkedDecoder } from '../../src/build/chunked-decoder';
import { encodeChunked } from '../helpers/chunked-encode';

/** Decodes `wire` fed in the given pieces (each a fresh copy, as socket reads are). */
function decodeSplit(wire: Buffer, cuts: number[]): { body: Buffer; rest: Buffer; done: boolean } {
  const d = new ChunkedDecoder();
  const out: Buffer[] = [];
  let prev = 0;
  for (const cut of [...cuts, wire.length]) {
    if (d.done) break;
    const piece = Buffer.from(wire.subarray(prev, cut));
    out.push(Buffer.from(d.decode(piece)));
    prev = cut;
  }
  const rest = Buffer.concat([d.rest ?? Buffer.alloc(0), wire.subarray(prev)]);
  return { body: Buffer.concat(out), rest, done: d.done };
}

test('chunked decoder: any split of the wire gives the body, extensions and trailers skipped, the next request left over', () => {
  const body = randomBytes(300);
  const next = Buffer.from('GET /_ping HTTP/1.1\r\n\r\n');
  for (const [sizes, opts] of [
    [[1, 7, 64, 255], { ext: true, trailers: ['X-Sum: abc', 'Y: 1'] }],
    [[100], {}],
    [[300], { trailers: ['T: v'] }],
  ] as [number[], { ext?: boolean; trailers?: string[] }][]) {
    const wire = Buffer.concat([encodeChunked(body, sizes, opts), next]);
    for (let a = 0; a <= wire.length; a++) {
      const r = decodeSplit(wire, [a]);
      assert.ok(r.done, `split at ${a}`);
      assert.deepEqual(r.body, body, `split at ${a}`);
      assert.deepEqual(r.rest, next, `split at ${a}`);
    }
    // every byte its own read
    const r = decodeSplit(wire, Array.from({ length: wire.length - 1 }, (_, i) => i + 1));
    assert.deepEqual(r.body, body);
    assert.deepEqual(r.rest, next);
  }
  // upper-case hex, an empty body
  assert.deepEqual(decodeSplit(Buffer.from('A\r\n0123456789\r\n0\r\n\r\n'), []).body, Buffer.from('0123456789'));
  const empty = decodeSplit(Buffer.from('0\r\n\r\n'), [1, 3]);
  assert.ok(empty.done);
  assert.equal(empty.body.length, 0);
});

test('chunked decoder: a large body in socket-sized reads decodes in place', () => {
  const body = randomBytes(1 << 20);
  const wire = encodeChunked(body, [21_000, 32_768, 4_096]);
  const cuts: number[] = [];
  for (let c = 65_536; c < wire.length; c += 65_536) cuts.push(c);
  const d = new ChunkedDecoder();
  const out: Buffer[] = [];
  let prev = 0;
  for (const cut of [...cuts, wire.length]) {
    const piece = Buffer.from(wire.subarray(prev, cut));
    const data = d.decode(piece);
    assert.equal(data.buffer, piece.buffer);
    assert.equal(data.byteOffset, piece.byteOffset);
    out.push(Buffer.from(data));
    prev = cut;
  }
  assert.ok(d.done);
  assert.equal(d.rest?.length, 0);
  assert.deepEqual(Buffer.concat(out), body);
});

test('chunked decoder: malformed framing is refused', () => {
  const bad = [
    'zz\r\nab\r\n0\r\n\r\n', // not hex
    '\r\n', // no size
    '3\r\nabcX\r\n0\r\n\r\n', // no CRLF after the data
    '3\nabc\r\n0\r\n\r\n', // bare LF
    '-1\r\n', // sign
    '1000000000000\r\n', // too many digits
    '3;ext\nabc', // bare LF in an extension
    '0\r\nTrailer: x\nY', // bare LF in a trailer
    '0\r\n\rX', // no LF at the end
  ];
  for (const b of bad) {
    const d = new ChunkedDecoder();
    assert.throws(() => d.decode(Buffer.from(b)), (err: Error & { kind?: string }) => /malformed chunked request body/.test(err.message), JSON.stringify(b));
  }
});
