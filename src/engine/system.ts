import * as os from 'node:os';
import { readFile, statfs } from 'node:fs/promises';
import { API_VERSION, BERTH_VERSION, MIN_API_VERSION } from '../api/version';

export interface ContainerCounts {
  total: number;
  running: number;
  paused: number;
  stopped: number;
}

export interface RuntimeInfo {
  name: string;
  path: string;
}

export interface SystemDeps {
  dataRoot: string;
  execRoot: string;
  mirrors: string[];
  insecureRegistries: string[];
  runtimes: RuntimeInfo[];
  defaultRuntime: string;
  debug: boolean;
  imageCount: () => number;
  containerCounts: () => ContainerCounts;
  eventListeners: () => number;
}

/** dockerd's GOARCH-style name for the host architecture. */
export function hostArch(): string {
  switch (process.arch) {
    case 'x64': return 'amd64';
    case 'ia32': return '386';
    default: return process.arch;
  }
}

/** `uname -m`-style name, as /info reports it. */
function machineArch(): string {
  return os.machine();
}

async function osRelease(): Promise<{ pretty: string; version: string }> {
  try {
    const text = await readFile('/etc/os-release', 'utf8');
    const get = (k: string) => text.match(new RegExp(`^${k}=("?)(.*)\\1$`, 'm'))?.[2] ?? '';
    return { pretty: get('PRETTY_NAME') || 'Linux', version: get('VERSION_ID') };
  } catch {
    return { pretty: 'Linux', version: '' };
  }
}

export interface CgroupInfo {
  version: '1' | '2';
  driver: 'cgroupfs';
}

/** cgroup v2 when /sys/fs/cgroup is itself cgroup2 (has cgroup.controllers at the top); v1 (or hybrid) otherwise. */
export async function cgroupInfo(): Promise<CgroupInfo> {
  try {
    await readFile('/sys/fs/cgroup/cgroup.controllers', 'utf8');
    return { version: '2', driver: 'cgroupfs' };
  } catch {
    return { version: '1', driver: 'cgroupfs' };
  }
}

async function backingFs(dir: string): Promise<string> {
  try {
    const s = await statfs(dir);
    const names: Record<number, string> = { 0xef53: 'extfs', 0x58465342: 'xfs', 0x9123683e: 'btrfs', 0x01021994: 'tmpfs', 0x794c7630: 'overlayfs' };
    return names[s.type] ?? `0x${s.type.toString(16)}`;
  } catch {
    return 'unknown';
  }
}

/** System facts for /info and /version, read fresh on each call (they are cheap). */
export class SystemService {
  constructor(private readonly deps: SystemDeps) {}

  async version(): Promise<Record<string, unknown>> {
    const kernel = os.release();
    const details = { ApiVersion: API_VERSION, Arch: hostArch(), BuildTime: '', Experimental: 'false', GitCommit: '', GoVersion: `node ${process.version}`, KernelVersion: kernel, MinAPIVersion: MIN_API_VERSION, Os: 'linux' };
    return {
      Platform: { Name: 'berth Engine' },
      Components: [
        { Name: 'Engine', Version: BERTH_VERSION, Details: details },
        ...this.deps.runtimes.map((r) => ({ Name: r.name, Version: '', Details: { GitCommit: '' } })),
      ],
      Version: BERTH_VERSION,
      ApiVersion: API_VERSION,
      MinAPIVersion: MIN_API_VERSION,
      GitCommit: '',
      GoVersion: `node ${process.version}`,
      Os: 'linux',
      Arch: hostArch(),
      KernelVersion: kernel,
      BuildTime: '',
    };
  }

  async info(): Promise<Record<string, unknown>> {
    const d = this.deps;
    const [rel, cg, fsName] = await Promise.all([osRelease(), cgroupInfo(), backingFs(d.dataRoot)]);
    const counts = d.containerCounts();
    const mirrors = d.mirrors.map((m) => (m.endsWith('/') ? m : m + '/'));
    const insecureCidrs = ['127.0.0.0/8', ...d.insecureRegistries.filter((r) => r.includes('/'))];
    const indexConfigs: Record<string, unknown> = {
      'docker.io': { Name: 'docker.io', Mirrors: mirrors, Secure: true, Official: true },
    };
    for (const r of d.insecureRegistries.filter((x) => !x.includes('/'))) {
      indexConfigs[r] = { Name: r, Mirrors: [], Secure: false, Official: false };
    }
    const runtimes: Record<string, unknown> = {};
    for (const r of d.runtimes) runtimes[r.name] = { path: r.path };
    return {
      ID: '',
      Containers: counts.total,
      ContainersRunning: counts.running,
      ContainersPaused: counts.paused,
      ContainersStopped: counts.stopped,
      Images: d.imageCount(),
      Driver: 'overlay2',
      DriverStatus: [['Backing Filesystem', fsName], ['Supports d_type', 'true'], ['Using metacopy', 'false'], ['Native Overlay Diff', 'true'], ['userxattr', 'false']],
      Plugins: { Volume: ['local'], Network: ['bridge', 'host', 'none'], Authorization: null, Log: ['json-file', 'local'] },
      MemoryLimit: true,
      SwapLimit: cg.version === '1',
      KernelMemoryTCP: cg.version === '1',
      CpuCfsPeriod: true,
      CpuCfsQuota: true,
      CPUShares: true,
      CPUSet: true,
      PidsLimit: true,
      IPv4Forwarding: true,
      BridgeNfIptables: true,
      BridgeNfIp6tables: true,
      Debug: d.debug,
      NFd: 0,
      OomKillDisable: cg.version === '1',
      NGoroutines: 0,
      SystemTime: new Date().toISOString(),
      LoggingDriver: 'json-file',
      CgroupDriver: cg.driver,
      CgroupVersion: cg.version,
      NEventsListener: d.eventListeners(),
      KernelVersion: os.release(),
      OperatingSystem: rel.pretty,
      OSVersion: rel.version,
      OSType: 'linux',
      Architecture: machineArch(),
      IndexServerAddress: 'https://index.docker.io/v1/',
      RegistryConfig: { AllowNondistributableArtifactsCIDRs: null, AllowNondistributableArtifactsHostnames: null, InsecureRegistryCIDRs: insecureCidrs, IndexConfigs: indexConfigs, Mirrors: mirrors },
      NCPU: os.availableParallelism(),
      MemTotal: os.totalmem(),
      GenericResources: null,
      DockerRootDir: d.dataRoot,
      HttpProxy: process.env.HTTP_PROXY ?? process.env.http_proxy ?? '',
      HttpsProxy: process.env.HTTPS_PROXY ?? process.env.https_proxy ?? '',
      NoProxy: process.env.NO_PROXY ?? process.env.no_proxy ?? '',
      Name: os.hostname(),
      Labels: [],
      ExperimentalBuild: false,
      ServerVersion: BERTH_VERSION,
      Runtimes: runtimes,
      DefaultRuntime: d.defaultRuntime,
      Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
      LiveRestoreEnabled: true,
      Isolation: '',
      InitBinary: '',
      ContainerdCommit: { ID: '' },
      RuncCommit: { ID: '' },
      InitCommit: { ID: '' },
      SecurityOptions: ['name=seccomp,profile=builtin'],
      CDISpecDirs: [],
      Warnings: [],
    };
  }
}
