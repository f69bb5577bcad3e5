import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { applyIgnore, ignoreMatcher, readIgnorePatterns } from '../../src/build/context';

test('.dockerignore patterns: comments, directories, globs, exceptions', () => {
  const patterns = readIgnorePatterns('# comment\n\nnode_modules\n*.log\n**/*.tmp\nsecret/\ndocs\n!docs/keep.md\n  spaced  \n');
  assert.deepEqual(patterns, ['node_modules', '*.log', '**/*.tmp', 'secret/', 'docs', '!docs/keep.md', 'spaced']);
  const m = ignoreMatcher(patterns);
  assert.ok(m.ignores('node_modules'));
  assert.ok(m.ignores('node_modules/x/index.js'));
  assert.ok(m.ignores('a.log'));
  assert.ok(!m.ignores('sub/a.log'), '*.log only matches at the root');
  assert.ok(m.ignores('sub/deep/b.tmp'));
  assert.ok(m.ignores('secret/key'));
  assert.ok(m.ignores('docs/other.md'));
  assert.ok(!m.ignores('docs/keep.md'));
  assert.ok(!m.ignores('src/main.ts'));
  assert.ok(m.hasExceptions);
});

test('applyIgnore removes ignored files and keeps exceptions inside ignored dirs', async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-ignore-'));
  try {
    const files = ['app.js', 'debug.log', 'node_modules/m/index.js', 'docs/a.md', 'docs/keep.md', 'src/x.tmp', 'src/y.ts'];
    for (const f of files) {
      await fs.mkdir(path.dirname(path.join(root, f)), { recursive: true });
      await fs.writeFile(path.join(root, f), f);
    }
    await applyIgnore(root, ignoreMatcher(['*.log', 'node_modules', 'docs', '!docs/keep.md', '**/*.tmp']));
    const left: string[] = [];
    const walk = async (d: string) => {
      for (const e of await fs.readdir(path.join(root, d), { withFileTypes: true })) {
        const rel = d ? `${d}/${e.name}` : e.name;
        if (e.isDirectory()) await walk(rel);
        else left.push(rel);
      }
    };
    await walk('');
    assert.deepEqual(left.sort(), ['app.js', 'docs/keep.md', 'src/y.ts']);
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
});
