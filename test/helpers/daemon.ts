/**
 * Runs a real berthd for a test: its own socket, data root and exec root in a temp dir, stderr kept in a log
 * file, a temp DOCKER_CONFIG so clients never read the real ~/.docker. stop() ends it and removes the dir
 * (unmounting anything left mounted below it first, and refusing to delete through a mount).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../../scripts/fixtures/paths';

const execFileP = promisify(execFile);

export interface StartBerthdOptions {
  registryMirror?: string;
  insecureRegistries?: string[];
  extraArgs?: string[];
  /** default 20 s */
  startTimeoutMs?: number;
}

export interface Berthd {
  socket: string;
  dataRoot: string;
  execRoot: string;
  /** `unix://<socket>` */
  host: string;
  /** process.env plus DOCKER_HOST, BERTH_HOST, a temp DOCKER_CONFIG and DOCKER_CLI_HINTS=false */
  env: NodeJS.ProcessEnv;
  /** the temp dir holding everything above */
  dir: string;
  pid: number;
  /** SIGTERM (SIGKILL after 15 s), then unmount and remove the temp dir */
  stop(): Promise<void>;
  /** SIGKILL, keeping all state; call restart() to bring it back */
  kill9(): Promise<void>;
  /** stops it (SIGTERM) if running and starts it again on the same dirs */
  restart(): Promise<void>;
  /** everything berthd wrote to stdout/stderr so far */
  logs(): string;
}

/**
 * The daemon entry point of the build these helpers were compiled into: bin/berthd for the main `dist`
 * build; <outDir>/src/daemon/main.js for a private build dir, so side-by-side builds test their own code.
 */
export function daemonEntry(): string[] {
  const outDir = path.resolve(__dirname, '..', '..');
  if (path.basename(outDir) === 'dist') return [path.join(repoRoot(), 'bin', 'berthd')];
  return [path.join(outDir, 'src', 'daemon', 'main.js')];
}

/** GET /_ping over the unix socket; resolves true on a 200 "OK". */
export function ping(socket: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath: socket, path: '/_ping', timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(res.statusCode === 200 && body.trim() === 'OK'));
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => { req.destroy(); resolve(false); });
  });
}

/** Mount points at or below `dir`, deepest first. */
function mountsBelow(dir: string): string[] {
  const found: string[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4];
    if (!mp) continue;
    const decoded = mp.replace(/\\(\d{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (decoded === dir || decoded.startsWith(dir + '/')) found.push(decoded);
  }
  return found.sort((a, b) => b.length - a.length);
}

/** Unmounts what a test left below `dir`, then removes it; never deletes through a mount that stayed. */
export async function removeTree(dir: string): Promise<void> {
  for (const mp of mountsBelow(dir)) await execFileP('umount', ['-l', mp]).catch(() => undefined);
  const left = mountsBelow(dir);
  if (left.length > 0) {
    process.stderr.write(`test helper: not removing ${dir}; still mounted: ${left.join(', ')}\n`);
    return;
  }
  await fs.promises.rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

/** DELETE ?force=1&v=1 of every container, so netavark tears down its veth, rules and bridge while berthd runs. */
async function removeAllContainers(socket: string): Promise<void> {
  const call = (method: string, p: string) => new Promise<string>((resolve, reject) => {
    const req = http.request({ socketPath: socket, method, path: p, timeout: 20_000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`${method} ${p} timed out`)));
    req.end();
  });
  const list = JSON.parse(await call('GET', '/containers/json?all=1')) as { Id: string }[];
  for (const c of list) await call('DELETE', `/containers/${c.Id}?force=1&v=1`).catch(() => undefined);
}

/**
 * What berthd could not clean because it was already dead (a test that SIGKILLed it): containers still known
 * to runc under its exec root are killed (their conmons then exit); a default bridge still there is deleted
 * with the firewall rules naming it or its subnet.
 */
async function cleanupAfterDeadDaemon(execRoot: string, bridge: string | undefined, subnet: string | undefined): Promise<void> {
  const runcRoot = path.join(execRoot, 'runc');
  if (fs.existsSync(runcRoot)) {
    for (const id of fs.readdirSync(runcRoot)) {
      await execFileP('runc', ['--root', runcRoot, 'delete', '--force', id]).catch(() => undefined);
    }
  }
  if (!bridge || !fs.existsSync(`/sys/class/net/${bridge}`)) return;
  // berthd's anchor port (bk<network id>) would outlive the bridge
  for (const port of fs.readdirSync(`/sys/class/net/${bridge}/brif`).filter((p) => p.startsWith('bk'))) {
    await execFileP('ip', ['link', 'del', 'dev', port]).catch(() => undefined);
  }
  await execFileP('ip', ['link', 'del', 'dev', bridge]).catch(() => undefined);
  // the bridge leaked, so did netavark's rules of the default network (they name its bridge or its subnet)
  const marks = [` ${bridge} `, subnet && (subnet.endsWith('/24') ? ` ${subnet.replace(/0\/24$/, '')}` : ` ${subnet} `)].filter((m): m is string => !!m);
  const saved = await execFileP('iptables-save', []).then((r) => r.stdout, () => '');
  let table = '';
  for (const line of saved.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1);
    if (!line.startsWith('-A ') || !marks.some((m) => `${line} `.includes(m))) continue;
    await execFileP('/bin/sh', ['-c', `iptables -w -t ${table} -D ${line.slice(3)}`]).catch(() => undefined);
  }
}

/** "10.198.7.1/24" → "10.198.7.0/24" (as iptables-save prints a subnet). */
function subnetOf(bip: string | undefined): string | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(bip ?? '');
  if (!m) return undefined;
  const prefix = Number(m[5]);
  const ip = m.slice(1, 5).reduce((acc, o) => acc * 256 + Number(o), 0);
  const base = prefix === 0 ? 0 : ip - (ip % 2 ** (32 - prefix));
  return `${[24, 16, 8, 0].map((sh) => Math.floor(base / 2 ** sh) % 256).join('.')}/${prefix}`;
}

function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ['DOCKER_HOST', 'DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'DOCKER_CONFIG', 'BERTH_HOST', 'DOCKER_AUTH_CONFIG']) delete env[k];
  return env;
}

export async function startBerthd(opts: StartBerthdOptions = {}): Promise<Berthd> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-test-'));
  const socket = path.join(dir, 'berth.sock');
  const dataRoot = path.join(dir, 'data');
  const execRoot = path.join(dir, 'exec');
  const dockerConfig = path.join(dir, 'docker-config');
  const logFile = path.join(dir, 'berthd.log');
  const configFile = path.join(dir, 'daemon.json');
  fs.mkdirSync(dockerConfig, { mode: 0o700 });
  fs.writeFileSync(path.join(dockerConfig, 'config.json'), '{}\n');
  fs.writeFileSync(configFile, '{}\n');

  const args = [
    ...daemonEntry(),
    '-H', `unix://${socket}`,
    '--data-root', dataRoot,
    '--exec-root', execRoot,
    '--config-file', configFile,
    '--log-level', process.env.BERTH_TEST_LOG_LEVEL ?? 'debug',
  ];
  if (opts.registryMirror) args.push('--registry-mirror', opts.registryMirror, '--registry-mirror-only');
  for (const r of opts.insecureRegistries ?? []) args.push('--insecure-registry', r);
  const extra = opts.extraArgs ?? [];
  // every test daemon gets its own default bridge, so daemons of different tests never share one
  if (!extra.some((a) => a === '-b' || a.startsWith('--bridge') || a.startsWith('--bip'))) {
    const n = 1 + Math.floor(Math.random() * 254);
    args.push('--bridge', `bt${Math.random().toString(16).slice(2, 8)}`, '--bip', `10.198.${n}.1/24`);
  }
  // BERTH_TEST_RUNTIME=crun runs a whole suite's daemons on crun (the default stays runc, as berthd's)
  const runtime = process.env.BERTH_TEST_RUNTIME;
  if (runtime && !extra.some((a) => a.startsWith('--default-runtime'))) args.push('--default-runtime', runtime);
  args.push(...extra);
  const bridgeAt = args.findIndex((a) => a === '-b' || a === '--bridge');
  const bridgeName = bridgeAt >= 0 ? args[bridgeAt + 1] : args.find((a) => a.startsWith('--bridge='))?.slice('--bridge='.length);
  const bipAt = args.lastIndexOf('--bip');
  const bipSubnet = bipAt >= 0 ? subnetOf(args[bipAt + 1]) : undefined;

  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const launch = async () => {
    const out = fs.openSync(logFile, 'a');
    // a parent-death signal, so a test process that is killed (a timeout) does not leave its berthd running
    const proc = spawn('setpriv', ['--pdeathsig', 'SIGTERM', process.execPath, ...args], { stdio: ['ignore', out, out], env: cleanEnv() });
    fs.closeSync(out);
    child = proc;
    exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const deadline = Date.now() + (opts.startTimeoutMs ?? 20_000);
    while (Date.now() < deadline) {
      if (proc.exitCode !== null || proc.signalCode !== null) break;
      if (await ping(socket)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
    throw new Error(`berthd did not answer /_ping on ${socket}; log:\n${fs.readFileSync(logFile, 'utf8')}`);
  };

  const alive = () => child !== undefined && child.exitCode === null && child.signalCode === null;

  const terminate = async (signal: NodeJS.Signals) => {
    if (!alive()) return;
    child!.kill(signal);
    const timer = setTimeout(() => { if (alive()) child!.kill('SIGKILL'); }, 15_000);
    await exited;
    clearTimeout(timer);
  };

  try {
    await launch();
  } catch (err) {
    await removeTree(dir);
    throw err;
  }

  const daemon: Berthd = {
    socket,
    dataRoot,
    execRoot,
    dir,
    host: `unix://${socket}`,
    env: { ...cleanEnv(), DOCKER_HOST: `unix://${socket}`, BERTH_HOST: `unix://${socket}`, DOCKER_CONFIG: dockerConfig, DOCKER_CLI_HINTS: 'false' },
    get pid() { return child?.pid ?? -1; },
    stop: async () => {
      // berthd leaves containers running when it stops: remove them first, or their veths, rules and bridge stay
      if (alive()) await removeAllContainers(socket).catch(() => undefined);
      await terminate('SIGTERM');
      await cleanupAfterDeadDaemon(execRoot, bridgeName, bipSubnet);
      await removeTree(dir);
    },
    kill9: async () => terminate('SIGKILL'),
    restart: async () => {
      await terminate('SIGTERM');
      await launch();
    },
    logs: () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : ''),
  };
  return daemon;
}

/** The parent of a process, NaN once it is gone (leak checks tell the daemon's own helpers from strays). */
export function parentPid(pid: string | number): number {
  try {
    return Number(/^\d+ \(.*\) \S (\d+)/.exec(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1]);
  } catch {
    return NaN;
  }
}
