import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ExecutionArgs } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { createSchema, createYoga } from 'graphql-yoga';
import type { Hono } from 'hono';
import { WebSocketServer } from 'ws';
import { bearer } from '../auth/tokens.js';
import type { ApiKeyAuth } from '../http/api-keys.js';
import { documentRoute } from '../http/route-docs.js';
import { contextFor, resolvers, type GqlContext, type ResolverDeps } from './resolvers.js';

/** The schema's source: apps/sync-hub/schema.graphql, read once at start. */
export const SCHEMA_PATH = new URL('../../schema.graphql', import.meta.url);

const MAX_WS_MESSAGE_BYTES = 64 * 1024;

export interface GraphqlOptions extends ResolverDeps {
  /** Serve GraphiQL at GET /graphql from a browser (default off). */
  graphiql?: boolean;
}

type WsExtra = { socket: import('ws').WebSocket; request: IncomingMessage };

/**
 * GraphQL at `/graphql`: queries and mutations over HTTP (graphql-yoga,
 * mounted in the hub's hono app, so CORS, limits and errors are the app's),
 * subscriptions over SSE (yoga) and WebSocket (graphql-ws, `handleUpgrade`).
 * Keys are checked with the REST routes' lookup (`auth.check`), per operation.
 */
export function createGraphql(opts: GraphqlOptions) {
  const schema = createSchema<GqlContext>({ typeDefs: readFileSync(SCHEMA_PATH, 'utf8'), resolvers: resolvers(opts) as never });
  let auth: ApiKeyAuth | null = null;
  const check: ApiKeyAuth['check'] = (key, need) => {
    if (auth === null) throw new Error('GraphQL used before it was mounted');
    return auth.check(key, need);
  };

  const yoga = createYoga<{ wsKey?: string | null }>({
    schema,
    graphqlEndpoint: '/graphql',
    graphiql: opts.graphiql === true,
    landingPage: false,
    // The hub's app answers CORS (configured origins only).
    cors: false,
    logging: false,
    batching: false,
    fetchAPI: globalThis,
    context: (init) => {
      if (init.wsKey !== undefined) return contextFor(init.wsKey, check);
      const req = init.request;
      // EventSource cannot send headers: a GET subscription over SSE may carry `?key=` (as GET /stream).
      const sse = req.method === 'GET' && (req.headers.get('accept') ?? '').includes('text/event-stream');
      const key = bearer(req.headers.get('authorization') ?? undefined) ?? (sse ? new URL(req.url).searchParams.get('key') : null);
      return contextFor(key, check);
    },
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_WS_MESSAGE_BYTES });
  const keyOf = (connectionParams: Readonly<Record<string, unknown>> | undefined, req: IncomingMessage): string | null => {
    const p = connectionParams?.authorization ?? connectionParams?.Authorization;
    if (typeof p === 'string' && p !== '') return bearer(p) ?? p;
    return bearer(req.headers.authorization) ?? new URL(req.url ?? '/', 'http://hub').searchParams.get('key');
  };
  const ws = useServer<Record<string, unknown> | undefined, WsExtra>(
    {
      // Connecting needs a read key; every operation is checked again (a revoked key stops working).
      onConnect: async (ctx) => {
        const r = await check(keyOf(ctx.connectionParams, ctx.extra.request), 'read').catch(() => null);
        if (r?.ok) return true;
        ctx.extra.socket.close(r?.status === 403 ? 4403 : 4401, r?.code ?? 'unauthorized');
        return false;
      },
      execute: (args: ExecutionArgs) => (args.rootValue as { execute: (a: ExecutionArgs) => unknown }).execute(args) as never,
      subscribe: (args: ExecutionArgs) => (args.rootValue as { subscribe: (a: ExecutionArgs) => unknown }).subscribe(args) as never,
      // yoga's envelop (error masking, validation) for WebSocket operations too.
      onSubscribe: async (ctx, _id, params) => {
        const { schema: s, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({ wsKey: keyOf(ctx.connectionParams, ctx.extra.request), params });
        const args: ExecutionArgs = {
          schema: s,
          operationName: params.operationName,
          document: parse(params.query),
          variableValues: params.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
        const errors = validate(args.schema, args.document);
        return errors.length > 0 ? errors : args;
      },
    },
    wss,
  );

  return {
    mount(app: Hono, keys: ApiKeyAuth): void {
      auth = keys;
      const gql = { auth: 'read' as const, description: 'GraphQL (schema.graphql); the role is checked per operation (queries read, mutations reserve), errors carry their code in `extensions`. Subscriptions: WebSocket (graphql-transport-ws) on this path, or SSE.', responses: { 200: { description: 'a GraphQL response' } } };
      documentRoute(app, { method: 'get', path: '/graphql', summary: 'GraphQL query (GET) or SSE subscription', ...gql });
      documentRoute(app, { method: 'post', path: '/graphql', summary: 'GraphQL query or mutation', ...gql });
      app.on(['GET', 'POST'], '/graphql', (c) => yoga.fetch(c.req.raw, {}));
    },
    /** `GET /graphql` with `Upgrade: websocket` (graphql-transport-ws subprotocol). */
    handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
      wss.handleUpgrade(req, socket, head, (client) => wss.emit('connection', client, req));
    },
    get wsClients(): number {
      return wss.clients.size;
    },
    async close(): Promise<void> {
      await ws.dispose();
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
    },
  };
}

export type HubGraphql = ReturnType<typeof createGraphql>;
