import { conflict, invalidArgument, notFound } from '../errors';
import { familiarString, parseWithDefaultTag } from '../image/reference';
import type { ImageStore } from '../image/types';
import { formatPlatform, parsePlatform, platformScore } from '../registry/manifest';
import { newId } from '../util/ids';
import { mergeConfig, normalizeHostConfig, validateName, type CreateRequest } from './containers-config';
import { ZERO_TIME, type ContainerRecord, type ContainerStore } from './containers-store';
import { generateName } from './names';

function nameConflict(name: string, holder: string) {
  return conflict(`Conflict. The container name "/${name}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`);
}

/** Throws the 409 when a container already holds exactly `name`. */
export function checkNameFree(store: ContainerStore, name: string): void {
  const holder = store.find(name);
  if (holder && holder !== 'ambiguous' && holder.name === name) throw nameConflict(name, holder.id);
}

/**
 * The record of a new container (not stored yet): its image resolved, its name checked or generated.
 * `platform` (docker run --platform): a local image of another platform is "not found", as with dockerd, so
 * the client pulls the wanted one.
 */
export function draftContainer(req: CreateRequest, name: string | undefined, images: ImageStore, store: ContainerStore, runtime: string, platform?: string): ContainerRecord {
  const ref = req.Image ?? '';
  if (!ref) throw invalidArgument('config cannot be empty in order to create a container');
  const wanted = platform ? parsePlatform(platform) : undefined;
  const image = images.resolve(ref);
  let shown = ref;
  try { shown = familiarString(parseWithDefaultTag(ref)); } catch { /* keep as typed */ }
  if (!image) throw notFound(`No such image: ${shown}`);
  if (wanted) {
    const { os, architecture, variant } = image.config;
    const actual = { os, architecture, ...(variant ? { variant } : {}) };
    if (platformScore(wanted, actual) === 0) {
      throw notFound(`image with reference ${shown} was found but its platform (${formatPlatform(actual)}) does not match the specified platform (${formatPlatform(wanted)})`);
    }
  }
  const id = newId();
  let finalName: string;
  if (name) {
    finalName = validateName(name);
    checkNameFree(store, finalName);
  } else {
    finalName = generateName((n) => store.nameTaken(n));
  }
  return {
    id, name: finalName, imageId: image.id, created: new Date().toISOString(),
    config: mergeConfig(req, image, id, ref),
    hostConfig: normalizeHostConfig(req.HostConfig, runtime),
    state: { status: 'created', pid: 0, exitCode: 0, error: '', oomKilled: false, startedAt: ZERO_TIME, finishedAt: ZERO_TIME },
    restartCount: 0, networkSettings: {}, mounts: [],
  };
}
