import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { conflict, errorMessage, internal, invalidArgument, notFound } from '../errors';
import type { OutputStream } from '../runtime/attach-socket';
import { ExecProcess } from '../runtime/exec';
import { resolveUser } from '../runtime/user';
import { newId } from '../util/ids';
import type { Logger } from '../util/logger';
import type { ContainerService } from './containers';
import type { AttachSink } from './containers-attach';
import type { EventLog } from './events';
import { execEnv, execView, type ExecConfig, type ExecCreateRequest } from './exec-config';

export type { ExecCreateRequest };

export interface ExecServiceDeps {
  containers: ContainerService;
  events: EventLog;
  log: Logger;
  conmonPath?: string;
}

export interface ExecStartOptions {
  detach: boolean;
  tty?: boolean;
  consoleSize?: [number, number] | null;
}

/** The caller's side of an attached exec session. */
export interface ExecHandle {
  writeStdin(data: Buffer): void;
  closeStdin(): void;
  /** the client went away; the process keeps running */
  detach(): void;
}

interface ExecRecord {
  id: string;
  containerId: string;
  config: ExecConfig;
  started: boolean;
  running: boolean;
  exitCode: number | null;
  pid: number;
  proc?: ExecProcess;
  pendingSize?: [number, number];
}

/** Exec instances are forgotten this long after they end (dockerd keeps them until the container goes). */
const KEEP_FINISHED_MS = 10 * 60_000;

/**
 * Processes started in running containers (`docker exec`): each is a `conmon --exec` session with its own
 * dir under the container dir. Instances live in memory, as in dockerd: they do not survive a restart.
 */
export class ExecService {
  private readonly execs = new Map<string, ExecRecord>();

  constructor(private readonly d: ExecServiceDeps) {}

  private get(id: string): ExecRecord {
    const rec = this.execs.get(id);
    if (!rec) throw notFound(`No such exec instance: ${id}`);
    return rec;
  }

  private runningContainer(ref: string) {
    const c = this.d.containers.get(ref);
    if (c.state.status === 'paused') throw conflict(`Container ${c.id} is paused, unpause the container before exec`);
    if (c.state.status !== 'running') throw conflict(`container ${c.id} is not running`);
    return c;
  }

  private attrs(containerId: string, extra: Record<string, string>): Record<string, string> {
    const c = this.d.containers.store.get(containerId);
    return c ? { ...(c.config.Labels ?? {}), image: c.config.Image, name: c.name, ...extra } : extra;
  }

  create(ref: string, req: ExecCreateRequest): { Id: string } {
    const c = this.runningContainer(ref);
    const cmd = req.Cmd ?? [];
    if (!Array.isArray(cmd) || cmd.length === 0) throw invalidArgument('No exec command specified');
    const id = newId();
    const config: ExecConfig = {
      Cmd: cmd, Tty: Boolean(req.Tty), AttachStdin: Boolean(req.AttachStdin), AttachStdout: Boolean(req.AttachStdout),
      AttachStderr: Boolean(req.AttachStderr), Env: req.Env ?? [], WorkingDir: req.WorkingDir ?? '', User: req.User ?? '',
      Privileged: Boolean(req.Privileged), DetachKeys: req.DetachKeys ?? '', ConsoleSize: req.ConsoleSize ?? null,
    };
    this.execs.set(id, { id, containerId: c.id, config, started: false, running: false, exitCode: null, pid: 0 });
    this.d.events.emit('container', `exec_create: ${cmd.join(' ')}`, c.id, this.attrs(c.id, { execID: id }));
    return { Id: id };
  }

  /** Checks done before a hijacked start answers 101; errors here are plain HTTP errors. */
  checkStart(id: string): void {
    const rec = this.get(id);
    if (rec.running) throw conflict(`Error: Exec command ${id} is already running`);
    if (rec.started) throw conflict(`Error: Exec command ${id} has already run`);
    this.runningContainer(rec.containerId);
  }

  /**
   * Start the process. Attached (`sink` given): output goes to the sink, which ends after the exit code is
   * known, so an inspect right after the stream ends sees it. Failures to start reject with dockerd's
   * wording and leave exit code 126.
   */
  async start(id: string, opts: ExecStartOptions, sink?: AttachSink): Promise<ExecHandle> {
    this.checkStart(id);
    const rec = this.get(id);
    rec.started = true;
    rec.running = true;
    const cfg = rec.config;
    const tty = opts.tty ?? cfg.Tty;
    const containers = this.d.containers;
    const c = containers.get(rec.containerId);
    const attached = !opts.detach && sink !== undefined;

    let outputEnded = !attached;
    let exited = false;
    let ended = false;
    const maybeEnd = () => {
      if (ended || !exited || !outputEnded) return;
      ended = true;
      sink?.end();
    };
    const want = (s: OutputStream) => (s === 'stdout' ? cfg.AttachStdout : cfg.AttachStderr) || tty;

    let proc: ExecProcess;
    try {
      const procSpec = await this.processSpec(c.id, cfg, tty);
      // runc sizes the new pty itself, so even a process that asks at once sees it (a resize would race)
      const initial = rec.pendingSize ?? (opts.consoleSize && opts.consoleSize[0] > 0 ? opts.consoleSize : cfg.ConsoleSize ?? undefined);
      if (tty && initial && initial[0] > 0 && initial[1] > 0) procSpec.consoleSize = { height: initial[0], width: initial[1] };
      this.d.events.emit('container', `exec_start: ${cfg.Cmd.join(' ')}`, c.id, this.attrs(c.id, { execID: id }));
      proc = await ExecProcess.launch({
        containerId: c.id, execId: id, dir: path.join(containers.paths.dir(c.id), 'exec', id), process: procSpec,
        tty, stdin: attached && cfg.AttachStdin, attach: attached,
        runtimePath: containers.runtime.runc.binary, runtimeRoot: containers.runtime.runc.stateRoot,
        socketDir: containers.runtime.socketDir, conmonCgroup: `${containers.runtime.cgroupParent}/conmon`,
        conmonPath: this.d.conmonPath,
        onOutput: (stream, data) => { if (!ended && want(stream)) sink?.output(stream, data); },
        onOutputEnd: () => { outputEnded = true; maybeEnd(); },
      }, this.d.log);
    } catch (err) {
      rec.running = false;
      rec.exitCode = 126;
      this.forgetLater(id);
      const msg = errorMessage(err);
      if (/not running|is paused/.test(msg)) throw conflict(`container ${c.id} is not running`);
      throw internal(`OCI runtime exec failed: ${msg}: unknown`);
    }
    rec.proc = proc;
    rec.pid = proc.pid;
    const onDone = (code: number) => {
      rec.running = false;
      rec.exitCode = code;
      this.d.events.emit('container', 'exec_die', c.id, this.attrs(c.id, { execID: id, exitCode: String(code) }));
      this.forgetLater(id);
      exited = true;
      // conmon closes the attach connection at exit; don't hang if that close never shows up
      setTimeout(() => { if (!outputEnded) { proc.conn?.close(); outputEnded = true; maybeEnd(); } }, 2000).unref();
      maybeEnd();
    };
    if (proc.finished) onDone(proc.exitCode ?? 126);
    else {
      proc.once('exit', (code: number) => onDone(code));
      proc.once('failed', () => onDone(126));
    }
    const size = rec.pendingSize ?? (opts.consoleSize && opts.consoleSize[0] > 0 ? opts.consoleSize : cfg.ConsoleSize ?? undefined);
    if (tty && size && size[0] > 0 && size[1] > 0) await this.applySize(rec, size[0], size[1]);

    return {
      writeStdin: (b) => { if (cfg.AttachStdin) proc.conn?.writeStdin(b); },
      closeStdin: () => { if (cfg.AttachStdin) proc.conn?.closeStdin(); },
      detach: () => { if (!proc.finished) proc.conn?.close(); },
    };
  }

  private forgetLater(id: string): void {
    setTimeout(() => this.execs.delete(id), KEEP_FINISHED_MS).unref();
  }

  /** The container's own process (from its config.json) with the exec's args, env, user, cwd and terminal. */
  private async processSpec(containerId: string, cfg: ExecConfig, tty: boolean): Promise<Record<string, unknown>> {
    const paths = this.d.containers.paths;
    const spec = JSON.parse(await readFile(path.join(paths.bundle(containerId), 'config.json'), 'utf8')) as { process: Record<string, unknown> };
    const proc: Record<string, unknown> = { ...spec.process, args: cfg.Cmd, terminal: tty };
    proc.env = execEnv((spec.process.env as string[] | undefined) ?? [], cfg.Env, tty);
    if (cfg.WorkingDir) proc.cwd = cfg.WorkingDir;
    if (cfg.User) {
      const u = await resolveUser(paths.rootfs(containerId), cfg.User);
      proc.user = { uid: u.uid, gid: u.gid, ...(u.additionalGids.length ? { additionalGids: u.additionalGids } : {}) };
    }
    delete proc.consoleSize;
    return proc;
  }

  private async applySize(rec: ExecRecord, h: number, w: number): Promise<void> {
    if (!rec.proc) { rec.pendingSize = [h, w]; return; }
    await this.d.containers.runtime.resize(rec.proc.ctlDir, h, w).catch((e) => {
      this.d.log.debug('exec resize failed', { id: rec.id, error: errorMessage(e) });
    });
  }

  /** POST /exec/{id}/resize; a size sent before the process runs is applied when it starts. */
  async resize(id: string, h: number, w: number): Promise<void> {
    const rec = this.get(id);
    if (!rec.config.Tty) return;
    if (rec.started && !rec.running) throw conflict(`Exec ${id} is not running`);
    await this.applySize(rec, h, w);
  }

  inspect(id: string): Record<string, unknown> {
    const rec = this.get(id);
    return execView(rec.id, rec.containerId, rec.config, { running: rec.running, exitCode: rec.exitCode, pid: rec.pid });
  }
}
