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

/** The JSON log lines in a process's output (other lines skipped). */
export function parseLogLines(text: string): ({ level?: string; msg?: string } & Record<string, unknown>)[] {
  return text.split('\n').flatMap((l) => {
    try {
      const j = JSON.parse(l) as unknown;
      return j !== null && typeof j === 'object' && !Array.isArray(j) ? [j as { level?: string; msg?: string } & Record<string, unknown>] : [];
    } catch {
      return [];
    }
  });
}
