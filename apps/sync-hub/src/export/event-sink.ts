import type { InventoryEvent } from '@scoville/crdt-inventory';

/**
 * Where the event export publishes (export/exporter.ts): a message broker.
 * The exporter hands a sink batches of messages in log order and advances its
 * durable cursor only after `publish` resolved, so a sink must resolve only
 * once the broker has taken responsibility for every message of the batch
 * (RabbitMQ: publisher confirms) and reject otherwise (the batch is resent:
 * at least once, consumers drop duplicates by `id`).
 *
 * A sink connects lazily and reconnects on the next `publish` after a
 * failure; it never retries by itself (the exporter backs off).
 */
export interface EventSink {
  /** Names the sink's cursor (`export_cursors.sink`), e.g. `amqp:scoville.events`. */
  readonly name: string;
  /** Publishes in order; resolves when the broker confirmed all of them. */
  publish(messages: readonly SinkMessage[]): Promise<void>;
  /** True while connected (for status). */
  readonly connected: boolean;
  close(): Promise<void>;
}

export interface SinkMessage {
  /** The event id: consumers drop duplicates by it (AMQP `message-id`). */
  id: string;
  /** `<storeId>.<type>.<sku>`, '.' inside ids written as '~' (routing key, subject). */
  subject: string;
  /** Epoch ms the event happened (AMQP `timestamp`, in seconds there). */
  at: number;
  body: ExportedEventV1;
}

/** The JSON body of every exported event (docs/events.md). */
export interface ExportedEventV1 {
  schema: 'scoville.event.v1';
  id: string;
  store: string;
  replica: string;
  seq: number;
  type: InventoryEvent['type'];
  sku: string;
  qty: number;
  /** Epoch ms at the replica that recorded it. */
  at: number;
  reason: string | null;
  terminal: string | null;
  forced: boolean;
  count: number | null;
  reservationId: string | null;
  expiresAt: number | null;
  to: string | null;
  /** The hub change id of the commit that stored it (log order: change, then store, replica, seq). */
  change: number;
  /** Epoch ms the hub committed it. */
  committedAt: number;
}

export const EVENT_SCHEMA_V1 = 'scoville.event.v1';

/** A routing-key word: topic routing splits on '.', which ids may contain. */
export const subjectWord = (id: string): string => id.replaceAll('.', '~');

export function toSinkMessage(e: InventoryEvent, change: number, committedAt: number): SinkMessage {
  return {
    id: e.id,
    subject: `${subjectWord(e.store)}.${e.type}.${subjectWord(e.sku)}`,
    at: e.at,
    body: {
      schema: EVENT_SCHEMA_V1,
      id: e.id,
      store: e.store,
      replica: e.replica,
      seq: e.seq,
      type: e.type,
      sku: e.sku,
      qty: e.qty,
      at: e.at,
      reason: e.reason ?? null,
      terminal: e.terminal ?? null,
      forced: e.forced === true,
      count: e.count ?? null,
      reservationId: e.reservationId ?? null,
      expiresAt: e.expiresAt ?? null,
      to: e.to ?? null,
      change,
      committedAt,
    },
  };
}
