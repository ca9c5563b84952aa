/**
 * POS load: terminals at every agent selling (and restocking so stock does
 * not run out). Every request is retried with the SAME idempotency key until
 * it gets a final answer (201, or 409 refused), whatever the faults do to
 * the agent; every 201 is recorded with its key and the event ids it made.
 *
 * Workloads are pluggable (`Workload`): `PosLoad` here, the hub's online
 * holds in reservations.ts; the campaign starts whichever apply.
 */
import type { AgentNode, Topology } from './topology.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface Line {
  sku: string;
  qty: number;
}

export interface Workload {
  readonly name: string;
  start(): void;
  /** No new requests; resolves when the ones in flight have their final answer (or `giveUpAt` passed). */
  stop(giveUpAt: number): Promise<void>;
  summary(): Record<string, number | string>;
}

/** One write a terminal got a 201 for. */
export interface AckedWrite {
  kind: 'sale' | 'restock';
  agent: number;
  store: string;
  key: string;
  lines: Line[];
  /** Event ids of the answer (one per line). */
  events: string[];
  /** Attempts it took (1 = first try answered). */
  attempts: number;
  /** The 201 was a stored answer replayed for a retry. */
  replayed: boolean;
}

export interface Answer {
  status: number;
  body: any;
  headers: Headers;
}

/**
 * Sends one request until it gets an answer `isFinal` accepts: network
 * errors, timeouts (a SIGSTOPped agent) and 5xx are retried with the same
 * body, and so the same idempotency key. Returns null once `giveUpAt` passed.
 */
export async function untilAnswered(
  url: () => string,
  init: { method: string; body?: unknown; headers?: Record<string, string> },
  isFinal: (status: number) => boolean,
  giveUpAt: () => number,
  onRetry?: (why: string) => void,
): Promise<{ answer: Answer; attempts: number } | null> {
  for (let attempts = 1; ; attempts++) {
    let why: string;
    try {
      const res = await fetch(url(), {
        method: init.method,
        headers: { 'content-type': 'application/json', ...init.headers },
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        signal: AbortSignal.timeout(8_000),
      });
      const text = await res.text();
      const body = text === '' ? null : JSON.parse(text);
      if (isFinal(res.status)) return { answer: { status: res.status, body, headers: res.headers }, attempts };
      why = `${res.status} ${text.slice(0, 200)}`;
    } catch (e) {
      why = String((e as Error).message ?? e);
    }
    onRetry?.(why);
    if (Date.now() > giveUpAt()) return null;
    await sleep(100 + Math.min(attempts, 10) * 50);
  }
}

export interface PosLoadOptions {
  terminals: number;
  skus: readonly string[];
  /** One stream of randomness per terminal, derived from the campaign's seed. */
  fork: () => () => number;
  /** Prefix of idempotency keys (the seed, so keys name their run). */
  keyPrefix: string;
  log: (msg: string) => void;
}

export class PosLoad implements Workload {
  readonly name = 'pos';
  readonly acked: AckedWrite[] = [];
  refused = 0;
  retries = 0;
  /** Requests given up on (no final answer by the deadline): a violation. */
  readonly unanswered: { agent: number; key: string; kind: string }[] = [];
  /** A final answer that is neither 201 nor 409 (422 key reused, 404 …): a violation. */
  readonly unexpected: { agent: number; key: string; status: number; body: unknown }[] = [];
  private stopping = false;
  private giveUpAt = Infinity;
  private running: Promise<void>[] = [];

  constructor(
    private readonly topo: Topology,
    private readonly opts: PosLoadOptions,
  ) {}

  /** Stock to start with, before any fault: every SKU at every agent. */
  async prime(qty: number): Promise<void> {
    await Promise.all(
      this.topo.agents.map((a) => this.write(a, 'restock', `${this.opts.keyPrefix}-prime-${a.index}`, this.opts.skus.map((sku) => ({ sku, qty })))),
    );
  }

  start(): void {
    for (const a of this.topo.agents) {
      for (let t = 0; t < this.opts.terminals; t++) this.running.push(this.terminal(a, t, this.opts.fork()));
    }
  }

  async stop(giveUpAt: number): Promise<void> {
    this.stopping = true;
    this.giveUpAt = giveUpAt;
    await Promise.all(this.running);
  }

  private async terminal(a: AgentNode, t: number, random: () => number): Promise<void> {
    const pick = () => this.opts.skus[Math.floor(random() * this.opts.skus.length)]!;
    for (let n = 0; !this.stopping; n++) {
      const restock = random() < 0.15;
      const lines: Line[] = restock
        ? [{ sku: pick(), qty: 5 + Math.floor(random() * 16) }]
        : random() < 0.25
          ? [
              { sku: pick(), qty: 1 },
              { sku: pick(), qty: 1 + Math.floor(random() * 2) },
            ]
          : [{ sku: pick(), qty: 1 + Math.floor(random() * 3) }];
      const key = `${this.opts.keyPrefix}-${restock ? 'restock' : 'sale'}-${a.index}-${t}-${n}`;
      await this.write(a, restock ? 'restock' : 'sale', key, lines);
      await sleep(40 + Math.floor(random() * 120));
    }
  }

  private async write(a: AgentNode, kind: 'sale' | 'restock', key: string, lines: Line[]): Promise<void> {
    const r = await untilAnswered(
      () => `${a.url}/${kind === 'sale' ? 'sales' : 'restocks'}`,
      { method: 'POST', body: { idempotencyKey: key, lines, terminal: `chaos-${a.index}` } },
      (s) => s < 500,
      () => this.giveUpAt,
      () => this.retries++,
    );
    if (r === null) {
      this.unanswered.push({ agent: a.index, key, kind });
      return;
    }
    const { answer, attempts } = r;
    if (answer.status === 201) {
      this.acked.push({
        kind,
        agent: a.index,
        store: a.agent.store,
        key,
        lines,
        events: (answer.body?.events ?? []) as string[],
        attempts,
        replayed: answer.headers.get('idempotent-replayed') === 'true',
      });
    } else if (answer.status === 409 && answer.body?.error?.code === 'insufficient_stock') {
      this.refused++;
    } else {
      this.unexpected.push({ agent: a.index, key, status: answer.status, body: answer.body });
    }
  }

  summary(): Record<string, number | string> {
    const sales = this.acked.filter((w) => w.kind === 'sale');
    return {
      salesAcknowledged: sales.length,
      unitsSold: sales.reduce((s, w) => s + w.lines.reduce((x, l) => x + l.qty, 0), 0),
      restocksAcknowledged: this.acked.length - sales.length,
      refused: this.refused,
      retries: this.retries,
      replayed: this.acked.filter((w) => w.replayed).length,
      unanswered: this.unanswered.length,
      unexpected: this.unexpected.length,
    };
  }
}
