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
 *   ├── containers      id, name (unique, no leading /), image_id → images.id (not a foreign key: an image in use
 *   │                   is refused at image removal instead), config/host_config = inspect JSON, status + state columns
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
  // 2: containers (one row per container; runtime state lives on disk under exec-root, see runtime/)
  `
  CREATE TABLE containers (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    image_id         TEXT NOT NULL,
    created          TEXT NOT NULL,
    config           TEXT NOT NULL,
    host_config      TEXT NOT NULL,
    status           TEXT NOT NULL,
    pid              INTEGER NOT NULL DEFAULT 0,
    exit_code        INTEGER NOT NULL DEFAULT 0,
    error            TEXT NOT NULL DEFAULT '',
    oom_killed       INTEGER NOT NULL DEFAULT 0,
    started_at       TEXT NOT NULL DEFAULT '0001-01-01T00:00:00Z',
    finished_at      TEXT NOT NULL DEFAULT '0001-01-01T00:00:00Z',
    restart_count    INTEGER NOT NULL DEFAULT 0,
    network_settings TEXT NOT NULL DEFAULT '{}',
    mounts           TEXT NOT NULL DEFAULT '[]'
  );
  CREATE INDEX containers_image ON containers(image_id);
  `,
  // 3: volumes and networks
  //   volumes      name → driver, labels/options JSON, anonymous flag (prune's default target)
  //   networks     id, name (unique), bridge interface, one IPv4 subnet/gateway/range, flags, options/labels JSON
  //   ip_leases    (network_id, ip) → container_id: the engine's IPAM (netavark has none)
  //   endpoints    (container_id, network_id): address, MAC, aliases; `netavark` = the exact options JSON
  //                given to `netavark setup` ('' while not set up), kept for teardown and crash GC
  //   port_leases  (protocol, host_ip, host_port) → container_id, for published ports
  `
  CREATE TABLE volumes (
    name       TEXT PRIMARY KEY,
    driver     TEXT NOT NULL,
    labels     TEXT NOT NULL DEFAULT '{}',
    options    TEXT NOT NULL DEFAULT '{}',
    anonymous  INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
  );
  CREATE TABLE networks (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    driver       TEXT NOT NULL,
    builtin      INTEGER NOT NULL DEFAULT 0,
    bridge       TEXT NOT NULL DEFAULT '',
    subnet       TEXT NOT NULL DEFAULT '',
    gateway      TEXT NOT NULL DEFAULT '',
    ip_range     TEXT NOT NULL DEFAULT '',
    internal     INTEGER NOT NULL DEFAULT 0,
    attachable   INTEGER NOT NULL DEFAULT 0,
    dns_enabled  INTEGER NOT NULL DEFAULT 0,
    options      TEXT NOT NULL DEFAULT '{}',
    ipam_options TEXT NOT NULL DEFAULT '{}',
    labels       TEXT NOT NULL DEFAULT '{}',
    created      TEXT NOT NULL
  );
  CREATE TABLE ip_leases (
    network_id   TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
    ip           TEXT NOT NULL,
    container_id TEXT NOT NULL,
    PRIMARY KEY (network_id, ip)
  );
  CREATE INDEX ip_leases_container ON ip_leases(container_id);
  CREATE TABLE endpoints (
    container_id   TEXT NOT NULL,
    network_id     TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
    container_name TEXT NOT NULL,
    endpoint_id    TEXT NOT NULL,
    ip             TEXT NOT NULL DEFAULT '',
    mac            TEXT NOT NULL DEFAULT '',
    aliases        TEXT NOT NULL DEFAULT '[]',
    ifname         TEXT NOT NULL DEFAULT '',
    netns          TEXT NOT NULL DEFAULT '',
    netavark       TEXT NOT NULL DEFAULT '',
    created_seq    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (container_id, network_id)
  );
  CREATE INDEX endpoints_network ON endpoints(network_id);
  CREATE TABLE port_leases (
    protocol       TEXT NOT NULL,
    host_ip        TEXT NOT NULL,
    host_port      INTEGER NOT NULL,
    container_id   TEXT NOT NULL,
    container_port INTEGER NOT NULL,
    PRIMARY KEY (protocol, host_ip, host_port)
  );
  CREATE INDEX port_leases_container ON port_leases(container_id);
  `,
  // 4: build cache (classic builder): one row per executed step
  //   build_cache  key = sha256(parent image ID, expanded instruction, content checksum) → the image config the
  //                step produced (exact JSON bytes: its digest is the step's image ID) and its chain IDs;
  //                `layer` = the chain ID the step added (NULL for config-only steps), kept until build prune
  `
  CREATE TABLE build_cache (
    key        TEXT PRIMARY KEY,
    parent_id  TEXT NOT NULL,
    image_id   TEXT NOT NULL,
    config     TEXT NOT NULL,
    layers     TEXT NOT NULL,
    layer      TEXT,
    created_at INTEGER NOT NULL,
    last_used  INTEGER NOT NULL
  );
  CREATE INDEX build_cache_layer ON build_cache(layer);
  `,
];
