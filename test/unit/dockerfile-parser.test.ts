import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDockerfile } from '../../src/build/parser';
import { parseBuildPlan, type CopyInstr, type KeyValueInstr, type HealthcheckInstr, type OnbuildInstr, type RunInstr } from '../../src/build/instructions';
import { expandWord, expandWords, lookupFrom } from '../../src/build/shell-lex';
import { applyConfigStep, exposedPorts } from '../../src/build/config-steps';
import { matchRegExp } from '../../src/build/copy';

const env = lookupFrom({ A: 'alpha', EMPTY: '', SP: 'a b' });

test('variable expansion: plain, braces, defaults, alternates, escapes, quotes', () => {
  const cases: [string, string][] = [
    ['$A', 'alpha'],
    ['${A}x', 'alphax'],
    ['${MISSING:-dflt}', 'dflt'],
    ['${EMPTY:-dflt}', 'dflt'],
    ['${EMPTY-dflt}', ''],
    ['${MISSING-dflt}', 'dflt'],
    ['${A:+alt}', 'alt'],
    ['${EMPTY:+alt}', ''],
    ['${EMPTY+alt}', 'alt'],
    ['${MISSING:+alt}', ''],
    ['${MISSING:-${A}}', 'alpha'],
    ['\\$A', '$A'],
    ["'$A'", '$A'],
    ['"$A b"', 'alpha b'],
    ['"\\$A"', '$A'],
    ['"a\\nb"', 'a\\nb'],
    ['a\\ b', 'a b'],
    ['$', '$'],
    ['${A#al}', 'pha'],
    ['${A%ha}', 'alp'],
    ['$MISSING', ''],
  ];
  for (const [input, want] of cases) assert.equal(expandWord(input, env), want, input);
  assert.throws(() => expandWord('${MISSING:?must be set}', env), /MISSING: must be set/);
  assert.deepEqual(expandWords('a "b c" $SP \'d e\'', env), ['a', 'b c', 'a b', 'd e']);
  assert.equal(expandWord('`$A', env, '`'), '$A');
});

test('directives, escape backtick and Windows-style paths', () => {
  const df = '# escape=`\n\nFROM mcr/windows\nCOPY testfile.txt c:\\\nRUN dir c:\\ `\n  && echo done\n';
  const p = parseDockerfile(df);
  assert.equal(p.escape, '`');
  assert.equal(p.nodes.length, 3);
  assert.equal(p.nodes[1].rest, 'testfile.txt c:\\');
  assert.equal(p.nodes[2].rest, 'dir c:\\   && echo done');
  assert.equal(p.nodes[2].line, 5);
  assert.equal(p.nodes[2].endLine, 6);
  // a directive after a comment is just a comment
  assert.equal(parseDockerfile('# hello\n# escape=`\nFROM x\nRUN a \\\n b').escape, '\\');
  assert.throws(() => parseDockerfile('# escape=x\nFROM a'), /invalid escape token/);
});

test('continuations: comments and empty lines between continued lines, continuation inside JSON', () => {
  const df = [
    'FROM busybox',
    'RUN echo one \\',
    '# a comment inside',
    '    two \\',
    '',
    '  three',
    'CMD ["echo", \\',
    '     "hi"]',
    'ENV A=1 \\',
    '    B=2',
  ].join('\n');
  const p = parseDockerfile(df);
  assert.equal(p.nodes[1].rest, 'echo one     two   three');
  assert.deepEqual(p.nodes[2].json, ['echo', 'hi']);
  assert.equal(p.nodes[2].line, 7);
  assert.ok(p.warnings.some((w) => /Empty continuation line/.test(w)));
  const plan = parseBuildPlan(df);
  const envInstr = plan.stages[0].instructions[2] as KeyValueInstr;
  assert.deepEqual(envInstr.pairs, [{ key: 'A', value: '1' }, { key: 'B', value: '2' }]);
});

test('JSON vs shell forms', () => {
  const p = parseBuildPlan('FROM a\nCMD ["a", "b"]\nCMD [not json\nENTRYPOINT echo hi\nSHELL ["/bin/bash", "-c"]\n');
  const [cmd1, cmd2, ep] = p.stages[0].instructions as any[];
  assert.deepEqual(cmd1.command, { json: ['a', 'b'] });
  assert.deepEqual(cmd2.command, { shell: '[not json' });
  assert.deepEqual(ep.command, { shell: 'echo hi' });
  assert.throws(() => parseBuildPlan('FROM a\nSHELL /bin/bash'), /SHELL requires the arguments to be in JSON form/);
});

test('heredocs in RUN and COPY: <<EOF, <<-EOF, quoted delimiters', () => {
  const df = [
    'FROM a',
    'RUN <<EOF',
    'echo $HOME',
    'EOF',
    'COPY <<-"END" /etc/conf',
    '\tkey=$value',
    '\tEND',
    'RUN cat <<A > /x && cat <<B > /y',
    'one',
    'A',
    'two',
    'B',
    'LABEL after=1',
  ].join('\n');
  const plan = parseBuildPlan(df);
  const [run, copy, run2, label] = plan.stages[0].instructions;
  assert.equal((run as RunInstr).heredocs[0].content, 'echo $HOME\n');
  assert.equal((run as RunInstr).heredocs[0].expand, true);
  const c = copy as CopyInstr;
  assert.equal(c.heredocs[0].content, 'key=$value\n');
  assert.equal(c.heredocs[0].expand, false);
  assert.equal(c.heredocs[0].chomp, true);
  assert.deepEqual(c.sources, ['<<-"END"']);
  assert.equal(c.dest, '/etc/conf');
  assert.deepEqual((run2 as RunInstr).heredocs.map((h) => h.content), ['one\n', 'two\n']);
  assert.equal(label.kind, 'label');
  assert.equal(label.node.line, 13);
  assert.throws(() => parseDockerfile('FROM a\nRUN <<EOF\nno end'), /line 2: unterminated heredoc EOF/);
});

test('ONBUILD, HEALTHCHECK, flags and stages', () => {
  const df = [
    'ARG BASE=busybox',
    'FROM ${BASE} AS Build',
    'ONBUILD COPY . /app',
    'HEALTHCHECK --interval=30s --timeout=1m30s --retries=3 CMD curl -f http://localhost/ || exit 1',
    'COPY --from=build --chown=1:2 --chmod=0755 a b /dst/',
    'FROM scratch',
    'HEALTHCHECK NONE',
  ].join('\n');
  const plan = parseBuildPlan(df);
  assert.equal(plan.metaArgs[0].args[0].name, 'BASE');
  assert.equal(plan.stages[0].name, 'build');
  const [onbuild, hc, copy] = plan.stages[0].instructions;
  assert.equal((onbuild as OnbuildInstr).trigger, 'COPY . /app');
  assert.equal((onbuild as OnbuildInstr).inner.kind, 'copy');
  const h = hc as HealthcheckInstr;
  assert.deepEqual(h.test, ['CMD-SHELL', 'curl -f http://localhost/ || exit 1']);
  assert.equal(h.interval, 30e9);
  assert.equal(h.timeout, 90e9);
  assert.equal(h.retries, 3);
  const c = copy as CopyInstr;
  assert.equal(c.from, 'build');
  assert.equal(c.chown, '1:2');
  assert.equal(c.chmod, '0755');
  assert.deepEqual(c.sources, ['a', 'b']);
  assert.equal((plan.stages[1].instructions[0] as HealthcheckInstr).test, undefined);
  assert.throws(() => parseBuildPlan('FROM a\nONBUILD ONBUILD RUN x'), /ONBUILD ONBUILD isn't allowed/);
  assert.throws(() => parseBuildPlan('FROM a\nONBUILD FROM b'), /FROM isn't allowed as an ONBUILD trigger/);
  assert.throws(() => parseBuildPlan('FROM a AS x\nFROM b AS x'), /line 2: duplicate name x/);
  assert.throws(() => parseBuildPlan('FROM a AS 1x'), /invalid name for build stage/);
  assert.throws(() => parseBuildPlan('FROM a\nCOPY --bogus=1 a b'), /unknown flag: bogus/);
  assert.throws(() => parseBuildPlan('FROM a\nRUN --mount=type=cache,target=/x true'), /requires BuildKit/);
});

test('errors name the line', () => {
  assert.throws(() => parseBuildPlan('FROM busybox\n\nFORM x\n'), { message: 'dockerfile parse error on line 3: unknown instruction: FORM' });
  assert.throws(() => parseBuildPlan('FROM a\nCOPY onlyone'), /line 2: COPY requires at least two arguments/);
  assert.throws(() => parseBuildPlan('ENV A=1\nFROM a'), /line 1: ENV instruction before FROM/);
  assert.throws(() => parseBuildPlan('FROM a b'), /line 1: FROM requires either one or three arguments/);
  assert.throws(() => parseBuildPlan('FROM a\nENV A'), /line 2: ENV must have two arguments/);
  assert.throws(() => parseBuildPlan('FROM a\nLABEL a=1 b'), /line 2: Syntax error - can't find = in "b"/);
  assert.throws(() => parseBuildPlan('\n# only a comment\n'), /cannot be empty/);
  assert.throws(() => parseBuildPlan('FROM a\nHEALTHCHECK --interval=abc CMD x'), /invalid duration "abc"/);
});

test('legacy ENV form, quoted values, config steps', () => {
  const plan = parseBuildPlan('FROM a\nENV NAME some value here\nENV Q="quoted value" R=plain\\ esc\nEXPOSE 80 443/udp 8000-8001\n');
  const [e1, e2, ex] = plan.stages[0].instructions;
  const img = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers' as const, diff_ids: [] }, config: { Env: ['NAME=old'] } };
  const ctx = { lookup: lookupFrom({}), escape: '\\', cmdSet: false };
  assert.equal(applyConfigStep(e1, img, ctx), 'ENV NAME=some value here');
  applyConfigStep(e2, img, ctx);
  assert.deepEqual(img.config.Env, ['NAME=some value here', 'Q=quoted value', 'R=plain esc']);
  applyConfigStep(ex, img, ctx);
  assert.deepEqual(Object.keys((img.config as any).ExposedPorts), ['80/tcp', '443/udp', '8000/tcp', '8001/tcp']);
  assert.throws(() => exposedPorts('http'), /invalid containerPort/);
});

test('wildcard matching follows Go filepath.Match', () => {
  assert.ok(matchRegExp('*.txt').test('a.txt'));
  assert.ok(!matchRegExp('*.txt').test('dir/a.txt'));
  assert.ok(matchRegExp('file?.md').test('file1.md'));
  assert.ok(matchRegExp('[ab]*').test('beta'));
  assert.ok(!matchRegExp('[ab]*').test('gamma'));
});

test('X-Registry-Config credentials are picked by the base image registry', async () => {
  const { authForReference } = await import('../../src/build/builder');
  const auths = { 'https://index.docker.io/v1/': { username: 'hub' }, '127.0.0.1:5000': { username: 'local' } };
  assert.equal(authForReference('busybox', auths)?.username, 'hub');
  assert.equal(authForReference('127.0.0.1:5000/app:1', auths)?.username, 'local');
  assert.equal(authForReference('quay.io/x/y', auths), undefined);
});
