import { AsyncLocalStorage } from 'node:async_hooks';
import { pino } from 'pino';
import type { SyncLogger } from '../sync/sync-client.js';

/** The request being handled (its id), for every log line written meanwhile. */
export const requestContext = new AsyncLocalStorage<{ reqId: string }>();

/** Never logged, at the top level or one level down: terminal and store tokens, keys, authorization headers. */
const SECRET_FIELDS = ['authorization', 'token', 'terminalToken', 'key', 'secret', 'password', 'cookie'];

export interface AgentLogger extends SyncLogger {
  error(msg: string, fields?: Record<string, unknown>): void;
}

/**
 * The agent's log: pino JSON lines on stdout (`"level":"warn"` as a label,
 * ISO time, `reqId` while a request is handled, secrets redacted). The level
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
      mixin: () => requestContext.getStore() ?? {},
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
