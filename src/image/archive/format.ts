/** Media types, annotations and JSON shapes of image archives (docker-archive + OCI image layout). */

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';
export const ANNOTATION_CONTAINERD_NAME = 'io.containerd.image.name';

export interface OciDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { os: string; architecture: string; variant?: string };
}

export interface OciIndex {
  schemaVersion: number;
  mediaType?: string;
  manifests: OciDescriptor[];
}

export interface OciManifest {
  schemaVersion: number;
  mediaType?: string;
  config: OciDescriptor;
  layers: OciDescriptor[];
}

/** One entry of docker-archive's manifest.json. */
export interface DockerArchiveManifestItem {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

export function isIndexMediaType(mt: string | undefined): boolean {
  return mt === OCI_INDEX || mt === DOCKER_MANIFEST_LIST;
}
