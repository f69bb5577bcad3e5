/** System commands: version, info (system info), system df, events (system events). */
import type { ServerVersion } from '../../client/types';
import { DaemonConnectError } from '../../client/transport';
import { StatusError } from '../errors';
import { alignColumns } from '../tabwriter';
import { compileTemplate, goStruct, TemplateExecError, TemplateParseError } from '../template';
import type { CommandContext, CommandDef, ManagementGroup } from '../registry';
import { ansicDate, bytesSize } from '../units';
import { CLI_GIT_COMMIT, CLI_VERSION, clientArch, clientOs } from '../version-info';
import { CLIENT_API_VERSION } from '../../client/engine-client';
import { INSPECT_FORMAT_HELP } from './common';
import { diskUsageCommand } from './system-df';
import { eventsCommand } from './system-events';

export const systemGroups: ManagementGroup[] = [{ name: 'system', description: 'Manage berth' }];

const VERSION_TEMPLATE = `{{with .Client -}}
Client:{{if ne .Platform nil}}{{if ne .Platform.Name ""}} {{.Platform.Name}}{{end}}{{end}}
 Version:\t{{.Version}}
 API version:\t{{.APIVersion}}{{if ne .APIVersion .DefaultAPIVersion}} (downgraded from {{.DefaultAPIVersion}}){{end}}
 Go version:\t{{.GoVersion}}
 Git commit:\t{{.GitCommit}}
 Built:\t{{.BuildTime}}
 OS/Arch:\t{{.Os}}/{{.Arch}}
 Context:\t{{.Context}}
{{- end}}

{{- if ne .Server nil}}{{with .Server}}

Server:{{if ne .Platform.Name ""}} {{.Platform.Name}}{{end}}
 {{- range $component := .Components}}
 {{$component.Name}}:
  {{- if eq $component.Name "Engine" }}
  Version:\t{{.Version}}
  API version:\t{{index .Details "ApiVersion"}} (minimum version {{index .Details "MinAPIVersion"}})
  Go version:\t{{index .Details "GoVersion"}}
  Git commit:\t{{index .Details "GitCommit"}}
  Built:\t{{index .Details "BuildTime"}}
  OS/Arch:\t{{index .Details "Os"}}/{{index .Details "Arch"}}
  Experimental:\t{{index .Details "Experimental"}}
  {{- else }}
  Version:\t{{$component.Version}}
  {{- $detailsOrder := getDetailsOrder $component}}
  {{- range $key := $detailsOrder}}
  {{$key}}:\t{{index $component.Details $key}}
   {{- end}}
  {{- end}}
 {{- end}}
 {{- end}}{{- end}}`;

/** A Go struct whose JSON uses other names than its fields (json tags); `omitEmpty` keys are left out when empty. */
function taggedStruct(fields: Record<string, unknown>, typeName: string, jsonNames: Record<string, string>, omitEmpty: string[]): Record<string, unknown> {
  const obj = goStruct({ ...fields }, typeName);
  Object.defineProperty(obj, 'toJSON', {
    enumerable: false,
    value: () => {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(fields)) {
        if (omitEmpty.includes(k) && (v === undefined || v === null || v === '' || v === false)) continue;
        out[jsonNames[k] ?? k] = v ?? null;
      }
      return out;
    },
  });
  return obj;
}

function reformatDate(s: string | undefined): string {
  if (!s) return '';
  const d = new Date(s);
  return Number.isNaN(d.getTime()) || !/^\d{4}-\d\d-\d\dT/.test(s) ? s : ansicDate(d);
}

export function clientVersionStruct(apiVersion: string, context = 'default'): Record<string, unknown> {
  return taggedStruct({
    Platform: null, Version: CLI_VERSION, APIVersion: apiVersion, DefaultAPIVersion: CLIENT_API_VERSION, GitCommit: CLI_GIT_COMMIT,
    GoVersion: `node ${process.version}`, Os: clientOs(), Arch: clientArch(), BuildTime: '', Context: context,
  }, 'system.clientVersion', { APIVersion: 'ApiVersion' }, ['Platform', 'Version', 'APIVersion', 'DefaultAPIVersion', 'GitCommit', 'GoVersion', 'Os', 'Arch', 'BuildTime']);
}

export function serverVersionStruct(sv: ServerVersion): Record<string, unknown> {
  const components = (sv.Components ?? []).map((c) => ({ ...c, Details: { ...(c.Details ?? {}) } }));
  let engine = components.find((c) => c.Name === 'Engine');
  if (engine && engine.Details.BuildTime) engine.Details.BuildTime = reformatDate(engine.Details.BuildTime);
  if (!engine) {
    engine = { Name: 'Engine', Version: sv.Version, Details: { ApiVersion: sv.ApiVersion, MinAPIVersion: sv.MinAPIVersion ?? '', Os: sv.Os, Arch: sv.Arch } };
    components.push(engine);
  }
  const d = engine.Details;
  return taggedStruct({
    Platform: goStruct({ Name: sv.Platform?.Name ?? '' }, 'system.PlatformInfo'),
    Version: sv.Version, APIVersion: sv.ApiVersion, MinAPIVersion: sv.MinAPIVersion ?? '', Os: sv.Os, Arch: sv.Arch,
    Components: components.map((c) => goStruct(c, 'system.ComponentVersion')),
    GitCommit: d.GitCommit ?? '', GoVersion: d.GoVersion ?? '', KernelVersion: d.KernelVersion ?? sv.KernelVersion ?? '',
    Experimental: d.Experimental === 'true', BuildTime: sv.BuildTime ?? '',
  }, '*system.serverVersion', { APIVersion: 'ApiVersion' }, ['MinAPIVersion', 'Components', 'GitCommit', 'GoVersion', 'KernelVersion', 'Experimental', 'BuildTime']);
}

/** Run a --format / default template for version or info; parse errors exit 64 as docker's. */
function compileOrExit(source: string, name: string) {
  try {
    return compileTemplate(source, name);
  } catch (err) {
    if (err instanceof TemplateParseError) throw new StatusError(64, `template parsing error: ${err.message}`);
    throw err;
  }
}

const version: CommandDef = {
  paths: [['version']],
  usage: '[OPTIONS]',
  description: 'Show the berth version information',
  category: 'common',
  args: { max: 0 },
  flags: [{ name: 'format', short: 'f', kind: 'string', description: INSPECT_FORMAT_HELP }],
  async run(ctx) {
    const format = ctx.flags.string('format');
    const tmpl = compileOrExit(format === '' ? VERSION_TEMPLATE : format === 'json' ? '{{json .}}' : format, 'version');
    let server: Record<string, unknown> | null = null;
    let connectErr: unknown;
    let apiVersion = CLIENT_API_VERSION;
    try {
      const client = await ctx.client();
      apiVersion = client.apiVersion;
      server = serverVersionStruct(await client.version());
    } catch (err) {
      connectErr = err;
    }
    const data = goStruct({ Client: clientVersionStruct(apiVersion), Server: server }, 'system.versionInfo');
    let text = '';
    let execErr: unknown;
    try {
      text = tmpl.execute(data, { extraFuncs: { getDetailsOrder: (c) => Object.keys(((c as { Details?: object }).Details) ?? {}).sort() } });
    } catch (err) {
      execErr = err;
      text = '';
    }
    ctx.out(alignColumns(text + '\n', { minWidth: 20, padding: 1 }));
    if (connectErr) throw connectErr;
    if (execErr instanceof TemplateExecError) throw new StatusError(1, execErr.message);
    if (execErr) throw execErr;
  },
};

function decodeSecurityOptions(opts: string[]): { name: string; profile?: string }[] {
  return opts.map((o) => {
    const out: { name: string; profile?: string } = { name: '' };
    for (const kv of o.split(',')) {
      const [k, v] = kv.split('=');
      if (k === 'name') out.name = v;
      else if (k === 'profile') out.profile = v;
    }
    if (!o.includes('=')) out.name = o;
    return out;
  });
}

type InfoMap = Record<string, unknown>;

export function prettyServerInfo(info: InfoMap, userName: string): string {
  const lines: string[] = [];
  const ln = (...parts: unknown[]) => lines.push(parts.map((p) => String(p)).join(' '));
  const nonEmpty = (label: string, v: unknown) => { if (v !== undefined && v !== null && v !== '') ln(label, v); };
  const list = (v: unknown) => (Array.isArray(v) ? (v as unknown[]) : []);
  ln(' Containers:', info.Containers ?? 0);
  ln('  Running:', info.ContainersRunning ?? 0);
  ln('  Paused:', info.ContainersPaused ?? 0);
  ln('  Stopped:', info.ContainersStopped ?? 0);
  ln(' Images:', info.Images ?? 0);
  nonEmpty(' Server Version:', info.ServerVersion);
  nonEmpty(' Storage Driver:', info.Driver);
  for (const pair of list(info.DriverStatus) as string[][]) lines.push(`  ${pair[0]}: ${pair[1]}`);
  for (const pair of list(info.SystemStatus) as string[][]) lines.push(` ${pair[0]}: ${pair[1]}`);
  nonEmpty(' Logging Driver:', info.LoggingDriver);
  nonEmpty(' Cgroup Driver:', info.CgroupDriver);
  nonEmpty(' Cgroup Version:', info.CgroupVersion);
  const plugins = (info.Plugins ?? {}) as Record<string, string[] | null>;
  ln(' Plugins:');
  ln('  Volume:', (plugins.Volume ?? []).join(' '));
  ln('  Network:', (plugins.Network ?? []).join(' '));
  if ((plugins.Authorization ?? []).length) ln('  Authorization:', (plugins.Authorization ?? []).join(' '));
  ln('  Log:', (plugins.Log ?? []).join(' '));
  if (list(info.CDISpecDirs).length) {
    ln(' CDI spec directories:');
    for (const d of list(info.CDISpecDirs)) lines.push(`  ${d}`);
  }
  const swarm = (info.Swarm ?? {}) as Record<string, unknown>;
  ln(' Swarm:', swarm.LocalNodeState ?? '');
  const runtimes = Object.keys((info.Runtimes ?? {}) as object).sort();
  if (runtimes.length) {
    ln(' Runtimes:', runtimes.join(' '));
    ln(' Default Runtime:', info.DefaultRuntime ?? '');
  }
  if (info.OSType === 'linux') {
    const commit = (k: string) => ((info[k] ?? {}) as { ID?: string }).ID ?? '';
    ln(' Init Binary:', info.InitBinary ?? '');
    ln(' containerd version:', commit('ContainerdCommit'));
    ln(' runc version:', commit('RuncCommit'));
    ln(' init version:', commit('InitCommit'));
    const sec = decodeSecurityOptions(list(info.SecurityOptions) as string[]);
    if (sec.length) {
      ln(' Security Options:');
      for (const so of sec) {
        lines.push('  ' + so.name);
        if (so.profile) ln('   Profile:', so.profile);
      }
    }
  }
  nonEmpty(' Kernel Version:', info.KernelVersion);
  nonEmpty(' Operating System:', info.OperatingSystem);
  nonEmpty(' OSType:', info.OSType);
  nonEmpty(' Architecture:', info.Architecture);
  ln(' CPUs:', info.NCPU ?? 0);
  ln(' Total Memory:', bytesSize(Number(info.MemTotal ?? 0)));
  nonEmpty(' Name:', info.Name);
  nonEmpty(' ID:', info.ID);
  ln(' Docker Root Dir:', info.DockerRootDir ?? '');
  ln(' Debug Mode:', info.Debug === true);
  if (info.Debug === true) {
    ln('  File Descriptors:', info.NFd ?? 0);
    ln('  Goroutines:', info.NGoroutines ?? 0);
    ln('  System Time:', info.SystemTime ?? '');
    ln('  EventsListeners:', info.NEventsListener ?? 0);
  }
  nonEmpty(' HTTP Proxy:', info.HttpProxy);
  nonEmpty(' HTTPS Proxy:', info.HttpsProxy);
  nonEmpty(' No Proxy:', info.NoProxy);
  nonEmpty(' Username:', userName);
  if (list(info.Labels).length) {
    ln(' Labels:');
    for (const l of list(info.Labels)) lines.push('  ' + l);
  }
  ln(' Experimental:', info.ExperimentalBuild === true);
  const reg = info.RegistryConfig as { InsecureRegistryCIDRs?: string[] | null; IndexConfigs?: Record<string, { Name: string; Secure: boolean }>; Mirrors?: string[] | null } | null | undefined;
  if (reg && ((reg.InsecureRegistryCIDRs ?? []).length > 0 || Object.keys(reg.IndexConfigs ?? {}).length > 0)) {
    ln(' Insecure Registries:');
    for (const c of Object.values(reg.IndexConfigs ?? {})) if (!c.Secure) lines.push('  ' + c.Name);
    for (const cidr of reg.InsecureRegistryCIDRs ?? []) lines.push(`  ${cidr}`);
  }
  if (reg && (reg.Mirrors ?? []).length > 0) {
    ln(' Registry Mirrors:');
    for (const m of reg.Mirrors ?? []) lines.push('  ' + m);
  }
  ln(' Live Restore Enabled:', info.LiveRestoreEnabled === true);
  if (info.ProductLicense) ln(' Product License:', info.ProductLicense);
  return lines.join('\n') + '\n\n';
}

function clientInfo(ctx: CommandContext, apiVersion?: string): Record<string, unknown> {
  const info: Record<string, unknown> = {
    Debug: ctx.globals.debug, Version: CLI_VERSION, DefaultAPIVersion: CLIENT_API_VERSION, GitCommit: CLI_GIT_COMMIT,
    GoVersion: `node ${process.version}`, Os: clientOs(), Arch: clientArch(), BuildTime: '', Context: 'default', Plugins: [], Warnings: null,
  };
  if (apiVersion) info.ApiVersion = apiVersion;
  return info;
}

const info: CommandDef = {
  paths: [['system', 'info'], ['info']],
  usage: '[OPTIONS]',
  description: 'Display system-wide information',
  category: 'common',
  args: { max: 0 },
  flags: [{ name: 'format', short: 'f', kind: 'string', description: INSPECT_FORMAT_HELP }],
  async run(ctx) {
    const format = ctx.flags.string('format');
    const tmpl = format ? compileOrExit(format === 'json' ? '{{json .}}' : format, '') : undefined;
    let server: InfoMap | undefined;
    let serverErr: unknown;
    let apiVersion: string | undefined;
    try {
      const client = await ctx.client();
      apiVersion = client.apiVersion;
      server = await client.info();
    } catch (err) {
      serverErr = err;
    }
    if (tmpl) {
      if (serverErr && !(serverErr instanceof DaemonConnectError)) ctx.err(`${(serverErr as Error).message}\n`);
      const data: InfoMap = { ...(server ?? {}), ClientInfo: clientInfo(ctx, apiVersion) };
      let text = '';
      try {
        text = tmpl.execute(data);
      } catch (err) {
        ctx.out('\n');
        if (err instanceof TemplateExecError) throw new StatusError(1, err.message);
        throw err;
      }
      ctx.out(text + '\n');
      if (serverErr instanceof DaemonConnectError) throw serverErr;
      return;
    }
    const ci = clientInfo(ctx, apiVersion);
    let out = `Client:\n Version:    ${ci.Version}\n Context:    ${ci.Context}\n Debug Mode: ${ci.Debug}\n\nServer:\n`;
    if (server) {
      const auths = ctx.config().file.auths ?? {};
      const hub = auths['https://index.docker.io/v1/'];
      let user = '';
      if (hub?.auth) user = Buffer.from(hub.auth, 'base64').toString('utf8').split(':')[0];
      out += prettyServerInfo(server, user);
    }
    ctx.out(out);
    for (const w of ((server?.Warnings as string[] | null) ?? [])) ctx.err(`${w}\n`);
    if (serverErr) throw serverErr;
  },
};

export const systemCommands: CommandDef[] = [version, info, diskUsageCommand, ...eventsCommand];
