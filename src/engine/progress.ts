/**
 * Progress text in dockerd's exact shape, so the docker CLI draws the same bars it draws for dockerd:
 * `[=====>                                            ]  1.234MB/5.678MB`.
 */
import type { ProgressMessage } from '../image/types';

const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];
const BAR_WIDTH = 50;

/** Size with base-1000 units and 4 significant digits, as go-units' HumanSize prints it (`539.6kB`, `52.58MB`, `5B`). */
export function humanSize(bytes: number): string {
  let size = bytes;
  let unit = 0;
  while (size >= 1000 && unit < DECIMAL_UNITS.length - 1) {
    size /= 1000;
    unit++;
  }
  // toPrecision keeps trailing zeros ("1.000"); Go's %.4g drops them.
  return `${Number(size.toPrecision(4))}${DECIMAL_UNITS[unit]}`;
}

/** The `progress` string dockerd sends with a byte count (bar only when the total is known). */
export function progressBar(current: number, total: number): string {
  if (current <= 0 && total <= 0) return '';
  const cur = humanSize(current);
  if (total <= 0) return cur.padStart(8);
  const filled = Math.min(BAR_WIDTH, Math.floor(Math.trunc((current / total) * 100) / 2));
  const bar = `[${'='.repeat(filled)}>${' '.repeat(BAR_WIDTH - filled)}] `;
  const numbers = current > total ? cur.padStart(8) : `${cur.padStart(8)}/${humanSize(total)}`;
  return bar + numbers;
}

/** A per-layer status line without byte counts ("Pulling fs layer", "Download complete", …). */
export function layerStatus(id: string, status: string): ProgressMessage {
  return { status, progressDetail: {}, id };
}

/** A per-layer status line with a byte count and bar ("Downloading", "Extracting"). */
export function layerProgress(id: string, status: string, current: number, total: number): ProgressMessage {
  return { status, progressDetail: { current, total }, progress: progressBar(current, total), id };
}

/**
 * Rate limit for byte-count messages: a message at most every `intervalMs` per layer, so a fast loopback
 * pull does not spend its time writing JSON. The first and the final counts always pass.
 */
export class ProgressThrottle {
  private last = 0;
  constructor(private readonly intervalMs = 100) {}

  shouldEmit(current: number, total: number): boolean {
    const now = Date.now();
    if (this.last === 0 || current >= total || now - this.last >= this.intervalMs) {
      this.last = now;
      return true;
    }
    return false;
  }
}
