import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CRUN_PATH, hybridWithV2Controllers, RUNC_PATH, runtimeBinary } from '../../src/runtime/runtime-binary';

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
