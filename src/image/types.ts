import type { Readable, Writable } from 'node:stream';

/**
 * Content store: immutable blobs (manifests, indexes, configs, compressed layers) addressed by digest, at
 * `<data-root>/content/sha256/<hex>`. Words: a *blob* is complete and verified; an *ingest* is a blob being
 * written to a temp file under `<data-root>/tmp/` — it becomes a blob only by `commit`, which verifies the
 * digest and renames. There is never a partial file under a digest name.
 */
export interface ContentStore {
  has(digest: string): Promise<boolean>;
  /** Absolute path of a committed blob (NotFound when absent). */
  path(digest: string): Promise<string>;
  read(digest: string): Promise<Buffer>;
  readStream(digest: string): Readable;
  size(digest: string): Promise<number>;
  /** Store bytes; when `expected` is given the digest must match (else InvalidArgument, nothing written). */
  put(data: Buffer, expected?: string): Promise<string>;
  ingest(): Ingest;
  delete(digest: string): Promise<void>;
  list(): Promise<string[]>;
}

/** A blob being written. Write bytes to `stream`, then `commit` (verify + rename) or `abort` (remove temp). */
export interface Ingest {
  readonly stream: Writable;
  readonly tempPath: string;
  /** Bytes written so far. */
  readonly written: number;
  /** Wait for the stream to finish, verify against `expected` (when given) and publish; returns the digest. */
  commit(expected?: string): Promise<string>;
  abort(): Promise<void>;
}

/** A registered, unpacked layer. `chainId` identifies it (OCI chain ID over diff IDs). */
export interface LayerInfo {
  chainId: string;
  diffId: string;
  parent: string | null;
  /** Directory name under `<data-root>/overlay/`. */
  cacheId: string;
  /** Unpacked size in bytes. */
  size: number;
  blobDigest: string | null;
  blobMediaType: string | null;
  blobSize: number | null;
}

/** A layer being unpacked: its directory exists but no row does, so nothing lists it until `commit`. */
export interface LayerDraft {
  readonly cacheId: string;
  readonly diffDir: string;
}

export interface ApplyResult {
  /** sha256 of the uncompressed tar stream as read. */
  diffId: string;
  /** Unpacked bytes: regular files' sizes plus symlinks' target lengths, as dockerd counts. */
  size: number;
}

/**
 * Layer store: overlay layers keyed by chain ID at `<data-root>/overlay/<cacheId>/diff`, with short
 * links in `overlay/l/` so mount option strings stay under a page. Lifecycle: `begin` → `apply` (an
 * uncompressed OCI layer tar: whiteouts become overlay char 0/0 devices and opaque xattrs) → `commit`
 * (one DB row) or `abort`. `remove` deletes a layer with no children. Startup `gc` deletes directories
 * that have no row (the remains of a crash).
 */
export interface LayerStore {
  get(chainId: string): LayerInfo | undefined;
  list(): LayerInfo[];
  begin(): Promise<LayerDraft>;
  apply(draft: LayerDraft, tar: Readable): Promise<ApplyResult>;
  commit(draft: LayerDraft, info: Omit<LayerInfo, 'cacheId'>): LayerInfo;
  abort(draft: LayerDraft): Promise<void>;
  /** diff dirs for an overlay mount, top layer first (lowerdir order). */
  lowerDirs(chainId: string): string[];
  /** Short-link lowerdir string (`l/ABC:l/DEF`) relative to `<data-root>/overlay`, for mount options. */
  lowerOption(chainId: string): string;
  /** The layer's contents as an uncompressed OCI layer tar (whiteouts as `.wh.` entries). */
  exportTar(chainId: string): Readable;
  /** Remove a layer row and dir. Conflict when another layer has it as parent. */
  remove(chainId: string): Promise<void>;
  /** Delete unregistered dirs and stale links. */
  gc(): Promise<void>;
  readonly root: string;
}

/** OCI/Docker image config (the parts berth reads; unknown keys are kept as they were). */
export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  created?: string;
  author?: string;
  config?: ContainerConfig;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: HistoryEntry[];
  [key: string]: unknown;
}

export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object>;
  WorkingDir?: string;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  Healthcheck?: unknown;
  OnBuild?: string[] | null;
  Shell?: string[];
  ArgsEscaped?: boolean;
  [key: string]: unknown;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** An image as the store holds it. `id` is the config digest. */
export interface ImageRecord {
  id: string;
  config: ImageConfig;
  /** chain IDs bottom first; same length as config.rootfs.diff_ids. */
  layers: string[];
  created: string;
  /** Sum of unpacked layer sizes. */
  size: number;
  parent: string;
  /** familiar-normalised full refs: `docker.io/library/busybox:latest` */
  repoTags: string[];
  /** `docker.io/library/busybox@sha256:…` */
  repoDigests: string[];
  addedAt: number;
}

/** What an image is made from, when it is added to the store (after pull, load, import, commit, build). */
export interface NewImage {
  config: ImageConfig;
  /** raw config bytes exactly as they hash to the image ID (already in the content store). */
  configDigest: string;
  layers: string[];
  parent?: string;
  /** manifests (and index) describing it, already in the content store */
  manifests?: { digest: string; mediaType: string }[];
  tags?: string[];
  repoDigests?: { ref: string; manifestDigest: string }[];
}

/**
 * Image store: image rows, tags and digests over the content and layer stores. `add` is one transaction:
 * the image, its tags (moved from any previous holder) and repo digests appear together or not at all.
 */
export interface ImageStore {
  get(id: string): ImageRecord | undefined;
  list(): ImageRecord[];
  /** Resolve a user reference: full or short ID (unique prefix), name[:tag], name@digest. */
  resolve(refOrId: string): ImageRecord | undefined;
  add(img: NewImage): ImageRecord;
  tag(id: string, ref: string): void;
  /** Remove one tag or digest ref; returns true if it existed. */
  untag(ref: string): boolean;
  /** Delete the image row (tags and digests go with it); layers are released by the caller. */
  delete(id: string): void;
  /** Chain IDs still used by any image. */
  usedLayers(): Set<string>;
}

export type PullProgressWriter = (msg: ProgressMessage) => void;

/** One JSON progress message, in dockerd's shape. */
export interface ProgressMessage {
  status?: string;
  id?: string;
  progressDetail?: { current?: number; total?: number };
  progress?: string;
  error?: string;
  errorDetail?: { message: string; code?: number };
  aux?: unknown;
  stream?: string;
}
