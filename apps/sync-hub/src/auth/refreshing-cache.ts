/**
 * A short cache in front of an access lookup (API keys, store tokens) that
 * never makes a caller wait for a routine refresh (stale-while-revalidate),
 * yet never serves what a revoke this process has seen made wrong.
 *
 * An answer is `fresh` for `ttlMs` after its lookup STARTED, then `stale`
 * until `maxAgeMs`, then dead:
 *
 *   lookup starts ── fresh (served) ── ttlMs ── stale (served, one background
 *   refresh started) ── maxAgeMs ── dead (callers wait for the refresh)
 *
 * - One lookup per key at a time: callers that need one share it.
 * - A revoke (`onRevoke`) empties the cache and forgets the lookups in
 *   flight at once; what those answer later is not kept (generation check).
 * - A failed refresh drops the cached answer: the next caller waits for a
 *   fresh lookup (and sees its failure). Failures are never cached.
 * - `keep` false (e.g. an unknown token) is not cached, and drops a cached
 *   answer when a refresh returns it.
 *
 * So a revoke this process did not hear of (no NOTIFY) is served at most
 * until the first refresh after `ttlMs` answers, and never past `maxAgeMs`.
 */
export interface RefreshingCacheOptions<V> {
  lookup: (key: string) => Promise<V>;
  /** Age after which an answer is refreshed (in the background while it is still served). */
  ttlMs: number;
  /** Age past which an answer is never served: callers wait for a fresh lookup. */
  maxAgeMs: number;
  /** Whether an answer is cached (default: every answer). */
  keep?: (value: V) => boolean;
  /** Subscribes to revokes and rotations; returns the unsubscribe. */
  onRevoke?: (listener: () => void) => () => void;
  now?: () => number;
  /** Answers kept at most (the cache is emptied when full). */
  maxEntries?: number;
}

export interface RefreshingCache<V> {
  get(key: string): Promise<V>;
  /** Unsubscribes from revokes. */
  stop(): void;
  readonly size: number;
}

export function refreshingCache<V>(opts: RefreshingCacheOptions<V>): RefreshingCache<V> {
  const { lookup, ttlMs, maxAgeMs, keep = () => true, now = Date.now, maxEntries = 10_000 } = opts;
  /** `at`: when the lookup that answered `value` started. */
  const entries = new Map<string, { value: V; at: number }>();
  const pending = new Map<string, Promise<V>>();
  let generation = 0;
  const unsubscribe =
    opts.onRevoke?.(() => {
      generation++;
      entries.clear();
      pending.clear();
    }) ?? (() => undefined);

  const refresh = (key: string): Promise<V> => {
    const inflight = pending.get(key);
    if (inflight !== undefined) return inflight;
    const g = generation;
    const at = now();
    const p = lookup(key).then(
      (value) => {
        if (g === generation) {
          if (!keep(value)) entries.delete(key);
          else {
            if (!entries.has(key) && entries.size >= maxEntries) entries.clear();
            entries.set(key, { value, at });
          }
        }
        return value;
      },
      (e: unknown) => {
        if (g === generation) entries.delete(key);
        throw e;
      },
    );
    pending.set(key, p);
    const done = () => {
      if (pending.get(key) === p) pending.delete(key);
    };
    p.then(done, done);
    return p;
  };

  return {
    get(key) {
      const hit = entries.get(key);
      if (hit !== undefined) {
        const age = now() - hit.at;
        // A negative age (the clock went back) counts as dead, not as fresh for longer.
        if (age >= 0 && age < ttlMs) return Promise.resolve(hit.value);
        if (age >= 0 && age < maxAgeMs) {
          // The refresh's failure drops the entry (above); nobody awaits it here.
          refresh(key).catch(() => undefined);
          return Promise.resolve(hit.value);
        }
      }
      return refresh(key);
    },
    stop: unsubscribe,
    get size() {
      return entries.size;
    },
  };
}
