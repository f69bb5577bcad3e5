/**
 * berth's own CLI for what ps and system df show about containers: the SIZE column and its `virtual`
 * part, Mounts / Networks / LocalVolumes, and the Containers row of system df — the same text the docker
 * CLI prints for the same daemon (test/compat/container-listing.test.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { berthCli, dockerCli, DOCKER_CLI, ok, type BoundCli } from '../helpers/cli';
import type { Berthd } from '../helpers/daemon';
import { startMirroredDaemon, type MirroredDaemon } from '../helpers/mirrored-daemon';

const skip = process.getuid?.() !== 0 ? 'needs root' : false;

describe('berth ps -s, ps columns and system df', { skip, timeout: 300_000 }, () => {
  let bed: MirroredDaemon;
  let daemon: Berthd;
  let berth: BoundCli;

  before(async () => {
    bed = await startMirroredDaemon();
    daemon = bed.daemon;
    berth = berthCli(daemon);
    ok(await berth(['pull', 'busybox']), 'berth pull busybox');
  });

  after(async () => {
    await berth(['rm', '-f', '-v', 'cl-sized']).catch(() => undefined);
    await berth(['volume', 'rm', 'cl-volume']).catch(() => undefined);
    await bed?.stop();
  });

  test('sizes and columns', async () => {
    ok(await berth(['run', '-d', '--name', 'cl-sized', '--network', 'none', '-v', 'cl-volume:/data', '-v', '/anon',
      'busybox', 'sh', '-c', 'head -c 5000 /dev/zero > /f; touch /ready; sleep 300']));
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && (await berth(['exec', 'cl-sized', 'test', '-e', '/ready'])).code !== 0) await new Promise((r) => setTimeout(r, 100));
    const imageSize = Number(ok(await berth(['image', 'inspect', '-f', '{{.Size}}', 'busybox'])).trim());
    assert.equal(ok(await berth(['inspect', '-s', '-f', '{{.SizeRw}} {{.SizeRootFs}}', 'cl-sized'])).trim(), `5000 ${imageSize + 5000}`);

    const table = ok(await berth(['ps', '-s'])).split('\n');
    assert.match(table[0], /\s+NAMES\s+SIZE$/);
    assert.match(table[1], /cl-sized\s+5kB \(virtual \d\.\d\dMB\)$/);
    const anon = ok(await berth(['inspect', '-f', '{{range .Mounts}}{{if eq .Destination "/anon"}}{{.Name}}{{end}}{{end}}', 'cl-sized'])).trim();
    assert.equal(ok(await berth(['ps', '--format', '{{.Mounts}}|{{.Networks}}|{{.LocalVolumes}}'])).trim(), `${anon.slice(0, 14)}…,cl-volume|none|2`);
    const df = ok(await berth(['system', 'df'])).split('\n').find((l) => l.startsWith('Containers'));
    assert.match(df ?? '', /^Containers\s+1\s+1\s+5kB\s+0B \(0%\)$/);

    // the same daemon through the docker CLI prints the same rows
    if (fs.existsSync(DOCKER_CLI)) {
      const docker = dockerCli(daemon);
      // the two listings are taken apart in time: ages and uptimes may differ by a second
      const timeless = (row: string) => row.replace(/\s+/g, ' ').replace(/\d+ seconds?|Less than a second|About a minute/g, 'T');
      assert.equal(timeless(ok(await docker(['ps', '-s'])).split('\n')[1]), timeless(table[1]));
    }
  });
});
