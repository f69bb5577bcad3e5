/** Milliseconds between named points of one operation, for debug logs: `mark(name)` ends the phase `name`. */
export function phaseClock(): { mark(name: string): void; phases(): Record<string, number> } {
  let last = performance.now();
  const out: Record<string, number> = {};
  return {
    mark(name) {
      const t = performance.now();
      out[name] = Math.round((t - last) * 10) / 10;
      last = t;
    },
    phases: () => out,
  };
}
