import { requestHash } from '@scoville/protocol';
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { HubSeller } from '../selling/hub-seller.js';
import type { SellerBatch } from '../selling/seller-batch.js';
import type { SellError, SellOutcome } from '../selling/sell-error.js';
import { slotOf, type StoredAnswers } from '../selling/stored-answers.js';
import { errorResponse } from './errors.js';

/** Rounds of borrow-then-decide-again before a refusal for lack of stock is answered. */
const MAX_BORROW_ROUNDS = 4;

export interface WriteRequest<T> {
  /** Whose keys these are (`key:<api key id>`, `store:<id>`): one caller's key never replays another's answer. */
  scope: string;
  idempotencyKey: string;
  /** Route name + the validated body: what the key is bound to. */
  route: string;
  request: unknown;
  status: 200 | 201;
  run: (b: SellerBatch) => SellOutcome<T>;
  /**
   * Called once when the job is refused for lack of stock, before the
   * refusal is answered; true means "try once more" (rights were borrowed).
   */
  retryOnShort?: (refusal: { ok: false; error: SellError }) => Promise<boolean>;
}

/** What a write answered: the stored bytes of a success (replayed or new), or a refusal. */
export type WriteAnswer =
  | { ok: true; status: number; json: string; replayed: boolean }
  | { ok: false; status: ContentfulStatusCode; code: string; message: string; details: Record<string, unknown> };

/**
 * The hub's one path for a write that promises something:
 * validate (done by the caller) → idempotency → group commit → answer.
 *
 * A success is stored under its key in the same transaction as what it
 * promises and replayed byte for byte (`Idempotent-Replayed: true`); the
 * same key with another request is 422; refusals are not stored (a retry
 * is judged afresh). Concurrent requests with one key wait for the first.
 * Stored answers are read through `answers` (memory, else one batched
 * query for many requests); a success is remembered there once committed.
 * Transport-free (REST and GraphQL answer from it; see writeResponse).
 */
export function idempotentWrites(seller: HubSeller, answers: StoredAnswers) {
  const inflight = new Map<string, Promise<unknown>>();
  return async function write<T>(req: WriteRequest<T>): Promise<WriteAnswer> {
    const slotKey = slotOf(req.scope, req.idempotencyKey);
    const hash = requestHash(req.route, req.request);
    for (;;) {
      const earlier = inflight.get(slotKey);
      if (earlier === undefined) break;
      await earlier.catch(() => undefined);
    }
    let release!: () => void;
    inflight.set(
      slotKey,
      new Promise<void>((r) => {
        release = r;
      }),
    );
    try {
      const prior = await answers.get(req.scope, req.idempotencyKey);
      if (prior !== null) {
        if (prior.requestHash !== hash) {
          return { ok: false, status: 422, code: 'idempotency_key_reused', message: `idempotency key ${req.idempotencyKey} was already used for a different request`, details: {} };
        }
        return { ok: true, status: prior.status, json: prior.body, replayed: true };
      }
      const slot = { scope: req.scope, key: req.idempotencyKey, requestHash: hash, status: req.status };
      let outcome = await seller.submitStored(req.run, slot);
      // Short of rights: borrow from the other hub processes and decide again, a few rounds
      // at most (a lender may give less than asked, or other holds may take it meanwhile).
      for (let round = 0; round < MAX_BORROW_ROUNDS && req.retryOnShort !== undefined; round++) {
        if (outcome.ok || outcome.error.code !== 'insufficient_stock') break;
        if (!(await req.retryOnShort(outcome))) break;
        outcome = await seller.submitStored(req.run, slot);
      }
      if (!outcome.ok) return { ok: false, status: outcome.error.status, code: outcome.error.code, message: outcome.error.message, details: outcome.error.details };
      // The record the group stored under the key (serialised once, at the group's time):
      // answered and remembered as it is, so a replay is these very bytes.
      // Adopted: another hub process stored an answer under this key first and
      // this decision was rolled back, so the caller gets that answer as a replay.
      const { adopted, ...stored } = outcome.value;
      answers.remember(stored);
      return { ok: true, status: stored.status, json: stored.body, replayed: adopted === true };
    } finally {
      inflight.delete(slotKey);
      release();
    }
  };
}

/** A WriteAnswer as the REST answer: the stored bytes with `Idempotent-Replayed`, or `{error}`. */
export function writeResponse(c: Context, a: WriteAnswer): Response {
  return a.ok ? replay(a.json, a.status, a.replayed) : errorResponse(c, a.status, a.code, a.message, a.details);
}

function replay(body: string, status: number, replayed: boolean): Response {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (replayed) headers['idempotent-replayed'] = 'true';
  return new Response(body, { status: status as ContentfulStatusCode, headers });
}
