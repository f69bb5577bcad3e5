/**
 * What a container holds besides its task and rootfs: mounts (volumes, binds, tmpfs) and network endpoints.
 * The container service calls one method per lifecycle step:
 *
 *   prepare   create: resolve mounts (creating volumes), lease endpoints; `abort` undoes it if create fails
 *   start     after the spec is built: seed/add mounts, join networks, write hosts/resolv.conf
 *   stop      exit/stop/failed start: network teardown, host ports freed, netns removed
 *   removed   removal: endpoints released, anonymous volumes removed when asked (`rm -v`, `--rm`)
 *   view      inspect/list: live NetworkSettings
 */
import { access } from 'node:fs/promises';
import { errorMessage } from '../errors';
import { unmountIfMounted } from '../runtime/rootfs';
import type { Logger } from '../util/logger';
import { linkEnv, linksOf, normalizeLinks } from './container-links';
import { ContainerMounts, containersUsingVolume, type MountPoint } from './container-mounts';
import { applyNamespaceModes, normalizeNamespaceModes, shareableShmDir } from './container-namespaces';
import { ContainerNetworking, networkModeOf, portsSummary, type EndpointSettingsIndex } from './container-network';
import type { CreateRequest } from './containers-config';
import type { ContainerRecord } from './containers-store';
import type { NetworkService } from './networks';
import type { VolumeService } from './volumes';

export interface ContainerResourcesDeps {
  networks?: NetworkService;
  volumes?: VolumeService;
  log: Logger;
  get(ref: string): ContainerRecord;
  dir(id: string): string;
  all(): ContainerRecord[];
}

export class ContainerResources {
  readonly mounts: ContainerMounts;
  readonly net?: ContainerNetworking;

  constructor(private readonly d: ContainerResourcesDeps) {
    this.mounts = new ContainerMounts(d.volumes, d.log);
    if (d.networks) this.net = new ContainerNetworking(d.networks, { get: d.get, dir: d.dir }, d.log);
  }

  /** Late wiring of the services that need to know about containers (call once, after construction). */
  wire(): void {
    this.d.volumes?.setUsageSource((name) => containersUsingVolume(this.d.all(), name));
    if (this.net) this.d.networks?.setContainerHooks(this.net.hooks());
  }

  /** Create: fills `record.mounts`, adjusts Config/HostConfig for the network mode and leases endpoints. */
  async prepare(record: ContainerRecord, req: CreateRequest): Promise<void> {
    normalizeNamespaceModes(record.hostConfig, record.config, req.Hostname || undefined);
    record.hostConfig.Links = normalizeLinks(record.hostConfig.Links, record.name, this.d.get);
    record.mounts = await this.mounts.resolve(record.config, record.hostConfig, this.d.get);
    try {
      this.net?.prepare(record.id, record.name, record.config, record.hostConfig, req.NetworkingConfig, req.Hostname || undefined);
    } catch (err) {
      await this.abort(record);
      throw err;
    }
  }

  /** Undo `prepare` for a container that was never stored. */
  async abort(record: ContainerRecord): Promise<void> {
    await this.net?.release(record.id).catch(() => undefined);
    await this.mounts.removeVolumes(this.mounts.anonymousVolumes(record.mounts as MountPoint[]));
  }

  /** Start, after the rootfs is mounted and the spec built. */
  async start(c: ContainerRecord, spec: Record<string, unknown>, rootfs: string): Promise<void> {
    const extra = await this.mounts.ociMounts(c, rootfs);
    (spec.mounts as unknown[]).push(...extra);
    await applyNamespaceModes(c, spec, this.d.get, this.d.dir);
    await this.net?.join(c, spec);
    // legacy links' variables: on the default bridge only, as with dockerd
    if (this.net && linksOf(c).length && networkModeOf(c.hostConfig) === 'bridge') {
      const proc = spec.process as { env: string[] };
      proc.env = [...proc.env, ...linkEnv(c.name, this.net.linked(c))];
    }
  }

  /** The task is gone (exit, stop, failed start). */
  async stop(id: string): Promise<void> {
    const shm = shareableShmDir(this.d.dir(id));
    await Promise.all([
      this.net?.leave(id).catch((e) => this.d.log.warn('network teardown failed', { id, error: errorMessage(e) })),
      // only shareable containers have one (a stat, then a look at the mount table)
      access(shm).then(() => unmountIfMounted(shm), () => undefined).catch((e) => this.d.log.warn('unmounting /dev/shm failed', { id, error: errorMessage(e) })),
    ]);
  }

  /** The record was deleted. */
  async removed(c: ContainerRecord, removeVolumes: boolean): Promise<void> {
    await this.net?.release(c.id).catch((e) => this.d.log.warn('releasing endpoints failed', { id: c.id, error: errorMessage(e) }));
    if (removeVolumes) await this.mounts.removeVolumes(this.mounts.anonymousVolumes(c.mounts as MountPoint[]));
  }

  /** For views of many containers at once (the list): see ContainerNetworking.settings. */
  endpointSettingsIndex(): EndpointSettingsIndex | undefined {
    return this.net?.endpointSettingsIndex();
  }

  /** The record with live NetworkSettings (for inspect); `ports` for the list view. */
  view(c: ContainerRecord, index?: EndpointSettingsIndex): { record: ContainerRecord; ports: Record<string, unknown>[] } {
    if (!this.net) return { record: c, ports: [] };
    const networkSettings = this.net.settings(c, index);
    const ports = portsSummary(networkSettings.Ports as Record<string, { HostIp: string; HostPort: string }[] | null>);
    return { record: { ...c, networkSettings }, ports };
  }

  /** Daemon start: GC of network state of containers that are not running / no longer exist. */
  async gc(): Promise<void> {
    const all = this.d.all();
    const live = all.filter((c) => ['running', 'paused', 'restarting'].includes(c.state.status)).map((c) => c.id);
    await this.d.networks?.gcOnStartup(live, all.map((c) => c.id));
  }
}
