import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { constants as osConstants } from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import type { OutputStream } from './attach-socket';
import { ALL_CAPABILITIES } from './security';

/** native/bin/berth-exec under the repo (or package) root, unless BERTH_EXEC names another binary. */
export function nativeExecBinary(env: NodeJS.ProcessEnv = process.env): string {
  // <root>/<outDir>/src/runtime/native-exec.js → <root>/native/bin/berth-exec
  return env.BERTH_EXEC || path.resolve(__dirname, '../../../native/bin/berth-exec');
}

/** The part of an OCI process berth-exec applies (berthd builds it as it would a process.json for runc). */
export interface OciExecProcess {
  args: string[];
  env?: string[];
  cwd?: string;
  user?: { uid: number; gid: number; additionalGids?: number[] };
  capabilities?: Partial<Record<'bounding' | 'effective' | 'permitted' | 'inheritable' | 'ambient', string[]>>;
  rlimits?: { type: string; soft: number | bigint; hard: number | bigint }[];
  noNewPrivileges?: boolean;
  oomScoreAdj?: number;
}

export interface ExecTarget {
  /** the container's init, whose namespaces and cgroups the process joins */
  initPid: number;
  /** the container's cgroup path (config.json's cgroupsPath): the init must still be in it */
  cgroupsPath: string;
  /** a BPF program compiled from the container's seccomp section, and seccomp(2) flags */
  seccomp?: { file: string; flags: number };
}

const RLIMITS = ['CPU', 'FSIZE', 'DATA', 'STACK', 'CORE', 'RSS', 'NPROC', 'NOFILE', 'MEMLOCK', 'AS', 'LOCKS', 'SIGPENDING',
  'MSGQUEUE', 'NICE', 'RTPRIO', 'RTTIME'];
const RLIM_INFINITY = (1n << 64n) - 1n;

function capMask(names: string[] | undefined): string {
  let mask = 0n;
  for (const n of names ?? []) {
    const bit = ALL_CAPABILITIES.indexOf(n);
    if (bit >= 0) mask |= 1n << BigInt(bit);
  }
  return mask.toString(16);
}

function rlimitValue(v: number | bigint): string {
  const b = BigInt(v);
  return (b < 0n ? RLIM_INFINITY : b).toString();
}

/** berth-exec's command line for one process (see native/berth-exec/berth-exec.c). */
export function nativeExecArgs(p: OciExecProcess, t: ExecTarget): string[] {
  const a = ['--pid', String(t.initPid), '--cgroup', t.cgroupsPath];
  if (p.user) {
    a.push('--uid', String(p.user.uid), '--gid', String(p.user.gid));
    a.push('--groups', (p.user.additionalGids ?? []).join(','));
  }
  if (p.cwd) a.push('--cwd', p.cwd);
  for (const e of p.env ?? []) a.push('--env', e);
  for (const r of p.rlimits ?? []) {
    const res = RLIMITS.indexOf(r.type.replace(/^RLIMIT_/, ''));
    if (res >= 0) a.push('--rlimit', `${res}:${rlimitValue(r.soft)}:${rlimitValue(r.hard)}`);
  }
  if (p.oomScoreAdj !== undefined) a.push('--oom-score-adj', String(p.oomScoreAdj));
  if (p.noNewPrivileges) a.push('--no-new-privs');
  const c = p.capabilities;
  if (c) a.push('--caps', [c.bounding, c.effective, c.permitted, c.inheritable, c.ambient].map(capMask).join(':'));
  if (t.seccomp) a.push('--seccomp', t.seccomp.file, '--seccomp-flags', String(t.seccomp.flags));
  a.push('--', ...p.args);
  return a;
}

export interface NativeExecLaunch {
  process: OciExecProcess;
  target: ExecTarget;
  /** the caller writes stdin (docker exec -i) */
  stdin: boolean;
  /** output goes to onOutput; false = detached, output discarded */
  attach: boolean;
  binary?: string;
  onOutput?: (stream: OutputStream, data: Buffer) => void;
}

/**
 * A non-TTY exec run by berth-exec as berthd's own child: the process gets berth-exec's stdio pipes, and
 * berth-exec exits with its status (128+n for a signal). berth-exec's own word comes on fd 3. Events:
 * `started` (pid), `exit` (code) after all output was delivered, or `failed` (runc's words) when the
 * process never started.
 */
export class NativeExecProcess extends EventEmitter {
  pid = 0;
  /** settles once berth-exec has said whether the process runs */
  readonly pidSettled: Promise<void>;
  exitCode?: number;
  failure?: string;
  private done = false;
  private dropOutput = false;
  private readonly child: ChildProcess;
  private statusText = '';

  constructor(private readonly o: NativeExecLaunch) {
    super();
    this.child = spawn(o.binary ?? nativeExecBinary(), nativeExecArgs(o.process, o.target), {
      stdio: [o.stdin ? 'pipe' : 'ignore', o.attach ? 'pipe' : 'ignore', o.attach ? 'pipe' : 'ignore', 'pipe'],
      env: {},
    });
    const { stdin, stdout, stderr } = this.child;
    stdin?.on('error', () => undefined);
    stdout?.on('data', (b: Buffer) => this.output('stdout', b));
    stderr?.on('data', (b: Buffer) => this.output('stderr', b));
    const status = this.child.stdio[3] as Readable;
    status.setEncoding('utf8');
    this.pidSettled = new Promise((resolve) => {
      status.on('data', (s: string) => {
        this.statusText += s;
        const m = /^pid (\d+)\n/.exec(this.statusText);
        if (m && !this.pid) {
          this.pid = Number(m[1]);
          this.emit('started', this.pid);
          resolve();
        }
      });
      status.on('error', () => resolve());
      status.on('close', () => resolve());
    });
    this.child.on('error', (err) => this.finish(undefined, `cannot run berth-exec: ${err.message}`));
    this.child.on('close', (code, signal) => void this.closed(code, signal));
  }

  get finished(): boolean {
    return this.done;
  }

  writeStdin(data: Buffer): void {
    const s = this.child.stdin;
    if (s && !s.destroyed && s.writable) s.write(data);
  }

  closeStdin(): void {
    const s = this.child.stdin;
    if (s && !s.destroyed) s.end();
  }

  /** The client went away: the process keeps running, its output is read and dropped, its stdin closes. */
  detach(): void {
    this.dropOutput = true;
    this.closeStdin();
  }

  /** Resolves once the process runs or exited; rejects with the reason when it never started. */
  started(): Promise<void> {
    if (this.done) return this.failure !== undefined ? Promise.reject(new Error(this.failure)) : Promise.resolve();
    if (this.pid) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.once('started', () => resolve());
      this.once('exit', () => resolve());
      this.once('failed', (msg: string) => reject(new Error(msg)));
    });
  }

  private output(stream: OutputStream, data: Buffer): void {
    if (!this.dropOutput && this.o.attach) this.o.onOutput?.(stream, data);
  }

  private async closed(code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    await this.pidSettled;
    const err = /^error (.*)\n?$/s.exec(this.statusText);
    if (!this.pid) {
      this.finish(undefined, err ? err[1].trim() : `berth-exec ended (${signal ?? code}) before the process started`);
      return;
    }
    this.finish(code ?? (signal ? 128 + (osConstants.signals[signal] ?? 0) : 1));
  }

  private finish(code: number | undefined, failure?: string): void {
    if (this.done) return;
    this.done = true;
    this.exitCode = code;
    this.failure = failure;
    if (failure !== undefined) this.emit('failed', failure);
    else this.emit('exit', code);
  }
}
