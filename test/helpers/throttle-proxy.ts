/**
 * A loopback TCP proxy that limits the bandwidth from a target to its clients (all connections share the
 * limit). Lets a test stop a daemon in the middle of a pull that would otherwise finish in a blink.
 */
import * as net from 'node:net';

export interface ThrottleProxy {
  port: number;
  /** `127.0.0.1:PORT` */
  host: string;
  /** bytes sent to clients so far */
  bytes(): number;
  stop(): Promise<void>;
}

export async function startThrottleProxy(targetPort: number, bytesPerSecond: number): Promise<ThrottleProxy> {
  let nextFree = Date.now();
  let sent = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    const close = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream); };
    client.on('error', close).on('close', close);
    // a server that closes after answering (Go does after some HEADs) must not cut the delayed bytes: the 'end' handler ends the client
    upstream.on('error', close).on('close', (hadError: boolean) => { if (hadError) close(); });
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      upstream.pause();
      const start = Math.max(Date.now(), nextFree);
      nextFree = start + (chunk.length * 1000) / bytesPerSecond;
      setTimeout(() => {
        if (client.destroyed) return;
        sent += chunk.length;
        client.write(chunk, () => upstream.resume());
      }, nextFree - Date.now());
    });
    upstream.on('end', () => {
      // flush after the last delayed write
      const wait = Math.max(0, nextFree - Date.now()) + 5;
      setTimeout(() => client.end(), wait);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    host: `127.0.0.1:${port}`,
    bytes: () => sent,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
