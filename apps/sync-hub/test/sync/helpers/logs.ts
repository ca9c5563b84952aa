import type { Logger } from '../../../src/log.js';

export interface LoggedLine {
  level: 'info' | 'warn' | 'error';
  msg: string;
  fields?: Record<string, unknown>;
}

/** A hub Logger that keeps every line, for tests that check what the hub said. */
export function recordingLogger(): { log: Logger; logged: LoggedLine[] } {
  const logged: LoggedLine[] = [];
  return {
    logged,
    log: {
      info: (msg, fields) => logged.push({ level: 'info', msg, fields }),
      warn: (msg, fields) => logged.push({ level: 'warn', msg, fields }),
      error: (msg, fields) => logged.push({ level: 'error', msg, fields }),
    },
  };
}
