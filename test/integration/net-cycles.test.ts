/**
 * 100 `run --rm` cycles (create with AutoRemove, start, wait for removal) on a user-defined network of a real
 * berthd, some with a published port, then proof that the containers left nothing behind on the host: no
 * veth, no iptables rule naming a container address, no ip/port lease or endpoint row, no netns file, no
 * conmon or aardvark-dns of this daemon, no extra mount; then `network rm` removes the bridge (kept while the
 * network exists, as under dockerd), its anchor port, and every rule and chain made for the network. A probe
 * run with one live container first shows that each of those checks sees what a container holds.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { berthCli, ok } from '../helpers/cli';
import { parentPid, startBerthd, type Berthd } from '../helpers/daemon';
import { apiRequest } from '../helpers/http';
import { seedImages, startRegistry, type Registry } from '../helpers/registry';

const skip = process.getuid?.() !== 0 ? 'needs root' : false;
const CYCLES = Number(process.env.BERTH_NET_CYCLES ?? 100);
const CONCURRENCY = 4;
const NET = 'cycles-net';
const SUBNET_PREFIX = '10.199.77.';
const SUBNET = `${SUBNET_PREFIX}0/24`;
const BRIDGE = 'bcycles77';

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' });
const ls = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir) : []);

/** Chains named in iptables-save lines (`-A X`, `-j X`, `-g X`). */
function chainsIn(lines: string[]): Set<string> {
  const out = new Set<string>();
  for (const l of lines) for (const m of l.matchAll(/(?:^-A|\s-[jg])\s+(\S+)/g)) out.add(m[1]);
  return out;
}

const BUILTIN_TARGETS = new Set(['ACCEPT', 'DROP', 'RETURN', 'MASQUERADE', 'DNAT', 'SNAT', 'MARK', 'REJECT', 'LOG',
  'PREROUTING', 'POSTROUTING', 'INPUT', 'OUTPUT', 'FORWARD']);

describe(`${CYCLES} run --rm cycles on a user network leave no network state`, { skip, timeout: 300_000 }, () => {
  let reg: Registry;
  let daemon: Berthd;
  let networkId = '';
  /** chains that appeared while a container of the network was up (netavark's per-network chains) */
  let networkChains = new Set<string>();
  let before0: { links: Set<string>; mounts: string[]; rules: Set<string> };

  before(async () => {
    const routes = sh('ip', ['-4', 'route', 'show', 'table', 'all']);
    assert.ok(!routes.includes(SUBNET_PREFIX), `${SUBNET} is already routed on this host; the test needs it free`);
    reg = await startRegistry();
    await seedImages(reg, ['busybox']);
    daemon = await startBerthd({ registryMirror: reg.url, insecureRegistries: [reg.host] });
    const berth = berthCli(daemon);
    ok(await berth(['pull', '-q', 'busybox']), 'pull');
    before0 = { links: new Set(linkNames()), mounts: daemonMounts(), rules: new Set(iptablesLines()) };
    networkId = ok(await berth(['network', 'create', '--subnet', SUBNET, '-o', `com.docker.network.bridge.name=${BRIDGE}`, NET]), 'network create').trim();
  });

  after(async () => {
    if (daemon) {
      const ids = (await berthCli(daemon)(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
      if (ids.length) await berthCli(daemon)(['rm', '-fv', ...ids]);
      await berthCli(daemon)(['network', 'rm', NET]);
    }
    await daemon?.stop();
    await reg?.stop();
  });

  const linkNames = () => sh('ip', ['-o', 'link', 'show']).split('\n').map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1]).filter((x): x is string => !!x);
  const iptablesLines = () => sh('iptables-save', []).split('\n').filter((l) => l.startsWith('-A '));
  const daemonMounts = () => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '')
    .filter((mp) => mp.startsWith(daemon.dir + '/')).sort();

  /** Everything the network may have left; each list should be empty once no container is up. */
  const leftovers = () => {
    const rules = iptablesLines();
    // a container address (10.199.77.N, not the 10.199.77.0/24 of the network's own rules)
    const containerRules = rules.filter((l) => new RegExp(`${SUBNET_PREFIX.replace(/\./g, '\\.')}\\d+(?!\\d|/)`).test(l));
    const links = linkNames();
    // veths on our bridge (berth's anchor port aside), and any new veth without a master (an orphan)
    const bridgeMembers = (fs.existsSync(`/sys/class/net/${BRIDGE}/brif`) ? fs.readdirSync(`/sys/class/net/${BRIDGE}/brif`) : []).filter((p) => !p.startsWith('bk'));
    const orphanVeths = links.filter((l) => !before0.links.has(l) && l.startsWith('veth') && !fs.existsSync(`/sys/class/net/${l}/master`));
    const db = new Database(path.join(daemon.dataRoot, 'berth.db'), { readonly: true, fileMustExist: true });
    let rows: string[];
    try {
      const q = (sql: string, ...args: unknown[]) => (db.prepare(sql).all(...args) as Record<string, unknown>[]).map((r) => JSON.stringify(r));
      rows = [
        ...q('SELECT network_id, ip, container_id FROM ip_leases WHERE network_id = ?', networkId),
        ...q('SELECT container_id, ip FROM endpoints WHERE network_id = ?', networkId),
        ...q('SELECT host_ip, host_port, container_id FROM port_leases'),
      ];
    } finally {
      db.close();
    }
    const procs: string[] = [];
    for (const pid of ls('/proc').filter((p) => /^\d+$/.test(p))) {
      if (Number(pid) === daemon.pid) continue;
      let cmd = '';
      try { cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '); } catch { continue; }
      if (!cmd.includes(daemon.dir + '/')) continue;
      // the daemon's spawn server lives as long as the daemon (its forks, one per request, do not)
      const ppid = parentPid(pid);
      if (cmd.includes('berth-spawn --serve') && ppid === daemon.pid) continue;
      procs.push(`${pid}: ${cmd.slice(0, 160)}`);
    }
    // the netns dir is a bind mount of itself, made once with the first container
    const mounts = daemonMounts().filter((m) => !before0.mounts.includes(m) && m !== path.join(daemon.execRoot, 'netns'));
    return { containerRules, bridgeMembers, orphanVeths, rows, netns: ls(path.join(daemon.execRoot, 'netns')), procs, mounts };
  };

  /** What the network itself holds while it exists (bridge, anchor, its rules and chains): gone after `network rm`. */
  const networkLeftovers = () => {
    const rules = iptablesLines();
    const chains = chainsIn(rules);
    return {
      rules: [...rules.filter((l) => l.includes(SUBNET_PREFIX) || l.includes(BRIDGE)), ...[...networkChains].filter((c) => chains.has(c)).map((c) => `chain ${c}`)],
      links: linkNames().filter((l) => l === BRIDGE || l === `bk${networkId.slice(0, 12)}`),
    };
  };

  test('the probe sees what one running container on the network holds', async () => {
    const c = await apiRequest(daemon.socket, 'POST', '/containers/create', {
      Image: 'busybox', Cmd: ['sleep', '600'], ExposedPorts: { '80/tcp': {} },
      HostConfig: { NetworkMode: NET, PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] } },
    });
    assert.equal(c.status, 201, c.body);
    const id = (JSON.parse(c.body) as { Id: string }).Id;
    const s = await apiRequest(daemon.socket, 'POST', `/containers/${id}/start`);
    assert.equal(s.status, 204, s.body);
    try {
      const rules = iptablesLines().filter((l) => !before0.rules.has(l));
      networkChains = new Set([...chainsIn(rules.filter((l) => l.includes(SUBNET_PREFIX)))]
        .filter((ch) => !BUILTIN_TARGETS.has(ch) && !chainsIn([...before0.rules]).has(ch)));
      const l = leftovers();
      assert.ok(l.containerRules.some((r) => r.includes('DNAT')), 'no DNAT rule naming the container while it runs');
      assert.ok(networkChains.size > 0, 'no chain created for the network');
      assert.ok(networkLeftovers().rules.length > 0 && networkLeftovers().links.includes(BRIDGE), 'network rules and bridge seen');
      assert.equal(l.bridgeMembers.length, 1, 'one veth on the bridge');
      assert.ok(l.rows.some((r) => r.includes('"ip":"10.199.77.')), `lease rows: ${l.rows.join(' ')}`);
      assert.ok(l.rows.some((r) => r.includes('host_port')), 'port lease row');
      assert.deepEqual(l.netns, [id]);
      assert.ok(l.procs.some((p) => p.includes('conmon')), 'conmon seen');
      assert.ok(l.procs.some((p) => p.includes('aardvark')), 'aardvark-dns seen');
      assert.ok(l.mounts.length > 0, 'container mounts seen');
    } finally {
      assert.equal((await apiRequest(daemon.socket, 'DELETE', `/containers/${id}?force=1`)).status, 204);
    }
  });

  test(`${CYCLES} run --rm cycles, ${CONCURRENCY} at a time, every 4th with a published port`, async () => {
    const t0 = Date.now();
    const ips = new Set<string>();
    const cycle = async (i: number) => {
      const publish = i % 4 === 0;
      // exit 0 only when eth0 has an address of the network: the cycle really went through netavark
      const c = await apiRequest(daemon.socket, 'POST', '/containers/create', {
        Image: 'busybox', Cmd: ['sh', '-c', `ip -4 -o addr show eth0 | grep -q ' ${SUBNET_PREFIX}'`],
        ...(publish ? { ExposedPorts: { '80/tcp': {} } } : {}),
        HostConfig: { AutoRemove: true, NetworkMode: NET, ...(publish ? { PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] } } : {}) },
      });
      assert.equal(c.status, 201, c.body);
      const id = (JSON.parse(c.body) as { Id: string }).Id;
      const s = await apiRequest(daemon.socket, 'POST', `/containers/${id}/start`);
      assert.equal(s.status, 204, s.body);
      const ip = (JSON.parse((await apiRequest(daemon.socket, 'GET', `/containers/${id}/json`)).body) as { NetworkSettings?: { Networks?: Record<string, { IPAddress: string }> } })
        .NetworkSettings?.Networks?.[NET]?.IPAddress;
      if (ip) ips.add(ip);
      const w = await apiRequest(daemon.socket, 'POST', `/containers/${id}/wait?condition=removed`);
      // 404: removed before the wait request arrived
      if (w.status !== 404) {
        assert.equal(w.status, 200, w.body);
        assert.equal((JSON.parse(w.body) as { StatusCode: number }).StatusCode, 0, `cycle ${i}: eth0 had no address of ${SUBNET}`);
      }
    };
    let next = 0;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < CYCLES) await cycle(next++);
    }));
    const ms = Date.now() - t0;
    console.log(`# ${CYCLES} cycles in ${ms} ms (${(ms / CYCLES).toFixed(0)} ms each, ${CONCURRENCY} at a time); ${ips.size} distinct IPs seen`);
    assert.ok(ips.size > 0);
  });

  test('no container left a trace: veths, rules, rows, netns, processes, mounts', async () => {
    // removal is reported before the last teardown steps of a --rm container may have finished
    let l = leftovers();
    for (let i = 0; i < 50 && JSON.stringify(l) !== JSON.stringify(emptyLeftovers); i++) {
      await new Promise((r) => setTimeout(r, 100));
      l = leftovers();
    }
    assert.deepEqual(l, emptyLeftovers);
    assert.equal(ok(await berthCli(daemon)(['ps', '-aq'])).trim(), '');
  });

  test('network rm deletes the bridge, its anchor, rules and chains', async () => {
    ok(await berthCli(daemon)(['network', 'rm', NET]), 'network rm');
    assert.deepEqual(networkLeftovers(), { rules: [], links: [] });
  });
});

const emptyLeftovers = { containerRules: [], bridgeMembers: [], orphanVeths: [], rows: [], netns: [], procs: [], mounts: [] };
