/** The state of one build as the executor sees it. */
import type { ImageConfig, ImageRecord, ProgressMessage } from '../image/types';
import type { BuildCache } from './cache';
import type { BuildContext } from './context';
import type { BuilderDeps, BuildOptions } from './types';

/** A stage as far as it got: the config (and its exact JSON), the image ID, the layers. */
export interface StageState {
  index: number;
  name?: string;
  config: ImageConfig;
  /** '' before the first step of `FROM scratch` */
  configJson: string;
  /** '' before the first step of `FROM scratch` */
  imageId: string;
  /** chain IDs, bottom first */
  layers: string[];
  /** `os/arch` */
  platform: string;
  /** ARGs declared in this stage → value (undefined: declared without one) */
  args: Map<string, string | undefined>;
  cmdSet: boolean;
}

export interface BuildSession {
  deps: BuilderDeps;
  opts: BuildOptions;
  cache: BuildCache;
  context: BuildContext;
  escape: string;
  /** a `{"stream": …}` message (dropped with `q`) */
  out(text: string): void;
  progress(m: ProgressMessage): void;
  /** chain IDs this build registered (released again if it fails) */
  createdLayers: string[];
  /** cache rows this build wrote (dropped again if it fails) */
  newKeys: string[];
  buildArgs: Map<string, string | null>;
  /** names an ARG declared (for the "not consumed" warning) */
  declaredArgs: Set<string>;
  /** ARGs before the first FROM, with their values */
  metaArgs: Map<string, string | undefined>;
  /** a finished (or running) earlier stage by `AS` name or index */
  stageByName(name: string): StageState | undefined;
  /** an image by reference, pulled when missing (or always with `pull=1`) */
  resolveImage(ref: string, platform: string): Promise<ImageRecord>;
}
