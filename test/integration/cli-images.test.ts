/**
 * The berth CLI against a real berthd and a real registry on loopback: image and system commands, output
 * formats, exit codes, and credentials from config.json reaching the registry through X-Registry-Auth.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startBerthd, type Berthd } from '../helpers/daemon';
import { pushLayout, startRegistry, type Registry } from '../helpers/registry';
import { layoutDir, repoRoot } from '../../scripts/fixtures/paths';

/** bin/berth for the main build; <outDir>/src/cli/main.js for a private build dir (tests its own code). */
function cliEntry(): string {
  const outDir = path.resolve(__dirname, '..', '..');
  if (path.basename(outDir) === 'dist') return path.join(repoRoot(), 'bin', 'berth');
  return path.join(outDir, 'src', 'cli', 'main.js');
}

interface Result { code: number; stdout: string; stderr: string }

function berth(args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [cliEntry(), ...args], { env, maxBuffer: 64 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
    });
    child.stdin?.end(input ?? '');
  });
}

let daemon: Berthd;
let registry: Registry;
let authRegistry: Registry;
let env: NodeJS.ProcessEnv;

before(async () => {
  registry = await startRegistry();
  authRegistry = await startRegistry({ auth: { user: 'alice', password: 's3cret-pw' } });
  await pushLayout(registry, layoutDir('busybox'), 'tools/busybox');
  await pushLayout(authRegistry, layoutDir('busybox'), 'private/busybox');
  daemon = await startBerthd({ insecureRegistries: [registry.host, authRegistry.host] });
  env = daemon.env;
});

after(async () => {
  await daemon?.stop();
  await registry?.stop();
  await authRegistry?.stop();
});

test('version prints Client and Server sections', async () => {
  const r = await berth(['version'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Client:\n Version: {11}\S+\n API version: {7}1\.\d+/);
  assert.match(r.stdout, /\n\nServer: .*\n Engine:\n  Version: {10}\S+\n  API version: {6}1\.47 \(minimum version 1\.24\)/);
  const j = await berth(['version', '--format', '{{json .}}'], env);
  assert.equal(j.code, 0, j.stderr);
  const parsed = JSON.parse(j.stdout);
  assert.equal(parsed.Server.ApiVersion, '1.47');
  assert.equal(parsed.Client.ApiVersion, '1.47');
  assert.equal((await berth(['version', '--format', '{{.Server.Version}}'], env)).stdout.trim(), parsed.Server.Version);
});

test('info prints the server layout and supports --format', async () => {
  const r = await berth(['info'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Client:\n Version: {4}\S+\n Context: {4}default\n Debug Mode: false\n\nServer:\n Containers: \d+\n  Running: \d+/);
  assert.match(r.stdout, /\n Storage Driver: overlay2\n/);
  assert.ok(r.stdout.includes(`\n Docker Root Dir: ${daemon.dataRoot}\n`), r.stdout);
  const f = await berth(['info', '--format', '{{.DockerRootDir}} {{json .Images}}'], env);
  assert.equal(f.stdout, `${daemon.dataRoot} ${JSON.parse((await berth(['system', 'info', '--format', 'json'], env)).stdout).Images}\n`);
});

test('images on an empty daemon prints only the header', async () => {
  const r = await berth(['images'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n');
  assert.equal((await berth(['images', '--format', '{{json .}}'], env)).stdout, '');
});

test('pull, then list, inspect, history, tag and remove', async () => {
  const ref = `${registry.host}/tools/busybox`;
  const pull = await berth(['pull', ref], env);
  assert.equal(pull.code, 0, pull.stderr + daemon.logs());
  const lines = pull.stdout.split('\n');
  assert.equal(lines[0], 'Using default tag: latest');
  assert.equal(lines[1], 'latest: Pulling from tools/busybox');
  assert.match(pull.stdout, /\nDigest: sha256:[0-9a-f]{64}\n/);
  assert.match(pull.stdout, new RegExp(`\\nStatus: Downloaded newer image for ${ref.replace(/\./g, '\\.')}:latest\\n`));
  assert.equal(lines[lines.length - 2], `${ref}:latest`);
  assert.doesNotMatch(pull.stdout, /\x1b\[/, 'no cursor movement without a terminal');

  const again = await berth(['pull', '-q', `${ref}:latest`], env);
  assert.equal(again.stdout, `${ref}:latest\n`);

  const list = await berth(['images'], env);
  assert.match(list.stdout, new RegExp(`^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE\\n${ref.replace(/\./g, '\\.')} +latest +[0-9a-f]{12} +\\S.* +[0-9.]+[kM]?B\\n$`));

  const json = await berth(['images', '--format', '{{json .}}'], env);
  const row = JSON.parse(json.stdout.trim());
  assert.deepEqual(Object.keys(row), ['Containers', 'CreatedAt', 'CreatedSince', 'Digest', 'ID', 'Repository', 'SharedSize', 'Size', 'Tag', 'UniqueSize', 'VirtualSize']);
  assert.equal(row.Repository, ref);
  assert.equal(row.Tag, 'latest');

  const ids = await berth(['images', '-q', '--no-trunc'], env);
  assert.match(ids.stdout, /^sha256:[0-9a-f]{64}\n$/);
  const id = ids.stdout.trim();
  assert.equal((await berth(['image', 'inspect', '-f', '{{.Id}}', ref], env)).stdout, `${id}\n`);
  const inspected = await berth(['inspect', ref], env);
  assert.equal(inspected.code, 0, inspected.stderr);
  assert.ok(inspected.stdout.startsWith('[\n    {\n        "Id": '), inspected.stdout.slice(0, 80));
  assert.equal(JSON.parse(inspected.stdout)[0].Id, id);

  const hist = await berth(['history', ref], env);
  assert.equal(hist.code, 0, hist.stderr);
  assert.match(hist.stdout, /^IMAGE +CREATED +CREATED BY +SIZE +COMMENT\n/);

  assert.equal((await berth(['tag', ref, 'local/copy:v1'], env)).code, 0);
  assert.match((await berth(['images', '--format', '{{.Repository}}:{{.Tag}}'], env)).stdout, /local\/copy:v1\n/);
  const rmi = await berth(['rmi', 'local/copy:v1'], env);
  assert.equal(rmi.code, 0, rmi.stderr);
  assert.equal(rmi.stdout, 'Untagged: local/copy:v1\n');

  const df = await berth(['system', 'df'], env);
  assert.equal(df.code, 0, df.stderr);
  assert.match(df.stdout, /^TYPE +TOTAL +ACTIVE +SIZE +RECLAIMABLE\nImages +1 +0 +\S+ +\S+ \(100%\)\n/);
});

test('pull sends credentials from config.json', async () => {
  const ref = `${authRegistry.host}/private/busybox:latest`;
  const denied = await berth(['pull', ref], env);
  assert.equal(denied.code, 1);
  // dockerd's wording for a Basic-auth registry asked without credentials
  assert.match(denied.stderr, /^Error response from daemon: Head "http:\/\/[^"]+\/v2\/private\/busybox\/manifests\/latest": no basic auth credentials\n$/);

  const configDir = fs.mkdtempSync(path.join(daemon.dir, 'cfg-'));
  const auth = Buffer.from('alice:s3cret-pw').toString('base64');
  fs.writeFileSync(path.join(configDir, 'config.json'), JSON.stringify({ auths: { [`http://${authRegistry.host}`]: { auth } } }));
  const ok = await berth(['--config', configDir, 'pull', ref], env);
  assert.equal(ok.code, 0, ok.stderr + daemon.logs());
  assert.match(ok.stdout, new RegExp(`${ref.replace(/\./g, '\\.')}\\n$`));
});

test('errors: daemon errors, usage errors and exit codes like docker', async () => {
  const missing = await berth(['image', 'inspect', 'nosuchimage'], env);
  assert.equal(missing.code, 1);
  assert.equal(missing.stdout, '[]\n');
  assert.match(missing.stderr, /^Error response from daemon: No such image: nosuchimage(:latest)?\n$/);

  const obj = await berth(['inspect', 'nosuchimage'], env);
  assert.equal(obj.code, 1);
  assert.equal(obj.stderr, 'Error: No such object: nosuchimage\n');

  const bad = await berth(['images', '--bogus'], env);
  assert.equal(bad.code, 125);
  assert.equal(bad.stderr, "unknown flag: --bogus\n\nUsage:  berth images [OPTIONS] [REPOSITORY[:TAG]]\n\nRun 'berth images --help' for more information\n");

  const args = await berth(['tag', 'x'], env);
  assert.equal(args.code, 1);
  assert.match(args.stderr, /^berth: 'berth tag' requires 2 arguments\n/);

  const unknown = await berth(['bogus'], env);
  assert.equal(unknown.code, 1);
  assert.equal(unknown.stderr, "berth: unknown command: berth bogus\n\nRun 'berth --help' for more information\n");

  const tmpl = await berth(['images', '--format', '{{.Nope}}'], env);
  assert.equal(tmpl.code, 1);
  assert.equal(tmpl.stderr, 'template parsing error: template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type *formatter.imageContext\n');

  const down = await berth(['-H', `unix://${daemon.dir}/nothing.sock`, 'images'], env);
  assert.equal(down.code, 1);
  assert.equal(down.stderr, `Cannot connect to the berth daemon at unix://${daemon.dir}/nothing.sock. Is the berth daemon running?\n`);

  const help = await berth(['images', '--help'], env);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage:  berth images \[OPTIONS\] \[REPOSITORY\[:TAG\]\]\n\nList images\n\nAliases:\n  berth image ls, berth image list, berth images\n\nOptions:\n/);
});

test('save refuses a terminal only; save and load round-trip through a file', async () => {
  const ref = `${registry.host}/tools/busybox:latest`;
  const file = path.join(daemon.dir, 'busybox.tar');
  const save = await berth(['save', '-o', file, ref], env);
  assert.equal(save.code, 0, save.stderr);
  assert.ok(fs.statSync(file).size > 1024);
  assert.equal((await berth(['rmi', ref], env)).code, 0);
  const load = await berth(['load', '-i', file], env);
  assert.equal(load.code, 0, load.stderr);
  assert.match(load.stdout, new RegExp(`Loaded image: ${ref.replace(/\./g, '\\.')}\\n`));
});
