/**
 * resolv.conf for a container on DNS-enabled networks: aardvark-dns listens on each network's gateway
 * (UDP 53), so those are the nameservers; the host's search domains stay, `ndots:0` as Docker's embedded
 * DNS has it. netavark's `dns.podman` search domain is deliberately not used.
 */
export function resolvConfForNetworks(hostText: string, nameservers: string[], extra: { dns?: string[]; search?: string[]; options?: string[] } = {}): string {
  // --dns servers would bypass aardvark (and lose container names), so they only apply without a DNS network
  const servers = nameservers.length > 0 ? nameservers : extra.dns ?? [];
  const hostSearch = hostText.split('\n').map((l) => /^\s*(search|domain)\s+(.*)$/.exec(l)).filter((m): m is RegExpExecArray => m !== null)
    .flatMap((m) => m[2].trim().split(/\s+/));
  const search = extra.search?.length ? extra.search : hostSearch;
  const options = [...new Set(['ndots:0', ...(extra.options ?? [])])];
  const lines = servers.map((s) => `nameserver ${s}`);
  if (search.length > 0) lines.push(`search ${search.join(' ')}`);
  lines.push(`options ${options.join(' ')}`);
  return lines.join('\n') + '\n';
}
