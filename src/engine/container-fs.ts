/**
 * A container's files from outside: stat, archive (cp out), extract (cp in), changes (diff), export.
 * Work happens under the container's lock on its merged root filesystem: the running container's mount (the
 * container frozen meanwhile, see container-freeze.ts), or a temporary mount of a stopped one that is undone
 * afterwards (nothing can start the container meanwhile).
 */
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { conflict, errorMessage, forbidden, invalidArgument } from '../errors';
import { decompressStream } from '../image/archive/extract';
import type { ImageStore, LayerStore } from '../image/types';
import { resolveUser } from '../runtime/user';
import type { Logger } from '../util/logger';
import { extractTar, tarPath, tarTreeContents } from './container-archive';
import { containerChanges, type Change } from './container-changes';
import { fileNotFound, goBase, resolveFollow, resolveNoFollowLast, statPath, type ContainerPathStat } from './container-path';
import type { ContainerService } from './containers';
import type { ContainerRecord } from './containers-store';
import { isMounted, mountRootfs, unmountRootfs } from './containers-task';
import type { EventLog } from './events';
import { whileFrozen } from './container-freeze';

export interface ContainerFsDeps {
  containers: ContainerService;
  images: ImageStore;
  layers: LayerStore;
  events: EventLog;
  log: Logger;
}

export interface ExtractRequest {
  noOverwriteDirNonDir: boolean;
  copyUIDGID: boolean;
}

export class ContainerFs {
  constructor(private readonly d: ContainerFsDeps) {}

  private attrs(c: ContainerRecord, extra: Record<string, string> = {}): Record<string, string> {
    return { ...(c.config.Labels ?? {}), image: c.config.Image, name: c.name, ...extra };
  }

  /** Lowest layer dirs of the container's image, top first ([] for an image without layers). */
  lowerDirs(c: ContainerRecord): string[] {
    const image = this.d.images.get(c.imageId);
    if (!image) throw conflict(`container ${c.id}: its image ${c.imageId} was removed`);
    return image.layers.length ? this.d.layers.lowerDirs(image.layers[image.layers.length - 1]) : [];
  }

  /** Run `fn` with the container's merged root mounted, under the container's lock. */
  async withRoot<T>(ref: string, fn: (root: string, c: ContainerRecord) => Promise<T>): Promise<T> {
    const { id } = this.d.containers.get(ref);
    const paths = this.d.containers.paths;
    return this.d.containers.exclusive(id, async () => {
      const c = this.d.containers.get(id);
      const root = paths.rootfs(id);
      if (await isMounted(root)) {
        return whileFrozen(this.d.containers, c, () => fn(root, c), (e) => this.d.log.warn('resuming a container after cp', { id, error: e }));
      }
      const image = this.d.images.get(c.imageId);
      if (!image) throw conflict(`container ${c.id}: its image ${c.imageId} was removed`);
      await fs.mkdir(root, { recursive: true });
      await mountRootfs(this.d.layers, paths, c, image.layers);
      try {
        return await fn(root, c);
      } finally {
        await unmountRootfs(paths, id).catch((e) => this.d.log.warn('unmounting a stopped container root', { id, error: errorMessage(e) }));
      }
    });
  }

  async stat(ref: string, userPath: string): Promise<ContainerPathStat> {
    return this.withRoot(ref, async (root) => (await statPath(root, await resolveNoFollowLast(root, userPath), userPath, ref)).stat);
  }

  /**
   * GET /archive: stat the path, let the caller open its output (headers go out with the stat), then stream
   * the tar into it. Entries start at the path's base name, as dockerd names them.
   */
  async archive(ref: string, userPath: string, open: (stat: ContainerPathStat) => Writable): Promise<void> {
    await this.withRoot(ref, async (root, c) => {
      const r = await resolveNoFollowLast(root, userPath);
      const { stat } = await statPath(root, r, userPath, ref);
      const out = open(stat);
      await pipeline(tarPath(r.host, goBase(r.abs)), out);
      this.d.events.emit('container', 'archive-path', c.id, this.attrs(c, { path: userPath }));
    });
  }

  /** PUT /archive: extract a (possibly compressed) tar into the directory at `userPath`. */
  async extract(ref: string, userPath: string, body: Readable, o: ExtractRequest): Promise<void> {
    await this.withRoot(ref, async (root, c) => {
      const dest = await resolveFollow(root, userPath);
      let st;
      try {
        st = await fs.lstat(dest);
      } catch {
        throw fileNotFound(userPath, ref);
      }
      if (!st.isDirectory()) throw invalidArgument('extraction point is not a directory');
      if (c.hostConfig.ReadonlyRootfs) throw forbidden('container rootfs is marked read-only');
      let chown: { uid: number; gid: number } | undefined;
      if (o.copyUIDGID) {
        const u = await resolveUser(root, c.config.User);
        chown = { uid: u.uid, gid: u.gid };
      }
      const plain = await decompressStream(body);
      await extractTar(root, path.relative(root, dest), plain as AsyncIterable<Buffer>, { noOverwriteDirNonDir: o.noOverwriteDirNonDir, chown });
      this.d.events.emit('container', 'extract-to-dir', c.id, this.attrs(c, { path: userPath }));
    });
  }

  async changes(ref: string): Promise<Change[]> {
    const c = this.d.containers.get(ref);
    return containerChanges(this.d.containers.paths.upper(c.id), this.lowerDirs(c));
  }

  /** GET /export: the merged root filesystem as one tar (relative names, no entry for the root). */
  async export(ref: string, open: () => Writable): Promise<void> {
    let out: Writable | undefined;
    await this.withRoot(ref, async (root, c) => {
      out = open();
      await pipeline(tarTreeContents(root), out, { end: false });
      this.d.events.emit('container', 'export', c.id, this.attrs(c));
    });
    out?.end(); // after the root is unmounted again, so a client that has the whole tar sees nothing left mounted
  }
}
