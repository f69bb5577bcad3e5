/**
 * The overlay layer store on a real filesystem (root: ownership, devices, trusted xattrs, overlay mounts).
 * Tars are built with tar-stream's packer, independent of berth's own tar writer.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { lstatSync, existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as tarStream from 'tar-stream';
import { openDb, type Db } from '../../src/store/db';
import { initDataDirs } from '../../src/image/content-store';
import { OverlayLayerStore } from '../../src/image/layer-store';
import { computeChainIds } from '../../src/image/chain-id';
import type { LayerDraft } from '../../src/image/types';
import { isKind } from '../../src/errors';

type Entry = [Partial<tarStream.Header> & { name: string }, (string | Buffer)?];

let dataRoot: string;
let db: Db;
let store: OverlayLayerStore;
const outside: string[] = [];

before(async () => {
  dataRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-layers-'));
  await initDataDirs(dataRoot);
  db = openDb(path.join(dataRoot, 'berth.db'));
  store = new OverlayLayerStore(dataRoot, db);
});

after(async () => {
  db.close();
  await fs.rm(dataRoot, { recursive: true, force: true });
  for (const p of outside) await fs.rm(p, { recursive: true, force: true });
});

async function packTar(entries: Entry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  for (const [h, body] of entries) pack.entry({ mtime: new Date(1_600_000_000_000), uid: 0, gid: 0, ...h }, body ?? '');
  pack.finalize();
  const bufs: Buffer[] = [];
  for await (const c of pack) bufs.push(c as Buffer);
  return Buffer.concat(bufs);
}

/** Feed in odd-sized pieces so entries straddle chunk boundaries. */
function streamOf(tar: Buffer): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < tar.length; i += 3001) parts.push(tar.subarray(i, i + 3001));
  return Readable.from(parts);
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function addLayer(entries: Entry[], parent: string | null): Promise<{ chainId: string; draft: LayerDraft }> {
  const tar = await packTar(entries);
  const draft = await store.begin();
  const res = await store.apply(draft, streamOf(tar));
  assert.equal(res.diffId, sha(tar));
  const chainId = parent ? computeChainIds([parent, res.diffId])[1] : res.diffId;
  store.commit(draft, { chainId, diffId: res.diffId, parent, size: res.size, blobDigest: null, blobMediaType: null, blobSize: null });
  return { chainId, draft };
}

const FULL: Entry[] = [
  [{ name: 'etc', type: 'directory', mode: 0o750, uid: 7, gid: 8, mtime: new Date(1_500_000_000_000) }],
  [{ name: 'etc/hello', mode: 0o640, uid: 1000, gid: 1001, mtime: new Date(1_400_000_000_000) }, 'hello world\n'],
  [{ name: 'bin/su', mode: 0o4755 }, 'suid'],
  [{ name: 'bin/sh', type: 'symlink', linkname: 'busybox', uid: 3, gid: 4 }],
  [{ name: 'bin/ln2', type: 'link', linkname: 'etc/hello' }],
  [{ name: '.wh.gone' }],
  [{ name: 'opq', type: 'directory', mode: 0o755 }],
  [{ name: 'opq/.wh..wh..opq' }],
  [{ name: 'opq/keep', mode: 0o644 }, 'k'],
  [{ name: 'run/fifo', type: 'fifo', mode: 0o600 }],
  [{ name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 }],
  [{ name: 'big', mode: 0o600, pax: { 'SCHILY.xattr.user.note': 'kept' } }, Buffer.alloc(3 * 1024 * 1024 + 17, 'z')],
  [{ name: 'replaced', mode: 0o644 }, 'first'],
  [{ name: 'replaced', type: 'symlink', linkname: 'etc' }],
  [{ name: 'redir', type: 'directory', mode: 0o755, pax: { 'SCHILY.xattr.trusted.overlay.redirect': '/etc' } }],
];

test('apply: files, dirs, links, devices, whiteouts, opaque dirs, owners, modes, mtimes, xattrs', async () => {
  const tar = await packTar(FULL);
  const draft = await store.begin();
  try {
    const res = await store.apply(draft, streamOf(tar));
    assert.equal(res.diffId, sha(tar));
    // file bytes, plus symlink targets as dockerd counts them ('busybox', 'etc')
    assert.equal(res.size, 12 + 4 + 1 + 3 * 1024 * 1024 + 17 + 5 + 'busybox'.length + 'etc'.length);
    const d = draft.diffDir;
    const st = (p: string) => lstatSync(path.join(d, p));
    assert.equal(st('etc').mode & 0o7777, 0o750);
    assert.deepEqual([st('etc').uid, st('etc').gid], [7, 8]);
    assert.equal(st('etc').mtimeMs, 1_500_000_000_000, 'dir mtime set after its content');
    assert.equal(await fs.readFile(path.join(d, 'etc/hello'), 'utf8'), 'hello world\n');
    assert.deepEqual([st('etc/hello').uid, st('etc/hello').gid, st('etc/hello').mode & 0o7777], [1000, 1001, 0o640]);
    assert.equal(st('etc/hello').mtimeMs, 1_400_000_000_000);
    assert.equal(st('bin/su').mode & 0o7777, 0o4755);
    assert.equal(await fs.readlink(path.join(d, 'bin/sh')), 'busybox');
    assert.deepEqual([st('bin/sh').uid, st('bin/sh').gid], [3, 4]);
    assert.equal(st('bin/ln2').ino, st('etc/hello').ino);
    assert.ok(st('gone').isCharacterDevice());
    assert.equal(st('gone').rdev, 0);
    assert.equal(existsSync(path.join(d, '.wh.gone')), false);
    assert.equal(execFileSync('getfattr', ['--only-values', '-n', 'trusted.overlay.opaque', path.join(d, 'opq')]).toString(), 'y');
    assert.equal(existsSync(path.join(d, 'opq/.wh..wh..opq')), false);
    assert.ok(st('run/fifo').isFIFO());
    assert.ok(st('dev/null').isCharacterDevice());
    assert.equal(st('dev/null').rdev, (1 << 8) | 3);
    assert.equal(st('big').size, 3 * 1024 * 1024 + 17);
    assert.equal(execFileSync('getfattr', ['--only-values', '-n', 'user.note', path.join(d, 'big')]).toString(), 'kept');
    assert.equal(await fs.readlink(path.join(d, 'replaced')), 'etc');
    assert.equal(execFileSync('getfattr', ['-d', '-m', '-', path.join(d, 'redir')]).toString(), '', 'overlay xattrs from headers are dropped');
  } finally {
    await store.abort(draft);
  }
  assert.equal(existsSync(draft.diffDir), false);
});

test('hostile layers are refused and write nothing outside the root', async () => {
  const victim = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-victim-'));
  outside.push(victim);
  const cases: [string, Entry[]][] = [
    ['dot-dot', [[{ name: '../evil' }, 'x']]],
    ['deep dot-dot', [[{ name: 'a/../../evil' }, 'x']]],
    ['absolute', [[{ name: path.join(victim, 'abs') }, 'x']]],
    ['symlink parent', [[{ name: 'a', type: 'symlink', linkname: victim }], [{ name: 'a/file' }, 'x']]],
    ['relative symlink parent', [[{ name: 'up', type: 'symlink', linkname: '../../../../../../../..' + victim }], [{ name: 'up/file' }, 'x']]],
    ['symlink then dir', [[{ name: 'b', type: 'symlink', linkname: victim }], [{ name: 'b/sub', type: 'directory' }]]],
    ['hard link out', [[{ name: 'pw', type: 'link', linkname: '../../etc/passwd' }]]],
    ['hard link to a file outside the layer', [[{ name: 'pw', type: 'link', linkname: 'etc/passwd' }]]],
    ['whiteout through symlink', [[{ name: 'c', type: 'symlink', linkname: victim }], [{ name: 'c/.wh.x' }]]],
    ['xattr name injecting a dump line', [[{ name: 'f', pax: { [`SCHILY.xattr.user.a\n# file: ${victim}\nuser.b`]: 'v' } }, 'x']]],
    ['opaque through symlink', [[{ name: 'o', type: 'symlink', linkname: victim }], [{ name: 'o/.wh..wh..opq' }]]],
  ];
  for (const [what, entries] of cases) {
    const draft = await store.begin();
    try {
      await assert.rejects(store.apply(draft, streamOf(await packTar(entries))), (e: unknown) => isKind(e, 'InvalidArgument'), what);
    } finally {
      await store.abort(draft);
    }
  }
  assert.deepEqual(await fs.readdir(victim), []);
  assert.equal(execFileSync('getfattr', ['-d', '-m', '-', victim]).toString(), '');
  assert.equal(existsSync(path.join(os.tmpdir(), 'evil')), false);
  assert.equal(existsSync(path.join(dataRoot, 'overlay', 'evil')), false);
});

test('a truncated layer is refused', async () => {
  const tar = await packTar([[{ name: 'f' }, Buffer.alloc(100_000, 1)]]);
  const draft = await store.begin();
  try {
    await assert.rejects(store.apply(draft, streamOf(tar.subarray(0, 50_000))), /unexpected EOF/);
  } finally {
    await store.abort(draft);
  }
});

/** type, mode, owner, mtime, content or link target, xattrs of every path under root. */
async function snapshot(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const attrs = execFileSync('getfattr', ['-R', '-h', '-d', '-m', '-', '-e', 'hex', '.'], { cwd: root }).toString();
  out['<xattrs>'] = attrs;
  const inodes = new Map<number, string>();
  async function walk(rel: string) {
    for (const n of (await fs.readdir(path.join(root, rel))).sort()) {
      const p = rel ? `${rel}/${n}` : n;
      const st = await fs.lstat(path.join(root, p));
      let what = `${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.isDirectory() ? '' : Math.floor(st.mtimeMs / 1000)} rdev=${st.rdev}`;
      if (st.isFile()) {
        what += ` ${sha(await fs.readFile(path.join(root, p)))}`;
        if (st.nlink > 1) what += ` link=${inodes.get(st.ino) ?? (inodes.set(st.ino, p), p)}`;
      }
      if (st.isSymbolicLink()) what += ` -> ${await fs.readlink(path.join(root, p))}`;
      out[p] = what;
      if (st.isDirectory()) {
        out[p] += ` mtime=${Math.floor(st.mtimeMs / 1000)}`;
        await walk(p);
      }
    }
  }
  await walk('');
  return out;
}

test('export → apply gives the same tree; export is deterministic', async () => {
  const { chainId, draft } = await addLayer(FULL, null);
  const exported: Buffer[] = [];
  for await (const c of store.exportTar(chainId)) exported.push(c as Buffer);
  const tar = Buffer.concat(exported);
  const copy = await store.begin();
  try {
    const res = await store.apply(copy, streamOf(tar));
    assert.equal(res.diffId, sha(tar));
    assert.deepEqual(await snapshot(copy.diffDir), await snapshot(draft.diffDir));
    const again: Buffer[] = [];
    for await (const c of store.exportTar(chainId)) again.push(c as Buffer);
    assert.equal(sha(Buffer.concat(again)), sha(tar));
    // whiteouts travel as .wh. files
    const names: string[] = [];
    const ex = tarStream.extract();
    const done = (async () => { for await (const e of ex) { names.push(e.header.name); e.resume(); } })();
    Readable.from([tar]).pipe(ex);
    await done;
    assert.ok(names.includes('.wh.gone'));
    assert.ok(names.includes('opq/.wh..wh..opq'));
  } finally {
    await store.abort(copy);
    await store.remove(chainId);
  }
});

test('remove refuses a parent; gc removes unregistered dirs and dangling links', async () => {
  const base = await addLayer([[{ name: 'base.txt' }, 'b']], null);
  const top = await addLayer([[{ name: 'top.txt' }, 't']], base.chainId);
  await assert.rejects(store.remove(base.chainId), (e: unknown) => isKind(e, 'Conflict'));
  const overlay = store.root;
  assert.match(await fs.readFile(path.join(overlay, top.draft.cacheId, 'link'), 'utf8'), /^[A-Z2-7]{26}$/);
  await fs.mkdir(path.join(overlay, 'stray', 'diff'), { recursive: true });
  await fs.symlink('../nowhere/diff', path.join(overlay, 'l', 'DANGLINGLINKAAAAAAAAAAAAAA'));
  const draft = await store.begin();
  await store.gc();
  assert.equal(existsSync(path.join(overlay, 'stray')), false);
  assert.equal(existsSync(path.join(overlay, 'l', 'DANGLINGLINKAAAAAAAAAAAAAA')), false);
  assert.ok(existsSync(draft.diffDir), 'an open draft survives gc');
  assert.ok(store.get(top.chainId));
  assert.equal((await fs.readdir(path.join(overlay, 'l'))).length, store.list().length + 1);
  await store.abort(draft);
  // a row whose directory vanished goes, and so do the layers above it
  await fs.rm(path.join(overlay, base.draft.cacheId), { recursive: true });
  await store.gc();
  assert.equal(store.get(base.chainId), undefined);
  assert.equal(store.get(top.chainId), undefined);
  assert.equal(existsSync(path.join(overlay, top.draft.cacheId)), false);
});

test('an overlay mount of two layers: the whiteout hides the lower file', async () => {
  const lower = await addLayer([[{ name: 'a.txt' }, 'A'], [{ name: 'b.txt' }, 'B'], [{ name: 'd/x' }, 'X']], null);
  const upper = await addLayer([[{ name: '.wh.a.txt' }], [{ name: 'c.txt' }, 'C'], [{ name: 'd', type: 'directory' }], [{ name: 'd/.wh..wh..opq' }], [{ name: 'd/y' }, 'Y']], lower.chainId);
  const option = store.lowerOption(upper.chainId);
  assert.match(option, /^l\/[A-Z2-7]{26}:l\/[A-Z2-7]{26}$/);
  assert.deepEqual(store.lowerDirs(upper.chainId), [upper.draft.diffDir, lower.draft.diffDir]);
  assert.equal((await fs.readFile(path.join(store.root, upper.draft.cacheId, 'lower'), 'utf8').catch(() => '')) || option.split(':')[1], option.split(':')[1]);
  const mnt = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-mnt-'));
  outside.push(mnt);
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${option}`, mnt], { cwd: store.root });
  try {
    assert.deepEqual((await fs.readdir(mnt)).sort(), ['b.txt', 'c.txt', 'd']);
    assert.deepEqual(await fs.readdir(path.join(mnt, 'd')), ['y']);
    assert.equal(await fs.readFile(path.join(mnt, 'b.txt'), 'utf8'), 'B');
  } finally {
    execFileSync('umount', [mnt]);
  }
  await store.remove(upper.chainId);
  await store.remove(lower.chainId);
  assert.equal(existsSync(lower.draft.diffDir), false);
});

test('a big layer with many small files applies', async () => {
  const entries: Entry[] = [];
  for (let i = 0; i < 3000; i++) entries.push([{ name: `many/d${i % 50}/f${i}`, mode: 0o644, uid: i % 3 }, randomBytes(i % 700)]);
  const { chainId, draft } = await addLayer(entries, null);
  assert.equal((await fs.readdir(path.join(draft.diffDir, 'many'))).length, 50);
  assert.equal(lstatSync(path.join(draft.diffDir, 'many/d1/f1')).uid, 1);
  await store.remove(chainId);
});
