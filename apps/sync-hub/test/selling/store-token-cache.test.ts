/**
 * cachedStoreForToken (the store-token check of `POST /inventory/updates`):
 * stale-while-revalidate over auth/refreshing-cache.ts, unknown tokens not
 * cached, a revoke or rotation heard of empties it at once.
 */
import { describe, expect, it } from 'vitest';
import type { StoreId } from '@scoville/crdt-inventory';
import { cachedStoreForToken } from '../../src/selling/selling.js';
import { lookupGate, revokeListeners } from '../helpers/access-fakes.js';

const tick = () => new Promise((r) => setImmediate(r));

function setup() {
  let t = 0;
  const tokens = new Map<string, StoreId>([['h1', 's1' as StoreId]]);
  const revokes = revokeListeners();
  const gate = lookupGate();
  let lookups = 0;
  const lookup = async (hash: string) => {
    lookups++;
    const store = tokens.get(hash) ?? null;
    await gate.passed();
    return store;
  };
  const cache = cachedStoreForToken(lookup, revokes.onRevoke, () => t);
  return {
    cache,
    tokens,
    revokes,
    revoke: (hash: string) => {
      tokens.delete(hash);
      revokes.revoke();
    },
    hold: gate.hold,
    advance: (ms: number) => (t += ms),
    get lookups() {
      return lookups;
    },
  };
}

describe('cachedStoreForToken', () => {
  it('serves a known token from memory, refreshes it in the background past 1 s', async () => {
    const x = setup();
    expect(await x.cache.get('h1')).toBe('s1');
    expect(await x.cache.get('h1')).toBe('s1');
    expect(x.lookups).toBe(1);
    x.advance(1_100);
    const open = x.hold();
    expect(await x.cache.get('h1')).toBe('s1'); // not waiting for the held refresh
    expect(x.lookups).toBe(2);
    open();
    await tick();
    expect(await x.cache.get('h1')).toBe('s1');
    expect(x.lookups).toBe(2);
  });

  it('does not cache unknown tokens', async () => {
    const x = setup();
    expect(await x.cache.get('nope')).toBeNull();
    expect(await x.cache.get('nope')).toBeNull();
    expect(x.lookups).toBe(2);
  });

  it('a revoke heard of refuses the token at once, even while stale with a refresh in flight', async () => {
    const x = setup();
    await x.cache.get('h1');
    x.advance(1_100);
    const open = x.hold();
    expect(await x.cache.get('h1')).toBe('s1'); // its refresh read "s1", answer held
    x.revoke('h1');
    const after = x.cache.get('h1');
    open();
    expect(await after).toBeNull();
    await tick();
    expect(await x.cache.get('h1')).toBeNull(); // the late "s1" was not kept
    expect(x.lookups).toBe(4);
  });

  it('stop() unsubscribes from revokes', () => {
    const x = setup();
    expect(x.revokes.count).toBe(1);
    x.cache.stop();
    expect(x.revokes.count).toBe(0);
  });
});
