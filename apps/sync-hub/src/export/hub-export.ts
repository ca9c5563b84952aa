import type { Logger } from '../log.js';
import type { HubStorage } from '../store/hub-storage.js';
import { AmqpSink } from './amqp-sink.js';
import type { EventSink } from './event-sink.js';
import { EventExporter } from './exporter.js';

/** `sync-hub start --export <url>`: where and how this hub exports its event log. */
export interface HubExportOptions {
  /** amqp://… (RabbitMQ). */
  url: string;
  /** Topic exchange (default `scoville.events`). */
  exchange?: string;
  /** Publisher lease (default 10 s): how soon another hub takes over from a dead one. */
  leaseMs?: number;
  /** Messages per confirmed batch (default 1,000). */
  batch?: number;
}

/** From SCOVILLE_EXPORT_URL (and SCOVILLE_EXPORT_EXCHANGE, _LEASE_MS, _BATCH); null when unset. */
export function exportOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): HubExportOptions | null {
  const url = env.SCOVILLE_EXPORT_URL;
  if (!url) return null;
  const positive = (v: string | undefined) => (Number.isSafeInteger(Number(v)) && Number(v) > 0 ? Number(v) : undefined);
  return { url, exchange: env.SCOVILLE_EXPORT_EXCHANGE || undefined, leaseMs: positive(env.SCOVILLE_EXPORT_LEASE_MS), batch: positive(env.SCOVILLE_EXPORT_BATCH) };
}

/** The sink for an export URL (only amqp:// and amqps:// for now). */
export function openSink(o: Pick<HubExportOptions, 'url' | 'exchange'>): EventSink {
  const scheme = o.url.split(':')[0];
  if (scheme === 'amqp' || scheme === 'amqps') return new AmqpSink({ url: o.url, exchange: o.exchange });
  throw new Error(`unsupported export URL scheme "${scheme}:" (amqp:// or amqps://)`);
}

/** Starts the exporter of a hub process (it publishes once it holds the lease). */
export async function startHubExport(storage: HubStorage, replica: string, log: Logger, o: HubExportOptions): Promise<EventExporter> {
  const sink = openSink(o);
  const exporter = new EventExporter({ store: storage.exports, changes: storage.inventory, sink, holder: replica, log, leaseMs: o.leaseMs, batch: o.batch });
  await exporter.start();
  log.info('event export on', { sink: sink.name, url: o.url.replace(/\/\/[^@/]*@/, '//***@') });
  return exporter;
}
