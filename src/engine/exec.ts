import { mkdir, readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { conflict, errorMessage, internal, invalidArgument, notFound } from '../errors';
import type { OutputStream } from '../runtime/attach-socket';
import { ExecProcess } from '../runtime/exec';
import type { ProcessUser } from '../runtime/oci-spec';
import { RuncExecProcess } from '../runtime/runc-exec';
import { ALL_CAPABILITIES, extraGroups, hostCapabilities } from '../runtime/security';
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
  /** a TTY session (or any under crun): conmon */
  proc?: ExecProcess;
  /** a non-TTY session under runc: runc exec */
  io?: RuncExecProcess;
  pendingSize?: [number, number];
}

/** Exec instances are forgotten this long after they end (dockerd keeps them until the container goes). */
const KEEP_FINISHED_MS = 10 * 60_000;
/**
 * How long the cgroup lock is kept warm after an exec is created or started (runtime/cgroup-warmer.ts):
 * execs tend to come in bursts (scripts, probes, loops), and within one no exec waits a grace period.
 */
const WARM_MS = 1000;

/**
 * Processes started in running containers (`docker exec`): non-TTY ones are `runc exec` run by the spawn server,
 * TTY ones `conmon --exec` sessions with their own dir under the container dir. Instances live in memory,
 * as in dockerd: they do not survive a restart.
 */
export class ExecService {
  private readonly execs = new Map<string, ExecRecord>();
  private readonly specCache = new Map<string, Promise<Record<string, unknown>>>();
  private tmp?: Promise<string>;

  constructor(private readonly d: ExecServiceDeps) {}

  private get(id: string): ExecRecord {
    const rec = this.execs.get(id);
    if (!rec) throw notFound(`No such exec instance: ${id}`);
    return rec;
  }

  private runningContainer(ref: string) {
    const c = this.d.containers.get(ref);
    if (c.state.status === 'paused') throw conflict(`Container ${ref} is paused, unpause the container before exec`);
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
    // the start follows at once (docker CLI); runc joins the container's cgroups a few ms after it
    this.d.containers.runtime.warmCgroups(WARM_MS);
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
   * wording (or, once an attached non-TTY start is under way, go into the stream) and leave exit code 126.
   * Non-TTY execs run as `runc exec` through the spawn server (berthd does not fork); TTY execs go through conmon, which
   * holds the pty.
   */
  async start(id: string, opts: ExecStartOptions, sink?: AttachSink): Promise<ExecHandle> {
    this.checkStart(id);
    const rec = this.get(id);
    rec.started = true;
    rec.running = true;
    const tty = opts.tty ?? rec.config.Tty;
    const c = this.d.containers.get(rec.containerId);
    try {
      // RuncExecProcess speaks runc's and crun's flags and error formats
      const direct = !tty;
      return direct ? await this.startRunc(rec, c.id, opts, sink) : await this.startConmon(rec, c.id, tty, opts, sink);
    } catch (err) {
      rec.running = false;
      rec.exitCode = 126;
      this.forgetLater(id);
      throw startError(c.id, errorMessage(err));
    }
  }

  private exited(rec: ExecRecord, code: number): void {
    rec.running = false;
    rec.exitCode = code;
    this.d.events.emit('container', 'exec_die', rec.containerId, this.attrs(rec.containerId, { execID: rec.id, exitCode: String(code) }));
    this.forgetLater(rec.id);
  }

  private async startRunc(rec: ExecRecord, containerId: string, opts: ExecStartOptions, sink?: AttachSink): Promise<ExecHandle> {
    const cfg = rec.config;
    const attached = !opts.detach && sink !== undefined;
    const containers = this.d.containers;
    this.d.containers.runtime.warmCgroups(WARM_MS);
    // without -u or --privileged, runc's own flags describe the process and no process.json is written
    const flavor = containers.runtime.runc.flavor;
    const viaFlags = flavor === 'runc' && !cfg.User && !cfg.Privileged && cfg.Env.every((e) => e.includes('='));
    const procSpec = viaFlags ? undefined : await this.processSpec(containerId, cfg, false);
    const proc = await RuncExecProcess.launch({
      containerId, execId: rec.id, process: procSpec, args: cfg.Cmd, cwd: cfg.WorkingDir || undefined, env: cfg.Env,
      tmpDir: await this.tmpDir(), stdin: attached && cfg.AttachStdin, attach: attached,
      runtimePath: containers.runtime.runc.binary, runtimeRoot: containers.runtime.runc.stateRoot, flavor,
      spawner: containers.runtime.spawner,
      onOutput: (stream, data) => { if ((stream === 'stdout' ? cfg.AttachStdout : cfg.AttachStderr)) sink?.output(stream, data); },
    });
    rec.io = proc;
    // after the spawn: the event's database write is not on runc's path
    this.d.events.emit('container', `exec_start: ${cfg.Cmd.join(' ')}`, containerId, this.attrs(containerId, { execID: rec.id }));
    const t0 = performance.now();
    const ms = () => Math.round((performance.now() - t0) * 10) / 10;
    proc.on('started', (pid: number) => {
      rec.pid = pid;
      this.d.log.debug('exec started', { id: rec.id, pid, ms: ms() });
    });
    proc.once('exit', (code: number) => {
      this.d.log.debug('exec exited', { id: rec.id, code, ms: ms() });
      rec.pid = proc.pid;
      rec.running = false;
      rec.exitCode = code;
      // the client's inspect follows the stream's end: end it before the event's database write
      if (attached) sink?.end();
      this.exited(rec, code);
    });
    proc.once('failed', (msg: string) => {
      this.exited(rec, 126);
      if (attached) { sink?.output('stdout', Buffer.from(`${errorMessage(startError(containerId, msg))}\r\n`)); sink?.end(); }
    });
    // a detached start answers once the process runs, so a failure is still an error response
    if (!attached) await proc.started();
    return {
      writeStdin: (b) => { if (cfg.AttachStdin) proc.writeStdin(b); },
      closeStdin: () => { if (cfg.AttachStdin) proc.closeStdin(); },
      detach: () => { if (!proc.finished) proc.detach(); },
    };
  }

  /**
   * A health probe: `argv` as the container's own process runs it (runc takes env, user and cwd from its
   * config.json), without exec events. Resolves with its exit code and first `maxOutput` bytes of stdout +
   * stderr, or -1 once `timeoutMs` passed (the probe is killed). Rejects in dockerd's words when it cannot
   * start.
   */
  async probe(containerId: string, argv: string[], timeoutMs: number, maxOutput: number): Promise<{ code: number; output: string }> {
    const runtime = this.d.containers.runtime;
    let out = '';
    const proc = await RuncExecProcess.launch({
      containerId, execId: newId(), args: argv, tmpDir: await this.tmpDir(), stdin: false, attach: true,
      runtimePath: runtime.runc.binary, runtimeRoot: runtime.runc.stateRoot, flavor: runtime.runc.flavor, spawner: runtime.spawner,
      // crun's --env would replace the environment: the container's own process, as it is
      process: runtime.runc.flavor === 'crun' ? { ...(await this.containerProcess(containerId)), args: argv, terminal: false } : undefined,
      onOutput: (_s, b) => { if (out.length < maxOutput) out += b.toString('utf8'); },
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (proc.pid) try { process.kill(proc.pid, 'SIGKILL'); } catch { /* gone */ }
    }, timeoutMs);
    try {
      const code = await new Promise<number>((resolve, reject) => {
        proc.once('exit', resolve);
        proc.once('failed', (msg: string) => reject(startError(containerId, msg)));
      });
      return { code: timedOut ? -1 : code, output: out.slice(0, maxOutput) };
    } finally {
      clearTimeout(timer);
    }
  }

  private async startConmon(rec: ExecRecord, containerId: string, tty: boolean, opts: ExecStartOptions, sink?: AttachSink): Promise<ExecHandle> {
    const cfg = rec.config;
    const id = rec.id;
    const containers = this.d.containers;
    const attached = !opts.detach && sink !== undefined;

    let outputEnded = !attached;
    let exited = false;
    let ended = false;
    const maybeEnd = () => {
      if (ended || !exited || !outputEnded) return;
      ended = true;
      sink?.end();
    };

    const procSpec = await this.processSpec(containerId, cfg, tty);
    // runc sizes the new pty itself, so even a process that asks at once sees it (a resize would race)
    const initial = rec.pendingSize ?? (opts.consoleSize && opts.consoleSize[0] > 0 ? opts.consoleSize : cfg.ConsoleSize ?? undefined);
    if (tty && initial && initial[0] > 0 && initial[1] > 0) procSpec.consoleSize = { height: initial[0], width: initial[1] };
    this.d.events.emit('container', `exec_start: ${cfg.Cmd.join(' ')}`, containerId, this.attrs(containerId, { execID: id }));
    const proc = await ExecProcess.launch({
      containerId, execId: id, dir: path.join(containers.paths.dir(containerId), 'exec', id), process: procSpec,
      tty, stdin: attached && cfg.AttachStdin, attach: attached,
      runtimePath: containers.runtime.runc.binary, runtimeRoot: containers.runtime.runc.stateRoot,
      socketDir: containers.runtime.socketDir, conmonCgroup: `${containers.runtime.cgroupParent}/conmon`,
      conmonPath: this.d.conmonPath,
      onOutput: (stream, data) => { if (!ended && (tty || (stream === 'stdout' ? cfg.AttachStdout : cfg.AttachStderr))) sink?.output(stream, data); },
      onOutputEnd: () => { outputEnded = true; maybeEnd(); },
    }, this.d.log);
    rec.proc = proc;
    rec.pid = proc.pid;
    const onDone = (code: number) => {
      this.exited(rec, code);
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

  /** <data-root>/tmp (wiped at daemon start), made once. */
  private tmpDir(): Promise<string> {
    this.tmp ??= (async () => {
      const dir = path.join(this.d.containers.paths.dataRoot, 'tmp');
      await mkdir(dir, { recursive: true });
      return dir;
    })();
    return this.tmp;
  }

  private forgetLater(id: string): void {
    setTimeout(() => this.execs.delete(id), KEEP_FINISHED_MS).unref();
  }

  /** The container's own process (from its config.json) with the exec's args, env, user, cwd and terminal. */
  private async processSpec(containerId: string, cfg: ExecConfig, tty: boolean): Promise<Record<string, unknown>> {
    const base = await this.containerProcess(containerId);
    const proc: Record<string, unknown> = { ...base, args: cfg.Cmd, terminal: tty };
    proc.env = execEnv((base.env as string[] | undefined) ?? [], cfg.Env, tty);
    if (cfg.WorkingDir) proc.cwd = cfg.WorkingDir;
    if (cfg.User) {
      const u = await this.execUser(containerId, cfg.User);
      proc.user = { uid: u.uid, gid: u.gid, ...(u.additionalGids.length ? { additionalGids: u.additionalGids } : {}) };
    }
    if (cfg.Privileged) {
      // as dockerd: every capability in the bounding, permitted and effective sets (inheritable stays empty)
      const all = await hostCapabilities().catch(() => ALL_CAPABILITIES);
      const own = (proc.capabilities ?? {}) as Record<string, string[]>;
      proc.capabilities = { ...own, bounding: all, effective: all, permitted: all };
    }
    delete proc.consoleSize;
    return proc;
  }

  /** `-u` as dockerd applies it to an exec: the image's user and groups, plus the container's --group-add. */
  private async execUser(containerId: string, spec: string): Promise<ProcessUser> {
    const rootfs = this.d.containers.paths.rootfs(containerId);
    const u = await resolveUser(rootfs, spec);
    const groupAdd = this.d.containers.get(containerId).hostConfig.GroupAdd as string[] | null | undefined;
    const extra = await extraGroups(groupAdd ?? [], rootfs);
    return { uid: u.uid, gid: u.gid, additionalGids: [...new Set([...u.additionalGids, ...extra])] };
  }

  /**
   * The process section of the running task's config.json, read once per task: config.json is written
   * at each start, so the key includes the init pid.
   */
  private async containerProcess(containerId: string): Promise<Record<string, unknown>> {
    const key = `${containerId}:${this.d.containers.get(containerId).state.pid}`;
    let p = this.specCache.get(key);
    if (!p) {
      p = readFile(path.join(this.d.containers.paths.bundle(containerId), 'config.json'), 'utf8')
        .then((text) => (JSON.parse(text) as { process: Record<string, unknown> }).process);
      p.catch(() => this.specCache.delete(key));
      for (const k of this.specCache.keys()) if (k.startsWith(`${containerId}:`)) this.specCache.delete(k);
      this.specCache.set(key, p);
    }
    return p;
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

  /** GET /exec/{id}/json: right after a runc exec ends, its pid file may still be being read. */
  async inspectSettled(id: string): Promise<Record<string, unknown>> {
    const rec = this.get(id);
    if (rec.io && !rec.pid) {
      await rec.io.pidSettled;
      rec.pid = rec.io.pid;
    }
    return this.inspect(id);
  }

  inspect(id: string): Record<string, unknown> {
    const rec = this.get(id);
    return execView(rec.id, rec.containerId, rec.config, { running: rec.running, exitCode: rec.exitCode, pid: rec.pid });
  }
}

/** A failed start in dockerd's words: 409 when the container went away meanwhile. */
function startError(containerId: string, msg: string) {
  if (/not running|is paused|stopped container|paused container|does not exist/.test(msg)) return conflict(`container ${containerId} is not running`);
  return internal(`OCI runtime exec failed: ${msg}: unknown`);
}
