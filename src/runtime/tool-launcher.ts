/**
 * Starts helper programs (mount, umount, runc, conmon) from a small long-lived `/bin/sh` instead of from
 * berthd. Why: a spawn from berthd forks a ~100 MB process and blocks the event loop ~2 ms each time, and
 * conmon started by berthd has to be moved out of berthd's cgroups, which costs a ~13 ms RCU grace period
 * on cgroup v1. The shell sits in conmon's cgroup once, so what it starts is born there.
 *
 * Protocol: berthd writes one shell command per request on the shell's stdin; the shell runs the program
 * in the background (double fork, so nothing is left for the shell to reap) and prints `<n> p <pid>` when
 * it started and `<n> x <status>` when it ended. stdout and stderr go to files in `dir`, read afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, rm } from 'node:fs/promises';
import * as path from 'node:path';

export interface LaunchResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface LaunchOptions {
  cwd?: string;
  timeoutMs?: number;
  /** extra environment (the shell itself has only PATH) */
  env?: Record<string, string>;
  /** a file (e.g. a fifo) opened for writing as the program's fd 3 */
  fd3?: string;
  /** called with the pid once the program runs */
  onPid?: (pid: number) => void;
}

interface Pending {
  resolve(r: LaunchResult): void;
  reject(e: Error): void;
  pid?: number;
  timer?: NodeJS.Timeout;
  killed: boolean;
  opts: LaunchOptions;
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Single-quoted for sh: nothing inside single quotes is special except the quote itself. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export class ToolLauncher {
  private sh?: ChildProcess;
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  private lineBuf = '';
  private stopped = false;

  /** `dir` holds the output files; `prepare` runs on each new shell's pid (e.g. to move it into a cgroup). */
  constructor(readonly dir: string, private readonly prepare?: (pid: number) => Promise<void>) {}

  private ready?: Promise<ChildProcess>;

  private shell(): Promise<ChildProcess> {
    this.ready ??= (async () => {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      const sh = spawn('/bin/sh', ['-s'], { stdio: ['pipe', 'pipe', 'ignore'], env: { PATH: process.env.PATH || DEFAULT_PATH } });
      sh.stdout!.setEncoding('utf8').on('data', (c: string) => this.onOutput(c));
      sh.stdin!.on('error', () => { /* the exit handler fails what is pending */ });
      sh.on('exit', () => this.onExit(sh));
      sh.on('error', () => this.onExit(sh));
      this.sh = sh;
      if (sh.pid && this.prepare) await this.prepare(sh.pid);
      return sh;
    })();
    const r = this.ready;
    r.catch(() => { if (this.ready === r) this.ready = undefined; });
    return r;
  }

  private onExit(sh: ChildProcess): void {
    if (this.sh !== sh) return;
    this.sh = undefined;
    this.ready = undefined;
    for (const [n, p] of this.pending) {
      this.pending.delete(n);
      if (p.timer) clearTimeout(p.timer);
      p.reject(new Error('tool launcher shell exited'));
    }
  }

  private onOutput(chunk: string): void {
    this.lineBuf += chunk;
    let nl: number;
    while ((nl = this.lineBuf.indexOf('\n')) >= 0) {
      const [n, kind, value] = this.lineBuf.slice(0, nl).split(' ');
      this.lineBuf = this.lineBuf.slice(nl + 1);
      const id = Number(n);
      const p = this.pending.get(id);
      if (!p) continue;
      if (kind === 'p') {
        p.pid = Number(value);
        p.opts.onPid?.(p.pid);
        if (p.killed) this.kill(p);
      } else if (kind === 'x') {
        this.pending.delete(id);
        if (p.timer) clearTimeout(p.timer);
        void this.collect(id, Number(value), p);
      }
    }
  }

  private kill(p: Pending): void {
    p.killed = true;
    if (p.pid) try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
  }

  private async collect(id: number, status: number, p: Pending): Promise<void> {
    const out = this.file(id, 'out');
    const err = this.file(id, 'err');
    const [stdout, stderr] = await Promise.all([readFile(out, 'utf8').catch(() => ''), readFile(err, 'utf8').catch(() => '')]);
    void rm(out, { force: true });
    void rm(err, { force: true });
    // like a spawn killed by a signal: 128, whatever the shell reports
    p.resolve({ code: p.killed ? 128 : status, stdout, stderr });
  }

  private file(id: number, kind: 'out' | 'err'): string {
    return path.join(this.dir, `${id}.${kind}`);
  }

  /** Run `file` with `args`; never rejects for a non-zero exit (127: not found). */
  async run(file: string, args: string[], opts: LaunchOptions = {}): Promise<LaunchResult> {
    if (this.stopped) throw new Error('tool launcher stopped');
    // as spawn refuses them: a NUL cannot be quoted for the shell
    if ([file, ...args, opts.cwd ?? '', opts.fd3 ?? '', ...Object.values(opts.env ?? {})].some((a) => a.includes('\0'))) {
      throw new TypeError('arguments must be strings without null bytes');
    }
    const sh = await this.shell();
    const id = ++this.seq;
    const env = Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${shQuote(v)} `).join('');
    const cmd = [file, ...args].map(shQuote).join(' ');
    const redirects = `</dev/null >${shQuote(this.file(id, 'out'))} 2>${shQuote(this.file(id, 'err'))}${opts.fd3 ? ` 3>${shQuote(opts.fd3)}` : ''}`;
    const cd = opts.cwd ? `cd ${shQuote(opts.cwd)} 2>/dev/null || { echo '${id} x 126'; exit 0; }; ` : '';
    const line = `( { ${cd}${env}${cmd} ${redirects} & echo "${id} p $!"; wait $!; echo "${id} x $?"; } & )\n`;
    return new Promise((resolve, reject) => {
      const p: Pending = { resolve, reject, killed: false, opts };
      if (opts.timeoutMs) p.timer = setTimeout(() => this.kill(p), opts.timeoutMs);
      this.pending.set(id, p);
      sh.stdin!.write(line);
    });
  }

  get running(): boolean {
    return !this.stopped;
  }

  /** End the shell; programs it started keep running. */
  stop(): void {
    this.stopped = true;
    this.sh?.stdin?.end();
  }
}

let current: ToolLauncher | undefined;

/** The launcher runTool uses (set by the container runtime at init); undefined = spawn directly. */
export function defaultLauncher(): ToolLauncher | undefined {
  return current?.running ? current : undefined;
}

export function setDefaultLauncher(l: ToolLauncher | undefined): void {
  current = l;
}
