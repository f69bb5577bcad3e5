/**
 * berth run/create --pull and --platform: what the docker CLI does for the same flags
 * (test/compat/container-listing.test.ts has the docker CLI side of --platform).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { berthCli, ok, type BoundCli } from '../helpers/cli';
import type { Berthd } from '../helpers/daemon';
import { startMirroredDaemon, type MirroredDaemon } from '../helpers/mirrored-daemon';

const skip = process.getuid?.() !== 0 ? 'needs root' : false;

describe('berth run --pull and --platform', { skip, timeout: 300_000 }, () => {
  let bed: MirroredDaemon;
  let daemon: Berthd;
  let berth: BoundCli;

  before(async () => {
    bed = await startMirroredDaemon();
    daemon = bed.daemon;
    berth = berthCli(daemon);
  });

  after(async () => {
    await bed?.stop();
  });

  test('--pull never does not pull; missing pulls once; always pulls first; anything else is refused', async () => {
    const never = await berth(['run', '--rm', '--pull', 'never', 'busybox', 'true']);
    assert.equal(never.code, 125);
    assert.match(never.stderr, /No such image: busybox:latest/);
    assert.doesNotMatch(never.stderr, /Unable to find image/);

    const missing = await berth(['run', '--rm', 'busybox', 'echo', 'ran']);
    assert.equal(missing.code, 0, missing.stderr);
    assert.match(missing.stderr, /^Unable to find image 'busybox:latest' locally$/m);
    assert.equal(missing.stdout, 'ran\n');
    const again = await berth(['run', '--rm', 'busybox', 'true']);
    assert.equal(again.stderr, '', 'a local image is not pulled again');

    const always = await berth(['run', '--rm', '--pull', 'always', 'busybox', 'true']);
    assert.equal(always.code, 0, always.stderr);
    assert.match(always.stderr, /Status: Image is up to date for busybox:latest/);
    assert.doesNotMatch(always.stderr, /Unable to find image/);

    const bad = await berth(['run', '--rm', '--pull', 'sometimes', 'busybox', 'true']);
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /invalid pull option: 'sometimes': must be one of "always", "missing" or "never"/);
  });

  test('--platform of another architecture pulls that variant; an unknown one fails clearly', async () => {
    const arm = await berth(['run', '--rm', '--platform', 'linux/arm64', 'busybox', 'uname', '-m']);
    assert.match(arm.stderr, /Unable to find image 'busybox:latest' locally/);
    assert.match(arm.stderr, /exec format error/i); // crun capitalises it
    assert.equal(ok(await berth(['image', 'inspect', '-f', '{{.Architecture}}', 'busybox'])).trim(), 'arm64');
    const none = await berth(['create', '--platform', 'linux/s390x', 'busybox']);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /no matching manifest for linux\/s390x in the manifest list entries/);
    assert.equal(ok(await berth(['run', '--rm', '--platform', 'linux/amd64', 'busybox', 'uname', '-m'])), 'x86_64\n');
  });
});
