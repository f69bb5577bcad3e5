/**
 * Runs the instructions of one stage. Every instruction is a *step*: it names what it will do (the
 * expanded instruction plus a content checksum), asks the cache, and on a miss produces a new config —
 * with a new layer for COPY/ADD/RUN/WORKDIR, with an `empty_layer` history entry otherwise. The step's image
 * ID is the digest of that config's JSON; nothing but the final image is added to the image store.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { unavailable } from '../errors';
import type { ImageConfig, LayerInfo } from '../image/types';
import { sha256Digest, shortId } from '../util/ids';
import { cacheKey } from './cache';
import { applyConfigStep, DEFAULT_SHELL, envMap, execForm } from './config-steps';
import { copyContents, planCopy } from './copy';
import type { CopyInstr, Instruction, RunInstr } from './instructions';
import { commitLayerTar, inspectLayerTar, LayerContents, writeLayerTar } from './layer-writer';
import { parseChmod, resolveChown } from './ownership';
import { LayeredRootfs, type TreeView } from './rootfs';
import type { BuildSession, StageState } from './session';
import { expandWord, type Lookup } from './shell-lex';
import { RunStepError } from './types';

/** Proxy variables every build may pass without declaring them (kept out of history, as dockerd does). */
export const PREDEFINED_ARGS = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy',
  'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy'];

interface Produced {
  config: ImageConfig;
  layer?: LayerInfo;
  createdBy: string;
}

export function cloneConfig(c: ImageConfig): ImageConfig {
  return JSON.parse(JSON.stringify(c)) as ImageConfig;
}

/** Variables visible to expansion: the stage's ARGs, overridden by the config's ENV. */
export function stageLookup(st: StageState): Lookup {
  const env = envMap(st.config.config?.Env);
  return (name) => env.get(name) ?? st.args.get(name);
}

export function rootfsOf(s: BuildSession, st: StageState): LayeredRootfs {
  const top = st.layers[st.layers.length - 1];
  return new LayeredRootfs(top ? s.deps.layers.lowerDirs(top) : []);
}

function shellOf(st: StageState): string[] {
  const sh = st.config.config?.Shell;
  return sh && sh.length ? sh : DEFAULT_SHELL;
}

/** One step: cache lookup by (parent image, `text`, `checksum`), else `produce` and record the result. */
async function step(s: BuildSession, st: StageState, text: string, checksum: string, produce: () => Promise<Produced>): Promise<void> {
  const parentId = st.imageId || `scratch:${st.platform}`;
  const key = cacheKey(parentId, text, checksum);
  if (!s.opts.noCache) {
    const hit = s.cache.get(key);
    if (hit) {
      st.config = JSON.parse(hit.config) as ImageConfig;
      st.configJson = hit.config;
      st.imageId = hit.imageId;
      st.layers = hit.layers;
      s.out(' ---> Using cache\n');
      s.out(` ---> ${shortId(hit.imageId)}\n`);
      return;
    }
  }
  const p = await produce();
  const cfg = p.config;
  const created = new Date().toISOString();
  cfg.created = created;
  cfg.rootfs = { type: 'layers', diff_ids: [...(cfg.rootfs?.diff_ids ?? [])] };
  const layers = [...st.layers];
  if (p.layer) {
    cfg.rootfs.diff_ids.push(p.layer.diffId);
    layers.push(p.layer.chainId);
  }
  cfg.history = [...(cfg.history ?? []), { created, created_by: p.createdBy, ...(p.layer ? {} : { empty_layer: true }) }];
  const json = JSON.stringify(cfg);
  const id = sha256Digest(json);
  st.config = cfg;
  st.configJson = json;
  st.imageId = id;
  st.layers = layers;
  s.cache.put(parentId, { key, imageId: id, config: json, layers, layer: p.layer?.chainId ?? null });
  s.newKeys.push(key);
  s.out(` ---> ${shortId(id)}\n`);
}

/** A layer from entries (nothing when there are none). */
async function layerFrom(s: BuildSession, st: StageState, contents: LayerContents): Promise<LayerInfo | undefined> {
  if (contents.size === 0) return undefined;
  const file = path.join(s.context.scratch, `layer-${randomBytes(8).toString('hex')}.tar`);
  try {
    const diffId = await writeLayerTar(contents.sorted(), file);
    const parent = st.layers[st.layers.length - 1] ?? null;
    const { info, created } = await commitLayerTar(s.deps, file, diffId, parent);
    if (created) s.createdLayers.push(info.chainId);
    return info;
  } finally {
    await fs.rm(file, { force: true });
  }
}

export async function runInstruction(s: BuildSession, st: StageState, instr: Instruction): Promise<void> {
  const lookup = stageLookup(st);
  const ex = (w: string) => expandWord(w, lookup, s.escape);
  switch (instr.kind) {
    case 'arg':
      return argStep(s, st, instr);
    case 'copy':
    case 'add':
      return copyStep(s, st, instr);
    case 'run':
      return runStep(s, st, instr);
    case 'workdir': {
      const value = ex(instr.value);
      const dir = path.posix.resolve(st.config.config?.WorkingDir || '/', value);
      const text = `WORKDIR ${dir}`;
      return step(s, st, text, '', async () => {
        const config = cloneConfig(st.config);
        (config.config ??= {}).WorkingDir = dir;
        return { config, layer: await workdirLayer(s, st, dir), createdBy: `${shellOf(st).join(' ')} #(nop) ${text}` };
      });
    }
    case 'from':
      throw new Error('FROM is handled by the builder');
    default: {
      if (instr.kind === 'cmd') st.cmdSet = true;
      const config = cloneConfig(st.config);
      const text = applyConfigStep(instr, config, { lookup, escape: s.escape, cmdSet: st.cmdSet })!;
      return step(s, st, text, '', async () => ({ config, createdBy: `${shellOf(st).join(' ')} #(nop)  ${text}` }));
    }
  }
}

async function argStep(s: BuildSession, st: StageState, instr: Extract<Instruction, { kind: 'arg' }>): Promise<void> {
  const parts: string[] = [];
  for (const a of instr.args) {
    s.declaredArgs.add(a.name);
    const given = s.buildArgs.get(a.name);
    let value: string | undefined;
    if (given !== undefined && given !== null) value = given;
    else if (a.value !== undefined) value = expandWord(a.value, stageLookup(st), s.escape);
    else value = s.metaArgs.get(a.name);
    st.args.set(a.name, value);
    parts.push(a.value !== undefined ? `${a.name}=${a.value}` : a.name);
  }
  const text = `ARG ${parts.join(' ')}`;
  const values = instr.args.map((a) => `${a.name}=${st.args.get(a.name) ?? ''}`).join('\n');
  return step(s, st, text, values, async () => ({ config: cloneConfig(st.config), createdBy: `${shellOf(st).join(' ')} #(nop)  ${text}` }));
}

async function workdirLayer(s: BuildSession, st: StageState, dir: string): Promise<LayerInfo | undefined> {
  const root = rootfsOf(s, st);
  const rel = await root.resolve(dir);
  if (!rel || (await root.lstat(rel))?.st.isDirectory()) return undefined;
  const contents = new LayerContents();
  let prefix = '';
  const now = Math.floor(Date.now() / 1000);
  for (const part of rel.split('/')) {
    prefix = prefix ? `${prefix}/${part}` : part;
    const found = await root.lstat(prefix);
    if (found && !found.st.isDirectory()) throw new Error(`mkdir ${dir}: not a directory`);
    contents.add(found
      ? { path: prefix, type: 'dir', mode: found.st.mode, uid: found.st.uid, gid: found.st.gid, mtime: found.st.mtimeMs / 1000 }
      : { path: prefix, type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: now });
  }
  return layerFrom(s, st, contents);
}

async function copyStep(s: BuildSession, st: StageState, instr: CopyInstr): Promise<void> {
  const lookup = stageLookup(st);
  const ex = (w: string) => expandWord(w, lookup, s.escape);
  const cmd = instr.kind === 'copy' ? 'COPY' : 'ADD';
  const heredocNames = new Map(instr.heredocs.map((h) => [h.name, h]));
  const heredocs: { name: string; data: Buffer }[] = [];
  const sources: string[] = [];
  for (const raw of instr.sources) {
    const m = /^<<-?(["']?)([A-Za-z0-9_.-]+)\1$/.exec(raw);
    const doc = m && !instr.json ? heredocNames.get(m[2]) : undefined;
    if (doc) heredocs.push({ name: doc.name, data: Buffer.from(doc.expand ? expandHeredoc(doc.content, lookup, s.escape) : doc.content) });
    else sources.push(instr.json ? expandWord(raw, lookup, s.escape) : ex(raw));
  }
  let dest = ex(instr.dest);
  if (!dest.startsWith('/')) {
    const trailing = dest.endsWith('/') || dest === '.';
    dest = path.posix.join(st.config.config?.WorkingDir || '/', dest) + (trailing ? '/' : '');
  }
  let source: TreeView = s.context.tree;
  let fromContext = true;
  const flags: string[] = [];
  if (instr.from) {
    const from = ex(instr.from);
    flags.push(`--from=${from}`);
    const stage = s.stageByName(from);
    if (stage) {
      source = rootfsOf(s, stage);
    } else {
      const img = await s.resolveImage(from, st.platform);
      const top = img.layers[img.layers.length - 1];
      source = new LayeredRootfs(top ? s.deps.layers.lowerDirs(top) : []);
    }
    fromContext = false;
  }
  const owner = instr.chown ? await resolveChown(ex(instr.chown), rootfsOf(s, st)) : undefined;
  if (instr.chown) flags.push(`--chown=${owner!.uid}:${owner!.gid}`);
  const chmod = instr.chmod ? parseChmod(ex(instr.chmod)) : undefined;
  if (instr.chmod) flags.push(`--chmod=${instr.chmod}`);
  const plan = await planCopy({ cmd, sources, heredocs, source, fromContext, scratch: s.context.scratch,
    knownDigests: fromContext ? s.context.digests : undefined, prepare: () => s.context.materialize() });
  const text = `${cmd} ${flags.length ? flags.join(' ') + ' ' : ''}${plan.describe} in ${dest} `;
  return step(s, st, text, plan.checksum, async () => {
    // the context is unpacked only now, when a copy from it is not in the cache
    if (fromContext) await s.context.materialize();
    const contents = await copyContents(plan, { dest, target: rootfsOf(s, st), owner, chmod, cmd });
    return { config: cloneConfig(st.config), layer: await layerFrom(s, st, contents), createdBy: `${shellOf(st).join(' ')} #(nop) ${text}` };
  });
}

function expandHeredoc(content: string, lookup: Lookup, escape: string): string {
  // only `$` expansions: quotes and escapes in a heredoc body are text
  return content.replace(/\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*/g, (m) => expandWord(m, lookup, escape));
}

/** The command RUN executes: exec form as is; shell form (heredocs put back in) under the stage's shell. */
function runCommand(instr: RunInstr, shell: string[]): string[] {
  const form = instr.command;
  if ('json' in form) return form.json;
  if (instr.heredocs.length === 1 && /^<<-?(["']?)[A-Za-z0-9_.-]+\1$/.test(form.shell.trim())) {
    return [...shell, instr.heredocs[0].content];
  }
  if (instr.heredocs.length) return [...shell, `${form.shell}\n${instr.heredocs.map((h) => h.raw).join('\n')}`];
  return [...shell, form.shell];
}

async function runStep(s: BuildSession, st: StageState, instr: RunInstr): Promise<void> {
  const shell = shellOf(st);
  const cmd = runCommand(instr, shell);
  const env = st.config.config?.Env ?? [];
  const envNames = new Set(env.map((e) => e.split('=')[0]));
  const argEnv: string[] = [];
  for (const [k, v] of st.args) if (v !== undefined && !envNames.has(k)) argEnv.push(`${k}=${v}`);
  const proxies: string[] = [];
  for (const k of PREDEFINED_ARGS) {
    const v = s.buildArgs.get(k);
    if (v !== undefined && v !== null && !st.args.has(k) && !envNames.has(k)) proxies.push(`${k}=${v}`);
  }
  argEnv.sort();
  const text = `RUN ${JSON.stringify(cmd)}${argEnv.length ? ` |${argEnv.length} ${argEnv.join(' ')}` : ''}`;
  return step(s, st, text, '', async () => {
    const runner = s.deps.runStep;
    if (!runner) throw unavailable('RUN is not available: no container runtime');
    const cfg = st.config.config ?? {};
    let containerId = '';
    const result = await runner.run({
      imageConfig: st.config, parentChainId: st.layers[st.layers.length - 1] ?? null, cmd,
      env: [...env, ...argEnv, ...proxies], user: cfg.User ?? '', workdir: cfg.WorkingDir ?? '', shell,
      network: s.opts.network ?? '', signal: s.opts.signal,
      onStarted: (id) => { containerId = id; s.out(` ---> Running in ${shortId(id)}\n`); },
      onOutput: (chunk) => s.out(chunk.toString('utf8')),
    });
    let layer: LayerInfo | undefined;
    try {
      if (result.exitCode !== 0) {
        throw new RunStepError(`The command '${cmd.join(' ')}' returned a non-zero code: ${result.exitCode}`, result.exitCode);
      }
      if (result.diff) {
        const file = path.join(s.context.scratch, `run-${randomBytes(8).toString('hex')}.tar`);
        try {
          await pipeline(result.diff, createWriteStream(file, { mode: 0o600 }));
          const { diffId, empty } = await inspectLayerTar(file);
          if (!empty) {
            const parent = st.layers[st.layers.length - 1] ?? null;
            const committed = await commitLayerTar(s.deps, file, diffId, parent);
            if (committed.created) s.createdLayers.push(committed.info.chainId);
            layer = committed.info;
          }
        } finally {
          await fs.rm(file, { force: true });
        }
      }
    } finally {
      await result.cleanup?.().catch((err) => s.deps.log.warn('RUN cleanup failed', { error: String(err) }));
    }
    if (containerId) s.out(`Removing intermediate container ${shortId(containerId)}\n`);
    const createdBy = argEnv.length ? `|${argEnv.length} ${argEnv.join(' ')} ${cmd.join(' ')}` : cmd.join(' ');
    return { config: cloneConfig(st.config), layer, createdBy };
  });
}
