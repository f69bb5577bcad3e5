import * as path from 'node:path';
import { invalidArgument } from '../errors';

/**
 * Join `unsafe` (a path from a user, an image or a container) under `root` lexically: `..` can never climb
 * above root. This does not resolve symlinks; callers that write through existing directories must also
 * refuse symlinked parents (see image/tar-apply.ts) or resolve with `resolveInRoot`.
 */
export function joinInRoot(root: string, unsafe: string): string {
  const clean = path.posix.normalize('/' + unsafe.replace(/\\/g, '/'));
  const joined = path.join(root, clean);
  const rel = path.relative(root, joined);
  if (rel.startsWith('..') || path.isAbsolute(rel)) throw invalidArgument(`path ${unsafe} escapes its root`);
  return joined;
}
