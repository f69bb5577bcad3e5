/** A test helper: bodies in the HTTP/1.1 chunked transfer encoding. */

/** `body` in the chunked encoding: chunks of `sizes` (cycled), some with extensions, then trailers. */
export function encodeChunked(body: Buffer, sizes: number[], opts: { ext?: boolean; trailers?: string[] } = {}): Buffer {
  const parts: Buffer[] = [];
  let off = 0;
  for (let i = 0; off < body.length; i++) {
    const n = Math.min(sizes[i % sizes.length], body.length - off);
    const ext = opts.ext && i % 2 === 0 ? `;name=v${i};flag` : '';
    parts.push(Buffer.from(`${n.toString(16)}${ext}\r\n`), body.subarray(off, off + n), Buffer.from('\r\n'));
    off += n;
  }
  parts.push(Buffer.from(`0${opts.ext ? ';last' : ''}\r\n${(opts.trailers ?? []).map((t) => `${t}\r\n`).join('')}\r\n`));
  return Buffer.concat(parts);
}
