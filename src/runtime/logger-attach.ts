import { EventEmitter } from 'node:events';
import { Socket, connect } from 'node:net';
import type { AttachClient, OutputStream } from './attach-socket';

/** Frame header both ways: a type byte + u32 BE length (native/berth-logger/attach.c). */
const HEADER = 5;
/** logger → client: 2 stdout, 3 stderr (conmon's numbers), 0 the answer to a handover */
const FROM_STDERR = 3;
const FROM_CONTROL = 0;
/** client → logger */
const TO_STDIN = 1;
const TO_HANDOVER = 2;
/** how long connect waits for the logger's first frame (loggers older than that frame send none) */
const READY_WAIT_MS = 250;

/**
 * A client of berth-logger's attach socket (a stream socket; see native/berth-logger/attach.c). Output
 * and stdin go as frames; a half-close ends the container's stdin when the container runs with StdinOnce.
 * Events: `output` (stream, data) and `end`.
 */
export class LoggerAttachConnection extends EventEmitter implements AttachClient {
  private ended = false;
  private pending: Buffer[] = [];
  private pendingLen = 0;
  /** payload bytes still missing from the frame being read, and its stream */
  private need = 0;
  private type = 0;
  private control: Buffer[] = [];
  private answer?: (ok: boolean) => void;

  private constructor(private readonly sock: Socket) {
    super();
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    sock.on('end', () => this.finish());
    sock.on('close', () => this.finish());
    sock.on('error', () => this.finish());
  }

  /**
   * Resolves once the logger has registered the connection (its first, empty control frame): output the
   * container writes from then on reaches this client. A logger from before that frame gets READY_WAIT_MS.
   */
  static connect(socketPath: string): Promise<LoggerAttachConnection> {
    return new Promise((resolve, reject) => {
      const sock = connect(socketPath);
      const fail = (err: Error) => reject(err);
      sock.once('error', fail);
      sock.once('connect', () => {
        sock.off('error', fail);
        const conn = new LoggerAttachConnection(sock);
        const done = () => { clearTimeout(timer); resolve(conn); };
        const timer = setTimeout(done, READY_WAIT_MS);
        conn.once('ready', done);
        conn.once('end', done);
      });
    });
  }

  /**
   * Payload bytes go out as views of the socket's chunks (a frame split across chunks gives several
   * outputs): no copy on the 200 MiB path. Only a header split across chunks is put together.
   */
  private onData(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.need > 0) {
        const n = Math.min(this.need, chunk.length - off);
        const part = chunk.subarray(off, off + n);
        this.need -= n;
        off += n;
        if (this.type !== FROM_CONTROL) this.emit('output', this.type === FROM_STDERR ? 'stderr' : 'stdout', part);
        else {
          this.control.push(part);
          if (this.need === 0) this.onControl(Buffer.concat(this.control));
        }
        continue;
      }
      let hdr: Buffer;
      if (this.pendingLen === 0 && chunk.length - off >= HEADER) {
        hdr = chunk.subarray(off, off + HEADER);
        off += HEADER;
      } else {
        const n = Math.min(HEADER - this.pendingLen, chunk.length - off);
        this.pending.push(chunk.subarray(off, off + n));
        this.pendingLen += n;
        off += n;
        if (this.pendingLen < HEADER) return;
        hdr = Buffer.concat(this.pending);
        this.pending = [];
        this.pendingLen = 0;
      }
      this.type = hdr[0];
      this.need = hdr.readUInt32BE(1);
      this.control = [];
      if (this.type === FROM_CONTROL && this.need === 0) this.emit('ready');
    }
  }

  private onControl(msg: Buffer): void {
    const answer = this.answer;
    this.answer = undefined;
    answer?.(msg[0] === 1);
  }

  /**
   * Hand the docker client's connection (fd `fd` in this process) to the logger, which then writes this
   * session's output there itself, in docker's multiplexed framing; resolves false when it refused (the
   * output then keeps coming through this connection). The caller keeps its fd open and must not write
   * to it until this connection ends.
   */
  handover(fd: number, stdout: boolean, stderr: boolean): Promise<boolean> {
    if (this.ended || this.answer) return Promise.resolve(false);
    return new Promise((resolve) => {
      this.answer = resolve;
      const msg = Buffer.alloc(HEADER + 5);
      msg[0] = TO_HANDOVER;
      msg.writeUInt32BE(5, 1);
      msg.writeUInt32BE(fd, HEADER);
      msg[HEADER + 4] = (stdout ? 1 : 0) | (stderr ? 2 : 0);
      this.sock.write(msg);
    });
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.onControl(Buffer.from([0]));
    this.emit('end');
  }

  writeStdin(data: Buffer): void {
    if (this.ended || data.length === 0) return;
    const hdr = Buffer.allocUnsafe(HEADER);
    hdr[0] = TO_STDIN;
    hdr.writeUInt32BE(data.length, 1);
    this.sock.cork();
    this.sock.write(hdr);
    this.sock.write(data);
    this.sock.uncork();
  }

  closeStdin(): void {
    if (!this.ended) this.sock.end();
  }

  close(): void {
    this.sock.destroy();
    this.finish();
  }

  get isEnded(): boolean {
    return this.ended;
  }
}
