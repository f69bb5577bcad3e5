import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JsonStreamError, ProgressRenderer, renderProgress } from '../../src/cli/progress';
import type { JsonMessage } from '../../src/client/types';

const D = 'd'.repeat(64);
const PULL: JsonMessage[] = [
  { status: 'Pulling from library/busybox', id: 'latest' },
  { status: 'Pulling fs layer', progressDetail: {}, id: 'aaaaaaaaaaaa' },
  { status: 'Pulling fs layer', progressDetail: {}, id: 'bbbbbbbbbbbb' },
  { status: 'Downloading', progressDetail: { current: 1000, total: 5000 }, progress: '[==>   ] 1kB/5kB', id: 'aaaaaaaaaaaa' },
  { status: 'Verifying Checksum', progressDetail: {}, id: 'aaaaaaaaaaaa' },
  { status: 'Download complete', progressDetail: {}, id: 'aaaaaaaaaaaa' },
  { status: 'Extracting', progressDetail: { current: 5000, total: 5000 }, id: 'aaaaaaaaaaaa' },
  { status: 'Pull complete', progressDetail: {}, id: 'aaaaaaaaaaaa' },
  { status: 'Already exists', progressDetail: {}, id: 'bbbbbbbbbbbb' },
  { status: `Digest: sha256:${D}` },
  { status: 'Status: Downloaded newer image for busybox:latest' },
];

function render(messages: JsonMessage[], isTerminal: boolean, width?: number): string {
  let out = '';
  const r = new ProgressRenderer((s) => (out += s), { isTerminal, width });
  for (const m of messages) r.handle(m);
  return out;
}

test('without a terminal: plain lines, byte-count messages skipped (as docker prints them)', () => {
  assert.equal(render(PULL, false),
    'latest: Pulling from library/busybox\n' +
    'aaaaaaaaaaaa: Pulling fs layer\n' +
    'bbbbbbbbbbbb: Pulling fs layer\n' +
    'aaaaaaaaaaaa: Verifying Checksum\n' +
    'aaaaaaaaaaaa: Download complete\n' +
    'aaaaaaaaaaaa: Pull complete\n' +
    'bbbbbbbbbbbb: Already exists\n' +
    `Digest: sha256:${D}\n` +
    'Status: Downloaded newer image for busybox:latest\n');
});

test('on a terminal: per-layer lines redrawn with cursor movement (byte-identical to docker v28 at width 0)', () => {
  const out = render(PULL, true, 0);
  const expected =
    'latest: Pulling from library/busybox\n' +
    '\n\x1b[1A\x1b[2K\raaaaaaaaaaaa: Pulling fs layer \r\x1b[1B' +
    '\n\x1b[1A\x1b[2K\rbbbbbbbbbbbb: Pulling fs layer \r\x1b[1B' +
    '\x1b[2A\x1b[2K\raaaaaaaaaaaa: Downloading      1kB/5kB\r\x1b[2B' +
    '\x1b[2A\x1b[2K\raaaaaaaaaaaa: Verifying Checksum \r\x1b[2B' +
    '\x1b[2A\x1b[2K\raaaaaaaaaaaa: Download complete \r\x1b[2B' +
    '\x1b[2A\x1b[2K\raaaaaaaaaaaa: Extracting      5kB/5kB\r\x1b[2B' +
    '\x1b[2A\x1b[2K\raaaaaaaaaaaa: Pull complete \r\x1b[2B' +
    '\x1b[1A\x1b[2K\rbbbbbbbbbbbb: Already exists \r\x1b[1B' +
    `Digest: sha256:${D}\n` +
    'Status: Downloaded newer image for busybox:latest\n';
  assert.equal(out, expected);
  assert.match(render(PULL, true, 200), /Downloading \[==========>\s{40}\]      1kB\/5kB/);
});

test('progress bar text', () => {
  assert.equal(renderProgress({ current: 1_200_000, total: 5_000_000 }, 120), '[============>                                      ]    1.2MB/5MB');
  assert.equal(renderProgress({ current: 1_200_000, total: 5_000_000 }, 80), '   1.2MB/5MB');
  assert.equal(renderProgress({ current: 7000 }, 80), '     7kB');
  assert.equal(renderProgress({}, 80), '');
  assert.equal(renderProgress({ current: 10, total: 100, start: 1000 }, 80, 1010_000), '     10B/100B 1m30s');
});

test('in-band errors stop the stream', () => {
  assert.throws(() => render([{ status: 'Pulling' }, { error: 'boom', errorDetail: { message: 'manifest unknown' } }], false),
    (e: Error) => e instanceof JsonStreamError && e.message === 'manifest unknown');
});
