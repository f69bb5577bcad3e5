/**
 * The instruction model: parser nodes → typed instructions grouped in stages. Arguments stay raw (quotes
 * and `$VAR` kept) where the executor expands them with the environment of the moment; checks that need no
 * environment (argument counts, forms, flags, stage names) fail here, naming the line.
 */
import { invalidArgument } from '../errors';
import { parseDockerfile, parseError, nodeFlags, maybeJson, type DockerfileNode, type Heredoc } from './parser';
import { splitRawWords } from './shell-lex';

interface Base { node: DockerfileNode }

/** A command as JSON (exec form) or as a shell string. */
export type CommandForm = { json: string[] } | { shell: string };

export interface FromInstr extends Base { kind: 'from'; image: string; stageName?: string; platform?: string }
export interface ArgInstr extends Base { kind: 'arg'; args: { name: string; value?: string }[] }
export interface KeyValueInstr extends Base { kind: 'env' | 'label'; pairs: { key: string; value: string }[] }
export interface RunInstr extends Base { kind: 'run'; command: CommandForm; heredocs: Heredoc[] }
export interface CmdInstr extends Base { kind: 'cmd' | 'entrypoint'; command: CommandForm }
export interface CopyInstr extends Base {
  kind: 'copy' | 'add';
  /** raw words; the last one is the destination */
  sources: string[];
  dest: string;
  /** JSON form: words are not split on spaces */
  json: boolean;
  from?: string;
  chown?: string;
  chmod?: string;
  heredocs: Heredoc[];
}
export interface ValueInstr extends Base { kind: 'workdir' | 'user' | 'stopsignal' | 'maintainer'; value: string }
export interface ListInstr extends Base { kind: 'expose' | 'volume'; values: string[]; json: boolean }
export interface ShellInstr extends Base { kind: 'shell'; shell: string[] }
export interface HealthcheckInstr extends Base {
  kind: 'healthcheck';
  /** undefined for HEALTHCHECK NONE */
  test?: string[];
  interval?: number;
  timeout?: number;
  startPeriod?: number;
  startInterval?: number;
  retries?: number;
}
export interface OnbuildInstr extends Base { kind: 'onbuild'; trigger: string; inner: Instruction }

export type Instruction =
  | FromInstr | ArgInstr | KeyValueInstr | RunInstr | CmdInstr | CopyInstr | ValueInstr | ListInstr | ShellInstr
  | HealthcheckInstr | OnbuildInstr;

export interface Stage {
  index: number;
  /** lower-cased `AS` name */
  name?: string;
  from: FromInstr;
  instructions: Instruction[];
}

export interface BuildPlan {
  escape: string;
  /** ARGs before the first FROM */
  metaArgs: ArgInstr[];
  stages: Stage[];
  warnings: string[];
}

const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;

/** Go's time.ParseDuration for the units Dockerfiles use → nanoseconds. */
export function parseDuration(s: string, line: number, flag: string): number {
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;
  const unit: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  if (s === '0') return 0;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    if (m.index !== consumed) break;
    total += Number(m[1]) * unit[m[2]];
    consumed += m[0].length;
  }
  if (consumed !== s.length || s === '') throw parseError(line, `time: invalid duration "${s}" for flag --${flag}`);
  return Math.round(total);
}

function keyValues(node: DockerfileNode, escape: string): { key: string; value: string }[] {
  const name = node.cmd.toUpperCase();
  const words = splitRawWords(node.rest, escape);
  if (words.length === 0) throw parseError(node.line, `${name} requires at least one argument`);
  if (!words[0].includes('=')) {
    // legacy `ENV key value…`: the value is the rest of the line
    const m = /^\S+\s+([\s\S]*)$/.exec(node.rest.trim());
    if (!m || !m[1].trim()) throw parseError(node.line, `${name} must have two arguments`);
    return [{ key: words[0], value: m[1].trim() }];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq <= 0) throw parseError(node.line, `Syntax error - can't find = in "${w}". Must be of the form: name=value`);
    return { key: w.slice(0, eq), value: w.slice(eq + 1) };
  });
}

function commandForm(node: DockerfileNode): CommandForm {
  return node.json ? { json: node.json } : { shell: node.rest };
}

function toInstruction(node: DockerfileNode, escape: string): Instruction {
  const line = node.line;
  const name = node.cmd.toUpperCase();
  const noFlags = () => nodeFlags(node, []);
  switch (node.cmd) {
    case 'from': {
      const flags = nodeFlags(node, ['platform']);
      const words = splitRawWords(node.rest, escape);
      if (words.length !== 1 && !(words.length === 3 && words[1].toLowerCase() === 'as')) {
        throw parseError(line, 'FROM requires either one or three arguments');
      }
      const stageName = words[2]?.toLowerCase();
      if (stageName !== undefined && !STAGE_NAME.test(stageName)) {
        throw parseError(line, `invalid name for build stage: "${words[2]}", name can't start with a number or contain symbols`);
      }
      return { kind: 'from', node, image: words[0], stageName, platform: flags.get('platform') };
    }
    case 'arg': {
      noFlags();
      const words = splitRawWords(node.rest, escape);
      if (words.length === 0) throw parseError(line, 'ARG requires at least one argument');
      return {
        kind: 'arg', node, args: words.map((w) => {
          const eq = w.indexOf('=');
          return eq < 0 ? { name: w } : { name: w.slice(0, eq), value: w.slice(eq + 1) };
        }),
      };
    }
    case 'env':
    case 'label':
      noFlags();
      return { kind: node.cmd, node, pairs: keyValues(node, escape) };
    case 'run': {
      const flags = nodeFlags(node, ['mount', 'network', 'security']);
      for (const f of flags.keys()) throw parseError(line, `the --${f} option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled`);
      if (!node.json && !node.rest.trim()) throw parseError(line, 'RUN requires at least one argument');
      return { kind: 'run', node, command: commandForm(node), heredocs: node.heredocs };
    }
    case 'cmd':
    case 'entrypoint':
      noFlags();
      return { kind: node.cmd, node, command: commandForm(node) };
    case 'copy':
    case 'add': {
      const flags = nodeFlags(node, node.cmd === 'copy' ? ['from', 'chown', 'chmod', 'link'] : ['chown', 'chmod', 'link', 'checksum', 'keep-git-dir']);
      const words = node.json ?? splitRawWords(node.rest, escape);
      if (words.length < 2) {
        throw parseError(line, `${name} requires at least two arguments, but only one was provided. Destination could not be determined.`);
      }
      return {
        kind: node.cmd, node, sources: words.slice(0, -1), dest: words[words.length - 1], json: node.json !== undefined,
        from: flags.get('from'), chown: flags.get('chown'), chmod: flags.get('chmod'), heredocs: node.heredocs,
      };
    }
    case 'workdir':
    case 'user':
    case 'stopsignal':
    case 'maintainer': {
      noFlags();
      const value = node.json && node.cmd !== 'maintainer' ? node.json.join(' ') : node.rest.trim();
      if (!value) throw parseError(line, `${name} requires exactly one argument`);
      return { kind: node.cmd, node, value };
    }
    case 'expose':
    case 'volume': {
      noFlags();
      const values = node.json ?? splitRawWords(node.rest, escape);
      if (values.length === 0) throw parseError(line, `${name} requires at least one argument`);
      return { kind: node.cmd, node, values, json: node.json !== undefined };
    }
    case 'shell':
      noFlags();
      if (!node.json) throw parseError(line, 'SHELL requires the arguments to be in JSON form');
      if (node.json.length === 0) throw parseError(line, 'SHELL requires at least one argument');
      return { kind: 'shell', node, shell: node.json };
    case 'healthcheck':
      return healthcheck(node);
    case 'onbuild': {
      const inner = toInstruction(node.inner!, escape);
      return { kind: 'onbuild', node, trigger: node.inner!.original, inner };
    }
  }
  throw parseError(line, `unknown instruction: ${node.keyword}`);
}

function healthcheck(node: DockerfileNode): HealthcheckInstr {
  const line = node.line;
  const flags = nodeFlags(node, ['interval', 'timeout', 'start-period', 'start-interval', 'retries']);
  const m = /^(\S+)\s*([\s\S]*)$/.exec(node.rest.trim());
  if (!m) throw parseError(line, 'HEALTHCHECK requires an argument');
  const type = m[1].toUpperCase();
  if (type === 'NONE') {
    if (m[2].trim() || flags.size) throw parseError(line, 'HEALTHCHECK NONE takes no arguments');
    return { kind: 'healthcheck', node };
  }
  if (type !== 'CMD') throw parseError(line, `Unknown type "${type}" in HEALTHCHECK (try CMD)`);
  const json = maybeJson(m[2]);
  if (!json && !m[2].trim()) throw parseError(line, 'Missing command after HEALTHCHECK CMD');
  const out: HealthcheckInstr = { kind: 'healthcheck', node, test: json ? ['CMD', ...json] : ['CMD-SHELL', m[2].trim()] };
  const dur = (f: string) => (flags.has(f) ? parseDuration(flags.get(f)!, line, f) : undefined);
  out.interval = dur('interval');
  out.timeout = dur('timeout');
  out.startPeriod = dur('start-period');
  out.startInterval = dur('start-interval');
  if (flags.has('retries')) {
    const n = Number(flags.get('retries'));
    if (!Number.isInteger(n)) throw parseError(line, `strconv.ParseInt: parsing "${flags.get('retries')}": invalid syntax`);
    if (n < 0) throw parseError(line, '--retries cannot be negative');
    out.retries = n;
  }
  for (const [f, v] of [['interval', out.interval], ['timeout', out.timeout], ['start-period', out.startPeriod], ['start-interval', out.startInterval]] as const) {
    if (v !== undefined && v !== 0 && v < 1e6) throw parseError(line, `Interval "${f}" cannot be less than 1ms`);
  }
  return out;
}

/** Dockerfile text → stages. */
export function parseBuildPlan(text: string): BuildPlan {
  const parsed = parseDockerfile(text);
  const plan: BuildPlan = { escape: parsed.escape, metaArgs: [], stages: [], warnings: parsed.warnings };
  const names = new Set<string>();
  for (const node of parsed.nodes) {
    const instr = toInstruction(node, parsed.escape);
    if (instr.kind === 'from') {
      if (instr.stageName) {
        if (names.has(instr.stageName)) throw parseError(node.line, `duplicate name ${instr.stageName}`);
        names.add(instr.stageName);
      }
      plan.stages.push({ index: plan.stages.length, name: instr.stageName, from: instr, instructions: [] });
      continue;
    }
    const stage = plan.stages[plan.stages.length - 1];
    if (!stage) {
      if (instr.kind !== 'arg') throw parseError(node.line, `${node.keyword.toUpperCase()} instruction before FROM: no build stage in current context`);
      plan.metaArgs.push(instr);
      continue;
    }
    stage.instructions.push(instr);
  }
  if (parsed.nodes.length === 0) throw invalidPlan('the Dockerfile (Dockerfile) cannot be empty');
  if (plan.stages.length === 0) throw invalidPlan('no build stage in current context');
  return plan;
}

function invalidPlan(message: string): Error {
  return invalidArgument(message, 'BERTH_ERR_DOCKERFILE_PARSE');
}

/** One instruction from its text (an ONBUILD trigger of a base image, a LABEL the build options add). */
export function parseInstructionText(text: string, escape = '\\'): Instruction {
  const parsed = parseDockerfile(`# escape=${escape}\n${text}\n`);
  if (parsed.nodes.length !== 1) throw invalidArgument(`invalid instruction: ${text}`);
  const instr = toInstruction(parsed.nodes[0], escape);
  if (instr.kind === 'from') throw invalidArgument(`FROM isn't allowed as an ONBUILD trigger`);
  return instr;
}
