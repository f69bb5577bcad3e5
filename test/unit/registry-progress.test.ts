import { test } from 'node:test';
import assert from 'node:assert/strict';
import { humanSize, layerProgress, layerStatus, progressBar, ProgressThrottle } from '../../src/engine/progress';

test('humanSize: base 1000, 4 significant digits, go-units spelling', () => {
  assert.equal(humanSize(0), '0B');
  assert.equal(humanSize(5), '5B');
  assert.equal(humanSize(999), '999B');
  assert.equal(humanSize(1000), '1kB');
  assert.equal(humanSize(539648), '539.6kB');
  assert.equal(humanSize(52584016), '52.58MB');
  assert.equal(humanSize(2_147_483_648), '2.147GB');
  assert.equal(humanSize(999_950), '1000kB');
  assert.equal(humanSize(1_500_000), '1.5MB');
});

test('progress bar: 50 columns, arrow, right-aligned current', () => {
  assert.equal(progressBar(539648, 52584016), '[>                                                  ]  539.6kB/52.58MB');
  assert.equal(progressBar(26292008, 52584016), `[${'='.repeat(25)}>${' '.repeat(25)}]  26.29MB/52.58MB`);
  assert.equal(progressBar(52584016, 52584016), `[${'='.repeat(50)}>]  52.58MB/52.58MB`);
  assert.equal(progressBar(1234, 1000), `[${'='.repeat(50)}>]  1.234kB`);
  assert.equal(progressBar(0, 0), '');
  assert.equal(progressBar(2048, 0), ' 2.048kB');
  assert.equal(progressBar(1, 300), `[>${' '.repeat(50)}]       1B/300B`);
});

test('message shapes match dockerd', () => {
  assert.deepEqual(layerStatus('0123456789ab', 'Pulling fs layer'), { status: 'Pulling fs layer', progressDetail: {}, id: '0123456789ab' });
  assert.deepEqual(layerProgress('0123456789ab', 'Downloading', 1000, 2000), {
    status: 'Downloading', progressDetail: { current: 1000, total: 2000 }, progress: `[${'='.repeat(25)}>${' '.repeat(25)}]      1kB/2kB`, id: '0123456789ab',
  });
});

test('throttle passes the first and final counts and limits the rest', () => {
  const t = new ProgressThrottle(10_000);
  assert.equal(t.shouldEmit(1, 100), true);
  assert.equal(t.shouldEmit(2, 100), false);
  assert.equal(t.shouldEmit(50, 100), false);
  assert.equal(t.shouldEmit(100, 100), true);
});
