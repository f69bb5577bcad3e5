/**
 * The registry client against a small in-process HTTP server that plays a registry: Bearer challenge and
 * token flow (cached), manifest digest checks, and a blob redirect to another origin that must not
 * receive the Authorization header.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { clearTokenCache } from '../../src/registry/auth';
import { RegistryClient } from '../../src/registry/client';
import { RegistryHttpError } from '../../src/registry/errors';
import { isKind } from '../../src/errors';

const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: {}, layers: [] }));
const manifestDigest = 'sha256:' + createHash('sha256').update(manifest).digest('hex');
const blob = Buffer.from('layer bytes');
const blobDigest = 'sha256:' + createHash('sha256').update(blob).digest('hex');

let registry: http.Server;
let cdn: http.Server;
let base = '';
let cdnBase = '';
const seen: { path: string; auth?: string }[] = [];
let tokensIssued = 0;

function listen(s: http.Server): Promise<number> {
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port)));
}

before(async () => {
  cdn = http.createServer((req, res) => {
    seen.push({ path: `cdn${req.url}`, auth: req.headers.authorization });
    res.writeHead(200, { 'Content-Length': blob.length }).end(blob);
  });
  // another origin: same address, different host name
  cdnBase = `http://localhost:${await listen(cdn)}`;
  registry = http.createServer((req, res) => {
    const url = req.url ?? '';
    seen.push({ path: url, auth: req.headers.authorization });
    if (url.startsWith('/token')) {
      tokensIssued++;
      const q = new URL(url, 'http://x').searchParams;
      const basic = req.headers.authorization === 'Basic ' + Buffer.from('u:p').toString('base64');
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ access_token: `tok-${q.get('scope')}-${basic}`, expires_in: 300 }));
      return;
    }
    if (!req.headers.authorization?.startsWith('Bearer tok-repository:team/app:pull-true')) {
      res.writeHead(401, {
        'WWW-Authenticate': `Bearer realm="${base}/token",service="test-registry"`,
        'Content-Type': 'application/json',
      }).end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
      return;
    }
    if (url === '/v2/') return void res.writeHead(200).end('{}');
    if (url === '/v2/team/app/manifests/v1' || url === `/v2/team/app/manifests/${manifestDigest}`) {
      res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json', 'Docker-Content-Digest': manifestDigest, 'Content-Length': manifest.length });
      return void res.end(req.method === 'HEAD' ? undefined : manifest);
    }
    if (url === '/v2/team/app/manifests/lying') {
      res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json', 'Docker-Content-Digest': blobDigest });
      return void res.end(manifest);
    }
    if (url === `/v2/team/app/blobs/${blobDigest}`) {
      return void res.writeHead(307, { Location: `${cdnBase}/blob?sig=1` }).end();
    }
    res.writeHead(404, { 'Content-Type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }));
  });
  base = `http://127.0.0.1:${await listen(registry)}`;
});

after(() => {
  registry?.close();
  cdn?.close();
});

const client = (auth = { username: 'u', password: 'p' }) =>
  new RegistryClient({ baseUrl: base, domain: new URL(base).host, mirror: false }, 'team/app', auth);

test('bearer flow: challenge from the ping, token for the pull scope with Basic creds, cached per scope', async () => {
  clearTokenCache();
  const c = client();
  const head = await c.headManifest('v1');
  assert.equal(head.digest, manifestDigest);
  assert.equal(head.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  const got = await c.fetchManifest('v1');
  assert.equal(got.digest, manifestDigest);
  assert.deepEqual(got.bytes, manifest);
  assert.equal(tokensIssued, 1, 'one token for both requests');
  await client().fetchManifest(manifestDigest);
  assert.equal(tokensIssued, 1, 'a new client reuses the cached token');
});

test('blob redirect to another origin drops Authorization', async () => {
  seen.length = 0;
  const { stream } = await client().openBlob(blobDigest);
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  assert.deepEqual(Buffer.concat(chunks), blob);
  const blobReq = seen.find((s) => s.path.startsWith('/v2/team/app/blobs/'));
  const cdnReq = seen.find((s) => s.path.startsWith('cdn/blob'));
  assert.match(blobReq?.auth ?? '', /^Bearer /);
  assert.equal(cdnReq?.auth, undefined);
  assert.deepEqual(await client().fetchBlob(blobDigest, 1024), blob);
});

test('a manifest whose bytes do not hash to the named digest is refused', async () => {
  await assert.rejects(client().fetchManifest('lying'), (e: Error) => isKind(e, 'InvalidArgument') && /manifest verification failed/.test(e.message));
});

test('registry errors keep their codes', async () => {
  await assert.rejects(client().fetchManifest('nope'), (e: unknown) => e instanceof RegistryHttpError && e.status === 404 && e.code === 'MANIFEST_UNKNOWN');
});
