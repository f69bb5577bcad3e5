/**
 * RUN for the classic builder: one throwaway container per step, run in the foreground with `runc run`.
 *
 * Per step, under `<data-root>/tmp/build-run-<id>/`: `upper`, `work` (overlay), `rootfs` (the merged mount
 * over `init` and the parent's layers), `hostname`/`hosts`/`resolv.conf`
 * (bind-mounted at /etc, so they never enter the layer) and `config.json` (the bundle is the step dir).
 * runc keeps its state under `<exec-root>/build-runc`, apart from the containers' runtime root, and the
 * step's cgroups live under `/berth-build/<id>`. The diff is the upper dir as a layer tar; cleanup
 * unmounts and removes all of it.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { exportLayerTar } from '../image/tar-export';
import type { LayerStore } from '../image/types';
import { removeCgroup } from '../runtime/cgroups';
import { writeEtcFiles } from '../runtime/etc-files';
import { buildSpec, containerEnv } from '../runtime/oci-spec';
import { initLayer } from '../runtime/init-layer';
import { mountOverlay, unmountIfMounted } from '../runtime/rootfs';
import { RuncClient } from '../runtime/runc';
import { resolveUser } from '../runtime/user';
import type { Logger } from '../util/logger';
import type { RunStepRequest, RunStepResult, RunStepRunner } from './types';

export interface ContainerRunStepDeps {
  dataRoot: string;
  execRoot: string;
  layers: LayerStore;
  log: Logger;
  /** the OCI runtime binary, e.g. /usr/sbin/runc */
  runtimePath: string;
}

export const BUILD_CGROUP_PARENT = '/berth-build';

/** The parent group goes when no other step is using it (rmdir of a cgroup with children fails). */
async function removeBuildCgroupParent(): Promise<void> {
  const hierarchies = await fs.readdir('/sys/fs/cgroup').catch(() => [] as string[]);
  for (const h of ['', ...hierarchies]) await fs.rmdir(path.join('/sys/fs/cgroup', h, BUILD_CGROUP_PARENT)).catch(() => undefined);
}

/**
 * After a crash: steps a dead daemon left behind are killed and deleted, and their roots unmounted, so
 * the wipe of `<data-root>/tmp` at start never deletes through a mount. Call before that wipe.
 */
export async function removeStaleRunSteps(d: Pick<ContainerRunStepDeps, 'dataRoot' | 'execRoot' | 'runtimePath'>): Promise<void> {
  const runc = new RuncClient(d.runtimePath, path.join(d.execRoot, 'build-runc'));
  const ids = await fs.readdir(runc.stateRoot).catch(() => [] as string[]);
  for (const id of ids) {
    await runc.kill(id, 'KILL', true).catch(() => undefined);
    await runc.delete(id, true).catch(() => undefined);
    await removeCgroup(`${BUILD_CGROUP_PARENT}/${id}`);
  }
  const tmp = path.join(d.dataRoot, 'tmp');
  const dirs = await fs.readdir(tmp).catch(() => [] as string[]);
  for (const n of dirs) if (n.startsWith('build-run-')) await unmountIfMounted(path.join(tmp, n, 'rootfs'));
}

export class ContainerRunStep implements RunStepRunner {
  private readonly runc: RuncClient;

  constructor(private readonly d: ContainerRunStepDeps) {
    this.runc = new RuncClient(d.runtimePath, path.join(d.execRoot, 'build-runc'));
  }

  async run(req: RunStepRequest): Promise<RunStepResult> {
    const id = randomBytes(32).toString('hex');
    const dir = path.join(this.d.dataRoot, 'tmp', `build-run-${id.slice(0, 16)}`);
    const rootfs = path.join(dir, 'rootfs');
    const upper = path.join(dir, 'upper');
    const cgroupsPath = `${BUILD_CGROUP_PARENT}/${id}`;
    let cleaned = false;
    const cleanup = async () => {
      if (cleaned) return;
      cleaned = true;
      await this.runc.delete(id, true).catch((err) => this.d.log.warn('build container delete failed', { id, error: String(err) }));
      await unmountIfMounted(rootfs);
      await fs.rm(dir, { recursive: true, force: true });
      await removeCgroup(cgroupsPath);
      await removeBuildCgroupParent();
    };
    try {
      await fs.mkdir(this.runc.stateRoot, { recursive: true, mode: 0o700 });
      await Promise.all(['upper', 'work', 'rootfs'].map((d) => fs.mkdir(path.join(dir, d), { recursive: true })));
      // the init layer keeps the runtime's mount points out of the step's layer; it and the layers' short
      // links are relative to the overlay root, which is the mount's cwd
      const cwd = path.join(this.d.dataRoot, 'overlay');
      const init = path.relative(cwd, await initLayer(this.d.dataRoot));
      const lower = req.parentChainId ? `${init}:${this.d.layers.lowerOption(req.parentChainId)}` : init;
      await mountOverlay({ lower, upper, work: path.join(dir, 'work'), target: rootfs, cwd });

      const user = await resolveUser(rootfs, req.user);
      const workdir = req.workdir || '/';
      await fs.mkdir(path.join(rootfs, workdir), { recursive: true });
      const hostname = id.slice(0, 12);
      const binds = await writeEtcFiles(dir, hostname);
      const hostNet = req.network === 'host';
      if (hostNet) {
        // the host's own resolver settings are right in the host's network namespace
        await fs.copyFile('/etc/resolv.conf', path.join(dir, 'resolv.conf')).catch(() => undefined);
      }
      const spec = buildSpec({
        rootfs, args: req.cmd, env: containerEnv(req.env, hostname, false), cwd: workdir, user,
        terminal: false, hostname, cgroupsPath, binds,
      });
      if (hostNet) {
        const linux = spec.linux as { namespaces: { type: string }[] };
        linux.namespaces = linux.namespaces.filter((n) => n.type !== 'network');
      }
      await fs.writeFile(path.join(dir, 'config.json'), JSON.stringify(spec));

      const exitCode = await this.runForeground(id, dir, req);
      if (exitCode !== 0) return { exitCode, cleanup };
      const diff = exportLayerTar(upper);
      return { exitCode, diff, cleanup };
    } catch (err) {
      await cleanup().catch((e) => this.d.log.warn('build container cleanup failed', { id, error: String(e) }));
      throw err;
    }
  }

  /** `runc run` in the foreground: output streamed as it comes; resolves with the process's exit code. */
  private runForeground(id: string, bundle: string, req: RunStepRequest): Promise<number> {
    return new Promise((resolve, reject) => {
      if (req.signal?.aborted) {
        reject(new Error('build cancelled'));
        return;
      }
      const child = spawn(this.runc.binary, ['--root', this.runc.stateRoot, 'run', '--bundle', bundle, id], {
        cwd: bundle, stdio: ['ignore', 'pipe', 'pipe'],
      });
      let runtimeErr = '';
      const onData = (chunk: Buffer) => req.onOutput(chunk);
      child.stdout.on('data', onData);
      // runc's own failures (before the process starts) come as logrus lines on stderr; keep them for the error
      child.stderr.on('data', (chunk: Buffer) => {
        if (/^time="[^"]*" level=(error|fatal)/.test(chunk.toString('utf8'))) runtimeErr += chunk.toString('utf8');
        else onData(chunk);
      });
      req.onStarted?.(id);
      const onAbort = () => {
        this.runc.kill(id, 'KILL', true).catch(() => undefined);
        child.kill('SIGKILL');
      };
      req.signal?.addEventListener('abort', onAbort, { once: true });
      child.on('error', (err) => {
        req.signal?.removeEventListener('abort', onAbort);
        reject(err);
      });
      child.on('close', (code, signal) => {
        req.signal?.removeEventListener('abort', onAbort);
        if (req.signal?.aborted) {
          reject(new Error('build cancelled'));
          return;
        }
        if (runtimeErr) {
          const m = /msg="((?:[^"\\]|\\.)*)"/.exec(runtimeErr);
          reject(new Error(`failed to run the RUN step: ${(m ? m[1].replace(/\\"/g, '"') : runtimeErr).trim()}`));
          return;
        }
        resolve(code ?? (signal ? 128 : 1));
      });
    });
  }
}
