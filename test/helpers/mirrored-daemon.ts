/**
 * The setup most daemon tests share: a berthd whose docker.io pulls go to a loopback registry seeded with
 * the offline fixture images (and only there: --registry-mirror-only).
 */
import { dockerCli, ok, type BoundCli } from './cli';
import { startBerthd, type Berthd } from './daemon';
import { seedImages, startRegistry, type Registry } from './registry';

export interface MirroredDaemon {
  reg: Registry;
  daemon: Berthd;
  /** stops the daemon (removing its containers), then the registry */
  stop(): Promise<void>;
}

export async function startMirroredDaemon(images: string[] = ['busybox'], extraArgs: string[] = []): Promise<MirroredDaemon> {
  const reg = await startRegistry();
  try {
    await seedImages(reg, images);
    const daemon = await startBerthd({ registryMirror: reg.url, insecureRegistries: [reg.host], extraArgs });
    return { reg, daemon, stop: async () => { await daemon.stop(); await reg.stop(); } };
  } catch (err) {
    await reg.stop();
    throw err;
  }
}

export interface DockerBed extends MirroredDaemon {
  /** the real docker CLI bound to the daemon */
  docker: BoundCli;
  /** removes `names` (containers; missing ones are fine), then stops daemon and registry */
  close(names?: string[]): Promise<void>;
}

/** startMirroredDaemon, with busybox already pulled through the docker CLI. */
export async function startDockerBed(extraArgs: string[] = []): Promise<DockerBed> {
  const bed = await startMirroredDaemon(['busybox'], extraArgs);
  const docker = dockerCli(bed.daemon);
  try {
    ok(await docker(['pull', 'busybox']), 'docker pull busybox');
  } catch (err) {
    await bed.stop();
    throw err;
  }
  return {
    ...bed, docker,
    close: async (names = []) => {
      if (names.length) await docker(['rm', '-f', ...names], { timeoutMs: 30_000 }).catch(() => undefined);
      await bed.stop();
    },
  };
}
