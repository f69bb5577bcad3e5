/** `SizeRw` and `SizeRootFs` of containers (ps -s, inspect -s, system df), measured as dockerd does. */
import type { ImageStore } from '../image/types';
import { directorySize } from '../util/dir-size';
import type { ContainerRecord } from './containers-store';

export interface ContainerSizes {
  /** bytes the container wrote (its upper dir) */
  SizeRw: number;
  /** its image's bytes plus SizeRw */
  SizeRootFs: number;
}

/** Directory walks at once: a listing of many containers should not open thousands of dirs in parallel. */
const PARALLEL = 8;

export async function containerSizes(c: ContainerRecord, upperDir: string, images: ImageStore): Promise<ContainerSizes> {
  const rw = await directorySize(upperDir);
  return { SizeRw: rw, SizeRootFs: (images.get(c.imageId)?.size ?? 0) + rw };
}

/**
 * Adds the sizes to API rows. dockerd leaves zero sizes out of the JSON (omitempty), which the docker CLI
 * prints as `0B`; berth does the same.
 */
export async function withSizes<T extends { Id: string }>(rows: T[], sizeOf: (id: string) => Promise<ContainerSizes | undefined>): Promise<(T & Partial<ContainerSizes>)[]> {
  const out: (T & Partial<ContainerSizes>)[] = rows.map((r) => ({ ...r }));
  let next = 0;
  const worker = async () => {
    while (next < out.length) {
      const row = out[next++];
      const s = await sizeOf(row.Id);
      if (s?.SizeRw) row.SizeRw = s.SizeRw;
      if (s?.SizeRootFs) row.SizeRootFs = s.SizeRootFs;
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, out.length) }, worker));
  return out;
}
