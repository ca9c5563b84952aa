/**
 * Retained-heap measurement. Needs `node --expose-gc` (bench/run.ts passes
 * it); without it the numbers would be noise, so we refuse instead.
 */

export function requireGc(): () => void {
  const gc = globalThis.gc;
  if (gc === undefined) throw new Error('global gc() is not available: run with node --expose-gc (npm run bench does)');
  return () => {
    gc();
  };
}

/** Full, synchronous collections until the heap stops shrinking (at least `minRounds`). */
export function settleHeap(minRounds = 4, maxRounds = 12): number {
  const gc = requireGc();
  let last = Infinity;
  for (let i = 0; i < maxRounds; i++) {
    gc();
    const used = process.memoryUsage().heapUsed;
    if (i + 1 >= minRounds && used >= last) return used;
    last = used;
  }
  return process.memoryUsage().heapUsed;
}

export interface Retained<T> {
  /** The structure that was built, still alive. */
  value: T;
  /** heapBytes + arrayBufferBytes. */
  bytes: number;
  /** Growth of the V8 heap (heapUsed). */
  heapBytes: number;
  /** Growth of ArrayBuffer backing stores, which live outside the V8 heap (typed arrays). */
  arrayBufferBytes: number;
}

/**
 * Bytes that stay allocated because of what `build` returns: collect, sample,
 * build, collect, sample, with the result kept alive throughout. Temporaries
 * `build` made and dropped are not counted. Anything else allocated and kept
 * meanwhile (lazily compiled code, caches) is, so build something big.
 */
export function measureRetained<T>(build: () => T): Retained<T> {
  settleHeap();
  const before = process.memoryUsage();
  const value = build();
  settleHeap();
  const after = process.memoryUsage();
  const heapBytes = after.heapUsed - before.heapUsed;
  const arrayBufferBytes = after.arrayBuffers - before.arrayBuffers;
  return { value, bytes: heapBytes + arrayBufferBytes, heapBytes, arrayBufferBytes };
}
