import { access } from 'node:fs/promises';
import * as path from 'node:path';
import { internal, notFound } from '../errors';
import { runTool } from './exec-file';

/** What `runc state` reports. It has no exit code: conmon's exit file is the only source of that. */
export interface RuncState {
  id: string;
  pid: number;
  status: 'creating' | 'created' | 'running' | 'paused' | 'stopped';
  bundle: string;
  created: string;
}

/**
 * The OCI runtime binary (runc; crun takes the same verbs). Every call is an async child process with
 * `--root <stateRoot>`, so berth's containers never mix with other runc users on the host.
 * conmon runs `create`; the daemon runs everything else.
 */
export class RuncClient {
  /** which runtime the binary is (berth-crun, the hybrid-host shim, is crun) */
  readonly flavor: 'runc' | 'crun';

  constructor(readonly binary: string, readonly stateRoot: string) {
    this.flavor = /crun$/.test(path.basename(binary)) ? 'crun' : 'runc';
  }

  private async call(args: string[], timeoutMs = 30_000) {
    return runTool(this.binary, ['--root', this.stateRoot, ...args], { timeoutMs });
  }

  private static message(stderr: string): string {
    // runc prints logrus lines (`time=".." level=error msg="..."`); the msg part is what a user needs.
    const m = /msg="((?:[^"\\]|\\.)*)"/.exec(stderr);
    return (m ? m[1].replace(/\\"/g, '"') : stderr).trim();
  }

  async start(id: string): Promise<void> {
    const r = await this.call(['start', id]);
    if (r.code !== 0) throw internal(`runtime start failed: ${RuncClient.message(r.stderr)}`);
  }

  /** Send `signal` (a name like SIGTERM or a number) to the init process, or to every process with `all`. */
  async kill(id: string, signal: string, all = false): Promise<void> {
    const r = await this.call(['kill', ...(all ? ['--all'] : []), id, signal]);
    if (r.code !== 0) {
      const msg = RuncClient.message(r.stderr);
      if (/not running|does not exist|process already finished/.test(msg)) throw notFound(msg);
      throw internal(`runtime kill failed: ${msg}`);
    }
  }

  /** Remove the runtime state (and the container cgroup). Missing containers are fine. */
  async delete(id: string, force = false): Promise<void> {
    const r = await this.call(['delete', ...(force ? ['--force'] : []), id]);
    if (r.code !== 0 && !/does not exist/.test(r.stderr)) throw internal(`runtime delete failed: ${RuncClient.message(r.stderr)}`);
  }

  /** Whether the runtime keeps state for `id` (runc and crun both use `<root>/<id>/`); no process is run. */
  async hasState(id: string): Promise<boolean> {
    try {
      await access(path.join(this.stateRoot, id));
      return true;
    } catch {
      return false;
    }
  }

  /** `undefined` when the runtime does not know the container. */
  async state(id: string): Promise<RuncState | undefined> {
    const r = await this.call(['state', id]);
    if (r.code !== 0) {
      if (/does not exist/.test(r.stderr)) return undefined;
      throw internal(`runtime state failed: ${RuncClient.message(r.stderr)}`);
    }
    return JSON.parse(r.stdout) as RuncState;
  }
}
