/**
 * Small test images for the pull tests, written as OCI layouts and pushed with skopeo (digests preserved):
 * a two-platform index sharing a base layer, an image with zstd and uncompressed layers, and one big
 * incompressible layer for the abort test. Also the data-root inspection the "nothing left" checks use.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import * as tar from 'tar-stream';
import {
  FIXED_TIME, initLayout, pseudoRandom, tagInLayout, writeImage, writeIndex, writeJsonBlob, writeLayer, blobPath,
  type BuiltLayer, type Descriptor,
} from '../../scripts/fixtures/oci-layout';
import type { Registry } from '../helpers/registry';

const execFileP = promisify(execFile);

export const LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';
export const LAYER_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';

const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** A small in-memory layer tar of files `{path: content}` (directories made as needed). */
export async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => { chunks.push(c as Buffer); });
  const done = new Promise<void>((resolve, reject) => { pack.on('end', resolve); pack.on('error', reject); });
  const dirs = new Set<string>();
  for (const p of Object.keys(files)) {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  const base = { uid: 0, gid: 0, mtime: FIXED_TIME };
  for (const d of [...dirs].sort()) pack.entry({ ...base, name: d + '/', type: 'directory', mode: 0o755 });
  for (const [name, content] of Object.entries(files)) pack.entry({ ...base, name, type: 'file', mode: 0o644 }, content);
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Writes a layer blob compressed as asked; returns its descriptor with the diff ID. */
export async function writeCustomLayer(dir: string, files: Record<string, string>, compression: 'gzip' | 'zstd' | 'none'): Promise<BuiltLayer> {
  const raw = await tarOf(files);
  let blob: Buffer;
  let mediaType: string;
  if (compression === 'gzip') {
    blob = zlib.gzipSync(raw);
    mediaType = 'application/vnd.oci.image.layer.v1.tar+gzip';
  } else if (compression === 'zstd') {
    const tmp = path.join(dir, `.zstd-${process.pid}`);
    fs.writeFileSync(tmp, raw);
    await execFileP('zstd', ['-q', '-f', '--no-progress', tmp, '-o', tmp + '.zst']);
    blob = fs.readFileSync(tmp + '.zst');
    fs.rmSync(tmp, { force: true });
    fs.rmSync(tmp + '.zst', { force: true });
    mediaType = LAYER_ZSTD;
  } else {
    blob = raw;
    mediaType = LAYER_TAR;
  }
  const digest = sha(blob);
  fs.writeFileSync(blobPath(dir, digest), blob);
  return { mediaType, digest, size: blob.length, diffId: sha(raw) };
}

export interface MultiPlatformFixture {
  layout: string;
  index: Descriptor;
  amd64: Descriptor;
  arm64: Descriptor;
  base: BuiltLayer;
}

/** Two platforms (amd64; arm64/v8) sharing a base layer, each with its own top layer. */
export async function makeMultiPlatform(root: string): Promise<MultiPlatformFixture> {
  const layout = path.join(root, 'multi');
  initLayout(layout);
  const base = await writeLayer(layout, [
    { type: 'dir', path: 'etc' },
    { type: 'file', path: 'etc/os-release', content: Buffer.from('NAME=berth-test\n') },
  ]);
  const top = async (arch: string) => writeLayer(layout, [
    { type: 'dir', path: 'bin' },
    { type: 'file', path: `bin/hello-${arch}`, content: Buffer.from(`#!/bin/sh\necho ${arch}\n`), mode: 0o755 },
  ]);
  const spec = (architecture: string, layers: BuiltLayer[], variant?: string) => ({
    architecture, variant, layers, config: { Cmd: ['/bin/sh'] }, history: layers.map((_, i) => `layer ${i}`),
  });
  const amd64 = writeImage(layout, spec('amd64', [base, await top('amd64')]));
  const arm64 = writeImage(layout, spec('arm64', [base, await top('arm64')], 'v8'));
  const index = writeIndex(layout, [amd64, arm64]);
  tagInLayout(layout, 'latest', index);
  return { layout, index, amd64, arm64, base };
}

/** One image whose layers are zstd, uncompressed and gzip, in that order. */
export async function makeMixedCompression(root: string): Promise<{ layout: string; manifest: Descriptor }> {
  const layout = path.join(root, 'mixed');
  initLayout(layout);
  const layers = [
    await writeCustomLayer(layout, { 'zstd/one.txt': 'from a zstd layer\n' }, 'zstd'),
    await writeCustomLayer(layout, { 'plain/two.txt': 'from an uncompressed layer\n' }, 'none'),
    await writeCustomLayer(layout, { 'gz/three.txt': 'from a gzip layer\n' }, 'gzip'),
  ];
  const manifest = writeImage(layout, { architecture: hostArch(), layers, config: {}, history: ['a', 'b', 'c'] });
  tagInLayout(layout, 'latest', manifest);
  return { layout, manifest };
}

/** An image with one incompressible layer of `bytes` (gzip level 1), for aborts mid-download. */
export async function makeBigImage(root: string, bytes: number): Promise<{ layout: string; manifest: Descriptor; layer: BuiltLayer }> {
  const layout = path.join(root, 'big');
  initLayout(layout);
  const layer = await writeLayer(layout, [{ type: 'file', path: 'big.bin', content: pseudoRandom('pull-abort', bytes) }], 1);
  const manifest = writeImage(layout, { architecture: hostArch(), layers: [layer], config: {}, history: ['big'] });
  tagInLayout(layout, 'latest', manifest);
  return { layout, manifest, layer };
}

export function hostArch(): string {
  return process.arch === 'x64' ? 'amd64' : process.arch;
}

/** Copies the layout's `latest` to `<registry>/<repo>:<tag>` keeping every digest. */
export async function push(reg: Registry, layout: string, repo: string, tag = 'latest'): Promise<void> {
  const args = ['copy', '--all', '--quiet', '--preserve-digests', '--dest-tls-verify=false'];
  if (reg.auth) args.push('--dest-creds', `${reg.auth.user}:${reg.auth.password}`);
  args.push(`oci:${layout}:latest`, `docker://${reg.host}/${repo}:${tag}`);
  await execFileP('skopeo', args, { maxBuffer: 16 << 20 });
}

/** Path of a blob's data file inside distribution's filesystem storage. */
export function registryBlobFile(reg: Registry, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return path.join(reg.storageDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
}

export { writeJsonBlob };
