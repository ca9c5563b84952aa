import { ADJUSTMENT_REASONS, EVENT_TYPES, isValidId, MAX_TOTAL } from '@scoville/crdt-inventory';
import type { Message, MessageType } from './messages.js';
import { MAX_EVENT_TEXT, RESERVATION_STATUSES } from './schemas.js';

/*
 * Hand-written validators for the frequent messages (batch, events, ack,
 * digest, ping, pong), run by `decode` before zod. Each answers yes only
 * when the zod schema of schemas.ts would accept the value and return one
 * deep-equal to it, so the parsed JSON itself is the message: no copy per
 * event (zod builds a fresh object for every item). Anything else (an
 * invalid frame, a -0 that zod would turn into 0, a message type without
 * a fast validator) answers no, and zod decides and words the error, so
 * what is accepted and every error message stay as they were.
 *
 * Input: what JSON.parse returns (no undefined values, no getters). A key
 * is present when its value is not undefined; a strict object has no
 * other keys when its `for...in` count equals the number of its known
 * keys present. packages/protocol/test/fast-validate.test.ts checks the
 * agreement with zod on generated valid and broken messages.
 */

type Obj = Record<string, unknown>;

const EVENT_TYPE_SET: ReadonlySet<unknown> = new Set(EVENT_TYPES);
const REASON_SET: ReadonlySet<unknown> = new Set(ADJUSTMENT_REASONS);
const STATUS_SET: ReadonlySet<unknown> = new Set(RESERVATION_STATUSES);
const HOLD_TYPES: ReadonlySet<unknown> = new Set(['hold', 'hold_commit', 'hold_release', 'hold_expire']);
// eslint-disable-next-line no-control-regex
const CONTROL_CHAR = /[\u0000-\u001f\u007f]/;
const DIGEST = /^[0-9a-f]{16}$/;
/** crdt-inventory ids.ts ID_PATTERN: 1-128 characters. */
const MAX_ID_LENGTH = 128;

/** Every key a fast validator reads: none may be inherited (see `prototypeClean`). */
const FIELD_NAMES = [
  'type', 'seq', 'delta', 'events', 'entries', 'transfers', 'reservations', 'store', 'sku', 'replica', 'p', 'n', 'from', 'to',
  'amount', 'id', 'owner', 'qty', 'expiresAt', 'status', 'at', 'idempotencyKey', 'terminal', 'reason', 'forced', 'count',
  'reservationId', 'stream', 'upTo', 'digest', 't',
];

/**
 * Validates `obj`, a parsed frame whose `type` is `type`. The message
 * (`obj` itself, unchanged) when zod would accept it with an equal result;
 * undefined when zod must decide.
 */
export function fastValidate(type: MessageType, obj: Obj): Message | undefined {
  let ok: boolean;
  switch (type) {
    case 'batch':
      ok = keyCount(obj) === 4 && isPositive(obj.seq) && isDelta(obj.delta) && isEventList(obj.events);
      break;
    case 'events':
      ok = keyCount(obj) === 3 && isPositive(obj.seq) && isEventList(obj.events);
      break;
    case 'ack':
      ok = keyCount(obj) === 3 && (obj.stream === 'batch' || obj.stream === 'events') && isCount(obj.upTo);
      break;
    case 'digest':
      ok = keyCount(obj) === 4 && isId(obj.store) && typeof obj.digest === 'string' && DIGEST.test(obj.digest) && isCount(obj.entries);
      break;
    case 'ping':
    case 'pong':
      ok = keyCount(obj) === 2 && isFiniteUnsigned(obj.t);
      break;
    default:
      return undefined;
  }
  // A key inherited from a polluted Object.prototype would read as present here; zod would see it differently.
  return ok && obj.type === type && prototypeClean() ? (obj as unknown as Message) : undefined;
}

function prototypeClean(): boolean {
  for (const name of FIELD_NAMES) if (name in Object.prototype) return false;
  return true;
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Keys `for...in` yields (own and inherited enumerable), as zod's strict check walks them. */
function keyCount(o: Obj): number {
  let n = 0;
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  for (const _ in o) n++;
  return n;
}

function isId(v: unknown): boolean {
  return isValidId(v);
}

/**
 * `isId` remembering the last id it accepted: every event and entry of a
 * batch repeats its agent's store and replica, so each is matched once.
 */
class SameId {
  private last = 'a';
  test(v: unknown): boolean {
    if (v === this.last) return true;
    if (!isValidId(v)) return false;
    this.last = v;
    return true;
  }
}
const stores = new SameId();
const replicas = new SameId();

/** 0 written as -0: zod's `unsigned` transform returns 0, not the parsed value, so zod decides. */
function isNegativeZero(v: number): boolean {
  return v === 0 && 1 / v < 0;
}

/** schemas.ts `count` (and `epochMs`): a safe integer ≥ 0. */
function isCount(v: unknown): boolean {
  return Number.isSafeInteger(v) && (v as number) >= 0 && !isNegativeZero(v as number);
}

/** schemas.ts `total`: 0..MAX_TOTAL. */
function isTotal(v: unknown): boolean {
  return isCount(v) && (v as number) <= MAX_TOTAL;
}

/** schemas.ts `positive`: a safe integer > 0. */
function isPositive(v: unknown): boolean {
  return Number.isSafeInteger(v) && (v as number) > 0;
}

/** schemas.ts `quantity`: 1..MAX_TOTAL. */
function isQuantity(v: unknown): boolean {
  return isPositive(v) && (v as number) <= MAX_TOTAL;
}

/** schemas.ts `finite`: any finite number. */
function isFiniteUnsigned(v: unknown): boolean {
  return typeof v === 'number' && Number.isFinite(v) && !isNegativeZero(v);
}

/** An optional key of a `.nullish()` schema: 0 when absent, 1 when null or valid, NaN when invalid. */
function nullish(v: unknown, valid: (v: unknown) => boolean): number {
  return v === undefined ? 0 : v === null || valid(v) ? 1 : NaN;
}

function isReason(v: unknown): boolean {
  return REASON_SET.has(v);
}

/** schemas.ts `eventText`. */
function isEventText(v: unknown): boolean {
  return typeof v === 'string' && v.length <= MAX_EVENT_TEXT && !CONTROL_CHAR.test(v);
}

function isCounterEntry(v: unknown): boolean {
  return isObj(v) && stores.test(v.store) && isId(v.sku) && replicas.test(v.replica) && isTotal(v.p) && isTotal(v.n) && keyCount(v) === 5;
}

function isTransferEntry(v: unknown): boolean {
  return isObj(v) && isId(v.store) && isId(v.sku) && isId(v.from) && isId(v.to) && v.from !== v.to && isTotal(v.amount) && keyCount(v) === 5;
}

function isReservationRecord(v: unknown): boolean {
  const ids = isObj(v) && isId(v.id) && isId(v.store) && isId(v.sku) && isId(v.owner);
  return ids && isQuantity(v.qty) && isCount(v.expiresAt) && STATUS_SET.has(v.status) && keyCount(v) === 7;
}

function every(v: unknown, item: (x: unknown) => boolean): boolean {
  if (!Array.isArray(v)) return false;
  for (let i = 0; i < v.length; i++) if (!item(v[i])) return false;
  return true;
}

function isDelta(v: unknown): boolean {
  return (
    isObj(v) &&
    every(v.entries, isCounterEntry) &&
    every(v.transfers, isTransferEntry) &&
    every(v.reservations, isReservationRecord) &&
    keyCount(v) === 3
  );
}

function isEventList(v: unknown): boolean {
  return every(v, isEvent);
}

/** `id === \`${replica}:${seq}\`` for a string replica and a positive safe integer seq, without building the string. */
function isEventIdOf(id: string, replica: string, seq: number): boolean {
  const at = replica.length;
  const digits = id.length - at - 1;
  // A safe integer has at most 16 digits, the first not 0 (seq > 0).
  if (digits < 1 || digits > 16 || id.charCodeAt(at) !== 58 /* : */ || id.charCodeAt(at + 1) === 48 /* 0 */ || !id.startsWith(replica)) {
    return false;
  }
  let n = 0;
  for (let i = at + 1; i < id.length; i++) {
    const d = id.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    // Exact up to 15 digits; a 16-digit value that rounds is ≥ 2^53, so it still differs from a safe seq.
    n = n * 10 + d;
  }
  return n === seq;
}

/** schemas.ts `inventoryEventSchema`, its refinements included. */
function isEvent(v: unknown): boolean {
  if (!isObj(v)) return false;
  const { id, replica, seq, type, qty } = v;
  if (
    !(
      typeof id === 'string' &&
      stores.test(v.store) &&
      typeof replica === 'string' &&
      replicas.test(replica) &&
      isPositive(seq) &&
      EVENT_TYPE_SET.has(type) &&
      isId(v.sku) &&
      Number.isSafeInteger(qty) &&
      (qty as number) >= -MAX_TOTAL &&
      (qty as number) <= MAX_TOTAL &&
      isCount(v.at)
    )
  ) {
    return false;
  }
  // The eight required keys, then each optional one that is present; NaN (no count matches) when one is invalid.
  const { reason, forced, count, reservationId, expiresAt, to } = v;
  const keys =
    8 +
    nullish(v.idempotencyKey, isEventText) +
    nullish(v.terminal, isEventText) +
    nullish(reason, isReason) +
    (forced === undefined ? 0 : typeof forced === 'boolean' ? 1 : NaN) +
    nullish(count, isCount) +
    nullish(reservationId, isId) +
    nullish(expiresAt, isCount) +
    nullish(to, isId);
  if (keyCount(v) !== keys) return false;

  // The refinements of inventoryEventSchema. An id `${replica}:${seq}` of a valid replica is a valid id when short enough.
  if (id.length > MAX_ID_LENGTH || !isEventIdOf(id, replica, seq as number)) return false;
  if (type === 'adjustment') {
    if (qty === 0 && (reason !== 'cycle_count' || count == null)) return false;
  } else if ((qty as number) <= 0) {
    return false;
  }
  if (HOLD_TYPES.has(type) && (reservationId == null || expiresAt == null)) return false;
  if (type === 'rights_transfer' && (to == null || to === replica)) return false;
  return true;
}
