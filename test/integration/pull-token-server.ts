/**
 * A docker-registry that wants Bearer tokens, and a tiny token server it trusts: RS256 JWTs whose `x5c`
 * header carries a self-signed certificate listed in the registry's `auth.token.rootcertbundle`. The token
 * server grants pull and push to one user (Basic credentials) and nothing to anyone else.
 */
import { execFile, spawn } from 'node:child_process';
import { createSign, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { freePort, REGISTRY_BIN, type Registry } from '../helpers/registry';

const execFileP = promisify(execFile);
const SERVICE = 'berth-test-registry';
const ISSUER = 'berth-test-token-issuer';

export interface TokenRegistry {
  registry: Registry;
  tokensIssued(): number;
  scopesAsked(): string[];
  stop(): Promise<void>;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

function signJwt(claims: object, keyPem: string, certDer: Buffer): string {
  const header = { typ: 'JWT', alg: 'RS256', x5c: [certDer.toString('base64')] };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const sig = createSign('RSA-SHA256').update(input).sign(keyPem);
  return `${input}.${b64url(sig)}`;
}

export async function startTokenRegistry(user: { user: string; password: string }): Promise<TokenRegistry> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-token-registry-'));
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  await execFileP('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile,
    '-days', '2', '-subj', '/CN=berth-test-token-issuer']);
  const keyPem = fs.readFileSync(keyFile, 'utf8');
  const certDer = Buffer.from(fs.readFileSync(certFile, 'utf8').replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');

  let issued = 0;
  const scopes: string[] = [];
  const tokenServer = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const asked = url.searchParams.getAll('scope');
    scopes.push(...asked);
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
    const [name, pass] = basic ? Buffer.from(basic[1], 'base64').toString().split(/:(.*)/s) : [];
    if (basic && (name !== user.user || pass !== user.password)) {
      res.writeHead(401, { 'Content-Type': 'application/json' }).end(JSON.stringify({ details: 'incorrect username or password' }));
      return;
    }
    const granted = basic
      ? asked.map((s) => { const [type, repo, actions] = s.split(':'); return { type, name: repo, actions: actions.split(',') }; })
      : [];
    const now = Math.floor(Date.now() / 1000);
    const token = signJwt({
      iss: ISSUER, sub: name ?? '', aud: SERVICE, exp: now + 300, nbf: now - 10, iat: now,
      jti: randomBytes(8).toString('hex'), access: granted,
    }, keyPem, certDer);
    issued++;
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300, issued_at: new Date().toISOString() }));
  });
  await new Promise<void>((resolve) => tokenServer.listen(0, '127.0.0.1', resolve));
  const realm = `http://127.0.0.1:${(tokenServer.address() as AddressInfo).port}/token`;

  const port = await freePort();
  const storageDir = path.join(dir, 'storage');
  fs.mkdirSync(storageDir);
  const config = [
    'version: 0.1',
    'log:', '  level: warn', '  accesslog:', '    disabled: true',
    'storage:', '  filesystem:', `    rootdirectory: ${storageDir}`,
    'http:', `  addr: 127.0.0.1:${port}`, `  secret: ${randomBytes(16).toString('hex')}`,
    'auth:', '  token:', `    realm: ${realm}`, `    service: ${SERVICE}`, `    issuer: ${ISSUER}`, `    rootcertbundle: ${certFile}`,
  ].join('\n') + '\n';
  const configFile = path.join(dir, 'config.yml');
  fs.writeFileSync(configFile, config);
  const logFile = path.join(dir, 'registry.log');
  const out = fs.openSync(logFile, 'a');
  const child = spawn(REGISTRY_BIN, ['serve', configFile], { stdio: ['ignore', out, out] });
  fs.closeSync(out);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    await new Promise<void>((resolve) => tokenServer.close(() => resolve()));
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      const r = await fetch(`${url}/v2/`);
      if (r.status === 401) break;
    } catch { /* not up yet */ }
    if (child.exitCode !== null || i > 200) {
      const log = fs.readFileSync(logFile, 'utf8');
      await stop();
      throw new Error(`token-auth registry did not start: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const registry: Registry = {
    port, host: `127.0.0.1:${port}`, url, auth: { user: user.user, password: user.password }, storageDir,
    logs: () => fs.readFileSync(logFile, 'utf8'),
    stop,
  };
  return { registry, tokensIssued: () => issued, scopesAsked: () => scopes, stop };
}
