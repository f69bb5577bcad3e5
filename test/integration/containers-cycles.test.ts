/**
 * 200 create/start/wait/rm cycles through the Engine API of a real berthd, then proof that nothing is left
 * behind: mounts, cgroups, conmon processes, runc state, container dirs, tmp files, netns files, sockets.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { dockerCli, ok } from '../helpers/cli';
import { parentPid, startBerthd, type Berthd } from '../helpers/daemon';
import { apiRequest } from '../helpers/http';
import { seedImages, startRegistry, type Registry } from '../helpers/registry';

const skip = process.getuid?.() !== 0 ? 'needs root' : false;
const CYCLES = Number(process.env.BERTH_CYCLES ?? 200);
const CONCURRENCY = 4;

const ls = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir) : []);

describe('200 container cycles leave nothing behind', { skip, timeout: 300_000 }, () => {
  let reg: Registry;
  let daemon: Berthd;
  const ids: string[] = [];

  before(async () => {
    reg = await startRegistry();
    await seedImages(reg, ['busybox']);
    daemon = await startBerthd({ registryMirror: reg.url, insecureRegistries: [reg.host] });
    ok(await dockerCli(daemon)(['pull', 'busybox']), 'pull busybox');
  });

  after(async () => {
    await daemon?.stop();
    await reg?.stop();
  });

  /** What containers left on the host; `known` are container ids to look for in cgroup names. */
  const leftovers = (known: string[]) => {
    const roots = [daemon.dataRoot, daemon.execRoot];
    const mounts = fs.readFileSync('/proc/mounts', 'utf8').split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((mp) => roots.some((r) => mp.startsWith(r + '/')))
      .filter((mp) => mp !== path.join(daemon.execRoot, 'netns')); // the netns dir is a bind mount of itself

    const idSet = new Set(known);
    const cgroups: string[] = [];
    for (const ctrl of ls('/sys/fs/cgroup')) {
      const walk = (dir: string, depth: number) => {
        if (depth > 3) return;
        for (const e of ls(dir)) {
          const p = path.join(dir, e);
          let isDir = false;
          try { isDir = fs.statSync(p).isDirectory(); } catch { continue; }
          if (!isDir) continue;
          if (idSet.has(e) || /^[0-9a-f]{64}$/.test(e) || [...idSet].some((id) => e.includes(id))) cgroups.push(p);
          if (e.includes('berth')) walk(p, depth + 1);
        }
      };
      walk(path.join('/sys/fs/cgroup', ctrl), 0);
    }

    const conmons: string[] = [];
    for (const pid of ls('/proc').filter((p) => /^\d+$/.test(p))) {
      let cmd = '';
      try { cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '); } catch { continue; }
      // berth-logger (non-TTY containers' output) counts as well, and a fork of the spawn server that
      // outlived its request (the server itself lives as long as the daemon)
      const handler = cmd.includes('berth-spawn') && parentPid(pid) !== daemon.pid;
      if ((cmd.includes('conmon') || cmd.includes('berth-logger') || handler) && roots.some((r) => cmd.includes(r))) conmons.push(`${pid}: ${cmd}`);
    }

    return { mounts, cgroups, conmons, runc: ls(path.join(daemon.execRoot, 'runc')), containers: ls(path.join(daemon.dataRoot, 'containers')),
      tmp: ls(path.join(daemon.dataRoot, 'tmp')), netns: ls(path.join(daemon.execRoot, 'netns')), sockets: ls(path.join(daemon.execRoot, 's')) };
  };

  test('the probe sees what a running container holds (so the final check can fail)', async () => {
    const c = await apiRequest(daemon.socket, 'POST', '/containers/create', { Image: 'busybox', Cmd: ['sleep', '600'] });
    const id = (JSON.parse(c.body) as { Id: string }).Id;
    assert.equal((await apiRequest(daemon.socket, 'POST', `/containers/${id}/start`)).status, 204);
    const l = leftovers([id]);
    try {
      for (const k of ['mounts', 'cgroups', 'conmons', 'runc', 'containers', 'netns', 'sockets'] as const) assert.ok(l[k].length > 0, `probe found no ${k}`);
    } finally {
      assert.equal((await apiRequest(daemon.socket, 'DELETE', `/containers/${id}?force=1`)).status, 204);
    }
  });

  test(`${CYCLES} create/start/wait/rm cycles`, async () => {
    const t0 = Date.now();
    const cycle = async (i: number) => {
      const c = await apiRequest(daemon.socket, 'POST', '/containers/create', { Image: 'busybox', Cmd: ['sh', '-c', `echo ${i}`] });
      assert.equal(c.status, 201, c.body);
      const id = (JSON.parse(c.body) as { Id: string }).Id;
      ids.push(id);
      const s = await apiRequest(daemon.socket, 'POST', `/containers/${id}/start`);
      assert.equal(s.status, 204, s.body);
      const w = await apiRequest(daemon.socket, 'POST', `/containers/${id}/wait`);
      assert.equal(w.status, 200, w.body);
      assert.equal((JSON.parse(w.body) as { StatusCode: number }).StatusCode, 0);
      const r = await apiRequest(daemon.socket, 'DELETE', `/containers/${id}`);
      assert.equal(r.status, 204, r.body);
    };
    let next = 0;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < CYCLES) await cycle(next++);
    }));
    const ms = Date.now() - t0;
    console.log(`# ${CYCLES} cycles in ${ms} ms (${(ms / CYCLES).toFixed(0)} ms each, ${CONCURRENCY} at a time)`);
    assert.equal(ids.length, CYCLES);
    assert.equal(new Set(ids).size, CYCLES);
  });

  test('nothing is left: mounts, cgroups, conmon, runc state, dirs, netns, sockets, ps -a', async () => {
    await new Promise((r) => setTimeout(r, 500)); // let late exit handling settle
    assert.deepEqual(leftovers(ids), { mounts: [], cgroups: [], conmons: [], runc: [], containers: [], tmp: [], netns: [], sockets: [] });
    assert.equal(ok(await dockerCli(daemon)(['ps', '-aq'])).trim(), '');
  });
});
