import { spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { internal } from '../errors';
import type { Logger } from '../util/logger';
import { moveToCgroup } from './cgroups';

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
    '-l', `k8s-file:${o.logPath}`,
    '--exit-dir', o.exitDir, '--socket-dir-path', o.socketDir,
    '--log-level', 'info', '-0', o.containerDir,
  ];
  if (o.tty) args.push('-t');
  if (o.openStdin) {
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
    let syncBuf = '';
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
    sync.on('data', (chunk: string) => {
      syncBuf += chunk;
      let nl: number;
      while ((nl = syncBuf.indexOf('\n')) >= 0) {
        const line = syncBuf.slice(0, nl).trim();
        syncBuf = syncBuf.slice(nl + 1);
        if (!line) continue;
        let msg: { data?: number; message?: string };
        try {
          msg = JSON.parse(line);
        } catch {
          continue;
        }
        if (typeof msg.data !== 'number') continue;
        if (msg.data < 0) finish(internal(runtimeErrorText(msg.message)));
        else finish(null, { pid: msg.data });
        return;
      }
    });
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

/** runc's create error, without its log framing, in the words dockerd uses for a failed start. */
function runtimeErrorText(message: string | undefined): string {
  let text = (message ?? 'unknown error').trim();
  const m = /msg="((?:[^"\\]|\\.)*)"/.exec(text);
  if (m) text = m[1].replace(/\\"/g, '"');
  return `failed to create task for container: OCI runtime create failed: ${text}`;
}
