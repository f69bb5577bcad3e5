/**
 * A private instance of Debian's docker-registry (CNCF distribution) on a free loopback port, with its own
 * config and storage in a temp dir — never the system instance or /etc/docker/registry. Optional htpasswd auth.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { readTag } from '../../scripts/fixtures/oci-layout';
import { layoutDir } from '../../scripts/fixtures/paths';

const execFileP = promisify(execFile);
export const REGISTRY_BIN = '/usr/bin/docker-registry';

export interface RegistryAuth {
  user: string;
  password: string;
}

export interface Registry {
  port: number;
  /** `127.0.0.1:PORT`, the form used in image references */
  host: string;
  /** `http://127.0.0.1:PORT`, the form --registry-mirror takes */
  url: string;
  auth?: RegistryAuth;
  /** the registry's storage root (blobs and repositories as distribution lays them out) */
  storageDir: string;
  logs(): string;
  stop(): Promise<void>;
}

export interface StartRegistryOptions {
  auth?: RegistryAuth;
  /** keep blobs here instead of a temp dir (not removed by stop) */
  storageDir?: string;
}

/** A port the kernel just gave out on 127.0.0.1; free again by the time it is returned. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export function registryConfig(port: number, storage: string, htpasswd?: string): string {
  const lines = [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storage}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
  ];
  if (htpasswd) lines.push('auth:', '  htpasswd:', '    realm: berth-test-registry', `    path: ${htpasswd}`);
  return lines.join('\n') + '\n';
}

async function waitForV2(url: string, child: ChildProcess, logFile: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited (${child.exitCode}): ${fs.readFileSync(logFile, 'utf8')}`);
    try {
      const res = await fetch(`${url}/v2/`);
      if (res.status === 200 || res.status === 401) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`docker-registry did not answer on ${url}/v2/ within ${timeoutMs} ms`);
}

export async function startRegistry(opts: StartRegistryOptions = {}): Promise<Registry> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-registry-'));
  const storageDir = opts.storageDir ?? path.join(dir, 'storage');
  fs.mkdirSync(storageDir, { recursive: true });
  let htpasswd: string | undefined;
  if (opts.auth) {
    htpasswd = path.join(dir, 'htpasswd');
    const { stdout } = await execFileP('htpasswd', ['-nbB', opts.auth.user, opts.auth.password]);
    fs.writeFileSync(htpasswd, stdout.trim() + '\n');
  }
  const logFile = path.join(dir, 'registry.log');
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const configFile = path.join(dir, 'config.yml');
    fs.writeFileSync(configFile, registryConfig(port, storageDir, htpasswd));
    const out = fs.openSync(logFile, 'a');
    // setpriv execs the registry with a parent-death signal: a test process that is killed takes it along
    const child = spawn('setpriv', ['--pdeathsig', 'SIGTERM', REGISTRY_BIN, 'serve', configFile], { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitForV2(url, child, logFile);
    } catch (err) {
      child.kill('SIGKILL');
      if (attempt < 2 && /address already in use/.test(fs.readFileSync(logFile, 'utf8'))) continue;
      fs.rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    return {
      port,
      host: `127.0.0.1:${port}`,
      url,
      auth: opts.auth,
      storageDir,
      logs: () => fs.readFileSync(logFile, 'utf8'),
      stop: async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
          await exited;
          clearTimeout(timer);
        }
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  }
}

/**
 * Pushes an OCI layout (tag `tag` in the layout) to `<reg.host>/<repo>:<destTag>` with skopeo, all platforms,
 * digests unchanged. Returns the digest the layout names (what a registry reports as Docker-Content-Digest).
 */
export async function pushLayout(reg: Registry, layout: string, repo: string, destTag = 'latest', tag = 'latest'): Promise<string> {
  const desc = readTag(layout, tag);
  if (!desc) throw new Error(`no tag ${tag} in OCI layout ${layout} (run scripts/setup)`);
  const args = ['copy', '--all', '--quiet', '--dest-tls-verify=false'];
  if (reg.auth) args.push('--dest-creds', `${reg.auth.user}:${reg.auth.password}`);
  args.push(`oci:${layout}:${tag}`, `docker://${reg.host}/${repo}:${destTag}`);
  await execFileP('skopeo', args, { maxBuffer: 16 << 20 });
  return desc.digest;
}

/** The digest of a fixture image made by scripts/setup (index digest for busybox, manifest for hello-world). */
export function fixtureDigest(name: string): string {
  const desc = readTag(layoutDir(name), 'latest');
  if (!desc) throw new Error(`fixture image ${name} not found in ${layoutDir(name)} (run scripts/setup)`);
  return desc.digest;
}

/** Pushes the offline fixtures as `library/<name>:latest`, so a mirror serves them as docker.io/<name>. */
export async function seedImages(reg: Registry, names: string[] = ['busybox', 'hello-world']): Promise<Record<string, string>> {
  const digests: Record<string, string> = {};
  for (const name of names) digests[name] = await pushLayout(reg, layoutDir(name), `library/${name}`);
  return digests;
}

/** Asks the registry which digest `repo:tag` resolves to (HEAD on the manifest, as clients do). */
export async function registryDigest(reg: Registry, repo: string, tag = 'latest'): Promise<string | null> {
  const headers: Record<string, string> = {
    Accept: [
      'application/vnd.oci.image.index.v1+json',
      'application/vnd.docker.distribution.manifest.list.v2+json',
      'application/vnd.oci.image.manifest.v1+json',
      'application/vnd.docker.distribution.manifest.v2+json',
    ].join(', '),
  };
  if (reg.auth) headers.Authorization = 'Basic ' + Buffer.from(`${reg.auth.user}:${reg.auth.password}`).toString('base64');
  const res = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers });
  return res.ok ? res.headers.get('docker-content-digest') : null;
}
