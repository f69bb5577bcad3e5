/**
 * The command registry: every `berth` command is a CommandDef; a command group is one file under
 * src/cli/commands/ exporting an array of them.
 *
 * HOW TO ADD A COMMAND GROUP (e.g. containers):
 *   1. Create src/cli/commands/containers.ts exporting `export const containerCommands: CommandDef[] = [...]`.
 *      Each definition names all the paths it answers to, canonical first, in the order docker's help lists
 *      them under "Aliases:" — e.g. `paths: [['container', 'ls'], ['container', 'list'], ['container', 'ps'], ['ps']]`.
 *      `usage` is what follows the command path in "Usage:" ("[OPTIONS] CONTAINER [CONTAINER...]"),
 *      `args` checks the argument count with docker's wording, `flags` lists FlagSpecs (see flags.ts),
 *      `interspersed: false` stops flag parsing at the first argument (run, exec), `category: 'common'`
 *      puts a top-level command under "Common Commands" in `berth --help`.
 *   2. If it introduces a management command (`berth container ...`), add a ManagementGroup to its file's
 *      export `containerGroups` (name + description).
 *   3. Add both arrays to COMMAND_SETS / GROUP_SETS in src/cli/commands/index.ts. Nothing else changes.
 *   run(ctx) gets parsed flags and args, a lazily-connected API client, output streams and config; it returns
 *   an exit code (or nothing for 0) and throws StatusError / ApiError / ... for failures (see errors.ts).
 */
import type { Readable, Writable } from 'node:stream';
import type { EngineClient } from '../client/engine-client';
import type { FlagSpec, FlagValues } from './flags';
import type { CliConfig } from './config-file';

export interface ArgsRule {
  min?: number;
  max?: number;
}

export interface GlobalOptions {
  host: string;
  configDir: string;
  debug: boolean;
  logLevel: string;
}

export interface CommandContext {
  args: string[];
  flags: FlagValues;
  /** "berth images", as invoked (used in messages) */
  commandPath: string;
  /** connects on first use (negotiating the API version) */
  client(): Promise<EngineClient>;
  stdin: Readable & { isTTY?: boolean; fd?: number };
  stdout: Writable & { isTTY?: boolean; columns?: number; fd?: number };
  stderr: Writable & { isTTY?: boolean };
  out(text: string): void;
  err(text: string): void;
  config(): CliConfig;
  globals: GlobalOptions;
}

export interface CommandDef {
  /** every path this command answers to; the first is canonical */
  paths: string[][];
  usage: string;
  description: string;
  flags?: FlagSpec[];
  args?: ArgsRule;
  interspersed?: boolean;
  category?: 'common' | 'other';
  hidden?: boolean;
  run(ctx: CommandContext): Promise<number | void>;
}

export interface ManagementGroup {
  name: string;
  description: string;
}

export class CommandRegistry {
  readonly commands: CommandDef[] = [];
  readonly groups: ManagementGroup[] = [];

  add(defs: CommandDef[], groups: ManagementGroup[] = []): void {
    this.commands.push(...defs);
    for (const g of groups) if (!this.groups.some((x) => x.name === g.name)) this.groups.push(g);
  }

  group(name: string): ManagementGroup | undefined {
    return this.groups.find((g) => g.name === name);
  }

  /** The command for a top-level word, or for `group sub`; `consumed` tells how many words named it. */
  find(words: string[]): { def: CommandDef; path: string[] } | undefined {
    for (const def of this.commands) {
      for (const p of def.paths) {
        if (p.length <= words.length && p.every((w, i) => words[i] === w)) return { def, path: p };
      }
    }
    return undefined;
  }

  /** Sub-commands of a management group, by name, with their short name */
  subcommands(group: string): { name: string; def: CommandDef }[] {
    const out: { name: string; def: CommandDef }[] = [];
    for (const def of this.commands) {
      if (def.hidden) continue;
      const p = def.paths.find((x) => x.length === 2 && x[0] === group);
      if (p) out.push({ name: p[1], def });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Top-level commands (one-word paths) */
  topLevel(): { name: string; def: CommandDef }[] {
    const out: { name: string; def: CommandDef }[] = [];
    for (const def of this.commands) {
      if (def.hidden) continue;
      const p = def.paths.find((x) => x.length === 1);
      if (p) out.push({ name: p[0], def });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }
}
