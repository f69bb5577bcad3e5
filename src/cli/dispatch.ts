/**
 * The dispatcher: global flags, command lookup, per-command flags and argument checks, then run — and the one
 * place that turns failures into docker's messages and exit codes:
 *   flag errors 125; argument-count errors, unknown commands, daemon and connection errors 1;
 *   StatusError(code) its code; a cancelled prompt 0.
 */
import type { Readable, Writable } from 'node:stream';
import { ApiError, DaemonConnectError } from '../client/transport';
import { EngineClient } from '../client/engine-client';
import { CliConfig, defaultConfigDir } from './config-file';
import { ArgsError, CancelledError, FlagError, UsageStatusError } from './errors';
import { parseFlags } from './flags';
import { commandHelp, GLOBAL_FLAGS, groupHelp, PROG, rootHelp, usageHint, usageLine } from './help';
import { JsonStreamError } from './progress';
import type { ArgsRule, CommandContext, CommandDef, CommandRegistry } from './registry';
import { CLI_VERSION } from './version-info';

export const DEFAULT_HOST = 'unix:///run/berth/berth.sock';

export interface CliIo {
  stdin: Readable & { isTTY?: boolean; fd?: number };
  stdout: Writable & { isTTY?: boolean; columns?: number; fd?: number };
  stderr: Writable & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

function checkArgs(rule: ArgsRule | undefined, n: number, path: string): void {
  if (!rule) return;
  const { min, max } = rule;
  const plural = (k: number) => `${k} argument${k === 1 ? '' : 's'}`;
  const name = `'${PROG} ${path}'`;
  if (min !== undefined && max !== undefined && min === max) {
    if (n !== min) {
      if (min === 0) throw new ArgsError(`${PROG}: ${name} accepts no arguments`);
      throw new ArgsError(`${PROG}: ${name} requires ${plural(min)}`);
    }
    return;
  }
  if (min !== undefined && n < min) throw new ArgsError(`${PROG}: ${name} requires at least ${plural(min)}`, 'See');
  if (max !== undefined && n > max) {
    if (max === 0) throw new ArgsError(`${PROG}: ${name} accepts no arguments`);
    throw new ArgsError(`${PROG}: ${name} requires at most ${plural(max)}`);
  }
}

/** Run the CLI with `argv` (without node and script). Resolves with the exit code. */
export async function runCli(argv: string[], registry: CommandRegistry, io: CliIo): Promise<number> {
  const out = (s: string) => { io.stdout.write(s); };
  const err = (s: string) => { io.stderr.write(s); };
  const cols = io.stdout.isTTY && io.stdout.columns ? io.stdout.columns - 1 : 79;

  let global;
  try {
    global = parseFlags(argv, GLOBAL_FLAGS, { interspersed: false });
  } catch (e) {
    if (e instanceof FlagError) {
      err(`${e.message}\n${usageHint(`${PROG} [OPTIONS] COMMAND [ARG...]`, '')}`);
      return 125;
    }
    throw e;
  }
  const g = global.flags;
  if (g.bool('version')) {
    out(`${PROG} version ${CLI_VERSION}\n`);
    return 0;
  }
  let words = global.args;
  if (g.bool('help') || words.length === 0) {
    out(rootHelp(registry, cols));
    return 0;
  }
  if (words[0] === 'help') {
    if (words.length === 1) {
      out(rootHelp(registry, cols));
      return 0;
    }
    const grp = registry.group(words[1]);
    if (grp && words.length === 2) {
      out(groupHelp(grp, registry));
      return 0;
    }
    const found = registry.find(words.slice(1));
    if (!found) {
      err(`unknown help topic: ${words.slice(1).join(' ')}\n`);
      return 1;
    }
    out(commandHelp(found.def, found.path, cols));
    return 0;
  }

  const hosts = g.list('host');
  const host = hosts[hosts.length - 1] || io.env.BERTH_HOST || io.env.DOCKER_HOST || DEFAULT_HOST;
  const configDir = g.string('config') || defaultConfigDir(io.env);
  const globals = { host, configDir, debug: g.bool('debug'), logLevel: g.string('log-level') || 'info' };

  const group = registry.group(words[0]);
  if (group && (words.length === 1 || words[1] === '--help' || words[1] === '-h')) {
    if (words.length === 1) err(groupHelp(group, registry));
    else out(groupHelp(group, registry));
    return 0;
  }
  const found = registry.find(words);
  if (!found) {
    if (group) {
      err(`${PROG}: unknown command: ${PROG} ${words[0]} ${words[1]}\n\nUsage:  ${PROG} ${group.name}\n\nRun '${PROG} ${group.name} --help' for more information\n`);
    } else {
      err(`${PROG}: unknown command: ${PROG} ${words[0]}\n\nRun '${PROG} --help' for more information\n`);
    }
    return 1;
  }
  const { def, path } = found;
  const pathText = path.join(' ');
  words = words.slice(path.length);

  let parsed;
  try {
    parsed = parseFlags(words, def.flags ?? [], { interspersed: def.interspersed });
  } catch (e) {
    if (e instanceof FlagError) {
      err(`${e.message}\n${usageHint(usageLine(def, path), pathText)}`);
      return 125;
    }
    throw e;
  }
  if (parsed.flags.bool('help')) {
    if (words.includes('-h')) err('Flag shorthand -h has been deprecated, use --help\n');
    out(commandHelp(def, path, cols));
    return 0;
  }

  let client: EngineClient | undefined;
  let config: CliConfig | undefined;
  const ctx: CommandContext = {
    args: parsed.args,
    flags: parsed.flags,
    commandPath: `${PROG} ${pathText}`,
    client: async () => (client ??= await new EngineClient(host, `berth-cli/${CLI_VERSION}`).connect()),
    stdin: io.stdin,
    stdout: io.stdout,
    stderr: io.stderr,
    out,
    err,
    config: () => (config ??= CliConfig.load(configDir, io.env)),
    globals,
  };

  try {
    checkArgs(def.args, parsed.args.length, pathText);
    const code = await def.run(ctx);
    return code ?? 0;
  } catch (e) {
    return reportError(e, def, path, err);
  }
}

function reportError(e: unknown, def: CommandDef, path: string[], err: (s: string) => void): number {
  if (e instanceof ArgsError) {
    err(`${e.message}\n${usageHint(usageLine(def, path), path.join(' '), e.hintVerb)}`);
    return 1;
  }
  if (e instanceof CancelledError) return 0;
  if (e instanceof UsageStatusError) {
    if (e.message) err(`${e.message}\n`);
    return e.status;
  }
  if (e instanceof ApiError) {
    err(`Error response from daemon: ${e.message}\n`);
    return 1;
  }
  if (e instanceof DaemonConnectError || e instanceof JsonStreamError) {
    err(`${e.message}\n`);
    return 1;
  }
  err(`${e instanceof Error ? e.message : String(e)}\n`);
  return 1;
}
