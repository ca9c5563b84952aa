import type { z } from 'zod';
import { MESSAGE_TYPES, type Message, type MessageType } from './messages.js';
import { fastValidate } from './fast-validate.js';
import { messageSchemas } from './schemas.js';
import { negotiateVersion } from './version.js';

/** Most entries + transfers + reservations + events one message may carry. */
export const MAX_BATCH_ENTRIES = 50_000;

export interface DecodeLimits {
  /** Largest frame accepted, in bytes of UTF-8; checked before parsing. */
  maxFrameBytes: number;
  /** Most items (entries, transfers, reservations, events) in one message. */
  maxBatchEntries: number;
}

export const DEFAULT_LIMITS: Readonly<DecodeLimits> = Object.freeze({
  maxFrameBytes: 8 * 1024 * 1024,
  maxBatchEntries: MAX_BATCH_ENTRIES,
});

export type DecodeErrorCode = 'too_large' | 'bad_json' | 'bad_shape' | 'unsupported_version';

export interface DecodeError {
  code: DecodeErrorCode;
  /** What was wrong, for logs and for the `error` message sent back. Bounded in length. */
  message: string;
  /** The frame's `type`, when it named a known one. */
  type?: MessageType;
  /** The frame's `seq`, when it had a plausible one (to name it in the `error` reply). */
  seq?: number;
}

export type DecodeResult = { ok: true; message: Message } | { ok: false; error: DecodeError };

/** What a WebSocket library hands over: text, bytes, or fragments (ws's `Buffer[]`). */
export type RawFrame = string | Uint8Array | ArrayBuffer | readonly Uint8Array[];

/** One message → one JSON text frame. The message is not re-validated. */
export function encode(message: Message): string {
  return JSON.stringify(message);
}

const MAX_ERROR_TEXT = 300;
const KNOWN_TYPES: ReadonlySet<string> = new Set(MESSAGE_TYPES);
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Frame → message. Never throws: anything that is not a valid message of
 * this protocol version comes back as `{ ok: false, error }`, with the
 * frame size checked before any parsing. The frequent messages are checked
 * by hand first (fast-validate.ts) and returned as parsed; zod checks
 * whatever that does not accept, and words the error.
 */
export function decode(data: RawFrame, limits?: Partial<DecodeLimits>): DecodeResult {
  return decodeFrame(data, limits, true);
}

/**
 * `decode` with zod alone, for benchmarks and tests that compare the two
 * paths: the same results, at the old cost.
 */
export function decodeWithZodOnly(data: RawFrame, limits?: Partial<DecodeLimits>): DecodeResult {
  return decodeFrame(data, limits, false);
}

function decodeFrame(data: RawFrame, limits: Partial<DecodeLimits> | undefined, fast: boolean): DecodeResult {
  const lim: DecodeLimits = {
    maxFrameBytes: limits?.maxFrameBytes ?? DEFAULT_LIMITS.maxFrameBytes,
    maxBatchEntries: limits?.maxBatchEntries ?? DEFAULT_LIMITS.maxBatchEntries,
  };
  try {
    const text = frameText(data, lim.maxFrameBytes);
    if (typeof text !== 'string') return { ok: false, error: text };

    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      return fail('bad_json', `frame is not JSON: ${errorText(e)}`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return fail('bad_shape', 'frame is not a JSON object');
    }
    const obj = value as Record<string, unknown>;
    const type = typeof obj.type === 'string' && KNOWN_TYPES.has(obj.type) ? (obj.type as MessageType) : undefined;
    if (type === undefined) {
      return fail('bad_shape', obj.type === undefined ? 'message has no type' : `unknown message type ${preview(obj.type)}`);
    }
    const seq = typeof obj.seq === 'number' && Number.isSafeInteger(obj.seq) && obj.seq > 0 ? obj.seq : undefined;
    const context = { type, ...(seq === undefined ? {} : { seq }) };

    if ((type === 'hello' || type === 'welcome') && typeof obj.protocol === 'string') {
      const version = negotiateVersion(obj.protocol);
      if (!version.ok) return fail('unsupported_version', version.error.message, context);
    }

    const items = itemCount(obj);
    if (items > lim.maxBatchEntries) {
      return fail('too_large', `${type} carries ${items} items, at most ${lim.maxBatchEntries} allowed`, context);
    }

    if (fast) {
      const message = fastValidate(type, obj);
      if (message !== undefined) return { ok: true, message };
    }
    const schema: z.ZodType<Message> = messageSchemas[type];
    const parsed = schema.safeParse(obj);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue === undefined ? '$' : formatPath(issue.path);
      return fail('bad_shape', `${type} at ${where}: ${issue?.message ?? 'invalid'}`, context);
    }
    return { ok: true, message: parsed.data };
  } catch (e) {
    // Validation has no known way to throw; if it ever does, the frame is still just rejected.
    return fail('bad_shape', `could not validate frame: ${errorText(e)}`);
  }
}

/** The frame as text, or the reason it is refused (too large, not UTF-8). */
function frameText(data: RawFrame, maxBytes: number): string | DecodeError {
  if (typeof data === 'string') {
    return utf8ByteLength(data, maxBytes) > maxBytes ? tooLarge(maxBytes) : data;
  }
  let bytes: Uint8Array;
  if (data instanceof Uint8Array) {
    bytes = data;
  } else if (data instanceof ArrayBuffer) {
    bytes = new Uint8Array(data);
  } else if (Array.isArray(data)) {
    const parts: readonly Uint8Array[] = data;
    const total = parts.reduce((sum, p) => sum + p.byteLength, 0);
    if (total > maxBytes) return tooLarge(maxBytes);
    bytes = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      bytes.set(p, at);
      at += p.byteLength;
    }
  } else {
    return { code: 'bad_json', message: 'frame is neither text nor bytes' };
  }
  if (bytes.byteLength > maxBytes) return tooLarge(maxBytes);
  try {
    return utf8.decode(bytes);
  } catch {
    return { code: 'bad_json', message: 'frame is not valid UTF-8' };
  }
}

/**
 * UTF-8 size of a string, or some number above `cap` as soon as it is known
 * to exceed it. A UTF-16 unit takes 1-3 bytes, so most strings need no counting.
 */
function utf8ByteLength(s: string, cap: number): number {
  if (s.length > cap) return s.length;
  if (s.length * 3 <= cap) return s.length;
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
    if (bytes > cap) return bytes;
  }
  return bytes;
}

/** Items a message carries, counted before validation so a huge batch is refused cheaply. */
function itemCount(obj: Record<string, unknown>): number {
  let n = arrayLength(obj.events);
  const delta = obj.delta;
  if (typeof delta === 'object' && delta !== null) {
    const d = delta as Record<string, unknown>;
    n += arrayLength(d.entries) + arrayLength(d.transfers) + arrayLength(d.reservations);
  }
  const policy = obj.policy;
  if (typeof policy === 'object' && policy !== null) {
    const skus = (policy as Record<string, unknown>).skus;
    if (typeof skus === 'object' && skus !== null) n += Object.keys(skus).length;
  }
  return n;
}

function arrayLength(v: unknown): number {
  return Array.isArray(v) ? v.length : 0;
}

function tooLarge(max: number): DecodeError {
  return { code: 'too_large', message: `frame exceeds the limit of ${max} bytes` };
}

function fail(code: DecodeErrorCode, message: string, context?: { type: MessageType; seq?: number }): DecodeResult {
  return { ok: false, error: { code, message: clip(message), ...context } };
}

/** `['delta', 'entries', 3, 'p']` → `delta.entries[3].p`. */
function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '$';
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$]*$/.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${preview(typeof key === 'symbol' ? key.toString() : key)}]`;
  }
  return out;
}

function preview(value: unknown): string {
  if (value === undefined) return '(missing)';
  const text = typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function clip(text: string): string {
  return text.length > MAX_ERROR_TEXT ? `${text.slice(0, MAX_ERROR_TEXT)}…` : text;
}
