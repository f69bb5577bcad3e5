import { invalidArgument } from '../errors';
import { normalizeLogConfig } from '../runtime/log-rotation';
import type { ImageRecord } from '../image/types';
import { validateResources, withResourceDefaults, type ResourceHostConfig } from '../runtime/resources';
import { validateSecurity, type SecurityHostConfig } from '../runtime/security';
import type { ContainerConfigRecord, HostConfigRecord } from './containers-store';
import { normalizeSignal } from './containers-signal';

/** POST /containers/create body (the parts berth reads; unknown keys are kept in the record). */
export interface CreateRequest {
  Image?: string;
  Cmd?: string[] | string | null;
  Entrypoint?: string[] | string | null;
  Env?: string[] | null;
  WorkingDir?: string;
  User?: string;
  Labels?: Record<string, string> | null;
  Hostname?: string;
  Domainname?: string;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  StopSignal?: string;
  StopTimeout?: number;
  ExposedPorts?: Record<string, object> | null;
  Volumes?: Record<string, object> | null;
  HostConfig?: Partial<HostConfigRecord> | null;
  NetworkingConfig?: unknown;
  [key: string]: unknown;
}

const NAME_RE = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** Validate a requested name; returns it without the leading slash. */
export function validateName(name: string): string {
  if (!NAME_RE.test(name)) throw invalidArgument(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  return name.replace(/^\//, '');
}

const asList = (v: string[] | string | null | undefined): string[] | null => {
  if (v === undefined || v === null) return null;
  return Array.isArray(v) ? v.map(String) : [String(v)];
};

const envKey = (e: string) => e.split('=', 1)[0];

/**
 * The container's Config as dockerd records it: the request merged with the image config (user values win;
 * image Env entries the user did not set are appended; an Entrypoint from the user drops the image's Cmd).
 */
export function mergeConfig(req: CreateRequest, image: ImageRecord, id: string, imageRef: string): ContainerConfigRecord {
  const img = image.config.config ?? {};
  const userEnv = (req.Env ?? []).map(String);
  for (const e of userEnv) if (!envKey(e)) throw invalidArgument(`invalid environment variable: ${e}`);
  if (req.WorkingDir && !req.WorkingDir.startsWith('/')) {
    throw invalidArgument(`the working directory '${req.WorkingDir}' is invalid, it needs to be an absolute path`);
  }
  const userKeys = new Set(userEnv.map(envKey));
  const env = [...userEnv, ...(img.Env ?? []).filter((e) => !userKeys.has(envKey(e)))];

  let entrypoint = asList(req.Entrypoint);
  // `--entrypoint ""` arrives as [""]: the image's entrypoint is cleared
  if (entrypoint?.length === 1 && entrypoint[0] === '') entrypoint = [];
  let cmd = asList(req.Cmd);
  if (!entrypoint || entrypoint.length === 0) {
    if (!cmd || cmd.length === 0) cmd = img.Cmd ?? null;
    if (req.Entrypoint === undefined || req.Entrypoint === null) entrypoint = img.Entrypoint ?? null;
  }
  if (entrypoint && entrypoint.length === 0) entrypoint = null;
  if ((entrypoint?.length ?? 0) + (cmd?.length ?? 0) === 0) throw invalidArgument('no command specified');

  const { ExposedPorts: _ports, ...rest } = req;
  const config: ContainerConfigRecord = {
    ...rest,
    Hostname: req.Hostname || id.slice(0, 12),
    Domainname: req.Domainname ?? '',
    User: req.User || img.User || '',
    AttachStdin: Boolean(req.AttachStdin),
    AttachStdout: Boolean(req.AttachStdout),
    AttachStderr: Boolean(req.AttachStderr),
    Tty: Boolean(req.Tty),
    OpenStdin: Boolean(req.OpenStdin),
    StdinOnce: Boolean(req.StdinOnce),
    Env: env,
    Cmd: cmd,
    Image: imageRef,
    Volumes: { ...(img.Volumes ?? {}), ...(req.Volumes ?? {}) },
    WorkingDir: req.WorkingDir || img.WorkingDir || '',
    Entrypoint: entrypoint,
    OnBuild: null,
    Labels: { ...(img.Labels ?? {}), ...(req.Labels ?? {}) },
  };
  delete config.HostConfig;
  delete config.NetworkingConfig;
  if (Object.keys(config.Volumes ?? {}).length === 0) config.Volumes = null;
  const ports = { ...(img.ExposedPorts ?? {}), ...(req.ExposedPorts ?? {}) };
  if (Object.keys(ports).length) config.ExposedPorts = ports;
  else delete config.ExposedPorts;
  if (req.StopSignal) normalizeSignal(req.StopSignal);
  const stopSignal = req.StopSignal || img.StopSignal;
  if (stopSignal) config.StopSignal = stopSignal;
  return config;
}

/** `runtime`: the daemon's OCI runtime, which runs every container (there are no per-container runtimes). */
export function normalizeHostConfig(hc: Partial<HostConfigRecord> | null | undefined, runtime = 'runc'): HostConfigRecord {
  const h = hc ?? {};
  const wanted = (h as { Runtime?: unknown }).Runtime;
  if (wanted && wanted !== runtime) {
    throw invalidArgument(['runc', 'crun'].includes(String(wanted))
      ? `runtime ${String(wanted)} is not this daemon's: every container runs on its --default-runtime (${runtime})`
      : `unknown or invalid runtime name: ${String(wanted)}`);
  }
  const restart = (h.RestartPolicy as HostConfigRecord['RestartPolicy'] | undefined) ?? { Name: 'no', MaximumRetryCount: 0 };
  if (restart.Name && !['', 'no', 'always', 'unless-stopped', 'on-failure'].includes(restart.Name)) {
    throw invalidArgument(`invalid restart policy '${restart.Name}'`);
  }
  if (h.AutoRemove && restart.Name && restart.Name !== 'no') {
    throw invalidArgument("can't create 'AutoRemove' container with restart policy");
  }
  validateResources(h as ResourceHostConfig);
  validateSecurity(h as SecurityHostConfig);
  return {
    ...withResourceDefaults(h),
    AutoRemove: Boolean(h.AutoRemove),
    NetworkMode: h.NetworkMode || 'default',
    RestartPolicy: { Name: restart.Name || 'no', MaximumRetryCount: restart.MaximumRetryCount ?? 0 },
    LogConfig: normalizeLogConfig(h.LogConfig as Parameters<typeof normalizeLogConfig>[0]),
    Privileged: Boolean(h.Privileged),
    ReadonlyRootfs: Boolean(h.ReadonlyRootfs),
    Runtime: runtime,
  };
}

/** Entrypoint + Cmd: the process argv. */
export function processArgs(c: ContainerConfigRecord): string[] {
  return [...(c.Entrypoint ?? []), ...(c.Cmd ?? [])];
}
