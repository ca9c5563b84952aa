/**
 * One campaign, start to end: topology up, stock primed, load and faults
 * for the duration, heal, converge (bounded), check, report, tear down.
 * Everything random comes from one PRNG seeded with `--seed`, forked in a
 * fixed order: clock offsets, the fault schedule, then each workload.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rng } from '../../bench/lib/random.js';
import { checkAll, converge, type CheckResult } from './checks.js';
import { FaultRunner, planFaults, randomOffset } from './faults.js';
import { PosLoad, type Workload } from './load.js';
import { Monitor } from './monitor.js';
import type { ChaosOptions } from './options.js';
import type { ChaosReport } from './report.js';
import { HubReservations, hubHasReservations } from './reservations.js';
import { Topology } from './topology.js';

export const SKUS = ['HSS-001', 'HSS-002', 'HSS-003', 'HSS-004', 'HSS-005', 'HSS-006'];

/** Torn down by main on SIGINT/SIGTERM. */
export let current: Topology | null = null;

export async function runCampaign(o: ChaosOptions, log: (msg: string) => void): Promise<ChaosReport> {
  const root = rng(o.seed);
  const fork = () => rng(Math.floor(root() * 2 ** 32));
  const clockRandom = fork();
  const clockOffsets = Array.from({ length: o.agents }, () => randomOffset(clockRandom));
  const plan = planFaults(fork(), o.durationSec * 1000, o.faultEveryMs, o.agents);
  const loadRandom = fork();
  const reserveRandom = fork();
  const replay = `npm run chaos -- --seconds ${o.durationSec} --seed ${o.seed} --agents ${o.agents} --terminals ${o.terminals}${o.faultEveryMs !== 2_200 ? ` --fault-every-ms ${o.faultEveryMs}` : ''}`;
  log(`seed ${o.seed}: ${plan.filter((s) => !s.kind.startsWith('second-hub')).length} faults planned over ${o.durationSec} s`);

  const topo = await Topology.start({ agents: o.agents, clockOffsets, log });
  current = topo;
  const violations: string[] = [];
  let keepData = o.keep;
  let logDir: string | null = null;
  try {
    const pos = new PosLoad(topo, { terminals: o.terminals, skus: SKUS, fork: () => rng(Math.floor(loadRandom() * 2 ** 32)), keyPrefix: `s${o.seed}`, log });
    await pos.prime(40);
    const workloads: Workload[] = [pos];
    if (await hubHasReservations(topo.hubs[0]!.url, topo.reserveKey)) workloads.push(new HubReservations(topo, SKUS, reserveRandom, `s${o.seed}`));
    else log('hub has no POST /reservations (404): online holds skipped');

    const t0 = Date.now();
    const monitor = new Monitor(topo, t0);
    monitor.start();
    const runner = new FaultRunner(topo, log);
    for (const w of workloads) w.start();
    const playing = runner.play(plan, t0);
    await Promise.race([playing, new Promise((r) => setTimeout(r, o.durationSec * 1000))]);
    runner.cancel();
    await playing;
    const faultPhaseMs = Date.now() - t0;
    log(`fault phase over after ${(faultPhaseMs / 1000).toFixed(1)} s; healing`);

    await topo.heal();
    const healedAt = Date.now();
    await Promise.all(workloads.map((w) => w.stop(Date.now() + 60_000)));
    log('load stopped; waiting for convergence');
    const conv = await converge(topo, o.convergeSec * 1000);
    const convergeMs = Date.now() - healedAt;
    if (!conv.ok) violations.push(`no convergence ${o.convergeSec} s after healing:\n${conv.last}`);
    await monitor.sample();
    monitor.stop();

    log('checking every acknowledged write');
    const gaveUp = new Set(pos.unanswered.map((u) => u.key));
    let checks: CheckResult | null = null;
    try {
      checks = await checkAll(topo, pos.acked, gaveUp);
      violations.push(...checks.violations);
    } catch (e) {
      violations.push(`checks could not run: ${String(e)}`);
    }
    if (pos.unanswered.length) violations.push(`${pos.unanswered.length} POS requests never got a final answer: ${pos.unanswered.slice(0, 5).map((u) => u.key).join(', ')}`);
    for (const u of pos.unexpected.slice(0, 10)) violations.push(`unexpected answer to ${u.key}: ${u.status} ${JSON.stringify(u.body).slice(0, 300)}`);
    for (const n of monitor.negatives.slice(0, 10)) violations.push(`${n.agent} ${n.sku}: on hand ${n.onHand} at ${n.atMs} ms (no sale is forced)`);
    for (const [name, mb] of monitor.maxRss) if (mb > o.maxRssMb) violations.push(`${name}: RSS ${mb.toFixed(0)} MiB > ${o.maxRssMb} MiB`);
    const failed = runner.records.filter((r) => r.error !== undefined);
    for (const f of failed.slice(0, 10)) violations.push(`fault ${f.kind} ${f.target} at ${f.appliedAtMs} ms failed: ${f.error}`);

    const byKind = runner.countsByKind();
    const sales = pos.acked.filter((w) => w.kind === 'sale');
    const saleKeys = new Set(sales.map((s) => s.key));
    const count = (list: readonly string[] | undefined) => (list ?? []).filter((x) => saleKeys.has(x.split(' ')[0]!)).length;
    const report: ChaosReport = {
      ok: violations.length === 0,
      seed: o.seed,
      minutes: faultPhaseMs / 60_000,
      agents: o.agents,
      faults: {
        total: Object.values(byKind).reduce((a, b) => a + b, 0),
        byKind,
        skipped: runner.records.filter((r) => r.skipped !== undefined).length,
        failed: failed.length,
      },
      load: Object.fromEntries(workloads.map((w) => [w.name, w.summary()])),
      sales: { acknowledged: sales.length, lost: count(checks?.lost), duplicated: count(checks?.duplicated), undelivered: count(checks?.undelivered) },
      eventsAtHub: checks?.eventsAtHub ?? 0,
      convergence: { ok: conv.ok, ms: convergeMs },
      maxRssMb: Object.fromEntries([...monitor.maxRss].map(([k, v]) => [k, Math.round(v)])),
      clockOffsetsMs: Object.fromEntries(topo.agents.map((a) => [a.name, a.clockOffsetMs])),
      restarts: Object.fromEntries([...topo.hubs, ...topo.agents].map((x) => [x.name, x.restarts])),
      violations,
      logDir: null,
      replay,
    };
    if (!report.ok || o.keep) {
      keepData = true;
      logDir = o.outDir ?? mkdtempSync(join(tmpdir(), `scoville-chaos-${o.seed}-`));
      mkdirSync(logDir, { recursive: true });
      topo.writeLogs(logDir);
      writeFileSync(join(logDir, 'faults.json'), JSON.stringify(runner.records, null, 1));
      writeFileSync(join(logDir, 'acked.json'), JSON.stringify(pos.acked));
      report.logDir = logDir;
      writeFileSync(join(logDir, 'report.json'), JSON.stringify(report, null, 2));
    }
    return report;
  } catch (e) {
    keepData = true;
    logDir = o.outDir ?? mkdtempSync(join(tmpdir(), `scoville-chaos-${o.seed}-`));
    topo.writeLogs(logDir);
    throw new Error(`${String((e as Error).stack ?? e)}\n(logs in ${logDir})`);
  } finally {
    current = null;
    await topo.close(keepData);
  }
}
