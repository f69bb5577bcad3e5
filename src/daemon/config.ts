import { readFile } from 'node:fs/promises';
import { invalidArgument } from '../errors';
import { isLogLevel, type LogLevel } from '../util/logger';

/** berthd's settings: flags follow dockerd's; `--config-file` takes daemon.json keys. Flags win over the file. */
export interface DaemonConfig {
  hosts: string[];
  dataRoot: string;
  execRoot: string;
  defaultRuntime: 'runc' | 'crun';
  insecureRegistries: string[];
  registryMirrors: string[];
  registryMirrorOnly: boolean;
  bip?: string;
  /** interface name of the default bridge network (default berth0) */
  bridge?: string;
  logLevel: LogLevel;
  debug: boolean;
  group?: string;
  pidfile?: string;
}

export const DEFAULT_SOCKET = 'unix:///run/berth/berth.sock';

export const DAEMON_USAGE = `Usage:	berthd [OPTIONS]

A Docker-compatible container engine daemon

Options:
      --bip string                   Bridge IP of the default network (CIDR)
  -b, --bridge string                Interface name of the default bridge network (default "berth0")
      --config-file string           Daemon configuration file (daemon.json keys) (default "/etc/berth/daemon.json")
      --data-root string             Root directory of persistent state (default "/var/lib/berth")
  -D, --debug                        Enable debug mode
      --default-runtime string       Default OCI runtime for containers: runc or crun (default "runc")
      --exec-root string             Root directory for execution state files (default "/run/berth")
  -G, --group string                 Group for the unix socket (default "berth" when it exists)
  -H, --host list                    Daemon socket(s) to connect to (default unix:///run/berth/berth.sock)
      --insecure-registry list       Registries reached over plain HTTP (HOST:PORT or CIDR)
  -l, --log-level string             Set the logging level ("debug"|"info"|"warn"|"error"|"fatal") (default "info")
  -p, --pidfile string               Path to use for daemon PID file
      --registry-mirror list         Preferred registry mirror for docker.io images
      --registry-mirror-only         Pull docker.io images only through the mirrors (no fallback to Docker Hub)
  -v, --version                      Print version information and quit
  -h, --help                         Print usage
`;

type FlagKind = 'string' | 'list' | 'bool';
const FLAGS: Record<string, { key: string; kind: FlagKind }> = {
  '-H': { key: 'hosts', kind: 'list' },
  '--host': { key: 'hosts', kind: 'list' },
  '--data-root': { key: 'data-root', kind: 'string' },
  '--exec-root': { key: 'exec-root', kind: 'string' },
  '--default-runtime': { key: 'default-runtime', kind: 'string' },
  '--insecure-registry': { key: 'insecure-registries', kind: 'list' },
  '--registry-mirror': { key: 'registry-mirrors', kind: 'list' },
  '--registry-mirror-only': { key: 'registry-mirror-only', kind: 'bool' },
  '--bip': { key: 'bip', kind: 'string' },
  '-b': { key: 'bridge', kind: 'string' },
  '--bridge': { key: 'bridge', kind: 'string' },
  '-l': { key: 'log-level', kind: 'string' },
  '--log-level': { key: 'log-level', kind: 'string' },
  '-D': { key: 'debug', kind: 'bool' },
  '--debug': { key: 'debug', kind: 'bool' },
  '-G': { key: 'group', kind: 'string' },
  '--group': { key: 'group', kind: 'string' },
  '-p': { key: 'pidfile', kind: 'string' },
  '--pidfile': { key: 'pidfile', kind: 'string' },
  '--config-file': { key: 'config-file', kind: 'string' },
};

export type ParsedArgs = { action: 'run'; values: Record<string, unknown> } | { action: 'help' | 'version' };

export function parseDaemonArgs(argv: string[]): ParsedArgs {
  const values: Record<string, unknown> = {};
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    if (arg === '-h' || arg === '--help') return { action: 'help' };
    if (arg === '-v' || arg === '--version') return { action: 'version' };
    let inline: string | undefined;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      inline = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const flag = FLAGS[arg];
    if (!flag) throw invalidArgument(`unknown flag: ${arg}`);
    if (flag.kind === 'bool') {
      values[flag.key] = inline === undefined ? true : inline !== 'false';
      continue;
    }
    const v = inline ?? argv[++i];
    if (v === undefined) throw invalidArgument(`flag needs an argument: ${arg}`);
    if (flag.kind === 'list') values[flag.key] = [...((values[flag.key] as string[]) ?? []), v];
    else values[flag.key] = v;
  }
  return { action: 'run', values };
}

async function readConfigFile(path: string, explicit: boolean): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (!explicit && (err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw invalidArgument(`unable to read config file ${path}: ${(err as Error).message}`);
  }
  try {
    const parsed = JSON.parse(text);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a JSON object');
    return parsed as Record<string, unknown>;
  } catch (err) {
    throw invalidArgument(`unable to parse config file ${path}: ${(err as Error).message}`);
  }
}

const strList = (v: unknown, key: string): string[] => {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw invalidArgument(`config key "${key}" must be a list of strings`);
  return v as string[];
};

export async function resolveConfig(values: Record<string, unknown>): Promise<DaemonConfig> {
  const file = (values['config-file'] as string | undefined) ?? '/etc/berth/daemon.json';
  const fromFile = await readConfigFile(file, values['config-file'] !== undefined);
  const pick = (k: string) => values[k] ?? fromFile[k];
  const logLevel = String(pick('log-level') ?? (pick('debug') ? 'debug' : 'info'));
  if (!isLogLevel(logLevel)) throw invalidArgument(`unable to parse logging level: ${logLevel}`);
  const runtime = String(pick('default-runtime') ?? 'runc');
  if (runtime !== 'runc' && runtime !== 'crun') throw invalidArgument(`default runtime ${runtime} is not one of runc, crun`);
  const hosts = strList(pick('hosts'), 'hosts');
  for (const h of hosts) {
    if (!h.startsWith('unix://')) throw invalidArgument(`only unix:// hosts are supported without TLS settings: ${h}`);
  }
  const mirrors = strList(pick('registry-mirrors'), 'registry-mirrors');
  for (const m of mirrors) {
    if (!/^https?:\/\/[^/]+/.test(m)) throw invalidArgument(`invalid mirror: "${m}" does not start with http:// or https://`);
  }
  return {
    hosts: hosts.length ? hosts : [DEFAULT_SOCKET],
    dataRoot: String(pick('data-root') ?? '/var/lib/berth'),
    execRoot: String(pick('exec-root') ?? '/run/berth'),
    defaultRuntime: runtime,
    insecureRegistries: strList(pick('insecure-registries'), 'insecure-registries'),
    registryMirrors: mirrors,
    registryMirrorOnly: Boolean(pick('registry-mirror-only')),
    bip: pick('bip') as string | undefined,
    bridge: pick('bridge') as string | undefined,
    logLevel,
    debug: Boolean(pick('debug')),
    group: pick('group') as string | undefined,
    pidfile: pick('pidfile') as string | undefined,
  };
}
