import { constants as osConstants } from 'node:os';
import { invalidArgument } from '../errors';

/** A signal name or number → the name runc takes; InvalidArgument when unknown. */
export function normalizeSignal(sig: string): { name: string; number: number } {
  const s = sig.trim().toUpperCase();
  const table = osConstants.signals as Record<string, number>;
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    const name = Object.keys(table).find((k) => table[k] === n);
    if (!name || n === 0) throw invalidArgument(`Invalid signal: ${sig}`);
    return { name, number: n };
  }
  const name = s.startsWith('SIG') ? s : `SIG${s}`;
  if (!(name in table)) throw invalidArgument(`Invalid signal: ${sig}`);
  return { name, number: table[name] };
}
