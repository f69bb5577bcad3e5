import { EventEmitter } from 'node:events';
import { readFile, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { OutputStream } from './attach-socket';
import type { SpawnedProgram, SpawnServer } from './spawn-server';

export interface RuncExecLaunch {
  containerId: string;
  execId: string;
  /**
   * The full OCI process (written to a process.json) when flags cannot say it; otherwise runc starts from
   * the container's own process and applies `args`, `cwd` and `env` (runc lets a later variable win).
   */
  process?: Record<string, unknown>;
  args: string[];
  cwd?: string;
  env?: string[];
  /** holds the session's pid file (and process.json) while it runs */
  tmpDir: string;
  /** the caller writes stdin (docker exec -i) */
  stdin: boolean;
  /** output goes to onOutput; false = detached, output discarded */
  attach: boolean;
  runtimePath: string;
  runtimeRoot: string;
  /** runs the runtime (berthd does not fork itself) */
  spawner: SpawnServer;
  /** crun replaces the whole environment with `--env` and reports failures as plain lines: give it `process` */
  flavor?: 'runc' | 'crun';
  onOutput?: (stream: OutputStream, data: Buffer) => void;
}

/** runc's own failure line on stderr (logrus text format), as opposed to the process's output. */
const RUNTIME_ERROR = /(?:^|\n)time="[^"]*" level=(?:error|fatal) msg="((?:[^"\\]|\\.)*)"/;

/** When the pid file is looked for while the process runs (ms after spawn); inspect shows Pid after that. */
const PID_READ_DELAYS = [20, 80, 400];

/**
 * A non-TTY exec run by `runc exec`, started by the spawn server: runc joins the container's namespaces and
 * cgroups, passes its stdio pipes on to the process and exits with the process's status (128+n for a
 * signal). Events: `started` (pid, once the pid file is read), `exit` (code)
 * after all output was delivered, or `failed` (runc's message) when the process never started.
 */
export class RuncExecProcess extends EventEmitter {
  pid = 0;
  /** settles once the pid is known or known to be missing (inspect waits for it after the exit) */
  pidSettled: Promise<unknown> = Promise.resolve();
  exitCode?: number;
  failure?: string;
  private done = false;
  private dropOutput = false;
  private child!: SpawnedProgram;
  /** stderr chunks that look like runc's failure line: held until runc exits to tell whose they are */
  private held: Buffer[] = [];

  private constructor(private readonly o: RuncExecLaunch, private readonly base: string) {
    super();
  }

  private args(): string[] {
    const o = this.o;
    const args = ['--root', o.runtimeRoot, 'exec', '--pid-file', `${this.base}.pid`];
    if (o.process) args.push('--process', `${this.base}.json`, o.containerId);
    else {
      // a container made with -t has terminal=true in its own process
      args.push('--tty=false');
      if (o.cwd) args.push('--cwd', o.cwd);
      for (const e of o.env ?? []) args.push('--env', e);
      args.push(o.containerId, ...o.args);
    }
    return args;
  }

  private async run(): Promise<void> {
    const o = this.o;
    // stderr always comes back: runc's own failure line is read from it
    this.child = await o.spawner.run(o.runtimePath, this.args(), { stdin: o.stdin, output: true });
    this.child.on('stdout', (b: Buffer) => this.output('stdout', b));
    this.child.on('stderr', (b: Buffer) => {
      if (this.held.length || this.mayBeRuntimeError(b)) this.held.push(b);
      else this.output('stderr', b);
    });
    // crun's failure lines have no format of their own, but crun writes the pid file before the process
    // runs: stderr before the pid is known is held until the pid file says whose it is
    if (this.crun) this.child.once('stderr', () => void this.readPid());
    this.child.on('error', (err: Error) => this.finish(undefined, `cannot run ${path.basename(o.runtimePath)}: ${err.message}`));
    this.child.on('close', (code: number | undefined) => void this.closed(code ?? null));
    for (const ms of PID_READ_DELAYS) setTimeout(() => { if (!this.pid && !this.done) void this.readPid(); }, ms).unref();
  }

  static async launch(o: RuncExecLaunch): Promise<RuncExecProcess> {
    const base = path.join(o.tmpDir, `exec-${o.execId}`);
    if (o.process) await writeFile(`${base}.json`, JSON.stringify(o.process));
    const p = new RuncExecProcess(o, base);
    await p.run();
    return p;
  }

  get finished(): boolean {
    return this.done;
  }

  writeStdin(data: Buffer): void {
    if (this.o.stdin) this.child.writeStdin(data);
  }

  closeStdin(): void {
    if (this.o.stdin) this.child.endStdin();
  }

  /** The client went away: the process keeps running, its output is read and dropped, its stdin closes. */
  detach(): void {
    this.dropOutput = true;
    this.closeStdin();
  }

  /** Resolves once the process runs (pid known) or exited; rejects with runc's message when it never started. */
  started(): Promise<void> {
    return new Promise((resolve, reject) => {
      const poll = async () => {
        if (this.done) { if (this.failure !== undefined) reject(new Error(this.failure)); else resolve(); return; }
        if (this.pid || (await this.readPid())) { resolve(); return; }
        setTimeout(() => void poll(), 5);
      };
      this.once('failed', (msg: string) => reject(new Error(msg)));
      this.once('exit', () => resolve());
      void poll();
    });
  }

  private get crun(): boolean {
    return this.o.flavor === 'crun';
  }

  private mayBeRuntimeError(b: Buffer): boolean {
    return this.crun ? !this.pid : RUNTIME_ERROR.test(b.toString('latin1'));
  }

  private releaseHeld(): void {
    const held = this.held;
    this.held = [];
    if (this.o.attach) for (const b of held) this.output('stderr', b);
  }

  private output(stream: OutputStream, data: Buffer): void {
    if (!this.dropOutput && this.o.attach) this.o.onOutput?.(stream, data);
  }

  private async readPid(): Promise<boolean> {
    try {
      const pid = Number.parseInt(await readFile(`${this.base}.pid`, 'utf8'), 10);
      if (!(pid > 0) || this.pid) return this.pid > 0;
      this.pid = pid;
      if (this.crun && !this.done) this.releaseHeld();
      this.emit('started', pid);
      return true;
    } catch {
      return false;
    }
  }

  private async closed(code: number | null): Promise<void> {
    if (this.done) return;
    const errText = Buffer.concat(this.held).toString('utf8');
    const m = this.crun ? /([^\n]+)\n?$/.exec(errText) : RUNTIME_ERROR.exec(errText);
    if (code === 255 && m) {
      // the runtime writes the pid file only once the process runs: no pid file and its error line = never started
      if (!this.pid) await this.readPid();
      if (!this.pid) {
        this.finish(undefined, this.crun ? inRuncWords(m[1].trim()) : m[1].replace(/\\(["\\])/g, '$1'));
        return;
      }
    }
    if (!this.pid) this.pidSettled = this.readPid();
    if (this.held.length && this.o.attach) this.output('stderr', Buffer.from(errText));
    this.held = [];
    const status = code ?? 1;
    this.finish(status);
  }

  private finish(code: number | undefined, failure?: string): void {
    if (this.done) return;
    this.done = true;
    this.exitCode = code;
    this.failure = failure;
    if (failure !== undefined) this.emit('failed', failure);
    else this.emit('exit', code);
    void this.pidSettled.then(() => Promise.all([
      this.o.process ? rm(`${this.base}.json`, { force: true }) : undefined,
      rm(`${this.base}.pid`, { force: true }),
    ])).catch(() => undefined);
  }
}

/** crun's two common exec failures in the words runc (and so dockerd) uses; others stay crun's. */
export function inRuncWords(msg: string): string {
  const missing = /^executable file `(.+)` not found in \$PATH: No such file or directory$/.exec(msg);
  if (missing) return `exec failed: unable to start container process: exec: "${missing[1]}": executable file not found in $PATH`;
  const cwd = /^chdir `(.+)`: No such file or directory$/.exec(msg);
  if (cwd) return `exec failed: unable to start container process: chdir to cwd ("${cwd[1]}") set in config.json failed: no such file or directory`;
  return msg;
}
