/**
 * A decoder for an HTTP/1.1 chunked request body (RFC 9112 §7.1), for bodies read straight from the socket.
 * It works in place: the data bytes of each input buffer are moved to the buffer's start and returned as one
 * view of it, so a socket read becomes one piece of body with no allocation. Chunk extensions and trailer
 * fields are skipped. Anything malformed throws an invalid-argument error (HTTP 400).
 */
import { invalidArgument } from '../errors';

const enum State { Size, Ext, SizeLf, Data, DataCr, DataLf, TrailerStart, TrailerLine, TrailerLineLf, EndLf, Done }

/** a chunk size beyond this many hex digits is refused (2^48 bytes is far past any context) */
const MAX_SIZE_DIGITS = 12;
/** longest chunk-size line (extensions included) and trailer section accepted */
const MAX_LINE = 16 * 1024;

const CR = 13;
const LF = 10;

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

export class ChunkedDecoder {
  private state = State.Size;
  private remaining = 0;
  private digits = 0;
  private lineBytes = 0;
  /** bytes after the body's last CRLF (set once `done`): the start of the connection's next request */
  rest: Buffer | undefined;

  get done(): boolean {
    return this.state === State.Done;
  }

  /**
   * Decodes `input` (modifying it): returns the body bytes it held, a view at its start (maybe empty).
   * Input after the end of the body is left in place and exposed as `rest`.
   */
  decode(input: Buffer): Buffer {
    const n = input.length;
    let i = 0;
    let out = 0;
    while (i < n) {
      switch (this.state) {
        case State.Data: {
          const take = Math.min(this.remaining, n - i);
          if (out !== i) input.copyWithin(out, i, i + take);
          out += take;
          i += take;
          this.remaining -= take;
          if (this.remaining === 0) this.state = State.DataCr;
          continue;
        }
        case State.Size: {
          const c = input[i++];
          const v = hexValue(c);
          if (v >= 0) {
            if (++this.digits > MAX_SIZE_DIGITS) throw malformed('chunk size too large');
            this.remaining = this.remaining * 16 + v;
          } else if (this.digits === 0) {
            throw malformed('invalid chunk size');
          } else if (c === CR) {
            this.state = State.SizeLf;
          } else if (c === 0x3b || c === 0x20 || c === 0x09) {
            this.state = State.Ext;
            this.lineBytes = 0;
          } else {
            throw malformed('invalid chunk size');
          }
          continue;
        }
        case State.Ext: {
          const c = input[i++];
          if (c === CR) this.state = State.SizeLf;
          else if (c === LF) throw malformed('invalid chunk extension');
          else if (++this.lineBytes > MAX_LINE) throw malformed('chunk extension too long');
          continue;
        }
        case State.SizeLf:
          if (input[i++] !== LF) throw malformed('invalid chunk size line');
          this.digits = 0;
          if (this.remaining === 0) {
            this.state = State.TrailerStart;
            this.lineBytes = 0;
          } else this.state = State.Data;
          continue;
        case State.DataCr:
          if (input[i++] !== CR) throw malformed('missing CRLF after chunk data');
          this.state = State.DataLf;
          continue;
        case State.DataLf:
          if (input[i++] !== LF) throw malformed('missing CRLF after chunk data');
          this.state = State.Size;
          continue;
        case State.TrailerStart:
          this.state = input[i++] === CR ? State.EndLf : State.TrailerLine;
          this.lineBytes++;
          continue;
        case State.TrailerLine: {
          const c = input[i++];
          if (++this.lineBytes > MAX_LINE) throw malformed('trailer section too long');
          if (c === CR) this.state = State.TrailerLineLf;
          else if (c === LF) throw malformed('invalid trailer field');
          continue;
        }
        case State.TrailerLineLf:
          if (input[i++] !== LF) throw malformed('invalid trailer field');
          this.state = State.TrailerStart;
          continue;
        case State.EndLf:
          if (input[i++] !== LF) throw malformed('invalid end of chunked body');
          this.state = State.Done;
          continue;
        case State.Done:
          this.rest = input.subarray(i);
          return input.subarray(0, out);
      }
    }
    if (this.state === State.Done && !this.rest) this.rest = input.subarray(n);
    return input.subarray(0, out);
  }
}

function malformed(what: string): Error {
  return invalidArgument(`malformed chunked request body: ${what}`);
}
