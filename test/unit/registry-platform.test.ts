import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseManifest, hostPlatform, parseManifest, parsePlatform, platformScore, MediaType, type ImageIndex } from '../../src/registry/manifest';
import { isKind } from '../../src/errors';

const d = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;
const M = MediaType.ociManifest;
const index: ImageIndex = {
  schemaVersion: 2,
  manifests: [
    { mediaType: M, digest: d(1), size: 1, platform: { os: 'linux', architecture: 'amd64' } },
    { mediaType: M, digest: d(2), size: 1, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    { mediaType: M, digest: d(3), size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v6' } },
    { mediaType: M, digest: d(4), size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
    { mediaType: M, digest: d(5), size: 1, platform: { os: 'unknown', architecture: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } },
  ],
};

test('host platform maps process.arch the docker way', () => {
  const h = hostPlatform();
  assert.equal(h.os, 'linux');
  if (process.arch === 'x64') assert.deepEqual(h, { os: 'linux', architecture: 'amd64' });
  if (process.arch === 'arm64') assert.deepEqual(h, { os: 'linux', architecture: 'arm64', variant: 'v8' });
});

test('--platform strings parse and normalise', () => {
  assert.deepEqual(parsePlatform('linux/arm64'), { os: 'linux', architecture: 'arm64' });
  assert.deepEqual(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
  assert.deepEqual(parsePlatform('linux/x86_64'), { os: 'linux', architecture: 'amd64' });
  assert.deepEqual(parsePlatform('linux/aarch64'), { os: 'linux', architecture: 'arm64' });
  assert.deepEqual(parsePlatform('linux/arm/7'), { os: 'linux', architecture: 'arm', variant: 'v7' });
  assert.deepEqual(parsePlatform('amd64'), { os: 'linux', architecture: 'amd64' });
  assert.throws(() => parsePlatform('linux//v8'), (e) => isKind(e, 'InvalidArgument'));
  assert.throws(() => parsePlatform('a/b/c/d'), (e) => isKind(e, 'InvalidArgument'));
});

test('index: picks amd64, arm64 with or without v8, arm variants', () => {
  assert.equal(chooseManifest(index, { os: 'linux', architecture: 'amd64' }).digest, d(1));
  assert.equal(chooseManifest(index, parsePlatform('linux/arm64')).digest, d(2));
  assert.equal(chooseManifest(index, parsePlatform('linux/arm64/v8')).digest, d(2));
  assert.equal(chooseManifest(index, parsePlatform('linux/arm/v7')).digest, d(4));
  assert.equal(chooseManifest(index, parsePlatform('linux/arm/v6')).digest, d(3));
});

test('arm64 entry without a variant serves linux/arm64/v8', () => {
  const idx: ImageIndex = { schemaVersion: 2, manifests: [{ mediaType: M, digest: d(7), size: 1, platform: { os: 'linux', architecture: 'arm64' } }] };
  assert.equal(chooseManifest(idx, parsePlatform('linux/arm64/v8')).digest, d(7));
  assert.ok(platformScore(parsePlatform('linux/arm/v7'), { os: 'linux', architecture: 'arm', variant: 'v5' }) > 0);
  assert.equal(platformScore(parsePlatform('linux/arm/v6'), { os: 'linux', architecture: 'arm', variant: 'v7' }), 0);
});

test('no match: dockerd wording; attestation entries never chosen', () => {
  assert.throws(() => chooseManifest(index, parsePlatform('linux/s390x')), (e: Error) => isKind(e, 'NotFound') && e.message === 'no matching manifest for linux/s390x in the manifest list entries');
  const onlyAttestation: ImageIndex = { schemaVersion: 2, manifests: [index.manifests[4], index.manifests[0]] };
  assert.throws(() => chooseManifest(onlyAttestation, { os: 'unknown', architecture: 'unknown' }), /no matching manifest for unknown\/unknown/);
  assert.throws(() => chooseManifest({ schemaVersion: 2, manifests: [index.manifests[0]] }, parsePlatform('linux/arm64/v8')),
    /^Error: no matching manifest for linux\/arm64\/v8 in the manifest list entries$|no matching manifest for linux\/arm64\/v8 in the manifest list entries/);
});

test('manifest parsing: media type from body, header or shape; schema1 refused', () => {
  const idx = parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] })), undefined);
  assert.equal(idx.kind, 'index');
  assert.equal(idx.mediaType, MediaType.ociIndex);
  const list = parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] })), MediaType.dockerManifestList);
  assert.equal(list.mediaType, MediaType.dockerManifestList);
  const man = parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.dockerManifest, config: { digest: d(1) }, layers: [] })), 'application/json');
  assert.equal(man.kind, 'manifest');
  assert.equal(man.mediaType, MediaType.dockerManifest);
  assert.throws(() => parseManifest(Buffer.from('{"schemaVersion":1}'), MediaType.dockerSchema1Signed), /schema 1 support has been removed/);
});
