import type { ServerResponse } from 'node:http';
import type { Hono, MiddlewareHandler } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import { routePath } from 'hono/route';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { SyncStatus } from '../http/app.js';
import type { AgentStore } from '../store/agent-store.js';
import { requestIds } from './log.js';

export interface AgentMetricsDeps {
  store: Pick<AgentStore, 'syncValue' | 'events'>;
  /** Highest event seq this replica wrote. */
  lastEventSeq: () => number;
  /** The acked-events watermark key in sync_state (sync-client's ACKED_EVENT_SEQ). */
  ackedKey: string;
  /** Absent when the agent runs without a hub. */
  syncStatus?: () => SyncStatus;
  clock?: () => number;
}

/**
 * The agent's Prometheus metrics, on `GET /metrics` for requests from this
 * machine only (loopback; no terminal token needed, anyone else gets 404):
 * a Prometheus or node agent on the store's machine scrapes it. Names start
 * with `scoville_`, labels are bounded (no SKU).
 */
export function agentMetrics(deps: AgentMetricsDeps) {
  const clock = deps.clock ?? Date.now;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'scoville_' });
  const acked = () => deps.store.syncValue(deps.ackedKey);

  // Counters that follow a durable watermark: they go on from the stored value after a restart.
  const watermark = (name: string, help: string, read: () => number) => {
    let last = 0;
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        const v = read();
        if (v > last) this.inc(v - last);
        last = Math.max(last, v);
      },
    });
  };
  watermark('scoville_agent_events_recorded_total', 'Events this agent wrote to its log (its highest event seq)', deps.lastEventSeq);
  watermark('scoville_agent_events_acked_total', 'Events of this agent the hub has committed and acked (the acked watermark)', acked);
  new Gauge({
    name: 'scoville_agent_unacked_events',
    help: 'Events written here that the hub has not acked yet',
    registers: [registry],
    collect() {
      this.set(Math.max(0, deps.lastEventSeq() - acked()));
    },
  });
  new Gauge({
    name: 'scoville_agent_unacked_batches',
    help: 'Batches sent to the hub and not acked yet, plus one when changes wait to be sent',
    registers: [registry],
    collect() {
      this.set(deps.syncStatus?.().unackedBatches ?? 0);
    },
  });
  new Gauge({
    name: 'scoville_agent_sync_lag_seconds',
    help: 'Age of the oldest event the hub has not acked (0 when everything is acked)',
    registers: [registry],
    collect() {
      const oldest = deps.store.events(acked(), 1)[0];
      this.set(oldest === undefined ? 0 : Math.max(0, (clock() - oldest.at) / 1000));
    },
  });
  new Gauge({
    name: 'scoville_agent_hub_connected',
    help: '1 while the sync link to the hub is up (welcomed)',
    registers: [registry],
    collect() {
      this.set(deps.syncStatus?.().online ? 1 : 0);
    },
  });
  const seconds = new Histogram({
    name: 'scoville_http_request_duration_seconds',
    help: 'HTTP request latency until the response head, by route template, method and status class',
    labelNames: ['route', 'method', 'status'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });

  /** Request id (`X-Request-Id`, the caller's when plain and short) in the log lines of the request (requestIds), and its latency. */
  const observeRequests: MiddlewareHandler = async (c, next) => {
    const given = c.req.header('x-request-id');
    const reqId = given !== undefined && /^[A-Za-z0-9._:-]{1,64}$/.test(given) ? given : crypto.randomUUID();
    // Straight on Node's response under @hono/node-server (merged into the head it writes): c.header
    // would give hono's answer a web Headers object, which the server then converts back, a few µs a request.
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    if (outgoing !== undefined) outgoing.setHeader('X-Request-Id', reqId);
    else c.header('X-Request-Id', reqId);
    requestIds.set(c.req.raw, reqId);
    const started = performance.now();
    try {
      await next();
    } finally {
      const path = routePath(c);
      seconds.observe(
        { route: path === '*' || path === '' ? 'unmatched' : path, method: /^[A-Z]{3,7}$/.test(c.req.method) ? c.req.method : 'OTHER', status: `${Math.floor(c.res.status / 100)}xx` },
        (performance.now() - started) / 1000,
      );
    }
  };

  return {
    registry,
    /** Mount first (before the terminal-token check): request ids and latency for every route, and `GET /metrics`. */
    mount(app: Hono): void {
      app.use('*', observeRequests);
      app.get('/metrics', async (c, next) => {
        if (!fromLoopback(c)) return next(); // as if there were no such route
        return c.body(await registry.metrics(), 200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
      });
    },
  };
}

/** True when the request came from this machine (127.0.0.0/8, ::1, ::ffff:127.x). */
function fromLoopback(c: Parameters<MiddlewareHandler>[0]): boolean {
  try {
    const a = getConnInfo(c).remote.address ?? '';
    return a === '::1' || a.startsWith('127.') || a.startsWith('::ffff:127.');
  } catch {
    return false;
  }
}
