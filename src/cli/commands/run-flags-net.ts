/**
 * `run`/`create` flags for volumes, mounts, networks and ports, turned into the create body as the docker CLI
 * does (`-v /path` is an anonymous volume in Config.Volumes, `-p` expands ranges, `--network-alias`/`--ip` go to
 * the first network's EndpointsConfig); and `berth port`.
 */
import { StatusError } from '../errors';
import type { FlagSpec, FlagValues } from '../flags';
import type { CommandDef } from '../registry';

export const NET_VOLUME_FLAGS: FlagSpec[] = [
  { name: 'volume', short: 'v', kind: 'list', description: 'Bind mount a volume' },
  { name: 'mount', kind: 'list', valueName: 'mount', description: 'Attach a filesystem mount to the container' },
  { name: 'tmpfs', kind: 'list', description: 'Mount a tmpfs directory' },
  { name: 'volumes-from', kind: 'list', description: 'Mount volumes from the specified container(s)' },
  { name: 'read-only', kind: 'bool', description: "Mount the container's root filesystem as read only" },
  { name: 'network', kind: 'list', valueName: 'network', description: 'Connect a container to a network' },
  { name: 'net', kind: 'list', valueName: 'network', description: 'Connect a container to a network', hidden: true },
  { name: 'network-alias', kind: 'list', description: 'Add network-scoped alias for the container' },
  { name: 'ip', kind: 'string', description: 'IPv4 address (e.g., 172.30.100.104)' },
  { name: 'mac-address', kind: 'string', description: 'Container MAC address (e.g., 92:d0:c6:0a:29:33)' },
  { name: 'dns', kind: 'list', description: 'Set custom DNS servers' },
  { name: 'dns-search', kind: 'list', description: 'Set custom DNS search domains' },
  { name: 'dns-option', kind: 'list', description: 'Set DNS options' },
  { name: 'add-host', kind: 'list', description: 'Add a custom host-to-IP mapping (host:ip)' },
  { name: 'publish', short: 'p', kind: 'list', description: "Publish a container's port(s) to the host" },
  { name: 'publish-all', short: 'P', kind: 'bool', description: 'Publish all exposed ports to random ports' },
  { name: 'expose', kind: 'list', description: 'Expose a port or a range of ports' },
  { name: 'link', kind: 'list', description: 'Add link to another container' },
];

function usage(msg: string): StatusError {
  return new StatusError(125, `invalid argument: ${msg}\nSee 'berth run --help'.`);
}

function range(text: string): [number, number] {
  const [a, b] = text.split('-');
  const lo = Number(a);
  const hi = b === undefined ? lo : Number(b);
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 0 || hi < lo || hi > 65535) throw usage(`invalid range format for --publish: ${text}`);
  return [lo, hi];
}

/** `[ip:][hostPort:]containerPort[/proto]` → (port key, binding) pairs. */
export function parsePublish(spec: string): { key: string; hostIp: string; hostPort: string }[] {
  let rest = spec;
  let proto = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) { proto = rest.slice(slash + 1); rest = rest.slice(0, slash); }
  if (!['tcp', 'udp', 'sctp'].includes(proto)) throw usage(`invalid proto: ${proto}`);
  let hostIp = '';
  const bracket = /^\[([^\]]+)\]:(.*)$/.exec(rest);
  if (bracket) { hostIp = bracket[1]; rest = bracket[2]; }
  const parts = rest.split(':');
  if (!bracket && parts.length === 3) hostIp = parts.shift()!;
  if (parts.length > 2) throw usage(`invalid port format for --publish: ${spec}`);
  const container = parts.pop()!;
  const host = parts.pop() ?? '';
  if (!container) throw usage(`no port specified: ${spec}<empty>`);
  const [clo, chi] = range(container);
  if (clo === 0) throw usage(`invalid containerPort: ${container}`);
  const out: { key: string; hostIp: string; hostPort: string }[] = [];
  const [hlo, hhi] = host ? range(host) : [0, 0];
  if (host && chi > clo && hhi - hlo !== chi - clo) throw usage(`invalid ranges specified for container and host Ports: ${container} and ${host}`);
  for (let p = clo; p <= chi; p++) {
    let hostPort = '';
    if (host) hostPort = chi > clo ? String(hlo + (p - clo)) : hhi > hlo ? `${hlo}-${hhi}` : String(hlo);
    out.push({ key: `${p}/${proto}`, hostIp, hostPort });
  }
  return out;
}

function bytes(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)b?$/i.exec(text.trim());
  if (!m) throw usage(`invalid size: '${text}'`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.round(Number(m[1]) * mult);
}

/** `--mount type=…,source=…,target=…,readonly,…` → a HostConfig.Mounts entry. */
export function parseMount(spec: string): Record<string, unknown> {
  const m: Record<string, unknown> = { Type: 'volume' };
  const flag = (v: string | undefined) => v === undefined || ['1', 'true'].includes(v.toLowerCase());
  for (const field of spec.split(',')) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
    const val = eq < 0 ? undefined : field.slice(eq + 1);
    switch (key) {
      case 'type': m.Type = val; break;
      case 'source': case 'src': m.Source = val; break;
      case 'target': case 'destination': case 'dst': m.Target = val; break;
      case 'readonly': case 'ro': m.ReadOnly = flag(val); break;
      case 'bind-propagation': m.BindOptions = { ...(m.BindOptions as object), Propagation: val }; break;
      case 'volume-nocopy': m.VolumeOptions = { ...(m.VolumeOptions as object), NoCopy: flag(val) }; break;
      case 'volume-label': {
        const opts = (m.VolumeOptions ?? {}) as { Labels?: Record<string, string> };
        const [k, ...v] = (val ?? '').split('=');
        m.VolumeOptions = { ...opts, Labels: { ...opts.Labels, [k]: v.join('=') } };
        break;
      }
      case 'tmpfs-size': m.TmpfsOptions = { ...(m.TmpfsOptions as object), SizeBytes: bytes(val ?? '') }; break;
      case 'tmpfs-mode': m.TmpfsOptions = { ...(m.TmpfsOptions as object), Mode: parseInt(val ?? '', 8) }; break;
      default: throw usage(`invalid argument "${spec}" for "--mount" flag: unexpected key '${key}' in '${field}'`);
    }
  }
  return m;
}

/** Merge the flags above into a `POST /containers/create` body. */
export function applyNetVolumeFlags(f: FlagValues, body: Record<string, unknown>): void {
  const hc = (body.HostConfig ??= {}) as Record<string, unknown>;
  const volumes: Record<string, object> = {};
  const binds: string[] = [];
  for (const v of f.list('volume')) {
    if (v.includes(':')) binds.push(v);
    else volumes[v] = {};
  }
  if (binds.length) hc.Binds = binds;
  if (Object.keys(volumes).length) body.Volumes = volumes;
  if (f.list('mount').length) hc.Mounts = f.list('mount').map(parseMount);
  if (f.list('tmpfs').length) {
    hc.Tmpfs = Object.fromEntries(f.list('tmpfs').map((t) => { const i = t.indexOf(':'); return i < 0 ? [t, ''] : [t.slice(0, i), t.slice(i + 1)]; }));
  }
  if (f.list('volumes-from').length) hc.VolumesFrom = f.list('volumes-from');
  if (f.bool('read-only')) hc.ReadonlyRootfs = true;
  for (const [flag, key] of [['dns', 'Dns'], ['dns-search', 'DnsSearch'], ['dns-option', 'DnsOptions'], ['add-host', 'ExtraHosts']] as const) {
    if (f.list(flag).length) hc[key] = f.list(flag);
  }

  const networks = [...f.list('network'), ...f.list('net')];
  const mode = networks[0] ?? 'default';
  hc.NetworkMode = mode;
  const endpoints: Record<string, Record<string, unknown>> = {};
  for (const n of networks) if (!['host', 'none', 'bridge', 'default'].includes(n) && !n.startsWith('container:')) endpoints[n] = {};
  const first = (endpoints[mode] ??= {});
  if (f.list('network-alias').length) first.Aliases = f.list('network-alias');
  if (f.string('ip')) first.IPAMConfig = { IPv4Address: f.string('ip') };
  if (f.string('mac-address')) first.MacAddress = f.string('mac-address');
  for (const k of Object.keys(endpoints)) if (Object.keys(endpoints[k]).length === 0 && k === mode && ['default', 'bridge'].includes(k)) delete endpoints[k];
  if (Object.keys(endpoints).length) body.NetworkingConfig = { EndpointsConfig: endpoints };

  const exposed: Record<string, object> = {};
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const e of f.list('expose')) {
    const [ports, proto = 'tcp'] = e.split('/');
    const [lo, hi] = range(ports);
    for (let p = lo; p <= hi; p++) exposed[`${p}/${proto}`] = {};
  }
  for (const p of f.list('publish')) {
    for (const b of parsePublish(p)) {
      exposed[b.key] = {};
      (bindings[b.key] ??= []).push({ HostIp: b.hostIp, HostPort: b.hostPort });
    }
  }
  if (Object.keys(exposed).length) body.ExposedPorts = exposed;
  if (Object.keys(bindings).length) hc.PortBindings = bindings;
  if (f.bool('publish-all')) hc.PublishAllPorts = true;
  if (f.list('link').length) hc.Links = f.list('link');
}

interface PortsInspect { Name: string; NetworkSettings: { Ports: Record<string, { HostIp: string; HostPort: string }[] | null> | null } }

export const portCommand: CommandDef = {
  paths: [['container', 'port'], ['port']],
  usage: 'CONTAINER [PRIVATE_PORT[/PROTO]]',
  description: 'List port mappings or a specific mapping for the container',
  args: { min: 1, max: 2 },
  async run(ctx) {
    const client = await ctx.client();
    const info = await client.json<PortsInspect>({ path: `/containers/${encodeURIComponent(ctx.args[0])}/json` });
    const ports = info.NetworkSettings.Ports ?? {};
    const fmt = (b: { HostIp: string; HostPort: string }) => (b.HostIp.includes(':') ? `[${b.HostIp}]:${b.HostPort}` : `${b.HostIp}:${b.HostPort}`);
    if (ctx.args[1]) {
      const key = ctx.args[1].includes('/') ? ctx.args[1] : `${ctx.args[1]}/tcp`;
      const list = ports[key];
      if (!list?.length) throw new StatusError(1, `Error: No public port '${key}' published for ${ctx.args[0]}`);
      ctx.out(list.map((b) => `${fmt(b)}\n`).join(''));
      return;
    }
    const lines: string[] = [];
    for (const [key, list] of Object.entries(ports)) for (const b of list ?? []) lines.push(`${key} -> ${fmt(b)}`);
    ctx.out(lines.sort().map((l) => `${l}\n`).join(''));
  },
};

interface SummaryPort { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }

/** The PORTS column of `ps`: `127.0.0.1:8080->80/tcp, 443/tcp` (docker groups consecutive ports; berth lists them). */
export function displayPorts(ports: unknown[] | null | undefined): string {
  const list = (ports ?? []) as SummaryPort[];
  const text = list.map((p) => {
    if (!p.PublicPort) return { sort: `~${p.PrivatePort}`, s: `${p.PrivatePort}/${p.Type}` };
    const ip = p.IP?.includes(':') ? `[${p.IP}]` : p.IP ?? '0.0.0.0';
    return { sort: `${ip}:${String(p.PublicPort).padStart(5, '0')}`, s: `${ip}:${p.PublicPort}->${p.PrivatePort}/${p.Type}` };
  });
  return text.sort((a, b) => (a.sort < b.sort ? -1 : a.sort > b.sort ? 1 : 0)).map((t) => t.s).join(', ');
}
