/** Engine API shapes the client reads (the fields it uses; daemons may send more). */

export interface ImageSummary {
  Id: string;
  ParentId?: string;
  RepoTags: string[] | null;
  RepoDigests: string[] | null;
  Created: number;
  Size: number;
  SharedSize: number;
  VirtualSize?: number;
  Labels?: Record<string, string> | null;
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

export interface DeleteItem {
  Untagged?: string;
  Deleted?: string;
}

export interface PruneReport {
  ImagesDeleted: DeleteItem[] | null;
  SpaceReclaimed: number;
}

export interface ProgressDetail {
  current?: number;
  total?: number;
  start?: number;
  units?: string;
  hidecounts?: boolean;
}

/** One message of a streamed JSON response (jsonmessage.JSONMessage). */
export interface JsonMessage {
  status?: string;
  id?: string;
  progress?: string;
  progressDetail?: ProgressDetail;
  stream?: string;
  error?: string;
  errorDetail?: { code?: number; message?: string };
  aux?: unknown;
  time?: number;
  timeNano?: number;
}

export interface EventMessage {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes?: Record<string, string> };
  scope?: string;
  time?: number;
  timeNano?: number;
  status?: string;
  id?: string;
  from?: string;
}

export interface ComponentVersion {
  Name: string;
  Version: string;
  Details?: Record<string, string>;
}

export interface ServerVersion {
  Platform?: { Name: string };
  Components?: ComponentVersion[];
  Version: string;
  ApiVersion: string;
  MinAPIVersion?: string;
  GitCommit?: string;
  GoVersion?: string;
  Os: string;
  Arch: string;
  KernelVersion?: string;
  Experimental?: boolean;
  BuildTime?: string;
}

export interface DiskUsage {
  LayersSize?: number;
  Images?: ImageSummary[] | null;
  Containers?: Array<{ Id: string; Image?: string; Command?: string; Created?: number; State?: string; Status?: string; Names?: string[]; SizeRw?: number; SizeRootFs?: number; Mounts?: Array<{ Name?: string; Type?: string }> }> | null;
  Volumes?: Array<{ Name: string; UsageData?: { Size: number; RefCount: number } | null }> | null;
  BuildCache?: Array<{ ID: string; Type?: string; Size: number; CreatedAt?: string; LastUsedAt?: string | null; UsageCount?: number; InUse?: boolean; Shared?: boolean }> | null;
}

/** filters as the API takes them: {"key": {"value": true}} */
export type FilterArgs = Record<string, Record<string, boolean>>;

/** Turn repeated `key=value` flag values into API filters. */
export function filtersFromFlags(values: string[]): FilterArgs {
  const out: FilterArgs = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    const key = v.slice(0, eq).trim().toLowerCase();
    const val = v.slice(eq + 1);
    (out[key] ??= {})[val] = true;
  }
  return out;
}
