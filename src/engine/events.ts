import type { Db } from '../store/db';

/** One Engine API event, as `/events` streams it. */
export interface EngineEvent {
  Type: 'container' | 'image' | 'volume' | 'network' | 'daemon' | 'plugin' | 'node' | 'service' | 'secret' | 'config' | 'builder';
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local' | 'swarm';
  time: number;
  timeNano: number;
  /** legacy fields kept for old clients */
  status?: string;
  id?: string;
  from?: string;
}

export type EventListener = (e: EngineEvent) => void;

const RING_SIZE = 2048;

/**
 * The event log: every event is kept in a bounded ring in the database (so `--since` works across
 * daemon restarts) and fanned out to live subscribers.
 */
export class EventLog {
  private readonly listeners = new Set<EventListener>();
  private readonly insert;
  private readonly trim;
  private readonly since;

  constructor(private readonly db: Db) {
    this.insert = db.prepare('INSERT INTO events (time_nano, body) VALUES (?, ?)');
    this.trim = db.prepare('DELETE FROM events WHERE seq <= (SELECT MAX(seq) FROM events) - ?');
    this.since = db.prepare('SELECT body FROM events WHERE time_nano >= ? AND time_nano <= ? ORDER BY seq');
  }

  emit(type: EngineEvent['Type'], action: string, id: string, attributes: Record<string, string> = {}): EngineEvent {
    const nowNs = BigInt(Date.now()) * 1_000_000n + process.hrtime.bigint() % 1_000_000n;
    const event: EngineEvent = {
      Type: type,
      Action: action,
      Actor: { ID: id, Attributes: attributes },
      scope: 'local',
      time: Number(nowNs / 1_000_000_000n),
      timeNano: Number(nowNs),
    };
    if (type === 'container' || type === 'image') {
      event.status = action;
      event.id = id;
      if (type === 'container' && attributes.image) event.from = attributes.image;
    }
    this.insert.run(event.timeNano, JSON.stringify(event));
    if (Math.random() < 0.05) this.trim.run(RING_SIZE);
    for (const l of this.listeners) l(event);
    return event;
  }

  /** Stored events with sinceNs <= timeNano <= untilNs, oldest first. */
  history(sinceNs: number, untilNs: number): EngineEvent[] {
    return (this.since.all(sinceNs, untilNs) as { body: string }[]).map((r) => JSON.parse(r.body) as EngineEvent);
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  subscribe(l: EventListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
}
