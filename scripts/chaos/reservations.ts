/**
 * Online holds at the hub (`POST /reservations`, reserve key), committed or
 * released, each call retried with the same reserve key until it gets a
 * final answer. The route is being built: `probe()` asks for it, and the
 * campaign skips this workload when the hub answers 404 (no such route).
 *
 * Expected shape (adjust here when the API lands):
 *   POST   /reservations            {idempotencyKey, storeId, lines:[{sku,qty}], ttlSeconds} → 201 {id|reservationId}
 *   POST   /reservations/:id/commit {idempotencyKey}                                        → 200/201
 *   DELETE /reservations/:id                                                                → 200
 * A 400/422 to the first call means the shape differs: the workload stops and says so.
 */
import { sleep, untilAnswered, type Workload } from './load.js';
import type { Topology } from './topology.js';

/** True when the hub has a POST /reservations route (anything but a 404 "no route"). */
export async function hubHasReservations(hubUrl: string, key: string): Promise<boolean> {
  try {
    const res = await fetch(`${hubUrl}/reservations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: '{}',
      signal: AbortSignal.timeout(5_000),
    });
    return res.status !== 404;
  } catch {
    return false;
  }
}

export class HubReservations implements Workload {
  readonly name = 'reservations';
  held = 0;
  committed = 0;
  released = 0;
  refused = 0;
  unanswered = 0;
  note = '';
  private stopping = false;
  private giveUpAt = Infinity;
  private loop: Promise<void> = Promise.resolve();

  constructor(
    private readonly topo: Topology,
    private readonly skus: readonly string[],
    private readonly random: () => number,
    private readonly keyPrefix: string,
  ) {}

  start(): void {
    this.loop = this.run();
  }

  async stop(giveUpAt: number): Promise<void> {
    this.stopping = true;
    this.giveUpAt = giveUpAt;
    await this.loop;
  }

  private hubUrl(): string {
    const h = this.topo.liveHubs()[0] ?? this.topo.hubs[0]!;
    return h.up ? h.url : 'http://127.0.0.1:1';
  }

  private call(method: string, path: string, body?: unknown) {
    return untilAnswered(
      () => `${this.hubUrl()}${path}`,
      { method, body, headers: { authorization: `Bearer ${this.topo.reserveKey}` } },
      (s) => s < 500,
      () => this.giveUpAt,
    );
  }

  private async run(): Promise<void> {
    const stores = [...this.topo.stores.keys()];
    for (let n = 0; !this.stopping; n++) {
      const storeId = stores[Math.floor(this.random() * stores.length)]!;
      const sku = this.skus[Math.floor(this.random() * this.skus.length)]!;
      const key = `${this.keyPrefix}-reserve-${n}`;
      const r = await this.call('POST', '/reservations', { idempotencyKey: key, storeId, lines: [{ sku, qty: 1 }], ttlSeconds: 60 });
      if (r === null) {
        this.unanswered++;
        continue;
      }
      const { status, body } = r.answer;
      if (status === 400 || status === 422) {
        this.note = `POST /reservations answered ${status} ${JSON.stringify(body).slice(0, 300)}: the request shape in scripts/chaos/reservations.ts needs updating`;
        return;
      }
      if (status !== 201 && status !== 200) {
        this.refused++;
        // The first refusal, so the report says why holds are refused.
        this.note ||= `first refusal: ${status} ${JSON.stringify(body).slice(0, 200)}`;
      } else {
        this.held++;
        const id = String(body?.id ?? body?.reservationId ?? body?.holdId ?? '');
        if (id !== '') {
          const commit = this.random() < 0.5;
          const done = commit
            ? await this.call('POST', `/reservations/${encodeURIComponent(id)}/commit`, { idempotencyKey: `${key}-commit` })
            : await this.call('DELETE', `/reservations/${encodeURIComponent(id)}`);
          if (done === null) this.unanswered++;
          else if (done.answer.status < 300) commit ? this.committed++ : this.released++;
        }
      }
      await sleep(200 + Math.floor(this.random() * 400));
    }
  }

  summary(): Record<string, number | string> {
    return { held: this.held, committed: this.committed, released: this.released, refused: this.refused, unanswered: this.unanswered, note: this.note };
  }
}
