/**
 * native/berth-logger: for non-TTY containers it owns the container's stdout/stderr/stdin, writes the
 * k8s-file log and serves attach clients, while conmon (run with `-l passthrough`) only monitors the
 * container. Why: conmon's copy loop (8 KiB reads, a write per line) alone took ~0.85 s for 200 MiB;
 * berth-logger reads 256 KiB at a time and writes the log once per read. TTY containers keep conmon's
 * k8s-file path (conmon refuses passthrough with a TTY; it holds the pty).
 */
import { accessSync, constants as fsConstants } from 'node:fs';
import { open, readFile, truncate } from 'node:fs/promises';
import { parseLogBuffer } from './k8s-log';
import * as path from 'node:path';

export interface LoggerLaunch {
  loggerPath: string;
  logPath: string;
  socketPath: string;
  pidFile: string;
  openStdin: boolean;
  stdinOnce: boolean;
  /** rotate the log past this many bytes (0 = never), keeping `maxFiles` files */
  maxSize: number;
  maxFiles: number;
  /** the log's size before this start: what a failed create wrote after it is taken back out */
  logOffset: number;
}

/** The logger socket's file name, beside conmon's `attach` in the task's socket dir. */
export const LOGGER_SOCKET = 'logger';
export const LOGGER_PIDFILE = 'logger.pid';

/**
 * native/bin/berth-logger under the repo (or package) root, unless BERTH_LOGGER names another binary or
 * says `off`; undefined when there is none (conmon then writes the log, as before). Looked up at startup.
 */
export function findLogger(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const wanted = env.BERTH_LOGGER;
  if (wanted === 'off' || wanted === '0') return undefined;
  // <root>/<outDir>/src/runtime/logger.js → <root>/native/bin/berth-logger
  const candidate = wanted || path.resolve(__dirname, '../../../native/bin/berth-logger');
  try {
    accessSync(candidate, fsConstants.X_OK);
    return candidate;
  } catch {
    return undefined;
  }
}

/** berth-logger's own arguments; conmon's argv follows after `--`. */
export function loggerArgs(o: LoggerLaunch): string[] {
  const args = ['-l', o.logPath, '-s', o.socketPath, '-p', o.pidFile];
  if (o.openStdin) args.push('-i');
  if (o.openStdin && o.stdinOnce) args.push('-o');
  if (o.maxSize > 0) args.push('-m', String(o.maxSize), '-n', String(Math.max(1, o.maxFiles)));
  return args;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Resolves once the logger recorded in `pidFile` has exited, that is: the container's output is all in the
 * log and every attached client got it. Usually at once (the logger sees EOF when the container's last
 * process exits, as conmon sees the exit); otherwise polled briefly. The process counts as this logger
 * while its command line names `pidFile`: an orphaned logger stays a zombie (empty command line) until
 * init reaps it, and a reused pid belongs to another program or another container's logger.
 */
export async function waitForLogger(pidFile: string, timeoutMs = 30_000): Promise<void> {
  let pid: string;
  try {
    pid = (await readFile(pidFile, 'utf8')).trim();
  } catch {
    return; // no logger (TTY container, or conmon's log path)
  }
  if (!/^\d+$/.test(pid)) return;
  const deadline = Date.now() + timeoutMs;
  for (let delay = 1; Date.now() < deadline; delay = Math.min(delay * 2, 50)) {
    try {
      if (!(await readFile(`/proc/${pid}/cmdline`, 'utf8')).includes(`\0${pidFile}\0`)) return;
    } catch {
      return;
    }
    await sleep(delay);
  }
}

/** Alive and not a zombie: `/proc/<pid>/stat` state. */
async function running(pid: string): Promise<boolean> {
  try {
    const m = /^\d+ \(.*\) (\S)/.exec(await readFile(`/proc/${pid}/stat`, 'utf8'));
    return !!m && m[1] !== 'Z' && m[1] !== 'X';
  } catch {
    return false;
  }
}

/**
 * For conmon in passthrough mode, which cannot report a failed `runc create` on the sync pipe (it looks
 * for runc's error on a stderr pipe of its own, and runc's stderr is the logger's): resolves with runc's
 * error text once the conmon recorded in `conmonPidFile` has died, or never while it lives. `stop()` ends
 * the watch. The error was logged as the container's stderr; it is cut from the log again (dockerd would
 * not log it either).
 */
export function watchFailedCreate(conmonPidFile: string, l: { logPath: string; logOffset: number; loggerPidFile?: string }): { failed: Promise<string>; stop(): void } {
  let stopped = false;
  const failed = (async () => {
    let pid = '';
    for (let delay = 5; !stopped; delay = Math.min(delay * 2, 100)) {
      await sleep(delay);
      if (stopped) break;
      if (!pid) pid = (await readFile(conmonPidFile, 'utf8').catch(() => '')).trim();
      if (pid && !(await running(pid))) {
        if (l.loggerPidFile) await waitForLogger(l.loggerPidFile, 5_000);
        return await takeLoggedError(l.logPath, l.logOffset);
      }
    }
    return new Promise<string>(() => { /* stopped: never */ });
  })();
  return { failed, stop: () => { stopped = true; } };
}

async function takeLoggedError(logPath: string, offset: number): Promise<string> {
  let text = '';
  try {
    const fh = await open(logPath, 'r');
    try {
      const { size } = await fh.stat();
      const buf = Buffer.alloc(Math.max(0, Math.min(size - offset, 64 * 1024)));
      await fh.read(buf, 0, buf.length, offset);
      text = parseLogBuffer(buf).filter((r) => r.stream === 'stderr').map((r) => r.data.toString()).join('');
    } finally {
      await fh.close();
    }
    await truncate(logPath, offset);
  } catch { /* no log: no text */ }
  return text.trim() || 'the OCI runtime failed to create the container';
}
