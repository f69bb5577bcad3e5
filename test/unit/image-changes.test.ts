import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyChanges, exposedPorts, parseGoDuration, splitWords } from '../../src/image/changes';
import { isKind } from '../../src/errors';

test('changes: CMD and ENTRYPOINT in JSON and shell form', () => {
  const cfg = applyChanges(['CMD ["sh","-c","echo hi"]', 'ENTRYPOINT /bin/tini --']);
  assert.deepEqual(cfg.Cmd, ['sh', '-c', 'echo hi']);
  assert.deepEqual(cfg.Entrypoint, ['/bin/sh', '-c', '/bin/tini --']);
  // text that only looks like JSON is shell form, as Docker treats it
  assert.deepEqual(applyChanges(['CMD [not json']).Cmd, ['/bin/sh', '-c', '[not json']);
});

test('changes: ENV pairs, quotes, legacy form and replacement', () => {
  const cfg = applyChanges(['ENV A=1 B="two words"', "ENV C 'legacy value' here", 'env A=3']);
  assert.deepEqual(cfg.Env, ['A=3', 'B=two words', 'C=legacy value here']);
});

test('changes: LABEL, EXPOSE (ranges, protocols), VOLUME, USER, WORKDIR, STOPSIGNAL', () => {
  const cfg = applyChanges([
    'LABEL a=b "c d"=e', 'EXPOSE 80 53/udp 8000-8001', 'VOLUME ["/data", "/logs"]', 'VOLUME /cache',
    'USER nobody:nogroup', 'WORKDIR /app', 'WORKDIR src', 'STOPSIGNAL SIGKILL',
  ]);
  assert.deepEqual(cfg.Labels, { a: 'b', 'c d': 'e' });
  assert.deepEqual(Object.keys(cfg.ExposedPorts ?? {}), ['80/tcp', '53/udp', '8000/tcp', '8001/tcp']);
  assert.deepEqual(Object.keys(cfg.Volumes ?? {}), ['/data', '/logs', '/cache']);
  assert.equal(cfg.User, 'nobody:nogroup');
  assert.equal(cfg.WorkingDir, '/app/src');
  assert.equal(cfg.StopSignal, 'SIGKILL');
});

test('changes: ONBUILD and HEALTHCHECK', () => {
  const cfg = applyChanges(['ONBUILD run echo hi', 'HEALTHCHECK --interval=30s --retries=3 CMD curl -f http://localhost/']);
  assert.deepEqual(cfg.OnBuild, ['RUN echo hi']);
  assert.deepEqual(cfg.Healthcheck, { Interval: 30e9, Retries: 3, Test: ['CMD-SHELL', 'curl -f http://localhost/'] });
  assert.deepEqual(applyChanges(['HEALTHCHECK NONE']).Healthcheck, { Test: ['NONE'] });
  assert.throws(() => applyChanges(['ONBUILD FROM x']), /isn't allowed/);
});

test('changes: instructions that change no metadata are refused with dockerd wording', () => {
  assert.throws(() => applyChanges(['RUN echo hi']), (e) => isKind(e, 'InvalidArgument') && /run is not a valid change command/.test(e.message));
  assert.throws(() => applyChanges(['FROM busybox']), /from is not a valid change command/);
  assert.throws(() => applyChanges(['EXPOSE abc']), /invalid containerPort/);
  assert.throws(() => applyChanges(['ENV =x']), /names can not be blank/);
});

test('changes: helpers', () => {
  assert.deepEqual(splitWords(`a "b c" 'd e' f\\ g`), ['a', 'b c', 'd e', 'f g']);
  assert.throws(() => splitWords('"open'), /unterminated/);
  assert.deepEqual(exposedPorts('1-2/udp'), ['1/udp', '2/udp']);
  assert.equal(parseGoDuration('1m30s'), 90e9);
  assert.equal(parseGoDuration('250ms'), 250e6);
  assert.throws(() => parseGoDuration('5 minutes'), /invalid duration/);
  // the base config is copied, never mutated
  const base = { Env: ['X=1'] };
  applyChanges(['ENV Y=2'], base);
  assert.deepEqual(base.Env, ['X=1']);
});
