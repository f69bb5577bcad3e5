/**
 * Network benchmark: what a container's network costs on `docker run --rm`, with the real docker CLI.
 *
 *   node dist/bench/net.js [--runs N] [--berth-only]        (root; default N = 7)
 *
 * Medians of N of `docker run --rm [--network none] busybox true` on:
 *   berthd   default bridge (netns + netavark setup/teardown) and --network none
 *   dockerd  default bridge (docker0 + libnetwork, iptables on) and --network none, when dockerd is installed
 * Reported: each median, bridge/none per daemon, berth/docker per mode. The four variants alternate within
 * every round, so all see the same machine load. dockerd runs in the `berthbench` netns with its bridge and
 * iptables enabled there (bench/lib/dockerd.ts, `bridge: true`), so it never touches the host's bridges or rules.
 */
import { startBerthd } from '../test/helpers/daemon';
import { seedImages, startRegistry, type Registry } from '../test/helpers/registry';
import { createNetns, deleteNetns, findDockerd, startDockerd } from './lib/dockerd';
import { startNetnsRegistry } from './lib/netns-registry';
import { formatTable, median } from './lib/stats';
import { timedDocker } from './lib/timed-docker';

interface Variant {
  daemon: 'berthd' | 'dockerd';
  mode: 'bridge' | 'none';
  env: NodeJS.ProcessEnv;
}

const say = (s: string) => process.stderr.write(`bench: ${s}\n`);

const runArgs = (v: Variant) => ['run', '--rm', ...(v.mode === 'none' ? ['--network', 'none'] : []), 'busybox', 'true'];

/** Median seconds per variant over `runs` rounds; each round runs every variant once, in turn. */
async function measure(variants: Variant[], runs: number): Promise<number[]> {
  for (const env of new Set(variants.map((v) => v.env))) await timedDocker(env, ['pull', '-q', 'busybox']);
  for (const v of variants) await timedDocker(v.env, runArgs(v)); // warm-up: first bridge setup, caches
  const xs: number[][] = variants.map(() => []);
  for (let i = 0; i < runs; i++) {
    say(`round ${i + 1}/${runs}`);
    for (const [k, v] of variants.entries()) xs[k].push(await timedDocker(v.env, runArgs(v)));
  }
  return xs.map(median);
}

/** Starts berthd and, when wanted and installed, dockerd with its bridge (in the bench netns); stops all after. */
async function withDaemons<T>(reg: Registry, useDocker: boolean, fn: (variants: Variant[]) => Promise<T>): Promise<T> {
  process.env.BERTH_TEST_LOG_LEVEL ??= 'info';
  const berthd = await startBerthd({ registryMirror: reg.url, insecureRegistries: [reg.host] });
  const variants: Variant[] = [{ daemon: 'berthd', mode: 'bridge', env: berthd.env }, { daemon: 'berthd', mode: 'none', env: berthd.env }];
  const stops: (() => Promise<void>)[] = [() => berthd.stop()];
  try {
    const dockerd = useDocker ? findDockerd() : undefined;
    if (dockerd) {
      say(`dockerd (${dockerd}) in netns, bridge enabled`);
      await createNetns();
      stops.unshift(deleteNetns);
      const inner = await startNetnsRegistry(reg.port, reg.storageDir);
      stops.unshift(() => inner.stop());
      const d = await startDockerd(dockerd, reg.host, ['--registry-mirror', reg.url], { bridge: true });
      stops.unshift(() => d.stop());
      variants.push({ daemon: 'dockerd', mode: 'bridge', env: d.env }, { daemon: 'dockerd', mode: 'none', env: d.env });
    } else if (useDocker) {
      say('no dockerd on PATH; berth only');
    }
    return await fn(variants);
  } catch (err) {
    say(`berthd log tail:\n${berthd.logs().slice(-3000)}`);
    throw err;
  } finally {
    for (const stop of stops) await stop().catch((e: Error) => say(`cleanup: ${e.message}`));
  }
}

function report(runs: number, variants: Variant[], secs: number[]): void {
  const of = (daemon: Variant['daemon'], mode: Variant['mode']) => {
    const k = variants.findIndex((v) => v.daemon === daemon && v.mode === mode);
    return k < 0 ? undefined : secs[k];
  };
  const fmt = (x: number | undefined, digits = 3) => (x === undefined ? 'n/a' : x.toFixed(digits));
  const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? 'n/a' : (a / b).toFixed(2));
  const rows = (['bridge', 'none'] as const).map((mode) => [
    mode === 'bridge' ? 'run --rm true, default bridge (s)' : 'run --rm true, --network none (s)',
    fmt(of('berthd', mode)), fmt(of('dockerd', mode)), ratio(of('berthd', mode), of('dockerd', mode)),
  ]);
  rows.push(['bridge/none', ratio(of('berthd', 'bridge'), of('berthd', 'none')), ratio(of('dockerd', 'bridge'), of('dockerd', 'none')), '']);
  rows.push(['bridge − none (ms)', fmt(diffMs(of('berthd', 'bridge'), of('berthd', 'none')), 0), fmt(diffMs(of('dockerd', 'bridge'), of('dockerd', 'none')), 0), '']);
  process.stdout.write(`docker run --rm busybox true, medians of ${runs}\n`);
  process.stdout.write(formatTable(['measure', 'berth', 'docker', 'berth/docker'], rows) + '\n');
}

function diffMs(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined ? undefined : (a - b) * 1000;
}

function argNumber(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root');
  const runs = argNumber('--runs', 7);
  const reg = await startRegistry();
  try {
    await seedImages(reg, ['busybox']);
    await withDaemons(reg, !process.argv.includes('--berth-only'), async (variants) => report(runs, variants, await measure(variants, runs)));
  } finally {
    await reg.stop();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
