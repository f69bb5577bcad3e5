/**
 * Draws a stream of dockerd JSON messages (pull, push, load, import) as docker's jsonmessage package does.
 * On a terminal each layer id owns a line, redrawn in place: the cursor moves up to that line
 * (ESC[nA), erases it (ESC[2K), writes `id: Status [==>   ]  1.2MB/5MB`, and moves back down (ESC[nB).
 * Without a terminal, messages that carry byte counts are skipped and the rest print as plain lines.
 */
import type { JsonMessage, ProgressDetail } from '../client/types';
import { humanSize } from './units';

export class JsonStreamError extends Error {
  constructor(message: string, readonly code?: number) {
    super(message);
  }
}

/** Go's time.Duration.String() after Round(time.Second): "0s", "45s", "2m5s", "1h0m0s". */
function goDurationSeconds(totalSeconds: number): string {
  const s = Math.round(totalSeconds);
  if (s <= 0) return '0s';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h > 0) return `${h}h${m}m${sec}s`;
  if (m > 0) return `${m}m${sec}s`;
  return `${sec}s`;
}

const pad8 = (s: string) => s.padStart(8, ' ');

/** jsonmessage.JSONProgress.String(): the bar, the byte counts and the time left, sized for `width`. */
export function renderProgress(p: ProgressDetail, width: number, nowMs = Date.now()): string {
  const current = p.current ?? 0;
  const total = p.total ?? 0;
  if (current <= 0 && total <= 0) return '';
  if (total <= 0) return p.units ? `${current} ${p.units}` : pad8(humanSize(current));
  const percentage = Math.min(Math.trunc((current / total) * 100) / 2, 50) | 0;
  let bar = '';
  if (width > 110) bar = `[${'='.repeat(percentage)}>${' '.repeat(Math.max(50 - percentage, 0))}] `;
  let numbers = '';
  if (p.hidecounts) numbers = '';
  else if (!p.units) {
    numbers = current > total ? pad8(humanSize(current)) : `${pad8(humanSize(current))}/${humanSize(total)}`;
  } else {
    numbers = current > total ? `${current} ${p.units}` : `${current}/${total} ${p.units}`;
  }
  let timeLeft = '';
  if (width > 50 && current > 0 && (p.start ?? 0) > 0 && percentage < 50) {
    const elapsed = nowMs / 1000 - (p.start ?? 0);
    const perEntry = elapsed / current;
    timeLeft = ' ' + goDurationSeconds((total - current) * perEntry);
  }
  return bar + numbers + timeLeft;
}

export interface ProgressOptions {
  isTerminal: boolean;
  /** terminal columns; 200 when not given (0, as a terminal of unknown size reports, hides the bar) */
  width?: number;
  onAux?: (msg: JsonMessage) => void;
  now?: () => number;
}

/** Stateful renderer: feed it messages in order; it writes docker's output through `write`. */
export class ProgressRenderer {
  private ids = new Map<string, number>();
  private readonly width: number;

  constructor(private readonly write: (s: string) => void, private readonly opts: ProgressOptions) {
    this.width = opts.width ?? 200;
  }

  /** Render one message; throws JsonStreamError for an in-band error. */
  handle(jm: JsonMessage): void {
    if (jm.aux !== undefined && jm.aux !== null) {
      this.opts.onAux?.(jm);
      return;
    }
    const tty = this.opts.isTerminal;
    const hasProgress = jm.progressDetail !== undefined && jm.progressDetail !== null;
    let diff = 0;
    if (jm.id && (hasProgress || jm.progress)) {
      let line = this.ids.get(jm.id);
      if (line === undefined) {
        line = this.ids.size;
        this.ids.set(jm.id, line);
        if (tty) this.write('\n');
      }
      diff = this.ids.size - line;
      if (tty && diff > 0) this.write(`\x1b[${diff}A`);
    } else {
      this.ids = new Map();
    }
    this.display(jm);
    if (jm.id && tty && diff > 0) this.write(`\x1b[${diff}B`);
  }

  private display(jm: JsonMessage): void {
    if (jm.error || jm.errorDetail?.message) {
      throw new JsonStreamError(jm.errorDetail?.message || jm.error || 'unknown error', jm.errorDetail?.code);
    }
    const tty = this.opts.isTerminal;
    const p = jm.progressDetail;
    let endl = '';
    if (tty && !jm.stream && (p || jm.progress)) {
      this.write('\x1b[2K\r');
      endl = '\r';
    } else if (p && ((p.current ?? 0) > 0 || (p.total ?? 0) > 0)) {
      return; // no progress bars without a terminal
    }
    if (jm.id) this.write(`${jm.id}: `);
    if (p && tty) {
      this.write(`${jm.status ?? ''} ${renderProgress(p, this.width, this.opts.now?.())}${endl}`);
    } else if (jm.progress && tty) {
      this.write(`${jm.status ?? ''} ${jm.progress}${endl}`);
    } else if (jm.stream) {
      this.write(`${jm.stream}${endl}`);
    } else {
      this.write(`${jm.status ?? ''}${endl}\n`);
    }
  }
}

/** Render a whole message stream; rejects with JsonStreamError on an in-band error. */
export async function displayJsonMessages(messages: AsyncIterable<JsonMessage>, write: (s: string) => void, opts: ProgressOptions): Promise<void> {
  const r = new ProgressRenderer(write, opts);
  for await (const m of messages) r.handle(m);
}
