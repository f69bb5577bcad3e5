/** `berth network create|ls|inspect|rm|prune|connect|disconnect` with docker's flags, columns and messages. */
import { ApiError } from '../../client/transport';
import { filtersFromFlags } from '../../client/types';
import { StatusError } from '../errors';
import { formatterRow, renderRows } from '../formatter';
import type { CommandContext, CommandDef, ManagementGroup } from '../registry';
import { truncateId } from '../units';
import { confirmOrCancel, filterFlag, inspectFormatFlag, listFormatFlag, pruneForceFlag } from './common';
import { inspectWithFormat, registerInspector } from './inspect';
import { joinLabels, keyValues } from './volumes';

export const networkGroups: ManagementGroup[] = [{ name: 'network', description: 'Manage networks' }];

interface Network {
  Name: string;
  Id: string;
  Created: string;
  Scope: string;
  Driver: string;
  EnableIPv4?: boolean;
  EnableIPv6: boolean;
  Internal: boolean;
  Labels: Record<string, string> | null;
}

const NETWORK_TABLE = 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}';
const NETWORK_HEADER = {
  ID: 'NETWORK ID', Name: 'NAME', Driver: 'DRIVER', Scope: 'SCOPE', IPv4: 'IPV4', IPv6: 'IPV6', Internal: 'INTERNAL', Labels: 'LABELS', CreatedAt: 'CREATED AT',
};

/** Go's time.Time String() of an RFC 3339 UTC time: fractional seconds with trailing zeros dropped. */
function goTime(rfc3339: string): string {
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(rfc3339);
  if (!m) return new Date(rfc3339).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' +0000 UTC');
  const frac = (m[3] ?? '').replace(/0+$/, '');
  return `${m[1]} ${m[2]}${frac ? `.${frac}` : ''} +0000 UTC`;
}

function networkRow(n: Network, trunc: boolean): Record<string, unknown> {
  const created = new Date(n.Created);
  return formatterRow({
    ID: trunc ? truncateId(n.Id) : n.Id, Name: n.Name, Driver: n.Driver, Scope: n.Scope, IPv4: String(n.EnableIPv4 ?? true), IPv6: String(n.EnableIPv6),
    Internal: String(n.Internal), Labels: joinLabels(n.Labels),
    CreatedAt: Number.isNaN(created.getTime()) ? n.Created : goTime(n.Created),
  }, '*formatter.networkContext');
}

async function inspectNetwork(ctx: CommandContext, name: string): Promise<Record<string, unknown>> {
  const client = await ctx.client();
  return client.json<Record<string, unknown>>({ path: `/networks/${encodeURIComponent(name)}`, query: { verbose: ctx.flags.bool('verbose') } });
}

registerInspector({
  type: 'network',
  order: 20,
  async inspect(ctx, name) {
    try {
      return await inspectNetwork(ctx, name);
    } catch (err) {
      if (err instanceof ApiError && err.statusCode === 404) return undefined;
      throw err;
    }
  },
});

/** docker's IPAM config from --subnet/--gateway/--ip-range/--aux-address: each gateway/range goes with the subnet containing it. */
export function ipamConfig(subnets: string[], gateways: string[], ranges: string[], aux: Record<string, string>): Record<string, unknown>[] {
  if (subnets.length === 0 && (gateways.length > 0 || ranges.length > 0 || Object.keys(aux).length > 0)) {
    throw new StatusError(1, 'every ip-range or gateway must have a corresponding subnet');
  }
  const toNum = (ip: string) => ip.split('.').reduce((a, b) => a * 256 + Number(b), 0);
  const contains = (cidr: string, ip: string) => {
    const [base, bits] = cidr.split('/');
    if (!base.includes('.') || !ip.includes('.')) return false;
    const size = 2 ** (32 - Number(bits));
    return Math.floor(toNum(ip) / size) === Math.floor(toNum(base) / size);
  };
  const configs = subnets.map((s) => ({ Subnet: s, IPRange: '', Gateway: '', AuxiliaryAddresses: {} as Record<string, string> }));
  for (const r of ranges) {
    const c = configs.find((x) => contains(x.Subnet, r.split('/')[0]));
    if (!c) throw new StatusError(1, `no matching subnet for range ${r}`);
    if (c.IPRange) throw new StatusError(1, `cannot configure multiple ranges (${r}, ${c.IPRange}) on the same subnet (${c.Subnet})`);
    c.IPRange = r;
  }
  for (const g of gateways) {
    const c = configs.find((x) => contains(x.Subnet, g));
    if (!c) throw new StatusError(1, `no matching subnet for gateway ${g}`);
    if (c.Gateway) throw new StatusError(1, `cannot configure multiple gateways (${g}, ${c.Gateway}) for the same subnet (${c.Subnet})`);
    c.Gateway = g;
  }
  for (const [k, ip] of Object.entries(aux)) {
    const c = configs.find((x) => contains(x.Subnet, ip));
    if (!c) throw new StatusError(1, `no matching subnet for aux-address ${ip}`);
    c.AuxiliaryAddresses[k] = ip;
  }
  return configs.map((c) => Object.fromEntries(Object.entries(c).filter(([, v]) => v !== '' && !(typeof v === 'object' && Object.keys(v).length === 0))));
}

const createNetwork: CommandDef = {
  paths: [['network', 'create']],
  usage: '[OPTIONS] NETWORK',
  description: 'Create a network',
  args: { min: 1, max: 1 },
  flags: [
    { name: 'attachable', kind: 'bool', description: 'Enable manual container attachment' },
    { name: 'aux-address', kind: 'list', valueName: 'map', default: 'map[]', description: 'Auxiliary IPv4 or IPv6 addresses used by Network driver' },
    { name: 'config-from', kind: 'string', description: 'The network from which to copy the configuration' },
    { name: 'config-only', kind: 'bool', description: 'Create a configuration only network' },
    { name: 'driver', short: 'd', kind: 'string', default: 'bridge', description: 'Driver to manage the Network' },
    { name: 'gateway', kind: 'strings', description: 'IPv4 or IPv6 Gateway for the master subnet' },
    { name: 'ingress', kind: 'bool', description: 'Create swarm routing-mesh network' },
    { name: 'internal', kind: 'bool', description: 'Restrict external access to the network' },
    { name: 'ip-range', kind: 'strings', description: 'Allocate container ip from a sub-range' },
    { name: 'ipam-driver', kind: 'string', default: 'default', description: 'IP Address Management Driver' },
    { name: 'ipam-opt', kind: 'list', valueName: 'map', default: 'map[]', description: 'Set IPAM driver specific options' },
    { name: 'ipv4', kind: 'bool', default: true, description: 'Enable or disable IPv4 address assignment' },
    { name: 'ipv6', kind: 'bool', description: 'Enable or disable IPv6 address assignment' },
    { name: 'label', kind: 'list', description: 'Set metadata on a network' },
    { name: 'opt', short: 'o', kind: 'list', valueName: 'map', default: 'map[]', description: 'Set driver specific options' },
    { name: 'scope', kind: 'string', description: "Control the network's scope" },
    { name: 'subnet', kind: 'strings', description: 'Subnet in CIDR format that represents a network segment' },
  ],
  async run(ctx) {
    const f = ctx.flags;
    const config = ipamConfig(f.list('subnet'), f.list('gateway'), f.list('ip-range'), keyValues(f.list('aux-address')));
    const client = await ctx.client();
    const res = await client.json<{ Id: string; Warning?: string }>({
      method: 'POST', path: '/networks/create',
      body: {
        Name: ctx.args[0], Driver: f.string('driver') || 'bridge', Scope: f.string('scope') || undefined,
        EnableIPv4: f.isSet('ipv4') ? f.bool('ipv4') : undefined, EnableIPv6: f.isSet('ipv6') ? f.bool('ipv6') : undefined,
        IPAM: { Driver: f.string('ipam-driver') || 'default', Config: config, Options: keyValues(f.list('ipam-opt')) },
        Internal: f.bool('internal'), Attachable: f.bool('attachable'), Ingress: f.bool('ingress'), ConfigOnly: f.bool('config-only'),
        ConfigFrom: f.string('config-from') ? { Network: f.string('config-from') } : undefined,
        Options: keyValues(f.list('opt')), Labels: keyValues(f.list('label')),
      },
    });
    if (res.Warning) ctx.err(`${res.Warning}\n`);
    ctx.out(`${res.Id}\n`);
  },
};

const listNetworks: CommandDef = {
  paths: [['network', 'ls'], ['network', 'list']],
  usage: '[OPTIONS]',
  description: 'List networks',
  args: { max: 0 },
  flags: [
    filterFlag('Provide filter values (e.g. "driver=bridge")'),
    listFormatFlag,
    { name: 'no-trunc', kind: 'bool', description: 'Do not truncate the output' },
    { name: 'quiet', short: 'q', kind: 'bool', description: 'Only display network IDs' },
  ],
  async run(ctx) {
    const client = await ctx.client();
    const filters = filtersFromFlags(ctx.flags.list('filter'));
    const list = await client.json<Network[]>({ path: '/networks', query: { filters: Object.keys(filters).length ? JSON.stringify(filters) : undefined } });
    const networks = [...list].sort((a, b) => a.Name.localeCompare(b.Name, undefined, { numeric: true }));
    let source = ctx.flags.string('format');
    if (!source) source = ctx.flags.bool('quiet') ? 'table' : (ctx.config().file.networksFormat as string | undefined) || 'table';
    const format = source === 'table' ? (ctx.flags.bool('quiet') ? '{{.ID}}' : NETWORK_TABLE) : source;
    ctx.out(renderRows(format, networks.map((n) => networkRow(n, !ctx.flags.bool('no-trunc'))), NETWORK_HEADER));
  },
};

const inspectNetworks: CommandDef = {
  paths: [['network', 'inspect']],
  usage: '[OPTIONS] NETWORK [NETWORK...]',
  description: 'Display detailed information on one or more networks',
  args: { min: 1 },
  flags: [inspectFormatFlag, { name: 'verbose', short: 'v', kind: 'bool', description: 'Verbose output for diagnostics' }],
  run: (ctx) => inspectWithFormat(ctx, ctx.args, (name) => inspectNetwork(ctx, name)),
};

const removeNetworks: CommandDef = {
  paths: [['network', 'rm'], ['network', 'remove']],
  usage: 'NETWORK [NETWORK...]',
  description: 'Remove one or more networks',
  args: { min: 1 },
  flags: [{ name: 'force', short: 'f', kind: 'bool', description: 'Do not error if the network does not exist' }],
  async run(ctx) {
    const client = await ctx.client();
    let failed = false;
    for (const name of ctx.args) {
      try {
        await client.transport.discard({ method: 'DELETE', path: `/networks/${encodeURIComponent(name)}` });
        ctx.out(`${name}\n`);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        if (ctx.flags.bool('force') && err.statusCode === 404) continue;
        ctx.err(`Error response from daemon: ${err.message}\n`);
        failed = true;
      }
    }
    // docker's network rm reports each error as it goes, then fails with this status text
    if (failed) throw new StatusError(1, 'exit status 1');
  },
};

const PRUNE_WARNING = 'WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?';

const pruneNetworks: CommandDef = {
  paths: [['network', 'prune']],
  usage: '[OPTIONS]',
  description: 'Remove all unused networks',
  args: { max: 0 },
  flags: [
    { name: 'filter', kind: 'filter', description: 'Provide filter values (e.g. "until=<timestamp>")' },
    pruneForceFlag,
  ],
  async run(ctx) {
    const filters = filtersFromFlags(ctx.flags.list('filter'));
    if (!ctx.flags.bool('force')) await confirmOrCancel(ctx, PRUNE_WARNING);
    const client = await ctx.client();
    const report = await client.json<{ NetworksDeleted: string[] | null }>({
      method: 'POST', path: '/networks/prune', query: { filters: Object.keys(filters).length ? JSON.stringify(filters) : undefined },
    });
    const deleted = report.NetworksDeleted ?? [];
    if (deleted.length > 0) ctx.out(`Deleted Networks:\n${deleted.map((d) => `${d}\n`).join('')}`);
  },
};

const connectNetwork: CommandDef = {
  paths: [['network', 'connect']],
  usage: '[OPTIONS] NETWORK CONTAINER',
  description: 'Connect a container to a network',
  args: { min: 2, max: 2 },
  flags: [
    { name: 'alias', kind: 'strings', description: 'Add network-scoped alias for the container' },
    { name: 'driver-opt', kind: 'strings', description: 'driver options for the network' },
    { name: 'gw-priority', kind: 'int', description: 'Highest gw-priority provides the default gateway. Accepts positive and negative values.' },
    { name: 'ip', kind: 'string', description: 'IPv4 address (e.g., "172.30.100.104")' },
    { name: 'ip6', kind: 'string', description: 'IPv6 address (e.g., "2001:db8::33")' },
    { name: 'link', kind: 'list', description: 'Add link to another container' },
    { name: 'link-local-ip', kind: 'strings', description: 'Add a link-local address for the container' },
  ],
  async run(ctx) {
    const f = ctx.flags;
    const client = await ctx.client();
    const ipam = f.string('ip') || f.string('ip6') ? { IPv4Address: f.string('ip') || undefined, IPv6Address: f.string('ip6') || undefined } : undefined;
    await client.transport.discard({
      method: 'POST', path: `/networks/${encodeURIComponent(ctx.args[0])}/connect`,
      body: {
        Container: ctx.args[1],
        EndpointConfig: { Aliases: f.list('alias'), IPAMConfig: ipam, Links: f.list('link'), DriverOpts: keyValues(f.list('driver-opt')), GwPriority: f.int('gw-priority') },
      },
    });
  },
};

const disconnectNetwork: CommandDef = {
  paths: [['network', 'disconnect']],
  usage: '[OPTIONS] NETWORK CONTAINER',
  description: 'Disconnect a container from a network',
  args: { min: 2, max: 2 },
  flags: [{ name: 'force', short: 'f', kind: 'bool', description: 'Force the container to disconnect from a network' }],
  async run(ctx) {
    const client = await ctx.client();
    await client.transport.discard({
      method: 'POST', path: `/networks/${encodeURIComponent(ctx.args[0])}/disconnect`,
      body: { Container: ctx.args[1], Force: ctx.flags.bool('force') },
    });
  },
};

export const networkCommands: CommandDef[] = [
  createNetwork, listNetworks, inspectNetworks, removeNetworks, pruneNetworks, connectNetwork, disconnectNetwork,
];
