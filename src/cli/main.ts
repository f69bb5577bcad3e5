/** Entry point of the `berth` command line (bin/berth requires the built copy of this file). */
import { buildRegistry } from './commands';
import { runCli } from './dispatch';

async function main(): Promise<void> {
  const code = await runCli(process.argv.slice(2), buildRegistry(), {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
  });
  // let pending writes to pipes drain before exiting
  process.stdout.write('', () => process.exit(code));
}

process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
