/**
 * apiKeyAuth's cache (auth/refreshing-cache.ts) as the routes see it, over a
 * fake AccessStore: a verdict past its TTL is answered without waiting for
 * the database, a revoke this process hears of is refused on the very next
 * check (even while a pre-revoke refresh is in flight), unknown keys are
 * cached like known ones, and a failed refresh makes the next check wait.
 */
import { describe, expect, it } from 'vitest';
import { hashSecret } from '../../src/auth/tokens.js';
import { apiKeyAuth } from '../../src/http/api-keys.js';
import type { AccessStore, ApiKeyRecord } from '../../src/store/access-store.js';
import { lookupGate, revokeListeners } from '../helpers/access-fakes.js';

function fakeStore() {
  const keys = new Map<string, ApiKeyRecord>();
  const revokes = revokeListeners();
  const gate = lookupGate();
  let fail = false;
  let lookups = 0;
  const store = {
    async apiKeyForHash(hash: string) {
      lookups++;
      const rec = keys.get(hash) ?? null;
      const failing = fail;
      await gate.passed();
      if (failing) throw new Error('db down');
      return rec;
    },
    onRevoke: revokes.onRevoke,
  } as unknown as AccessStore;
  return {
    store,
    add: (secret: string, id: string, role: ApiKeyRecord['role']) => keys.set(hashSecret(secret), { id, role, createdAt: 0, revokedAt: null } as ApiKeyRecord),
    revokeInDb: (secret: string) => {
      const k = keys.get(hashSecret(secret))!;
      keys.set(hashSecret(secret), { ...k, revokedAt: 1 });
    },
    notify: revokes.revoke,
    hold: gate.hold,
    setFail: (f: boolean) => {
      fail = f;
    },
    get lookups() {
      return lookups;
    },
  };
}

const tick = () => new Promise((r) => setImmediate(r));

function setup() {
  let t = 0;
  const s = fakeStore();
  const auth = apiKeyAuth(s.store, { ttlMs: 1_000, maxAgeMs: 3_000, now: () => t });
  return { s, auth, advance: (ms: number) => (t += ms) };
}

describe('apiKeyAuth cache', () => {
  it('roles: admin ⊇ reserve ⊇ read; a hit within the TTL costs no lookup', async () => {
    const { s, auth } = setup();
    s.add('sk_r', 'key_r', 'read');
    expect(await auth.check('sk_r', 'read')).toEqual({ ok: true, id: 'key_r', role: 'read' });
    expect(await auth.check('sk_r', 'reserve')).toMatchObject({ ok: false, status: 403 });
    expect(s.lookups).toBe(1);
    expect(await auth.check(null, 'read')).toMatchObject({ ok: false, status: 401 });
  });

  it('past the TTL the cached verdict answers while the database is slow; the refresh then counts', async () => {
    const { s, auth, advance } = setup();
    s.add('sk_a', 'key_a', 'admin');
    await auth.check('sk_a', 'admin');
    advance(1_200);
    s.revokeInDb('sk_a'); // revoked elsewhere, no NOTIFY: only the refresh finds out
    const open = s.hold();
    // The cached verdict answers although the refresh cannot yet: no blip.
    expect(await auth.check('sk_a', 'admin')).toMatchObject({ ok: true, id: 'key_a' });
    expect(await auth.check('sk_a', 'admin')).toMatchObject({ ok: true, id: 'key_a' });
    expect(s.lookups).toBe(2); // one refresh for both
    open();
    await tick();
    expect(await auth.check('sk_a', 'admin')).toMatchObject({ ok: false, status: 401 });
  });

  it('a revoke this process hears of is refused on the next check, even with a pre-revoke refresh in flight', async () => {
    const { s, auth, advance } = setup();
    s.add('sk_a', 'key_a', 'admin');
    await auth.check('sk_a', 'admin');
    advance(1_200);
    const open = s.hold();
    expect((await auth.check('sk_a', 'admin')).ok).toBe(true); // its refresh read "active", answer held
    s.revokeInDb('sk_a');
    s.notify(); // the revoke is heard before that refresh answers
    const after = auth.check('sk_a', 'admin'); // a new lookup, not the pre-revoke one
    open();
    expect(await after).toMatchObject({ ok: false, status: 401 });
    await tick();
    expect(await auth.check('sk_a', 'admin')).toMatchObject({ ok: false, status: 401 }); // the late "active" was not kept
    expect(s.lookups).toBe(3);
  });

  it('unknown keys are cached too (no query per guess)', async () => {
    const { s, auth } = setup();
    expect(await auth.check('sk_nope', 'read')).toMatchObject({ ok: false, status: 401 });
    expect(await auth.check('sk_nope', 'read')).toMatchObject({ ok: false, status: 401 });
    expect(s.lookups).toBe(1);
  });

  it('past the maximum age, or after a failed refresh, a check waits for the database', async () => {
    const { s, auth, advance } = setup();
    s.add('sk_a', 'key_a', 'admin');
    await auth.check('sk_a', 'admin');
    advance(1_200);
    s.setFail(true);
    expect((await auth.check('sk_a', 'admin')).ok).toBe(true); // stale, its refresh fails
    await tick();
    await expect(auth.check('sk_a', 'admin')).rejects.toThrow('db down');
    s.setFail(false);
    expect((await auth.check('sk_a', 'admin')).ok).toBe(true);
    advance(3_000);
    const open = s.hold();
    let done = false;
    const p = auth.check('sk_a', 'admin').then((r) => ((done = true), r));
    await tick();
    expect(done).toBe(false);
    open();
    expect((await p).ok).toBe(true);
  });
});
