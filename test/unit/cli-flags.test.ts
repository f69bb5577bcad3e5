import { test } from 'node:test';
import assert from 'node:assert/strict';
import { flagUsages, parseFlags, type FlagSpec } from '../../src/cli/flags';
import { FlagError } from '../../src/cli/errors';

const specs: FlagSpec[] = [
  { name: 'all', short: 'a', kind: 'bool', description: 'Show all' },
  { name: 'quiet', short: 'q', kind: 'bool', description: 'Only IDs' },
  { name: 'format', kind: 'string', description: 'Format' },
  { name: 'filter', short: 'f', kind: 'filter', description: 'Filter output based on conditions provided' },
  { name: 'change', short: 'c', kind: 'list', description: 'Change' },
  { name: 'human', short: 'H', kind: 'bool', default: true, description: 'Human' },
  { name: 'platform', kind: 'strings', description: 'Platforms' },
];

test('long, short, combined, = forms and interspersed arguments', () => {
  const r = parseFlags(['-aq', 'repo', '--format={{.ID}}', '-f', 'dangling=true', '-fbefore=x', '--change', 'CMD a', '-c=ENV b', '--human=false', '--platform', 'linux/amd64,linux/arm64'], specs);
  assert.deepEqual(r.args, ['repo']);
  assert.equal(r.flags.bool('all'), true);
  assert.equal(r.flags.bool('quiet'), true);
  assert.equal(r.flags.string('format'), '{{.ID}}');
  assert.deepEqual(r.flags.list('filter'), ['dangling=true', 'before=x']);
  assert.deepEqual(r.flags.list('change'), ['CMD a', 'ENV b']);
  assert.equal(r.flags.bool('human'), false);
  assert.deepEqual(r.flags.list('platform'), ['linux/amd64', 'linux/arm64']);
  assert.equal(r.flags.isSet('all'), true);
  assert.equal(r.flags.isSet('format'), true);
});

test('defaults, "--" and "-" and non-interspersed parsing', () => {
  const r = parseFlags(['--', '-a', '-'], specs);
  assert.deepEqual(r.args, ['-a', '-']);
  assert.equal(r.flags.bool('human'), true);
  const n = parseFlags(['-a', 'image', '-q', 'cmd'], specs, { interspersed: false });
  assert.deepEqual(n.args, ['image', '-q', 'cmd']);
  assert.equal(n.flags.bool('quiet'), false);
  assert.equal(parseFlags(['--help'], specs).flags.bool('help'), true);
  assert.equal(parseFlags(['-h'], specs).flags.bool('help'), true);
});

test('errors worded as pflag words them', () => {
  const msg = (argv: string[]) => {
    try {
      parseFlags(argv, specs);
    } catch (e) {
      assert.ok(e instanceof FlagError);
      return (e as Error).message;
    }
    return 'no error';
  };
  assert.equal(msg(['--bogus']), 'unknown flag: --bogus');
  assert.equal(msg(['-xq']), "unknown shorthand flag: 'x' in -xq");
  assert.equal(msg(['--format']), 'flag needs an argument: --format');
  assert.equal(msg(['-f']), "flag needs an argument: 'f' in -f");
  assert.equal(msg(['-H=maybe']), 'invalid argument "maybe" for "-H, --human" flag: strconv.ParseBool: parsing "maybe": invalid syntax');
  assert.equal(msg(['-f', 'novalue']), 'invalid argument "novalue" for "-f, --filter" flag: bad format of filter (expected name=value)');
});

test('help options block is laid out and wrapped like pflag', () => {
  const text = flagUsages([
    { name: 'all', short: 'a', kind: 'bool', description: 'Show all images (default hides intermediate images)' },
    { name: 'filter', short: 'f', kind: 'filter', description: 'Filter output based on conditions provided' },
    { name: 'format', kind: 'string', description: "Format output using a custom template:\n'table':            Print output in table format with column headers (default)" },
    { name: 'human', short: 'H', kind: 'bool', default: true, description: 'Print sizes' },
  ]);
  assert.equal(text,
    '  -a, --all             Show all images (default hides intermediate images)\n' +
    '  -f, --filter filter   Filter output based on conditions provided\n' +
    '      --format string   Format output using a custom template:\n' +
    "                        'table':            Print output in table format\n" +
    '                        with column headers (default)\n' +
    '  -H, --human           Print sizes (default true)\n');
});
