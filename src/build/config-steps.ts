/**
 * Instructions that only change the image config (ENV, LABEL, EXPOSE, VOLUME, CMD, ENTRYPOINT, SHELL, USER,
 * STOPSIGNAL, HEALTHCHECK, ONBUILD, MAINTAINER): pure functions from an instruction and the config to the
 * changed config plus the text that names the change (used in the cache key and the history entry).
 */
import { invalidArgument } from '../errors';
import type { ContainerConfig, ImageConfig } from '../image/types';
import type { CommandForm, Instruction } from './instructions';
import { expandWord, type Lookup } from './shell-lex';

export const DEFAULT_SHELL = ['/bin/sh', '-c'];
export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface ConfigStepContext {
  lookup: Lookup;
  escape: string;
  /** CMD was set in this stage (ENTRYPOINT then keeps it) */
  cmdSet: boolean;
}

export function envMap(env: string[] | undefined): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of env ?? []) {
    const eq = e.indexOf('=');
    if (eq > 0) m.set(e.slice(0, eq), e.slice(eq + 1));
    else m.set(e, '');
  }
  return m;
}

/** Set or replace KEY=value in an Env list, keeping its order. */
export function setEnv(env: string[], key: string, value: string): string[] {
  const i = env.findIndex((e) => e.split('=')[0] === key);
  if (i < 0) return [...env, `${key}=${value}`];
  const copy = [...env];
  copy[i] = `${key}=${value}`;
  return copy;
}

/** A command in exec form: JSON as is, shell form under the stage's shell. */
export function execForm(form: CommandForm, shell: string[]): string[] {
  return 'json' in form ? form.json : [...shell, form.shell];
}

const SIGNALS = new Set(['HUP', 'INT', 'QUIT', 'ILL', 'TRAP', 'ABRT', 'BUS', 'FPE', 'KILL', 'USR1', 'SEGV', 'USR2', 'PIPE', 'ALRM',
  'TERM', 'STKFLT', 'CHLD', 'CONT', 'STOP', 'TSTP', 'TTIN', 'TTOU', 'URG', 'XCPU', 'XFSZ', 'VTALRM', 'PROF', 'WINCH', 'IO', 'PWR', 'SYS']);

function validSignal(s: string): boolean {
  if (/^\d+$/.test(s)) return Number(s) > 0 && Number(s) <= 64;
  const name = s.toUpperCase().replace(/^SIG/, '');
  return SIGNALS.has(name) || /^RTM(IN|AX)([+-]\d+)?$/.test(name);
}

/** `80`, `80/tcp`, `8000-8002/udp` → `80/tcp`… */
export function exposedPorts(spec: string): string[] {
  const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(spec);
  if (!m) throw invalidArgument(`invalid containerPort: ${spec}`);
  const lo = Number(m[1]);
  const hi = m[2] ? Number(m[2]) : lo;
  const proto = (m[3] ?? 'tcp').toLowerCase();
  if (hi < lo || hi > 65535) throw invalidArgument(`invalid port range: ${spec}`);
  const out: string[] = [];
  for (let p = lo; p <= hi; p++) out.push(`${p}/${proto}`);
  return out;
}

/**
 * Applies a config-only instruction to `img` (in place). Returns the text naming the change, or undefined
 * when `instr` is not a config-only instruction.
 */
export function applyConfigStep(instr: Instruction, img: ImageConfig, ctx: ConfigStepContext): string | undefined {
  const cfg: ContainerConfig = (img.config ??= {});
  const ex = (w: string) => expandWord(w, ctx.lookup, ctx.escape);
  const shell = cfg.Shell?.length ? cfg.Shell : DEFAULT_SHELL;
  switch (instr.kind) {
    case 'env': {
      // every pair sees the values from before this instruction
      const pairs = instr.pairs.map((p) => ({ key: ex(p.key), value: ex(p.value) }));
      let env = cfg.Env ?? [];
      for (const p of pairs) {
        if (!p.key) throw invalidArgument('ENV names can not be blank');
        env = setEnv(env, p.key, p.value);
      }
      cfg.Env = env;
      return `ENV ${pairs.map((p) => `${p.key}=${p.value}`).join(' ')}`;
    }
    case 'label': {
      const pairs = instr.pairs.map((p) => ({ key: ex(p.key), value: ex(p.value) }));
      const labels = { ...(cfg.Labels ?? {}) };
      for (const p of pairs) {
        if (!p.key) throw invalidArgument('LABEL names can not be blank');
        labels[p.key] = p.value;
      }
      cfg.Labels = labels;
      return `LABEL ${pairs.map((p) => `${p.key}=${p.value}`).join(' ')}`;
    }
    case 'expose': {
      const ports = { ...(cfg.ExposedPorts ?? {}) };
      const added: string[] = [];
      for (const w of instr.values) for (const p of exposedPorts(ex(w))) { ports[p] = {}; added.push(p); }
      cfg.ExposedPorts = ports;
      return `EXPOSE ${added.join(' ')}`;
    }
    case 'volume': {
      const volumes = { ...(cfg.Volumes ?? {}) };
      const added: string[] = [];
      for (const w of instr.values) {
        const v = ex(w).trim();
        if (!v) throw invalidArgument('VOLUME specified can not be an empty string');
        volumes[v] = {};
        added.push(v);
      }
      cfg.Volumes = volumes;
      return `VOLUME [${added.join(' ')}]`;
    }
    case 'cmd': {
      cfg.Cmd = execForm(instr.command, shell);
      return `CMD ${JSON.stringify(cfg.Cmd)}`;
    }
    case 'entrypoint': {
      const form = instr.command;
      cfg.Entrypoint = 'shell' in form && form.shell.trim() === '' ? null : execForm(form, shell);
      if (!ctx.cmdSet) cfg.Cmd = null;
      return `ENTRYPOINT ${JSON.stringify(cfg.Entrypoint)}`;
    }
    case 'shell':
      cfg.Shell = instr.shell;
      return `SHELL ${JSON.stringify(instr.shell)}`;
    case 'user': {
      const user = ex(instr.value);
      cfg.User = user;
      return `USER ${user}`;
    }
    case 'stopsignal': {
      const sig = ex(instr.value);
      if (!validSignal(sig)) throw invalidArgument(`Invalid signal: ${sig}`);
      cfg.StopSignal = sig;
      return `STOPSIGNAL ${sig}`;
    }
    case 'healthcheck': {
      if (!instr.test) {
        cfg.Healthcheck = { Test: ['NONE'] };
        return 'HEALTHCHECK NONE';
      }
      const hc: Record<string, unknown> = { Test: instr.test };
      if (instr.interval) hc.Interval = instr.interval;
      if (instr.timeout) hc.Timeout = instr.timeout;
      if (instr.startPeriod) hc.StartPeriod = instr.startPeriod;
      if (instr.startInterval) hc.StartInterval = instr.startInterval;
      if (instr.retries) hc.Retries = instr.retries;
      cfg.Healthcheck = hc;
      return `HEALTHCHECK ${JSON.stringify(hc)}`;
    }
    case 'onbuild':
      cfg.OnBuild = [...(cfg.OnBuild ?? []), instr.trigger];
      return `ONBUILD ${instr.trigger}`;
    case 'maintainer': {
      img.author = ex(instr.value);
      return `MAINTAINER ${img.author}`;
    }
    default:
      return undefined;
  }
}
