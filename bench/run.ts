/**
 * `npm run bench [-- [--strict] [filter ...]]`
 *
 * Runs every bench/*.ts (except this file; bench/lib/ holds shared code), one
 * child process each (`node --import tsx --expose-gc bench/<file>`) so one
 * bench's heap and JIT state cannot disturb another's, one after the other so
 * they do not compete for cores. Each bench prints one `BENCH_RESULT [...]`
 * line on stdout (bench/lib/figures.ts); everything else it prints is passed
 * through to stderr, prefixed with its name.
 *
 * Filters: a bench runs when its file name contains any of them
 * (`npm run bench -- crdt`). Prints one table and writes
 * bench/results/latest.json. Exit code 1 when a bench failed (crashed, timed
 * out, or printed no valid result) or nothing matched; with --strict also when
 * a goal was missed.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { goalMet, parseBenchOutput, RESULT_PREFIX, type Figure } from './lib/figures.js';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(benchDir, '..');
const resultsFile = path.join(benchDir, 'results', 'latest.json');
const timeoutMs = Number(process.env.BENCH_TIMEOUT_MS ?? 10 * 60 * 1000);

interface FigureResult extends Figure {
  /** value / value of the baseline figure, when `baseline` names one of the same run. */
  ratio?: number;
  /** Whether the goal is met; absent without a goal. */
  met?: boolean;
}

interface BenchRun {
  bench: string;
  file: string;
  ok: boolean;
  error?: string;
  exitCode: number | null;
  signal: string | null;
  durationMs: number;
  figures: FigureResult[];
}

function usage(): string {
  return 'usage: npm run bench [-- [--strict] [filter ...]]\n  filter   run only bench/<file>.ts whose name contains it\n  --strict exit 1 when a goal is missed, too';
}

function parseArgs(argv: string[]): { filters: string[]; strict: boolean } {
  const filters: string[] = [];
  let strict = false;
  for (const a of argv) {
    if (a === '--strict') strict = true;
    else if (a === '--help' || a === '-h') {
      console.log(usage());
      process.exit(0);
    } else if (a.startsWith('-')) {
      console.error(`unknown option ${a}\n${usage()}`);
      process.exit(2);
    } else filters.push(a.toLowerCase());
  }
  return { filters, strict };
}

function listBenches(filters: string[]): string[] {
  return readdirSync(benchDir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && f !== 'run.ts')
    .filter((f) => statSync(path.join(benchDir, f)).isFile())
    .filter((f) => filters.length === 0 || filters.some((flt) => f.toLowerCase().includes(flt)))
    .sort();
}

/** Forwards a child's output line by line to our stderr, prefixed, except lines `skip` rejects. */
function lineForwarder(prefix: string, skip: (line: string) => boolean = () => false): { push(chunk: string): void; end(): void } {
  let pending = '';
  const emit = (l: string): void => {
    if (!skip(l)) process.stderr.write(`${prefix}${l}\n`);
  };
  return {
    push(chunk) {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const l of lines) emit(l);
    },
    end() {
      if (pending !== '') emit(pending);
      pending = '';
    },
  };
}

/** Process group of the bench running now, if any. */
let current: number | undefined;

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    killGroup(current, 'SIGTERM');
    process.exit(130);
  });
}

function runBench(file: string): Promise<BenchRun> {
  const bench = file.replace(/\.ts$/, '');
  const started = Date.now();
  return new Promise((resolve) => {
    // Own process group, so a timeout or Ctrl-C also ends whatever the bench started (servers, workers).
    const child = spawn(process.execPath, ['--import', 'tsx', '--expose-gc', path.join('bench', file)], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: process.env,
      detached: true,
    });
    current = child.pid;
    let stdout = '';
    let timedOut = false;
    const prefix = `[${bench}] `;
    const out = lineForwarder(prefix, (l) => l.startsWith(RESULT_PREFIX));
    const err = lineForwarder(prefix);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
      out.push(chunk);
    });
    child.stderr.on('data', (chunk: string) => err.push(chunk));
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid, 'SIGKILL');
    }, timeoutMs);
    const finish = (exitCode: number | null, signal: string | null, spawnError?: Error): void => {
      clearTimeout(timer);
      current = undefined;
      out.end();
      err.end();
      const run: BenchRun = { bench, file, ok: false, exitCode, signal, durationMs: Date.now() - started, figures: [] };
      if (spawnError !== undefined) run.error = `could not start: ${spawnError.message}`;
      else if (timedOut) run.error = `timed out after ${timeoutMs} ms`;
      else if (exitCode !== 0) run.error = signal !== null ? `killed by ${signal}` : `exited with code ${exitCode}`;
      else {
        try {
          run.figures = withComparisons(parseBenchOutput(stdout));
          run.ok = true;
        } catch (e) {
          run.error = (e as Error).message;
        }
      }
      resolve(run);
    };
    child.on('error', (e) => finish(null, null, e));
    child.on('close', (code, signal) => finish(code, signal));
  });
}

function withComparisons(figures: Figure[]): FigureResult[] {
  const byName = new Map(figures.map((f) => [f.name, f]));
  return figures.map((f) => {
    const r: FigureResult = { ...f };
    const met = goalMet(f);
    if (met !== undefined) r.met = met;
    if (f.baseline !== undefined) {
      const b = byName.get(f.baseline);
      if (b !== undefined && b.value !== 0) r.ratio = f.value / b.value;
    }
    return r;
  });
}

function fmtNumber(v: number): string {
  const a = Math.abs(v);
  if (a >= 100) return Math.round(v).toLocaleString('en-US');
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  if (a === 0) return '0';
  return v.toPrecision(3);
}

function renderTable(runs: BenchRun[]): string {
  const header = ['bench', 'figure', 'value', 'unit', 'goal', 'vs baseline', 'goal met'];
  const rightAligned = new Set([2, 4, 5]);
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const run of runs) {
    if (!run.ok) {
      rows.push([run.bench, '(bench failed)', '-', '', '', '', 'FAILED']);
      notes.push(`${run.bench}: FAILED: ${run.error ?? 'unknown error'}`);
      continue;
    }
    if (run.figures.length === 0) rows.push([run.bench, '(no figures)', '-', '', '', '', '']);
    for (const f of run.figures) {
      rows.push([
        run.bench,
        f.name,
        fmtNumber(f.value),
        f.unit,
        f.goal === undefined ? '' : `${f.goal.op} ${fmtNumber(f.goal.value)}`,
        f.baseline === undefined ? '' : f.ratio === undefined ? '?' : `${f.ratio.toFixed(2)}x`,
        f.met === undefined ? '' : f.met ? 'yes' : 'NO',
      ]);
      const about = [f.baseline === undefined ? '' : `vs ${f.baseline}`, f.note ?? ''].filter((x) => x !== '').join('; ');
      if (about !== '') notes.push(`${run.bench}/${f.name}: ${about}`);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
  if (notes.length > 0) out.push('', ...notes.map((n) => `  ${n}`));
  return out.join('\n');
}

function machineInfo(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    node: process.version,
    v8: process.versions.v8,
    platform: `${process.platform} ${os.release()}`,
    arch: process.arch,
    cpus: { count: cpus.length, model: cpus[0]?.model ?? 'unknown', speedMHz: cpus[0]?.speed ?? null },
    availableParallelism: os.availableParallelism(),
    totalMemBytes: os.totalmem(),
  };
}

async function main(): Promise<number> {
  const { filters, strict } = parseArgs(process.argv.slice(2));
  const files = listBenches(filters);
  if (files.length === 0) {
    console.error(filters.length > 0 ? `no bench matches ${filters.join(', ')}` : 'no benches in bench/');
    return 1;
  }
  const runs: BenchRun[] = [];
  for (const file of files) {
    process.stderr.write(`running bench/${file} ...\n`);
    const run = await runBench(file);
    process.stderr.write(`bench/${file}: ${run.ok ? 'ok' : `FAILED (${run.error})`} in ${(run.durationMs / 1000).toFixed(1)} s\n`);
    runs.push(run);
  }

  console.log('');
  console.log(renderTable(runs));

  const failed = runs.filter((r) => !r.ok);
  const missed = runs.flatMap((r) => r.figures.filter((f) => f.met === false).map((f) => `${r.bench}/${f.name}`));
  mkdirSync(path.dirname(resultsFile), { recursive: true });
  writeFileSync(resultsFile, JSON.stringify({ machine: machineInfo(), filters, benches: runs }, null, 2) + '\n');

  console.log('');
  console.log(
    `${runs.length} bench(es), ${failed.length} failed, ${missed.length} goal(s) missed` +
      (missed.length > 0 ? `: ${missed.join(', ')}` : '') +
      `; wrote ${path.relative(repoRoot, resultsFile)}`,
  );
  return failed.length > 0 || (strict && missed.length > 0) ? 1 : 0;
}

process.exitCode = await main();
