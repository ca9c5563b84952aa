/**
 * Samples while the campaign runs: resident memory of every child process
 * (from /proc), and each live agent's stock, so an on-hand below zero is
 * seen when it happens, not only at the end.
 */
import { readFileSync } from 'node:fs';
import type { Topology } from './topology.js';

export interface NegativeStock {
  agent: string;
  sku: string;
  onHand: number;
  atMs: number;
}

/** VmRSS of a pid in MiB, or null when it is gone. */
export function rssMb(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

export class Monitor {
  /** Process name → highest RSS seen (MiB). */
  readonly maxRss = new Map<string, number>();
  readonly negatives: NegativeStock[] = [];
  samples = 0;
  private timer: NodeJS.Timeout | null = null;
  private busy = false;

  constructor(
    private readonly topo: Topology,
    private readonly t0: number,
  ) {}

  start(everyMs = 2_000): void {
    this.timer = setInterval(() => void this.sample(), everyMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  async sample(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      this.samples++;
      for (const p of this.topo.processes()) {
        const mb = rssMb(p.pid);
        if (mb !== null && mb > (this.maxRss.get(p.name) ?? 0)) this.maxRss.set(p.name, mb);
      }
      await Promise.all(
        this.topo.agents
          .filter((a) => a.up)
          .map(async (a) => {
            try {
              const res = await fetch(`${a.url}/stock`, { signal: AbortSignal.timeout(2_000) });
              if (!res.ok) return;
              const body = (await res.json()) as { items: { sku: string; onHand: number }[] };
              for (const i of body.items) {
                if (i.onHand < 0) this.negatives.push({ agent: a.name, sku: i.sku, onHand: i.onHand, atMs: Date.now() - this.t0 });
              }
            } catch {
              // a killed or stopped agent: nothing to sample
            }
          }),
      );
    } finally {
      this.busy = false;
    }
  }
}
