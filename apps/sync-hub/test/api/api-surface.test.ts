/**
 * The hub's REST surface as described by its route registry (http/route-docs.ts),
 * on a real hub (in this process, test PostgreSQL, real HTTP):
 *
 * - `GET /openapi.json` describes every route of the app: walks hono's
 *   `app.routes` and fails on any route without a `documentRoute` next to it;
 *   request bodies are the handlers' own zod validators;
 * - the route × role matrix over EVERY registered route (none, garbage,
 *   read, reserve, admin, revoked key, store token, and the key as `?key=`):
 *   401 without a valid credential, 403 below the route's role, through at
 *   or above it. test/security.test.ts walks a hand-written list with
 *   realistic bodies; this one follows the registry, so a new route is in
 *   the matrix the moment it is described;
 * - 413 / 404 / 405 / 429 as JSON through the real server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoreId } from '@scoville/crdt-inventory';
import { hashSecret, newSecret } from '../../src/auth/tokens.js';
import { startHub, type RunningHub } from '../../src/hub.js';
import { routeDocs } from '../../src/http/route-docs.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';

let db: TestDatabase;
let hub: RunningHub;
const secrets: Record<string, string> = {};

async function call(method: string, path: string, auth: string | null, body?: string): Promise<{ status: number; body: any; headers: Headers }> {
  const ctl = new AbortController();
  const res = await fetch(`${hub.url}${path}`, {
    method,
    signal: ctl.signal,
    headers: { ...(auth ? { authorization: `Bearer ${auth}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body,
  });
  if ((res.headers.get('content-type') ?? '').includes('text/event-stream')) {
    ctl.abort();
    return { status: res.status, body: null, headers: res.headers };
  }
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // HTML or empty
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

beforeAll(async () => {
  db = await createTestDatabase();
  hub = await startHub({ port: 0, host: '127.0.0.1', databaseUrl: db.url, replica: 'hub-api', protection: { rateLimitKey: 0, rateLimitIp: 0, bodyLimitBytes: 4096 } });
  const a = hub.storage.access;
  const now = Date.now();
  secrets.store = newSecret('st');
  await a.addStore('s1' as StoreId, hashSecret(secrets.store), now);
  for (const r of ['read', 'reserve', 'admin'] as const) {
    secrets[r] = newSecret('sk');
    await a.addApiKey(`key_${r}`, hashSecret(secrets[r]!), r, now);
  }
  secrets.revoked = newSecret('sk');
  await a.addApiKey('key_revoked', hashSecret(secrets.revoked), 'admin', now);
  await a.revokeApiKey('key_revoked', now);
}, 90_000);

afterAll(async () => {
  await hub?.stop().catch(() => undefined);
  await db?.drop();
}, 30_000);

const openapiPath = (p: string) => p.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

describe('GET /openapi.json', () => {
  it('describes every route of the app (method and path), with the validators as request bodies', async () => {
    const r = await call('GET', '/openapi.json', null);
    expect(r.status).toBe(200);
    const doc = r.body as { openapi: string; paths: Record<string, Record<string, any>> };
    expect(doc.openapi).toBe('3.1.0');
    const routes = hub.app.routes.filter((x) => x.method !== 'ALL');
    expect(routes.length).toBeGreaterThan(10);
    const missing = routes.filter((x) => doc.paths[openapiPath(x.path)]?.[x.method.toLowerCase()] === undefined).map((x) => `${x.method} ${x.path}`);
    missing.splice(0, missing.length, ...new Set(missing));
    expect(missing, `routes without documentRoute(app, {...}) next to their handler (src/http/route-docs.ts): ${missing.join(', ')}`).toEqual([]);
    // and nothing described that the app does not serve
    const served = new Set(routes.map((x) => `${x.method.toLowerCase()} ${openapiPath(x.path)}`));
    for (const [p, ops] of Object.entries(doc.paths)) for (const m of Object.keys(ops)) expect(served.has(`${m} ${p}`), `${m} ${p}`).toBe(true);

    const hold = doc.paths['/reservations']!.post;
    const body = hold.requestBody.content['application/json'].schema;
    expect(body.required).toEqual(expect.arrayContaining(['idempotencyKey', 'lines']));
    expect(body.properties.lines.maxItems).toBe(500);
    expect(body.additionalProperties).toBe(false);
    expect(Object.keys(hold.responses)).toEqual(expect.arrayContaining(['201', '400', '401', '403', '413', '429']));
    expect(doc.paths['/inventory/{sku}']!.get.parameters.map((p: { name: string }) => p.name)).toEqual(['sku', 'storeId']);
  });
});

describe('route × role matrix over every registered route', () => {
  it('401 without a valid credential, 403 below the role, through at or above it; ?key= only where documented', async () => {
    const rank = { read: 0, reserve: 1, admin: 2 } as const;
    const creds: [string, string | null, 'bad' | 'store' | keyof typeof rank][] = [
      ['no key', null, 'bad'],
      ['garbage', newSecret('sk'), 'bad'],
      ['revoked', secrets.revoked!, 'bad'],
      ['store token', secrets.store!, 'store'],
      ['read', secrets.read!, 'read'],
      ['reserve', secrets.reserve!, 'reserve'],
      ['admin', secrets.admin!, 'admin'],
    ];
    const sample: Record<string, string> = { sku: 'A', id: 'r_000000000000000000000000' };
    let checked = 0;
    for (const d of routeDocs(hub.app)) {
      // GraphQL checks the role per operation (test/storefront/graphql.test.ts), not per route.
      if (d.path === '/graphql') continue;
      const path = d.path.replace(/:([A-Za-z0-9_]+)/g, (_, n: string) => sample[n] ?? 's1');
      const method = d.method.toUpperCase();
      const body = d.body ? '{}' : undefined; // invalid on purpose: the role is checked before the body
      for (const [name, secret, role] of creds) {
        const res = await call(method, path, secret, body);
        const what = `${method} ${path} (${d.auth}) as ${name} → ${res.status} ${JSON.stringify(res.body).slice(0, 160)}`;
        checked++;
        expect(res.status, what).toBeLessThan(500);
        if (d.auth === 'none') {
          expect([401, 403], what).not.toContain(res.status);
        } else if (d.auth === 'store') {
          if (role === 'store') expect([401, 403], what).not.toContain(res.status);
          else expect(res.status, what).toBe(401);
        } else if (role === 'bad' || role === 'store') {
          expect(res.status, what).toBe(401);
          expect(res.body.error.code, what).toBe('unauthorized');
        } else if (rank[role] < rank[d.auth]) {
          expect(res.status, what).toBe(403);
          expect(res.body.error.code, what).toBe('forbidden');
        } else {
          expect([401, 403], what).not.toContain(res.status);
        }
      }
      if (d.auth !== 'none' && d.auth !== 'store') {
        // The key as ?key=: accepted only on routes that say so (EventSource), never elsewhere.
        const sep = path.includes('?') ? '&' : '?';
        const res = await call(method, `${path}${sep}key=${secrets.admin}`, null, body);
        checked++;
        if (d.keyInQuery) expect([401, 403], `${method} ${path}?key=`).not.toContain(res.status);
        else expect(res.status, `${method} ${path}?key=`).toBe(401);
      }
    }
    expect(checked).toBeGreaterThan(100);
  }, 60_000);
});

describe('errors through the real server', () => {
  it('413 payload_too_large, 404 not_found, 405 method_not_allowed: all {error:{code,message}}', async () => {
    const big = await call('POST', '/reservations', secrets.reserve!, JSON.stringify({ idempotencyKey: 'x'.repeat(5000), lines: [] }));
    expect(big.status).toBe(413);
    expect(big.body.error).toMatchObject({ code: 'payload_too_large', message: expect.any(String) });
    const nf = await call('GET', '/no/such/route', secrets.read!);
    expect(nf.status).toBe(404);
    expect(nf.body.error.code).toBe('not_found');
    const na = await call('PATCH', '/stores', secrets.admin!);
    expect(na.status).toBe(405);
    expect(na.body.error.code).toBe('method_not_allowed');
    expect(na.headers.get('allow')).toContain('GET');
  });
});
