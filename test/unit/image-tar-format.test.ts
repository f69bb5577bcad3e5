import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import * as tarStream from 'tar-stream';
import { END_OF_ARCHIVE, encodeHeader, paddingOf, type TarHeader } from '../../src/image/tar-format';
import { TarReader } from '../../src/image/tar-reader';
import { cleanEntryName } from '../../src/image/tar-apply';

function hdr(over: Partial<TarHeader>): TarHeader {
  return { name: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1_700_000_000, linkname: '', devmajor: 0, devminor: 0, xattrs: new Map(), ...over };
}

async function readAll(tar: Buffer, chunk = 700): Promise<{ h: TarHeader; body: Buffer }[]> {
  const parts: Buffer[] = [];
  for (let i = 0; i < tar.length; i += chunk) parts.push(tar.subarray(i, i + chunk));
  const r = new TarReader(Readable.from(parts));
  const out: { h: TarHeader; body: Buffer }[] = [];
  for (let h = await r.next(); h; h = await r.next()) {
    const bufs: Buffer[] = [];
    for await (const b of r.body()) bufs.push(Buffer.from(b));
    out.push({ h, body: Buffer.concat(bufs) });
  }
  return out;
}

test('writer → reader round trip: long names, binary xattrs, big ids, links', async () => {
  const cap = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0xff, 0xfe, 0x80]);
  const long = 'd/' + 'x'.repeat(150) + '/' + 'y'.repeat(120);
  const entries: [TarHeader, Buffer][] = [
    [hdr({ name: 'd/', type: 'dir', mode: 0o755 }), Buffer.alloc(0)],
    [hdr({ name: 'd/ping', size: 5, mode: 0o4755, xattrs: new Map([['security.capability', cap]]) }), Buffer.from('hello')],
    [hdr({ name: long, size: 600, uid: 3_000_000, gid: 70_000 }), Buffer.alloc(600, 1)],
    [hdr({ name: 'd/héllo wörld', type: 'symlink', linkname: '/' + 'l'.repeat(200) }), Buffer.alloc(0)],
    [hdr({ name: 'd/hard', type: 'link', linkname: 'd/ping' }), Buffer.alloc(0)],
    [hdr({ name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 }), Buffer.alloc(0)],
  ];
  const tar = Buffer.concat([
    ...entries.flatMap(([h, b]) => [encodeHeader(h), b, Buffer.alloc(paddingOf(b.length))]),
    END_OF_ARCHIVE, Buffer.alloc(9000),
  ]);
  const got = await readAll(tar);
  assert.equal(got.length, entries.length);
  got.forEach(({ h, body }, i) => {
    const [want, wantBody] = entries[i];
    assert.equal(h.name, want.name);
    assert.equal(h.type, want.type);
    assert.equal(h.mode, want.mode);
    assert.equal(h.uid, want.uid);
    assert.equal(h.gid, want.gid);
    assert.equal(h.linkname, want.linkname);
    assert.equal(h.devmajor, want.devmajor);
    assert.equal(h.devminor, want.devminor);
    assert.ok(body.equals(wantBody));
    assert.deepEqual([...h.xattrs], [...want.xattrs]);
  });
});

test('reader agrees with tar-stream pack output and counts every byte', async () => {
  const pack = tarStream.pack();
  pack.entry({ name: 'a.txt', mode: 0o600, uid: 5, gid: 6, mtime: new Date(1_600_000_000_000) }, 'abc');
  pack.entry({ name: 'sub', type: 'directory' });
  pack.entry({ name: 'sub/' + 'n'.repeat(300), size: 3 }, 'xyz');
  pack.finalize();
  const bufs: Buffer[] = [];
  for await (const c of pack) bufs.push(c as Buffer);
  const tar = Buffer.concat(bufs);
  let counted = 0;
  const r = new TarReader(Readable.from([tar]), (c) => { counted += c.length; });
  const names: string[] = [];
  for (let h = await r.next(); h; h = await r.next()) {
    names.push(h.name);
    if (h.name === 'a.txt') {
      assert.equal((await r.readBody()).toString(), 'abc');
      assert.equal(h.uid, 5);
      assert.equal(h.mtime, 1_600_000_000);
    }
  }
  assert.deepEqual(names, ['a.txt', 'sub', 'sub/' + 'n'.repeat(300)]);
  assert.equal(counted, tar.length);
});

test('truncated and corrupt archives are refused', async () => {
  const tar = Buffer.concat([encodeHeader(hdr({ name: 'f', size: 2000 })), Buffer.alloc(100)]);
  await assert.rejects(readAll(tar), /unexpected EOF/);
  const bad = encodeHeader(hdr({ name: 'f' }));
  bad[0] ^= 0xff;
  await assert.rejects(readAll(Buffer.concat([bad, END_OF_ARCHIVE])), /invalid tar header/);
});

test('entry names are normalised inside the root; escapes are refused', () => {
  assert.equal(cleanEntryName('./a/b/'), 'a/b');
  assert.equal(cleanEntryName('a/../b'), 'b');
  assert.equal(cleanEntryName('./'), '');
  for (const bad of ['../evil', '/etc/passwd', 'a/../../b', '..']) assert.throws(() => cleanEntryName(bad), /invalid layer entry/, bad);
});
