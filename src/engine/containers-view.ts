import { invalidArgument } from '../errors';
import { processArgs } from './containers-config';
import type { ContainerRecord, ContainerStatus } from './containers-store';

/** go-units HumanDuration, which `docker ps` status strings use. */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const m = Math.floor(s / 60);
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.floor(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.floor(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24 / 30)} months`;
  return `${Math.floor(h / 24 / 365)} years`;
}

/** The `Status` column: "Up 5 seconds", "Exited (0) 3 minutes ago", "Created". */
export function statusText(c: ContainerRecord, now = Date.now()): string {
  const s = c.state;
  switch (s.status) {
    case 'running': return `Up ${humanDuration(now - Date.parse(s.startedAt))}`;
    case 'paused': return `Up ${humanDuration(now - Date.parse(s.startedAt))} (Paused)`;
    case 'restarting': return `Restarting (${s.exitCode}) ${humanDuration(now - Date.parse(s.finishedAt))} ago`;
    case 'removing': return 'Removal In Progress';
    case 'dead': return 'Dead';
    case 'exited': return `Exited (${s.exitCode}) ${humanDuration(now - Date.parse(s.finishedAt))} ago`;
    default: return 'Created';
  }
}

function networkSettings(c: ContainerRecord): Record<string, unknown> {
  return {
    Bridge: '', SandboxID: '', SandboxKey: '', HairpinMode: false, LinkLocalIPv6Address: '', LinkLocalIPv6PrefixLen: 0,
    Ports: {}, SecondaryIPAddresses: null, SecondaryIPv6Addresses: null, EndpointID: '', Gateway: '',
    GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0, IPAddress: '', IPPrefixLen: 0, IPv6Gateway: '', MacAddress: '',
    Networks: {},
    ...c.networkSettings,
  };
}

/** GET /containers/{id}/json — dockerd's ContainerJSON. */
export function inspectView(c: ContainerRecord, paths: { containerDir: string; logPath: string; graphDriver: Record<string, string> }) {
  const args = processArgs(c.config);
  const s = c.state;
  return {
    Id: c.id,
    Created: c.created,
    Path: args[0] ?? '',
    Args: args.slice(1),
    State: {
      Status: s.status,
      Running: s.status === 'running' || s.status === 'paused',
      Paused: s.status === 'paused',
      Restarting: s.status === 'restarting',
      OOMKilled: s.oomKilled,
      Dead: s.status === 'dead',
      Pid: s.pid,
      ExitCode: s.exitCode,
      Error: s.error,
      StartedAt: s.startedAt,
      FinishedAt: s.finishedAt,
    },
    Image: c.imageId,
    ResolvConfPath: `${paths.containerDir}/resolv.conf`,
    HostnamePath: `${paths.containerDir}/hostname`,
    HostsPath: `${paths.containerDir}/hosts`,
    LogPath: paths.logPath,
    Name: `/${c.name}`,
    RestartCount: c.restartCount,
    Driver: 'overlay2',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: null,
    HostConfig: c.hostConfig,
    GraphDriver: { Name: 'overlay2', Data: paths.graphDriver },
    Mounts: byDestination(c.mounts),
    Config: c.config,
    NetworkSettings: networkSettings(c),
  };
}

/** dockerd lists a container's mounts in the order of their paths in the container. */
function byDestination<T>(mounts: T[]): T[] {
  const dest = (m: T) => String((m as { Destination?: string }).Destination ?? '');
  return [...mounts].sort((a, b) => (dest(a) < dest(b) ? -1 : dest(a) > dest(b) ? 1 : 0));
}

/** One entry of GET /containers/json. */
export function summaryView(c: ContainerRecord, imageName: string, now = Date.now()) {
  const args = processArgs(c.config);
  const ns = networkSettings(c);
  return {
    Id: c.id,
    Names: [`/${c.name}`],
    Image: imageName,
    ImageID: c.imageId,
    Command: args.map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' ') || '',
    Created: Math.floor(Date.parse(c.created) / 1000),
    Ports: [],
    Labels: c.config.Labels ?? {},
    State: c.state.status,
    Status: statusText(c, now),
    HostConfig: { NetworkMode: c.hostConfig.NetworkMode },
    NetworkSettings: { Networks: ns.Networks },
    Mounts: byDestination(c.mounts),
  };
}

export const LIST_FILTERS = ['status', 'name', 'id', 'label', 'ancestor', 'exited', 'before', 'since', 'health', 'network', 'volume', 'publish', 'expose'] as const;
const STATUSES: ContainerStatus[] = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'];

export interface ListContext {
  /** image IDs that a reference names (for `ancestor`) */
  resolveImage: (ref: string) => string | undefined;
  find: (ref: string) => ContainerRecord | undefined;
}

/** The `filters` of GET /containers/json, applied to one container. */
export function matchesFilters(c: ContainerRecord, filters: Map<string, string[]>, ctx: ListContext): boolean {
  for (const [key, values] of filters) {
    if (values.length === 0) continue;
    let ok: boolean;
    switch (key) {
      case 'status':
        for (const v of values) if (!STATUSES.includes(v as ContainerStatus)) throw invalidArgument(`invalid filter 'status=${v}'`);
        ok = values.includes(c.state.status);
        break;
      case 'name':
        ok = values.some((v) => new RegExp(v.replace(/^\//, '')).test(c.name));
        break;
      case 'id':
        ok = values.some((v) => c.id.startsWith(v));
        break;
      case 'label':
        ok = values.every((v) => {
          const eq = v.indexOf('=');
          const k = eq < 0 ? v : v.slice(0, eq);
          if (!(k in (c.config.Labels ?? {}))) return false;
          return eq < 0 || c.config.Labels[k] === v.slice(eq + 1);
        });
        break;
      case 'ancestor':
        ok = values.some((v) => {
          const id = ctx.resolveImage(v);
          return id === c.imageId || c.config.Image === v;
        });
        break;
      case 'exited':
        ok = c.state.status === 'exited' && values.some((v) => Number(v) === c.state.exitCode);
        break;
      case 'before':
      case 'since': {
        const ref = ctx.find(values[0]);
        if (!ref) throw invalidArgument(`No such container: ${values[0]}`);
        ok = key === 'before' ? c.created < ref.created : c.created > ref.created;
        break;
      }
      default:
        ok = true;
    }
    if (!ok) return false;
  }
  return true;
}
