import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import { Histogram, type Registry } from 'prom-client';

/** A caller's `X-Request-Id` is kept when it is short and plain; otherwise the hub makes one. */
const GOOD_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * The id of each request in flight (by its Request object), for the log
 * line of a failed request. Not an AsyncLocalStorage around every request:
 * that turns on promise hooks process-wide, a cost on every promise of every
 * request (the agent measured ~12 µs per POST; the hub's profile showed
 * `promiseInitHook` under load).
 */
export const requestIds = new WeakMap<Request, string>();

/**
 * Every request gets an id (`X-Request-Id`, the caller's if it sent a sane
 * one); the log line of a request that fails carries it as `reqId`. Its latency goes to `scoville_http_request_duration_seconds`
 * labelled by the route template that answered (`/inventory/:sku`, never the
 * SKU itself), the method and the status class: a bounded set of series.
 * Requests no route matched share the route label `unmatched`.
 */
export function httpObservability(registry: Registry) {
  const seconds = new Histogram({
    name: 'scoville_http_request_duration_seconds',
    help: 'HTTP request latency until the response head (SSE and streams: until they start), by route template, method and status class',
    labelNames: ['route', 'method', 'status'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const middleware: MiddlewareHandler = async (c, next) => {
    const given = c.req.header('x-request-id');
    const reqId = given !== undefined && GOOD_ID.test(given) ? given : crypto.randomUUID();
    c.header('X-Request-Id', reqId);
    const started = performance.now();
    try {
      requestIds.set(c.req.raw, reqId);
      await next();
    } finally {
      // The route that answered (a middleware's `*` when none matched).
      const path = routePath(c);
      const route = path === '*' || path === '/*' || path === '' ? 'unmatched' : path;
      const method = METHODS.has(c.req.method) ? c.req.method : 'OTHER';
      seconds.observe({ route, method, status: `${Math.floor(c.res.status / 100)}xx` }, (performance.now() - started) / 1000);
    }
  };
  return { middleware, seconds };
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
