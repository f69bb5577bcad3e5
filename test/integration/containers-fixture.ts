/**
 * A container test bed: a temp data root and exec root with real stores, a busybox image made offline from
 * /usr/bin/busybox (one layer through OverlayLayerStore, config in the content store, row in SqliteImageStore),
 * a ContainerService on real conmon + runc, and optionally the API served in-process on a temp unix socket.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import * as tarStream from 'tar-stream';
import { createApiServer } from '../../src/api/server';
import { registerContainerRoutes } from '../../src/api/containers';
import { registerSystemRoutes } from '../../src/api/system';
import { Router } from '../../src/api/router';
import { ContainerService } from '../../src/engine/containers';
import { EventLog } from '../../src/engine/events';
import { SystemService } from '../../src/engine/system';
import { FsContentStore, initDataDirs } from '../../src/image/content-store';
import { SqliteImageStore } from '../../src/image/image-store';
import { OverlayLayerStore } from '../../src/image/layer-store';
import type { ImageConfig } from '../../src/image/types';
import { openDb, type Db } from '../../src/store/db';
import { silentLogger } from '../../src/util/logger';

const execFileP = promisify(execFile);
export const IMAGE = 'berth-test/busybox:latest';
const APPLETS = ['sh', 'echo', 'sleep', 'cat', 'wc', 'true', 'hostname', 'id', 'ls'];

async function busyboxTar(): Promise<Buffer> {
  const pack = tarStream.pack();
  const mtime = new Date(1_600_000_000_000);
  pack.entry({ name: 'bin', type: 'directory', mode: 0o755, mtime });
  pack.entry({ name: 'bin/busybox', mode: 0o755, mtime }, await readFile('/usr/bin/busybox'));
  for (const a of APPLETS) pack.entry({ name: `bin/${a}`, type: 'symlink', linkname: 'busybox', mtime });
  pack.entry({ name: 'etc', type: 'directory', mode: 0o755, mtime });
  pack.entry({ name: 'etc/passwd', mode: 0o644, mtime }, 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n');
  pack.entry({ name: 'etc/group', mode: 0o644, mtime }, 'root:x:0:\nnogroup:x:65534:\n');
  pack.finalize();
  const bufs: Buffer[] = [];
  for await (const c of pack) bufs.push(c as Buffer);
  return Buffer.concat(bufs);
}

export interface Bed {
  dir: string;
  dataRoot: string;
  execRoot: string;
  db: Db;
  events: EventLog;
  svc: ContainerService;
  imageId: string;
  close(): Promise<void>;
}

export async function makeBed(): Promise<Bed> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-ctr-'));
  const dataRoot = path.join(dir, 'data');
  const execRoot = path.join(dir, 'x');
  await initDataDirs(dataRoot);
  const db = openDb(path.join(dataRoot, 'berth.db'));
  const content = new FsContentStore(dataRoot);
  const layers = new OverlayLayerStore(dataRoot, db);
  const images = new SqliteImageStore(db);
  const events = new EventLog(db);

  const draft = await layers.begin();
  const applied = await layers.apply(draft, Readable.from([await busyboxTar()]));
  layers.commit(draft, { chainId: applied.diffId, diffId: applied.diffId, parent: null, size: applied.size, blobDigest: null, blobMediaType: null, blobSize: null });
  const config: ImageConfig = {
    architecture: 'amd64', os: 'linux', created: '2024-01-01T00:00:00Z',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] },
    rootfs: { type: 'layers', diff_ids: [applied.diffId] },
  };
  const configDigest = await content.put(Buffer.from(JSON.stringify(config)));
  const image = images.add({ config, configDigest, layers: [applied.diffId], tags: [IMAGE] });

  const svc = new ContainerService({ dataRoot, execRoot, db, images, layers, events, log: silentLogger, runtimePath: '/usr/sbin/runc' });
  await svc.init();
  const bed: Bed = {
    dir, dataRoot, execRoot, db, events, svc, imageId: image.id,
    async close() {
      // bed.svc, not svc: a test may replace the service (daemon restart)
      for (const c of bed.svc.store.list()) await bed.svc.remove(c.id, { force: true }).catch(() => undefined);
      bed.svc.shutdown();
      db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return bed;
}

export interface Served {
  socket: string;
  env: NodeJS.ProcessEnv;
  close(): Promise<void>;
}

/** Serve the container (and system) routes over a unix socket in this process. */
export async function serve(bed: Bed): Promise<Served> {
  const router = new Router();
  const system = new SystemService({
    dataRoot: bed.dataRoot, execRoot: bed.execRoot, mirrors: [], insecureRegistries: [],
    runtimes: [{ name: 'runc', path: 'runc' }], defaultRuntime: 'runc', debug: false,
    imageCount: () => 1, containerCounts: () => bed.svc.counts(), eventListeners: () => bed.events.listenerCount,
  });
  registerSystemRoutes(router, { system, events: bed.events, diskUsage: async () => ({}) });
  registerContainerRoutes(router, bed.svc);
  const server = createApiServer(router, silentLogger);
  const socket = path.join(bed.dir, 'api.sock');
  await new Promise<void>((r) => server.listen(socket, r));
  const configDir = path.join(bed.dir, 'docker-config');
  return {
    socket,
    env: { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: configDir, DOCKER_CLI_HINTS: 'false' },
    close: () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }),
  };
}

export interface Reply { status: number; headers: http.IncomingHttpHeaders; body: Buffer }

export function request(socketPath: string, method: string, p: string, body?: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request({ socketPath, method, path: p, headers: data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

/** Split a multiplexed stream into stdout and stderr text. */
export function demux(b: Buffer): { stdout: string; stderr: string } {
  let stdout = '';
  let stderr = '';
  for (let off = 0; off + 8 <= b.length;) {
    const len = b.readUInt32BE(off + 4);
    const payload = b.subarray(off + 8, off + 8 + len).toString();
    if (b[off] === 2) stderr += payload;
    else stdout += payload;
    off += 8 + len;
  }
  return { stdout, stderr };
}

/** What a container leaves on the host: mounts, cgroup dirs, conmon processes, runtime state, exit files. */
export async function traces(bed: Bed, id: string): Promise<string[]> {
  const found: string[] = [];
  const mounts = await readFile('/proc/self/mountinfo', 'utf8');
  if (mounts.includes(id)) found.push('mount');
  for (const ctl of ['memory', 'pids', 'cpu', 'freezer', 'unified']) {
    try {
      if ((await readdir(`/sys/fs/cgroup/${ctl}/berth`)).includes(id)) found.push(`cgroup:${ctl}`);
    } catch { /* no berth group */ }
  }
  const ps = await execFileP('ps', ['-eo', 'args']);
  if (ps.stdout.split('\n').some((l) => l.includes('conmon') && l.includes(id))) found.push('conmon');
  for (const [what, d] of [['runc-state', path.join(bed.execRoot, 'runc')], ['exit-file', path.join(bed.execRoot, 'exits')], ['container-dir', path.join(bed.dataRoot, 'containers')]]) {
    try {
      if ((await readdir(d)).includes(id)) found.push(what);
    } catch { /* absent */ }
  }
  try {
    if ((await readdir(path.join(bed.execRoot, 's'))).some((n) => id.startsWith(n))) found.push('socket-link');
  } catch { /* absent */ }
  return found;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
