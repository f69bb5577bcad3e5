import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { authConfigKey, CliConfig, convertToHostname, encodeAuthHeader, INDEX_SERVER } from '../../src/cli/config-file';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cli-cred-'));
}

function writeConfig(dir: string, cfg: unknown): void {
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

test('registry keys are normalised', () => {
  assert.equal(authConfigKey('docker.io'), INDEX_SERVER);
  assert.equal(authConfigKey('index.docker.io'), INDEX_SERVER);
  assert.equal(authConfigKey('127.0.0.1:5000'), '127.0.0.1:5000');
  assert.equal(convertToHostname('https://index.docker.io/v1/'), 'index.docker.io');
  assert.equal(convertToHostname('http://reg.example:5000/v2/'), 'reg.example:5000');
});

test('auths: base64 user:pass, identity tokens, and keys with schemes', async () => {
  const dir = tempDir();
  try {
    writeConfig(dir, {
      auths: {
        'https://index.docker.io/v1/': { auth: b64('hubuser:hubpass') },
        'https://127.0.0.1:5000': { auth: b64('u:p:with:colons') },
        'reg.example': { identitytoken: 'tok123' },
      },
    });
    const cfg = CliConfig.load(dir, {});
    assert.deepEqual(await cfg.authConfig('docker.io'), { username: 'hubuser', password: 'hubpass', serveraddress: INDEX_SERVER });
    assert.deepEqual(await cfg.authConfig('127.0.0.1:5000'), { username: 'u', password: 'p:with:colons', serveraddress: 'https://127.0.0.1:5000' });
    assert.deepEqual(await cfg.authConfig('reg.example'), { identitytoken: 'tok123', serveraddress: 'reg.example' });
    assert.deepEqual(await cfg.authConfig('other.example'), {});
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('X-Registry-Auth is base64url JSON without empty fields', () => {
  const header = encodeAuthHeader({ username: 'u', password: 'p??>', serveraddress: 's', email: '' });
  assert.doesNotMatch(header, /[+/]/);
  const decoded = JSON.parse(Buffer.from(header.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString());
  assert.deepEqual(decoded, { username: 'u', password: 'p??>', serveraddress: 's' });
  assert.equal(encodeAuthHeader({}), 'e30=');
});

test('credsStore and credHelpers run docker-credential-<name> get', async () => {
  const dir = tempDir();
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  const log = path.join(dir, 'helper.log');
  // a helper that answers per server URL read from stdin, and logs what it was asked
  const script = (user: string) => `#!/bin/sh
read url
echo "$0 $1 $url" >> ${log}
case "$url" in
  *missing*) echo "credentials not found in native keychain"; exit 1;;
  *token*) printf '{"ServerURL":"%s","Username":"<token>","Secret":"idtok"}' "$url";;
  *) printf '{"ServerURL":"%s","Username":"${user}","Secret":"s3cret"}' "$url";;
esac
`;
  fs.writeFileSync(path.join(bin, 'docker-credential-test'), script('storeuser'), { mode: 0o755 });
  fs.writeFileSync(path.join(bin, 'docker-credential-special'), script('specialuser'), { mode: 0o755 });
  try {
    writeConfig(dir, { credsStore: 'test', credHelpers: { 'special.example:5000': 'special' }, auths: { 'https://index.docker.io/v1/': {} } });
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
    const cfg = CliConfig.load(dir, env);
    assert.deepEqual(await cfg.authConfig('docker.io'), { serveraddress: INDEX_SERVER, username: 'storeuser', password: 's3cret' });
    assert.deepEqual(await cfg.authConfig('special.example:5000'), { serveraddress: 'special.example:5000', username: 'specialuser', password: 's3cret' });
    assert.deepEqual(await cfg.authConfig('token.example'), { serveraddress: 'token.example', identitytoken: 'idtok' });
    assert.deepEqual(await cfg.authConfig('missing.example'), {});
    const calls = fs.readFileSync(log, 'utf8').trim().split('\n');
    assert.ok(calls[0].endsWith(`docker-credential-test get ${INDEX_SERVER}`), calls[0]);
    assert.ok(calls[1].endsWith('docker-credential-special get special.example:5000'), calls[1]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('DOCKER_AUTH_CONFIG overrides the file', async () => {
  const dir = tempDir();
  try {
    writeConfig(dir, { auths: { 'reg.example': { auth: b64('file:pass') } } });
    const cfg = CliConfig.load(dir, { DOCKER_AUTH_CONFIG: JSON.stringify({ auths: { 'reg.example': { auth: b64('env:pass') } } }) });
    assert.equal((await cfg.authConfig('reg.example')).username, 'env');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
