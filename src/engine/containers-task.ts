import { mkdir, rename, rm } from 'node:fs/promises';
import * as path from 'node:path';
import type { LayerStore } from '../image/types';
import { writeEtcFiles } from '../runtime/etc-files';
import { initLayer } from '../runtime/init-layer';
import { buildSpec, containerEnv } from '../runtime/oci-spec';
import { isMounted, mountOverlay, unmountIfMounted } from '../runtime/rootfs';
import { resolveUser } from '../runtime/user';
import { applyResources, type ResourceHostConfig } from '../runtime/resources';
import { applySecurity, type SecurityHostConfig } from '../runtime/security';
import { processArgs } from './containers-config';
import type { ContainerRecord } from './containers-store';

/**
 * Where a container's files live:
 *
 *   <data-root>/containers/<id>/
 *   ├── upper/ work/     overlay upper and work dirs (the container's own layer)
 *   ├── rootfs/          overlay mount point while the container runs (lower: <data-root>/init, then the image)
 *   ├── hostname hosts resolv.conf   bind-mounted at /etc
 *   ├── ctr.log          k8s-file log (berth-logger for non-TTY containers, conmon for TTY; ctr.log.N rotated)
 *   ├── conmon.pid exit oom          conmon's persist files
 *   └── bundle/          config.json (+ conmon's pidfile, ctl, winsz, attach socket)
 */
export class ContainerPaths {
  constructor(readonly dataRoot: string) {}
  dir(id: string) { return path.join(this.dataRoot, 'containers', id); }
  upper(id: string) { return path.join(this.dir(id), 'upper'); }
  work(id: string) { return path.join(this.dir(id), 'work'); }
  rootfs(id: string) { return path.join(this.dir(id), 'rootfs'); }
  bundle(id: string) { return path.join(this.dir(id), 'bundle'); }
  log(id: string) { return path.join(this.dir(id), 'ctr.log'); }
}

/** Make the container dir at create; the caller removes it when create fails later. */
export async function makeContainerDirs(p: ContainerPaths, id: string): Promise<void> {
  await mkdir(p.dir(id), { recursive: false, mode: 0o710 });
  await Promise.all([p.upper(id), p.work(id), p.rootfs(id), p.bundle(id)].map((d) => mkdir(d, { recursive: true })));
}

/** lowerdir option (the shared init layer above the image's layers) and the cwd it is relative to. */
export async function lowerFor(layers: LayerStore, p: ContainerPaths, chain: string[]): Promise<{ lower: string; cwd: string }> {
  // relative to the overlay root, where the layers' short links are: the option stays short
  const init = path.relative(layers.root, await initLayer(p.dataRoot));
  if (chain.length === 0) return { lower: init, cwd: layers.root };
  return { lower: `${init}:${layers.lowerOption(chain[chain.length - 1])}`, cwd: layers.root };
}

export async function mountRootfs(layers: LayerStore, p: ContainerPaths, c: ContainerRecord, chain: string[]): Promise<void> {
  const { lower, cwd } = await lowerFor(layers, p, chain);
  await mountOverlay({ lower, upper: p.upper(c.id), work: p.work(c.id), target: p.rootfs(c.id), cwd });
}

export async function unmountRootfs(p: ContainerPaths, id: string): Promise<void> {
  await unmountIfMounted(p.rootfs(id));
}

export { isMounted };

/**
 * Delete a container's directory (its rootfs unmounted). It is renamed into <data-root>/tmp first, one
 * quick step, and deleted from there in the background; tmp/ is emptied at daemon start, should that stop.
 */
export async function removeContainerDir(p: ContainerPaths, id: string): Promise<void> {
  const trash = path.join(p.dataRoot, 'tmp', `removed-${id}`);
  try {
    await rename(p.dir(id), trash);
  } catch {
    await rm(p.dir(id), { recursive: true, force: true }); // no tmp/ (or another file system): in place
    return;
  }
  void rm(trash, { recursive: true, force: true }).catch(() => undefined);
}

/** The OCI spec for the container's next start (after the rootfs is mounted: the user is resolved in it). */
export async function specFor(p: ContainerPaths, c: ContainerRecord, cgroupsPath: string, rootfsMounted: Promise<void>): Promise<Record<string, unknown>> {
  const cfg = c.config;
  const binds = await writeEtcFiles(p.dir(c.id), cfg.Hostname, cfg.Domainname);
  await rootfsMounted;
  const user = await resolveUser(p.rootfs(c.id), cfg.User);
  const spec = buildSpec({
    rootfs: p.rootfs(c.id),
    args: processArgs(cfg),
    env: containerEnv(cfg.Env ?? [], cfg.Hostname, cfg.Tty),
    cwd: cfg.WorkingDir || '/',
    user,
    terminal: cfg.Tty,
    hostname: cfg.Hostname,
    cgroupsPath,
    binds,
    readonlyRootfs: c.hostConfig.ReadonlyRootfs,
    privileged: c.hostConfig.Privileged,
  });
  await applyResources(spec, c.hostConfig as ResourceHostConfig);
  await applySecurity(spec, c.hostConfig as SecurityHostConfig, p.rootfs(c.id));
  return spec;
}
