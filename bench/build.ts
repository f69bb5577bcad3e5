/**
 * Build benchmark: `DOCKER_BUILDKIT=0 docker build` (the real docker CLI, classic builder) of a 10-step
 * Dockerfile with a 50 MB COPY and three RUN steps, through berthd and, when installed, through dockerd.
 *
 *   node dist/bench/build.js [--runs N]      (root; default N=3, the median is reported)
 *
 * Each run starts the daemon on a fresh data root and pulls busybox (not timed); then it times a cold build
 * and a fully cached rebuild of the same context. A third row, the floor, times the same docker CLI command
 * against a stub server that only drains the context and answers "Successfully built": what the CLI alone
 * needs to tar and send 50 MB, below which no daemon's cached rebuild can go. dockerd runs in its own network namespace with its own
 * dirs, pulling from a registry of the same storage inside that netns (see bench/lib/dockerd.ts).
 * Everything started is stopped and removed at the end.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { ok, run } from '../test/helpers/cli';
import { startBerthd } from '../test/helpers/daemon';
import { seedImages, startRegistry, type Registry } from '../test/helpers/registry';
import { createNetns, deleteNetns, findDockerd, startDockerd } from './lib/dockerd';
import { startNetnsRegistry } from './lib/netns-registry';
import { formatTable, median } from './lib/stats';

const DOCKERFILE = `FROM busybox
ENV APP=/app
WORKDIR /app
COPY big.bin /app/big.bin
RUN echo step-one > /app/one.txt
RUN ls -l /app > /app/listing.txt
COPY small.txt /app/
RUN cat /app/small.txt /app/one.txt > /app/both.txt
LABEL bench=build
CMD ["sh", "-c", "cat /app/both.txt"]
`;
const STEPS = 10;

interface Times { cold: number; cached: number }

const verbose = process.argv.includes('--verbose');

function makeContext(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-build-'));
  fs.writeFileSync(path.join(dir, 'Dockerfile'), DOCKERFILE);
  fs.writeFileSync(path.join(dir, 'small.txt'), 'small\n');
  const fd = fs.openSync(path.join(dir, 'big.bin'), 'w');
  for (let i = 0; i < 50; i++) fs.writeSync(fd, randomBytes(1024 * 1024));
  // on disk before anything is timed: otherwise the kernel writes these 50 MB back during the first
  // daemon's runs (berthd's), and only those
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  return dir;
}

async function timedBuild(env: NodeJS.ProcessEnv, ctx: string, expectCached: boolean): Promise<number> {
  const start = process.hrtime.bigint();
  const r = await run('docker', ['build', '-t', 'bench-build', '.'], { env: { ...env, DOCKER_BUILDKIT: '0' }, cwd: ctx, timeoutMs: 600_000 });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  ok(r, 'docker build');
  const hits = (r.stdout.match(/ ---> Using cache/g) ?? []).length;
  if (hits !== (expectCached ? STEPS - 1 : 0)) throw new Error(`expected ${expectCached ? 'a fully cached' : 'an uncached'} build, got ${hits} cache hits:\n${r.stdout}`);
  return seconds;
}

/** Pull busybox by registry host and tag it `busybox`, as FROM names it (not timed). */
async function prepareBase(env: NodeJS.ProcessEnv, reg: Registry): Promise<void> {
  const ref = `${reg.host}/library/busybox:latest`;
  ok(await run('docker', ['pull', '-q', ref], { env, timeoutMs: 120_000 }), 'docker pull');
  ok(await run('docker', ['tag', ref, 'busybox:latest'], { env }), 'docker tag');
}

async function benchBerth(reg: Registry, ctx: string, runs: number): Promise<Times[]> {
  const out: Times[] = [];
  for (let i = 0; i < runs; i++) {
    const daemon = await startBerthd({ insecureRegistries: [reg.host] });
    try {
      await prepareBase(daemon.env, reg);
      const cold = await timedBuild(daemon.env, ctx, false);
      out.push({ cold, cached: await timedBuild(daemon.env, ctx, true) });
      // --verbose: berthd's own account of each build (context receive and steps, see builder.ts)
      if (verbose) for (const l of daemon.logs().split('\n')) if (l.includes('build steps done')) process.stderr.write(`berthd: ${l}\n`);
    } finally {
      await daemon.stop();
    }
  }
  return out;
}

/** A stand-in daemon that answers /_ping and drains /build bodies: the docker CLI's own time. */
async function benchFloor(ctx: string, runs: number): Promise<number[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-floor-'));
  const socket = path.join(dir, 'stub.sock');
  const server = http.createServer((req, res) => {
    if (req.url?.endsWith('/_ping')) {
      res.writeHead(200, { 'API-Version': '1.47', OSType: 'linux', 'Builder-Version': '1', 'Content-Type': 'text/plain' });
      res.end('OK');
      return;
    }
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(`${JSON.stringify({ stream: 'Successfully built 0123456789ab\n' })}\n${JSON.stringify({ aux: { ID: `sha256:${'0'.repeat(64)}` } })}\n`);
    });
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: dir, DOCKER_BUILDKIT: '0' };
  delete env.DOCKER_CONTEXT;
  const out: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const start = process.hrtime.bigint();
      ok(await run('docker', ['build', '-t', 'bench-build', '.'], { env, cwd: ctx, timeoutMs: 120_000 }), 'docker build (stub)');
      out.push(Number(process.hrtime.bigint() - start) / 1e9);
    }
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

async function benchDocker(dockerd: string, reg: Registry, ctx: string, runs: number): Promise<Times[]> {
  const out: Times[] = [];
  await createNetns();
  try {
    const inner = await startNetnsRegistry(reg.port, reg.storageDir);
    try {
      for (let i = 0; i < runs; i++) {
        const d = await startDockerd(dockerd, reg.host);
        try {
          await prepareBase(d.env, reg);
          const cold = await timedBuild(d.env, ctx, false);
          out.push({ cold, cached: await timedBuild(d.env, ctx, true) });
        } finally {
          await d.stop();
        }
      }
    } finally {
      await inner.stop();
    }
  } finally {
    await deleteNetns();
  }
  return out;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root');
  const runsArg = process.argv.indexOf('--runs');
  const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 3;
  const ctx = makeContext();
  const reg = await startRegistry();
  try {
    await seedImages(reg, ['busybox']);
    process.stderr.write(`bench: berthd, ${runs} runs\n`);
    const berth = await benchBerth(reg, ctx, runs);
    const dockerd = findDockerd();
    let docker: Times[] | undefined;
    if (dockerd) {
      process.stderr.write(`bench: dockerd (${dockerd}) in netns, ${runs} runs\n`);
      docker = await benchDocker(dockerd, reg, ctx, runs);
    } else {
      process.stderr.write('bench: no dockerd on PATH; berth only (apt-get install docker.io to compare)\n');
    }
    process.stderr.write(`bench: docker CLI against a stub that only drains the context, ${runs} runs\n`);
    const floor = await benchFloor(ctx, runs);
    const rows = (['cold', 'cached'] as const).map((k) => {
      const b = median(berth.map((t) => t[k]));
      const d = docker ? median(docker.map((t) => t[k])) : undefined;
      return [k === 'cold' ? 'cold build' : 'cached rebuild', b.toFixed(2), d === undefined ? '-' : d.toFixed(2), d === undefined ? '-' : (b / d).toFixed(2)];
    });
    const f = median(floor);
    const dCached = docker ? median(docker.map((t) => t.cached)) : undefined;
    rows.push(['floor (CLI send only)', f.toFixed(2), dCached === undefined ? '-' : dCached.toFixed(2), dCached === undefined ? '-' : (f / dCached).toFixed(2)]);
    process.stdout.write(`DOCKER_BUILDKIT=0 docker build, ${STEPS} steps, 50 MB COPY, median of ${runs} (seconds)\n`);
    process.stdout.write(formatTable(['build', 'berth', 'docker', 'berth/docker'], rows) + '\n');
    const fmt = (ts: Times[]) => JSON.stringify(ts.map((t) => [+t.cold.toFixed(2), +t.cached.toFixed(2)]));
    process.stdout.write(`runs [cold, cached]: berth ${fmt(berth)}${docker ? ` docker ${fmt(docker)}` : ''} floor ${JSON.stringify(floor.map((t) => +t.toFixed(2)))}\n`);
  } finally {
    await reg.stop();
    fs.rmSync(ctx, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
