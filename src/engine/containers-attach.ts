import type { AttachClient, OutputStream } from '../runtime/attach-socket';
import type { Logger } from '../util/logger';
import { processAlive } from '../util/proc';

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
  /** something went to the client, or to the container's stdin, through the bound connection */
  private used = false;

  constructor(readonly opts: AttachOptions, private readonly sink: AttachSink, private readonly onDone: (s: AttachSession) => void) {}

  bind(conn: AttachClient): void {
    if (this.detached) {
      conn.close();
      return;
    }
    this.conn = conn;
    conn.on('output', (stream: OutputStream, data: Buffer) => {
      if ((stream === 'stdout' && this.opts.stdout) || (stream === 'stderr' && this.opts.stderr)) {
        this.used = true;
        this.sink.output(stream, data);
      }
    });
    conn.on('end', () => this.finish());
    if (this.pendingStdin.length || this.stdinClosed) this.used = true;
    for (const b of this.pendingStdin) conn.writeStdin(b);
    this.pendingStdin = [];
    if (this.stdinClosed) conn.closeStdin();
  }

  /**
   * Undo a bind through which nothing passed yet (the container turned out to have exited as the session
   * connected): the connection is dropped and the session can wait for the next start. False when it was used.
   */
  unbind(): boolean {
    const conn = this.conn;
    if (!conn || this.used || this.finished || this.detached) return false;
    this.conn = undefined;
    conn.removeAllListeners('output');
    conn.removeAllListeners('end');
    conn.close();
    return true;
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
    if (this.conn) {
      this.used = true;
      this.conn.writeStdin(data);
    }
    else this.pendingStdin.push(data);
  }

  closeStdin(): void {
    if (!this.opts.stdin || this.stdinClosed) return;
    this.stdinClosed = true;
    if (this.conn) this.used = true;
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

export interface ConnectDeps {
  id: string;
  /** the container's status and init pid when the client asked */
  status: string;
  initPid: number;
  runtime: { exitCode(id: string): Promise<number | undefined>; attach(id: string): Promise<AttachClient> };
  hub: AttachHub;
  log: Logger;
  stillRunning(): boolean;
  /** resolves once the exit is handled (the state says exited), or after a timeout */
  stopped(): Promise<void>;
}

/**
 * Connect a new session: to the running container, or as pending until its next start.
 *
 * A container whose process already exited (its exit not handled yet) is attached as a stopped one: the
 * session waits for the next start instead of meeting a conmon that is closing. docker-compose run (its
 * SDK path) attaches after its start, then inspects and starts the container again if it stopped; so the
 * session is answered only once inspect says stopped too, or compose waits on a container it thinks runs.
 * The init is checked again once connected: one that died meanwhile may have had its last output read
 * already, so an unused connection is dropped and the session waits for the next start instead.
 */
export async function connectSession(session: AttachSession, d: ConnectDeps): Promise<void> {
  if (d.status === 'running' && (await d.runtime.exitCode(d.id)) === undefined) {
    const conn = await d.runtime.attach(d.id).catch(() => undefined);
    if (conn) session.bind(conn);
    const alive = await processAlive(d.initPid);
    d.log.debug('attach to a running container', { id: d.id, connected: Boolean(conn), alive });
    if (conn && (alive || !session.unbind())) return;
    if (!conn && alive) {
      session.finish();
      return;
    }
  }
  if (d.stillRunning()) await d.stopped();
  d.log.debug('attach waits for the next start', { id: d.id });
  d.hub.add(d.id, session);
}
