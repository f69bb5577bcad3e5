import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Router } from '../../src/api/router';
import { splitVersion, compareVersions } from '../../src/api/version';
import { parseFilters } from '../../src/api/http-util';
import { matchEvent, parseEventTime } from '../../src/engine/event-filter';
import type { EngineEvent } from '../../src/engine/events';
import { parseDaemonArgs, resolveConfig } from '../../src/daemon/config';

test('version prefixes: capped at ours, too old flagged, unversioned is ours', () => {
  assert.deepEqual(splitVersion('/v1.45/images/json'), { version: '1.45', path: '/images/json' });
  assert.equal(splitVersion('/v1.99/info').version, '1.47');
  assert.equal(splitVersion('/v1.12/info').tooOld, '1.12');
  assert.deepEqual(splitVersion('/_ping'), { version: '1.47', path: '/_ping' });
  assert.equal(compareVersions('1.9', '1.10'), -1);
});

test('router: greedy params take slashes, method mismatch is reported', () => {
  const r = new Router();
  const h = () => {};
  r.get('/images/json', h).get('/images/{name*}/json', h).delete('/images/{name*}', h);
  const m = r.match('GET', '/images/127.0.0.1:5000/team/app:1/json');
  assert.ok(m && m !== 'method');
  assert.equal(m.params.name, '127.0.0.1:5000/team/app:1');
  assert.equal(r.match('PUT', '/images/json'), 'method');
  assert.equal(r.match('GET', '/nope'), undefined);
  const list = r.match('GET', '/images/json');
  assert.ok(list && list !== 'method');
  assert.deepEqual(list.params, {});
});

test('filters: both JSON forms; unknown keys and bad JSON refused', () => {
  const q = new URLSearchParams({ filters: JSON.stringify({ dangling: ['true'], label: { a: true } }) });
  const f = parseFilters(q, ['dangling', 'label']);
  assert.deepEqual(f.get('dangling'), ['true']);
  assert.deepEqual(f.get('label'), ['a']);
  assert.throws(() => parseFilters(q, ['dangling']), /invalid filter 'label'/);
  assert.throws(() => parseFilters(new URLSearchParams({ filters: '{oops' }), ['x']), /invalid filter/);
});

const ev = (over: Partial<EngineEvent>): EngineEvent => ({
  Type: 'image', Action: 'pull', Actor: { ID: 'busybox:latest', Attributes: { name: 'busybox' } }, scope: 'local', time: 1, timeNano: 1e9, ...over,
});

test('event filters: keys AND-ed, values OR-ed', () => {
  const f = new Map([['type', ['image']], ['event', ['pull', 'tag']]]);
  assert.equal(matchEvent(ev({}), f), true);
  assert.equal(matchEvent(ev({ Action: 'delete' }), f), false);
  assert.equal(matchEvent(ev({}), new Map([['image', ['busybox']]])), true);
  assert.equal(matchEvent(ev({}), new Map([['container', ['x']]])), false);
  assert.equal(matchEvent(ev({}), new Map([['label', ['name=busybox']]])), true);
  assert.equal(parseEventTime('1700000000.5'), 1700000000500000000);
  assert.equal(parseEventTime('junk'), undefined);
});

test('daemon flags: lists repeat, unknown flags and bad values refused', async () => {
  const p = parseDaemonArgs(['-H', 'unix:///tmp/a.sock', '--insecure-registry=127.0.0.1:5000', '--insecure-registry', 'r:1', '--data-root', '/tmp/d']);
  assert.equal(p.action, 'run');
  if (p.action !== 'run') return;
  const c = await resolveConfig({ ...p.values, 'config-file': undefined });
  assert.deepEqual(c.hosts, ['unix:///tmp/a.sock']);
  assert.deepEqual(c.insecureRegistries, ['127.0.0.1:5000', 'r:1']);
  assert.equal(c.dataRoot, '/tmp/d');
  assert.throws(() => parseDaemonArgs(['--bogus']), /unknown flag/);
  await assert.rejects(resolveConfig({ 'log-level': 'loud' }), /logging level/);
  await assert.rejects(resolveConfig({ 'registry-mirrors': ['ftp://x'] }), /invalid mirror/);
  await assert.rejects(resolveConfig({ 'config-file': '/nonexistent/daemon.json' }), /unable to read config file/);
});
