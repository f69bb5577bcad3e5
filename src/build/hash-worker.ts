/**
 * Worker thread of context-hasher.ts: content digests (content-hash.ts) of the build context's files, off the main thread. Messages
 * carry a batch (a slot of the shared ring, or a transferred buffer), adopted chunks (kept for the job until
 * it is taken or aborted) and segments `[file, source, start, end, last]` of them; a file's digest is done
 * at its `last` segment. A ring slot is handed back once hashed.
 */
import { parentPort } from 'node:worker_threads';
import { createContentHash, type ContentHash } from './content-hash';
import type { FromHashWorker, ToHashWorker } from './context-hasher';

interface Job {
  open: Map<number, ContentHash>;
  done: [number, string][];
  kept: ArrayBuffer[];
  views: Buffer[];
}

let ring: SharedArrayBuffer | undefined;
const SLOT_BYTES = 1 << 20;
const jobs = new Map<number, Job>();
const EMPTY = Buffer.alloc(0);

function hashSegments(job: Job, batch: Buffer, s: number[]): void {
  for (let i = 0; i < s.length; i += 5) {
    const file = s[i];
    let h = job.open.get(file);
    if (!h) job.open.set(file, (h = createContentHash()));
    if (s[i + 3] > s[i + 2]) h.update((s[i + 1] < 0 ? batch : job.views[s[i + 1]]).subarray(s[i + 2], s[i + 3]));
    if (s[i + 4]) {
      job.done.push([file, h.digest()]);
      job.open.delete(file);
    }
  }
}

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
  if (m.type === 'take') {
    jobs.delete(m.job);
    const bufs = job?.kept ?? [];
    parentPort!.postMessage({ type: 'kept', job: m.job, bufs } satisfies FromHashWorker, bufs);
    return;
  }
  if (!job) jobs.set(m.job, (job = { open: new Map(), done: [], kept: [], views: [] }));
  if (m.type === 'data') {
    for (const b of m.bufs) {
      job.kept.push(b);
      job.views.push(Buffer.from(b));
    }
    const batch = m.slot >= 0 ? Buffer.from(ring!, m.slot * SLOT_BYTES, SLOT_BYTES) : m.buf ? Buffer.from(m.buf) : EMPTY;
    hashSegments(job, batch, m.segments);
    if (m.slot >= 0) parentPort!.postMessage({ type: 'slot', slot: m.slot } satisfies FromHashWorker);
    return;
  }
  // finish: the digests go back; the kept chunks stay until taken or aborted
  parentPort!.postMessage({ type: 'digests', job: m.job, digests: job.done } satisfies FromHashWorker);
  job.open.clear();
  job.done = [];
  job.views = [];
});
