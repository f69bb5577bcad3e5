/**
 * The build context as berthd receives it: the push tar parser reads what the pull-side TarReader reads,
 * however the bytes are split; the in-memory context tree gives the same COPY checksums before and after the
 * context is unpacked (in memory or spilled to a temp file); `.dockerignore` is applied to both; hostile
 * entries are refused; a content change of the same size and time still changes the checksum.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { contentDigest, createContentHash } from '../../src/build/content-hash';
import { receiveContext, type BuildContext } from '../../src/build/context';
import { planCopy } from '../../src/build/copy';
import { TarPushParser } from '../../src/build/tar-push';
import { END_OF_ARCHIVE, encodeHeader, paddingOf, type TarHeader } from '../../src/image/tar-format';
import { TarReader } from '../../src/image/tar-reader';

type Entry = Partial<TarHeader> & { name: string; data?: string | Buffer };

function tarOf(entries: Entry[], end = true): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data ?? '');
    const type = e.type ?? 'file';
    parts.push(encodeHeader({
      name: e.name, type, mode: e.mode ?? (type === 'dir' ? 0o755 : 0o644), uid: 0, gid: 0,
      size: type === 'file' ? data.length : 0, mtime: e.mtime ?? 1700000000, linkname: e.linkname ?? '',
      devmajor: 0, devminor: 0, xattrs: new Map(),
    }));
    if (type === 'file') parts.push(data, Buffer.alloc(paddingOf(data.length)));
  }
  if (end) parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

function chunked(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

async function withContext(tar: Buffer, fn: (ctx: BuildContext) => Promise<void>, memoryLimit?: number): Promise<void> {
  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ctx-test-'));
  try {
    const ctx = await receiveContext(Readable.from(chunked(tar, 1000)), { tmpDir, memoryLimit });
    try {
      await fn(ctx);
    } finally {
      await ctx.remove();
    }
    assert.deepEqual(fs.readdirSync(tmpDir), [], 'remove() leaves nothing behind');
  } finally {
    fs.rmSync(tmpDir, { recursive: true, force: true });
  }
}

async function checksum(ctx: BuildContext, sources: string[]): Promise<string> {
  const plan = await planCopy({ cmd: 'COPY', sources, heredocs: [], source: ctx.tree, fromContext: true, scratch: ctx.scratch, knownDigests: ctx.digests });
  return plan.checksum;
}

const big = Buffer.alloc(600_000, 7);
const CONTEXT: Entry[] = [
  { name: 'Dockerfile', data: 'FROM scratch\nCOPY . /\n' },
  { name: '.dockerignore', data: '# comment\n*.log\nsecret/\n!secret/keep.txt\n' },
  { name: 'app/', type: 'dir', mode: 0o750 },
  { name: 'app/main.sh', data: 'echo hi\n', mode: 0o755 },
  { name: 'app/big.bin', data: big },
  { name: 'app/link', type: 'symlink', linkname: '../../../../etc/passwd' },
  { name: 'app/hard', type: 'link', linkname: 'app/main.sh' },
  { name: 'deep/er/file.txt', data: 'implicit parents\n' },
  { name: 'debug.log', data: 'ignored\n' },
  { name: 'secret/key.pem', data: 'ignored too\n' },
  { name: 'secret/keep.txt', data: 'kept by the exception\n' },
  { name: `${'n'.repeat(120)}/long-name.txt`, data: 'pax or gnu long name\n' },
];

test('the push parser sees what TarReader sees, however the archive is split', async () => {
  const tar = tarOf(CONTEXT);
  const expected: [string, string, string][] = [];
  const reader = new TarReader(Readable.from([tar]));
  for (let h = await reader.next(); h; h = await reader.next()) expected.push([h.type, h.name, sha(await reader.readBody())]);
  for (const size of [1, 7, 511, 512, 513, 4096, tar.length]) {
    const seen: [string, string, string][] = [];
    const parser = new TarPushParser((h) => {
      const parts: Buffer[] = [];
      return { data: (c) => parts.push(Buffer.from(c)), end: () => seen.push([h.type, h.name, sha(Buffer.concat(parts))]) };
    });
    for (const c of chunked(tar, size)) parser.write(c);
    parser.end();
    assert.deepEqual(seen, expected, `chunks of ${size}`);
  }
  const truncated = new TarPushParser(() => undefined);
  truncated.write(tar.subarray(0, 700));
  assert.throws(() => truncated.end(), /unexpected EOF/);
});

// 4096: the first chunks stay with the hash worker, the rest goes to the file; both are unpacked in order
for (const memoryLimit of [undefined, 0, 4096]) {
  const where = memoryLimit === undefined ? 'kept in memory' : memoryLimit === 0 ? 'spilled to a file' : 'partly in memory, partly spilled';
  test(`context tree: Dockerfile, .dockerignore, digests; same checksums once unpacked (${where})`, async () => {
    await withContext(tarOf(CONTEXT), async (ctx) => {
      assert.equal(ctx.dockerfile, 'FROM scratch\nCOPY . /\n');
      assert.equal(ctx.tree.onDisk, false);
      assert.deepEqual(await ctx.tree.readdir(''), ['.dockerignore', 'Dockerfile', 'app', 'deep', 'n'.repeat(120), 'secret']);
      assert.deepEqual(await ctx.tree.readdir('secret'), ['keep.txt']);
      assert.equal(ctx.digests.get(path.join(ctx.root, 'app/big.bin')), contentDigest(big));
      assert.equal(ctx.digests.get(path.join(ctx.root, 'app/hard')), contentDigest(Buffer.from('echo hi\n')));
      // a symlink resolves inside the context, never to the host's /etc/passwd
      assert.equal(await ctx.tree.resolve('app/link'), 'etc/passwd');
      const before = [await checksum(ctx, ['.']), await checksum(ctx, ['app']), await checksum(ctx, ['app/*.sh'])];

      await ctx.materialize();
      assert.equal(ctx.tree.onDisk, true);
      assert.equal(fs.readFileSync(path.join(ctx.root, 'app/big.bin')).equals(big), true);
      assert.equal(fs.statSync(path.join(ctx.root, 'app')).mode & 0o7777, 0o750);
      assert.equal(fs.existsSync(path.join(ctx.root, 'debug.log')), false);
      assert.equal(fs.existsSync(path.join(ctx.root, 'secret/key.pem')), false);
      assert.equal(fs.readFileSync(path.join(ctx.root, 'secret/keep.txt'), 'utf8'), 'kept by the exception\n');
      assert.equal(fs.readlinkSync(path.join(ctx.root, 'app/link')), '../../../../etc/passwd');
      assert.deepEqual([await checksum(ctx, ['.']), await checksum(ctx, ['app']), await checksum(ctx, ['app/*.sh'])], before);
    }, memoryLimit);
  });
}

test('a gzip-compressed context (docker build --compress) reads the same as a plain one', async () => {
  const tar = tarOf(CONTEXT);
  let plain = '';
  await withContext(tar, async (ctx) => { plain = await checksum(ctx, ['.']); });
  await withContext(gzipSync(tar), async (ctx) => {
    assert.equal(ctx.dockerfile, 'FROM scratch\nCOPY . /\n');
    assert.equal(await checksum(ctx, ['.']), plain);
  });
});

test('a change of content with the same size and time changes the checksum; metadata alone does not', async () => {
  const sums: string[] = [];
  for (const data of ['aaaa', 'aaab', 'aaaa']) {
    await withContext(tarOf([{ name: 'Dockerfile', data: 'FROM scratch\n' }, { name: 'f.txt', data }]), async (ctx) => {
      sums.push(await checksum(ctx, ['f.txt']));
    });
  }
  assert.notEqual(sums[0], sums[1]);
  assert.equal(sums[0], sums[2]);
});

test('hostile and broken contexts are refused', async () => {
  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ctx-test-'));
  try {
    const receive = (tar: Buffer) => receiveContext(Readable.from([tar]), { tmpDir });
    await assert.rejects(receive(tarOf([{ name: 'Dockerfile', data: 'FROM scratch\n' }, { name: '../escape.txt', data: 'x' }])), /path escapes the archive root/);
    await assert.rejects(receive(tarOf([{ name: 'Dockerfile', data: 'FROM scratch\n' }, { name: 'a', data: 'x' }, { name: 'a/b', data: 'y' }])), /parent a is not a directory/);
    await assert.rejects(receive(tarOf([{ name: 'Dockerfile', data: 'FROM scratch\n' }, { name: 'h', type: 'link', linkname: '/etc/passwd' }])), /hard link target/);
    await assert.rejects(receive(tarOf([{ name: 'other', data: 'x' }])), /Cannot locate specified Dockerfile: Dockerfile/);
    // the docker CLI's rewritten `-f -` context: no padding after the last entry, no end blocks
    const cut = tarOf([{ name: 'Dockerfile', data: 'FROM scratch\n' }], false);
    const ctx = await receive(cut.subarray(0, 512 + 13));
    assert.equal(ctx.dockerfile, 'FROM scratch\n');
    await ctx.remove();
    assert.deepEqual(fs.readdirSync(tmpDir), []);
  } finally {
    fs.rmSync(tmpDir, { recursive: true, force: true });
  }
});

test('content digests are BLAKE3 (published test vectors), the same whole or in pieces', () => {
  assert.equal(contentDigest(Buffer.alloc(0)), 'b3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262');
  assert.equal(contentDigest(Buffer.from('abc')), 'b3:6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85');
  const data = Buffer.alloc(3 << 20, 7);
  const pieces = createContentHash();
  for (let off = 0; off < data.length; off += 65_537) pieces.update(data.subarray(off, off + 65_537));
  assert.equal(pieces.digest(), contentDigest(data));
  assert.notEqual(contentDigest(Buffer.from('abd')), contentDigest(Buffer.from('abc')));
});
