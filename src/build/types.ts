/** The builder's seams: what it is built from, what it is asked, and the one hook RUN needs. */
import type { Readable } from 'node:stream';
import type { EventLog } from '../engine/events';
import type { ContentStore, ImageConfig, ImageRecord, ImageStore, LayerStore, ProgressMessage } from '../image/types';
import type { AuthConfig } from '../registry/auth';
import type { Db } from '../store/db';
import type { Logger } from '../util/logger';

/** What a RUN step asks of a container runtime. */
export interface RunStepRequest {
  /** the config of the image the step runs on (Env, User, WorkingDir, … as they are at this step) */
  imageConfig: ImageConfig;
  /** the top layer of the container's root, bottom layers below it (null: an empty root, FROM scratch) */
  parentChainId: string | null;
  /** the process to run, exec form (shell form is already wrapped in the stage's SHELL) */
  cmd: string[];
  /** the full environment: the image's Env plus the build args in scope, KEY=value */
  env: string[];
  /** `''` means root */
  user: string;
  /** `''` means `/` */
  workdir: string;
  shell: string[];
  /** `--network` of the build: '' / 'default' / 'bridge' / 'host' / 'none' / a network name */
  network: string;
  /** called once with the container's ID when it started (the builder prints ` ---> Running in <id>`) */
  onStarted?(containerId: string): void;
  /** stdout and stderr of the process, as it comes */
  onOutput(chunk: Buffer): void;
  signal?: AbortSignal;
}

export interface RunStepResult {
  exitCode: number;
  /** the container's changes as an uncompressed OCI layer tar (whiteouts as `.wh.` entries); omit when none */
  diff?: Readable;
  /** called after the diff was consumed or the step failed: remove the container and its files */
  cleanup?(): Promise<void>;
}

/**
 * Runs one RUN step in a throwaway container on top of `parentChainId`. The builder owns everything
 * before (cache lookup) and after (turning `diff` into a layer); the runner owns the container.
 */
export interface RunStepRunner {
  run(req: RunStepRequest): Promise<RunStepResult>;
}

export interface BuildPullOptions {
  platform?: string;
  /** X-Registry-Config: registry host → credentials */
  authConfigs?: Record<string, AuthConfig>;
  signal?: AbortSignal;
}

export interface BuilderDeps {
  dataRoot: string;
  db: Db;
  content: ContentStore;
  layers: LayerStore;
  images: ImageStore;
  events: EventLog;
  log: Logger;
  /** pulls a base image that is missing (or every base with `pull=1`), reporting progress in dockerd's shape */
  pull(ref: string, opts: BuildPullOptions, progress: (m: ProgressMessage) => void): Promise<ImageRecord>;
  runStep?: RunStepRunner;
}

export interface BuildOptions {
  /** `t`: names to tag the result with */
  tags?: string[];
  /** path of the Dockerfile inside the context (default `Dockerfile`) */
  dockerfile?: string;
  /** `--build-arg`: a null value means "take it from the environment", which the daemon does not have */
  buildArgs?: Record<string, string | null>;
  labels?: Record<string, string>;
  target?: string;
  noCache?: boolean;
  pull?: boolean;
  quiet?: boolean;
  network?: string;
  platform?: string;
  authConfigs?: Record<string, AuthConfig>;
  signal?: AbortSignal;
}

export interface BuildResult {
  imageId: string;
  tags: string[];
}

/** A failed RUN: dockerd reports the exit code in errorDetail.code. */
export class RunStepError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
    this.name = 'RunStepError';
  }
}
