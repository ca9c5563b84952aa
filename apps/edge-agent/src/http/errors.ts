import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { z } from 'zod';

/** The one error shape of every HTTP API here: `{ error: { code, message, ...details } }`. */
export function errorResponse(
  c: Context,
  status: ContentfulStatusCode,
  code: string,
  message: string,
  details: Record<string, unknown> = {},
): Response {
  return c.json({ error: { code, message, ...details } }, status);
}

export function validationError(c: Context, error: z.ZodError): Response {
  const issues = error.issues.slice(0, 10).map((i) => ({ path: i.path.join('.'), message: i.message }));
  const first = issues[0];
  return errorResponse(c, 400, 'invalid_request', first ? `${first.path || 'body'}: ${first.message}` : 'invalid request', {
    issues,
  });
}
