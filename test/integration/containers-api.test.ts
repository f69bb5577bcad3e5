import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as net from 'node:net';
import { berthCli, ok } from '../helpers/cli';
import { IMAGE, demux, makeBed, request, serve, sleep, traces, type Bed, type Served } from './containers-fixture';

const DOCKER = '/usr/local/bin/docker';
let bed: Bed;
let api: Served;

before(async () => {
  bed = await makeBed();
  api = await serve(bed);
});
after(async () => {
  await api.close();
  await bed.close();
});

const json = (r: { body: Buffer }) => JSON.parse(r.body.toString());

function docker(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(DOCKER, args, { env: api.env, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** Open a hijacked attach connection the way the docker CLI does; resolves after the 101. */
function attach(id: string, query: string): Promise<{ sock: net.Socket; output: Promise<Buffer>; head: string }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(api.socket);
    let buf = Buffer.alloc(0);
    let headerDone = false;
    let finish: (b: Buffer) => void;
    const output = new Promise<Buffer>((r) => { finish = r; });
    sock.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (!headerDone) {
        const i = buf.indexOf('\r\n\r\n');
        if (i < 0) return;
        headerDone = true;
        const head = buf.subarray(0, i).toString();
        buf = buf.subarray(i + 4);
        resolve({ sock, output, head });
      }
    });
    sock.on('end', () => finish(buf));
    sock.on('error', reject);
    sock.write(`POST /v1.47/containers/${id}/attach?${query} HTTP/1.1\r\nHost: api\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n`);
  });
}

test('the docker CLI run flow over HTTP: create, attach, wait, start; multiplexed output; exit code', async () => {
  const created = await request(api.socket, 'POST', '/v1.47/containers/create?name=flow', { Image: IMAGE, Cmd: ['sh', '-c', 'echo out; echo err >&2; exit 3'], AttachStdout: true, AttachStderr: true });
  assert.equal(created.status, 201);
  const { Id } = json(created);
  const att = await attach(Id, 'stream=1&stdout=1&stderr=1');
  assert.match(att.head, /^HTTP\/1\.1 101 UPGRADED/);
  assert.match(att.head, /Content-Type: application\/vnd\.docker\.multiplexed-stream/);
  const wait = request(api.socket, 'POST', `/v1.47/containers/${Id}/wait?condition=next-exit`);
  await sleep(50);
  assert.equal((await request(api.socket, 'POST', `/v1.47/containers/${Id}/start`)).status, 204);
  assert.deepEqual(demux(await att.output), { stdout: 'out\n', stderr: 'err\n' });
  assert.deepEqual(json(await wait), { StatusCode: 3, Error: null });

  const logs = await request(api.socket, 'GET', `/v1.47/containers/${Id}/logs?stdout=1&stderr=1`);
  assert.equal(logs.status, 200);
  assert.deepEqual(demux(logs.body), { stdout: 'out\n', stderr: 'err\n' });
  const inspect = json(await request(api.socket, 'GET', '/v1.47/containers/flow/json'));
  assert.equal(inspect.State.ExitCode, 3);
  assert.equal(inspect.Config.Image, IMAGE);
  assert.equal((await request(api.socket, 'DELETE', `/v1.47/containers/${Id}`)).status, 204);
  assert.equal((await request(api.socket, 'GET', `/v1.47/containers/${Id}/json`)).status, 404);
});

test('stdin over the hijacked connection reaches the container; half-close ends it', async () => {
  const { Id } = json(await request(api.socket, 'POST', '/containers/create', { Image: IMAGE, Cmd: ['wc', '-c'], OpenStdin: true, StdinOnce: true }));
  const att = await attach(Id, 'stream=1&stdin=1&stdout=1&stderr=1');
  const wait = request(api.socket, 'POST', `/containers/${Id}/wait?condition=next-exit`);
  await sleep(50);
  const payload = Buffer.alloc(100_000, 'x'); // larger than conmon's 32 KiB packet limit
  att.sock.write(payload);
  att.sock.end();
  assert.equal((await request(api.socket, 'POST', `/containers/${Id}/start`)).status, 204);
  assert.equal(demux(await att.output).stdout.trim(), '100000');
  assert.equal(json(await wait).StatusCode, 0);
  await request(api.socket, 'DELETE', `/containers/${Id}`);
});

test('docker-compose run\'s order (start, attach, inspect, start again if it stopped): no attach hangs', async () => {
  // compose (dockerpty) attaches only after its first start. An attach that meets the container already
  // exited waits for the next start, so inspect must say stopped by the time the attach is answered, or
  // compose never starts it again and waits forever. An attach that meets it still running ends with it
  // (its output may be gone already, as with dockerd).
  let pendingRounds = 0;
  for (let i = 0; i < 15; i++) {
    const { Id } = json(await request(api.socket, 'POST', '/containers/create', { Image: IMAGE, Cmd: ['echo', `ran ${i}`], OpenStdin: true, StdinOnce: true, AttachStdout: true, AttachStderr: true }));
    try {
      assert.equal((await request(api.socket, 'POST', `/containers/${Id}/start`)).status, 204);
      await sleep(i % 3 === 0 ? 0 : 20);
      const out = await attach(Id, 'stream=1&stdout=1');
      const err = await attach(Id, 'stream=1&stderr=1');
      let ended = 0;
      void out.output.then(() => ended++);
      void err.output.then(() => ended++);
      let restarted = false;
      if (!json(await request(api.socket, 'GET', `/containers/${Id}/json`)).State.Running) {
        restarted = ended === 0;
        assert.equal((await request(api.socket, 'POST', `/containers/${Id}/start`)).status, 204);
      }
      const got = await Promise.race([Promise.all([out.output, err.output]), sleep(10_000).then(() => 'timeout' as const)]);
      assert.notEqual(got, 'timeout', `round ${i}: the attach never ended`);
      if (restarted) {
        // both sessions waited for this start: they see all of its output
        pendingRounds++;
        const [o, e] = got as Buffer[];
        assert.deepEqual(demux(o), { stdout: `ran ${i}\n`, stderr: '' }, `round ${i}`);
        assert.deepEqual(demux(e), { stdout: '', stderr: '' });
      }
      out.sock.destroy();
      err.sock.destroy();
    } finally {
      assert.equal((await request(api.socket, 'DELETE', `/containers/${Id}?force=1`)).status, 204);
    }
  }
  assert.ok(pendingRounds > 0, 'no round met the container stopped');
});

test('errors: 404 for a missing image and container, 409 for a name in use, 304 for a second start', async () => {
  const missing = await request(api.socket, 'POST', '/containers/create', { Image: 'missing/image' });
  assert.equal(missing.status, 404);
  assert.equal(json(missing).message, 'No such image: missing/image:latest');
  assert.equal((await request(api.socket, 'GET', '/containers/nope/json')).status, 404);
  const a = await request(api.socket, 'POST', '/containers/create?name=dup', { Image: IMAGE, Cmd: ['sleep', '100'] });
  assert.equal(a.status, 201);
  const b = await request(api.socket, 'POST', '/containers/create?name=dup', { Image: IMAGE });
  assert.equal(b.status, 409);
  assert.match(json(b).message, /^Conflict\. The container name "\/dup" is already in use/);
  assert.equal((await request(api.socket, 'POST', '/containers/dup/start')).status, 204);
  assert.equal((await request(api.socket, 'POST', '/containers/dup/start')).status, 304);
  const list = json(await request(api.socket, 'GET', '/containers/json?filters=' + encodeURIComponent(JSON.stringify({ name: ['dup'] }))));
  assert.equal(list.length, 1);
  assert.equal(list[0].State, 'running');
  assert.equal((await request(api.socket, 'DELETE', '/containers/dup')).status, 409);
  assert.equal((await request(api.socket, 'DELETE', '/containers/dup?force=1')).status, 204);
  assert.equal(json(await request(api.socket, 'GET', '/containers/json?all=1')).length, 0);
});

test('the real docker CLI: run --rm, run -d, ps, logs, stop, wait, rm -f, exit codes', async () => {
  const hi = await docker(['run', '--rm', IMAGE, 'echo', 'hi']);
  assert.equal(hi.stdout, 'hi\n', hi.stderr);
  assert.equal(hi.code, 0);
  const three = await docker(['run', '--rm', IMAGE, 'sh', '-c', 'echo to-err >&2; exit 3']);
  assert.equal(three.code, 3);
  assert.equal(three.stderr, 'to-err\n');
  const piped = await docker(['run', '-i', '--rm', IMAGE, 'cat'], 'through stdin\n');
  assert.equal(piped.stdout, 'through stdin\n');
  const notFound = await docker(['run', '--rm', IMAGE, '/no/such/binary']);
  assert.equal(notFound.code, 127);

  const d = await docker(['run', '-d', '--name', 'bg', IMAGE, 'sh', '-c', 'echo started; sleep 100']);
  assert.equal(d.code, 0, d.stderr);
  const id = d.stdout.trim();
  assert.match(id, /^[a-f0-9]{64}$/);
  const ps = await docker(['ps', '--format', '{{.Names}} {{.Status}}']);
  assert.match(ps.stdout, /^bg Up /);
  await sleep(200);
  assert.equal((await docker(['logs', 'bg'])).stdout, 'started\n');
  const waiting = docker(['wait', 'bg']);
  const stop = await docker(['stop', '-t', '1', 'bg']);
  assert.equal(stop.code, 0, stop.stderr);
  assert.equal((await waiting).stdout.trim(), '137');
  const psa = await docker(['ps', '-a', '--format', '{{.Names}} {{.Status}}']);
  assert.match(psa.stdout, /^bg Exited \(137\)/);
  await docker(['start', 'bg']);
  assert.equal((await docker(['rm', '-f', 'bg'])).code, 0);
  assert.equal((await docker(['ps', '-aq'])).stdout, '');
  assert.deepEqual(await traces(bed, id), []);
});


test('the berth CLI: run, run -d, ps, logs, wait, stop, rm -f', async () => {
  const berth = berthCli(api);
  const hi = await berth(['run', '--rm', IMAGE, 'sh', '-c', 'echo hi; echo err >&2; exit 5']);
  assert.equal(hi.stdout, 'hi\n', hi.stderr);
  assert.equal(hi.stderr, 'err\n');
  assert.equal(hi.code, 5);
  const piped = await berth(['run', '-i', '--rm', IMAGE, 'cat'], { input: 'piped\n' });
  assert.equal(piped.stdout, 'piped\n', piped.stderr);
  const missing = await berth(['run', '--rm', IMAGE, '/no/such']);
  assert.equal(missing.code, 127, missing.stderr);

  const id = ok(await berth(['run', '-d', '--name', 'bbg', IMAGE, 'sh', '-c', 'echo started; sleep 100']), 'run -d').trim();
  assert.match(id, /^[a-f0-9]{64}$/);
  const ps = ok(await berth(['ps']), 'ps').split('\n');
  assert.match(ps[0], /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
  assert.match(ps[1], new RegExp(`^${id.slice(0, 12)}\\s+${IMAGE.replace(/[/.]/g, '\\$&')}\\s+"sh -c 'echo started…"\\s+.* ago\\s+Up .*bbg$`));
  await sleep(200);
  assert.equal(ok(await berth(['logs', 'bbg']), 'logs'), 'started\n');
  const waiting = berth(['wait', 'bbg']);
  assert.equal(ok(await berth(['stop', '-t', '1', 'bbg']), 'stop'), 'bbg\n');
  assert.equal(ok(await waiting, 'wait'), '137\n');
  assert.equal(ok(await berth(['ps', '-aq']), 'ps -aq'), `${id.slice(0, 12)}\n`);
  assert.equal(ok(await berth(['rm', '-f', 'bbg']), 'rm'), 'bbg\n');
  const gone = await berth(['rm', 'bbg']);
  assert.equal(gone.code, 1);
  assert.equal(gone.stderr, 'Error response from daemon: No such container: bbg\n');
  assert.deepEqual(await traces(bed, id), []);
});
