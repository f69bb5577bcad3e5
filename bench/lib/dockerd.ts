/**
 * A throwaway dockerd for benchmarks, with its own socket, data root and exec root, inside a network
 * namespace made for it, so it never shares state, bridges or iptables rules with a system Docker.
 * The netns has only its loopback, so the registry it pulls from runs inside the same netns.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ping, removeTree } from '../../test/helpers/daemon';

const execFileP = promisify(execFile);

export const NETNS = 'berthbench';

/** The dockerd on PATH, or undefined. */
export function findDockerd(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = path.join(dir || '.', 'dockerd');
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* keep looking */
    }
  }
  return undefined;
}

/** Creates the bench netns with loopback up (removing a stale one a crashed run left). */
export async function createNetns(): Promise<void> {
  await execFileP('ip', ['netns', 'del', NETNS]).catch(() => undefined);
  await execFileP('ip', ['netns', 'add', NETNS]);
  await execFileP('ip', ['netns', 'exec', NETNS, 'ip', 'link', 'set', 'lo', 'up']);
}

export async function deleteNetns(): Promise<void> {
  await execFileP('ip', ['netns', 'del', NETNS]).catch(() => undefined);
}

/** Runs a command inside the bench netns (`nsenter --net=/run/netns/<name>`). */
export function spawnInNetns(cmd: string, args: string[], logFile: string): ChildProcess {
  const out = fs.openSync(logFile, 'a');
  const child = spawn('nsenter', [`--net=/run/netns/${NETNS}`, '--', cmd, ...args], { stdio: ['ignore', out, out] });
  fs.closeSync(out);
  return child;
}

export interface Dockerd {
  socket: string;
  env: NodeJS.ProcessEnv;
  /** its temp dir (socket, data, exec root); the processes it starts name paths below it */
  dir: string;
  /** dockerd's pid (the nsenter child execs into it) */
  pid: number;
  stop(): Promise<void>;
}

async function waitExit(child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => { child.kill('SIGKILL'); }, ms);
    child.once('exit', () => { clearTimeout(t); resolve(); });
  });
}

export interface StartDockerdOptions {
  /**
   * Keep dockerd's default bridge (docker0, its iptables rules and NAT) instead of `--bridge none
   * --iptables=false`. They are made inside the bench netns, so the host's bridges and rules are untouched.
   */
  bridge?: boolean;
}

/** Starts dockerd in the bench netns on fresh dirs; `insecure` is the in-netns registry host. */
export async function startDockerd(dockerd: string, insecure: string, extraArgs: string[] = [], opts: StartDockerdOptions = {}): Promise<Dockerd> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-dockerd-'));
  const socket = path.join(dir, 'docker.sock');
  const logFile = path.join(dir, 'dockerd.log');
  const config = path.join(dir, 'daemon.json');
  fs.writeFileSync(config, '{}\n');
  const child = spawnInNetns(dockerd, [
    '-H', `unix://${socket}`,
    '--config-file', config,
    '--data-root', path.join(dir, 'data'),
    '--exec-root', path.join(dir, 'exec'),
    '--pidfile', path.join(dir, 'docker.pid'),
    '--insecure-registry', insecure,
    ...(opts.bridge ? [] : ['--bridge', 'none', '--iptables=false']),
    '--ip6tables=false',
    '--storage-driver', 'overlay2',
    ...extraArgs,
  ], logFile);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await waitExit(child, 20_000);
    await removeTree(dir);
  };
  const deadline = Date.now() + 60_000;
  try {
    while (Date.now() < deadline && child.exitCode === null) {
      if (await ping(socket)) {
        const dockerConfig = path.join(dir, 'docker-config');
        fs.mkdirSync(dockerConfig);
        return { socket, dir, pid: child.pid ?? 0, env: { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: dockerConfig, DOCKER_CLI_HINTS: 'false' }, stop };
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
  await stop();
  throw new Error(`dockerd did not start:\n${log.slice(-3000)}`);
}
