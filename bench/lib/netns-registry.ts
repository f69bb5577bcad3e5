/**
 * A docker-registry inside the bench netns, serving the same storage dir as the host-side registry on the
 * same port number, so dockerd (in the netns) and berthd (on the host) pull identical references from an
 * equivalent loopback registry.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { registryConfig, REGISTRY_BIN } from '../../test/helpers/registry';
import { NETNS, spawnInNetns } from './dockerd';

const execFileP = promisify(execFile);

export interface NetnsRegistry {
  stop(): Promise<void>;
}

export async function startNetnsRegistry(port: number, storageDir: string): Promise<NetnsRegistry> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-registry-'));
  const configFile = path.join(dir, 'config.yml');
  fs.writeFileSync(configFile, registryConfig(port, storageDir));
  const child = spawnInNetns(REGISTRY_BIN, ['serve', configFile], path.join(dir, 'registry.log'));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 100; i++) {
    const { stdout } = await execFileP('nsenter', [`--net=/run/netns/${NETNS}`, '--', 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${port}/v2/`]).catch(() => ({ stdout: '' }));
    if (stdout === '200') return { stop };
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error('registry in the bench netns did not start');
}
