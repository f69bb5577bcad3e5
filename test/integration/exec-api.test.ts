/**
 * Exec routes against a real ContainerService (runc + conmon): create/start/inspect/resize over a unix
 * socket, hijacked the way the docker CLI does it, plus detached and failing execs and cleanup.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { createApiServer } from '../../src/api/server';
import { Router } from '../../src/api/router';
import { registerContainerRoutes } from '../../src/api/containers';
import { registerExecRoutes } from '../../src/api/exec';
import { ExecService } from '../../src/engine/exec';
import { silentLogger } from '../../src/util/logger';
import { IMAGE, demux, makeBed, request, sleep, type Bed } from './containers-fixture';

const skip = process.getuid?.() !== 0 ? 'needs root' : false;
let bed: Bed;
let socket: string;
let closeServer: () => Promise<void>;
let running: string;

before(async () => {
  if (skip) return;
  bed = await makeBed();
  const router = new Router();
  registerContainerRoutes(router, bed.svc);
  registerExecRoutes(router, new ExecService({ containers: bed.svc, events: bed.events, log: silentLogger }));
  const server = createApiServer(router, silentLogger);
  socket = path.join(bed.dir, 'api.sock');
  await new Promise<void>((r) => server.listen(socket, r));
  closeServer = () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); });
  running = (await bed.svc.create({ Image: IMAGE, Cmd: ['sleep', '600'] })).Id;
  await bed.svc.start(running);
});
after(async () => {
  if (skip) return;
  await closeServer();
  await bed.close();
});

const json = (r: { body: Buffer }) => JSON.parse(r.body.toString());

async function createExec(body: Record<string, unknown>): Promise<string> {
  const r = await request(socket, 'POST', `/containers/${running}/exec`, { AttachStdout: true, AttachStderr: true, ...body });
  assert.equal(r.status, 201, r.body.toString());
  return json(r).Id as string;
}

/** POST /exec/{id}/start with Upgrade, as the docker CLI sends it; resolves with everything after the 101. */
function hijackStart(execId: string, body: Record<string, unknown>, stdin?: string): Promise<{ status: string; output: Buffer }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(socket);
    const data = JSON.stringify(body);
    let buf = Buffer.alloc(0);
    sock.on('connect', () => {
      sock.write(`POST /v1.47/exec/${execId}/start HTTP/1.1\r\nHost: api\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(data)}\r\n\r\n${data}`);
      if (stdin !== undefined) setTimeout(() => { sock.write(stdin); sock.end(); }, 100);
    });
    sock.on('data', (c: Buffer) => { buf = Buffer.concat([buf, c]); });
    sock.on('error', reject);
    sock.on('close', () => {
      const sep = buf.indexOf('\r\n\r\n');
      resolve({ status: buf.subarray(0, buf.indexOf('\r\n')).toString(), output: buf.subarray(sep + 4) });
    });
  });
}

test('exec on a container that is not running is 409; unknown container and exec are 404', { skip }, async () => {
  const stopped = (await bed.svc.create({ Image: IMAGE, Cmd: ['true'] })).Id;
  const r = await request(socket, 'POST', `/containers/${stopped}/exec`, { Cmd: ['true'] });
  assert.equal(r.status, 409);
  assert.equal(json(r).message, `container ${stopped} is not running`);
  assert.equal((await request(socket, 'POST', '/containers/nope/exec', { Cmd: ['true'] })).status, 404);
  const missing = await request(socket, 'GET', '/exec/0123/json');
  assert.equal(missing.status, 404);
  assert.match(json(missing).message, /No such exec instance/);
});

test('hijacked start streams multiplexed output; inspect has the exit code right after', { skip }, async () => {
  const id = await createExec({ Cmd: ['sh', '-c', 'echo out-line; echo err-line >&2; exit 42'] });
  const before = json(await request(socket, 'GET', `/exec/${id}/json`));
  assert.equal(before.Running, false);
  assert.equal(before.ExitCode, null);
  assert.equal(before.ContainerID, running);
  const r = await hijackStart(id, { Detach: false, Tty: false });
  assert.match(r.status, /101 UPGRADED/);
  assert.deepEqual(demux(r.output), { stdout: 'out-line\n', stderr: 'err-line\n' });
  const after = json(await request(socket, 'GET', `/exec/${id}/json`));
  assert.equal(after.ExitCode, 42);
  assert.equal(after.Running, false);
  assert.ok(after.Pid > 0);
  assert.deepEqual(after.ProcessConfig, { tty: false, entrypoint: 'sh', arguments: ['-c', 'echo out-line; echo err-line >&2; exit 42'], privileged: false });
  const again = await request(socket, 'POST', `/exec/${id}/start`, { Detach: true });
  assert.equal(again.status, 409);
});

test('stdin reaches the process and EOF ends it', { skip }, async () => {
  const id = await createExec({ Cmd: ['cat'], AttachStdin: true });
  const r = await hijackStart(id, { Detach: false, Tty: false }, 'piped-in\n');
  assert.equal(demux(r.output).stdout, 'piped-in\n');
  assert.equal(json(await request(socket, 'GET', `/exec/${id}/json`)).ExitCode, 0);
});

test('a TTY exec gets ConsoleSize from the start body and raw output', { skip }, async () => {
  const id = await createExec({ Cmd: ['sh', '-c', 'stty size; exit 5'], Tty: true });
  const r = await hijackStart(id, { Detach: false, Tty: true, ConsoleSize: [33, 111] });
  assert.match(r.output.toString(), /^33 111\r\n$/);
  assert.equal(json(await request(socket, 'GET', `/exec/${id}/json`)).ExitCode, 5);
});

test('detached start returns at once; the exit code arrives later', { skip }, async () => {
  const id = await createExec({ Cmd: ['sh', '-c', 'sleep 0.5; exit 3'], AttachStdout: false, AttachStderr: false });
  const t0 = Date.now();
  const r = await request(socket, 'POST', `/exec/${id}/start`, { Detach: true });
  assert.equal(r.status, 200);
  assert.ok(Date.now() - t0 < 450, 'detached start waited for the process');
  assert.equal(json(await request(socket, 'GET', `/exec/${id}/json`)).Running, true);
  let info = { Running: true, ExitCode: null as number | null };
  for (let i = 0; i < 50 && info.Running; i++) { await sleep(100); info = json(await request(socket, 'GET', `/exec/${id}/json`)); }
  assert.equal(info.ExitCode, 3);
});

test('a missing binary: the error in the stream, exit code 126, nothing left behind', { skip }, async () => {
  const id = await createExec({ Cmd: ['nope'] });
  const r = await hijackStart(id, { Detach: false, Tty: false });
  assert.match(demux(r.output).stdout, /OCI runtime exec failed: exec failed: unable to start container process: exec: "nope": executable file not found in \$PATH: unknown\r\n/);
  assert.equal(json(await request(socket, 'GET', `/exec/${id}/json`)).ExitCode, 126);
  await sleep(400);
  const execDir = path.join(bed.dataRoot, 'containers', running, 'exec');
  assert.deepEqual(fs.existsSync(execDir) ? fs.readdirSync(execDir) : [], []);
  assert.deepEqual(fs.readdirSync(path.join(bed.execRoot, 's')).filter((n) => !running.startsWith(n)), []);
});

test('attach with logs=1 and no stream replays the log and ends', { skip }, async () => {
  const id = (await bed.svc.create({ Image: IMAGE, Cmd: ['sh', '-c', 'echo first; echo second >&2'] })).Id;
  await bed.svc.start(id);
  await bed.svc.wait(id, 'not-running');
  const r = await request(socket, 'POST', `/v1.47/containers/${id}/attach?logs=1&stdout=1&stderr=1`);
  assert.equal(r.status, 200);
  assert.deepEqual(demux(r.body), { stdout: 'first\n', stderr: 'second\n' });
});

test('a TTY attach ends at the detach keys from the query; the container keeps running', { skip }, async () => {
  const id = (await bed.svc.create({ Image: IMAGE, Cmd: ['sh'], Tty: true, OpenStdin: true })).Id;
  await bed.svc.start(id);
  const out = await new Promise<string>((resolve, reject) => {
    const sock = net.connect(socket);
    let buf = '';
    sock.on('connect', () => {
      sock.write(`POST /v1.47/containers/${id}/attach?stream=1&stdin=1&stdout=1&stderr=1&detachKeys=ctrl-x HTTP/1.1\r\nHost: api\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`);
      setTimeout(() => sock.write('echo $((6*7))\n'), 200);
      setTimeout(() => sock.write('\x18'), 700);
    });
    sock.setEncoding('utf8').on('data', (c: string) => (buf += c));
    sock.on('error', reject);
    sock.on('end', () => { sock.destroy(); resolve(buf); });
  });
  assert.match(out, /42/);
  await sleep(200);
  assert.equal(bed.svc.get(id).state.status, 'running');
  await bed.svc.remove(id, { force: true });
});
