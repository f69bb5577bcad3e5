/** Small HTTP helpers for tests: JSON requests to a daemon socket, and GETs of published ports. */
import * as http from 'node:http';

export interface ApiResponse {
  status: number;
  body: string;
}

/** One request to a daemon's unix socket with an optional JSON body (no keep-alive). */
export function apiRequest(socket: string, method: string, p: string, body?: unknown, timeoutMs = 60_000): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request({ socketPath: socket, method, path: p, timeout: timeoutMs, agent: false,
      headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {} }, (res) => {
      let b = '';
      res.on('data', (c) => (b += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`${method} ${p} timed out`)));
    req.end(data);
  });
}

/** GET http://127.0.0.1:<port>/ and its body (a 3 s limit). */
export async function getLoopback(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(3000) });
  return res.text();
}

/** getLoopback, retried for up to 5 s while the server in the container starts. */
export async function getLoopbackSoon(port: number): Promise<string> {
  for (let i = 0; ; i++) {
    try {
      return await getLoopback(port);
    } catch (err) {
      if (i >= 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
