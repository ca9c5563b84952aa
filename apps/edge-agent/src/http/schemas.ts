import { ADJUSTMENT_REASONS, isValidId } from '@scoville/crdt-inventory';
import { z } from 'zod';

/** Largest quantity one line may carry; far above any real shelf, far below float trouble. */
export const MAX_LINE_QTY = 1_000_000_000;
export const MAX_LINES = 500;

const sku = z.string().refine(isValidId, { message: 'sku must be 1-128 chars of A-Z a-z 0-9 . _ : @ -' });
/** Printable text: no control characters (NUL cannot be stored at the hub, and nothing here needs them). */
// eslint-disable-next-line no-control-regex
const text = (max: number) => z.string().min(1).max(max).regex(/^[^\u0000-\u001f\u007f]*$/, { message: 'no control characters' });
const key = text(200);
const terminal = text(100).optional();
const positive = z.number().int().min(1).max(MAX_LINE_QTY);

const lines = <T extends z.ZodRawShape>(shape: T) => z.array(z.strictObject(shape)).min(1).max(MAX_LINES);

export const saleBody = z.strictObject({
  idempotencyKey: key,
  lines: lines({ sku, qty: positive }),
  terminal,
  force: z.boolean().optional(),
});

/** `allowNew: true`: a SKU the catalog does not know is accepted (a new product); without it, 404 unknown_sku. */
const allowNew = z.boolean().optional();

export const restockBody = z.strictObject({
  idempotencyKey: key,
  lines: lines({ sku, qty: positive }),
  terminal,
  allowNew,
});

export const adjustmentBody = z.strictObject({
  idempotencyKey: key,
  lines: lines({
    sku,
    qty: z
      .number()
      .int()
      .min(-MAX_LINE_QTY)
      .max(MAX_LINE_QTY)
      .refine((q) => q !== 0, { message: 'an adjustment of 0 changes nothing' }),
  }),
  reason: z.enum(ADJUSTMENT_REASONS),
  terminal,
  allowNew,
});

export const countBody = z.strictObject({
  idempotencyKey: key,
  lines: lines({ sku, count: z.number().int().min(0).max(MAX_LINE_QTY) }),
  terminal,
  allowNew,
});

export const holdBody = z.strictObject({
  idempotencyKey: key,
  lines: lines({ sku, qty: positive }),
  /** Seconds until the hold lapses; default 15 minutes, at most a day. */
  ttlSeconds: z.number().int().min(1).max(86_400).optional(),
  terminal,
});

export const holdActionBody = z
  .strictObject({
    idempotencyKey: key.optional(),
    terminal,
  })
  .optional();

export const catalogBody = z.strictObject({
  items: z
    .array(
      z.strictObject({
        sku,
        name: text(200),
        priceCents: z.number().int().min(0).max(MAX_LINE_QTY).nullable().optional(),
        lowStockThreshold: z.number().int().min(0).max(MAX_LINE_QTY).optional(),
        safetyStock: z.number().int().min(0).max(MAX_LINE_QTY).optional(),
      }),
    )
    .min(1)
    .max(5_000),
});

export const skuParam = sku;
export const holdIdParam = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'hold ids are 1-64 chars of A-Z a-z 0-9 _ -');
