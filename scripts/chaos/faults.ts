/**
 * The fault schedule and its execution. `planFaults` draws the whole
 * schedule from the seeded PRNG before anything runs (time, kind, target,
 * duration), so a seed names one schedule; only the wall-clock timing of
 * its execution varies. `FaultRunner` plays it: each fault takes its
 * target's lock (one fault at a time per process, link or database),
 * applies, waits its duration, heals.
 */
import { terminateBackends } from '../../apps/sync-hub/test/sync/helpers/postgres.js';
import { sleep } from './load.js';
import type { Topology } from './topology.js';

export const FAULT_KINDS = [
  'agent-kill',
  'agent-stop',
  'agent-clock-skew',
  'hub-kill',
  'hub-stop',
  'link-drop',
  'link-reset',
  'link-delay',
  'link-hold',
  'pg-cut',
  'pg-terminate',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Topology changes that are part of the schedule but not faults. */
export type StepKind = FaultKind | 'second-hub-join' | 'second-hub-leave';

export interface PlannedStep {
  atMs: number;
  kind: StepKind;
  /** agent-<i>, link-<i>, hub-a, hub-b, pg */
  target: string;
  durationMs: number;
  /** Delay of link-delay (ms), new clock offset of agent-clock-skew (ms). */
  param: number;
}

/** Relative weight of each kind. */
const WEIGHTS: Record<FaultKind, number> = {
  'agent-kill': 12,
  'agent-stop': 10,
  'agent-clock-skew': 4,
  'hub-kill': 8,
  'hub-stop': 7,
  'link-drop': 12,
  'link-reset': 10,
  'link-delay': 9,
  'link-hold': 12,
  'pg-cut': 9,
  'pg-terminate': 7,
};

/** Maximum clock offset given to an agent (either way). */
export const MAX_SKEW_MS = 90_000;

export function randomOffset(random: () => number): number {
  return Math.round((random() * 2 - 1) * MAX_SKEW_MS);
}

export function planFaults(random: () => number, durationMs: number, everyMs: number, agents: number): PlannedStep[] {
  const between = (lo: number, hi: number) => Math.round(lo + random() * (hi - lo));
  const secondHub = { from: Math.round(durationMs * 0.2), to: Math.round(durationMs * 0.8) };
  const steps: PlannedStep[] = [
    { atMs: secondHub.from, kind: 'second-hub-join', target: 'hub-b', durationMs: 0, param: 0 },
    { atMs: secondHub.to, kind: 'second-hub-leave', target: 'hub-b', durationMs: 0, param: 0 },
  ];
  /** Target → planned time it is free again (faults plus a margin for restarts). */
  const busyUntil = new Map<string, number>([['hub-b', secondHub.from + 5_000]]);
  const kinds = Object.keys(WEIGHTS) as FaultKind[];
  const total = kinds.reduce((s, k) => s + WEIGHTS[k], 0);
  const pickKind = (): FaultKind => {
    let r = random() * total;
    for (const k of kinds) if ((r -= WEIGHTS[k]) < 0) return k;
    return kinds[kinds.length - 1]!;
  };
  for (let t = Math.min(2_000, everyMs); t < durationMs - 1_000; t += Math.max(100, Math.round(everyMs * (0.4 + 1.2 * random())))) {
    for (let tries = 0; tries < 6; tries++) {
      const kind = pickKind();
      const step = draw(kind, t);
      // Nothing outlasts the fault phase: at its end everything is healed anyway.
      step.durationMs = Math.min(step.durationMs, Math.max(0, durationMs - t));
      const margin = kind.endsWith('kill') || kind === 'agent-clock-skew' ? 4_000 : 500;
      if ((busyUntil.get(step.target) ?? 0) > t) continue;
      if (step.target === 'hub-b' && (t < secondHub.from + 5_000 || t + step.durationMs + margin + 3_000 > secondHub.to)) continue;
      busyUntil.set(step.target, t + step.durationMs + margin);
      steps.push(step);
      break;
    }
  }
  return steps.sort((a, b) => a.atMs - b.atMs);

  function draw(kind: FaultKind, atMs: number): PlannedStep {
    const agent = Math.floor(random() * agents);
    const hub = random() < 0.6 ? 'hub-a' : 'hub-b';
    switch (kind) {
      case 'agent-kill':
        return { atMs, kind, target: `agent-${agent}`, durationMs: between(100, 3_000), param: 0 };
      case 'agent-stop':
        return { atMs, kind, target: `agent-${agent}`, durationMs: between(300, 4_000), param: 0 };
      case 'agent-clock-skew':
        return { atMs, kind, target: `agent-${agent}`, durationMs: 0, param: randomOffset(random) };
      case 'hub-kill':
        return { atMs, kind, target: hub, durationMs: between(200, 4_000), param: 0 };
      case 'hub-stop':
        return { atMs, kind, target: hub, durationMs: between(300, 3_000), param: 0 };
      case 'link-drop':
        return { atMs, kind, target: `link-${agent}`, durationMs: between(500, 6_000), param: 0 };
      case 'link-reset':
        return { atMs, kind, target: `link-${agent}`, durationMs: 0, param: 0 };
      case 'link-delay':
        return { atMs, kind, target: `link-${agent}`, durationMs: between(1_000, 8_000), param: between(20, 600) };
      case 'link-hold':
        // Mostly shorter than the heartbeats; one in ten long enough for both sides to call the link dead.
        return { atMs, kind, target: `link-${agent}`, durationMs: random() < 0.1 ? between(20_000, 35_000) : between(300, 6_000), param: 0 };
      case 'pg-cut':
        return { atMs, kind, target: 'pg', durationMs: between(300, 5_000), param: 0 };
      case 'pg-terminate':
        return { atMs, kind, target: 'pg', durationMs: 0, param: 0 };
    }
  }
}

export interface FaultRecord extends PlannedStep {
  /** When it was applied, ms after the campaign started (null: skipped). */
  appliedAtMs: number | null;
  skipped?: string;
  error?: string;
}

export class FaultRunner {
  readonly records: FaultRecord[] = [];
  private readonly locks = new Map<string, Promise<void>>();
  private readonly pending: Promise<void>[] = [];
  private cancelled = false;
  private wake: () => void = () => undefined;
  /** Settles on cancel(): a fault waiting out its duration heals at once. */
  private readonly woken = new Promise<void>((r) => (this.wake = r));

  constructor(
    private readonly topo: Topology,
    private readonly log: (msg: string) => void,
  ) {}

  /** Plays `plan` from `t0`; resolves when every step is done (or cancelled). */
  async play(plan: readonly PlannedStep[], t0: number): Promise<void> {
    for (const step of plan) {
      const wait = t0 + step.atMs - Date.now();
      if (wait > 0) await sleep(wait);
      if (this.cancelled) break;
      const rec: FaultRecord = { ...step, appliedAtMs: null };
      this.records.push(rec);
      const prev = this.locks.get(step.target) ?? Promise.resolve();
      const run = prev.then(() => this.execute(rec, t0));
      this.locks.set(step.target, run);
      this.pending.push(run);
    }
    await Promise.all(this.pending);
  }

  /** No further steps start; the running ones finish. */
  cancel(): void {
    this.cancelled = true;
    this.wake();
  }

  private nap(ms: number): Promise<unknown> {
    return Promise.race([sleep(ms), this.woken]);
  }

  private async execute(rec: FaultRecord, t0: number): Promise<void> {
    if (this.cancelled) {
      rec.skipped = 'cancelled';
      return;
    }
    const topo = this.topo;
    const agent = rec.target.startsWith('agent-') || rec.target.startsWith('link-') ? topo.agents[Number(rec.target.split('-')[1])]! : null;
    const hub = rec.target === 'hub-a' ? topo.hubs[0]! : rec.target === 'hub-b' ? topo.hubs[1]! : null;
    if (hub === topo.hubs[1] && rec.kind.startsWith('hub-') && !topo.secondHubOn) {
      rec.skipped = 'second hub not running';
      return;
    }
    rec.appliedAtMs = Date.now() - t0;
    this.log(`fault ${rec.kind} ${rec.target}${rec.durationMs ? ` for ${rec.durationMs} ms` : ''}${rec.param ? ` (${rec.param})` : ''}`);
    try {
      switch (rec.kind) {
        case 'second-hub-join':
          return await topo.startSecondHub();
        case 'second-hub-leave':
          return await topo.stopSecondHub();
        case 'agent-kill':
          await agent!.kill('SIGKILL');
          await this.nap(rec.durationMs);
          agent!.restarts++;
          return await agent!.start();
        case 'agent-clock-skew':
          await agent!.kill('SIGKILL');
          agent!.clockOffsetMs = rec.param;
          agent!.restarts++;
          return await agent!.start();
        case 'agent-stop':
          agent!.signal('SIGSTOP');
          await this.nap(rec.durationMs);
          return agent!.signal('SIGCONT');
        case 'hub-kill':
          await hub!.kill('SIGKILL');
          await this.nap(rec.durationMs);
          hub!.restarts++;
          if (hub === topo.hubs[0] || topo.secondHubOn) await hub!.start();
          return;
        case 'hub-stop':
          hub!.signal('SIGSTOP');
          await this.nap(rec.durationMs);
          return hub!.signal('SIGCONT');
        case 'link-drop':
          agent!.proxy.drop(true);
          await this.nap(rec.durationMs);
          return agent!.proxy.drop(false);
        case 'link-reset':
          return agent!.proxy.reset();
        case 'link-delay':
          agent!.proxy.delay(rec.param);
          await this.nap(rec.durationMs);
          return agent!.proxy.delay(0);
        case 'link-hold':
          agent!.proxy.hold(true);
          await this.nap(rec.durationMs);
          return agent!.proxy.hold(false);
        case 'pg-cut':
          topo.pg.cut();
          await this.nap(rec.durationMs);
          return topo.pg.restore();
        case 'pg-terminate':
          await terminateBackends(topo.db.name);
          return;
      }
    } catch (e) {
      rec.error = String((e as Error).message ?? e).slice(0, 2_000);
      this.log(`fault ${rec.kind} ${rec.target} failed: ${rec.error}`);
    }
  }

  /** Faults applied, by kind (topology steps and skipped ones not counted). */
  countsByKind(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const k of FAULT_KINDS) out[k] = 0;
    for (const r of this.records) if (r.appliedAtMs !== null && r.kind in out) out[r.kind]!++;
    return out;
  }
}
