import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CRUN_PATH, hybridWithV2Controllers, RUNC_PATH, runtimeBinary } from '../../src/runtime/runtime-binary';
import { inRuncWords } from '../../src/runtime/runc-exec';

test('a hybrid host is one whose cgroup2 mount holds a controller', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cg-'));
  try {
    assert.equal(hybridWithV2Controllers(root), false, 'no unified mount');
    fs.mkdirSync(path.join(root, 'unified'));
    fs.writeFileSync(path.join(root, 'unified', 'cgroup.controllers'), '\n');
    assert.equal(hybridWithV2Controllers(root), false, 'an empty cgroup2 is fine for crun');
    fs.writeFileSync(path.join(root, 'unified', 'cgroup.controllers'), 'hugetlb\n');
    assert.equal(hybridWithV2Controllers(root), true);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('runc is itself; crun goes through the shim only on a hybrid host that has it', () => {
  assert.equal(runtimeBinary('runc'), RUNC_PATH);
  const crun = runtimeBinary('crun', { BERTH_CRUN_SHIM: '/nonexistent/berth-crun' });
  assert.equal(crun, CRUN_PATH, 'a missing shim falls back to crun itself');
  if (hybridWithV2Controllers()) assert.equal(runtimeBinary('crun', { BERTH_CRUN_SHIM: '/bin/true' }), '/bin/true');
  else assert.equal(runtimeBinary('crun', { BERTH_CRUN_SHIM: '/bin/true' }), CRUN_PATH);
});

test("crun's exec failures read as runc's (what dockerd passes on); other messages stay crun's", () => {
  assert.equal(inRuncWords('executable file `nope` not found in $PATH: No such file or directory'),
    'exec failed: unable to start container process: exec: "nope": executable file not found in $PATH');
  assert.equal(inRuncWords('chdir `/missing`: No such file or directory'),
    'exec failed: unable to start container process: chdir to cwd ("/missing") set in config.json failed: no such file or directory');
  assert.equal(inRuncWords('the container `x` is not running'), 'the container `x` is not running');
});
