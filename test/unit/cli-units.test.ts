import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytesSize, ellipsis, formatG, humanDuration, humanSize, humanSizeWithPrecision, rfc3339NanoFixed, timeAgo, truncateId } from '../../src/cli/units';
import { formatEventLine, toApiTimestamp } from '../../src/cli/commands/system-events';

test('sizes as go-units prints them', () => {
  assert.equal(humanSizeWithPrecision(4261550, 3), '4.26MB');
  assert.equal(humanSizeWithPrecision(1240, 3), '1.24kB');
  assert.equal(humanSizeWithPrecision(0, 3), '0B');
  assert.equal(humanSizeWithPrecision(999, 3), '999B');
  assert.equal(humanSizeWithPrecision(1000, 3), '1kB');
  assert.equal(humanSizeWithPrecision(999900, 3), '1e+03kB');
  assert.equal(humanSize(4261550), '4.262MB');
  assert.equal(humanSize(1240), '1.24kB');
  assert.equal(bytesSize(16663351296), '15.52GiB');
  assert.equal(formatG(0.000012345, 3), '1.23e-05');
});

test('durations as go-units prints them', () => {
  assert.equal(humanDuration(500), 'Less than a second');
  assert.equal(humanDuration(1000), '1 second');
  assert.equal(humanDuration(45_000), '45 seconds');
  assert.equal(humanDuration(60_000), 'About a minute');
  assert.equal(humanDuration(5 * 60_000), '5 minutes');
  assert.equal(humanDuration(60 * 60_000), 'About an hour');
  assert.equal(humanDuration(2 * 3600_000), '2 hours');
  assert.equal(humanDuration(3 * 86400_000), '3 days');
  assert.equal(humanDuration(20 * 86400_000), '2 weeks');
  assert.equal(humanDuration(90 * 86400_000), '3 months');
  assert.equal(humanDuration(800 * 86400_000), '2 years');
  assert.equal(timeAgo(1000, 1000_000 + 7200_000), '2 hours ago');
});

test('ids and ellipsis', () => {
  assert.equal(truncateId('sha256:' + 'ab'.repeat(32)), 'abababababab');
  assert.equal(truncateId('<missing>'), '<missing>');
  assert.equal(ellipsis('abcdefgh', 5), 'abcd…');
  assert.equal(ellipsis('abc', 5), 'abc');
});

test('event lines and timestamps', () => {
  const prevTz = process.env.TZ;
  process.env.TZ = 'UTC';
  try {
    assert.equal(rfc3339NanoFixed(1795918633000000123n), '2026-11-29T02:17:13.000000123Z');
    const line = formatEventLine({ Type: 'image', Action: 'pull', Actor: { ID: 'busybox:latest', Attributes: { name: 'busybox', a: '1' } } }, '1795918633000000123');
    assert.equal(line, '2026-11-29T02:17:13.000000123Z image pull busybox:latest (a=1, name=busybox)\n');
  } finally {
    if (prevTz === undefined) delete process.env.TZ;
    else process.env.TZ = prevTz;
  }
  assert.equal(toApiTimestamp('1700000000'), '1700000000');
  assert.equal(toApiTimestamp('10m', 1_000_000_000), String(1_000_000 - 600));
  assert.equal(toApiTimestamp('2026-01-01T00:00:00Z'), '1767225600');
});
