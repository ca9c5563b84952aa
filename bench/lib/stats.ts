import { performance } from 'node:perf_hooks';

/**
 * Percentile of a sample by linear interpolation between closest ranks
 * (the usual "type 7": p50 of [1,2,3,4] is 2.5). `p` is in [0, 100].
 */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) throw new Error('percentile of an empty sample');
  if (!(p >= 0 && p <= 100)) throw new Error(`percentile out of range: ${p}`);
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (b - a) * (rank - lo);
}

export const p50 = (samples: readonly number[]): number => percentile(samples, 50);
export const p99 = (samples: readonly number[]): number => percentile(samples, 99);
export const median = p50;

export interface Summary {
  n: number;
  min: number;
  max: number;
  mean: number;
  p50: number;
  p99: number;
}

export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new Error('summary of an empty sample');
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (const s of samples) {
    if (s < min) min = s;
    if (s > max) max = s;
    sum += s;
  }
  return { n: samples.length, min, max, mean: sum / samples.length, p50: p50(samples), p99: p99(samples) };
}

export function now(): number {
  return performance.now();
}

export interface TimeItOptions {
  /** Untimed calls first, so the JIT has optimised the code under test. Default 3. */
  warmup?: number;
  /** Timed calls, at least. Default 10. */
  iterations?: number;
  /** Keep timing (beyond `iterations`) until this much time was spent. Default 0. */
  minTimeMs?: number;
  /** Hard cap on timed calls when `minTimeMs` keeps it going. Default 10,000. */
  maxIterations?: number;
}

export interface Timing extends Summary {
  /** Milliseconds per call, in call order. */
  samples: number[];
}

/**
 * Times `fn` call by call (milliseconds per call). `fn` gets the call index,
 * so it can pick pre-generated input: warmup calls get -warmup..-1, timed
 * calls 0, 1, 2, ...
 */
export function timeIt(fn: (i: number) => unknown, opts: TimeItOptions = {}): Timing {
  const warmup = opts.warmup ?? 3;
  const iterations = opts.iterations ?? 10;
  const minTimeMs = opts.minTimeMs ?? 0;
  const maxIterations = opts.maxIterations ?? 10_000;
  let sink: unknown;
  for (let i = -warmup; i < 0; i++) sink = fn(i);
  const samples: number[] = [];
  const started = now();
  for (let i = 0; i < maxIterations && (i < iterations || now() - started < minTimeMs); i++) {
    const t0 = now();
    sink = fn(i);
    samples.push(now() - t0);
  }
  keep(sink);
  return { samples, ...summarize(samples) };
}

const never = Symbol('never');
let sunk = 0;
/**
 * Stops the optimiser from treating a computed value as dead, without keeping
 * it alive (a bench must not retain what it measured).
 */
export function keep(value: unknown): void {
  if (value === never) sunk++;
}
