import { EventEmitter } from 'node:events';
import { logRotation, logTarget } from '../runtime/log-rotation';
import { mkdir, rm } from 'node:fs/promises';
import * as path from 'node:path';
import { constants as osConstants } from 'node:os';
import { conflict, errorMessage, internal, invalidArgument, isNotFound, notFound, notModified } from '../errors';
import type { ImageStore, LayerStore } from '../image/types';
import type { OutputStream } from '../runtime/attach-socket';
import { ConmonRuntime } from '../runtime/runtime';
import type { Db } from '../store/db';
import type { Logger } from '../util/logger';
import { phaseClock } from '../util/phase-clock';
import { AttachHub, AttachSession, connectSession, type AttachHandle, type AttachOptions, type AttachSink } from './containers-attach';
import type { CreateRequest } from './containers-config';
import { checkNameFree, draftContainer } from './containers-create';
import { containerLogs, type ContainerLogsOptions } from './containers-logs';
import { ContainerStore, type ContainerRecord, type ContainerState } from './containers-store';
import { ContainerPaths, isMounted, makeContainerDirs, mountRootfs, removeContainerDir, specFor, unmountRootfs } from './containers-task';
import { countByState, inspectContainer, listContainers, sizedRows, type ContainerQueryDeps, type ListOptions } from './containers-query';
import { nextEvent, waitForContainer, type WaitCondition, type WaitResult } from './containers-wait';
import type { EventLog } from './events';
import { reconcileContainers } from './containers-reconcile';
import { normalizeSignal } from './containers-signal';
import { ContainerResources } from './container-resources';
import { applyConsoleSize, withConsoleSize } from './console-size';
import type { NetworkService } from './networks';
import type { VolumeService } from './volumes';

export { normalizeSignal };
export type { WaitCondition };

export interface ContainerServiceDeps {
  dataRoot: string;
  execRoot: string;
  db: Db;
  images: ImageStore;
  layers: LayerStore;
  events: EventLog;
  log: Logger;
  /** OCI runtime binary, e.g. /usr/sbin/runc */
  runtimePath: string;
  conmonPath?: string;
  /** cgroup parent for containers and conmon (default /berth) */
  cgroupParent?: string;
  networks?: NetworkService;
  volumes?: VolumeService;
}

export interface LogChunk {
  stream: OutputStream;
  data: Buffer;
}

const now = () => new Date().toISOString();
/** How long an inspect of a running container keeps the cgroup lock warm (runtime/cgroup-warmer.ts). */
const WARM_AFTER_INSPECT_MS = 30;
/** ...and a create or start, until `runc create` holds it; longer warms other runtimes' creates too (bench/README). */
const WARM_AFTER_CREATE_MS = 50;
const isUp = (c: ContainerRecord) => c.state.status === 'running' || c.state.status === 'paused' || c.state.status === 'restarting';

/**
 * Containers: create, start, stop, kill, remove, wait, list, inspect, logs, attach. Records live in the
 * `containers` table; running tasks are conmon + runc (runtime/), so they outlive berthd and are reconciled
 * from disk by `init`. Operations on one container are serialized; waiting for an exit never holds the lock.
 */
export class ContainerService {
  readonly store: ContainerStore;
  readonly runtime: ConmonRuntime;
  readonly paths: ContainerPaths;
  private readonly bus = new EventEmitter();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly attaches = new AttachHub();
  private ready?: Promise<void>;
  /** exited containers whose task handleExit released completely */
  private readonly released = new Set<string>();
  /** mounts and network endpoints (container-resources.ts) */
  readonly resources: ContainerResources;
  /** restart policies and health checks (restart-policy.ts) hook in here */
  lifecycle?: {
    started(id: string): void;
    stopping(id: string): Promise<void>;
    exited(id: string, exitCode: number): void;
    /** health-check state (health.ts), shown by ps and inspect */
    health?(id: string): { Status: string; FailingStreak: number; Log: unknown[] } | undefined;
  };

  constructor(private readonly d: ContainerServiceDeps) {
    this.store = new ContainerStore(d.db);
    this.paths = new ContainerPaths(d.dataRoot);
    this.runtime = new ConmonRuntime({
      runtimePath: d.runtimePath, execRoot: d.execRoot, log: d.log, conmonPath: d.conmonPath, cgroupParent: d.cgroupParent,
    });
    this.bus.setMaxListeners(0);
    this.resources = new ContainerResources({
      networks: d.networks, volumes: d.volumes, log: d.log, get: (r) => this.get(r), dir: (id) => this.paths.dir(id), all: () => this.store.list(),
    });
    this.resources.wire();
  }

  /** Start watching exits and reconcile containers with what happened while berthd was down. Idempotent. */
  init(): Promise<void> {
    this.ready ??= (async () => {
      await mkdir(path.join(this.d.dataRoot, 'containers'), { recursive: true, mode: 0o710 });
      await this.runtime.init((id, code) => void this.handleExit(id, code));
      await reconcileContainers(this, this.d.log);
    })();
    return this.ready;
  }

  shutdown(): void {
    this.runtime.close();
  }

  /** Run `fn` while no start, exit or removal of `id` can interleave (cp, export and commit mount under it). */
  exclusive<T>(id: string, fn: () => Promise<T>): Promise<T> {
    return this.withLock(id, fn);
  }

  private withLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.locks.set(id, tail);
    void tail.then(() => { if (this.locks.get(id) === tail) this.locks.delete(id); });
    return next;
  }

  /** Find by full ID, name or unique ID prefix; NotFound in dockerd's words. */
  get(ref: string): ContainerRecord {
    const c = this.store.find(ref);
    if (c === 'ambiguous') throw invalidArgument(`multiple IDs found with provided prefix: ${ref}`);
    if (!c) throw notFound(`No such container: ${ref}`);
    return c;
  }

  private attrs(c: ContainerRecord, extra: Record<string, string> = {}): Record<string, string> {
    return { ...(c.config.Labels ?? {}), image: c.config.Image, name: c.name, ...extra };
  }

  /** Exported for the image service: IDs of containers created from `imageId`. */
  containersUsing(imageId: string): string[] {
    return this.store.usingImage(imageId);
  }

  counts(): { total: number; running: number; paused: number; stopped: number } {
    return countByState(this.store.list());
  }

  async create(req: CreateRequest, name?: string, platform?: string): Promise<{ Id: string; Warnings: string[] }> {
    await this.init();
    const record = draftContainer(req, name, this.d.images, this.store, this.runtime.runc.flavor, platform);
    const { id } = record;
    await this.resources.prepare(record, req);
    await makeContainerDirs(this.paths, id);
    try {
      this.store.insert(record);
    } catch (err) {
      await rm(this.paths.dir(id), { recursive: true, force: true });
      await this.resources.abort(record);
      checkNameFree(this.store, record.name); // lost a race for the name: the 409, not the database error
      throw err;
    }
    this.d.events.emit('container', 'create', id, this.attrs(record));
    this.runtime.warmCgroups(WARM_AFTER_CREATE_MS); // a start usually follows within milliseconds
    return { Id: id, Warnings: [] };
  }

  async start(ref: string): Promise<void> {
    await this.init();
    const { id } = this.get(ref);
    this.runtime.warmCgroups(WARM_AFTER_CREATE_MS);
    await this.withLock(id, async () => {
      const c = this.get(id);
      // `restarting` has no task: the restart policy starts it from there
      if (isUp(c) && c.state.status !== 'restarting') throw notModified('container already started');
      if (c.state.status === 'removing' || c.state.status === 'dead') throw conflict(`cannot start container ${id}: container is marked for removal`);
      const image = this.d.images.get(c.imageId);
      if (!image) throw conflict(`cannot start container ${id}: its image ${c.imageId} was removed`);
      this.released.delete(id);
      try {
        // the spec is built while the rootfs mounts; it only waits for the mount to resolve the user
        const clock = phaseClock();
        const mounted = mountRootfs(this.d.layers, this.paths, c, image.layers);
        const [, built] = await Promise.all([mounted, specFor(this.paths, c, this.runtime.cgroupsPath(id, c.hostConfig.CgroupParent as string | undefined), mounted)]);
        const spec = withConsoleSize(built, c.config.Tty, c.hostConfig.ConsoleSize);
        clock.mark('rootfsAndSpec');
        await this.resources.start(c, spec, this.paths.rootfs(id));
        clock.mark('resources');
        const { pid } = await this.runtime.create({
          id, name: c.name, bundleDir: this.paths.bundle(id), containerDir: this.paths.dir(id), logPath: logTarget(c.hostConfig.LogConfig, this.paths.log(id)),
          spec, tty: c.config.Tty, openStdin: c.config.OpenStdin, stdinOnce: c.config.StdinOnce,
          ...logRotation(c.hostConfig.LogConfig),
        });
        this.store.setState(id, { ...c.state, status: 'running', pid, exitCode: 0, error: '', oomKilled: false, startedAt: now() });
        await this.attaches.connectPending(id, () => this.runtime.attach(id));
        clock.mark('create');
        await this.runtime.start(id, pid);
        await applyConsoleSize(this.runtime, this.paths.bundle(id), c.config.Tty, c.hostConfig.ConsoleSize, this.d.log);
        clock.mark('start');
        this.d.log.debug('started', { id, ...clock.phases() });
        this.lifecycle?.started(id);
      } catch (err) {
        const msg = errorMessage(err);
        await this.releaseTask(id).catch((e) => this.d.log.warn('cleanup after failed start', { id, error: errorMessage(e) }));
        const notFoundExec = /executable file not found|no such file or directory/i.test(msg);
        this.store.setState(id, { ...c.state, status: c.state.status, pid: 0, exitCode: notFoundExec ? 127 : 128, error: msg });
        this.attaches.endPending(id);
        // dockerd removes an auto-remove container whose start failed; `docker run --rm` waits for that.
        if (c.hostConfig.AutoRemove) setImmediate(() => void this.remove(id, { force: true, volumes: true }).catch(() => undefined));
        throw notFoundExec ? invalidArgument(msg) : internal(msg);
      }
      this.d.events.emit('container', 'start', id, this.attrs(c));
    });
  }

  /**
   * Undo a task: runtime state, conmon leftovers, cgroup, rootfs mount. Once the init has exited nothing
   * holds the rootfs, so the unmount runs alongside the rest; otherwise it waits for the runtime's delete.
   */
  private async releaseTask(id: string, forgetExit = true, initExited = false): Promise<void> {
    const unmounted = initExited ? unmountRootfs(this.paths, id) : undefined;
    await Promise.all([this.runtime.cleanup(id, { forgetExit }), this.resources.stop(id), unmounted]);
    if (!unmounted) await unmountRootfs(this.paths, id);
  }

  /** Called once per exit (from the exit watcher or reconciliation). */
  async handleExit(id: string, exitCode: number, error = ''): Promise<void> {
    let autoRemove = false;
    let exited = false;
    await this.withLock(id, async () => {
      const c = this.store.get(id);
      if (!c || !isUp(c)) {
        await this.runtime.cleanup(id, { forgetExit: !c }).catch(() => undefined);
        return;
      }
      // conmon wrote `oom` before the exit file. The state says exited before the release (unmount, network
      // teardown) runs, as dockerd's does: a client that inspects or attaches right after the exit must see
      // a stopped container (docker-compose run attaches after its start, then starts again if it stopped);
      // start and rm wait for the release, which holds this lock.
      const oomKilled = await this.runtime.oomKilled(this.paths.dir(id));
      const state: ContainerState = { ...c.state, status: 'exited', pid: 0, exitCode, oomKilled, error, finishedAt: now() };
      this.store.setState(id, state);
      this.bus.emit(`stopped:${id}`);
      await this.releaseTask(id, false, true).then(
        () => { this.released.add(id); },
        (e) => this.d.log.warn('cleanup after exit', { id, error: errorMessage(e) }),
      );
      if (oomKilled) this.d.events.emit('container', 'oom', id, this.attrs(c));
      this.d.events.emit('container', 'die', id, this.attrs(c, { exitCode: String(exitCode) }));
      this.bus.emit(`exit:${id}`, exitCode);
      autoRemove = c.hostConfig.AutoRemove;
      exited = true;
    });
    if (exited && !autoRemove) this.lifecycle?.exited(id, exitCode);
    if (autoRemove) {
      this.remove(id, { force: true, volumes: true }).catch((e) => {
        if (!isNotFound(e)) this.d.log.warn('auto-remove failed', { id, error: errorMessage(e) });
      });
    }
  }

  /** Block until the condition holds (see waitForContainer: no exit between this call and the listener is missed). */
  wait(ref: string, condition: WaitCondition = 'not-running', signal?: AbortSignal): Promise<WaitResult> {
    const c = this.get(ref);
    return waitForContainer(this.bus, c.id, { running: isUp(c), exitCode: c.state.exitCode }, () => this.store.get(c.id)?.state.error, condition, signal);
  }

  async kill(ref: string, signal = 'SIGKILL'): Promise<void> {
    await this.init();
    const c = this.get(ref);
    const sig = normalizeSignal(signal);
    if (!isUp(c)) throw conflict(`Cannot kill container: ${ref}: Container ${c.id} is not running`);
    this.d.events.emit('container', 'kill', c.id, this.attrs(c, { signal: String(sig.number) }));
    await this.lifecycle?.stopping(c.id);
    // like dockerd, a SIGKILL returns once the container has exited (waiting at most 2 s)
    const abort = new AbortController();
    const exited = sig.name === 'SIGKILL' ? nextEvent(this.bus, `exit:${c.id}`, abort.signal).catch(() => undefined) : undefined;
    try {
      await this.runtime.kill(c.id, sig.name);
      if (exited) await Promise.race([exited, new Promise((r) => setTimeout(r, 2000).unref())]);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    } finally {
      abort.abort();
    }
  }

  /** Stop signal, then SIGKILL after `timeoutSec` (-1 = wait forever). NotModified when not running. */
  async stop(ref: string, timeoutSec?: number, signalName?: string): Promise<void> {
    await this.init();
    const c = this.get(ref);
    if (!isUp(c)) throw notModified('container already stopped');
    const sig = normalizeSignal(signalName || c.config.StopSignal || 'SIGTERM');
    const timeout = timeoutSec ?? c.config.StopTimeout ?? 10;
    const exited = nextEvent(this.bus, `exit:${c.id}`);
    this.d.events.emit('container', 'kill', c.id, this.attrs(c, { signal: String(sig.number) }));
    await this.lifecycle?.stopping(c.id);
    await this.runtime.kill(c.id, sig.name).catch((e) => { if (!isNotFound(e)) throw e; });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = timeout < 0 ? new Promise<never>(() => {}) : new Promise<'timeout'>((r) => { timer = setTimeout(() => r('timeout'), timeout * 1000); });
    const first = await Promise.race([exited, timedOut]);
    if (timer) clearTimeout(timer);
    if (first === 'timeout') {
      this.d.events.emit('container', 'kill', c.id, this.attrs(c, { signal: String(osConstants.signals.SIGKILL) }));
      await this.runtime.kill(c.id, 'SIGKILL', true).catch((e) => { if (!isNotFound(e)) throw e; });
      await exited;
    }
    this.d.events.emit('container', 'stop', c.id, this.attrs(c));
  }

  /** `volumes`: also remove the container's anonymous volumes (`rm -v`). */
  async remove(ref: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
    await this.init();
    const c = this.get(ref);
    if (isUp(c)) {
      if (!opts.force) {
        throw conflict(`cannot remove container "/${c.name}": container is running: stop the container before removing or force remove`);
      }
      const exited = nextEvent(this.bus, `exit:${c.id}`);
      this.d.events.emit('container', 'kill', c.id, this.attrs(c, { signal: String(osConstants.signals.SIGKILL) }));
      await this.lifecycle?.stopping(c.id);
      await this.runtime.kill(c.id, 'SIGKILL', true).catch(() => undefined);
      let timer: NodeJS.Timeout | undefined;
      const gaveUp = await Promise.race([exited.then(() => false), new Promise<boolean>((r) => { timer = setTimeout(() => r(true), 15_000); })]);
      if (timer) clearTimeout(timer);
      if (gaveUp) this.d.log.warn('container did not report its exit after SIGKILL; removing anyway', { id: c.id });
    }
    await this.withLock(c.id, async () => {
      const cur = this.store.get(c.id);
      if (!cur) throw notFound(`No such container: ${ref}`);
      this.store.setState(c.id, { ...cur.state, status: 'removing' });
      await this.destroy(cur, opts.volumes);
    });
  }

  /** Remove everything of a container; used by remove and by reconciliation of an interrupted removal. */
  async destroy(c: ContainerRecord, removeVolumes = false): Promise<void> {
    // released at its exit by this daemon (and not started since): only the exit file is left to forget
    if (this.released.delete(c.id)) await this.runtime.forgetReleased(c.id);
    else await this.releaseTask(c.id, true);
    if (await isMounted(this.paths.rootfs(c.id))) throw internal(`cannot remove container ${c.id}: its root filesystem is still mounted`);
    await removeContainerDir(this.paths, c.id);
    this.store.remove(c.id);
    await this.resources.removed(c, removeVolumes);
    this.attaches.endPending(c.id);
    this.d.events.emit('container', 'destroy', c.id, this.attrs(c));
    this.bus.emit(`removed:${c.id}`, c.state.exitCode);
  }

  list(opts: ListOptions = {}) {
    return listContainers(this.queryDeps(), opts);
  }

  inspect(ref: string) {
    const c = this.get(ref);
    // `docker exec` (and attach, compose) look a running container up first: an exec's cgroup join may follow
    if (c.state.status === 'running') this.runtime.warmCgroups(WARM_AFTER_INSPECT_MS);
    return inspectContainer(this.queryDeps(), c);
  }

  /** `size=1` of list, inspect and /system/df: the rows with their SizeRw and SizeRootFs */
  withSizes<T extends { Id: string }>(rows: T[]) {
    return sizedRows(this.queryDeps(), rows);
  }

  private queryDeps(): ContainerQueryDeps {
    return {
      store: this.store, images: this.d.images, layers: this.d.layers, resources: this.resources, paths: this.paths,
      health: (id) => this.lifecycle?.health?.(id),
    };
  }

  /** Log records as the container wrote them; `timestamps` prefixes each with its RFC3339Nano time. */
  logs(ref: string, o: ContainerLogsOptions, signal?: AbortSignal): AsyncGenerator<LogChunk> {
    const c = this.get(ref);
    return containerLogs(c, this.paths.log(c.id), () => { const cur = this.store.get(c.id); return Boolean(cur && isUp(cur)); }, o, signal);
  }

  /** Attach a client; a session on a container that is not running waits for its next start. */
  async attach(ref: string, opts: AttachOptions, sink: AttachSink): Promise<AttachHandle> {
    await this.init();
    const c = this.get(ref);
    const session = new AttachSession(opts, sink, (s) => this.attaches.remove(c.id, s));
    this.d.events.emit('container', 'attach', c.id, this.attrs(c));
    await connectSession(session, {
      id: c.id, status: c.state.status, initPid: c.state.pid, runtime: this.runtime, hub: this.attaches, log: this.d.log,
      stillRunning: () => this.store.get(c.id)?.state.status === 'running',
      stopped: () => nextEvent(this.bus, `stopped:${c.id}`, AbortSignal.timeout(10_000)).then(() => undefined, () => undefined),
    });
    return session;
  }

  /** Set the TTY size of a running container (POST /containers/{id}/resize). */
  async resize(ref: string, height: number, width: number): Promise<void> {
    const c = this.get(ref);
    if (!isUp(c)) throw conflict(`Container ${c.id} is not running`);
    if (!c.config.Tty) return;
    await this.runtime.resize(this.paths.bundle(c.id), height, width).catch((e) => {
      throw internal(`cannot resize tty of container ${c.id}: ${errorMessage(e)}`);
    });
  }

  /** Mark a container exited without an exit file (reconciliation: state lost while berthd was down). */
  async markExited(id: string, exitCode: number, error: string): Promise<void> {
    await this.handleExit(id, exitCode, error);
  }
}
