import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { Logger } from '../util/logger';
import { AttachConnection, type OutputStream } from './attach-socket';
import { moveToCgroup } from './cgroups';
import { CONMON_PATH, syncLineReader } from './conmon';

export interface ExecLaunch {
  containerId: string;
  execId: string;
  /** the session's own dir: process.json, pid, ctl, winsz, attach, exit/ (runtime.md §3) */
  dir: string;
  /** the container's OCI process with args, env, user, cwd, terminal changed */
  process: Record<string, unknown>;
  tty: boolean;
  stdin: boolean;
  /** attach the caller's streams; false = detached, output only in exec.log */
  attach: boolean;
  runtimePath: string;
  runtimeRoot: string;
  socketDir: string;
  conmonCgroup: string;
  conmonPath?: string;
  /** output of an attached session, from the first byte on */
  onOutput?: (stream: OutputStream, data: Buffer) => void;
  /** conmon closed the attach connection (the process exited and its output is drained) */
  onOutputEnd?: () => void;
}

/** conmon's sync messages carry this much of runc's stderr; keep the part a user reads. */
function runtimeMessage(message: string | undefined): string {
  let text = (message ?? 'unknown error').trim();
  const m = /msg="((?:[^"\\]|\\.)*)"/.exec(text);
  if (m) text = m[1].replace(/\\"/g, '"');
  return text;
}

/**
 * One `conmon --exec` session. Events: `started` (pid), `exit` (code) once, `failed` (runtime message)
 * instead of `exit` when the process could not be started. Output goes through `conn` when attached.
 */
export class ExecProcess extends EventEmitter {
  conn?: AttachConnection;
  pid = 0;
  exitCode?: number;
  failure?: string;
  private done = false;

  private constructor(readonly o: ExecLaunch, private readonly log: Logger) {
    super();
  }

  get socketId(): string {
    return this.o.execId.slice(0, 32);
  }

  get ctlDir(): string {
    return this.o.dir;
  }

  /** Resolves once the process runs (attached: after the attach socket is connected, so no output is lost). */
  static async launch(o: ExecLaunch, log: Logger): Promise<ExecProcess> {
    const p = new ExecProcess(o, log);
    await mkdir(path.join(o.dir, 'exit'), { recursive: true });
    await writeFile(path.join(o.dir, 'process.json'), JSON.stringify(o.process));
    await p.run();
    return p;
  }

  private args(): string[] {
    const d = this.o.dir;
    const a = [
      '--api-version', '-c', this.o.containerId, '-u', this.socketId, '-n', this.o.containerId,
      '-r', this.o.runtimePath, `--runtime-arg=--root=${this.o.runtimeRoot}`,
      '-b', d, '-p', `${d}/pid`, '-P', `${d}/conmon.pid`, '-l', `k8s-file:${d}/exec.log`,
      '--exit-dir', `${d}/exit`, '--socket-dir-path', this.o.socketDir, '--log-level', 'info',
      '-e', '--exec-process-spec', `${d}/process.json`,
    ];
    if (this.o.attach) a.push('--exec-attach');
    if (this.o.tty) a.push('-t');
    if (this.o.stdin) a.push('-i');
    return a;
  }

  private run(): Promise<void> {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', _OCI_SYNCPIPE: '3', _OCI_STARTPIPE: '4',
    };
    if (this.o.attach) env._OCI_ATTACHPIPE = '5';
    const child = spawn(this.o.conmonPath ?? CONMON_PATH, this.args(), {
      cwd: this.o.dir, detached: true, env,
      stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe', ...(this.o.attach ? ['pipe' as const] : [])],
    });
    const sync = child.stdio[3] as Readable;
    const start = child.stdio[4] as Writable;
    const attachPipe = this.o.attach ? ((child.stdio as unknown[])[5] as Readable) : undefined;
    child.stdout?.resume();
    child.stderr?.resume();
    for (const s of [sync, start, attachPipe]) s?.on('error', () => undefined);

    return new Promise((resolve, reject) => {
      let started = false;
      const fail = (msg: string) => {
        if (!started) { started = true; reject(new Error(msg)); }
        this.finish(undefined, msg);
      };
      child.on('error', (err) => fail(`cannot run conmon: ${err.message}`));
      const onMessage = (msg: { data?: number; message?: string }) => {
        if (typeof msg.data !== 'number') return;
        if (msg.data < 0) { fail(runtimeMessage(msg.message)); return; }
        if (!this.pid) {
          this.pid = msg.data;
          this.emit('started', this.pid);
          if (!started) { started = true; resolve(); }
          return;
        }
        this.finish(msg.data);
      };
      sync.setEncoding('utf8').on('data', syncLineReader(onMessage));
      sync.on('end', () => {
        start.destroy();
        attachPipe?.destroy();
        if (!this.done) fail('conmon exited before reporting the exec process');
      });
      if (attachPipe) {
        attachPipe.setEncoding('utf8').on('data', syncLineReader((msg) => {
          if (msg.data !== 0) { fail(runtimeMessage(msg.message)); return; }
          AttachConnection.connect(path.join(this.o.socketDir, this.socketId, 'attach')).then((conn) => {
            this.conn = conn;
            conn.on('output', (stream: OutputStream, data: Buffer) => this.o.onOutput?.(stream, data));
            conn.on('end', () => this.o.onOutputEnd?.());
            start.write(Buffer.from([0]));
          }, (err: Error) => {
            this.log.warn('exec attach socket connect failed', { execId: this.o.execId, error: err.message });
            this.o.onOutputEnd?.();
            start.write(Buffer.from([0]));
          });
        }));
      }
      void (async () => {
        if (child.pid) await moveToCgroup(child.pid, this.o.conmonCgroup).catch(() => undefined);
        start.write(Buffer.from([0]));
      })();
    });
  }

  private finish(code: number | undefined, failure?: string): void {
    if (this.done) return;
    this.done = true;
    this.exitCode = code;
    this.failure = failure;
    if (failure !== undefined) this.emit('failed', failure);
    else this.emit('exit', code);
    void this.cleanup();
  }

  get finished(): boolean {
    return this.done;
  }

  /** The session dir and conmon's socket symlink (left behind by conmon, runtime.md pitfall 5). */
  private async cleanup(): Promise<void> {
    // the attach connection drains before the dir goes away
    await new Promise((r) => setTimeout(r, 200));
    await rm(path.join(this.o.socketDir, this.socketId), { force: true }).catch(() => undefined);
    await rm(this.o.dir, { recursive: true, force: true }).catch(() => undefined);
  }
}
