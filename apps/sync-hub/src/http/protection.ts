import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, Hono, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { bearer, hashSecret } from '../auth/tokens.js';
import { errorResponse } from './errors.js';

/** Requests per second per API key (or store token) by default; the bucket holds two seconds' worth. */
export const DEFAULT_RATE_LIMIT_KEY = 5_000;
/** Requests per second per client IP by default. */
export const DEFAULT_RATE_LIMIT_IP = 10_000;
/** Largest request body by default (bytes). */
export const DEFAULT_BODY_LIMIT = 256 * 1024;
/** Routes never rate limited: a load balancer's health check must not be refused. */
const UNLIMITED = new Set(['/health']);

export interface ProtectionOptions {
  /** Requests/s per credential (0: off). */
  rateLimitKey?: number;
  /** Requests/s per client IP (0: off). */
  rateLimitIp?: number;
  /** Seconds of the rate a client may spend at once (bucket size = rate × burst); default 2. */
  burstSeconds?: number;
  /** Largest request body in bytes (default 256 KiB). */
  bodyLimitBytes?: number;
  clock?: () => number;
}

/**
 * Token buckets, one per key, in this process's memory: `rate` tokens a
 * second up to `capacity`. Limits are per hub process (N hubs behind a
 * balancer admit up to N × the rate); idle full buckets are dropped when
 * the table grows past `maxKeys`.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    readonly rate: number,
    readonly capacity: number,
    private readonly clock: () => number = Date.now,
    private readonly maxKeys = 100_000,
  ) {}

  /** 0 when a token was taken; otherwise the milliseconds until one is there. */
  take(key: string): number {
    const now = this.clock();
    const b = this.buckets.get(key);
    if (b === undefined) {
      if (this.buckets.size >= this.maxKeys) this.sweep(now);
      this.buckets.set(key, { tokens: this.capacity - 1, at: now });
      return 0;
    }
    b.tokens = Math.min(this.capacity, b.tokens + ((now - b.at) * this.rate) / 1000);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - b.tokens) * 1000) / this.rate);
  }

  get size(): number {
    return this.buckets.size;
  }

  private sweep(now: number): void {
    for (const [k, b] of this.buckets) if (b.tokens + ((now - b.at) * this.rate) / 1000 >= this.capacity) this.buckets.delete(k);
    // Every bucket in use (a flood of distinct keys): start over rather than grow without bound.
    if (this.buckets.size >= this.maxKeys) this.buckets.clear();
  }
}

function clientIp(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    return 'unknown'; // not served by @hono/node-server (app.request in a test)
  }
}

function refuse(c: Context, waitMs: number, what: string): Response {
  c.header('Retry-After', String(Math.max(1, Math.ceil(waitMs / 1000))));
  return errorResponse(c, 429, 'rate_limited', `too many requests ${what}; retry after the Retry-After header's seconds`);
}

/**
 * Rate limits (per credential and per client IP) and request size limits,
 * mounted before every route. Not on /health; /sync and /ws are WebSocket
 * upgrades and never reach the app. The per-IP limit sees the address that
 * connected: behind a proxy that is the proxy, so limit per client there.
 */
export function mountProtection(app: Hono, opts: ProtectionOptions = {}): { stats(): Record<string, number> } {
  const clock = opts.clock ?? Date.now;
  const burst = opts.burstSeconds ?? 2;
  const keyRate = opts.rateLimitKey ?? DEFAULT_RATE_LIMIT_KEY;
  const ipRate = opts.rateLimitIp ?? DEFAULT_RATE_LIMIT_IP;
  const byKey = keyRate > 0 ? new TokenBuckets(keyRate, Math.max(1, keyRate * burst), clock) : null;
  const byIp = ipRate > 0 ? new TokenBuckets(ipRate, Math.max(1, ipRate * burst), clock) : null;
  let limited = 0;

  if (byKey !== null || byIp !== null) {
    const limit: MiddlewareHandler = async (c, next) => {
      if (UNLIMITED.has(c.req.path)) return next();
      if (byIp !== null) {
        const wait = byIp.take(clientIp(c));
        if (wait > 0) {
          limited++;
          return refuse(c, wait, 'from this address');
        }
      }
      if (byKey !== null) {
        const secret = bearer(c.req.header('authorization')) ?? (c.req.path === '/stream' ? (c.req.query('key') ?? null) : null);
        if (secret !== null) {
          // Keyed by the secret's hash: the table holds no secrets.
          const wait = byKey.take(hashSecret(secret));
          if (wait > 0) {
            limited++;
            return refuse(c, wait, 'with this key');
          }
        }
      }
      return next();
    };
    app.use('*', limit);
  }

  const maxSize = opts.bodyLimitBytes ?? DEFAULT_BODY_LIMIT;
  const limitBody = bodyLimit({
    maxSize,
    onError: (c) => {
      // The rest of the body is not read: the connection cannot carry another request, so tell the client.
      c.header('Connection', 'close');
      return errorResponse(c, 413, 'payload_too_large', `the request body is larger than ${maxSize} bytes`);
    },
  });
  // Reads have no body; not touching it keeps them on @hono/node-server's light request path.
  app.use('*', (c, next) => (c.req.method === 'GET' || c.req.method === 'HEAD' || c.req.method === 'OPTIONS' ? next() : limitBody(c, next)));

  return { stats: () => ({ rateLimited: limited, rateLimitKeys: byKey?.size ?? 0, rateLimitIps: byIp?.size ?? 0 }) };
}

/**
 * The JSON 404 / 405 for a request no route answers: 405 (with `Allow`)
 * when the path exists under other methods.
 */
export function notFoundOrNotAllowed(app: Hono) {
  let compiled: { re: RegExp; method: string }[] | null = null;
  return (c: Context): Response => {
    compiled ??= app.routes
      .filter((r) => r.method !== 'ALL')
      .map((r) => ({ method: r.method, re: new RegExp(`^${r.path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z0-9_]+/g, '[^/]+')}$`) }));
    const allow = [...new Set(compiled.filter((r) => r.re.test(c.req.path)).map((r) => r.method))];
    if (allow.length > 0) {
      if (allow.includes('GET')) allow.push('HEAD');
      c.header('Allow', allow.join(', '));
      return errorResponse(c, 405, 'method_not_allowed', `${c.req.method} is not allowed on ${c.req.path}; allowed: ${allow.join(', ')}`);
    }
    return errorResponse(c, 404, 'not_found', `no route ${c.req.method} ${c.req.path}`);
  };
}
