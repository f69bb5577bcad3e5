import type { Logger } from '../util/logger';
import type { ConmonRuntime } from '../runtime/runtime';

/**
 * A TTY starts at 0x0 (runtime.md pitfall 9): apply HostConfig.ConsoleSize ([height, width]) from the
 * create body right after start; the client's own resize request follows and wins.
 */
export async function applyConsoleSize(runtime: ConmonRuntime, bundleDir: string, tty: boolean, consoleSize: unknown, log: Logger): Promise<void> {
  if (!tty || !Array.isArray(consoleSize) || consoleSize.length !== 2) return;
  const [h, w] = consoleSize.map(Number);
  if (!(h > 0 && w > 0)) return;
  await runtime.resize(bundleDir, h, w).catch((e: Error) => log.debug('console size not applied', { bundleDir, error: e.message }));
}

/** Put HostConfig.ConsoleSize into the OCI process, so runc sizes the pty before the process starts. */
export function withConsoleSize(spec: Record<string, unknown>, tty: boolean, consoleSize: unknown): Record<string, unknown> {
  if (!tty || !Array.isArray(consoleSize) || consoleSize.length !== 2) return spec;
  const [h, w] = consoleSize.map(Number);
  const proc = spec.process as Record<string, unknown> | undefined;
  if (proc && h > 0 && w > 0) proc.consoleSize = { height: h, width: w };
  return spec;
}
