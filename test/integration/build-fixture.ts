/**
 * An in-process build API for tests: stores over a temp data root, the build and image routes on a temp
 * unix socket, and helpers to POST a context and read the JSON stream back.
 */
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { registerBuildRoutes } from '../../src/api/build';
import { registerImageRoutes } from '../../src/api/images';
import { Router } from '../../src/api/router';
import { createApiServer } from '../../src/api/server';
import { sendJson } from '../../src/api/http-util';
import { Builder } from '../../src/build/builder';
import type { RunStepRunner } from '../../src/build/types';
import { packContext } from '../../src/cli/commands/build';
import { EventLog } from '../../src/engine/events';
import { ImageService } from '../../src/engine/images';
import { notFound } from '../../src/errors';
import { FsContentStore, initDataDirs } from '../../src/image/content-store';
import { SqliteImageStore } from '../../src/image/image-store';
import { OverlayLayerStore } from '../../src/image/layer-store';
import { LayeredRootfs } from '../../src/build/rootfs';
import { openDb, type Db } from '../../src/store/db';
import { silentLogger } from '../../src/util/logger';

export interface BuildFixture {
  dir: string;
  dataRoot: string;
  socket: string;
  db: Db;
  layers: OverlayLayerStore;
  images: SqliteImageStore;
  builder: Builder;
  /** writes files (path → content; a `{ link }` makes a symlink) under a new context dir */
  context(files: Record<string, string | { link: string } | { mode: number; content: string }>): Promise<string>;
  build(ctxDir: string, query?: Record<string, string | string[]>): Promise<BuildOutput>;
  buildRaw(body: Readable | Buffer, query?: Record<string, string | string[]>): Promise<BuildOutput>;
  request(method: string, p: string): Promise<{ status: number; body: any }>;
  /** the merged root of an image */
  rootfs(imageId: string): LayeredRootfs;
  close(): Promise<void>;
}

export interface BuildOutput {
  status: number;
  messages: Record<string, any>[];
  /** every `stream` joined */
  text: string;
  error?: string;
  id?: string;
}

export async function startBuildFixture(runStep?: RunStepRunner): Promise<BuildFixture> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-build-'));
  const dataRoot = path.join(dir, 'data');
  await initDataDirs(dataRoot);
  const db = openDb(path.join(dataRoot, 'berth.db'));
  const content = new FsContentStore(dataRoot);
  const layers = new OverlayLayerStore(dataRoot, db);
  const images = new SqliteImageStore(db);
  const events = new EventLog(db);
  const pull = async (ref: string) => { throw notFound(`pull access denied for ${ref}: no registry in this test`); };
  const builder = new Builder({ dataRoot, db, content, layers, images, events, log: silentLogger, pull, runStep });
  const imageService = new ImageService({
    dataRoot, db, content, layers, images, events, log: silentLogger,
    puller: { pull: async (ref: string) => { throw notFound(`no registry for ${ref}`); } },
  });
  const router = new Router();
  router.get('/_ping', (ctx) => { ctx.res!.writeHead(200, { 'Content-Type': 'text/plain' }); ctx.res!.end('OK'); });
  router.head('/_ping', (ctx) => { ctx.res!.writeHead(200); ctx.res!.end(); });
  router.get('/version', (ctx) => sendJson(ctx.res!, 200, { ApiVersion: '1.47', MinAPIVersion: '1.24', Version: '28.0.0', Os: 'linux', Arch: 'amd64' }));
  registerBuildRoutes(router, builder);
  registerImageRoutes(router, imageService);
  const server = createApiServer(router, silentLogger);
  const socket = path.join(dir, 'api.sock');
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  let contexts = 0;

  const post = (body: Readable | Buffer, query: Record<string, string | string[]>) => new Promise<BuildOutput>((resolve, reject) => {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) for (const x of Array.isArray(v) ? v : [v]) qs.append(k, x);
    const req = http.request({ socketPath: socket, method: 'POST', path: `/v1.47/build?${qs}`, headers: { 'Content-Type': 'application/x-tar' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const messages = raw.split(/\r?\n/).filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, any>);
        const error = messages.find((m) => m.error)?.error ?? (res.statusCode !== 200 ? messages[0]?.message : undefined);
        const id = messages.find((m) => m.aux?.ID)?.aux.ID as string | undefined;
        resolve({ status: res.statusCode ?? 0, messages, text: messages.map((m) => m.stream ?? '').join(''), error, id });
      });
    });
    req.on('error', reject);
    if (Buffer.isBuffer(body)) req.end(body);
    else body.pipe(req);
  });

  return {
    dir, dataRoot, socket, db, layers, images, builder,
    async context(files) {
      const ctx = path.join(dir, `ctx-${++contexts}`);
      await fs.mkdir(ctx);
      for (const [name, spec] of Object.entries(files)) {
        const p = path.join(ctx, name);
        await fs.mkdir(path.dirname(p), { recursive: true });
        if (typeof spec === 'string') await fs.writeFile(p, spec);
        else if ('link' in spec) await fs.symlink(spec.link, p);
        else await fs.writeFile(p, spec.content, { mode: spec.mode });
      }
      return ctx;
    },
    async build(ctxDir, query = {}) {
      const packed = await packContext(ctxDir, {});
      return post(packed.stream, { dockerfile: packed.dockerfile, ...query });
    },
    buildRaw: (body, query = {}) => post(body, query),
    request: (method, p) => new Promise((resolve, reject) => {
      const req = http.request({ socketPath: socket, method, path: p }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
        });
      });
      req.on('error', reject);
      req.end();
    }),
    rootfs(imageId) {
      const img = images.get(imageId)!;
      const top = img.layers[img.layers.length - 1];
      return new LayeredRootfs(top ? layers.lowerDirs(top) : []);
    },
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections?.();
      db.close();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
