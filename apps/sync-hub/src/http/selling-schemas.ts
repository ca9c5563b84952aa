import { ADJUSTMENT_REASONS, isValidId, isValidStoreId } from '@scoville/crdt-inventory';
import { z } from 'zod';
import { MAX_TTL_SECONDS } from '../selling/carts.js';
import { UPDATE_TYPES } from '../selling/stock-updates.js';

/** Largest quantity one line may carry (as at the agent's POS API). */
export const MAX_LINE_QTY = 1_000_000_000;
export const MAX_LINES = 500;

const sku = z.string().refine(isValidId, { message: 'sku must be 1-128 chars of A-Z a-z 0-9 . _ : @ -' });
const storeId = z.string().refine(isValidStoreId, { message: 'storeId must be 1-80 chars of A-Z a-z 0-9 . _ : @ -' });
// eslint-disable-next-line no-control-regex
const text = (max: number) => z.string().min(1).max(max).regex(/^[^\u0000-\u001f\u007f]*$/, { message: 'no control characters' });
const key = text(200);
const positive = z.number().int().min(1).max(MAX_LINE_QTY);
const lines = <T extends z.ZodRawShape>(shape: T) => z.array(z.strictObject(shape)).min(1).max(MAX_LINES);

export const reservationBody = z.strictObject({
  idempotencyKey: key,
  lines: lines({ sku, qty: positive }),
  storeId: storeId.optional(),
  /** Seconds until the hold lapses; default 900, at most a day. */
  ttlSeconds: z.number().int().min(1).max(MAX_TTL_SECONDS).optional(),
});

export const updateBody = z
  .strictObject({
    storeId,
    idempotencyKey: key,
    type: z.enum(UPDATE_TYPES),
    lines: lines({ sku, qty: z.number().int().min(-MAX_LINE_QTY).max(MAX_LINE_QTY) }),
    reason: z.enum(ADJUSTMENT_REASONS).optional(),
    force: z.boolean().optional(),
    terminal: text(100).optional(),
  })
  .superRefine((b, ctx) => {
    b.lines.forEach((l, i) => {
      const bad =
        b.type === 'adjustment' ? (l.qty === 0 ? 'an adjustment of 0 changes nothing' : null) : b.type === 'count' ? (l.qty < 0 ? 'a count is 0 or more' : null) : l.qty < 1 ? `a ${b.type} needs a positive qty` : null;
      if (bad) ctx.addIssue({ code: 'custom', path: ['lines', i, 'qty'], message: bad });
    });
    if (b.force !== undefined && b.type !== 'sale') ctx.addIssue({ code: 'custom', path: ['force'], message: 'only a sale can be forced' });
    if (b.reason !== undefined && b.type !== 'adjustment') ctx.addIssue({ code: 'custom', path: ['reason'], message: 'only an adjustment has a reason' });
  });

export const transferBody = z.strictObject({
  idempotencyKey: key,
  from: storeId,
  to: storeId,
  lines: lines({ sku, qty: positive }),
});

export const reservationIdParam = z.string().regex(/^r_[0-9a-f]{24}$/, { message: 'not a reservation id' });

/** A schema's verdict on a request body: the data, or what the 400 `invalid_request` says (REST and GraphQL alike). */
export function validate<S extends z.ZodType>(schema: S, raw: unknown): { ok: true; data: z.infer<S> } | { ok: false; message: string; issues: { path: string; message: string }[] } {
  const r = schema.safeParse(raw);
  if (r.success) return { ok: true, data: r.data };
  const issues = r.error.issues.slice(0, 10).map((i) => ({ path: i.path.join('.'), message: i.message }));
  const first = issues[0];
  return { ok: false, message: first ? `${first.path || 'body'}: ${first.message}` : 'invalid request', issues };
}
