import type { AttachClient, OutputStream } from '../runtime/attach-socket';

/** Where an attach session's output goes (the API layer frames it for the hijacked connection). */
export interface AttachSink {
  output(stream: OutputStream, data: Buffer): void;
  /** the stream is over: the container exited, or the session could not connect */
  end(): void;
  /**
   * The fd of the client's own connection (hijacked, multiplexed framing, nothing left unsent), when the
   * output may be written to it by another process; the sink keeps it open until `end`.
   */
  directFd?(): number | undefined;
}

export interface AttachOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

/** The caller's side of an attach session. */
export interface AttachHandle {
  writeStdin(data: Buffer): void;
  /** the client half-closed: pass EOF on to the container's stdin */
  closeStdin(): void;
  /** the client went away */
  detach(): void;
}

/**
 * One client attached to one container. A session opened before the container starts is *pending*: it is
 * connected to conmon's attach socket after the task is created and before it starts, so no output is lost
 * (that is the order `docker run` uses: attach, wait, then start). Stdin written meanwhile is buffered.
 */
export class AttachSession implements AttachHandle {
  private conn?: AttachClient;
  private pendingStdin: Buffer[] = [];
  private stdinClosed = false;
  private finished = false;
  private detached = false;

  constructor(readonly opts: AttachOptions, private readonly sink: AttachSink, private readonly onDone: (s: AttachSession) => void) {}

  bind(conn: AttachClient): void {
    if (this.detached) {
      conn.close();
      return;
    }
    this.conn = conn;
    conn.on('output', (stream: OutputStream, data: Buffer) => {
      if ((stream === 'stdout' && this.opts.stdout) || (stream === 'stderr' && this.opts.stderr)) this.sink.output(stream, data);
    });
    conn.on('end', () => this.finish());
    for (const b of this.pendingStdin) conn.writeStdin(b);
    this.pendingStdin = [];
    if (this.stdinClosed) conn.closeStdin();
  }

  /**
   * Before the container starts (nothing was sent yet, so nothing can come out of order): let the
   * runtime's logger write the output straight to the client (runtime/logger-attach.ts). Sessions with
   * stdin keep going through berthd (detach keys, stdin framing).
   */
  async bindBeforeStart(conn: AttachClient): Promise<void> {
    const fd = !this.opts.stdin && conn.handover && !this.detached ? this.sink.directFd?.() : undefined;
    if (fd !== undefined) await conn.handover!(fd, this.opts.stdout, this.opts.stderr);
    this.bind(conn);
  }

  writeStdin(data: Buffer): void {
    if (!this.opts.stdin || this.stdinClosed) return;
    if (this.conn) this.conn.writeStdin(data);
    else this.pendingStdin.push(data);
  }

  closeStdin(): void {
    if (!this.opts.stdin || this.stdinClosed) return;
    this.stdinClosed = true;
    this.conn?.closeStdin();
  }

  detach(): void {
    this.detached = true;
    this.conn?.close();
    this.onDone(this);
  }

  /** End the output stream once (container exited, or it will not start). */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.onDone(this);
    this.sink.end();
  }
}

/** Pending attach sessions per container, waiting for the next start. */
export class AttachHub {
  private readonly pending = new Map<string, Set<AttachSession>>();

  add(id: string, s: AttachSession): void {
    let set = this.pending.get(id);
    if (!set) this.pending.set(id, (set = new Set()));
    set.add(s);
  }

  remove(id: string, s: AttachSession): void {
    const set = this.pending.get(id);
    if (!set) return;
    set.delete(s);
    if (set.size === 0) this.pending.delete(id);
  }

  /** Connect every pending session of `id` (after task create, before task start). */
  async connectPending(id: string, connect: () => Promise<AttachClient>): Promise<void> {
    const set = this.pending.get(id);
    if (!set) return;
    this.pending.delete(id);
    await Promise.all([...set].map(async (s) => {
      try {
        await s.bindBeforeStart(await connect());
      } catch {
        s.finish();
      }
    }));
  }

  /** End pending sessions: their container was removed, or its start failed. */
  endPending(id: string): void {
    const set = this.pending.get(id);
    if (!set) return;
    this.pending.delete(id);
    for (const s of set) s.finish();
  }
}
