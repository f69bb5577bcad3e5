import * as path from 'node:path';
import type { Server } from 'node:http';
import { createApiServer } from '../api/server';
import { Router } from '../api/router';
import { registerSystemRoutes } from '../api/system';
import { registerImageRoutes } from '../api/images';
import { registerDistributionRoutes } from '../api/distribution';
import { Pusher } from '../engine/push';
import { AuthChecker } from '../engine/auth-check';
import { ImageSearcher } from '../engine/search';
import { registerBuildRoutes } from '../api/build';
import { Builder, authForReference } from '../build/builder';
import { ContainerRunStep, removeStaleRunSteps } from '../build/run-step';
import { registerVolumeRoutes } from '../api/volumes';
import { registerNetworkRoutes } from '../api/networks';
import { VolumeService } from '../engine/volumes';
import { NetworkService } from '../engine/networks';
import { ContainerService } from '../engine/containers';
import { registerContainerRoutes } from '../api/containers';
import { registerContainerOpsRoutes } from '../api/container-ops';
import { ContainerOps } from '../engine/container-ops';
import { HealthMonitor } from '../engine/health';
import { RestartManager } from '../engine/restart-policy';
import { registerExecRoutes } from '../api/exec';
import { ExecService } from '../engine/exec';
import { registerContainerFsRoutes } from '../api/container-fs';
import { ContainerFs } from '../engine/container-fs';
import { Committer } from '../engine/commit';
import { EventLog } from '../engine/events';
import { SystemService } from '../engine/system';
import { ImageService } from '../engine/images';
import { Puller } from '../engine/pull';
import { FsContentStore, initDataDirs } from '../image/content-store';
import { OverlayLayerStore } from '../image/layer-store';
import { SqliteImageStore } from '../image/image-store';
import { runtimeBinary } from '../runtime/runtime-binary';
import { openDb } from '../store/db';
import type { Logger } from '../util/logger';
import type { DaemonConfig } from './config';

export interface Daemon {
  events: EventLog;
  createServer(): Server;
  shutdown(): Promise<void>;
}

/** The composition root: the only place that constructs implementations and wires them together. */
export async function buildDaemon(config: DaemonConfig, log: Logger): Promise<Daemon> {
  const { dataRoot, execRoot } = config;
  await removeStaleRunSteps({ dataRoot, execRoot, runtimePath: '/usr/sbin/runc' });
  await initDataDirs(dataRoot);
  const db = openDb(path.join(dataRoot, 'berth.db'));
  const events = new EventLog(db);
  const content = new FsContentStore(dataRoot);
  const layers = new OverlayLayerStore(dataRoot, db);
  const images = new SqliteImageStore(db);

  const registry = { mirrors: config.registryMirrors, insecure: config.insecureRegistries, mirrorsOnly: config.registryMirrorOnly };
  const puller = new Puller({ dataRoot, db, content, layers, images, events, registry, log: log.child({ component: 'pull' }) });
  const volumes = new VolumeService({ dataRoot, db, events, log: log.child({ component: 'volumes' }) });
  const networks = new NetworkService({ execRoot, db, events, log: log.child({ component: 'networks' }), bip: config.bip, bridgeName: config.bridge });
  const containers = new ContainerService({
    dataRoot, execRoot, db, images, layers, events, log: log.child({ component: 'containers' }), networks, volumes,
    runtimePath: runtimeBinary(config.defaultRuntime),
  });
  // restart policies must be attached before containers.init(), so exits found while reconciling are seen
  const execs = new ExecService({ containers, events, log: log.child({ component: 'exec' }) });
  const health = new HealthMonitor({ containers, probes: execs, images, events, log: log.child({ component: 'health' }) });
  const restarts = new RestartManager({ containers, db, events, log: log.child({ component: 'restart' }), health });
  restarts.attach();
  const containerOps = new ContainerOps({ containers, db, events, log: log.child({ component: 'container-ops' }), health });
  const imageService = new ImageService({
    dataRoot, db, content, layers, images, events, puller, log: log.child({ component: 'images' }),
    containersUsing: (imageId) => containers.containersUsing(imageId),
  });
  // Remains of a crash (an unfinished pull, load or import) are removed before anything is served.
  await imageService.collectGarbage?.();
  await layers.gc();

  const system = new SystemService({
    dataRoot, execRoot,
    mirrors: config.registryMirrors,
    insecureRegistries: config.insecureRegistries,
    runtimes: [{ name: 'runc', path: 'runc' }, { name: 'crun', path: 'crun' }],
    defaultRuntime: config.defaultRuntime,
    debug: config.debug,
    imageCount: () => images.list().length,
    containerCounts: () => containers.counts(),
    eventListeners: () => events.listenerCount,
  });

  const router = new Router();
  registerSystemRoutes(router, {
    system, events,
    diskUsage: async () => ({ ...(await imageService.diskUsage()), Containers: await containers.withSizes(containers.list({ all: true })), Volumes: await volumes.diskUsage(), BuildCache: [] }),
  });
  // push and search live under /images/ too: they go before the image routes' greedy patterns
  registerDistributionRoutes(router, {
    pusher: new Pusher({ db, content, layers, images, events, registry, log: log.child({ component: 'push' }) }),
    authChecker: new AuthChecker({ registry, log }),
    searcher: new ImageSearcher({ registry, log }),
    distribution: puller,
  });
  registerImageRoutes(router, imageService);
  const builder = new Builder({
    dataRoot, db, content, layers, images, events, log: log.child({ component: 'build' }),
    pull: async (ref, o, progress) =>
      (await puller.pull(ref, { platform: o.platform, auth: authForReference(ref, o.authConfigs), signal: o.signal }, progress)).image,
    runStep: new ContainerRunStep({ dataRoot, execRoot, layers, log: log.child({ component: 'build-run' }), runtimePath: '/usr/sbin/runc' }),
  });
  registerBuildRoutes(router, builder);
  registerVolumeRoutes(router, volumes);
  registerNetworkRoutes(router, networks);
  registerContainerOpsRoutes(router, { containers, ops: containerOps, events, log: log.child({ component: 'container-ops' }) });
  registerContainerRoutes(router, containers);
  registerExecRoutes(router, execs);
  registerContainerFsRoutes(router, {
    fs: new ContainerFs({ containers, images, layers, events, log: log.child({ component: 'container-fs' }) }),
    committer: new Committer({ containers, db, content, layers, images, events, log: log.child({ component: 'commit' }) }),
  });
  await containers.init();
  await containers.resources.gc();
  await restarts.onDaemonStart();

  return {
    events,
    createServer: () => createApiServer(router, log.child({ component: 'api' })),
    shutdown: async () => {
      restarts.close();
      containers.shutdown();
      await networks.shutdown().catch((err: Error) => log.warn('network cleanup at shutdown failed', { error: err.message }));
      db.close();
    },
  };
}
