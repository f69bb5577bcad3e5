import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { computeChainIds } from '../../src/image/chain-id';

const d = (c: string) => `sha256:${c.repeat(64)}`;

test('chain IDs: first is the diff ID, then sha256 of "<prev> <diff>"', () => {
  const diffs = [d('a'), d('b'), d('c')];
  const chain = computeChainIds(diffs);
  assert.equal(chain.length, 3);
  assert.equal(chain[0], diffs[0]);
  const c1 = 'sha256:' + createHash('sha256').update(`${diffs[0]} ${diffs[1]}`).digest('hex');
  assert.equal(chain[1], c1);
  assert.equal(chain[2], 'sha256:' + createHash('sha256').update(`${c1} ${diffs[2]}`).digest('hex'));
  assert.deepEqual(computeChainIds([]), []);
});

test('chain IDs depend on order', () => {
  assert.notEqual(computeChainIds([d('a'), d('b')])[1], computeChainIds([d('b'), d('a')])[1]);
});

test('a known chain ID, computed outside node with sha256sum', () => {
  const chain = computeChainIds([d('a'), d('b')]);
  assert.equal(chain[1], 'sha256:ccd722928bd92476ba1745586fed6e45a102504185ad88cd89e01ff116fd146c');
});
