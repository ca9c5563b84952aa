import { pino } from 'pino';
import type { SyncLogger } from '../sync/sync-client.js';

/**
 * Each request's id (`X-Request-Id`), by its Request object: what the HTTP
 * layer logs carries it (app.onError). Not an AsyncLocalStorage around every
 * request: that turns on promise hooks for the whole process, ~12 µs of CPU
 * per POST /sales (a fifth of a bare hono request).
 */
export const requestIds = new WeakMap<Request, string>();

/** Never logged, at the top level or one level down: terminal and store tokens, keys, authorization headers. */
const SECRET_FIELDS = ['authorization', 'token', 'terminalToken', 'key', 'secret', 'password', 'cookie'];

export interface AgentLogger extends SyncLogger {
  error(msg: string, fields?: Record<string, unknown>): void;
}

/**
 * The agent's log: pino JSON lines on stdout (`"level":"warn"` as a label,
 * ISO time, `reqId` on the lines about a request, secrets redacted). The level
 * comes from SCOVILLE_LOG_LEVEL (debug, info, warn, error, silent; default info).
 */
export function agentLogger(base: Record<string, unknown> = {}): AgentLogger {
  const env = process.env.SCOVILLE_LOG_LEVEL;
  const p = pino(
    {
      level: env && ['debug', 'info', 'warn', 'error', 'silent'].includes(env) ? env : 'info',
      base: { pid: process.pid, service: 'edge-agent', ...base },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: [...SECRET_FIELDS, ...SECRET_FIELDS.map((f) => `*.${f}`)], censor: '[redacted]' },
    },
    pino.destination({ fd: 1, sync: true }),
  );
  return {
    info: (m, f) => p.info(f ?? {}, m),
    warn: (m, f) => p.warn(f ?? {}, m),
    error: (m, f) => p.error(f ?? {}, m),
  };
}
