/** Messages between the main thread and a layer worker thread (pull-worker.ts), and errors across them. */
import { BerthError, type ErrorKind } from '../errors';
import type { Compression } from '../image/compression';
import type { ApplyResult } from '../image/types';

export type ToWorker =
  | {
    type: 'start'; id: number; dataRoot: string; diffDir: string; compression: Compression; digest: string; size: number;
    /** true: keep the bytes as a content store ingest (they come from a registry) */
    ingest: boolean;
  }
  | { type: 'data'; id: number; chunks: Uint8Array[] }
  | { type: 'end'; id: number }
  | { type: 'abort'; id: number };

export type FromWorker =
  | { type: 'ack'; id: number; bytes: number }
  | { type: 'ingest'; id: number; tempPath: string }
  | { type: 'verified'; id: number }
  | { type: 'done'; id: number; applied: ApplyResult }
  | { type: 'failed'; id: number; error: SerializedError };

export interface SerializedError {
  message: string;
  name?: string;
  kind?: ErrorKind;
  code?: string;
  stack?: string;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof BerthError) return { message: err.message, name: err.name, kind: err.kind, code: err.code, stack: err.stack };
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { message: err.message, name: err.name, code: typeof code === 'string' ? code : undefined, stack: err.stack };
  }
  return { message: String(err) };
}

/** The same kind, code and message as thrown in the worker. */
export function deserializeError(e: SerializedError): Error {
  const err = e.kind ? new BerthError(e.kind, e.message, e.code) : Object.assign(new Error(e.message), e.code ? { code: e.code } : {});
  if (e.name) err.name = e.name;
  if (e.stack) err.stack = e.stack;
  return err;
}
