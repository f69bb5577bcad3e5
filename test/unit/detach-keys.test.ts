import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DetachKeyScanner, parseDetachKeys } from '../../src/util/detach-keys';
import { execEnv } from '../../src/engine/exec-config';

test('detach keys parse as docker spells them', () => {
  assert.deepEqual([...parseDetachKeys('ctrl-p,ctrl-q')], [16, 17]);
  assert.deepEqual([...parseDetachKeys('ctrl-a,x,ctrl-[')], [1, 120, 27]);
  assert.throws(() => parseDetachKeys('ctrl-pp'), /Unknown character: 'ctrl-pp'/);
  assert.throws(() => parseDetachKeys('ab'), /Unknown character/);
});

test('the scanner holds a partial sequence and releases it when it does not complete', () => {
  const s = new DetachKeyScanner(parseDetachKeys('ctrl-p,ctrl-q'));
  assert.deepEqual(s.push(Buffer.from('ab\x10')), { forward: Buffer.from('ab'), detach: false });
  assert.deepEqual(s.push(Buffer.from('c')), { forward: Buffer.from('\x10c'), detach: false });
  assert.deepEqual(s.push(Buffer.from('\x10\x10')), { forward: Buffer.from('\x10'), detach: false });
  assert.deepEqual(s.push(Buffer.from('\x11zz')), { forward: Buffer.alloc(0), detach: true });
});

test('exec env replaces same-named container values and adds TERM with a TTY', () => {
  assert.deepEqual(execEnv(['PATH=/bin', 'A=1'], ['A=2', 'B=3'], true), ['PATH=/bin', 'A=2', 'TERM=xterm', 'B=3']);
  assert.deepEqual(execEnv(['PATH=/bin'], [], false), ['PATH=/bin']);
});
