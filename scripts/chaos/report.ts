/** What a campaign prints: one JSON object (`--json`) or the same as text. */

export interface ChaosReport {
  ok: boolean;
  seed: number;
  minutes: number;
  agents: number;
  faults: { total: number; byKind: Record<string, number>; skipped: number; failed: number };
  load: Record<string, Record<string, number | string>>;
  sales: { acknowledged: number; lost: number; duplicated: number; undelivered: number };
  eventsAtHub: number;
  convergence: { ok: boolean; ms: number };
  maxRssMb: Record<string, number>;
  clockOffsetsMs: Record<string, number>;
  restarts: Record<string, number>;
  violations: string[];
  /** Every process's output, the fault log and the agents' data (kept when the run failed or with --keep). */
  logDir: string | null;
  /** To replay this run. */
  replay: string;
}

export function formatReport(r: ChaosReport): string {
  const kinds = Object.entries(r.faults.byKind)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  const lines = [
    `chaos campaign ${r.ok ? 'PASSED' : 'FAILED'}  (seed ${r.seed}, ${r.minutes.toFixed(2)} min, ${r.agents} agents)`,
    `  faults          ${r.faults.total} (${kinds})${r.faults.skipped ? `; ${r.faults.skipped} skipped` : ''}${r.faults.failed ? `; ${r.faults.failed} FAILED to apply/heal` : ''}`,
    `  sales           ${r.sales.acknowledged} acknowledged, ${r.sales.lost} lost, ${r.sales.duplicated} duplicated, ${r.sales.undelivered} undelivered`,
    `  events at hub   ${r.eventsAtHub}`,
    `  converged       ${r.convergence.ok ? `in ${(r.convergence.ms / 1000).toFixed(1)} s` : `NO (gave up after ${(r.convergence.ms / 1000).toFixed(1)} s)`}`,
    ...Object.entries(r.load).map(([name, s]) => `  load ${name.padEnd(10)} ${Object.entries(s).map(([k, v]) => `${k} ${v}`).join(', ')}`),
    `  max RSS (MiB)   ${Object.entries(r.maxRssMb).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')}`,
    `  restarts        ${Object.entries(r.restarts).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `  clock offsets   ${Object.entries(r.clockOffsetsMs).map(([k, v]) => `${k} ${v} ms`).join(', ')}`,
  ];
  if (r.violations.length) lines.push(`  VIOLATIONS (${r.violations.length}):`, ...r.violations.map((x) => `    - ${x}`));
  if (r.logDir) lines.push(`  logs            ${r.logDir}`);
  lines.push(`  replay          ${r.replay}`);
  return lines.join('\n');
}
