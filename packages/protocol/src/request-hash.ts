import { createHash } from 'node:crypto';

/**
 * SHA-256 of a request in canonical form (route, then the body as JSON with
 * sorted keys and undefined fields dropped). Agent and hub store it beside
 * an idempotency key: the same key with another request is refused (422).
 */
export function requestHash(route: string, request: unknown): string {
  return createHash('sha256').update(route).update('\0').update(stableJson(request)).digest('hex');
}

/** JSON with object keys sorted, so equal values always give equal text. */
export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}
