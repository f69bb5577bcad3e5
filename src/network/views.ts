/** Engine API shapes of networks (inspect, list) and of a container's endpoints (NetworkSettings.Networks). */
import { shortId } from '../util/ids';
import { parseCidr } from './ipam';
import type { EndpointRecord, NetworkRecord } from './store';

export interface NetworkView {
  Name: string;
  Id: string;
  Created: string;
  Scope: 'local';
  Driver: string;
  EnableIPv4: boolean;
  EnableIPv6: boolean;
  IPAM: { Driver: string; Options: Record<string, string> | null; Config: { Subnet: string; Gateway: string; IPRange?: string }[] };
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  ConfigFrom: { Network: string };
  ConfigOnly: boolean;
  Containers: Record<string, { Name: string; EndpointID: string; MacAddress: string; IPv4Address: string; IPv6Address: string }>;
  Options: Record<string, string>;
  Labels: Record<string, string>;
}

export const prefixLength = (n: NetworkRecord): number => (n.subnet ? parseCidr(n.subnet).prefix : 0);

/** A copy with keys in byte order, as Go's encoding/json writes maps (clients re-print them as received). */
export function sortedMap<T>(m: Record<string, T>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const k of Object.keys(m).sort()) out[k] = m[k];
  return out;
}

/** The network as `GET /networks/{id}` shows it; `endpoints` are the active ones (empty for list). */
export function networkView(n: NetworkRecord, endpoints: EndpointRecord[]): NetworkView {
  const containers: NetworkView['Containers'] = {};
  for (const e of endpoints) {
    containers[e.containerId] = {
      Name: e.containerName, EndpointID: e.endpointId, MacAddress: e.mac,
      IPv4Address: e.ip ? `${e.ip}/${prefixLength(n)}` : '', IPv6Address: '',
    };
  }
  const config = n.subnet ? [{ Subnet: n.subnet, ...(n.ipRange ? { IPRange: n.ipRange } : {}), Gateway: n.gateway }] : [];
  return {
    Name: n.name, Id: n.id, Created: n.created, Scope: 'local', Driver: n.driver, EnableIPv4: true, EnableIPv6: false,
    IPAM: { Driver: 'default', Options: n.builtin ? null : sortedMap(n.ipamOptions), Config: config },
    Internal: n.internal, Attachable: n.attachable, Ingress: false, ConfigFrom: { Network: '' }, ConfigOnly: false,
    Containers: sortedMap(containers), Options: sortedMap(n.options), Labels: sortedMap(n.labels),
  };
}

/** One `NetworkSettings.Networks` entry; address fields are empty while the endpoint is not set up. */
export function endpointSettings(n: NetworkRecord, e: EndpointRecord): Record<string, unknown> {
  const active = e.netavark !== undefined && n.driver === 'bridge';
  const userDefined = !n.builtin;
  return {
    IPAMConfig: null,
    Links: null,
    Aliases: userDefined && e.aliases.length > 0 ? e.aliases : null,
    MacAddress: active ? e.mac : '',
    DriverOpts: null,
    GwPriority: 0,
    NetworkID: n.id,
    EndpointID: active || (e.netavark !== undefined) ? e.endpointId : '',
    Gateway: active ? n.gateway : '',
    IPAddress: active ? e.ip : '',
    IPPrefixLen: active ? prefixLength(n) : 0,
    IPv6Gateway: '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    DNSNames: userDefined ? [e.containerName, ...e.aliases, shortId(e.containerId)] : null,
  };
}
