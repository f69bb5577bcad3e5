/** API version negotiation, as dockerd does it, but lenient above our maximum (served as the maximum). */
export const API_VERSION = '1.47';
export const MIN_API_VERSION = '1.24';
export const BERTH_VERSION = '0.1.0';

export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

export interface VersionedPath {
  /** The version the request asked for, capped at ours; ours when the path is unversioned. */
  version: string;
  path: string;
  /** set when the requested version is below the minimum */
  tooOld?: string;
}

const PREFIX = /^\/v(\d+\.\d+)(\/.*)$/;

export function splitVersion(pathname: string): VersionedPath {
  const m = PREFIX.exec(pathname);
  if (!m) return { version: API_VERSION, path: pathname };
  const asked = m[1];
  const rest = m[2];
  if (compareVersions(asked, MIN_API_VERSION) < 0) return { version: asked, path: rest, tooOld: asked };
  return { version: compareVersions(asked, API_VERSION) > 0 ? API_VERSION : asked, path: rest };
}
