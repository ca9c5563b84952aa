import type { MiddlewareHandler } from 'hono';
import { bearer, hashSecret } from '../auth/tokens.js';
import type { AccessStore, ApiRole } from '../store/access-store.js';
import { errorResponse } from './errors.js';

declare module 'hono' {
  interface ContextVariableMap {
    /** The id of the API key that authorised the request (idempotency scope, audit actor). */
    apiKeyId: string;
  }
}

const RANK: Record<ApiRole, number> = { read: 0, reserve: 1, admin: 2 };

/** A key's verdict for a role: its id and role, or the 401/403 to answer. */
export type KeyCheck = { ok: true; id: string; role: ApiRole } | { ok: false; status: 401 | 403; code: 'unauthorized' | 'forbidden'; message: string };

/**
 * Bearer API keys with roles; admin ⊇ reserve ⊇ read. Lookups are cached
 * for a short time so reads do not cost a database round trip each. A key
 * revoked through this process's AccessStore stops working at once (the
 * cache is dropped on every revoke); one revoked by another process (the
 * CLI) within `ttlMs`.
 */
export function apiKeyAuth(store: AccessStore, ttlMs = 1_000) {
  type Entry = { id: string | null; role: ApiRole | null; until: number };
  const cache = new Map<string, Entry>();
  // One lookup per key at a time: when an entry lapses under load, every request
  // in flight used to query at once (200 SELECTs queued on the pool, delaying commits).
  const pending = new Map<string, Promise<Entry>>();
  let generation = 0;
  store.onRevoke?.(() => {
    generation++;
    cache.clear();
    pending.clear();
  });
  const lookup = (hash: string, now: number): Promise<Entry> => {
    let p = pending.get(hash);
    if (p === undefined) {
      const g = generation;
      p = store.apiKeyForHash(hash).then(
        (rec) => {
          const hit: Entry = rec && rec.revokedAt === null ? { id: rec.id, role: rec.role, until: now + ttlMs } : { id: null, role: null, until: now + ttlMs };
          if (g === generation) {
            if (cache.size > 10_000) cache.clear();
            cache.set(hash, hit);
          }
          return hit;
        },
      );
      const mine = p;
      const done = () => {
        if (pending.get(hash) === mine) pending.delete(hash);
      };
      p.then(done, done);
      pending.set(hash, p);
    }
    return p;
  };
  /** The same lookup and cache for callers that are not hono routes (GraphQL, its WebSocket). */
  const check = async (key: string | null, need: ApiRole): Promise<KeyCheck> => {
    if (!key) return { ok: false, status: 401, code: 'unauthorized', message: 'an API key is required: Authorization: Bearer <key>' };
    const hash = hashSecret(key);
    const now = Date.now();
    let hit = cache.get(hash);
    if (!hit || hit.until < now) hit = await lookup(hash, now);
    if (hit.role === null) return { ok: false, status: 401, code: 'unauthorized', message: 'unknown or revoked API key' };
    if (RANK[hit.role] < RANK[need]) return { ok: false, status: 403, code: 'forbidden', message: `this route needs a ${need} key, yours is ${hit.role}` };
    return { ok: true, id: hit.id!, role: hit.role };
  };
  /** `allowQuery`: also accept `?key=` (for EventSource, which cannot send headers). */
  const middleware = (need: ApiRole, allowQuery = false): MiddlewareHandler =>
    async (c, next) => {
      const r = await check(bearer(c.req.header('authorization')) ?? (allowQuery ? (c.req.query('key') ?? null) : null), need);
      if (!r.ok) return errorResponse(c, r.status, r.code, r.message);
      c.set('apiKeyId', r.id);
      await next();
    };
  return Object.assign(middleware, { check });
}

export type ApiKeyAuth = ReturnType<typeof apiKeyAuth>;
