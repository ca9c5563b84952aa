import type { Hono } from 'hono';
import { z } from 'zod';

/**
 * What a route takes and answers, registered next to its handler with
 * `documentRoute`; `GET /openapi.json` is built from these (request bodies
 * from the very zod validators the handlers parse with). A test walks
 * `app.routes` and fails on a route without a description.
 */
export interface RouteDoc {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** Hono syntax (`/inventory/:sku`). */
  path: string;
  summary: string;
  description?: string;
  /** Who may call: an API key of at least this role, a store token, or anyone. */
  auth: 'none' | 'read' | 'reserve' | 'admin' | 'store';
  /** The key may also come as `?key=` (EventSource cannot send headers). */
  keyInQuery?: boolean;
  body?: z.ZodType;
  query?: Record<string, { schema: z.ZodType; description?: string; repeatable?: boolean; required?: boolean }>;
  /** Path parameters' schemas (default: a string). */
  params?: Record<string, z.ZodType>;
  /** Success and route-specific error answers; 401/403/413/429 are added from `auth` and `body`. */
  responses: Record<number, { description: string; schema?: z.ZodType; contentType?: string }>;
}

const docs = new WeakMap<Hono, RouteDoc[]>();

export function documentRoute(app: Hono, doc: RouteDoc): void {
  let list = docs.get(app);
  if (list === undefined) docs.set(app, (list = []));
  list.push(doc);
}

export function routeDocs(app: Hono): readonly RouteDoc[] {
  return docs.get(app) ?? [];
}

/** `{ error: { code, message } }`, every error the hub answers. */
export const errorBody = z.object({
  error: z.looseObject({ code: z.string(), message: z.string() }),
});

const schemaOf = (s: z.ZodType, io: 'input' | 'output') => z.toJSONSchema(s, { io, unrepresentable: 'any', target: 'draft-2020-12' });
const errorRef = { $ref: '#/components/schemas/Error' };
const err = (description: string) => ({ description, content: { 'application/json': { schema: errorRef } } });

/** An OpenAPI 3.1 document of every route registered on `app`. */
export function openApiDocument(app: Hono, info: { title: string; version: string; description?: string }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const d of routeDocs(app)) {
    const path = d.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const parameters: unknown[] = [];
    for (const m of d.path.matchAll(/:([A-Za-z0-9_]+)/g)) {
      const name = m[1]!;
      parameters.push({ name, in: 'path', required: true, schema: schemaOf(d.params?.[name] ?? z.string(), 'input') });
    }
    for (const [name, q] of Object.entries(d.query ?? {})) {
      const one = schemaOf(q.schema, 'input');
      parameters.push({
        name,
        in: 'query',
        required: q.required ?? false,
        ...(q.description ? { description: q.description } : {}),
        schema: q.repeatable ? { type: 'array', items: one } : one,
        ...(q.repeatable ? { style: 'form', explode: true } : {}),
      });
    }
    if (d.keyInQuery) parameters.push({ name: 'key', in: 'query', required: false, description: 'the API key, for clients that cannot send headers (EventSource)', schema: { type: 'string' } });
    const responses: Record<string, unknown> = {};
    for (const [status, r] of Object.entries(d.responses)) {
      responses[status] = {
        description: r.description,
        ...(r.schema || r.contentType ? { content: { [r.contentType ?? 'application/json']: { schema: r.schema ? schemaOf(r.schema, 'output') : {} } } } : {}),
      };
    }
    if (d.body) responses['400'] ??= err('the body is not valid JSON (`bad_json`) or does not match the schema (`invalid_request`, with `issues`)');
    if (d.body) responses['413'] = err('the body is larger than the hub accepts (`payload_too_large`)');
    if (d.auth !== 'none') responses['401'] = err('no key, an unknown or a revoked one (`unauthorized`)');
    if (d.auth !== 'none' && d.auth !== 'store' && d.auth !== 'read') responses['403'] = err(`the key's role is below ${d.auth} (\`forbidden\`)`);
    if (d.auth === 'store') responses['403'] = err("the token is another store's (`forbidden`)");
    responses['429'] = { ...err('rate limited (`rate_limited`); wait for `Retry-After` seconds'), headers: { 'Retry-After': { schema: { type: 'integer' } } } };
    (paths[path] ??= {})[d.method] = {
      summary: d.summary,
      ...(d.description ? { description: d.description } : {}),
      'x-role': d.auth,
      security: d.auth === 'none' ? [] : d.auth === 'store' ? [{ storeToken: [] }] : [{ apiKey: [] }],
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(d.body ? { requestBody: { required: true, content: { 'application/json': { schema: schemaOf(d.body, 'input') } } } } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info,
    components: {
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', description: 'an API key from `sync-hub keys add --role read|reserve|admin` (admin ⊇ reserve ⊇ read)' },
        storeToken: { type: 'http', scheme: 'bearer', description: 'a store token from `sync-hub stores add <store>`' },
      },
      schemas: { Error: schemaOf(errorBody, 'output') },
    },
    paths,
  };
}
