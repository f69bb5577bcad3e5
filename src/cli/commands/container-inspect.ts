import { ApiError } from '../../client/transport';
import type { CommandContext, CommandDef } from '../registry';
import { inspectFormatFlag } from './common';
import { inspectWithFormat, registerInspector } from './inspect';

async function inspectContainer(ctx: CommandContext, name: string, size: boolean): Promise<Record<string, unknown>> {
  const client = await ctx.client();
  return client.json<Record<string, unknown>>({ path: `/containers/${encodeURIComponent(name)}/json`, query: { size: size ? '1' : undefined } });
}

// `berth inspect NAME` looks for a container first, as docker does.
registerInspector({
  type: 'container',
  order: 0,
  async inspect(ctx, name, opts) {
    try {
      return await inspectContainer(ctx, name, opts.size);
    } catch (err) {
      if (err instanceof ApiError && err.statusCode === 404) return undefined;
      throw err;
    }
  },
});

const inspectContainers: CommandDef = {
  paths: [['container', 'inspect']],
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Display detailed information on one or more containers',
  args: { min: 1 },
  flags: [
    inspectFormatFlag,
    { name: 'size', short: 's', kind: 'bool', description: 'Display total file sizes' },
  ],
  async run(ctx) {
    const size = ctx.flags.bool('size');
    return inspectWithFormat(ctx, ctx.args, (name) => inspectContainer(ctx, name, size));
  },
};

export const containerInspectCommands: CommandDef[] = [inspectContainers];
