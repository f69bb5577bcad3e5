import { EventEmitter } from 'node:events';
import * as path from 'node:path';
import type { Socket } from 'node:net';
import type { OutputStream } from './attach-socket';
import { FRAME_EXIT, FRAME_STATUS, FRAME_STDERR, FRAME_STDOUT, requestBytes, splitFrames, type ExecServer } from './exec-server';
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
  onOutput?: (stream: OutputStream, data: Buffer) => void;
}

/**
 * A non-TTY exec: one connection to the berth-exec server (exec-server.ts), which starts the process and
 * relays its stdio. Events: `started` (pid), `exit` (code) after all output was delivered, or `failed`
 * (runc's words) when the process never started.
 */
export class NativeExecProcess extends EventEmitter {
  pid = 0;
  /** settles once berth-exec has said whether the process runs */
  readonly pidSettled: Promise<void>;
  exitCode?: number;
  failure?: string;
  private done = false;
  private dropOutput = false;
  private readonly conn: Socket;
  private pending: Buffer = Buffer.alloc(0);
  private reported?: number;
  private startFailure?: string;
  private settlePid!: () => void;

  /** Connects once the server listens; rejects when it cannot be started. */
  static async launch(server: ExecServer, o: NativeExecLaunch): Promise<NativeExecProcess> {
    await server.start();
    return new NativeExecProcess(server, o);
  }

  private constructor(server: ExecServer, private readonly o: NativeExecLaunch) {
    super();
    this.pidSettled = new Promise((resolve) => { this.settlePid = resolve; });
    const args = nativeExecArgs(o.process, o.target);
    if (o.stdin) args.unshift('--stdin');
    if (o.attach) args.unshift('--output');
    this.conn = server.connect();
    this.conn.write(requestBytes(args));
    if (!o.stdin) this.conn.end();
    this.conn.on('data', (b: Buffer) => this.onData(b));
    this.conn.on('error', () => undefined);
    this.conn.on('close', () => this.closed());
  }

  get finished(): boolean {
    return this.done;
  }

  writeStdin(data: Buffer): void {
    if (this.o.stdin && this.conn.writable) this.conn.write(data);
  }

  closeStdin(): void {
    if (this.o.stdin && this.conn.writable) this.conn.end();
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

  private onData(chunk: Buffer): void {
    const { frames, rest } = splitFrames(this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk);
    for (const f of frames) this.frame(f.type, f.data);
    // a partial frame is copied out, so the chunk it came in can go
    this.pending = rest.length ? Buffer.from(rest) : Buffer.alloc(0);
  }

  private frame(type: number, data: Buffer): void {
    if (type === FRAME_STDOUT || type === FRAME_STDERR) {
      if (!this.dropOutput && this.o.attach) this.o.onOutput?.(type === FRAME_STDOUT ? 'stdout' : 'stderr', data);
    } else if (type === FRAME_STATUS) {
      const text = data.toString('utf8');
      const pid = /^pid (\d+)$/.exec(text);
      if (pid && !this.pid) {
        this.pid = Number(pid[1]);
        this.settlePid();
        this.emit('started', this.pid);
      } else if (text.startsWith('error ')) {
        this.startFailure = text.slice(6).trim();
      }
    } else if (type === FRAME_EXIT) {
      this.reported = Number(data.toString('latin1'));
    }
  }

  private closed(): void {
    this.settlePid();
    if (!this.pid) {
      this.finish(undefined, this.startFailure ?? 'berth-exec ended before the process started');
      return;
    }
    // a server that went away mid-way has no status to give: as a process killed with it
    this.finish(this.reported ?? 137);
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
