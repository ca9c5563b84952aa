/**
 * A refusal of a store operation, with a stable code and the HTTP status it
 * maps to. Carries the details a POS needs (e.g. what is available).
 */
export class DomainError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: 400 | 404 | 409 | 422 = 409,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}
