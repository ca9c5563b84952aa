import type { SellingStore, StoredResponse } from '../store/selling-store.js';

/** Answers kept in memory (the most recently stored or read back). */
const MEMORY_LIMIT = 20_000;
/** Most keys in one lookup query. */
const MAX_KEYS_PER_LOOKUP = 1_000;

interface Waiting {
  scope: string;
  key: string;
  resolve: (r: StoredResponse | null) => void;
  reject: (e: unknown) => void;
}

/** One caller's idempotency key: (scope, key) as one map key. */
export const slotOf = (scope: string, key: string): string => `${scope}\0${key}`;

/**
 * The answers stored under idempotency keys, as the write path reads them
 * before it decides a request.
 *
 * A stored answer never changes (a key is written once, by a commit of the
 * selling path, and a second commit of the same key keeps the first), so
 * one this process committed or read back is served from memory. A key not
 * in memory may have been stored by another hub process: it is looked up in
 * the database, but never alone: one query is in flight at a time and the
 * next takes every key that queued meanwhile (group commit, for reads).
 * Under load that is one round trip per group of requests instead of one
 * per request fighting the commits for the pool's connections.
 *
 * "Not stored" is never cached: another process may store the key any time.
 */
export class StoredAnswers {
  private readonly memory = new Map<string, StoredResponse>();
  private queue: Waiting[] = [];
  private running = false;

  constructor(private readonly store: SellingStore) {}

  /** The answer stored under (scope, key), or null. */
  get(scope: string, key: string): Promise<StoredResponse | null> {
    const hit = this.memory.get(slotOf(scope, key));
    if (hit !== undefined) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      this.queue.push({ scope, key, resolve, reject });
      if (!this.running) {
        this.running = true;
        // Let the lookups of this event-loop turn join the query.
        setImmediate(() => void this.drain());
      }
    });
  }

  /** Remembers an answer that is stored (committed by this process, or read back). */
  remember(r: StoredResponse): void {
    const slot = slotOf(r.scope, r.key);
    this.memory.delete(slot);
    if (this.memory.size >= MEMORY_LIMIT) this.memory.delete(this.memory.keys().next().value!);
    this.memory.set(slot, r);
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, MAX_KEYS_PER_LOOKUP);
        let found: StoredResponse[];
        try {
          found = await this.store.responses(batch);
        } catch (e) {
          for (const w of batch) w.reject(e);
          continue;
        }
        const bySlot = new Map(found.map((r) => [slotOf(r.scope, r.key), r]));
        for (const r of found) this.remember(r);
        for (const w of batch) w.resolve(bySlot.get(slotOf(w.scope, w.key)) ?? null);
      }
    } finally {
      this.running = false;
    }
  }
}
