/** What `berth version` reports about the client itself (kept equal to the daemon's BERTH_VERSION). */
import * as os from 'node:os';

export const CLI_VERSION = '0.1.0';
export const CLI_GIT_COMMIT = '';

/** GOARCH-style name of this machine's architecture */
export function clientArch(): string {
  switch (process.arch) {
    case 'x64': return 'amd64';
    case 'ia32': return '386';
    default: return process.arch;
  }
}

export function clientOs(): string {
  return os.platform();
}
