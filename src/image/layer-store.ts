/**
 * Overlay layers on disk, one row each in `layers`:
 *
 *   <data-root>/overlay/
 *   ├── <cacheId>/
 *   │   ├── diff/    the unpacked layer (whiteouts as char 0/0 devices, opaque dirs by xattr)
 *   │   ├── link     its short link name, e.g. 3JVZ6K5QHDT4XNOBEBNZ7UUVKM
 *   │   └── lower    parents' short links, top first: l/ABC…:l/DEF… (for people and tools; berth reads the DB)
 *   └── l/<SHORT> -> ../<cacheId>/diff
 *
 * Mount options name lower dirs as `l/<SHORT>` relative to the overlay root (mount run with that cwd), so
 * 128 layers stay under a page. A short name is derived from the cache ID, so no file read is needed to
 * build a mount option. A draft (begun, not committed) has a directory and a link but no row; `gc` at
 * startup removes such remains.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { conflict, invalidArgument, notFound } from '../errors';
import type { Db } from '../store/db';
import { newId } from '../util/ids';
import { applyLayerTar } from './tar-apply';
import { exportLayerTar } from './tar-export';
import type { ApplyResult, LayerDraft, LayerInfo, LayerStore } from './types';

interface LayerRow {
  chain_id: string;
  diff_id: string;
  parent: string | null;
  cache_id: string;
  size: number;
  blob_digest: string | null;
  blob_media_type: string | null;
  blob_size: number | null;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const LINK_DIR = 'l';

/** 26 upper-case characters (128 bits) derived from the cache ID. */
export function shortLinkName(cacheId: string): string {
  const bytes = createHash('sha256').update(cacheId).digest().subarray(0, 16);
  let bits = 0;
  let value = 0;
  let out = '';
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

function toInfo(r: LayerRow): LayerInfo {
  return {
    chainId: r.chain_id, diffId: r.diff_id, parent: r.parent, cacheId: r.cache_id, size: r.size,
    blobDigest: r.blob_digest, blobMediaType: r.blob_media_type, blobSize: r.blob_size,
  };
}

export class OverlayLayerStore implements LayerStore {
  readonly root: string;
  private readonly drafts = new Set<string>();
  private readonly background = new Set<Promise<void>>();

  constructor(dataRoot: string, private readonly db: Db) {
    this.root = path.join(dataRoot, 'overlay');
  }

  get(chainId: string): LayerInfo | undefined {
    const row = this.db.prepare('SELECT * FROM layers WHERE chain_id = ?').get(chainId) as LayerRow | undefined;
    return row && toInfo(row);
  }

  list(): LayerInfo[] {
    return (this.db.prepare('SELECT * FROM layers ORDER BY created_at, chain_id').all() as LayerRow[]).map(toInfo);
  }

  private mustGet(chainId: string): LayerInfo {
    const info = this.get(chainId);
    if (!info) throw notFound(`layer ${chainId} not found`);
    return info;
  }

  private diffDir(cacheId: string): string {
    return path.join(this.root, cacheId, 'diff');
  }

  async begin(): Promise<LayerDraft> {
    const cacheId = newId();
    const dir = path.join(this.root, cacheId);
    const short = shortLinkName(cacheId);
    this.drafts.add(cacheId);
    try {
      await fs.mkdir(path.join(dir, 'diff'), { recursive: true, mode: 0o755 });
      await fs.writeFile(path.join(dir, 'link'), short);
      await fs.mkdir(path.join(this.root, LINK_DIR), { recursive: true });
      await fs.symlink(`../${cacheId}/diff`, path.join(this.root, LINK_DIR, short));
    } catch (err) {
      await this.abort({ cacheId, diffDir: path.join(dir, 'diff') });
      throw err;
    }
    return { cacheId, diffDir: path.join(dir, 'diff') };
  }

  apply(draft: LayerDraft, tar: Readable): Promise<ApplyResult> {
    if (!this.drafts.has(draft.cacheId)) return Promise.reject(invalidArgument(`layer draft ${draft.cacheId} is not open`));
    return applyLayerTar(draft.diffDir, tar);
  }

  /** One synchronous insert, so callers can commit several layers and an image in one db.transaction. */
  commit(draft: LayerDraft, info: Omit<LayerInfo, 'cacheId'>): LayerInfo {
    if (!this.drafts.has(draft.cacheId)) throw invalidArgument(`layer draft ${draft.cacheId} is not open`);
    if (this.get(info.chainId)) throw conflict(`layer ${info.chainId} already exists`);
    if (info.parent !== null && !this.get(info.parent)) throw notFound(`parent layer ${info.parent} not found`);
    this.db.prepare(`INSERT INTO layers (chain_id, diff_id, parent, cache_id, size, blob_digest, blob_media_type, blob_size, created_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(info.chainId, info.diffId, info.parent, draft.cacheId, info.size,
      info.blobDigest, info.blobMediaType, info.blobSize, Date.now());
    this.drafts.delete(draft.cacheId);
    const lower = info.parent === null ? [] : this.chain(info.parent).map((l) => `${LINK_DIR}/${shortLinkName(l.cacheId)}`);
    // the `lower` file is informational (mount options come from the DB), so it is written off the commit path
    if (lower.length) this.track(fs.writeFile(path.join(this.root, draft.cacheId, 'lower'), lower.join(':')).catch(() => {}));
    return { ...info, cacheId: draft.cacheId };
  }

  async abort(draft: LayerDraft): Promise<void> {
    await fs.rm(path.join(this.root, LINK_DIR, shortLinkName(draft.cacheId)), { force: true });
    await fs.rm(path.join(this.root, draft.cacheId), { recursive: true, force: true });
    this.drafts.delete(draft.cacheId);
  }

  /** The layer and its ancestors, top first. */
  private chain(chainId: string): LayerInfo[] {
    const out: LayerInfo[] = [];
    for (let id: string | null = chainId; id !== null;) {
      const info = this.mustGet(id);
      out.push(info);
      id = info.parent;
    }
    return out;
  }

  lowerDirs(chainId: string): string[] {
    return this.chain(chainId).map((l) => this.diffDir(l.cacheId));
  }

  lowerOption(chainId: string): string {
    return this.chain(chainId).map((l) => `${LINK_DIR}/${shortLinkName(l.cacheId)}`).join(':');
  }

  exportTar(chainId: string): Readable {
    return exportLayerTar(this.diffDir(this.mustGet(chainId).cacheId));
  }

  async remove(chainId: string): Promise<void> {
    const info = this.mustGet(chainId);
    const child = this.db.prepare('SELECT chain_id FROM layers WHERE parent = ? LIMIT 1').get(chainId) as { chain_id: string } | undefined;
    if (child) throw conflict(`layer ${chainId} is in use by layer ${child.chain_id}`);
    this.db.prepare('DELETE FROM layers WHERE chain_id = ?').run(chainId);
    // row first: a crash from here on leaves a directory without a row, which gc removes
    await fs.rm(path.join(this.root, LINK_DIR, shortLinkName(info.cacheId)), { force: true });
    await fs.rm(path.join(this.root, info.cacheId), { recursive: true, force: true });
  }

  async gc(): Promise<void> {
    await Promise.allSettled([...this.background]);
    await fs.mkdir(path.join(this.root, LINK_DIR), { recursive: true });
    // rows whose directory is gone are unusable, and so is every layer above them
    const rows = this.list();
    const missing = new Set<string>();
    for (const r of rows) if (!(await exists(this.diffDir(r.cacheId)))) missing.add(r.chainId);
    if (missing.size) {
      let grew = true;
      while (grew) {
        grew = false;
        for (const r of rows) if (r.parent && missing.has(r.parent) && !missing.has(r.chainId)) { missing.add(r.chainId); grew = true; }
      }
      this.db.transaction(() => {
        this.db.pragma('defer_foreign_keys = ON');
        const del = this.db.prepare('DELETE FROM layers WHERE chain_id = ?');
        for (const id of missing) del.run(id);
      })();
    }
    const live = new Set(rows.filter((r) => !missing.has(r.chainId)).map((r) => r.cacheId));
    for (const d of this.drafts) live.add(d);
    for (const name of await fs.readdir(this.root)) {
      if (name === LINK_DIR || live.has(name)) continue;
      await fs.rm(path.join(this.root, name), { recursive: true, force: true });
    }
    const links = new Map([...live].map((c) => [shortLinkName(c), c]));
    const present = new Set<string>();
    for (const name of await fs.readdir(path.join(this.root, LINK_DIR))) {
      const cacheId = links.get(name);
      const target = path.join(this.root, LINK_DIR, name);
      if (cacheId === undefined || !(await exists(target))) await fs.rm(target, { force: true });
      else present.add(name);
    }
    // repair: every registered layer has its link
    for (const [name, cacheId] of links) {
      if (!present.has(name) && (await exists(this.diffDir(cacheId)))) {
        await fs.symlink(`../${cacheId}/diff`, path.join(this.root, LINK_DIR, name));
      }
    }
  }

  private track(p: Promise<void>): void {
    this.background.add(p);
    void p.finally(() => this.background.delete(p));
  }
}

/** True when the path resolves (links followed) to something. */
async function exists(p: string): Promise<boolean> {
  try {
    await fs.stat(p);
    return true;
  } catch {
    return false;
  }
}
