import { readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { BindMount } from './oci-spec';

const HOSTS_BASE = `127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
ff00::0\tip6-mcastprefix
ff02::1\tip6-allnodes
ff02::2\tip6-allrouters
`;

/**
 * resolv.conf as Docker derives it from the host's: loopback nameservers are useless inside the
 * container's own network namespace, so they are dropped, and Google's servers fill in when none are left.
 */
export function containerResolvConf(hostText: string): string {
  const lines = hostText.split('\n').filter((l) => !/^\s*nameserver\s+(127\.|::1\b)/.test(l));
  if (!lines.some((l) => /^\s*nameserver\s/.test(l))) lines.push('nameserver 8.8.8.8', 'nameserver 8.8.4.4');
  return lines.join('\n').replace(/\n*$/, '\n');
}

/**
 * Write `hostname`, `hosts` and `resolv.conf` into the container dir and return the bind mounts that put
 * them at /etc in the container (as Docker does, so they are never part of the container's layer).
 */
export async function writeEtcFiles(containerDir: string, hostname: string, domainname = '', extraHosts: string[] = []): Promise<BindMount[]> {
  const fqdn = domainname ? `${hostname}.${domainname}` : hostname;
  let hostResolv = '';
  try {
    hostResolv = await readFile('/etc/resolv.conf', 'utf8');
  } catch { /* no host file: defaults */ }
  const files: [string, string][] = [
    ['hostname', `${hostname}\n`],
    ['hosts', HOSTS_BASE + extraHosts.map((h) => `${h}\n`).join('') + `127.0.1.1\t${fqdn}${fqdn !== hostname ? ` ${hostname}` : ''}\n`],
    ['resolv.conf', containerResolvConf(hostResolv)],
  ];
  await Promise.all(files.map(([name, text]) => writeFile(path.join(containerDir, name), text, { mode: 0o644 })));
  return files.map(([name]) => ({ source: path.join(containerDir, name), destination: `/etc/${name}` }));
}
