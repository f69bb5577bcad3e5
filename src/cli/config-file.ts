/**
 * The client config file, read as the docker CLI reads it: `<dir>/config.json` where dir is --config, else
 * $DOCKER_CONFIG, else ~/.docker. Credentials come from, in order of precedence:
 *   DOCKER_AUTH_CONFIG ({"auths":{...}} in the environment), then
 *   credHelpers[<registry host>] or credsStore → `docker-credential-<name> get` (stdin: server URL,
 *   stdout: {"ServerURL","Username","Secret"}; Username "<token>" means Secret is an identity token), then
 *   auths[<key>] ({auth: base64(user:pass), identitytoken}), matched exactly or by host name.
 * Docker Hub's key is "https://index.docker.io/v1/".
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const INDEX_SERVER = 'https://index.docker.io/v1/';
const TOKEN_USERNAME = '<token>';

/** The registry's AuthConfig as the Engine API takes it in X-Registry-Auth. */
export interface AuthConfig {
  username?: string;
  password?: string;
  auth?: string;
  email?: string;
  serveraddress?: string;
  identitytoken?: string;
  registrytoken?: string;
}

interface RawAuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  email?: string;
  identitytoken?: string;
  registrytoken?: string;
}

export interface RawConfigFile {
  auths?: Record<string, RawAuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [key: string]: unknown;
}

export function defaultConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_CONFIG || path.join(os.homedir(), '.docker');
}

/** Strip a scheme and path: "https://index.docker.io/v1/" → "index.docker.io" (credentials.ConvertToHostname). */
export function convertToHostname(maybeUrl: string): string {
  let s = maybeUrl;
  const scheme = s.indexOf('://');
  if (scheme >= 0) s = s.slice(scheme + 3);
  return s.split('/')[0];
}

/** The key credentials are stored under for a registry host: Docker Hub's names map to INDEX_SERVER. */
export function authConfigKey(registryHost: string): string {
  const h = convertToHostname(registryHost);
  if (h === 'docker.io' || h === 'index.docker.io' || h === 'registry-1.docker.io') return INDEX_SERVER;
  return registryHost;
}

function decodeAuth(auth: string): { username: string; password: string } {
  const decoded = Buffer.from(auth, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) throw new Error('invalid auth configuration file');
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1).replace(/\0+$/, '') };
}

function entryToAuth(key: string, e: RawAuthEntry): AuthConfig {
  const out: AuthConfig = {};
  if (e.auth) Object.assign(out, decodeAuth(e.auth));
  else {
    if (e.username) out.username = e.username;
    if (e.password) out.password = e.password;
  }
  if (e.email) out.email = e.email;
  if (e.identitytoken) out.identitytoken = e.identitytoken;
  if (e.registrytoken) out.registrytoken = e.registrytoken;
  out.serveraddress = key;
  return out;
}

export class CredentialHelperError extends Error {}

/** Run `docker-credential-<helper> get` with the server URL on stdin. Resolves undefined when not found. */
export function helperGet(helper: string, serverUrl: string, env: NodeJS.ProcessEnv = process.env): Promise<AuthConfig | undefined> {
  return new Promise((resolve, reject) => {
    const child = execFile(`docker-credential-${helper}`, ['get'], { env, timeout: 30_000 }, (err, stdout) => {
      const out = String(stdout).trim();
      if (err) {
        if (/credentials not found/i.test(out)) return resolve(undefined);
        return reject(new CredentialHelperError(`error getting credentials - err: ${err.message.split('\n')[0]}, out: \`${out}\``));
      }
      try {
        const creds = JSON.parse(out) as { ServerURL?: string; Username?: string; Secret?: string };
        const auth: AuthConfig = { serveraddress: serverUrl };
        if (creds.Username === TOKEN_USERNAME) auth.identitytoken = creds.Secret;
        else {
          auth.username = creds.Username;
          auth.password = creds.Secret;
        }
        resolve(auth);
      } catch (e) {
        reject(new CredentialHelperError(`error getting credentials: ${(e as Error).message}`));
      }
    });
    child.stdin?.end(serverUrl);
  });
}

export class CliConfig {
  constructor(readonly dir: string, readonly file: RawConfigFile, private readonly env: NodeJS.ProcessEnv = process.env) {}

  static load(dir: string, env: NodeJS.ProcessEnv = process.env): CliConfig {
    const p = path.join(dir, 'config.json');
    let file: RawConfigFile = {};
    try {
      const text = fs.readFileSync(p, 'utf8');
      if (text.trim()) file = JSON.parse(text) as RawConfigFile;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        process.stderr.write(`WARNING: Error loading config file: ${p}: ${(err as Error).message}\n`);
      }
    }
    return new CliConfig(dir, file, env);
  }

  get filename(): string {
    return path.join(this.dir, 'config.json');
  }

  private fileAuth(key: string): AuthConfig | undefined {
    const auths = this.file.auths ?? {};
    if (auths[key]) return entryToAuth(key, auths[key]);
    for (const [k, e] of Object.entries(auths)) {
      if (convertToHostname(k) === key) return entryToAuth(k, e);
    }
    return undefined;
  }

  private envAuth(key: string): AuthConfig | undefined {
    const raw = this.env.DOCKER_AUTH_CONFIG;
    if (!raw) return undefined;
    try {
      const parsed = JSON.parse(raw) as { auths?: Record<string, RawAuthEntry> };
      const auths = parsed.auths ?? {};
      const hit = Object.entries(auths).find(([k]) => k === key || convertToHostname(k) === key);
      return hit ? entryToAuth(hit[0], hit[1]) : undefined;
    } catch {
      process.stderr.write('Failed to create credential store from DOCKER_AUTH_CONFIG\n');
      return undefined;
    }
  }

  /** The helper configured for a registry key: credHelpers by host, else credsStore. */
  helperFor(key: string): string | undefined {
    const helpers = this.file.credHelpers ?? {};
    const host = convertToHostname(key);
    return helpers[key] ?? helpers[host] ?? (this.file.credsStore || undefined);
  }

  /**
   * Credentials for a registry host ("docker.io", "127.0.0.1:5000", or a stored key). Resolves to an empty
   * AuthConfig (anonymous) when nothing is configured.
   */
  async authConfig(registryHost: string): Promise<AuthConfig> {
    const key = authConfigKey(registryHost);
    const fromEnv = this.envAuth(key);
    if (fromEnv) return fromEnv;
    const helper = this.helperFor(key);
    if (helper) {
      const base = this.fileAuth(key) ?? {};
      const creds = await helperGet(helper, key, this.env);
      if (!creds) return base.email ? { email: base.email } : {};
      return { ...(base.email ? { email: base.email } : {}), ...creds };
    }
    return this.fileAuth(key) ?? {};
  }
}

/** X-Registry-Auth: the AuthConfig as JSON, base64url (with padding, as the Go client sends it). */
export function encodeAuthHeader(auth: AuthConfig): string {
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(auth)) if (v) clean[k] = v;
  return Buffer.from(JSON.stringify(clean)).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}
