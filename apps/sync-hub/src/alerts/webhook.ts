import { createHmac, randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';
import type { AlertChange } from './ops-alerts.js';

export const SIGNATURE_HEADER = 'X-Scoville-Signature';

/** `sha256=<hex>` of the body under `secret`: what a receiver recomputes and compares (timing-safe). */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export interface WebhookTarget {
  url: string;
  secret: string | null;
}

export interface AlertWebhookOptions {
  /** Where to POST now (read before each delivery; null: no webhook, the change is dropped). */
  target: () => Promise<WebhookTarget | null>;
  log: Logger;
  /** Attempts per change, the first included (default 6). */
  maxAttempts?: number;
  /** First retry after this, doubling each time (default 500 ms), at most maxDelayMs (default 30 s). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Per request (default 5 s). */
  timeoutMs?: number;
  /** Changes waiting; past this the oldest is dropped (default 1,000). */
  queueLimit?: number;
}

/** The JSON body of one delivery. */
export function webhookBody(c: AlertChange, deliveryId: string) {
  return {
    id: deliveryId,
    type: 'alert',
    state: c.state,
    kind: c.kind,
    storeId: c.store,
    sku: c.sku,
    at: new Date(c.at).toISOString(),
    detail: c.detail ?? null,
  };
}

/**
 * POSTs each alert change as JSON to the webhook, HMAC-SHA256 signed
 * (`X-Scoville-Signature: sha256=<hex>`; `X-Scoville-Delivery` is the same
 * on every attempt of one change, so a receiver can drop repeats). In order,
 * one request at a time; a failure (network, timeout, 408, 429, 5xx) is
 * retried with exponential backoff up to `maxAttempts`, then logged and
 * dropped; other 4xx are not retried. `send` only queues: ingest never
 * waits for a webhook. The queue lives in memory (bounded): changes still
 * queued when the process stops are lost.
 */
export class AlertWebhook {
  private readonly queue: { change: AlertChange; id: string }[] = [];
  private draining: Promise<void> | null = null;
  private stopped = false;
  private wake: (() => void) | null = null;
  readonly stats = { delivered: 0, failed: 0, attempts: 0, dropped: 0 };

  constructor(private readonly opts: AlertWebhookOptions) {}

  send(change: AlertChange): void {
    if (this.stopped) return;
    if (this.queue.length >= (this.opts.queueLimit ?? 1_000)) {
      this.queue.shift();
      this.stats.dropped++;
      this.opts.log.warn('alert webhook queue full: oldest change dropped');
    }
    this.queue.push({ change, id: randomUUID() });
    this.draining ??= this.drain().finally(() => {
      this.draining = null;
    });
  }

  /** Resolves once every queued change was delivered or given up (tests). */
  async idle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.draining?.catch(() => undefined);
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0 && !this.stopped) {
      const item = this.queue[0]!;
      await this.deliver(item.change, item.id);
      this.queue.shift();
    }
  }

  private async deliver(change: AlertChange, id: string): Promise<void> {
    const max = this.opts.maxAttempts ?? 6;
    for (let attempt = 1; attempt <= max && !this.stopped; attempt++) {
      let target: WebhookTarget | null | 'unavailable';
      try {
        target = await this.opts.target();
      } catch {
        target = 'unavailable'; // the database, for the stored webhook: retried like a failed POST
      }
      if (target === null) return;
      let retry = true;
      let why = 'webhook settings unreadable';
      if (target !== 'unavailable') {
        const body = JSON.stringify(webhookBody(change, id));
        this.stats.attempts++;
        try {
          const res = await fetch(target.url, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              'user-agent': 'scoville-sync-hub',
              'X-Scoville-Delivery': id,
              'X-Scoville-Attempt': String(attempt),
              ...(target.secret ? { [SIGNATURE_HEADER]: signBody(target.secret, body) } : {}),
            },
            body,
            signal: AbortSignal.timeout(this.opts.timeoutMs ?? 5_000),
          });
          await res.body?.cancel().catch(() => undefined);
          if (res.ok) {
            this.stats.delivered++;
            return;
          }
          why = `answered ${res.status}`;
          retry = res.status === 408 || res.status === 429 || res.status >= 500;
        } catch (e) {
          why = String((e as Error).message ?? e);
        }
      }
      if (!retry || attempt === max) {
        this.stats.failed++;
        this.opts.log.error('alert webhook gave up', { delivery: id, kind: change.kind, store: change.store, attempts: attempt, why });
        return;
      }
      this.opts.log.warn('alert webhook failed, retrying', { delivery: id, attempt, why });
      const wait = Math.min(this.opts.maxDelayMs ?? 30_000, (this.opts.baseDelayMs ?? 500) * 2 ** (attempt - 1));
      await new Promise<void>((r) => {
        const t = setTimeout(r, wait);
        this.wake = () => {
          clearTimeout(t);
          r();
        };
      });
      this.wake = null;
    }
  }
}

/** The webhook target: `--alert-webhook`/secret options first, else the one set with `sync-hub webhook set` (re-read every 5 s). */
export function webhookTarget(opts: { url?: string | null; secret?: string | null; stored: () => Promise<WebhookTarget | null> }): () => Promise<WebhookTarget | null> {
  let cached: { at: number; value: WebhookTarget | null } | null = null;
  return async () => {
    if (!cached || Date.now() - cached.at > 5_000) cached = { at: Date.now(), value: await opts.stored() };
    const stored = cached.value;
    const url = opts.url ?? stored?.url ?? null;
    if (url === null) return null;
    return { url, secret: opts.secret ?? stored?.secret ?? null };
  };
}
