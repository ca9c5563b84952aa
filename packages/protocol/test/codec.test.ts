import { Buffer } from 'node:buffer';
import {
  InventoryState,
  commitReservation,
  createReservation,
  decrement,
  digestOf,
  emptyDelta,
  eventIdFor,
  increment,
  replicaId,
  reservationId,
  sku,
  storeId,
  transferRights,
  unwrap,
  type Delta,
  type InventoryEvent,
} from '@scoville/crdt-inventory';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_LIMITS,
  MAX_BATCH_ENTRIES,
  MESSAGE_TYPES,
  PROTOCOL_VERSION,
  decode,
  encode,
  type DecodeResult,
  type Message,
  type MessageOf,
  type MessageType,
} from '../src/index.js';

// A realistic session: the hub restocks store 12, hands the agent rights,
// the agent sells at the till and fills a cart hold.
const store = storeId('store-12');
const habanero = sku('HAB-5OZ');
const agent = replicaId('agent-7f3a9c');
const hub = replicaId('hub-1');
const t0 = 1_760_000_000_000;
const cart = reservationId('cart-9d2e');

const state = new InventoryState();
unwrap(increment(state, { store, sku: habanero, replica: hub, qty: 24 }));
const grant = unwrap(transferRights(state, { store, sku: habanero, from: hub, to: agent, qty: 10, now: t0 })).delta;
const sale = unwrap(decrement(state, { store, sku: habanero, replica: agent, qty: 2, now: t0 + 1_000 })).delta;
const hold = unwrap(createReservation(state, { id: cart, store, sku: habanero, owner: agent, qty: 1, expiresAt: t0 + 900_000, now: t0 + 2_000 })).delta;
const commit = unwrap(commitReservation(state, { id: cart, by: agent, now: t0 + 3_000 })).delta;

function join(...deltas: Delta[]): Delta {
  const out = emptyDelta();
  for (const d of deltas) {
    out.entries.push(...d.entries);
    out.transfers.push(...d.transfers);
    out.reservations.push(...d.reservations);
  }
  return out;
}

const event = (seq: number, e: Omit<InventoryEvent, 'id' | 'store' | 'replica' | 'seq' | 'sku'>): InventoryEvent => ({
  id: eventIdFor(agent, seq),
  store,
  replica: agent,
  seq,
  sku: habanero,
  ...e,
});

const events: InventoryEvent[] = [
  event(1, { type: 'sale', qty: 2, at: t0 + 1_000, idempotencyKey: 'pos-3:r-8812', terminal: 'pos-3', reason: null, forced: false }),
  event(2, { type: 'hold', qty: 1, at: t0 + 2_000, reservationId: cart, expiresAt: t0 + 900_000 }),
  event(3, { type: 'hold_commit', qty: 1, at: t0 + 3_000, reservationId: cart, expiresAt: t0 + 900_000, terminal: null }),
  event(4, { type: 'adjustment', qty: -1, at: t0 + 4_000, reason: 'damaged', count: null }),
];

const samples: { [K in MessageType]: MessageOf<K> } = {
  hello: { type: 'hello', protocol: PROTOCOL_VERSION, store, replica: agent, ackedHubSeq: 41, lastEventSeq: 118 },
  welcome: { type: 'welcome', protocol: PROTOCOL_VERSION, hubReplica: hub, ackedUpTo: 115, hubSeq: 57 },
  batch: { type: 'batch', seq: 119, delta: join(sale, hold, commit), events: events.slice(0, 3) },
  events: { type: 'events', seq: 7, events },
  ack: { type: 'ack', stream: 'batch', upTo: 119 },
  digest: { type: 'digest', store, digest: state.digest(store), entries: 4 },
  repair: { type: 'repair', store, delta: state.toDelta(store), final: true },
  rights_request: { type: 'rights_request', requestId: 'rq-agent-7f3a9c-12', store, sku: habanero, qty: 10 },
  rights_grant: { type: 'rights_grant', requestId: 'rq-agent-7f3a9c-12', store, sku: habanero, granted: 10, delta: grant },
  allocation: { type: 'allocation', store, policy: { default: { mode: 'share', share: 0.3 }, skus: { [habanero]: { mode: 'keep', keep: 2 } } } },
  error: { type: 'error', code: 'bad_shape', message: 'batch at delta.entries[0].p: Too small', fatal: false, seq: 120, stream: 'batch' },
  ping: { type: 'ping', t: t0 + 5_000 },
  pong: { type: 'pong', t: t0 + 5_000 },
};

function expectError(result: DecodeResult, code: string, messagePart?: string | RegExp): void {
  expect(result.ok).toBe(false);
  if (result.ok) return;
  expect(result.error.code).toBe(code);
  if (messagePart !== undefined) expect(result.error.message).toMatch(messagePart);
}

/** A sample as a plain JSON object, to break in the rejection tests. */
function raw(type: MessageType): Record<string, unknown> {
  return JSON.parse(encode(samples[type])) as Record<string, unknown>;
}

describe('round trip', () => {
  it('has a sample of every message type', () => {
    expect(Object.keys(samples).sort()).toEqual([...MESSAGE_TYPES].sort());
    expect(samples.digest.digest).toBe(digestOf(state.toDelta(store)));
  });

  it.each(MESSAGE_TYPES.map((type) => [type, samples[type]] as const))('%s', (_type, message: Message) => {
    const result = decode(encode(message));
    expect(result).toEqual({ ok: true, message });
  });

  it('accepts UTF-8 bytes, ArrayBuffers and fragmented Buffer[] frames', () => {
    const message = samples.batch;
    const bytes = Buffer.from(encode(message), 'utf8');
    expect(decode(new Uint8Array(bytes))).toEqual({ ok: true, message });
    expect(decode(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength))).toEqual({ ok: true, message });
    expect(decode([bytes.subarray(0, 7), bytes.subarray(7, 300), bytes.subarray(300)])).toEqual({ ok: true, message });
  });

  it('keeps null and absent optional event fields apart', () => {
    const result = decode(encode(samples.events));
    if (!result.ok || result.message.type !== 'events') throw new Error('expected an events message');
    const [sale, hold] = result.message.events;
    expect(sale?.reason).toBeNull();
    expect(hold).toBeDefined();
    expect(Object.hasOwn(hold ?? {}, 'reason')).toBe(false);
  });
});

describe('rejections', () => {
  it('refuses an oversized frame before parsing it', () => {
    const big = `{"type":"ping","t":1,"pad":"${'x'.repeat(DEFAULT_LIMITS.maxFrameBytes)}"}`;
    expectError(decode(big), 'too_large', /8388608 bytes/);
    // Too large wins over bad JSON: nothing is parsed.
    expectError(decode('['.repeat(DEFAULT_LIMITS.maxFrameBytes + 1)), 'too_large');
    expectError(decode(Buffer.alloc(DEFAULT_LIMITS.maxFrameBytes + 1, 0x20)), 'too_large');
    expectError(decode([Buffer.alloc(600, 0x20), Buffer.alloc(600, 0x20)], { maxFrameBytes: 1_000 }), 'too_large');
  });

  it('counts a text frame in UTF-8 bytes, not characters', () => {
    const frame = encode({ type: 'error', code: 'x', message: 'é'.repeat(400), fatal: false });
    expect(frame.length).toBeLessThan(1_000);
    expect(decode(frame, { maxFrameBytes: 1_000 }).ok).toBe(true);
    expectError(decode(frame.replace(/é/g, '€'), { maxFrameBytes: 1_000 }), 'too_large');
  });

  it('refuses invalid JSON and invalid UTF-8', () => {
    expectError(decode('{"type":"ping","t":1'), 'bad_json');
    expectError(decode(''), 'bad_json');
    expectError(decode(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])), 'bad_json', /UTF-8/);
  });

  it('refuses JSON that is not an object', () => {
    for (const frame of ['[]', '42', 'null', '"hello"']) expectError(decode(frame), 'bad_shape');
  });

  it('refuses an unknown or missing type', () => {
    expectError(decode('{"type":"subscribe","store":"store-12"}'), 'bad_shape', /unknown message type "subscribe"/);
    expectError(decode('{"type":"__proto__"}'), 'bad_shape', /unknown message type/);
    expectError(decode('{"t":1}'), 'bad_shape', /no type/);
  });

  it('refuses unknown keys, at the top and deep inside', () => {
    expectError(decode(JSON.stringify({ ...raw('ping'), extra: 1 })), 'bad_shape', /extra/);
    const batch = raw('batch') as { delta: { entries: Record<string, unknown>[] } };
    batch.delta.entries[0] = { ...batch.delta.entries[0], q: 5 };
    expectError(decode(JSON.stringify(batch)), 'bad_shape', /delta\.entries\[0\]/);
    const evs = raw('events') as { events: Record<string, unknown>[] };
    evs.events[1] = { ...evs.events[1], note: 'x' };
    expectError(decode(JSON.stringify(evs)), 'bad_shape', /events\[1\]/);
  });

  it('refuses negative and non-integer quantities', () => {
    const batch = raw('batch') as { delta: { entries: { p: number }[]; reservations: { qty: number }[] } };
    batch.delta.entries[0]!.p = -1;
    expectError(decode(JSON.stringify(batch)), 'bad_shape', /batch at delta\.entries\[0\]\.p/);

    const frac = raw('batch') as { delta: { entries: { n: number }[] } };
    frac.delta.entries[0]!.n = 2.5;
    expectError(decode(JSON.stringify(frac)), 'bad_shape', /delta\.entries\[0\]\.n/);

    const unsafe = raw('ack');
    unsafe.upTo = 2 ** 53;
    expectError(decode(JSON.stringify(unsafe)), 'bad_shape', /upTo/);

    const res = raw('batch') as { delta: { reservations: { qty: number }[] } };
    res.delta.reservations[0]!.qty = 0;
    expectError(decode(JSON.stringify(res)), 'bad_shape', /delta\.reservations\[0\]\.qty/);

    expectError(decode(JSON.stringify({ ...raw('rights_request'), qty: -3 })), 'bad_shape', /qty/);
    expectError(decode(JSON.stringify({ ...raw('rights_grant'), granted: -1 })), 'bad_shape', /granted/);
  });

  it('checks event quantities by type', () => {
    const withEvent = (patch: Partial<Record<keyof InventoryEvent, unknown>>, at = 0) => {
      const m = raw('events') as { events: Record<string, unknown>[] };
      m.events[at] = { ...m.events[at], ...patch };
      return decode(JSON.stringify(m));
    };
    expectError(withEvent({ qty: -2 }), 'bad_shape', /events\[0\]\.qty.*positive/);
    expectError(withEvent({ qty: 0 }, 3), 'bad_shape', /events\[3\]\.qty/);
    expect(withEvent({ qty: 5 }, 3).ok).toBe(true);
    expectError(withEvent({ reason: 'stolen' }, 3), 'bad_shape', /events\[3\]\.reason/);
    expectError(withEvent({ type: 'refund' }), 'bad_shape', /events\[0\]\.type/);
    expectError(withEvent({ reservationId: null }, 1), 'bad_shape', /events\[1\]\.reservationId/);
    expectError(withEvent({ type: 'rights_transfer' }), 'bad_shape', /events\[0\]\.to/);
    expectError(withEvent({ id: 'agent-other:1' }), 'bad_shape', /events\[0\]\.id/);
    expectError(withEvent({ forced: 'yes' }), 'bad_shape', /events\[0\]\.forced/);
  });

  it('refuses bad ids', () => {
    expectError(decode(JSON.stringify({ ...raw('hello'), store: 'store 12' })), 'bad_shape', /store.*invalid store id/);
    expectError(decode(JSON.stringify({ ...raw('hello'), replica: '' })), 'bad_shape', /replica/);
    expectError(decode(JSON.stringify({ ...raw('hello'), replica: 'r'.repeat(129) })), 'bad_shape', /replica/);
    expectError(decode(JSON.stringify({ ...raw('digest'), store: 12 })), 'bad_shape', /store/);
    const batch = raw('batch') as { delta: { entries: { sku: string }[] } };
    batch.delta.entries[0]!.sku = 'HAB|5OZ';
    expectError(decode(JSON.stringify(batch)), 'bad_shape', /delta\.entries\[0\]\.sku/);
  });

  it('refuses a hello or welcome of another major version', () => {
    expectError(decode(JSON.stringify({ ...raw('hello'), protocol: '2.0' })), 'unsupported_version', /2\.0/);
    expectError(decode(JSON.stringify({ ...raw('hello'), protocol: 'v1' })), 'unsupported_version');
    expectError(decode(JSON.stringify({ ...raw('welcome'), protocol: '0.9' })), 'unsupported_version');
    // A newer minor of the same major is fine.
    expect(decode(JSON.stringify({ ...raw('hello'), protocol: '1.9' })).ok).toBe(true);
    expectError(decode(JSON.stringify({ ...raw('hello'), protocol: 10 })), 'bad_shape', /protocol/);
  });

  it('refuses a batch with too many items, before validating them', () => {
    const entry = samples.batch.delta.entries[0]!;
    const at = (n: number): Delta => ({ entries: Array.from({ length: n }, () => entry), transfers: [], reservations: [] });
    const full = encode({ type: 'batch', seq: 1, delta: at(MAX_BATCH_ENTRIES), events: [] });
    expect(decode(full).ok).toBe(true);

    const over = encode({ type: 'batch', seq: 2, delta: at(MAX_BATCH_ENTRIES - 3), events: events });
    const result = decode(over);
    expectError(result, 'too_large', /50001 items/);
    expect(!result.ok && result.error.seq).toBe(2);

    expectError(decode(encode(samples.repair), { maxBatchEntries: 3 }), 'too_large');
    expectError(decode(encode(samples.events), { maxBatchEntries: 3 }), 'too_large');
    // Garbage entries are still counted, not validated.
    expectError(decode(JSON.stringify({ type: 'batch', seq: 3, delta: { entries: [1, 2, 3, 4] } }), { maxBatchEntries: 3 }), 'too_large');
  });

  it('refuses repair and grant items of another store or sku', () => {
    const repair = raw('repair') as { delta: { transfers: { store: string }[] } };
    repair.delta.transfers[0]!.store = 'store-13';
    expectError(decode(JSON.stringify(repair)), 'bad_shape', /delta\.transfers\[0\]\.store/);
    const g = raw('rights_grant') as { delta: { transfers: { sku: string }[] } };
    g.delta.transfers[0]!.sku = 'GHOST-5OZ';
    expectError(decode(JSON.stringify(g)), 'bad_shape', /delta\.transfers\[0\]\.sku/);
  });

  it('refuses other malformed fields', () => {
    expectError(decode(JSON.stringify({ ...raw('digest'), digest: 'ABCDEF0123456789' })), 'bad_shape', /digest/);
    expectError(decode(JSON.stringify({ ...raw('batch'), seq: 0 })), 'bad_shape', /seq/);
    expectError(decode(JSON.stringify({ ...raw('ack'), stream: 'repair' })), 'bad_shape', /stream/);
    expectError(decode(JSON.stringify({ ...raw('error'), code: '' })), 'bad_shape', /code/);
    const selfTransfer = raw('rights_grant') as { delta: { transfers: { to: string; from: string }[] } };
    selfTransfer.delta.transfers[0]!.to = selfTransfer.delta.transfers[0]!.from;
    expectError(decode(JSON.stringify(selfTransfer)), 'bad_shape', /transfers\[0\]\.to/);
  });

  it('reports what it can about a rejected frame and keeps the message short', () => {
    const result = decode(JSON.stringify({ ...raw('events'), seq: 9, [`k${'x'.repeat(10_000)}`]: 1 }));
    expectError(result, 'bad_shape');
    if (!result.ok) {
      expect(result.error).toMatchObject({ type: 'events', seq: 9 });
      expect(result.error.message.length).toBeLessThanOrEqual(301);
    }
  });

  it('reads -0 as 0', () => {
    expect(decode('{"type":"ack","stream":"batch","upTo":-0}')).toEqual({ ok: true, message: { type: 'ack', stream: 'batch', upTo: 0 } });
    expect(Object.is((decode('{"type":"ping","t":-0}') as { message: { t: number } }).message.t, 0)).toBe(true);
  });
});

describe('cycle counts that match the book', () => {
  const base = { id: 'store-1.a:9', store: 'store-1', replica: 'store-1.a', seq: 9, type: 'adjustment', sku: 'HSS-001', at: 1_790_000_000_000 };
  const batch = (event: Record<string, unknown>) => JSON.stringify({ type: 'batch', seq: 1, delta: { entries: [], transfers: [], reservations: [] }, events: [event] });

  it('accepts an adjustment of 0 that records a cycle count', () => {
    expect(decode(batch({ ...base, qty: 0, reason: 'cycle_count', count: 12 })).ok).toBe(true);
  });

  it.each([
    ['without a count', { qty: 0, reason: 'cycle_count' }],
    ['with another reason', { qty: 0, reason: 'damaged', count: 12 }],
    ['for a sale', { qty: 0, type: 'sale' }],
  ])('refuses a zero quantity %s', (_name, extra) => {
    const r = decode(batch({ ...base, ...extra }));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe('bad_shape');
  });
});

describe('event text', () => {
  it('refuses control characters (PostgreSQL cannot store NUL; one bad event must not block a hub)', () => {
    const e = { id: 'store-1.a:9', store: 'store-1', replica: 'store-1.a', seq: 9, type: 'sale', sku: 'HSS-001', qty: 1, at: 1_790_000_000_000 };
    const frame = (extra: Record<string, unknown>) => JSON.stringify({ type: 'batch', seq: 1, delta: { entries: [], transfers: [], reservations: [] }, events: [{ ...e, ...extra }] });
    expect(decode(frame({ terminal: 'till 1 ☕' })).ok).toBe(true);
    for (const bad of ['till\u00001', 'a\nb', '\u007f']) {
      const r = decode(frame({ terminal: bad }));
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.code).toBe('bad_shape');
    }
  });
});
