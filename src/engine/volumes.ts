/**
 * Volumes with Docker's `local` driver: <data-root>/volumes/<name>/_data, one `volumes` row each. A volume
 * with DriverOpts (type, device, o) is `mount -t type -o o device _data` at first use, as Docker does, and
 * unmounted on removal. Which containers use a volume is the container service's knowledge (`usedBy`).
 */
import { lstat, mkdir, readdir, rm } from 'node:fs/promises';
import * as path from 'node:path';
import { conflict, internal, invalidArgument, notFound } from '../errors';
import { labelMatches, loosely } from '../network/create';
import { runTool } from '../network/exec';
import { mountPoints } from '../network/netns';
import { sortedMap } from '../network/views';
import type { Filters } from '../api/http-util';
import type { Db } from '../store/db';
import { newId } from '../util/ids';
import type { Logger } from '../util/logger';
import { joinInRoot } from '../util/secure-path';
import type { EventLog } from './events';
import { directorySize } from '../util/dir-size';

export interface VolumeServiceDeps {
  dataRoot: string;
  db: Db;
  events: EventLog;
  log: Logger;
  /** IDs of containers that use the volume (any state) */
  usedBy?: (name: string) => string[];
}

export interface VolumeCreateRequest {
  Name?: string;
  Driver?: string;
  DriverOpts?: Record<string, string> | null;
  Labels?: Record<string, string> | null;
}

export interface VolumeView {
  Name: string;
  Driver: string;
  Mountpoint: string;
  CreatedAt: string;
  Labels: Record<string, string>;
  Scope: 'local';
  Options: Record<string, string> | null;
  UsageData?: { Size: number; RefCount: number };
}

export const VOLUME_LIST_FILTERS = ['dangling', 'driver', 'label', 'name'] as const;
export const VOLUME_PRUNE_FILTERS = ['label', 'label!', 'all'] as const;
export const ANONYMOUS_LABEL = 'com.docker.volume.anonymous';

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const LOCAL_OPTS = ['type', 'device', 'o', 'size'];

interface VolumeRow { name: string; driver: string; labels: string; options: string; anonymous: number; created_at: string }

export class VolumeService {
  readonly root: string;
  private usedBy: (name: string) => string[];

  constructor(private readonly d: VolumeServiceDeps) {
    this.root = path.join(d.dataRoot, 'volumes');
    this.usedBy = d.usedBy ?? (() => []);
  }

  /** Late wiring: the container service answers which containers use a volume. */
  setUsageSource(usedBy: (name: string) => string[]): void {
    this.usedBy = usedBy;
  }

  dir(name: string): string {
    return joinInRoot(this.root, name);
  }

  mountpoint(name: string): string {
    return path.join(this.dir(name), '_data');
  }

  private row(name: string): VolumeRow | undefined {
    return this.d.db.prepare('SELECT * FROM volumes WHERE name = ?').get(name) as VolumeRow | undefined;
  }

  private view(r: VolumeRow): VolumeView {
    const options = JSON.parse(r.options) as Record<string, string>;
    return {
      CreatedAt: r.created_at, Driver: r.driver, Labels: sortedMap(JSON.parse(r.labels)), Mountpoint: this.mountpoint(r.name),
      Name: r.name, Options: Object.keys(options).length > 0 ? sortedMap(options) : null, Scope: 'local',
    };
  }

  async create(req: VolumeCreateRequest, opts: { anonymous?: boolean } = {}): Promise<VolumeView> {
    const anonymous = opts.anonymous === true || !req.Name;
    const name = req.Name || newId();
    if (!NAME_RE.test(name)) {
      throw invalidArgument(`create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
    }
    const driver = req.Driver || 'local';
    if (driver !== 'local') throw notFound(`create ${name}: error looking up volume plugin ${driver}: plugin "${driver}" not found`);
    const options = { ...(req.DriverOpts ?? {}) };
    for (const k of Object.keys(options)) if (!LOCAL_OPTS.includes(k)) throw invalidArgument(`create ${name}: invalid option: "${k}"`);
    if ((options.type || options.o || options.device) && (!options.type || !options.device)) {
      throw invalidArgument(`create ${name}: missing required option: "${options.type ? 'device' : 'type'}"`);
    }
    if (options.size) throw invalidArgument(`create ${name}: quota size requested but no quota support`);
    const existing = this.row(name);
    if (existing) return this.view(existing);
    const labels = { ...(req.Labels ?? {}) };
    if (anonymous) labels[ANONYMOUS_LABEL] = '';
    await mkdir(this.mountpoint(name), { recursive: true, mode: 0o755 });
    const createdAt = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const inserted = this.d.db.prepare('INSERT OR IGNORE INTO volumes (name, driver, labels, options, anonymous, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(name, driver, JSON.stringify(labels), JSON.stringify(options), anonymous ? 1 : 0, createdAt);
    if (inserted.changes === 1) this.d.events.emit('volume', 'create', name, { driver });
    return this.view(this.row(name)!);
  }

  get(name: string): VolumeView {
    const r = this.row(name);
    if (!r) throw notFound(`get ${name}: no such volume`);
    return this.view(r);
  }

  /**
   * The volume a container mounts: a named one (created when missing) or a new anonymous one. Mounts the
   * volume's device on first use when it has DriverOpts.
   */
  async ensure(name: string | undefined, opts: { anonymous?: boolean; labels?: Record<string, string> } = {}): Promise<{ name: string; mountpoint: string; created: boolean }> {
    const existed = name ? this.row(name) !== undefined : false;
    const v = existed ? this.get(name!) : await this.create({ Name: name, Labels: opts.labels }, { anonymous: opts.anonymous ?? !name });
    await this.mountDevice(v);
    return { name: v.Name, mountpoint: v.Mountpoint, created: !existed };
  }

  private async mountDevice(v: VolumeView): Promise<void> {
    const o = v.Options;
    if (!o?.type || !o.device) return;
    if ((await mountPoints()).has(v.Mountpoint)) return;
    const args = ['-t', o.type, ...(o.o ? ['-o', o.o] : []), o.device, v.Mountpoint];
    const r = await runTool('mount', args);
    if (r.code !== 0) throw internal(`error while mounting volume '${v.Mountpoint}': failed to mount local volume: mount ${o.device}:${v.Mountpoint}, flags: ${o.o ?? ''}: ${r.stderr.trim()}`);
  }

  private async unmountDevice(name: string): Promise<void> {
    const mp = this.mountpoint(name);
    if (!(await mountPoints()).has(mp)) return;
    const r = await runTool('umount', [mp]);
    if (r.code !== 0) throw internal(`remove ${name}: unmount ${mp}: ${r.stderr.trim()}`);
  }

  /** Copy the image's content at the mount path into the volume when the volume is empty (Docker's copy-up). */
  async seedFromImage(name: string, imageDir: string): Promise<boolean> {
    const data = this.mountpoint(this.get(name).Name);
    const [inVolume, inImage] = await Promise.all([readdir(data).catch(() => []), readdir(imageDir).catch(() => [])]);
    if (inVolume.length > 0 || inImage.length === 0) return false;
    const st = await lstat(imageDir);
    if (!st.isDirectory()) return false;
    const r = await runTool('cp', ['-a', '--', `${imageDir}/.`, `${data}/`]);
    if (r.code !== 0) throw internal(`copy image content into volume ${name}: ${r.stderr.trim()}`);
    return true;
  }

  async remove(name: string, force = false): Promise<void> {
    const r = this.row(name);
    if (!r) {
      if (force) return;
      throw notFound(`get ${name}: no such volume`);
    }
    const users = this.usedBy(name);
    if (users.length > 0) throw conflict(`remove ${name}: volume is in use - [${users.join(', ')}]`);
    await this.unmountDevice(name);
    this.d.db.prepare('DELETE FROM volumes WHERE name = ?').run(name);
    await rm(this.dir(name), { recursive: true, force: true });
    this.d.events.emit('volume', 'destroy', name, { driver: r.driver });
  }

  private rows(): VolumeRow[] {
    return this.d.db.prepare('SELECT * FROM volumes ORDER BY name').all() as VolumeRow[];
  }

  list(filters: Filters = new Map()): { Volumes: VolumeView[]; Warnings: string[] } {
    const dangling = filters.get('dangling');
    for (const v of dangling ?? []) if (!['true', 'false', '1', '0'].includes(v.toLowerCase())) throw invalidArgument(`invalid filter 'dangling=${v}'`);
    const volumes = this.rows().filter((r) => {
      const labels = JSON.parse(r.labels) as Record<string, string>;
      if (dangling?.length) {
        const want = ['true', '1'].includes(dangling[0].toLowerCase());
        if ((this.usedBy(r.name).length === 0) !== want) return false;
      }
      const names = filters.get('name');
      if (names?.length && !names.some((n) => loosely(r.name, n))) return false;
      const drivers = filters.get('driver');
      if (drivers?.length && !drivers.some((d) => loosely(r.driver, d))) return false;
      if (!(filters.get('label') ?? []).every((l) => labelMatches(labels, l))) return false;
      return true;
    });
    return { Volumes: volumes.map((r) => this.view(r)), Warnings: [] };
  }

  /**
   * Remove unused volumes. From API 1.42 only anonymous ones unless `all=true`, as dockerd does.
   */
  async prune(filters: Filters = new Map(), apiVersion = '1.47'): Promise<{ VolumesDeleted: string[]; SpaceReclaimed: number }> {
    const [maj, min] = apiVersion.split('.').map(Number);
    const all = (filters.get('all') ?? []).some((v) => ['true', '1'].includes(v.toLowerCase())) || maj < 1 || (maj === 1 && min < 42);
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const r of this.rows()) {
      const labels = JSON.parse(r.labels) as Record<string, string>;
      if (!all && !(ANONYMOUS_LABEL in labels)) continue;
      if (!(filters.get('label') ?? []).every((l) => labelMatches(labels, l))) continue;
      if ((filters.get('label!') ?? []).some((l) => labelMatches(labels, l))) continue;
      if (this.usedBy(r.name).length > 0) continue;
      const size = await directorySize(this.mountpoint(r.name));
      try {
        await this.remove(r.name);
      } catch (err) {
        this.d.log.warn('volume prune: not removed', { volume: r.name, error: (err as Error).message });
        continue;
      }
      deleted.push(r.name);
      reclaimed += size;
    }
    return { VolumesDeleted: deleted, SpaceReclaimed: reclaimed };
  }

  /** Volumes with UsageData, for `/system/df`. */
  async diskUsage(): Promise<VolumeView[]> {
    const out: VolumeView[] = [];
    for (const r of this.rows()) {
      out.push({ ...this.view(r), UsageData: { Size: await directorySize(this.mountpoint(r.name)), RefCount: this.usedBy(r.name).length } });
    }
    return out;
  }
}
