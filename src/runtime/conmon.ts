import { spawn } from 'node:child_process';
import { constants as fsConstants, open as fsOpen } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { internal } from '../errors';
import type { Logger } from '../util/logger';
import { moveToCgroup } from './cgroups';
import type { FifoPool } from './fifo-pool';
import { loggerArgs, watchFailedCreate, type LoggerLaunch } from './logger';
import type { ToolLauncher } from './tool-launcher';

export interface ConmonLaunch {
  /** container id (`-c`) and runtime id */
  id: string;
  /** short id used for the attach socket dir name (`-u`), keeps sun_path short */
  socketId: string;
  name: string;
  bundleDir: string;
  /** conmon's cwd and persist dir (`exit`, `oom`, `conmon.pid`) */
  containerDir: string;
  logPath: string;
  exitDir: string;
  socketDir: string;
  runtimePath: string;
  runtimeRoot: string;
  tty: boolean;
  openStdin: boolean;
  stdinOnce: boolean;
  /** relative cgroup path conmon itself is moved into before it is released */
  conmonCgroup: string;
  /** non-TTY only: berth-logger owns the container's stdio and log; conmon runs with `-l passthrough` */
  logger?: LoggerLaunch;
  /** the log's size before this start: a failed create's error is read (and cut) from there */
  logOffset?: number;
}

export interface ConmonResult {
  /** the container's init pid on the host */
  pid: number;
}

export const CONMON_PATH = '/usr/bin/conmon';

export function conmonArgs(o: ConmonLaunch): string[] {
  const args = [
    '--api-version',
    '-c', o.id, '-u', o.socketId, '-n', o.name,
    '-r', o.runtimePath, `--runtime-arg=--root=${o.runtimeRoot}`,
    '-b', o.bundleDir, '-p', `${o.bundleDir}/pidfile`, '-P', `${o.containerDir}/conmon.pid`,
    '-l', o.logger ? 'passthrough' : `k8s-file:${o.logPath}`,
    '--exit-dir', o.exitDir, '--socket-dir-path', o.socketDir,
    // in passthrough mode conmon's stderr is the container's until it forks runc: nothing of its own there
    '--log-level', o.logger ? 'error' : 'info', '-0', o.containerDir,
    // conmon would fsync the log when the container exits: durable against power loss, ~ms on every exit
    '--no-sync-log',
  ];
  if (o.tty) args.push('-t');
  // with the logger, stdin is the logger's pipe, which conmon passes through as it is
  if (o.openStdin && !o.logger) {
    args.push('-i');
    // Without it, the first attach client that disconnects closes stdin for good (runtime.md pitfall 8).
    // With a TTY, dockerd never closes stdin on a client's EOF (detach keys, `docker attach` later).
    if (!o.stdinOnce || o.tty) args.push('--leave-stdin-open');
  }
  return args;
}

/**
 * Launch conmon, which runs `runtime create` and then monitors the container. Protocol (runtime.md §1):
 * fd 3 is the sync pipe (JSON `{"data": pid}` or `{"data": -1, "message": ...}`), fd 4 the start pipe.
 * conmon is moved into its own cgroup before the start byte is written, so it outlives berthd.
 */
export function launchConmon(o: ConmonLaunch, log: Logger, conmonPath = CONMON_PATH): Promise<ConmonResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(conmonPath, conmonArgs(o), {
      cwd: o.containerDir,
      detached: true,
      env: { PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', _OCI_SYNCPIPE: '3', _OCI_STARTPIPE: '4' },
      stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
    });
    let settled = false;
    let diag = '';
    const sync = child.stdio[3] as Readable;
    const start = child.stdio[4] as Writable;
    const finish = (err: Error | null, res?: ConmonResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sync.destroy();
      start.destroy();
      child.stdout?.destroy();
      child.stderr?.destroy();
      if (err) reject(err);
      else resolve(res!);
    };
    const timer = setTimeout(() => finish(internal(`conmon did not report the container within 30s${diag ? `: ${diag.trim()}` : ''}`)), 30_000);
    child.stdout?.setEncoding('utf8').on('data', (c: string) => (diag += c));
    child.stderr?.setEncoding('utf8').on('data', (c: string) => (diag += c));
    child.on('error', (err) => finish(internal(`cannot run conmon: ${err.message}`)));
    sync.setEncoding('utf8');
    sync.on('error', () => { /* conmon closing its end early shows up as 'end' below */ });
    start.on('error', () => { /* same */ });
    sync.on('data', syncLineReader((msg) => {
      if (msg.data < 0) finish(internal(runtimeErrorText(msg.message)));
      else finish(null, { pid: msg.data });
    }));
    sync.on('end', () => finish(internal(`conmon exited before reporting the container${diag ? `: ${diag.trim()}` : ''}`)));

    void (async () => {
      if (child.pid) {
        const failed = await moveToCgroup(child.pid, o.conmonCgroup);
        if (failed.length) log.debug('conmon not moved into some cgroups', { failed });
      }
      if (!settled) start.write(Buffer.from([0]));
    })();
  });
}

/**
 * Launch conmon through the tool launcher, whose shell already sits in conmon's cgroup: no start pipe and
 * no cgroup move. The sync pipe is a fifo that berthd opens read-write (so it never sees a premature EOF);
 * a conmon that fails before it daemonizes shows up as its exit status instead.
 */
export async function launchConmonVia(launcher: ToolLauncher, fifos: FifoPool, o: ConmonLaunch, conmonPath = CONMON_PATH): Promise<ConmonResult> {
  const fifo = await fifos.take();
  const fd = await new Promise<number>((resolve, reject) => {
    fsOpen(fifo, fsConstants.O_RDWR | fsConstants.O_NONBLOCK, (err, d) => (err ? reject(err) : resolve(d)));
  });
  const sync = new Socket({ fd, readable: true, writable: false });
  let deathWatch: ReturnType<typeof watchFailedCreate> | undefined;
  try {
    return await new Promise<ConmonResult>((resolve, reject) => {
      let settled = false;
      const finish = (err: Error | null, res?: ConmonResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        deathWatch?.stop();
        if (err) reject(err);
        else resolve(res!);
      };
      const timer = setTimeout(() => finish(internal('conmon did not report the container within 30s')), 30_000);
      sync.on('error', () => { /* closed below */ });
      const lines = syncLineReader((msg) => {
        if (msg.data < 0) finish(internal(runtimeErrorText(msg.message)));
        else finish(null, { pid: msg.data });
      });
      sync.setEncoding('utf8').on('data', lines);
      // berth-logger forks itself off and execs conmon in its place, so the launcher sees conmon as before
      const [file, args] = o.logger ? [o.logger.loggerPath, [...loggerArgs(o.logger), '--', conmonPath, ...conmonArgs(o)]] : [conmonPath, conmonArgs(o)];
      launcher.run(file, args, { cwd: o.containerDir, env: { _OCI_SYNCPIPE: '3' }, fd3: fifo })
        .then((r) => {
          if (r.code !== 0) finish(internal(`conmon failed (exit ${r.code})${r.stderr.trim() || r.stdout.trim() ? `: ${(r.stderr + r.stdout).trim()}` : ''}`));
          else if (!settled) {
            // conmon reports runc's error only when it can read it from runc's stderr (never in passthrough
            // mode, and not when its log loop got there first): a conmon that dies without reporting is a
            // failed create, with runc's message in the container's log
            const log = o.logger
              ? { logPath: o.logger.logPath, logOffset: o.logger.logOffset, loggerPidFile: o.logger.pidFile }
              : { logPath: o.logPath, logOffset: o.logOffset ?? 0 };
            deathWatch = watchFailedCreate(`${o.containerDir}/conmon.pid`, log);
            void deathWatch.failed.then((text) => finish(internal(runtimeErrorText(text))));
          }
        }, (err: Error) => finish(internal(`cannot run conmon: ${err.message}`)));
    });
  } finally {
    sync.destroy();
    void rm(fifo, { force: true });
  }
}

/** Feeds sync-pipe text; calls `onMessage` for each JSON line that carries a numeric `data`. */
export function syncLineReader(onMessage: (msg: { data: number; message?: string }) => void): (chunk: string) => void {
  let buf = '';
  return (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!line) continue;
      let msg: { data?: number; message?: string };
      try {
        msg = JSON.parse(line);
      } catch {
        continue;
      }
      if (typeof msg.data === 'number') onMessage(msg as { data: number; message?: string });
    }
  };
}

/** runc's create error, without its log framing, in the words dockerd uses for a failed start. */
function runtimeErrorText(message: string | undefined): string {
  let text = (message ?? 'unknown error').trim();
  const m = /msg="((?:[^"\\]|\\.)*)"/.exec(text);
  if (m) text = m[1].replace(/\\"/g, '"');
  return `failed to create task for container: OCI runtime create failed: ${text}`;
}
