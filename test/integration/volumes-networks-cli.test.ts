/**
 * `docker volume|network …` (the real docker CLI v28) and `berth volume|network …` against the volume and
 * network routes served in-process on a temp socket: same output, same errors, same exit codes.
 * Only builtin and unattached networks are used, so nothing touches the host's network.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { registerNetworkRoutes } from '../../src/api/networks';
import { registerVolumeRoutes } from '../../src/api/volumes';
import { Router } from '../../src/api/router';
import { createApiServer, commonHeaders } from '../../src/api/server';
import { EventLog } from '../../src/engine/events';
import { NetworkService } from '../../src/engine/networks';
import { VolumeService } from '../../src/engine/volumes';
import { openDb, type Db } from '../../src/store/db';
import { silentLogger } from '../../src/util/logger';
import { DOCKER_CLI, run, type RunResult } from '../helpers/cli';

let root: string;
let db: Db;
let server: http.Server;
let env: NodeJS.ProcessEnv;
const haveDocker = fs.existsSync(DOCKER_CLI);

const cli = (cmd: 'docker' | 'berth', args: string[], input?: string): Promise<RunResult> => run(cmd, args, { env, input, timeoutMs: 30_000 });

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-vncli-'));
  db = openDb(path.join(root, 'berth.db'));
  const events = new EventLog(db);
  const router = new Router();
  router.get('/_ping', (ctx) => { ctx.res!.writeHead(200, { ...commonHeaders(), 'Content-Type': 'text/plain' }); ctx.res!.end('OK'); });
  router.get('/version', (ctx) => {
    ctx.res!.writeHead(200, { 'Content-Type': 'application/json' });
    ctx.res!.end(JSON.stringify({ ApiVersion: '1.47', MinAPIVersion: '1.24', Version: '0.1.0', Os: 'linux', Arch: 'amd64' }));
  });
  registerVolumeRoutes(router, new VolumeService({ dataRoot: root, db, events, log: silentLogger }));
  registerNetworkRoutes(router, new NetworkService({
    execRoot: path.join(root, 'run'), db, events, log: silentLogger, bip: '10.234.0.1/24', bridgeName: 'btcli0', pool: '10.234.16.0/20',
  }));
  server = createApiServer(router, silentLogger);
  const socket = path.join(root, 'api.sock');
  await new Promise<void>((r) => server.listen(socket, r));
  fs.mkdirSync(path.join(root, 'cfg'));
  env = { PATH: process.env.PATH, HOME: root, DOCKER_HOST: `unix://${socket}`, BERTH_HOST: `unix://${socket}`, DOCKER_CONFIG: path.join(root, 'cfg') };
});

after(async () => {
  await new Promise((r) => server.close(r));
  db.close();
  fs.rmSync(root, { recursive: true, force: true });
});

/** Run the same command with both CLIs; the outputs must match after `normalize`. */
async function same(args: string[], opts: { input?: string; normalize?: (s: string) => string } = {}): Promise<RunResult> {
  const b = await cli('berth', args, opts.input);
  if (!haveDocker) return b;
  const d = await cli('docker', args, opts.input);
  const n = opts.normalize ?? ((s: string) => s);
  assert.equal(n(b.stdout), n(d.stdout), `stdout of ${args.join(' ')}`);
  assert.equal(n(b.stderr), n(d.stderr), `stderr of ${args.join(' ')}`);
  assert.equal(b.code, d.code, `exit code of ${args.join(' ')}`);
  return b;
}

test('volume commands', async () => {
  assert.equal((await cli('berth', ['volume', 'create', '--label', 'a=b', '-o', 'type=tmpfs', '-o', 'device=tmpfs', 'v1'])).stdout, 'v1\n');
  await cli('berth', ['volume', 'create', 'v2']);
  const ls = await same(['volume', 'ls']);
  assert.equal(ls.stdout, 'DRIVER    VOLUME NAME\nlocal     v1\nlocal     v2\n');
  await same(['volume', 'ls', '-q', '--filter', 'label=a=b']);
  await same(['volume', 'ls', '--format', 'json']);
  await same(['volume', 'ls', '--format', 'table {{.Name}}\t{{.Labels}}\t{{.Mountpoint}}']);
  const insp = await same(['volume', 'inspect', 'v1']);
  assert.deepEqual(JSON.parse(insp.stdout)[0].Options, { device: 'tmpfs', type: 'tmpfs' });
  await same(['volume', 'inspect', '-f', '{{.Name}} {{.Driver}} {{.Scope}}', 'v1', 'v2']);
  await same(['volume', 'inspect', 'v1', 'missing']);
  const bad = await same(['volume', 'create', 'a']);
  assert.equal(bad.code, 1);
  await same(['volume', 'rm', 'nope']);
  const rm = await cli('berth', ['volume', 'rm', 'v2', 'nope']);
  assert.deepEqual([rm.stdout, rm.stderr, rm.code], ['v2\n', 'Error response from daemon: get nope: no such volume\n', 1]);
  await same(['volume', 'prune'], { input: 'n\n' });
  const pruned = await cli('berth', ['volume', 'prune', '-a', '-f']);
  assert.equal(pruned.stdout, 'Deleted Volumes:\nv1\n\nTotal reclaimed space: 0B\n');
});

test('network commands', async () => {
  const created = await cli('berth', ['network', 'create', '--subnet', '10.234.100.0/24', '--gateway', '10.234.100.254', '--label', 'k=v', 'n1']);
  assert.match(created.stdout, /^[0-9a-f]{64}\n$/);
  await cli('berth', ['network', 'create', '--internal', 'n2']);
  const ls = await same(['network', 'ls', '--format', 'table {{.Name}}\t{{.Driver}}\t{{.Scope}}']);
  assert.equal(ls.stdout.split('\n')[0].replace(/ +/g, ' '), 'NAME DRIVER SCOPE');
  assert.deepEqual(ls.stdout.trim().split('\n').slice(1).map((l) => l.split(/\s+/)[0]), ['bridge', 'host', 'n1', 'n2', 'none']);
  await same(['network', 'ls']);
  await same(['network', 'ls', '-q', '--no-trunc', '-f', 'type=custom']);
  await same(['network', 'ls', '--format', 'json', '-f', 'label=k=v']);
  await same(['network', 'inspect', 'n1', 'bridge']);
  await same(['network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}} {{.Internal}}', 'n1', 'n2']);
  await same(['network', 'create', 'n1']);
  await same(['network', 'create', '--gateway', '10.0.0.1', 'x']);
  await same(['network', 'rm', 'bridge', 'nope']);
  await same(['network', 'rm', '-f', 'nope']);
  const rm = await cli('berth', ['network', 'rm', 'n2']);
  assert.deepEqual([rm.stdout, rm.code], ['n2\n', 0]);
  await same(['network', 'prune'], { input: 'n\n' });
  const pruned = await cli('berth', ['network', 'prune', '-f']);
  assert.equal(pruned.stdout, 'Deleted Networks:\nn1\n');
});
