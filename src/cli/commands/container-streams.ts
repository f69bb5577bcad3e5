/** Client side of attach and logs streams: demultiplex frames onto stdout/stderr, pump stdin, TTY raw mode. */
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';

/** Splits a multiplexed stream ([stream, 0, 0, 0, uint32 BE length] + payload) into writes; raw when `tty`. */
export class FrameDemuxer {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly tty: boolean, private readonly stdout: Writable, private readonly stderr: Writable) {}

  push(chunk: Buffer): void {
    if (this.tty) {
      this.stdout.write(chunk);
      return;
    }
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.buf.length >= 8) {
      const len = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + len) break;
      const payload = this.buf.subarray(8, 8 + len);
      (this.buf[0] === 2 ? this.stderr : this.stdout).write(payload);
      this.buf = this.buf.subarray(8 + len);
    }
  }
}

export interface StreamIO {
  stdin: Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  stdout: Writable;
  stderr: Writable;
}

/**
 * Run a hijacked attach connection until the daemon ends the output. Stdin (when attached) is copied to
 * the socket and half-closed at EOF, as the docker CLI does.
 */
export function pumpAttach(sock: Socket, head: Buffer, io: StreamIO, opts: { tty: boolean; stdin: boolean }): Promise<void> {
  const demux = new FrameDemuxer(opts.tty, io.stdout, io.stderr);
  const rawTty = opts.stdin && opts.tty && io.stdin.isTTY && typeof io.stdin.setRawMode === 'function';
  if (rawTty) io.stdin.setRawMode!(true);
  if (head.length) demux.push(head);
  return new Promise((resolve) => {
    const done = () => {
      if (rawTty) io.stdin.setRawMode!(false);
      if (opts.stdin) {
        io.stdin.unpipe(sock);
        io.stdin.pause();
      }
      resolve();
    };
    sock.on('data', (c: Buffer) => demux.push(c));
    sock.on('end', done);
    sock.on('close', done);
    sock.on('error', done);
    if (opts.stdin) {
      io.stdin.on('data', (c: Buffer) => { if (!sock.destroyed) sock.write(c); });
      io.stdin.on('end', () => { if (!sock.destroyed) sock.end(); });
      io.stdin.resume();
    }
  });
}
