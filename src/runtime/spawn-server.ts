import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createConnection, type Socket } from 'node:net';
import * as path from 'node:path';
import type { Logger } from '../util/logger';

/** native/bin/berth-spawn under the repo (or package) root, unless BERTH_SPAWN names another binary. */
export function spawnServerBinary(env: NodeJS.ProcessEnv = process.env): string {
  // <root>/<outDir>/src/runtime/spawn-server.js → <root>/native/bin/berth-spawn
  return env.BERTH_SPAWN || path.resolve(__dirname, '../../../native/bin/berth-spawn');
}

const FRAME_STDOUT = 1;
const FRAME_STDERR = 2;
const FRAME_STATUS = 3;
const FRAME_EXIT = 4;
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * `berth-spawn --serve` (native/berth-spawn), started once per daemon: programs berthd runs with live
 * stdio (the runtime's exec) and mount(2) calls are requests to it, so berthd never forks itself for them
 * (a spawn from a ~100 MB Node process blocks the event loop for several ms). The server exits when its
 * stdin, a pipe from berthd, closes; programs under way run on.
 */
export class SpawnServer {
  private child?: ChildProcess;
  private ready?: Promise<void>;
  private stopped = false;

  constructor(readonly socketPath: string, private readonly log: Logger, private readonly binary = spawnServerBinary()) {}

  /** Starts the server (again, if it died); resolves once it listens. */
  start(): Promise<void> {
    this.ready ??= new Promise<void>((resolve, reject) => {
      const child = spawn(this.binary, ['--serve', this.socketPath], {
        stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: process.env.PATH || DEFAULT_PATH },
      });
      this.child = child;
      let err = '';
      child.stderr!.setEncoding('utf8').on('data', (s: string) => { err += s; });
      child.stdout!.setEncoding('utf8').once('data', () => resolve());
      child.stdin!.on('error', () => undefined);
      child.on('error', (e) => reject(new Error(`cannot start berth-spawn: ${e.message}`)));
      child.on('exit', (code, signal) => {
        if (this.child === child) { this.child = undefined; this.ready = undefined; }
        reject(new Error(`berth-spawn exited (${signal ?? code}): ${err.trim()}`));
        if (!this.stopped) this.log.warn('berth-spawn exited', { code, signal, stderr: err.trim() });
      });
    });
    const r = this.ready;
    r.catch(() => { if (this.ready === r) this.ready = undefined; });
    return r;
  }

  /** Whether the server runs or can be started (a checkout without the native build has none). */
  available(): Promise<boolean> {
    return this.start().then(() => true, () => false);
  }

  /** the server's pid while it runs (its children are the requests under way) */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Runs `file` (an absolute path) with pipes for stdout/stderr (`output`) and for stdin (`stdin`, which needs `output`). */
  async run(file: string, args: string[], opts: { stdin: boolean; output: boolean }): Promise<SpawnedProgram> {
    await this.start();
    const flags = [...(opts.stdin ? ['--stdin'] : []), ...(opts.output ? ['--output'] : [])];
    return new SpawnedProgram(createConnection({ path: this.socketPath }), [...flags, '--', file, ...args], opts.stdin);
  }

  /** mount(2) of `fstype` `source` at `target` with `options`; relative paths in them start at `cwd`. */
  mount(fstype: string, source: string, target: string, options: string, cwd: string): Promise<void> {
    return this.request(['--mount', fstype, source, target, options, cwd]);
  }

  umount(target: string, lazy = false): Promise<void> {
    return this.request(['--umount', target, ...(lazy ? ['--lazy'] : [])]);
  }

  /** One request answered by a status frame: "ok", or rejects with the server's error text. */
  private async request(args: string[]): Promise<void> {
    await this.start();
    const sock = createConnection({ path: this.socketPath });
    sock.end(requestBytes(args));
    const chunks: Buffer[] = [];
    sock.on('data', (b: Buffer) => chunks.push(b));
    await new Promise<void>((resolve, reject) => {
      sock.on('error', reject);
      sock.on('close', () => resolve());
    });
    const status = splitFrames(Buffer.concat(chunks)).frames.find((f) => f.type === FRAME_STATUS)?.data.toString('utf8');
    if (status === 'ok') return;
    throw new Error(status?.replace(/^error /, '') ?? 'no answer from berth-spawn');
  }

  /** Ends the server; programs under way run on. */
  stop(): void {
    this.stopped = true;
    this.child?.stdin?.end();
    this.child = undefined;
    this.ready = undefined;
  }
}

/**
 * A program the server runs. Events: `started` (pid), `stdout`/`stderr` (data), then `close` (exit status,
 * 128+n for a signal) once its output ended and it exited, or `error` (Error) when it could not be started
 * (or the server went away: status undefined).
 */
export class SpawnedProgram extends EventEmitter {
  pid = 0;
  private pending: Buffer = Buffer.alloc(0);
  private status?: number;
  private failure?: string;

  constructor(private readonly conn: Socket, args: string[], private readonly withStdin: boolean) {
    super();
    conn.write(requestBytes(args));
    if (!withStdin) conn.end();
    conn.on('data', (b: Buffer) => this.onData(b));
    conn.on('error', () => undefined);
    conn.on('close', () => {
      if (this.failure !== undefined) this.emit('error', new Error(this.failure));
      else if (!this.pid) this.emit('error', new Error('berth-spawn ended before the program started'));
      else this.emit('close', this.status);
    });
  }

  writeStdin(data: Buffer): void {
    if (this.withStdin && this.conn.writable) this.conn.write(data);
  }

  endStdin(): void {
    if (this.withStdin && this.conn.writable) this.conn.end();
  }

  private onData(chunk: Buffer): void {
    const { frames, rest } = splitFrames(this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk);
    for (const f of frames) {
      if (f.type === FRAME_STDOUT) this.emit('stdout', f.data);
      else if (f.type === FRAME_STDERR) this.emit('stderr', f.data);
      else if (f.type === FRAME_EXIT) this.status = Number(f.data.toString('latin1'));
      else if (f.type === FRAME_STATUS) {
        const text = f.data.toString('utf8');
        const pid = /^pid (\d+)$/.exec(text);
        if (pid) {
          this.pid = Number(pid[1]);
          this.emit('started', this.pid);
        } else if (text.startsWith('error ')) this.failure = text.slice(6);
      }
    }
    // a partial frame is copied out, so the chunk it came in can go
    this.pending = rest.length ? Buffer.from(rest) : Buffer.alloc(0);
  }
}

/** A request: u32 (big-endian) length, then the arguments, each ended by a NUL. */
function requestBytes(args: string[]): Buffer {
  const body = Buffer.from(args.map((a) => `${a}\0`).join(''));
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

/** The whole frames at the start of `buf` (u8 type, u32 big-endian length, payload) and what follows them. */
function splitFrames(buf: Buffer): { frames: { type: number; data: Buffer }[]; rest: Buffer } {
  const frames: { type: number; data: Buffer }[] = [];
  let off = 0;
  while (buf.length - off >= 5) {
    const len = buf.readUInt32BE(off + 1);
    if (buf.length - off - 5 < len) break;
    frames.push({ type: buf[off], data: buf.subarray(off + 5, off + 5 + len) });
    off += 5 + len;
  }
  return { frames, rest: buf.subarray(off) };
}

let current: SpawnServer | undefined;

/** The server of the running daemon (set by the container runtime at init), for mounts. */
export function defaultSpawnServer(): SpawnServer | undefined {
  return current;
}

export function setDefaultSpawnServer(s: SpawnServer | undefined): void {
  current = s;
}
