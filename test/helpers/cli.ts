/** Runs the docker CLI (/usr/local/bin/docker) or the berth CLI as a child process and collects its output. */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../../scripts/fixtures/paths';

export const DOCKER_CLI = '/usr/local/bin/docker';

export interface RunOptions {
  env: NodeJS.ProcessEnv;
  /** written to stdin, which is then closed; without it stdin is empty */
  input?: string | Buffer;
  /** default 120 s; on expiry the process is killed and code is -1 */
  timeoutMs?: number;
  cwd?: string;
}

export interface RunResult {
  /** exit code; -1 when killed by a signal or the timeout */
  code: number;
  stdout: string;
  stderr: string;
  signal?: NodeJS.Signals | null;
  timedOut?: boolean;
}

/**
 * The berth CLI of the build these helpers were compiled into (see daemonEntry in daemon.ts for why).
 * Falls back to bin/berth.
 */
export function berthEntry(): string[] {
  const outDir = path.resolve(__dirname, '..', '..');
  if (path.basename(outDir) !== 'dist') {
    const main = path.join(outDir, 'src', 'cli', 'main.js');
    if (fs.existsSync(main)) return [main];
  }
  return [path.join(repoRoot(), 'bin', 'berth')];
}

function resolveCommand(cmd: string, args: string[]): [string, string[]] {
  if (cmd === 'docker') return [DOCKER_CLI, args];
  if (cmd === 'berth') return [process.execPath, [...berthEntry(), ...args]];
  return [cmd, args];
}

/** Runs `cmd args`; `docker` and `berth` are resolved as above, anything else is looked up on PATH. */
export function run(cmd: string, args: string[], opts: RunOptions): Promise<RunResult> {
  const [file, argv] = resolveCommand(cmd, args);
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { env: opts.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 120_000);
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.stdin.on('error', () => undefined); // the command may exit without reading stdin
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: code ?? -1,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        signal,
        ...(timedOut ? { timedOut } : {}),
      });
    });
    child.stdin.end(opts.input ?? '');
  });
}

export type BoundCli = (args: string[], opts?: Partial<RunOptions>) => Promise<RunResult>;

/** `docker` bound to a daemon's env (DOCKER_HOST, temp DOCKER_CONFIG). `daemon` is anything with `env`. */
export function dockerCli(daemon: { env: NodeJS.ProcessEnv }): BoundCli {
  return (args, opts = {}) => run('docker', args, { ...opts, env: { ...daemon.env, ...opts.env } });
}

/** `berth` bound to a daemon's env (BERTH_HOST and DOCKER_HOST, temp DOCKER_CONFIG). */
export function berthCli(daemon: { env: NodeJS.ProcessEnv }): BoundCli {
  return (args, opts = {}) => run('berth', args, { ...opts, env: { ...daemon.env, ...opts.env } });
}

/** Throws with the command's output when it failed; returns stdout otherwise. Keeps test asserts short. */
export function ok(r: RunResult, what = 'command'): string {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}${r.timedOut ? ' (timed out)' : ''}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  return r.stdout;
}
