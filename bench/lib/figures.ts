/**
 * The contract between a bench file and the runner (bench/run.ts): a bench
 * measures, then calls `report(figures)` exactly once, which prints one line
 * `BENCH_RESULT [...]` to stdout. Anything else a bench wants to say goes to
 * stderr (see `log`).
 */

export type GoalOp = '>=' | '<=';

export interface Goal {
  op: GoalOp;
  value: number;
}

export interface Figure {
  /** Unique within one bench, snake_case, e.g. `merge_entries_per_s`. */
  name: string;
  value: number;
  unit: string;
  goal?: Goal;
  /** Name of another figure of the same bench run to compare against (ratio = value / baseline). */
  baseline?: string;
  note?: string;
}

export const RESULT_PREFIX = 'BENCH_RESULT ';

/** Prints the single result line the runner parses. Call once, at the end. */
export function report(figures: Figure[]): void {
  const names = new Set<string>();
  for (const f of figures) {
    if (!isFigure(f)) throw new Error(`not a valid figure: ${JSON.stringify(f)}`);
    if (names.has(f.name)) throw new Error(`duplicate figure name: ${f.name}`);
    names.add(f.name);
  }
  for (const f of figures) {
    if (f.baseline !== undefined && !names.has(f.baseline)) {
      throw new Error(`figure ${f.name} names baseline ${f.baseline}, which this bench does not report`);
    }
  }
  process.stdout.write(RESULT_PREFIX + JSON.stringify(figures) + '\n');
}

/** Progress and diagnostics: stderr, so stdout stays one machine-readable line. */
export function log(message: string): void {
  process.stderr.write(message + '\n');
}

/** true/false when the figure has a goal, undefined when it has none. */
export function goalMet(f: Figure): boolean | undefined {
  if (f.goal === undefined) return undefined;
  return f.goal.op === '>=' ? f.value >= f.goal.value : f.value <= f.goal.value;
}

export function isFigure(x: unknown): x is Figure {
  if (typeof x !== 'object' || x === null) return false;
  const f = x as Record<string, unknown>;
  if (typeof f.name !== 'string' || f.name === '') return false;
  if (typeof f.value !== 'number' || !Number.isFinite(f.value)) return false;
  if (typeof f.unit !== 'string') return false;
  if (f.goal !== undefined) {
    const g = f.goal as Record<string, unknown> | null;
    if (typeof g !== 'object' || g === null) return false;
    if (g.op !== '>=' && g.op !== '<=') return false;
    if (typeof g.value !== 'number' || !Number.isFinite(g.value)) return false;
  }
  if (f.baseline !== undefined && typeof f.baseline !== 'string') return false;
  if (f.note !== undefined && typeof f.note !== 'string') return false;
  return true;
}

/**
 * Extracts the figures from a bench's stdout. Throws with a readable reason
 * when there is not exactly one well-formed result line.
 */
export function parseBenchOutput(stdout: string): Figure[] {
  const lines = stdout.split(/\r?\n/).filter((l) => l.startsWith(RESULT_PREFIX));
  if (lines.length === 0) throw new Error(`no ${RESULT_PREFIX.trim()} line on stdout`);
  if (lines.length > 1) throw new Error(`${lines.length} ${RESULT_PREFIX.trim()} lines on stdout, expected one`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(lines[0]!.slice(RESULT_PREFIX.length));
  } catch (err) {
    throw new Error(`${RESULT_PREFIX.trim()} line is not JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw new Error(`${RESULT_PREFIX.trim()} is not an array`);
  for (const f of parsed) if (!isFigure(f)) throw new Error(`malformed figure: ${JSON.stringify(f)}`);
  return parsed as Figure[];
}
