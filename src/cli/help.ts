/** Help and usage texts in the layout of docker's cobra templates. */
import { flagUsages, type FlagSpec } from './flags';
import type { CommandDef, CommandRegistry, ManagementGroup } from './registry';

export const PROG = 'berth';

export const GLOBAL_FLAGS: FlagSpec[] = [
  { name: 'config', kind: 'string', description: 'Location of client config files', valueName: 'string' },
  { name: 'context', short: 'c', kind: 'string', description: 'Name of the context to use to connect to the daemon (overrides BERTH_HOST and DOCKER_HOST env vars)', hidden: true },
  { name: 'debug', short: 'D', kind: 'bool', description: 'Enable debug mode' },
  { name: 'host', short: 'H', kind: 'list', description: 'Daemon socket to connect to' },
  { name: 'log-level', short: 'l', kind: 'string', description: 'Set the logging level ("debug", "info", "warn", "error", "fatal")', default: 'info' },
  { name: 'tls', kind: 'bool', description: 'Use TLS; implied by --tlsverify', hidden: true },
  { name: 'tlsverify', kind: 'bool', description: 'Use TLS and verify the remote', hidden: true },
  { name: 'tlscacert', kind: 'string', description: 'Trust certs signed only by this CA', hidden: true },
  { name: 'tlscert', kind: 'string', description: 'Path to TLS certificate file', hidden: true },
  { name: 'tlskey', kind: 'string', description: 'Path to TLS key file', hidden: true },
  { name: 'version', short: 'v', kind: 'bool', description: 'Print version information and quit' },
];

export function usageLine(def: CommandDef, path: string[]): string {
  return `${PROG} ${path.join(' ')}${def.usage ? ' ' + def.usage : ''}`;
}

/** `berth images --help` */
export function commandHelp(def: CommandDef, path: string[], cols = 79): string {
  let s = `Usage:  ${usageLine(def, path)}\n\n${def.description}\n`;
  if (def.paths.length > 1) s += `\nAliases:\n  ${def.paths.map((p) => `${PROG} ${p.join(' ')}`).join(', ')}\n`;
  const visible = (def.flags ?? []).filter((f) => !f.hidden);
  if (visible.length > 0) s += `\nOptions:\n${flagUsages(visible, cols)}`;
  return s;
}

function commandList(items: { name: string; description: string }[]): string {
  const width = Math.max(11, ...items.map((i) => i.name.length + 1));
  return items.map((i) => `  ${i.name.padEnd(width)} ${i.description}\n`).join('');
}

/** `berth image` / `berth image --help` */
export function groupHelp(group: ManagementGroup, reg: CommandRegistry): string {
  const subs = reg.subcommands(group.name).map((x) => ({ name: x.name, description: x.def.description }));
  return `Usage:  ${PROG} ${group.name} COMMAND\n\n${group.description}\n\nCommands:\n${commandList(subs)}\nRun '${PROG} ${group.name} COMMAND --help' for more information on a command.\n`;
}

/** docker's order of "Common Commands" */
const COMMON_ORDER = ['run', 'exec', 'ps', 'build', 'pull', 'push', 'images', 'login', 'logout', 'search', 'version', 'info'];

/** `berth --help` */
export function rootHelp(reg: CommandRegistry, cols = 79): string {
  const top = reg.topLevel();
  const rank = (n: string) => (COMMON_ORDER.includes(n) ? COMMON_ORDER.indexOf(n) : COMMON_ORDER.length);
  const common = top.filter((t) => t.def.category === 'common').sort((a, b) => rank(a.name) - rank(b.name)).map((t) => ({ name: t.name, description: t.def.description }));
  const other = top.filter((t) => t.def.category !== 'common').map((t) => ({ name: t.name, description: t.def.description }));
  const groups = [...reg.groups].sort((a, b) => a.name.localeCompare(b.name)).map((g) => ({ name: g.name, description: g.description }));
  let s = `Usage:  ${PROG} [OPTIONS] COMMAND\n\nA Docker-compatible container engine\n\n`;
  if (common.length) s += `Common Commands:\n${commandList(common)}\n`;
  if (groups.length) s += `Management Commands:\n${commandList(groups)}\n`;
  if (other.length) s += `Commands:\n${commandList(other)}\n`;
  s += `Global Options:\n${flagUsages(GLOBAL_FLAGS, cols)}\n`;
  s += `Run '${PROG} COMMAND --help' for more information on a command.\n`;
  return s;
}

/** The tail docker prints after a usage error: usage line and where to get help. */
export function usageHint(usage: string, helpPath: string, verb: 'See' | 'Run' = 'Run'): string {
  return `\nUsage:  ${usage}\n\n${verb} '${PROG}${helpPath ? ' ' + helpPath : ''} --help' for more information\n`;
}
