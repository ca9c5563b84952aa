import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { isValidId } from '@scoville/crdt-inventory';
import { describe, expect, it } from 'vitest';
import { MESSAGE_TYPES, decode, encode, messageSchema, type DecodeResult, type Message } from '../src/index.js';
import { eventArb, messageArb, messageArbs } from './arbitraries.js';

const numRuns = Number(process.env.FC_RUNS ?? 1000);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

// Independent spot checks of an accepted message (not the schemas themselves).
const TOTAL_FIELDS = new Set(['p', 'n', 'amount', 'upTo', 'ackedHubSeq', 'lastEventSeq', 'ackedUpTo', 'hubSeq', 'granted', 'count', 'at', 'expiresAt']);
const ID_FIELDS = new Set(['store', 'sku', 'replica', 'from', 'to', 'owner', 'hubReplica', 'requestId', 'reservationId', 'id']);
const OPTIONAL_FIELDS = new Set(['idempotencyKey', 'terminal', 'reason', 'forced', 'count', 'reservationId', 'expiresAt', 'to', 'stream']);

function checkValues(value: unknown, key = ''): void {
  if (Array.isArray(value)) {
    for (const item of value) checkValues(item);
    return;
  }
  if (typeof value === 'number') {
    expect(Number.isFinite(value), key).toBe(true);
    if (TOTAL_FIELDS.has(key)) expect(Number.isSafeInteger(value) && value >= 0, `${key}=${value}`).toBe(true);
    if (key === 'seq') expect(Number.isSafeInteger(value) && value !== 0, `${key}=${value}`).toBe(true);
    if (key === 'qty') expect(Number.isSafeInteger(value), `${key}=${value}`).toBe(true);
    return;
  }
  if (typeof value === 'object' && value !== null && 'qty' in value) {
    const v = value as { type?: unknown; qty: unknown; reason?: unknown; count?: unknown };
    if (v.type !== 'adjustment') expect(v.qty, 'only adjustments carry a negative qty').toBeGreaterThan(0);
    else if (v.qty === 0) expect([v.reason, typeof v.count], 'an adjustment of 0 is a matched cycle count').toEqual(['cycle_count', 'number']);
  }
  if (typeof value === 'string' && ID_FIELDS.has(key)) {
    expect(isValidId(value), `${key}=${value}`).toBe(true);
    return;
  }
  if (typeof value === 'object' && value !== null) {
    if ('from' in value && 'to' in value) expect(value.from, 'a transfer between two replicas').not.toBe(value.to);
    for (const [k, v] of Object.entries(value)) checkValues(v, k);
  }
}

/** Rules that tie fields together: event ids, transfer ends, the store of a repair or grant. */
function checkRelations(message: Message): void {
  const events = message.type === 'batch' || message.type === 'events' ? message.events : [];
  for (const e of events) {
    expect(e.id).toBe(`${e.replica}:${e.seq}`);
    if (e.type === 'rights_transfer') expect(e.to != null && e.to !== e.replica).toBe(true);
    if (e.type === 'hold' || e.type === 'hold_commit' || e.type === 'hold_release' || e.type === 'hold_expire') {
      expect(e.reservationId != null && e.expiresAt != null).toBe(true);
    }
  }
  if (message.type === 'repair' || message.type === 'rights_grant') {
    const { entries, transfers, reservations } = message.delta;
    for (const item of [...entries, ...transfers, ...reservations]) {
      expect(item.store).toBe(message.store);
      if (message.type === 'rights_grant') expect(item.sku).toBe(message.sku);
    }
  }
}

/**
 * What every accepted frame must satisfy: it is what was sent (nothing
 * stripped or coerced), it passes the schema and the spot checks, and it
 * survives encode → decode unchanged.
 */
function checkAccepted(message: Message, sent: unknown): void {
  expect(MESSAGE_TYPES).toContain(message.type);
  expect(message).toEqual(sent);
  expect(messageSchema.safeParse(message).success).toBe(true);
  checkValues(message);
  checkRelations(message);
  const frame = encode(message);
  const again = decode(frame);
  expect(again).toEqual({ ok: true, message });
  if (again.ok) expect(encode(again.message)).toBe(frame);
}

function checkDecoded(result: DecodeResult, sent: () => unknown): void {
  if (result.ok) {
    checkAccepted(result.message, sent());
  } else {
    expect(['too_large', 'bad_json', 'bad_shape', 'unsupported_version']).toContain(result.error.code);
    expect(typeof result.error.message).toBe('string');
  }
}

/** Every object node of a JSON tree with its path, the root first. */
function objectNodes(value: Json, path: (string | number)[] = []): { node: { [key: string]: Json }; path: (string | number)[] }[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => objectNodes(v, [...path, i]));
  if (typeof value !== 'object' || value === null) return [];
  return [{ node: value, path }, ...Object.entries(value).flatMap(([k, v]) => objectNodes(v, [...path, k]))];
}

function pick<T>(items: readonly T[], index: number): T {
  const item = items[index % items.length];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

const asJson = (m: Message): Json => JSON.parse(encode(m)) as Json;

/** Every field of a JSON tree: an object node and one of its keys. */
function fields(value: Json): { node: { [key: string]: Json }; key: string }[] {
  return objectNodes(value).flatMap(({ node }) => Object.keys(node).map((key) => ({ node, key })));
}

type Replace = (old: Json, siblings: readonly Json[]) => Json;

/** A new value for a field: near misses around the valid range, a sibling's value, or any JSON at all. */
const replacement: fc.Arbitrary<Replace> = fc.oneof(
  fc.constantFrom<Replace>(
    (old) => (typeof old === 'number' ? -old : old),
    (old) => (typeof old === 'number' ? 0 : old),
  ),
  fc.constantFrom<Replace>(
    (old) => (typeof old === 'number' ? -old : old),
    (old) => (typeof old === 'number' ? old + 0.5 : old),
    (old) => (typeof old === 'number' ? String(old) : old),
    (old) => (typeof old === 'string' ? `${old} ` : old),
    (old) => (typeof old === 'string' ? old.toUpperCase() : old),
    (old) => (Array.isArray(old) ? [...old, ...old] : old),
    (old) => (Array.isArray(old) ? [{}] : old),
  ),
  fc.nat().map((i): Replace => (_old, siblings) => pick(siblings, i)),
  fc
    .oneof(
      fc.constantFrom<Json>(-1, 0, 1, -0.5, 2 ** 53, -(2 ** 53), 1e21, '', ' ', 'a|b', 'é', null, true, false, [], {}, '1.0', '2.0', 'active', 'adjustment'),
      fc.jsonValue({ maxDepth: 2 }).map((v) => v as Json),
    )
    .map((v): Replace => () => v),
);

/** Valid messages, weighted towards the ones that carry deltas and events. */
const richMessageArb = fc.oneof(messageArb, messageArbs.batch, messageArbs.events, messageArbs.repair, messageArbs.rights_grant);

// A decode that throws fails the property, so every property below also checks "never throws".
describe('decode never throws and never accepts junk', () => {
  it('arbitrary strings', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' })), (s) => {
        checkDecoded(decode(s), () => JSON.parse(s));
      }),
      { numRuns },
    );
  });

  it('arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), fc.nat({ max: 512 }), (bytes, cut) => {
        const sent = () => JSON.parse(Buffer.from(bytes).toString('utf8'));
        checkDecoded(decode(bytes), sent);
        checkDecoded(decode(bytes.buffer), sent);
        checkDecoded(decode([Buffer.from(bytes.subarray(0, cut)), Buffer.from(bytes.subarray(cut))]), sent);
      }),
      { numRuns },
    );
  });

  it('arbitrary JSON values', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const frame = JSON.stringify(value);
        checkDecoded(decode(frame), () => JSON.parse(frame));
      }),
      { numRuns },
    );
  });

  it('arbitrary objects with a valid type', () => {
    const fieldNames = ['protocol', 'store', 'replica', 'ackedHubSeq', 'lastEventSeq', 'hubReplica', 'ackedUpTo', 'hubSeq', 'seq', 'delta', 'events', 'stream', 'upTo', 'digest', 'entries', 'final', 'requestId', 'sku', 'qty', 'granted', 'code', 'message', 'fatal', 't', 'x'];
    const fieldValue = fc.oneof(
      fc.jsonValue({ maxDepth: 2 }),
      fc.integer(),
      fc.constantFrom('1.0', '2.0', 'store-12', 'batch', 'events', '0123456789abcdef', true, false, 0, -1, 1.5, null),
      fc.constant({ entries: [], transfers: [], reservations: [] }),
      fc.constant([]),
    );
    fc.assert(
      fc.property(fc.constantFrom(...MESSAGE_TYPES), fc.dictionary(fc.constantFrom(...fieldNames), fieldValue), (type, fields) => {
        const frame = JSON.stringify({ ...fields, type });
        checkDecoded(decode(frame), () => JSON.parse(frame));
      }),
      { numRuns },
    );
  });

  it('valid messages with one value replaced anywhere', () => {
    fc.assert(
      fc.property(richMessageArb, fc.nat(), replacement, (message, fieldIndex, replace) => {
        const json = asJson(message);
        const { node, key } = pick(fields(json), fieldIndex);
        node[key] = replace(node[key] ?? null, Object.values(node));
        const frame = JSON.stringify(json);
        checkDecoded(decode(frame), () => JSON.parse(frame));
      }),
      { numRuns },
    );
  });

  it('valid events with one field replaced', () => {
    fc.assert(
      fc.property(eventArb, fc.nat(), replacement, (event, fieldIndex, replace) => {
        const json = JSON.parse(JSON.stringify(event)) as { [key: string]: Json };
        const key = pick(Object.keys(json), fieldIndex);
        json[key] = replace(json[key] ?? null, Object.values(json));
        const frame = JSON.stringify({ type: 'events', seq: 1, events: [json] });
        checkDecoded(decode(frame), () => JSON.parse(frame));
      }),
      { numRuns },
    );
  });

  it('valid messages with an unknown key anywhere are refused', () => {
    fc.assert(
      fc.property(richMessageArb, fc.nat(), fc.jsonValue({ maxDepth: 1 }), (message, nodeIndex, value) => {
        const json = asJson(message);
        // A policy's `skus` is a map (any SKU may be a key): every other object is strict.
        const { node, path } = pick(objectNodes(json).filter((n) => n.path.join('.') !== 'policy.skus'), nodeIndex);
        node.unexpected = value as Json;
        const result = decode(JSON.stringify(json));
        expect(result.ok, path.join('.')).toBe(false);
        if (!result.ok) expect(result.error.code).toBe('bad_shape');
      }),
      { numRuns },
    );
  });

  it('valid messages missing a required key anywhere are refused', () => {
    fc.assert(
      fc.property(richMessageArb, fc.nat(), (message, fieldIndex) => {
        const json = asJson(message);
        const { node, key } = pick(fields(json), fieldIndex);
        // A policy's `skus` is a map: any one SKU override may be left out.
        const skuOverride = message.type === 'allocation' && node === (json as { policy: { skus: Json } }).policy.skus;
        delete node[key];
        const optional = OPTIONAL_FIELDS.has(key) || skuOverride || (node === json && message.type === 'error' && key === 'seq');
        const frame = JSON.stringify(json);
        const result = decode(frame);
        if (optional) checkDecoded(result, () => JSON.parse(frame));
        else {
          expect(result.ok, key).toBe(false);
          if (!result.ok) expect(result.error.code).toBe('bad_shape');
        }
      }),
      { numRuns },
    );
  });
});

describe('valid messages always decode', () => {
  it('as text, bytes and fragments', () => {
    fc.assert(
      fc.property(messageArb, fc.nat(), (message, cut) => {
        const frame = encode(message);
        expect(decode(frame)).toEqual({ ok: true, message });
        const bytes = Buffer.from(frame, 'utf8');
        const at = cut % (bytes.length + 1);
        expect(decode([bytes.subarray(0, at), bytes.subarray(at)])).toEqual({ ok: true, message });
      }),
      { numRuns },
    );
  });
});
