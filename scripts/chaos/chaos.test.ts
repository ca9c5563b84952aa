/**
 * A short fault campaign as part of `npm test`: 75 s of load and ≥ 20
 * faults against real hubs, agents and PostgreSQL, then the per-event
 * checks. Runs `npm run chaos` as a child process (its own process group of
 * hubs and agents) and asserts its JSON report. On failure the report names
 * the log folder and the command that replays the run.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import type { ChaosReport } from './report.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SECONDS = 75;
const SEED = Number(process.env.CHAOS_SEED ?? 20_250_101);

it(
  `survives a ${SECONDS} s fault campaign with every acknowledged sale at the hub exactly once`,
  async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/chaos/main.ts', '--seconds', String(SECONDS), '--seed', String(SEED), '--json'], {
      cwd: ROOT,
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const code = await new Promise<number | null>((r) => child.once('close', (c) => r(c)));
    const line = out.trim().split('\n').pop() ?? '';
    let report: ChaosReport;
    try {
      report = JSON.parse(line) as ChaosReport;
    } catch {
      throw new Error(`npm run chaos exited ${code} without a report:\n${err.slice(-6_000)}`);
    }
    const context = `${err.slice(-3_000)}\nreplay: ${report.replay}\nlogs: ${report.logDir}`;
    expect(report.violations, context).toEqual([]);
    expect(report.ok, context).toBe(true);
    expect(code).toBe(0);
    expect(report.faults.total, context).toBeGreaterThanOrEqual(20);
    expect(report.faults.failed, context).toBe(0);
    expect(report.sales.acknowledged).toBeGreaterThan(100);
    expect(report.sales).toMatchObject({ lost: 0, duplicated: 0, undelivered: 0 });
    expect(report.convergence.ok).toBe(true);
  },
  // 75 s of faults, ~15 s of start-up, convergence and checks; generous for a busy machine.
  400_000,
);
