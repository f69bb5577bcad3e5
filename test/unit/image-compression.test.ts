import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { execFileSync } from 'node:child_process';
import * as zlib from 'node:zlib';
import {
  compressionFromMediaType, createCompressor, createDecompressor, detectCompression, type Compression,
} from '../../src/image/compression';

async function through(input: Buffer, stage: NodeJS.ReadWriteStream): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from([input.subarray(0, 1000), input.subarray(1000)]), stage, async function* (src) {
    for await (const c of src) out.push(c as Buffer);
  });
  return Buffer.concat(out);
}

test('detectCompression by magic bytes', () => {
  assert.equal(detectCompression(zlib.gzipSync(Buffer.from('x'))), 'gzip');
  assert.equal(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0])), 'zstd');
  assert.equal(detectCompression(Buffer.from('ustar')), 'none');
  assert.equal(detectCompression(Buffer.alloc(0)), 'none');
  assert.equal(detectCompression(Buffer.from([0x1f])), 'none');
});

test('compressionFromMediaType covers OCI and Docker layer types', () => {
  const cases: [string, Compression][] = [
    ['application/vnd.oci.image.layer.v1.tar+gzip', 'gzip'],
    ['application/vnd.oci.image.layer.v1.tar+zstd', 'zstd'],
    ['application/vnd.oci.image.layer.v1.tar', 'none'],
    ['application/vnd.docker.image.rootfs.diff.tar.gzip', 'gzip'],
    ['application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', 'gzip'],
    ['application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', 'gzip'],
  ];
  for (const [mt, c] of cases) assert.equal(compressionFromMediaType(mt), c, mt);
  assert.throws(() => compressionFromMediaType('application/json'), /unsupported layer media type/);
});

for (const c of ['gzip', 'zstd', 'none'] as Compression[]) {
  test(`${c} round trip`, async () => {
    const data = Buffer.concat([randomBytes(300_000), Buffer.alloc(500_000, 7)]);
    const packed = await through(data, createCompressor(c));
    if (c !== 'none') assert.equal(detectCompression(packed), c);
    const unpacked = await through(packed, createDecompressor(c));
    assert.ok(unpacked.equals(data));
  });
}

test('zstd decompressor reads what the zstd command wrote, and fails on a corrupt stream', async () => {
  const data = randomBytes(100_000);
  const packed = execFileSync('zstd', ['-c', '-q'], { input: data });
  assert.ok((await through(packed, createDecompressor('zstd'))).equals(data));
  const broken = Buffer.concat([packed.subarray(0, 20), Buffer.alloc(200, 0xff)]);
  await assert.rejects(through(broken, createDecompressor('zstd')), /zstd failed/);
});

test('gzip decompressor reads multi-member streams (pigz) and rejects garbage', async () => {
  const data = randomBytes(50_000);
  const packed = Buffer.concat([zlib.gzipSync(data.subarray(0, 20_000)), zlib.gzipSync(data.subarray(20_000))]);
  assert.ok((await through(packed, createDecompressor('gzip'))).equals(data));
  await assert.rejects(through(Buffer.from([0x1f, 0x8b, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), createDecompressor('gzip')));
});
