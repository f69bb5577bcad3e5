import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextDelay, shouldRestart } from '../../src/engine/restart-policy';
import { parsePs } from '../../src/engine/container-top';
import { parseUntil, pruneMatches } from '../../src/engine/container-prune';
import { probeArgs, healthSuffix } from '../../src/engine/health';
import { runcUpdateArgs } from '../../src/engine/container-ops';
import { statsRow, parseRestartPolicy, durationNs } from '../../src/cli/commands/container-ops';
import type { ContainerRecord } from '../../src/engine/containers-store';

test('restart decisions follow dockerd: policies, manual stops, retry counts', () => {
  const p = (Name: string, MaximumRetryCount = 0) => ({ Name, MaximumRetryCount });
  assert.equal(shouldRestart(p('no'), 1, false, 0), false);
  assert.equal(shouldRestart(p('always'), 0, false, 5), true);
  assert.equal(shouldRestart(p('always'), 0, true, 0), false);
  assert.equal(shouldRestart(p('unless-stopped'), 0, false, 0), true);
  assert.equal(shouldRestart(p('on-failure'), 0, false, 0), false);
  assert.equal(shouldRestart(p('on-failure', 2), 1, false, 1), true);
  assert.equal(shouldRestart(p('on-failure', 2), 1, false, 2), false);
  assert.equal(shouldRestart(p('on-failure'), 1, false, 100), true);
});

test('restart backoff doubles from 100 ms, caps at a minute and resets after 10 s up', () => {
  assert.equal(nextDelay(0, 0), 100);
  assert.equal(nextDelay(100, 50), 200);
  assert.equal(nextDelay(400, 500), 800);
  assert.equal(nextDelay(40_000, 10), 60_000);
  assert.equal(nextDelay(3200, 10_000), 100);
});

test('top keeps the container pids and the whole command column', () => {
  const out = 'UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 10:00 ? 00:00:01 /sbin/init\nroot 42 7 0 10:01 ? 00:00:00 sleep 1000 --x\n';
  assert.deepEqual(parsePs(out, [42]), {
    Titles: ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD'],
    Processes: [['root', '42', '7', '0', '10:01', '?', '00:00:00', 'sleep 1000 --x']],
  });
  assert.throws(() => parsePs('USER COMMAND\n', []), /Couldn't find PID field/);
});

test('prune until and label filters', () => {
  const c = { created: '2026-01-01T00:00:00Z', config: { Labels: { a: '1' } } } as unknown as ContainerRecord;
  const now = Date.parse('2026-01-01T01:00:00Z');
  assert.equal(parseUntil('30m', now), now - 30 * 60_000);
  assert.equal(pruneMatches(c, new Map([['until', ['30m']]]), now), true);
  assert.equal(pruneMatches(c, new Map([['until', ['2h']]]), now), false);
  assert.equal(pruneMatches(c, new Map([['label', ['a=1']]]), now), true);
  assert.equal(pruneMatches(c, new Map([['label!', ['a']]]), now), false);
});

test('health probe argv and status suffix', () => {
  assert.deepEqual(probeArgs({ Test: ['CMD-SHELL', 'curl -f x'] }), ['/bin/sh', '-c', 'curl -f x']);
  assert.deepEqual(probeArgs({ Test: ['CMD', 'true'] }), ['true']);
  assert.equal(probeArgs({ Test: ['NONE'] }), undefined);
  assert.equal(healthSuffix({ Status: 'starting', FailingStreak: 0, Log: [] }), ' (health: starting)');
  assert.equal(healthSuffix({ Status: 'healthy', FailingStreak: 0, Log: [] }), ' (healthy)');
});

test('update flags for runc, and CLI parsing of --restart and durations', () => {
  assert.deepEqual(runcUpdateArgs({ NanoCpus: 500_000_000, PidsLimit: 50 }), ['--cpu-period', '100000', '--cpu-quota', '50000', '--pids-limit', '50']);
  assert.deepEqual(parseRestartPolicy('on-failure:3'), { Name: 'on-failure', MaximumRetryCount: 3 });
  assert.throws(() => parseRestartPolicy('always:3'));
  assert.equal(durationNs('1m30s', 'x'), 90e9);
  assert.equal(durationNs('500ms', 'x'), 5e8);
});

test('stats row: CPU % from deltas, memory without inactive file cache', () => {
  const row = statsRow({
    read: '', name: '/web', id: 'a'.repeat(64),
    cpu_stats: { cpu_usage: { total_usage: 2e9 }, system_cpu_usage: 20e9, online_cpus: 2 },
    precpu_stats: { cpu_usage: { total_usage: 1e9 }, system_cpu_usage: 10e9 },
    memory_stats: { usage: 10 * 1024 * 1024, limit: 100 * 1024 * 1024, stats: { total_inactive_file: 5 * 1024 * 1024 } },
    blkio_stats: { io_service_bytes_recursive: [{ op: 'Read', value: 1000 }, { op: 'Write', value: 2000 }] },
    pids_stats: { current: 3 },
  });
  assert.equal(row.CPUPerc, '20.00%');
  assert.equal(row.MemUsage, '5MiB / 100MiB');
  assert.equal(row.MemPerc, '5.00%');
  assert.equal(row.BlockIO, '1kB / 2kB');
  assert.equal(row.PIDs, '3');
  assert.equal(row.Name, 'web');
});
