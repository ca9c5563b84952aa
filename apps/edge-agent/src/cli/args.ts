import { ADJUSTMENT_REASONS, MAX_STORE_ID_LENGTH, isValidId, isValidStoreId } from '@scoville/crdt-inventory';
import { InvalidArgumentError } from 'commander';
import { CliError } from './client.js';

const MAX = 1_000_000_000;

function int(label: string, min: number) {
  return (value: string): number => {
    if (!/^[-+]?\d+$/.test(value.trim())) throw new InvalidArgumentError(`${label} must be a whole number, got "${value}"`);
    const n = Number(value);
    if (n < min || n > MAX) throw new InvalidArgumentError(`${label} must be between ${min} and ${MAX}, got ${value}`);
    return n;
  };
}

export const parseQty = int('quantity', 1);
export const parseCount = int('count', 0);
export const parseTtl = int('ttl (seconds)', 1);
export const parseDelta = (value: string): number => {
  const n = int('delta', -MAX)(value);
  if (n === 0) throw new InvalidArgumentError('delta must not be 0');
  return n;
};

export function parseSku(value: string): string {
  if (!isValidId(value)) throw new InvalidArgumentError(`"${value}" is not a valid SKU (1-128 chars of A-Z a-z 0-9 . _ : @ -)`);
  return value;
}

export function parseStore(value: string): string {
  if (!isValidStoreId(value)) {
    throw new InvalidArgumentError(`"${value}" is not a valid store id (1-${MAX_STORE_ID_LENGTH} chars of A-Z a-z 0-9 . _ : @ -)`);
  }
  return value;
}

export function parseReason(value: string): string {
  if (!(ADJUSTMENT_REASONS as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`reason must be one of ${ADJUSTMENT_REASONS.join(', ')}`);
  }
  return value;
}

export function parsePort(value: string): number {
  const n = int('port', 0)(value);
  if (n > 65535) throw new InvalidArgumentError(`port must be 0-65535, got ${value}`);
  return n;
}

/** Parses a positional argument inside an action, turning a bad value into a CLI error (exit 2). */
export function arg<T>(parse: (value: string) => T, value: string): T {
  try {
    return parse(value);
  } catch (e) {
    if (e instanceof InvalidArgumentError) throw new CliError('invalid_argument', e.message, 2);
    throw e;
  }
}
