/**
 * A container's OCI seccomp section as the BPF program berth-exec loads for an exec: berthd writes it in a
 * line form libseccomp can take without a JSON parser, and `berth-exec --compile-seccomp` compiles it.
 * The rules are added as runc 1.1 adds them, so the exec'd process gets the filter the init has.
 */
import { rm, writeFile } from 'node:fs/promises';
import { runTool } from './exec-file';

export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  syscalls?: { names: string[]; action: string; errnoRet?: number; args?: { index: number; value: number; valueTwo?: number; op: string }[] }[];
}

const EPERM = 1;
const OPS = ['', 'SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ'];
const FLAGS: Record<string, number> = {
  SECCOMP_FILTER_FLAG_TSYNC: 1, SECCOMP_FILTER_FLAG_LOG: 2, SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
};

/** libseccomp's number for an OCI action (errno actions default to EPERM, as in runc). */
export function seccompAction(action: string, errnoRet?: number): number {
  const ret = (errnoRet ?? EPERM) & 0xffff;
  switch (action) {
    case 'SCMP_ACT_KILL':
    case 'SCMP_ACT_KILL_THREAD': return 0;
    case 'SCMP_ACT_KILL_PROCESS': return 0x80000000;
    case 'SCMP_ACT_TRAP': return 0x00030000;
    case 'SCMP_ACT_ERRNO': return 0x00050000 | ret;
    case 'SCMP_ACT_TRACE': return 0x7ff00000 | ret;
    case 'SCMP_ACT_LOG': return 0x7ffc0000;
    case 'SCMP_ACT_ALLOW': return 0x7fff0000;
    default: throw new Error(`seccomp action ${action} is not supported for exec`);
  }
}

/** The line form berth-exec --compile-seccomp reads. */
export function seccompText(s: OciSeccomp): string {
  const def = seccompAction(s.defaultAction, s.defaultErrnoRet);
  const lines = [`default ${def}`];
  for (const a of s.architectures ?? []) lines.push(`arch ${a.replace(/^SCMP_ARCH_/, '').toLowerCase()}`);
  for (const call of s.syscalls ?? []) {
    const action = seccompAction(call.action, call.errnoRet);
    if (action === def) continue;
    const conds = (call.args ?? []).map((c) => {
      const op = OPS.indexOf(c.op);
      if (op <= 0) throw new Error(`seccomp operator ${c.op} is not supported`);
      return `${c.index} ${op} ${BigInt(c.value)} ${BigInt(c.valueTwo ?? 0)}`;
    });
    // as runc: conditions on distinct arguments make one rule (all must hold); two on the same argument
    // make one rule each (either may hold)
    const indexes = (call.args ?? []).map((c) => c.index);
    const groups = new Set(indexes).size === indexes.length ? [conds] : conds.map((c) => [c]);
    for (const name of call.names) for (const g of groups) lines.push(['rule', action, name, ...g].join(' '));
  }
  return `${lines.join('\n')}\n`;
}

export function seccompFlags(s: OciSeccomp): number {
  return (s.flags ?? []).reduce((sum, f) => sum | (FLAGS[f] ?? 0), 0);
}

/** Compiles `s` into `out` with berth-exec. */
export async function compileSeccomp(binary: string, s: OciSeccomp, out: string): Promise<void> {
  const text = `${out}.txt`;
  await writeFile(text, seccompText(s));
  try {
    const r = await runTool(binary, ['--compile-seccomp', text, out]);
    if (r.code !== 0) throw new Error(r.stderr.trim().replace(/^error /, '') || `berth-exec --compile-seccomp exited ${r.code}`);
  } finally {
    await rm(text, { force: true });
  }
}
