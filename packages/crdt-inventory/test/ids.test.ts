import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { eventId, eventIdFor, InvalidIdError, isValidId, MAX_STORE_ID_LENGTH, replicaId, reservationId, sku, storeId } from '../src/index.js';
import { fcParams } from './arbitraries.js';

const BRANDS = [
  ['store id', storeId],
  ['sku', sku],
  ['replica id', replicaId],
  ['reservation id', reservationId],
  ['event id', eventId],
] as const;

const VALID = ['a', 'Z', '0', 'store-1', 'SKU.42_b', 'agent:7@host', 'a-', 'x'.repeat(128), '9_9', 'A.B:C@D-E_F'];
const INVALID: unknown[] = [
  '',
  ' ',
  ' a',
  'a ',
  'a b',
  '-a',
  '.a',
  '_a',
  ':a',
  '@a',
  'a|b',
  'a/b',
  'a,b',
  'a\nb',
  'a\n',
  'a\t',
  'é',
  'aé',
  'a\u0000',
  'x'.repeat(129),
  42,
  null,
  undefined,
  {},
  ['a'],
];

describe('branded ids', () => {
  it.each(BRANDS)('%s: accepts valid ids and returns them unchanged', (kind, make) => {
    for (const v of VALID) {
      // Store ids stop at 80 chars so replica and event ids built from them stay valid.
      if (kind === 'store id' && v.length > MAX_STORE_ID_LENGTH) expect(() => make(v)).toThrow(InvalidIdError);
      else expect(make(v)).toBe(v);
    }
  });

  it('store ids: 80 chars pass, 81 do not, and an agent replica and event id built from one stay valid', () => {
    expect(storeId('s'.repeat(MAX_STORE_ID_LENGTH))).toHaveLength(MAX_STORE_ID_LENGTH);
    expect(() => storeId('s'.repeat(MAX_STORE_ID_LENGTH + 1))).toThrow(/1-80 chars/);
    const replica = replicaId(`${'s'.repeat(MAX_STORE_ID_LENGTH)}.0123456789ab`);
    expect(isValidId(eventIdFor(replica, Number.MAX_SAFE_INTEGER))).toBe(true);
  });

  it.each(BRANDS)('%s: throws InvalidIdError for bad ids', (kind, make) => {
    for (const v of INVALID) {
      let caught: unknown;
      try {
        make(v as string);
      } catch (e) {
        caught = e;
      }
      expect(caught, `${kind} ${JSON.stringify(v)}`).toBeInstanceOf(InvalidIdError);
      const err = caught as InvalidIdError;
      expect(err).toBeInstanceOf(Error);
      expect(err.code).toBe('invalid_id');
      expect(err.kind).toBe(kind);
      expect(err.value).toBe(v);
      expect(err.name).toBe('InvalidIdError');
      expect(err.message.startsWith(`invalid ${kind}: `)).toBe(true);
    }
  });

  it('isValidId agrees with the lists', () => {
    for (const v of VALID) expect(isValidId(v)).toBe(true);
    for (const v of INVALID) expect(isValidId(v)).toBe(false);
  });

  it('a brand accepts exactly what isValidId accepts, and valid ids never contain the digest separator or whitespace', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 140 }), fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:@|\- ]{0,130}$/)), (s) => {
        let threw = false;
        try {
          storeId(s);
        } catch (e) {
          threw = e instanceof InvalidIdError;
        }
        expect(threw).toBe(!isValidId(s));
        if (isValidId(s)) {
          expect(s.length).toBeGreaterThanOrEqual(1);
          expect(s.length).toBeLessThanOrEqual(128);
          expect(/[|\s]/.test(s)).toBe(false);
        }
      }),
      fcParams,
    );
  });
});

describe('eventIdFor', () => {
  it('is `${replica}:${seq}` and a valid event id', () => {
    const id = eventIdFor(replicaId('agent-1'), 17);
    expect(id).toBe('agent-1:17');
    expect(eventId(id)).toBe('agent-1:17');
  });

  it('distinct (replica, seq) pairs give distinct ids, even for replica ids containing ":"', () => {
    const replicas = ['a', 'a:1', 'a:12', 'a1', '1', 'b:2:3'].map(replicaId);
    fc.assert(
      fc.property(
        fc.constantFrom(...replicas),
        fc.integer({ min: 1, max: 200 }),
        fc.constantFrom(...replicas),
        fc.integer({ min: 1, max: 200 }),
        (r1, s1, r2, s2) => {
          expect(eventIdFor(r1, s1) === eventIdFor(r2, s2)).toBe(r1 === r2 && s1 === s2);
        },
      ),
      fcParams,
    );
  });
});
