/**
 * The one error taxonomy. Every failure that reaches a client is one of these kinds; the API maps a kind to
 * an HTTP status in exactly one place (`httpStatus`). Callers match on `kind` (or the `is*` helpers), never on text.
 */
export type ErrorKind =
  | 'NotFound'
  | 'Conflict'
  | 'InvalidArgument'
  | 'Unavailable'
  | 'Forbidden'
  | 'Unauthorized'
  | 'NotModified'
  | 'NotImplemented'
  | 'Internal';

export class BerthError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly code: string = `BERTH_ERR_${kind.toUpperCase()}`,
  ) {
    super(message);
    this.name = `${kind}Error`;
  }
}

export const notFound = (message: string, code?: string) => new BerthError('NotFound', message, code);
export const conflict = (message: string, code?: string) => new BerthError('Conflict', message, code);
export const invalidArgument = (message: string, code?: string) => new BerthError('InvalidArgument', message, code);
export const unavailable = (message: string, code?: string) => new BerthError('Unavailable', message, code);
export const forbidden = (message: string, code?: string) => new BerthError('Forbidden', message, code);
export const unauthorized = (message: string, code?: string) => new BerthError('Unauthorized', message, code);
export const notModified = (message: string) => new BerthError('NotModified', message);
export const internal = (message: string, code?: string) => new BerthError('Internal', message, code);
export const notImplemented = (message: string, code?: string) => new BerthError('NotImplemented', message, code);

export function isKind(err: unknown, kind: ErrorKind): err is BerthError {
  return err instanceof BerthError && err.kind === kind;
}
export const isNotFound = (err: unknown) => isKind(err, 'NotFound');
export const isConflict = (err: unknown) => isKind(err, 'Conflict');

const STATUS: Record<ErrorKind, number> = {
  NotFound: 404,
  Conflict: 409,
  InvalidArgument: 400,
  Unavailable: 503,
  Forbidden: 403,
  Unauthorized: 401,
  NotModified: 304,
  NotImplemented: 501,
  Internal: 500,
};

/** The single kind → HTTP status table. Unknown errors are 500. */
export function httpStatus(err: unknown): number {
  return err instanceof BerthError ? STATUS[err.kind] : 500;
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
