import { close as fsClose, constants as fsConstants, open as fsOpen, write as fsWrite } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Socket } from 'node:net';
import * as path from 'node:path';
import { processAlive as alive } from '../util/proc';

/**
 * Start a container that `runc create` left waiting, the way `runc start` does it, without starting runc
 * (a Go binary: ~7 ms): runc's init blocks opening `<state>/<id>/exec.fifo` for writing, writes one byte
 * once a reader is there, then execs the user's process; removing the fifo is what makes runc report the
 * container as running. The fifo is opened read-write so the open never blocks and never sees an early EOF.
 * Returns false when this cannot be done (no fifo, the init died): the caller runs `runc start`, which
 * reports the error in runc's words.
 */
export async function startThroughExecFifo(stateRoot: string, id: string, initPid: number): Promise<boolean> {
  const fifo = path.join(stateRoot, id, 'exec.fifo');
  const fd = await openNonBlocking(fifo, fsConstants.O_RDWR);
  if (fd === undefined) return false;
  const sock = new Socket({ fd, readable: true, writable: false });
  const started = await new Promise<boolean>((resolve) => {
    let done = false;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      clearInterval(check);
      resolve(ok);
    };
    sock.on('data', () => finish(true));
    sock.on('error', () => finish(false));
    sock.on('end', () => finish(false));
    // runc start polls the same way: an init that died will never write
    const check = setInterval(() => void alive(initPid).then((a) => { if (!a) finish(false); }), 100);
  });
  sock.destroy();
  if (started) await rm(fifo, { force: true });
  return started;
}

/**
 * The same for a container `crun create` left waiting: crun's init blocks reading its `exec.fifo`, and
 * `crun start` opens it for writing, unlinks it and writes one byte. A non-blocking open succeeds only
 * while the init holds the read end. Returns false (nothing changed) when it cannot be done; the caller
 * then runs `crun start`, which reports the error in crun's words.
 */
export async function startThroughCrunFifo(stateRoot: string, id: string): Promise<boolean> {
  const fifo = path.join(stateRoot, id, 'exec.fifo');
  const fd = await openNonBlocking(fifo, fsConstants.O_WRONLY);
  if (fd === undefined) return false;
  try {
    await rm(fifo);
    await new Promise<void>((resolve, reject) => fsWrite(fd, Buffer.from([0]), (err) => (err ? reject(err) : resolve())));
    return true;
  } catch {
    return false;
  } finally {
    fsClose(fd, () => undefined);
  }
}

/** The fd of `fifo` opened with `flags` and O_NONBLOCK; undefined when it cannot be opened. */
function openNonBlocking(fifo: string, flags: number): Promise<number | undefined> {
  return new Promise((resolve) => fsOpen(fifo, flags | fsConstants.O_NONBLOCK, (err, fd) => resolve(err ? undefined : fd)));
}
