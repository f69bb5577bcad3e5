import type { OutputStream } from '../runtime/attach-socket';

/** The 8-byte header of a multiplexed stream frame: [stream, 0, 0, 0, uint32 BE length]; 1 = stdout, 2 = stderr. */
export function frameHeader(stream: OutputStream, length: number): Buffer {
  const h = Buffer.allocUnsafe(8);
  h.writeUInt32BE(stream === 'stderr' ? 0x02000000 : 0x01000000, 0);
  h.writeUInt32BE(length, 4);
  return h;
}

const MAX_FRAME = 32 * 1024;

/**
 * Container output on its way to an attach client. conmon sends one packet per 8 KiB read; the packets of
 * one event-loop turn leave together, consecutive packets of the same stream as one frame, in one writev.
 */
export class AttachOutput {
  private run: Buffer[] = [];
  private runLength = 0;
  private runStream: OutputStream = 'stdout';
  private ready: Buffer[] = [];
  private scheduled = false;

  /** `send` writes the buffers in order; `multiplexed` = frame headers (no TTY). */
  constructor(private readonly multiplexed: boolean, private readonly send: (bufs: Buffer[]) => void) {}

  push(stream: OutputStream, data: Buffer): void {
    if (data.length === 0) return;
    // the docker CLI reads a whole frame before it writes any of it: frames as big as dockerd's keep the pipeline moving
    if (this.multiplexed && (stream !== this.runStream || this.runLength >= MAX_FRAME)) this.closeRun();
    this.runStream = stream;
    this.run.push(data);
    this.runLength += data.length;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private closeRun(): void {
    if (this.run.length === 0) return;
    if (this.multiplexed) this.ready.push(frameHeader(this.runStream, this.runLength));
    for (const b of this.run) this.ready.push(b);
    this.run = [];
    this.runLength = 0;
  }

  /** Send what is pending now (also before the stream ends). */
  flush(): void {
    this.scheduled = false;
    this.closeRun();
    if (this.ready.length === 0) return;
    const bufs = this.ready;
    this.ready = [];
    this.send(bufs);
  }
}
