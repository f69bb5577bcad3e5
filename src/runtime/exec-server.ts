import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection, type Socket } from 'node:net';
import type { Logger } from '../util/logger';
import { nativeExecBinary } from './native-exec';

/**
 * `berth-exec --serve`, started once per daemon: each exec is a connection to it, so berthd never forks
 * itself for one (a spawn from a ~100 MB Node process blocks the event loop for several ms). The server
 * exits when its stdin, a pipe from berthd, closes; execs under way go on to their end.
 */
export class ExecServer {
  private child?: ChildProcess;
  private ready?: Promise<void>;
  private stopped = false;

  constructor(readonly socketPath: string, private readonly log: Logger, private readonly binary = nativeExecBinary()) {}

  /** Starts the server (again, if it died); resolves once it listens. */
  start(): Promise<void> {
    this.ready ??= new Promise<void>((resolve, reject) => {
      const child = spawn(this.binary, ['--serve', this.socketPath], { stdio: ['pipe', 'pipe', 'pipe'], env: {} });
      this.child = child;
      let err = '';
      child.stderr!.setEncoding('utf8').on('data', (s: string) => { err += s; });
      child.stdout!.setEncoding('utf8').once('data', () => resolve());
      child.stdin!.on('error', () => undefined);
      child.on('error', (e) => reject(new Error(`cannot start berth-exec: ${e.message}`)));
      child.on('exit', (code, signal) => {
        if (this.child === child) { this.child = undefined; this.ready = undefined; }
        reject(new Error(`berth-exec --serve exited (${signal ?? code}): ${err.trim()}`));
        if (!this.stopped) this.log.warn('berth-exec server exited', { code, signal, stderr: err.trim() });
      });
    });
    const r = this.ready;
    r.catch(() => { if (this.ready === r) this.ready = undefined; });
    return r;
  }

  /** the server's pid while it runs (its children are the execs under way) */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** A connection for one exec (the server is started first if needed; the socket queues writes until then). */
  connect(): Socket {
    const sock = createConnection({ path: this.socketPath });
    return sock;
  }

  /** One request answered by a status frame: "ok", or rejects with the server's error text. */
  async request(args: string[]): Promise<void> {
    await this.start();
    const sock = this.connect();
    sock.end(requestBytes(args));
    const chunks: Buffer[] = [];
    sock.on('data', (b: Buffer) => chunks.push(b));
    await new Promise<void>((resolve, reject) => {
      sock.on('error', reject);
      sock.on('close', () => resolve());
    });
    const { frames } = splitFrames(Buffer.concat(chunks));
    const status = frames.find((f) => f.type === FRAME_STATUS)?.data.toString('utf8');
    if (status === 'ok') return;
    throw new Error(status?.replace(/^error /, '') ?? 'no answer from berth-exec');
  }

  /** mount(2) of `fstype` `source` at `target` with `options`; relative paths in them start at `cwd`. */
  mount(fstype: string, source: string, target: string, options: string, cwd: string): Promise<void> {
    return this.request(['--mount', fstype, source, target, options, cwd]);
  }

  umount(target: string, lazy = false): Promise<void> {
    return this.request(['--umount', target, ...(lazy ? ['--lazy'] : [])]);
  }

  /** Ends the server; execs under way keep running. */
  stop(): void {
    this.stopped = true;
    this.child?.stdin?.end();
    this.child = undefined;
    this.ready = undefined;
  }
}

export const FRAME_STDOUT = 1;
export const FRAME_STDERR = 2;
export const FRAME_STATUS = 3;
export const FRAME_EXIT = 4;

/** A request: u32 (big-endian) length, then the arguments, each ended by a NUL. */
export function requestBytes(args: string[]): Buffer {
  const body = Buffer.from(args.map((a) => `${a}\0`).join(''));
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

/** The whole frames at the start of `buf` (u8 type, u32 big-endian length, payload) and what follows them. */
export function splitFrames(buf: Buffer): { frames: { type: number; data: Buffer }[]; rest: Buffer } {
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

let current: ExecServer | undefined;

/** The server of the running daemon (set by the container runtime at init), for mounts. */
export function defaultExecServer(): ExecServer | undefined {
  return current;
}

export function setDefaultExecServer(s: ExecServer | undefined): void {
  current = s;
}
