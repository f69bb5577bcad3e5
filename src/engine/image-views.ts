/**
 * Engine API shapes of an image (list summary, inspect, history), built from an ImageRecord. Pure: the
 * service passes in what the records do not hold (layer sizes and dirs, tag times).
 */
import * as path from 'node:path';
import { familiarize } from '../image/reference';
import type { ContainerConfig, ImageRecord, LayerInfo } from '../image/types';

export const ZERO_TIME = '0001-01-01T00:00:00Z';

export interface ImageSummary {
  Id: string;
  ParentId: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: number;
  Size: number;
  SharedSize: number;
  VirtualSize?: number;
  Labels: Record<string, string> | null;
  Containers: number;
}

export interface HistoryItem {
  Id: string;
  Created: number;
  CreatedBy: string;
  Tags: string[] | null;
  Size: number;
  Comment: string;
}

/** API versions before 1.44 show untagged images as `<none>:<none>` and carry VirtualSize. */
export function isLegacyApi(apiVersion: string | undefined): boolean {
  if (!apiVersion) return false;
  const [maj, min] = apiVersion.split('.').map(Number);
  return maj < 1 || (maj === 1 && min < 44);
}

export function createdSeconds(img: ImageRecord): number {
  const t = Date.parse(img.config.created ?? img.created);
  return Number.isNaN(t) ? 0 : Math.floor(t / 1000);
}

export function imageLabels(img: ImageRecord): Record<string, string> | null {
  const labels = img.config.config?.Labels;
  return labels && Object.keys(labels).length ? labels : null;
}

export function summarize(img: ImageRecord, opts: { tags: string[]; digests: string[]; apiVersion?: string; containers?: number; sharedSize?: number }): ImageSummary {
  const legacy = isLegacyApi(opts.apiVersion);
  const s: ImageSummary = {
    Id: img.id,
    ParentId: img.parent,
    RepoTags: opts.tags.map(familiarize),
    RepoDigests: opts.digests.map(familiarize),
    Created: createdSeconds(img),
    Size: img.size,
    SharedSize: opts.sharedSize ?? -1,
    Labels: imageLabels(img),
    Containers: opts.containers ?? -1,
  };
  if (legacy) {
    s.VirtualSize = img.size;
    if (s.RepoTags.length === 0 && s.RepoDigests.length === 0) {
      s.RepoTags = ['<none>:<none>'];
      s.RepoDigests = ['<none>@<none>'];
    }
  }
  return s;
}

/** dockerd (API < 1.50) fills the legacy container-config fields an image config leaves out. */
function inspectConfig(cfg: ContainerConfig | undefined): Record<string, unknown> {
  return {
    Hostname: '', Domainname: '', User: '', AttachStdin: false, AttachStdout: false, AttachStderr: false,
    Tty: false, OpenStdin: false, StdinOnce: false, Env: null, Cmd: null, Image: '', Volumes: null,
    WorkingDir: '', Entrypoint: null, OnBuild: null, Labels: null,
    ...(cfg ?? {}),
  };
}

export interface InspectExtras {
  /** layers bottom first, as the layer store has them (missing ones omitted) */
  layers: LayerInfo[];
  overlayRoot: string;
  lastTagTime: string;
  apiVersion?: string;
}

export function inspectView(img: ImageRecord, x: InspectExtras): Record<string, unknown> {
  const cfg = img.config;
  const top = x.layers[x.layers.length - 1];
  const graphData: Record<string, string> = {};
  if (top) {
    const below = x.layers.slice(0, -1).reverse().map((l) => path.join(x.overlayRoot, l.cacheId, 'diff'));
    if (below.length) graphData.LowerDir = below.join(':');
    graphData.MergedDir = path.join(x.overlayRoot, top.cacheId, 'merged');
    graphData.UpperDir = path.join(x.overlayRoot, top.cacheId, 'diff');
    graphData.WorkDir = path.join(x.overlayRoot, top.cacheId, 'work');
  }
  const out: Record<string, unknown> = {
    Id: img.id,
    RepoTags: img.repoTags.map(familiarize),
    RepoDigests: img.repoDigests.map(familiarize),
    Parent: img.parent,
    Comment: typeof cfg.comment === 'string' ? cfg.comment : '',
    Created: cfg.created ?? img.created,
    DockerVersion: typeof cfg.docker_version === 'string' ? cfg.docker_version : '',
    Author: cfg.author ?? '',
    Config: inspectConfig(cfg.config),
    Architecture: cfg.architecture,
    ...(cfg.variant ? { Variant: cfg.variant } : {}),
    Os: cfg.os,
    ...(typeof cfg['os.version'] === 'string' ? { OsVersion: cfg['os.version'] } : {}),
    Size: img.size,
    GraphDriver: { Name: 'overlay2', Data: graphData },
    RootFS: { Type: 'layers', Layers: cfg.rootfs?.diff_ids ?? [] },
    Metadata: { LastTagTime: x.lastTagTime },
  };
  if (isLegacyApi(x.apiVersion)) {
    out.VirtualSize = img.size;
    out.Container = '';
    out.ContainerConfig = inspectConfig(undefined);
  }
  return out;
}

/** History newest first; entries that made a layer carry its size; only the top entry has an ID and tags. */
export function historyView(img: ImageRecord, layerSize: (chainId: string) => number): HistoryItem[] {
  const entries = img.config.history ?? [];
  const items: HistoryItem[] = [];
  let layerIndex = 0;
  if (entries.length === 0) {
    img.layers.forEach((chainId) => items.push({
      Id: '<missing>', Created: createdSeconds(img), CreatedBy: '', Tags: null, Size: layerSize(chainId), Comment: '',
    }));
  }
  for (const h of entries) {
    let size = 0;
    if (!h.empty_layer) {
      const chainId = img.layers[layerIndex++];
      if (chainId) size = layerSize(chainId);
    }
    const t = h.created ? Date.parse(h.created) : NaN;
    items.push({
      Id: '<missing>',
      Created: Number.isNaN(t) ? 0 : Math.floor(t / 1000),
      CreatedBy: h.created_by ?? '',
      Tags: null,
      Size: size,
      Comment: h.comment ?? '',
    });
  }
  items.reverse();
  if (items.length) {
    items[0].Id = img.id;
    items[0].Tags = img.repoTags.length ? img.repoTags.map(familiarize) : null;
  }
  return items;
}
