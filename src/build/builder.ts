/**
 * The classic builder (`POST /build`): context in, image out, progress as dockerd's JSON stream
 * (`Step 1/5 : FROM busybox`, ` ---> Using cache`, ` ---> 1a2b3c4d5e6f`, `Successfully built …`).
 * A build that fails leaves nothing behind: the layers it registered and the cache rows it wrote are
 * released again, and no image row or tag is written before the last step succeeded.
 */
import type { Readable } from 'node:stream';
import * as path from 'node:path';
import { invalidArgument, notFound } from '../errors';
import { familiarString, fullString, parseWithDefaultTag, type Reference } from '../image/reference';
import type { ImageConfig, ImageRecord, ProgressMessage } from '../image/types';
import type { AuthConfig } from '../registry/auth';
import { shortId } from '../util/ids';
import { BuildCache, releaseLayers } from './cache';
import { DEFAULT_PATH } from './config-steps';
import { receiveContext, type BuildContext } from './context';
import { PREDEFINED_ARGS, runInstruction } from './executor';
import { parseBuildPlan, parseInstructionText, type Instruction, type Stage } from './instructions';
import type { BuildSession, StageState } from './session';
import { expandWord } from './shell-lex';
import type { BuilderDeps, BuildOptions, BuildResult } from './types';

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

/**
 * The credentials of X-Registry-Config that belong to `ref`'s registry: keys are hosts or URLs
 * (`127.0.0.1:5000`, `https://index.docker.io/v1/`), Docker Hub under any of its names.
 */
export function authForReference(ref: string, authConfigs: Record<string, AuthConfig> | undefined): AuthConfig | undefined {
  if (!authConfigs) return undefined;
  let domain: string;
  try {
    domain = parseWithDefaultTag(ref).domain;
  } catch {
    return undefined;
  }
  const hub = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);
  for (const [key, auth] of Object.entries(authConfigs)) {
    const host = key.replace(/^https?:\/\//, '').split('/')[0];
    if (host === domain || (hub.has(host) && hub.has(domain))) return auth;
  }
  return undefined;
}

export function hostPlatformString(): string {
  return `linux/${ARCH[process.arch] ?? process.arch}`;
}

function scratchConfig(platform: string): ImageConfig {
  const [os, architecture, variant] = platform.split('/');
  return {
    architecture,
    ...(variant ? { variant } : {}),
    os,
    config: { Env: [DEFAULT_PATH] },
    rootfs: { type: 'layers', diff_ids: [] },
    history: [],
  };
}

function labelInstruction(labels: Record<string, string>): string {
  const quote = (s: string) => JSON.stringify(s).replace(/\$/g, '\\$');
  return `LABEL ${Object.entries(labels).map(([k, v]) => `${quote(k)}=${quote(v)}`).join(' ')}`;
}

export class Builder {
  private readonly cache: BuildCache;
  private readonly active = new Set<Promise<unknown>>();

  constructor(private readonly deps: BuilderDeps) {
    this.cache = new BuildCache(deps.db, deps.layers);
  }

  /** Builds from a context stream; `write` gets every progress message. Throws on failure (nothing kept). */
  build(body: Readable, opts: BuildOptions, write: (m: ProgressMessage) => void): Promise<BuildResult> {
    const p = this.run(body, opts, write);
    this.active.add(p);
    const done = () => { this.active.delete(p); };
    p.then(done, done);
    return p;
  }

  private async run(body: Readable, opts: BuildOptions, write: (m: ProgressMessage) => void): Promise<BuildResult> {
    const tags: Reference[] = (opts.tags ?? []).map((t) => {
      try {
        const ref = parseWithDefaultTag(t);
        if (ref.digest) throw new Error('digest');
        return ref;
      } catch {
        throw invalidArgument(`invalid reference format: ${t}`);
      }
    });
    const started = performance.now();
    const context = await receiveContext(body, { tmpDir: path.join(this.deps.dataRoot, 'tmp'), dockerfile: opts.dockerfile });
    const received = performance.now();
    const session = this.session(context, opts, write);
    try {
      const imageId = await this.execute(session, context, opts);
      this.deps.log.debug('build steps done', { contextMs: Math.round(received - started), bodyMs: Math.round(context.stats.bodyMs), digestsMs: Math.round(context.stats.digestsMs), chunks: context.stats.chunks, stepsMs: Math.round(performance.now() - received), unpacked: context.tree.onDisk });
      const image = await this.commit(session, imageId, tags);
      const unused = [...session.buildArgs.keys()].filter((k) => !session.declaredArgs.has(k) && !PREDEFINED_ARGS.includes(k));
      if (unused.length) session.out(`[Warning] One or more build-args [${unused.join(' ')}] were not consumed\n`);
      write({ aux: { ID: image.id } });
      session.out(`Successfully built ${shortId(image.id)}\n`);
      for (const t of tags) session.out(`Successfully tagged ${familiarString(t)}\n`);
      if (opts.quiet) write({ stream: `${image.id}\n` });
      return { imageId: image.id, tags: tags.map(familiarString) };
    } catch (err) {
      await this.rollback(session).catch((e) => this.deps.log.warn('build rollback failed', { error: String(e) }));
      throw err;
    } finally {
      await context.remove();
    }
  }

  private session(context: BuildContext, opts: BuildOptions, write: (m: ProgressMessage) => void): BuildSession & { stages: StageState[] } {
    const stages: StageState[] = [];
    const deps = this.deps;
    const pulled = new Map<string, ImageRecord>();
    return {
      deps, opts, cache: this.cache, context, escape: '\\', stages,
      out: (text) => { if (!opts.quiet && text) write({ stream: text }); },
      progress: (m) => { if (!opts.quiet) write(m); },
      createdLayers: [], newKeys: [],
      buildArgs: new Map(Object.entries(opts.buildArgs ?? {})),
      declaredArgs: new Set(), metaArgs: new Map(),
      stageByName(name: string) {
        const lower = name.toLowerCase();
        return stages.find((s) => s.name === lower) ?? (/^\d+$/.test(name) ? stages[Number(name)] : undefined);
      },
      async resolveImage(ref: string, platform: string) {
        const key = `${ref}|${platform}`;
        const seen = pulled.get(key);
        if (seen) return seen;
        let img = opts.pull ? undefined : deps.images.resolve(ref);
        if (!img) {
          try {
            img = await deps.pull(ref, { platform: opts.platform, authConfigs: opts.authConfigs, signal: opts.signal },
              (m) => { if (!opts.quiet) write(m); });
          } catch (err) {
            if (!opts.pull) throw err;
            img = deps.images.resolve(ref);
            if (!img) throw err;
          }
        }
        pulled.set(key, img);
        return img;
      },
    };
  }

  private async execute(s: BuildSession & { stages: StageState[] }, context: BuildContext, opts: BuildOptions): Promise<string> {
    const plan = parseBuildPlan(context.dockerfile);
    s.escape = plan.escape;
    for (const w of plan.warnings) s.out(`${w}\n`);
    let last = plan.stages.length - 1;
    if (opts.target) {
      last = plan.stages.findIndex((st) => st.name === opts.target!.toLowerCase());
      if (last < 0) throw invalidArgument(`failed to reach build target ${opts.target} in Dockerfile`);
    }
    const stages = plan.stages.slice(0, last + 1);
    const extra: Instruction[] = opts.labels && Object.keys(opts.labels).length ? [parseInstructionText(labelInstruction(opts.labels))] : [];
    // as the classic builder: each ARG before the first FROM is a step of its own (it prints no ID)
    const total = plan.metaArgs.length + stages.reduce((n, st) => n + 1 + st.instructions.length, 0) + extra.length;
    let n = 0;
    for (const meta of plan.metaArgs) {
      s.out(`Step ${++n}/${total} : ${meta.node.original}\n`);
      for (const a of meta.args) {
        s.declaredArgs.add(a.name);
        const given = s.buildArgs.get(a.name);
        const value = given !== undefined && given !== null ? given
          : a.value !== undefined ? expandWord(a.value, (name) => s.metaArgs.get(name), plan.escape) : undefined;
        s.metaArgs.set(a.name, value);
      }
    }
    let state: StageState | undefined;
    for (const stage of stages) {
      s.out(`Step ${++n}/${total} : ${stage.from.node.original}\n`);
      state = await this.startStage(s, stage);
      s.stages.push(state);
      const list = stage === stages[stages.length - 1] ? [...stage.instructions, ...extra] : stage.instructions;
      for (const instr of list) {
        opts.signal?.throwIfAborted();
        s.out(`Step ${++n}/${total} : ${instr.node.original}\n`);
        await runInstruction(s, state, instr);
      }
    }
    if (!state || !state.imageId) throw invalidArgument('No image was generated. Is your Dockerfile empty?');
    return state.imageId;
  }

  private async startStage(s: BuildSession & { stages: StageState[] }, stage: Stage): Promise<StageState> {
    const metaLookup = (n: string) => s.metaArgs.get(n);
    const image = expandWord(stage.from.image, metaLookup, s.escape);
    const platform = stage.from.platform ? expandWord(stage.from.platform, metaLookup, s.escape) : s.opts.platform || hostPlatformString();
    if (!image) throw invalidArgument('base name (${image}) should not be blank'.replace('${image}', stage.from.image));
    const base = { index: stage.index, name: stage.name, platform, args: new Map<string, string | undefined>(), cmdSet: false };
    if (image.toLowerCase() === 'scratch') {
      s.out(' ---> \n');
      return { ...base, config: scratchConfig(platform), configJson: '', imageId: '', layers: [] };
    }
    const previous = s.stageByName(image);
    if (previous && !/^\d+$/.test(image)) {
      s.out(` ---> ${shortId(previous.imageId)}\n`);
      return { ...base, config: JSON.parse(JSON.stringify(previous.config)) as ImageConfig, configJson: previous.configJson, imageId: previous.imageId, layers: [...previous.layers] };
    }
    const img = await s.resolveImage(image, platform);
    s.out(` ---> ${shortId(img.id)}\n`);
    const state: StageState = { ...base, config: JSON.parse(JSON.stringify(img.config)) as ImageConfig, configJson: '', imageId: img.id, layers: [...img.layers] };
    const triggers = img.config.config?.OnBuild ?? [];
    if (triggers.length) {
      s.out(`# Executing ${triggers.length} build trigger${triggers.length > 1 ? 's' : ''}\n`);
      (state.config.config ??= {}).OnBuild = null;
      for (const t of triggers) await runInstruction(s, state, parseInstructionText(t, s.escape));
    }
    return state;
  }

  /** The last stage's config becomes an image (one transaction with its tags). */
  private async commit(s: BuildSession & { stages: StageState[] }, imageId: string, tags: Reference[]): Promise<ImageRecord> {
    const { images, content, events } = this.deps;
    const state = s.stages[s.stages.length - 1];
    let image = images.get(imageId);
    const full = tags.map(fullString);
    if (!image) {
      if (!state.configJson) throw notFound(`image config ${imageId} is missing`);
      const digest = await content.put(Buffer.from(state.configJson, 'utf8'));
      if (digest !== imageId) throw new Error(`image config digest ${digest} differs from the build's ${imageId}`);
      image = images.add({ config: state.config, configDigest: imageId, layers: state.layers, tags: full });
    } else {
      for (const t of full) images.tag(image.id, t);
    }
    for (const t of tags) events.emit('image', 'tag', image.id, { name: familiarString(t) });
    return images.get(image.id)!;
  }

  private async rollback(s: BuildSession): Promise<void> {
    this.cache.delete(s.newKeys);
    await releaseLayers({ ...this.deps, cache: this.cache }, [...s.createdLayers].reverse());
  }

  /** POST /build/prune: every cache row goes, and the layers only the cache kept. */
  async prune(): Promise<{ CachesDeleted: string[]; SpaceReclaimed: number }> {
    await Promise.allSettled([...this.active]);
    const keys = (this.deps.db.prepare('SELECT key FROM build_cache').all() as { key: string }[]).map((r) => r.key);
    const layers = this.cache.cachedLayers();
    this.cache.clear();
    const freed = await releaseLayers({ ...this.deps, cache: this.cache }, layers);
    return { CachesDeleted: keys, SpaceReclaimed: freed };
  }
}
