import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { Logger } from '../util/logger';
import { AttachConnection, type AttachClient } from './attach-socket';
import { CgroupWarmer } from './cgroup-warmer';
import { moveToCgroup, removeCgroup } from './cgroups';
import { CONMON_PATH, launchConmon, launchConmonVia, type ConmonLaunch } from './conmon';
import { writeCtl } from './ctl-fifo';
import { ExitWatcher, type ExitListener } from './exit-watcher';
import { RuncClient, type RuncState } from './runc';
import { removeStoppedCrunTask, removeStoppedRuncTask } from './stopped-task';
import { startThroughCrunFifo, startThroughExecFifo } from './exec-fifo';
import { FifoPool } from './fifo-pool';
import { defaultLauncher, setDefaultLauncher, ToolLauncher } from './tool-launcher';
import { findLogger, LOGGER_PIDFILE, LOGGER_SOCKET, waitForLogger } from './logger';
import { LoggerAttachConnection } from './logger-attach';
import { defaultSpawnServer, SpawnServer, setDefaultSpawnServer } from './spawn-server';

export interface RuntimeOptions {
  /** the OCI runtime binary, e.g. /usr/sbin/runc */
  runtimePath: string;
  /** <execRoot>: runtime state in runc/, exit files in exits/, attach sockets in s/ */
  execRoot: string;
  log: Logger;
  conmonPath?: string;
  /** cgroup parent of containers and of conmon, relative to each hierarchy root */
  cgroupParent?: string;
  /** native/berth-logger for non-TTY containers; undefined = look for it (findLogger), null = don't use one */
  loggerPath?: string | null;
}

export interface CreateTask {
  id: string;
  name: string;
  /** holds config.json and the rootfs mount point; conmon also puts pidfile, ctl, winsz, attach here */
  bundleDir: string;
  /** conmon's cwd and persist dir (exit, oom, conmon.pid) */
  containerDir: string;
  logPath: string;
  spec: Record<string, unknown>;
  tty: boolean;
  openStdin: boolean;
  stdinOnce: boolean;
  /** log rotation (`--log-opt max-size/max-file`): bytes (0 = none) and files kept */
  logMaxSize?: number;
  logMaxFiles?: number;
}

/**
 * Containers as the runtime sees them: conmon monitors each one and runs `runc create`; berthd runs
 * start/kill/delete/state. Words: a *task* is the runtime's instance of a container (created → running →
 * stopped → deleted); its exit code arrives once through the exit watcher.
 */
export class ConmonRuntime {
  readonly runc: RuncClient;
  readonly exitDir: string;
  readonly socketDir: string;
  readonly cgroupParent: string;
  private watcher?: ExitWatcher;
  private launcher?: ToolLauncher;
  private fifos?: FifoPool;
  private launcherInCgroup = false;
  private readonly warmer = new CgroupWarmer();
  private readonly customCgroups = new Map<string, string>();
  readonly loggerPath?: string;
  /** starts the runtime's execs (non-TTY docker exec, health probes) and does rootfs mounts for berthd */
  readonly spawner: SpawnServer;

  constructor(private readonly o: RuntimeOptions) {
    this.runc = new RuncClient(o.runtimePath, path.join(o.execRoot, 'runc'));
    this.exitDir = path.join(o.execRoot, 'exits');
    this.socketDir = path.join(o.execRoot, 's');
    this.cgroupParent = o.cgroupParent ?? '/berth';
    this.loggerPath = o.loggerPath === undefined ? findLogger() : o.loggerPath ?? undefined;
    this.spawner = new SpawnServer(path.join(o.execRoot, 'spawn.sock'), o.log);
  }

  /** Prepare dirs, start the tool launcher and start watching exits; call once before anything else. */
  async init(onExit: ExitListener): Promise<void> {
    await Promise.all([this.runc.stateRoot, this.exitDir, this.socketDir].map((d) => mkdir(d, { recursive: true, mode: 0o700 })));
    await this.startLauncher();
    // ready before the first exec; a failure here is retried then (and reported to that exec)
    void this.spawner.start().catch((err: Error) => this.o.log.warn('spawn server not started', { error: err.message }));
    setDefaultSpawnServer(this.spawner);
    // with berth-logger the exit can come before the last output is logged and sent: report it after
    this.watcher = new ExitWatcher(this.exitDir, (id, code) => {
      const t0 = performance.now();
      void waitForLogger(this.loggerPidFile(id)).then(() => {
        this.o.log.debug('logger done', { id, ms: performance.now() - t0 });
        onExit(id, code);
      });
    }, this.o.log);
    await this.watcher.start();
  }

  /**
   * The launcher's shell goes into conmon's cgroup once, so conmon needs no move per container. Without
   * that (no cgroup access), conmon is spawned directly as before; helper tools use the shell either way.
   */
  private async startLauncher(): Promise<void> {
    const launcherDir = path.join(this.o.execRoot, 'launcher');
    const fifoDir = path.join(this.o.execRoot, 'fifo');
    await Promise.all([launcherDir, fifoDir].map((d) => rm(d, { recursive: true, force: true })));
    const launcher = new ToolLauncher(launcherDir, async (pid) => {
      const failed = await moveToCgroup(pid, `${this.cgroupParent}/conmon`);
      this.launcherInCgroup = failed.length === 0;
      if (failed.length) this.o.log.debug('tool launcher not moved into some cgroups', { failed });
    });
    try {
      const probe = await launcher.run('true', []);
      if (probe.code !== 0) throw new Error(`exit ${probe.code}`);
    } catch (err) {
      this.o.log.warn('tool launcher unavailable; spawning tools directly', { error: (err as Error).message });
      launcher.stop();
      return;
    }
    this.launcher = launcher;
    this.fifos = new FifoPool(launcher, fifoDir);
    setDefaultLauncher(launcher);
  }

  close(): void {
    this.watcher?.stop();
    if (defaultSpawnServer() === this.spawner) setDefaultSpawnServer(undefined);
    this.spawner.stop();
    if (this.launcher) {
      if (defaultLauncher() === this.launcher) setDefaultLauncher(undefined);
      this.launcher.stop();
      void rm(this.launcher.dir, { recursive: true, force: true });
      if (this.fifos) void rm(this.fifos.dir, { recursive: true, force: true });
    }
  }

  private get exits(): ExitWatcher {
    if (!this.watcher) throw new Error('ConmonRuntime.init was not called');
    return this.watcher;
  }

  /**
   * A container's cgroup, relative to each hierarchy's root: under berth's parent, or under the one the
   * container asked for (`--cgroup-parent`), remembered for its cleanup while berthd runs (after a restart
   * the runtime's own delete, which reads the path from its state, removes it).
   */
  cgroupsPath(id: string, parent?: string): string {
    if (!parent) return this.customCgroups.get(id) ?? `${this.cgroupParent}/${id}`;
    const p = `${path.posix.join('/', parent)}/${id}`;
    this.customCgroups.set(id, p);
    return p;
  }

  socketId(id: string): string {
    return id.slice(0, 32);
  }

  attachSocketPath(id: string): string {
    return path.join(this.socketDir, this.socketId(id), 'attach');
  }

  loggerSocketPath(id: string): string {
    return path.join(this.socketDir, this.socketId(id), LOGGER_SOCKET);
  }

  loggerPidFile(id: string): string {
    return path.join(this.socketDir, this.socketId(id), LOGGER_PIDFILE);
  }

  /**
   * Start keeping the kernel's cgroup lock warm (runtime/cgroup-warmer.ts) for `ms`: called when a start is
   * on its way, so that the first rewrite's grace period has passed by the time `runc create` joins cgroups.
   */
  warmCgroups(ms: number): void {
    this.warmer.warm(ms);
  }

  /** Write config.json and have conmon create the task; resolves with the init pid (not yet running). */
  async create(t: CreateTask): Promise<{ pid: number }> {
    // runc create's first cgroup.procs write would otherwise wait a fresh RCU grace period (~10 ms)
    const releaseWarmth = this.warmer.hold(10_000);
    try {
      return await this.createTask(t);
    } finally {
      releaseWarmth();
    }
  }

  private async createTask(t: CreateTask): Promise<{ pid: number }> {
    // independent file steps, each a thread-pool round trip: in parallel
    const useLogger = !t.tty && !!this.loggerPath;
    const [, , , , logOffset] = await Promise.all([
      writeConfig(t.bundleDir, JSON.stringify(t.spec)),
      this.exits.forget(t.id),
      rm(path.join(t.containerDir, 'exit'), { force: true }),
      rm(path.join(t.containerDir, 'oom'), { force: true }),
      stat(t.logPath).then((st) => st.size, () => 0),
    ]);
    this.exits.expect(t.id);
    const launch: ConmonLaunch = {
      id: t.id, socketId: this.socketId(t.id), name: t.name,
      bundleDir: t.bundleDir, containerDir: t.containerDir, logPath: t.logPath,
      exitDir: this.exitDir, socketDir: this.socketDir,
      runtimePath: this.o.runtimePath, runtimeRoot: this.runc.stateRoot,
      tty: t.tty, openStdin: t.openStdin, stdinOnce: t.stdinOnce,
      conmonCgroup: `${this.cgroupParent}/conmon`, logOffset,
    };
    const conmonPath = this.o.conmonPath ?? CONMON_PATH;
    try {
      if (this.launcher?.running && this.fifos && this.launcherInCgroup) {
        // the logger is born in the launcher's cgroup with conmon, so it outlives berthd as conmon does
        if (useLogger) {
          launch.logger = {
            loggerPath: this.loggerPath!, logPath: t.logPath, socketPath: this.loggerSocketPath(t.id), pidFile: this.loggerPidFile(t.id),
            openStdin: t.openStdin, stdinOnce: t.stdinOnce, maxSize: t.logMaxSize ?? 0, maxFiles: t.logMaxFiles ?? 1, logOffset,
          };
        }
        return await launchConmonVia(this.launcher, this.fifos, launch, conmonPath);
      }
      return await launchConmon(launch, this.o.log, conmonPath);
    } catch (err) {
      this.exits.unexpect(t.id);
      await this.cleanup(t.id);
      throw err;
    }
  }

  /** Start a created task, through its exec fifo when the runtime's protocol is known (no runtime process). */
  async start(id: string, initPid?: number): Promise<void> {
    const flavor = this.runc.flavor;
    if (flavor === 'runc' && initPid && await startThroughExecFifo(this.runc.stateRoot, id, initPid)) return;
    if (flavor === 'crun' && await startThroughCrunFifo(this.runc.stateRoot, id)) return;
    await this.runc.start(id);
  }

  kill(id: string, signal: string, all = false): Promise<void> {
    return this.runc.kill(id, signal, all);
  }

  state(id: string): Promise<RuncState | undefined> {
    return this.runc.state(id);
  }

  /**
   * Reconciliation of a task created by an earlier daemon: its exit code when the exit file is already
   * there (the caller handles it), otherwise the exit is watched from now on (the sweep covers a file that
   * appears between the read and the watch).
   */
  async watch(id: string): Promise<number | undefined> {
    const code = await this.exits.read(id);
    if (code === undefined) this.exits.expect(id);
    return code;
  }

  exitCode(id: string): Promise<number | undefined> {
    return this.exits.read(id);
  }

  /** berth-logger's socket when the task has one (non-TTY), else conmon's. */
  async attach(id: string): Promise<AttachClient> {
    try {
      return await LoggerAttachConnection.connect(this.loggerSocketPath(id));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return AttachConnection.connect(this.attachSocketPath(id));
  }

  /** After exit (or to abandon a task): delete runtime state, conmon's leftovers, the cgroup dirs. */
  async cleanup(id: string, opts: { forgetExit?: boolean } = {}): Promise<void> {
    // no state dir: nothing for the runtime to delete (the common case when removing an exited container)
    const removeStopped = this.runc.flavor === 'crun' ? removeStoppedCrunTask : removeStoppedRuncTask;
    if (await this.runc.hasState(id) && !(await removeStopped(this.runc.stateRoot, id))) await this.runc.delete(id, true);
    await Promise.all([
      // conmon's symlink to the bundle, or the logger's dir (socket + pidfile)
      rm(path.join(this.socketDir, this.socketId(id)), { force: true, recursive: true }),
      removeCgroup(this.cgroupsPath(id)),
      opts.forgetExit ? this.exits.forget(id) : undefined,
    ]);
  }

  /**
   * For a task that `cleanup` already released, when its record goes away: delete the exit file, and once
   * more any cgroup dir that was still busy then (runtime state and sockets are gone already).
   */
  async forgetReleased(id: string): Promise<void> {
    await Promise.all([this.exits.forget(id), removeCgroup(this.cgroupsPath(id))]);
    this.customCgroups.delete(id);
  }

  /** Is the conmon recorded in `<containerDir>/conmon.pid` still alive? */
  async conmonAlive(containerDir: string): Promise<boolean> {
    let pid: number;
    try {
      pid = Number.parseInt((await readFile(path.join(containerDir, 'conmon.pid'), 'utf8')).trim(), 10);
    } catch {
      return false;
    }
    if (!Number.isFinite(pid) || pid <= 0) return false;
    try {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
      return cmdline.includes('conmon');
    } catch {
      return false;
    }
  }

  /**
   * Resize the task's terminal through conmon's ctl fifo. One message per write: conmon 2.1.6 handles the
   * first line of a read twice when two messages arrive together (runtime.md pitfall 7).
   */
  async resize(bundleDir: string, height: number, width: number): Promise<void> {
    await writeCtl(bundleDir, `1 ${height} ${width}\n`);
  }

  /** conmon writes `oom` into its persist dir when the container cgroup saw an OOM kill. */
  async oomKilled(containerDir: string): Promise<boolean> {
    try {
      await readFile(path.join(containerDir, 'oom'));
      return true;
    } catch {
      return false;
    }
  }
}

/** config.json into the bundle dir, which container create normally made already (one round trip then). */
async function writeConfig(bundleDir: string, json: string): Promise<void> {
  const file = path.join(bundleDir, 'config.json');
  try {
    await writeFile(file, json);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await mkdir(bundleDir, { recursive: true });
    await writeFile(file, json);
  }
}
