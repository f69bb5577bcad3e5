import { mkdir, readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { conflict, errorMessage, internal, invalidArgument, notFound } from '../errors';
import type { OutputStream } from '../runtime/attach-socket';
import { ExecProcess } from '../runtime/exec';
import type { ProcessUser } from '../runtime/oci-spec';
import { NativeExecProcess, nativeExecBinary, type ExecTarget, type OciExecProcess } from '../runtime/native-exec';
import { compileSeccomp, seccompFlags, type OciSeccomp } from '../runtime/seccomp-bpf';
import { ALL_CAPABILITIES, extraGroups, hostCapabilities } from '../runtime/security';
import { homeDir, resolveUser } from '../runtime/user';
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

interface OciConfig {
  process: Record<string, unknown>;
  linux?: { cgroupsPath?: string; seccomp?: OciSeccomp };
}

interface TaskSpec {
  process: Record<string, unknown>;
  target: ExecTarget;
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
  /** a TTY session: conmon, which holds the pty, and the runtime's exec */
  proc?: ExecProcess;
  /** a non-TTY session: berth-exec */
  io?: NativeExecProcess;
  pendingSize?: [number, number];
}

/** Exec instances are forgotten this long after they end (dockerd keeps them until the container goes). */
const KEEP_FINISHED_MS = 10 * 60_000;
/**
 * How long the cgroup lock is kept warm after an exec is created or started (runtime/cgroup-warmer.ts):
 * execs tend to come in bursts (scripts, probes, `for` loops), and within one no exec waits a grace period.
 */
const WARM_MS = 1000;

/**
 * Processes started in running containers (`docker exec`): non-TTY ones are berth-exec children of berthd,
 * TTY ones `conmon --exec` sessions with their own dir under the container dir. Instances live in memory,
 * as in dockerd: they do not survive a restart.
 */
export class ExecService {
  private readonly execs = new Map<string, ExecRecord>();
  private readonly taskCache = new Map<string, Promise<TaskSpec>>();
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
    // the start follows at once (docker CLI); the process joins the container's cgroups a few ms after it
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
   * Non-TTY execs run as berth-exec children of berthd (one spawn); TTY execs go through conmon, which
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
      return tty ? await this.startConmon(rec, c.id, tty, opts, sink) : await this.startDirect(rec, c.id, opts, sink);
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

  private async startDirect(rec: ExecRecord, containerId: string, opts: ExecStartOptions, sink?: AttachSink): Promise<ExecHandle> {
    const cfg = rec.config;
    const attached = !opts.detach && sink !== undefined;
    this.d.containers.runtime.warmCgroups(WARM_MS);
    const [procSpec, target] = await this.directProcess(containerId, cfg);
    const proc = await NativeExecProcess.launch(this.d.containers.runtime.execServer, {
      process: procSpec, target, stdin: attached && cfg.AttachStdin, attach: attached,
      onOutput: (stream, data) => { if ((stream === 'stdout' ? cfg.AttachStdout : cfg.AttachStderr)) sink?.output(stream, data); },
    });
    rec.io = proc;
    // after the spawn: the event's database write is not on the process's path
    this.d.events.emit('container', `exec_start: ${cfg.Cmd.join(' ')}`, containerId, this.attrs(containerId, { execID: rec.id }));
    const t0 = performance.now();
    proc.on('started', (pid: number) => {
      rec.pid = pid;
      this.d.log.debug('exec started', { id: rec.id, pid, ms: Math.round((performance.now() - t0) * 10) / 10 });
    });
    proc.once('exit', (code: number) => {
      this.d.log.debug('exec exited', { id: rec.id, code, ms: Math.round((performance.now() - t0) * 10) / 10 });
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

  /** The process and target of a berth-exec start. */
  private async directProcess(containerId: string, cfg: ExecConfig): Promise<[OciExecProcess, ExecTarget]> {
    const [procSpec, target] = await Promise.all([this.processSpec(containerId, cfg, false), this.execTarget(containerId)]);
    const env = (procSpec.env as string[] | undefined) ?? [];
    // as runc: a HOME from the user's passwd entry when the environment has none
    if (!env.some((e) => e.startsWith('HOME='))) {
      const uid = (procSpec.user as ProcessUser | undefined)?.uid ?? 0;
      procSpec.env = [...env, `HOME=${await homeDir(this.d.containers.paths.rootfs(containerId), uid)}`];
    }
    return [procSpec as unknown as OciExecProcess, target];
  }

  /**
   * A health probe: `argv` as the container's own process would run it, without exec events. Resolves with
   * its exit code and first `maxOutput` bytes of stdout + stderr, or -1 once `timeoutMs` passed (the probe
   * is killed). Rejects in dockerd's words when it cannot start.
   */
  async probe(containerId: string, argv: string[], timeoutMs: number, maxOutput: number): Promise<{ code: number; output: string }> {
    const cfg: ExecConfig = {
      Cmd: argv, Tty: false, AttachStdin: false, AttachStdout: true, AttachStderr: true, Env: [], WorkingDir: '', User: '',
      Privileged: false, DetachKeys: '', ConsoleSize: null,
    };
    const [procSpec, target] = await this.directProcess(containerId, cfg);
    let out = '';
    const proc = await NativeExecProcess.launch(this.d.containers.runtime.execServer, {
      process: procSpec, target, stdin: false, attach: true,
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
   * What an exec needs of the running task: its config.json (written at each start, so the key includes
   * the init pid) and, made once, the BPF program of its seccomp section (in the container dir).
   */
  private task(containerId: string): Promise<TaskSpec> {
    const pid = this.d.containers.get(containerId).state.pid;
    const key = `${containerId}:${pid}`;
    let p = this.taskCache.get(key);
    if (!p) {
      p = (async () => {
        const cfg = JSON.parse(await readFile(path.join(this.d.containers.paths.bundle(containerId), 'config.json'), 'utf8')) as OciConfig;
        const target: ExecTarget = { initPid: pid, cgroupsPath: cfg.linux?.cgroupsPath ?? '' };
        const seccomp = cfg.linux?.seccomp;
        if (seccomp) {
          const file = path.join(this.d.containers.paths.dir(containerId), 'exec-seccomp.bpf');
          await compileSeccomp(nativeExecBinary(), seccomp, file);
          target.seccomp = { file, flags: seccompFlags(seccomp) };
        }
        return { process: cfg.process, target };
      })();
      p.catch(() => this.taskCache.delete(key));
      for (const k of this.taskCache.keys()) if (k.startsWith(`${containerId}:`)) this.taskCache.delete(k);
      this.taskCache.set(key, p);
    }
    return p;
  }

  private async containerProcess(containerId: string): Promise<Record<string, unknown>> {
    return (await this.task(containerId)).process;
  }

  private async execTarget(containerId: string): Promise<ExecTarget> {
    return (await this.task(containerId)).target;
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

  /** GET /exec/{id}/json: the pid is known once berth-exec has said the process runs. */
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
