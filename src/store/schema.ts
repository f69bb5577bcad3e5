/**
 * The metadata schema, as numbered migrations. Each migration runs once, inside a transaction, and bumps
 * `PRAGMA user_version`. Never edit a landed migration; add the next number.
 *
 *   berth.db
 *   ├── layers          chain_id ─┐ parent → layers.chain_id      one row per unpacked layer (overlay/<cache_id>)
 *   │                              └ blob_digest → content/sha256  the compressed blob it came from (or was packed to)
 *   ├── images          id = config digest; config = its JSON (also a blob); layers = JSON [chain_id…] bottom first
 *   ├── image_tags      ref (docker.io/library/busybox:latest) → images.id
 *   ├── image_digests   ref (docker.io/library/busybox@sha256:…) → images.id, manifest or index digest
 *   ├── image_manifests image_id → manifest digest (+ media type) kept in the content store, for push and save
 *   └── events          seq → one Engine API event (JSON), a bounded ring
 */
export const MIGRATIONS: readonly string[] = [
  // 1: images and layers
  `
  CREATE TABLE layers (
    chain_id        TEXT PRIMARY KEY,
    diff_id         TEXT NOT NULL,
    parent          TEXT REFERENCES layers(chain_id),
    cache_id        TEXT NOT NULL UNIQUE,
    size            INTEGER NOT NULL,
    blob_digest     TEXT,
    blob_media_type TEXT,
    blob_size       INTEGER,
    created_at      INTEGER NOT NULL
  );
  CREATE INDEX layers_parent ON layers(parent);
  CREATE TABLE images (
    id         TEXT PRIMARY KEY,
    config     TEXT NOT NULL,
    layers     TEXT NOT NULL,
    created    TEXT NOT NULL,
    size       INTEGER NOT NULL,
    parent     TEXT NOT NULL DEFAULT '',
    added_at   INTEGER NOT NULL
  );
  CREATE TABLE image_tags (
    ref      TEXT PRIMARY KEY,
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    added_at INTEGER NOT NULL
  );
  CREATE INDEX image_tags_image ON image_tags(image_id);
  CREATE TABLE image_digests (
    ref             TEXT PRIMARY KEY,
    image_id        TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    manifest_digest TEXT NOT NULL
  );
  CREATE INDEX image_digests_image ON image_digests(image_id);
  CREATE TABLE image_manifests (
    image_id   TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    digest     TEXT NOT NULL,
    media_type TEXT NOT NULL,
    PRIMARY KEY (image_id, digest)
  );
  CREATE TABLE events (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    time_nano INTEGER NOT NULL,
    body      TEXT NOT NULL
  );
  `,
];
