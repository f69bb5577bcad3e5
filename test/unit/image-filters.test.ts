import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  globToRegExp, matchLabels, matchNoLabels, matchReference, parseDangling, parseFilterTime,
} from '../../src/engine/image-filters';

test('reference filter: familiar string, then familiar name, glob like path.Match', () => {
  const bb = 'docker.io/library/busybox:latest';
  assert.ok(matchReference('busybox', bb));
  assert.ok(matchReference('busybox:latest', bb));
  assert.ok(matchReference('busy*', bb));
  assert.ok(matchReference('busybox:lat*', bb));
  assert.ok(matchReference('b?sybox', bb));
  assert.ok(!matchReference('busybox:1.36', bb));
  assert.ok(!matchReference('alpine', bb));
  // '*' does not cross '/'
  const team = '127.0.0.1:5000/team/app:1';
  assert.ok(matchReference('127.0.0.1:5000/team/*', team));
  assert.ok(!matchReference('*', team));
  assert.ok(matchReference('*', bb));
  assert.ok(matchReference('busybox@sha256:*', 'docker.io/library/busybox@sha256:' + 'a'.repeat(64)));
  assert.ok(globToRegExp('[a-c]x').test('bx'));
  assert.ok(!globToRegExp('[^a-c]x').test('bx'));
});

test('label filters: key, key=value, all must hold; label! none may', () => {
  const labels = { a: '1', b: '' };
  assert.ok(matchLabels(labels, ['a']));
  assert.ok(matchLabels(labels, ['a=1', 'b']));
  assert.ok(matchLabels(labels, ['b=']));
  assert.ok(!matchLabels(labels, ['a=2']));
  assert.ok(!matchLabels(null, ['a']));
  assert.ok(matchLabels(null, []));
  assert.ok(matchNoLabels(labels, ['c', 'a=2']));
  assert.ok(!matchNoLabels(labels, ['a']));
});

test('time filters: unix seconds, durations back from now, RFC 3339', () => {
  const now = Date.UTC(2024, 0, 2, 0, 0, 0);
  assert.equal(parseFilterTime('1700000000', now), 1700000000);
  assert.equal(parseFilterTime('1700000000.5', now), 1700000000.5);
  assert.equal(parseFilterTime('24h', now), now / 1000 - 86400);
  assert.equal(parseFilterTime('2024-01-01', now), Date.UTC(2024, 0, 1) / 1000);
  assert.equal(parseFilterTime('2024-01-01T10:00:00Z', now), Date.UTC(2024, 0, 1, 10) / 1000);
  assert.equal(parseFilterTime('2024-01-01T10:00:00', now), Date.UTC(2024, 0, 1, 10) / 1000);
  assert.throws(() => parseFilterTime('yesterday', now), /failed to parse/);
});

test('dangling filter values', () => {
  assert.equal(parseDangling(undefined), undefined);
  assert.equal(parseDangling(['true']), true);
  assert.equal(parseDangling(['false']), false);
  assert.equal(parseDangling(['1']), true);
  assert.throws(() => parseDangling(['maybe']), /Invalid filter 'dangling=maybe'/);
});
