/**
 * The `GET /containers/json` filters that need a container's live network view: `network` (name, or a
 * prefix of the network ID), `volume` (volume name, bind source or mount destination), `publish` (host
 * port) and `expose` (container port), the last two as `80`, `80/udp` or a range `8000-8080/tcp`, matched
 * against the list's `Ports`, as dockerd does.
 */
import { invalidArgument } from '../errors';
import type { ContainerRecord } from './containers-store';

export const NETWORK_LIST_FILTERS = ['network', 'volume', 'publish', 'expose'] as const;

interface PortEntry { PrivatePort?: number; PublicPort?: number; Type?: string }
interface MountEntry { Name?: string; Source?: string; Destination?: string }

/** "80", "80/udp", "8000-8010/tcp" → the set of "port/proto" keys it names; dockerd's wording on errors. */
export function portSet(key: string, values: string[]): Set<string> {
  const out = new Set<string>();
  for (const v of values) {
    if (v.includes(':')) throw invalidArgument(`filter for '${key}' should not contain ':': ${v}`);
    const [port, proto = 'tcp'] = v.split('/');
    const [lo, hi = lo] = port.split('-');
    const bad = [lo, hi].find((x) => !/^\d+$/.test(x) || Number(x) > 65535);
    if (bad !== undefined) throw invalidArgument(`error while looking up for ${key} ${v}: strconv.ParseUint: parsing "${bad}": invalid syntax`);
    const start = Number(lo);
    const end = Number(hi);
    if (end < start) throw invalidArgument(`error while looking up for ${key} ${v}: Invalid range specified for the Port: ${port}`);
    for (let p = start; p <= end; p++) out.add(`${p}/${proto.toLowerCase()}`);
  }
  return out;
}

export function hasNetworkListFilters(filters: Map<string, string[]>): boolean {
  return NETWORK_LIST_FILTERS.some((k) => (filters.get(k)?.length ?? 0) > 0);
}

/**
 * Whether a container passes the filters above. `view` is its list view: the record with live
 * `networkSettings` and the `Ports` entries of `GET /containers/json`.
 */
export function matchesNetworkListFilters(view: { record: ContainerRecord; ports: PortEntry[] }, filters: Map<string, string[]>): boolean {
  const networkValues = filters.get('network') ?? [];
  if (networkValues.length > 0) {
    const networks = ((view.record.networkSettings as { Networks?: Record<string, { NetworkID?: string } | null> } | undefined)?.Networks) ?? {};
    const hit = networkValues.some((v) => v in networks || Object.values(networks).some((n) => !!v && !!n?.NetworkID?.startsWith(v)));
    if (!hit) return false;
  }
  const volumeValues = filters.get('volume') ?? [];
  if (volumeValues.length > 0) {
    const mounts = (view.record.mounts as MountEntry[] | undefined) ?? [];
    const hit = volumeValues.some((v) => mounts.some((m) => m.Destination === v || (m.Name ? m.Name === v : m.Source === v)));
    if (!hit) return false;
  }
  const publish = filters.get('publish')?.length ? portSet('publish', filters.get('publish')!) : undefined;
  const expose = filters.get('expose')?.length ? portSet('expose', filters.get('expose')!) : undefined;
  if (publish || expose) {
    const hit = view.ports.some((p) =>
      (publish?.has(`${p.PublicPort ?? 0}/${p.Type}`) ?? false) || (expose?.has(`${p.PrivatePort ?? 0}/${p.Type}`) ?? false));
    if (!hit) return false;
  }
  return true;
}
