import type { Hono, MiddlewareHandler } from 'hono';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { EventType } from '@scoville/crdt-inventory';
import type { AlertStore } from '../store/alert-store.js';
import type { HubCommitter } from '../sync/hub-committer.js';
import type { SyncServer } from '../sync/sync-server.js';
import { httpObservability } from './http.js';

/**
 * The hub's Prometheus metrics (`GET /metrics`). Every name starts with
 * `scoville_`; labels are bounded (event or hold kind, alert kind, route
 * template, method, status class): never a SKU, a store or a cart.
 * `deploy/grafana/scoville.json` queries them; a test checks that every
 * metric it queries is exposed.
 */
export interface HubMetricsDeps {
  committer: Pick<HubCommitter, 'onCommit' | 'queued' | 'stats'>;
  sync: Pick<SyncServer, 'connected'>;
  alerts: Pick<AlertStore, 'list'>;
  /** Serve `/metrics` without an API key (`start --metrics-public`); default: a read key is required. */
  public?: boolean;
}

const HOLD_OUTCOME: Partial<Record<EventType, string>> = { hold: 'created', hold_commit: 'committed', hold_release: 'released', hold_expire: 'expired' };

/** Alert kinds always exposed (0 when none is open), so dashboards and alert rules see the series. */
const ALERT_KINDS = ['oversell'];

export function hubMetrics(deps: HubMetricsDeps) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'scoville_' });

  const ingested = new Counter({
    name: 'scoville_hub_events_ingested_total',
    help: 'Events this hub process stored (first time; resent duplicates not counted)',
    registers: [registry],
  });
  const ackedEvents = new Counter({
    name: 'scoville_hub_events_acked_total',
    help: 'Events in agent batches this hub process committed and acked (resends after a lost ack count again)',
    registers: [registry],
  });
  const ackedBatches = new Counter({ name: 'scoville_hub_batches_acked_total', help: 'Agent batches committed and acked', registers: [registry] });
  const commitSeconds = new Histogram({
    name: 'scoville_hub_commit_duration_seconds',
    help: 'Duration of one group-commit transaction (PostgreSQL or PGlite)',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const commitItems = new Histogram({
    name: 'scoville_hub_commit_batches',
    help: 'Batches (agent batches, hub sales) per group-commit transaction',
    buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2000],
    registers: [registry],
  });
  const holds = new Counter({
    name: 'scoville_hub_holds_total',
    help: 'Hold events committed by this hub process, by outcome (created, committed, released, expired); agent and online holds alike',
    labelNames: ['outcome'],
    registers: [registry],
  });
  for (const outcome of Object.values(HOLD_OUTCOME)) holds.inc({ outcome }, 0);
  const sales = new Counter({ name: 'scoville_hub_sale_events_total', help: 'Sale events committed by this hub process', registers: [registry] });

  new Counter({
    name: 'scoville_hub_commit_failures_total',
    help: 'Commit attempts that failed (retried unless permanent)',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(deps.committer.stats.failures);
    },
  });
  new Gauge({
    name: 'scoville_hub_commit_queue',
    help: 'Batches waiting for a group-commit transaction',
    registers: [registry],
    collect() {
      this.set(deps.committer.queued);
    },
  });
  new Gauge({
    name: 'scoville_hub_degraded',
    help: '1 while the database refuses commits (acks are held back)',
    registers: [registry],
    collect() {
      this.set(deps.committer.stats.degraded ? 1 : 0);
    },
  });
  new Gauge({
    name: 'scoville_hub_connected_stores',
    help: 'Stores with at least one agent connected to this hub process',
    registers: [registry],
    collect() {
      this.set(deps.sync.connected().length);
    },
  });
  new Gauge({
    name: 'scoville_hub_connected_agents',
    help: 'Agent links (replicas) connected to this hub process',
    registers: [registry],
    collect() {
      this.set(deps.sync.connected().reduce((n, s) => n + s.replicas.length, 0));
    },
  });
  new Gauge({
    name: 'scoville_hub_oldest_batch_age_seconds',
    help: 'Among connected stores, the longest time since a store last sent a batch (0 when none is connected)',
    registers: [registry],
    collect() {
      const now = Date.now();
      this.set(Math.max(0, ...deps.sync.connected().map((s) => (now - (s.lastBatchAt ?? s.since)) / 1000)));
    },
  });
  new Gauge({
    name: 'scoville_hub_alerts_active',
    help: 'Open alerts by kind (shared by every hub process: read from the database)',
    labelNames: ['kind'],
    registers: [registry],
    async collect() {
      const counts = new Map<string, number>(ALERT_KINDS.map((k) => [k, 0]));
      try {
        for (const a of await deps.alerts.list({ open: true, limit: 100_000 })) counts.set(a.kind, (counts.get(a.kind) ?? 0) + 1);
      } catch {
        return; // database down: keep the last values; scoville_hub_degraded says why
      }
      this.reset();
      for (const [kind, n] of counts) this.set({ kind }, n);
    },
  });

  const off = deps.committer.onCommit((items, result, seconds) => {
    commitSeconds.observe(seconds);
    commitItems.observe(items.length);
    ingested.inc(result.eventsInserted);
    for (const item of items) {
      if (item.from) {
        ackedBatches.inc();
        ackedEvents.inc(item.events.length);
      }
      for (const e of item.events) {
        const outcome = HOLD_OUTCOME[e.type];
        if (outcome) holds.inc({ outcome });
        else if (e.type === 'sale') sales.inc();
      }
    }
  });

  const http = httpObservability(registry);

  return {
    registry,
    /** Request ids and HTTP latency for every route, then `GET /metrics`; mount before any other route or middleware. */
    mount(app: Hono, readKey: MiddlewareHandler): void {
      app.use('*', http.middleware);
      app.get('/metrics', deps.public ? (_c, next) => next() : readKey, async (c) => {
        const body = await registry.metrics();
        return c.body(body, 200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
      });
    },
    close: off,
  };
}

export type HubMetrics = ReturnType<typeof hubMetrics>;

