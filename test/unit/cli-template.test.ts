import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileTemplate, goStruct, HEADER_FUNCS, TemplateExecError, TemplateParseError } from '../../src/cli/template';
import { formatterRow, renderRows, templateText } from '../../src/cli/formatter';
import { alignColumns } from '../../src/cli/tabwriter';
import { imageListFormat, imageRows, IMAGE_HEADER } from '../../src/cli/commands/images';
import type { ImageSummary } from '../../src/client/types';

const run = (src: string, data: unknown) => compileTemplate(src).execute(data);

test('fields, nested fields, missing map keys and struct fields', () => {
  assert.equal(run('{{.A}}-{{.B.C}}', { A: 'x', B: { C: 3 } }), 'x-3');
  assert.equal(run('{{.Missing}}', { A: 1 }), '<no value>');
  assert.equal(run('{{.Missing.Deeper}}', {}), '<no value>');
  const s = goStruct({ ID: 'abc' }, '*formatter.imageContext');
  assert.equal(run('{{.ID}}', s), 'abc');
  assert.throws(() => run('{{.Foo}}', s), (e: Error) => e instanceof TemplateExecError && e.message === 'template: :1:2: executing "" at <.Foo>: can\'t evaluate field Foo in type *formatter.imageContext');
  assert.throws(() => run('{{.A.B}}', { A: null }), /nil pointer evaluating interface \{\}\.B/);
});

test('values print as Go prints them', () => {
  assert.equal(run('{{.}}', [1, 'a', true]), '[1 a true]');
  assert.equal(run('{{.}}', { b: 2, a: 1 }), 'map[a:1 b:2]');
  assert.equal(run('{{.}}', null), '<nil>');
  assert.equal(run('{{.N}}', { N: 4261550 }), '4261550');
});

test('json, join, upper, lower, title, index, len, println, printf, split, pad, truncate', () => {
  assert.equal(run('{{json .}}', { a: [1, 'x<y'] }), '{"a":[1,"x<y"]}');
  assert.equal(run('{{json .L}}', { L: null }), 'null');
  assert.equal(run('{{join .L ", "}}', { L: ['a', 'b', 'c'] }), 'a, b, c');
  assert.equal(run('{{join .M ","}}', { M: { x: 'b', y: 'a' } }), 'a,b');
  assert.equal(run('{{upper .X}} {{lower .X}} {{title "hello big world"}}', { X: 'MiX' }), 'MIX mix Hello Big World');
  assert.equal(run('{{index .M "k"}} {{index .L 1}}', { M: { k: 'v' }, L: ['a', 'b'] }), 'v b');
  assert.equal(run('{{len .L}}', { L: [1, 2, 3] }), '3');
  assert.equal(run('{{println "a" "b"}}x', {}), 'a b\nx');
  assert.equal(run('{{printf "%s=%d|%-5s|" "n" 42 "ab"}}', {}), 'n=42|ab   |');
  assert.equal(run('{{split "a:b" ":"}}', {}), '[a b]');
  assert.equal(run('[{{pad .S 1 2}}][{{truncate .S 2}}]', { S: 'abc' }), '[ abc  ][ab]');
  assert.equal(run('{{index .Labels "com.example"}}', { Labels: { 'com.example': 'yes' } }), 'yes');
});

test('pipes, parenthesised pipelines and chained fields', () => {
  assert.equal(run('{{.X | lower}}', { X: 'ABC' }), 'abc');
  assert.equal(run('{{.X | printf "%s!" | upper}}', { X: 'hi' }), 'HI!');
  assert.equal(run('{{(index .L 0).Name}}', { L: [{ Name: 'n0' }] }), 'n0');
  assert.equal(run('{{"lit"}} {{`raw`}} {{3}} {{true}}', {}), 'lit raw 3 true');
});

test('if / else if / else, with, range, variables and comparisons', () => {
  const t = '{{if .A}}a{{else if .B}}b{{else}}c{{end}}';
  assert.equal(run(t, { A: 1 }), 'a');
  assert.equal(run(t, { B: 'x' }), 'b');
  assert.equal(run(t, { A: '', B: [] }), 'c');
  assert.equal(run('{{with .S}}[{{.}}]{{else}}none{{end}}', { S: 'v' }), '[v]');
  assert.equal(run('{{with .S}}[{{.}}]{{else}}none{{end}}', {}), 'none');
  assert.equal(run('{{range .L}}<{{.}}>{{end}}', { L: ['a', 'b'] }), '<a><b>');
  assert.equal(run('{{range $i, $v := .L}}{{$i}}={{$v}};{{end}}', { L: ['a', 'b'] }), '0=a;1=b;');
  assert.equal(run('{{range $k, $v := .M}}{{$k}}:{{$v}} {{end}}', { M: { b: 2, a: 1 } }), 'a:1 b:2 ');
  assert.equal(run('{{range .L}}x{{else}}empty{{end}}', { L: [] }), 'empty');
  assert.equal(run('{{range .L}}{{if eq . 2}}{{break}}{{end}}{{.}}{{end}}', { L: [1, 2, 3] }), '1');
  assert.equal(run('{{$x := .A}}{{range .L}}{{$x}}{{.}}{{end}}{{$.A}}', { A: 'p', L: [1, 2] }), 'p1p2p');
  assert.equal(run('{{if and (ne .A "x") (gt .N 2)}}yes{{end}}', { A: 'y', N: 3 }), 'yes');
  assert.equal(run('{{if ne .S nil}}set{{else}}unset{{end}}', { S: null }), 'unset');
  assert.equal(run('{{not .A}} {{or .A .B}}', { A: '', B: 'b' }), 'true b');
});

test('trim markers and comments', () => {
  assert.equal(run('a  {{- .X -}}  b', { X: 1 }), 'a1b');
  assert.equal(run('a{{/* note */}}b', {}), 'ab');
  assert.equal(run('{{range .L -}}\n  {{.}}\n{{- end}}', { L: [1, 2] }), '12');
});

test('parse errors read like Go', () => {
  assert.throws(() => compileTemplate('{{.Foo'), (e: Error) => e instanceof TemplateParseError && e.message === 'template: :1: unclosed action');
  assert.throws(() => compileTemplate('{{if .A}}x'), TemplateParseError);
  assert.throws(() => compileTemplate('{{end}}'), TemplateParseError);
  assert.throws(() => run('{{nosuch .A}}', {}), /function "nosuch" not defined/);
});

test('table header from field names, with docker header functions', () => {
  const header = { Repository: 'REPOSITORY', ID: 'IMAGE ID' };
  const t = compileTemplate(templateText('table {{.Repository}}\\t{{.ID | lower}}\\t{{.Other}}'));
  assert.equal(t.execute(header, { funcs: HEADER_FUNCS }), 'REPOSITORY\tIMAGE ID\t<no value>');
});

test('renderRows: table alignment like docker, json lines, plain templates', () => {
  const rows = [formatterRow({ A: 'x', B: 'long value here' }, 'T'), formatterRow({ A: 'yy<', B: 'b' }, 'T')];
  const header = { A: 'COL A', B: 'B' };
  assert.equal(renderRows('table {{.A}}\t{{.B}}', rows, header), 'COL A     B\nx         long value here\nyy<       b\n');
  assert.equal(renderRows('json', rows, header), '{"A":"x","B":"long value here"}\n{"A":"yy\\u003c","B":"b"}\n');
  assert.equal(renderRows('{{.A}}:{{.B}}', rows, header), 'x:long value here\nyy<:b\n');
  assert.equal(renderRows('table {{.A}}', [], header), 'COL A\n');
});

test('tabwriter: minimum width 10, padding 3, last cell unpadded', () => {
  assert.equal(alignColumns('REPOSITORY\tTAG\tSIZE\nbusybox\tlatest\t4.26MB\n'), 'REPOSITORY   TAG       SIZE\nbusybox      latest    4.26MB\n');
  assert.equal(alignColumns('a\tb\nno tabs here\nc\td'), 'a         b\nno tabs here\nc         d');
});

test('images rows: tags, digests, dangling images and the default table', () => {
  const now = Math.floor(Date.now() / 1000);
  const images: ImageSummary[] = [
    { Id: 'sha256:' + 'a'.repeat(64), RepoTags: ['busybox:latest', '127.0.0.1:5000/team/app:v1'], RepoDigests: ['busybox@sha256:' + 'd'.repeat(64)], Created: now - 7200, Size: 4261550, SharedSize: -1, Containers: -1 },
    { Id: 'sha256:' + 'b'.repeat(64), RepoTags: [], RepoDigests: [], Created: now - 3 * 86400, Size: 1240, SharedSize: -1, Containers: -1 },
  ];
  const rows = imageRows(images, { trunc: true, digest: false, formatHasDigest: false });
  assert.equal(renderRows(imageListFormat('table', false, false), rows, IMAGE_HEADER),
    'REPOSITORY                TAG       IMAGE ID       CREATED       SIZE\n' +
    'busybox                   latest    aaaaaaaaaaaa   2 hours ago   4.26MB\n' +
    '127.0.0.1:5000/team/app   v1        aaaaaaaaaaaa   2 hours ago   4.26MB\n' +
    '<none>                    <none>    bbbbbbbbbbbb   3 days ago    1.24kB\n');
  const withDigests = imageRows(images, { trunc: true, digest: true, formatHasDigest: true });
  assert.equal(withDigests[0].Digest, 'sha256:' + 'd'.repeat(64));
  assert.equal(withDigests[1].Digest, '<none>');
  const json = renderRows('{{json .}}', rows.slice(2), IMAGE_HEADER);
  assert.match(json, /^\{"Containers":"N\/A","CreatedAt":"[^"]+","CreatedSince":"3 days ago","Digest":"\\u003cnone\\u003e","ID":"bbbbbbbbbbbb","Repository":"\\u003cnone\\u003e","SharedSize":"N\/A","Size":"1.24kB","Tag":"\\u003cnone\\u003e","UniqueSize":"N\/A","VirtualSize":"1.24kB"\}\n$/);
  assert.equal(renderRows(imageListFormat('table', true, false), rows, IMAGE_HEADER), 'aaaaaaaaaaaa\naaaaaaaaaaaa\nbbbbbbbbbbbb\n');
});
