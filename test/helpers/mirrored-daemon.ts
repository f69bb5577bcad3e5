/**
 * The setup most daemon tests share: a berthd whose docker.io pulls go to a loopback registry seeded with
 * the offline fixture images (and only there: --registry-mirror-only).
 */
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
