import type { MiddlewareHandler } from 'hono';
import { refreshingCache } from '../auth/refreshing-cache.js';
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

/** How long a key's verdict is trusted before it is looked up again (in the background). */
const KEY_TTL_MS = 1_000;
/** Oldest verdict ever served: past it (a refresh failed or is slow), callers wait for the database. */
const KEY_MAX_AGE_MS = 3_000;

type Verdict = { id: string; role: ApiRole } | null;

/**
 * Bearer API keys with roles; admin ⊇ reserve ⊇ read. Verdicts (unknown
 * keys included) are cached (auth/refreshing-cache.ts) so requests do not
 * cost a database round trip each, nor wait for the refresh once a verdict
 * is older than `ttlMs`. A key revoked through this process's AccessStore,
 * or by another process that told this one (NOTIFY), stops working at
 * once; one this process was not told of, once the first refresh after
 * `ttlMs` answers, and never past `maxAgeMs`.
 */
export function apiKeyAuth(store: AccessStore, opts: { ttlMs?: number; maxAgeMs?: number; now?: () => number } = {}) {
  const verdicts = refreshingCache<Verdict>({
    lookup: async (hash) => {
      const rec = await store.apiKeyForHash(hash);
      return rec && rec.revokedAt === null ? { id: rec.id, role: rec.role } : null;
    },
    ttlMs: opts.ttlMs ?? KEY_TTL_MS,
    maxAgeMs: opts.maxAgeMs ?? KEY_MAX_AGE_MS,
    onRevoke: store.onRevoke?.bind(store),
    now: opts.now,
  });
  /** The same lookup and cache for callers that are not hono routes (GraphQL, its WebSocket). */
  const check = async (key: string | null, need: ApiRole): Promise<KeyCheck> => {
    if (!key) return { ok: false, status: 401, code: 'unauthorized', message: 'an API key is required: Authorization: Bearer <key>' };
    const hit = await verdicts.get(hashSecret(key));
    if (hit === null) return { ok: false, status: 401, code: 'unauthorized', message: 'unknown or revoked API key' };
    if (RANK[hit.role] < RANK[need]) return { ok: false, status: 403, code: 'forbidden', message: `this route needs a ${need} key, yours is ${hit.role}` };
    return { ok: true, id: hit.id, role: hit.role };
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
