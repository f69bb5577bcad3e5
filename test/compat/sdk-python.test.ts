/**
 * The Docker SDK for Python (Debian's python3-docker, installed by scripts/setup) against berthd: pull,
 * run with its output, exec_run (plain, demuxed, streamed), archives, pause, wait, volumes, networks, build.
 * The checks are in sdk/python-sdk-check.py; this test runs it and requires it to pass.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { run } from '../helpers/cli';
import { repoRoot } from '../../scripts/fixtures/paths';
import type { Berthd } from '../helpers/daemon';
import { startMirroredDaemon, type MirroredDaemon } from '../helpers/mirrored-daemon';

const PYTHON = '/usr/bin/python3';
const hasSdk = fs.existsSync(PYTHON) && fs.existsSync('/usr/lib/python3/dist-packages/docker/__init__.py');
const skip = process.getuid?.() !== 0 ? 'needs root' : !hasSdk ? 'no python3-docker (scripts/setup installs it)' : false;

describe('the Docker SDK for Python against berthd', { skip, timeout: 300_000 }, () => {
  let bed: MirroredDaemon;
  let daemon: Berthd;

  before(async () => {
    bed = await startMirroredDaemon();
    daemon = bed.daemon;
  });

  after(async () => {
    await bed?.stop();
  });

  test('an application\'s calls work as against dockerd', async () => {
    const script = path.join(repoRoot(), 'test', 'compat', 'sdk', 'python-sdk-check.py');
    const r = await run(PYTHON, [script], { env: { ...daemon.env, PYTHONDONTWRITEBYTECODE: '1' }, timeoutMs: 240_000 });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /\d+ checks passed/);
  });
});
