import { randomBytes, createHash } from 'node:crypto';

/** A new 64-hex-character object ID (containers, networks, exec sessions, layer cache dirs). */
export function newId(): string {
  return randomBytes(32).toString('hex');
}

export function shortId(id: string): string {
  return stripAlgorithm(id).slice(0, 12);
}

/** `sha256:abc…` → `abc…` */
export function stripAlgorithm(digest: string): string {
  const i = digest.indexOf(':');
  return i >= 0 ? digest.slice(i + 1) : digest;
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${sha256Hex(data)}`;
}

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
export function isDigest(s: string): boolean {
  return DIGEST_RE.test(s);
}
