import type { Db } from '../store/db';

export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

/** Config as inspect shows it: the create request merged with the image's config. */
export interface ContainerConfigRecord {
  Hostname: string;
  Domainname: string;
  User: string;
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  ExposedPorts?: Record<string, object>;
  Tty: boolean;
  OpenStdin: boolean;
  StdinOnce: boolean;
  Env: string[];
  Cmd: string[] | null;
  Image: string;
  Volumes: Record<string, object> | null;
  WorkingDir: string;
  Entrypoint: string[] | null;
  OnBuild: string[] | null;
  Labels: Record<string, string>;
  StopSignal?: string;
  StopTimeout?: number;
  [key: string]: unknown;
}

export interface HostConfigRecord {
  AutoRemove: boolean;
  NetworkMode: string;
  RestartPolicy: { Name: string; MaximumRetryCount: number };
  LogConfig: { Type: string; Config: Record<string, string> };
  Privileged: boolean;
  ReadonlyRootfs: boolean;
  [key: string]: unknown;
}

export interface ContainerState {
  status: ContainerStatus;
  pid: number;
  exitCode: number;
  error: string;
  oomKilled: boolean;
  startedAt: string;
  finishedAt: string;
}

export interface ContainerRecord {
  id: string;
  /** without the leading slash */
  name: string;
  imageId: string;
  created: string;
  config: ContainerConfigRecord;
  hostConfig: HostConfigRecord;
  state: ContainerState;
  restartCount: number;
  networkSettings: Record<string, unknown>;
  mounts: unknown[];
}

export const ZERO_TIME = '0001-01-01T00:00:00Z';

interface Row {
  id: string; name: string; image_id: string; created: string; config: string; host_config: string; status: string;
  pid: number; exit_code: number; error: string; oom_killed: number; started_at: string; finished_at: string;
  restart_count: number; network_settings: string; mounts: string;
}

function fromRow(r: Row): ContainerRecord {
  return {
    id: r.id, name: r.name, imageId: r.image_id, created: r.created,
    config: JSON.parse(r.config), hostConfig: JSON.parse(r.host_config),
    state: {
      status: r.status as ContainerStatus, pid: r.pid, exitCode: r.exit_code, error: r.error,
      oomKilled: r.oom_killed !== 0, startedAt: r.started_at, finishedAt: r.finished_at,
    },
    restartCount: r.restart_count,
    networkSettings: JSON.parse(r.network_settings), mounts: JSON.parse(r.mounts),
  };
}

/** The `containers` table. Each method is one statement, so each change is atomic. */
export class ContainerStore {
  private readonly q;

  constructor(db: Db) {
    this.q = {
      insert: db.prepare(`INSERT INTO containers (id, name, image_id, created, config, host_config, status, network_settings, mounts)
        VALUES (@id, @name, @image_id, @created, @config, @host_config, @status, @network_settings, @mounts)`),
      get: db.prepare('SELECT * FROM containers WHERE id = ?'),
      byName: db.prepare('SELECT * FROM containers WHERE name = ?'),
      byPrefix: db.prepare("SELECT * FROM containers WHERE id LIKE ? || '%' LIMIT 2"),
      all: db.prepare('SELECT * FROM containers ORDER BY created DESC'),
      state: db.prepare(`UPDATE containers SET status = @status, pid = @pid, exit_code = @exitCode, error = @error,
        oom_killed = @oom, started_at = @startedAt, finished_at = @finishedAt WHERE id = @id`),
      remove: db.prepare('DELETE FROM containers WHERE id = ?'),
      usingImage: db.prepare('SELECT id FROM containers WHERE image_id = ?'),
      nameTaken: db.prepare('SELECT 1 FROM containers WHERE name = ?'),
    };
  }

  insert(c: ContainerRecord): void {
    this.q.insert.run({
      id: c.id, name: c.name, image_id: c.imageId, created: c.created, config: JSON.stringify(c.config),
      host_config: JSON.stringify(c.hostConfig), status: c.state.status,
      network_settings: JSON.stringify(c.networkSettings), mounts: JSON.stringify(c.mounts),
    });
  }

  get(id: string): ContainerRecord | undefined {
    const r = this.q.get.get(id) as Row | undefined;
    return r && fromRow(r);
  }

  /** Docker's lookup order: full ID, exact name (with or without `/`), unique ID prefix. */
  find(ref: string): ContainerRecord | 'ambiguous' | undefined {
    const exact = this.q.get.get(ref) as Row | undefined;
    if (exact) return fromRow(exact);
    const named = this.q.byName.get(ref.replace(/^\//, '')) as Row | undefined;
    if (named) return fromRow(named);
    if (!/^[a-f0-9]+$/.test(ref)) return undefined;
    const rows = this.q.byPrefix.all(ref) as Row[];
    if (rows.length > 1) return 'ambiguous';
    return rows[0] && fromRow(rows[0]);
  }

  list(): ContainerRecord[] {
    return (this.q.all.all() as Row[]).map(fromRow);
  }

  setState(id: string, s: ContainerState): void {
    this.q.state.run({
      id, status: s.status, pid: s.pid, exitCode: s.exitCode, error: s.error, oom: s.oomKilled ? 1 : 0,
      startedAt: s.startedAt, finishedAt: s.finishedAt,
    });
  }

  remove(id: string): void {
    this.q.remove.run(id);
  }

  usingImage(imageId: string): string[] {
    return (this.q.usingImage.all(imageId) as { id: string }[]).map((r) => r.id);
  }

  nameTaken(name: string): boolean {
    return this.q.nameTaken.get(name) !== undefined;
  }
}
