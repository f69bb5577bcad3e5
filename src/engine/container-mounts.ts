/**
 * A container's mounts: `-v`/Binds, `--mount` (HostConfig.Mounts), image VOLUMEs and `-v /path` (Config.Volumes,
 * anonymous volumes), `--volumes-from`, `--tmpfs`. At create they are resolved into the records inspect shows
 * (`Mounts`, dockerd's MountPoint shape) and named/anonymous volumes are created; at start they become OCI
 * mounts, and empty volumes are seeded from the image content at their path (Docker's copy-up).
 */
import { mkdir, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { errorMessage, invalidArgument, notFound } from '../errors';
import type { Logger } from '../util/logger';
import { joinInRoot } from '../util/secure-path';
import type { ContainerConfigRecord, ContainerRecord, HostConfigRecord } from './containers-store';
import { ANONYMOUS_LABEL, type VolumeService } from './volumes';

/** One entry of inspect's `Mounts`, as dockerd shows it. */
export interface MountPoint {
  Type: 'bind' | 'volume' | 'tmpfs';
  Name?: string;
  Source: string;
  Destination: string;
  Driver?: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
}

interface ApiMount {
  Type?: string;
  Source?: string;
  Target?: string;
  ReadOnly?: boolean;
  BindOptions?: { Propagation?: string; CreateMountpoint?: boolean } | null;
  VolumeOptions?: { NoCopy?: boolean; Labels?: Record<string, string> | null } | null;
  TmpfsOptions?: { SizeBytes?: number; Mode?: number } | null;
}

/** An OCI `mounts` entry. */
export interface OciMount { destination: string; type: string; source: string; options: string[] }

const PROPAGATIONS = ['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave'];

const clean = (p: string) => path.posix.normalize(p).replace(/(.)\/$/, '$1');

function checkTarget(target: string, what: string): string {
  if (!target) throw invalidArgument(`invalid mount config for type "${what}": field Target must not be empty`);
  if (!path.posix.isAbsolute(target)) throw invalidArgument(`invalid mount path: '${target}' mount path must be absolute`);
  if (clean(target) === '/') throw invalidArgument('invalid specification: destination can\'t be \'/\'');
  return clean(target);
}

/** `-v` / Binds entry: `src:dst[:opts]`, where an absolute src is a host path and anything else a volume name. */
function parseBind(spec: string): { source: string; target: string; opts: string[] } {
  const parts = spec.split(':');
  if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1]) throw invalidArgument(`invalid volume specification: '${spec}'`);
  const opts = parts[2] ? parts[2].split(',') : [];
  for (const o of opts) {
    if (!['ro', 'rw', 'z', 'Z', 'nocopy', ...PROPAGATIONS].includes(o)) throw invalidArgument(`invalid mode: ${o}`);
  }
  return { source: parts[0], target: checkTarget(parts[1], 'bind'), opts };
}

export class ContainerMounts {
  constructor(private readonly volumes: VolumeService | undefined, private readonly log: Logger) {}

  private requireVolumes(): VolumeService {
    if (!this.volumes) throw invalidArgument('volumes are not available in this daemon');
    return this.volumes;
  }

  private async volumeMount(name: string | undefined, target: string, rw: boolean, mode: string, labels?: Record<string, string>): Promise<MountPoint> {
    const v = await this.requireVolumes().ensure(name, { anonymous: !name, labels: labels ?? undefined });
    return { Type: 'volume', Name: v.name, Source: v.mountpoint, Destination: target, Driver: 'local', Mode: mode, RW: rw, Propagation: '' };
  }

  /**
   * Resolve the mounts of a new container (creating volumes as needed). `lookup` finds `--volumes-from` sources.
   * Later entries never shadow earlier ones for the same destination: explicit mounts win over image VOLUMEs.
   */
  async resolve(config: ContainerConfigRecord, hc: HostConfigRecord, lookup: (ref: string) => ContainerRecord): Promise<MountPoint[]> {
    const out: MountPoint[] = [];
    try {
      await this.resolveInto(out, config, hc, lookup);
    } catch (err) {
      await this.removeVolumes(this.anonymousVolumes(out));
      throw err;
    }
    return out;
  }

  private async resolveInto(out: MountPoint[], config: ContainerConfigRecord, hc: HostConfigRecord, lookup: (ref: string) => ContainerRecord): Promise<void> {
    const taken = new Set<string>();
    const add = (m: MountPoint) => {
      if (taken.has(m.Destination)) throw invalidArgument(`Duplicate mount point: ${m.Destination}`);
      taken.add(m.Destination);
      out.push(m);
    };
    for (const spec of (hc.Binds as string[] | null | undefined) ?? []) {
      const b = parseBind(spec);
      const rw = !b.opts.includes('ro');
      if (path.posix.isAbsolute(b.source)) {
        // dockerd creates a missing host directory for -v (not for --mount)
        if (!(await stat(b.source).catch(() => undefined))) await mkdir(b.source, { recursive: true });
        const propagation = b.opts.find((o) => PROPAGATIONS.includes(o)) ?? 'rprivate';
        add({ Type: 'bind', Source: clean(b.source), Destination: b.target, Mode: b.opts.join(','), RW: rw, Propagation: propagation });
      } else {
        add(await this.volumeMount(b.source, b.target, rw, b.opts.join(',') || 'z'));
      }
    }
    for (const m of (hc.Mounts as ApiMount[] | null | undefined) ?? []) {
      const type = m.Type ?? '';
      const target = checkTarget(m.Target ?? '', type);
      if (type === 'bind') {
        const source = m.Source ?? '';
        if (!path.posix.isAbsolute(source)) throw invalidArgument(`invalid mount config for type "bind": invalid mount path: '${source}' mount path must be absolute`);
        try {
          await stat(source);
        } catch {
          // compose sets CreateMountpoint for binds whose host directory may not exist yet
          if (m.BindOptions?.CreateMountpoint) await mkdir(source, { recursive: true });
          else throw invalidArgument(`invalid mount config for type "bind": bind source path does not exist: ${source}`);
        }
        add({ Type: 'bind', Source: clean(source), Destination: target, Mode: '', RW: !m.ReadOnly, Propagation: m.BindOptions?.Propagation || 'rprivate' });
      } else if (type === 'volume') {
        add(await this.volumeMount(m.Source || undefined, target, !m.ReadOnly, '', m.VolumeOptions?.Labels ?? undefined));
      } else if (type === 'tmpfs') {
        if (m.Source) throw invalidArgument('invalid mount config for type "tmpfs": field Source must not be specified');
        add({ Type: 'tmpfs', Source: '', Destination: target, Mode: '', RW: !m.ReadOnly, Propagation: '' });
      } else {
        throw invalidArgument(`invalid mount config for type "${type}": mount type unknown`);
      }
    }
    for (const target of Object.keys((hc.Tmpfs as Record<string, string> | null | undefined) ?? {})) taken.add(checkTarget(target, 'tmpfs'));
    for (const ref of (hc.VolumesFrom as string[] | null | undefined) ?? []) {
      const [name, mode] = ref.split(':');
      if (mode && mode !== 'ro' && mode !== 'rw') throw invalidArgument(`invalid mode for volumes-from: ${mode}`);
      const src = lookup(name);
      for (const m of src.mounts as MountPoint[]) {
        if (m.Type === 'tmpfs' || taken.has(m.Destination)) continue;
        add({ ...m, RW: mode ? mode === 'rw' : m.RW });
      }
    }
    for (const target of Object.keys(config.Volumes ?? {})) {
      const dst = checkTarget(target, 'volume');
      if (taken.has(dst)) continue;
      add(await this.volumeMount(undefined, dst, true, ''));
    }
  }

  /** Anonymous volumes created for `mounts` (to delete on `rm -v`, or when create fails). */
  anonymousVolumes(mounts: MountPoint[]): string[] {
    if (!this.volumes) return [];
    const names: string[] = [];
    for (const m of mounts) {
      if (m.Type !== 'volume' || !m.Name) continue;
      try {
        if (ANONYMOUS_LABEL in this.volumes.get(m.Name).Labels) names.push(m.Name);
      } catch { /* already gone */ }
    }
    return names;
  }

  /** Remove volumes, skipping those still in use by another container. */
  async removeVolumes(names: string[]): Promise<void> {
    for (const n of names) {
      await this.volumes?.remove(n, true).catch((e) => this.log.debug('volume kept', { volume: n, error: errorMessage(e) }));
    }
  }

  /**
   * The OCI mounts for a start, after the rootfs is mounted: volumes still empty are seeded from the image
   * content at their destination first (unless `nocopy`).
   */
  async ociMounts(c: ContainerRecord, rootfs: string): Promise<OciMount[]> {
    const noCopy = new Set<string>();
    for (const spec of (c.hostConfig.Binds as string[] | null | undefined) ?? []) {
      const [, target, opts] = spec.split(':');
      if (opts?.split(',').includes('nocopy')) noCopy.add(clean(target));
    }
    for (const m of (c.hostConfig.Mounts as ApiMount[] | null | undefined) ?? []) if (m.VolumeOptions?.NoCopy && m.Target) noCopy.add(clean(m.Target));
    const out: OciMount[] = [];
    for (const m of c.mounts as MountPoint[]) {
      if (m.Type === 'tmpfs') {
        out.push({ destination: m.Destination, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'noexec', ...(m.RW ? [] : ['ro']), ...this.tmpfsOptions(c, m.Destination)] });
        continue;
      }
      if (m.Type === 'volume' && m.Name && !noCopy.has(m.Destination) && this.volumes) {
        try {
          await this.volumes.seedFromImage(m.Name, joinInRoot(rootfs, m.Destination));
        } catch (err) {
          if (!/no such volume/.test(errorMessage(err))) throw err;
          throw notFound(`error while mounting volume '${m.Source}': volume ${m.Name} was removed`);
        }
      }
      out.push({ destination: m.Destination, type: 'bind', source: m.Source, options: ['rbind', m.Propagation || 'rprivate', ...(m.RW ? [] : ['ro'])] });
    }
    for (const [target, opts] of Object.entries((c.hostConfig.Tmpfs as Record<string, string> | null | undefined) ?? {})) {
      const given = opts ? opts.split(',').filter(Boolean) : [];
      const base = ['nosuid', 'nodev', 'noexec'].filter((o) => !given.some((g) => g === o.replace(/^no/, '') || g === o));
      out.push({ destination: clean(target), type: 'tmpfs', source: 'tmpfs', options: [...base, ...given] });
    }
    // parents before children, as dockerd sorts them
    return out.sort((a, b) => a.destination.split('/').length - b.destination.split('/').length);
  }

  private tmpfsOptions(c: ContainerRecord, target: string): string[] {
    const m = ((c.hostConfig.Mounts as ApiMount[] | null | undefined) ?? []).find((x) => x.Type === 'tmpfs' && x.Target && clean(x.Target) === target);
    const o: string[] = [];
    if (m?.TmpfsOptions?.SizeBytes) o.push(`size=${m.TmpfsOptions.SizeBytes}`);
    if (m?.TmpfsOptions?.Mode) o.push(`mode=${m.TmpfsOptions.Mode.toString(8)}`);
    return o;
  }
}

/** IDs of containers whose mounts use volume `name` (the VolumeService usage source). */
export function containersUsingVolume(all: ContainerRecord[], name: string): string[] {
  return all.filter((c) => (c.mounts as MountPoint[]).some((m) => m.Type === 'volume' && m.Name === name)).map((c) => c.id);
}
