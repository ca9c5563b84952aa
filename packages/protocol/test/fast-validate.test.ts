import fc from 'fast-check';
import { MAX_TOTAL } from '@scoville/crdt-inventory';
import { describe, expect, it } from 'vitest';
import { fastValidate } from '../src/fast-validate.js';
import { decode, decodeWithZodOnly, encode, MAX_BATCH_ENTRIES, messageSchemas, type Message, type MessageType } from '../src/index.js';
import { messageArb, messageArbs } from './arbitraries.js';

const numRuns = Number(process.env.FC_RUNS ?? 1000);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The message types with a hand-written validator. */
const FAST_TYPES = ['batch', 'events', 'ack', 'digest', 'ping', 'pong'] as const satisfies readonly MessageType[];

/**
 * The contract: the fast path accepts only what zod accepts, with a
 * deep-equal result (-0 and 0 told apart, no undefined keys), and `decode`
 * answers exactly as zod alone did, error texts included.
 */
function agree(frame: string): boolean {
  const fast = decode(frame);
  const slow = decodeWithZodOnly(frame);
  expect(fast).toStrictEqual(slow);
  let value: unknown;
  try {
    value = JSON.parse(frame);
  } catch {
    return fast.ok;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fast.ok;
  const obj = value as Record<string, unknown>;
  const type = obj.type;
  if (!(FAST_TYPES as readonly unknown[]).includes(type)) return fast.ok;
  const accepted = fastValidate(type as MessageType, obj);
  if (accepted === undefined) return fast.ok;
  expect(accepted).toBe(obj);
  const parsed = messageSchemas[type as MessageType].safeParse(obj);
  expect(parsed.success).toBe(true);
  if (parsed.success) expect(accepted).toStrictEqual(parsed.data);
  return fast.ok;
}

const asJson = (m: Message): Json => JSON.parse(encode(m)) as Json;

/** Every object and array of a JSON tree, the root first. */
function containers(v: Json): (Json[] | { [key: string]: Json })[] {
  if (Array.isArray(v)) return [v, ...v.flatMap(containers)];
  if (typeof v === 'object' && v !== null) return [v, ...Object.values(v).flatMap(containers)];
  return [];
}

/** Near misses of every rule in schemas.ts: types, ranges, ids, text, enums. */
const NEAR_MISSES: Json[] = [
  ...[-1, 0, 0.5, 1, -MAX_TOTAL - 1, -MAX_TOTAL, MAX_TOTAL, MAX_TOTAL + 1, 2 ** 53 - 1, 2 ** 53, -(2 ** 53), 1e21, 1e308],
  ...['', ' ', 'a', 'a'.repeat(128), 'a'.repeat(129), 'x'.repeat(256), 'x'.repeat(257), '-lead', '.lead', 'a|b', 'a b', 'é'],
  ...['\u0000', 'tab\there', '\u007f', '\u2028', '0123456789abcdef', '0123456789ABCDEF', '1.0'],
  ...['sale', 'adjustment', 'hold', 'rights_transfer', 'cycle_count', 'active', 'batch', 'events'],
  ...[null, true, false, [], {}, [{}]],
];
const badValue: fc.Arbitrary<Json> = fc.oneof(fc.constantFrom(...NEAR_MISSES), fc.jsonValue({ maxDepth: 2 }).map((v) => v as Json));

/** Keys to add: unknown ones, prototype-polluting ones, and known names in the wrong object. */
const extraKey = fc.constantFrom(
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
  'extra',
  '',
  'type',
  'seq',
  'store',
  'sku',
  'replica',
  'id',
  'to',
  'from',
  'qty',
  'count',
  'forced',
  'reason',
  'status',
  'entries',
  'events',
  't',
);

/** Sets an own data property, `__proto__` included (an assignment would replace the prototype). */
function setOwn(node: { [key: string]: Json }, key: string, value: Json): void {
  Object.defineProperty(node, key, { value, enumerable: true, writable: true, configurable: true });
}

type Mutation = (root: Json) => void;

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  // Replace a value (an object's field or an array's item).
  fc.tuple(fc.nat(), fc.nat(), badValue).map(([at, which, bad]): Mutation => (root) => {
    const node = pick(containers(root), at);
    if (Array.isArray(node)) {
      if (node.length > 0) node[which % node.length] = bad;
    } else {
      const keys = Object.keys(node);
      if (keys.length > 0) setOwn(node, keys[which % keys.length]!, bad);
    }
  }),
  // Take a sibling's value (a number where a string goes, a replica where the id goes, ...).
  fc.tuple(fc.nat(), fc.nat(), fc.nat()).map(([at, a, b]): Mutation => (root) => {
    const node = pick(containers(root), at);
    if (Array.isArray(node)) return;
    const keys = Object.keys(node);
    if (keys.length > 0) setOwn(node, keys[a % keys.length]!, node[keys[b % keys.length]!]!);
  }),
  // Drop a key.
  fc.tuple(fc.nat(), fc.nat()).map(([at, which]): Mutation => (root) => {
    const node = pick(containers(root), at);
    if (Array.isArray(node)) return;
    const keys = Object.keys(node);
    if (keys.length > 0) delete node[keys[which % keys.length]!];
  }),
  // Add a key.
  fc.tuple(fc.nat(), extraKey, badValue).map(([at, key, value]): Mutation => (root) => {
    const node = pick(containers(root), at);
    if (!Array.isArray(node)) setOwn(node, key, value);
  }),
  // Grow an array: duplicates, or a long one (at the item limit: see the test of huge batches).
  fc.tuple(fc.nat(), fc.constantFrom(2, 3, 300)).map(([at, times]): Mutation => (root) => {
    const node = pick(containers(root), at);
    if (Array.isArray(node) && node.length > 0) {
      const items = [...node];
      for (let i = 1; i < times; i++) node.push(...items);
    }
  }),
  // Nudge a number by one, or flip its sign.
  fc.tuple(fc.nat(), fc.nat(), fc.constantFrom<number | 'neg'>(-1, 1, 'neg')).map(([at, which, step]): Mutation => (root) => {
    const node = pick(containers(root), at);
    if (Array.isArray(node)) return;
    const nums = Object.keys(node).filter((k) => typeof node[k] === 'number');
    if (nums.length === 0) return;
    const k = nums[which % nums.length]!;
    const n = node[k] as number;
    node[k] = step === 'neg' ? -n : n + step;
  }),
);

function pick<T>(items: readonly T[], index: number): T {
  const item = items[index % items.length];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

/** Valid messages, mostly of the types with a fast validator. */
const fastTypeArb: fc.Arbitrary<Message> = fc.oneof(
  { arbitrary: messageArbs.batch, weight: 4 },
  { arbitrary: messageArbs.events, weight: 2 },
  messageArbs.ack,
  messageArbs.digest,
  messageArbs.ping,
  messageArbs.pong,
  messageArb,
);

/** One valid message of each fast type, every optional field and every kind of delta item used somewhere. */
const event = (seq: number, rest: object) => ({ id: `agent-1:${seq}`, store: 's-12', replica: 'agent-1', seq, sku: 'HAB-5OZ', at: 1_760_000_000_000, ...rest });
const events = [
  event(7, {
    type: 'sale',
    qty: 2,
    idempotencyKey: 'pos-3:r-8812',
    terminal: 'pos-3',
    reason: null,
    forced: false,
    count: null,
    reservationId: null,
    expiresAt: null,
    to: null,
  }),
  event(8, { type: 'adjustment', qty: -3, reason: 'damaged' }),
  event(9, { type: 'adjustment', qty: 0, reason: 'cycle_count', count: 5 }),
  event(10, { type: 'hold', qty: 1, reservationId: 'cart-9', expiresAt: 1_760_000_900_000 }),
  event(11, { type: 'rights_transfer', qty: 4, to: 'hub-1', forced: true }),
];
const samples: Json[] = [
  {
    type: 'batch',
    seq: 3,
    delta: {
      entries: [
        { store: 's-12', sku: 'HAB-5OZ', replica: 'agent-1', p: 10, n: 2 },
        { store: 's-12', sku: 'HAB-5OZ', replica: 'hub-1', p: 24, n: 0 },
      ],
      transfers: [{ store: 's-12', sku: 'HAB-5OZ', from: 'hub-1', to: 'agent-1', amount: 10 }],
      reservations: [{ id: 'cart-9', store: 's-12', sku: 'HAB-5OZ', owner: 'agent-1', qty: 1, expiresAt: 1_760_000_900_000, status: 'active' }],
    },
    events,
  },
  { type: 'events', seq: 4, events },
  { type: 'ack', stream: 'events', upTo: 4 },
  { type: 'digest', store: 's-12', digest: '0123456789abcdef', entries: 3 },
  { type: 'ping', t: 1.5 },
  { type: 'pong', t: 0 },
];

/** Every object of a JSON tree. */
function objects(v: Json): { [key: string]: Json }[] {
  return containers(v).filter((c): c is { [key: string]: Json } => !Array.isArray(c));
}

describe('fast validators agree with zod', () => {
  it('on every field of each sample set to every near miss, a sibling, or dropped; and every key added anywhere', () => {
    const bad = [...NEAR_MISSES, ...fc.sample(fc.jsonValue({ maxDepth: 2 }), { numRuns: 10, seed: 7 }).map((v) => v as Json)];
    let accepted = 0;
    let frames = 0;
    const check = (json: Json) => {
      frames++;
      if (agree(JSON.stringify(json))) accepted++;
    };
    const copy = (j: Json): Json => JSON.parse(JSON.stringify(j)) as Json;
    for (const sample of samples) {
      check(sample);
      const nodes = objects(sample);
      for (let at = 0; at < nodes.length; at++) {
        const node = nodes[at]!;
        const keys = Object.keys(node);
        for (const key of keys) {
          for (const value of [...bad, ...keys.map((k) => node[k]!)]) {
            const json = copy(sample);
            setOwn(objects(json)[at]!, key, value);
            check(json);
          }
          const json = copy(sample);
          delete objects(json)[at]![key];
          check(json);
        }
        for (const key of ['__proto__', 'constructor', 'toString', 'extra', ...keys.map((k) => `${k}_`)]) {
          const json = copy(sample);
          setOwn(objects(json)[at]!, key, 1);
          check(json);
        }
      }
    }
    // Most near misses are refused, but not all (a sibling's equal value, an optional field dropped).
    expect(accepted).toBeGreaterThan(50);
    expect(accepted).toBeLessThan(frames / 2);
  });

  it('accept every valid message of their types, returning the parsed JSON itself', () => {
    fc.assert(
      fc.property(fastTypeArb, (message) => {
        const frame = encode(message);
        agree(frame);
        const obj = JSON.parse(frame) as Record<string, unknown>;
        if ((FAST_TYPES as readonly string[]).includes(message.type)) expect(fastValidate(message.type, obj)).toBe(obj);
        else expect(fastValidate(message.type, obj)).toBeUndefined();
      }),
      { numRuns },
    );
  });

  it('on valid messages with one to three mutations', () => {
    fc.assert(
      fc.property(fastTypeArb, fc.array(mutation, { minLength: 1, maxLength: 3 }), (message, mutations) => {
        const json = asJson(message);
        for (const m of mutations) m(json);
        agree(JSON.stringify(json));
      }),
      { numRuns },
    );
  });

  it('on numbers JSON.stringify never writes: -0 (zod turns it into 0 where it transforms, keeps it in an event qty), 1e309, 1.0', () => {
    const event = (qty: string, at: string) =>
      `{"id":"a:1","store":"s","replica":"a","seq":1,"type":"adjustment","sku":"k","qty":${qty},"at":${at},"reason":"cycle_count","count":-0}`;
    const entry = (p: string) => `{"store":"s","sku":"k","replica":"a","p":${p},"n":0}`;
    const frames = [
      `{"type":"batch","seq":1,"delta":{"entries":[${entry('-0')}],"transfers":[],"reservations":[]},"events":[]}`,
      `{"type":"batch","seq":1,"delta":{"entries":[${entry('0')}],"transfers":[],"reservations":[]},"events":[${event('-0', '5')}]}`,
      `{"type":"events","seq":1,"events":[${event('-0', '-0')}]}`,
      `{"type":"events","seq":1,"events":[${event('0', '0')}]}`,
      '{"type":"ack","stream":"batch","upTo":-0}',
      '{"type":"ping","t":-0}',
      '{"type":"pong","t":-0.0}',
      '{"type":"digest","store":"s","digest":"0123456789abcdef","entries":-0}',
      '{"type":"ping","t":1e309}',
      '{"type":"pong","t":-1e309}',
      '{"type":"ack","stream":"batch","upTo":1e309}',
      '{"type":"ack","stream":"batch","upTo":1.0}',
      '{"type":"ack","stream":"batch","upTo":1E2}',
      `{"type":"batch","seq":1e309,"delta":{"entries":[${entry('1e309')}],"transfers":[],"reservations":[]},"events":[]}`,
      `{"type":"events","seq":1.0,"events":[${event('-1e309', '1e309')}]}`,
    ];
    for (const frame of frames) agree(frame);
    const kept = decode(`{"type":"events","seq":1,"events":[${event('-0', '5').replace('"count":-0', '"count":1')}]}`);
    expect(kept.ok && Object.is(kept.message.type === 'events' && kept.message.events[0]?.qty, -0)).toBe(true);
  });

  it('on frames that name an own __proto__, constructor or toString key', () => {
    const e = '"id":"a:1","store":"s","replica":"a","seq":1,"type":"sale","sku":"k","qty":1,"at":5';
    for (const key of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      for (const value of ['{}', 'null', '1', '{"terminal":"x"}', '[]']) {
        agree(`{"type":"events","seq":1,"events":[{${e},"${key}":${value}}]}`);
        agree(`{"type":"batch","seq":1,"delta":{"entries":[],"transfers":[],"reservations":[],"${key}":${value}},"events":[]}`);
        agree(`{"type":"batch","seq":1,"delta":{"entries":[],"transfers":[],"reservations":[]},"events":[],"${key}":${value}}`);
        agree(`{"type":"ping","t":1,"${key}":${value}}`);
      }
    }
  });

  it('while Object.prototype is polluted with a field name', () => {
    const e = '"id":"a:1","store":"s","replica":"a","seq":1,"type":"sale","sku":"k","qty":1,"at":5';
    const frames = [`{"type":"events","seq":1,"events":[{${e},"extra":1}]}`, `{"type":"events","seq":1,"events":[{${e}}]}`];
    for (const enumerable of [false, true]) {
      Object.defineProperty(Object.prototype, 'terminal', { value: 'x', enumerable, configurable: true, writable: true });
      try {
        for (const frame of frames) agree(frame);
      } finally {
        delete (Object.prototype as { terminal?: unknown }).terminal;
      }
    }
  });

  it('on huge batches, at the item limit and over it', () => {
    const e = (seq: number) => `{"id":"a:${seq}","store":"s","replica":"a","seq":${seq},"type":"sale","sku":"k","qty":1,"at":5}`;
    const entry = '{"store":"s","sku":"k","replica":"a","p":2,"n":1}';
    const batch = (entries: number, events: number, last = '') =>
      `{"type":"batch","seq":1,"delta":{"entries":[${Array(entries).fill(entry).join(',')}],"transfers":[],"reservations":[]},` +
      `"events":[${Array.from({ length: events }, (_, i) => e(i + 1)).join(',')}${last}]}`;
    expect(agree(batch(MAX_BATCH_ENTRIES - 20_000, 20_000))).toBe(true);
    expect(agree(batch(MAX_BATCH_ENTRIES - 20_000, 20_000 - 1, `,${e(0)}`))).toBe(false);
    expect(agree(batch(MAX_BATCH_ENTRIES - 20_000, 20_001))).toBe(false);
  });

  it('on event ids near `${replica}:${seq}`', () => {
    const ids = ['a:1', 'a:01', 'a:1 ', 'a:+1', 'a:1.0', 'a:1e0', 'a::1', 'a:', 'b:1', 'ab:1', 'a:10', `a:${2 ** 53}`, 'a:9007199254740991', 'a:9007199254740993'];
    const seqs = ['1', '10', '9007199254740991', '9007199254740992'];
    for (const id of ids) {
      for (const seq of seqs) {
        agree(`{"type":"events","seq":1,"events":[{"id":"${id}","store":"s","replica":"a","seq":${seq},"type":"sale","sku":"k","qty":1,"at":5}]}`);
      }
    }
    // 128 characters is the longest valid id: the replica fits, its event id may not.
    const replica = 'r'.repeat(126);
    for (const seq of [1, 9, 10]) {
      agree(`{"type":"events","seq":1,"events":[{"id":"${replica}:${seq}","store":"s","replica":"${replica}","seq":${seq},"type":"sale","sku":"k","qty":1,"at":5}]}`);
    }
  });
});
