/**
 * resolveUser against a rootfs's /etc/passwd and /etc/group, compared with what dockerd 20.10 gives
 * (`docker run -u … busybox id`): the primary group is always among the supplementary groups.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveUser } from '../../src/runtime/user';

function rootfs(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-user-'));
  fs.mkdirSync(path.join(dir, 'etc'));
  fs.writeFileSync(path.join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\napp:x:1000:1000::/home/app:/bin/sh\n');
  fs.writeFileSync(path.join(dir, 'etc/group'), 'root:x:0:\nwheel:x:10:app,other\nnogroup:x:65534:\napp:x:1000:\naudio:x:29:app\n');
  return dir;
}

test('the primary group is a supplementary group too, then the groups naming the user', async () => {
  const dir = rootfs();
  try {
    assert.deepEqual(await resolveUser(dir, undefined), { uid: 0, gid: 0, additionalGids: [0] });
    assert.deepEqual(await resolveUser(dir, '1234:55'), { uid: 1234, gid: 55, additionalGids: [55] });
    assert.deepEqual(await resolveUser(dir, 'nobody'), { uid: 65534, gid: 65534, additionalGids: [65534] });
    assert.deepEqual(await resolveUser(dir, 'app'), { uid: 1000, gid: 1000, additionalGids: [1000, 10, 29] });
    assert.deepEqual(await resolveUser(dir, 'app:wheel'), { uid: 1000, gid: 10, additionalGids: [10, 29] });
    assert.deepEqual(await resolveUser(dir, '1000'), { uid: 1000, gid: 1000, additionalGids: [1000, 10, 29] });
    await assert.rejects(resolveUser(dir, 'ghost'), /unable to find user ghost/);
    await assert.rejects(resolveUser(dir, 'app:ghosts'), /unable to find group ghosts/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
