import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { AttachOutput } from '../../src/api/attach-output';
import { shQuote, ToolLauncher } from '../../src/runtime/tool-launcher';

async function withLauncher(fn: (l: ToolLauncher, dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-launcher-'));
  const l = new ToolLauncher(path.join(dir, 'out'));
  try {
    await fn(l, dir);
  } finally {
    l.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

test('the launcher runs programs: exit code, stdout and stderr apart, no output files left', async () => {
  await withLauncher(async (l, dir) => {
    const r = await l.run('sh', ['-c', 'echo out; echo err >&2; exit 3']);
    assert.deepEqual(r, { code: 3, stdout: 'out\n', stderr: 'err\n' });
    await new Promise((res) => setTimeout(res, 50));
    assert.deepEqual(await readdir(path.join(dir, 'out')), []);
  });
});

test('arguments reach the program verbatim; cwd and env apply; a missing program is 127', async () => {
  await withLauncher(async (l, dir) => {
    const odd = ["it's", 'a "b" $HOME `x` \\', 'two\nlines', '', '*'];
    const r = await l.run('printf', ['%s|', ...odd]);
    assert.equal(r.stdout, odd.map((a) => `${a}|`).join(''));
    assert.equal((await l.run('pwd', [], { cwd: dir })).stdout.trim(), dir);
    assert.equal((await l.run('sh', ['-c', 'echo "$X"'], { env: { X: "a'b c" } })).stdout, "a'b c\n");
    assert.equal((await l.run('/nonexistent/tool', [])).code, 127);
    assert.equal((await l.run('true', [], { cwd: path.join(dir, 'missing') })).code, 126);
    await assert.rejects(l.run('echo', ['a\0b']), /null bytes/);
  });
});

test('runs overlap, a timeout kills the program, fd 3 can be redirected', async () => {
  await withLauncher(async (l, dir) => {
    const t0 = Date.now();
    const rs = await Promise.all(Array.from({ length: 8 }, (_, i) => l.run('sh', ['-c', `sleep 0.3; echo ${i}`])));
    assert.deepEqual(rs.map((r) => r.stdout.trim()), ['0', '1', '2', '3', '4', '5', '6', '7']);
    assert.ok(Date.now() - t0 < 2000, 'the runs were serialized');
    const killed = await l.run('sleep', ['10'], { timeoutMs: 200 });
    assert.equal(killed.code, 128);
    const file = path.join(dir, 'fd3');
    await l.run('sh', ['-c', 'echo via3 >&3'], { fd3: file });
    assert.equal((await l.run('cat', [file])).stdout, 'via3\n');
  });
});

test('shQuote survives single quotes', () => {
  assert.equal(shQuote("a'b"), `'a'\\''b'`);
});

test('attach output: one frame per run of a stream within a turn, 32 KiB at most per frame', async () => {
  const sent: Buffer[] = [];
  const out = new AttachOutput(true, (bufs) => sent.push(Buffer.concat(bufs)));
  out.push('stdout', Buffer.from('ab'));
  out.push('stdout', Buffer.from('c'));
  out.push('stderr', Buffer.from('E'));
  out.push('stdout', Buffer.from('d'));
  await new Promise((r) => setImmediate(r));
  assert.equal(sent.length, 1);
  const frames: [number, string][] = [];
  for (let off = 0; off < sent[0].length;) {
    const len = sent[0].readUInt32BE(off + 4);
    frames.push([sent[0][off], sent[0].subarray(off + 8, off + 8 + len).toString()]);
    off += 8 + len;
  }
  assert.deepEqual(frames, [[1, 'abc'], [2, 'E'], [1, 'd']]);

  sent.length = 0;
  for (let i = 0; i < 10; i++) out.push('stdout', Buffer.alloc(8192, 120));
  out.flush();
  const first = sent[0].readUInt32BE(4);
  assert.ok(first >= 32 * 1024 && first <= 40 * 1024, `first frame ${first} bytes`);

  const raw: Buffer[] = [];
  const tty = new AttachOutput(false, (bufs) => raw.push(...bufs));
  tty.push('stdout', Buffer.from('x'));
  tty.flush();
  assert.deepEqual(raw.map(String), ['x']);
});
