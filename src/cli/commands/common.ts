/** Pieces shared by command groups: flag help texts as docker words them, references, prompts, output. */
import { parseReference, type Reference } from '../../image/reference';
import type { FlagSpec } from '../flags';
import type { CommandContext } from '../registry';
import { ApiError } from '../../client/transport';
import { CancelledError, StatusError } from '../errors';

/** flagsHelper.FormatHelp (list commands) */
export const FORMAT_HELP = `Format output using a custom template:
'table':            Print output in table format with column headers (default)
'table TEMPLATE':   Print output in table format using the given Go template
'json':             Print in JSON format
'TEMPLATE':         Print output using the given Go template.
Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates`;

/** flagsHelper.InspectFormatHelp (inspect, version, info, events) */
export const INSPECT_FORMAT_HELP = `Format output using a custom template:
'json':             Print in JSON format
'TEMPLATE':         Print output using the given Go template.
Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates`;

export const listFormatFlag: FlagSpec = { name: 'format', kind: 'string', description: FORMAT_HELP };
export const inspectFormatFlag: FlagSpec = { name: 'format', short: 'f', kind: 'string', description: INSPECT_FORMAT_HELP };
/** `-f/--force` of the prune commands. */
export const pruneForceFlag: FlagSpec = { name: 'force', short: 'f', kind: 'bool', description: 'Do not prompt for confirmation' };
export const filterFlag = (description = 'Filter output based on conditions provided'): FlagSpec => ({ name: 'filter', short: 'f', kind: 'filter', description });

/** The name without docker.io/ and library/ (reference.FamiliarName). */
export function familiarName(ref: Pick<Reference, 'domain' | 'path'>): string {
  if (ref.domain === 'docker.io') return ref.path.startsWith('library/') && ref.path.split('/').length === 2 ? ref.path.slice('library/'.length) : ref.path;
  return `${ref.domain}/${ref.path}`;
}

/** The full name: docker.io/library/busybox */
export function fullName(ref: Pick<Reference, 'domain' | 'path'>): string {
  return `${ref.domain}/${ref.path}`;
}

/** reference.String(): name[:tag][@digest] */
export function referenceString(ref: Reference): string {
  return fullName(ref) + (ref.tag ? `:${ref.tag}` : '') + (ref.digest ? `@${ref.digest}` : '');
}

/** Parse a user's reference; the error reads "invalid reference format" as docker's. */
export function parseUserReference(s: string): Reference {
  return parseReference(s);
}

/** Read one line from stdin (resolves '' at end of input). */
export function readLine(stdin: CommandContext['stdin']): Promise<string> {
  return new Promise((resolve) => {
    let buf = '';
    const onData = (c: Buffer | string) => {
      buf += c.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) finish(buf.slice(0, nl));
    };
    const onEnd = () => finish(buf);
    const finish = (line: string) => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.pause();
      resolve(line.trim());
    };
    stdin.on('data', onData);
    stdin.on('end', onEnd);
    stdin.resume();
  });
}

/** docker's prompt.Confirm: "<message> [y/N] "; anything but y/Y cancels (exit 0, nothing more printed). */
export async function confirmOrCancel(ctx: CommandContext, message: string): Promise<void> {
  ctx.out(`${message} [y/N] `);
  const answer = await readLine(ctx.stdin);
  if (answer.toLowerCase() !== 'y') throw new CancelledError('cancelled');
}

/** Resolve a --format value: "" means the command's default ("table" for lists). */
export function formatOrDefault(format: string, dflt = 'table'): string {
  return format === '' ? dflt : format;
}

/**
 * Run `fn` for each argument as docker's multi-object commands do: print what `fn` returns (or the
 * argument) on success, print daemon errors and go on, exit 1 at the end if any failed.
 */
export async function eachArg(ctx: CommandContext, fn: (arg: string) => Promise<string | void>): Promise<void> {
  let failed = false;
  for (const arg of ctx.args) {
    try {
      const out = await fn(arg);
      ctx.out(`${out ?? arg}\n`);
    } catch (err) {
      failed = true;
      ctx.err(err instanceof ApiError ? `Error response from daemon: ${err.message}\n` : `${(err as Error).message}\n`);
    }
  }
  if (failed) throw new StatusError(1, '');
}

/** `NAME` without tag or digest means `NAME:latest` (said on stdout unless quiet); with `-a` a tag is refused. */
export function defaultTag(ctx: CommandContext, ref: Reference, allTags: boolean, quiet: boolean): void {
  const nameOnly = !ref.tag && !ref.digest;
  if (allTags && !nameOnly) throw new StatusError(1, "tag can't be used with --all-tags/-a");
  if (!allTags && nameOnly) {
    ref.tag = 'latest';
    if (!quiet) ctx.out('Using default tag: latest\n');
  }
}
