import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logRotation, normalizeLogConfig, parseLogSize } from '../../src/runtime/log-rotation';
import { loggerArgs } from '../../src/runtime/logger';

test('max-size in dockerd units (binary)', () => {
  assert.equal(parseLogSize('100'), 100);
  assert.equal(parseLogSize('100k'), 102_400);
  assert.equal(parseLogSize('10m'), 10 * 1024 * 1024);
  assert.equal(parseLogSize('1g'), 1024 ** 3);
  assert.equal(parseLogSize('1.5KB'), 1536);
  assert.throws(() => parseLogSize('ten'), /failed to initialize logging driver: invalid size: 'ten'/);
});

test('LogConfig keeps max-size/max-file, refuses bad values, drops other options', () => {
  // reported as json-file (what clients expect of the default driver); local is kept as asked
  assert.deepEqual(normalizeLogConfig(undefined), { Type: 'json-file', Config: {} });
  assert.deepEqual(normalizeLogConfig({ Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '3', mode: 'non-blocking' } }),
    { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '3' } });
  assert.deepEqual(normalizeLogConfig({ Type: 'local', Config: {} }), { Type: 'local', Config: {} });
  assert.throws(() => normalizeLogConfig({ Type: 'syslog', Config: {} }), /error looking up logging plugin syslog: plugin "syslog" not found/);
  assert.throws(() => normalizeLogConfig({ Config: { 'max-file': '0' } }), /max-file cannot be less than 1/);
  assert.throws(() => normalizeLogConfig({ Config: { 'max-file': '2' } }), /only be set if max-size/);
  assert.deepEqual(normalizeLogConfig({ Config: { 'max-size': '-1' } }), { Type: 'json-file', Config: {} });
  assert.deepEqual(logRotation({ Config: { 'max-size': '1k', 'max-file': '4' } }), { logMaxSize: 1024, logMaxFiles: 4 });
  assert.deepEqual(logRotation({ Config: {} }), { logMaxSize: 0, logMaxFiles: 1 });
});

test('berth-logger argv', () => {
  const base = { loggerPath: '/x', logPath: '/l', socketPath: '/s', pidFile: '/p', maxSize: 0, maxFiles: 1, logOffset: 0 };
  assert.deepEqual(loggerArgs({ ...base, openStdin: false, stdinOnce: true }), ['-l', '/l', '-s', '/s', '-p', '/p']);
  assert.deepEqual(loggerArgs({ ...base, openStdin: true, stdinOnce: true, maxSize: 100, maxFiles: 3 }),
    ['-l', '/l', '-s', '/s', '-p', '/p', '-i', '-o', '-m', '100', '-n', '3']);
});
