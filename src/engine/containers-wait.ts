import type { EventEmitter } from 'node:events';

export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

export interface WaitResult {
  StatusCode: number;
  Error: { Message: string } | null;
}

/** The next `event` on `bus` (its first argument, an exit code); rejects when `signal` aborts first. */
export function nextEvent(bus: EventEmitter, event: string, signal?: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    const onEvent = (code: number) => { signal?.removeEventListener('abort', onAbort); resolve(code); };
    const onAbort = () => { bus.off(event, onEvent); reject(new Error('aborted')); };
    bus.once(event, onEvent);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Block until the condition holds for container `id` (the bus carries `exit:<id>` and `removed:<id>`). The
 * listener is registered before this returns, so an API caller can flush its response headers right after
 * calling and no exit is missed. `running` says whether the container is up now; `exitCode` is its last
 * code and `errorOf` its stored error (read when the wait ends).
 */
export function waitForContainer(
  bus: EventEmitter,
  id: string,
  now: { running: boolean; exitCode: number },
  errorOf: () => string | undefined,
  condition: WaitCondition,
  signal?: AbortSignal,
): Promise<WaitResult> {
  const shape = (code: number): WaitResult => {
    const err = errorOf();
    return { StatusCode: code, Error: err ? { Message: err } : null };
  };
  if (condition === 'removed') return nextEvent(bus, `removed:${id}`, signal).then(shape);
  if (condition === 'next-exit' || now.running) return nextEvent(bus, `exit:${id}`, signal).then(shape);
  return Promise.resolve(shape(now.exitCode));
}
