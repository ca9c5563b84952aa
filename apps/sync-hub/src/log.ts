import { AsyncLocalStorage } from 'node:async_hooks';
import { pino, type Logger as PinoLogger } from 'pino';

export interface Logger {
  /** Off unless SCOVILLE_LOG_LEVEL=debug. */
  debug?(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/**
 * Context every log line written inside `requestContext.run(…)` carries
 * (e.g. a request id). The HTTP middleware does not use it per request (see
 * `requestIds` in observability/http.ts): it would turn on promise hooks.
 */
export const requestContext = new AsyncLocalStorage<{ reqId: string }>();

/**
 * Fields that never reach a log line, whatever a call site passes: store
 * tokens, API keys, authorization headers (top level and one level down,
 * e.g. `{ headers: { authorization } }`).
 */
export const REDACTED_FIELDS = ['authorization', 'token', 'key', 'apiKey', 'secret', 'password', 'cookie'];
export const REDACT_PATHS = [...REDACTED_FIELDS, ...REDACTED_FIELDS.map((f) => `*.${f}`), 'req.headers.authorization', 'req.headers.cookie'];

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/**
 * pino with the options both apps share: the level as its label
 * (`"level":"warn"`, what tests and `jq` read), ISO time, the request id of
 * the request being handled, secrets redacted.
 */
export function pinoLogger(base: Record<string, unknown>, level: LogLevel, fd: 1 | 2): PinoLogger {
  return pino(
    {
      level,
      base: { pid: process.pid, ...base },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      mixin: () => requestContext.getStore() ?? {},
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    // Synchronous: a line written just before process.exit is not lost.
    pino.destination({ fd, sync: true }),
  );
}

/** The log level from SCOVILLE_LOG_LEVEL (debug, info, warn, error, silent), else `fallback`. */
export function levelFromEnv(fallback: LogLevel = 'info'): LogLevel {
  const v = process.env.SCOVILLE_LOG_LEVEL;
  return v === 'debug' || v === 'info' || v === 'warn' || v === 'error' || v === 'silent' ? v : fallback;
}

/** JSON lines (pino) on stderr; stdout stays free for CLI output. */
export function jsonLogger(base: Record<string, unknown> = {}, level: LogLevel = levelFromEnv()): Logger {
  const p = pinoLogger(base, level, 2);
  return {
    debug: (m, f) => p.debug(f ?? {}, m),
    info: (m, f) => p.info(f ?? {}, m),
    warn: (m, f) => p.warn(f ?? {}, m),
    error: (m, f) => p.error(f ?? {}, m),
  };
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
