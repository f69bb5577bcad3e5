import { mkdir, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { Server } from 'node:http';
import { errorMessage } from '../errors';
import { createLogger } from '../util/logger';
import { BERTH_VERSION } from '../api/version';
import { DAEMON_USAGE, parseDaemonArgs, resolveConfig } from './config';
import { buildDaemon } from './wiring';
import { listenUnix } from './listen';

async function main(argv: string[]): Promise<void> {
  const parsed = parseDaemonArgs(argv);
  if (parsed.action !== 'run') {
    process.stdout.write(parsed.action === 'help' ? DAEMON_USAGE : `berthd version ${BERTH_VERSION}\n`);
    return;
  }
  const config = await resolveConfig(parsed.values);
  const log = createLogger(config.logLevel);
  if (process.getuid && process.getuid() !== 0) log.warn('berthd is not running as root; containers will not start');

  await mkdir(config.dataRoot, { recursive: true, mode: 0o711 });
  await mkdir(config.execRoot, { recursive: true, mode: 0o700 });
  const pidfile = config.pidfile ?? path.join(config.execRoot, 'berthd.pid');

  const daemon = await buildDaemon(config, log);
  const servers: Server[] = [];
  const sockets: string[] = [];
  for (const host of config.hosts) {
    const server = daemon.createServer();
    sockets.push(await listenUnix(server, host, config.group));
    servers.push(server);
  }
  await writeFile(pidfile, `${process.pid}\n`);
  log.info('berthd started', { version: BERTH_VERSION, sockets, dataRoot: config.dataRoot, execRoot: config.execRoot, pid: process.pid });
  daemon.events.emit('daemon', 'start', '', { name: 'berthd' });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('berthd stopping; containers keep running', { signal });
    for (const s of servers) { s.close(); s.closeAllConnections(); }
    await daemon.shutdown();
    await Promise.all([...sockets.map((s) => rm(s, { force: true })), rm(pidfile, { force: true })]);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`berthd: ${errorMessage(err)}\n`);
  process.exit(1);
});
