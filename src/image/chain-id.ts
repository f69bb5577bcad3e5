import { createHash } from 'node:crypto';

/**
 * OCI chain IDs: the identity of a stack of layers. chain[0] = diff[0];
 * chain[n] = sha256(chain[n-1] + " " + diff[n]). A layer's chain ID names it in the layer store.
 */
export function computeChainIds(diffIds: string[]): string[] {
  const chain: string[] = [];
  for (const diffId of diffIds) {
    const prev = chain[chain.length - 1];
    chain.push(prev === undefined ? diffId : `sha256:${createHash('sha256').update(`${prev} ${diffId}`).digest('hex')}`);
  }
  return chain;
}
