/**
 * Protocol decode of the hub's hot message, in process: `batch` frames as
 * bench/hub-ingest.ts's SimAgent sends them at saturation (100 `sale` events
 * plus the ~95 counter entries of the SKUs they touched, 1,000 SKUs per
 * store), decoded the way the hub's session does (`decode(text)`).
 *
 * Two paths in the same run, taking turns round by round:
 *   - zod: `decodeWithZodOnly`, i.e. JSON.parse + the zod schema (before);
 *   - fast: `decode`, the hand-written validators of fast-validate.ts with
 *     the parsed JSON as the message, zod only for what they refuse.
 * Figures per event (a frame's cost / 100): CPU time (process.cpuUsage, so
 * the GC threads' work counts too) as the median over rounds, and bytes
 * allocated (heap growth over one frame right after a full GC, median over
 * frames). Also JSON.parse alone (the floor both paths pay) and the
 * validators alone on already-parsed objects.
 *
 * Run alone: node --import tsx --expose-gc bench/protocol-decode.ts
 */
import { decode, decodeWithZodOnly, messageSchemas, type DecodeResult } from '@scoville/protocol';
import { fastValidate } from '../packages/protocol/src/fast-validate.js';
import { log, report, type Figure } from './lib/figures.js';
import { requireGc } from './lib/heap.js';
import { keep, median } from './lib/stats.js';
import { rng } from './lib/random.js';

const FRAMES = 200;
const EVENTS_PER_BATCH = 100;
const SKUS_PER_STORE = 1_000;
const START_P = 1_000_000;
/** Timed rounds per path (each decodes every frame once), after WARMUP_ROUNDS. */
const ROUNDS = Number(process.env.BENCH_DECODE_ROUNDS ?? 15);
const WARMUP_ROUNDS = 5;
const ALLOC_SAMPLES = 60;

const gc = requireGc();

// ---------------------------------------------------------------- frames

const skus = Array.from({ length: SKUS_PER_STORE }, (_, i) => `HSS-${String(i).padStart(5, '0')}`);

/** SimAgent.sendBatch of bench/hub-ingest.ts, for `FRAMES` batches of agents s001, s002, ... */
function makeFrames(): string[] {
  const frames: string[] = [];
  const agents = 10;
  const state = Array.from({ length: agents }, (_, a) => ({
    store: `s${String(a + 1).padStart(3, '0')}`,
    replica: `s${String(a + 1).padStart(3, '0')}.bench`,
    n: new Int32Array(SKUS_PER_STORE),
    eventSeq: SKUS_PER_STORE, // after the restock batch
    batchSeq: 1,
  }));
  const rand = rng(12);
  const at = 1_764_500_000_000;
  for (let f = 0; f < FRAMES; f++) {
    const agent = state[f % agents]!;
    const touched = new Map<number, number>();
    const events: string[] = [];
    for (let i = 0; i < EVENTS_PER_BATCH; i++) {
      const k = Math.floor(rand() * SKUS_PER_STORE);
      agent.n[k]!++;
      touched.set(k, agent.n[k]!);
      const seq = ++agent.eventSeq;
      events.push(
        `{"id":"${agent.replica}:${seq}","store":"${agent.store}","replica":"${agent.replica}","seq":${seq},"type":"sale","sku":"${skus[k]}","qty":1,"at":${at + f},"idempotencyKey":"pos-${agent.replica}-${seq}","terminal":"t${seq % 4}"}`,
      );
    }
    const entries: string[] = [];
    for (const [k, n] of touched) entries.push(`{"store":"${agent.store}","sku":"${skus[k]}","replica":"${agent.replica}","p":${START_P},"n":${n}}`);
    const seq = ++agent.batchSeq;
    frames.push(`{"type":"batch","seq":${seq},"delta":{"entries":[${entries.join(',')}],"transfers":[],"reservations":[]},"events":[${events.join(',')}]}`);
  }
  return frames;
}

const frames = makeFrames();
const parsed = frames.map((f) => JSON.parse(f) as Record<string, unknown>);
const entriesPerFrame = parsed.reduce((s, p) => s + (p.delta as { entries: unknown[] }).entries.length, 0) / FRAMES;
const bytesPerFrame = frames.reduce((s, f) => s + f.length, 0) / FRAMES;
log(`${FRAMES} batch frames: ${EVENTS_PER_BATCH} events + ${entriesPerFrame.toFixed(1)} entries, ${Math.round(bytesPerFrame)} bytes each`);

// The two paths must agree before they are timed.
for (const frame of frames) {
  const a = decodeWithZodOnly(frame);
  const b = decode(frame);
  if (!a.ok || !b.ok || JSON.stringify(a.message) !== JSON.stringify(b.message)) throw new Error('zod and fast decode disagree on a bench frame');
}

// ---------------------------------------------------------------- variants

type Variant = { name: string; run: (i: number) => unknown };

const mustDecode = (r: DecodeResult): DecodeResult => {
  if (!r.ok) throw new Error(`bench frame refused: ${r.error.message}`);
  return r;
};

const variants: Variant[] = [
  { name: 'zod', run: (i) => mustDecode(decodeWithZodOnly(frames[i]!)) },
  { name: 'fast', run: (i) => mustDecode(decode(frames[i]!)) },
  { name: 'json_parse', run: (i) => JSON.parse(frames[i]!) },
  { name: 'validate_zod', run: (i) => messageSchemas.batch.safeParse(parsed[i]!).success || fail() },
  { name: 'validate_fast', run: (i) => fastValidate('batch', parsed[i]!) ?? fail() },
];

function fail(): never {
  throw new Error('bench frame refused');
}

/** CPU microseconds (user + system) to run `v` over every frame once. */
function cpuRound(v: Variant): number {
  let sink: unknown;
  const t0 = process.cpuUsage();
  for (let i = 0; i < FRAMES; i++) sink = v.run(i);
  const d = process.cpuUsage(t0);
  keep(sink);
  return d.user + d.system;
}

/** Heap bytes one call allocates: heap growth right after a full GC (a frame's garbage fits the young generation). */
function allocatedBytes(v: Variant): number {
  const samples: number[] = [];
  const empty: number[] = [];
  for (let s = 0; s < ALLOC_SAMPLES; s++) {
    const i = s % FRAMES;
    gc();
    const before = process.memoryUsage().heapUsed;
    const out = v.run(i);
    const after = process.memoryUsage().heapUsed;
    keep(out);
    samples.push(after - before);
    gc();
    const b2 = process.memoryUsage().heapUsed;
    const a2 = process.memoryUsage().heapUsed;
    empty.push(a2 - b2);
  }
  // The second memoryUsage() call's own allocation is measured alone and taken off.
  return median(samples) - median(empty);
}

// ---------------------------------------------------------------- run

for (let r = 0; r < WARMUP_ROUNDS; r++) for (const v of variants) cpuRound(v);

const cpu = new Map<string, number[]>(variants.map((v) => [v.name, []]));
for (let r = 0; r < ROUNDS; r++) {
  // Alternate the order so drift on a shared machine does not favour one variant.
  const order = r % 2 === 0 ? variants : [...variants].reverse();
  for (const v of order) cpu.get(v.name)!.push(cpuRound(v));
}

const eventsPerRound = FRAMES * EVENTS_PER_BATCH;
const usPerEvent = (name: string): number => median(cpu.get(name)!) / eventsPerRound;
const allocPerEvent = (name: string): number => allocatedBytes(variants.find((v) => v.name === name)!) / EVENTS_PER_BATCH;

const figures: Figure[] = [
  { name: 'decode_zod_us_per_event', value: usPerEvent('zod'), unit: 'µs CPU', note: 'decodeWithZodOnly: JSON.parse + zod (before)' },
  {
    name: 'decode_fast_us_per_event',
    value: usPerEvent('fast'),
    unit: 'µs CPU',
    baseline: 'decode_zod_us_per_event',
    note: 'decode: hand-written validators, parsed JSON returned',
  },
  { name: 'json_parse_us_per_event', value: usPerEvent('json_parse'), unit: 'µs CPU', baseline: 'decode_zod_us_per_event', note: 'JSON.parse alone: the floor' },
  { name: 'validate_zod_us_per_event', value: usPerEvent('validate_zod'), unit: 'µs CPU', note: 'batchSchema.safeParse on a parsed frame' },
  {
    name: 'validate_fast_us_per_event',
    value: usPerEvent('validate_fast'),
    unit: 'µs CPU',
    baseline: 'validate_zod_us_per_event',
    note: "fastValidate('batch') on a parsed frame",
  },
  { name: 'decode_zod_alloc_bytes_per_event', value: allocPerEvent('zod'), unit: 'B' },
  { name: 'decode_fast_alloc_bytes_per_event', value: allocPerEvent('fast'), unit: 'B', baseline: 'decode_zod_alloc_bytes_per_event' },
  { name: 'json_parse_alloc_bytes_per_event', value: allocPerEvent('json_parse'), unit: 'B', baseline: 'decode_zod_alloc_bytes_per_event' },
];
for (const f of figures) log(`${f.name}: ${f.value.toFixed(3)} ${f.unit}`);
report(figures);
