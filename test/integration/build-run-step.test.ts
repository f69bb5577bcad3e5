/**
 * ContainerRunStep in-process, with real runc and overlay: a RUN on FROM scratch + a static busybox, the
 * layer it makes (the runtime's mount points left out), cancellation through the signal, and a runtime
 * failure on an empty root — each leaving no dir, mount or runc state behind.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ContainerRunStep } from '../../src/build/run-step';
import type { RunStepRequest, RunStepRunner } from '../../src/build/types';
import { silentLogger } from '../../src/util/logger';
import { startBuildFixture, type BuildFixture } from './build-fixture';

const BUSYBOX = '/usr/bin/busybox';
const skip = process.getuid?.() !== 0 ? 'needs root' : !fs.existsSync(BUSYBOX) ? 'no static busybox' : false;

describe('ContainerRunStep', { skip, timeout: 120_000 }, () => {
  let fx: BuildFixture;
  let runner: ContainerRunStep;
  let execRoot: string;

  before(async () => {
    const lazy: RunStepRunner = { run: (req) => runner.run(req) };
    fx = await startBuildFixture(lazy);
    execRoot = path.join(fx.dir, 'exec');
    runner = new ContainerRunStep({ dataRoot: fx.dataRoot, execRoot, layers: fx.layers, log: silentLogger, runtimePath: '/usr/sbin/runc' });
  });
  after(async () => { await fx?.close(); });

  function leftovers(): string[] {
    const found: string[] = [];
    for (const n of fs.readdirSync(path.join(fx.dataRoot, 'tmp'))) if (n.startsWith('build-run-')) found.push(n);
    for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const mp = line.split(' ')[4];
      if (mp && mp.startsWith(fx.dir + '/')) found.push(`mount ${mp}`);
    }
    const state = path.join(execRoot, 'build-runc');
    for (const n of fs.existsSync(state) ? fs.readdirSync(state) : []) found.push(`runc ${n}`);
    return found;
  }

  async function busyboxImage(): Promise<string> {
    const ctx = await fx.context({ Dockerfile: 'FROM scratch\nCOPY busybox /bin/busybox\n' });
    fs.copyFileSync(BUSYBOX, path.join(ctx, 'busybox'));
    fs.chmodSync(path.join(ctx, 'busybox'), 0o755);
    const out = await fx.build(ctx);
    assert.equal(out.error, undefined, out.text);
    return out.id!;
  }

  test('RUN on FROM scratch makes a layer with its changes and without the runtime mount points', async () => {
    const ctx = await fx.context({
      Dockerfile: 'FROM scratch\nCOPY busybox /bin/busybox\nENV WHO=env-var\nRUN ["/bin/busybox", "sh", "-c", "/bin/busybox mkdir /made && /bin/busybox echo $WHO > /made/x && /bin/busybox hostname"]\n',
    });
    fs.copyFileSync(BUSYBOX, path.join(ctx, 'busybox'));
    fs.chmodSync(path.join(ctx, 'busybox'), 0o755);
    const out = await fx.build(ctx);
    assert.equal(out.error, undefined, out.text);
    const short = / ---> Running in ([0-9a-f]{12})\n/.exec(out.text)?.[1];
    assert.ok(short && out.text.includes(`${short}\n ---> `), `hostname is the container ID:\n${out.text}`);
    const img = fx.images.get(out.id!)!;
    assert.equal(img.layers.length, 2);
    const top = fx.layers.lowerDirs(img.layers[1])[0];
    assert.deepEqual(fs.readdirSync(top).sort(), ['made']);
    assert.equal(fs.readFileSync(path.join(top, 'made', 'x'), 'utf8'), 'env-var\n');
    assert.deepEqual(leftovers(), []);
  });

  test('an aborted RUN is killed and cleaned up', async () => {
    const id = await busyboxImage();
    const img = fx.images.get(id)!;
    const abort = new AbortController();
    const started = Date.now();
    const req: RunStepRequest = {
      imageConfig: img.config, parentChainId: img.layers[img.layers.length - 1], cmd: ['/bin/busybox', 'sleep', '60'],
      env: [], user: '', workdir: '', shell: ['/bin/sh', '-c'], network: '', signal: abort.signal,
      onStarted: () => setTimeout(() => abort.abort(), 300),
      onOutput: () => undefined,
    };
    await assert.rejects(runner.run(req), /cancelled/);
    assert.ok(Date.now() - started < 20_000);
    assert.deepEqual(leftovers(), []);
  });

  test('a process the runtime cannot start is an error, and nothing is left', async () => {
    const req: RunStepRequest = {
      imageConfig: {} as RunStepRequest['imageConfig'], parentChainId: null, cmd: ['/no/such/program'],
      env: [], user: '', workdir: '/w', shell: ['/bin/sh', '-c'], network: 'none', onOutput: () => undefined,
    };
    await assert.rejects(runner.run(req), /no such file|not found|executable/i);
    assert.deepEqual(leftovers(), []);
  });
});
