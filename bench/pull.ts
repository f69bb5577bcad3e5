/**
 * Pull benchmark: `docker pull` (the real docker CLI) through berthd, and through dockerd when installed.
 *
 *   node dist/bench/pull.js [--runs N]      (root; default N=3, the median is reported)
 *
 * Images (made once, cached with the fixtures): ~200 MB in four random-data gzip layers (network/IO bound)
 * and one 200 MiB text layer (decompression/extraction bound). Each run starts the daemon on a fresh data
 * root. dockerd runs in its own network namespace with its own dirs and a registry of the same storage on
 * the same port inside that netns; berthd pulls from the host-loopback registry. Everything started is
 * stopped and removed at the end.
 */
import { run, ok } from '../test/helpers/cli';
import { startBerthd } from '../test/helpers/daemon';
import { pushLayout, startRegistry, type Registry } from '../test/helpers/registry';
import { BENCH_RANDOM_IMAGE, BENCH_TEXT_IMAGE, makeGeneratedImage } from '../scripts/fixtures/generated';
import { createNetns, deleteNetns, findDockerd, startDockerd } from './lib/dockerd';
import { startNetnsRegistry } from './lib/netns-registry';
import { formatTable, median } from './lib/stats';

interface Subject {
  label: string;
  ref: string;
}

async function timedPull(env: NodeJS.ProcessEnv, ref: string): Promise<number> {
  const start = process.hrtime.bigint();
  ok(await run('docker', ['pull', '-q', ref], { env, timeoutMs: 600_000 }), `docker pull ${ref}`);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

async function benchBerth(reg: Registry, subjects: Subject[], runs: number): Promise<number[][]> {
  const times: number[][] = subjects.map(() => []);
  for (let i = 0; i < runs; i++) {
    for (const [k, s] of subjects.entries()) {
      const daemon = await startBerthd({ insecureRegistries: [reg.host], extraArgs: [] });
      try {
        times[k].push(await timedPull(daemon.env, s.ref));
      } finally {
        await daemon.stop();
      }
    }
  }
  return times;
}

async function benchDocker(dockerd: string, reg: Registry, subjects: Subject[], runs: number): Promise<number[][]> {
  const times: number[][] = subjects.map(() => []);
  await createNetns();
  try {
    const inner = await startNetnsRegistry(reg.port, reg.storageDir);
    try {
      for (let i = 0; i < runs; i++) {
        for (const [k, s] of subjects.entries()) {
          const d = await startDockerd(dockerd, reg.host);
          try {
            times[k].push(await timedPull(d.env, s.ref));
          } finally {
            await d.stop();
          }
        }
      }
    } finally {
      await inner.stop();
    }
  } finally {
    await deleteNetns();
  }
  return times;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root');
  const runsArg = process.argv.indexOf('--runs');
  const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 3;
  process.stderr.write('bench: making (or finding cached) images\n');
  const images = [BENCH_RANDOM_IMAGE, BENCH_TEXT_IMAGE];
  const layouts = [];
  for (const img of images) layouts.push(await makeGeneratedImage(img.name, img.layers));

  const reg = await startRegistry();
  try {
    const subjects: Subject[] = [];
    for (const [i, img] of images.entries()) {
      await pushLayout(reg, layouts[i], `bench/${img.name}`);
      subjects.push({ label: `${img.name} (${img.layers.length} layer${img.layers.length > 1 ? 's' : ''})`, ref: `${reg.host}/bench/${img.name}:latest` });
    }
    process.stderr.write(`bench: berthd, ${runs} runs per image\n`);
    const berth = await benchBerth(reg, subjects, runs);
    const dockerd = findDockerd();
    let docker: number[][] | undefined;
    if (dockerd) {
      process.stderr.write(`bench: dockerd (${dockerd}) in netns, ${runs} runs per image\n`);
      docker = await benchDocker(dockerd, reg, subjects, runs);
    } else {
      process.stderr.write('bench: no dockerd on PATH; berth only (apt-get install docker.io to compare)\n');
    }
    const rows = subjects.map((s, k) => {
      const b = median(berth[k]);
      const d = docker ? median(docker[k]) : undefined;
      return [s.label, b.toFixed(2), d === undefined ? '-' : d.toFixed(2), d === undefined ? '-' : (b / d).toFixed(2)];
    });
    process.stdout.write(`docker pull, median of ${runs} (seconds, fresh data root each run)\n`);
    process.stdout.write(formatTable(['image', 'berth', 'docker', 'berth/docker'], rows) + '\n');
    process.stdout.write(`runs: berth ${JSON.stringify(berth.map((t) => t.map((x) => +x.toFixed(2))))}` +
      (docker ? ` docker ${JSON.stringify(docker.map((t) => t.map((x) => +x.toFixed(2))))}` : '') + '\n');
  } finally {
    await reg.stop();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench: ${err.stack ?? err.message}\n`);
  process.exit(1);
});

