import { spawn } from 'node:child_process';
import { defaultLauncher } from './tool-launcher';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Run a helper program (runc, mount, umount) without blocking the event loop. Never throws for a
 * non-zero exit: callers decide what a failure means and word the error.
 */
export function runTool(file: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  const launcher = defaultLauncher();
  if (launcher) return launcher.run(file, args, opts);
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}
