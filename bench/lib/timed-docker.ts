import { spawn } from 'node:child_process';
import { DOCKER_CLI } from '../../test/helpers/cli';

/** Seconds a docker CLI call takes; stdout goes to /dev/null. Throws on a non-zero exit (with its stderr). */
export function timedDocker(env: NodeJS.ProcessEnv, args: string[], timeoutMs = 600_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(DOCKER_CLI, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const secs = Number(process.hrtime.bigint() - start) / 1e9;
      if (code === 0) resolve(secs);
      else reject(new Error(`docker ${args.join(' ')} exited ${code}: ${stderr.trim()}`));
    });
  });
}
