/**
 * Container benchmark: the real docker CLI against berthd and against dockerd, side by side in one run.
 *
 *   node dist/bench/run.js [--runs N] [--containers M] [--big-mib S] [--big-runs R] [--runtime runc|crun]
 *   (root; defaults 7, 50, 200, 3, runc: berthd's --default-runtime; dockerd always runs runc)
 *
 * Measures (medians of N where a step is repeated):
 *   run       `docker run --rm --network none busybox true`
 *   exec      `docker exec <running> true`
 *   run -d×M  M × `docker run -d --network none busybox sleep 600`, total
 *   ps -a     `docker ps -a` with those M containers
 *   memory    PSS growth per running container: berthd + its conmons / dockerd + containerd + shims
 *   big run   a container writing S MiB to stdout, attached (the CLI writes it to /dev/null)
 *   big logs  `docker logs big > /dev/null`
 * Every container uses `--network none` on both daemons, so neither pays for network setup.
 * Both daemons run at once and each step alternates between them, so both see the same machine load.
 * dockerd runs in the `berthbench` netns (bench/lib/dockerd.ts) and pulls busybox through a mirror registry
 * inside it; berthd pulls it through a mirror registry on the host loopback.
 */
import { startBerthd } from '../test/helpers/daemon';
import { seedImages, startRegistry, type Registry } from '../test/helpers/registry';
import { createNetns, deleteNetns, findDockerd, startDockerd } from './lib/dockerd';
import { memoryOf, pidsWithArg } from './lib/memory';
import { startNetnsRegistry } from './lib/netns-registry';
import { formatTable, median } from './lib/stats';
import { timedDocker } from './lib/timed-docker';

interface Options {
  runs: number;
  containers: number;
  bigMiB: number;
  /** big run and big logs: median of this many rounds */
  bigRuns: number;
  /** berthd's OCI runtime */
  runtime: 'runc' | 'crun';
}

/** One daemon's figures: seconds, except memory (MiB per container); undefined = not measured. */
interface Figures {
  run: number;
  exec?: number;
  runDetachedAll: number;
  ps: number;
  memMiB: number;
  bigRun: number;
  bigLogs: number;
}

interface Target {
  env: NodeJS.ProcessEnv;
  /** daemon pids plus the per-container monitors (conmon / containerd + shims) */
  processes(): Promise<number[]>;
}

const say = (s: string) => process.stderr.write(`bench: ${s}\n`);

interface Named extends Target {
  name: string;
}

/**
 * Runs each step on every target in turn (berthd, dockerd, berthd, ...), so both see the same machine load;
 * the figures are per target, in the order given.
 */
async function measure(targets: Named[], o: Options): Promise<Figures[]> {
  const docker = (t: Named, args: string[]) => timedDocker(t.env, args);
  const each = async (fn: (t: Named) => Promise<number>): Promise<number[]> => {
    const out: number[] = [];
    for (const t of targets) out.push(await fn(t));
    return out;
  };
  /** median over `n` rounds, alternating targets within each round */
  const rounds = async (n: number, fn: (t: Named) => Promise<number>): Promise<number[]> => {
    const xs: number[][] = targets.map(() => []);
    for (let i = 0; i < n; i++) (await each(fn)).forEach((x, k) => xs[k].push(x));
    return xs.map(median);
  };
  await each((t) => docker(t, ['pull', '-q', 'busybox']));
  await each((t) => docker(t, ['run', '--rm', '--network', 'none', 'busybox', 'true'])); // warm-up
  say(`run --rm × ${o.runs}`);
  const run = await rounds(o.runs, (t) => docker(t, ['run', '--rm', '--network', 'none', 'busybox', 'true']));

  const before = await Promise.all(targets.map(async (t) => memoryOf(await t.processes())));
  say(`run -d × ${o.containers}`);
  const runDetachedAll = targets.map(() => 0);
  for (let i = 0; i < o.containers; i++) {
    (await each((t) => docker(t, ['run', '-d', '--network', 'none', '--name', `bench${i}`, 'busybox', 'sleep', '600']))).forEach((x, k) => (runDetachedAll[k] += x));
  }
  // let lazily started threads settle before reading memory
  await new Promise((r) => setTimeout(r, 1000));
  const after = await Promise.all(targets.map(async (t) => memoryOf(await t.processes())));
  const memMiB = targets.map((t, k) => {
    const b = before[k];
    const a = after[k];
    say(`${t.name}: PSS ${(b.pssKiB / 1024).toFixed(1)} MiB (${b.processes} procs) → ${(a.pssKiB / 1024).toFixed(1)} MiB (${a.processes} procs); RSS ${(b.rssKiB / 1024).toFixed(1)} → ${(a.rssKiB / 1024).toFixed(1)} MiB`);
    return (a.pssKiB - b.pssKiB) / 1024 / o.containers;
  });

  say(`ps -a × ${o.runs}`);
  const ps = await rounds(o.runs, (t) => docker(t, ['ps', '-a']));
  say(`exec × ${o.runs}`);
  const execOk = targets.map(() => true);
  const exec = await rounds(o.runs, async (t) => {
    const k = targets.indexOf(t);
    if (!execOk[k]) return NaN;
    return docker(t, ['exec', 'bench0', 'true']).catch((err: Error) => {
      say(`${t.name}: exec failed, reported as n/a: ${err.message.split('\n')[0]}`);
      execOk[k] = false;
      return NaN;
    });
  });
  say(`removing ${o.containers} containers`);
  await each((t) => docker(t, ['rm', '-f', ...Array.from({ length: o.containers }, (_, i) => `bench${i}`)]));

  say(`${o.bigMiB} MiB to stdout, then logs, × ${o.bigRuns}`);
  const bytes = o.bigMiB * 1024 * 1024;
  // one sample moves by ±20 % with the machine: a median, the targets alternating within each round
  const bigRuns: number[][] = targets.map(() => []);
  const bigLogRuns: number[][] = targets.map(() => []);
  for (let i = 0; i < o.bigRuns; i++) {
    (await each((t) => docker(t, ['run', '--name', 'big', '--network', 'none', 'busybox', 'sh', '-c',
      `yes 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde | head -c ${bytes}`]))).forEach((x, k) => bigRuns[k].push(x));
    (await each((t) => docker(t, ['logs', 'big']))).forEach((x, k) => bigLogRuns[k].push(x));
    await each((t) => docker(t, ['rm', '-f', 'big']));
  }
  const bigRun = bigRuns.map(median);
  const bigLogs = bigLogRuns.map(median);
  return targets.map((_, k) => ({
    run: run[k], exec: execOk[k] ? exec[k] : undefined, runDetachedAll: runDetachedAll[k], ps: ps[k], memMiB: memMiB[k],
    bigRun: bigRun[k], bigLogs: bigLogs[k],
  }));
}

/** Starts berthd and, when installed, dockerd (in the bench netns), runs `fn`, and stops everything. */
async function withDaemons<T>(reg: Registry, useDocker: boolean, runtime: Options['runtime'], fn: (targets: Named[]) => Promise<T>): Promise<T> {
  // debug logging costs per request; the bench measures the default level
  process.env.BERTH_TEST_LOG_LEVEL ??= 'info';
  const daemon = await startBerthd({ registryMirror: reg.url, insecureRegistries: [reg.host], extraArgs: ['--default-runtime', runtime] });
  const targets: Named[] = [{
    name: 'berthd',
    env: daemon.env,
    processes: async () => [daemon.pid, ...(await pidsWithArg(daemon.dir)).filter((p) => p !== daemon.pid)],
  }];
  const stops: (() => Promise<void>)[] = [() => daemon.stop()];
  try {
    const dockerd = useDocker ? findDockerd() : undefined;
    if (dockerd) {
      say(`dockerd (${dockerd}) in netns`);
      await createNetns();
      stops.unshift(deleteNetns);
      const inner = await startNetnsRegistry(reg.port, reg.storageDir);
      stops.unshift(() => inner.stop());
      const d = await startDockerd(dockerd, reg.host, ['--registry-mirror', reg.url]);
      stops.unshift(() => d.stop());
      targets.push({
        name: 'dockerd',
        env: d.env,
        // containerd (started by dockerd) and the shims all name paths under the daemon's exec root
        processes: async () => [d.pid, ...(await pidsWithArg(d.dir)).filter((p) => p !== d.pid)],
      });
    } else if (useDocker) {
      say('no dockerd on PATH; berth only (apt-get install docker.io to compare)');
    }
    return await fn(targets);
  } catch (err) {
    say(`berthd log tail:\n${daemon.logs().slice(-3000)}`);
    throw err;
  } finally {
    for (const stop of stops) await stop().catch((e: Error) => say(`cleanup: ${e.message}`));
  }
}

function argNumber(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

function argRuntime(): Options['runtime'] {
  const i = process.argv.indexOf('--runtime');
  const r = i > 0 ? process.argv[i + 1] : 'runc';
  if (r !== 'runc' && r !== 'crun') throw new Error(`--runtime: runc or crun, not ${r}`);
  return r;
}

function report(o: Options, berth: Figures, docker: Figures | undefined): void {
  const goals: Record<keyof Figures, string> = {
    run: '≤ 0.33', exec: '≤ 0.50', runDetachedAll: '≤ 0.33', ps: '≤ 1.00', memMiB: '≤ 0.20', bigRun: '≤ 0.20', bigLogs: '≤ 0.14',
  };
  const labels: Record<keyof Figures, string> = {
    run: 'run --rm true (s)', exec: 'exec true (s)', runDetachedAll: `run -d × ${o.containers} (s, total)`,
    ps: `ps -a, ${o.containers} containers (s)`, memMiB: 'memory per container (MiB PSS)',
    bigRun: `run printing ${o.bigMiB} MiB (s)`, bigLogs: `logs of ${o.bigMiB} MiB (s)`,
  };
  const fmt = (x: number | undefined, k: keyof Figures) => (x === undefined ? 'n/a' : x.toFixed(k === 'memMiB' ? 2 : k === 'ps' || k === 'run' || k === 'exec' ? 3 : 2));
  const rows = (Object.keys(labels) as (keyof Figures)[]).map((k) => {
    const b = berth[k];
    const d = docker?.[k];
    const ratio = b === undefined || d === undefined ? 'n/a' : (b / d).toFixed(2);
    return [labels[k], fmt(b, k), fmt(d, k), ratio, goals[k]];
  });
  process.stdout.write(`berthd on ${o.runtime}, dockerd on runc; containers with --network none on both daemons; medians of ${o.runs} for run, exec and ps, of ${o.bigRuns} for the big run and logs\n`);
  process.stdout.write(formatTable(['measure', 'berth', 'docker', 'berth/docker', 'goal'], rows) + '\n');
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root');
  const o: Options = { runs: argNumber('--runs', 7), containers: argNumber('--containers', 50), bigMiB: argNumber('--big-mib', 200), bigRuns: argNumber('--big-runs', 3), runtime: argRuntime() };
  const reg = await startRegistry();
  try {
    await seedImages(reg, ['busybox']);
    const useDocker = !process.argv.includes('--berth-only');
    const [berth, docker] = await withDaemons(reg, useDocker, o.runtime, (targets) => measure(targets, o));
    report(o, berth, docker);
  } finally {
    await reg.stop();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
