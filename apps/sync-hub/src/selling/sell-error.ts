import type { ContentfulStatusCode } from 'hono/utils/http-status';

/**
 * A refusal of the hub's selling side, with the HTTP status it maps to and
 * the details a client needs (what is available per line, the hold's state).
 * Refusals change nothing and are never stored under an idempotency key.
 */
export class SellError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: ContentfulStatusCode,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'SellError';
  }
}

export type SellOutcome<T> = { ok: true; value: T } | { ok: false; error: SellError };

export const sellOk = <T>(value: T): SellOutcome<T> => ({ ok: true, value });
export const sellFail = <T = never>(code: string, message: string, status: ContentfulStatusCode, details: Record<string, unknown> = {}): SellOutcome<T> => ({
  ok: false,
  error: new SellError(code, message, status, details),
});
