/** `npm run chaos -- [options]`: the campaign's knobs, parsed from argv. */
import { parseArgs } from 'node:util';

export interface ChaosOptions {
  /** Fault and load phase, in seconds (`--minutes`, or `--seconds` for short runs). */
  durationSec: number;
  seed: number;
  agents: number;
  /** Concurrent POS terminals per agent. */
  terminals: number;
  /** Mean gap between two faults (ms); the default gives ≥ 200 faults in 10 minutes. */
  faultEveryMs: number;
  /** Bound on the time from "everything healed" to "converged". */
  convergeSec: number;
  /** Bound on any one process's resident memory. */
  maxRssMb: number;
  json: boolean;
  /** Keep the agents' data folders and write every process's log, even on success. */
  keep: boolean;
  /** Where logs go (default: a temp folder, printed in the report). */
  outDir: string | null;
}

export const USAGE = `usage: npm run chaos -- [--minutes N | --seconds N] [--seed N] [--agents N] [--terminals N]
                      [--fault-every-ms N] [--converge-seconds N] [--max-rss-mb N] [--json] [--keep] [--out DIR]
  --minutes N          fault and load phase (default 3)
  --seconds N          the same in seconds, for short runs
  --seed N             replays a run: fault schedule, clock offsets and load all derive from it (default: random, printed)
  --agents N           edge agents (default 3; agents 0 and 1 share a store)
  --terminals N        POS terminals per agent (default 2)
  --fault-every-ms N   mean gap between faults (default 2200)
  --converge-seconds N how long convergence may take after healing (default 120)
  --max-rss-mb N       memory bound per process (default 600)
  --json               print the report as JSON on stdout (progress goes to stderr)
  --keep               keep agents' data folders and logs even when the run passes
  --out DIR            folder for logs (default: a temp folder)`;

function int(name: string, v: string | undefined, def: number, min: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number ≥ ${min}, got ${v}`);
  return n;
}

export function parseOptions(argv: readonly string[]): ChaosOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      minutes: { type: 'string' },
      seconds: { type: 'string' },
      seed: { type: 'string' },
      agents: { type: 'string' },
      terminals: { type: 'string' },
      'fault-every-ms': { type: 'string' },
      'converge-seconds': { type: 'string' },
      'max-rss-mb': { type: 'string' },
      json: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) throw new Error(USAGE);
  if (values.minutes !== undefined && values.seconds !== undefined) throw new Error('give --minutes or --seconds, not both');
  const durationSec = values.seconds !== undefined ? int('seconds', values.seconds, 0, 10) : int('minutes', values.minutes, 3, 0.2) * 60;
  return {
    durationSec,
    seed: Math.floor(int('seed', values.seed, Math.floor(Math.random() * 2 ** 31), 0)) >>> 0,
    agents: Math.floor(int('agents', values.agents, 3, 1)),
    terminals: Math.floor(int('terminals', values.terminals, 2, 1)),
    faultEveryMs: int('fault-every-ms', values['fault-every-ms'], 2_200, 100),
    convergeSec: int('converge-seconds', values['converge-seconds'], 120, 5),
    maxRssMb: int('max-rss-mb', values['max-rss-mb'], 600, 50),
    json: values.json ?? false,
    keep: values.keep ?? false,
    outDir: values.out ?? null,
  };
}
