/**
 * Memory of another process (a hub started as a child), from
 * /proc/<pid>/status: resident set now (VmRSS) and its peak since start
 * (VmHWM). Linux only; elsewhere the bench says so instead of guessing.
 */
import { readFileSync } from 'node:fs';
import { sleep } from './hub-fixture.js';
import { median } from './stats.js';

export interface ProcMemory {
  rssBytes: number;
  peakRssBytes: number;
}

export function procMemory(pid: number): ProcMemory {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch (e) {
    throw new Error(`cannot read /proc/${pid}/status (Linux only, process alive?): ${(e as Error).message}`);
  }
  const kb = (field: string): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
    if (m === null) throw new Error(`/proc/${pid}/status has no ${field}`);
    return Number(m[1]) * 1024;
  };
  return { rssBytes: kb('VmRSS'), peakRssBytes: kb('VmHWM') };
}

/** Median RSS of `samples` readings `everyMs` apart: one GC in between does not decide the figure. */
export async function settledRss(pid: number, samples = 5, everyMs = 200): Promise<number> {
  const seen: number[] = [];
  for (let i = 0; i < samples; i++) {
    if (i > 0) await sleep(everyMs);
    seen.push(procMemory(pid).rssBytes);
  }
  return median(seen);
}
