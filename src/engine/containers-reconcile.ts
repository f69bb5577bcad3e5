import { errorMessage } from '../errors';
import type { Logger } from '../util/logger';
import type { ContainerService } from './containers';

/**
 * Startup reconciliation: bring each record in line with what happened while berthd was down.
 * - exit file present → exited with that code (and cleaned up, auto-removed when asked);
 * - runtime says running and conmon is alive → still running, its exit is watched again;
 * - runtime says running but conmon is dead → unmonitored (no exit code will ever come): killed, exited 137;
 * - no runtime state and no exit file → the task is gone: exited 255 with an error;
 * - an interrupted removal is finished; a task left `created` by a crash mid-start is deleted.
 */
export async function reconcileContainers(svc: ContainerService, log: Logger): Promise<void> {
  const rt = svc.runtime;
  for (const c of svc.store.list()) {
    try {
      const status = c.state.status;
      if (status === 'removing') {
        await svc.destroy(c);
        continue;
      }
      if (status !== 'running' && status !== 'paused' && status !== 'restarting') {
        if (status === 'created' && (await rt.state(c.id))) await rt.cleanup(c.id, { forgetExit: true });
        continue;
      }
      const exited = await rt.watch(c.id);
      if (exited !== undefined) {
        await svc.handleExit(c.id, exited);
        continue;
      }
      const st = await rt.state(c.id);
      const alive = await rt.conmonAlive(svc.paths.dir(c.id));
      if (st && (st.status === 'running' || st.status === 'paused') && alive) {
        log.info('container still running', { id: c.id, pid: st.pid });
        continue;
      }
      if (st && st.status !== 'stopped') await rt.kill(c.id, 'SIGKILL', true).catch(() => undefined);
      // conmon may have written the exit file just now
      const late = await rt.exitCode(c.id);
      if (late !== undefined) {
        await svc.handleExit(c.id, late);
        continue;
      }
      await svc.markExited(c.id, st ? 137 : 255, st ? 'container monitor (conmon) died while berthd was down' : 'container state was lost while berthd was down');
    } catch (err) {
      log.warn('reconciliation failed for a container', { id: c.id, error: errorMessage(err) });
    }
  }
}
