/**
 * `berth inspect` over every kind of object, and the shared output of all `* inspect` commands: a JSON array
 * indented by 4 spaces, or a template run over each raw API object (-f). Other groups register an
 * Inspector for their kind (containers first, as docker searches them first):
 *   registerInspector({ type: 'container', order: 0, inspect: async (ctx, name, opts) => obj | undefined })
 */
import { ApiError } from '../../client/transport';
import { StatusError } from '../errors';
import { templateError } from '../formatter';
import type { CommandContext, CommandDef } from '../registry';
import { compileTemplate } from '../template';
import { INSPECT_FORMAT_HELP } from './common';

export interface Inspector {
  type: string;
  /** lower runs first when --type is not given */
  order: number;
  /** the raw API object, or undefined when there is no such object of this type */
  inspect(ctx: CommandContext, name: string, opts: { size: boolean }): Promise<Record<string, unknown> | undefined>;
}

const inspectors: Inspector[] = [];

export function registerInspector(i: Inspector): void {
  const at = inspectors.findIndex((x) => x.type === i.type);
  if (at >= 0) inspectors.splice(at, 1);
  inspectors.push(i);
  inspectors.sort((a, b) => a.order - b.order);
}

const VALID_TYPES = ['config', 'container', 'image', 'network', 'node', 'plugin', 'secret', 'service', 'task', 'volume'];

registerInspector({
  type: 'image',
  order: 10,
  async inspect(ctx, name) {
    const client = await ctx.client();
    try {
      return await client.inspectImage(name);
    } catch (err) {
      if (err instanceof ApiError && err.statusCode === 404) return undefined;
      throw err;
    }
  },
});

/**
 * Print `objects` fetched by `fetch` as docker's inspect does: all found objects first (JSON array or one
 * template line each), then the errors; exit 1 if any failed.
 */
export async function inspectWithFormat(ctx: CommandContext, names: string[], fetch: (name: string) => Promise<unknown>): Promise<number> {
  const found: unknown[] = [];
  const errors: string[] = [];
  for (const name of names) {
    try {
      found.push(await fetch(name));
    } catch (err) {
      if (err instanceof ApiError) errors.push(`Error response from daemon: ${err.message}`);
      else if (err instanceof StatusError) errors.push(err.message);
      else throw err;
    }
  }
  const format = ctx.flags.string('format');
  if (format) {
    let out = '';
    try {
      const tmpl = compileTemplate(format === 'json' ? '{{json .}}' : format);
      for (const obj of found) out += tmpl.execute(obj) + '\n';
      if (found.length === 0) out = '\n';
    } catch (err) {
      throw templateError(err);
    }
    ctx.out(out);
  } else {
    ctx.out(JSON.stringify(found, null, 4) + '\n');
  }
  if (errors.length > 0) throw new StatusError(1, errors.join('\n'));
  return 0;
}

const inspect: CommandDef = {
  paths: [['inspect']],
  usage: '[OPTIONS] NAME|ID [NAME|ID...]',
  description: 'Return low-level information on berth objects',
  args: { min: 1 },
  flags: [
    { name: 'format', short: 'f', kind: 'string', description: INSPECT_FORMAT_HELP },
    { name: 'size', short: 's', kind: 'bool', description: 'Display total file sizes if the type is container' },
    { name: 'type', kind: 'string', description: 'Only inspect objects of the given type' },
  ],
  async run(ctx) {
    const type = ctx.flags.string('type');
    if (type && !VALID_TYPES.includes(type)) {
      throw new StatusError(1, `unknown type: ${JSON.stringify(type)}: must be one of ${VALID_TYPES.map((t) => JSON.stringify(t)).join(', ')}`);
    }
    const candidates = type ? inspectors.filter((i) => i.type === type) : inspectors;
    const size = ctx.flags.bool('size');
    return inspectWithFormat(ctx, ctx.args, async (name) => {
      for (const i of candidates) {
        const obj = await i.inspect(ctx, name, { size });
        if (obj !== undefined) return obj;
      }
      throw new StatusError(1, type ? `Error: No such ${type}: ${name}` : `Error: No such object: ${name}`);
    });
  },
};

export const inspectCommands: CommandDef[] = [inspect];
