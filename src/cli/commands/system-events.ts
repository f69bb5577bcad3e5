/** `berth events` / `berth system events`: the daemon's event stream, one line per event. */
import { DaemonConnectError } from '../../client/transport';
import { filtersFromFlags } from '../../client/types';
import type { EventMessage } from '../../client/types';
import { StatusError } from '../errors';
import type { CommandDef } from '../registry';
import { compileTemplate, TemplateParseError, type CompiledTemplate } from '../template';
import { rfc3339NanoFixed } from '../units';
import { filterFlag, INSPECT_FORMAT_HELP } from './common';

const DURATION_UNITS: Record<string, number> = { ns: 1e-9, us: 1e-6, 'µs': 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

/**
 * timetypes.GetTimestamp: a unix timestamp stays as it is; a Go duration ("10m", "1h30m") counts back from
 * now; an RFC 3339 date (or date-time without zone) becomes unix seconds.
 */
export function toApiTimestamp(value: string, nowMs = Date.now()): string {
  if (/^\d+(\.\d+)?$/.test(value)) return value;
  const dur = /^((\d+(\.\d+)?)(ns|us|µs|ms|s|m|h))+$/.test(value);
  if (dur) {
    let secs = 0;
    for (const m of value.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) secs += Number(m[1]) * DURATION_UNITS[m[2]];
    return ((nowMs / 1000) - secs).toFixed(9).replace(/\.?0+$/, '');
  }
  const t = Date.parse(value);
  if (!Number.isNaN(t)) return (t / 1000).toFixed(9).replace(/\.?0+$/, '');
  return value;
}

/** docker's default event line: `<time> <type> <action> <id> (k=v, ...)` with attributes sorted by key. */
export function formatEventLine(e: EventMessage, timeNanoText?: string): string {
  let s = '';
  if (timeNanoText && timeNanoText !== '0') s += rfc3339NanoFixed(BigInt(timeNanoText)) + ' ';
  else if (e.timeNano) s += rfc3339NanoFixed(BigInt(Math.round(e.timeNano))) + ' ';
  else if (e.time) s += rfc3339NanoFixed(BigInt(e.time) * 1_000_000_000n) + ' ';
  s += `${e.Type} ${e.Action} ${e.Actor?.ID ?? ''}`;
  const attrs = e.Actor?.Attributes ?? {};
  const keys = Object.keys(attrs).sort();
  if (keys.length > 0) s += ` (${keys.map((k) => `${k}=${attrs[k]}`).join(', ')})`;
  return s + '\n';
}

const events: CommandDef = {
  paths: [['system', 'events'], ['events']],
  usage: '[OPTIONS]',
  description: 'Get real time events from the server',
  args: { max: 0 },
  flags: [
    filterFlag(),
    { name: 'format', kind: 'string', description: INSPECT_FORMAT_HELP },
    { name: 'since', kind: 'string', description: 'Show all events created since timestamp' },
    { name: 'until', kind: 'string', description: 'Stream events until this timestamp' },
  ],
  async run(ctx) {
    const format = ctx.flags.string('format');
    let tmpl: CompiledTemplate | undefined;
    if (format) {
      try {
        tmpl = compileTemplate(format === 'json' ? '{{json .}}' : format);
      } catch (err) {
        if (err instanceof TemplateParseError) throw new StatusError(64, `Error parsing format: ${err.message}`);
        throw err;
      }
    }
    const since = ctx.flags.string('since');
    const until = ctx.flags.string('until');
    const client = await ctx.client();
    const res = await client.request({
      path: '/events',
      query: {
        since: since ? toApiTimestamp(since) : undefined,
        until: until ? toApiTimestamp(until) : undefined,
        filters: ctx.flags.list('filter').length ? JSON.stringify(filtersFromFlags(ctx.flags.list('filter'))) : undefined,
      },
    });
    let buf = '';
    const handle = (line: string) => {
      if (!line.trim()) return;
      const e = JSON.parse(line) as EventMessage;
      const nanoText = /"timeNano"\s*:\s*(\d+)/.exec(line)?.[1];
      ctx.out(tmpl ? tmpl.execute(e) + '\n' : formatEventLine(e, nanoText));
    };
    await new Promise<void>((resolve, reject) => {
      res.on('data', (c: Buffer) => {
        buf += c.toString('utf8');
        let nl: number;
        try {
          while ((nl = buf.indexOf('\n')) >= 0) {
            handle(buf.slice(0, nl));
            buf = buf.slice(nl + 1);
          }
        } catch (err) {
          res.destroy();
          reject(err);
        }
      });
      res.on('end', () => {
        try { handle(buf); resolve(); } catch (err) { reject(err); }
      });
      res.on('error', (err) => reject(new DaemonConnectError(client.host, err)));
    });
  },
};

export const eventsCommand: CommandDef[] = [events];
