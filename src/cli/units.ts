/**
 * Human-readable sizes, durations, IDs and timestamps exactly as docker prints them (go-units and the
 * docker CLI's display helpers): sizes in base 1000 with 3 or 4 significant digits, "About an hour ago", ...
 */

const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];
const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'];

function scale(size: number, base: number, units: string[]): [number, string] {
  let i = 0;
  while (size >= base && i < units.length - 1) {
    size /= base;
    i++;
  }
  return [size, units[i]];
}

/** Go's %.{p}g: p significant digits, trailing zeros removed, exponent form for large exponents. */
export function formatG(value: number, precision: number): string {
  if (value === 0) return '0';
  const exp = Math.floor(Math.log10(Math.abs(value)));
  let s = value.toPrecision(precision);
  const rounded = Number(s);
  const e = rounded === 0 ? exp : Math.floor(Math.log10(Math.abs(rounded)));
  if (e < -4 || e >= precision) {
    const [m, x] = value.toExponential(precision - 1).split('e');
    const mant = m.includes('.') ? m.replace(/0+$/, '').replace(/\.$/, '') : m;
    const n = Number(x);
    return `${mant}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`;
  }
  if (s.includes('e')) s = String(rounded);
  if (s.includes('.')) s = s.replace(/0+$/, '').replace(/\.$/, '');
  return s;
}

/** go-units HumanSizeWithPrecision: `4.26MB`, `1.24kB`, `0B`. */
export function humanSizeWithPrecision(size: number, precision: number): string {
  const [v, unit] = scale(size, 1000, DECIMAL_UNITS);
  return formatG(v, precision) + unit;
}

/** go-units HumanSize (4 significant digits): `4.262MB`. */
export function humanSize(size: number): string {
  return humanSizeWithPrecision(size, 4);
}

/** go-units BytesSize (base 1024, 4 significant digits): `15.5GiB`. */
export function bytesSize(size: number): string {
  const [v, unit] = scale(size, 1024, BINARY_UNITS);
  return formatG(v, 4) + unit;
}

/** go-units HumanDuration. */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.trunc(ms / 3_600_000 + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(ms / 3_600_000 / 24 / 365)} years`;
}

/** "2 hours ago" for a unix time in seconds. */
export function timeAgo(unixSeconds: number, nowMs = Date.now()): string {
  return humanDuration(nowMs - unixSeconds * 1000) + ' ago';
}

/** stringid.TruncateID: drop the algorithm prefix, keep 12 characters. */
export function truncateId(id: string): string {
  const colon = id.indexOf(':');
  const hex = colon >= 0 ? id.slice(colon + 1) : id;
  return hex.length > 12 ? hex.slice(0, 12) : hex;
}

/** docker's formatter.Ellipsis: cut to `max` display columns, ending in "…". */
export function ellipsis(s: string, max: number): string {
  if (max <= 0) return '';
  const chars = [...s];
  if (max === 1) return chars[0] ?? '';
  if (chars.length <= max) return s;
  return chars.slice(0, max - 1).join('') + '…';
}

const pad2 = (n: number) => String(n).padStart(2, '0');

function zoneName(d: Date): string {
  if (d.getTimezoneOffset() === 0) return 'UTC';
  const part = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(d).find((p) => p.type === 'timeZoneName');
  return part?.value ?? offset(d, false);
}

function offset(d: Date, colon: boolean): string {
  const off = -d.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const a = Math.abs(off);
  return `${sign}${pad2(Math.trunc(a / 60))}${colon ? ':' : ''}${pad2(a % 60)}`;
}

function localDateTime(d: Date): string {
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

/** Go's time.Time.String() for a unix time in seconds, in local time: `2026-11-29 00:17:13 +0000 UTC`. */
export function goTimeString(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  return `${localDateTime(d)} ${offset(d, false)} ${zoneName(d)}`;
}

/** RFC 3339 in local time, seconds precision: `2026-11-29T00:17:13Z` or `...+01:00`. */
export function rfc3339(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  const off = d.getTimezoneOffset() === 0 ? 'Z' : offset(d, true);
  return localDateTime(d).replace(' ', 'T') + off;
}

/** RFC 3339 with fixed 9-digit nanoseconds (events): `2026-11-29T01:02:03.000000000Z`. */
export function rfc3339NanoFixed(timeNano: bigint | number): string {
  const ns = BigInt(timeNano);
  const secs = Number(ns / 1_000_000_000n);
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0');
  const d = new Date(secs * 1000);
  const off = d.getTimezoneOffset() === 0 ? 'Z' : offset(d, true);
  return `${localDateTime(d).replace(' ', 'T')}.${frac}${off}`;
}

/** Go's time.ANSIC layout: `Fri May 30 12:07:14 2025`. */
export function ansicDate(d: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const day = String(d.getDate()).padStart(2, ' ');
  return `${days[d.getDay()]} ${months[d.getMonth()]} ${day} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())} ${d.getFullYear()}`;
}
