/**
 * Worker thread of context-hasher.ts: sha256 of the build context's files, off the main thread. Messages
 * name a batch (a slot of the shared ring, or a transferred buffer) and segments `[file, start, end, last]`
 * of it; a file's digest is done at its `last` segment. A ring slot is handed back once hashed.
 */
import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import type { FromHashWorker, ToHashWorker } from './context-hasher';

let ring: SharedArrayBuffer | undefined;
const SLOT_BYTES = 1 << 20;
const jobs = new Map<number, { open: Map<number, Hash>; done: [number, string][] }>();

parentPort!.on('message', (m: ToHashWorker) => {
  if (m.type === 'ring') {
    ring = m.ring;
    return;
  }
  if (m.type === 'abort') {
    jobs.delete(m.job);
    return;
  }
  let job = jobs.get(m.job);
  if (!job) jobs.set(m.job, (job = { open: new Map(), done: [] }));
  if (m.type === 'data') {
    const buf = m.slot >= 0 ? Buffer.from(ring!, m.slot * SLOT_BYTES, SLOT_BYTES) : Buffer.from(m.buf!);
    const s = m.segments;
    for (let i = 0; i < s.length; i += 4) {
      const file = s[i];
      let h = job.open.get(file);
      if (!h) job.open.set(file, (h = createHash('sha256')));
      if (s[i + 2] > s[i + 1]) h.update(buf.subarray(s[i + 1], s[i + 2]));
      if (s[i + 3]) {
        job.done.push([file, h.digest('hex')]);
        job.open.delete(file);
      }
    }
    if (m.slot >= 0) parentPort!.postMessage({ type: 'slot', slot: m.slot } satisfies FromHashWorker);
    return;
  }
  jobs.delete(m.job);
  parentPort!.postMessage({ type: 'digests', job: m.job, digests: job.done } satisfies FromHashWorker);
});
