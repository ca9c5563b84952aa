/**
 * The auth caches' one helper (API keys, store tokens): a fresh answer is
 * served from memory, a stale one is served while ONE lookup refreshes it in
 * the background, an answer past its maximum age or whose refresh failed is
 * never served (callers wait for a fresh lookup), and a revoke empties the
 * cache at once, lookups in flight included.
 */
import { describe, expect, it } from 'vitest';
import { refreshingCache } from '../../src/auth/refreshing-cache.js';
import { revokeListeners } from '../helpers/access-fakes.js';

/** A lookup whose answers the test settles by hand, with a count of calls per key. */
function manualLookup<V>() {
  const calls: { key: string; resolve: (v: V) => void; reject: (e: unknown) => void }[] = [];
  const lookup = (key: string) =>
    new Promise<V>((resolve, reject) => {
      calls.push({ key, resolve, reject });
    });
  return { lookup, calls };
}

const tick = () => new Promise((r) => setImmediate(r));

function setup(opts: { keep?: (v: string | null) => boolean } = {}) {
  let t = 1_000_000;
  const { lookup, calls } = manualLookup<string | null>();
  const r = revokeListeners();
  const cache = refreshingCache<string | null>({ lookup, ttlMs: 1_000, maxAgeMs: 3_000, now: () => t, onRevoke: r.onRevoke, ...opts });
  return {
    cache,
    calls,
    r,
    advance: (ms: number) => {
      t += ms;
    },
    /** Caches `value` for `key` (a first lookup that answered it), then lets `age` ms pass. */
    primed: async (key: string, value: string | null, age = 0) => {
      const p = cache.get(key);
      calls.at(-1)!.resolve(value);
      await p;
      t += age;
    },
  };
}

describe('refreshingCache', () => {
  it('a hit within the TTL is served from memory; concurrent misses share one lookup', async () => {
    const { cache, calls, advance } = setup();
    const a = cache.get('k');
    const b = cache.get('k');
    expect(calls).toHaveLength(1);
    calls[0]!.resolve('v1');
    expect(await a).toBe('v1');
    expect(await b).toBe('v1');
    advance(999);
    expect(await cache.get('k')).toBe('v1');
    expect(calls).toHaveLength(1);
    // Another key: its own lookup.
    const c = cache.get('other');
    expect(calls.map((x) => x.key)).toEqual(['k', 'other']);
    calls[1]!.resolve('v2');
    expect(await c).toBe('v2');
  });

  it('past the TTL, the cached answer is served at once while one lookup refreshes it in the background', async () => {
    const { cache, calls, advance, primed } = setup();
    await primed('k', 'v1', 1_500);
    // Nobody waits for the refresh: both calls settle before it does.
    expect(await cache.get('k')).toBe('v1');
    expect(await cache.get('k')).toBe('v1');
    expect(calls).toHaveLength(2); // one refresh, not one per caller
    calls[1]!.resolve('v2');
    await tick();
    expect(await cache.get('k')).toBe('v2');
    expect(calls).toHaveLength(2); // the refreshed answer is fresh again
    advance(999);
    expect(await cache.get('k')).toBe('v2');
    expect(calls).toHaveLength(2);
  });

  it('never serves an answer past its maximum age: a slow refresh makes callers wait for it (no second lookup)', async () => {
    const { cache, calls, advance, primed } = setup();
    await primed('k', 'v1', 1_500);
    expect(await cache.get('k')).toBe('v1'); // starts the refresh
    advance(1_500); // 3 s old: too old to serve
    let settled = false;
    const waiting = cache.get('k').then((v) => {
      settled = true;
      return v;
    });
    await tick();
    expect(settled).toBe(false);
    expect(calls).toHaveLength(2); // joined the refresh in flight
    calls[1]!.resolve('v2');
    expect(await waiting).toBe('v2');
  });

  it('the age counts from when the lookup started, not when it answered', async () => {
    const { cache, calls, advance } = setup();
    const first = cache.get('k');
    advance(2_500); // a slow lookup
    calls[0]!.resolve('v1');
    await first;
    advance(600); // 3.1 s after the lookup started
    const p = cache.get('k');
    expect(calls).toHaveLength(2);
    calls[1]!.resolve('v2');
    expect(await p).toBe('v2');
  });

  it('a failed refresh drops the cached answer: the next caller waits for a fresh lookup and sees its failure', async () => {
    const { cache, calls, primed } = setup();
    await primed('k', 'v1', 1_500);
    expect(await cache.get('k')).toBe('v1');
    calls[1]!.reject(new Error('db down')); // the background refresh fails (and is not an unhandled rejection)
    await tick();
    const next = cache.get('k');
    expect(calls).toHaveLength(3);
    calls[2]!.reject(new Error('still down'));
    await expect(next).rejects.toThrow('still down');
    // A failure is not cached either.
    const after = cache.get('k');
    expect(calls).toHaveLength(4);
    calls[3]!.resolve('v3');
    expect(await after).toBe('v3');
  });

  it('a failed first lookup rejects every caller that shared it and is asked again next time', async () => {
    const { cache, calls } = setup();
    const a = cache.get('k');
    const b = cache.get('k');
    calls[0]!.reject(new Error('boom'));
    await expect(a).rejects.toThrow('boom');
    await expect(b).rejects.toThrow('boom');
    const c = cache.get('k');
    expect(calls).toHaveLength(2);
    calls[1]!.resolve('v');
    expect(await c).toBe('v');
  });

  it('a revoke empties the cache at once: the next call waits for a new lookup, stale or fresh', async () => {
    const { cache, calls, r, primed } = setup();
    await primed('k', 'v1');
    r.revoke();
    const p = cache.get('k');
    expect(calls).toHaveLength(2);
    calls[1]!.resolve(null); // revoked
    expect(await p).toBeNull();
    // And while stale: a revoke seen during the background refresh is not undone by it.
    const { cache: c2, calls: k2, r: r2, primed: primed2 } = setup();
    await primed2('k', 'v1', 1_500);
    expect(await c2.get('k')).toBe('v1'); // refresh #1 in flight, started before the revoke
    r2.revoke();
    const after = c2.get('k'); // must not join refresh #1 nor get 'v1'
    expect(k2).toHaveLength(3);
    k2[2]!.resolve(null);
    expect(await after).toBeNull();
    k2[1]!.resolve('v1'); // the pre-revoke refresh answers late with the old verdict
    await tick();
    expect(await c2.get('k')).toBeNull(); // ... which was not kept over the new one
    expect(k2).toHaveLength(3);
  });

  it('a lookup in flight when a revoke is seen is not kept', async () => {
    const { cache, calls, r } = setup();
    const before = cache.get('k');
    r.revoke();
    calls[0]!.resolve('v-old');
    expect(await before).toBe('v-old'); // the caller that asked before the revoke
    const after = cache.get('k');
    expect(calls).toHaveLength(2);
    calls[1]!.resolve(null);
    expect(await after).toBeNull();
  });

  it('answers `keep` refuses are not cached: asked again on every call, while kept ones still are', async () => {
    const { cache, calls, primed } = setup({ keep: (v) => v !== null });
    const a = cache.get('unknown');
    calls[0]!.resolve(null);
    expect(await a).toBeNull();
    const b = cache.get('unknown');
    expect(calls).toHaveLength(2);
    calls[1]!.resolve(null);
    expect(await b).toBeNull();
    await primed('known', 'v');
    expect(await cache.get('known')).toBe('v');
    expect(calls).toHaveLength(3);
  });

  it('a refresh that now answers a refused value drops the cached one', async () => {
    const { cache, calls, primed } = setup({ keep: (v) => v !== null });
    await primed('k', 'v', 1_500);
    expect(await cache.get('k')).toBe('v');
    calls[1]!.resolve(null); // revoked elsewhere, heard of only through the refresh
    await tick();
    const b = cache.get('k');
    expect(calls).toHaveLength(3);
    calls[2]!.resolve(null);
    expect(await b).toBeNull();
  });

  it('misses are cached by default (and refreshed like hits)', async () => {
    const { cache, calls } = setup();
    const a = cache.get('k');
    calls[0]!.resolve(null);
    expect(await a).toBeNull();
    expect(await cache.get('k')).toBeNull();
    expect(calls).toHaveLength(1);
  });

  it('a clock that went back does not make an answer fresh for longer', async () => {
    const { cache, calls, primed } = setup();
    await primed('k', 'v', -10_000);
    const b = cache.get('k');
    expect(calls).toHaveLength(2);
    calls[1]!.resolve('v2');
    expect(await b).toBe('v2');
  });

  it('keeps at most maxEntries answers; stop() unsubscribes from revokes', async () => {
    const t = 0;
    const { lookup, calls } = manualLookup<string>();
    const r = revokeListeners();
    const cache = refreshingCache<string>({ lookup, ttlMs: 1_000, maxAgeMs: 3_000, now: () => t, onRevoke: r.onRevoke, maxEntries: 2 });
    for (const k of ['a', 'b', 'c']) {
      const p = cache.get(k);
      calls.at(-1)!.resolve(k);
      await p;
    }
    expect(cache.size).toBeLessThanOrEqual(2);
    expect(r.count).toBe(1);
    cache.stop();
    expect(r.count).toBe(0);
  });
});
