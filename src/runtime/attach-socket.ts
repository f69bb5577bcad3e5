import { EventEmitter } from 'node:events';
import { SeqpacketSocket } from 'node-unix-socket';

export type OutputStream = 'stdout' | 'stderr';

/**
 * One attached client's connection, to conmon's attach socket (AttachConnection) or to berth-logger's
 * (LoggerAttachConnection). Events: `output` (stream, data) and `end`.
 */
export interface AttachClient extends EventEmitter {
  writeStdin(data: Buffer): void;
  /** half-close: the container's stdin ends (StdinOnce) */
  closeStdin(): void;
  close(): void;
  readonly isEnded: boolean;
  /** berth-logger only: write this session's output straight to the docker client's connection `fd` */
  handover?(fd: number, stdout: boolean, stderr: boolean): Promise<boolean>;
}

/** conmon → client packets start with one stream byte (runtime.md §2). */
const STREAM_STDOUT = 2;
const STREAM_STDERR = 3;
/** conmon reads at most this much per packet and silently truncates the rest. */
const MAX_STDIN_PACKET = 32 * 1024;

/**
 * A client of conmon's attach socket (AF_UNIX SOCK_SEQPACKET). Events: `output` (stream, data) and
 * `end` (conmon closed the connection: the container exited, or the socket went away).
 */
export class AttachConnection extends EventEmitter implements AttachClient {
  private readonly sock = new SeqpacketSocket();
  private ended = false;

  private constructor() {
    super();
    this.sock.on('data', (packet: Buffer) => {
      if (packet.length < 1) return;
      const stream = packet[0] === STREAM_STDERR ? 'stderr' : packet[0] === STREAM_STDOUT ? 'stdout' : undefined;
      if (stream) this.emit('output', stream, packet.subarray(1));
    });
    this.sock.on('end', () => this.finish());
    this.sock.on('close', () => this.finish());
    this.sock.on('error', () => this.finish());
  }

  static connect(socketPath: string): Promise<AttachConnection> {
    return new Promise((resolve, reject) => {
      const c = new AttachConnection();
      try {
        c.sock.connect(socketPath, () => resolve(c));
      } catch (err) {
        reject(err);
      }
      c.sock.once('error', reject);
    });
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.emit('end');
  }

  /** Send stdin bytes, split into packets conmon reads whole. */
  writeStdin(data: Buffer): void {
    if (this.ended) return;
    for (let off = 0; off < data.length; off += MAX_STDIN_PACKET) {
      const part = data.subarray(off, Math.min(off + MAX_STDIN_PACKET, data.length));
      this.sock.write(part);
    }
  }

  /** Half-close: conmon closes the container's stdin unless it runs with --leave-stdin-open. */
  closeStdin(): void {
    if (!this.ended) this.sock.end();
  }

  close(): void {
    try {
      this.sock.destroy();
    } catch { /* already closed */ }
    this.finish();
  }

  get isEnded(): boolean {
    return this.ended;
  }
}
