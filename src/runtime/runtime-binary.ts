import { accessSync, constants as fsConstants, readFileSync } from 'node:fs';
import * as path from 'node:path';

export const RUNC_PATH = '/usr/sbin/runc';
export const CRUN_PATH = '/usr/bin/crun';

/**
 * Whether this host mixes cgroup v1 controllers with a cgroup2 mount at /sys/fs/cgroup/unified that holds a
 * controller of its own: crun 1.8 refuses such hosts, runc accepts them.
 */
export function hybridWithV2Controllers(root = '/sys/fs/cgroup'): boolean {
  try {
    return readFileSync(path.join(root, 'unified', 'cgroup.controllers'), 'utf8').trim() !== '';
  } catch {
    return false;
  }
}

/**
 * The program berthd runs as the OCI runtime. crun goes through native/bin/berth-crun on hybrid hosts, which
 * hides the cgroup2 mount from crun (in a mount namespace of crun's own) so that crun sees a v1 host.
 */
export function runtimeBinary(name: 'runc' | 'crun', env: NodeJS.ProcessEnv = process.env): string {
  if (name === 'runc') return RUNC_PATH;
  if (!hybridWithV2Controllers()) return CRUN_PATH;
  // <root>/<outDir>/src/runtime/runtime-binary.js → <root>/native/bin/berth-crun
  const shim = env.BERTH_CRUN_SHIM || path.resolve(__dirname, '../../../native/bin/berth-crun');
  try {
    accessSync(shim, fsConstants.X_OK);
    return shim;
  } catch {
    return CRUN_PATH;
  }
}
