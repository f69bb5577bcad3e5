import * as net from 'node:net';
import * as path from 'node:path';
import type { Server } from 'node:http';
import { chmod, chown, mkdir, readFile, rm } from 'node:fs/promises';
import { unavailable } from '../errors';

async function groupId(name: string): Promise<number | undefined> {
  try {
    const text = await readFile('/etc/group', 'utf8');
    for (const line of text.split('\n')) {
      const [g, , gid] = line.split(':');
      if (g === name) return Number(gid);
    }
  } catch {
    // no /etc/group: leave the socket root-only
  }
  return undefined;
}

/** true when something already accepts connections on the socket path */
function socketInUse(p: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(p);
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

/**
 * Listen on a unix socket: refuse when another daemon answers there, replace a stale socket file,
 * mode 0660 and group `berth` (or the configured group) when it exists.
 */
export async function listenUnix(server: Server, host: string, group?: string): Promise<string> {
  const socketPath = host.replace(/^unix:\/\//, '');
  await mkdir(path.dirname(socketPath), { recursive: true, mode: 0o755 });
  if (await socketInUse(socketPath)) throw unavailable(`another daemon is already listening on ${socketPath}`);
  await rm(socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => { server.off('error', reject); resolve(); });
  });
  await chmod(socketPath, 0o660);
  const gid = await groupId(group ?? 'berth');
  if (gid !== undefined) await chown(socketPath, 0, gid);
  return socketPath;
}
