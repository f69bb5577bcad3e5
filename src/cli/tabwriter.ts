/**
 * Column alignment as Go's text/tabwriter (docker's fork) does it: text is split into cells at tabs; the
 * last cell of a line is not part of any column; a column block is a run of consecutive lines that all have
 * a cell in that column, and its width is max(minWidth, widest cell + padding). A line without tabs ends
 * the current block.
 */

export interface TabwriterOptions {
  minWidth: number;
  padding: number;
  padChar?: string;
}

/** docker's table settings: minwidth 10, padding 3, spaces. */
export const TABLE_OPTIONS: TabwriterOptions = { minWidth: 10, padding: 3 };

function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    // wide East Asian ranges count as two columns
    w += (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf) || (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xff00 && cp <= 0xff60) || (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1faff) ? 2 : 1;
  }
  return w;
}

/** Align `text` (lines of tab-separated cells) and return the formatted result. */
export function alignColumns(text: string, opts: TabwriterOptions = TABLE_OPTIONS): string {
  const pad = opts.padChar ?? ' ';
  const lines = text.split('\n').map((l) => l.split('\t'));
  const out: string[] = [];
  const widths: number[] = [];

  const writeLines = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const cells = lines[i];
      let s = '';
      cells.forEach((c, j) => {
        s += c;
        if (j < cells.length - 1 && j < widths.length) s += pad.repeat(Math.max(0, widths[j] - displayWidth(c)));
      });
      out.push(s);
    }
  };

  const format = (line0: number, line1: number) => {
    const column = widths.length;
    let start = line0;
    for (let cur = line0; cur < line1; cur++) {
      if (column >= lines[cur].length - 1) continue;
      writeLines(start, cur);
      start = cur;
      let width = opts.minWidth;
      for (; cur < line1; cur++) {
        if (column >= lines[cur].length - 1) break;
        width = Math.max(width, displayWidth(lines[cur][column]) + opts.padding);
      }
      widths.push(width);
      format(start, cur);
      widths.pop();
      start = cur;
      cur--; // the for-loop increment re-examines this line
    }
    writeLines(start, line1);
  };

  format(0, lines.length);
  return out.join('\n');
}
